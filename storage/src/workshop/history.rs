//! The status history of boxes and dispatch batches: every change writes a
//! `dispatch_status_history` row and an audit entry (`box.*`,
//! `dispatch.*`) in the caller's transaction.

use cardhub_protocols::crypto::Hsm;
use cardhub_protocols::roles::Role;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Actor;
use crate::audit::{self, AuditEntry};
use crate::connection::DbConnection;
use crate::error::{StorageError, db, parse_column};
use crate::schema::dispatch_status_history;

/// What a [`StatusChange`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrackedEntity {
    /// A box of cards ([`super::CardBox`]).
    Box,
    /// A dispatch batch ([`super::Dispatch`]).
    Dispatch,
}

stable_names!(TrackedEntity, "tracked entity", {
    Box => "box",
    Dispatch => "dispatch",
});

/// One status change of a box or a dispatch batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    /// Row id.
    pub id: i64,
    /// Box or dispatch batch.
    pub entity: TrackedEntity,
    /// Its id.
    pub entity_id: i64,
    /// Status before; `None` when it was created.
    pub from: Option<String>,
    /// Status after.
    pub to: String,
    /// Who.
    pub actor: String,
    /// Under which role.
    pub role: Role,
    /// When (UTC).
    pub at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = dispatch_status_history)]
struct ChangeRow {
    id: i64,
    entity: String,
    entity_id: i64,
    from_status: Option<String>,
    to_status: String,
    actor: String,
    role: String,
    at: NaiveDateTime,
}

impl TryFrom<ChangeRow> for StatusChange {
    type Error = StorageError;

    fn try_from(row: ChangeRow) -> Result<Self, StorageError> {
        Ok(StatusChange {
            id: row.id,
            entity: parse_column("dispatch_status_history.entity", &row.entity)?,
            entity_id: row.entity_id,
            from: row.from_status,
            to: row.to_status,
            actor: row.actor,
            role: parse_column("dispatch_status_history.role", &row.role)?,
            at: row.at,
        })
    }
}

/// A change to record.
pub(super) struct NewChange<'a> {
    pub(super) entity: TrackedEntity,
    pub(super) entity_id: i64,
    /// The box or batch number, for the audit subject.
    pub(super) number: &'a str,
    pub(super) from: Option<&'a str>,
    pub(super) to: &'a str,
    /// The audit action's verb (`box.<verb>`, `dispatch.<verb>`).
    pub(super) verb: &'a str,
    pub(super) detail: serde_json::Value,
    pub(super) at: NaiveDateTime,
}

/// Writes the history row and the audit entry of a change.
pub(super) fn record_change(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    change: NewChange<'_>,
    actor: &Actor,
) -> Result<(), StorageError> {
    diesel::insert_into(dispatch_status_history::table)
        .values((
            dispatch_status_history::entity.eq(change.entity.as_str()),
            dispatch_status_history::entity_id.eq(change.entity_id),
            dispatch_status_history::from_status.eq(change.from),
            dispatch_status_history::to_status.eq(change.to),
            dispatch_status_history::actor.eq(&actor.name),
            dispatch_status_history::role.eq(actor.role.as_str()),
            dispatch_status_history::at.eq(change.at),
        ))
        .execute(conn)
        .map_err(db("record a box or dispatch status change"))?;
    let mut detail = change.detail;
    if let serde_json::Value::Object(map) = &mut detail {
        map.insert("id".into(), change.entity_id.into());
        map.insert("from".into(), change.from.into());
        map.insert("to".into(), change.to.into());
    }
    audit::append(
        conn,
        hsm,
        &AuditEntry::new(
            actor,
            format!("{}.{}", change.entity, change.verb),
            format!("{}:{}", change.entity, change.number),
            detail,
        ),
    )?;
    Ok(())
}

/// The status history of a box or dispatch batch, oldest first.
pub(super) fn history_of(
    conn: &mut DbConnection,
    entity: TrackedEntity,
    entity_id: i64,
) -> Result<Vec<StatusChange>, StorageError> {
    dispatch_status_history::table
        .filter(dispatch_status_history::entity.eq(entity.as_str()))
        .filter(dispatch_status_history::entity_id.eq(entity_id))
        .order(dispatch_status_history::id.asc())
        .select(ChangeRow::as_select())
        .load(conn)
        .map_err(db("read a box or dispatch status history"))?
        .into_iter()
        .map(StatusChange::try_from)
        .collect()
}
