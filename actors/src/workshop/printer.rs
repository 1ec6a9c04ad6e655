//! [`PrinterActor`]: one card printer (with its encoder) as a supervised
//! actor. Its devices are blocking, so they live on a thread of the
//! actor's own ([`Devices`] there); messages become jobs on that thread.
//!
//! When the link to the printer is lost the actor is `offline`: it probes
//! the printer with back-off (`reconnect_initial_ms` doubling up to
//! `reconnect_max_ms`) until it answers, and whoever waits for it
//! ([`WaitOnline`]) is told. A thread that dies (a driver panic) stops the
//! actor as failed; its supervisor starts a fresh one with fresh devices.
//!
//! Every change of health, supplies or activity is published to the status
//! bus as the `printer` entity named after the printer.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use actix::prelude::*;
use cardhub_devices::printer::{CardPosition, PrinterStatus};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;

use super::program::Step;
use super::registry::Registry;
use super::station::{CardWork, Devices, StepError};
use crate::status::{Detail, DeviceDetail, EntityKind, Health, Scope, StatusBus, Update};
use crate::supervision::{Backoff, BackoffPolicy, Jitter};

/// Ribbon prints left below which the wall shows the printer in warning.
const RIBBON_LOW: u32 = 50;

/// A printer that has had no command this long is asked for its status, so
/// a jam, an open cover or a lost link between cards shows on the wall, and
/// its hopper and ribbon counts stay current.
const STATUS_POLL: Duration = Duration::from_secs(5);

type DeviceJob = Box<dyn FnOnce(&mut Devices) + Send>;

/// How a printer is, as the line and the API see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrinterHealth {
    /// Answers commands.
    Online,
    /// The link is lost; being reconnected.
    Offline,
    /// A person must act (the reason says what).
    NeedsOperator,
}

/// What [`DescribePrinter`] returns.
#[derive(Clone, Debug, Serialize)]
pub struct PrinterView {
    /// The printer's name.
    pub name: String,
    /// How it is.
    pub health: PrinterHealth,
    /// Why it is offline or needs an operator.
    pub reason: Option<String>,
    /// When it went offline or stopped for an operator (RFC 3339).
    pub since: Option<String>,
    /// Its last status report.
    pub hopper: Option<u32>,
    /// Ribbon prints left, as last reported.
    pub ribbon_left: Option<u32>,
    /// Reconnection attempts since the link was lost.
    pub reconnect_attempts: u32,
}

/// The actor of one printer.
pub struct PrinterActor {
    name: String,
    jobs: Option<mpsc::Sender<DeviceJob>>,
    make_devices: Arc<dyn Fn() -> Devices + Send + Sync>,
    registry: Registry,
    view: PrinterView,
    backoff: Backoff,
    probing: bool,
    waiting: Vec<oneshot::Sender<()>>,
    bus: StatusBus,
    scope: Scope,
    busy: bool,
    last_command: std::time::Instant,
}

impl PrinterActor {
    /// A printer actor whose devices `make_devices` builds (on the
    /// actor's thread, once per actor run).
    pub fn new(
        name: String,
        make_devices: Arc<dyn Fn() -> Devices + Send + Sync>,
        registry: Registry,
        reconnect: (Duration, Duration),
        bus: StatusBus,
        scope: Scope,
    ) -> Self {
        Self {
            view: PrinterView {
                name: name.clone(),
                health: PrinterHealth::Online,
                reason: None,
                since: None,
                hopper: None,
                ribbon_left: None,
                reconnect_attempts: 0,
            },
            name,
            jobs: None,
            make_devices,
            registry,
            backoff: Backoff::new(BackoffPolicy {
                initial: reconnect.0,
                max: reconnect.1,
                jitter: Jitter::Equal,
                stable_after: Duration::from_secs(60),
            }),
            probing: false,
            waiting: Vec::new(),
            bus,
            scope,
            busy: false,
            last_command: std::time::Instant::now(),
        }
    }

