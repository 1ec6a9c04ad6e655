//! The errors callers of a supervisor's handle can get back.
//!
//! Only requests made through [`super::SupervisorHandle`] and
//! [`super::TreeHandle`] fail this way; a child's own failure is not an error
//! here but an [`super::ExitReason`] the supervisor acts on.

/// A request to a supervisor could not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisionError {
    /// The supervisor has stopped (shut down, escalated, or being restarted
    /// by its parent), so the request reached nobody.
    #[error(
        "supervisor {supervisor} is not running (it was shut down, escalated, or is being \
         restarted by its parent); check the actor tree status and retry once it is up"
    )]
    SupervisorGone {
        /// Path of the supervisor.
        supervisor: String,
    },
    /// A child by that name already exists under this supervisor.
    #[error(
        "supervisor {supervisor} already has a child named {child}; give each child a unique \
         name, or terminate the old one first"
    )]
    DuplicateChild {
        /// Path of the supervisor.
        supervisor: String,
        /// The name asked for.
        child: String,
    },
    /// No child by that name exists under this supervisor.
    #[error(
        "supervisor {supervisor} has no child named {child}; check the name in the tree status"
    )]
    NoSuchChild {
        /// Path of the supervisor.
        supervisor: String,
        /// The name asked for.
        child: String,
    },
    /// The child exists but is starting, restarting or stopped right now.
    #[error(
        "child {child} of supervisor {supervisor} is not running right now (starting, waiting \
         for a restart, or stopped); retry after its restart delay"
    )]
    ChildNotRunning {
        /// Path of the supervisor.
        supervisor: String,
        /// The child's name.
        child: String,
    },
    /// The child runs, but is a different actor type from the one asked for.
    #[error("child {child} of supervisor {supervisor} is not a {expected}; this is a wiring bug")]
    WrongActorType {
        /// Path of the supervisor.
        supervisor: String,
        /// The child's name.
        child: String,
        /// The type the caller asked for.
        expected: &'static str,
    },
    /// The supervisor is stopping all its children and starts no new ones.
    #[error("supervisor {supervisor} is shutting down or has escalated and starts no new children")]
    ShuttingDown {
        /// Path of the supervisor.
        supervisor: String,
    },
}
