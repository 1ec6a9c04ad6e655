//! The migration that replaces `cards.application_id`'s UNIQUE constraint
//! with one live card per application: run on a database that already
//! holds cards with history, chips and chip jobs (built at the previous
//! version), every row and foreign key must survive.

use cardhub_storage::chips::{self, ChipAlgorithm, ChipJobKind, NewCardChip};
use cardhub_storage::schema::{card_status_history, cards as cards_table};
use cardhub_storage::store::migrate_connection;
use cardhub_storage::{Backend, Store, StoreOptions};
use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::*;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The last migration before the workshop (the chip work).
const BEFORE_WORKSHOP: &str = "20261122000000";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut DbConnection, sql: &str) -> i64 {
    let rows = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(sql).load::<Count>(c),
        DbConnection::Pg(c) => diesel::sql_query(sql).load::<Count>(c),
    };
    rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
        .first()
        .map_or(0, |c| c.n)
}

/// Applies migrations one by one up to and including `version`.
fn migrate_until(conn: &mut DbConnection, version: &str) {
    loop {
        let applied = match conn {
            DbConnection::Sqlite(c) => c.run_next_migration(SQLITE).map(|v| v.to_string()),
            DbConnection::Pg(c) => c.run_next_migration(POSTGRES).map(|v| v.to_string()),
        }
        .unwrap_or_else(|e| panic!("migrate towards {version}: {e}"));
        if applied == version {
            return;
        }
    }
}

/// Foreign keys from `table` to `cards`, as the catalogue declares them.
fn references_to_cards(conn: &mut DbConnection, table: &str) -> i64 {
    match conn.backend() {
        Backend::Sqlite => count(
            conn,
            &format!(
                "SELECT count(*) AS n FROM pragma_foreign_key_list('{table}') WHERE \"table\" = 'cards'"
            ),
        ),
        Backend::Postgres => count(
            conn,
            &format!(
                "SELECT count(*) AS n FROM pg_constraint WHERE contype = 'f' \
                 AND confrelid = 'cards'::regclass AND conrelid = '{table}'::regclass"
            ),
        ),
    }
}

/// An empty database of the store's backend (SQLite: a new file; the
/// PostgreSQL test database emptied), with the directory to keep alive.
fn empty_database(store: &TestStore) -> (Option<tempfile::TempDir>, Store) {
    match store.backend() {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temporary directory");
            let url = format!("sqlite://{}", dir.path().join("old.db").display());
            let old = Store::open(&url, test_hsm(), StoreOptions::default()).expect("open SQLite");
            (Some(dir), old)
        }
        Backend::Postgres => {
            store
                .with_conn(|conn| {
                    conn.batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
                        .map_err(|e| StorageError::Database {
                            context: "empty the test database",
                            source: e,
                        })
                })
                .expect("empty the PostgreSQL test database");
            (None, store.store().clone())
        }
    }
}

fn chip(card_id: i64) -> NewCardChip {
    NewCardChip {
        card_id,
        chip_id: "31000086F1A2B3C4".to_owned(),
        algorithm: ChipAlgorithm::Sm4,
        card_type: "1".to_owned(),
        spec_version: "3.00".to_owned(),
        institution: "310000000000000000000000".to_owned(),
        issued_on: NaiveDate::from_ymd_opt(2026, 11, 22).expect("date"),
        expires_on: NaiveDate::from_ymd_opt(2036, 11, 22).expect("date"),
        chip_name: "张三".to_owned(),
        substitutions: serde_json::json!([]),
    }
}

fn new_card_row(conn: &mut DbConnection, card: &Card) -> Result<i64, diesel::result::Error> {
    let now = cardhub_storage::utc_now();
    diesel::insert_into(cards_table::table)
        .values((
            cards_table::person_id.eq(card.person_id),
            cards_table::application_id.eq(card.application_id),
            cards_table::status.eq("data-prepared"),
            cards_table::version.eq(0_i64),
            cards_table::created_at.eq(now),
            cards_table::updated_at.eq(now),
        ))
        .returning(cards_table::id)
        .get_result(conn)
}