    /// Asks an idle printer how it is (see [`STATUS_POLL`]), and clears a
    /// latched error whose cause was removed. A line waiting for an operator
    /// does the same every `fault_poll_ms`, so this poll only runs when
    /// nobody else talks to the printer.
    fn poll_status(&mut self, ctx: &mut Context<Self>) {
        if self.busy
            || self.probing
            || self.view.health == PrinterHealth::Offline
            || self.last_command.elapsed() < STATUS_POLL
        {
            return;
        }
        // A latched error whose cause is gone is cleared, as the line does
        // for its printers; the printer refuses while the cause is there.
        let asked = self.on_devices(ctx, |d| {
            let status = d.status()?;
            if status.state.needs_operator() && d.clear_error().is_ok() {
                return d.status();
            }
            Ok(status)
        });
        async move { asked.await.and_then(|r| r) }
            .into_actor(self)
            .map(|result, act, ctx| match result {
                Ok(status) => {
                    act.remember(&status);
                    if status.state.needs_operator() {
                        act.set(
                            PrinterHealth::NeedsOperator,
                            Some(format!(
                                "{}: {}",
                                status.state.wire(),
                                status.state.advice()
                            )),
                        );
                    } else {
                        act.online();
                    }
                }
                Err(e) => act.note(&Err::<(), _>(e), ctx),
            })
            .spawn(ctx);
    }

    /// Tells the status bus how the printer is now.
    fn publish(&self) {
        let v = &self.view;
        let (health, reason) = match v.health {
            PrinterHealth::Offline => (
                Health::Offline,
                Some(format!(
                    "offline: {}",
                    v.reason.as_deref().unwrap_or("no answer")
                )),
            ),
            PrinterHealth::NeedsOperator => (
                Health::Error,
                Some(operator_reason(
                    v.reason.as_deref().unwrap_or("needs an operator"),
                )),
            ),
            PrinterHealth::Online => match v.ribbon_left {
                Some(left) if left < RIBBON_LOW => (
                    Health::Warning,
                    Some(format!("ribbon low: {left} prints left")),
                ),
                _ if self.busy => (Health::Busy, None),
                _ => (Health::Ok, None),
            },
        };
        let update = Update::new(EntityKind::Printer, self.name.clone(), health)
            .scope(self.scope.clone())
            .detail(Detail::Device(DeviceDetail {
                hopper: v.hopper,
                ribbon_left: v.ribbon_left,
                reconnect_attempts: (v.reconnect_attempts > 0).then_some(v.reconnect_attempts),
                ..DeviceDetail::default()
            }));
        self.bus.publish(update.maybe_reason(reason));
    }

    /// Sends `f` to the devices' thread; its answer comes back on the
    /// future. A dead thread stops the actor (its supervisor restarts it).
    fn on_devices<R, F>(
        &mut self,
        ctx: &mut Context<Self>,
        f: F,
    ) -> impl Future<Output = Result<R, StepError>> + use<R, F>
    where
        R: Send + 'static,
        F: FnOnce(&mut Devices) -> R + Send + 'static,
    {
        self.last_command = std::time::Instant::now();
        let (tx, rx) = oneshot::channel();
        let sent = self.jobs.as_ref().map(|jobs| {
            jobs.send(Box::new(move |devices: &mut Devices| {
                let _ = tx.send(f(devices));
            }))
        });
        if !matches!(sent, Some(Ok(()))) {
            ctx.stop();
        }
        let name = self.name.clone();
        async move {
            rx.await.map_err(|_| {
                StepError::Link(format!(
                    "printer `{name}`: its device thread stopped; the supervisor restarts it"
                ))
            })
        }
    }

    /// Runs `f` on the devices' thread and answers with its result, noting
    /// what it says of the printer's health on the way.
    fn answer<R, F>(
        &mut self,
        ctx: &mut Context<Self>,
        f: F,
    ) -> ResponseActFuture<Self, Result<R, StepError>>
    where
        R: Send + 'static,
        F: FnOnce(&mut Devices) -> Result<R, StepError> + Send + 'static,
    {
        let asked = self.on_devices(ctx, f);
        Box::pin(
            async move { asked.await.and_then(|r| r) }
                .into_actor(self)
                .map(|result, act, ctx| {
                    act.note(&result, ctx);
                    result
                }),
        )
    }

