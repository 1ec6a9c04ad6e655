//! `[monitor]`: the status bus, the screens' WebSocket and the alert rules.

use std::time::Duration;

use cardhub_actors::status::{AlertRules, BusConfig, MonitorSettings};
use serde::Deserialize;

/// `[monitor]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    /// Changes are coalesced per entity and sent to screens once per tick
    /// (milliseconds).
    pub tick_ms: u64,
    /// Changes kept so a reconnecting screen gets what it missed rather
    /// than a whole snapshot.
    pub retain: usize,
    /// Frames (ticks) a screen may fall behind before it is resynced.
    pub queue_frames: usize,
    /// Bytes a screen may fall behind before it is resynced.
    pub queue_bytes: usize,
    /// How often the hub sends each screen a heartbeat (seconds).
    pub heartbeat_secs: u64,
    /// A screen that sends nothing (not even a WebSocket pong) this long,
    /// or does not take a frame this long, is closed (seconds).
    pub timeout_secs: u64,
    /// A screen must say `hello` this soon after connecting (seconds).
    pub hello_timeout_secs: u64,
    /// The largest message a screen may send (bytes).
    pub max_message_bytes: usize,
    /// A screen resynced more often than this in a minute is closed as too
    /// slow.
    pub resyncs_per_minute: usize,
    /// How often the making-card queue and the outbox are counted for the
    /// wall (seconds; 0: never).
    pub sample_secs: u64,
    /// The alert rules' thresholds.
    pub alerts: AlertRules,
}

impl MonitorConfig {
    /// The bus's settings.
    pub fn bus(&self) -> BusConfig {
        BusConfig {
            tick: Duration::from_millis(self.tick_ms.max(1)),
            retain: self.retain,
            queue_frames: self.queue_frames.max(1),
            queue_bytes: self.queue_bytes,
        }
    }

    /// The bus actor's settings.
    pub fn settings(&self) -> MonitorSettings {
        MonitorSettings {
            rules: self.alerts.clone(),
            sample_every: Duration::from_secs(self.sample_secs),
        }
    }
}
