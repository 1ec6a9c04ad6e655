//! Boxes and dispatch over HTTP (卡盒, 发运): finished cards sorted into
//! boxes by destination branch, boxes sealed and checked into the
//! warehouse (入库), dispatch batches made of warehouse boxes for one
//! district, sent (the cards `mailed`), signed for by the district and
//! then box by box by each branch (the cards `at-branch`).
//!
//! Every step and its rules (which status a box or batch must be in, which
//! boxes a district takes) are `cardhub_storage::workshop`'s; each writes
//! the box's or batch's status history, read back by the `GET`s. The card
//! status machine decides the card transitions: mailing is the centre's or
//! the workshop's, a branch's signature a branch operator's; an operator
//! of one branch may sign only for that branch's boxes.

use actix_web::{HttpResponse, get, post, web};
use cardhub_protocols::roles::Role;
use cardhub_storage::workshop::{self, BoxStatus};
use cardhub_storage::{branches, write_tx};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::query::page_size;
use super::{MAY_READ, MAY_WORK};
use crate::auth::{Caller, CallerKind};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::time::shanghai_today;

/// Cards per box when the request names no capacity: the largest carton
/// the dispatch desk uses holds 500 cards.
const DEFAULT_BOX_CAPACITY: i32 = 500;
/// Boxes listed when no `limit` is given.
const DEFAULT_PAGE: i64 = 100;
/// Roles that record a district's signature (the district's clerk signs at
/// the centre's or workshop's desk, or at a branch).
const MAY_SIGN_FOR_DISTRICT: [Role; 3] = [
    Role::WorkshopOperator,
    Role::CentreStaff,
    Role::BranchOperator,
];
/// Roles that record a branch's signature for its box.
const MAY_SIGN_FOR_BRANCH: [Role; 1] = [Role::BranchOperator];

/// A sorting run.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SortRequest {
    /// Cards a new box holds (1..=1000, default 500); a full box is sealed
    /// at once.
    #[serde(default)]
    pub capacity: Option<i32>,
}

/// `GET /workshop/boxes` parameters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BoxQuery {
    /// Only boxes in this status: `packing`, `sealed`, `in-warehouse`,
    /// `dispatched`, `district-signed`, `branch-signed`.
    #[param(value_type = Option<String>)]
    pub status: Option<BoxStatus>,
    /// Most boxes (1..=1000, default 100), newest first.
    pub limit: Option<i64>,
}

/// A dispatch batch to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchRequest {
    /// The district (区) it goes to; `CENTRE` for the centre's own counter.
    pub district: String,
    /// Its boxes: each in the warehouse, in no other batch, bound for a
    /// branch of that district.
    pub box_ids: Vec<i64>,
}

/// A branch's signature.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchSignRequest {
    /// The box the branch signs for (a box of this batch).
    pub box_id: i64,
}

