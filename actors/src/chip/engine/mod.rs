//! The chip jobs themselves, as plain blocking code over a
//! [`CardReader`]: personalisation (resumed from what the card says), the
//! card check (验卡) and PIN operations. A [`super::ReaderActor`] runs them
//! on tokio's blocking pool; a production line can run them on threads of
//! its own.
//!
//! Three entry points:
//!
//! - [`run_job`]: a whole job. It records the job (`running`), runs it and
//!   records how it ended. The recording goes on while the first,
//!   read-only APDUs go out, on a lane of its own beside the job's reads;
//!   the engine waits for it before the first APDU that changes the card
//!   (a check changes nothing: it waits before its outcome).
//! - [`run_job_then`]: two whole jobs on one card (a personalisation and
//!   its check), the first's outcome written while the second's opening
//!   APDUs go out.
//! - [`execute`]: the middle of a job already recorded by the caller, who
//!   records its [`JobOutcome`] after.
//!
//! Storage work that need not hold up the card runs on the job's storage
//! lane (`storage_lane`), a thread kept between jobs: the recording, with
//! the reads of the card and its holder in the same transaction on the
//! writer's connection (while the card is observed), and the phase records
//! (progress, written behind). Both entry points wait for all of it
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

use std::cell::{Cell, OnceCell, RefCell};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cardhub_devices::reader::{CardReader, ReaderError, open_reader};
use cardhub_protocols::apdu::Command;
use cardhub_protocols::chip::commands;
use cardhub_protocols::chip::personalise::{self as script, CardObservation};
use cardhub_protocols::chip::profile;
use cardhub_protocols::chip::text;
use cardhub_protocols::crypto::Hsm;
use cardhub_protocols::roles::Role;
use cardhub_storage::chips::{self, ChipJob, ChipJobKind, ChipJobStatus, JobOutcome};
use cardhub_storage::{Actor, DbConnection, StorageError, Store, snapshot_tx, write_tx};
use serde_json::Value;

use self::expected::{CardOnRecord, read_card, read_card_in};
use super::channel::{CardChannel, JobFailure};
use super::storage_lane::{Drained, Lane, Pending};
use super::{ChipError, ChipRuntime, JobRequest};

/// The actor the hub's own chip work is recorded under (resumptions, jobs
/// interrupted by a restart).
pub fn hub_actor() -> Actor {
    Actor::new("hub:chip", Role::WorkshopOperator)
}

/// A reader kept open between jobs and from card to card; `None` until
/// first needed, and again after a job failed on it.
pub type ReaderSlot = Option<Box<dyn CardReader>>;

/// Ends the session with the card in the reader of `slot` (the card left,
/// or another came), keeping the reader and its PC/SC context for the
/// next card; a session that will not end drops the reader, which is then
/// opened afresh.
pub fn end_card_session(slot: &mut ReaderSlot) {
    if let Some(reader) = slot.as_mut()
        && let Err(e) = reader.disconnect()
    {
        tracing::debug!(reader = reader.name(), error = %e, "dropping a reader whose card session would not end");
        slot.take();
    }
}

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
    // The recording goes on a lane of its own, so the reads the job queues
    // on its own lane (the card and its holder) run beside it, not after.
    let recorder = runtime.lanes.lane();
    let ran = run_recorded(slot, open, runtime, &recorder, reader, request, recorded);
    let _recorded = recorder.finish();
    ran.record(runtime, request.actor())
}

/// A whole job as [`run_job`] runs it, then, if it ended `done`, a second
/// one on the same card (a personalisation, then its card check): the
/// first's outcome is written while the second's opening, read-only APDUs
/// go out, and the second is recorded after it, on the same lane. The
/// second's first APDU that changes the card still waits for its own
/// recording, so for the first's outcome too; a check changes nothing.
///
/// Returns both jobs as recorded once both outcomes are stored; the
/// second is `None` when the first did not end `done` (it is then not
/// started). A storage error of either outcome is the error, after the
/// other outcome was written: no job is left `running` by this.
pub fn run_job_then(
    slot: &mut ReaderSlot,
    open: &OpenReader<'_>,
    runtime: &ChipRuntime,
    reader: &str,
    first: &JobRequest,
    then: &JobRequest,
) -> Result<(ChipJob, Option<ChipJob>), ChipError> {
    let recorder = runtime.lanes.lane();
    let ran = run_recorded(
        slot,
        open,
        runtime,
        &recorder,
        reader,
        first,
        |_: &ChipJob| {},
    );
    if ran.outcome.status != ChipJobStatus::Done {
        let _recorded = recorder.finish();
        return Ok((ran.record(runtime, first.actor())?, None));
    }
    let Ran {
        outcome,
        record,
        drained,
    } = ran;
    let (first_done, first_job) = mpsc::sync_channel(1);
    let prior = Prior {
        job: record.into_job()?,
        outcome,
        actor: first.actor().clone(),
        drained,
        done: first_done,
    };
    let second = run_recorded(slot, open, runtime, &recorder, reader, then, prior);
    let _recorded = recorder.finish();
    let first_job = first_job
        .recv()
        .unwrap_or_else(|_| Err(StorageError::Task(STORAGE_THREAD_LOST.to_owned())));
    let second_job = second.record(runtime, then.actor());
    Ok((first_job?, Some(second_job?)))
}

