//! The tamper-evident audit log: an HMAC-SM3 hash chain. Entry `n` stores
//! `hash_n = HMAC-SM3(audit-chain key, hash_{n-1} || n || at || actor ||
//! role || action || subject || detail)` (variable fields length-prefixed,
//! numbers big-endian), and the single `audit_head` row records the last
//! sequence number and hash. Without the key nobody can rewrite the chain;
//! [`verify`] finds an edited entry, a removed entry and a removed tail.
//!
//! [`append`] runs inside the caller's transaction (every state-changing
//! repository function calls it), so an action and its audit entry commit
//! or roll back together. Appenders are serialised: on PostgreSQL by
//! `SELECT ... FOR UPDATE` on the head row, on SQLite by `BEGIN IMMEDIATE`
//! ([`crate::write_tx`]). An append is three statements: read the head
//! (by key, without a bound `LIMIT`, which SQLite would recompile on every
//! run), insert the entry, advance the head.
//!
//! Not here: deciding what to audit (the repositories), the key (the HSM).

use std::fmt;

use cardhub_protocols::crypto::{Hsm, KeyLabel, labels};
use cardhub_protocols::roles::Role;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::connection::{DbConnection, join_write_tx, on_backend, snapshot_tx};
use crate::error::{StorageError, db};
use crate::fields::push_field;
use crate::fixed::fixed_statement;
use crate::schema::{audit_head, audit_log};
use crate::{Actor, Store, utc_now};

/// The hash that precedes entry 1.
const GENESIS_HASH: [u8; 32] = [0; 32];

/// Entries read per query while verifying: bounds memory on a long log.
const VERIFY_BATCH: i64 = 1_000;

/// One thing to record.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    /// Who did it (operator username, token name, `cli:<user>`).
    pub actor: String,
    /// Under which role.
    pub role: Role,
    /// What was done, as `noun.verb` (`card.transition`, `token.create`).
    pub action: String,
    /// What it was done to, as `kind:id` (`card:42`, `token:bank-icbc`).
    pub subject: String,
    /// Details as JSON; never sensitive values (no identity numbers, phones,
    /// addresses, passwords or tokens).
    pub detail: serde_json::Value,
}

impl AuditEntry {
    /// An entry for `actor`.
    pub fn new(
        actor: &Actor,
        action: impl Into<String>,
        subject: impl Into<String>,
        detail: serde_json::Value,
    ) -> Self {
        Self {
            actor: actor.name.clone(),
            role: actor.role,
            action: action.into(),
            subject: subject.into(),
            detail,
        }
    }
}

/// A stored audit entry, exactly as in the table.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRecord {
    /// Sequence number, from 1 without gaps.
    pub seq: i64,
    /// When (UTC).
    pub at: NaiveDateTime,
    /// Who.
    pub actor: String,
    /// Role name, as stored.
    pub role: String,
    /// What was done.
    pub action: String,
    /// To what.
    pub subject: String,
    /// Details, JSON text.
    pub detail: String,
    /// Hash of the previous entry (32 zero bytes before entry 1).
    pub prev_hash: Vec<u8>,
    /// This entry's chain hash.
    pub hash: Vec<u8>,
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReport {
    /// Entries checked and found intact (before the first broken one).
    pub entries: u64,
    /// The first place the chain is broken, if any.
    pub first_broken: Option<BrokenEntry>,
}

impl AuditReport {
    /// Whether the whole chain checked out.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// Where and why the chain is broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenEntry {
    /// The sequence number of the first entry that is wrong or missing.
    pub seq: i64,
    /// What is wrong, in words.
    pub reason: String,
}

impl fmt::Display for BrokenEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "audit entry {}: {}", self.seq, self.reason)
    }
}

