//! The branch operations register (`branch_operations`) and the counter's
//! card operations. Every business operation done at a counter writes one
//! row (branch, operator, kind, card, application, outcome, time) in the
//! operation's own transaction, so the statistics count exactly what was
//! committed; a refused operation writes nothing, row included.
//!
//! [`card_operation`] is one counter operation on a card (临时挂失, 正式挂失,
//! 解挂, 注销, 启用, 领卡): in one transaction it applies the transition
//! through [`cards::transition_card`] (card row, history, audit entry,
//! `card-status` outbox row), adds the register row and queues the
//! holder's SMS ([`SMS_CARD_STATUS_TOPIC`]) and, where the bank's side of
//! the card changes, the bank's notice ([`BANK_CARD_STATUS_TOPIC`]). The
//! topics' payloads are documented in `docs/outbox-topics.md`.
//!
//! Not here: which operations a role may offer (the card status machine
//! decides each edge; the web crate lists them), applications
//! ([`super::evidence`] and the web crate's branch routes).

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::branches::Branch;
use crate::cards::{self, Card};
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, db, parse_column};
use crate::outbox::{self, BANK_CARD_STATUS_TOPIC, SMS_CARD_STATUS_TOPIC};
use crate::schema::{applications, branch_operations, persons};
use crate::{Actor, Store, utc_now};

/// The business done at a counter, as registered and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BranchOperationKind {
    /// 首次申领: a first card applied for.
    FirstIssue,
    /// 补卡: a replacement for a formally lost card applied for.
    Replacement,
    /// 换卡: a renewal of a damaged or expired card applied for.
    Renewal,
    /// 临时挂失: a temporary loss reported.
    TemporaryLoss,
    /// 正式挂失: a formal loss reported.
    FormalLoss,
    /// 解挂: a temporary loss lifted.
    Unlock,
    /// 注销: a card cancelled.
    Cancellation,
    /// 启用: the social-security function activated.
    Activation,
    /// 领卡: a card handed to its holder.
    HandOver,
    /// 个人信息查询: a holder's personal information looked up.
    PersonQuery,
    /// 卡片查询: a holder's cards looked up.
    CardLookup,
}

stable_names!(BranchOperationKind, "branch operation kind", {
    FirstIssue => "first-issue",
    Replacement => "replacement",
    Renewal => "renewal",
    TemporaryLoss => "temporary-loss",
    FormalLoss => "formal-loss",
    Unlock => "unlock",
    Cancellation => "cancellation",
    Activation => "activation",
    HandOver => "hand-over",
    PersonQuery => "person-query",
    CardLookup => "card-lookup",
});

/// One counter operation on a card; each is one edge (or, for
/// cancellation, one of several edges) of the card status machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardOperation {
    /// 临时挂失: to `temporarily-lost`.
    TemporaryLoss,
    /// 正式挂失: to `formally-lost`.
    FormalLoss,
    /// 解挂: to `unlocked`.
    Unlock,
    /// 注销: to `cancelled`.
    Cancellation,
    /// 启用: to `activated`.
    Activation,
    /// 领卡: to `received` (only at the branch the card was sent to).
    HandOver,
}

stable_names!(CardOperation, "card operation", {
    TemporaryLoss => "temporary-loss",
    FormalLoss => "formal-loss",
    Unlock => "unlock",
    Cancellation => "cancellation",
    Activation => "activation",
    HandOver => "hand-over",
});

impl CardOperation {
    /// The status the operation moves a card to.
    pub fn target(self) -> CardStatus {
        match self {
            CardOperation::TemporaryLoss => CardStatus::TemporarilyLost,
            CardOperation::FormalLoss => CardStatus::FormallyLost,
            CardOperation::Unlock => CardStatus::Unlocked,
            CardOperation::Cancellation => CardStatus::Cancelled,
            CardOperation::Activation => CardStatus::Activated,
            CardOperation::HandOver => CardStatus::Received,
        }
    }

