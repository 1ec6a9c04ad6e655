//! The counter an operator works at (网点服务): the operator's account, its
//! branch, and the one counter permission stored with the account,
//! `operators.manual_entry` (手工录入: accepting an application without an
//! ID card read, when the reader is broken or the holder's card is
//! unreadable). The permission is off unless granted; granting or
//! withdrawing it is audited (`operator.set-manual-entry`).
//!
//! Not here: the account itself ([`crate::operators`]), what the operator
//! may offer at the counter (the web crate computes it from role, branch
//! kind and this permission).

use cardhub_protocols::crypto::Hsm;
use diesel::prelude::*;

use crate::audit::{self, AuditEntry};
use crate::branches::{self, Branch};
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, db};
use crate::operators::{self, NewOperator, Operator};
use crate::schema::operators as operator_rows;
use crate::{Actor, Store, utc_now};

/// An operator at a counter, as read for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desk {
    /// The account.
    pub operator: Operator,
    /// Its branch, if it has one.
    pub branch: Option<Branch>,
    /// Whether it may accept applications without an ID card read.
    pub manual_entry: bool,
}

/// Whether operator `operator_id` may enter applications by hand.
pub fn manual_entry(conn: &mut DbConnection, operator_id: i64) -> Result<bool, StorageError> {
    operator_rows::table
        .find(operator_id)
        .select(operator_rows::manual_entry)
        .first(conn)
        .optional()
        .map_err(db("read an operator's manual-entry permission"))?
        .ok_or_else(|| StorageError::NotFound {
            what: "operator",
            key: operator_id.to_string(),
        })
}

/// Grants (`true`) or withdraws the manual-entry permission of the
/// operator with this username. Audited as `operator.set-manual-entry`.
pub fn set_manual_entry(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    username: &str,
    allowed: bool,
    actor: &Actor,
) -> Result<(), StorageError> {
    write_tx(conn, |conn| {
        let operator =
            operators::find_by_username(conn, username)?.ok_or_else(|| StorageError::NotFound {
                what: "operator",
                key: username.to_owned(),
            })?;
        diesel::update(operator_rows::table.find(operator.id))
            .set((
                operator_rows::manual_entry.eq(allowed),
                operator_rows::updated_at.eq(utc_now()),
            ))
            .execute(conn)
            .map_err(db("set an operator's manual-entry permission"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "operator.set-manual-entry",
                format!("operator:{username}"),
                serde_json::json!({ "manual_entry": allowed }),
            ),
        )?;
        Ok(())
    })
}

/// Creates an operator account ([`operators::create`]) and, with
/// `manual_entry`, grants the permission, in one transaction.
pub fn create_operator(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    new: &NewOperator,
    manual_entry: bool,
    actor: &Actor,
) -> Result<Operator, StorageError> {
    write_tx(conn, |conn| {
        let operator = operators::create(conn, hsm, new, actor)?;
        if manual_entry {
            set_manual_entry(conn, hsm, &operator.username, true, actor)?;
        }
        Ok(operator)
    })
}

/// The operator `operator_id` with its branch and permission.
pub fn desk(conn: &mut DbConnection, operator_id: i64) -> Result<Desk, StorageError> {
    let operator = operators::get(conn, operator_id)?;
    let branch = operator
        .branch_id
        .map(|id| branches::get(conn, id))
        .transpose()?;
    Ok(Desk {
        manual_entry: manual_entry(conn, operator_id)?,
        operator,
        branch,
    })
}

impl Store {
    /// [`desk`] on the blocking pool.
    pub async fn desk(&self, operator_id: i64) -> Result<Desk, StorageError> {
        self.run("branch.desk", move |conn| desk(conn, operator_id))
            .await
    }

    /// [`create_operator`] on the blocking pool.
    pub async fn create_operator_with_permissions(
        &self,
        new: NewOperator,
        manual_entry: bool,
        actor: Actor,
    ) -> Result<Operator, StorageError> {
        let hsm = self.hsm().clone();
        self.write("branch.create_operator", move |conn| {
            create_operator(conn, hsm.as_ref(), &new, manual_entry, &actor)
        })
        .await
    }

    /// [`set_manual_entry`] on the blocking pool.
    pub async fn set_manual_entry(
        &self,
        username: String,
        allowed: bool,
        actor: Actor,
    ) -> Result<(), StorageError> {
        let hsm = self.hsm().clone();
        self.write("branch.set_manual_entry", move |conn| {
            set_manual_entry(conn, hsm.as_ref(), &username, allowed, &actor)
        })
        .await
    }
}