/// Appends `entry` to the chain inside the caller's transaction (joining
/// it, without a savepoint of its own), or in its own if there is none, and
/// returns the stored record. Every caller returns this function's error
/// with `?`, so the enclosing transaction rolls the entry back with the
/// rest: an error swallowed and then committed could leave an entry
/// without its head update, which [`verify`] reports; never ignore it.
pub fn append(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    entry: &AuditEntry,
) -> Result<AuditRecord, StorageError> {
    join_write_tx(conn, |conn| append_in_tx(conn, hsm, entry))
}

/// [`append`]'s work, inside the transaction it joined or opened.
fn append_in_tx(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    entry: &AuditEntry,
) -> Result<AuditRecord, StorageError> {
    let (last_seq, last_hash) = lock_head(conn)?;
    let detail =
        serde_json::to_string(&entry.detail).expect("a serde_json::Value always serialises");
    let mut record = AuditRecord {
        seq: last_seq + 1,
        at: utc_now(),
        actor: entry.actor.clone(),
        role: entry.role.as_str().to_owned(),
        action: entry.action.clone(),
        subject: entry.subject.clone(),
        detail,
        prev_hash: last_hash,
        hash: Vec::new(),
    };
    record.hash = chain_hash(hsm, &record)?.to_vec();
    on_backend!(conn, |c| {
        diesel::insert_into(audit_log::table)
            .values((
                audit_log::seq.eq(record.seq),
                audit_log::at.eq(record.at),
                audit_log::actor.eq(&record.actor),
                audit_log::role.eq(&record.role),
                audit_log::action.eq(&record.action),
                audit_log::subject.eq(&record.subject),
                audit_log::detail.eq(&record.detail),
                audit_log::prev_hash.eq(&record.prev_hash),
                audit_log::hash.eq(&record.hash),
            ))
            .execute(c)
    })
    .map_err(db("insert an audit entry"))?;
    let head = AdvanceHead {
        seq: record.seq,
        hash: &record.hash,
    };
    on_backend!(conn, |c| head.execute(c)).map_err(db("advance the audit head"))?;
    Ok(record)
}

fixed_statement! {
    /// Moves the chain's head to the entry just written.
    struct AdvanceHead<'a> {
        "UPDATE audit_head SET last_seq = ", seq: i64 => diesel::sql_types::BigInt,
        ", last_hash = ", hash: &'a [u8] => diesel::sql_types::Binary,
        " WHERE id = 1"
    }
}

/// Reads the head row, locking it on PostgreSQL until the transaction ends.
fn lock_head(conn: &mut DbConnection) -> Result<(i64, Vec<u8>), StorageError> {
    let query = audit_head::table
        .find(1)
        .select((audit_head::last_seq, audit_head::last_hash));
    let head = match conn {
        DbConnection::Pg(pg) => query
            .for_update()
            .get_result::<(i64, Vec<u8>)>(pg)
            .optional(),
        DbConnection::Sqlite(sqlite) => query.get_result::<(i64, Vec<u8>)>(sqlite).optional(),
    }
    .map_err(db("read the audit head"))?;
    head.ok_or_else(missing_head)
}

fn missing_head() -> StorageError {
    StorageError::Corrupt {
        column: "audit_head",
        value: "(no row)".to_owned(),
        reason: "the audit head row is missing; it is created by the first migration".to_owned(),
    }
}

/// The chain hash of a record from its stored fields and `prev_hash`.
fn chain_hash(hsm: &dyn Hsm, r: &AuditRecord) -> Result<[u8; 32], StorageError> {
    let mut input = Vec::with_capacity(128 + r.detail.len());
    push_field(&mut input, &r.prev_hash);
    input.extend_from_slice(&r.seq.to_be_bytes());
    input.extend_from_slice(&r.at.and_utc().timestamp_micros().to_be_bytes());
    for field in [&r.actor, &r.role, &r.action, &r.subject, &r.detail] {
        push_field(&mut input, field.as_bytes());
    }
    hsm.hmac_sm3(&KeyLabel::from(labels::AUDIT_CHAIN), &input)
        .map_err(|source| StorageError::Crypto {
            operation: "compute an audit chain hash",
            source,
        })
}

