//! cardhub storage: the diesel schema, migrations for SQLite and PostgreSQL,
//! repositories, encrypted columns and the tamper-evident audit log.
//!
//! The same repository code runs on both backends through [`DbConnection`]
//! (`#[derive(diesel::MultiConnection)]`). SQLite (bundled) is the embedded
//! default; PostgreSQL is the production and multi-node store.
//!
//! # Layout
//! - [`store`]: [`Store`], the pool, migrations, `run` on the blocking pool.
//! - [`connection`]: [`DbConnection`], URLs, [`write_tx`] / [`snapshot_tx`].
//! - [`schema`]: the `table!` definitions shared by both backends.
//! - [`names`]: stable text names of the small enums stored as text.
//! - [`fields`]: SM4-encrypted columns and HMAC-SM3 blind indexes.
//! - [`audit`]: the HMAC-SM3 hash-chained audit log and its verifier.
//! - `fixed`: UPDATEs with fixed SQL, prepared once per connection.
//! - `sqlite_tx`: SQLite's BEGIN, COMMIT and savepoints, prepared once per
//!   connection.
//! - repositories: [`persons`], [`branches`], [`operators`], [`sessions`],
//!   [`tokens`], [`applications`], [`cards`] (cards, status history),
//!   [`chips`] (chips bound to cards, personalisation and check jobs),
//!   [`photos`] (the holder's photo per application), [`workshop`]
//!   (making-card tasks, production steps, waste, statistics, envelopes,
//!   boxes and dispatch), [`devices`], [`outbox`], [`alerts`] (the
//!   monitoring wall's alerts, open and cleared), [`terminals`] (the branch
//!   PCs allowed on `/ws/terminal`, with their SM2 public keys).
//! - [`branch`]: branch business: ID reads, application evidence, the
//!   branch operations register, counter card operations, audited holder
//!   look-ups, the self-service machine register.
//! - `testing` (feature `testing`): a fresh SQLite file and a fresh
//!   PostgreSQL database per test.
//!
//! Every repository function that changes state appends an audit entry in
//! the same transaction. Sensitive values never appear in the audit log,
//! in errors or in logs.
//!
//! Not here: business rules (the card status machine lives in
//! `cardhub_protocols::card_status`), key material (behind
//! `cardhub_protocols::crypto::Hsm`), HTTP (the web crate).

#[macro_use]
pub mod names;

pub mod alerts;
pub mod applications;
pub mod audit;
pub mod branch;
pub mod branches;
pub mod cards;
pub mod chips;
pub mod connection;
pub mod devices;
pub mod error;
pub mod fields;
mod fixed;
mod group_commit;
pub mod operators;
pub mod outbox;
pub mod persons;
pub mod photos;
pub mod schema;
pub mod sessions;
mod sqlite_tx;
pub mod store;
pub mod terminals;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;
pub mod workshop;

use cardhub_protocols::roles::Role;
use chrono::{DateTime, NaiveDateTime, Utc};

pub use alerts::{Alert, AlertQuery, AlertSeverity, NewAlert};
pub use audit::{AuditEntry, AuditRecord, AuditReport, BrokenEntry};
pub use connection::{Backend, DbConnection, snapshot_tx, write_tx};
pub use error::StorageError;
pub use names::UnknownName;
pub use store::{Store, StoreOptions};

/// Who did something: recorded in the audit log and in card history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// An operator's username, a token's name, or a component name for the
    /// hub's own work (`scheduler`, `cli:root`).
    pub name: String,
    /// The role the action was taken under.
    pub role: Role,
}

impl Actor {
    /// An actor from a name and role.
    pub fn new(name: impl Into<String>, role: Role) -> Self {
        Self {
            name: name.into(),
            role,
        }
    }
}

/// The current UTC time at the precision both backends store
/// (microseconds), so a value reads back exactly as written.
pub fn utc_now() -> NaiveDateTime {
    to_stored_precision(Utc::now().naive_utc())
}

/// Truncates a time to microseconds, the precision of PostgreSQL's
/// `timestamp`; stored times must read back exactly (the audit chain hashes
/// them).
pub fn to_stored_precision(t: NaiveDateTime) -> NaiveDateTime {
    let micros = t.and_utc().timestamp_micros();
    DateTime::from_timestamp_micros(micros)
        .map(|d| d.naive_utc())
        .unwrap_or(t)
}
