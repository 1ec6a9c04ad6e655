//! Making-card batches and tasks (制卡任务): the stored shapes and the
//! read-side queries. A task is created by [`super::extract`], one per
//! application; it follows the application's card, so after a waste it
//! points at the remade card.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::page;
use crate::Store;
use crate::connection::{DbConnection, on_backend};
use crate::error::{StorageError, db, parse_column};
use crate::schema::{making_card_batches, making_card_tasks};

/// Which extraction made a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExtractionKind {
    /// 制卡任务抽取: every data-prepared card except those of
    /// permanent-residence holders.
    Normal,
    /// 单独抽取: only permanent-residence holders' cards (their reminder SMS
    /// is queued with the tasks).
    PermanentResidence,
}

stable_names!(ExtractionKind, "extraction kind", {
    Normal => "normal",
    PermanentResidence => "permanent-residence",
});

/// Where a making-card task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskStatus {
    /// 待制卡: waiting for a line to claim it.
    Queued,
    /// 制卡中: claimed by a line; its card is on the line.
    InProduction,
    /// 已完成: the card passed QC; its envelope is ready.
    Done,
    /// 制卡失败: wasted `max_attempts` times, its card cancelled, or its
    /// data cannot be made into a card ([`super::fail_task`]); a person
    /// must look, then [`super::retry_task`].
    Failed,
}

stable_names!(TaskStatus, "task status", {
    Queued => "queued",
    InProduction => "in-production",
    Done => "done",
    Failed => "failed",
});

/// One extraction run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Batch {
    /// Row id.
    pub id: i64,
    /// Which extraction.
    pub kind: ExtractionKind,
    /// Tasks created.
    pub task_count: i32,
    /// Who extracted.
    pub created_by: String,
    /// When (UTC).
    pub created_at: NaiveDateTime,
}

/// A making-card task: one application's card through the workshop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Task {
    /// Row id.
    pub id: i64,
    /// The extraction that made it.
    pub batch_id: i64,
    /// The application (one task per application).
    pub application_id: i64,
    /// The holder.
    pub person_id: i64,
    /// The card being made (after a waste: the remade card).
    pub card_id: i64,
    /// Where it stands.
    pub status: TaskStatus,
    /// Physical cards used so far: +1 per claim, -1 per release (a release
    /// means the printer never took a card).
    pub attempts: i32,
    /// Cards that may be used before the task fails.
    pub max_attempts: i32,
    /// The line working on it (while in production, and once done).
    pub line: Option<String>,
    /// The printer on that line.
    pub printer: Option<String>,
    /// The last step done (`claimed`, a line step, `done`), or a step
    /// under way that must not be repeated (`print:begun`: see
    /// [`super::begun_step`]).
    pub step: Option<String>,
    /// Who claimed it (the line's operator).
    pub operator: Option<String>,
    /// Why the last attempt failed or was released.
    pub last_error: Option<String>,
    /// When it was extracted (its place in the queue; a released or
    /// remade task keeps it and so is taken up next).
    pub queued_at: NaiveDateTime,
    /// When the current attempt was claimed.
    pub started_at: Option<NaiveDateTime>,
    /// When it ended `done` or `failed`.
    pub finished_at: Option<NaiveDateTime>,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = making_card_batches)]
pub(super) struct BatchRow {
    id: i64,
    kind: String,
    task_count: i32,
    created_by: String,
    created_at: NaiveDateTime,
}

impl TryFrom<BatchRow> for Batch {
    type Error = StorageError;

    fn try_from(row: BatchRow) -> Result<Self, StorageError> {
        Ok(Batch {
            id: row.id,
            kind: parse_column("making_card_batches.kind", &row.kind)?,
            task_count: row.task_count,
            created_by: row.created_by,
            created_at: row.created_at,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = making_card_tasks)]
pub(super) struct TaskRow {
    id: i64,
    batch_id: i64,
    application_id: i64,
    person_id: i64,
    card_id: i64,
    status: String,
    attempts: i32,
    max_attempts: i32,
    line: Option<String>,
    printer: Option<String>,
    step: Option<String>,
    operator: Option<String>,
    last_error: Option<String>,
    queued_at: NaiveDateTime,
    started_at: Option<NaiveDateTime>,
    finished_at: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
}

impl TryFrom<TaskRow> for Task {
    type Error = StorageError;

    fn try_from(row: TaskRow) -> Result<Self, StorageError> {
        Ok(Task {
            id: row.id,
            batch_id: row.batch_id,
            application_id: row.application_id,
            person_id: row.person_id,
            card_id: row.card_id,
            status: parse_column("making_card_tasks.status", &row.status)?,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            line: row.line,
            printer: row.printer,
            step: row.step,
            operator: row.operator,
            last_error: row.last_error,
            queued_at: row.queued_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            updated_at: row.updated_at,
        })
    }
}

fn tasks(rows: Vec<TaskRow>) -> Result<Vec<Task>, StorageError> {
    rows.into_iter().map(Task::try_from).collect()
}

/// The audit subject of a task.
pub(super) fn task_subject(id: i64) -> String {
    format!("making-card-task:{id}")
}

/// Which tasks [`list_tasks`] returns. The default is the newest 100 of
/// any status.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TaskFilter {
    /// Only tasks in this status.
    pub status: Option<TaskStatus>,
    /// Only tasks of this batch.
    pub batch_id: Option<i64>,
    /// Only tasks on this line.
    pub line: Option<String>,
    /// Most tasks returned (clamped to 1..=1000).
    pub limit: i64,
    /// Only tasks with a smaller id (the next page after the last id seen).
    pub before_id: Option<i64>,
}

impl Default for TaskFilter {
    fn default() -> Self {
        Self {
            status: None,
            batch_id: None,
            line: None,
            limit: 100,
            before_id: None,
        }
    }
}

/// Task counts by status (the monitoring wall's queue figures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// Waiting for a line.
    pub queued: i64,
    /// On a line.
    pub in_production: i64,
    /// Finished.
    pub done: i64,
    /// Given up after `max_attempts`.
    pub failed: i64,
}

