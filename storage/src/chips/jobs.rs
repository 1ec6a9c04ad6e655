//! [`ChipJob`]: one personalisation, card check or PIN operation on a chip
//! in a reader, from `running` to `done`, `failed` or `interrupted`, with
//! its phases and its audit entries (see the parent module).

use cardhub_protocols::crypto::Hsm;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::{parse_json, require_card, set_personalised};
use crate::audit::{self, AuditEntry};
use crate::connection::{DbConnection, on_backend, write_tx};
use crate::error::{StorageError, db, parse_column};
use crate::fixed::fixed_statement;
use crate::schema::chip_jobs;
use crate::{Actor, Store, utc_now};

/// What a [`ChipJob`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChipJobKind {
    /// 个人化: format the chip and write the holder's data.
    Personalise,
    /// 验卡: read the chip back and compare it with the database.
    Check,
    /// 修改密码: the holder changes the PIN.
    PinChange,
    /// 密码重置: the PIN is set anew without the old one.
    PinReset,
    /// 解锁: the PIN's retry counter is restored.
    PinUnblock,
}

stable_names!(ChipJobKind, "chip job kind", {
    Personalise => "personalise",
    Check => "check",
    PinChange => "pin-change",
    PinReset => "pin-reset",
    PinUnblock => "pin-unblock",
});

/// Where a [`ChipJob`] stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChipJobStatus {
    /// APDUs are being exchanged.
    Running,
    /// The card left the reader (or the hub stopped) before the end; the job
    /// resumes when the same chip is presented again.
    Interrupted,
    /// Finished; `result` says what was found.
    Done,
    /// Stopped for good; `error` says why and what to do.
    Failed,
}

stable_names!(ChipJobStatus, "chip job status", {
    Running => "running",
    Interrupted => "interrupted",
    Done => "done",
    Failed => "failed",
});

/// One operation on a chip in a reader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChipJob {
    /// Row id.
    pub id: i64,
    /// What it does.
    pub kind: ChipJobKind,
    /// The card, when known.
    pub card_id: Option<i64>,
    /// The chip's card identification code, once read.
    pub chip_id: Option<String>,
    /// The reader it ran (or last ran) in.
    pub reader: String,
    /// Where it stands.
    pub status: ChipJobStatus,
    /// The last phase reached (`observe`, `format`, `personalise`, ...).
    pub phase: String,
    /// APDUs exchanged so far, over all attempts.
    pub apdus: i32,
    /// How many times it was started (1 + resumptions).
    pub attempts: i32,
    /// What was found (mismatches of a check, the retry counter of a PIN
    /// operation ...).
    pub result: Option<serde_json::Value>,
    /// Why it failed or was interrupted.
    pub error: Option<String>,
    /// Who started it.
    pub actor: String,
    /// When created (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
    /// When it ended `done` or `failed`.
    pub finished_at: Option<NaiveDateTime>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = chip_jobs)]
struct ChipJobRow {
    id: i64,
    kind: String,
    card_id: Option<i64>,
    chip_id: Option<String>,
    reader: String,
    status: String,
    phase: String,
    apdus: i32,
    attempts: i32,
    result: Option<String>,
    error: Option<String>,
    actor: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    finished_at: Option<NaiveDateTime>,
}

impl TryFrom<ChipJobRow> for ChipJob {
    type Error = StorageError;

    fn try_from(row: ChipJobRow) -> Result<Self, StorageError> {
        Ok(ChipJob {
            id: row.id,
            kind: parse_column("chip_jobs.kind", &row.kind)?,
            card_id: row.card_id,
            chip_id: row.chip_id,
            reader: row.reader,
            status: parse_column("chip_jobs.status", &row.status)?,
            phase: row.phase,
            apdus: row.apdus,
            attempts: row.attempts,
            result: row
                .result
                .as_deref()
                .map(|r| parse_json("chip_jobs.result", r))
                .transpose()?,
            error: row.error,
            actor: row.actor,
            created_at: row.created_at,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
        })
    }
}

