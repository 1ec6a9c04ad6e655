//! A snapshot of a supervision tree for `/healthz` and the monitoring wall.
//!
//! Plain serialisable data, built on request by the supervisors
//! ([`super::TreeHandle::status`]); it never changes after it is built. The
//! history of changes is in [`super::event`].

use serde::Serialize;

use super::child::{ChildKind, ExitReason, RestartPolicy};
use super::spec::Strategy;
use super::tree::TreeExit;

/// The whole tree: whether it is up, and every supervisor in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TreeStatus {
    /// `None` while the tree runs; how it ended otherwise.
    pub exit: Option<TreeExit>,
    /// The root supervisor and, nested in it, everything below; `None` once
    /// the root has stopped.
    pub root: Option<SupervisorStatus>,
}

impl TreeStatus {
    /// The tree is up: its root supervisor runs and has not escalated.
    /// Children being restarted do not make it down.
    pub fn is_up(&self) -> bool {
        self.exit.is_none()
            && self
                .root
                .as_ref()
                .is_some_and(|root| root.state == SupervisorState::Running)
    }
}

/// What a supervisor is doing as a whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum SupervisorState {
    /// Supervising: starting, watching and restarting children.
    Running,
    /// Stopping its children in reverse order before it stops itself.
    ShuttingDown,
    /// Gave up for this reason; stopping its children before it stops.
    Escalated(String),
}

/// One supervisor and its children.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SupervisorStatus {
    /// Path in the tree, e.g. `hub/devices`.
    pub path: String,
    /// What it is doing.
    pub state: SupervisorState,
    /// How a failure affects siblings.
    pub strategy: Strategy,
    /// Its children, in start order.
    pub children: Vec<ChildStatus>,
}

/// Where a child is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ChildState {
    /// Waiting for its turn to start, or its factory is running.
    Starting,
    /// Its actor is running.
    Running {
        /// Milliseconds since this run started.
        up_ms: u64,
    },
    /// Stopped after a failure; restarts when the back-off delay ends.
    Restarting {
        /// Milliseconds left before the restart.
        in_ms: u64,
        /// The whole delay the back-off chose.
        delay_ms: u64,
    },
    /// Asked to stop; its exit has not been seen yet.
    Stopping,
    /// Not running and not to be restarted (a transient child that ended
    /// normally, or every child after shutdown or escalation).
    Stopped,
}

/// One child of a supervisor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChildStatus {
    /// Its name among its siblings.
    pub name: String,
    /// Worker or nested supervisor.
    pub kind: ChildKind,
    /// When it is restarted.
    pub restart: RestartPolicy,
    /// Where it is in its life.
    pub state: ChildState,
    /// Which run it is on (1 for the first).
    pub generation: u64,
    /// Restarts since the supervisor started.
    pub restarts: u64,
    /// Restarts inside the current intensity window.
    pub recent_restarts: u32,
    /// Consecutive failures the back-off is counting.
    pub consecutive_failures: u32,
    /// How its previous run ended, if it had one.
    pub last_exit: Option<ExitReason>,
    /// The delay chosen before its latest restart, in milliseconds.
    pub last_delay_ms: Option<u64>,
    /// For a nested supervisor that answered in time: its own status.
    pub supervisor: Option<Box<SupervisorStatus>>,
}
