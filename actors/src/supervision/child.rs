//! What a supervisor knows about one child: how to build it, when to restart
//! it, and how its life ends.
//!
//! A child is any actix actor with a plain `Context`. The supervisor never
//! reuses an old actor: every (re)start calls the child's factory, which may be
//! async so it can load its state from storage. The supervisor runs the
//! actor's context future itself ([`launch`]), so it learns of every exit —
//! a `ctx.stop()` or a panic in a handler — without the child's cooperation,
//! and it can ask the child to stop (and drop it if it will not). A child that
//! stops because something went wrong says so first through its
//! [`FailureReporter`].
//!
//! The supervisor's state machine is in [`super::supervisor`]; this module
//! holds the per-child plumbing it drives.

use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::future::{self, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix::dev::ContextFut;
use actix::{Actor, ActorContext, AsyncContext, Context, Message};
use serde::Serialize;
use tokio::sync::{broadcast, oneshot};

use super::event::SupervisorEvent;

/// When a child that has stopped is started again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartPolicy {
    /// Always restarted, whatever the reason it stopped (device actors,
    /// channels, the notifier).
    Permanent,
    /// Restarted only after a failure; a normal stop is final.
    Transient,
    /// Never restarted, and forgotten once stopped (a branch PC's terminal
    /// session ends with its WebSocket).
    Temporary,
}

impl RestartPolicy {
    /// Whether a child that ended for `reason` is to be started again.
    pub fn restarts_after(self, reason: &ExitReason) -> bool {
        match self {
            Self::Permanent => true,
            Self::Transient => reason.is_failure(),
            Self::Temporary => false,
        }
    }
}

/// Whether a child is a worker actor or a nested supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildKind {
    /// An ordinary actor.
    Worker,
    /// A supervisor with children of its own.
    Supervisor,
}

/// Why a child's run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum ExitReason {
    /// It stopped itself without reporting a failure.
    Normal,
    /// It stopped because its supervisor asked it to.
    Shutdown,
    /// It reported this failure, then stopped.
    Failed(String),
    /// One of its handlers panicked with this message.
    Panicked(String),
    /// Its factory could not build it.
    StartFailed(String),
    /// Asked to stop, it did not finish within its shutdown timeout and was
    /// dropped.
    Killed,
    /// It is a supervisor that gave up on a child; the reason says which.
    Escalated(String),
}

impl ExitReason {
    /// Whether this ends a run abnormally (what a transient child is
    /// restarted for).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Self::Failed(_) | Self::Panicked(_) | Self::StartFailed(_) | Self::Escalated(_)
        )
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Normal => f.write_str("stopped normally"),
            Self::Shutdown => f.write_str("stopped on request"),
            Self::Failed(reason) => write!(f, "failed: {reason}"),
            Self::Panicked(message) => write!(f, "panicked: {message}"),
            Self::StartFailed(reason) => write!(f, "could not start: {reason}"),
            Self::Killed => f.write_str("did not stop within its shutdown timeout and was dropped"),
            Self::Escalated(reason) => write!(f, "escalated: {reason}"),
        }
    }
}

/// Lets a child say why it is about to stop.
///
/// Reporting does not stop the actor: report, then call `ctx.stop()`. The
/// first report of a run wins. Cheap to clone and `Send`, so a blocking
/// helper thread can report for its actor.
#[derive(Clone, Debug, Default)]
pub struct FailureReporter {
    slot: Arc<Mutex<Option<ExitReason>>>,
}

impl FailureReporter {
    /// Records that this run failed for `reason`.
    pub fn report(&self, reason: impl Into<String>) {
        self.set(ExitReason::Failed(reason.into()));
    }

    pub(crate) fn escalate(&self, reason: String) {
        self.set(ExitReason::Escalated(reason));
    }

    fn set(&self, reason: ExitReason) {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(reason);
    }

