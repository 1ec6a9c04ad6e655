//! Operator sessions (网点服务登录 and centre logins): `POST /api/v1/session`
//! logs in with username and password, `GET /api/v1/session` says who is
//! logged in, `DELETE /api/v1/session` logs out.
//!
//! Passwords are stored as PBKDF2-HMAC-SM3. Failed logins are counted per
//! account and audited; after `[auth] max_failed_logins` in a row the account
//! is locked for `[auth] lockout_secs` (429 until then). Failures are also
//! counted per client address ([`crate::login_limit`]), which stops guessing
//! across many usernames. An unknown username costs the same hashing work as
//! a wrong password, and gets the same answer.

use std::sync::LazyLock;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use cardhub_protocols::crypto::password;
use cardhub_protocols::roles::Role;
use cardhub_storage::operators::LockoutPolicy;
use chrono::{Duration as ChronoDuration, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, CallerKind, SESSION_COOKIE, SESSION_PREFIX, new_secret};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Login credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Operator username.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A new session.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>` (also set as the
    /// `cardhub_session` cookie).
    pub token: String,
    /// When the session ends (UTC).
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: NaiveDateTime,
    /// Who logged in.
    pub operator: WhoAmI,
}

/// The caller.
#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    /// Username or token name.
    pub name: String,
    /// Role.
    #[schema(value_type = String, example = "branch-operator")]
    pub role: Role,
    /// `operator` or `token`.
    pub kind: &'static str,
    /// Branch code of a branch operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

impl From<&Caller> for WhoAmI {
    fn from(c: &Caller) -> Self {
        let (kind, branch) = match &c.kind {
            CallerKind::Token => ("token", None),
            CallerKind::Operator { branch, .. } => ("operator", branch.clone()),
        };
        WhoAmI {
            name: c.name.clone(),
            role: c.role,
            kind,
            branch,
        }
    }
}

const WRONG_CREDENTIALS: &str = "wrong username or password";

/// Logs an operator in.
#[utoipa::path(
    tag = "session",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 429, description = "Account locked, or too many failures from this address", body = ErrorBody),
    )
)]
#[post("/session")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest {
        username,
        password: given,
    } = body.into_inner();
    let now = cardhub_storage::utc_now();
    let auth = state.config.auth.clone();
    let peer = req.peer_addr().map(|a| a.ip());
    if let Some(ip) = peer
        && !state.login_limiter.allows(ip, now)
    {
        return Err(ApiError::TooManyAttempts(format!(
            "too many failed logins from {ip}; wait {} s before trying again",
            auth.lockout_secs
        )));
    }

    let operator = state.store.find_operator(username.clone()).await?;
    if let Some(op) = &operator
        && op.is_locked(now)
    {
        return Err(locked(&username, op.locked_until));
    }

    // Verify off the HTTP worker: PBKDF2 is deliberately slow. An unknown or
    // deactivated account is checked against a dummy hash so that timing
    // does not tell which usernames exist.
    let stored = operator
        .as_ref()
        .filter(|o| o.active)
        .map(|o| o.password_hash.clone());
    let verified = web::block(move || {
        let stored = stored.as_deref().unwrap_or_else(|| DUMMY_HASH.as_str());
        password::verify_password(&given, stored)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("password check did not run: {e}")))?
    .map_err(|e| ApiError::Internal(format!("stored password hash unreadable: {e}")))?;

    match operator {
        Some(op) if verified && op.active => {
            let token = new_secret(SESSION_PREFIX);
            let digest = state.store.token_digest(&token)?;
            let expires_at = now + ChronoDuration::seconds(auth.session_ttl_secs as i64);
            state.store.record_login_success(op.id, now).await?;
            state
                .store
                .create_session(op.id, digest, expires_at)
                .await?;
            let cookie = Cookie::build(SESSION_COOKIE, token.clone())
                .path("/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .max_age(actix_web::cookie::time::Duration::seconds(
                    auth.session_ttl_secs as i64,
                ))
                .finish();
            Ok(HttpResponse::Ok().cookie(cookie).json(LoginResponse {
                token,
                expires_at,
                operator: WhoAmI {
                    name: op.username,
                    role: op.role,
                    kind: "operator",
                    branch: op.branch_code,
                },
            }))
        }
        found => {
            metrics::counter!("cardhub_login_failures_total").increment(1);
            if let Some(ip) = peer {
                state.login_limiter.record_failure(ip, now);
            }
            let Some(op) = found else {
                tracing::warn!(%username, ?peer, "login failed: no such operator");
                return Err(ApiError::Unauthenticated(WRONG_CREDENTIALS.to_owned()));
            };
            let policy = LockoutPolicy {
                threshold: auth.max_failed_logins,
                lock_for: ChronoDuration::seconds(auth.lockout_secs as i64),
            };
            let after = state.store.record_login_failure(op.id, now, policy).await?;
            if after.is_locked(now) {
                return Err(locked(&username, after.locked_until));
            }
            Err(ApiError::Unauthenticated(WRONG_CREDENTIALS.to_owned()))
        }
    }
}

fn locked(username: &str, until: Option<NaiveDateTime>) -> ApiError {
    let until = until.map(|u| u.format("%Y-%m-%d %H:%M:%S UTC").to_string());
    ApiError::TooManyAttempts(format!(
        "account `{username}` is locked after too many failed logins until {}; wait, or ask an administrator",
        until.as_deref().unwrap_or("later")
    ))
}

/// A valid hash of a random password, compared against when the username
/// is unknown or the account inactive. Made on first use, on the blocking
/// pool (it costs as much as a real check, which is the point).
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| password::hash_password(&new_secret("")));

/// Who is calling.
#[utoipa::path(
    tag = "session",
    responses(
        (status = 200, description = "The caller", body = WhoAmI),
        (status = 401, description = "No valid credentials", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/session")]
pub async fn whoami(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(WhoAmI::from(&caller))
}

/// Logs the calling operator out (the session can no longer be used).
#[utoipa::path(
    tag = "session",
    responses(
        (status = 204, description = "Logged out"),
        (status = 400, description = "The caller is an API token, not a session", body = ErrorBody),
        (status = 401, description = "No valid credentials", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[delete("/session")]
pub async fn logout(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let CallerKind::Operator { session_digest, .. } = caller.kind else {
        return Err(ApiError::BadRequest(
            "an API token has no session to log out of; revoke it with `cardhub token revoke`"
                .to_owned(),
        ));
    };
    state.store.revoke_session(session_digest).await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}
