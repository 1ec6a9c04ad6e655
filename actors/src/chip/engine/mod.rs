//! The chip jobs themselves, as plain blocking code over a
//! [`CardReader`]: personalisation (resumed from what the card says), the
//! card check (验卡) and PIN operations. A [`super::ReaderActor`] runs them
//! on tokio's blocking pool; a production line can run them on threads of
//! its own.
//!
//! Two entry points:
//!
//! - [`run_job`]: a whole job. It records the job (`running`), runs it and
//!   records how it ended. The recording goes on while the first,
//!   read-only APDUs go out, on a lane of its own beside the job's reads;
//!   the engine waits for it before the first APDU that changes the card
//!   (a check changes nothing: it waits before its outcome).
//! - [`execute`]: the middle of a job already recorded by the caller, who
//!   records its [`JobOutcome`] after.
//!
//! Storage work that need not hold up the card runs on the job's storage
//! lane (`storage_lane`), a thread kept between jobs: the recording, the
//! reads of the card and its holder (while the card is observed), the phase
//! records (progress, written behind). Both entry points wait for all of it
//! before they return, so a job's outcome is always written after its last
//! phase. A personalisation binds the chip to the card on the lane too,
//! while the card is formatted, and waits for the binding before the first
//! APDU that writes the holder's records (`personalise`).
//!
//! - [`expected`]: what the database says the chip must carry.
//! - [`personalise`]: formatting and personalisation, step by step.
//! - [`check`]: the card check against the database.
//! - [`pin`]: PIN change, reset and unblock.
//!
//! What each job writes to the card comes from `cardhub_protocols::chip`
//! (the script builder, the record codecs, the PIN commands).

mod check;
mod expected;
mod personalise;
mod pin;

use std::cell::{Cell, OnceCell};

use cardhub_devices::reader::{CardReader, ReaderError, open_reader};
use cardhub_protocols::apdu::Command;
use cardhub_protocols::chip::commands;
use cardhub_protocols::chip::personalise::{self as script, CardObservation};
use cardhub_protocols::chip::profile;
use cardhub_protocols::chip::text;
use cardhub_protocols::roles::Role;
use cardhub_storage::chips::{self, ChipJob, ChipJobKind, ChipJobStatus, JobOutcome};
use cardhub_storage::{Actor, StorageError, Store};
use serde_json::Value;

use super::channel::{CardChannel, JobFailure};
use super::storage_lane::{Drained, Lane, Pending};
use super::{ChipError, ChipRuntime, JobRequest};

/// The actor the hub's own chip work is recorded under (resumptions, jobs
/// interrupted by a restart).
pub fn hub_actor() -> Actor {
    Actor::new("hub:chip", Role::WorkshopOperator)
}

/// A reader kept open between jobs; `None` until first needed, and again
/// after its card left.
pub type ReaderSlot = Option<Box<dyn CardReader>>;

/// Opens a reader for a [`ReaderSlot`].
pub type OpenReader<'a> = dyn Fn() -> Result<Box<dyn CardReader>, ReaderError> + 'a;

/// Opens the PC/SC reader called `name`.
pub fn pcsc_opener(name: &str) -> impl Fn() -> Result<Box<dyn CardReader>, ReaderError> + '_ {
    move || open_reader(name)
}

/// Runs `request` (recorded as `job`) on the card in the reader of `slot`,
/// opening it with `open` if it is not open yet. Never panics on card
/// input; every failure becomes the job's outcome, which the caller
/// records (every phase this wrote is in storage by the time it returns).
pub fn execute(
    slot: &mut ReaderSlot,
    open: &OpenReader<'_>,
    runtime: &ChipRuntime,
    job: &ChipJob,
    request: &JobRequest,
) -> JobOutcome {
    let lane = runtime.lanes.lane();
    let record = JobRecord::recorded(job.clone());
    let outcome = run(slot, open, &Job::new(runtime, &lane, &record), request);
    // The caller records the outcome once this returns.
    let _drained = lane.finish();
    outcome
}

