//! Cards (社保卡): an application ([`crate::applications`]) creates its card
//! in `Applied`; every later status change goes through [`transition_card`],
//! which asks the card status machine
//! (`cardhub_protocols::card_status::check_transition`) and then, in one
//! transaction, updates the card under its version (optimistic lock),
//! writes the status history, appends an audit entry and queues a
//! `card-status` outbox message. A refused or stale transition writes
//! nothing.
//!
//! An application has one live card at a time (a partial unique index on
//! `application_id` where the status is not `waste`): a card wasted in
//! production stays as it was, and its remake is a new card row for the
//! same application ([`crate::workshop::waste_and_requeue`]).
//!
//! Not here: the transition table and its roles (protocols), making-card
//! tasks, production and dispatch ([`crate::workshop`]).

use cardhub_protocols::card_status::{CardStatus, check_transition};
use cardhub_protocols::crypto::Hsm;
use cardhub_protocols::roles::Role;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::applications::{self, ApplicationStatus};
use crate::audit::{self, AuditEntry};
use crate::connection::{DbConnection, join_write_tx, on_backend, write_tx};
use crate::error::{StorageError, conflict_or_db, db, parse_column};
use crate::fixed::fixed_statement;
use crate::outbox::{self, CARD_STATUS_TOPIC};
use crate::schema::{card_status_history, cards};
use crate::{Actor, Store, utc_now};

/// A stored card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Card {
    /// Row id.
    pub id: i64,
    /// The holder.
    pub person_id: i64,
    /// The application that created it.
    pub application_id: i64,
    /// Card number (卡号), unique; `None` until assigned in production.
    pub card_number: Option<String>,
    /// Current status.
    pub status: CardStatus,
    /// Optimistic-lock version, +1 on every change.
    pub version: i64,
    /// When created (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
}

/// One row of a card's status history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CardStatusChange {
    /// Row id.
    pub id: i64,
    /// The card.
    pub card_id: i64,
    /// Status before; `None` for the card's creation.
    pub from: Option<CardStatus>,
    /// Status after.
    pub to: CardStatus,
    /// The business action in Chinese (from the transition table).
    pub action: String,
    /// Who.
    pub actor: String,
    /// Under which role.
    pub role: Role,
    /// Why, as given by the actor.
    pub reason: String,
    /// When (UTC).
    pub at: NaiveDateTime,
}