    /// How the register counts it.
    pub fn kind(self) -> BranchOperationKind {
        match self {
            CardOperation::TemporaryLoss => BranchOperationKind::TemporaryLoss,
            CardOperation::FormalLoss => BranchOperationKind::FormalLoss,
            CardOperation::Unlock => BranchOperationKind::Unlock,
            CardOperation::Cancellation => BranchOperationKind::Cancellation,
            CardOperation::Activation => BranchOperationKind::Activation,
            CardOperation::HandOver => BranchOperationKind::HandOver,
        }
    }
}

/// The SMS template the holder is sent after a card reaches `status`
/// through a counter operation; the SMS channel owns the texts.
pub fn sms_template(status: CardStatus) -> Option<&'static str> {
    Some(match status {
        CardStatus::TemporarilyLost => "card-temporarily-lost",
        CardStatus::FormallyLost => "card-formally-lost",
        CardStatus::Unlocked => "card-unlocked",
        CardStatus::Cancelled => "card-cancelled",
        CardStatus::Activated => "card-activated",
        CardStatus::Received => "card-received",
        _ => return None,
    })
}

/// Whether the bank behind the card's financial function must hear of a
/// move to `status`: it freezes the account on a loss, releases it on an
/// unlock and closes it on a cancellation.
pub fn notifies_bank(status: CardStatus) -> bool {
    matches!(
        status,
        CardStatus::TemporarilyLost
            | CardStatus::FormallyLost
            | CardStatus::Unlocked
            | CardStatus::Cancelled
    )
}

/// Who does business where: the operator (as recorded) at their branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    /// The operator, as the audit log and card history record them.
    pub actor: Actor,
    /// The operator's branch.
    pub branch: Branch,
}

/// A register row to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBranchOperation<'a> {
    /// Where.
    pub branch_id: i64,
    /// Who (operator username).
    pub operator: &'a str,
    /// What.
    pub kind: BranchOperationKind,
    /// The card it concerned, if one.
    pub card_id: Option<i64>,
    /// The application it concerned, if one.
    pub application_id: Option<i64>,
    /// What it left: the card's new status, or what a look-up found.
    pub outcome: &'a str,
}

/// A stored register row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BranchOperation {
    /// Row id.
    pub id: i64,
    /// Where.
    pub branch_id: i64,
    /// Who.
    pub operator: String,
    /// What.
    pub kind: BranchOperationKind,
    /// The card, if one.
    pub card_id: Option<i64>,
    /// The application, if one.
    pub application_id: Option<i64>,
    /// What it left.
    pub outcome: String,
    /// When (UTC).
    pub at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = branch_operations)]
struct OperationRow {
    id: i64,
    branch_id: i64,
    operator: String,
    kind: String,
    card_id: Option<i64>,
    application_id: Option<i64>,
    outcome: String,
    at: NaiveDateTime,
}

impl TryFrom<OperationRow> for BranchOperation {
    type Error = StorageError;

    fn try_from(row: OperationRow) -> Result<Self, StorageError> {
        Ok(BranchOperation {
            id: row.id,
            branch_id: row.branch_id,
            operator: row.operator,
            kind: parse_column("branch_operations.kind", &row.kind)?,
            card_id: row.card_id,
            application_id: row.application_id,
            outcome: row.outcome,
            at: row.at,
        })
    }
}

/// Writes a register row inside the caller's transaction. Not audited on
/// its own: the operation it registers is.
pub fn record_operation(
    conn: &mut DbConnection,
    op: &NewBranchOperation<'_>,
) -> Result<i64, StorageError> {
    diesel::insert_into(branch_operations::table)
        .values((
            branch_operations::branch_id.eq(op.branch_id),
            branch_operations::operator.eq(op.operator),
            branch_operations::kind.eq(op.kind.as_str()),
            branch_operations::card_id.eq(op.card_id),
            branch_operations::application_id.eq(op.application_id),
            branch_operations::outcome.eq(op.outcome),
            branch_operations::at.eq(utc_now()),
        ))
        .returning(branch_operations::id)
        .get_result(conn)
        .map_err(db("register a branch operation"))
}

