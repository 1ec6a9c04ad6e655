//! [`LineActor`]: one production line. It drives each of its printers card
//! by card through the line's program, one lane per printer:
//!
//! ```text
//! claim task ─▶ card face checked ─▶ step ─▶ step persisted ─▶ … ─▶ task complete
//!      │ (queue empty: wait)          │ failed
//!      ▼                              ▼
//!   next task        link lost: wait for the printer, ask where the card is
//!                    operator needed: wait until the fault is cleared
//!                    card failed: reject it, register waste, task re-queued
//!                    data unusable: task failed until its data is fixed
//! ```
//!
//! Every step is persisted before the next one starts, and a step that must
//! not be repeated on a card (print, overlay) is marked begun, in the same
//! transaction that records the step before it. A line (re)started finds
//! its cards in production in storage and resumes each from its last
//! persisted step ([`super::program::resume_point`]).
//!
//! The line's state (running, paused, stopped) is persisted: paused holds
//! every printer after its current step, stopped lets each finish its card
//! and takes no more. Both survive a restart of the hub.
//!
//! Every [`PUBLISH_EVERY`] the line publishes itself to the status bus (the
//! `line` entity: state, lanes, cards made and wasted, cards per minute)
//! when it changed since it last did, or that was 10 s ago; the bus drops
//! a publication that changes nothing all the same.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use cardhub_devices::face::PageData;
use cardhub_devices::printer::CardPosition;
use cardhub_storage::workshop::{LineState, StepOutcome, Task};
use cardhub_storage::{Actor as Who, StorageError, Store};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::WorkshopRuntime;
use super::config::LineConfig;
use super::printer::{ClearFault, Locate, PrinterActor, RejectCard, RunStep, WaitOnline};
use super::program::{Program, Resume, Step, resume_point};
use super::station::{CardWork, StepError};
use crate::status::{Detail, EntityKind, Health, LaneDetail, LineDetail, Update};

/// How long a lane holds its printer after the encoder failed a card.
const ENCODER_HOLD: Duration = Duration::from_secs(5);

/// How often the line publishes itself: well under the wall's 100 ms tick
/// would be wasted work, much over it would delay a stall on the wall.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// Minutes of cards-per-minute history the line entity carries.
const THROUGHPUT_MINUTES: usize = 15;

/// What a printer's lane is doing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LaneView {
    /// The printer.
    pub printer: String,
    /// `idle`, `working`, `held` (line paused), `waiting-printer`,
    /// `waiting-operator`, `encoder-fault` (held after the encoder failed
    /// a card), `stopped`.
    pub activity: String,
    /// The task on it.
    pub task_id: Option<i64>,
    /// Its card number.
    pub card_number: Option<String>,
    /// The step running or last done.
    pub step: Option<String>,
    /// The last problem, in the printer's or hub's words.
    pub last_error: Option<String>,
    /// Cards finished since the hub started.
    pub cards_done: u64,
    /// Cards wasted since the hub started.
    pub cards_wasted: u64,
}

/// What [`DescribeLine`] returns.
#[derive(Clone, Debug, Serialize)]
pub struct LineView {
    /// The line.
    pub name: String,
    /// Running, paused or stopped.
    pub state: LineState,
    /// The program's name.
    pub program: String,
    /// Its steps.
    pub steps: Vec<Step>,
    /// One lane per printer.
    pub lanes: Vec<LaneView>,
}

/// The actor of one production line.
pub struct LineActor {
    config: LineConfig,
    program: Rc<Program>,
    runtime: Arc<WorkshopRuntime>,
    state: watch::Sender<LineState>,
    lanes: Vec<Rc<RefCell<LaneView>>>,
    throughput: Throughput,
    published: Option<Published>,
}

/// What the line last told the status bus, and when.
struct Published {
    state: LineState,
    lanes: Vec<LaneView>,
    at_ms: i64,
}

/// How often a line that has not changed tells the status bus again.
const REPUBLISH_EVERY_MS: i64 = 10_000;

/// Whether the line (`state`, `lanes`) is as it was `published`, in the
/// same minute (its per-minute series moves on with the minute), and that
/// was less than [`REPUBLISH_EVERY_MS`] ago.
fn unchanged_since(
    published: Option<&Published>,
    state: LineState,
    lanes: &[Rc<RefCell<LaneView>>],
    now_ms: i64,
) -> bool {
    published.is_some_and(|p| {
        p.state == state
            && p.at_ms.div_euclid(60_000) == now_ms.div_euclid(60_000)
            && now_ms - p.at_ms < REPUBLISH_EVERY_MS
            && p.lanes.len() == lanes.len()
            && p.lanes.iter().zip(lanes).all(|(a, b)| *a == *b.borrow())
    })
}

