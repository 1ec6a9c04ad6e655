//! Envelopes (邮封): a completed task readies its card's envelope; the
//! envelope printer asks for the inner page's data and marks it printed.

use cardhub_protocols::crypto::Hsm;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::audit::{self, AuditEntry};
use crate::connection::{DbConnection, on_backend, snapshot_tx, write_tx};
use crate::error::{StorageError, db};
use crate::schema::{box_cards, boxes, envelopes};
use crate::{Actor, Store, applications, branches, cards, persons, utc_now};

/// What the envelope's inner page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnvelopeData {
    /// The card.
    pub card_id: i64,
    /// Its number.
    pub card_number: String,
    /// The holder's name.
    pub name: String,
    /// The holder's English name (foreigners).
    pub english_name: Option<String>,
    /// The Chinese name on a permanent-residence card.
    pub permit_chinese_name: Option<String>,
    /// The branch the card goes to; `None`: the centre's own counter.
    pub branch_code: Option<String>,
    /// That branch's name.
    pub branch_name: Option<String>,
    /// The box the card is packed in, once sorted.
    pub box_number: Option<String>,
    /// When the envelope was last printed.
    pub printed_at: Option<NaiveDateTime>,
}

/// Creates a card's envelope row in the caller's transaction.
pub(super) fn insert_envelope(
    conn: &mut DbConnection,
    card_id: i64,
    task_id: i64,
    now: NaiveDateTime,
) -> Result<(), StorageError> {
    on_backend!(conn, |c| diesel::insert_into(envelopes::table)
        .values((
            envelopes::card_id.eq(card_id),
            envelopes::task_id.eq(task_id),
            envelopes::created_at.eq(now),
        ))
        .execute(c))
    .map_err(db("create a card's envelope"))?;
    Ok(())
}

fn envelope_printed_at(
    conn: &mut DbConnection,
    card_id: i64,
) -> Result<Option<NaiveDateTime>, StorageError> {
    envelopes::table
        .find(card_id)
        .select(envelopes::printed_at)
        .first::<Option<NaiveDateTime>>(conn)
        .optional()
        .map_err(db("read a card's envelope"))?
        .ok_or_else(|| StorageError::NotFound {
            what: "envelope of card (its task is not completed)",
            key: card_id.to_string(),
        })
}

/// The inner page of card `card_id`'s envelope. A card without an
/// envelope (its task is not completed) is [`StorageError::NotFound`].
pub fn envelope_data(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    card_id: i64,
) -> Result<EnvelopeData, StorageError> {
    snapshot_tx(conn, |conn| {
        let printed_at = envelope_printed_at(conn, card_id)?;
        let card = cards::get_card(conn, card_id)?;
        let card_number = card
            .card_number
            .clone()
            .ok_or_else(|| StorageError::Corrupt {
                column: "cards.card_number",
                value: "(none)".to_owned(),
                reason: format!("card {card_id} has an envelope but no number"),
            })?;
        let person = persons::get(conn, hsm, card.person_id)?;
        let application = applications::get_application(conn, card.application_id)?;
        let branch = application
            .branch_id
            .map(|id| branches::get(conn, id))
            .transpose()?;
        let box_number = box_cards::table
            .inner_join(boxes::table)
            .filter(box_cards::card_id.eq(card_id))
            .select(boxes::box_number)
            .first::<String>(conn)
            .optional()
            .map_err(db("read a card's box"))?;
        Ok(EnvelopeData {
            card_id,
            card_number,
            name: person.name,
            english_name: person.english_name,
            permit_chinese_name: person.permit_chinese_name,
            branch_code: branch.as_ref().map(|b| b.code.clone()),
            branch_name: branch.map(|b| b.name),
            box_number,
            printed_at,
        })
    })
}

/// Records that card `card_id`'s envelope was printed (again, for a
/// reprint). Audited as `workshop.envelope.print`.
pub fn mark_envelope_printed(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    card_id: i64,
    actor: &Actor,
) -> Result<(), StorageError> {
    write_tx(conn, |conn| {
        let before = envelope_printed_at(conn, card_id)?;
        diesel::update(envelopes::table.find(card_id))
            .set((
                envelopes::printed_at.eq(utc_now()),
                envelopes::printed_by.eq(&actor.name),
            ))
            .execute(conn)
            .map_err(db("mark an envelope printed"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "workshop.envelope.print",
                format!("card:{card_id}"),
                serde_json::json!({ "reprint": before.is_some() }),
            ),
        )?;
        Ok(())
    })
}

impl Store {
    /// [`envelope_data`] on the blocking pool.
    pub async fn envelope_data(&self, card_id: i64) -> Result<EnvelopeData, StorageError> {
        let hsm = self.hsm().clone();
        self.run("workshop.envelope_data", move |conn| {
            envelope_data(conn, hsm.as_ref(), card_id)
        })
        .await
    }

    /// [`mark_envelope_printed`] on the blocking pool.
    pub async fn mark_envelope_printed(
        &self,
        card_id: i64,
        actor: Actor,
    ) -> Result<(), StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.mark_envelope_printed", move |conn| {
            mark_envelope_printed(conn, hsm.as_ref(), card_id, &actor)
        })
        .await
    }
}
