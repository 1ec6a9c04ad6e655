//! Operator control of the workshop: production line states (产线状态:
//! running, paused, stopped) kept across restarts, and tasks taken off the
//! queue by hand ([`fail_task`]: data no remake can fix) and put back on it
//! ([`retry_task`]).
//!
//! Not here: acting on a line's state (the line actors in
//! `cardhub_actors` read it at start-up and obey changes), the automatic
//! paths of the queue (claim and release in `claim`, waste in `waste`).

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::steps::{NewStep, insert_step};
use super::tasks::task_subject;
use super::waste::register_waste;
use super::{StepOutcome, Task, TaskStatus, WasteReport, check_name, get_task};
use crate::audit::{self, AuditEntry};
use crate::cards;
use crate::connection::{DbConnection, on_backend, write_tx};
use crate::error::{StorageError, db, parse_column};
use crate::schema::{making_card_tasks, production_lines};
use crate::{Actor, Store, utc_now};

/// The step name of a task failed by hand.
pub const STEP_FAILED: &str = "failed";
/// The step name of a failed task put back in the queue.
pub const STEP_RETRIED: &str = "retried";

/// The device a card wasted by [`fail_task`] is registered against: no
/// device failed, the holder's data cannot be made into a card.
const DATA_FAILURE_DEVICE: &str = "data";

/// What a production line is told to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineState {
    /// 运行: making cards.
    Running,
    /// 暂停: held by an operator for a while (ribbon change, jam).
    Paused,
    /// 停止: taken out of service by an operator until started again.
    Stopped,
}

stable_names!(LineState, "line state", {
    Running => "running",
    Paused => "paused",
    Stopped => "stopped",
});

/// A line's stored state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineRecord {
    /// The line (`line-1`).
    pub name: String,
    /// What it was last told to do.
    pub state: LineState,
    /// Who told it.
    pub updated_by: String,
    /// When (UTC).
    pub updated_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = production_lines)]
struct LineRow {
    name: String,
    state: String,
    updated_by: String,
    updated_at: NaiveDateTime,
}

impl TryFrom<LineRow> for LineRecord {
    type Error = StorageError;

    fn try_from(row: LineRow) -> Result<Self, StorageError> {
        Ok(LineRecord {
            name: row.name,
            state: parse_column("production_lines.state", &row.state)?,
            updated_by: row.updated_by,
            updated_at: row.updated_at,
        })
    }
}