/// Sorts every finished, unboxed card into boxes by destination branch.
#[utoipa::path(
    tag = "workshop",
    request_body = SortRequest,
    responses(
        (status = 200, description = "The boxes that received cards, by id: `id`, `box_number` (`<YYYYMMDD>-<branch code>-<NNN>`), `branch_id`, `status`, `capacity`, `card_count`, `dispatch_id`, `created_at`, `updated_at`; `[]` when no card waited"),
        (status = 422, description = "A capacity outside 1..=1000", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/workshop/boxes")]
pub async fn sort(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<SortRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_WORK)?;
    let capacity = body.capacity.unwrap_or(DEFAULT_BOX_CAPACITY);
    let boxes = state
        .store
        .sort_into_boxes(capacity, shanghai_today(), caller.actor())
        .await?;
    Ok(HttpResponse::Ok().json(boxes))
}

/// Seals a packing box by hand (a part-filled box at the end of a shift).
#[utoipa::path(
    tag = "workshop",
    params(("id" = i64, Path, description = "Box id")),
    responses(
        (status = 200, description = "The box, `sealed`"),
        (status = 404, description = "No such box", body = ErrorBody),
        (status = 409, description = "The box is empty or not packing", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/workshop/boxes/{id}/seal")]
pub async fn seal(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_WORK)?;
    let b = state
        .store
        .seal_box(id.into_inner(), caller.actor())
        .await?;
    Ok(HttpResponse::Ok().json(b))
}

/// Checks a sealed box into the warehouse (入库).
#[utoipa::path(
    tag = "workshop",
    params(("id" = i64, Path, description = "Box id")),
    responses(
        (status = 200, description = "The box, `in-warehouse`"),
        (status = 404, description = "No such box", body = ErrorBody),
        (status = 409, description = "The box is not sealed", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/workshop/boxes/{id}/warehouse-in")]
pub async fn warehouse_in(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_WORK)?;
    let b = state
        .store
        .warehouse_in(id.into_inner(), caller.actor())
        .await?;
    Ok(HttpResponse::Ok().json(b))
}

/// The most recent boxes.
#[utoipa::path(
    tag = "workshop",
    params(BoxQuery),
    responses(
        (status = 200, description = "Boxes, newest first"),
        (status = 400, description = "An unknown status or a bad limit", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/workshop/boxes")]
pub async fn list_boxes(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<BoxQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_READ)?;
    let limit = page_size(query.limit, DEFAULT_PAGE)?;
    Ok(HttpResponse::Ok().json(state.store.list_boxes(query.status, limit).await?))
}

/// One box with its cards and status history.
#[utoipa::path(
    tag = "workshop",
    params(("id" = i64, Path, description = "Box id")),
    responses(
        (status = 200, description = "`box`, `cards` (packing order) and `history` (`from`, `to`, `actor`, `role`, `at`, oldest first)"),
        (status = 404, description = "No such box", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/workshop/boxes/{id}")]
pub async fn get_box(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_READ)?;
    let (b, cards, history) = state.store.get_box(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "box": b,
        "cards": cards,
        "history": history,
    })))
}

/// Creates a dispatch batch of warehouse boxes for one district.
#[utoipa::path(
    tag = "workshop",
    request_body = DispatchRequest,
    responses(
        (status = 201, description = "The batch: `id`, `batch_number` (`<YYYYMMDD>-<district>-<NNN>`), `district`, `status` (`created`), `created_at`, `updated_at`"),
        (status = 404, description = "No such box", body = ErrorBody),
        (status = 409, description = "A box is not in the warehouse, already in a batch, or bound elsewhere", body = ErrorBody),
        (status = 422, description = "No district or no boxes", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/workshop/dispatches")]
pub async fn create_dispatch(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<DispatchRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_WORK)?;
    let DispatchRequest { district, box_ids } = body.into_inner();
    let d = state
        .store
        .create_dispatch(district, box_ids, shanghai_today(), caller.actor())
        .await?;
    Ok(HttpResponse::Created().json(d))
}

/// Sends a batch: its cards are mailed, its boxes dispatched.
#[utoipa::path(
    tag = "workshop",
    params(("id" = i64, Path, description = "Dispatch batch id")),
    responses(
        (status = 200, description = "The batch, `dispatched`"),
        (status = 404, description = "No such batch", body = ErrorBody),
        (status = 409, description = "The batch is not `created`, or a card cannot be mailed", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/workshop/dispatches/{id}/dispatch")]
pub async fn send(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_WORK)?;
    let d = state
        .store
        .dispatch(id.into_inner(), caller.actor())
        .await?;
    Ok(HttpResponse::Ok().json(d))
}

/// Records the district's signature for a dispatched batch.
#[utoipa::path(
    tag = "workshop",
    params(("id" = i64, Path, description = "Dispatch batch id")),
    responses(
        (status = 200, description = "The batch, `district-signed` (its boxes too)"),
        (status = 404, description = "No such batch", body = ErrorBody),
        (status = 409, description = "The batch is not `dispatched`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/workshop/dispatches/{id}/district-sign-off")]
pub async fn district_sign_off(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_SIGN_FOR_DISTRICT)?;
    let d = state
        .store
        .district_sign_off(id.into_inner(), caller.actor())
        .await?;
    Ok(HttpResponse::Ok().json(d))
}

/// Records a branch's signature for its box of a batch: the box's cards
/// are at the branch; the batch is `completed` with its last box.
#[utoipa::path(
    tag = "workshop",
    params(("id" = i64, Path, description = "Dispatch batch id")),
    request_body = BranchSignRequest,
    responses(
        (status = 200, description = "The box, `branch-signed`"),
        (status = 403, description = "The caller's branch is not the box's", body = ErrorBody),
        (status = 404, description = "No such box", body = ErrorBody),
        (status = 409, description = "The box is not in this batch, or the district has not signed", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/workshop/dispatches/{id}/branch-sign-off")]
pub async fn branch_sign_off(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<BranchSignRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_SIGN_FOR_BRANCH)?;
    let (dispatch_id, box_id) = (id.into_inner(), body.box_id);
    let own_branch = match &caller.kind {
        CallerKind::Operator { branch, .. } if caller.role == Role::BranchOperator => {
            branch.clone()
        }
        _ => None,
    };
    let hsm = state.store.hsm().clone();
    let actor = caller.actor();
    let signed = state
        .store
        .write("workshop.branch_sign_off_of_batch", move |conn| {
            write_tx(conn, |conn| {
                let (b, _, _) = workshop::get_box(conn, box_id)?;
                if b.dispatch_id != Some(dispatch_id) {
                    return Ok(Err(Refusal::OtherBatch(b.box_number)));
                }
                if let Some(code) = &own_branch {
                    let mine = branches::get_by_code(conn, code)?;
                    if b.branch_id != Some(mine.id) {
                        return Ok(Err(Refusal::OtherBranch(b.box_number)));
                    }
                }
                workshop::branch_sign_off(conn, hsm.as_ref(), box_id, &actor).map(Ok)
            })
        })
        .await?;
    match signed {
        Ok(b) => Ok(HttpResponse::Ok().json(b)),
        Err(Refusal::OtherBatch(number)) => Err(ApiError::Conflict {
            code: "wrong-batch",
            message: format!(
                "box {number} is not in dispatch batch {dispatch_id}: sign for it on its own batch"
            ),
            detail: None,
        }),
        Err(Refusal::OtherBranch(number)) => Err(ApiError::Refused {
            message: format!(
                "box {number} is not bound for your branch: an operator signs only for the boxes of their own branch"
            ),
            detail: None,
        }),
    }
}

/// Why a branch's signature is refused before storage is asked (the box
/// number in each).
enum Refusal {
    /// The box is not in the batch named in the path.
    OtherBatch(String),
    /// The box goes to another branch than the operator's.
    OtherBranch(String),
}

/// One dispatch batch with its boxes and status history.
#[utoipa::path(
    tag = "workshop",
    params(("id" = i64, Path, description = "Dispatch batch id")),
    responses(
        (status = 200, description = "`dispatch`, `boxes` and `history` (`from`, `to`, `actor`, `role`, `at`, oldest first)"),
        (status = 404, description = "No such batch", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/workshop/dispatches/{id}")]
pub async fn get_dispatch(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_READ)?;
    let (d, boxes, history) = state.store.get_dispatch(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "dispatch": d,
        "boxes": boxes,
        "history": history,
    })))
}
