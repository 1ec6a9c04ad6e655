//! Envelopes over HTTP (邮封): the inner page of a finished card's envelope
//! (holder's name, card number, destination branch) drawn as a PNG for the
//! envelope printer, and the record that it was printed.
//!
//! A card has an envelope once its task is done (its card passed QC);
//! before that both answer 404. The page is drawn with the workshop's
//! envelope layout and fonts, so it needs the production lines' runtime:
//! without lines the PNG is 409.

use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::{HttpResponse, get, post, web};

use super::{MAY_WORK, production_lines};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The envelope inner page of a card, as a PNG.
#[utoipa::path(
    tag = "workshop",
    params(("id" = i64, Path, description = "Card id")),
    responses(
        (status = 200, description = "The page", content_type = "image/png"),
        (status = 404, description = "No such card, or its task is not done (no envelope yet)", body = ErrorBody),
        (status = 409, description = "The hub runs no production lines (the envelope layout is theirs)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/workshop/cards/{id}/envelope")]
pub async fn page(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_WORK)?;
    let png = production_lines(&state)?
        .envelope_png(id.into_inner())
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::png())
        // The page carries a holder's name: no shared caches.
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .body(png))
}

/// Records that a card's envelope was printed (again, for a reprint).
#[utoipa::path(
    tag = "workshop",
    params(("id" = i64, Path, description = "Card id")),
    responses(
        (status = 200, description = "The envelope's data as it is now: `card_id`, `card_number`, `name`, `english_name`, `permit_chinese_name`, `branch_code`, `branch_name`, `box_number`, `printed_at`"),
        (status = 404, description = "No such card, or its task is not done", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/workshop/cards/{id}/envelope/printed")]
pub async fn printed(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_WORK)?;
    let id = id.into_inner();
    state
        .store
        .mark_envelope_printed(id, caller.actor())
        .await?;
    Ok(HttpResponse::Ok().json(state.store.envelope_data(id).await?))
}
