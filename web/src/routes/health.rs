//! `GET /healthz` (readiness: the database answers and the actor tree is up;
//! 200 or 503 with the reason) and `GET /metrics` (Prometheus text; public
//! when `[http] metrics_public`, otherwise any valid token).

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// How long /healthz waits for the database before calling it down: a
/// load balancer's probe gives up after a few seconds, so answer before it.
const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The health report.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when everything below is, otherwise `unavailable`.
    pub status: &'static str,
    /// cardhub's version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// The database probe.
    pub database: DatabaseHealth,
    /// The actor tree.
    pub actors: ActorHealth,
}

/// The database part of the health report.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseHealth {
    /// Whether a trivial query succeeded in time.
    pub ok: bool,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// How long the probe took, in milliseconds.
    pub latency_ms: f64,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The actor-tree part of the health report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorHealth {
    /// Whether every supervisor is running.
    pub ok: bool,
    /// The tree: supervisors, children, states and restart counts.
    #[schema(value_type = Object)]
    pub tree: serde_json::Value,
}

/// Readiness of the hub.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "The database answers and the actor tree is up", body = Health),
        (status = 503, description = "Something is down; the body says what", body = Health),
    )
)]
#[get("/healthz")]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let started = Instant::now();
    let ping = tokio::time::timeout(DATABASE_PROBE_TIMEOUT, state.store.ping()).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let db_error = match ping {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!(
            "no answer within {} s",
            DATABASE_PROBE_TIMEOUT.as_secs()
        )),
    };
    let tree = state.hub.status().await;
    let actors_ok = tree.is_up();
    let database = DatabaseHealth {
        ok: db_error.is_none(),
        backend: state.store.backend().as_str(),
        latency_ms,
        error: db_error,
    };
    let ok = database.ok && actors_ok;
    let body = Health {
        status: if ok { "ok" } else { "unavailable" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: state.started.elapsed().as_secs(),
        database,
        actors: ActorHealth {
            ok: actors_ok,
            tree: serde_json::to_value(&tree).unwrap_or(serde_json::Value::Null),
        },
    };
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics (text exposition format), all named `cardhub_*`.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "metrics_public is off and no valid token was sent"),
    )
)]
#[get("/metrics")]
pub async fn metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !state.config.http.metrics_public {
        Caller::from_request_async(&req).await?;
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.prometheus.render()))
}