/// The stored state of line `name`; `None` for a line never set (it runs
/// as configured).
pub fn line_state(conn: &mut DbConnection, name: &str) -> Result<Option<LineRecord>, StorageError> {
    production_lines::table
        .find(name)
        .select(LineRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read a production line's state"))?
        .map(LineRecord::try_from)
        .transpose()
}

/// Every stored line state, by line name.
pub fn list_line_states(conn: &mut DbConnection) -> Result<Vec<LineRecord>, StorageError> {
    production_lines::table
        .order(production_lines::name.asc())
        .select(LineRow::as_select())
        .load(conn)
        .map_err(db("list production line states"))?
        .into_iter()
        .map(LineRecord::try_from)
        .collect()
}

/// Stores line `name`'s state (inserted or replaced; updated_by =
/// `actor.name`). Audited as `workshop.line.state` with the state before
/// (`null` for a line never set), the state after and `reason`.
pub fn set_line_state(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    name: &str,
    state: LineState,
    reason: &str,
    actor: &Actor,
) -> Result<LineRecord, StorageError> {
    check_name("line", name)?;
    write_tx(conn, |conn| {
        let before = line_state(conn, name)?;
        let now = utc_now();
        // MultiConnection has no ON CONFLICT; both backends do.
        on_backend!(conn, |c| diesel::insert_into(production_lines::table)
            .values((
                production_lines::name.eq(name),
                production_lines::state.eq(state.as_str()),
                production_lines::updated_by.eq(&actor.name),
                production_lines::updated_at.eq(now),
            ))
            .on_conflict(production_lines::name)
            .do_update()
            .set((
                production_lines::state.eq(state.as_str()),
                production_lines::updated_by.eq(&actor.name),
                production_lines::updated_at.eq(now),
            ))
            .execute(c))
        .map_err(db("store a production line's state"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "workshop.line.state",
                format!("production-line:{name}"),
                serde_json::json!({
                    "from": before.map(|b| b.state.as_str()),
                    "to": state.as_str(),
                    "reason": reason,
                }),
            ),
        )?;
        Ok(LineRecord {
            name: name.to_owned(),
            state,
            updated_by: actor.name.clone(),
            updated_at: now,
        })
    })
}

/// Takes an `in-production` task off the line for a data failure that no
/// remake can fix (the holder's name cannot be printed, the photo is
/// unusable), in one transaction. The card follows the card status
/// machine, which has no way back from `in-production` to
/// `data-prepared`:
/// - a card still `in-production` (nothing printed on it yet) stays
///   `in-production` and keeps its number; a retry makes it again;
/// - a card already `produced` or `qc-passed` carries the bad data: it
///   becomes `waste` with a `waste_cards` row (step `failed`, device
///   `data`), and a retry makes a new card.
///
/// The task → `failed` (step `failed`, `last_error` = `reason`,
/// finished_at; line and printer kept for the record) with a failed
/// `failed` step row. Any other task status is a
/// [`StorageError::Conflict`]. Audited as `workshop.task.fail`.
pub fn fail_task(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    task_id: i64,
    reason: &str,
    actor: &Actor,
) -> Result<Task, StorageError> {
    if reason.trim().is_empty() {
        return Err(StorageError::Invalid {
            what: "failure reason",
            reason: "it is empty: say what is wrong with the holder's data".to_owned(),
        });
    }
    write_tx(conn, |conn| {
        let task = get_task(conn, task_id)?;
        if task.status != TaskStatus::InProduction {
            return Err(cannot_fail(&task));
        }
        let card = cards::get_card(conn, task.card_id)?;
        let now = utc_now();
        let (card, waste) = match card.status {
            CardStatus::Produced | CardStatus::QcPassed => {
                let report = WasteReport {
                    task_id,
                    reason,
                    step: STEP_FAILED,
                    device: DATA_FAILURE_DEVICE,
                };
                let (card, waste) = register_waste(conn, hsm, &task, &report, actor, now)?;
                (card, Some(waste))
            }
            _ => (card, None),
        };
        let waste_id = waste.map(|w| w.id);
        insert_step(
            conn,
            &NewStep {
                task: &task,
                step: STEP_FAILED,
                outcome: StepOutcome::Failed,
                detail: serde_json::json!({
                    "reason": reason,
                    "card_status": card.status.as_str(),
                    "waste_id": waste_id,
                }),
                at: now,
            },
        )?;
        diesel::update(making_card_tasks::table.find(task_id))
            .set((
                making_card_tasks::status.eq(TaskStatus::Failed.as_str()),
                making_card_tasks::step.eq(STEP_FAILED),
                making_card_tasks::last_error.eq(reason),
                making_card_tasks::finished_at.eq(now),
                making_card_tasks::updated_at.eq(now),
            ))
            .execute(conn)
            .map_err(db("fail a making-card task"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "workshop.task.fail",
                task_subject(task_id),
                serde_json::json!({
                    "card_id": card.id,
                    "card_number": card.card_number,
                    "card_status": card.status.as_str(),
                    "waste_id": waste_id,
                    "line": task.line,
                    "printer": task.printer,
                    "attempt": task.attempts,
                    "reason": reason,
                }),
            ),
        )?;
        get_task(conn, task_id)
    })
}

/// The refusal to fail a task that is not on a line.
fn cannot_fail(task: &Task) -> StorageError {
    let advice = match task.status {
        TaskStatus::Queued => {
            "only a task on a line can be failed; have the holder's data corrected before a line claims it"
        }
        TaskStatus::Done => "its card passed QC; register the card as waste if it is unusable",
        TaskStatus::Failed => "it is already failed; retry it once the holder's data is corrected",
        TaskStatus::InProduction => "it can be failed",
    };
    StorageError::Conflict {
        what: format!(
            "task {} is {}, not in-production: {advice}",
            task.id, task.status
        ),
    }
}

/// Puts a `failed` task back in the queue, in one transaction, once the
/// cause is dealt with (data corrected, card replaced by the centre). It
/// keeps its place (`queued_at`) and `last_error`; `attempts` goes back to
/// 0 (it may use `max_attempts` cards again); line, printer, step,
/// operator, started_at and finished_at are cleared. Its card:
/// - a `data-prepared` or `in-production` card is still makeable: the task
///   stays on it (an `in-production` card keeps its number);
/// - a `waste` card is remade: a new `data-prepared` card for the same
///   application, as after a waste ([`super::waste_and_requeue`]);
/// - any other card (cancelled by the centre) is a
///   [`StorageError::Conflict`].
///
/// A `retried` step row (on the card the task is now on) records it. A
/// task that is not `failed` is a [`StorageError::Conflict`]. Audited as
/// `workshop.task.retry`.
pub fn retry_task(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    task_id: i64,
    actor: &Actor,
) -> Result<Task, StorageError> {
    write_tx(conn, |conn| {
        let task = get_task(conn, task_id)?;
        if task.status != TaskStatus::Failed {
            return Err(cannot_retry(&task));
        }
        let previous = cards::get_card(conn, task.card_id)?;
        let now = utc_now();
        let card = match previous.status {
            CardStatus::DataPrepared | CardStatus::InProduction => previous.clone(),
            CardStatus::Waste => cards::insert_remade_card(
                conn,
                &previous,
                actor,
                &format!("failed task {task_id} retried"),
                now,
            )?,
            other => {
                return Err(StorageError::Conflict {
                    what: format!(
                        "card {} of task {task_id} is {other} ({}): it cannot be made again, and the application cannot have a second live card; the application needs a new card from the centre",
                        previous.id,
                        other.label_zh()
                    ),
                });
            }
        };
        diesel::update(making_card_tasks::table.find(task_id))
            .set((
                making_card_tasks::status.eq(TaskStatus::Queued.as_str()),
                making_card_tasks::card_id.eq(card.id),
                making_card_tasks::attempts.eq(0),
                making_card_tasks::line.eq(None::<String>),
                making_card_tasks::printer.eq(None::<String>),
                making_card_tasks::step.eq(None::<String>),
                making_card_tasks::operator.eq(None::<String>),
                making_card_tasks::started_at.eq(None::<NaiveDateTime>),
                making_card_tasks::finished_at.eq(None::<NaiveDateTime>),
                making_card_tasks::updated_at.eq(now),
            ))
            .execute(conn)
            .map_err(db("re-queue a failed making-card task"))?;
        let retried = get_task(conn, task_id)?;
        let remade = card.id != previous.id;
        insert_step(
            conn,
            &NewStep {
                task: &retried,
                step: STEP_RETRIED,
                outcome: StepOutcome::Done,
                detail: serde_json::json!({
                    "previous_card_id": previous.id,
                    "remade": remade,
                    "last_error": task.last_error,
                }),
                at: now,
            },
        )?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "workshop.task.retry",
                task_subject(task_id),
                serde_json::json!({
                    "card_id": card.id,
                    "previous_card_id": previous.id,
                    "remade": remade,
                    "last_error": task.last_error,
                }),
            ),
        )?;
        Ok(retried)
    })
}

