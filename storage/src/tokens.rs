//! API bearer tokens for outside systems (banks, the card-holder database,
//! logistics) and screens. The caller generates a random token, shows it
//! once, and stores only its digest ([`token_digest`], HMAC-SM3 under the
//! `token-digest` key); requests are authenticated by digest. Tokens are
//! revoked, never deleted, so the audit trail keeps their names.
//!
//! Not here: generating tokens and the HTTP header (web, CLI `cardhub
//! token create|list|revoke`), operator sessions ([`crate::sessions`]).

use cardhub_protocols::crypto::{Hsm, KeyLabel, labels};
use cardhub_protocols::roles::Role;
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use serde::Serialize;

use crate::audit::{self, AuditEntry};
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, conflict_or_db, db, parse_column};
use crate::schema::api_tokens;
use crate::{Actor, Store, to_stored_precision, utc_now};

/// `last_used_at` is refreshed at most this often per token, so a busy
/// client does not turn every request into a database write (on SQLite a
/// write takes the database-wide write lock).
const LAST_USED_RESOLUTION: TimeDelta = TimeDelta::seconds(60);

/// The digest stored for a bearer token or session token: HMAC-SM3 under
/// the `token-digest` key. Web and CLI both use this.
pub fn token_digest(hsm: &dyn Hsm, token: &str) -> Result<Vec<u8>, StorageError> {
    hsm.hmac_sm3(&KeyLabel::from(labels::TOKEN_DIGEST), token.as_bytes())
        .map(|mac| mac.to_vec())
        .map_err(|source| StorageError::Crypto {
            operation: "digest a token",
            source,
        })
}

/// A stored API token (without its digest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// Row id.
    pub id: i64,
    /// Unique name (who holds it: `bank-icbc`, `wall-screen-1`).
    pub name: String,
    /// The role requests with this token act under.
    pub role: Role,
    /// When created (UTC).
    pub created_at: NaiveDateTime,
    /// When last used, to within a minute (UTC).
    pub last_used_at: Option<NaiveDateTime>,
    /// When revoked, if it was.
    pub revoked_at: Option<NaiveDateTime>,
}