/// The job with this id.
pub fn get_job(conn: &mut DbConnection, id: i64) -> Result<ChipJob, StorageError> {
    on_backend!(conn, |c| chip_jobs::table
        .find(id)
        .select(ChipJobRow::as_select())
        .get_result(c))
    .optional()
    .map_err(db("read a chip job"))?
    .ok_or(StorageError::NotFound {
        what: "chip job",
        key: id.to_string(),
    })
    .and_then(ChipJob::try_from)
}

/// A card's jobs, oldest first.
pub fn jobs_of_card(conn: &mut DbConnection, card_id: i64) -> Result<Vec<ChipJob>, StorageError> {
    on_backend!(conn, |c| chip_jobs::table
        .filter(chip_jobs::card_id.eq(card_id))
        .order(chip_jobs::id.asc())
        .select(ChipJobRow::as_select())
        .load(c))
    .map_err(db("read a card's chip jobs"))?
    .into_iter()
    .map(ChipJob::try_from)
    .collect()
}

/// The most recent jobs, newest first.
pub fn recent_jobs(conn: &mut DbConnection, limit: i64) -> Result<Vec<ChipJob>, StorageError> {
    chip_jobs::table
        .order(chip_jobs::id.desc())
        .limit(limit.clamp(1, 1000))
        .select(ChipJobRow::as_select())
        .load(conn)
        .map_err(db("list chip jobs"))?
        .into_iter()
        .map(ChipJob::try_from)
        .collect()
}

/// The interrupted personalisation of the chip with this card
/// identification code, if one waits to be resumed.
pub fn interrupted_personalisation(
    conn: &mut DbConnection,
    chip_id: &str,
) -> Result<Option<ChipJob>, StorageError> {
    // Every card arrival asks this: no bound LIMIT (see the parent module);
    // a chip has at most a few interrupted jobs, the newest is taken.
    chip_jobs::table
        .filter(chip_jobs::chip_id.eq(chip_id))
        .filter(chip_jobs::kind.eq(ChipJobKind::Personalise.as_str()))
        .filter(chip_jobs::status.eq(ChipJobStatus::Interrupted.as_str()))
        .order(chip_jobs::id.desc())
        .select(ChipJobRow::as_select())
        .load(conn)
        .map_err(db("find an interrupted personalisation"))?
        .into_iter()
        .next()
        .map(ChipJob::try_from)
        .transpose()
}

/// Starts a job (`running`, phase `start`). Audited as `chip.<kind>.start`.
pub fn start_job(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    kind: ChipJobKind,
    card_id: Option<i64>,
    reader: &str,
    actor: &Actor,
) -> Result<ChipJob, StorageError> {
    write_tx(conn, |conn| {
        if let Some(card_id) = card_id {
            require_card(conn, card_id)?;
        }
        let now = utc_now();
        let job = ChipJob {
            id: 0,
            kind,
            card_id,
            chip_id: None,
            reader: reader.to_owned(),
            status: ChipJobStatus::Running,
            phase: "start".to_owned(),
            apdus: 0,
            attempts: 1,
            result: None,
            error: None,
            actor: actor.name.clone(),
            created_at: now,
            updated_at: now,
            finished_at: None,
        };
        let values = || {
            (
                chip_jobs::kind.eq(job.kind.as_str()),
                chip_jobs::card_id.eq(job.card_id),
                chip_jobs::reader.eq(&job.reader),
                chip_jobs::status.eq(job.status.as_str()),
                chip_jobs::phase.eq(&job.phase),
                chip_jobs::apdus.eq(job.apdus),
                chip_jobs::attempts.eq(job.attempts),
                chip_jobs::actor.eq(&job.actor),
                chip_jobs::created_at.eq(job.created_at),
                chip_jobs::updated_at.eq(job.updated_at),
            )
        };
        let id: i64 = match conn {
            // SQLite gathers a RETURNING's rows in a temporary b-tree; the
            // rowid of the insert is the connection's to ask for.
            DbConnection::Sqlite(c) => diesel::insert_into(chip_jobs::table)
                .values(values())
                .execute(c)
                .and_then(|_| LastInsertRowid {}.get_result(c)),
            DbConnection::Pg(c) => diesel::insert_into(chip_jobs::table)
                .values(values())
                .returning(chip_jobs::id)
                .get_result(c),
        }
        .map_err(db("start a chip job"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                format!("chip.{kind}.start"),
                job_subject(id),
                serde_json::json!({ "card_id": card_id, "reader": reader }),
            ),
        )?;
        // The row as written (no second read).
        Ok(ChipJob { id, ..job })
    })
}