    fn take(&self) -> Option<ExitReason> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// What a factory is told about the run it is building an actor for.
#[derive(Clone, Debug)]
pub struct ChildContext {
    name: Arc<str>,
    supervisor: Arc<str>,
    generation: u64,
    restarts: u64,
    reporter: FailureReporter,
    pub(crate) events: broadcast::Sender<SupervisorEvent>,
}

impl ChildContext {
    pub(crate) fn new(
        name: &str,
        supervisor: &str,
        generation: u64,
        restarts: u64,
        events: broadcast::Sender<SupervisorEvent>,
    ) -> Self {
        Self {
            name: name.into(),
            supervisor: supervisor.into(),
            generation,
            restarts,
            reporter: FailureReporter::default(),
            events,
        }
    }

    /// The child's name, unique among its siblings.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Path of the supervisor starting it, e.g. `hub/devices` (empty for the
    /// root of a tree).
    pub fn supervisor(&self) -> &str {
        &self.supervisor
    }

    /// Which run this is: 1 for the first start, then one more per start.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// How many times this child has been restarted before this run.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// The reporter this run's failures go through; keep it in the actor.
    pub fn failure_reporter(&self) -> FailureReporter {
        self.reporter.clone()
    }
}

/// Notice from a child's watcher to whoever supervises it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct ChildExited {
    pub child: String,
    pub generation: u64,
    pub reason: ExitReason,
}

/// Where a child's exit notice is delivered.
pub(crate) type ExitSink = Box<dyn FnOnce(ChildExited)>;

/// A started child, as its supervisor holds it.
pub(crate) struct ChildLink {
    /// The child's `Addr<A>`, for look-ups by type.
    pub address: Arc<dyn Any + Send + Sync>,
    /// Fired (or dropped) to ask the child to stop.
    pub stop: oneshot::Sender<()>,
}

/// How long a child is given to stop when asked; `None` waits for it.
pub(crate) type ShutdownTimeout = Option<Duration>;

pub(crate) type StartFuture = Pin<Box<dyn Future<Output = Result<ChildLink, String>>>>;
type StartFn = dyn Fn(ChildContext, ExitSink, ShutdownTimeout) -> StartFuture + Send + Sync;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StopTimeout {
    FromConfig,
    After(Duration),
    Unbounded,
}

/// How to build, restart and stop one child.
#[derive(Clone)]
pub struct ChildSpec {
    name: String,
    restart: RestartPolicy,
    kind: ChildKind,
    stop_timeout: StopTimeout,
    start: Arc<StartFn>,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("kind", &self.kind)
            .field("stop_timeout", &self.stop_timeout)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A permanent worker built by a synchronous factory.
    pub fn new<A, F>(name: impl Into<String>, factory: F) -> Self
    where
        A: Actor<Context = Context<A>>,
        F: Fn(&ChildContext) -> A + Send + Sync + 'static,
    {
        Self::new_async(name, move |cx: ChildContext| {
            future::ready(Ok::<A, Infallible>(factory(&cx)))
        })
    }

    /// A permanent worker built by an async factory that may fail (for
    /// example one that loads its state from storage). A failure counts as a
    /// failed run ([`ExitReason::StartFailed`]) and is retried with back-off.
    pub fn new_async<A, F, Fut, E>(name: impl Into<String>, factory: F) -> Self
    where
        A: Actor<Context = Context<A>>,
        F: Fn(ChildContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<A, E>> + 'static,
        E: fmt::Display,
    {
        let start = move |cx: ChildContext, exit: ExitSink, timeout: ShutdownTimeout| {
            let building = factory(cx.clone());
            Box::pin(async move {
                let actor = building.await.map_err(|e| e.to_string())?;
                Ok(launch(actor, &cx, exit, timeout))
            }) as StartFuture
        };
        Self {
            name: name.into(),
            restart: RestartPolicy::Permanent,
            kind: ChildKind::Worker,
            stop_timeout: StopTimeout::FromConfig,
            start: Arc::new(start),
        }
    }

    pub(crate) fn with_kind(mut self, kind: ChildKind) -> Self {
        self.kind = kind;
        if kind == ChildKind::Supervisor {
            self.stop_timeout = StopTimeout::Unbounded;
        }
        self
    }

    /// Sets when the child is restarted (default: permanent).
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// Gives this child its own shutdown timeout instead of the supervisor's.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = StopTimeout::After(timeout);
        self
    }