/// A card as stored; the workshop's joins select it too.
#[derive(Queryable, Selectable)]
#[diesel(table_name = cards)]
pub(crate) struct CardRow {
    id: i64,
    person_id: i64,
    application_id: i64,
    card_number: Option<String>,
    status: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<CardRow> for Card {
    type Error = StorageError;

    fn try_from(row: CardRow) -> Result<Self, StorageError> {
        Ok(Card {
            id: row.id,
            person_id: row.person_id,
            application_id: row.application_id,
            card_number: row.card_number,
            status: parse_column("cards.status", &row.status)?,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = card_status_history)]
struct HistoryRow {
    id: i64,
    card_id: i64,
    from_status: Option<String>,
    to_status: String,
    action: String,
    actor: String,
    role: String,
    reason: String,
    at: NaiveDateTime,
}

impl TryFrom<HistoryRow> for CardStatusChange {
    type Error = StorageError;

    fn try_from(row: HistoryRow) -> Result<Self, StorageError> {
        Ok(CardStatusChange {
            id: row.id,
            card_id: row.card_id,
            from: row
                .from_status
                .as_deref()
                .map(|s| parse_column("card_status_history.from_status", s))
                .transpose()?,
            to: parse_column("card_status_history.to_status", &row.to_status)?,
            action: row.action,
            actor: row.actor,
            role: parse_column("card_status_history.role", &row.role)?,
            reason: row.reason,
            at: row.at,
        })
    }
}

/// One history row to write.
struct HistoryEntry<'a> {
    card_id: i64,
    from: Option<CardStatus>,
    to: CardStatus,
    action: &'a str,
    actor: &'a Actor,
    reason: &'a str,
    at: NaiveDateTime,
}

fn insert_history(conn: &mut DbConnection, entry: HistoryEntry<'_>) -> Result<(), StorageError> {
    on_backend!(conn, |c| diesel::insert_into(card_status_history::table)
        .values((
            card_status_history::card_id.eq(entry.card_id),
            card_status_history::from_status.eq(entry.from.map(CardStatus::as_str)),
            card_status_history::to_status.eq(entry.to.as_str()),
            card_status_history::action.eq(entry.action),
            card_status_history::actor.eq(&entry.actor.name),
            card_status_history::role.eq(entry.actor.role.as_str()),
            card_status_history::reason.eq(entry.reason),
            card_status_history::at.eq(entry.at),
        ))
        .execute(c))
    .map_err(db("insert card status history"))?;
    Ok(())
}

/// Inserts the card of a new application in `Applied`, with its first
/// history row, inside the caller's transaction; returns the card id.
pub(crate) fn insert_applied_card(
    conn: &mut DbConnection,
    person_id: i64,
    application_id: i64,
    actor: &Actor,
    reason: &str,
    now: NaiveDateTime,
) -> Result<i64, StorageError> {
    let card_id: i64 = diesel::insert_into(cards::table)
        .values((
            cards::person_id.eq(person_id),
            cards::application_id.eq(application_id),
            cards::status.eq(CardStatus::Applied.as_str()),
            cards::version.eq(0_i64),
            cards::created_at.eq(now),
            cards::updated_at.eq(now),
        ))
        .returning(cards::id)
        .get_result(conn)
        .map_err(db("insert a card"))?;
    insert_history(
        conn,
        HistoryEntry {
            card_id,
            from: None,
            to: CardStatus::Applied,
            action: "申领",
            actor,
            reason,
            at: now,
        },
    )?;
    Ok(card_id)
}

/// Inserts the remake of wasted card `wasted` in `DataPrepared` (its data
/// was prepared for the first card; it has no number until production
/// gives it one), with a history row naming the wasted card, inside the
/// caller's transaction; returns the new card. The wasted card must already
/// be `Waste` (one live card per application).
pub(crate) fn insert_remade_card(
    conn: &mut DbConnection,
    wasted: &Card,
    actor: &Actor,
    reason: &str,
    now: NaiveDateTime,
) -> Result<Card, StorageError> {
    let card_id: i64 = diesel::insert_into(cards::table)
        .values((
            cards::person_id.eq(wasted.person_id),
            cards::application_id.eq(wasted.application_id),
            cards::status.eq(CardStatus::DataPrepared.as_str()),
            cards::version.eq(0_i64),
            cards::created_at.eq(now),
            cards::updated_at.eq(now),
        ))
        .returning(cards::id)
        .get_result(conn)
        .map_err(conflict_or_db("insert a remade card", || {
            format!(
                "application {} already has a live card besides wasted card {}",
                wasted.application_id, wasted.id
            )
        }))?;
    let number = wasted.card_number.as_deref().unwrap_or("without a number");
    insert_history(
        conn,
        HistoryEntry {
            card_id,
            from: None,
            to: CardStatus::DataPrepared,
            action: "废卡重制",
            actor,
            reason: &format!("remakes wasted card {} ({number}): {reason}", wasted.id),
            at: now,
        },
    )?;
    get_card(conn, card_id)
}

/// Every card of an application, oldest first: wasted cards and the live
/// one.
pub fn cards_of_application(
    conn: &mut DbConnection,
    application_id: i64,
) -> Result<Vec<Card>, StorageError> {
    cards::table
        .filter(cards::application_id.eq(application_id))
        .order(cards::id.asc())
        .select(CardRow::as_select())
        .load(conn)
        .map_err(db("list an application's cards"))?
        .into_iter()
        .map(Card::try_from)
        .collect()
}

/// The card with this id.
pub fn get_card(conn: &mut DbConnection, id: i64) -> Result<Card, StorageError> {
    on_backend!(conn, |c| cards::table
        .find(id)
        .select(CardRow::as_select())
        .first(c)
        .optional())
    .map_err(db("read a card"))?
    .ok_or_else(|| StorageError::NotFound {
        what: "card",
        key: id.to_string(),
    })?
    .try_into()
}

/// The card with this card number, if any.
pub fn find_card_by_number(
    conn: &mut DbConnection,
    card_number: &str,
) -> Result<Option<Card>, StorageError> {
    cards::table
        .filter(cards::card_number.eq(card_number))
        .select(CardRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("find a card by number"))?
        .map(Card::try_from)
        .transpose()
}

/// A person's cards, oldest first.
pub fn cards_of_person(conn: &mut DbConnection, person_id: i64) -> Result<Vec<Card>, StorageError> {
    cards::table
        .filter(cards::person_id.eq(person_id))
        .order(cards::id.asc())
        .select(CardRow::as_select())
        .load(conn)
        .map_err(db("list a person's cards"))?
        .into_iter()
        .map(Card::try_from)
        .collect()
}

/// Up to `limit` cards in `status`, oldest first (work queues).
pub fn cards_in_status(
    conn: &mut DbConnection,
    status: CardStatus,
    limit: i64,
) -> Result<Vec<Card>, StorageError> {
    cards::table
        .filter(cards::status.eq(status.as_str()))
        .order(cards::id.asc())
        .limit(limit)
        .select(CardRow::as_select())
        .load(conn)
        .map_err(db("list cards by status"))?
        .into_iter()
        .map(Card::try_from)
        .collect()
}

/// Gives a card its number (in production). A card that already has one,
/// or a number in use, is a [`StorageError::Conflict`]. Audited as
/// `card.assign-number`.
pub fn assign_card_number(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    card_id: i64,
    card_number: &str,
    actor: &Actor,
) -> Result<Card, StorageError> {
    let number = card_number.trim();
    if number.is_empty() {
        return Err(StorageError::Invalid {
            what: "card number",
            reason: "it is empty".to_owned(),
        });
    }
    write_tx(conn, |conn| {
        let card = get_card(conn, card_id)?;
        if let Some(existing) = &card.card_number {
            return Err(StorageError::Conflict {
                what: format!("card {card_id} already has number `{existing}`"),
            });
        }
        let now = utc_now();
        diesel::update(cards::table.find(card_id))
            .set((
                cards::card_number.eq(number),
                cards::version.eq(card.version + 1),
                cards::updated_at.eq(now),
            ))
            .execute(conn)
            .map_err(conflict_or_db("assign a card number", || {
                format!("card number `{number}` is already in use")
            }))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "card.assign-number",
                format!("card:{card_id}"),
                serde_json::json!({ "card_number": number }),
            ),
        )?;
        Ok(Card {
            card_number: Some(number.to_owned()),
            version: card.version + 1,
            updated_at: now,
            ..card
        })
    })
}

