//! A branch counter's devices over HTTP, driven through the branch
//! terminal's link: read the ID / permanent-residence card on the ID
//! reader, take the applicant's photo, check the social security card in
//! the card reader (验卡) and change, reset or unblock its PIN. The
//! devices are `terminal://TERMINAL/DEVICE` remote drivers
//! (`cardhub_devices::remote`) behind the same traits as local ones: the
//! card check and PIN jobs are the chip's, run by the reader's own actor.
//!
//! A branch operator may use only the terminals of their own branch. A
//! device that is away (the terminal's link down, the reader unplugged)
//! answers 503 with the reason; a card that is not there 409.

use std::time::Duration;

use actix_web::{HttpResponse, post, web};
use base64::Engine;
use cardhub_devices::camera::{PhotoCamera, PhotoRules};
use cardhub_devices::id_reader::{CardRead, IdCardReader, IdReaderError};
use cardhub_devices::remote::{RemoteAddress, RemoteCamera, RemoteIdReader};
use cardhub_protocols::id_reader::{CardKind, IdCard};
use cardhub_protocols::roles::Role;
use cardhub_storage::branch::id_reads::NewIdRead;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, CallerKind};
use crate::error::{ApiError, ErrorBody};
use crate::routes::chip::{self, CardJobRequest, PinRequest};
use crate::state::AppState;
use crate::time::shanghai_today;

/// Roles that work a branch counter's devices.
const MAY_USE: [Role; 2] = [Role::BranchOperator, Role::CentreStaff];

/// Longest wait for a card to be placed on the ID reader.
const MAX_WAIT_SECS: u64 = 60;

/// What to read with.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdReadRequest {
    /// The ID reader's name on the terminal (`id-reader-1`).
    #[serde(default = "default_id_reader")]
    pub device: String,
    /// How long to wait for a card to be placed (seconds, at most 60).
    #[serde(default = "default_wait")]
    pub wait_secs: u64,
}

fn default_id_reader() -> String {
    "id-reader-1".to_owned()
}

fn default_wait() -> u64 {
    10
}

/// The card read, decoded by the hub.
#[derive(Serialize, ToSchema)]
pub struct IdReadView {
    /// `resident`, `permanent-residence-2017` or `permanent-residence-2023`.
    pub card_kind: String,
    /// The card's name in Chinese (居民身份证...).
    pub card_kind_label: &'static str,
    /// The document number as on the card.
    pub document_number: String,
    /// The hub's record of this read: what an application names as its
    /// evidence that the card was read at the counter (`id_read_id`).
    pub id_read_id: i64,
    /// 姓名 as the card gives it (a permanent-residence card's Chinese name
    /// when it prints one, else its English name).
    pub name: String,
    /// The English name of a permanent-residence holder (the name the
    /// holder is registered and the chip written under).
    pub english_name: Option<String>,
    /// The Chinese name of a permanent-residence holder (may be empty).
    pub chinese_name: Option<String>,
    /// `male` or `female`.
    pub sex: String,
    /// Birth date.
    #[schema(value_type = String, format = Date)]
    pub birth_date: chrono::NaiveDate,
    /// End of validity (none: long-term).
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<chrono::NaiveDate>,
    /// ISO 3166-1 numeric nationality, when the card says.
    pub nationality: Option<u16>,
    /// Whether the number passed its checks on today's date.
    pub number_ok: bool,
    /// Why the number is not to be trusted, when not.
    pub number_problem: Option<String>,
}

impl IdReadView {
    fn new(read: &CardRead, id_read_id: i64) -> Self {
        let card = &read.card;
        let (english_name, chinese_name) = match card {
            IdCard::PermanentResidence2017 {
                english_name,
                chinese_name,
                ..
            }
            | IdCard::PermanentResidence2023 {
                english_name,
                chinese_name,
                ..
            } => (Some(english_name.clone()), Some(chinese_name.clone())),
            _ => (None, None),
        };
        Self {
            id_read_id,
            english_name,
            card_kind: match card.kind() {
                CardKind::Resident => "resident",
                CardKind::PermanentResidence2017 => "permanent-residence-2017",
                CardKind::PermanentResidence2023 => "permanent-residence-2023",
                _ => "other",
            }
            .to_owned(),
            card_kind_label: card.kind().name_zh(),
            document_number: card.number().to_owned(),
            name: card.name().to_owned(),
            chinese_name,
            sex: format!("{:?}", card.sex()).to_lowercase(),
            birth_date: card.birth_date(),
            valid_to: card.valid_to(),
            nationality: card.nationality().map(|n| n.numeric),
            number_ok: read.number.is_ok(),
            number_problem: read.number.as_ref().err().map(|p| p.to_string()),
        }
    }
}

