//! Operator accounts (经办人员): who may log in to the hub, under which role
//! and at which branch, with login-failure lock-out. Password hashing is the
//! caller's (`cardhub_protocols::crypto::password`); this module stores the
//! hash string as given.
//!
//! Not here: login sessions ([`crate::sessions`]), bearer tokens for outside
//! systems ([`crate::tokens`]).

use std::fmt;

use cardhub_protocols::crypto::Hsm;
use cardhub_protocols::roles::Role;
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::audit::{self, AuditEntry};
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, conflict_or_db, db, parse_column};
use crate::schema::{branches, operator_sessions, operators};
use crate::{Actor, Store, branches as branch_repo, to_stored_precision, utc_now};

/// An operator account to create.
#[derive(Clone, PartialEq, Eq)]
pub struct NewOperator {
    /// Login name, unique.
    pub username: String,
    /// Name shown on screens and in reports.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// The branch the operator works at (by code), if any.
    pub branch_code: Option<String>,
    /// Password hash in the caller's encoded form (PHC string).
    pub password_hash: String,
}

/// A stored operator account.
#[derive(Clone, PartialEq, Eq)]
pub struct Operator {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Branch id, if any.
    pub branch_id: Option<i64>,
    /// Branch code, if any.
    pub branch_code: Option<String>,
    /// Password hash as stored.
    pub password_hash: String,
    /// Whether the account may log in.
    pub active: bool,
    /// Failed logins since the last success or lock.
    pub failed_logins: i32,
    /// Logins are refused until this time (UTC).
    pub locked_until: Option<NaiveDateTime>,
    /// Last successful login (UTC).
    pub last_login_at: Option<NaiveDateTime>,
    /// When created (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
}

impl Operator {
    /// Whether logins are refused at `now` because of failed attempts.
    pub fn is_locked(&self, now: NaiveDateTime) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    /// The actor this operator acts as.
    pub fn actor(&self) -> Actor {
        Actor::new(self.username.clone(), self.role)
    }
}

impl fmt::Debug for NewOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewOperator")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("branch_code", &self.branch_code)
            .finish_non_exhaustive()
    }
}

// The password hash stays out of logs.
impl fmt::Debug for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operator")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("branch_code", &self.branch_code)
            .field("active", &self.active)
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .finish_non_exhaustive()
    }
}

/// When repeated login failures lock an account; set by the caller (config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock the account.
    pub threshold: u32,
    /// How long the lock lasts.
    pub lock_for: TimeDelta,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = operators)]