/// The register rows of `[from, to)`, of one branch or (with `None`) of
/// every branch, oldest first: what the statistics group.
pub fn operations_in_window(
    conn: &mut DbConnection,
    branch_id: Option<i64>,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<BranchOperation>, StorageError> {
    let mut query = branch_operations::table
        .filter(branch_operations::at.ge(from))
        .filter(branch_operations::at.lt(to))
        .order(branch_operations::id.asc())
        .select(OperationRow::as_select())
        .into_boxed();
    if let Some(branch_id) = branch_id {
        query = query.filter(branch_operations::branch_id.eq(branch_id));
    }
    query
        .load(conn)
        .map_err(db("read branch operations"))?
        .into_iter()
        .map(BranchOperation::try_from)
        .collect()
}

/// Queues the holder's SMS about `card` (template [`sms_template`] of its
/// new status, or `template` when given) if the holder has a phone. The
/// payload carries a reference to the phone (`person:<id>`), never the
/// number: the SMS channel decrypts it when it sends. Returns whether a
/// message was queued.
pub fn notify_holder(
    conn: &mut DbConnection,
    person_id: i64,
    template: &str,
    detail: serde_json::Value,
    branch: &Branch,
    ordering_key: &str,
) -> Result<bool, StorageError> {
    let has_phone: bool = persons::table
        .find(person_id)
        .select(persons::phone_idx.is_not_null())
        .first(conn)
        .optional()
        .map_err(db("check a holder's phone"))?
        .unwrap_or(false);
    if !has_phone {
        return Ok(false);
    }
    outbox::enqueue(
        conn,
        SMS_CARD_STATUS_TOPIC,
        ordering_key,
        &serde_json::json!({
            "template": template,
            "phone_ref": format!("person:{person_id}"),
            "person_id": person_id,
            "branch_code": branch.code,
            "branch_name": branch.name,
            "detail": detail,
            "at": utc_now().and_utc().to_rfc3339(),
        }),
    )?;
    Ok(true)
}

/// Queues the notices a card's move from `from` to `card.status` at a
/// counter owes: the holder's SMS ([`notify_holder`]) and, when
/// [`notifies_bank`], the bank's notice, both keyed `card:<id>` like the
/// `card-status` row [`cards::transition_card`] wrote.
pub fn notify_card_status(
    conn: &mut DbConnection,
    card: &Card,
    from: CardStatus,
    branch: &Branch,
) -> Result<(), StorageError> {
    let key = format!("card:{}", card.id);
    if let Some(template) = sms_template(card.status) {
        notify_holder(
            conn,
            card.person_id,
            template,
            serde_json::json!({
                "card_id": card.id,
                "card_number": card.card_number,
                "from": from.as_str(),
                "to": card.status.as_str(),
            }),
            branch,
            &key,
        )?;
    }
    if notifies_bank(card.status) {
        outbox::enqueue(
            conn,
            BANK_CARD_STATUS_TOPIC,
            &key,
            &serde_json::json!({
                "card_id": card.id,
                "card_number": card.card_number,
                "person_id": card.person_id,
                "from": from.as_str(),
                "to": card.status.as_str(),
                "action": card.status.label_zh(),
                "branch_code": branch.code,
                "version": card.version,
                "at": card.updated_at.and_utc().to_rfc3339(),
            }),
        )?;
    }
    Ok(())
}

/// A card operation at a counter that the counter's rules refuse (the
/// status machine's own refusals are [`StorageError::Transition`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CounterRefusal {
    /// 领卡 of a card that was sent to another branch.
    #[error(
        "card {card_id} was sent to branch {card_branch}, not to {counter_branch}: the holder collects it there (or the centre redirects it)"
    )]
    CardAtOtherBranch {
        /// The card.
        card_id: i64,
        /// The branch the card was sent to (code, or `the centre`).
        card_branch: String,
        /// The counter's branch code.
        counter_branch: String,
    },
}