/// Cards made per minute, and when a lane last moved on.
#[derive(Default)]
struct Throughput {
    /// (Unix minute, cards made in it), oldest first.
    minutes: std::collections::VecDeque<(i64, u32)>,
    counted: u64,
    marks: Vec<(Option<i64>, Option<String>, u64, u64)>,
    last_progress_ms: Option<i64>,
}

impl Throughput {
    /// Counts the cards made since the last call into the current minute,
    /// notes progress when any lane moved, and returns the per-minute
    /// series (oldest first, the current minute last).
    fn update(&mut self, lanes: &[LaneView], now_ms: i64) -> Vec<u32> {
        let minute = now_ms.div_euclid(60_000);
        let made: u64 = lanes.iter().map(|l| l.cards_done).sum();
        let new = made.saturating_sub(self.counted) as u32;
        self.counted = made;
        match self.minutes.back_mut() {
            Some((m, n)) if *m == minute => *n += new,
            _ => self.minutes.push_back((minute, new)),
        }
        while self
            .minutes
            .front()
            .is_some_and(|(m, _)| *m <= minute - THROUGHPUT_MINUTES as i64)
        {
            self.minutes.pop_front();
        }
        let marks: Vec<_> = lanes
            .iter()
            .map(|l| (l.task_id, l.step.clone(), l.cards_done, l.cards_wasted))
            .collect();
        if marks != self.marks {
            self.marks = marks;
            self.last_progress_ms = Some(now_ms);
        }
        (0..THROUGHPUT_MINUTES as i64)
            .rev()
            .map(|back| {
                let m = minute - back;
                self.minutes
                    .iter()
                    .find(|(at, _)| *at == m)
                    .map_or(0, |(_, n)| *n)
            })
            .collect()
    }
}

impl LineActor {
    /// A line in `initial` state (from storage, or from `autostart`).
    pub fn new(
        config: LineConfig,
        program: Program,
        runtime: Arc<WorkshopRuntime>,
        initial: LineState,
    ) -> Self {
        Self {
            lanes: Vec::new(),
            state: watch::Sender::new(initial),
            program: Rc::new(program),
            config,
            runtime,
            throughput: Throughput::default(),
            published: None,
        }
    }

    /// Tells the status bus how the line is now. Most ticks find the line
    /// as it was (a card takes seconds per step): those compare and return.
    fn publish(&mut self) {
        let now = crate::status::bus::now_ms();
        let state = *self.state.borrow();
        if unchanged_since(self.published.as_ref(), state, &self.lanes, now) {
            return;
        }
        let lanes: Vec<LaneView> = self.lanes.iter().map(|l| l.borrow().clone()).collect();
        let per_minute = self.throughput.update(&lanes, now);
        let made: u64 = lanes.iter().map(|l| l.cards_done).sum();
        let wasted: u64 = lanes.iter().map(|l| l.cards_wasted).sum();
        let waiting = lanes.iter().find(|l| {
            matches!(
                l.activity.as_str(),
                "waiting-operator" | "waiting-printer" | "encoder-fault"
            )
        });
        let (health, reason) = match (state, waiting) {
            (LineState::Running, Some(lane)) => (
                Health::Warning,
                Some(format!(
                    "printer {} {}{}",
                    lane.printer,
                    match lane.activity.as_str() {
                        "waiting-operator" => "waits for an operator",
                        "waiting-printer" => "waits for its link to come back",
                        _ => "is held after an encoder fault",
                    },
                    lane.last_error
                        .as_deref()
                        .map(|e| format!(": {}", super::printer::operator_reason(e)))
                        .unwrap_or_default()
                )),
            ),
            (LineState::Running, None) if lanes.iter().any(|l| l.activity == "working") => {
                (Health::Busy, None)
            }
            (LineState::Running, None) => (Health::Ok, Some("waiting for tasks".to_owned())),
            (LineState::Paused, _) => (Health::Idle, Some("paused".to_owned())),
            (LineState::Stopped, _) => (Health::Idle, Some("stopped".to_owned())),
        };
        let detail = LineDetail {
            line_state: state.as_str().to_owned(),
            program: self.program.name.clone(),
            lanes: lanes
                .iter()
                .map(|l| LaneDetail {
                    printer: l.printer.clone(),
                    activity: l.activity.clone(),
                    task: l.task_id,
                })
                .collect(),
            cards_made: made,
            cards_wasted: wasted,
            per_minute,
            waste_rate: (made + wasted > 0).then(|| wasted as f64 / (made + wasted) as f64),
            last_progress_ms: self.throughput.last_progress_ms,
        };
        let update = Update::new(EntityKind::Line, self.config.name.clone(), health)
            .scope(self.runtime.scope(Some(&self.config.name)))
            .detail(Detail::Line(detail));
        self.runtime.bus.publish(update.maybe_reason(reason));
        self.published = Some(Published {
            state,
            lanes,
            at_ms: now,
        });
    }
}

