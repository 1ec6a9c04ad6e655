//! Branch business over HTTP (网点业务), under `/api/v1/branch`: what a
//! counter at a community affairs centre, a bank branch or the card
//! centre does for a holder, on top of the card status machine.
//!
//! # Layout
//! - [`context`]: `GET /branch/context`: who is at the counter, at which
//!   branch, and which operations they may offer (网点服务登录; the login
//!   itself is `POST /api/v1/session`).
//! - [`applications`]: applications at the counter (申领: first issue,
//!   replacement, renewal; the permanent-residence rules) and the branch's
//!   application list.
//! - [`cards`]: the counter's card operations (挂失, 解挂, 注销, 启用, 领卡)
//!   and the holder's cards.
//! - [`persons`]: the personal information query (个人信息查询), masked by
//!   role.
//! - [`statistics`]: business counts per kind and day.
//! - [`machines`]: the self-service machine register (自助机备案) and the
//!   machines' signed photo uploads.
//! - [`rules`] and [`masking`]: the pure rules the routes apply.
//!
//! Who may: an operator session of a [`MAY_SERVE`] role whose account has
//! a branch works that branch's counter ([`at_counter`]), and only it:
//! applications are accepted for the operator's branch, ID reads must be
//! the branch's, a card is handed over only at the branch it was sent to,
//! lists and statistics show the branch's own. A loss, an unlock, a
//! cancellation or an activation may be done at any branch (the holder
//! goes to the nearest one) and is registered at the operator's. The card
//! status machine decides each card edge on top; centre staff and
//! administrators see every branch and unmasked personal information.
//! Every operation is one transaction: card row, history, audit entry,
//! branch-operation row and outbox notices
//! (`cardhub_storage::branch`, `docs/outbox-topics.md`).

pub mod applications;
pub mod cards;
pub mod context;
pub mod machines;
pub mod masking;
pub mod persons;
pub mod rules;
pub mod statistics;

use cardhub_protocols::roles::Role;
use cardhub_storage::branch::{Counter, Desk};
use cardhub_storage::branches::Branch;

use crate::auth::{Caller, CallerKind};
use crate::error::ApiError;
use crate::state::AppState;

/// Roles that work a branch counter (admin always may): branch operators
/// and the centre's own counter staff. The card status machine narrows
/// each card operation further.
pub const MAY_SERVE: [Role; 2] = [Role::BranchOperator, Role::CentreStaff];

/// Roles that look over every branch (lists, statistics of any branch,
/// unmasked personal information), besides admin.
pub const MAY_OVERSEE: [Role; 1] = [Role::CentreStaff];

/// Roles that keep the self-service machine register, besides admin.
pub const MAY_REGISTER_MACHINES: [Role; 1] = [Role::CentreStaff];

/// An operator at their branch's counter, as read for one request.
#[derive(Clone, Debug)]
pub struct AtCounter {
    /// The operator's account and permission.
    pub desk: Desk,
    /// The operator's branch.
    pub branch: Branch,
    /// The caller as recorded.
    pub caller: Caller,
}

impl AtCounter {
    /// The counter, as storage records it.
    pub fn counter(&self) -> Counter {
        Counter {
            actor: self.caller.actor(),
            branch: self.branch.clone(),
        }
    }
}

/// The counter `caller` works at: an operator session of a [`MAY_SERVE`]
/// role whose account has a branch. Anyone else is refused with what to
/// do.
pub async fn at_counter(state: &AppState, caller: &Caller) -> Result<AtCounter, ApiError> {
    caller.require(&MAY_SERVE)?;
    let CallerKind::Operator { operator_id, .. } = &caller.kind else {
        return Err(ApiError::Refused {
            message: format!(
                "`{}` is an API token: branch business is done by an operator at a counter; log in as the operator (POST /api/v1/session) and send that session",
                caller.name
            ),
            detail: Some(serde_json::json!({ "rule": "operator-session" })),
        });
    };
    let desk = state.store.desk(*operator_id).await?;
    let Some(branch) = desk.branch.clone() else {
        return Err(ApiError::Refused {
            message: format!(
                "operator `{}` has no branch, so works no counter: an administrator gives the account a branch (cardhub operator create --branch <code>)",
                caller.name
            ),
            detail: Some(serde_json::json!({ "rule": "operator-branch" })),
        });
    };
    Ok(AtCounter {
        desk,
        branch,
        caller: caller.clone(),
    })
}

/// Whether `caller` oversees every branch (centre staff, admin).
pub fn oversees(caller: &Caller) -> bool {
    caller.require(&MAY_OVERSEE).is_ok()
}

/// The branch a list or report covers: a branch operator's own (asking
/// for another is refused); for centre staff and admin the branch asked
/// for, or every branch (`None`).
pub async fn scope(
    state: &AppState,
    caller: &Caller,
    asked: Option<&str>,
) -> Result<Option<Branch>, ApiError> {
    if oversees(caller) {
        return match asked.map(str::trim).filter(|c| !c.is_empty()) {
            Some(code) => Ok(Some(state.store.branch_by_code(code.to_owned()).await?)),
            None => Ok(None),
        };
    }
    let here = at_counter(state, caller).await?;
    match asked.map(str::trim) {
        Some(code) if !code.is_empty() && code != here.branch.code => Err(ApiError::Refused {
            message: format!(
                "a branch operator sees only their own branch ({}), not {code}: leave out `branch`, or ask the centre",
                here.branch.code
            ),
            detail: Some(serde_json::json!({ "rule": "own-branch" })),
        }),
        _ => Ok(Some(here.branch)),
    }
}