    fn note(&mut self, result: &Result<impl Sized, StepError>, ctx: &mut Context<Self>) {
        self.busy = false;
        match result {
            Ok(_) => self.online(),
            Err(StepError::Link(reason) | StepError::Unsent(reason)) => {
                self.offline(reason.clone(), ctx)
            }
            Err(StepError::Operator(reason) | StepError::HopperEmpty(reason)) => {
                self.set(PrinterHealth::NeedsOperator, Some(reason.clone()));
            }
            Err(_) => self.online(),
        }
    }

    fn set(&mut self, health: PrinterHealth, reason: Option<String>) {
        if self.view.health != health {
            self.view.since = Some(chrono::Utc::now().to_rfc3339());
            tracing::info!(printer = %self.name, ?health, reason = reason.as_deref().unwrap_or(""),
                "printer state changed");
        }
        self.view.health = health;
        self.view.reason = reason;
        self.publish();
    }

    fn online(&mut self) {
        self.set(PrinterHealth::Online, None);
        self.view.reconnect_attempts = 0;
        for waiter in self.waiting.drain(..) {
            let _ = waiter.send(());
        }
    }

    fn offline(&mut self, reason: String, ctx: &mut Context<Self>) {
        if self.view.health != PrinterHealth::Offline {
            metrics::counter!("cardhub_printer_link_lost_total", "printer" => self.name.clone())
                .increment(1);
        }
        self.set(PrinterHealth::Offline, Some(reason));
        if !self.probing {
            self.probing = true;
            let delay = self.backoff.next_delay(&mut rand::rng());
            ctx.run_later(delay, |act, ctx| act.probe(ctx));
        }
    }

    /// One reconnection attempt: a status query on a fresh link.
    fn probe(&mut self, ctx: &mut Context<Self>) {
        self.view.reconnect_attempts += 1;
        self.publish();
        let asked = self.on_devices(ctx, |d| d.status());
        async move { asked.await.and_then(|r| r) }
            .into_actor(self)
            .map(|result, act, ctx| {
                act.probing = false;
                match result {
                    Ok(status) => {
                        tracing::info!(printer = %act.name, attempts = act.view.reconnect_attempts,
                            "printer link restored");
                        act.backoff.child_ran_for(Duration::from_secs(3600));
                        act.remember(&status);
                        act.online();
                    }
                    Err(StepError::Link(reason) | StepError::Unsent(reason)) => {
                        act.offline(reason, ctx)
                    }
                    // It answers; what it says is for the line to handle.
                    Err(_) => act.online(),
                }
            })
            .spawn(ctx);
    }

    fn remember(&mut self, status: &PrinterStatus) {
        self.view.hopper = status.hopper;
        self.view.ribbon_left = status.ribbon_left;
        self.publish();
    }
}

impl Actor for PrinterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (tx, rx) = mpsc::channel::<DeviceJob>();
        let make = Arc::clone(&self.make_devices);
        let name = self.name.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("printer-{name}"))
            .spawn(move || {
                let mut devices = make();
                while let Ok(job) = rx.recv() {
                    job(&mut devices);
                }
            });
        match spawned {
            Ok(_) => self.jobs = Some(tx),
            Err(e) => {
                tracing::error!(printer = %self.name, error = %e, "cannot start the printer's thread");
                ctx.stop();
                return;
            }
        }
        self.registry.insert_printer(&self.name, ctx.address());
        self.publish();
        ctx.run_interval(STATUS_POLL, |act, ctx| act.poll_status(ctx));
        // Connect now, so the wall shows an unreachable printer at once.
        let asked = self.on_devices(ctx, |d| d.status());
        async move { asked.await.and_then(|r| r) }
            .into_actor(self)
            .map(|result, act, ctx| {
                if let Ok(status) = &result {
                    act.remember(status);
                }
                act.note(&result, ctx);
            })
            .spawn(ctx);
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        self.registry.remove_printer(&self.name, &ctx.address());
        self.bus.publish(
            Update::new(EntityKind::Printer, self.name.clone(), Health::Offline)
                .reason("offline: its actor stopped; the supervisor restarts it")
                .scope(self.scope.clone()),
        );
        // Dropping the sender ends the devices' thread after its job.
        self.jobs = None;
    }
}