/// Walks the whole chain in one consistent snapshot and reports the first
/// edited, missing or extra entry, or a removed tail (the head records more
/// entries than the log holds).
pub fn verify(conn: &mut DbConnection, hsm: &dyn Hsm) -> Result<AuditReport, StorageError> {
    snapshot_tx(conn, |conn| {
        let (head_seq, head_hash) = audit_head::table
            .find(1)
            .select((audit_head::last_seq, audit_head::last_hash))
            .first::<(i64, Vec<u8>)>(conn)
            .optional()
            .map_err(db("read the audit head"))?
            .ok_or_else(missing_head)?;
        let mut prev_hash = GENESIS_HASH.to_vec();
        let mut expected = 1_i64;
        let mut entries = 0_u64;
        let broken = |seq, reason: String| AuditReport {
            entries: 0,
            first_broken: Some(BrokenEntry { seq, reason }),
        };
        loop {
            let batch: Vec<AuditRecord> = audit_log::table
                .filter(audit_log::seq.ge(expected))
                .order(audit_log::seq.asc())
                .limit(VERIFY_BATCH)
                .select(AuditRecord::as_select())
                .load(conn)
                .map_err(db("read audit entries"))?;
            if batch.is_empty() {
                break;
            }
            for record in batch {
                let problem = if record.seq != expected {
                    Some((
                        expected,
                        format!(
                            "entry {expected} is missing: the log jumps from {} to {}",
                            expected - 1,
                            record.seq
                        ),
                    ))
                } else if record.seq > head_seq {
                    Some((
                        record.seq,
                        format!(
                            "entry lies beyond the recorded head (entry {head_seq}): it was added outside cardhub"
                        ),
                    ))
                } else if record.prev_hash != prev_hash {
                    Some((
                        record.seq,
                        "its previous-hash does not match the entry before it: an earlier entry was replaced".to_owned(),
                    ))
                } else if chain_hash(hsm, &record)?.as_slice() != record.hash.as_slice() {
                    Some((
                        record.seq,
                        "its hash does not match its contents: the entry was edited".to_owned(),
                    ))
                } else {
                    None
                };
                if let Some((seq, reason)) = problem {
                    return Ok(AuditReport {
                        entries,
                        ..broken(seq, reason)
                    });
                }
                prev_hash = record.hash;
                expected += 1;
                entries += 1;
            }
        }
        let last = expected - 1;
        if last < head_seq {
            let reason = format!(
                "entries {expected} to {head_seq} are missing at the end of the log: the head records {head_seq} entries, the log ends at {last}"
            );
            return Ok(AuditReport {
                entries,
                ..broken(expected, reason)
            });
        }
        if prev_hash != head_hash {
            let reason = "the last entry's hash differs from the one the head recorded: the tail was replaced".to_owned();
            return Ok(AuditReport {
                entries,
                ..broken(last, reason)
            });
        }
        Ok(AuditReport {
            entries,
            first_broken: None,
        })
    })
}

/// Up to `limit` entries with a sequence number above `after_seq`, oldest
/// first (page through the log by passing the last `seq` seen).
pub fn list(
    conn: &mut DbConnection,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditRecord>, StorageError> {
    audit_log::table
        .filter(audit_log::seq.gt(after_seq))
        .order(audit_log::seq.asc())
        .limit(limit)
        .select(AuditRecord::as_select())
        .load(conn)
        .map_err(db("list audit entries"))
}

impl Store {
    /// [`verify`] on the blocking pool.
    pub async fn verify_audit(&self) -> Result<AuditReport, StorageError> {
        let hsm = self.hsm().clone();
        self.run("audit.verify", move |conn| verify(conn, hsm.as_ref()))
            .await
    }

    /// [`list`] on the blocking pool.
    pub async fn list_audit(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StorageError> {
        self.run("audit.list", move |conn| list(conn, after_seq, limit))
            .await
    }
}
