//! The production lines over HTTP (产线): each line's state, program and
//! lanes (one per printer: what it is doing, the card on it, its last
//! problem) with its printers' health, and the operator's start, pause
//! and stop. A command is persisted before the line obeys it, so a line
//! stopped by hand stays stopped across a restart.
//!
//! The lines are actors (`cardhub_actors::workshop`); when the hub runs
//! none (`[[workshop.lines]]` is empty or the workshop is off) the list is
//! empty, a named line is 404 and a command 409, both saying so.

use actix_web::{HttpResponse, get, post, web};
use cardhub_actors::workshop::{LineCommand, LineView, PrinterView, Workshop, WorkshopError};
use cardhub_storage::workshop::{LineRecord, LineState};
use serde::Serialize;

use super::{MAY_READ, MAY_WORK, NO_LINES, production_lines};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// One line as `GET /workshop/lines` lists it.
#[derive(Serialize)]
pub struct LineEntry {
    /// The line's name.
    pub name: String,
    /// Its state: from the line, or as last stored when it is restarting.
    pub state: Option<LineState>,
    /// The line's own view (program, steps, lanes); null while restarting.
    pub line: Option<LineView>,
    /// Its printers.
    pub printers: Vec<PrinterView>,
    /// Why the line did not answer (it is restarting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// One line with its printers.
#[derive(Serialize)]
struct LineDetail {
    line: LineView,
    printers: Vec<PrinterView>,
}

/// A line's state after a command.
#[derive(Serialize)]
struct ControlAnswer {
    name: String,
    state: LineState,
}

/// Every production line and its printers.
#[utoipa::path(
    tag = "workshop",
    responses(
        (status = 200, description = "One entry per configured line, by name: `name`, `state` (`running`, `paused`, `stopped`), `line` (`name`, `state`, `program`, `steps`, `lanes`: `printer`, `activity`, `task_id`, `card_number`, `step`, `last_error`, `cards_done`, `cards_wasted`), `printers` (`name`, `health`, `reason`, `since`, `hopper`, `ribbon_left`, `reconnect_attempts`), and `unavailable` when the line is restarting; `[]` when the hub runs no lines"),
    ),
    security(("bearer" = []))
)]
#[get("/workshop/lines")]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_READ)?;
    let Some(shop) = state.workshop.as_ref() else {
        return Ok(HttpResponse::Ok().json(Vec::<LineEntry>::new()));
    };
    let stored = state.store.list_line_states().await?;
    let mut entries = Vec::new();
    for name in shop.line_names() {
        entries.push(entry(shop, &stored, name).await?);
    }
    Ok(HttpResponse::Ok().json(entries))
}

/// A line as listed; a restarting line shows its stored state.
async fn entry(
    shop: &Workshop,
    stored: &[LineRecord],
    name: String,
) -> Result<LineEntry, ApiError> {
    match shop.describe(&name).await {
        Ok((line, printers)) => Ok(LineEntry {
            name,
            state: Some(line.state),
            line: Some(line),
            printers,
            unavailable: None,
        }),
        Err(e @ WorkshopError::Unavailable(_)) => Ok(LineEntry {
            state: stored.iter().find(|r| r.name == name).map(|r| r.state),
            name,
            line: None,
            printers: Vec::new(),
            unavailable: Some(e.to_string()),
        }),
        Err(e) => Err(e.into()),
    }
}

/// One production line and its printers.
#[utoipa::path(
    tag = "workshop",
    params(("name" = String, Path, description = "The line's name (`line-1`)")),
    responses(
        (status = 200, description = "`line` (`name`, `state`, `program`, `steps`, `lanes`) and `printers`"),
        (status = 404, description = "No such line (or the hub runs no lines)", body = ErrorBody),
        (status = 503, description = "The line is restarting", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/workshop/lines/{name}")]
pub async fn get_line(
    state: web::Data<AppState>,
    caller: Caller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_READ)?;
    let Some(shop) = state.workshop.as_ref() else {
        return Err(ApiError::NotFound(format!(
            "no production line `{name}`: {NO_LINES}"
        )));
    };
    let (line, printers) = shop.describe(&name).await?;
    Ok(HttpResponse::Ok().json(LineDetail { line, printers }))
}

async fn control(
    state: &AppState,
    caller: &Caller,
    name: String,
    command: LineCommand,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_WORK)?;
    let state = production_lines(state)?
        .control(&name, command, caller.actor())
        .await?;
    Ok(HttpResponse::Ok().json(ControlAnswer { name, state }))
}

/// Starts a line: its printers take cards from the queue.
#[utoipa::path(
    tag = "workshop",
    params(("name" = String, Path, description = "The line's name")),
    responses(
        (status = 200, description = "`name` and `state` (`running`)"),
        (status = 404, description = "No such line", body = ErrorBody),
        (status = 409, description = "The hub runs no production lines", body = ErrorBody),
        (status = 503, description = "The line is restarting", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/workshop/lines/{name}/start")]
pub async fn start(
    state: web::Data<AppState>,
    caller: Caller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    control(&state, &caller, name.into_inner(), LineCommand::Start).await
}

/// Pauses a line: every printer holds after its current step.
#[utoipa::path(
    tag = "workshop",
    params(("name" = String, Path, description = "The line's name")),
    responses(
        (status = 200, description = "`name` and `state` (`paused`)"),
        (status = 404, description = "No such line", body = ErrorBody),
        (status = 409, description = "The hub runs no production lines", body = ErrorBody),
        (status = 503, description = "The line is restarting", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/workshop/lines/{name}/pause")]
pub async fn pause(
    state: web::Data<AppState>,
    caller: Caller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    control(&state, &caller, name.into_inner(), LineCommand::Pause).await
}

/// Stops a line: the cards on its printers are finished, no more are taken.
#[utoipa::path(
    tag = "workshop",
    params(("name" = String, Path, description = "The line's name")),
    responses(
        (status = 200, description = "`name` and `state` (`stopped`)"),
        (status = 404, description = "No such line", body = ErrorBody),
        (status = 409, description = "The hub runs no production lines", body = ErrorBody),
        (status = 503, description = "The line is restarting", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/workshop/lines/{name}/stop")]
pub async fn stop(
    state: web::Data<AppState>,
    caller: Caller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    control(&state, &caller, name.into_inner(), LineCommand::Stop).await
}