/// Runs one step on the card in the printer.
#[derive(Message)]
#[rtype(result = "Result<Value, StepError>")]
pub struct RunStep {
    /// The step.
    pub step: Step,
    /// The card.
    pub work: CardWork,
}

impl Handler<RunStep> for PrinterActor {
    type Result = ResponseActFuture<Self, Result<Value, StepError>>;

    fn handle(&mut self, msg: RunStep, ctx: &mut Context<Self>) -> Self::Result {
        let RunStep { step, work } = msg;
        self.busy = true;
        self.publish();
        self.answer(ctx, move |d| d.run_step(step, &work))
    }
}

/// Where the card in the printer is.
#[derive(Message)]
#[rtype(result = "Result<CardPosition, StepError>")]
pub struct Locate;

impl Handler<Locate> for PrinterActor {
    type Result = ResponseActFuture<Self, Result<CardPosition, StepError>>;

    fn handle(&mut self, _: Locate, ctx: &mut Context<Self>) -> Self::Result {
        self.answer(ctx, |d| d.card_position())
    }
}

/// Puts the card in the printer (if any) into the reject bin.
#[derive(Message)]
#[rtype(result = "Result<(), StepError>")]
pub struct RejectCard;

impl Handler<RejectCard> for PrinterActor {
    type Result = ResponseActFuture<Self, Result<(), StepError>>;

    fn handle(&mut self, _: RejectCard, ctx: &mut Context<Self>) -> Self::Result {
        self.answer(ctx, |d| d.reject())
    }
}

/// Asks the printer to clear its latched error (refused while the cause
/// is still there); answers the status after.
#[derive(Message)]
#[rtype(result = "Result<PrinterStatus, StepError>")]
pub struct ClearFault;

impl Handler<ClearFault> for PrinterActor {
    type Result = ResponseActFuture<Self, Result<PrinterStatus, StepError>>;

    fn handle(&mut self, _: ClearFault, ctx: &mut Context<Self>) -> Self::Result {
        let asked = self.on_devices(ctx, |d| d.clear_error().and_then(|()| d.status()));
        Box::pin(
            async move { asked.await.and_then(|r| r) }
                .into_actor(self)
                .map(|result, act, ctx| {
                    if let Ok(status) = &result {
                        act.remember(status);
                    }
                    act.note(&result, ctx);
                    result
                }),
        )
    }
}

/// Resolves once the printer answers again (at once when it does).
#[derive(Message)]
#[rtype(result = "()")]
pub struct WaitOnline;

impl Handler<WaitOnline> for PrinterActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: WaitOnline, _: &mut Context<Self>) -> Self::Result {
        if self.view.health != PrinterHealth::Offline {
            return Box::pin(async {});
        }
        let (tx, rx) = oneshot::channel();
        self.waiting.push(tx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

/// How the printer is.
#[derive(Message)]
#[rtype(result = "PrinterView")]
pub struct DescribePrinter;

impl Handler<DescribePrinter> for PrinterActor {
    type Result = MessageResult<DescribePrinter>;

    fn handle(&mut self, _: DescribePrinter, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.view.clone())
    }
}

/// The wall's words for why a printer needs an operator: the advice of the
/// printer state its error names (`CARD_JAM` → "card jammed: open the
/// cover ..."), or the error itself.
pub(crate) fn operator_reason(error: &str) -> String {
    cardhub_protocols::printer::status::STATES
        .iter()
        .find(|entry| entry.needs_operator && error.contains(entry.wire))
        .map_or_else(|| error.to_owned(), |entry| entry.advice.to_owned())
}

#[cfg(test)]
mod tests {
    use super::operator_reason;

    #[test]
    fn operator_reasons_are_the_states_advice() {
        assert!(
            operator_reason("printer P1 refused Sic: CARD_JAM: card jammed: open the cover")
                .starts_with("card jammed")
        );
        assert_eq!(operator_reason("something else"), "something else");
    }
}
