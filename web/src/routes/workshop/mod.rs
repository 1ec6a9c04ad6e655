//! The workshop over HTTP (制卡车间), under `/api/v1/workshop`: extraction
//! and the making-card queue, a card's progress, the production lines,
//! waste and performance reports, envelopes, boxes and dispatch.
//!
//! The records and their rules are `cardhub_storage::workshop` (one
//! transaction and one audit entry per change; the caller is the recorded
//! actor); the lines and printers are the actors of
//! `cardhub_actors::workshop`, reached through [`AppState::workshop`],
//! which is `None` when the hub runs no production lines.
//!
//! # Layout
//! - [`tasks`]: extraction, batches, tasks (list, detail, fail, retry), the
//!   queue counts.
//! - [`progress`]: a card's progress (制卡进度查询) by card id, card number
//!   or application.
//! - [`lines`]: the production lines and their printers; start, pause, stop.
//! - [`reports`]: waste (废卡登记) and performance (生产车间绩效).
//! - [`envelopes`]: the envelope inner page (邮封) as PNG, marked printed.
//! - [`dispatch`]: boxes (卡盒) and dispatch batches, their sign-offs.
//! - `query`: page sizes and time windows from query strings.
//!
//! Who may: [`MAY_WORK`] for production work, [`MAY_READ`] for the
//! workshop's figures, [`MAY_TRACK`] for a card's progress; the card
//! status machine decides each card transition on top (a branch signs for
//! its own box, the centre or the workshop mails cards).

pub mod dispatch;
pub mod envelopes;
pub mod lines;
pub mod progress;
pub(crate) mod query;
pub mod reports;
pub mod tasks;

use cardhub_actors::workshop::{EnvelopeError, Workshop, WorkshopError};
use cardhub_protocols::roles::Role;

use crate::error::ApiError;
use crate::state::AppState;

/// Roles that do the workshop's work: extraction, lines, tasks, boxes,
/// envelopes, dispatch (admin always may).
pub const MAY_WORK: [Role; 1] = [Role::WorkshopOperator];
/// Roles that extract making-card tasks: the centre (which approves the
/// applications) and the workshop.
pub const MAY_EXTRACT: [Role; 2] = [Role::CentreStaff, Role::WorkshopOperator];
/// Roles that read the workshop's queue, lines and figures: the workshop,
/// the centre that oversees it, the monitoring screens.
pub const MAY_READ: [Role; 3] = [Role::WorkshopOperator, Role::CentreStaff, Role::Screen];
/// Roles that follow a card's progress: the workshop, the centre, the
/// branch counter and outside systems answering a holder.
pub const MAY_TRACK: [Role; 4] = [
    Role::WorkshopOperator,
    Role::CentreStaff,
    Role::BranchOperator,
    Role::OutsideSystem,
];

/// What a request for a line gets when the hub runs none.
const NO_LINES: &str = "this hub runs no production lines: add `[[workshop.lines]]` (with their printers) to the configuration, keep `workshop.enabled = true` and `chip.enabled = true`, and restart the hub";

/// The production lines, or 409 when the hub runs none.
fn production_lines(state: &AppState) -> Result<&Workshop, ApiError> {
    state.workshop.as_ref().ok_or_else(|| ApiError::Conflict {
        code: "no-production-lines",
        message: NO_LINES.to_owned(),
        detail: None,
    })
}

impl From<WorkshopError> for ApiError {
    fn from(e: WorkshopError) -> Self {
        match e {
            WorkshopError::UnknownLine { .. } => ApiError::NotFound(e.to_string()),
            WorkshopError::Unavailable(_) => ApiError::Unavailable(e.to_string()),
            WorkshopError::Storage(s) => s.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<EnvelopeError> for ApiError {
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::Storage(s) => s.into(),
            EnvelopeError::Render(_) => ApiError::Internal(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every workshop and application route, as the OpenAPI document must
    /// list it (the end-to-end test checks each listed one is served).
    const ROUTES: &[(&str, &str)] = &[
        ("post", "/api/v1/applications"),
        ("get", "/api/v1/applications/{id}"),
        ("post", "/api/v1/workshop/extractions"),
        ("get", "/api/v1/workshop/batches"),
        ("get", "/api/v1/workshop/tasks"),
        ("get", "/api/v1/workshop/tasks/{id}"),
        ("post", "/api/v1/workshop/tasks/{id}/fail"),
        ("post", "/api/v1/workshop/tasks/{id}/retry"),
        ("get", "/api/v1/workshop/queue"),
        ("get", "/api/v1/workshop/cards/{id}/progress"),
        ("get", "/api/v1/workshop/progress"),
        ("get", "/api/v1/workshop/lines"),
        ("get", "/api/v1/workshop/lines/{name}"),
        ("post", "/api/v1/workshop/lines/{name}/start"),
        ("post", "/api/v1/workshop/lines/{name}/pause"),
        ("post", "/api/v1/workshop/lines/{name}/stop"),
        ("get", "/api/v1/workshop/waste"),
        ("get", "/api/v1/workshop/statistics"),
        ("get", "/api/v1/workshop/cards/{id}/envelope"),
        ("post", "/api/v1/workshop/cards/{id}/envelope/printed"),
        ("post", "/api/v1/workshop/boxes"),
        ("get", "/api/v1/workshop/boxes"),
        ("get", "/api/v1/workshop/boxes/{id}"),
        ("post", "/api/v1/workshop/boxes/{id}/seal"),
        ("post", "/api/v1/workshop/boxes/{id}/warehouse-in"),
        ("post", "/api/v1/workshop/dispatches"),
        ("get", "/api/v1/workshop/dispatches/{id}"),
        ("post", "/api/v1/workshop/dispatches/{id}/dispatch"),
        ("post", "/api/v1/workshop/dispatches/{id}/district-sign-off"),
        ("post", "/api/v1/workshop/dispatches/{id}/branch-sign-off"),
    ];

    #[test]
    fn every_route_is_documented_with_its_tag_and_bearer() {
        let doc = serde_json::to_value(crate::routes::openapi()).expect("serialises");
        for (method, path) in ROUTES {
            let op = &doc["paths"][path][method];
            assert!(op.is_object(), "{method} {path} missing from the document");
            let tag = op["tags"][0].as_str().unwrap_or_default();
            assert!(
                ["workshop", "applications"].contains(&tag),
                "{method} {path}: {tag}"
            );
            assert!(op["security"][0].get("bearer").is_some(), "{method} {path}");
        }
        let documented = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .filter(|(p, _)| {
                p.starts_with("/api/v1/workshop") || p.starts_with("/api/v1/applications")
            })
            .flat_map(|(_, item)| {
                item.as_object()
                    .expect("an item")
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .count();
        assert_eq!(
            documented,
            ROUTES.len(),
            "a documented route is missing from ROUTES"
        );
    }
}
