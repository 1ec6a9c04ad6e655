//! Operator login sessions. The hub hands the browser a random session
//! token; only its digest ([`crate::tokens::token_digest`]) is stored, so a
//! copy of the database does not let anyone log in. A session is valid
//! while it is neither expired nor revoked and its operator is active.
//!
//! Not here: passwords and lock-out ([`crate::operators`]), cookies (web).

use cardhub_protocols::crypto::Hsm;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::audit::{self, AuditEntry};
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, conflict_or_db, db};
use crate::operators::{self, Operator, OperatorRow};
use crate::schema::{branches, operator_sessions, operators as operators_table};
use crate::{Store, to_stored_precision, utc_now};

/// A stored login session (without its digest).
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = operator_sessions)]
pub struct Session {
    /// Row id.
    pub id: i64,
    /// Whose session.
    pub operator_id: i64,
    /// When it was opened (UTC).
    pub created_at: NaiveDateTime,
    /// When it stops being valid (UTC).
    pub expires_at: NaiveDateTime,
    /// When it was revoked (logout, deactivation), if it was.
    pub revoked_at: Option<NaiveDateTime>,
}

/// Opens a session for an operator under the digest of its token. Audited
/// as `session.create`.
pub fn create_session(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    operator_id: i64,
    token_digest: &[u8],
    expires_at: NaiveDateTime,
) -> Result<Session, StorageError> {
    write_tx(conn, |conn| {
        let operator = operators::get(conn, operator_id)?;
        let id: i64 = diesel::insert_into(operator_sessions::table)
            .values((
                operator_sessions::token_digest.eq(token_digest),
                operator_sessions::operator_id.eq(operator_id),
                operator_sessions::created_at.eq(utc_now()),
                operator_sessions::expires_at.eq(to_stored_precision(expires_at)),
            ))
            .returning(operator_sessions::id)
            .get_result(conn)
            .map_err(conflict_or_db("insert a session", || {
                "a session with this token already exists; generate a new token".to_owned()
            }))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                &operator.actor(),
                "session.create",
                format!("operator:{}", operator.username),
                serde_json::json!({ "session": id, "expires_at": expires_at.to_string() }),
            ),
        )?;
        operator_sessions::table
            .find(id)
            .select(Session::as_select())
            .first(conn)
            .map_err(db("read a new session"))
    })
}

/// The live session with this token digest and its operator: `None` when
/// there is none, or it expired at or before `now`, was revoked, or its
/// operator is deactivated.
pub fn find_session(
    conn: &mut DbConnection,
    token_digest: &[u8],
    now: NaiveDateTime,
) -> Result<Option<(Session, Operator)>, StorageError> {
    let found = operator_sessions::table
        .inner_join(operators_table::table.left_join(branches::table))
        .filter(operator_sessions::token_digest.eq(token_digest))
        .filter(operator_sessions::revoked_at.is_null())
        .filter(operator_sessions::expires_at.gt(to_stored_precision(now)))
        .filter(operators_table::active.eq(true))
        .select((
            Session::as_select(),
            OperatorRow::as_select(),
            branches::code.nullable(),
        ))
        .first::<(Session, OperatorRow, Option<String>)>(conn)
        .optional()
        .map_err(db("find a session"))?;
    found
        .map(|(session, row, code)| Ok((session, row.into_operator(code)?)))
        .transpose()
}

/// Revokes the session with this digest (logout). Returns whether a live
/// session was revoked; audited as `session.revoke` when one was.
pub fn revoke_session(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    token_digest: &[u8],
) -> Result<bool, StorageError> {
    write_tx(conn, |conn| {
        let session: Option<Session> = operator_sessions::table
            .filter(operator_sessions::token_digest.eq(token_digest))
            .filter(operator_sessions::revoked_at.is_null())
            .select(Session::as_select())
            .first(conn)
            .optional()
            .map_err(db("find a session"))?;
        let Some(session) = session else {
            return Ok(false);
        };
        diesel::update(operator_sessions::table.find(session.id))
            .set(operator_sessions::revoked_at.eq(utc_now()))
            .execute(conn)
            .map_err(db("revoke a session"))?;
        let operator = operators::get(conn, session.operator_id)?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                &operator.actor(),
                "session.revoke",
                format!("operator:{}", operator.username),
                serde_json::json!({ "session": session.id }),
            ),
        )?;
        Ok(true)
    })
}

impl Store {
    /// [`create_session`] on the blocking pool.
    pub async fn create_session(
        &self,
        operator_id: i64,
        token_digest: Vec<u8>,
        expires_at: NaiveDateTime,
    ) -> Result<Session, StorageError> {
        let hsm = self.hsm().clone();
        self.write("sessions.create", move |conn| {
            create_session(conn, hsm.as_ref(), operator_id, &token_digest, expires_at)
        })
        .await
    }

    /// [`find_session`] on the blocking pool.
    pub async fn find_session(
        &self,
        token_digest: Vec<u8>,
        now: NaiveDateTime,
    ) -> Result<Option<(Session, Operator)>, StorageError> {
        self.run("sessions.find", move |conn| {
            find_session(conn, &token_digest, now)
        })
        .await
    }

    /// [`revoke_session`] on the blocking pool.
    pub async fn revoke_session(&self, token_digest: Vec<u8>) -> Result<bool, StorageError> {
        let hsm = self.hsm().clone();
        self.write("sessions.revoke", move |conn| {
            revoke_session(conn, hsm.as_ref(), &token_digest)
        })
        .await
    }
}
