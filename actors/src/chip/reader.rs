//! [`ReaderActor`]: one per card reader. It owns the reader's PC/SC
//! session, runs one job at a time on the card in it, and resumes an
//! interrupted personalisation when the same chip comes back.
//!
//! PC/SC calls block, so a whole job ([`engine::run_job`]: recorded, run,
//! its outcome recorded) runs as one task on tokio's blocking pool (the
//! actor's event loop stays free to answer `Describe` and card events); the
//! reader itself sits behind a mutex that only the running job holds. A job
//! is written `running` before the first APDU that changes the card, the
//! caller gets its ticket as soon as it is, and its outcome is written
//! before anyone is told of it.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use actix::prelude::*;
use cardhub_devices::reader::Atr;
use cardhub_storage::chips::{ChipJob, ChipJobStatus, JobOutcome};
use serde::Serialize;
use tokio::sync::oneshot;

use super::engine;
use super::{ChipError, ChipRuntime, JobRequest, JobTicket};
use cardhub_storage::StorageError;

/// What a reader is doing, for the API and the wall.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReaderInfo {
    /// The reader's PC/SC name.
    pub name: String,
    /// The ATR of the card in it, upper-case hex; `None` when empty.
    pub card_atr: Option<String>,
    /// The job running on its card, if any.
    pub busy_with: Option<i64>,
}

/// The actor owning one reader.
pub struct ReaderActor {
    name: String,
    runtime: Arc<ChipRuntime>,
    reader: Arc<Mutex<engine::ReaderSlot>>,
    card: Option<Atr>,
    busy_with: Option<i64>,
}

impl ReaderActor {
    /// An actor for the reader called `name`.
    pub fn new(name: String, runtime: Arc<ChipRuntime>) -> Self {
        Self {
            name,
            runtime,
            reader: Arc::new(Mutex::new(None)),
            card: None,
            busy_with: None,
        }
    }

    /// Starts `request` on the blocking pool: `recorded` receives the job
    /// once it is stored (`running`), or `refused` why it could not be;
    /// `done` receives the job as finally stored.
    fn start(
        &mut self,
        request: JobRequest,
        recorded: oneshot::Sender<ChipJob>,
        refused: oneshot::Sender<ChipError>,
        done: oneshot::Sender<ChipJob>,
        ctx: &mut Context<Self>,
    ) {
        let runtime = Arc::clone(&self.runtime);
        let reader = Arc::clone(&self.reader);
        let name = self.name.clone();
        let actor = request.actor().clone();
        let timeout = runtime.config.job_timeout();
        // Known once the job is recorded, for a job that never returns.
        let job_id = Arc::new(OnceLock::<i64>::new());
        let work = async move {
            let store = runtime.store.clone();
            let blocking_runtime = Arc::clone(&runtime);
            let recorded_id = Arc::clone(&job_id);
            let run = tokio::task::spawn_blocking(move || {
                let mut slot = reader.lock().unwrap_or_else(PoisonError::into_inner);
                engine::run_job(
                    &mut slot,
                    &engine::pcsc_opener(&name),
                    &blocking_runtime,
                    &name,
                    &request,
                    move |job| {
                        let _ = recorded_id.set(job.id);
                        // The caller stopped waiting: the job goes on.
                        let _ = recorded.send(job.clone());
                    },
                )
            });
            let lost = match tokio::time::timeout(timeout, run).await {
                Ok(Ok(Ok(finished))) => {
                    let _ = done.send(finished);
                    return;
                }
                Ok(Ok(Err(e))) => {
                    match job_id.get() {
                        // Never recorded: the caller hears why.
                        None => {
                            let _ = refused.send(e);
                        }
                        Some(&id) => {
                            tracing::error!(job = id, error = %e, "cannot record the job's outcome")
                        }
                    }
                    return;
                }
                Ok(Err(join)) => (
                    ChipJobStatus::Failed,
                    format!("the job stopped unexpectedly: {join}"),
                ),
                Err(_) => (
                    ChipJobStatus::Interrupted,
                    format!(
                        "the card did not finish within {} s: check the reader, then present the card again",
                        timeout.as_secs()
                    ),
                ),
            };
            let Some(&id) = job_id.get() else {
                let _ = refused.send(ChipError::Storage(StorageError::Task(lost.1)));
                return;
            };
            let (status, error) = lost;
            // The job's own count is lost with it: keep what its phases
            // recorded.
            let apdus = store.get_chip_job(id).await.map_or(0, |j| j.apdus);
            let outcome = JobOutcome {
                status,
                result: None,
                error: Some(error),
                apdus,
                chip_id: None,
            };
            metrics::counter!("cardhub_chip_jobs_total", "status" => outcome.status.as_str())
                .increment(1);
            match store.finish_chip_job(id, outcome, actor).await {
                Ok(finished) => {
                    let _ = done.send(finished);
                }
                Err(e) => {
                    tracing::error!(job = id, error = %e, "cannot record the job's outcome")
                }
            }
        };
        work.into_actor(self)
            .map(|(), act, _| act.busy_with = None)
            .spawn(ctx);
    }