/// What to take the photo with.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoRequest {
    /// The camera's name on the terminal (`camera-1`).
    #[serde(default = "default_camera")]
    pub device: String,
}

fn default_camera() -> String {
    "camera-1".to_owned()
}

/// A photo the centre's rules accept.
#[derive(Serialize, ToSchema)]
pub struct PhotoView {
    /// The camera's file name.
    pub file_name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size in bytes.
    pub bytes: usize,
    /// The JPEG, base64 (hand it to the application as its photo).
    pub jpeg_base64: String,
}

/// Refuses unless the caller may work `terminal`'s devices: a branch
/// operator only those of their own branch. Returns the registration.
async fn check_terminal(
    state: &AppState,
    caller: &Caller,
    terminal: &str,
) -> Result<cardhub_storage::terminals::Terminal, ApiError> {
    caller.require(&MAY_USE)?;
    let registered = state.store.terminal(terminal.to_owned()).await?;
    if let CallerKind::Operator {
        branch: Some(branch),
        ..
    } = &caller.kind
        && *branch != registered.branch_code
        && caller.role == Role::BranchOperator
    {
        return Err(ApiError::Refused {
            message: format!(
                "terminal {terminal} belongs to branch {}, not to yours ({branch}): use your own counter's terminal",
                registered.branch_code
            ),
            detail: None,
        });
    }
    Ok(registered)
}

fn address(terminal: &str, device: &str) -> Result<RemoteAddress, ApiError> {
    match RemoteAddress::parse(&format!(
        "{}{terminal}/{device}",
        cardhub_devices::remote::SCHEME
    )) {
        Some(Ok(a)) => Ok(a),
        Some(Err(e)) => Err(ApiError::BadRequest(e.to_string())),
        None => Err(ApiError::Internal("terminal address scheme".to_owned())),
    }
}