fixed_statement! {
    /// A card's new status, if its version is still the one read.
    struct SetStatus<'a> {
        "UPDATE cards SET status = ", status: &'a str => diesel::sql_types::Text,
        ", version = ", version: i64 => diesel::sql_types::BigInt,
        ", updated_at = ", now: NaiveDateTime => diesel::sql_types::Timestamp,
        " WHERE id = ", id: i64 => diesel::sql_types::BigInt,
        " AND version = ", was: i64 => diesel::sql_types::BigInt,
        ""
    }
}

/// Moves a card to `to` on behalf of `actor`, in one transaction: reads the
/// card; refuses with [`StorageError::StaleCard`] if `expected_version` is
/// given and differs (the caller showed the operator an older card); asks
/// [`check_transition`] (refusal: [`StorageError::Transition`]); updates
/// status, version and time under a version check (a concurrent change:
/// `StaleCard`); writes history; appends audit entry `card.transition`;
/// queues a [`CARD_STATUS_TOPIC`] outbox message keyed `card:<id>` with
/// payload `{card_id, card_number, person_id, application_id, from, to,
/// action, version, at}`. A refusal writes nothing.
///
/// The application follows: `completed` when the card is `received`,
/// `withdrawn` when it is cancelled before production.
pub fn transition_card(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    card_id: i64,
    expected_version: Option<i64>,
    to: CardStatus,
    actor: &Actor,
    reason: &str,
) -> Result<Card, StorageError> {
    join_write_tx(conn, |conn| {
        let card = get_card(conn, card_id)?;
        if let Some(expected) = expected_version
            && expected != card.version
        {
            return Err(StorageError::StaleCard {
                card_id,
                expected,
                actual: card.version,
            });
        }
        let rule = check_transition(card.status, to, actor.role)?;
        let now = utc_now();
        let version = card.version + 1;
        let update = SetStatus {
            status: to.as_str(),
            version,
            now,
            id: card_id,
            was: card.version,
        };
        let updated =
            on_backend!(conn, |c| update.execute(c)).map_err(db("update a card's status"))?;
        if updated == 0 {
            let actual = get_card(conn, card_id)?.version;
            return Err(StorageError::StaleCard {
                card_id,
                expected: card.version,
                actual,
            });
        }
        insert_history(
            conn,
            HistoryEntry {
                card_id,
                from: Some(card.status),
                to,
                action: rule.action_zh,
                actor,
                reason,
                at: now,
            },
        )?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "card.transition",
                format!("card:{card_id}"),
                serde_json::json!({
                    "from": card.status.as_str(),
                    "to": to.as_str(),
                    "action": rule.action_zh,
                    "reason": reason,
                    "version": version,
                }),
            ),
        )?;
        outbox::enqueue(
            conn,
            CARD_STATUS_TOPIC,
            &format!("card:{card_id}"),
            &serde_json::json!({
                "card_id": card_id,
                "card_number": card.card_number,
                "person_id": card.person_id,
                "application_id": card.application_id,
                "from": card.status.as_str(),
                "to": to.as_str(),
                "action": rule.action_zh,
                "version": version,
                "at": now.and_utc().to_rfc3339(),
            }),
        )?;
        let application_status = match (card.status, to) {
            (_, CardStatus::Received) => Some(ApplicationStatus::Completed),
            (
                CardStatus::Applied | CardStatus::PhotoApproved | CardStatus::DataPrepared,
                CardStatus::Cancelled,
            ) => Some(ApplicationStatus::Withdrawn),
            _ => None,
        };
        if let Some(status) = application_status {
            applications::set_status(conn, card.application_id, status, now)?;
        }
        Ok(Card {
            status: to,
            version,
            updated_at: now,
            ..card
        })
    })
}