    /// The child's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's restart policy.
    pub fn restart_policy(&self) -> RestartPolicy {
        self.restart
    }

    /// Whether the child is a worker or a nested supervisor.
    pub fn kind(&self) -> ChildKind {
        self.kind
    }

    pub(crate) fn start(
        &self,
        cx: ChildContext,
        exit: ExitSink,
        config_timeout: Duration,
    ) -> StartFuture {
        let timeout = match self.stop_timeout {
            StopTimeout::FromConfig => Some(config_timeout),
            StopTimeout::After(t) => Some(t),
            StopTimeout::Unbounded => None,
        };
        (self.start)(cx, exit, timeout)
    }
}

/// How a child's context future ended.
enum Ending {
    OnItsOwn,
    OnRequest,
    Killed,
}

/// Starts `actor` on the current arbiter with a watcher that delivers its
/// exit to `exit`, and returns the link its supervisor keeps.
pub(crate) fn launch<A>(
    actor: A,
    cx: &ChildContext,
    exit: ExitSink,
    timeout: ShutdownTimeout,
) -> ChildLink
where
    A: Actor<Context = Context<A>>,
{
    let context = Context::<A>::new();
    let address = context.address();
    let running = context.into_future(actor);
    let (stop, stop_requested) = oneshot::channel();
    let run = actix_rt::spawn(run_until_stopped(running, stop_requested, timeout));

    let reporter = cx.reporter.clone();
    let child = cx.name.to_string();
    let generation = cx.generation;
    actix_rt::spawn(async move {
        let reason = match run.await {
            Ok(Ending::OnItsOwn) => reporter.take().unwrap_or(ExitReason::Normal),
            Ok(Ending::OnRequest) => reporter.take().unwrap_or(ExitReason::Shutdown),
            Ok(Ending::Killed) => ExitReason::Killed,
            Err(error) if error.is_panic() => {
                ExitReason::Panicked(panic_message(error.into_panic()))
            }
            // The runtime is shutting down and cancelled the child's task.
            Err(_) => ExitReason::Killed,
        };
        exit(ChildExited {
            child,
            generation,
            reason,
        });
    });

    ChildLink {
        address: Arc::new(address),
        stop,
    }
}

/// Drives the actor until it stops by itself, or until it is asked to stop
/// (or its supervisor is gone) and then for at most `timeout` more.
async fn run_until_stopped<A>(
    mut running: ContextFut<A, Context<A>>,
    stop_requested: oneshot::Receiver<()>,
    timeout: ShutdownTimeout,
) -> Ending
where
    A: Actor<Context = Context<A>>,
{
    tokio::select! {
        () = &mut running => return Ending::OnItsOwn,
        // A dropped sender means the supervisor itself is gone: stop too.
        _ = stop_requested => {}
    }
    running.ctx().stop();
    match timeout {
        None => {
            running.await;
            Ending::OnRequest
        }
        Some(limit) => match tokio::time::timeout(limit, &mut running).await {
            Ok(()) => Ending::OnRequest,
            Err(_) => Ending::Killed,
        },
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => (*message).to_owned(),
            Err(_) => "a panic without a message".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_restart_for_the_right_reasons() {
        let failed = ExitReason::Failed("reader unplugged".into());
        for reason in [ExitReason::Normal, failed.clone()] {
            assert!(RestartPolicy::Permanent.restarts_after(&reason));
            assert!(!RestartPolicy::Temporary.restarts_after(&reason));
        }
        assert!(RestartPolicy::Transient.restarts_after(&failed));
        assert!(!RestartPolicy::Transient.restarts_after(&ExitReason::Normal));
        assert!(!RestartPolicy::Transient.restarts_after(&ExitReason::Shutdown));
    }

    #[test]
    fn the_first_reported_failure_wins() {
        let reporter = FailureReporter::default();
        reporter.report("ribbon empty");
        reporter.report("cover open");
        assert_eq!(
            reporter.take(),
            Some(ExitReason::Failed("ribbon empty".into()))
        );
        assert_eq!(reporter.take(), None);
    }
}
