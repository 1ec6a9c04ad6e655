//! The test child: an actor that fails, quits or panics on command, and the
//! helpers to supervise it and to wait for supervision events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix::prelude::*;
use cardhub_actors::supervision::{
    ChildContext, ChildSpec, FailureReporter, Jitter, SupervisionConfig, SupervisorEvent,
};
use tokio::sync::{broadcast, mpsc};

/// Longest wait for any one event; far above what a test needs, so that a
/// loaded CI machine does not fail a correct run.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A probe announced it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub child: String,
    pub generation: u64,
    pub value: u64,
}

/// An actor with in-memory state (`value`) that starts from what its factory
/// loaded.
pub struct Probe {
    name: String,
    generation: u64,
    value: u64,
    reporter: FailureReporter,
    started: mpsc::UnboundedSender<Started>,
}

impl Actor for Probe {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Self::Context) {
        let _ = self.started.send(Started {
            child: self.name.clone(),
            generation: self.generation,
            value: self.value,
        });
    }
}

/// Report `reason` as a failure, then stop.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Fail(pub &'static str);

/// Stop without reporting anything.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Quit;

/// Panic in the handler.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

/// Add one to the in-memory value and return it.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct Bump;

/// Return the in-memory value.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct Value;

impl Handler<Fail> for Probe {
    type Result = ();
    fn handle(&mut self, Fail(reason): Fail, ctx: &mut Self::Context) {
        self.reporter.report(reason);
        ctx.stop();
    }
}

impl Handler<Quit> for Probe {
    type Result = ();
    fn handle(&mut self, _: Quit, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<Crash> for Probe {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Self::Context) {
        panic!("probe told to crash");
    }
}

impl Handler<Bump> for Probe {
    type Result = u64;
    fn handle(&mut self, _: Bump, _: &mut Self::Context) -> u64 {
        self.value += 1;
        self.value
    }
}

impl Handler<Value> for Probe {
    type Result = u64;
    fn handle(&mut self, _: Value, _: &mut Self::Context) -> u64 {
        self.value
    }
}

/// A probe factory that "loads" `stored` each time and counts its builds.
pub struct ProbeKit {
    pub builds: Arc<AtomicU64>,
    pub started: mpsc::UnboundedReceiver<Started>,
    sender: mpsc::UnboundedSender<Started>,
}

impl ProbeKit {
    pub fn new() -> Self {
        let (sender, started) = mpsc::unbounded_channel();
        Self {
            builds: Arc::new(AtomicU64::new(0)),
            started,
            sender,
        }
    }

    /// A permanent child built synchronously with value `stored`.
    pub fn spec(&self, name: &str, stored: u64) -> ChildSpec {
        let builds = Arc::clone(&self.builds);
        let sender = self.sender.clone();
        ChildSpec::new(name, move |cx: &ChildContext| {
            builds.fetch_add(1, Ordering::SeqCst);
            probe(cx, stored, sender.clone())
        })
    }

    /// A permanent child built by an async factory, which yields before it
    /// "loads" `stored` as a storage read would.
    pub fn async_spec(&self, name: &str, stored: u64) -> ChildSpec {
        let builds = Arc::clone(&self.builds);
        let sender = self.sender.clone();
        ChildSpec::new_async(name, move |cx: ChildContext| {
            let builds = Arc::clone(&builds);
            let sender = sender.clone();
            async move {
                tokio::task::yield_now().await;
                builds.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(probe(&cx, stored, sender))
            }
        })
    }

    pub fn builds(&self) -> u64 {
        self.builds.load(Ordering::SeqCst)
    }

    /// Waits for the next probe start.
    pub async fn next_start(&mut self) -> Started {
        tokio::time::timeout(EVENT_TIMEOUT, self.started.recv())
            .await
            .expect("a probe started within the event timeout")
            .expect("the probe channel stays open while the kit lives")
    }
}

pub fn probe(cx: &ChildContext, value: u64, started: mpsc::UnboundedSender<Started>) -> Probe {
    Probe {
        name: cx.name().to_owned(),
        generation: cx.generation(),
        value,
        reporter: cx.failure_reporter(),
        started,
    }
}

/// Millisecond back-offs and a generous intensity.
pub fn fast_config() -> SupervisionConfig {
    SupervisionConfig {
        max_restarts: 10,
        within_secs: 60,
        backoff_initial_ms: 1,
        backoff_max_ms: 8,
        backoff_jitter: Jitter::Equal,
        stable_after_secs: 60,
        shutdown_timeout_ms: 2_000,
    }
}

/// Waits for the first event `pick` accepts, skipping the others.
pub async fn wait_for<T>(
    events: &mut broadcast::Receiver<SupervisorEvent>,
    what: &str,
    mut pick: impl FnMut(&SupervisorEvent) -> Option<T>,
) -> T {
    let waiting = async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                Err(e) => panic!("event stream broke while waiting for {what}: {e}"),
            }
        }
    };
    tokio::time::timeout(EVENT_TIMEOUT, waiting)
        .await
        .unwrap_or_else(|_| panic!("no {what} within {EVENT_TIMEOUT:?}"))
}

/// Waits until `child` of `supervisor` has started run `generation`.
pub async fn started(
    events: &mut broadcast::Receiver<SupervisorEvent>,
    supervisor: &str,
    child: &str,
    generation: u64,
) {
    wait_for(
        events,
        &format!("start of {supervisor}/{child} #{generation}"),
        |e| {
            matches!(e, SupervisorEvent::ChildStarted { supervisor: s, child: c, generation: g }
            if s == supervisor && c == child && *g == generation)
            .then_some(())
        },
    )
    .await;
}

/// Waits for the next restart `supervisor` schedules for `child`; returns
/// the delay it chose.
pub async fn restart_delay(
    events: &mut broadcast::Receiver<SupervisorEvent>,
    supervisor: &str,
    child: &str,
) -> Duration {
    wait_for(
        events,
        &format!("restart of {supervisor}/{child}"),
        |e| match e {
            SupervisorEvent::RestartScheduled {
                supervisor: s,
                child: c,
                delay,
                ..
            } if s == supervisor && c == child => Some(*delay),
            _ => None,
        },
    )
    .await
}