impl Actor for LineActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(PUBLISH_EVERY, |act, _| act.publish());
        let line = self.config.name.clone();
        let store = self.runtime.store.clone();
        // Cards a previous run left in production, by printer.
        async move { store.in_flight_tasks(line).await }
            .into_actor(self)
            .map(|found, act, ctx| {
                let mut by_printer: BTreeMap<String, Vec<Task>> = BTreeMap::new();
                match found {
                    Ok(tasks) => {
                        for task in tasks {
                            let printer = task.printer.clone().unwrap_or_default();
                            by_printer.entry(printer).or_default().push(task);
                        }
                    }
                    Err(e) => {
                        tracing::error!(line = %act.config.name, error = %e,
                            "cannot read the line's cards in production; restarting the line");
                        ctx.stop();
                        return;
                    }
                }
                for printer in &act.config.printers {
                    let view = Rc::new(RefCell::new(LaneView {
                        printer: printer.name.clone(),
                        activity: "idle".into(),
                        ..LaneView::default()
                    }));
                    act.lanes.push(Rc::clone(&view));
                    let lane = Lane {
                        line: act.config.name.clone(),
                        printer: printer.name.clone(),
                        number_prefix: act
                            .config
                            .number_prefix
                            .clone()
                            .unwrap_or_else(|| act.runtime.config.number_prefix.clone()),
                        instant: act.config.branch.is_some(),
                        actor: Who::new(
                            act.config.operator.clone(),
                            cardhub_protocols::roles::Role::WorkshopOperator,
                        ),
                        program: Rc::clone(&act.program),
                        runtime: Arc::clone(&act.runtime),
                        state: act.state.subscribe(),
                        view,
                    };
                    let resume = by_printer.remove(&printer.name).unwrap_or_default();
                    ctx.spawn(lane.run(resume).into_actor(act));
                }
                // Cards on printers no longer on this line cannot be
                // reached: waste them so their tasks are made again.
                for task in by_printer.into_values().flatten() {
                    let lane_store = act.runtime.store.clone();
                    let who = cardhub_storage::Actor::new(
                        act.config.operator.clone(),
                        cardhub_protocols::roles::Role::WorkshopOperator,
                    );
                    let printer = task.printer.clone().unwrap_or_else(|| "-".into());
                    async move {
                        let wasted = lane_store
                            .waste_and_requeue(
                                task.id,
                                format!("printer `{printer}` is no longer on the line"),
                                task.step.clone().unwrap_or_else(|| "claimed".into()),
                                printer,
                                who,
                            )
                            .await;
                        if let Err(e) = wasted {
                            tracing::error!(task = task.id, error = %e, "cannot waste an orphaned card");
                        }
                    }
                    .into_actor(act)
                    .spawn(ctx);
                }
            })
            .wait(ctx);
    }
}

/// Start, pause or stop a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineCommand {
    /// Produce.
    Start,
    /// Hold every printer after its current step.
    Pause,
    /// Finish the cards on the printers and take no more.
    Stop,
}

impl LineCommand {
    fn target(self) -> LineState {
        match self {
            LineCommand::Start => LineState::Running,
            LineCommand::Pause => LineState::Paused,
            LineCommand::Stop => LineState::Stopped,
        }
    }
}

/// Changes the line's state (persisted first).
#[derive(Message)]
#[rtype(result = "Result<LineState, StorageError>")]
pub struct ControlLine {
    /// What to do.
    pub command: LineCommand,
    /// Who asks.
    pub actor: Who,
}

impl Handler<ControlLine> for LineActor {
    type Result = ResponseActFuture<Self, Result<LineState, StorageError>>;

