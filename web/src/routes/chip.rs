//! Chips over HTTP: the card readers the hub drives, personalisation (个人化)
//! and the card check (验卡) of the card in a reader, PIN change, reset and
//! unblock, and the jobs that record each of them.
//!
//! A job request returns `202` with the job as recorded (`running`); with
//! `"wait": true` it returns `200` with the job as finally recorded (`done`,
//! `failed` or `interrupted`, with its result or error). The work itself is
//! done by the reader's actor (`cardhub_actors::chip`).

use actix::MailboxError;
use actix_web::{HttpResponse, get, post, web};
use cardhub_actors::chip::{ChipError, JobRequest, JobTicket, ListReaders, PinOperation, RunJob};
use cardhub_protocols::roles::Role;
use cardhub_storage::chips::ChipJob;
use serde::Deserialize;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Roles that personalise chips (the workshop, the centre).
const MAY_PERSONALISE: [Role; 2] = [Role::WorkshopOperator, Role::CentreStaff];
/// Roles that check cards (the workshop's QC, branches, the centre).
const MAY_CHECK: [Role; 3] = [
    Role::WorkshopOperator,
    Role::BranchOperator,
    Role::CentreStaff,
];
/// Roles that serve a holder's PIN (branches, the centre).
const MAY_SERVE_PIN: [Role; 2] = [Role::BranchOperator, Role::CentreStaff];
/// Roles that may look at readers and jobs.
const MAY_LOOK: [Role; 4] = [
    Role::WorkshopOperator,
    Role::BranchOperator,
    Role::CentreStaff,
    Role::Screen,
];

/// A personalisation or card check of one card.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardJobRequest {
    /// The card whose data is written or compared.
    pub card_id: i64,
    /// Check only, for a permanent-residence holder: the Chinese name on the
    /// permanent-residence card presented at the counter, compared with the
    /// permanent-residence record (the chip carries the English name).
    #[serde(default)]
    pub permit_chinese_name: Option<String>,
    /// Answer when the job has ended instead of when it has started.
    #[serde(default)]
    pub wait: bool,
}

/// A PIN operation on the card in a reader.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinRequest {
    /// `change` (needs `old_pin` and `new_pin`), `reset` (needs `new_pin`) or
    /// `unblock`.
    pub operation: String,
    /// The current PIN, for `change`.
    #[serde(default)]
    pub old_pin: Option<String>,
    /// The new PIN, for `change` and `reset`.
    #[serde(default)]
    pub new_pin: Option<String>,
    /// Answer when the job has ended instead of when it has started.
    #[serde(default)]
    pub wait: bool,
}

impl PinRequest {
    fn operation(self) -> Result<PinOperation, ApiError> {
        let need = |pin: Option<String>, name: &str| {
            pin.map(Zeroizing::new)
                .ok_or_else(|| ApiError::Unprocessable {
                    code: "invalid",
                    message: format!("`{name}` is needed for the `{}` operation", self.operation),
                    detail: None,
                })
        };
        match self.operation.as_str() {
            "change" => Ok(PinOperation::Change {
                old: need(self.old_pin.clone(), "old_pin")?,
                new: need(self.new_pin.clone(), "new_pin")?,
            }),
            "reset" => Ok(PinOperation::Reset {
                new: need(self.new_pin.clone(), "new_pin")?,
            }),
            "unblock" => Ok(PinOperation::Unblock),
            other => Err(ApiError::Unprocessable {
                code: "invalid",
                message: format!("`{other}` is not a PIN operation: use change, reset or unblock"),
                detail: None,
            }),
        }
    }
}

impl From<ChipError> for ApiError {
    fn from(e: ChipError) -> Self {
        match e {
            ChipError::UnknownReader { .. } => ApiError::NotFound(e.to_string()),
            ChipError::ReaderBusy { .. } | ChipError::ReaderStopped { .. } => ApiError::Conflict {
                code: "reader-busy",
                message: e.to_string(),
                detail: None,
            },
            ChipError::ReadersUnavailable(_) | ChipError::Disabled => {
                ApiError::Unavailable(e.to_string())
            }
            ChipError::Storage(s) => s.into(),
        }
    }
}

fn mailbox(e: MailboxError) -> ApiError {
    ApiError::Unavailable(format!(
        "the card reader service is restarting ({e}); try again"
    ))
}

async fn run(
    state: &AppState,
    reader: String,
    request: JobRequest,
    wait: bool,
) -> Result<HttpResponse, ApiError> {
    let manager = state.reader_manager().await?;
    let JobTicket { job, done } = manager
        .send(RunJob { reader, request })
        .await
        .map_err(mailbox)??;
    if !wait {
        return Ok(HttpResponse::Accepted().json(job));
    }
    let id = job.id;
    match done.await {
        Ok(finished) => Ok(HttpResponse::Ok().json(finished)),
        // The actor stopped before recording an outcome: report the job
        // as it is stored now.
        Err(_) => Ok(HttpResponse::Ok().json(state.store.get_chip_job(id).await?)),
    }
}

