//! Starting a supervision tree and holding on to it: [`TreeHandle`].
//!
//! The root supervisor is launched like any child, except that its exit goes
//! to the handle instead of a parent: that is how whoever started the tree
//! (the `cardhub` binary) learns that the root escalated and exits non-zero.
//! [`crate::hub`] builds cardhub's own tree on top of this.

use std::sync::{Arc, Mutex, PoisonError};

use actix::Addr;
use serde::Serialize;
use tokio::sync::{broadcast, oneshot, watch};

use super::child::{ChildContext, ChildExited, ExitReason, ExitSink, launch};
use super::event::{EVENT_BUFFER, SupervisorEvent};
use super::handle::SupervisorHandle;
use super::spec::SupervisorSpec;
use super::status::TreeStatus;
use super::supervisor::{Supervisor, describe_metrics};

/// How a tree ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "exit", content = "reason", rename_all = "snake_case")]
pub enum TreeExit {
    /// Shut down on request: every actor stopped in order.
    ShutDown,
    /// The root gave up (or crashed); the reason names the failing child.
    /// The process should log it and exit non-zero.
    Escalated(String),
}

impl TreeExit {
    fn of_root(reason: ExitReason) -> Self {
        match reason {
            ExitReason::Normal | ExitReason::Shutdown => Self::ShutDown,
            ExitReason::Escalated(why) => Self::Escalated(why),
            other => Self::Escalated(format!("the root supervisor {other}")),
        }
    }
}

/// A running supervision tree. Clones share the tree; when the last clone
/// is dropped the tree is shut down.
#[derive(Clone)]
pub struct TreeHandle {
    inner: Arc<TreeInner>,
}

struct TreeInner {
    root: SupervisorHandle,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    exit: watch::Receiver<Option<TreeExit>>,
    events: broadcast::Sender<SupervisorEvent>,
}

impl TreeHandle {
    /// Starts `spec` as the root of a new tree on the current actix arbiter
    /// (call it from inside a running actix system). Its children start right
    /// after, in order; [`Self::subscribe`] called straight away sees every
    /// event.
    pub fn start(spec: SupervisorSpec) -> Self {
        describe_metrics();
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (exit_tx, exit) = watch::channel(None);
        let name = spec.name().to_owned();
        let own = ChildContext::new(&name, "", 1, 0, events.clone());
        let sink: ExitSink = Box::new(move |exited: ChildExited| {
            exit_tx.send_replace(Some(TreeExit::of_root(exited.reason)));
        });
        let link = launch(Supervisor::new(spec, own.clone()), &own, sink, None);
        let address = link
            .address
            .downcast_ref::<Addr<Supervisor>>()
            .expect("launch keeps the address of the supervisor it started")
            .clone();
        Self {
            inner: Arc::new(TreeInner {
                root: SupervisorHandle::new(name, address),
                stop: Mutex::new(Some(link.stop)),
                exit,
                events,
            }),
        }
    }

    /// The root supervisor.
    pub fn root(&self) -> &SupervisorHandle {
        &self.inner.root
    }

    /// Every supervisor and child, with states and restart counts.
    pub async fn status(&self) -> TreeStatus {
        let exit = self.inner.exit.borrow().clone();
        let root = if exit.is_none() {
            self.inner.root.status().await.ok()
        } else {
            None
        };
        TreeStatus { exit, root }
    }

    /// Events from every supervisor in the tree, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SupervisorEvent> {
        self.inner.events.subscribe()
    }

    /// Waits until the tree has ended, and says how. Resolves at once if it
    /// already has.
    pub async fn wait_exit(&self) -> TreeExit {
        let mut exit = self.inner.exit.clone();
        let ended = exit.wait_for(Option::is_some).await.map(|e| e.clone());
        match ended {
            Ok(Some(how)) => how,
            // The watcher was dropped unfinished: the actix system itself is
            // going away under the tree.
            _ => TreeExit::Escalated(
                "the actix system stopped before the supervision tree reported its exit".into(),
            ),
        }
    }

    /// Stops every child, last started first, each within its shutdown
    /// timeout, then the root; returns how the tree ended (which is an
    /// escalation if it had escalated before).
    pub async fn shutdown(&self) -> TreeExit {
        let stop = self
            .inner
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(stop) = stop {
            // Closed means the root has already ended; wait_exit tells how.
            let _ = stop.send(());
        }
        self.wait_exit().await
    }
}