/// Applies `op` to card `card_id` at `counter`, in one transaction: the
/// transition ([`cards::transition_card`], with `expected_version` and
/// `reason`), the register row (outcome: the new status) and the notices
/// ([`notify_card_status`]). The outer `Err` is a storage failure or the
/// status machine's refusal; the inner one a [`CounterRefusal`]. Either
/// way nothing is written.
pub fn card_operation(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    counter: &Counter,
    card_id: i64,
    op: CardOperation,
    expected_version: Option<i64>,
    reason: &str,
) -> Result<Result<Card, CounterRefusal>, StorageError> {
    write_tx(conn, |conn| {
        let before = cards::get_card(conn, card_id)?;
        if op == CardOperation::HandOver {
            let sent_to: Option<i64> = applications::table
                .find(before.application_id)
                .select(applications::branch_id)
                .first(conn)
                .map_err(db("read the branch a card was sent to"))?;
            if sent_to != Some(counter.branch.id) {
                let card_branch = match sent_to {
                    Some(id) => crate::branches::get(conn, id)?.code,
                    None => "the centre".to_owned(),
                };
                return Ok(Err(CounterRefusal::CardAtOtherBranch {
                    card_id,
                    card_branch,
                    counter_branch: counter.branch.code.clone(),
                }));
            }
        }
        let card = cards::transition_card(
            conn,
            hsm,
            card_id,
            expected_version,
            op.target(),
            &counter.actor,
            reason,
        )?;
        record_operation(
            conn,
            &NewBranchOperation {
                branch_id: counter.branch.id,
                operator: &counter.actor.name,
                kind: op.kind(),
                card_id: Some(card.id),
                application_id: Some(card.application_id),
                outcome: card.status.as_str(),
            },
        )?;
        notify_card_status(conn, &card, before.status, &counter.branch)?;
        Ok(Ok(card))
    })
}

impl Store {
    /// [`card_operation`] on the blocking pool.
    pub async fn branch_card_operation(
        &self,
        counter: Counter,
        card_id: i64,
        op: CardOperation,
        expected_version: Option<i64>,
        reason: String,
    ) -> Result<Result<Card, CounterRefusal>, StorageError> {
        let hsm = self.hsm().clone();
        self.write("branch.card_operation", move |conn| {
            card_operation(
                conn,
                hsm.as_ref(),
                &counter,
                card_id,
                op,
                expected_version,
                &reason,
            )
        })
        .await
    }

    /// [`operations_in_window`] on the blocking pool.
    pub async fn branch_operations_in_window(
        &self,
        branch_id: Option<i64>,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<Vec<BranchOperation>, StorageError> {
        self.run("branch.operations_in_window", move |conn| {
            operations_in_window(conn, branch_id, from, to)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_card_operation_has_a_template_and_a_kind_of_its_own() {
        let mut kinds = std::collections::BTreeSet::new();
        for op in CardOperation::ALL {
            assert!(sms_template(op.target()).is_some(), "{op}");
            assert!(kinds.insert(op.kind()), "{op} counted twice");
            assert_eq!(op.kind().as_str(), op.as_str());
        }
    }

    #[test]
    fn the_bank_hears_of_losses_unlocks_and_cancellations_only() {
        let told: Vec<CardStatus> = CardStatus::ALL
            .into_iter()
            .filter(|s| notifies_bank(*s))
            .collect();
        assert_eq!(
            told,
            [
                CardStatus::TemporarilyLost,
                CardStatus::FormallyLost,
                CardStatus::Unlocked,
                CardStatus::Cancelled
            ]
        );
    }
}