/// A whole job on the card in the reader of `slot` (called `reader`):
/// records `request` as a job (`running`; an interrupted personalisation of
/// the same card is resumed instead), calls `recorded` with it, runs it and
/// records its outcome, which it returns.
///
/// The recording runs while the opening, read-only APDUs go out; no APDU
/// that changes the card is sent before it is stored, and `recorded` is
/// called (on another thread) as soon as it is. A refused recording (an
/// unknown card, a job that is not interrupted) is the error, and nothing
/// but reads reached the card. Never panics on card input.
pub fn run_job(
    slot: &mut ReaderSlot,
    open: &OpenReader<'_>,
    runtime: &ChipRuntime,
    reader: &str,
    request: &JobRequest,
    recorded: impl FnOnce(&ChipJob) + Send + 'static,
) -> Result<ChipJob, ChipError> {
    let lane = runtime.lanes.lane();
    // The recording goes on a lane of its own, so the reads the job queues
    // on `lane` (the card and its holder) run beside it, not after it.
    let recorder = runtime.lanes.lane();
    let (store, owned, name) = (runtime.store.clone(), request.clone(), reader.to_owned());
    let recording = recorder.read(move || {
        let job = owned.record_blocking(&store, &name);
        if let Ok(job) = &job {
            recorded(job);
        }
        job
    });
    let record = JobRecord::pending(recording);
    let outcome = run(slot, open, &Job::new(runtime, &lane, &record), request);
    let drained = lane.finish();
    let _recorded = recorder.finish();
    let job = record.into_job()?;
    Ok(record_outcome(
        runtime,
        job.id,
        &outcome,
        request.actor(),
        drained,
    )?)
}

/// Writes a job's outcome (with its audit entry), once its lane has run
/// every phase queued on it.
fn record_outcome(
    runtime: &ChipRuntime,
    job_id: i64,
    outcome: &JobOutcome,
    actor: &Actor,
    _after: Drained,
) -> Result<ChipJob, StorageError> {
    metrics::counter!("cardhub_chip_jobs_total", "status" => outcome.status.as_str()).increment(1);
    let hsm = runtime.store.hsm().as_ref();
    runtime
        .store
        .with_writer(|conn| chips::finish_job(conn, hsm, job_id, outcome, actor))
}

impl JobRequest {
    /// Records the job (`running`) on the calling thread.
    fn record_blocking(&self, store: &Store, reader: &str) -> Result<ChipJob, StorageError> {
        let hsm = store.hsm().as_ref();
        store.with_writer(|conn| match self {
            Self::Personalise { card_id, actor } => {
                // A personalisation of this card that was interrupted is
                // taken up again rather than started afresh.
                let waiting = chips::jobs_of_card(conn, *card_id)?.into_iter().rfind(|j| {
                    j.kind == ChipJobKind::Personalise && j.status == ChipJobStatus::Interrupted
                });
                match waiting {
                    Some(job) => chips::resume_job(conn, hsm, job.id, reader, actor),
                    None => chips::start_job(
                        conn,
                        hsm,
                        ChipJobKind::Personalise,
                        Some(*card_id),
                        reader,
                        actor,
                    ),
                }
            }
            Self::Check { card_id, actor, .. } => {
                chips::start_job(conn, hsm, ChipJobKind::Check, Some(*card_id), reader, actor)
            }
            Self::Pin { operation, actor } => {
                chips::start_job(conn, hsm, operation.kind(), None, reader, actor)
            }
            Self::Resume { job_id, actor } => chips::resume_job(conn, hsm, *job_id, reader, actor),
        })
    }
}

/// The job a run works for: recorded before the run began ([`execute`]),
/// or being recorded on its storage lane ([`run_job`]).
struct JobRecord {
    pending: Cell<Option<Pending<Result<ChipJob, StorageError>>>>,
    /// `None` inside: the lane's work panicked before it answered.
    job: OnceCell<Option<Result<ChipJob, StorageError>>>,
}

impl JobRecord {
    fn recorded(job: ChipJob) -> Self {
        Self {
            pending: Cell::new(None),
            job: OnceCell::from(Some(Ok(job))),
        }
    }

    fn pending(recording: Pending<Result<ChipJob, StorageError>>) -> Self {
        Self {
            pending: Cell::new(Some(recording)),
            job: OnceCell::new(),
        }
    }

