//! How the applicant of a branch application was identified
//! (`application_evidence`): by an ID card read of the branch ([`Entry::IdRead`],
//! see [`super::id_reads`]) or by hand ([`Entry::Manual`], with the
//! operator's reason), written in the application's own transaction and
//! audited (`application.evidence`). Also the branch's application list
//! (受理记录), paged, with each application's holder name, live card and
//! evidence.
//!
//! Not here: whether a read may serve as evidence (branch, age, number:
//! the web crate's branch rules), the application itself
//! ([`crate::applications`]).

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::applications::{Application, ApplicationRow, ApplicationStatus};
use crate::audit::{self, AuditEntry};
use crate::cards::{Card, CardRow};
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, db};
use crate::schema::{application_evidence, applications, cards, persons};
use crate::{Actor, Store, utc_now};

/// How an applicant was identified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "entry", rename_all = "kebab-case")]
pub enum Entry {
    /// 读证: by the ID card read with this id.
    IdRead {
        /// The read ([`super::id_reads::IdRead::id`]).
        id_read_id: i64,
    },
    /// 手工录入: typed in by an operator allowed to, for this reason.
    Manual {
        /// Why the card was not read ("reader out of order").
        reason: String,
    },
}

impl Entry {
    /// The stored name of the entry kind.
    pub fn name(&self) -> &'static str {
        match self {
            Entry::IdRead { .. } => "id-read",
            Entry::Manual { .. } => "manual",
        }
    }
}

/// A stored evidence row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The application.
    pub application_id: i64,
    /// The branch that accepted it.
    pub branch_id: i64,
    /// How the applicant was identified.
    #[serde(flatten)]
    pub entry: Entry,
    /// Who accepted it.
    pub operator: String,
    /// When (UTC).
    pub at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = application_evidence)]
struct EvidenceRow {
    application_id: i64,
    branch_id: i64,
    entry: String,
    id_read_id: Option<i64>,
    manual_reason: Option<String>,
    operator: String,
    at: NaiveDateTime,
}

fn entry_of(
    entry: &str,
    id_read_id: Option<i64>,
    manual_reason: Option<String>,
) -> Result<Entry, StorageError> {
    match (entry, id_read_id, manual_reason) {
        ("id-read", Some(id_read_id), _) => Ok(Entry::IdRead { id_read_id }),
        ("manual", _, Some(reason)) => Ok(Entry::Manual { reason }),
        (other, _, _) => Err(StorageError::Corrupt {
            column: "application_evidence.entry",
            value: other.to_owned(),
            reason: "not `id-read` with a read or `manual` with a reason".to_owned(),
        }),
    }
}

impl TryFrom<EvidenceRow> for Evidence {
    type Error = StorageError;

    fn try_from(row: EvidenceRow) -> Result<Self, StorageError> {
        Ok(Evidence {
            application_id: row.application_id,
            branch_id: row.branch_id,
            entry: entry_of(&row.entry, row.id_read_id, row.manual_reason)?,
            operator: row.operator,
            at: row.at,
        })
    }
}

/// Records how the applicant of `application_id` was identified at branch
/// `branch_id`, inside the caller's transaction (or its own). An empty
/// manual reason is [`StorageError::Invalid`]. Audited as
/// `application.evidence`.
pub fn record_evidence(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    application_id: i64,
    branch_id: i64,
    entry: &Entry,
    actor: &Actor,
) -> Result<(), StorageError> {
    let (id_read_id, manual_reason) = match entry {
        Entry::IdRead { id_read_id } => (Some(*id_read_id), None),
        Entry::Manual { reason } if reason.trim().is_empty() => {
            return Err(StorageError::Invalid {
                what: "manual entry",
                reason: "it needs a reason (why the card was not read)".to_owned(),
            });
        }
        Entry::Manual { reason } => (None, Some(reason.trim())),
    };
    write_tx(conn, |conn| {
        diesel::insert_into(application_evidence::table)
            .values((
                application_evidence::application_id.eq(application_id),
                application_evidence::branch_id.eq(branch_id),
                application_evidence::entry.eq(entry.name()),
                application_evidence::id_read_id.eq(id_read_id),
                application_evidence::manual_reason.eq(manual_reason),
                application_evidence::operator.eq(&actor.name),
                application_evidence::at.eq(utc_now()),
            ))
            .execute(conn)
            .map_err(db("record an application's evidence"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "application.evidence",
                format!("application:{application_id}"),
                serde_json::json!({
                    "entry": entry.name(),
                    "id_read": id_read_id,
                    "reason": manual_reason,
                    "branch": branch_id,
                }),
            ),
        )?;
        Ok(())
    })
}