pub(crate) struct OperatorRow {
    id: i64,
    username: String,
    display_name: String,
    role: String,
    branch_id: Option<i64>,
    password_hash: String,
    active: bool,
    failed_logins: i32,
    locked_until: Option<NaiveDateTime>,
    last_login_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl OperatorRow {
    pub(crate) fn into_operator(
        self,
        branch_code: Option<String>,
    ) -> Result<Operator, StorageError> {
        Ok(Operator {
            id: self.id,
            role: parse_column("operators.role", &self.role)?,
            username: self.username,
            display_name: self.display_name,
            branch_id: self.branch_id,
            branch_code,
            password_hash: self.password_hash,
            active: self.active,
            failed_logins: self.failed_logins,
            locked_until: self.locked_until,
            last_login_at: self.last_login_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Which operators to load.
enum Which<'a> {
    Id(i64),
    Username(&'a str),
    All,
}

/// Loads operators with their branch codes, by username.
fn load(conn: &mut DbConnection, which: Which<'_>) -> Result<Vec<Operator>, StorageError> {
    let mut query = operators::table
        .left_join(branches::table)
        .order(operators::username.asc())
        .select((OperatorRow::as_select(), branches::code.nullable()))
        .into_boxed();
    match which {
        Which::Id(id) => query = query.filter(operators::id.eq(id)),
        Which::Username(username) => query = query.filter(operators::username.eq(username)),
        Which::All => {}
    }
    query
        .load::<(OperatorRow, Option<String>)>(conn)
        .map_err(db("read operators"))?
        .into_iter()
        .map(|(row, code)| row.into_operator(code))
        .collect()
}

/// Creates an operator account. A username in use is a
/// [`StorageError::Conflict`]; an unknown branch code is
/// [`StorageError::NotFound`].
pub fn create(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    new: &NewOperator,
    actor: &Actor,
) -> Result<Operator, StorageError> {
    let username = new.username.trim();
    if username.is_empty() || username.chars().any(char::is_whitespace) {
        return Err(StorageError::Invalid {
            what: "username",
            reason: format!("`{}` is empty or contains spaces", new.username),
        });
    }
    write_tx(conn, |conn| {
        let branch_id = new
            .branch_code
            .as_deref()
            .map(|code| branch_repo::get_by_code(conn, code).map(|b| b.id))
            .transpose()?;
        let now = utc_now();
        let id: i64 = diesel::insert_into(operators::table)
            .values((
                operators::username.eq(username),
                operators::display_name.eq(&new.display_name),
                operators::role.eq(new.role.as_str()),
                operators::branch_id.eq(branch_id),
                operators::password_hash.eq(&new.password_hash),
                operators::active.eq(true),
                operators::failed_logins.eq(0),
                operators::created_at.eq(now),
                operators::updated_at.eq(now),
            ))
            .returning(operators::id)
            .get_result(conn)
            .map_err(conflict_or_db("insert an operator", || {
                format!("username `{username}` is already taken")
            }))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "operator.create",
                format!("operator:{username}"),
                serde_json::json!({ "role": new.role.as_str(), "branch": new.branch_code }),
            ),
        )?;
        get(conn, id)
    })
}

/// The operator with this id.
pub fn get(conn: &mut DbConnection, id: i64) -> Result<Operator, StorageError> {
    load(conn, Which::Id(id))?
        .pop()
        .ok_or_else(|| StorageError::NotFound {
            what: "operator",
            key: id.to_string(),
        })
}

/// The operator with this username, active or not.
pub fn find_by_username(
    conn: &mut DbConnection,
    username: &str,
) -> Result<Option<Operator>, StorageError> {
    Ok(load(conn, Which::Username(username))?.pop())
}

fn require_by_username(conn: &mut DbConnection, username: &str) -> Result<Operator, StorageError> {
    find_by_username(conn, username)?.ok_or_else(|| StorageError::NotFound {
        what: "operator",
        key: username.to_owned(),
    })
}

/// Every operator, by username.
pub fn list(conn: &mut DbConnection) -> Result<Vec<Operator>, StorageError> {
    load(conn, Which::All)
}

/// Counts a failed login. When the count reaches `policy.threshold` the
/// account is locked until `now + policy.lock_for` and the count starts
/// again from zero. Audited as `operator.login-failure` (and
/// `operator.locked` when it locks).
pub fn record_login_failure(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    operator_id: i64,
    now: NaiveDateTime,
    policy: LockoutPolicy,
) -> Result<Operator, StorageError> {
    let now = to_stored_precision(now);
    write_tx(conn, |conn| {
        let updated = diesel::update(operators::table.find(operator_id))
            .set((
                operators::failed_logins.eq(operators::failed_logins + 1),
                operators::updated_at.eq(now),
            ))
            .execute(conn)
            .map_err(db("count a failed login"))?;
        if updated == 0 {
            return Err(StorageError::NotFound {
                what: "operator",
                key: operator_id.to_string(),
            });
        }
        let mut operator = get(conn, operator_id)?;
        let failures = u32::try_from(operator.failed_logins).unwrap_or(0);
        let actor = operator.actor();
        let subject = format!("operator:{}", operator.username);
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                &actor,
                "operator.login-failure",
                &subject,
                serde_json::json!({ "failed_logins": failures }),
            ),
        )?;
        if failures >= policy.threshold.max(1) {
            let until = to_stored_precision(now + policy.lock_for);
            diesel::update(operators::table.find(operator_id))
                .set((
                    operators::locked_until.eq(until),
                    operators::failed_logins.eq(0),
                ))
                .execute(conn)
                .map_err(db("lock an operator"))?;
            audit::append(
                conn,
                hsm,
                &AuditEntry::new(
                    &actor,
                    "operator.locked",
                    &subject,
                    serde_json::json!({ "failed_logins": failures, "locked_until": until.to_string() }),
                ),
            )?;
            operator = get(conn, operator_id)?;
        }
        Ok(operator)
    })
}

/// Records a successful login: clears the failure count and any lock, sets
/// the last login time. Audited as `operator.login`.
pub fn record_login_success(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    operator_id: i64,
    now: NaiveDateTime,
) -> Result<Operator, StorageError> {
    let now = to_stored_precision(now);
    write_tx(conn, |conn| {
        let updated = diesel::update(operators::table.find(operator_id))
            .set((
                operators::failed_logins.eq(0),
                operators::locked_until.eq(None::<NaiveDateTime>),
                operators::last_login_at.eq(now),
                operators::updated_at.eq(now),
            ))
            .execute(conn)
            .map_err(db("record a login"))?;
        if updated == 0 {
            return Err(StorageError::NotFound {
                what: "operator",
                key: operator_id.to_string(),
            });
        }
        let operator = get(conn, operator_id)?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                &operator.actor(),
                "operator.login",
                format!("operator:{}", operator.username),
                serde_json::json!({}),
            ),
        )?;
        Ok(operator)
    })
}

