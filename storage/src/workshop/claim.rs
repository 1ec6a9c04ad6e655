//! Claiming the next queued task for a printer, and releasing it when the
//! printer never took a card. Many printers (and on PostgreSQL several hub
//! nodes) read one queue: the next task is one index lookup
//! (`making_card_tasks_queue`), locked with `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL so concurrent claims take different tasks; on SQLite the
//! write transaction's `BEGIN IMMEDIATE` already serialises them.

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use diesel::prelude::*;

use super::steps::{NewStep, insert_step};
use super::tasks::task_subject;
use super::{StepOutcome, Task, TaskRow, TaskStatus, check_name, get_task, numbers};
use crate::audit::{self, AuditEntry};
use crate::cards::{self, Card};
use crate::connection::{DbConnection, on_backend, write_tx};
use crate::error::{StorageError, db};
use crate::fixed::fixed_statement;
use crate::schema::making_card_tasks;
use crate::{Actor, Store, utc_now};

fixed_statement! {
    /// A task taken by a line's printer.
    struct ClaimTask<'a> {
        "UPDATE making_card_tasks SET status = ", status: &'a str => diesel::sql_types::Text,
        ", attempts = ", attempts: i32 => diesel::sql_types::Integer,
        ", line = ", line: &'a str => diesel::sql_types::Text,
        ", printer = ", printer: &'a str => diesel::sql_types::Text,
        ", operator = ", operator: &'a str => diesel::sql_types::Text,
        ", step = ", step: &'a str => diesel::sql_types::Text,
        ", started_at = ", started_at: chrono::NaiveDateTime => diesel::sql_types::Timestamp,
        ", updated_at = ", updated_at: chrono::NaiveDateTime => diesel::sql_types::Timestamp,
        " WHERE id = ", id: i64 => diesel::sql_types::BigInt,
        ""
    }
}

/// The step name of a claim.
pub const STEP_CLAIMED: &str = "claimed";
/// The step name of a release.
pub const STEP_RELEASED: &str = "released";

/// Who claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim<'a> {
    /// The production line.
    pub line: &'a str,
    /// The printer on it that will take the card.
    pub printer: &'a str,
    /// The prefix of card numbers issued on this line (see
    /// [`super::format_card_number`]).
    pub number_prefix: &'a str,
    /// An instant-issue line (a branch's): it takes only the tasks queued
    /// for it ([`super::queue_instant`]); the workshop's lines take only
    /// tasks queued for no line in particular.
    pub instant: bool,
}