    fn settle(&self) -> &Option<Result<ChipJob, StorageError>> {
        self.job
            .get_or_init(|| self.pending.take().and_then(Pending::wait))
    }

    /// The job as recorded, waiting for the recording if it is still under
    /// way: called before the first APDU that changes the card.
    fn job(&self) -> Result<&ChipJob, JobFailure> {
        match self.settle() {
            Some(Ok(job)) => Ok(job),
            Some(Err(e)) => Err(JobFailure::Failed(format!(
                "the job could not be recorded: {e}"
            ))),
            None => Err(JobFailure::Failed(STORAGE_THREAD_LOST.to_owned())),
        }
    }

    /// The job as recorded, or why it could not be.
    fn into_job(self) -> Result<ChipJob, ChipError> {
        self.settle();
        match self.job.into_inner().flatten() {
            Some(Ok(job)) => Ok(job),
            Some(Err(e)) => Err(ChipError::Storage(e)),
            None => Err(ChipError::Storage(StorageError::Task(
                STORAGE_THREAD_LOST.to_owned(),
            ))),
        }
    }
}

/// Why a job stops when its recording or a read panicked on the lane.
const STORAGE_THREAD_LOST: &str =
    "the chip job's storage work stopped unexpectedly: see the hub's log, then run the job again";

/// What the job functions need besides the card: the runtime, the job's
/// storage lane and its record.
#[derive(Clone, Copy)]
struct Job<'a> {
    runtime: &'a ChipRuntime,
    lane: &'a Lane<'a>,
    record: &'a JobRecord,
}

impl<'a> Job<'a> {
    fn new(runtime: &'a ChipRuntime, lane: &'a Lane<'a>, record: &'a JobRecord) -> Self {
        Self {
            runtime,
            lane,
            record,
        }
    }

    /// APDUs of this job so far, over all its attempts (waits for the
    /// recording, which knows the earlier ones).
    fn apdus(&self, chan: &CardChannel<'_>) -> Result<i32, JobFailure> {
        Ok(i32::try_from(chan.apdus())
            .unwrap_or(i32::MAX)
            .saturating_add(self.record.job()?.apdus))
    }

    /// Queues the record that the job completed phase `name`: written
    /// behind, in order, before the job's outcome.
    fn phase(
        &self,
        name: &'static str,
        chip: Option<&str>,
        chan: &CardChannel<'_>,
    ) -> Result<(), JobFailure> {
        let apdus = self.apdus(chan)?;
        let id = self.record.job()?.id;
        let chip = chip.map(str::to_owned);
        let store = self.runtime.store.clone();
        self.lane.write("a chip job's phase", move || {
            store.with_writer(|conn| chips::record_phase(conn, id, name, chip.as_deref(), apdus))
        });
        Ok(())
    }
}

/// Waits for a read queued on the job's lane.
fn wait<T>(pending: Pending<Result<T, JobFailure>>) -> Result<T, JobFailure> {
    pending
        .wait()
        .unwrap_or_else(|| Err(JobFailure::Failed(STORAGE_THREAD_LOST.to_owned())))
}

/// Runs the job, once more on a fresh session if the kept one was stale,
/// and says how it ended.
fn run(
    slot: &mut ReaderSlot,
    open: &OpenReader<'_>,
    job: &Job<'_>,
    request: &JobRequest,
) -> JobOutcome {
    let (mut result, mut apdus) = attempt(slot, open, job, request);
    if result.is_err() && apdus <= 1 {
        // The kept session went stale (the card was swapped faster than
        // pcscd polls, pcscd restarted): nothing reached the card, so try
        // once more on a fresh session.
        slot.take();
        (result, apdus) = attempt(slot, open, job, request);
    }
    // Over all the job's attempts: the recorded job counts the earlier ones
    // (0 if it could not be recorded: then the outcome is not written).
    let earlier = job.record.job().map_or(0, |j| j.apdus);
    let apdus = i32::try_from(apdus)
        .unwrap_or(i32::MAX)
        .saturating_add(earlier);
    match result {
        Ok(result) => JobOutcome {
            status: ChipJobStatus::Done,
            chip_id: result["chip_id"].as_str().map(str::to_owned),
            result: Some(result),
            error: None,
            apdus,
        },
        Err(JobFailure::Interrupted(e)) => {
            // The session is gone with the card; open afresh next time.
            slot.take();
            JobOutcome {
                status: ChipJobStatus::Interrupted,
                result: None,
                error: Some(e),
                apdus,
                chip_id: None,
            }
        }
        Err(JobFailure::Failed(e)) => {
            // A fresh session next time, whatever state this one is in.
            slot.take();
            JobOutcome {
                status: ChipJobStatus::Failed,
                result: None,
                error: Some(e),
                apdus,
                chip_id: None,
            }
        }
    }
}

