//! Branch terminals (网点终端) over HTTP, for administrators and centre
//! staff: register a branch PC's SM2 key, list the terminals with whether
//! each is linked now (its session, devices, when last seen), disable and
//! enable one, push a notice to its counter screen, and probe a device end
//! to end: the device kind's harmless status command goes through the
//! terminal's link and its answer comes back in the response.
//!
//! The link itself is `GET /ws/terminal` ([`crate::terminal`]); the same
//! registrations are managed from a shell with `cardhub terminals`.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, get, post, web};
use cardhub_devices::remote::{DEFAULT_TIMEOUT, RemoteError, links};
use cardhub_protocols::roles::Role;
use cardhub_protocols::terminal::{
    CardReaderCommand, CommandResult, DeviceCommand, DeviceKind, IdReaderCommand, PrinterCommand,
    PushEvent,
};
use cardhub_storage::terminals::{NewTerminal, Terminal, TerminalStatus};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::terminal::{PushError, SessionView, TerminalSessions};

/// Roles that manage terminals and probe their devices (admin always may).
const MAY_MANAGE: [Role; 1] = [Role::CentreStaff];

/// The longest a probe may wait for the terminal's answer.
const MAX_PROBE_SECS: u64 = 60;

/// A terminal to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterTerminal {
    /// Its id (`T-0001`): letters, digits, `-`, `_`, `.`.
    pub terminal_id: String,
    /// The code of the branch it serves.
    pub branch: String,
    /// Its SM2 public key, SEC1 as hex (130 digits starting `04`, as
    /// `cardhub terminal --new-key` prints it).
    pub public_key: String,
    /// Where it stands, in words.
    #[serde(default)]
    pub description: Option<String>,
}

/// A terminal: its registration and, when it has one, its session.
#[derive(Debug, Serialize, ToSchema)]
pub struct TerminalView {
    /// Its id.
    pub terminal_id: String,
    /// The branch code.
    pub branch: String,
    /// The branch's name.
    pub branch_name: String,
    /// `active` or `disabled`.
    pub status: String,
    /// Where it stands.
    pub description: Option<String>,
    /// Its SM2 public key, SEC1 uncompressed, hex.
    pub public_key: String,
    /// When registered (UTC).
    #[schema(value_type = String, format = DateTime)]
    pub registered_at: NaiveDateTime,
    /// When it last authenticated or its link last dropped (UTC).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_seen_at: Option<NaiveDateTime>,
    /// The address it last connected from.
    pub last_address: Option<String>,
    /// Whether it is linked now.
    pub online: bool,
    /// Its session (linked, or cut and waiting for a resume).
    pub session: Option<SessionView>,
    /// Pushes it has not acknowledged yet.
    pub pushes_waiting: usize,
}

impl TerminalView {
    fn of(terminal: Terminal, sessions: &TerminalSessions) -> Self {
        let session = sessions.view(&terminal.terminal_id);
        Self {
            online: session.as_ref().is_some_and(|s| s.online),
            pushes_waiting: sessions.pushes_waiting(&terminal.terminal_id),
            session,
            public_key: hex::encode(&terminal.public_key),
            terminal_id: terminal.terminal_id,
            branch: terminal.branch_code,
            branch_name: terminal.branch_name,
            status: terminal.status.as_str().to_owned(),
            description: terminal.description,
            registered_at: terminal.registered_at,
            last_seen_at: terminal.last_seen_at,
            last_address: terminal.last_address,
        }
    }
}

/// Registers a branch terminal: it may connect at once.
#[utoipa::path(
    tag = "terminals",
    request_body = RegisterTerminal,
    responses(
        (status = 201, description = "Registered", body = TerminalView),
        (status = 404, description = "No such branch", body = ErrorBody),
        (status = 409, description = "The id is taken", body = ErrorBody),
        (status = 422, description = "A malformed id or key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/terminals")]
pub async fn register(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<RegisterTerminal>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_MANAGE)?;
    let body = body.into_inner();
    let public_key = hex::decode(body.public_key.trim()).map_err(|e| ApiError::Unprocessable {
        code: "invalid",
        message: format!(
            "`public_key` is not hex ({e}): give the SM2 public key as 130 hex digits starting 04"
        ),
        detail: None,
    })?;
    let terminal = state
        .store
        .register_terminal(
            NewTerminal {
                terminal_id: body.terminal_id,
                branch_code: body.branch,
                public_key,
                description: body.description,
            },
            caller.actor(),
        )
        .await?;
    Ok(HttpResponse::Created().json(TerminalView::of(terminal, &state.terminals)))
}

/// Every terminal, with whether it is linked now, its session and devices.
#[utoipa::path(
    tag = "terminals",
    responses((status = 200, description = "The terminals, by id", body = Vec<TerminalView>)),
    security(("bearer" = []))
)]
#[get("/terminals")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<web::Json<Vec<TerminalView>>, ApiError> {
    caller.require(&MAY_MANAGE)?;
    let terminals = state.store.list_terminals().await?;
    Ok(web::Json(
        terminals
            .into_iter()
            .map(|t| TerminalView::of(t, &state.terminals))
            .collect(),
    ))
}