/// Takes an `interrupted` job up again in `reader` (`running`, one more
/// attempt). Audited as `chip.<kind>.resume`. A job in any other status is
/// a [`StorageError::Conflict`].
pub fn resume_job(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    id: i64,
    reader: &str,
    actor: &Actor,
) -> Result<ChipJob, StorageError> {
    write_tx(conn, |conn| {
        let job = get_job(conn, id)?;
        if job.status != ChipJobStatus::Interrupted {
            return Err(StorageError::Conflict {
                what: format!(
                    "chip job {id} is {}, not interrupted: only an interrupted job resumes",
                    job.status
                ),
            });
        }
        let resumed = ChipJob {
            status: ChipJobStatus::Running,
            reader: reader.to_owned(),
            attempts: job.attempts + 1,
            error: None,
            updated_at: utc_now(),
            ..job.clone()
        };
        diesel::update(chip_jobs::table.find(id))
            .set((
                chip_jobs::status.eq(resumed.status.as_str()),
                chip_jobs::reader.eq(&resumed.reader),
                chip_jobs::attempts.eq(resumed.attempts),
                chip_jobs::error.eq(None::<String>),
                chip_jobs::updated_at.eq(resumed.updated_at),
            ))
            .execute(conn)
            .map_err(db("resume a chip job"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                format!("chip.{}.resume", job.kind),
                job_subject(id),
                serde_json::json!({
                    "reader": reader,
                    "attempt": resumed.attempts,
                    "from_phase": job.phase,
                }),
            ),
        )?;
        Ok(resumed)
    })
}

fixed_statement! {
    /// The rowid of the connection's last INSERT (SQLite).
    struct LastInsertRowid -> diesel::sql_types::BigInt {
        "SELECT last_insert_rowid()"
    }
}

fixed_statement! {
    /// A job's progress; a chip already recorded stays when none is given.
    struct RecordPhase<'a> {
        "UPDATE chip_jobs SET phase = ", phase: &'a str => diesel::sql_types::Text,
        ", chip_id = COALESCE(", chip_id: Option<&'a str> => diesel::sql_types::Nullable<diesel::sql_types::Text>,
        ", chip_id), apdus = ", apdus: i32 => diesel::sql_types::Integer,
        ", updated_at = ", now: NaiveDateTime => diesel::sql_types::Timestamp,
        " WHERE id = ", id: i64 => diesel::sql_types::BigInt,
        ""
    }
}