/// The outcome of the job before, written in one transaction with the
/// next job's recording ([`run_job_then`]).
struct Prior {
    /// The job before, as recorded.
    job: ChipJob,
    outcome: JobOutcome,
    actor: Actor,
    drained: Drained,
    /// Where the job before, as recorded, goes.
    done: mpsc::SyncSender<Result<ChipJob, StorageError>>,
}

/// What comes before a job's recording on its lane.
trait BeforeRecording: Send + 'static {
    /// Records the job with `record` (in this transaction, if it can).
    fn record(
        self,
        store: &Store,
        record: impl FnMut(&mut DbConnection) -> Result<Recorded, StorageError>,
    ) -> Result<Recorded, StorageError>;
}

/// Nothing before: the job recorded on its own, calling back with it.
impl<F: FnOnce(&ChipJob) + Send + 'static> BeforeRecording for F {
    fn record(
        self,
        store: &Store,
        record: impl FnMut(&mut DbConnection) -> Result<Recorded, StorageError>,
    ) -> Result<Recorded, StorageError> {
        let recorded = store.with_writer(record);
        if let Ok(recorded) = &recorded {
            self(&recorded.job);
        }
        recorded
    }
}

impl BeforeRecording for Prior {
    fn record(
        self,
        store: &Store,
        mut record: impl FnMut(&mut DbConnection) -> Result<Recorded, StorageError>,
    ) -> Result<Recorded, StorageError> {
        let Prior {
            job,
            outcome,
            actor,
            drained,
            done,
        } = self;
        let hsm = store.hsm().as_ref();
        let finish =
            |conn: &mut DbConnection| chips::finish_recorded_job(conn, hsm, &job, &outcome, &actor);
        let written = store.with_writer(|conn| {
            let both = write_tx(conn, |conn| Ok((finish(conn)?, record(conn)?)));
            Ok(match both {
                Ok((ended, started)) => (Ok(ended), Ok(started)),
                // Each on its own, for each one's own error: the job
                // before must end whatever becomes of the next.
                Err(_) => (finish(conn), record(conn)),
            })
        });
        count_outcome(&outcome, drained);
        match written {
            Ok((ended, started)) => {
                let _ = done.send(ended);
                started
            }
            Err(e) => {
                let _ = done.send(Err(StorageError::Task(format!(
                    "the job's end could not be written: {e}"
                ))));
                Err(e)
            }
        }
    }
}

/// A job run, its outcome not yet written.
struct Ran {
    outcome: JobOutcome,
    record: JobRecord,
    drained: Drained,
}

impl Ran {
    /// Writes the outcome on this thread (the job's recorder lane must be
    /// finished: the recording is waited for).
    fn record(self, runtime: &ChipRuntime, actor: &Actor) -> Result<ChipJob, ChipError> {
        let job = self.record.into_job()?;
        Ok(record_outcome(
            &runtime.store,
            &job,
            &self.outcome,
            actor,
            self.drained,
        )?)
    }
}

/// Records `request` on `recorder` (after whatever is queued there) while
/// the job's first, read-only APDUs go out, and runs it; every phase it
/// queued is written by the time this returns.
fn run_recorded(
    slot: &mut ReaderSlot,
    open: &OpenReader<'_>,
    runtime: &ChipRuntime,
    recorder: &Lane<'_>,
    reader: &str,
    request: &JobRequest,
    before: impl BeforeRecording,
) -> Ran {
    let lane = runtime.lanes.lane();
    let (store, owned, name) = (runtime.store.clone(), request.clone(), reader.to_owned());
    let reads = request.reads();
    let recording = recorder.read(move || {
        let hsm = store.hsm().clone();
        before.record(&store, |conn| {
            owned.record_reading(conn, hsm.as_ref(), &name)
        })
    });
    let record = JobRecord::pending(recording, reads);
    let outcome = run(slot, open, &Job::new(runtime, &lane, &record), request);
    let drained = lane.finish();
    Ran {
        outcome,
        record,
        drained,
    }
}

