//! [`AppState`]: what every HTTP handler shares: the configuration, the
//! store, the HSM, the actor tree's handle and the metrics handle. Built once
//! by [`crate::server`] and cloned into each worker.

use std::sync::Arc;
use std::time::Instant;

use cardhub_actors::HubHandle;
use cardhub_storage::Store;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::login_limit::LoginLimiter;

/// Shared state of the HTTP front.
#[derive(Clone)]
pub struct AppState {
    /// The effective configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// The supervision tree.
    pub hub: HubHandle,
    /// Renders `/metrics`.
    pub prometheus: PrometheusHandle,
    /// When the hub started.
    pub started: Instant,
    /// Failed logins per client address.
    pub login_limiter: Arc<LoginLimiter>,
}