/// The task with this id.
pub fn get_task(conn: &mut DbConnection, id: i64) -> Result<Task, StorageError> {
    on_backend!(conn, |c| making_card_tasks::table
        .find(id)
        .select(TaskRow::as_select())
        .first(c)
        .optional())
    .map_err(db("read a making-card task"))?
    .ok_or_else(|| StorageError::NotFound {
        what: "making-card task",
        key: id.to_string(),
    })?
    .try_into()
}

/// The task of an application, if it was extracted.
pub fn task_of_application(
    conn: &mut DbConnection,
    application_id: i64,
) -> Result<Option<Task>, StorageError> {
    making_card_tasks::table
        .filter(making_card_tasks::application_id.eq(application_id))
        .select(TaskRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read an application's making-card task"))?
        .map(Task::try_from)
        .transpose()
}

/// Tasks matching `filter`, newest first; page with `before_id`.
pub fn list_tasks(conn: &mut DbConnection, filter: &TaskFilter) -> Result<Vec<Task>, StorageError> {
    let mut query = making_card_tasks::table
        .select(TaskRow::as_select())
        .order(making_card_tasks::id.desc())
        .limit(page(filter.limit))
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(making_card_tasks::status.eq(status.as_str()));
    }
    if let Some(batch_id) = filter.batch_id {
        query = query.filter(making_card_tasks::batch_id.eq(batch_id));
    }
    if let Some(line) = &filter.line {
        query = query.filter(making_card_tasks::line.eq(line.clone()));
    }
    if let Some(before) = filter.before_id {
        query = query.filter(making_card_tasks::id.lt(before));
    }
    tasks(query.load(conn).map_err(db("list making-card tasks"))?)
}

/// The tasks in production on `line`, oldest first: at start-up the line
/// resumes each card from its last persisted step (`Task::step`).
pub fn in_flight_tasks(conn: &mut DbConnection, line: &str) -> Result<Vec<Task>, StorageError> {
    tasks(
        making_card_tasks::table
            .filter(making_card_tasks::line.eq(line))
            .filter(making_card_tasks::status.eq(TaskStatus::InProduction.as_str()))
            .order(making_card_tasks::id.asc())
            .select(TaskRow::as_select())
            .load(conn)
            .map_err(db("list a line's tasks in production"))?,
    )
}

/// The batch with this id.
pub fn get_batch(conn: &mut DbConnection, id: i64) -> Result<Batch, StorageError> {
    making_card_batches::table
        .find(id)
        .select(BatchRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read a making-card batch"))?
        .ok_or_else(|| StorageError::NotFound {
            what: "making-card batch",
            key: id.to_string(),
        })?
        .try_into()
}

/// The most recent batches, newest first.
pub fn list_batches(conn: &mut DbConnection, limit: i64) -> Result<Vec<Batch>, StorageError> {
    making_card_batches::table
        .order(making_card_batches::id.desc())
        .limit(page(limit))
        .select(BatchRow::as_select())
        .load(conn)
        .map_err(db("list making-card batches"))?
        .into_iter()
        .map(Batch::try_from)
        .collect()
}

/// How many tasks are in each status.
pub fn queue_counts(conn: &mut DbConnection) -> Result<QueueCounts, StorageError> {
    let rows: Vec<(String, i64)> = making_card_tasks::table
        .group_by(making_card_tasks::status)
        .select((making_card_tasks::status, diesel::dsl::count_star()))
        .load(conn)
        .map_err(db("count making-card tasks by status"))?;
    let mut counts = QueueCounts::default();
    for (status, n) in rows {
        let slot = match parse_column("making_card_tasks.status", &status)? {
            TaskStatus::Queued => &mut counts.queued,
            TaskStatus::InProduction => &mut counts.in_production,
            TaskStatus::Done => &mut counts.done,
            TaskStatus::Failed => &mut counts.failed,
        };
        *slot = n;
    }
    Ok(counts)
}

impl Store {
    /// [`get_task`] on the blocking pool.
    pub async fn get_task(&self, id: i64) -> Result<Task, StorageError> {
        self.run("workshop.get_task", move |conn| get_task(conn, id))
            .await
    }

    /// [`list_tasks`] on the blocking pool.
    pub async fn list_tasks(&self, filter: TaskFilter) -> Result<Vec<Task>, StorageError> {
        self.run("workshop.list_tasks", move |conn| list_tasks(conn, &filter))
            .await
    }

    /// [`in_flight_tasks`] on the blocking pool.
    pub async fn in_flight_tasks(&self, line: String) -> Result<Vec<Task>, StorageError> {
        self.run("workshop.in_flight_tasks", move |conn| {
            in_flight_tasks(conn, &line)
        })
        .await
    }

    /// [`get_batch`] on the blocking pool.
    pub async fn get_batch(&self, id: i64) -> Result<Batch, StorageError> {
        self.run("workshop.get_batch", move |conn| get_batch(conn, id))
            .await
    }

    /// [`list_batches`] on the blocking pool.
    pub async fn list_batches(&self, limit: i64) -> Result<Vec<Batch>, StorageError> {
        self.run("workshop.list_batches", move |conn| {
            list_batches(conn, limit)
        })
        .await
    }

    /// [`queue_counts`] on the blocking pool.
    pub async fn queue_counts(&self) -> Result<QueueCounts, StorageError> {
        self.run("workshop.queue_counts", queue_counts).await
    }
}