/// Writes a job's outcome (with its audit entry), once its lane has run
/// every phase queued on it.
fn record_outcome(
    store: &Store,
    job: &ChipJob,
    outcome: &JobOutcome,
    actor: &Actor,
    after: Drained,
) -> Result<ChipJob, StorageError> {
    let hsm = store.hsm().as_ref();
    let ended =
        store.with_writer(|conn| chips::finish_recorded_job(conn, hsm, job, outcome, actor));
    count_outcome(outcome, after);
    ended
}

/// Counts a job's end in the metrics.
fn count_outcome(outcome: &JobOutcome, _after: Drained) {
    metrics::counter!("cardhub_chip_jobs_total", "status" => outcome.status.as_str()).increment(1);
}

/// A card a job reads as stored: its row, its holder and, with `binding`,
/// the chip bound to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CardToRead {
    card_id: i64,
    binding: bool,
}

/// A job's recording: the job as recorded and, for a job that names its
/// card, the card as read in the same transaction.
struct Recorded {
    job: ChipJob,
    card: Option<Result<CardOnRecord, JobFailure>>,
}

impl JobRequest {
    /// The card the job reads, if the request names it: a
    /// personalisation reads the card and its holder, a check the chip
    /// bound to it too. A resumption knows its card only once recorded.
    fn reads(&self) -> Option<CardToRead> {
        match self {
            Self::Personalise { card_id, .. } => Some(CardToRead {
                card_id: *card_id,
                binding: false,
            }),
            Self::Check { card_id, .. } => Some(CardToRead {
                card_id: *card_id,
                binding: true,
            }),
            Self::Pin { .. } | Self::Resume { .. } => None,
        }
    }

    /// Records the job (`running`) on `conn` and reads its card
    /// ([`JobRequest::reads`]) in the same transaction. A read that fails
    /// is the job's failure, not the recording's: then the job is
    /// recorded on its own, and the read's error (read again, on its own)
    /// goes with it.
    fn record_reading(
        &self,
        conn: &mut DbConnection,
        hsm: &dyn Hsm,
        reader: &str,
    ) -> Result<Recorded, StorageError> {
        let Some(CardToRead { card_id, binding }) = self.reads() else {
            let job = self.record_in(conn, hsm, reader)?;
            return Ok(Recorded { job, card: None });
        };
        let read = |conn: &mut DbConnection| read_card_in(conn, hsm, card_id, binding);
        let both = write_tx(conn, |conn| {
            let job = self.record_in(conn, hsm, reader)?;
            Ok((job, read(conn)?))
        });
        Ok(match both {
            Ok((job, card)) => Recorded {
                job,
                card: Some(Ok(card)),
            },
            Err(_) => Recorded {
                job: self.record_in(conn, hsm, reader)?,
                card: Some(snapshot_tx(conn, read).map_err(JobFailure::from)),
            },
        })
    }

    /// Records the job (`running`) on `conn`.
    fn record_in(
        &self,
        conn: &mut DbConnection,
        hsm: &dyn Hsm,
        reader: &str,
    ) -> Result<ChipJob, StorageError> {
        match self {
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
        }
    }
}

/// The job a run works for: recorded before the run began ([`execute`]),
/// or being recorded on its storage lane ([`run_job`]).
struct JobRecord {
    pending: Cell<Option<Pending<Result<Recorded, StorageError>>>>,
    /// `None` inside: the lane's work panicked before it answered.
    job: OnceCell<Option<Result<ChipJob, StorageError>>>,
    /// The card the recording reads, if it reads one.
    reads: Option<CardToRead>,
    /// The card as the recording read it, until the job takes it.
    card: RefCell<Option<Result<CardOnRecord, JobFailure>>>,
    /// When the job's progress was last written (its start, at first).
    progress_at: Cell<Instant>,
    /// A phase reached but not written yet: it came too soon after the
    /// last record ([`PROGRESS_INTERVAL`]).
    unwritten: RefCell<Option<PhaseRecord>>,
}

/// How often at most a job's phases are written while it runs. A real
/// card takes seconds over a personalisation, so each phase is written as
/// it is reached; a job quicker than this writes only its start and its
/// end, and an end that is not `done` writes the phase it reached first.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// A phase to write: its name, the chip, the APDUs so far.
struct PhaseRecord {
    name: &'static str,
    chip: Option<String>,
    apdus: i32,
}

