//! The supervisor actor: starts its children in order, watches them, restarts
//! them with back-off, and escalates when one fails too often.
//!
//! Each child moves through [`Phase`]s. Exits arrive as `ChildExited` notices
//! from the watchers [`super::child::launch`] installs; a generation number
//! discards notices from runs that were already replaced. Stops are done one
//! child at a time, last child first, whether for a shutdown, an escalation,
//! a one-for-all restart or a removal (`progress` drives that queue).
//!
//! Not here: the per-child plumbing ([`super::child`]), the pure back-off and
//! intensity rules, the spec it is built from ([`super::spec`]), and the
//! handle other code holds ([`super::handle`]); the requests that handle
//! sends are answered in `requests`.

mod requests;

use std::any::Any;
use std::mem;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::oneshot;

use super::backoff::Backoff;
use super::child::{
    ChildContext, ChildExited, ChildLink, ChildSpec, ExitReason, ExitSink, RestartPolicy,
};
use super::config::SupervisionConfig;
use super::event::SupervisorEvent;
use super::intensity::RestartIntensity;
use super::spec::{Strategy, SupervisorSpec};
use super::status::{ChildState, ChildStatus, SupervisorState, SupervisorStatus};

const RESTARTS_TOTAL: &str = "cardhub_actor_restarts_total";
const ESCALATIONS_TOTAL: &str = "cardhub_actor_escalations_total";
const CHILDREN_RUNNING: &str = "cardhub_actor_children_running";

