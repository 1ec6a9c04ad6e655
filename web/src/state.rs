//! [`AppState`]: what every HTTP handler shares: the configuration, the
//! store, the HSM, the actor tree's handle (and through it the card reader
//! manager), the status bus and the metrics handle. Built once
//! by [`crate::server`] and cloned into each worker.

use std::sync::Arc;
use std::time::Instant;

use actix::Addr;
use cardhub_actors::chip::{ChipError, ReaderManager};
use cardhub_actors::status::StatusBus;
use cardhub_actors::{HubHandle, Subtree};
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
    /// The production lines (`None` when the workshop has none).
    pub workshop: Option<cardhub_actors::workshop::Workshop>,
    /// Failed logins per client address.
    pub login_limiter: Arc<LoginLimiter>,
    /// The status bus the monitoring wall reads.
    pub bus: StatusBus,
    /// The branch terminals' sessions (`/ws/terminal`).
    pub terminals: crate::terminal::TerminalSessions,
}

impl AppState {
    /// The actor driving the card readers (looked up each time: the
    /// supervisor gives it a new address when it restarts).
    pub async fn reader_manager(&self) -> Result<Addr<ReaderManager>, ChipError> {
        if !self.config.chip.enabled {
            return Err(ChipError::Disabled);
        }
        let devices = self
            .hub
            .subtree(Subtree::Devices)
            .await
            .map_err(|e| ChipError::ReadersUnavailable(e.to_string()))?;
        devices
            .child_address::<ReaderManager>(cardhub_actors::chip::manager::CHILD_NAME)
            .await
            .map_err(|e| ChipError::ReadersUnavailable(e.to_string()))
    }
}