    /// Ends the PC/SC session of a card that left or came, keeping the
    /// reader's context for the next card (a running job holds the lock
    /// and ends the session itself when the card is found gone).
    fn forget_session(&mut self) {
        if let Ok(mut slot) = self.reader.try_lock() {
            engine::end_card_session(&mut slot);
        }
    }

    /// After a card arrives: if it carries an interrupted personalisation,
    /// take it up again.
    fn resume_if_interrupted(&mut self, ctx: &mut Context<Self>) {
        if !self.runtime.config.auto_resume || self.busy_with.is_some() {
            return;
        }
        let runtime = Arc::clone(&self.runtime);
        let reader = Arc::clone(&self.reader);
        let name = self.name.clone();
        async move {
            let chip_id = tokio::task::spawn_blocking(move || {
                let mut slot = reader.lock().unwrap_or_else(PoisonError::into_inner);
                engine::read_chip_id(&mut slot, &engine::pcsc_opener(&name))
            })
            .await
            .ok()?
            .ok()?;
            runtime
                .store
                .interrupted_personalisation(chip_id)
                .await
                .ok()
                .flatten()
        }
        .into_actor(self)
        .map(|job, act, ctx| {
            if let Some(job) = job
                && act.busy_with.is_none()
            {
                tracing::info!(reader = %act.name, job = job.id, "resuming an interrupted personalisation");
                let request = JobRequest::Resume {
                    job_id: job.id,
                    actor: engine::hub_actor(),
                };
                ctx.notify(Run(request));
            }
        })
        .spawn(ctx);
    }
}

impl Actor for ReaderActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Ok(mut slot) = self.reader.try_lock() {
            slot.take();
        }
    }
}

/// A card was inserted into the reader.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct CardArrived {
    pub atr: Atr,
}

impl Handler<CardArrived> for ReaderActor {
    type Result = ();

    fn handle(&mut self, msg: CardArrived, ctx: &mut Context<Self>) {
        tracing::info!(reader = %self.name, atr = %msg.atr, "card inserted");
        self.card = Some(msg.atr);
        self.forget_session();
        self.resume_if_interrupted(ctx);
    }
}

/// The card was taken out.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct CardLeft;

impl Handler<CardLeft> for ReaderActor {
    type Result = ();

    fn handle(&mut self, _: CardLeft, _: &mut Context<Self>) {
        tracing::info!(reader = %self.name, "card removed");
        self.card = None;
        self.forget_session();
    }
}

/// Asks what the reader is doing.
#[derive(Message)]
#[rtype(result = "ReaderInfo")]
pub(crate) struct Describe;

impl Handler<Describe> for ReaderActor {
    type Result = MessageResult<Describe>;

    fn handle(&mut self, _: Describe, _: &mut Context<Self>) -> Self::Result {
        MessageResult(ReaderInfo {
            name: self.name.clone(),
            card_atr: self.card.as_ref().map(ToString::to_string),
            busy_with: self.busy_with,
        })
    }
}

/// Runs a job on the card in this reader.
#[derive(Message)]
#[rtype(result = "Result<JobTicket, ChipError>")]
pub(crate) struct Run(pub JobRequest);

impl Handler<Run> for ReaderActor {
    type Result = ResponseActFuture<Self, Result<JobTicket, ChipError>>;

    fn handle(&mut self, Run(request): Run, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(job) = self.busy_with {
            let err = ChipError::ReaderBusy {
                reader: self.name.clone(),
                job,
            };
            return Box::pin(fut::ready(Err(err)));
        }
        // Claimed now, so a second request arriving while the job is being
        // recorded is refused rather than queued behind it.
        self.busy_with = Some(0);
        let (recorded_tx, recorded) = oneshot::channel();
        let (refused_tx, refused) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        self.start(request, recorded_tx, refused_tx, done_tx, ctx);
        let reader = self.name.clone();
        let ticket = async move {
            match recorded.await {
                Ok(job) => Ok(JobTicket { job, done }),
                Err(_) => Err(refused.await.unwrap_or(ChipError::ReaderStopped { reader })),
            }
        };
        Box::pin(ticket.into_actor(self).map(|ticket, act, _| {
            // Unless the job already ended.
            if let Ok(ticket) = &ticket
                && act.busy_with == Some(0)
            {
                act.busy_with = Some(ticket.job.id);
            }
            ticket
        }))
    }
}
