//! Production steps: every step a card goes through on a line (feed, chip,
//! contactless check, print, overlay, QC, eject, and the queue's own
//! `claimed`, `released`, `waste`, `failed`, `retried` and `done`) is
//! persisted before the line acknowledges it, so a restarted line resumes
//! each card from its last step. A step that must not be repeated (print,
//! overlay) is marked begun (`print:begun`, [`BEGUN_SUFFIX`]) before the
//! line sends it, so a hub restarted mid-step knows the card may already
//! be printed. Completion ends the task and readies the card's envelope.

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::claim::{STEP_CLAIMED, STEP_RELEASED};
use super::control::{STEP_FAILED, STEP_RETRIED};
use super::envelopes::insert_envelope;
use super::tasks::task_subject;
use super::waste::STEP_WASTE;
use super::{Task, TaskStatus, check_name, get_task, parse_json};
use crate::audit::{self, AuditEntry};
use crate::cards;
use crate::connection::{DbConnection, on_backend, write_tx};
use crate::error::{StorageError, db, parse_column};
use crate::fixed::fixed_statement;
use crate::schema::production_steps;
use crate::{Actor, Store, utc_now};

fixed_statement! {
    /// A task's step and last error, as a step begins or ends.
    struct SetStep<'a> {
        "UPDATE making_card_tasks SET step = ", step: Option<&'a str> => diesel::sql_types::Nullable<diesel::sql_types::Text>,
        ", last_error = ", last_error: Option<&'a str> => diesel::sql_types::Nullable<diesel::sql_types::Text>,
        ", updated_at = ", now: NaiveDateTime => diesel::sql_types::Timestamp,
        " WHERE id = ", id: i64 => diesel::sql_types::BigInt,
        ""
    }
}

fixed_statement! {
    /// A task made: its card went through every step.
    struct CompleteTask<'a> {
        "UPDATE making_card_tasks SET status = ", status: &'a str => diesel::sql_types::Text,
        ", step = ", step: &'a str => diesel::sql_types::Text,
        ", finished_at = ", finished_at: NaiveDateTime => diesel::sql_types::Timestamp,
        ", updated_at = ", updated_at: NaiveDateTime => diesel::sql_types::Timestamp,
        " WHERE id = ", id: i64 => diesel::sql_types::BigInt,
        ""
    }
}

/// The step name of a completion.
pub const STEP_DONE: &str = "done";

/// Step names the queue writes itself; [`record_step`] refuses them.
const RESERVED_STEPS: [&str; 6] = [
    STEP_CLAIMED,
    STEP_RELEASED,
    STEP_DONE,
    STEP_WASTE,
    STEP_FAILED,
    STEP_RETRIED,
];

/// Appended to a step's name in the task's `step` column while that step
/// is under way: `print:begun` means the print was (or may have been) sent
/// to the printer and has not been recorded done. A line resuming such a
/// task must not send the step again blindly: the card may be printed.
pub const BEGUN_SUFFIX: &str = ":begun";

/// The step a task's `step` column marks as begun (`print` for
/// `print:begun`), or `None` for a finished step's name.
pub fn begun_step(step: &str) -> Option<&str> {
    step.strip_suffix(BEGUN_SUFFIX)
        .filter(|name| !name.is_empty())
}

/// Checks a line step's name: a short identifier, neither one of the
/// queue's own names nor a begun marker.
fn check_line_step(step: &str) -> Result<(), StorageError> {
    check_name("step", step)?;
    if RESERVED_STEPS.contains(&step) {
        return Err(StorageError::Invalid {
            what: "step",
            reason: format!(
                "`{step}` is written by the queue itself (claim, release, waste, failure, retry, completion); name the line's step"
            ),
        });
    }
    if step.ends_with(BEGUN_SUFFIX) {
        return Err(StorageError::Invalid {
            what: "step",
            reason: format!(
                "`{step}` ends in `{BEGUN_SUFFIX}`, the queue's marker of a step under way; name the step itself"
            ),
        });
    }
    Ok(())
}

/// How a step went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepOutcome {
    /// The step succeeded.
    Done,
    /// The step failed (the detail says how).
    Failed,
}

stable_names!(StepOutcome, "step outcome", {
    Done => "done",
    Failed => "failed",
});

