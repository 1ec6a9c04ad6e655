//! Extraction and the making-card queue over HTTP: `POST
//! /workshop/extractions` turns data-prepared cards into one batch of
//! queued tasks (制卡任务抽取; `permanent-residence` is the separate
//! extraction, 单独抽取), then the batches, the tasks with their steps and
//! wastes, a task failed or retried by hand, and the queue's counts.
//!
//! The rules (one task per application, `max_attempts` cards per task,
//! which task may be failed or retried) are `cardhub_storage::workshop`'s;
//! a refusal there is a 409 that names the task's status and what to do.

use actix_web::{HttpResponse, get, post, web};
use cardhub_storage::snapshot_tx;
use cardhub_storage::workshop::{
    self, Extraction, ExtractionKind, TaskFilter, TaskStatus, steps_of_task, waste_of_task,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::query::page_size;
use super::{MAY_EXTRACT, MAY_READ, MAY_WORK};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Tasks or batches listed when no `limit` is given.
const DEFAULT_PAGE: i64 = 100;

/// An extraction to run.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtractionRequest {
    /// `normal` (every data-prepared card but permanent-residence
    /// holders') or `permanent-residence` (only theirs; each task queues
    /// the holder's reminder SMS).
    #[schema(value_type = String, example = "normal")]
    pub kind: ExtractionKind,
    /// Most tasks to create; none: every waiting card.
    #[serde(default)]
    pub limit: Option<i64>,
}

/// What an extraction made.
#[derive(Serialize, ToSchema)]
pub struct ExtractionResponse {
    /// The batch: `id`, `kind`, `task_count`, `created_by`, `created_at`.
    #[schema(value_type = Object)]
    pub batch: workshop::Batch,
    /// The tasks created, oldest card first.
    pub task_ids: Vec<i64>,
}

/// `GET /workshop/batches` parameters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BatchQuery {
    /// Most batches (1..=1000, default 100), newest first.
    pub limit: Option<i64>,
}

/// `GET /workshop/tasks` parameters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// Only tasks in this status: `queued`, `in-production`, `done`, `failed`.
    #[param(value_type = Option<String>)]
    pub status: Option<TaskStatus>,
    /// Only tasks of this batch.
    pub batch_id: Option<i64>,
    /// Only tasks on this line.
    pub line: Option<String>,
    /// Most tasks (1..=1000, default 100), newest first.
    pub limit: Option<i64>,
    /// Only tasks with a smaller id: the next page after the last id seen.
    pub before_id: Option<i64>,
}

impl TaskQuery {
    fn filter(self) -> Result<TaskFilter, ApiError> {
        Ok(TaskFilter {
            status: self.status,
            batch_id: self.batch_id,
            line: self.line,
            limit: page_size(self.limit, DEFAULT_PAGE)?,
            before_id: self.before_id,
        })
    }
}

/// Why a task is taken off its line.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailRequest {
    /// What is wrong with the holder's data (kept as the task's
    /// `last_error`, in its steps and in the audit log).
    pub reason: String,
}