#[test]
fn existing_cards_history_and_chips_survive_the_migration() {
    on_each_backend(|store| {
        let (_dir, old) = empty_database(store);
        let hsm = old.hsm().clone();
        let hsm = hsm.as_ref();
        old.with_conn(|conn| {
            migrate_until(conn, BEFORE_WORKSHOP);
            // A database in use at the previous version.
            let first = prepared_card(conn, hsm, 1, "resident-id", None)?;
            let first = cards::transition_card(
                conn,
                hsm,
                first.id,
                None,
                CardStatus::InProduction,
                &operator("wang"),
                "made before the upgrade",
            )?;
            let second = prepared_card(conn, hsm, 2, "permanent-residence", None)?;
            chips::bind_chip(conn, hsm, &chip(first.id), &admin())?;
            chips::start_job(
                conn,
                hsm,
                ChipJobKind::Personalise,
                Some(first.id),
                "reader 0",
                &admin(),
            )?;
            let cards_before = [
                cards::get_card(conn, first.id)?,
                cards::get_card(conn, second.id)?,
            ];
            let history_before = [
                cards::card_history(conn, first.id)?,
                cards::card_history(conn, second.id)?,
            ];
            let chip_before = chips::chip_of_card(conn, first.id)?;
            let jobs_before = chips::jobs_of_card(conn, first.id)?;
            let rows_before = count(conn, "SELECT count(*) AS n FROM card_status_history");

            let applied = migrate_connection(conn)?;
            assert_eq!(
                applied.get(..2),
                Some(&["20261201000000".to_owned(), "20261201000001".to_owned()][..]),
                "the workshop and the live-card migrations first (later ones follow): {applied:?}"
            );

            assert_eq!(
                [
                    cards::get_card(conn, first.id)?,
                    cards::get_card(conn, second.id)?
                ],
                cards_before
            );
            assert_eq!(
                [
                    cards::card_history(conn, first.id)?,
                    cards::card_history(conn, second.id)?
                ],
                history_before
            );
            assert_eq!(
                count(conn, "SELECT count(*) AS n FROM card_status_history"),
                rows_before
            );
            assert_eq!(chips::chip_of_card(conn, first.id)?, chip_before);
            assert_eq!(chips::jobs_of_card(conn, first.id)?, jobs_before);
            for table in [
                "card_status_history",
                "card_chips",
                "chip_jobs",
                "making_card_tasks",
            ] {
                assert_eq!(references_to_cards(conn, table), 1, "{table} -> cards");
            }
            if conn.backend() == Backend::Sqlite {
                assert_eq!(
                    count(conn, "SELECT count(*) AS n FROM pragma_foreign_key_check"),
                    0
                );
                assert_eq!(
                    count(conn, "SELECT foreign_keys AS n FROM pragma_foreign_keys"),
                    1,
                    "foreign keys are on again after the rebuild"
                );
            }
            // The foreign keys still hold.
            let orphan = diesel::insert_into(card_status_history::table)
                .values((
                    card_status_history::card_id.eq(999_999_i64),
                    card_status_history::to_status.eq("applied"),
                    card_status_history::action.eq("x"),
                    card_status_history::actor.eq("x"),
                    card_status_history::role.eq("admin"),
                    card_status_history::reason.eq("x"),
                    card_status_history::at.eq(cardhub_storage::utc_now()),
                ))
                .execute(conn);
            assert!(
                matches!(
                    orphan,
                    Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                        _
                    ))
                ),
                "{orphan:?}"
            );

            // One live card per application; a wasted one does not count.
            let twice = new_card_row(conn, &first);
            assert!(
                matches!(
                    twice,
                    Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _
                    ))
                ),
                "{twice:?}"
            );
            cards::transition_card(
                conn,
                hsm,
                first.id,
                None,
                CardStatus::Waste,
                &operator("wang"),
                "jam",
            )?;
            let remade = new_card_row(conn, &first).map_err(|e| StorageError::Database {
                context: "insert the remade card",
                source: e,
            })?;
            assert!(remade > second.id, "ids are not reused");
            assert!(new_card_row(conn, &first).is_err(), "still one live card");
            assert_eq!(
                cards::cards_of_application(conn, first.application_id)?.len(),
                2
            );
            assert_audit_intact(conn, hsm)
        })
        .unwrap_or_else(|e| panic!("on {}: {e}", store.backend()));
    });
}