/// The refusal to retry a task that did not fail.
fn cannot_retry(task: &Task) -> StorageError {
    let advice = match task.status {
        TaskStatus::Queued => "it is already waiting for a line",
        TaskStatus::InProduction => {
            "it is on a line; release it, register its card as waste, or fail it first"
        }
        TaskStatus::Done => {
            "its card was made; register the card as waste if it must be made again"
        }
        TaskStatus::Failed => "it can be retried",
    };
    StorageError::Conflict {
        what: format!("task {} is {}, not failed: {advice}", task.id, task.status),
    }
}

impl Store {
    /// [`line_state`] on the blocking pool.
    pub async fn line_state(&self, name: String) -> Result<Option<LineRecord>, StorageError> {
        self.run("workshop.line_state", move |conn| line_state(conn, &name))
            .await
    }

    /// [`list_line_states`] on the blocking pool.
    pub async fn list_line_states(&self) -> Result<Vec<LineRecord>, StorageError> {
        self.run("workshop.list_line_states", list_line_states)
            .await
    }

    /// [`set_line_state`] on the blocking pool.
    pub async fn set_line_state(
        &self,
        name: String,
        state: LineState,
        reason: String,
        actor: Actor,
    ) -> Result<LineRecord, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.set_line_state", move |conn| {
            set_line_state(conn, hsm.as_ref(), &name, state, &reason, &actor)
        })
        .await
    }

    /// [`fail_task`] on the blocking pool.
    pub async fn fail_task(
        &self,
        task_id: i64,
        reason: String,
        actor: Actor,
    ) -> Result<Task, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.fail_task", move |conn| {
            fail_task(conn, hsm.as_ref(), task_id, &reason, &actor)
        })
        .await
    }

    /// [`retry_task`] on the blocking pool.
    pub async fn retry_task(&self, task_id: i64, actor: Actor) -> Result<Task, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.retry_task", move |conn| {
            retry_task(conn, hsm.as_ref(), task_id, &actor)
        })
        .await
    }
}