fixed_statement! {
    /// A running job's end: every column an outcome sets (a chip or phase
    /// not given stays), answered with the row as ended; no row if the job
    /// is not running.
    struct EndJob<'a> -> chip_jobs::SqlType {
        "UPDATE chip_jobs SET chip_id = COALESCE(", chip_id: Option<&'a str> => diesel::sql_types::Nullable<diesel::sql_types::Text>,
        ", chip_id), phase = COALESCE(", phase: Option<&'a str> => diesel::sql_types::Nullable<diesel::sql_types::Text>,
        ", phase), status = ", status: &'a str => diesel::sql_types::Text,
        ", result = ", result: Option<String> => diesel::sql_types::Nullable<diesel::sql_types::Text>,
        ", error = ", error: Option<&'a str> => diesel::sql_types::Nullable<diesel::sql_types::Text>,
        ", apdus = ", apdus: i32 => diesel::sql_types::Integer,
        ", updated_at = ", updated_at: NaiveDateTime => diesel::sql_types::Timestamp,
        ", finished_at = ", finished_at: Option<NaiveDateTime> => diesel::sql_types::Nullable<diesel::sql_types::Timestamp>,
        " WHERE id = ", id: i64 => diesel::sql_types::BigInt,
        // Every column, in the table's (and `ChipJobRow`'s) order.
        " AND status = 'running' RETURNING id, kind, card_id, chip_id, reader, status, phase, apdus, attempts, result, error, actor, created_at, updated_at, finished_at"
    }
}

fixed_statement! {
    /// A running job's end as `done`, every column that changes set: the
    /// row is then the job as recorded with these, so nothing is read
    /// back. Only the attempt that recorded it ends it (no row otherwise).
    struct EndJobDone<'a> {
        "UPDATE chip_jobs SET chip_id = ", chip_id: &'a str => diesel::sql_types::Text,
        ", phase = 'done', status = 'done', result = ", result: Option<String> => diesel::sql_types::Nullable<diesel::sql_types::Text>,
        ", error = NULL, apdus = ", apdus: i32 => diesel::sql_types::Integer,
        ", updated_at = ", updated_at: NaiveDateTime => diesel::sql_types::Timestamp,
        ", finished_at = ", finished_at: NaiveDateTime => diesel::sql_types::Timestamp,
        " WHERE id = ", id: i64 => diesel::sql_types::BigInt,
        " AND status = 'running' AND attempts = ", attempts: i32 => diesel::sql_types::Integer,
        ""
    }
}

/// Records progress: the phase reached, the chip once known, and the APDU
/// count so far. Not audited (the start and the end are).
pub fn record_phase(
    conn: &mut DbConnection,
    id: i64,
    phase: &str,
    chip_id: Option<&str>,
    apdus: i32,
) -> Result<(), StorageError> {
    let progress = RecordPhase {
        phase,
        chip_id,
        apdus,
        now: utc_now(),
        id,
    };
    let n =
        on_backend!(conn, |c| progress.execute(c)).map_err(db("record a chip job's progress"))?;
    if n == 0 {
        return Err(StorageError::NotFound {
            what: "chip job",
            key: id.to_string(),
        });
    }
    Ok(())
}

/// How a job ended (or paused).
#[derive(Clone, Debug, PartialEq)]
pub struct JobOutcome {
    /// `Done`, `Failed` or `Interrupted`.
    pub status: ChipJobStatus,
    /// What was found.
    pub result: Option<serde_json::Value>,
    /// Why it failed or was interrupted.
    pub error: Option<String>,
    /// APDUs exchanged so far, over all attempts.
    pub apdus: i32,
    /// The chip's card identification code, if the job read it and has not
    /// recorded it yet.
    pub chip_id: Option<String>,
}