    fn handle(&mut self, msg: ControlLine, _: &mut Context<Self>) -> Self::Result {
        let target = msg.command.target();
        let store = self.runtime.store.clone();
        let line = self.config.name.clone();
        Box::pin(
            async move {
                store
                    .set_line_state(line, target, format!("{:?}", msg.command).to_lowercase(), msg.actor)
                    .await
            }
            .into_actor(self)
            .map(move |saved, act, _| {
                saved?;
                tracing::info!(line = %act.config.name, state = %target.as_str(), "line state changed");
                act.state.send_replace(target);
                Ok(target)
            }),
        )
    }
}

/// How the line is.
#[derive(Message)]
#[rtype(result = "LineView")]
pub struct DescribeLine;

impl Handler<DescribeLine> for LineActor {
    type Result = MessageResult<DescribeLine>;

    fn handle(&mut self, _: DescribeLine, _: &mut Context<Self>) -> Self::Result {
        MessageResult(LineView {
            name: self.config.name.clone(),
            state: *self.state.borrow(),
            program: self.program.name.clone(),
            steps: self.program.steps.clone(),
            lanes: self.lanes.iter().map(|l| l.borrow().clone()).collect(),
        })
    }
}

/// One printer's card loop.
struct Lane {
    line: String,
    printer: String,
    number_prefix: String,
    /// Takes only the tasks queued for this line (a branch's).
    instant: bool,
    actor: Who,
    program: Rc<Program>,
    runtime: Arc<WorkshopRuntime>,
    state: watch::Receiver<LineState>,
    view: Rc<RefCell<LaneView>>,
}

/// How one card ended.
enum CardEnd {
    Done,
    Wasted,
    Released,
    Failed,
}

impl Lane {
    fn store(&self) -> &Store {
        &self.runtime.store
    }

    fn show(&self, f: impl FnOnce(&mut LaneView)) {
        f(&mut self.view.borrow_mut());
    }

    async fn run(mut self, resume: Vec<Task>) {
        for task in resume {
            tracing::info!(line = %self.line, printer = %self.printer, task = task.id,
                step = task.step.as_deref().unwrap_or("-"), "resuming a card in production");
            self.card(task, true).await;
        }
        loop {
            if !self.wait_running(true).await {
                return;
            }
            let claimed = self
                .store()
                .claim_next_task(
                    self.line.clone(),
                    self.printer.clone(),
                    self.number_prefix.clone(),
                    self.instant,
                    self.actor.clone(),
                )
                .await;
            match claimed {
                Ok(Some((task, card))) => {
                    self.show(|v| v.card_number = card.card_number.clone());
                    self.card(task, false).await
                }
                Ok(None) => {
                    self.show(|v| v.activity = "idle".into());
                    self.sleep_or_change(self.runtime.config.idle_poll()).await;
                }
                Err(e) => {
                    tracing::error!(line = %self.line, printer = %self.printer, error = %e,
                        "cannot claim a task");
                    self.show(|v| v.last_error = Some(e.to_string()));
                    self.sleep_or_change(self.runtime.config.idle_poll()).await;
                }
            }
        }
    }

    /// Waits while the line is paused (and, with `new_card`, stopped).
    /// False when the line's actor is gone.
    async fn wait_running(&mut self, new_card: bool) -> bool {
        loop {
            let state = *self.state.borrow_and_update();
            match state {
                LineState::Running => return true,
                LineState::Stopped if !new_card => return true,
                LineState::Paused => self.show(|v| v.activity = "held".into()),
                LineState::Stopped => self.show(|v| v.activity = "stopped".into()),
            }
            if self.state.changed().await.is_err() {
                return false;
            }
        }
    }

    async fn sleep_or_change(&mut self, delay: Duration) {
        let _ = tokio::time::timeout(delay, self.state.changed()).await;
    }

    fn printer_actor(&self) -> Option<Addr<PrinterActor>> {
        self.runtime.registry.printer(&self.printer)
    }

