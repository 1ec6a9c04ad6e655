//! The HTTP API's error type: every failure a handler can return, mapped to a
//! status code and a JSON body `{"error": "<code>", "message": "<what to do>"}`
//! (plus fields some errors add). Handlers return `Result<_, ApiError>`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use cardhub_protocols::card_status::TransitionErrorKind;
use cardhub_protocols::roles::Role;
use cardhub_storage::StorageError;
use serde::Serialize;
use utoipa::ToSchema;

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code (`unauthenticated`, `forbidden`,
    /// `invalid-identity-number`, ...).
    pub error: String,
    /// What happened and what to do, for a person.
    pub message: String,
    /// Extra structured detail where the error has some (e.g. the reason
    /// code of an invalid identity number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// A failed request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No usable credentials were sent.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but its role may not do this.
    #[error("this needs the role {}; your role is {have}", needed_list(.needed))]
    Forbidden {
        /// Roles that would be allowed.
        needed: Vec<Role>,
        /// The caller's role.
        have: Role,
    },
    /// The caller's role may not do this particular thing (the rule is in
    /// the data, e.g. one edge of the status machine).
    #[error("{message}")]
    Refused {
        /// Why, naming the roles that may.
        message: String,
        /// Structured detail.
        detail: Option<serde_json::Value>,
    },
    /// Too many attempts (failed logins).
    #[error("{0}")]
    TooManyAttempts(String),
    /// The request is well-formed JSON but its content is refused.
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// What is wrong.
        message: String,
        /// Structured detail.
        detail: Option<serde_json::Value>,
    },
    /// The request body or parameters could not be read.
    #[error("{0}")]
    BadRequest(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (e.g. an illegal card
    /// status transition, a stale version).
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// What conflicts and why.
        message: String,
        /// Structured detail.
        detail: Option<serde_json::Value>,
    },
    /// A service the request needs is not running (card readers, pcscd).
    #[error("{0}")]
    Unavailable(String),
    /// A storage failure the caller cannot fix.
    #[error("storage failure: {0}")]
    Storage(StorageError),
    /// Any other server-side failure.
    #[error("{0}")]
    Internal(String),
}

fn needed_list(roles: &[Role]) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    if names.len() == 1 {
        names[0].to_owned()
    } else {
        format!("one of {}", names.join(", "))
    }
}

impl ApiError {
    fn code(&self) -> &str {
        match self {
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::Forbidden { .. } | ApiError::Refused { .. } => "forbidden",
            ApiError::TooManyAttempts(_) => "too-many-attempts",
            ApiError::Unprocessable { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::BadRequest(_) => "bad-request",
            ApiError::NotFound(_) => "not-found",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Storage(_) => "storage",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            StorageError::Transition(t) if t.kind == TransitionErrorKind::RoleNotPermitted => {
                ApiError::Refused {
                    message: t.to_string(),
                    detail: Some(serde_json::json!({
                        "from": t.from.as_str(),
                        "to": t.to.as_str(),
                        "reason": t.reason,
                    })),
                }
            }
            StorageError::Transition(t) => ApiError::Conflict {
                code: "illegal-transition",
                message: t.to_string(),
                detail: Some(serde_json::json!({
                    "from": t.from.as_str(),
                    "to": t.to.as_str(),
                    "reason": t.reason,
                })),
            },
            StorageError::Conflict { .. } | StorageError::StaleCard { .. } => ApiError::Conflict {
                code: "conflict",
                message: e.to_string(),
                detail: None,
            },
            StorageError::Invalid { .. } => ApiError::Unprocessable {
                code: "invalid",
                message: e.to_string(),
                detail: None,
            },
            other => ApiError::Storage(other),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } | ApiError::Refused { .. } => StatusCode::FORBIDDEN,
            ApiError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unavailable(_) | ApiError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if matches!(self, ApiError::Storage(_) | ApiError::Internal(_)) {
            tracing::error!(error = %self, "request failed");
        }
        let detail = match self {
            ApiError::Unprocessable { detail, .. }
            | ApiError::Conflict { detail, .. }
            | ApiError::Refused { detail, .. } => detail.clone(),
            ApiError::Forbidden { needed, have } => Some(serde_json::json!({
                "needed": needed.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "have": have.as_str(),
            })),
            _ => None,
        };
        let mut builder = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthenticated(_)) {
            builder.insert_header(("WWW-Authenticate", "Bearer realm=\"cardhub\""));
        }
        builder.json(ErrorBody {
            error: self.code().to_owned(),
            message: self.to_string(),
            detail,
        })
    }
}

/// Turns actix's JSON extractor errors into the API's error body, so
/// malformed JSON gets `400 {"error":"bad-request","message":...}` that says
/// what was wrong.
pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(format!(
        "the request body is not the JSON this endpoint takes: {err}"
    ))
    .into()
}

/// The same for query strings.
pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(format!("bad query string: {err}")).into()
}

/// The same for path parameters.
pub fn path_error_handler(
    err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(format!("bad path parameter: {err}")).into()
}