/// One terminal.
#[utoipa::path(
    tag = "terminals",
    params(("id" = String, Path, description = "The terminal's id")),
    responses(
        (status = 200, description = "The terminal", body = TerminalView),
        (status = 404, description = "Not registered", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/terminals/{id}")]
pub async fn get_terminal(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<web::Json<TerminalView>, ApiError> {
    caller.require(&MAY_MANAGE)?;
    let terminal = state.store.terminal(id.into_inner()).await?;
    Ok(web::Json(TerminalView::of(terminal, &state.terminals)))
}

/// Disables a terminal: its link is closed now (`auth_failed`) and it is
/// refused until enabled again. Pushes for it are kept.
#[utoipa::path(
    tag = "terminals",
    params(("id" = String, Path, description = "The terminal's id")),
    responses(
        (status = 200, description = "The terminal, disabled", body = TerminalView),
        (status = 404, description = "Not registered", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/terminals/{id}/disable")]
pub async fn disable(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<web::Json<TerminalView>, ApiError> {
    caller.require(&MAY_MANAGE)?;
    let id = id.into_inner();
    let terminal = state
        .store
        .set_terminal_status(id.clone(), TerminalStatus::Disabled, caller.actor())
        .await?;
    state.terminals.end_session(
        &id,
        &format!(
            "terminal `{id}` was disabled by {}: the centre enables it again before it may connect",
            caller.name
        ),
    );
    Ok(web::Json(TerminalView::of(terminal, &state.terminals)))
}

/// Enables a disabled terminal: it may connect again.
#[utoipa::path(
    tag = "terminals",
    params(("id" = String, Path, description = "The terminal's id")),
    responses(
        (status = 200, description = "The terminal, active", body = TerminalView),
        (status = 404, description = "Not registered", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/terminals/{id}/enable")]
pub async fn enable(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<web::Json<TerminalView>, ApiError> {
    caller.require(&MAY_MANAGE)?;
    let terminal = state
        .store
        .set_terminal_status(id.into_inner(), TerminalStatus::Active, caller.actor())
        .await?;
    Ok(web::Json(TerminalView::of(terminal, &state.terminals)))
}

/// A message for the counter's screen.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeRequest {
    /// The text.
    pub text: String,
}

/// A push the hub keeps until the terminal acknowledges it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushedView {
    /// The terminal.
    pub terminal_id: String,
    /// Its seq in the session that delivers it.
    pub seq: u64,
    /// Whether the terminal is linked now (it is sent at once); if not, it
    /// is sent when the terminal comes back.
    pub linked: bool,
}

impl From<PushError> for ApiError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::UnknownTerminal { .. } => ApiError::NotFound(e.to_string()),
            PushError::Disabled { .. } => ApiError::Conflict {
                code: "terminal-disabled",
                message: e.to_string(),
                detail: None,
            },
            PushError::Full { .. } => ApiError::Conflict {
                code: "terminal-outbox-full",
                message: e.to_string(),
                detail: None,
            },
            PushError::Storage { source, .. } => source.into(),
        }
    }
}

/// Pushes a notice to the terminal's counter screen: delivered at least
/// once, now if the terminal is linked, else when it comes back.
#[utoipa::path(
    tag = "terminals",
    params(("id" = String, Path, description = "The terminal's id")),
    request_body = NoticeRequest,
    responses(
        (status = 202, description = "Kept until the terminal acknowledges it", body = PushedView),
        (status = 404, description = "Not registered", body = ErrorBody),
        (status = 409, description = "The terminal is disabled, or has too many pushes unacknowledged", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/terminals/{id}/notice")]
pub async fn notice(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<NoticeRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_MANAGE)?;
    let terminal_id = id.into_inner();
    let text = body.into_inner().text;
    if text.trim().is_empty() {
        return Err(ApiError::Unprocessable {
            code: "invalid",
            message: "the notice's `text` is empty".to_owned(),
            detail: None,
        });
    }
    let seq = state
        .terminals
        .push(&terminal_id, PushEvent::Notice { text })
        .await?;
    let linked = state.terminals.view(&terminal_id).is_some_and(|v| v.online);
    Ok(HttpResponse::Accepted().json(PushedView {
        terminal_id,
        seq,
        linked,
    }))
}

/// How long a probe waits.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProbeQuery {
    /// Seconds to wait for the terminal's answer (default 10, at most 60).
    pub timeout_secs: Option<u64>,
}

/// What a probe came to: the terminal answered (with the device's output,
/// or the device's own error).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeView {
    /// The terminal.
    pub terminal_id: String,
    /// The device's name on it.
    pub device: String,
    /// Its kind.
    pub kind: DeviceKind,
    /// The command sent.
    pub command: DeviceCommand,
    /// How long the answer took (milliseconds).
    pub elapsed_ms: u64,
    /// The terminal's answer: `{"ok": output}` or `{"error": {code,
    /// message}}` from the device.
    pub result: CommandResult,
}

/// Why a probe gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Refused before anything was sent.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The link failed.
    #[error(transparent)]
    Link(RemoteError),
}

impl From<cardhub_storage::StorageError> for ProbeError {
    fn from(e: cardhub_storage::StorageError) -> Self {
        Self::Api(e.into())
    }
}

/// The stable code of a link failure.
fn link_code(e: &RemoteError) -> &'static str {
    match e {
        RemoteError::NotConnected { .. } => "terminal-not-connected",
        RemoteError::LinkLost { .. } => "link-lost",
        RemoteError::Timeout { .. } => "terminal-timeout",
        RemoteError::Overloaded { .. } => "terminal-overloaded",
        _ => "terminal-protocol",
    }
}

impl ResponseError for ProbeError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Api(e) => e.status_code(),
            Self::Link(RemoteError::NotConnected { .. }) => StatusCode::CONFLICT,
            Self::Link(RemoteError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
            Self::Link(RemoteError::Overloaded { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Link(_) => StatusCode::BAD_GATEWAY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Api(e) => e.error_response(),
            Self::Link(e) => HttpResponse::build(self.status_code()).json(ErrorBody {
                error: link_code(e).to_owned(),
                message: e.to_string(),
                detail: match e {
                    RemoteError::LinkLost { sent, .. } => Some(serde_json::json!({ "sent": sent })),
                    _ => None,
                },
            }),
        }
    }
}

/// The harmless status command of a device kind.
fn status_command(kind: DeviceKind) -> Result<DeviceCommand, ApiError> {
    match kind {
        DeviceKind::IdReader => Ok(DeviceCommand::IdReader(IdReaderCommand::SamStatus {})),
        DeviceKind::CardReader => Ok(DeviceCommand::CardReader(CardReaderCommand::Status {})),
        DeviceKind::Printer => Ok(DeviceCommand::Printer(PrinterCommand::Status {})),
        DeviceKind::Camera => Err(ApiError::Conflict {
            code: "no-status-command",
            message: "a camera has no status command; take a photo from the console".to_owned(),
            detail: None,
        }),
        other => Err(ApiError::Conflict {
            code: "no-status-command",
            message: format!("this hub has no status command for a device of kind {other:?}"),
            detail: None,
        }),
    }
}

/// Sends the device's status command (an ID reader's SAM self-test, a
/// card reader's or printer's status) through the terminal's link and
/// returns the answer: how to check a branch device end to end.
#[utoipa::path(
    tag = "terminals",
    params(
        ("id" = String, Path, description = "The terminal's id"),
        ("device" = String, Path, description = "The device's name on the terminal"),
        ProbeQuery,
    ),
    responses(
        (status = 200, description = "The terminal answered; `result` is the device's output or its own error", body = ProbeView),
        (status = 404, description = "No such terminal, or the terminal lists no such device", body = ErrorBody),
        (status = 409, description = "The terminal is not connected, or the device (a camera) has no status command", body = ErrorBody),
        (status = 502, description = "The link dropped before the answer came (`detail.sent` says whether the command had gone out)", body = ErrorBody),
        (status = 503, description = "Too many commands in flight on the link", body = ErrorBody),
        (status = 504, description = "The terminal did not answer in time", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/terminals/{id}/devices/{device}/probe")]
pub async fn probe(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    query: web::Query<ProbeQuery>,
) -> Result<web::Json<ProbeView>, ProbeError> {
    caller.require(&MAY_MANAGE)?;
    let (terminal_id, device) = path.into_inner();
    let terminal = state.store.terminal(terminal_id.clone()).await?;
    let not_connected = || {
        ProbeError::Link(RemoteError::NotConnected {
            terminal: terminal.terminal_id.clone(),
        })
    };
    let view = state
        .terminals
        .view(&terminal.terminal_id)
        .filter(|v| v.online)
        .ok_or_else(not_connected)?;
    let Some(listed) = view.devices.iter().find(|d| d.name == device) else {
        let names: Vec<&str> = view.devices.iter().map(|d| d.name.as_str()).collect();
        return Err(ApiError::NotFound(format!(
            "terminal `{terminal_id}` lists no device `{device}`; it lists: {}",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        ))
        .into());
    };
    let kind = listed.kind;
    let command = status_command(kind)?;
    let link = links()
        .get(&terminal.terminal_id)
        .ok_or_else(not_connected)?;
    let timeout = query.timeout_secs.map_or(DEFAULT_TIMEOUT, |s| {
        Duration::from_secs(s.clamp(1, MAX_PROBE_SECS))
    });
    let started = Instant::now();
    let sent = command.clone();
    let name = device.clone();
    // The link blocks its caller until the answer: on the blocking pool.
    let answer = web::block(move || link.request(&name, sent, timeout))
        .await
        .map_err(|e| ApiError::Internal(format!("the probe's thread failed: {e}")))?;
    let result = match answer {
        Ok(output) => CommandResult::Ok(output),
        Err(RemoteError::Command(error)) => CommandResult::Error(error),
        Err(e) => return Err(ProbeError::Link(e)),
    };
    Ok(web::Json(ProbeView {
        terminal_id,
        device,
        kind,
        command,
        elapsed_ms: started.elapsed().as_millis() as u64,
        result,
    }))
}