/// One persisted step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepRecord {
    /// Row id (steps of a task are in id order).
    pub id: i64,
    /// The task.
    pub task_id: i64,
    /// The card the step worked on (a remade card has its own steps).
    pub card_id: i64,
    /// The task's attempt (physical card) it belongs to.
    pub attempt: i32,
    /// The step's name.
    pub step: String,
    /// How it went.
    pub outcome: StepOutcome,
    /// The line.
    pub line: Option<String>,
    /// The printer.
    pub printer: Option<String>,
    /// What the device reported (JSON object).
    pub detail: serde_json::Value,
    /// When (UTC).
    pub at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = production_steps)]
pub(super) struct StepRow {
    id: i64,
    task_id: i64,
    card_id: i64,
    attempt: i32,
    step: String,
    outcome: String,
    line: Option<String>,
    printer: Option<String>,
    detail: String,
    at: NaiveDateTime,
}

impl TryFrom<StepRow> for StepRecord {
    type Error = StorageError;

    fn try_from(row: StepRow) -> Result<Self, StorageError> {
        Ok(StepRecord {
            id: row.id,
            task_id: row.task_id,
            card_id: row.card_id,
            attempt: row.attempt,
            step: row.step,
            outcome: parse_column("production_steps.outcome", &row.outcome)?,
            line: row.line,
            printer: row.printer,
            detail: parse_json("production_steps.detail", &row.detail)?,
            at: row.at,
        })
    }
}

/// A step to write for a task's current card and attempt.
pub(super) struct NewStep<'a> {
    pub(super) task: &'a Task,
    pub(super) step: &'a str,
    pub(super) outcome: StepOutcome,
    pub(super) detail: serde_json::Value,
    pub(super) at: NaiveDateTime,
}

/// Inserts a step row in the caller's transaction (line and printer from
/// the task).
pub(super) fn insert_step(conn: &mut DbConnection, new: &NewStep<'_>) -> Result<(), StorageError> {
    let detail = new.detail.to_string();
    on_backend!(conn, |c| diesel::insert_into(production_steps::table)
        .values((
            production_steps::task_id.eq(new.task.id),
            production_steps::card_id.eq(new.task.card_id),
            production_steps::attempt.eq(new.task.attempts),
            production_steps::step.eq(new.step),
            production_steps::outcome.eq(new.outcome.as_str()),
            production_steps::line.eq(&new.task.line),
            production_steps::printer.eq(&new.task.printer),
            production_steps::detail.eq(&detail),
            production_steps::at.eq(new.at),
        ))
        .execute(c))
    .map_err(db("insert a production step"))?;
    Ok(())
}

/// The refusal for a task that is not on a line.
pub(super) fn not_in_production(task: &Task, doing: &str) -> StorageError {
    StorageError::Conflict {
        what: format!(
            "task {} is {}, not in-production: {doing} needs the task claimed by a line",
            task.id, task.status
        ),
    }
}

/// A step a line reports.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport<'a> {
    /// The task.
    pub task_id: i64,
    /// The step's name (`feed`, `chip`, `contactless`, `print`, `overlay`,
    /// `qc`, `eject` ...; not one of the queue's own names `claimed`,
    /// `released`, `waste`, `failed`, `retried`, `done`, and not ending in
    /// [`BEGUN_SUFFIX`]).
    pub step: &'a str,
    /// How it went.
    pub outcome: StepOutcome,
    /// What the device reported.
    pub detail: serde_json::Value,
    /// The card's new status, when the step moves it (`produced` after
    /// print/overlay, `qc-passed` after QC).
    pub card_to: Option<CardStatus>,
}

/// Persists a step of a task in production: a step row for the current
/// attempt (line and printer from the task); the task's `step` (for a
/// `Done` outcome; a `Failed` one sets `last_error` instead) and
/// `updated_at`; and `card_to`, applied to the task's card through
/// [`cards::transition_card`]. A task not in production is a
/// [`StorageError::Conflict`]; a refused card transition writes nothing.
/// A `Done` step replaces a begun marker ([`BEGUN_SUFFIX`]); a `Failed`
/// one leaves it. Audited as `workshop.step`.
pub fn record_step(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    report: &StepReport<'_>,
    actor: &Actor,
) -> Result<Task, StorageError> {
    record_step_and_mark(conn, hsm, report, None, actor)
}

/// [`record_step`], and in the same transaction, when `next` is given,
/// marks step `next` begun: the task's `step` becomes `{next}:begun`
/// ([`BEGUN_SUFFIX`]), whatever the outcome of `report`. The line calls
/// this before it sends a step that must not be repeated (print, overlay),
/// so the marker is stored before the card may be printed. `next` follows
/// the rules of [`StepReport::step`]. Audited as `workshop.step` (with
/// `next`).
pub fn record_step_then_begin(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    report: &StepReport<'_>,
    next: Option<&str>,
    actor: &Actor,
) -> Result<Task, StorageError> {
    record_step_and_mark(conn, hsm, report, next, actor)
}