    /// Sends a message to the printer's current actor, waiting for one
    /// while it is being restarted.
    async fn ask<M>(&self, msg: impl Fn() -> M) -> Result<M::Result, StepError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        PrinterActor: Handler<M>,
    {
        for _ in 0..600 {
            if let Some(addr) = self.printer_actor()
                && let Ok(answer) = addr.send(msg()).await
            {
                return Ok(answer);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(StepError::Link(format!(
            "printer `{}` has had no running actor for a minute",
            self.printer
        )))
    }

    /// Sends `msg`, and while the printer's link is lost waits for it to
    /// come back and asks again.
    async fn device<M, R>(&self, msg: impl Fn() -> M) -> Result<R, StepError>
    where
        M: Message<Result = Result<R, StepError>> + Send + 'static,
        R: Send + 'static,
        PrinterActor: Handler<M>,
    {
        loop {
            match self.ask(&msg).await.and_then(|r| r) {
                Err(StepError::Link(reason) | StepError::Unsent(reason)) => {
                    self.show(|v| {
                        v.activity = "waiting-printer".into();
                        v.last_error = Some(reason);
                    });
                    self.ask::<WaitOnline>(|| WaitOnline).await?;
                    self.show(|v| v.activity = "working".into());
                }
                other => return other,
            }
        }
    }

    /// Waits until an operator removed the cause of the printer's fault and
    /// the printer cleared it.
    async fn wait_operator(&mut self, reason: &str) {
        self.show(|v| {
            v.activity = "waiting-operator".into();
            v.last_error = Some(reason.to_owned());
        });
        tracing::warn!(line = %self.line, printer = %self.printer, reason, "the printer needs an operator");
        loop {
            match self.device(|| ClearFault).await {
                Ok(_) => break,
                Err(_) => tokio::time::sleep(self.runtime.config.fault_poll()).await,
            }
        }
        self.show(|v| v.activity = "working".into());
    }

    /// Retries a storage write until it is taken: the device already did
    /// the step, so the line may not go on before it is persisted.
    async fn persist<T, F, Fut>(&self, what: &str, write: F) -> Result<T, StorageError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StorageError>>,
    {
        let mut delay = Duration::from_millis(100);
        for _ in 0..50 {
            match write().await {
                Ok(v) => return Ok(v),
                Err(
                    e @ (StorageError::Conflict { .. }
                    | StorageError::Invalid { .. }
                    | StorageError::NotFound { .. }),
                ) => {
                    return Err(e);
                }
                Err(e) => {
                    tracing::warn!(line = %self.line, printer = %self.printer, error = %e, what,
                        "cannot persist; trying again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        write().await
    }

    /// One card, from its claim (or its last persisted step) to its end.
    async fn card(&mut self, task: Task, resumed: bool) {
        let task_id = task.id;
        self.show(|v| {
            v.activity = "working".into();
            v.task_id = Some(task_id);
            v.step = task.step.clone();
            v.last_error = None;
        });
        let end = self.make(task, resumed).await;
        self.show(|v| {
            match end {
                CardEnd::Done => v.cards_done += 1,
                CardEnd::Wasted => v.cards_wasted += 1,
                CardEnd::Released | CardEnd::Failed => {}
            }
            v.task_id = None;
            v.card_number = None;
            v.step = None;
        });
        let outcome = match end {
            CardEnd::Done => "done",
            CardEnd::Wasted => "wasted",
            CardEnd::Released => "released",
            CardEnd::Failed => "failed",
        };
        metrics::counter!("cardhub_workshop_cards_total", "line" => self.line.clone(), "outcome" => outcome)
            .increment(1);
    }

    async fn make(&mut self, task: Task, resumed: bool) -> CardEnd {
        let resume = if resumed {
            match resume_point(&self.program, task.step.as_deref()) {
                Ok(r) => r,
                Err(e) => {
                    return self
                        .waste(&task, "resume", &format!("cannot resume: {e}"))
                        .await;
                }
            }
        } else {
            Resume::Begun(self.program.steps[0])
        };
        // The card face is checked before a blank card is taken.
        let face = match self.face(task.card_id).await {
            Ok(face) => Some(Arc::new(face)),
            Err(StepError::Data(reason)) => {
                return self.data_failure(&task, &resume, &reason).await;
            }
            Err(e) => {
                // Storage trouble: put the task back and try later.
                return self.release(&task, &e.to_string()).await;
            }
        };
        let work = CardWork {
            task_id: task.id,
            card_id: task.card_id,
            face,
            actor: self.actor.clone(),
        };
        let first = match self.start_at(&task, resume).await {
            Ok(first) => first,
            Err(end) => return end,
        };
        let mut next = first;
        while let Some(step) = next {
            if !self.wait_running(false).await {
                return CardEnd::Released;
            }
            self.show(|v| v.step = Some(step.as_str().into()));
            // Not `device`: a step whose link dropped is judged by where
            // the card is, never simply sent again.
            match self
                .ask(|| RunStep {
                    step,
                    work: work.clone(),
                })
                .await
                .and_then(|r| r)
            {
                Ok(detail) => {
                    let after = self.program.next(step);
                    if let Err(e) = self.record(&task, step, detail, after).await {
                        tracing::error!(task = task.id, step = %step, error = %e, "cannot persist a step");
                        return self
                            .waste(
                                &task,
                                step.as_str(),
                                &format!("the step could not be persisted: {e}"),
                            )
                            .await;
                    }
                    next = after;
                }
                Err(e) => match self.step_failed(&task, step, e).await {
                    Ok(again) => next = Some(again),
                    Err(end) => return end,
                },
            }
        }
        self.complete(&task).await
    }

    /// Ends the task whose card passed every step.
    async fn complete(&self, task: &Task) -> CardEnd {
        let detail = json!({ "line": self.line, "printer": self.printer });
        let completed = self
            .persist("complete", || {
                self.store()
                    .complete_task(task.id, detail.clone(), self.actor.clone())
            })
            .await;
        match completed {
            Ok(_) => CardEnd::Done,
            Err(e) => {
                tracing::error!(task = task.id, error = %e, "cannot complete a task");
                self.show(|v| v.last_error = Some(e.to_string()));
                CardEnd::Failed
            }
        }
    }

    /// Persists a step done, marking the next one begun when it must not
    /// be repeated (or when it is the eject, whose result is judged by where
    /// the card is).
    async fn record(
        &self,
        task: &Task,
        step: Step,
        detail: Value,
        after: Option<Step>,
    ) -> Result<Task, StorageError> {
        let marker = after
            .filter(|s| s.is_once_only() || *s == Step::Eject)
            .map(|s| s.as_str().to_owned());
        let card_to = self.program.card_to(step);
        self.persist("step", || {
            self.store().record_step_then_begin(
                task.id,
                step.as_str().to_owned(),
                StepOutcome::Done,
                detail.clone(),
                card_to,
                marker.clone(),
                self.actor.clone(),
            )
        })
        .await
    }

    /// The first step to run for a card, judged by where the card is when
    /// the card was resumed.
    async fn start_at(&mut self, task: &Task, resume: Resume) -> Result<Option<Step>, CardEnd> {
        match resume {
            Resume::From(None) => Ok(None),
            Resume::From(Some(step)) => match self.device(|| Locate).await {
                Ok(CardPosition::None) => Err(self
                    .waste(task, step.as_str(), "the card is no longer in the printer")
                    .await),
                Ok(_) => Ok(Some(step)),
                Err(e) => Err(self.waste(task, step.as_str(), &e.to_string()).await),
            },
            Resume::Begun(Step::Feed) => match self.device(|| Locate).await {
                Ok(CardPosition::None) => Ok(Some(Step::Feed)),
                // The card was fed before the hub went away.
                Ok(_) => {
                    let after = self.program.next(Step::Feed);
                    match self
                        .record(task, Step::Feed, json!({"resumed": true}), after)
                        .await
                    {
                        Ok(_) => Ok(after),
                        Err(e) => Err(self.release(task, &e.to_string()).await),
                    }
                }
                Err(e) => Err(self.release(task, &e.to_string()).await),
            },
            Resume::Begun(Step::Eject) => match self.device(|| Locate).await {
                Ok(CardPosition::None) => {
                    match self
                        .record(task, Step::Eject, json!({"resumed": true}), None)
                        .await
                    {
                        Ok(_) => Ok(None),
                        Err(e) => Err(self.waste(task, "eject", &e.to_string()).await),
                    }
                }
                Ok(_) => Ok(Some(Step::Eject)),
                Err(e) => Err(self.waste(task, "eject", &e.to_string()).await),
            },
            Resume::Begun(step) if step.is_once_only() => Err(self
                .waste(
                    task,
                    step.as_str(),
                    &format!("the hub stopped during {step}: the card may be half done"),
                )
                .await),
            Resume::Begun(step) => match self.device(|| Locate).await {
                Ok(CardPosition::None) => Err(self
                    .waste(task, step.as_str(), "the card is no longer in the printer")
                    .await),
                Ok(_) => Ok(Some(step)),
                Err(e) => Err(self.waste(task, step.as_str(), &e.to_string()).await),
            },
        }
    }

    /// Decides what a failed step means for the card: `Ok(step)` to run
    /// it (or its retry) again, `Err(end)` when the card ended.
    async fn step_failed(
        &mut self,
        task: &Task,
        step: Step,
        e: StepError,
    ) -> Result<Step, CardEnd> {
        tracing::warn!(line = %self.line, printer = %self.printer, task = task.id, step = %step,
            kind = e.kind(), error = %e, "step failed");
        self.show(|v| v.last_error = Some(e.to_string()));
        match e {
            StepError::HopperEmpty(reason) if step == Step::Feed => {
                let end = self.release(task, &reason).await;
                self.wait_operator(&reason).await;
                Err(end)
            }
            StepError::Operator(reason) | StepError::HopperEmpty(reason) => {
                self.wait_operator(&reason).await;
                // Where is the card now? A jam's card was taken out by the
                // operator; a card still there goes on if the step may be
                // run again.
                match self.device(|| Locate).await {
                    Ok(CardPosition::None) if step == Step::Feed => Ok(Step::Feed),
                    Ok(CardPosition::None) => Err(self.waste(task, step.as_str(), &reason).await),
                    Ok(_) if step.is_once_only() => {
                        Err(self.waste(task, step.as_str(), &reason).await)
                    }
                    Ok(_) => Ok(step),
                    Err(e) => Err(self.waste(task, step.as_str(), &e.to_string()).await),
                }
            }
            StepError::Data(reason) => {
                let resume = Resume::From(Some(step));
                Err(self.data_failure(task, &resume, &reason).await)
            }
            StepError::Storage(reason) => {
                // The device may have done part of it: only a step that may
                // be repeated is run again.
                if step.is_once_only() {
                    Err(self.waste(task, step.as_str(), &reason).await)
                } else {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    Ok(step)
                }
            }
            StepError::Unsent(reason) => {
                // The command never left: send it again once the printer
                // answers.
                self.show(|v| v.activity = "waiting-printer".into());
                let _ = self.ask::<WaitOnline>(|| WaitOnline).await;
                self.show(|v| v.activity = "working".into());
                tracing::info!(printer = %self.printer, step = %step, reason, "step not sent; sending it again");
                Ok(step)
            }
            StepError::Link(reason) => {
                self.show(|v| v.activity = "waiting-printer".into());
                let _ = self.ask::<WaitOnline>(|| WaitOnline).await;
                self.show(|v| v.activity = "working".into());
                match self.device(|| Locate).await {
                    Ok(CardPosition::None) if step == Step::Feed => Ok(Step::Feed),
                    Ok(CardPosition::None) if step == Step::Eject => {
                        let done = self
                            .record(task, Step::Eject, json!({"after_link_loss": true}), None)
                            .await;
                        match done {
                            // Nothing is left to run: `make` completes the task.
                            Ok(_) => Err(self.complete(task).await),
                            Err(e) => Err(self.waste(task, "eject", &e.to_string()).await),
                        }
                    }
                    Ok(CardPosition::None) => Err(self
                        .waste(
                            task,
                            step.as_str(),
                            &format!("{reason}; the card left the printer"),
                        )
                        .await),
                    Ok(_) if step.is_once_only() => Err(self
                        .waste(
                            task,
                            step.as_str(),
                            &format!("{reason}; the step may be half done"),
                        )
                        .await),
                    Ok(_) if step == Step::Feed => {
                        // The card was taken before the link dropped.
                        let after = self.program.next(Step::Feed);
                        match self
                            .record(task, Step::Feed, json!({"after_link_loss": true}), after)
                            .await
                        {
                            Ok(_) => after.ok_or(CardEnd::Failed),
                            Err(e) => Err(self.waste(task, "feed", &e.to_string()).await),
                        }
                    }
                    Ok(_) => Ok(step),
                    Err(e) => Err(self.waste(task, step.as_str(), &e.to_string()).await),
                }
            }
            StepError::Card(reason) => Err(self.waste(task, step.as_str(), &reason).await),
            StepError::Encoder(reason) => {
                let end = self.waste(task, step.as_str(), &reason).await;
                // A failing encoder would spoil every card fed: hold this
                // printer a while before the next one.
                self.show(|v| {
                    v.activity = "encoder-fault".into();
                    v.last_error = Some(reason.clone());
                });
                tokio::time::sleep(ENCODER_HOLD).await;
                Err(end)
            }
        }
    }

    async fn face(&self, card_id: i64) -> Result<PageData, StepError> {
        let runtime = Arc::clone(&self.runtime);
        let store = self.store().clone();
        store
            .run("workshop.card_face", move |conn| {
                Ok(super::face::card_face(
                    conn,
                    &runtime.chip,
                    &runtime.faces.card,
                    card_id,
                ))
            })
            .await?
    }

    /// A card that cannot be made from its data: a blank card not yet taken
    /// fails the task at once; a card already in the printer is wasted
    /// first.
    async fn data_failure(&mut self, task: &Task, resume: &Resume, reason: &str) -> CardEnd {
        tracing::warn!(line = %self.line, task = task.id, reason, "the task's data cannot be made into a card");
        let card_taken = !matches!(resume, Resume::Begun(Step::Feed))
            || !matches!(self.device(|| Locate).await, Ok(CardPosition::None));
        if card_taken {
            let _ = self.device(|| RejectCard).await;
            return self.waste(task, "data", reason).await;
        }
        let failed = self
            .persist("fail", || {
                self.store()
                    .fail_task(task.id, reason.to_owned(), self.actor.clone())
            })
            .await;
        if let Err(e) = failed {
            tracing::error!(task = task.id, error = %e, "cannot fail a task");
        }
        self.show(|v| v.last_error = Some(reason.to_owned()));
        CardEnd::Failed
    }

    /// Rejects the card (if it is still in the printer) and registers it as
    /// waste; the task is re-queued on a new card (or fails after its
    /// attempts).
    async fn waste(&self, task: &Task, step: &str, reason: &str) -> CardEnd {
        if let Err(e) = self.device(|| RejectCard).await {
            tracing::warn!(printer = %self.printer, error = %e, "cannot reject the card");
        }
        let wasted = self
            .persist("waste", || {
                self.store().waste_and_requeue(
                    task.id,
                    reason.to_owned(),
                    step.to_owned(),
                    self.printer.clone(),
                    self.actor.clone(),
                )
            })
            .await;
        match wasted {
            Ok(outcome) => {
                tracing::info!(line = %self.line, task = task.id, step, reason,
                    requeued = outcome.new_card.is_some(), "card wasted");
            }
            Err(e) => tracing::error!(task = task.id, error = %e, "cannot register waste"),
        }
        CardEnd::Wasted
    }

    /// Puts the task back: no physical card was used.
    async fn release(&self, task: &Task, reason: &str) -> CardEnd {
        let released = self
            .persist("release", || {
                self.store()
                    .release_task(task.id, reason.to_owned(), self.actor.clone())
            })
            .await;
        if let Err(e) = released {
            tracing::error!(task = task.id, error = %e, "cannot release a task");
        }
        CardEnd::Released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(printer: &str, step: Option<&str>) -> Rc<RefCell<LaneView>> {
        Rc::new(RefCell::new(LaneView {
            printer: printer.to_owned(),
            activity: "working".to_owned(),
            task_id: Some(7),
            step: step.map(str::to_owned),
            ..LaneView::default()
        }))
    }

    #[test]
    fn a_line_publishes_again_only_when_it_changed_the_minute_turned_or_time_passed() {
        let lanes = vec![lane("p1", Some("chip")), lane("p2", None)];
        let at = 60_000 * 1_000 + 1_000;
        let published = Published {
            state: LineState::Running,
            lanes: lanes.iter().map(|l| l.borrow().clone()).collect(),
            at_ms: at,
        };
        let p = Some(&published);
        assert!(!unchanged_since(None, LineState::Running, &lanes, at));
        assert!(unchanged_since(p, LineState::Running, &lanes, at + 250));
        assert!(!unchanged_since(p, LineState::Paused, &lanes, at + 250));
        // The per-minute series moves on with the minute.
        assert!(!unchanged_since(p, LineState::Running, &lanes, at + 59_000));
        assert!(!unchanged_since(
            p,
            LineState::Running,
            &lanes,
            at + REPUBLISH_EVERY_MS
        ));
        lanes[0].borrow_mut().step = Some("print".to_owned());
        assert!(!unchanged_since(p, LineState::Running, &lanes, at + 250));
        lanes[0].borrow_mut().step = Some("chip".to_owned());
        lanes[1].borrow_mut().cards_done = 1;
        assert!(!unchanged_since(p, LineState::Running, &lanes, at + 250));
        assert!(!unchanged_since(
            p,
            LineState::Running,
            &lanes[..1],
            at + 250
        ));
    }
}
