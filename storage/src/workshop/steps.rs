//! Production steps: every step a card goes through on a line (feed, chip,
//! contactless check, print, overlay, QC, eject, and the queue's own
//! `claimed`, `released`, `waste` and `done`) is persisted before the line
//! acknowledges it, so a restarted line resumes each card from its last
//! step. Completion ends the task and readies the card's envelope.

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::claim::{STEP_CLAIMED, STEP_RELEASED};
use super::envelopes::insert_envelope;
use super::tasks::task_subject;
use super::waste::STEP_WASTE;
use super::{Task, TaskStatus, check_name, get_task, parse_json};
use crate::audit::{self, AuditEntry};
use crate::cards;
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, db, parse_column};
use crate::schema::making_card_tasks;
use crate::schema::production_steps;
use crate::{Actor, Store, utc_now};

/// The step name of a completion.
pub const STEP_DONE: &str = "done";

/// Step names the queue writes itself; [`record_step`] refuses them.
const RESERVED_STEPS: [&str; 4] = [STEP_CLAIMED, STEP_RELEASED, STEP_DONE, STEP_WASTE];

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
    diesel::insert_into(production_steps::table)
        .values((
            production_steps::task_id.eq(new.task.id),
            production_steps::card_id.eq(new.task.card_id),
            production_steps::attempt.eq(new.task.attempts),
            production_steps::step.eq(new.step),
            production_steps::outcome.eq(new.outcome.as_str()),
            production_steps::line.eq(&new.task.line),
            production_steps::printer.eq(&new.task.printer),
            production_steps::detail.eq(new.detail.to_string()),
            production_steps::at.eq(new.at),
        ))
        .execute(conn)
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
    /// `released`, `waste`, `done`).
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
/// Audited as `workshop.step`.
pub fn record_step(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    report: &StepReport<'_>,
    actor: &Actor,
) -> Result<Task, StorageError> {
    check_name("step", report.step)?;
    if RESERVED_STEPS.contains(&report.step) {
        return Err(StorageError::Invalid {
            what: "step",
            reason: format!(
                "`{}` is written by the queue itself (claim, release, waste, completion); name the line's step",
                report.step
            ),
        });
    }
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
        let target = making_card_tasks::table.find(task.id);
        match report.outcome {
            StepOutcome::Done => diesel::update(target)
                .set((
                    making_card_tasks::step.eq(report.step),
                    making_card_tasks::updated_at.eq(now),
                ))
                .execute(conn),
            StepOutcome::Failed => diesel::update(target)
                .set((
                    making_card_tasks::last_error
                        .eq(format!("step {} failed: {}", report.step, report.detail)),
                    making_card_tasks::updated_at.eq(now),
                ))
                .execute(conn),
        }
        .map_err(db("update a making-card task's step"))?;
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
                }),
            ),
        )?;
        get_task(conn, task.id)
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
        diesel::update(making_card_tasks::table.find(task_id))
            .set((
                making_card_tasks::status.eq(TaskStatus::Done.as_str()),
                making_card_tasks::step.eq(STEP_DONE),
                making_card_tasks::finished_at.eq(now),
                making_card_tasks::updated_at.eq(now),
            ))
            .execute(conn)
            .map_err(db("complete a making-card task"))?;
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
        get_task(conn, task_id)
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
        self.run("workshop.record_step", move |conn| {
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

    /// [`complete_task`] on the blocking pool.
    pub async fn complete_task(
        &self,
        task_id: i64,
        detail: serde_json::Value,
        actor: Actor,
    ) -> Result<Task, StorageError> {
        let hsm = self.hsm().clone();
        self.run("workshop.complete_task", move |conn| {
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