/// Ends (or pauses, with `Interrupted`) a running job, in one statement
/// that answers with the row as ended. Audited as `chip.<kind>.<status>`
/// with the phase as ended (`done`, or the phase reached), the result and
/// the error. A personalisation
/// that ends `done` also marks its card's chip personalised, in the same
/// transaction. A job that is not
/// running is a [`StorageError::Conflict`]. `Running` is not an outcome and
/// is refused as [`StorageError::Invalid`].
pub fn finish_job(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    id: i64,
    outcome: &JobOutcome,
    actor: &Actor,
) -> Result<ChipJob, StorageError> {
    if outcome.status == ChipJobStatus::Running {
        return Err(StorageError::Invalid {
            what: "chip job outcome",
            reason: "`running` is not an outcome: use done, failed or interrupted".to_owned(),
        });
    }
    write_tx(conn, |conn| {
        let now = utc_now();
        let end = EndJob {
            chip_id: outcome.chip_id.as_deref(),
            phase: (outcome.status == ChipJobStatus::Done).then_some("done"),
            status: outcome.status.as_str(),
            result: outcome.result.as_ref().map(|r| r.to_string()),
            error: outcome.error.as_deref(),
            apdus: outcome.apdus,
            updated_at: now,
            finished_at: (outcome.status != ChipJobStatus::Interrupted).then_some(now),
            id,
        };
        // One statement: the row as ended, or none if the job is not running.
        let ended = on_backend!(conn, |c| end.get_result::<ChipJobRow>(c))
            .optional()
            .map_err(db("finish a chip job"))?;
        let Some(ended) = ended else {
            let job = get_job(conn, id)?;
            return Err(StorageError::Conflict {
                what: format!("chip job {id} is already {}", job.status),
            });
        };
        let ended = ChipJob::try_from(ended)?;
        record_end(conn, hsm, &ended, outcome, actor, now)?;
        Ok(ended)
    })
}

/// Ends a running job as [`finish_job`] does, for the runner that
/// recorded it: `recorded` is the job as its start (or resumption) wrote
/// it. An outcome `done` that names its chip sets every column that
/// changes, so the job as ended is `recorded` with them and is not read
/// back; only the attempt `recorded` was written by ends it (a job taken
/// up again since is a [`StorageError::Conflict`]). Any other outcome
/// keeps what the job's phases wrote and goes through [`finish_job`].
pub fn finish_recorded_job(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    recorded: &ChipJob,
    outcome: &JobOutcome,
    actor: &Actor,
) -> Result<ChipJob, StorageError> {
    let (ChipJobStatus::Done, Some(chip_id)) = (outcome.status, outcome.chip_id.as_deref()) else {
        return finish_job(conn, hsm, recorded.id, outcome, actor);
    };
    write_tx(conn, |conn| {
        let now = utc_now();
        let end = EndJobDone {
            chip_id,
            result: outcome.result.as_ref().map(|r| r.to_string()),
            apdus: outcome.apdus,
            updated_at: now,
            finished_at: now,
            id: recorded.id,
            attempts: recorded.attempts,
        };
        let n = on_backend!(conn, |c| end.execute(c)).map_err(db("finish a chip job"))?;
        if n != 1 {
            let job = get_job(conn, recorded.id)?;
            return Err(StorageError::Conflict {
                what: if job.attempts == recorded.attempts {
                    format!("chip job {} is already {}", job.id, job.status)
                } else {
                    format!(
                        "chip job {} was taken up again (attempt {} of it is {}): \
                         attempt {} no longer ends it",
                        job.id, job.attempts, job.status, recorded.attempts
                    )
                },
            });
        }
        let ended = ChipJob {
            chip_id: Some(chip_id.to_owned()),
            status: ChipJobStatus::Done,
            phase: "done".to_owned(),
            apdus: outcome.apdus,
            result: outcome.result.clone(),
            error: None,
            updated_at: now,
            finished_at: Some(now),
            ..recorded.clone()
        };
        record_end(conn, hsm, &ended, outcome, actor, now)?;
        Ok(ended)
    })
}

