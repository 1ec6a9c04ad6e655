//! How a supervisor answers the requests of [`crate::supervision::SupervisorHandle`]:
//! status, adding and terminating children, and looking up their addresses.
//!
//! Kept apart from the restart state machine in the parent module, which it
//! only reads or feeds through the same queue (`progress`).

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::{Child, Phase, StopPurpose, Supervisor};
use crate::supervision::child::ExitReason;
use crate::supervision::error::SupervisionError;
use crate::supervision::handle::{AddChild, GetStatus, LookupChild, TerminateChild};
use crate::supervision::status::{SupervisorState, SupervisorStatus};

/// How long a supervisor waits for a nested supervisor's status before it
/// reports that child without its subtree: `/healthz` must answer even when
/// one subtree is wedged.
const NESTED_STATUS_TIMEOUT: Duration = Duration::from_secs(2);

impl Handler<GetStatus> for Supervisor {
    type Result = ResponseFuture<SupervisorStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Self::Context) -> Self::Result {
        let mut status = self.snapshot();
        let nested: Vec<(usize, Addr<Supervisor>)> = (0..self.children.len())
            .filter_map(|i| {
                let address = self.address_of(i)?.downcast_ref::<Addr<Supervisor>>()?;
                Some((i, address.clone()))
            })
            .collect();
        Box::pin(async move {
            for (i, address) in nested {
                let answer = tokio::time::timeout(NESTED_STATUS_TIMEOUT, address.send(GetStatus));
                if let Ok(Ok(nested)) = answer.await {
                    status.children[i].supervisor = Some(Box::new(nested));
                }
            }
            status
        })
    }
}

impl Handler<AddChild> for Supervisor {
    type Result = Result<(), SupervisionError>;

    fn handle(&mut self, AddChild(spec): AddChild, ctx: &mut Self::Context) -> Self::Result {
        if self.state != SupervisorState::Running {
            return Err(SupervisionError::ShuttingDown {
                supervisor: self.path.clone(),
            });
        }
        if self.index_of(spec.name()).is_some() {
            return Err(SupervisionError::DuplicateChild {
                supervisor: self.path.clone(),
                child: spec.name().to_owned(),
            });
        }
        self.children.push(Child::new(spec, &self.config));
        self.start_next_idle(ctx);
        Ok(())
    }
}

impl Handler<TerminateChild> for Supervisor {
    type Result = ResponseFuture<Result<ExitReason, SupervisionError>>;

    fn handle(
        &mut self,
        TerminateChild(name): TerminateChild,
        ctx: &mut Self::Context,
    ) -> Self::Result {
        let supervisor = self.path.clone();
        let Some(i) = self.index_of(&name) else {
            let missing = SupervisionError::NoSuchChild {
                supervisor,
                child: name,
            };
            return Box::pin(async move { Err(missing) });
        };
        let child = &mut self.children[i];
        let (tx, rx) = oneshot::channel();
        match &mut child.phase {
            Phase::Running { .. } => {
                child.exit_waiters.push(tx);
                child.stop_next = Some(StopPurpose::Remove);
            }
            Phase::Stopping { purpose, .. } => {
                child.exit_waiters.push(tx);
                *purpose = StopPurpose::Remove;
            }
            _ => {
                let _ = tx.send(child.last_exit.clone().unwrap_or(ExitReason::Shutdown));
                child.stop_next = Some(StopPurpose::Remove);
            }
        }
        self.progress(ctx);
        Box::pin(async move {
            rx.await
                .map_err(|_| SupervisionError::SupervisorGone { supervisor })
        })
    }
}

impl Handler<LookupChild> for Supervisor {
    type Result = Result<Arc<dyn Any + Send + Sync>, SupervisionError>;

    fn handle(&mut self, LookupChild(name): LookupChild, _: &mut Self::Context) -> Self::Result {
        let supervisor = self.path.clone();
        let i = self
            .index_of(&name)
            .ok_or_else(|| SupervisionError::NoSuchChild {
                supervisor: supervisor.clone(),
                child: name.clone(),
            })?;
        match &self.children[i].phase {
            Phase::Running { link, .. } => Ok(Arc::clone(&link.address)),
            _ => Err(SupervisionError::ChildNotRunning {
                supervisor,
                child: name,
            }),
        }
    }
}
