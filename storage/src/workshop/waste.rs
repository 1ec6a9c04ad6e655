//! Waste registration (废卡登记): a card that failed on the line (or was
//! damaged after QC, before it was boxed) becomes `waste` for good, a
//! `waste_cards` row records what happened, and the task is re-queued on a
//! new card for the same application, until `max_attempts` cards were used.

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::steps::{NewStep, insert_step, not_in_production};
use super::tasks::task_subject;
use super::{StepOutcome, Task, TaskStatus, check_name, get_task, page};
use crate::audit::{self, AuditEntry};
use crate::cards::{self, Card};
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, db};
use crate::schema::{box_cards, making_card_tasks, waste_cards};
use crate::{Actor, Store, utc_now};

/// The step name of a waste registration.
pub const STEP_WASTE: &str = "waste";

/// One wasted card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Queryable, Selectable)]
#[diesel(table_name = waste_cards)]
pub struct WasteRecord {
    /// Row id.
    pub id: i64,
    /// The task it was made for.
    pub task_id: i64,
    /// The wasted card.
    pub card_id: i64,
    /// Its number when it was wasted (a wasted number is never reissued).
    pub card_number: Option<String>,
    /// Why (the device's or operator's words).
    pub reason: String,
    /// The step it failed at.
    pub step: String,
    /// The device that failed it.
    pub device: String,
    /// The line.
    pub line: Option<String>,
    /// Who registered it.
    pub operator: String,
    /// When (UTC).
    pub at: NaiveDateTime,
}

/// A waste to register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WasteReport<'a> {
    /// The task whose current card is wasted.
    pub task_id: i64,
    /// Why.
    pub reason: &'a str,
    /// The step it failed at.
    pub step: &'a str,
    /// The device that failed it.
    pub device: &'a str,
}

/// What a waste registration did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WasteOutcome {
    /// The waste row.
    pub waste: WasteRecord,
    /// The task afterwards: `queued` on the new card, or `failed`.
    pub task: Task,
    /// The remade card, when the task was re-queued.
    pub new_card: Option<Card>,
}

/// Wastes the task's current card and re-queues the task, in one
/// transaction: the card → `waste` (through [`cards::transition_card`]); a
/// `waste_cards` row (card number snapshot, reason, step, device, line,
/// operator = `actor.name`); a failed `waste` step row; then, while
/// `attempts < max_attempts`, a new card for the same application in
/// `data-prepared` (history: remakes wasted card N; no number yet) and the
/// task back to `queued` on it (line, printer, step, operator, started_at
/// and finished_at cleared, `last_error` = the reason; it keeps its place
/// in the queue); otherwise the task → `failed` with `last_error`.
///
/// The task must be in production, or done with its card not yet boxed
/// (damaged before dispatch); anything else is a
/// [`StorageError::Conflict`]. Audited as `workshop.waste`.
pub fn waste_and_requeue(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    report: &WasteReport<'_>,
    actor: &Actor,
) -> Result<WasteOutcome, StorageError> {
    check_name("step", report.step)?;
    check_name("device", report.device)?;
    if report.reason.trim().is_empty() {
        return Err(StorageError::Invalid {
            what: "waste reason",
            reason: "it is empty: say what happened to the card".to_owned(),
        });
    }
    write_tx(conn, |conn| {
        let task = get_task(conn, report.task_id)?;
        check_wasteable(conn, &task)?;
        let now = utc_now();
        let (wasted, waste) = register_waste(conn, hsm, &task, report, actor, now)?;
        insert_step(
            conn,
            &NewStep {
                task: &task,
                step: STEP_WASTE,
                outcome: StepOutcome::Failed,
                detail: serde_json::json!({
                    "waste_id": waste.id,
                    "reason": report.reason,
                    "step": report.step,
                    "device": report.device,
                }),
                at: now,
            },
        )?;
        let new_card = if task.attempts < task.max_attempts {
            let card = cards::insert_remade_card(conn, &wasted, actor, report.reason, now)?;
            diesel::update(making_card_tasks::table.find(task.id))
                .set((
                    making_card_tasks::status.eq(TaskStatus::Queued.as_str()),
                    making_card_tasks::card_id.eq(card.id),
                    making_card_tasks::line.eq(None::<String>),
                    making_card_tasks::printer.eq(None::<String>),
                    making_card_tasks::step.eq(None::<String>),
                    making_card_tasks::operator.eq(None::<String>),
                    making_card_tasks::started_at.eq(None::<NaiveDateTime>),
                    making_card_tasks::finished_at.eq(None::<NaiveDateTime>),
                    making_card_tasks::last_error.eq(report.reason),
                    making_card_tasks::updated_at.eq(now),
                ))
                .execute(conn)
                .map_err(db("re-queue a making-card task"))?;
            Some(card)
        } else {
            diesel::update(making_card_tasks::table.find(task.id))
                .set((
                    making_card_tasks::status.eq(TaskStatus::Failed.as_str()),
                    making_card_tasks::last_error.eq(format!(
                        "{} (card {} of {} allowed was wasted)",
                        report.reason, task.attempts, task.max_attempts
                    )),
                    making_card_tasks::finished_at.eq(now),
                    making_card_tasks::updated_at.eq(now),
                ))
                .execute(conn)
                .map_err(db("fail a making-card task"))?;
            None
        };
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "workshop.waste",
                task_subject(task.id),
                serde_json::json!({
                    "waste_id": waste.id,
                    "card_id": wasted.id,
                    "card_number": wasted.card_number,
                    "reason": report.reason,
                    "step": report.step,
                    "device": report.device,
                    "line": task.line,
                    "attempt": task.attempts,
                    "new_card": new_card.as_ref().map(|c| c.id),
                }),
            ),
        )?;
        Ok(WasteOutcome {
            waste,
            task: get_task(conn, task.id)?,
            new_card,
        })
    })
}