impl JobRecord {
    fn recorded(job: ChipJob) -> Self {
        Self::with(Cell::new(None), OnceCell::from(Some(Ok(job))), None)
    }

    fn pending(
        recording: Pending<Result<Recorded, StorageError>>,
        reads: Option<CardToRead>,
    ) -> Self {
        Self::with(Cell::new(Some(recording)), OnceCell::new(), reads)
    }

    fn with(
        pending: Cell<Option<Pending<Result<Recorded, StorageError>>>>,
        job: OnceCell<Option<Result<ChipJob, StorageError>>>,
        reads: Option<CardToRead>,
    ) -> Self {
        Self {
            pending,
            job,
            reads,
            card: RefCell::new(None),
            progress_at: Cell::new(Instant::now()),
            unwritten: RefCell::new(None),
        }
    }

    fn settle(&self) -> &Option<Result<ChipJob, StorageError>> {
        self.job.get_or_init(|| {
            let recorded = self.pending.take().and_then(Pending::wait)?;
            Some(recorded.map(|Recorded { job, card }| {
                *self.card.borrow_mut() = card;
                job
            }))
        })
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

    /// The card `card_id` as stored (with the chip bound to it, with
    /// `binding`): read by the job's recording if it read that card, or
    /// now, on the job's lane, beside the APDUs that follow.
    fn card(&self, card_id: i64, binding: bool) -> CardRead<'a> {
        let wanted = CardToRead { card_id, binding };
        if self.record.reads == Some(wanted) {
            return CardRead::Recording(self.record);
        }
        let store = self.runtime.store.clone();
        CardRead::Lane(self.lane.read(move || read_card(&store, card_id, binding)))
    }

    /// APDUs of this job so far, over all its attempts (waits for the
    /// recording, which knows the earlier ones).
    fn apdus(&self, chan: &CardChannel<'_>) -> Result<i32, JobFailure> {
        Ok(i32::try_from(chan.apdus())
            .unwrap_or(i32::MAX)
            .saturating_add(self.record.job()?.apdus))
    }

    /// Notes that the job completed phase `name`. The record is written
    /// behind, in order, before the job's outcome; or, when the last
    /// record is less than [`PROGRESS_INTERVAL`] old, kept for later
    /// ([`Job::flush_progress`]).
    fn phase(
        &self,
        name: &'static str,
        chip: Option<&str>,
        chan: &CardChannel<'_>,
    ) -> Result<(), JobFailure> {
        let phase = PhaseRecord {
            name,
            chip: chip.map(str::to_owned),
            apdus: self.apdus(chan)?,
        };
        if self.record.progress_at.get().elapsed() < PROGRESS_INTERVAL {
            *self.record.unwritten.borrow_mut() = Some(phase);
            return Ok(());
        }
        self.write_phase(phase)
    }

    /// Writes the phase kept back by [`Job::phase`], if any: before an end
    /// that is not `done` (which keeps the phase last written).
    fn flush_progress(&self) -> Result<(), JobFailure> {
        let unwritten = self.record.unwritten.borrow_mut().take();
        match unwritten {
            Some(phase) => self.write_phase(phase),
            None => Ok(()),
        }
    }

    fn write_phase(&self, phase: PhaseRecord) -> Result<(), JobFailure> {
        let id = self.record.job()?.id;
        let store = self.runtime.store.clone();
        self.record.progress_at.set(Instant::now());
        self.record.unwritten.borrow_mut().take();
        self.lane.write("a chip job's phase", move || {
            store.with_writer(|conn| {
                chips::record_phase(conn, id, phase.name, phase.chip.as_deref(), phase.apdus)
            })
        });
        Ok(())
    }
}

/// A card being read for a job ([`Job::card`]).
enum CardRead<'a> {
    /// By the job's recording.
    Recording(&'a JobRecord),
    /// On the job's lane.
    Lane(Pending<Result<CardOnRecord, JobFailure>>),
}

impl CardRead<'_> {
    /// The card as read; waits for the recording or the read.
    fn wait(self) -> Result<CardOnRecord, JobFailure> {
        match self {
            Self::Recording(record) => {
                record.job()?;
                record
                    .card
                    .borrow_mut()
                    .take()
                    .unwrap_or_else(|| Err(JobFailure::Failed(STORAGE_THREAD_LOST.to_owned())))
            }
            Self::Lane(pending) => wait(pending),
        }
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
    if result.is_err() {
        // Where it got to, for the people who take it up again (a job
        // whose recording failed has nothing to write it to).
        let _ = job.flush_progress();
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
            // The session is gone with the card; the reader stays.
            end_card_session(slot);
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
