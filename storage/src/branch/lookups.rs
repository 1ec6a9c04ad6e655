//! Audited look-ups of card holders at a counter (个人信息查询, 卡片查询):
//! by document number or by phone (blind indexes, see
//! [`crate::persons`]), each with the holder's cards. Every look-up, found
//! or not, appends an audit entry saying who looked up whom (the persons
//! found, never the number or phone asked for) and whether the answer was
//! masked; at a branch it also registers a branch operation. The answer is
//! given only once that record is stored: through [`Store::look_up_holders`]
//! the record joins a group commit (`crate::group_commit`) so that a busy
//! hour's queries do not each take SQLite's write lock.
//!
//! Not here: masking (the web crate's branch masking rules decide what a
//! role sees).

use cardhub_protocols::crypto::Hsm;

use crate::audit::{self, AuditEntry};
use crate::cards::{self, Card};
use crate::connection::{DbConnection, write_tx};
use crate::error::StorageError;
use crate::persons::{self, Person};
use crate::{Actor, Store};

use super::operations::{BranchOperationKind, NewBranchOperation, record_operation};

/// What a holder is looked up by.
#[derive(Clone, PartialEq, Eq)]
pub enum HolderKey {
    /// The document number (any document type).
    DocumentNumber(String),
    /// The mobile phone (family members may share one).
    Phone(String),
}

impl HolderKey {
    /// The key's name, as audited (the value never is).
    pub fn name(&self) -> &'static str {
        match self {
            HolderKey::DocumentNumber(_) => "document-number",
            HolderKey::Phone(_) => "phone",
        }
    }
}

// The value is sensitive: keep it out of logs.
impl std::fmt::Debug for HolderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HolderKey::{}(***)", self.name())
    }
}

/// Why the holder is looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupPurpose {
    /// 个人信息查询: the holder's personal information.
    PersonQuery,
    /// 卡片查询: the holder's cards, before a card operation.
    CardLookup,
}

impl LookupPurpose {
    fn audit_action(self) -> &'static str {
        match self {
            LookupPurpose::PersonQuery => "person.query",
            LookupPurpose::CardLookup => "card.lookup",
        }
    }

    fn kind(self) -> BranchOperationKind {
        match self {
            LookupPurpose::PersonQuery => BranchOperationKind::PersonQuery,
            LookupPurpose::CardLookup => BranchOperationKind::CardLookup,
        }
    }
}

/// A holder found, with every card, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The person, decrypted.
    pub person: Person,
    /// The person's cards.
    pub cards: Vec<Card>,
}

/// One look-up: who asks, why, whether the answer is masked, and at which
/// branch (`None`: not at a counter, e.g. centre staff over a token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// Who asks.
    pub actor: Actor,
    /// Why.
    pub purpose: LookupPurpose,
    /// Whether the caller is shown masked values.
    pub masked: bool,
    /// The counter's branch, registered as a branch operation.
    pub branch_id: Option<i64>,
}

/// Looks holders up by `key` and records the look-up (audit entry
/// `person.query` or `card.lookup`, subject the persons found or
/// `person:none`; a branch operation when at a branch), in one
/// transaction.
pub fn look_up_holders(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    key: &HolderKey,
    lookup: &Lookup,
) -> Result<Vec<Holder>, StorageError> {
    write_tx(conn, |conn| {
        let holders = find_holders(conn, hsm, key)?;
        record_lookup(conn, hsm, key.name(), &holders, lookup)?;
        Ok(holders)
    })
}

/// The holders `key` finds, each with every card (reads only).
pub fn find_holders(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    key: &HolderKey,
) -> Result<Vec<Holder>, StorageError> {
    let found = match key {
        HolderKey::DocumentNumber(number) => persons::find_by_document_number(conn, hsm, number)?
            .into_iter()
            .collect(),
        HolderKey::Phone(phone) => persons::find_by_phone(conn, hsm, phone)?,
    };
    found
        .into_iter()
        .map(|person| {
            let cards = cards::cards_of_person(conn, person.id)?;
            Ok(Holder { person, cards })
        })
        .collect()
}

/// Records that `lookup` looked up by `by` (a [`HolderKey::name`]) and
/// found `holders`: the audit entry, and the branch operation when at a
/// branch.
pub fn record_lookup(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    by: &str,
    holders: &[Holder],
    lookup: &Lookup,
) -> Result<(), StorageError> {
    let ids: Vec<i64> = holders.iter().map(|h| h.person.id).collect();
    let subject = match ids.as_slice() {
        [] => "person:none".to_owned(),
        ids => ids
            .iter()
            .map(|id| format!("person:{id}"))
            .collect::<Vec<_>>()
            .join(","),
    };
    audit::append(
        conn,
        hsm,
        &AuditEntry::new(
            &lookup.actor,
            lookup.purpose.audit_action(),
            subject,
            serde_json::json!({
                "by": by,
                "found": ids,
                "masked": lookup.masked,
                "branch": lookup.branch_id,
            }),
        ),
    )?;
    if let Some(branch_id) = lookup.branch_id {
        let outcome = format!("found {}", holders.len());
        record_operation(
            conn,
            &NewBranchOperation {
                branch_id,
                operator: &lookup.actor.name,
                kind: lookup.purpose.kind(),
                card_id: None,
                application_id: None,
                outcome: &outcome,
            },
        )?;
    }
    Ok(())
}

impl Store {
    /// [`look_up_holders`] on the blocking pool.
    pub async fn look_up_holders(
        &self,
        key: HolderKey,
        lookup: Lookup,
    ) -> Result<Vec<Holder>, StorageError> {
        // The read runs beside other readers; the record of it joins the
        // next group commit, and the answer waits until it is stored.
        let hsm = self.hsm().clone();
        let by = key.name();
        let holders = self
            .run("branch.find_holders", move |conn| {
                find_holders(conn, hsm.as_ref(), &key)
            })
            .await?;
        let hsm = self.hsm().clone();
        let recorded = holders.clone();
        self.commit_grouped(move |conn| record_lookup(conn, hsm.as_ref(), by, &recorded, &lookup))
            .await?;
        Ok(holders)
    }
}