/// The body of [`record_step`] and [`record_step_then_begin`].
fn record_step_and_mark(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    report: &StepReport<'_>,
    next: Option<&str>,
    actor: &Actor,
) -> Result<Task, StorageError> {
    check_line_step(report.step)?;
    if let Some(next) = next {
        check_line_step(next)?;
    }
    let marker = next.map(|next| format!("{next}{BEGUN_SUFFIX}"));
    write_tx(conn, |conn| {
        let task = get_task(conn, report.task_id)?;
        if task.status != TaskStatus::InProduction {
            return Err(not_in_production(&task, "recording a step"));
        }
        let card = match report.card_to {
            Some(to) => Some(cards::transition_card(
                conn,
                hsm,
                task.card_id,
                None,
                to,
                actor,
                &format!(
                    "step {} on line {}",
                    report.step,
                    task.line.as_deref().unwrap_or("-")
                ),
            )?),
            None => None,
        };
        let now = utc_now();
        insert_step(
            conn,
            &NewStep {
                task: &task,
                step: report.step,
                outcome: report.outcome,
                detail: report.detail.clone(),
                at: now,
            },
        )?;
        let last_error = || format!("step {} failed: {}", report.step, report.detail);
        // The row as it will be written (no second read).
        let mut written = Task {
            updated_at: now,
            ..task.clone()
        };
        match (report.outcome, &marker) {
            (StepOutcome::Done, _) => {
                let step = marker.as_deref().unwrap_or(report.step);
                written.step = Some(step.to_owned());
            }
            (StepOutcome::Failed, None) => {
                written.last_error = Some(last_error());
            }
            (StepOutcome::Failed, Some(marker)) => {
                written.step = Some(marker.clone());
                written.last_error = Some(last_error());
            }
        }
        // Unchanged columns are written as they were read.
        let update = SetStep {
            step: written.step.as_deref(),
            last_error: written.last_error.as_deref(),
            now,
            id: task.id,
        };
        on_backend!(conn, |c| update.execute(c)).map_err(db("update a making-card task's step"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "workshop.step",
                task_subject(task.id),
                serde_json::json!({
                    "card_id": task.card_id,
                    "attempt": task.attempts,
                    "step": report.step,
                    "outcome": report.outcome.as_str(),
                    "card_to": card.map(|c| c.status.as_str()),
                    "next": next,
                }),
            ),
        )?;
        Ok(written)
    })
}

/// Marks step `step` of a task in production begun (the task's `step`
/// becomes `{step}:begun`, [`BEGUN_SUFFIX`]) without recording a step:
/// for a card's first step, which has no step before it to record. Writes
/// no step row; updates `updated_at`. `step` follows the rules of
/// [`StepReport::step`]; a task not in production is a
/// [`StorageError::Conflict`]. Audited as `workshop.step.begin` (every
/// change of a task is in the audit log).
pub fn begin_step(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    task_id: i64,
    step: &str,
    actor: &Actor,
) -> Result<Task, StorageError> {
    check_line_step(step)?;
    write_tx(conn, |conn| {
        let task = get_task(conn, task_id)?;
        if task.status != TaskStatus::InProduction {
            return Err(not_in_production(&task, "beginning a step"));
        }
        let written = Task {
            step: Some(format!("{step}{BEGUN_SUFFIX}")),
            updated_at: utc_now(),
            ..task.clone()
        };
        let update = SetStep {
            step: written.step.as_deref(),
            last_error: written.last_error.as_deref(),
            now: written.updated_at,
            id: task_id,
        };
        on_backend!(conn, |c| update.execute(c))
            .map_err(db("mark a making-card task's step begun"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "workshop.step.begin",
                task_subject(task_id),
                serde_json::json!({
                    "card_id": task.card_id,
                    "attempt": task.attempts,
                    "step": step,
                }),
            ),
        )?;
        Ok(written)
    })
}