impl ApiToken {
    /// The actor requests with this token act as.
    pub fn actor(&self) -> Actor {
        Actor::new(self.name.clone(), self.role)
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
struct TokenRow {
    id: i64,
    name: String,
    role: String,
    created_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StorageError;

    fn try_from(row: TokenRow) -> Result<Self, StorageError> {
        Ok(ApiToken {
            id: row.id,
            role: parse_column("api_tokens.role", &row.role)?,
            name: row.name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

fn by_name(conn: &mut DbConnection, name: &str) -> Result<Option<ApiToken>, StorageError> {
    api_tokens::table
        .filter(api_tokens::name.eq(name))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read an API token"))?
        .map(ApiToken::try_from)
        .transpose()
}

/// Stores a new token under `name` (unique, also among revoked tokens).
/// Audited as `token.create`.
pub fn create(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    name: &str,
    role: Role,
    digest: &[u8],
    actor: &Actor,
) -> Result<ApiToken, StorageError> {
    let name = name.trim();
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(StorageError::Invalid {
            what: "token name",
            reason: format!("`{name}` is empty or contains spaces"),
        });
    }
    write_tx(conn, |conn| {
        diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::name.eq(name),
                api_tokens::role.eq(role.as_str()),
                api_tokens::digest.eq(digest),
                api_tokens::created_at.eq(utc_now()),
            ))
            .execute(conn)
            .map_err(conflict_or_db("insert an API token", || {
                format!("an API token named `{name}` exists (names stay taken after revocation)")
            }))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "token.create",
                format!("token:{name}"),
                serde_json::json!({ "role": role.as_str() }),
            ),
        )?;
        by_name(conn, name)?.ok_or_else(|| StorageError::NotFound {
            what: "API token",
            key: name.to_owned(),
        })
    })
}

/// The unrevoked token with this digest, if any; refreshes its
/// `last_used_at` (at most once a minute). Not audited: it is the
/// authentication of a request, not a change.
pub fn find_active_by_digest(
    conn: &mut DbConnection,
    digest: &[u8],
    now: NaiveDateTime,
) -> Result<Option<ApiToken>, StorageError> {
    let now = to_stored_precision(now);
    let found = api_tokens::table
        .filter(api_tokens::digest.eq(digest))
        .filter(api_tokens::revoked_at.is_null())
        .select(TokenRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("find an API token"))?;
    let Some(row) = found else { return Ok(None) };
    let mut token = ApiToken::try_from(row)?;
    if token
        .last_used_at
        .is_none_or(|last| now - last >= LAST_USED_RESOLUTION)
    {
        diesel::update(api_tokens::table.find(token.id))
            .set(api_tokens::last_used_at.eq(now))
            .execute(conn)
            .map_err(db("record an API token's use"))?;
        token.last_used_at = Some(now);
    }
    Ok(Some(token))
}

/// Every token, revoked ones included, by name.
pub fn list(conn: &mut DbConnection) -> Result<Vec<ApiToken>, StorageError> {
    api_tokens::table
        .order(api_tokens::name.asc())
        .select(TokenRow::as_select())
        .load(conn)
        .map_err(db("list API tokens"))?
        .into_iter()
        .map(ApiToken::try_from)
        .collect()
}

/// Revokes the token named `name` and returns it. Revoking a revoked token
/// changes nothing and returns it as it is; an unknown name is
/// [`StorageError::NotFound`]. Audited as `token.revoke`.
pub fn revoke(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    name: &str,
    actor: &Actor,
) -> Result<ApiToken, StorageError> {
    write_tx(conn, |conn| {
        let token = by_name(conn, name)?.ok_or_else(|| StorageError::NotFound {
            what: "API token",
            key: name.to_owned(),
        })?;
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        let now = utc_now();
        diesel::update(api_tokens::table.find(token.id))
            .set(api_tokens::revoked_at.eq(now))
            .execute(conn)
            .map_err(db("revoke an API token"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "token.revoke",
                format!("token:{name}"),
                serde_json::json!({ "role": token.role.as_str() }),
            ),
        )?;
        Ok(ApiToken {
            revoked_at: Some(now),
            ..token
        })
    })
}

impl Store {
    /// [`token_digest`] with this store's key store (no database work).
    pub fn token_digest(&self, token: &str) -> Result<Vec<u8>, StorageError> {
        token_digest(self.hsm().as_ref(), token)
    }

    /// [`create`] on the blocking pool.
    pub async fn create_token(
        &self,
        name: String,
        role: Role,
        digest: Vec<u8>,
        actor: Actor,
    ) -> Result<ApiToken, StorageError> {
        let hsm = self.hsm().clone();
        self.write("tokens.create", move |conn| {
            create(conn, hsm.as_ref(), &name, role, &digest, &actor)
        })
        .await
    }

    /// [`find_active_by_digest`] on the blocking pool.
    pub async fn find_active_token(
        &self,
        digest: Vec<u8>,
        now: NaiveDateTime,
    ) -> Result<Option<ApiToken>, StorageError> {
        self.run("tokens.find_active", move |conn| {
            find_active_by_digest(conn, &digest, now)
        })
        .await
    }

    /// [`list`] on the blocking pool.
    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>, StorageError> {
        self.run("tokens.list", list).await
    }

    /// [`revoke`] on the blocking pool.
    pub async fn revoke_token(&self, name: String, actor: Actor) -> Result<ApiToken, StorageError> {
        let hsm = self.hsm().clone();
        self.write("tokens.revoke", move |conn| {
            revoke(conn, hsm.as_ref(), &name, &actor)
        })
        .await
    }
}
