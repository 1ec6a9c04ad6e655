//! `GET /api/v1/branch/context` (网点服务登录): after logging in (`POST
//! /api/v1/session`), the counter's screen asks who is at it, at which
//! branch, and what the operator may offer there. The list is computed,
//! never stored ([`allowed_operations`]): from the role (through the card
//! status machine's table, so a card operation is offered exactly when
//! some edge of it is the role's), the branch kind (permanent-residence
//! applications only at community affairs centres) and the operator's
//! manual-entry permission.

use actix_web::{HttpResponse, get, web};
use cardhub_protocols::card_status::{CardStatus, TRANSITIONS, check_transition};
use cardhub_protocols::roles::Role;
use cardhub_storage::branch::CardOperation;
use cardhub_storage::branches::BranchKind;
use serde::Serialize;
use utoipa::ToSchema;

use super::{MAY_OVERSEE, MAY_REGISTER_MACHINES, MAY_SERVE, at_counter};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The operator at the counter.
#[derive(Serialize, ToSchema)]
pub struct OperatorView {
    /// Login name.
    pub username: String,
    /// Name shown on screens.
    pub display_name: String,
    /// Role.
    #[schema(value_type = String, example = "branch-operator")]
    pub role: Role,
    /// Whether the operator may accept applications without an ID read.
    pub manual_entry: bool,
}

/// The counter's branch.
#[derive(Serialize, ToSchema)]
pub struct BranchView {
    /// Branch code.
    pub code: String,
    /// Name.
    pub name: String,
    /// `community`, `bank` or `centre`.
    #[schema(value_type = String, example = "community")]
    pub kind: BranchKind,
    /// 区, if set.
    pub district: Option<String>,
}

/// Who is at the counter and what they may do.
#[derive(Serialize, ToSchema)]
pub struct ContextView {
    /// The operator.
    pub operator: OperatorView,
    /// Their branch.
    pub branch: BranchView,
    /// The operations they may offer, by stable name (see
    /// [`allowed_operations`]).
    pub operations: Vec<&'static str>,
}

/// Whether `role` may make some edge of the status machine into `to`.
fn may_move_to(role: Role, to: CardStatus) -> bool {
    TRANSITIONS
        .iter()
        .any(|t| t.to == to && check_transition(t.from, t.to, role).is_ok())
}

/// The operations an operator of `role` at a branch of `kind` may offer,
/// in the counter menu's order: `apply-first-issue`, `apply-replacement`
/// (needs cancelling the formally lost card), `apply-renewal` (needs
/// cancelling a held card), `apply-permanent-residence` (community
/// branches), `manual-entry` (with the permission); the card operations
/// `temporary-loss`, `formal-loss`, `unlock`, `cancellation`, `activation`,
/// `hand-over` whose edges the role may make; `person-query`,
/// `card-lookup`, `application-list`, `statistics`; and for the centre
/// `machine-register`.
pub fn allowed_operations(role: Role, kind: BranchKind, manual_entry: bool) -> Vec<&'static str> {
    let allows = |roles: &[Role]| role == Role::Admin || roles.contains(&role);
    let serves = allows(&MAY_SERVE);
    let mut ops = Vec::new();
    if serves {
        ops.push("apply-first-issue");
        if check_transition(CardStatus::FormallyLost, CardStatus::Cancelled, role).is_ok() {
            ops.push("apply-replacement");
        }
        if check_transition(CardStatus::Activated, CardStatus::Cancelled, role).is_ok() {
            ops.push("apply-renewal");
        }
        if kind == BranchKind::Community {
            ops.push("apply-permanent-residence");
        }
        if manual_entry {
            ops.push("manual-entry");
        }
    }
    for op in CardOperation::ALL {
        if serves && may_move_to(role, op.target()) {
            ops.push(op.as_str());
        }
    }
    if serves {
        ops.extend([
            "person-query",
            "card-lookup",
            "application-list",
            "statistics",
        ]);
    }
    if allows(&MAY_REGISTER_MACHINES) && allows(&MAY_OVERSEE) {
        ops.push("machine-register");
    }
    ops
}

/// Who is at the counter, at which branch, and what they may do there.
#[utoipa::path(
    tag = "branch",
    responses(
        (status = 200, description = "The operator, the branch and the operations allowed", body = ContextView),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 403, description = "Not an operator session, no branch, or a role that works no counter", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/branch/context")]
pub async fn context(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let here = at_counter(&state, &caller).await?;
    let operator = &here.desk.operator;
    Ok(HttpResponse::Ok().json(ContextView {
        operations: allowed_operations(operator.role, here.branch.kind, here.desk.manual_entry),
        operator: OperatorView {
            username: operator.username.clone(),
            display_name: operator.display_name.clone(),
            role: operator.role,
            manual_entry: here.desk.manual_entry,
        },
        branch: BranchView {
            code: here.branch.code.clone(),
            name: here.branch.name.clone(),
            kind: here.branch.kind,
            district: here.branch.district.clone(),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_branch_operator_at_a_community_centre_offers_everything_but_the_register() {
        let ops = allowed_operations(Role::BranchOperator, BranchKind::Community, false);
        for op in [
            "apply-first-issue",
            "apply-replacement",
            "apply-renewal",
            "apply-permanent-residence",
            "temporary-loss",
            "formal-loss",
            "unlock",
            "cancellation",
            "activation",
            "hand-over",
            "person-query",
            "statistics",
        ] {
            assert!(ops.contains(&op), "{op} missing from {ops:?}");
        }
        assert!(!ops.contains(&"manual-entry"));
        assert!(!ops.contains(&"machine-register"));
    }

    #[test]
    fn branch_kind_and_permission_change_the_menu() {
        let bank = allowed_operations(Role::BranchOperator, BranchKind::Bank, true);
        assert!(!bank.contains(&"apply-permanent-residence"));
        assert!(bank.contains(&"manual-entry"));
    }

    #[test]
    fn centre_staff_offer_only_the_edges_the_machine_gives_them() {
        let ops = allowed_operations(Role::CentreStaff, BranchKind::Centre, false);
        // Cancellation before production is the centre's; losses are not.
        assert!(ops.contains(&"cancellation"));
        assert!(!ops.contains(&"temporary-loss"));
        assert!(!ops.contains(&"hand-over"));
        assert!(!ops.contains(&"apply-replacement"));
        assert!(ops.contains(&"machine-register"));
        assert!(allowed_operations(Role::Screen, BranchKind::Community, true).is_empty());
    }
}
