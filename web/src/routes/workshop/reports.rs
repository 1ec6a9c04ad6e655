//! The workshop's reports over HTTP: the waste register (废卡登记: every
//! wasted card, why, where and by whom) and performance (生产车间绩效:
//! cards produced and wasted per line, per line and hour, per operator,
//! with cards per hour and waste rates), each over a time window.
//!
//! Windows are `from` and `to` in the query (a Shanghai date or an RFC
//! 3339 instant; see `query`); the figures are
//! `cardhub_storage::workshop::statistics`.

use actix_web::{HttpResponse, get, web};
use cardhub_storage::utc_now;
use serde::Deserialize;
use utoipa::IntoParams;

use super::MAY_READ;
use super::query::{DefaultStart, page_size, window};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Days of waste listed when no `from` is given: a month of the register.
const WASTE_DEFAULT_DAYS: u64 = 30;
/// Waste rows listed when no `limit` is given.
const WASTE_DEFAULT_PAGE: i64 = 100;

/// `GET /workshop/waste` parameters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WasteQuery {
    /// Window start: `2026-03-01` (that Shanghai day's start) or an RFC
    /// 3339 instant; default 30 days before `to`.
    pub from: Option<String>,
    /// Window end (exclusive): a date includes that whole day; default now.
    pub to: Option<String>,
    /// Most rows (1..=1000, default 100), newest first.
    pub limit: Option<i64>,
}

/// `GET /workshop/statistics` parameters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatisticsQuery {
    /// Window start: `2026-03-01` or an RFC 3339 instant; default the
    /// start of the Shanghai day the window ends in.
    pub from: Option<String>,
    /// Window end (exclusive): a date includes that whole day; default now.
    pub to: Option<String>,
}

/// The waste register over a window, newest first.
#[utoipa::path(
    tag = "workshop",
    params(WasteQuery),
    responses(
        (status = 200, description = "Wasted cards: `id`, `task_id`, `card_id`, `card_number`, `reason`, `step`, `device`, `line`, `operator`, `at`"),
        (status = 400, description = "A bad date, an empty or over-long window, a bad limit", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/workshop/waste")]
pub async fn waste(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<WasteQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_READ)?;
    let w = window(
        query.from.as_deref(),
        query.to.as_deref(),
        utc_now().and_utc(),
        DefaultStart::DaysBefore(WASTE_DEFAULT_DAYS),
    )?;
    let limit = page_size(query.limit, WASTE_DEFAULT_PAGE)?;
    Ok(HttpResponse::Ok().json(state.store.list_waste(w.from, w.to, limit).await?))
}

/// Workshop performance over a window.
#[utoipa::path(
    tag = "workshop",
    params(StatisticsQuery),
    responses(
        (status = 200, description = "`from`, `to` (UTC), `produced`, `wasted`, `waste_rate`; `per_line` (`line`, `produced`, `wasted`, `waste_rate`, `cards_per_hour`), `per_line_hour` (`line`, `hour`, `produced`, `wasted`), `per_operator` (`operator`, `produced`, `wasted`, `waste_rate`)"),
        (status = 400, description = "A bad date, an empty or over-long window", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/workshop/statistics")]
pub async fn statistics(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<StatisticsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_READ)?;
    let w = window(
        query.from.as_deref(),
        query.to.as_deref(),
        utc_now().and_utc(),
        DefaultStart::StartOfDay,
    )?;
    Ok(HttpResponse::Ok().json(state.store.statistics(w.from, w.to).await?))
}