/// The card readers the hub drives and what each holds.
#[utoipa::path(
    tag = "chip",
    responses(
        (status = 200, description = "The readers: name, ATR of the card in it, running job"),
        (status = 503, description = "pcscd is not running or chip work is off", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/readers")]
pub async fn readers(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_LOOK)?;
    let manager = state.reader_manager().await?;
    let list = manager.send(ListReaders).await.map_err(mailbox)??;
    Ok(HttpResponse::Ok().json(list))
}

/// Formats the chip in the reader and writes the card's data to it.
#[utoipa::path(
    tag = "chip",
    params(("reader" = String, Path, description = "The reader's PC/SC name")),
    request_body = CardJobRequest,
    responses(
        (status = 200, description = "With `wait`: the job as it ended"),
        (status = 202, description = "The job, started"),
        (status = 404, description = "No such reader or card", body = ErrorBody),
        (status = 409, description = "The reader is busy", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/readers/{reader}/personalise")]
pub async fn personalise(
    state: web::Data<AppState>,
    caller: Caller,
    reader: web::Path<String>,
    body: web::Json<CardJobRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_PERSONALISE)?;
    let CardJobRequest { card_id, wait, .. } = body.into_inner();
    let request = JobRequest::Personalise {
        card_id,
        actor: caller.actor(),
    };
    run(&state, reader.into_inner(), request, wait).await
}

/// Reads the chip in the reader back and compares it field by field with
/// the card's data; the result lists every mismatch.
#[utoipa::path(
    tag = "chip",
    params(("reader" = String, Path, description = "The reader's PC/SC name")),
    request_body = CardJobRequest,
    responses(
        (status = 200, description = "With `wait`: the job as it ended, `result.mismatches` listing each field that differs"),
        (status = 202, description = "The job, started"),
        (status = 404, description = "No such reader or card", body = ErrorBody),
        (status = 409, description = "The reader is busy", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/readers/{reader}/check")]
pub async fn check(
    state: web::Data<AppState>,
    caller: Caller,
    reader: web::Path<String>,
    body: web::Json<CardJobRequest>,
) -> Result<HttpResponse, ApiError> {
    check_on(&state, &caller, reader.into_inner(), body.into_inner()).await
}

/// Runs a card check on `reader` (a PC/SC name or a branch terminal's
/// `terminal://` reader).
pub(crate) async fn check_on(
    state: &AppState,
    caller: &Caller,
    reader: String,
    body: CardJobRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_CHECK)?;
    let CardJobRequest {
        card_id,
        permit_chinese_name,
        wait,
    } = body;
    let request = JobRequest::Check {
        card_id,
        permit_chinese_name,
        actor: caller.actor(),
    };
    run(state, reader, request, wait).await
}

/// Changes, resets or unblocks the PIN of the card in the reader; the
/// result reports the card's retry counter.
#[utoipa::path(
    tag = "chip",
    params(("reader" = String, Path, description = "The reader's PC/SC name")),
    request_body = PinRequest,
    responses(
        (status = 200, description = "With `wait`: the job as it ended, `result.tries_left` from the card"),
        (status = 202, description = "The job, started"),
        (status = 404, description = "No such reader", body = ErrorBody),
        (status = 409, description = "The reader is busy", body = ErrorBody),
        (status = 422, description = "Unknown operation or a PIN missing", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/readers/{reader}/pin")]
pub async fn pin_operation(
    state: web::Data<AppState>,
    caller: Caller,
    reader: web::Path<String>,
    body: web::Json<PinRequest>,
) -> Result<HttpResponse, ApiError> {
    pin_on(&state, &caller, reader.into_inner(), body.into_inner()).await
}

/// Runs a PIN operation on `reader` (a PC/SC name or a branch terminal's
/// `terminal://` reader).
pub(crate) async fn pin_on(
    state: &AppState,
    caller: &Caller,
    reader: String,
    body: PinRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_SERVE_PIN)?;
    let wait = body.wait;
    let request = JobRequest::Pin {
        operation: body.operation()?,
        actor: caller.actor(),
    };
    run(state, reader, request, wait).await
}

/// One chip job: personalisation, check or PIN operation.
#[utoipa::path(
    tag = "chip",
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job"),
        (status = 404, description = "No such job", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/chip-jobs/{id}")]
pub async fn get_job(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_LOOK)?;
    let job: ChipJob = state.store.get_chip_job(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(job))
}

/// A card's chip (as bound at personalisation) and every chip job on it.
#[utoipa::path(
    tag = "chip",
    params(("id" = i64, Path, description = "Card id")),
    responses(
        (status = 200, description = "`chip` (null before personalisation) and `jobs`, oldest first"),
        (status = 404, description = "No such card", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/cards/{id}/chip")]
pub async fn card_chip(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_LOOK)?;
    let id = id.into_inner();
    state.store.get_card(id).await?;
    let chip = state.store.chip_of_card(id).await?;
    let jobs = state.store.chip_jobs_of_card(id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "chip": chip, "jobs": jobs })))
}
