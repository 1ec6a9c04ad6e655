//! SQLite's transaction statements (BEGIN, COMMIT, SAVEPOINT, RELEASE) as
//! prepared statements the connection keeps.
//!
//! diesel's transaction manager sends each of them through
//! `sqlite3_exec`, which parses the text afresh every time: two or four
//! parses a transaction, about a fifth of a small write's work on SQLite
//! (a chip job's start or end). Here they go through the connection's
//! statement cache instead, keyed by their text, so each connection
//! prepares each one once. The bookkeeping stays diesel's: the depth is
//! moved exactly as diesel's manager moves it, and the savepoints carry the
//! names diesel gives them, so diesel's own rollback (used on every error
//! path, [`crate::connection`]) and its `transaction` work unchanged
//! alongside. Beyond the depths named here, diesel's statements are used.
//!
//! Not here: PostgreSQL, where a transaction statement is one round trip
//! whichever way it is sent; the transaction shapes themselves
//! ([`crate::write_tx`], [`crate::snapshot_tx`]).

use diesel::connection::{
    AnsiTransactionManager, TransactionDepthChange, TransactionManager, TransactionManagerStatus,
};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::result::Error;
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel::{QueryResult, RunQueryDsl};

/// A transaction statement with fixed text, cached by that text.
struct Control(&'static str);

impl QueryId for Control {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Sqlite> for Control {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql(self.0);
        Ok(())
    }
}

impl RunQueryDsl<SqliteConnection> for Control {}

/// `SAVEPOINT diesel_savepoint_{n}` for n = 1, 2, 3: opened inside a
/// transaction `n` deep, as diesel names them.
const SAVEPOINTS: [&str; 3] = [
    "SAVEPOINT diesel_savepoint_1",
    "SAVEPOINT diesel_savepoint_2",
    "SAVEPOINT diesel_savepoint_3",
];

/// The `RELEASE` of each of [`SAVEPOINTS`].
const RELEASES: [&str; 3] = [
    "RELEASE SAVEPOINT diesel_savepoint_1",
    "RELEASE SAVEPOINT diesel_savepoint_2",
    "RELEASE SAVEPOINT diesel_savepoint_3",
];

type Tm = AnsiTransactionManager;

/// The transaction depth now: `0` outside one.
fn depth(conn: &mut SqliteConnection) -> QueryResult<usize> {
    Ok(Tm::transaction_manager_status_mut(conn)
        .transaction_depth()?
        .map_or(0, |d| d.get() as usize))
}

fn change_depth(conn: &mut SqliteConnection, change: TransactionDepthChange) -> QueryResult<()> {
    match Tm::transaction_manager_status_mut(conn) {
        TransactionManagerStatus::Valid(status) => status.change_transaction_depth(change),
        TransactionManagerStatus::InError => Err(Error::BrokenTransactionManager),
    }
}

/// Opens a transaction with `begin` (`BEGIN IMMEDIATE`, `BEGIN`) outside
/// one, or a savepoint inside one.
pub(crate) fn begin(conn: &mut SqliteConnection, begin: &'static str) -> QueryResult<()> {
    let sql = match depth(conn)? {
        0 => begin,
        n => match SAVEPOINTS.get(n - 1) {
            Some(sql) => sql,
            None => return Tm::begin_transaction(conn),
        },
    };
    Control(sql).execute(conn)?;
    change_depth(conn, TransactionDepthChange::IncreaseDepth)
}

/// Commits the innermost transaction or savepoint. If that fails, it is
/// rolled back (diesel's rollback), and the commit's error returned; if
/// the rollback fails too, the connection is marked broken (the pool then
/// drops it).
pub(crate) fn commit(conn: &mut SqliteConnection) -> QueryResult<()> {
    let sql = match depth(conn)? {
        0 => return Err(Error::NotInTransaction),
        1 => "COMMIT",
        n => match RELEASES.get(n - 2) {
            Some(sql) => sql,
            None => return Tm::commit_transaction(conn),
        },
    };
    match Control(sql).execute(conn) {
        Ok(_) => change_depth(conn, TransactionDepthChange::DecreaseDepth),
        Err(commit) => {
            if let Err(rollback) = Tm::rollback_transaction(conn) {
                Tm::transaction_manager_status_mut(conn).set_in_error();
                return Err(Error::RollbackErrorOnCommit {
                    rollback_error: Box::new(rollback),
                    commit_error: Box::new(commit),
                });
            }
            Err(commit)
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;

    use super::*;

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn rows(conn: &mut SqliteConnection) -> i64 {
        diesel::sql_query("SELECT COUNT(*) AS n FROM t")
            .get_result::<Count>(conn)
            .expect("count")
            .n
    }

    fn connection() -> SqliteConnection {
        let mut conn = SqliteConnection::establish(":memory:").expect("SQLite in memory");
        conn.batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .expect("the table");
        conn
    }

    fn insert(conn: &mut SqliteConnection, id: i64) {
        diesel::sql_query(format!("INSERT INTO t VALUES ({id})"))
            .execute(conn)
            .expect("insert");
    }

    #[test]
    fn a_committed_transaction_keeps_its_rows_and_leaves_depth_zero() {
        let mut conn = connection();
        for id in 1..=3 {
            begin(&mut conn, "BEGIN IMMEDIATE").expect("begin");
            assert_eq!(depth(&mut conn).expect("depth"), 1);
            insert(&mut conn, id);
            commit(&mut conn).expect("commit");
            assert_eq!(depth(&mut conn).expect("depth"), 0);
        }
        assert_eq!(rows(&mut conn), 3);
    }

    #[test]
    fn savepoints_nest_as_diesels_and_diesel_rolls_them_back() {
        let mut conn = connection();
        begin(&mut conn, "BEGIN IMMEDIATE").expect("begin");
        insert(&mut conn, 1);
        // Deeper than the named savepoints: diesel's statements take over.
        for level in 2..=6 {
            begin(&mut conn, "BEGIN IMMEDIATE").expect("savepoint");
            assert_eq!(depth(&mut conn).expect("depth"), level);
            insert(&mut conn, i64::try_from(level).expect("small"));
        }
        // The innermost two are rolled back by diesel, the rest released here.
        Tm::rollback_transaction(&mut conn).expect("diesel rolls back a savepoint");
        Tm::rollback_transaction(&mut conn).expect("and the one below");
        for _ in 0..4 {
            commit(&mut conn).expect("release");
        }
        assert_eq!(depth(&mut conn).expect("depth"), 0);
        assert_eq!(rows(&mut conn), 4);
        // diesel's own transaction still works on the connection.
        conn.transaction(|conn| {
            insert(conn, 9);
            Ok::<_, Error>(())
        })
        .expect("diesel's transaction");
        assert_eq!(rows(&mut conn), 5);
    }

    /// The transaction statements the connection prepared (and cached).
    struct Prepared(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl diesel::connection::Instrumentation for Prepared {
        fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
            if let diesel::connection::InstrumentationEvent::CacheQuery { sql, .. } = event {
                self.0.lock().expect("the log").push(sql.to_owned());
            }
        }
    }

    #[test]
    fn each_transaction_statement_is_prepared_once_per_connection() {
        let mut conn = connection();
        let prepared = std::sync::Arc::default();
        conn.set_instrumentation(Prepared(std::sync::Arc::clone(&prepared)));
        for id in 1..=3 {
            begin(&mut conn, "BEGIN IMMEDIATE").expect("begin");
            begin(&mut conn, "BEGIN IMMEDIATE").expect("savepoint");
            insert(&mut conn, id);
            commit(&mut conn).expect("release");
            commit(&mut conn).expect("commit");
        }
        let mut prepared = prepared.lock().expect("the log").clone();
        prepared.sort();
        assert_eq!(
            prepared,
            [
                "BEGIN IMMEDIATE",
                "COMMIT",
                "RELEASE SAVEPOINT diesel_savepoint_1",
                "SAVEPOINT diesel_savepoint_1"
            ]
        );
    }

    #[test]
    fn a_commit_outside_a_transaction_is_refused() {
        let mut conn = connection();
        assert!(matches!(commit(&mut conn), Err(Error::NotInTransaction)));
    }

    #[test]
    fn a_failed_commit_rolls_back() {
        let mut conn = connection();
        conn.batch_execute(
            "CREATE TABLE p (id INTEGER PRIMARY KEY);
             CREATE TABLE c (p INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);
             PRAGMA foreign_keys = ON;",
        )
        .expect("the tables");
        begin(&mut conn, "BEGIN IMMEDIATE").expect("begin");
        insert(&mut conn, 1);
        diesel::sql_query("INSERT INTO c VALUES (42)")
            .execute(&mut conn)
            .expect("a deferred violation is accepted until the commit");
        assert!(commit(&mut conn).is_err(), "the deferred check fails");
        assert_eq!(depth(&mut conn).expect("depth"), 0);
        assert_eq!(rows(&mut conn), 0, "the transaction was rolled back");
    }
}
