//! Supervision events: what every supervisor in a tree did, as it did it.
//!
//! Supervisors publish these on one broadcast channel per tree
//! ([`super::TreeHandle::subscribe`]). Tests wait on them instead of sleeping;
//! the status bus can forward them to the monitoring wall. A subscriber that
//! falls behind loses the oldest events (it sees `Lagged`), never blocks a
//! supervisor. The current picture, rather than its history, is
//! [`super::status`].

use std::time::Duration;

use super::child::ExitReason;

/// Events buffered per subscriber before the oldest are dropped; a burst of
/// restarts across a few hundred children fits.
pub(crate) const EVENT_BUFFER: usize = 1_024;

/// One thing a supervisor did. `supervisor` is the supervisor's path in the
/// tree, e.g. `hub/devices`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SupervisorEvent {
    /// A child's factory finished and its actor is running.
    ChildStarted {
        /// Path of the supervisor.
        supervisor: String,
        /// The child's name.
        child: String,
        /// Which run of the child this is (1 for the first).
        generation: u64,
    },
    /// A child's run ended.
    ChildExited {
        /// Path of the supervisor.
        supervisor: String,
        /// The child's name.
        child: String,
        /// The run that ended.
        generation: u64,
        /// Why it ended.
        reason: ExitReason,
    },
    /// The supervisor chose to restart a child after `delay`.
    RestartScheduled {
        /// Path of the supervisor.
        supervisor: String,
        /// The child's name.
        child: String,
        /// Consecutive failures before this one (0 for the first restart
        /// after a stable run); the delay's cap doubles with it.
        attempt: u32,
        /// The delay the back-off chose, jitter included.
        delay: Duration,
    },
    /// The supervisor gave up: it stops its children and itself, and its
    /// parent (or whoever started the tree) sees it as a failure.
    Escalated {
        /// Path of the supervisor.
        supervisor: String,
        /// Which child failed too often, and how it last failed.
        reason: String,
    },
}
