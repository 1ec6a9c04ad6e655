//! Applications (申领): a request for a card by or for a person, accepted at
//! a branch or received from an outside system. Accepting one creates its
//! card in `Applied` ([`crate::cards`]); the application's status then
//! follows the card (see [`ApplicationStatus`]).
//!
//! Not here: the card and its status changes ([`crate::cards`]), photo
//! review and making-card tasks (actors).

use cardhub_protocols::crypto::Hsm;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditEntry};
use crate::cards::{self, Card};
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, db, parse_column};
use crate::schema::{applications, persons};
use crate::{Actor, Store, utc_now};

/// The business an application is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApplicationKind {
    /// 首次申领: first card.
    FirstIssue,
    /// 补卡: replacement of a lost card.
    Replacement,
    /// 换卡: replacement of a damaged or expired card.
    Renewal,
    /// 即时制卡: made at the branch while the holder waits.
    InstantIssue,
}

stable_names!(ApplicationKind, "application kind", {
    FirstIssue => "first-issue",
    Replacement => "replacement",
    Renewal => "renewal",
    InstantIssue => "instant-issue",
});

/// Where an application stands. Follows its card: `completed` when the card
/// is handed over (`received`), `withdrawn` when it is cancelled before
/// production.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApplicationStatus {
    /// 受理中: being processed.
    Open,
    /// 已办结: the card reached the holder.
    Completed,
    /// 已撤销: withdrawn before the card was made.
    Withdrawn,
}

stable_names!(ApplicationStatus, "application status", {
    Open => "open",
    Completed => "completed",
    Withdrawn => "withdrawn",
});

/// An application to accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApplication {
    /// The applicant.
    pub person_id: i64,
    /// What for.
    pub kind: ApplicationKind,
    /// Where it was accepted; `None` for applications from an outside
    /// system (government portal, bank).
    pub branch_id: Option<i64>,
}

/// A stored application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Application {
    /// Row id.
    pub id: i64,
    /// The applicant.
    pub person_id: i64,
    /// What for.
    pub kind: ApplicationKind,
    /// Where it was accepted.
    pub branch_id: Option<i64>,
    /// Where it stands.
    pub status: ApplicationStatus,
    /// When accepted (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
}

/// An application as stored; the branch list selects it too.
#[derive(Queryable, Selectable)]
#[diesel(table_name = applications)]
pub(crate) struct ApplicationRow {
    id: i64,
    person_id: i64,
    kind: String,
    branch_id: Option<i64>,
    status: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<ApplicationRow> for Application {
    type Error = StorageError;

    fn try_from(row: ApplicationRow) -> Result<Self, StorageError> {
        Ok(Application {
            id: row.id,
            person_id: row.person_id,
            kind: parse_column("applications.kind", &row.kind)?,
            branch_id: row.branch_id,
            status: parse_column("applications.status", &row.status)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Accepts an application and creates its card in `Applied` (with the
/// first history row). The person and branch must exist
/// ([`StorageError::NotFound`]). Audited as `application.create`.
pub fn create_application(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    new: &NewApplication,
    actor: &Actor,
) -> Result<(Application, Card), StorageError> {
    write_tx(conn, |conn| {
        let person_exists = persons::table
            .find(new.person_id)
            .select(persons::id)
            .first::<i64>(conn)
            .optional()
            .map_err(db("check a person exists"))?;
        if person_exists.is_none() {
            return Err(StorageError::NotFound {
                what: "person",
                key: new.person_id.to_string(),
            });
        }
        if let Some(branch_id) = new.branch_id {
            crate::branches::get(conn, branch_id)?;
        }
        let now = utc_now();
        let application_id: i64 = diesel::insert_into(applications::table)
            .values((
                applications::person_id.eq(new.person_id),
                applications::kind.eq(new.kind.as_str()),
                applications::branch_id.eq(new.branch_id),
                applications::status.eq(ApplicationStatus::Open.as_str()),
                applications::created_at.eq(now),
                applications::updated_at.eq(now),
            ))
            .returning(applications::id)
            .get_result(conn)
            .map_err(db("insert an application"))?;
        let reason = format!("application {application_id} ({})", new.kind);
        let card_id =
            cards::insert_applied_card(conn, new.person_id, application_id, actor, &reason, now)?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "application.create",
                format!("application:{application_id}"),
                serde_json::json!({
                    "person": new.person_id,
                    "kind": new.kind.as_str(),
                    "branch": new.branch_id,
                    "card": card_id,
                }),
            ),
        )?;
        Ok((
            get_application(conn, application_id)?,
            cards::get_card(conn, card_id)?,
        ))
    })
}

/// The application with this id.
pub fn get_application(conn: &mut DbConnection, id: i64) -> Result<Application, StorageError> {
    applications::table
        .find(id)
        .select(ApplicationRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read an application"))?
        .ok_or_else(|| StorageError::NotFound {
            what: "application",
            key: id.to_string(),
        })?
        .try_into()
}

/// How many applications are stored (any status).
pub fn count_applications(conn: &mut DbConnection) -> Result<i64, StorageError> {
    applications::table
        .count()
        .get_result(conn)
        .map_err(db("count applications"))
}

/// Sets an application's status inside the caller's transaction.
pub(crate) fn set_status(
    conn: &mut DbConnection,
    id: i64,
    status: ApplicationStatus,
    now: NaiveDateTime,
) -> Result<(), StorageError> {
    diesel::update(applications::table.find(id))
        .set((
            applications::status.eq(status.as_str()),
            applications::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(db("update an application's status"))?;
    Ok(())
}

impl Store {
    /// [`create_application`] on the blocking pool.
    pub async fn create_application(
        &self,
        new: NewApplication,
        actor: Actor,
    ) -> Result<(Application, Card), StorageError> {
        let hsm = self.hsm().clone();
        self.write("cards.create_application", move |conn| {
            create_application(conn, hsm.as_ref(), &new, &actor)
        })
        .await
    }

    /// [`count_applications`] on the blocking pool.
    pub async fn count_applications(&self) -> Result<i64, StorageError> {
        self.run("applications.count", count_applications).await
    }
}