/// A card's status history, oldest first. An unknown card is
/// [`StorageError::NotFound`].
pub fn card_history(
    conn: &mut DbConnection,
    card_id: i64,
) -> Result<Vec<CardStatusChange>, StorageError> {
    get_card(conn, card_id)?;
    card_status_history::table
        .filter(card_status_history::card_id.eq(card_id))
        .order(card_status_history::id.asc())
        .select(HistoryRow::as_select())
        .load(conn)
        .map_err(db("read card status history"))?
        .into_iter()
        .map(CardStatusChange::try_from)
        .collect()
}

impl Store {
    /// [`get_card`] on the blocking pool.
    pub async fn get_card(&self, id: i64) -> Result<Card, StorageError> {
        self.run("cards.get", move |conn| get_card(conn, id)).await
    }

    /// [`transition_card`] on the blocking pool.
    pub async fn transition_card(
        &self,
        card_id: i64,
        expected_version: Option<i64>,
        to: CardStatus,
        actor: Actor,
        reason: String,
    ) -> Result<Card, StorageError> {
        let hsm = self.hsm().clone();
        self.write("cards.transition", move |conn| {
            transition_card(
                conn,
                hsm.as_ref(),
                card_id,
                expected_version,
                to,
                &actor,
                &reason,
            )
        })
        .await
    }

    /// [`card_history`] on the blocking pool.
    pub async fn card_history(&self, card_id: i64) -> Result<Vec<CardStatusChange>, StorageError> {
        self.run("cards.history", move |conn| card_history(conn, card_id))
            .await
    }
}
