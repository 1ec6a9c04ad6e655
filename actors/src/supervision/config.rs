//! Supervision settings as an operator writes them in the hub's TOML config.
//!
//! This module only declares and documents the settings; it does not act on
//! them. [`super::backoff`] turns the back-off fields into delays,
//! [`super::intensity`] turns `max_restarts`/`within_secs` into the escalation
//! rule, and [`super::supervisor`] applies both. The web crate embeds
//! [`SupervisionConfig`] in the hub config, so unknown keys are rejected.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::backoff::{BackoffPolicy, Jitter};

/// How a supervisor restarts its children and when it gives up.
///
/// Every field has a default, so an empty `[supervision]` table is valid.
/// Intensity is counted per child: twenty printers losing power together are
/// twenty children failing once each, not one burst that escalates.
///
/// With the defaults a child that keeps failing is retried forever at most
/// every 15–30 s (the back-off cap with equal jitter), and that rate stays
/// below the intensity limit; escalation catches a child that fails faster
/// than its back-off allows, which happens when the back-off is configured
/// short (`backoff_initial_ms = 0` gives OTP's immediate restarts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisionConfig {
    /// Most restarts of one child allowed within `within_secs` seconds. One
    /// more failure inside the window escalates: the supervisor stops all its
    /// children and itself, and its parent sees it as one failed child (the
    /// root's escalation stops the hub). `0` escalates on the first failure.
    /// Default: 10.
    pub max_restarts: u32,
    /// Length of the sliding window, in seconds, over which `max_restarts` is
    /// counted. Default: 60.
    pub within_secs: u64,
    /// Delay before the first restart after a failure, in milliseconds. Each
    /// further consecutive failure doubles it, up to `backoff_max_ms`.
    /// Default: 250.
    pub backoff_initial_ms: u64,
    /// Upper bound of the restart delay, in milliseconds. Default: 30000.
    pub backoff_max_ms: u64,
    /// How the delay is randomised so that many children failing together do
    /// not restart together: `"none"` (exact doubling), `"full"` (anywhere
    /// from 0 to the doubled delay) or `"equal"` (between half of it and all
    /// of it). Default: `"equal"`.
    pub backoff_jitter: Jitter,
    /// Seconds a child must stay up before its next failure is treated as a
    /// first failure again (the back-off restarts from `backoff_initial_ms`).
    /// Default: 60.
    pub stable_after_secs: u64,
    /// Milliseconds a worker is given to stop when its supervisor asks (on
    /// shutdown, or to restart all children); after that it is dropped
    /// without running its `stopped` hook. Nested supervisors are not bound by
    /// it: they take as long as their own children. Default: 5000.
    pub shutdown_timeout_ms: u64,
}

impl Default for SupervisionConfig {
    fn default() -> Self {
        Self {
            // With the default back-off a child failing at once every time
            // restarts at most 9 times in its first minute (see the test
            // `default_backoff_never_outruns_default_intensity`), so 10 leaves a
            // margin of one before a slowly reconnecting device escalates.
            max_restarts: 10,
            within_secs: 60,
            // A quarter second is long enough that a tight crash loop does
            // not burn a core, short enough that a flapping link recovers
            // before an operator notices.
            backoff_initial_ms: 250,
            // Half a minute between attempts at worst: a device plugged back
            // in is picked up within that time.
            backoff_max_ms: 30_000,
            backoff_jitter: Jitter::Equal,
            stable_after_secs: 60,
            // PC/SC and serial transactions finish well within 5 s; a card
            // personalisation step is never cut short by a slower limit.
            shutdown_timeout_ms: 5_000,
        }
    }
}

impl SupervisionConfig {
    /// The sliding window over which restarts are counted.
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.within_secs)
    }

    /// The back-off settings as the pure [`BackoffPolicy`].
    pub fn backoff_policy(&self) -> BackoffPolicy {
        BackoffPolicy {
            initial: Duration::from_millis(self.backoff_initial_ms),
            max: Duration::from_millis(self.backoff_max_ms),
            jitter: self.backoff_jitter,
            stable_after: Duration::from_secs(self.stable_after_secs),
        }
    }

    /// How long a worker is given to stop when asked.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervision::intensity::RestartIntensity;
    use std::time::Instant;

    /// A child that fails the instant it starts, with every jittered delay
    /// at its lower bound, must still stay under the default intensity:
    /// otherwise an unplugged device would escalate and stop the hub.
    #[test]
    fn default_backoff_never_outruns_default_intensity() {
        let config = SupervisionConfig::default();
        let policy = config.backoff_policy();
        let mut intensity = RestartIntensity::new(config.max_restarts, config.window());
        let start = Instant::now();
        let mut at = start;
        for attempt in 0..200 {
            assert!(
                intensity.record(at).is_ok(),
                "restart {attempt} at {:?} escalated",
                at - start
            );
            at += policy.bounds(attempt).0;
        }
    }

    #[test]
    fn empty_table_gives_defaults_and_unknown_keys_are_rejected() {
        let parsed: SupervisionConfig =
            serde_json::from_str("{}").expect("an empty table is a valid config");
        assert_eq!(parsed, SupervisionConfig::default());

        let partial: SupervisionConfig =
            serde_json::from_str(r#"{"max_restarts": 3, "backoff_jitter": "full"}"#)
                .expect("known keys parse");
        assert_eq!(partial.max_restarts, 3);
        assert_eq!(partial.backoff_jitter, Jitter::Full);
        assert_eq!(partial.within_secs, 60);

        let typo = serde_json::from_str::<SupervisionConfig>(r#"{"max_restart": 3}"#);
        assert!(typo.is_err(), "a misspelt key must be rejected");
    }
}