/// Claims the oldest queued task for `claim.printer`, in one transaction:
/// gives its card a number if it has none (from the prefix's counter),
/// moves the card `data-prepared → in-production` (a card already in
/// production because its task was released keeps its number and status),
/// sets the task `in-production` (attempts + 1, line, printer, operator =
/// `actor.name`, started_at, step `claimed`) and writes a `claimed` step.
/// `None` when the queue is empty. Audited as `workshop.task.claim`.
///
/// A queued task whose card left the workshop's path meanwhile (cancelled
/// by the centre) cannot be made: it is set `failed` with the reason,
/// audited as `workshop.task.fail`, and the next task is taken.
pub fn claim_next_task(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    claim: &Claim<'_>,
    actor: &Actor,
) -> Result<Option<(Task, Card)>, StorageError> {
    check_name("line", claim.line)?;
    check_name("printer", claim.printer)?;
    numbers::format_card_number(claim.number_prefix, 1)?;
    write_tx(conn, |conn| {
        // Audit entries of dropped tasks are appended last: the audit head
        // is locked after the number counter, as on every claim, so two
        // claims on PostgreSQL never wait for each other in a cycle.
        let mut dropped = Vec::new();
        loop {
            let Some(task) = next_queued(conn, claim)? else {
                append_all(conn, hsm, &dropped)?;
                return Ok(None);
            };
            let card = cards::get_card(conn, task.card_id)?;
            let card = match card.status {
                CardStatus::DataPrepared => {
                    let card = match card.card_number {
                        Some(_) => card,
                        None => {
                            let number = numbers::allocate(conn, claim.number_prefix)?;
                            cards::assign_card_number(conn, hsm, card.id, &number, actor)?
                        }
                    };
                    cards::transition_card(
                        conn,
                        hsm,
                        card.id,
                        Some(card.version),
                        CardStatus::InProduction,
                        actor,
                        &format!(
                            "task {} claimed on line {} printer {}",
                            task.id, claim.line, claim.printer
                        ),
                    )?
                }
                CardStatus::InProduction => card,
                other => {
                    dropped.push(fail_unmakeable(conn, &task, other, actor)?);
                    continue;
                }
            };
            let now = utc_now();
            let attempt = task.attempts + 1;
            // The row as it will be written (no second read).
            let task = Task {
                status: TaskStatus::InProduction,
                attempts: attempt,
                line: Some(claim.line.to_owned()),
                printer: Some(claim.printer.to_owned()),
                operator: Some(actor.name.clone()),
                step: Some(STEP_CLAIMED.to_owned()),
                started_at: Some(now),
                updated_at: now,
                ..task
            };
            let update = ClaimTask {
                status: TaskStatus::InProduction.as_str(),
                attempts: attempt,
                line: claim.line,
                printer: claim.printer,
                operator: &actor.name,
                step: STEP_CLAIMED,
                started_at: now,
                updated_at: now,
                id: task.id,
            };
            on_backend!(conn, |c| update.execute(c)).map_err(db("claim a making-card task"))?;
            insert_step(
                conn,
                &NewStep {
                    task: &task,
                    step: STEP_CLAIMED,
                    outcome: StepOutcome::Done,
                    detail: serde_json::json!({ "card_number": card.card_number }),
                    at: now,
                },
            )?;
            audit::append(
                conn,
                hsm,
                &AuditEntry::new(
                    actor,
                    "workshop.task.claim",
                    task_subject(task.id),
                    serde_json::json!({
                        "card_id": card.id,
                        "card_number": card.card_number,
                        "line": claim.line,
                        "printer": claim.printer,
                        "attempt": attempt,
                    }),
                ),
            )?;
            append_all(conn, hsm, &dropped)?;
            return Ok(Some((task, card)));
        }
    })
}

/// The oldest queued task, locked on PostgreSQL (skipping tasks other
/// transactions hold).
fn next_queued(conn: &mut DbConnection, claim: &Claim<'_>) -> Result<Option<Task>, StorageError> {
    // The select clause is typed by backend, so each arm builds its own.
    macro_rules! oldest_queued {
        () => {
            making_card_tasks::table
                .filter(making_card_tasks::status.eq(TaskStatus::Queued.as_str()))
                .filter(
                    making_card_tasks::for_line
                        .eq(claim.line)
                        .and(claim.instant.into_sql::<diesel::sql_types::Bool>())
                        .or(making_card_tasks::for_line
                            .is_null()
                            .and((!claim.instant).into_sql::<diesel::sql_types::Bool>())),
                )
                .order((
                    making_card_tasks::queued_at.asc(),
                    making_card_tasks::id.asc(),
                ))
                .select(TaskRow::as_select())
        };
    }
    let row = match conn {
        DbConnection::Pg(pg) => oldest_queued!()
            .for_update()
            .skip_locked()
            .first::<TaskRow>(pg)
            .optional(),
        DbConnection::Sqlite(_) => oldest_queued!().first::<TaskRow>(conn).optional(),
    }
    .map_err(db("take the next queued making-card task"))?;
    row.map(Task::try_from).transpose()
}

