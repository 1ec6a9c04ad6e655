//! Metrics and logs: the process-wide Prometheus recorder behind `/metrics`,
//! the HTTP middleware that counts requests by route and status, and the
//! tracing subscriber set up from `[log]`.
//!
//! Metric names all start with `cardhub_`; other crates record their own
//! (`cardhub_actor_restarts_total` in cardhub-actors,
//! `cardhub_db_query_seconds` in cardhub-storage) through the same recorder.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::{LogConfig, LogFormat};

/// Histogram buckets for request and query latencies, in seconds: from 0.5 ms
/// (a cached read) to 10 s (a request that should have timed out).
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus handle, installing the recorder on first use.
/// Safe to call more than once (tests start several servers in one process).
pub fn prometheus() -> PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed when a test harness
            // set one; ours then only renders what it saw.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics shows only cardhub's own view");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        "cardhub_http_requests_total",
        "HTTP requests served, by method, route and status"
    );
    metrics::describe_histogram!(
        "cardhub_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by route"
    );
    metrics::describe_counter!(
        "cardhub_actor_restarts_total",
        "Restarts of supervised actors"
    );
    metrics::describe_histogram!(
        "cardhub_db_query_seconds",
        metrics::Unit::Seconds,
        "Database work latency by operation"
    );
    metrics::describe_counter!("cardhub_login_failures_total", "Failed operator logins");
}

/// actix-web middleware (`from_fn`) counting every request by method, route
/// pattern (not the raw path, so ids do not explode the label set) and status.
pub async fn http_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16().to_string();
    metrics::counter!("cardhub_http_requests_total", "method" => method, "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("cardhub_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(res)
}

/// Installs the tracing subscriber; `RUST_LOG` wins over `[log] filter`.
pub fn init_logging(cfg: &LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match cfg.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}