/// One run of a job on the reader's current session; returns the APDUs
/// exchanged with the result.
fn attempt(
    slot: &mut ReaderSlot,
    open: &OpenReader<'_>,
    job: &Job<'_>,
    request: &JobRequest,
) -> (Result<Value, JobFailure>, u32) {
    let reader = match open_slot(slot, open) {
        Ok(reader) => reader,
        Err(e) => return (Err(e), 0),
    };
    let mut chan = match CardChannel::open(reader) {
        Ok(chan) => chan,
        Err(e) => return (Err(e), 0),
    };
    let result = dispatch(&mut chan, job, request);
    let apdus = chan.apdus();
    chan.close();
    (result, apdus)
}

/// The card identification code of the card in the reader.
pub fn read_chip_id(slot: &mut ReaderSlot, open: &OpenReader<'_>) -> Result<String, JobFailure> {
    let reader = open_slot(slot, open)?;
    let mut chan = CardChannel::open(reader)?;
    let id = read_card_id_code(&mut chan);
    chan.close();
    id
}

fn open_slot<'s>(
    slot: &'s mut ReaderSlot,
    open: &OpenReader<'_>,
) -> Result<&'s mut dyn CardReader, JobFailure> {
    if slot.is_none() {
        *slot = Some(open()?);
    }
    Ok(slot.as_mut().expect("opened above").as_mut())
}

/// What the card has: identification code, life cycle, files, keys and
/// every record ([`script::observe`]). Read-only: SELECT, GET DATA and
/// READ RECORD.
fn observe(chan: &mut CardChannel<'_>) -> Result<CardObservation, JobFailure> {
    script::observe(&mut |cmd: &Command| chan.exchange(cmd)).map_err(|e| match e {
        script::ObserveError::Exchange(failure) => failure,
        other => JobFailure::Failed(other.to_string()),
    })
}

/// SELECT MF and GET DATA: the card identification code (read-only).
fn read_card_id_code(chan: &mut CardChannel<'_>) -> Result<String, JobFailure> {
    chan.expect_ok(&commands::select_mf(), "SELECT MF")?;
    let get = commands::get_data(profile::get_data::CARD_ID_CODE);
    let data = chan.expect_ok(&get, "GET DATA (card identification code)")?;
    text::decode_ascii("card identification code", &data).map_err(|e| {
        JobFailure::Failed(format!("the card's identification code is unreadable: {e}"))
    })
}

fn dispatch(
    chan: &mut CardChannel<'_>,
    job: &Job<'_>,
    request: &JobRequest,
) -> Result<Value, JobFailure> {
    match request {
        JobRequest::Personalise { card_id, actor } => {
            personalise::personalise(chan, job, *card_id, actor)
        }
        JobRequest::Check {
            card_id,
            permit_chinese_name,
            ..
        } => check::check_card(chan, job, *card_id, permit_chinese_name.as_deref()),
        JobRequest::Pin { operation, .. } => pin::pin_operation(chan, job, operation),
        JobRequest::Resume { actor, .. } => {
            // What to resume is known once the job is.
            let (kind, card_id) = {
                let recorded = job.record.job()?;
                (recorded.kind, recorded.card_id)
            };
            match (kind, card_id) {
                (ChipJobKind::Personalise, Some(card_id)) => {
                    personalise::personalise(chan, job, card_id, actor)
                }
                (ChipJobKind::Check, Some(card_id)) => check::check_card(chan, job, card_id, None),
                (kind, _) => Err(JobFailure::Failed(format!(
                    "a {kind} job cannot be resumed: start it again"
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests;
