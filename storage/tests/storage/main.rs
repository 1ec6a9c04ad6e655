//! Integration tests of the storage crate. Every test body runs on SQLite
//! and on PostgreSQL (see `cardhub_storage::testing`); a PostgreSQL run is
//! skipped with a notice when the server is unreachable, unless
//! `CARDHUB_REQUIRE_PG=1`.

mod accounts;
mod alerts;
mod audit_chain;
mod branch;
mod cards;
mod chips;
mod persons;
mod registry;
mod store;
mod workshop;

use cardhub_protocols::roles::Role;
use cardhub_storage::persons::{NewPerson, Sex};
use cardhub_storage::schema::{audit_head, card_status_history, outbox};
use cardhub_storage::testing::{TestStore, test_hsm, test_stores};
use cardhub_storage::{Actor, DbConnection, StorageError};
use chrono::NaiveDate;
use diesel::prelude::*;

/// Runs `body` once per available backend, with a fresh database each time.
fn on_each_backend(body: impl Fn(&TestStore)) {
    for store in test_stores(test_hsm()) {
        body(&store);
    }
}

/// Runs `body` with a connection, failing the test on a storage error.
fn with_conn<R>(
    store: &TestStore,
    body: impl FnOnce(&mut DbConnection) -> Result<R, StorageError>,
) -> R {
    store
        .with_conn(body)
        .unwrap_or_else(|e| panic!("on {}: {e}", store.backend()))
}

fn actor(name: &str, role: Role) -> Actor {
    Actor::new(name, role)
}

fn admin() -> Actor {
    actor("root", Role::Admin)
}

/// A resident with the published sample identity number.
fn resident() -> NewPerson {
    NewPerson {
        document_type: "resident-id".to_owned(),
        document_number: "11010519491231002x".to_owned(),
        name: "𠀀张三".to_owned(),
        english_name: None,
        permit_chinese_name: None,
        nationality: 156,
        sex: Sex::Male,
        ethnicity: Some(1),
        birth_date: NaiveDate::from_ymd_opt(1949, 12, 31).expect("valid date"),
        phone: Some("+86 138-0013-8000".to_owned()),
        address: Some("上海市黄浦区人民大道200号".to_owned()),
    }
}

/// A permanent resident with the published sample number (Canada).
fn foreigner() -> NewPerson {
    NewPerson {
        document_type: "permanent-residence".to_owned(),
        document_number: "911124198108030024".to_owned(),
        name: "JANE DOE".to_owned(),
        english_name: Some("JANE DOE".to_owned()),
        permit_chinese_name: Some("简·多伊".to_owned()),
        nationality: 124,
        sex: Sex::Female,
        ethnicity: None,
        birth_date: NaiveDate::from_ymd_opt(1981, 8, 3).expect("valid date"),
        phone: Some("13800138000".to_owned()),
        address: None,
    }
}

/// What a state change leaves behind: history rows, audit head sequence,
/// outbox rows.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Traces {
    history: i64,
    audit_seq: i64,
    outbox: i64,
}

fn traces(conn: &mut DbConnection) -> Result<Traces, StorageError> {
    let db = |e| StorageError::Database {
        context: "count traces",
        source: e,
    };
    Ok(Traces {
        history: card_status_history::table
            .count()
            .get_result(conn)
            .map_err(db)?,
        audit_seq: audit_head::table
            .select(audit_head::last_seq)
            .first(conn)
            .map_err(db)?,
        outbox: outbox::table.count().get_result(conn).map_err(db)?,
    })
}
