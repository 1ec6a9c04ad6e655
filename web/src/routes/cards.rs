//! Cards and the card status machine over HTTP: the table of statuses and
//! transitions (who may make each), one card, its history, and a transition
//! request. The rules are `cardhub_protocols::card_status`; a transition is
//! applied by `cardhub_storage::cards` in one transaction (card row, history,
//! audit entry, outbox row). An illegal one is refused with 409 naming the
//! current state, the requested one and why.

use actix_web::{HttpResponse, get, post, web};
use cardhub_protocols::card_status::{self, CardStatus};
use cardhub_protocols::roles::Role;
use cardhub_storage::cards;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Roles that may ask for a transition at all; which edges each may make is
/// the status machine's table.
const MAY_REQUEST_TRANSITIONS: [Role; 4] = [
    Role::CentreStaff,
    Role::WorkshopOperator,
    Role::BranchOperator,
    Role::OutsideSystem,
];

/// One card.
#[derive(Serialize, ToSchema)]
pub struct CardView {
    /// Card id.
    pub id: i64,
    /// The holder (person id).
    pub person_id: i64,
    /// Card number (卡号), once issued.
    pub card_number: Option<String>,
    /// Current status.
    #[schema(value_type = String, example = "activated")]
    pub status: CardStatus,
    /// Its label in Chinese.
    pub status_label: &'static str,
    /// Optimistic-lock version; bumps on every change.
    pub version: i64,
    /// Last change (UTC).
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: NaiveDateTime,
}

impl From<cards::Card> for CardView {
    fn from(c: cards::Card) -> Self {
        CardView {
            id: c.id,
            person_id: c.person_id,
            card_number: c.card_number,
            status: c.status,
            status_label: c.status.label_zh(),
            version: c.version,
            updated_at: c.updated_at,
        }
    }
}

/// One entry of a card's history.
#[derive(Serialize, ToSchema)]
pub struct HistoryView {
    /// Previous status (none for the first entry).
    #[schema(value_type = Option<String>)]
    pub from: Option<CardStatus>,
    /// New status.
    #[schema(value_type = String)]
    pub to: CardStatus,
    /// Who made the change.
    pub actor: String,
    /// Under which role.
    pub role: String,
    /// The business action (e.g. 临时挂失).
    pub action: String,
    /// Why, as given.
    pub reason: String,
    /// When (UTC).
    #[schema(value_type = String, format = DateTime)]
    pub at: NaiveDateTime,
}

/// A transition request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// The status to move to.
    #[schema(value_type = String, example = "temporarily-lost")]
    pub to: CardStatus,
    /// Why (kept in the history and the audit log).
    pub reason: Option<String>,
    /// The card version the caller last saw; when given and the card has
    /// changed since, the request is refused with 409 instead of applied.
    pub expected_version: Option<i64>,
}

/// One edge of the status machine.
#[derive(Serialize, ToSchema)]
pub struct TransitionView {
    /// From.
    #[schema(value_type = String)]
    pub from: CardStatus,
    /// To.
    #[schema(value_type = String)]
    pub to: CardStatus,
    /// Roles that may make it (admin may make every listed edge).
    pub roles: Vec<String>,
    /// What the transition means.
    pub description: &'static str,
}

/// The status machine.
#[derive(Serialize, ToSchema)]
pub struct StatusMachineView {
    /// Every status: name and Chinese label.
    pub statuses: Vec<StatusView>,
    /// Every allowed transition.
    pub transitions: Vec<TransitionView>,
}

/// A status and its label.
#[derive(Serialize, ToSchema)]
pub struct StatusView {
    /// Stable name.
    pub name: &'static str,
    /// Chinese label.
    pub label: &'static str,
}

/// The card status machine: statuses and allowed transitions with roles.
#[utoipa::path(
    tag = "cards",
    responses(
        (status = 200, description = "The status machine", body = StatusMachineView),
        (status = 401, description = "No valid credentials", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/card-statuses")]
pub async fn statuses(_caller: Caller) -> HttpResponse {
    let statuses = CardStatus::ALL
        .iter()
        .map(|s| StatusView {
            name: s.as_str(),
            label: s.label_zh(),
        })
        .collect();
    let transitions = card_status::TRANSITIONS
        .iter()
        .map(|t| TransitionView {
            from: t.from,
            to: t.to,
            roles: t.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            description: t.description,
        })
        .collect();
    HttpResponse::Ok().json(StatusMachineView {
        statuses,
        transitions,
    })
}

/// One card.
#[utoipa::path(
    tag = "cards",
    params(("id" = i64, Path, description = "Card id")),
    responses(
        (status = 200, description = "The card", body = CardView),
        (status = 404, description = "No such card", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/cards/{id}")]
pub async fn get_card(
    state: web::Data<AppState>,
    _caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let card = state.store.get_card(id).await?;
    Ok(HttpResponse::Ok().json(CardView::from(card)))
}

/// A card's status history, oldest first.
#[utoipa::path(
    tag = "cards",
    params(("id" = i64, Path, description = "Card id")),
    responses(
        (status = 200, description = "The history", body = Vec<HistoryView>),
        (status = 404, description = "No such card", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/cards/{id}/history")]
pub async fn history(
    state: web::Data<AppState>,
    _caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let rows = state.store.card_history(id).await?;
    let rows: Vec<HistoryView> = rows
        .into_iter()
        .map(|h| HistoryView {
            from: h.from,
            to: h.to,
            actor: h.actor,
            role: h.role.as_str().to_owned(),
            action: h.action,
            reason: h.reason,
            at: h.at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(rows))
}

/// Moves a card to another status, if the machine and the caller's role
/// allow it.
#[utoipa::path(
    tag = "cards",
    params(("id" = i64, Path, description = "Card id")),
    request_body = TransitionRequest,
    responses(
        (status = 200, description = "Moved; the card as it is now", body = CardView),
        (status = 403, description = "The caller's role may not make this transition", body = ErrorBody),
        (status = 404, description = "No such card", body = ErrorBody),
        (status = 409, description = "Illegal transition (detail: from, to, reason) or a concurrent change", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/cards/{id}/transitions")]
pub async fn transition(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<TransitionRequest>,
) -> Result<HttpResponse, ApiError> {
    // Screens are read-only; the status machine checks the rest per edge.
    caller.require(&MAY_REQUEST_TRANSITIONS)?;
    let id = id.into_inner();
    let TransitionRequest {
        to,
        reason,
        expected_version,
    } = body.into_inner();
    let card = state
        .store
        .transition_card(
            id,
            expected_version,
            to,
            caller.actor(),
            reason.unwrap_or_default(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(CardView::from(card)))
}
