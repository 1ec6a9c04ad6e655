//! OTP-style supervision for actix actors.
//!
//! actix's own `Supervisor` restarts an actor forever, at once, reusing the
//! old struct. Here a supervisor:
//! - builds every run of a child fresh from its factory ([`ChildSpec`]),
//!   possibly async so it can load state from storage;
//! - waits between restarts with exponential back-off and jitter
//!   ([`backoff`]), forgetting old failures after a stable run;
//! - escalates when one child restarts more than `max_restarts` times within
//!   `within_secs` ([`intensity`]): it stops its children and itself, and its
//!   parent sees one failed child; the root's escalation reaches
//!   [`TreeHandle::wait_exit`];
//! - restarts one-for-one or one-for-all ([`Strategy`]), stops children last
//!   first, and counts restarts in metrics (`cardhub_actor_restarts_total`,
//!   `cardhub_actor_escalations_total`, `cardhub_actor_children_running`).
//!
//! Layout: `config` (operator settings), `backoff` and `intensity` (pure
//! rules), `child` (child specs, exits, the watcher), `spec` (supervisor
//! specs), `supervisor` (the actor),
//! `handle` and `tree` (what callers hold), `status` and `event` (what they
//! read). cardhub's own tree is in [`crate::hub`].

pub mod backoff;
mod child;
mod config;
mod error;
mod event;
mod handle;
pub mod intensity;
mod spec;
mod status;
mod supervisor;
mod tree;

pub use backoff::{Backoff, BackoffPolicy, Jitter};
pub use child::{ChildContext, ChildKind, ChildSpec, ExitReason, FailureReporter, RestartPolicy};
pub use config::SupervisionConfig;
pub use error::SupervisionError;
pub use event::SupervisorEvent;
pub use handle::SupervisorHandle;
pub use spec::{Strategy, SupervisorSpec};
pub use status::{ChildState, ChildStatus, SupervisorState, SupervisorStatus, TreeStatus};
pub use tree::{TreeExit, TreeHandle};
