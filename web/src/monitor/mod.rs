//! The monitoring wall (应用系统监控管理平台): the page at `/` (its files
//! compiled into the binary: it works with no internet), the screens'
//! WebSocket `/ws/monitor` ([`socket`]), and two read-only HTTP views of the
//! same state: the current snapshot and the persisted alerts.
//!
//! The state itself is the status bus in `cardhub-actors`
//! (`cardhub_actors::status`); the protocol is in
//! `docs/monitor-protocol.md`.

pub mod config;
pub mod socket;

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use cardhub_actors::status::{Entity, EntityKind, Filter};
use cardhub_storage::alerts::{Alert, AlertQuery};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use config::MonitorConfig;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

const INDEX_HTML: &str = include_str!("wall/index.html");
const WALL_CSS: &str = include_str!("wall/wall.css");
const WALL_JS: &str = include_str!("wall/wall.js");

/// The page may load only its own files and talk only to its own hub.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    page_file(content_type, CSP, body)
}

/// One file of a page compiled into the binary (the wall's, the branch
/// console's), served with the page's content security policy, never
/// cached stale, never sniffed, and sending no referrer.
pub(crate) fn page_file(
    content_type: &'static str,
    csp: &'static str,
    body: &'static str,
) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body)
}

/// The monitoring wall page. It authenticates on its WebSocket: with a
/// screen token in the URL fragment (`/#token=chb_...`) or by logging in.
#[utoipa::path(
    get,
    path = "/",
    tag = "monitor",
    responses((status = 200, description = "The wall page (HTML)", content_type = "text/html")),
)]
#[get("/")]
pub async fn wall_page() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// The wall page's style sheet.
#[utoipa::path(get, path = "/wall/wall.css", tag = "monitor",
    responses((status = 200, description = "CSS", content_type = "text/css")))]
#[get("/wall/wall.css")]
pub async fn wall_css() -> HttpResponse {
    asset("text/css; charset=utf-8", WALL_CSS)
}

/// The wall page's script.
#[utoipa::path(get, path = "/wall/wall.js", tag = "monitor",
    responses((status = 200, description = "JavaScript", content_type = "text/javascript")))]
#[get("/wall/wall.js")]
pub async fn wall_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", WALL_JS)
}

/// Which entities a snapshot holds.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SnapshotQuery {
    /// Comma-separated kinds (printer, reader, camera, id_reader, line,
    /// terminal, channel, counter, alert); all when absent.
    pub kinds: Option<String>,
    /// Only this workshop's entities (and centre-wide ones).
    pub workshop: Option<String>,
    /// Only this branch's entities (and centre-wide ones).
    pub branch: Option<String>,
}

/// The status bus's current state.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotView {
    /// This run of the hub.
    pub epoch: String,
    /// The last change included.
    pub seq: u64,
    /// The entities.
    #[schema(value_type = Vec<Entity>)]
    pub entities: Vec<Entity>,
}

/// The current status of every device, line, terminal, channel, counter and
/// alert (what a screen's first snapshot holds).
#[utoipa::path(
    get,
    path = "/monitor/snapshot",
    tag = "monitor",
    params(SnapshotQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The snapshot", body = SnapshotView),
        (status = 400, description = "An unknown kind"),
        (status = 401, description = "No valid credentials"),
    ),
)]
#[get("/monitor/snapshot")]
pub async fn snapshot(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<SnapshotQuery>,
) -> Result<web::Json<SnapshotView>, ApiError> {
    let query = query.into_inner();
    let kinds = match query.kinds {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| {
                    EntityKind::ALL
                        .into_iter()
                        .find(|kind| kind.as_str() == k)
                        .ok_or_else(|| {
                            ApiError::BadRequest(format!(
                                "unknown kind `{k}`; the kinds are {}",
                                EntityKind::ALL.map(EntityKind::as_str).join(", ")
                            ))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let filter = socket::visible_to(
        &caller,
        Filter {
            kinds,
            workshop: query.workshop,
            branch: query.branch,
        },
    );
    let (epoch, seq, entities) = state.bus.snapshot(&filter);
    Ok(web::Json(SnapshotView {
        epoch,
        seq,
        entities,
    }))
}

/// Which alerts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// Only alerts not yet cleared.
    #[serde(default)]
    pub open: bool,
    /// Only this rule's (device-error, line-stalled, channel-down,
    /// queue-depth, waste-rate).
    pub rule: Option<String>,
    /// Only about this subject (`printer:line-1/printer-1`).
    pub subject: Option<String>,
    /// At most this many, newest first (default 100, at most 1,000).
    pub limit: Option<i64>,
}

/// One persisted alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    /// Its id.
    pub id: i64,
    /// The rule that raised it.
    pub rule: String,
    /// What it is about.
    pub subject: String,
    /// warning or critical.
    pub severity: String,
    /// What happened and what to do.
    pub message: String,
    /// When raised (UTC).
    #[schema(value_type = String, format = DateTime)]
    pub raised_at: NaiveDateTime,
    /// When cleared (UTC), if it is.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cleared_at: Option<NaiveDateTime>,
    /// Why it cleared.
    pub clear_reason: Option<String>,
}

impl From<Alert> for AlertView {
    fn from(a: Alert) -> Self {
        Self {
            id: a.id,
            rule: a.rule,
            subject: a.subject,
            severity: a.severity.as_str().to_owned(),
            message: a.message,
            raised_at: a.raised_at,
            cleared_at: a.cleared_at,
            clear_reason: a.clear_reason,
        }
    }
}

/// The alerts raised and cleared, newest first (the wall shows the live
/// ones; this is their history).
#[utoipa::path(
    get,
    path = "/alerts",
    tag = "monitor",
    params(AlertsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The alerts", body = Vec<AlertView>),
        (status = 401, description = "No valid credentials"),
    ),
)]
#[get("/alerts")]
pub async fn alerts(
    _caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<AlertsQuery>,
) -> Result<web::Json<Vec<AlertView>>, ApiError> {
    let query = query.into_inner();
    let list = state
        .store
        .list_alerts(AlertQuery {
            open_only: query.open,
            rule: query.rule,
            subject: query.subject,
            limit: query.limit.unwrap_or(100).clamp(1, 1_000),
        })
        .await?;
    Ok(web::Json(list.into_iter().map(AlertView::from).collect()))
}