/// Reads the card placed on the terminal's ID reader (waiting up to
/// `wait_secs` for it) and decodes it.
#[utoipa::path(
    tag = "branch",
    params(("terminal" = String, Path, description = "The terminal's registered id")),
    request_body = IdReadRequest,
    responses(
        (status = 200, description = "The card read", body = IdReadView),
        (status = 409, description = "No card was placed, or it was lifted mid-read", body = ErrorBody),
        (status = 422, description = "The card's text cannot be used", body = ErrorBody),
        (status = 503, description = "The terminal or its reader is away", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/branch/terminals/{terminal}/id-card")]
pub async fn read_id_card(
    state: web::Data<AppState>,
    caller: Caller,
    terminal: web::Path<String>,
    body: web::Json<IdReadRequest>,
) -> Result<HttpResponse, ApiError> {
    let terminal = terminal.into_inner();
    let registered = check_terminal(&state, &caller, &terminal).await?;
    let IdReadRequest { device, wait_secs } = body.into_inner();
    let address = address(&terminal, &device)?;
    let wait = Duration::from_secs(wait_secs.min(MAX_WAIT_SECS));
    let today = shanghai_today();
    let read = web::block(move || RemoteIdReader::new(address).read_when_present(wait, today))
        .await
        .map_err(|e| ApiError::Internal(format!("the ID reader's worker stopped: {e}")))?
        .map_err(id_reader_error)?;
    tracing::info!(terminal = %terminal, kind = %read.card.kind(), number_ok = read.number.is_ok(),
        operator = %caller.name, "ID card read at a branch");
    // The read is the evidence an application at this counter names:
    // recorded (and audited) before it is shown.
    let branch = state.store.branch_by_code(registered.branch_code).await?;
    let id_read_id = state
        .store
        .record_id_read(
            NewIdRead::from_card(&read.card, branch.id, terminal, cardhub_storage::utc_now()),
            caller.actor(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(IdReadView::new(&read, id_read_id)))
}

fn id_reader_error(e: IdReaderError) -> ApiError {
    match e {
        IdReaderError::NoCard { .. }
        | IdReaderError::NoCardWithin { .. }
        | IdReaderError::SelectFailed { .. }
        | IdReaderError::ReadFailed { .. } => ApiError::Conflict {
            code: "no-card",
            message: e.to_string(),
            detail: None,
        },
        IdReaderError::Text { .. } => ApiError::Unprocessable {
            code: "unreadable-card",
            message: e.to_string(),
            detail: None,
        },
        e => ApiError::Unavailable(e.to_string()),
    }
}

/// Takes the applicant's photo with the terminal's camera and checks it
/// against the centre's photo rules.
#[utoipa::path(
    tag = "branch",
    params(("terminal" = String, Path, description = "The terminal's registered id")),
    request_body = PhotoRequest,
    responses(
        (status = 200, description = "The photo, accepted by the rules", body = PhotoView),
        (status = 422, description = "The photo breaks a rule (size, dimensions, format): take it again", body = ErrorBody),
        (status = 503, description = "The terminal or its camera is away", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/branch/terminals/{terminal}/photo")]
pub async fn take_photo(
    state: web::Data<AppState>,
    caller: Caller,
    terminal: web::Path<String>,
    body: web::Json<PhotoRequest>,
) -> Result<HttpResponse, ApiError> {
    let terminal = terminal.into_inner();
    check_terminal(&state, &caller, &terminal).await?;
    let address = address(&terminal, &body.device)?;
    let photo = web::block(move || RemoteCamera::new(address).take_photo())
        .await
        .map_err(|e| ApiError::Internal(format!("the camera's worker stopped: {e}")))?
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let facts = PhotoRules::default()
        .check(&photo.bytes)
        .map_err(|refusal| ApiError::Unprocessable {
            code: "photo-refused",
            message: format!("{refusal}: take the photo again"),
            detail: Some(serde_json::json!({ "rule": refusal.rule() })),
        })?;
    Ok(HttpResponse::Ok().json(PhotoView {
        file_name: photo.file_name,
        width: facts.width,
        height: facts.height,
        bytes: facts.bytes,
        jpeg_base64: base64::engine::general_purpose::STANDARD.encode(&photo.bytes),
    }))
}

/// 验卡: checks the social security card in the terminal's card reader
/// against the centre's record, field by field; the job's result lists
/// every mismatch.
#[utoipa::path(
    tag = "branch",
    params(
        ("terminal" = String, Path, description = "The terminal's registered id"),
        ("device" = String, Path, description = "The card reader's name on the terminal"),
    ),
    request_body = CardJobRequest,
    responses(
        (status = 200, description = "With `wait`: the check as it ended, `result.mismatches` listing each field that differs"),
        (status = 202, description = "The check, started"),
        (status = 404, description = "No such reader (the terminal has not reported it) or card", body = ErrorBody),
        (status = 409, description = "The reader is busy", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/branch/terminals/{terminal}/readers/{device}/check")]
pub async fn check_card(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<CardJobRequest>,
) -> Result<HttpResponse, ApiError> {
    let (terminal, device) = path.into_inner();
    check_terminal(&state, &caller, &terminal).await?;
    let reader = address(&terminal, &device)?.to_string();
    chip::check_on(&state, &caller, reader, body.into_inner()).await
}

/// Changes, resets or unblocks the PIN of the card in the terminal's card
/// reader; the card's retry counter is reported.
#[utoipa::path(
    tag = "branch",
    params(
        ("terminal" = String, Path, description = "The terminal's registered id"),
        ("device" = String, Path, description = "The card reader's name on the terminal"),
    ),
    request_body = PinRequest,
    responses(
        (status = 200, description = "With `wait`: the PIN job as it ended, with the retries left"),
        (status = 202, description = "The job, started"),
        (status = 404, description = "No such reader or card", body = ErrorBody),
        (status = 409, description = "The reader is busy", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/branch/terminals/{terminal}/readers/{device}/pin")]
pub async fn pin(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<PinRequest>,
) -> Result<HttpResponse, ApiError> {
    let (terminal, device) = path.into_inner();
    check_terminal(&state, &caller, &terminal).await?;
    let reader = address(&terminal, &device)?.to_string();
    chip::pin_on(&state, &caller, reader, body.into_inner()).await
}

/// A card to make at the counter now.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstantIssueRequest {
    /// The application (a replacement or an instant issue) whose card is
    /// made; its photo must be stored.
    pub application_id: i64,
    /// Physical cards the task may use before it fails (default 2).
    #[serde(default = "default_instant_attempts")]
    pub max_attempts: i32,
}

fn default_instant_attempts() -> i32 {
    2
}

/// The task making the card, to follow with `GET /api/v1/workshop/tasks/{id}`
/// (or the branch line's entity on `/ws/monitor`).
#[derive(Serialize, ToSchema)]
pub struct InstantIssueView {
    /// The making-card task.
    pub task_id: i64,
    /// The card being made.
    pub card_id: i64,
    /// The branch's instant-issue line.
    pub line: String,
}

/// 即时补换: makes the application's card now on the branch's own printer,
/// through the workshop's pipeline (chip, print, QC read-back) run on the
/// branch's instant-issue line. The photo is checked and the data
/// prepared under the centre's delegation in the same transaction that
/// queues the task; the line at the counter takes it at once.
#[utoipa::path(
    tag = "branch",
    request_body = InstantIssueRequest,
    responses(
        (status = 202, description = "The card is queued on the branch's printer", body = InstantIssueView),
        (status = 409, description = "The branch has no instant-issue printer, the application has no photo, or its card is past data-prepared", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/branch/instant-issues")]
pub async fn instant_issue(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<InstantIssueRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::BranchOperator])?;
    let CallerKind::Operator {
        branch: Some(branch),
        ..
    } = &caller.kind
    else {
        return Err(ApiError::Refused {
            message: "instant issue is done by a branch operator at their counter: log in with a branch account".to_owned(),
            detail: None,
        });
    };
    let instant = state.workshop.as_ref().and_then(|w| w.instant_line(branch));
    // The terminal whose printer makes the card hears how it ended.
    let terminal = instant
        .and_then(|l| l.printers.first())
        .and_then(|p| RemoteAddress::parse(&p.address))
        .and_then(Result::ok)
        .map(|a| a.terminal);
    let line = instant
        .map(|l| l.name.clone())
        .ok_or_else(|| ApiError::Conflict {
            code: "no-instant-printer",
            message: format!(
                "branch {branch} has no instant-issue printer (no [[workshop.lines]] with branch = \"{branch}\"): apply for a normal replacement made in the workshop"
            ),
            detail: None,
        })?;
    let body = body.into_inner();
    let task = state
        .store
        .issue_at_counter(
            body.application_id,
            line.clone(),
            body.max_attempts,
            caller.actor(),
        )
        .await?;
    if let Some(terminal) = terminal {
        actix_web::rt::spawn(report_outcome(
            state.clone(),
            terminal,
            task.id,
            body.application_id,
        ));
    }
    Ok(HttpResponse::Accepted().json(InstantIssueView {
        task_id: task.id,
        card_id: task.card_id,
        line,
    }))
}

/// How long an instant issue is followed for its outcome: longer than any
/// card takes, with a printer waiting for its operator included.
const FOLLOW_FOR: Duration = Duration::from_secs(30 * 60);

/// Follows the instant issue's task until it ends, then pushes the outcome
/// to the terminal at the counter (at least once: a terminal whose link was
/// cut meanwhile gets it when it is back).
async fn report_outcome(
    state: web::Data<AppState>,
    terminal: String,
    task_id: i64,
    application_id: i64,
) {
    use cardhub_protocols::terminal::{Outcome, PushEvent};
    use cardhub_storage::workshop::TaskStatus;
    let deadline = std::time::Instant::now() + FOLLOW_FOR;
    let (outcome, detail) = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        match state.store.get_task(task_id).await {
            Ok(task) if task.status == TaskStatus::Done => {
                break (
                    Outcome::Completed,
                    format!("card {} made and checked at the counter", task.card_id),
                );
            }
            Ok(task) if task.status == TaskStatus::Failed => {
                break (
                    Outcome::RolledBack,
                    format!(
                        "the card could not be made ({}); the application stays open for a replacement made in the workshop",
                        task.last_error.unwrap_or_default()
                    ),
                );
            }
            Ok(_) if std::time::Instant::now() < deadline => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(task_id, error = %e, "cannot follow an instant issue");
                return;
            }
        }
    };
    let event = PushEvent::OperationOutcome {
        operation_id: format!("instant-issue:{application_id}"),
        operation: "instant_issue".to_owned(),
        outcome,
        detail,
    };
    if let Err(e) = state.terminals.push(&terminal, event).await {
        tracing::warn!(terminal = %terminal, task_id, error = %e, "cannot tell the terminal how the instant issue ended");
    }
}
