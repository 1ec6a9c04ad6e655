//! [`SupervisorHandle`]: how the rest of cardhub talks to one supervisor,
//! and the messages behind it.
//!
//! The handle is `Send + Sync` and cheap to clone, so HTTP handlers on any
//! worker thread can use it. It addresses one run of a supervisor: once that
//! supervisor is restarted by its parent, ask the parent for a fresh handle
//! ([`SupervisorHandle::child_supervisor`]). The actor itself is in
//! [`super::supervisor`].

use std::any::{self, Any};
use std::fmt;
use std::sync::Arc;

use actix::{Actor, Addr, Message};

use super::child::{ChildSpec, ExitReason};
use super::error::SupervisionError;
use super::status::SupervisorStatus;
use super::supervisor::Supervisor;

#[derive(Message)]
#[rtype(result = "SupervisorStatus")]
pub(crate) struct GetStatus;

#[derive(Message)]
#[rtype(result = "Result<(), SupervisionError>")]
pub(crate) struct AddChild(pub ChildSpec);

#[derive(Message)]
#[rtype(result = "Result<ExitReason, SupervisionError>")]
pub(crate) struct TerminateChild(pub String);

#[derive(Message)]
#[rtype(result = "Result<Arc<dyn Any + Send + Sync>, SupervisionError>")]
pub(crate) struct LookupChild(pub String);

/// A handle on one running supervisor.
#[derive(Clone)]
pub struct SupervisorHandle {
    path: String,
    address: Addr<Supervisor>,
}

impl fmt::Debug for SupervisorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorHandle")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SupervisorHandle {
    pub(crate) fn new(path: String, address: Addr<Supervisor>) -> Self {
        Self { path, address }
    }

    /// The supervisor's path in the tree, e.g. `hub/devices`.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn gone(&self) -> SupervisionError {
        SupervisionError::SupervisorGone {
            supervisor: self.path.clone(),
        }
    }

    /// The supervisor's children and, nested, their subtrees.
    pub async fn status(&self) -> Result<SupervisorStatus, SupervisionError> {
        self.address.send(GetStatus).await.map_err(|_| self.gone())
    }

    /// Adds a child after the existing ones and starts it (a branch PC's
    /// terminal session, a device found by hot-plug discovery).
    pub async fn start_child(&self, child: ChildSpec) -> Result<(), SupervisionError> {
        self.address
            .send(AddChild(child))
            .await
            .map_err(|_| self.gone())?
    }

    /// Stops a child, waits for it to end, and forgets it. Returns how its
    /// last run ended.
    pub async fn terminate_child(&self, name: &str) -> Result<ExitReason, SupervisionError> {
        self.address
            .send(TerminateChild(name.to_owned()))
            .await
            .map_err(|_| self.gone())?
    }

    /// The address of a running child's current run. A restart replaces it:
    /// look it up again after a `MailboxError`.
    pub async fn child_address<A: Actor>(&self, name: &str) -> Result<Addr<A>, SupervisionError> {
        let found = self
            .address
            .send(LookupChild(name.to_owned()))
            .await
            .map_err(|_| self.gone())??;
        found
            .downcast_ref::<Addr<A>>()
            .cloned()
            .ok_or_else(|| SupervisionError::WrongActorType {
                supervisor: self.path.clone(),
                child: name.to_owned(),
                expected: any::type_name::<A>(),
            })
    }

    /// A handle on a running nested supervisor.
    pub async fn child_supervisor(&self, name: &str) -> Result<SupervisorHandle, SupervisionError> {
        let address = self.child_address::<Supervisor>(name).await?;
        Ok(SupervisorHandle::new(
            format!("{}/{name}", self.path),
            address,
        ))
    }
}
