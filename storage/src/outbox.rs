//! The outbox: messages for outside parties (banks, the card-holder
//! database, SMS) written in the same transaction as the change they report,
//! then delivered by the notifier, which marks them delivered or records a
//! failed attempt. A change and its notification therefore commit together;
//! delivery is at least once, ordered per `ordering_key`.
//!
//! Delivery bookkeeping is not audited: the audited event is the change that
//! queued the message.
//!
//! Not here: delivery itself (the `Notifier` actor and channels).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::connection::{DbConnection, on_backend};
use crate::error::{StorageError, db};
use crate::schema::outbox;
use crate::{Store, to_stored_precision, utc_now};

/// Topic of card status changes; payload described at
/// [`crate::cards::transition_card`].
pub const CARD_STATUS_TOPIC: &str = "card-status";

/// Topic of the holder's SMS after a branch operation (the template name
/// and a reference to the holder's phone, never the number); payload in
/// `docs/outbox-topics.md`, written by [`crate::branch::operations`].
pub const SMS_CARD_STATUS_TOPIC: &str = "sms.card-status";

/// Topic of the bank's notice of a loss, an unlock or a cancellation made
/// at a branch; payload in `docs/outbox-topics.md`.
pub const BANK_CARD_STATUS_TOPIC: &str = "bank.card-status";

/// A queued message.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct OutboxMessage {
    /// Row id; also the idempotency key sent to the receiver.
    pub id: i64,
    /// What kind of message ([`CARD_STATUS_TOPIC`], ...).
    pub topic: String,
    /// Messages with the same key are delivered in id order (`card:42`).
    pub ordering_key: String,
    /// The message, JSON text.
    pub payload: String,
    /// When queued (UTC).
    pub created_at: NaiveDateTime,
    /// When delivered, if it was.
    pub delivered_at: Option<NaiveDateTime>,
    /// Failed delivery attempts so far.
    pub attempts: i32,
    /// The last delivery error.
    pub last_error: Option<String>,
}

/// Queues a message in the caller's transaction; returns its id.
pub fn enqueue(
    conn: &mut DbConnection,
    topic: &str,
    ordering_key: &str,
    payload: &serde_json::Value,
) -> Result<i64, StorageError> {
    let payload = serde_json::to_string(payload).expect("a serde_json::Value always serialises");
    on_backend!(conn, |c| diesel::insert_into(outbox::table)
        .values((
            outbox::topic.eq(topic),
            outbox::ordering_key.eq(ordering_key),
            outbox::payload.eq(&payload),
            outbox::created_at.eq(utc_now()),
            outbox::attempts.eq(0),
        ))
        .returning(outbox::id)
        .get_result(c))
    .map_err(db("queue an outbox message"))
}

/// Up to `limit` undelivered messages, oldest first.
pub fn pending(conn: &mut DbConnection, limit: i64) -> Result<Vec<OutboxMessage>, StorageError> {
    outbox::table
        .filter(outbox::delivered_at.is_null())
        .order(outbox::id.asc())
        .limit(limit)
        .select(OutboxMessage::as_select())
        .load(conn)
        .map_err(db("read pending outbox messages"))
}

/// How many messages wait for delivery, and how many of those have failed
/// at least once.
pub fn depth(conn: &mut DbConnection) -> Result<OutboxDepth, StorageError> {
    let waiting = outbox::table.filter(outbox::delivered_at.is_null());
    let pending = waiting
        .count()
        .get_result(conn)
        .map_err(db("count undelivered outbox messages"))?;
    let retrying = waiting
        .filter(outbox::attempts.gt(0))
        .count()
        .get_result(conn)
        .map_err(db("count outbox messages being retried"))?;
    Ok(OutboxDepth { pending, retrying })
}

/// What [`depth`] counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    /// Messages not yet delivered.
    pub pending: i64,
    /// Of those, messages whose delivery failed at least once.
    pub retrying: i64,
}

/// Marks a message delivered at `at`.
pub fn mark_delivered(
    conn: &mut DbConnection,
    id: i64,
    at: NaiveDateTime,
) -> Result<(), StorageError> {
    let updated = diesel::update(outbox::table.find(id))
        .set(outbox::delivered_at.eq(to_stored_precision(at)))
        .execute(conn)
        .map_err(db("mark an outbox message delivered"))?;
    if updated == 0 {
        return Err(StorageError::NotFound {
            what: "outbox message",
            key: id.to_string(),
        });
    }
    Ok(())
}

/// Counts a failed delivery attempt and keeps its error text.
pub fn record_failure(conn: &mut DbConnection, id: i64, error: &str) -> Result<(), StorageError> {
    let updated = diesel::update(outbox::table.find(id))
        .set((
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::last_error.eq(error),
        ))
        .execute(conn)
        .map_err(db("record an outbox delivery failure"))?;
    if updated == 0 {
        return Err(StorageError::NotFound {
            what: "outbox message",
            key: id.to_string(),
        });
    }
    Ok(())
}

impl Store {
    /// [`depth`] on the blocking pool.
    pub async fn outbox_depth(&self) -> Result<OutboxDepth, StorageError> {
        self.run("outbox.depth", depth).await
    }

    /// [`pending`] on the blocking pool.
    pub async fn pending_outbox(&self, limit: i64) -> Result<Vec<OutboxMessage>, StorageError> {
        self.run("outbox.pending", move |conn| pending(conn, limit))
            .await
    }

    /// [`mark_delivered`] on the blocking pool.
    pub async fn mark_outbox_delivered(
        &self,
        id: i64,
        at: NaiveDateTime,
    ) -> Result<(), StorageError> {
        self.write("outbox.mark_delivered", move |conn| {
            mark_delivered(conn, id, at)
        })
        .await
    }

    /// [`record_failure`] on the blocking pool.
    pub async fn record_outbox_failure(&self, id: i64, error: String) -> Result<(), StorageError> {
        self.write("outbox.record_failure", move |conn| {
            record_failure(conn, id, &error)
        })
        .await
    }
}