/// Moves the task's current card to `waste` (through
/// [`cards::transition_card`]) and writes its `waste_cards` row (card
/// number snapshot, reason, step, device, the task's line, operator =
/// `actor.name`, `now`), inside the caller's transaction; returns the
/// wasted card and its row. The caller has checked the task and writes
/// the step row and audit entry.
pub(super) fn register_waste(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    task: &Task,
    report: &WasteReport<'_>,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<(Card, WasteRecord), StorageError> {
    let wasted = cards::transition_card(
        conn,
        hsm,
        task.card_id,
        None,
        CardStatus::Waste,
        actor,
        &format!("{} at {} ({})", report.reason, report.step, report.device),
    )?;
    let waste_id: i64 = diesel::insert_into(waste_cards::table)
        .values((
            waste_cards::task_id.eq(task.id),
            waste_cards::card_id.eq(wasted.id),
            waste_cards::card_number.eq(&wasted.card_number),
            waste_cards::reason.eq(report.reason),
            waste_cards::step.eq(report.step),
            waste_cards::device.eq(report.device),
            waste_cards::line.eq(&task.line),
            waste_cards::operator.eq(&actor.name),
            waste_cards::at.eq(now),
        ))
        .returning(waste_cards::id)
        .get_result(conn)
        .map_err(db("register a wasted card"))?;
    let waste = waste_cards::table
        .find(waste_id)
        .select(WasteRecord::as_select())
        .first(conn)
        .map_err(db("read a wasted card's registration"))?;
    Ok((wasted, waste))
}

/// A task's card may be wasted while the task is in production, or once
/// done while the card is not yet in a box.
fn check_wasteable(conn: &mut DbConnection, task: &Task) -> Result<(), StorageError> {
    match task.status {
        TaskStatus::InProduction => Ok(()),
        TaskStatus::Done => {
            let boxed = box_cards::table
                .find(task.card_id)
                .select(box_cards::box_id)
                .first::<i64>(conn)
                .optional()
                .map_err(db("check whether a card is boxed"))?;
            match boxed {
                None => Ok(()),
                Some(box_id) => Err(StorageError::Conflict {
                    what: format!(
                        "card {} of task {} is packed in box {box_id}: a boxed card is no longer the workshop's to waste",
                        task.card_id, task.id
                    ),
                }),
            }
        }
        TaskStatus::Queued | TaskStatus::Failed => {
            Err(not_in_production(task, "registering waste"))
        }
    }
}

/// Waste registered in `[from, to)`, newest first.
pub fn list_waste(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
    limit: i64,
) -> Result<Vec<WasteRecord>, StorageError> {
    waste_cards::table
        .filter(waste_cards::at.ge(from))
        .filter(waste_cards::at.lt(to))
        .order(waste_cards::id.desc())
        .limit(page(limit))
        .select(WasteRecord::as_select())
        .load(conn)
        .map_err(db("list wasted cards"))
}

/// Every waste of a task, oldest first.
pub fn waste_of_task(
    conn: &mut DbConnection,
    task_id: i64,
) -> Result<Vec<WasteRecord>, StorageError> {
    waste_cards::table
        .filter(waste_cards::task_id.eq(task_id))
        .order(waste_cards::id.asc())
        .select(WasteRecord::as_select())
        .load(conn)
        .map_err(db("read a task's wasted cards"))
}

impl Store {
    /// [`waste_and_requeue`] on the blocking pool.
    pub async fn waste_and_requeue(
        &self,
        task_id: i64,
        reason: String,
        step: String,
        device: String,
        actor: Actor,
    ) -> Result<WasteOutcome, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.waste_and_requeue", move |conn| {
            let report = WasteReport {
                task_id,
                reason: &reason,
                step: &step,
                device: &device,
            };
            waste_and_requeue(conn, hsm.as_ref(), &report, &actor)
        })
        .await
    }

    /// [`list_waste`] on the blocking pool.
    pub async fn list_waste(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
        limit: i64,
    ) -> Result<Vec<WasteRecord>, StorageError> {
        self.run("workshop.list_waste", move |conn| {
            list_waste(conn, from, to, limit)
        })
        .await
    }
}
