//! Test support (feature `testing`): a fresh, migrated [`Store`] per test on
//! each backend, so every repository test body runs on SQLite and on
//! PostgreSQL. Other crates enable the feature in their dev-dependencies:
//! `cardhub-storage = { workspace = true, features = ["testing"] }`.
//!
//! - SQLite: a new file in a temporary directory, removed afterwards.
//! - PostgreSQL: a new database `cardhub_t_<random>` on the server at
//!   `DATABASE_URL` (default [`DEFAULT_POSTGRES_URL`]), created through that
//!   URL and dropped afterwards. If the server cannot be reached the
//!   PostgreSQL run is skipped with a printed notice, unless
//!   `CARDHUB_REQUIRE_PG=1`, which turns that into a test failure.
//!
//! Failures here panic with a message: they are test set-up failures.
//! Not for production code (the `cardhub` binary never enables it).

use std::ops::Deref;
use std::sync::Arc;

use cardhub_protocols::crypto::{Hsm, SoftHsm};
use diesel::{Connection, RunQueryDsl, pg::PgConnection};

use crate::{Backend, Store, StoreOptions};

/// The server used when `DATABASE_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A migrated store on a throw-away database; dereferences to [`Store`].
/// Dropping it deletes the database.
pub struct TestStore {
    // Field order matters: the pool closes before the database is dropped.
    store: Store,
    _sqlite_dir: Option<tempfile::TempDir>,
    _postgres: Option<PostgresDatabase>,
}

impl TestStore {
    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl Deref for TestStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

/// A key store with fresh random keys under the hub's labels.
pub fn test_hsm() -> Arc<dyn Hsm> {
    Arc::new(SoftHsm::for_tests())
}

/// One store per available backend: SQLite always, PostgreSQL when the
/// server answers (or a panic if it does not and `CARDHUB_REQUIRE_PG=1`).
/// Run the test body on each: `for store in test_stores(hsm) { ... }`.
pub fn test_stores(hsm: Arc<dyn Hsm>) -> Vec<TestStore> {
    let mut stores = vec![sqlite_store(hsm.clone())];
    stores.extend(postgres_store(hsm));
    stores
}

/// A migrated store on a new SQLite file in a temporary directory.
pub fn sqlite_store(hsm: Arc<dyn Hsm>) -> TestStore {
    let dir = tempfile::tempdir().expect("create a temporary directory for the test database");
    let url = format!("sqlite://{}", dir.path().join("cardhub-test.db").display());
    let store = open_migrated(&url, hsm);
    TestStore {
        store,
        _sqlite_dir: Some(dir),
        _postgres: None,
    }
}

/// A migrated store on a new PostgreSQL database, or `None` (after printing
/// why) when the server is unreachable and `CARDHUB_REQUIRE_PG` is not `1`.
pub fn postgres_store(hsm: Arc<dyn Hsm>) -> Option<TestStore> {
    let base = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let mut admin = match PgConnection::establish(&base) {
        Ok(conn) => conn,
        Err(e) => {
            if std::env::var("CARDHUB_REQUIRE_PG").as_deref() == Ok("1") {
                panic!(
                    "PostgreSQL at {} is required (CARDHUB_REQUIRE_PG=1) but unreachable: {e}; start it or set DATABASE_URL",
                    crate::connection::redact_url(&base)
                );
            }
            eprintln!(
                "notice: PostgreSQL at {} unreachable ({e}); skipping the PostgreSQL run of this test",
                crate::connection::redact_url(&base)
            );
            return None;
        }
    };
    let name = format!("cardhub_t_{:016x}", rand::random::<u64>());
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .unwrap_or_else(|e| panic!("create test database {name}: {e}"));
    let guard = PostgresDatabase {
        admin_url: base.clone(),
        name: name.clone(),
    };
    let store = open_migrated(&with_database(&base, &name), hsm);
    Some(TestStore {
        store,
        _sqlite_dir: None,
        _postgres: Some(guard),
    })
}

fn open_migrated(url: &str, hsm: Arc<dyn Hsm>) -> Store {
    let options = StoreOptions {
        pool_size: 4,
        ..StoreOptions::default()
    };
    let store =
        Store::open(url, hsm, options).unwrap_or_else(|e| panic!("open test store {url}: {e}"));
    store
        .migrate()
        .unwrap_or_else(|e| panic!("migrate test store {url}: {e}"));
    eprintln!(
        "storage test on {}",
        match store.backend() {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    );
    store
}

/// The URL `base` with its database name replaced by `database`.
fn with_database(base: &str, database: &str) -> String {
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    let authority = location.split('/').next().unwrap_or_default();
    match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

/// Drops the test database when the test ends.
struct PostgresDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let dropped = PgConnection::establish(&self.admin_url)
            .map_err(|e| e.to_string())
            .and_then(|mut admin| {
                diesel::sql_query(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .execute(&mut admin)
                .map_err(|e| e.to_string())
            });
        if let Err(e) = dropped {
            eprintln!("notice: could not drop test database {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