/// What every end writes besides the job's row: a personalisation ended
/// `done` marks its card's chip personalised, and the end is audited.
fn record_end(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    ended: &ChipJob,
    outcome: &JobOutcome,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<(), StorageError> {
    if ended.kind == ChipJobKind::Personalise
        && ended.status == ChipJobStatus::Done
        && let Some(card_id) = ended.card_id
    {
        // A personalisation that bound no chip ends without marking one.
        set_personalised(conn, card_id, now)?;
    }
    audit::append(
        conn,
        hsm,
        &AuditEntry::new(
            actor,
            format!("chip.{}.{}", ended.kind, ended.status),
            job_subject(ended.id),
            serde_json::json!({
                "card_id": ended.card_id,
                "chip_id": ended.chip_id,
                "reader": ended.reader,
                "phase": ended.phase,
                "apdus": ended.apdus,
                "result": outcome.result,
                "error": outcome.error,
            }),
        ),
    )?;
    Ok(())
}

/// Marks every `running` job `interrupted` (at start-up: the hub stopped
/// while they ran). Returns how many. Each is audited as
/// `chip.<kind>.interrupted`.
pub fn interrupt_running_jobs(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    reason: &str,
    actor: &Actor,
) -> Result<usize, StorageError> {
    let running: Vec<(i64, i32)> = chip_jobs::table
        .filter(chip_jobs::status.eq(ChipJobStatus::Running.as_str()))
        .select((chip_jobs::id, chip_jobs::apdus))
        .load(conn)
        .map_err(db("list running chip jobs"))?;
    for &(id, apdus) in &running {
        finish_job(
            conn,
            hsm,
            id,
            &JobOutcome {
                status: ChipJobStatus::Interrupted,
                result: None,
                error: Some(reason.to_owned()),
                apdus,
                chip_id: None,
            },
            actor,
        )?;
    }
    Ok(running.len())
}

fn job_subject(id: i64) -> String {
    format!("chip-job:{id}")
}

impl Store {
    /// [`get_job`] on the blocking pool.
    pub async fn get_chip_job(&self, id: i64) -> Result<ChipJob, StorageError> {
        self.run("chips.get_job", move |conn| get_job(conn, id))
            .await
    }

    /// [`jobs_of_card`] on the blocking pool.
    pub async fn chip_jobs_of_card(&self, card_id: i64) -> Result<Vec<ChipJob>, StorageError> {
        self.run("chips.jobs_of_card", move |conn| {
            jobs_of_card(conn, card_id)
        })
        .await
    }

    /// [`interrupted_personalisation`] on the blocking pool.
    pub async fn interrupted_personalisation(
        &self,
        chip_id: String,
    ) -> Result<Option<ChipJob>, StorageError> {
        self.run("chips.interrupted", move |conn| {
            interrupted_personalisation(conn, &chip_id)
        })
        .await
    }

    /// [`start_job`] on the blocking pool.
    pub async fn start_chip_job(
        &self,
        kind: ChipJobKind,
        card_id: Option<i64>,
        reader: String,
        actor: Actor,
    ) -> Result<ChipJob, StorageError> {
        let hsm = self.hsm().clone();
        self.write("chips.start_job", move |conn| {
            start_job(conn, hsm.as_ref(), kind, card_id, &reader, &actor)
        })
        .await
    }

    /// [`resume_job`] on the blocking pool.
    pub async fn resume_chip_job(
        &self,
        id: i64,
        reader: String,
        actor: Actor,
    ) -> Result<ChipJob, StorageError> {
        let hsm = self.hsm().clone();
        self.write("chips.resume_job", move |conn| {
            resume_job(conn, hsm.as_ref(), id, &reader, &actor)
        })
        .await
    }

    /// [`finish_job`] on the blocking pool.
    pub async fn finish_chip_job(
        &self,
        id: i64,
        outcome: JobOutcome,
        actor: Actor,
    ) -> Result<ChipJob, StorageError> {
        let hsm = self.hsm().clone();
        self.write("chips.finish_job", move |conn| {
            finish_job(conn, hsm.as_ref(), id, &outcome, &actor)
        })
        .await
    }

    /// [`interrupt_running_jobs`] on the blocking pool.
    pub async fn interrupt_running_chip_jobs(
        &self,
        reason: String,
        actor: Actor,
    ) -> Result<usize, StorageError> {
        let hsm = self.hsm().clone();
        self.write("chips.interrupt_running", move |conn| {
            interrupt_running_jobs(conn, hsm.as_ref(), &reason, &actor)
        })
        .await
    }
}