/// Registers the supervision metrics' descriptions with the installed
/// recorder.
pub(crate) fn describe_metrics() {
    metrics::describe_counter!(
        RESTARTS_TOTAL,
        "Restarts of supervised actors, by supervisor path and child name."
    );
    metrics::describe_counter!(
        ESCALATIONS_TOTAL,
        "Supervisors that gave up on a child and stopped, by supervisor path."
    );
    metrics::describe_gauge!(
        CHILDREN_RUNNING,
        "Children currently running, by supervisor path."
    );
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StopPurpose {
    Shutdown,
    Remove,
    RestartAll,
}

enum Phase {
    /// Waiting for its turn to be started.
    Idle,
    /// Its factory is running.
    Starting,
    Running {
        since: Instant,
        link: ChildLink,
    },
    Stopping {
        purpose: StopPurpose,
        address: Arc<dyn Any + Send + Sync>,
    },
    /// `timer` is `None` when a one-for-all restart owns the timer.
    Restarting {
        due: Instant,
        delay: Duration,
        timer: Option<SpawnHandle>,
    },
    Stopped,
}

struct Child {
    spec: ChildSpec,
    generation: u64,
    phase: Phase,
    stop_next: Option<StopPurpose>,
    awaiting_restart_all: bool,
    backoff: Backoff,
    intensity: RestartIntensity,
    restarts: u64,
    last_exit: Option<ExitReason>,
    last_delay: Option<Duration>,
    exit_waiters: Vec<oneshot::Sender<ExitReason>>,
}

impl Child {
    fn new(spec: ChildSpec, config: &SupervisionConfig) -> Self {
        Self {
            spec,
            generation: 0,
            phase: Phase::Idle,
            stop_next: None,
            awaiting_restart_all: false,
            backoff: Backoff::new(config.backoff_policy()),
            intensity: RestartIntensity::new(config.max_restarts, config.window()),
            restarts: 0,
            last_exit: None,
            last_delay: None,
            exit_waiters: Vec::new(),
        }
    }

    fn is_down(&self) -> bool {
        matches!(self.phase, Phase::Idle | Phase::Stopped)
    }

    fn status(&mut self, now: Instant) -> ChildStatus {
        let state = match &self.phase {
            Phase::Idle | Phase::Starting => ChildState::Starting,
            Phase::Running { since, .. } => ChildState::Running {
                up_ms: millis(now.saturating_duration_since(*since)),
            },
            Phase::Restarting { due, delay, .. } => ChildState::Restarting {
                in_ms: millis(due.saturating_duration_since(now)),
                delay_ms: millis(*delay),
            },
            Phase::Stopping { .. } => ChildState::Stopping,
            Phase::Stopped => ChildState::Stopped,
        };
        ChildStatus {
            name: self.spec.name().to_owned(),
            kind: self.spec.kind(),
            restart: self.spec.restart_policy(),
            state,
            generation: self.generation,
            restarts: self.restarts,
            recent_restarts: self.intensity.recent(now),
            consecutive_failures: self.backoff.attempt(),
            last_exit: self.last_exit.clone(),
            last_delay_ms: self.last_delay.map(millis),
            supervisor: None,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A pending one-for-all restart: first its siblings are stopped, then a
/// timer runs out, then everyone starts again in order.
enum RestartAll {
    Stopping { delay: Duration, attempt: u32 },
    Waiting { timer: SpawnHandle },
}

/// The supervisor actor. Built only through [`ChildSpec::supervisor`] and
/// [`super::TreeHandle::start`]; reached through [`super::SupervisorHandle`].
pub(crate) struct Supervisor {
    path: String,
    config: SupervisionConfig,
    strategy: Strategy,
    children: Vec<Child>,
    rng: SmallRng,
    /// This supervisor's own run as a child: its events channel, and the
    /// reporter its escalation goes through.
    own: ChildContext,
    state: SupervisorState,
    restart_all: Option<RestartAll>,
}

impl Supervisor {
    pub(crate) fn new(spec: SupervisorSpec, own: ChildContext) -> Self {
        let path = if own.supervisor().is_empty() {
            spec.name.clone()
        } else {
            format!("{}/{}", own.supervisor(), spec.name)
        };
        let children = spec
            .children
            .into_iter()
            .map(|child| Child::new(child, &spec.config))
            .collect();
        Self {
            path,
            strategy: spec.strategy,
            children,
            rng: spec
                .rng_seed
                .map_or_else(rand::make_rng, SmallRng::seed_from_u64),
            own,
            state: SupervisorState::Running,
            restart_all: None,
            config: spec.config,
        }
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.children.iter().position(|c| c.spec.name() == name)
    }

    fn emit(&self, event: SupervisorEvent) {
        // No subscriber is not an error: events are for whoever listens.
        let _ = self.own.events.send(event);
    }

    fn publish_running(&self) {
        let running = self
            .children
            .iter()
            .filter(|c| matches!(c.phase, Phase::Running { .. }))
            .count();
        metrics::gauge!(CHILDREN_RUNNING, "supervisor" => self.path.clone()).set(running as f64);
    }

    /// Starts the first child waiting for its turn, unless another start is
    /// in flight (its completion calls this again).
    fn start_next_idle(&mut self, ctx: &mut Context<Self>) {
        if self.state != SupervisorState::Running || self.restart_all.is_some() {
            return;
        }
        if self
            .children
            .iter()
            .any(|c| matches!(c.phase, Phase::Starting))
        {
            return;
        }
        if let Some(i) = self
            .children
            .iter()
            .position(|c| matches!(c.phase, Phase::Idle))
        {
            self.start_child(i, ctx);
        }
    }

    fn start_child(&mut self, i: usize, ctx: &mut Context<Self>) {
        let child = &mut self.children[i];
        child.generation += 1;
        child.phase = Phase::Starting;
        let generation = child.generation;
        let name = child.spec.name().to_owned();
        let cx = ChildContext::new(
            &name,
            &self.path,
            generation,
            child.restarts,
            self.own.events.clone(),
        );
        let supervisor = ctx.address();
        let exit: ExitSink = Box::new(move |exited| supervisor.do_send(exited));
        let starting = child.spec.start(cx, exit, self.config.shutdown_timeout());
        ctx.spawn(starting.into_actor(self).map(move |result, act, ctx| {
            act.child_started(&name, generation, result, ctx);
        }));
    }

    fn child_started(
        &mut self,
        name: &str,
        generation: u64,
        result: Result<ChildLink, String>,
        ctx: &mut Context<Self>,
    ) {
        // A child removed or discarded meanwhile: dropping its link stops it.
        let Some(i) = self.index_of(name) else { return };
        let child = &mut self.children[i];
        if child.generation != generation || !matches!(child.phase, Phase::Starting) {
            return;
        }
        match result {
            Ok(link) => {
                child.phase = Phase::Running {
                    since: Instant::now(),
                    link,
                };
                self.publish_running();
                self.emit(SupervisorEvent::ChildStarted {
                    supervisor: self.path.clone(),
                    child: name.to_owned(),
                    generation,
                });
                self.start_next_idle(ctx);
            }
            Err(reason) => {
                let exited = ChildExited {
                    child: name.to_owned(),
                    generation,
                    reason: ExitReason::StartFailed(reason),
                };
                self.child_exited(exited, ctx);
            }
        }
    }

    fn child_exited(&mut self, exited: ChildExited, ctx: &mut Context<Self>) {
        let Some(i) = self.index_of(&exited.child) else {
            return;
        };
        let child = &mut self.children[i];
        let live = matches!(
            child.phase,
            Phase::Starting | Phase::Running { .. } | Phase::Stopping { .. }
        );
        if child.generation != exited.generation || !live {
            return; // a notice from a run already replaced
        }
        let now = Instant::now();
        let previous = mem::replace(&mut child.phase, Phase::Stopped);
        if exited.reason.is_failure() {
            tracing::warn!(
                supervisor = %self.path,
                child = %exited.child,
                generation = exited.generation,
                reason = %exited.reason,
                "supervised child failed"
            );
        }
        child.last_exit = Some(exited.reason.clone());
        for waiter in child.exit_waiters.drain(..) {
            let _ = waiter.send(exited.reason.clone());
        }
        self.emit(SupervisorEvent::ChildExited {
            supervisor: self.path.clone(),
            child: exited.child,
            generation: exited.generation,
            reason: exited.reason.clone(),
        });
        match previous {
            Phase::Stopping { purpose, .. } => self.settle_stopped(i, purpose),
            Phase::Running { since, .. } => {
                let uptime = now.saturating_duration_since(since);
                self.exited_on_its_own(i, &exited.reason, uptime, now, ctx);
            }
            _ => self.exited_on_its_own(i, &exited.reason, Duration::ZERO, now, ctx),
        }
        self.publish_running();
        self.progress(ctx);
    }

    /// A child that was asked to stop, or never got going, is down now.
    fn settle_stopped(&mut self, i: usize, purpose: StopPurpose) {
        let child = &mut self.children[i];
        let temporary = child.spec.restart_policy() == RestartPolicy::Temporary;
        match purpose {
            StopPurpose::Remove => {
                self.children.remove(i);
            }
            _ if temporary => {
                self.children.remove(i);
            }
            StopPurpose::RestartAll => child.awaiting_restart_all = true,
            StopPurpose::Shutdown => {}
        }
    }

    fn exited_on_its_own(
        &mut self,
        i: usize,
        reason: &ExitReason,
        uptime: Duration,
        now: Instant,
        ctx: &mut Context<Self>,
    ) {
        let policy = self.children[i].spec.restart_policy();
        if self.state != SupervisorState::Running {
            // Already stopping everything: the child stays down.
            self.settle_stopped(i, StopPurpose::Shutdown);
            return;
        }
        if self.restart_all.is_some() {
            // The one-for-all restart under way brings it back.
            self.settle_stopped(i, StopPurpose::RestartAll);
            return;
        }
        if !policy.restarts_after(reason) {
            self.settle_stopped(i, StopPurpose::Shutdown);
            return;
        }
        let child = &mut self.children[i];
        if let Err(exceeded) = child.intensity.record(now) {
            let why = format!(
                "child {} failed more than {} times within {} s (last: {reason})",
                child.spec.name(),
                exceeded.max_restarts,
                exceeded.within.as_secs(),
            );
            self.escalate(why, ctx);
            return;
        }
        child.backoff.child_ran_for(uptime);
        let attempt = child.backoff.attempt();
        let delay = child.backoff.next_delay(&mut self.rng);
        match self.strategy {
            Strategy::OneForOne => {
                self.schedule_restart(i, attempt, delay, now);
                let name = self.children[i].spec.name().to_owned();
                let generation = self.children[i].generation;
                let timer = ctx.run_later(delay, move |act, ctx| {
                    act.restart_due(&name, generation, ctx);
                });
                if let Phase::Restarting { timer: slot, .. } = &mut self.children[i].phase {
                    *slot = Some(timer);
                }
            }
            Strategy::OneForAll => {
                child.awaiting_restart_all = true;
                self.restart_all = Some(RestartAll::Stopping { delay, attempt });
                for sibling in &mut self.children {
                    if !sibling.awaiting_restart_all {
                        sibling.stop_next = Some(StopPurpose::RestartAll);
                    }
                }
            }
        }
    }

    /// Counts a restart of child `i` and puts it in `Restarting` without a
    /// timer; the caller sets the wake-up.
    fn schedule_restart(&mut self, i: usize, attempt: u32, delay: Duration, now: Instant) {
        let child = &mut self.children[i];
        child.restarts += 1;
        child.last_delay = Some(delay);
        child.phase = Phase::Restarting {
            due: now + delay,
            delay,
            timer: None,
        };
        let name = child.spec.name().to_owned();
        tracing::info!(
            supervisor = %self.path,
            child = %name,
            attempt,
            delay_ms = millis(delay),
            "restart scheduled"
        );
        metrics::counter!(RESTARTS_TOTAL, "supervisor" => self.path.clone(), "child" => name.clone())
            .increment(1);
        self.emit(SupervisorEvent::RestartScheduled {
            supervisor: self.path.clone(),
            child: name,
            attempt,
            delay,
        });
    }

    fn restart_due(&mut self, name: &str, generation: u64, ctx: &mut Context<Self>) {
        let Some(i) = self.index_of(name) else { return };
        let child = &self.children[i];
        if child.generation == generation && matches!(child.phase, Phase::Restarting { .. }) {
            self.start_child(i, ctx);
        }
    }

    fn escalate(&mut self, reason: String, ctx: &mut Context<Self>) {
        tracing::error!(supervisor = %self.path, %reason, "supervisor escalates");
        metrics::counter!(ESCALATIONS_TOTAL, "supervisor" => self.path.clone()).increment(1);
        self.emit(SupervisorEvent::Escalated {
            supervisor: self.path.clone(),
            reason: reason.clone(),
        });
        self.state = SupervisorState::Escalated(reason);
        self.stop_everything(ctx);
    }

    fn begin_shutdown(&mut self, ctx: &mut Context<Self>) {
        if self.state == SupervisorState::Running {
            self.state = SupervisorState::ShuttingDown;
        }
        self.stop_everything(ctx);
    }

    fn stop_everything(&mut self, ctx: &mut Context<Self>) {
        if let Some(RestartAll::Waiting { timer }) = self.restart_all.take() {
            ctx.cancel_future(timer);
        }
        for child in &mut self.children {
            child.awaiting_restart_all = false;
            if child.stop_next != Some(StopPurpose::Remove) {
                child.stop_next = Some(StopPurpose::Shutdown);
            }
        }
    }

    /// Stops the next child due to stop, last first and one at a time; when
    /// none is left, finishes what the stops were for.
    fn progress(&mut self, ctx: &mut Context<Self>) {
        loop {
            if self
                .children
                .iter()
                .any(|c| matches!(c.phase, Phase::Stopping { .. }))
            {
                return; // its exit notice calls this again
            }
            let Some(i) = self.children.iter().rposition(|c| c.stop_next.is_some()) else {
                break;
            };
            let purpose = self.children[i]
                .stop_next
                .take()
                .expect("rposition found a child with a pending stop");
            self.stop_child(i, purpose, ctx);
        }
        match &self.state {
            SupervisorState::Running => {
                if let Some(RestartAll::Stopping { delay, attempt }) = self.restart_all {
                    self.schedule_restart_all(delay, attempt, ctx);
                }
                self.start_next_idle(ctx);
            }
            SupervisorState::ShuttingDown => ctx.stop(),
            SupervisorState::Escalated(reason) => {
                self.own.failure_reporter().escalate(reason.clone());
                ctx.stop();
            }
        }
    }

    fn stop_child(&mut self, i: usize, purpose: StopPurpose, ctx: &mut Context<Self>) {
        let child = &mut self.children[i];
        match mem::replace(&mut child.phase, Phase::Stopped) {
            Phase::Running { link, .. } => {
                // A closed channel means the child is already ending; its
                // exit notice is on its way either way.
                let _ = link.stop.send(());
                child.phase = Phase::Stopping {
                    purpose,
                    address: link.address,
                };
            }
            Phase::Restarting { timer, .. } => {
                if let Some(timer) = timer {
                    ctx.cancel_future(timer);
                }
                self.settle_stopped(i, purpose);
            }
            Phase::Starting => {
                // Discard the run being built: its link is dropped on arrival.
                child.generation += 1;
                self.settle_stopped(i, purpose);
            }
            Phase::Idle | Phase::Stopped => self.settle_stopped(i, purpose),
            stopping @ Phase::Stopping { .. } => child.phase = stopping,
        }
    }

    fn schedule_restart_all(&mut self, delay: Duration, attempt: u32, ctx: &mut Context<Self>) {
        let now = Instant::now();
        for i in 0..self.children.len() {
            if self.children[i].awaiting_restart_all {
                self.schedule_restart(i, attempt, delay, now);
            }
        }
        let timer = ctx.run_later(delay, |act, ctx| {
            act.restart_all = None;
            for child in &mut act.children {
                if mem::take(&mut child.awaiting_restart_all) {
                    child.phase = Phase::Idle;
                }
            }
            act.start_next_idle(ctx);
        });
        self.restart_all = Some(RestartAll::Waiting { timer });
    }

    fn snapshot(&mut self) -> SupervisorStatus {
        let now = Instant::now();
        SupervisorStatus {
            path: self.path.clone(),
            state: self.state.clone(),
            strategy: self.strategy,
            children: self.children.iter_mut().map(|c| c.status(now)).collect(),
        }
    }

    fn address_of(&self, i: usize) -> Option<&Arc<dyn Any + Send + Sync>> {
        match &self.children[i].phase {
            Phase::Running { link, .. } => Some(&link.address),
            Phase::Stopping { address, .. } => Some(address),
            _ => None,
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::debug!(supervisor = %self.path, children = self.children.len(), "supervisor started");
        self.publish_running();
        self.start_next_idle(ctx);
    }

    fn stopping(&mut self, ctx: &mut Self::Context) -> Running {
        if self.children.iter().all(Child::is_down) {
            return Running::Stop;
        }
        self.begin_shutdown(ctx);
        self.progress(ctx);
        if self.children.iter().all(Child::is_down) {
            Running::Stop
        } else {
            Running::Continue
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tracing::debug!(supervisor = %self.path, state = ?self.state, "supervisor stopped");
        metrics::gauge!(CHILDREN_RUNNING, "supervisor" => self.path.clone()).set(0.0);
    }
}

impl Handler<ChildExited> for Supervisor {
    type Result = ();

    fn handle(&mut self, exited: ChildExited, ctx: &mut Self::Context) {
        self.child_exited(exited, ctx);
    }
}
