//! Who is calling: the [`Caller`] extractor that every protected handler
//! takes. Two kinds of credentials, both sent as `Authorization: Bearer`:
//!
//! - API tokens (`chb_...`) for outside systems and screens, made with
//!   `cardhub token create`; stored only as an HMAC-SM3 digest with a name
//!   and a role.
//! - Operator sessions (`chs_...`) for people, from `POST /api/v1/session`;
//!   also accepted from the `cardhub_session` cookie (the browser pages).
//!
//! 401 says what is missing or wrong; 403 (from [`Caller::require`]) says
//! which role is needed.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use base64::Engine;
use cardhub_protocols::roles::Role;
use cardhub_storage::Actor;

use crate::error::ApiError;
use crate::state::AppState;

/// Prefix of API tokens.
pub const TOKEN_PREFIX: &str = "chb_";
/// Prefix of operator session tokens.
pub const SESSION_PREFIX: &str = "chs_";
/// The cookie a browser page keeps its session in.
pub const SESSION_COOKIE: &str = "cardhub_session";

/// Random bytes in a token or session secret: 256 bits, beyond guessing.
const SECRET_BYTES: usize = 32;

/// A new random secret with the given prefix (`chb_` or `chs_`), URL-safe.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::fill(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What kind of credential a caller presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerKind {
    /// An API token, by name.
    Token,
    /// An operator session.
    Operator {
        /// The operator's id.
        operator_id: i64,
        /// The digest of the session token (what logout revokes).
        session_digest: Vec<u8>,
        /// The operator's branch code, if any.
        branch: Option<String>,
    },
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Token name or operator username.
    pub name: String,
    /// The caller's role.
    pub role: Role,
    /// Token or operator session.
    pub kind: CallerKind,
}

impl Caller {
    /// Refuses with 403 unless the caller has one of `roles` (admin always
    /// passes).
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.role == Role::Admin || roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                needed: roles.to_vec(),
                have: self.role,
            })
        }
    }

    /// The caller as recorded in the audit log and card history.
    pub fn actor(&self) -> Actor {
        let name = match self.kind {
            CallerKind::Token => format!("token:{}", self.name),
            CallerKind::Operator { .. } => self.name.clone(),
        };
        Actor::new(name, self.role)
    }

    /// Authenticates a request outside the extractor machinery.
    pub async fn from_request_async(req: &HttpRequest) -> Result<Caller, ApiError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .ok_or_else(|| ApiError::Internal("application state missing".to_owned()))?
            .clone();
        let secret = presented_secret(req)?;
        authenticate(&state, secret).await
    }
}

/// The secret from `Authorization: Bearer` or the session cookie.
fn presented_secret(req: &HttpRequest) -> Result<String, ApiError> {
    if let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| {
            ApiError::Unauthenticated("the Authorization header is not readable text".to_owned())
        })?;
        let Some(secret) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        else {
            return Err(ApiError::Unauthenticated(
                "the Authorization header must be `Bearer <token>`".to_owned(),
            ));
        };
        return Ok(secret.trim().to_owned());
    }
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        return Ok(cookie.value().to_owned());
    }
    Err(ApiError::Unauthenticated(
        "no credentials: send `Authorization: Bearer <token>` with an API token (cardhub token create) or an operator session (POST /api/v1/session)".to_owned(),
    ))
}

/// Whether the request carries credentials at all (a bearer header or the
/// session cookie); [`Caller::from_request_async`] says whether they are
/// valid.
pub fn presents_credentials(req: &HttpRequest) -> bool {
    req.headers()
        .contains_key(actix_web::http::header::AUTHORIZATION)
        || req.cookie(SESSION_COOKIE).is_some()
}

/// The caller a secret (API token or operator session) belongs to; for
/// credentials that arrive inside a protocol (a WebSocket's first message)
/// rather than on the request.
pub async fn authenticate(state: &AppState, secret: String) -> Result<Caller, ApiError> {
    let now = cardhub_storage::utc_now();
    if secret.starts_with(TOKEN_PREFIX) {
        let digest = state.store.token_digest(&secret)?;
        let token = state.store.find_active_token(digest, now).await?;
        match token {
            Some(t) => Ok(Caller {
                name: t.name,
                role: t.role,
                kind: CallerKind::Token,
            }),
            None => Err(ApiError::Unauthenticated(
                "the API token is unknown or revoked: ask an administrator for a new one (cardhub token create)".to_owned(),
            )),
        }
    } else if secret.starts_with(SESSION_PREFIX) {
        let digest = state.store.token_digest(&secret)?;
        let found = state.store.find_session(digest.clone(), now).await?;
        match found {
            Some((_session, operator)) => Ok(Caller {
                name: operator.username,
                role: operator.role,
                kind: CallerKind::Operator {
                    operator_id: operator.id,
                    session_digest: digest,
                    branch: operator.branch_code,
                },
            }),
            None => Err(ApiError::Unauthenticated(
                "the session has expired or was logged out: log in again (POST /api/v1/session)"
                    .to_owned(),
            )),
        }
    } else {
        Err(ApiError::Unauthenticated(
            "the bearer credential is not a cardhub token (chb_...) or session (chs_...)"
                .to_owned(),
        ))
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Caller::from_request_async(&req).await })
    }
}