/// Replaces an operator's password hash. Audited as
/// `operator.set-password` (without the hash).
pub fn set_password(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    username: &str,
    password_hash: &str,
    actor: &Actor,
) -> Result<(), StorageError> {
    write_tx(conn, |conn| {
        let operator = require_by_username(conn, username)?;
        diesel::update(operators::table.find(operator.id))
            .set((
                operators::password_hash.eq(password_hash),
                operators::updated_at.eq(utc_now()),
            ))
            .execute(conn)
            .map_err(db("set a password"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "operator.set-password",
                format!("operator:{username}"),
                serde_json::json!({}),
            ),
        )?;
        Ok(())
    })
}

/// Deactivates an account and revokes its open sessions. Audited as
/// `operator.deactivate`.
pub fn deactivate(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    username: &str,
    actor: &Actor,
) -> Result<Operator, StorageError> {
    write_tx(conn, |conn| {
        let operator = require_by_username(conn, username)?;
        let now = utc_now();
        diesel::update(operators::table.find(operator.id))
            .set((operators::active.eq(false), operators::updated_at.eq(now)))
            .execute(conn)
            .map_err(db("deactivate an operator"))?;
        let revoked = diesel::update(
            operator_sessions::table
                .filter(operator_sessions::operator_id.eq(operator.id))
                .filter(operator_sessions::revoked_at.is_null()),
        )
        .set(operator_sessions::revoked_at.eq(now))
        .execute(conn)
        .map_err(db("revoke an operator's sessions"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "operator.deactivate",
                format!("operator:{username}"),
                serde_json::json!({ "sessions_revoked": revoked }),
            ),
        )?;
        get(conn, operator.id)
    })
}

impl Store {
    /// [`create`] on the blocking pool.
    pub async fn create_operator(
        &self,
        new: NewOperator,
        actor: Actor,
    ) -> Result<Operator, StorageError> {
        let hsm = self.hsm().clone();
        self.write("operators.create", move |conn| {
            create(conn, hsm.as_ref(), &new, &actor)
        })
        .await
    }

    /// [`find_by_username`] on the blocking pool.
    pub async fn find_operator(&self, username: String) -> Result<Option<Operator>, StorageError> {
        self.run("operators.find_by_username", move |conn| {
            find_by_username(conn, &username)
        })
        .await
    }

    /// [`list`] on the blocking pool.
    pub async fn list_operators(&self) -> Result<Vec<Operator>, StorageError> {
        self.run("operators.list", list).await
    }

    /// [`record_login_failure`] on the blocking pool.
    pub async fn record_login_failure(
        &self,
        operator_id: i64,
        now: NaiveDateTime,
        policy: LockoutPolicy,
    ) -> Result<Operator, StorageError> {
        let hsm = self.hsm().clone();
        self.write("operators.login_failure", move |conn| {
            record_login_failure(conn, hsm.as_ref(), operator_id, now, policy)
        })
        .await
    }

    /// [`record_login_success`] on the blocking pool.
    pub async fn record_login_success(
        &self,
        operator_id: i64,
        now: NaiveDateTime,
    ) -> Result<Operator, StorageError> {
        let hsm = self.hsm().clone();
        self.write("operators.login_success", move |conn| {
            record_login_success(conn, hsm.as_ref(), operator_id, now)
        })
        .await
    }

    /// [`set_password`] on the blocking pool.
    pub async fn set_operator_password(
        &self,
        username: String,
        password_hash: String,
        actor: Actor,
    ) -> Result<(), StorageError> {
        let hsm = self.hsm().clone();
        self.write("operators.set_password", move |conn| {
            set_password(conn, hsm.as_ref(), &username, &password_hash, &actor)
        })
        .await
    }

    /// [`deactivate`] on the blocking pool.
    pub async fn deactivate_operator(
        &self,
        username: String,
        actor: Actor,
    ) -> Result<Operator, StorageError> {
        let hsm = self.hsm().clone();
        self.write("operators.deactivate", move |conn| {
            deactivate(conn, hsm.as_ref(), &username, &actor)
        })
        .await
    }
}