/// Ends a task whose card passed QC: the task `done` (step `done`,
/// finished_at), a `done` step row with `detail`, and the card's envelope
/// row (its data is ready to print). The card must be `qc-passed` and the
/// task in production ([`StorageError::Conflict`] otherwise). Audited as
/// `workshop.task.complete`.
pub fn complete_task(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    task_id: i64,
    detail: serde_json::Value,
    actor: &Actor,
) -> Result<Task, StorageError> {
    write_tx(conn, |conn| {
        let task = get_task(conn, task_id)?;
        if task.status != TaskStatus::InProduction {
            return Err(not_in_production(&task, "completion"));
        }
        let card = cards::get_card(conn, task.card_id)?;
        if card.status != CardStatus::QcPassed {
            return Err(StorageError::Conflict {
                what: format!(
                    "card {} of task {task_id} is {}, not qc-passed: record the QC step (card_to qc-passed) before completing",
                    card.id, card.status
                ),
            });
        }
        let now = utc_now();
        insert_step(
            conn,
            &NewStep {
                task: &task,
                step: STEP_DONE,
                outcome: StepOutcome::Done,
                detail,
                at: now,
            },
        )?;
        let update = CompleteTask {
            status: TaskStatus::Done.as_str(),
            step: STEP_DONE,
            finished_at: now,
            updated_at: now,
            id: task_id,
        };
        on_backend!(conn, |c| update.execute(c)).map_err(db("complete a making-card task"))?;
        insert_envelope(conn, card.id, task_id, now)?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "workshop.task.complete",
                task_subject(task_id),
                serde_json::json!({
                    "card_id": card.id,
                    "card_number": card.card_number,
                    "line": task.line,
                    "attempt": task.attempts,
                }),
            ),
        )?;
        // The row as written (no second read).
        Ok(Task {
            status: TaskStatus::Done,
            step: Some(STEP_DONE.to_owned()),
            finished_at: Some(now),
            updated_at: now,
            ..task
        })
    })
}

/// A task's steps, in order (over all its cards and attempts).
pub fn steps_of_task(
    conn: &mut DbConnection,
    task_id: i64,
) -> Result<Vec<StepRecord>, StorageError> {
    get_task(conn, task_id)?;
    production_steps::table
        .filter(production_steps::task_id.eq(task_id))
        .order(production_steps::id.asc())
        .select(StepRow::as_select())
        .load(conn)
        .map_err(db("read a task's production steps"))?
        .into_iter()
        .map(StepRecord::try_from)
        .collect()
}

impl Store {
    /// [`record_step`] on the blocking pool.
    pub async fn record_step(
        &self,
        task_id: i64,
        step: String,
        outcome: StepOutcome,
        detail: serde_json::Value,
        card_to: Option<CardStatus>,
        actor: Actor,
    ) -> Result<Task, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.record_step", move |conn| {
            let report = StepReport {
                task_id,
                step: &step,
                outcome,
                detail,
                card_to,
            };
            record_step(conn, hsm.as_ref(), &report, &actor)
        })
        .await
    }

    /// [`record_step_then_begin`] on the blocking pool.
    #[expect(
        clippy::too_many_arguments,
        reason = "the fields of a StepReport, owned, plus the step to begin"
    )]
    pub async fn record_step_then_begin(
        &self,
        task_id: i64,
        step: String,
        outcome: StepOutcome,
        detail: serde_json::Value,
        card_to: Option<CardStatus>,
        next: Option<String>,
        actor: Actor,
    ) -> Result<Task, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.record_step_then_begin", move |conn| {
            let report = StepReport {
                task_id,
                step: &step,
                outcome,
                detail,
                card_to,
            };
            record_step_then_begin(conn, hsm.as_ref(), &report, next.as_deref(), &actor)
        })
        .await
    }

    /// [`begin_step`] on the blocking pool.
    pub async fn begin_step(
        &self,
        task_id: i64,
        step: String,
        actor: Actor,
    ) -> Result<Task, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.begin_step", move |conn| {
            begin_step(conn, hsm.as_ref(), task_id, &step, &actor)
        })
        .await
    }

    /// [`complete_task`] on the blocking pool.
    pub async fn complete_task(
        &self,
        task_id: i64,
        detail: serde_json::Value,
        actor: Actor,
    ) -> Result<Task, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.complete_task", move |conn| {
            complete_task(conn, hsm.as_ref(), task_id, detail, &actor)
        })
        .await
    }

    /// [`steps_of_task`] on the blocking pool.
    pub async fn steps_of_task(&self, task_id: i64) -> Result<Vec<StepRecord>, StorageError> {
        self.run("workshop.steps_of_task", move |conn| {
            steps_of_task(conn, task_id)
        })
        .await
    }
}