/// Marks a queued task whose card cannot be made any more `failed`;
/// returns its audit entry (`workshop.task.fail`) for the caller to append.
fn fail_unmakeable(
    conn: &mut DbConnection,
    task: &Task,
    status: CardStatus,
    actor: &Actor,
) -> Result<AuditEntry, StorageError> {
    let reason = format!(
        "card {} is {status} ({}): it cannot be made; the application needs a new card",
        task.card_id,
        status.label_zh()
    );
    let now = utc_now();
    diesel::update(making_card_tasks::table.find(task.id))
        .set((
            making_card_tasks::status.eq(TaskStatus::Failed.as_str()),
            making_card_tasks::last_error.eq(&reason),
            making_card_tasks::finished_at.eq(now),
            making_card_tasks::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(db("fail a making-card task"))?;
    Ok(AuditEntry::new(
        actor,
        "workshop.task.fail",
        task_subject(task.id),
        serde_json::json!({ "card_id": task.card_id, "reason": reason }),
    ))
}

fn append_all(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    entries: &[AuditEntry],
) -> Result<(), StorageError> {
    for entry in entries {
        audit::append(conn, hsm, entry)?;
    }
    Ok(())
}

/// Puts an `in-production` task back in the queue because no physical
/// card was used (the printer could not feed): the card keeps its number
/// and stays `in-production`; the attempt is not counted (`attempts` goes
/// back down by one); line, printer, step, operator and started_at are
/// cleared and `last_error` keeps the reason; a `released` step (failed)
/// records it. A card already past `in-production` was used: waste it
/// instead ([`super::waste_and_requeue`]). Audited as
/// `workshop.task.release`.
pub fn release_task(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    task_id: i64,
    reason: &str,
    actor: &Actor,
) -> Result<Task, StorageError> {
    write_tx(conn, |conn| {
        let task = get_task(conn, task_id)?;
        if task.status != TaskStatus::InProduction {
            return Err(StorageError::Conflict {
                what: format!(
                    "task {task_id} is {}, not in-production: only a task on a line can be released",
                    task.status
                ),
            });
        }
        let card = cards::get_card(conn, task.card_id)?;
        if card.status != CardStatus::InProduction {
            return Err(StorageError::Conflict {
                what: format!(
                    "card {} of task {task_id} is already {}: a physical card was used, so register it as waste instead of releasing the task",
                    card.id, card.status
                ),
            });
        }
        let now = utc_now();
        insert_step(
            conn,
            &NewStep {
                task: &task,
                step: STEP_RELEASED,
                outcome: StepOutcome::Failed,
                detail: serde_json::json!({ "reason": reason }),
                at: now,
            },
        )?;
        diesel::update(making_card_tasks::table.find(task_id))
            .set((
                making_card_tasks::status.eq(TaskStatus::Queued.as_str()),
                making_card_tasks::attempts.eq((task.attempts - 1).max(0)),
                making_card_tasks::line.eq(None::<String>),
                making_card_tasks::printer.eq(None::<String>),
                making_card_tasks::step.eq(None::<String>),
                making_card_tasks::operator.eq(None::<String>),
                making_card_tasks::started_at.eq(None::<chrono::NaiveDateTime>),
                making_card_tasks::last_error.eq(reason),
                making_card_tasks::updated_at.eq(now),
            ))
            .execute(conn)
            .map_err(db("release a making-card task"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "workshop.task.release",
                task_subject(task_id),
                serde_json::json!({
                    "card_id": card.id,
                    "line": task.line,
                    "printer": task.printer,
                    "reason": reason,
                }),
            ),
        )?;
        get_task(conn, task_id)
    })
}

impl Store {
    /// [`claim_next_task`] on the blocking pool.
    pub async fn claim_next_task(
        &self,
        line: String,
        printer: String,
        number_prefix: String,
        instant: bool,
        actor: Actor,
    ) -> Result<Option<(Task, Card)>, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.claim_next_task", move |conn| {
            let claim = Claim {
                line: &line,
                printer: &printer,
                number_prefix: &number_prefix,
                instant,
            };
            claim_next_task(conn, hsm.as_ref(), &claim, &actor)
        })
        .await
    }

    /// [`release_task`] on the blocking pool.
    pub async fn release_task(
        &self,
        task_id: i64,
        reason: String,
        actor: Actor,
    ) -> Result<Task, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.release_task", move |conn| {
            release_task(conn, hsm.as_ref(), task_id, &reason, &actor)
        })
        .await
    }
}