/// The evidence of an application, if it was accepted at a branch counter.
pub fn evidence_of(
    conn: &mut DbConnection,
    application_id: i64,
) -> Result<Option<Evidence>, StorageError> {
    application_evidence::table
        .find(application_id)
        .select(EvidenceRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read an application's evidence"))?
        .map(Evidence::try_from)
        .transpose()
}

/// Which applications a branch list shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchApplicationQuery {
    /// The branch whose applications (cards going to it); `None`: every
    /// branch's.
    pub branch_id: Option<i64>,
    /// Accepted at or after (UTC).
    pub from: NaiveDateTime,
    /// Accepted before (UTC).
    pub to: NaiveDateTime,
    /// Only in this status.
    pub status: Option<ApplicationStatus>,
    /// Most rows (clamped to 1..=1000).
    pub limit: i64,
    /// Rows skipped (newest first).
    pub offset: i64,
}

/// One application of a branch list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BranchApplication {
    /// The application.
    pub application: Application,
    /// The holder's name (the caller masks it where the role says).
    pub person_name: String,
    /// Its live card (not wasted), if any.
    pub card: Option<Card>,
    /// How the applicant was identified; `None` for applications not
    /// taken at a branch counter.
    pub evidence: Option<Entry>,
}

/// A page of a branch list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BranchApplicationPage {
    /// How many applications match in all.
    pub total: i64,
    /// This page, newest first.
    pub items: Vec<BranchApplication>,
}

/// Most rows one page holds.
const MAX_PAGE: i64 = 1_000;

/// The applications matching `q`, newest first, one page.
pub fn list_branch_applications(
    conn: &mut DbConnection,
    q: &BranchApplicationQuery,
) -> Result<BranchApplicationPage, StorageError> {
    let mut count = applications::table
        .filter(applications::created_at.ge(q.from))
        .filter(applications::created_at.lt(q.to))
        .into_boxed();
    let mut rows = applications::table
        .inner_join(persons::table)
        .left_join(application_evidence::table)
        .filter(applications::created_at.ge(q.from))
        .filter(applications::created_at.lt(q.to))
        .into_boxed();
    if let Some(branch_id) = q.branch_id {
        count = count.filter(applications::branch_id.eq(branch_id));
        rows = rows.filter(applications::branch_id.eq(branch_id));
    }
    if let Some(status) = q.status {
        count = count.filter(applications::status.eq(status.as_str()));
        rows = rows.filter(applications::status.eq(status.as_str()));
    }
    let total: i64 = count
        .count()
        .get_result(conn)
        .map_err(db("count a branch's applications"))?;
    type Joined = (
        ApplicationRow,
        String,
        Option<(String, Option<i64>, Option<String>)>,
    );
    let loaded: Vec<Joined> = rows
        .order(applications::id.desc())
        .limit(q.limit.clamp(1, MAX_PAGE))
        .offset(q.offset.max(0))
        .select((
            ApplicationRow::as_select(),
            persons::name,
            (
                application_evidence::entry,
                application_evidence::id_read_id,
                application_evidence::manual_reason,
            )
                .nullable(),
        ))
        .load(conn)
        .map_err(db("list a branch's applications"))?;
    let loaded: Vec<(Application, String, Option<Entry>)> = loaded
        .into_iter()
        .map(|(row, person_name, evidence)| {
            let evidence = evidence
                .map(|(entry, read, reason)| entry_of(&entry, read, reason))
                .transpose()?;
            Ok((Application::try_from(row)?, person_name, evidence))
        })
        .collect::<Result<_, StorageError>>()?;
    let ids: Vec<i64> = loaded.iter().map(|(a, _, _)| a.id).collect();
    let live: Vec<Card> = cards::table
        .filter(cards::application_id.eq_any(&ids))
        .filter(cards::status.ne(CardStatus::Waste.as_str()))
        .select(CardRow::as_select())
        .load(conn)
        .map_err(db("read the live cards of a branch's applications"))?
        .into_iter()
        .map(Card::try_from)
        .collect::<Result<_, _>>()?;
    let items = loaded
        .into_iter()
        .map(|(application, person_name, evidence)| BranchApplication {
            card: live
                .iter()
                .filter(|c| c.application_id == application.id)
                .max_by_key(|c| c.id)
                .cloned(),
            application,
            person_name,
            evidence,
        })
        .collect();
    Ok(BranchApplicationPage { total, items })
}

impl Store {
    /// [`list_branch_applications`] on the blocking pool.
    pub async fn list_branch_applications(
        &self,
        q: BranchApplicationQuery,
    ) -> Result<BranchApplicationPage, StorageError> {
        self.run("branch.list_applications", move |conn| {
            list_branch_applications(conn, &q)
        })
        .await
    }

    /// [`evidence_of`] on the blocking pool.
    pub async fn application_evidence(
        &self,
        application_id: i64,
    ) -> Result<Option<Evidence>, StorageError> {
        self.run("branch.evidence_of", move |conn| {
            evidence_of(conn, application_id)
        })
        .await
    }
}