/// Extracts making-card tasks from the data-prepared cards, in one batch.
#[utoipa::path(
    tag = "workshop",
    request_body = ExtractionRequest,
    responses(
        (status = 201, description = "The batch and its task ids", body = ExtractionResponse),
        (status = 400, description = "Malformed body or unknown kind", body = ErrorBody),
        (status = 404, description = "No data-prepared card waits for this extraction", body = ErrorBody),
        (status = 409, description = "Another extraction took the same cards at the same time", body = ErrorBody),
        (status = 422, description = "A limit below 1", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/workshop/extractions")]
pub async fn extract(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<ExtractionRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_EXTRACT)?;
    let ExtractionRequest { kind, limit } = body.into_inner();
    let request = Extraction {
        kind,
        limit,
        max_attempts: state.config.workshop.max_attempts,
    };
    let (batch, tasks) = state.store.extract(request, caller.actor()).await?;
    Ok(HttpResponse::Created().json(ExtractionResponse {
        batch,
        task_ids: tasks.iter().map(|t| t.id).collect(),
    }))
}

/// The most recent extraction batches.
#[utoipa::path(
    tag = "workshop",
    params(BatchQuery),
    responses(
        (status = 200, description = "Batches, newest first: `id`, `kind`, `task_count`, `created_by`, `created_at`"),
        (status = 400, description = "A bad limit", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/workshop/batches")]
pub async fn batches(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<BatchQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_READ)?;
    let limit = page_size(query.limit, DEFAULT_PAGE)?;
    Ok(HttpResponse::Ok().json(state.store.list_batches(limit).await?))
}

/// Making-card tasks, newest first, filtered.
#[utoipa::path(
    tag = "workshop",
    params(TaskQuery),
    responses(
        (status = 200, description = "Tasks: `id`, `batch_id`, `application_id`, `person_id`, `card_id`, `status`, `attempts`, `max_attempts`, `line`, `printer`, `step`, `operator`, `last_error`, `queued_at`, `started_at`, `finished_at`, `updated_at`"),
        (status = 400, description = "An unknown status or a bad limit", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/workshop/tasks")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<TaskQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_READ)?;
    let filter = query.into_inner().filter()?;
    Ok(HttpResponse::Ok().json(state.store.list_tasks(filter).await?))
}

/// One task with its steps and wasted cards.
#[utoipa::path(
    tag = "workshop",
    params(("id" = i64, Path, description = "Task id")),
    responses(
        (status = 200, description = "`task`, `steps` (in order, over every card and attempt) and `waste` (its wasted cards, oldest first)"),
        (status = 404, description = "No such task", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/workshop/tasks/{id}")]
pub async fn get_task(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_READ)?;
    let id = id.into_inner();
    let (task, steps, waste) = state
        .store
        .run("workshop.task_detail", move |conn| {
            snapshot_tx(conn, |conn| {
                let task = workshop::get_task(conn, id)?;
                let steps = steps_of_task(conn, id)?;
                let waste = waste_of_task(conn, id)?;
                Ok((task, steps, waste))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "task": task,
        "steps": steps,
        "waste": waste,
    })))
}

/// Takes a task off its line for bad holder data no remake can fix; a
/// card already printed becomes waste.
#[utoipa::path(
    tag = "workshop",
    params(("id" = i64, Path, description = "Task id")),
    request_body = FailRequest,
    responses(
        (status = 200, description = "The task, now `failed`"),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 409, description = "The task is not in production", body = ErrorBody),
        (status = 422, description = "An empty reason", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/workshop/tasks/{id}/fail")]
pub async fn fail(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<FailRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_WORK)?;
    let task = state
        .store
        .fail_task(id.into_inner(), body.into_inner().reason, caller.actor())
        .await?;
    Ok(HttpResponse::Ok().json(task))
}

/// Puts a failed task back in the queue (on a remade card if its card was
/// wasted), once the cause is dealt with.
#[utoipa::path(
    tag = "workshop",
    params(("id" = i64, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task, now `queued` with `attempts` 0"),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 409, description = "The task is not failed, or its card was cancelled", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/workshop/tasks/{id}/retry")]
pub async fn retry(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_WORK)?;
    let task = state
        .store
        .retry_task(id.into_inner(), caller.actor())
        .await?;
    Ok(HttpResponse::Ok().json(task))
}

/// How many tasks are in each status (the monitoring wall's figures).
#[utoipa::path(
    tag = "workshop",
    responses(
        (status = 200, description = "`queued`, `in_production`, `done`, `failed`"),
    ),
    security(("bearer" = []))
)]
#[get("/workshop/queue")]
pub async fn queue(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_READ)?;
    Ok(HttpResponse::Ok().json(state.store.queue_counts().await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> Result<TaskQuery, String> {
        web::Query::<TaskQuery>::from_query(text)
            .map(web::Query::into_inner)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn task_queries_become_filters() {
        let filter = query("status=in-production&line=line-1&limit=5&before_id=40&batch_id=2")
            .expect("a query")
            .filter()
            .expect("a filter");
        assert_eq!(
            filter,
            TaskFilter {
                status: Some(TaskStatus::InProduction),
                batch_id: Some(2),
                line: Some("line-1".to_owned()),
                limit: 5,
                before_id: Some(40),
            }
        );
        let default = query("").expect("empty").filter().expect("a filter");
        assert_eq!(default, TaskFilter::default());
    }

    #[test]
    fn bad_task_queries_say_what_is_wrong() {
        let status = query("status=printing").err().expect("an unknown status");
        assert!(
            status.contains("printing") && status.contains("queued"),
            "{status}"
        );
        assert!(query("colour=red").is_err());
        assert!(query("limit=0").expect("parses").filter().is_err());
    }
}
