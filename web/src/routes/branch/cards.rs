//! The counter's card operations over HTTP: `POST
//! /api/v1/branch/cards/{id}/{operation}` for 临时挂失 (`temporary-loss`),
//! 正式挂失 (`formal-loss`), 解挂 (`unlock`), 注销 (`cancellation`), 启用
//! (`activation`) and 领卡 (`hand-over`), and `GET
//! /api/v1/branch/cards?document_number=...`, the holder's cards.
//!
//! Each operation is one transaction in
//! `cardhub_storage::branch::operations::card_operation`: the status
//! machine's transition (card row, history with the business action,
//! reason and operator, audit entry, `card-status` outbox row), the
//! branch-operation row, the holder's SMS and the bank's notice. An
//! illegal move is refused with 409 naming the current state, the one
//! asked for and why, and writes nothing; a move the role may not make is
//! 403 (the mapping is [`crate::error`]'s). A hand-over is done only at
//! the branch the card was sent to.

use actix_web::{HttpResponse, get, post, web};
use cardhub_storage::branch::CardOperation;
use cardhub_storage::branch::lookups::{HolderKey, Lookup, LookupPurpose};
use cardhub_storage::branch::operations::CounterRefusal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{MAY_SERVE, at_counter, masking, oversees};
use crate::auth::{Caller, CallerKind};
use crate::error::{ApiError, ErrorBody};
use crate::routes::cards::CardView;
use crate::state::AppState;

/// A card operation's details (send `{}` for none).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardOperationRequest {
    /// Why (kept in the card's history and the audit log); default: the
    /// operation's name and the branch.
    #[serde(default)]
    pub reason: Option<String>,
    /// The card version the operator was shown; when given and the card
    /// has changed since, the request is refused with 409.
    #[serde(default)]
    pub expected_version: Option<i64>,
}

/// Applies a counter operation to a card, in one transaction.
#[utoipa::path(
    tag = "branch",
    params(
        ("id" = i64, Path, description = "Card id"),
        ("operation" = String, Path, description = "`temporary-loss`, `formal-loss`, `unlock`, `cancellation`, `activation` or `hand-over`"),
    ),
    request_body = CardOperationRequest,
    responses(
        (status = 200, description = "Done; the card as it is now", body = CardView),
        (status = 400, description = "Unknown operation", body = ErrorBody),
        (status = 403, description = "No counter, or the role may not make this edge of the status machine", body = ErrorBody),
        (status = 404, description = "No such card", body = ErrorBody),
        (status = 409, description = "Illegal transition (`illegal-transition`, detail: from, to, reason), a stale version, or a hand-over at another branch (`card-at-other-branch`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/branch/cards/{id}/{operation}")]
pub async fn operate(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, CardOperation)>,
    body: web::Json<CardOperationRequest>,
) -> Result<HttpResponse, ApiError> {
    let here = at_counter(&state, &caller).await?;
    let (card_id, op) = path.into_inner();
    let CardOperationRequest {
        reason,
        expected_version,
    } = body.into_inner();
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| format!("{op} at branch {}", here.branch.code));
    let done = state
        .store
        .branch_card_operation(here.counter(), card_id, op, expected_version, reason)
        .await?;
    match done {
        Ok(card) => Ok(HttpResponse::Ok().json(CardView::from(card))),
        Err(refusal @ CounterRefusal::CardAtOtherBranch { .. }) => Err(ApiError::Conflict {
            code: "card-at-other-branch",
            message: refusal.to_string(),
            detail: None,
        }),
        Err(other) => Err(ApiError::Conflict {
            code: "refused-at-counter",
            message: other.to_string(),
            detail: None,
        }),
    }
}

/// `GET /branch/cards` parameters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CardLookupQuery {
    /// The holder's document number.
    pub document_number: String,
}

/// A holder's card.
#[derive(Serialize, ToSchema)]
pub struct HolderCardView {
    /// The card.
    #[serde(flatten)]
    pub card: CardView,
    /// The application that made it.
    pub application_id: i64,
}

/// A holder and their cards.
#[derive(Serialize, ToSchema)]
pub struct HolderCards {
    /// The person's id.
    pub person_id: i64,
    /// The name, masked for branch operators.
    pub name: String,
    /// The document number, masked for branch operators.
    pub document_number: String,
    /// Every card, oldest first.
    pub cards: Vec<HolderCardView>,
}

/// The cards of the holder of a document number (audited as
/// `card.lookup`).
#[utoipa::path(
    tag = "branch",
    params(CardLookupQuery),
    responses(
        (status = 200, description = "The holder and every card", body = HolderCards),
        (status = 403, description = "A role that works no counter", body = ErrorBody),
        (status = 404, description = "No holder has that number", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/branch/cards")]
pub async fn lookup(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<CardLookupQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_SERVE)?;
    let branch_id = counter_branch(&state, &caller).await?;
    let masked = masking::masks_for(caller.role);
    let holders = state
        .store
        .look_up_holders(
            HolderKey::DocumentNumber(query.into_inner().document_number),
            Lookup {
                actor: caller.actor(),
                purpose: LookupPurpose::CardLookup,
                masked,
                branch_id,
            },
        )
        .await?;
    let Some(holder) = holders.into_iter().next() else {
        return Err(ApiError::NotFound(
            "no holder is registered with that document number: check it against the card, or apply for a first card".to_owned(),
        ));
    };
    let role = caller.role;
    Ok(HttpResponse::Ok().json(HolderCards {
        person_id: holder.person.id,
        name: masking::for_role(role, &holder.person.name, masking::name),
        document_number: masking::for_role(
            role,
            &holder.person.document_number,
            masking::document_number,
        ),
        cards: holder
            .cards
            .into_iter()
            .map(|c| HolderCardView {
                application_id: c.application_id,
                card: CardView::from(c),
            })
            .collect(),
    }))
}

/// The branch a look-up is registered at: a branch operator's counter
/// (required); centre staff's and admin's branch when their session has
/// one, else none.
pub(super) async fn counter_branch(
    state: &AppState,
    caller: &Caller,
) -> Result<Option<i64>, ApiError> {
    let has_branch = matches!(
        &caller.kind,
        CallerKind::Operator {
            branch: Some(_),
            ..
        }
    );
    if oversees(caller) && !has_branch {
        return Ok(None);
    }
    Ok(Some(at_counter(state, caller).await?.branch.id))
}
