//! Connections: the [`DbConnection`] enum that lets one repository code base
//! run on SQLite and PostgreSQL, the URL forms cardhub accepts, the r2d2
//! connection manager and per-connection SQLite settings, and the two
//! transaction shapes repositories use ([`write_tx`], [`snapshot_tx`]).
//!
//! Not here: the pool's owner and the async entry points ([`crate::Store`]),
//! the schema ([`crate::schema`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::{
    AnsiTransactionManager, Connection, SimpleConnection, TransactionManager,
};
use diesel::pg::PgConnection;
use diesel::r2d2::{CustomizeConnection, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use serde::{Deserialize, Serialize};

use crate::error::{StorageError, db};

/// A database connection of either backend. Repository functions take
/// `&mut DbConnection`; query-builder code written against it runs on both.
/// Backend-specific statements match on the variant.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// The embedded default: a SQLite file.
    Sqlite(SqliteConnection),
    /// The production and multi-node store.
    Pg(PgConnection),
}

impl DbConnection {
    /// Which backend this connection talks to.
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Sqlite(_) => Backend::Sqlite,
            DbConnection::Pg(_) => Backend::Postgres,
        }
    }
}

/// The database engine behind a [`crate::Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// SQLite (bundled), a file on the hub's disk.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The backend's name, as shown in logs and `/healthz`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a database lives, parsed from a URL.
#[derive(Clone)]
pub(crate) enum Target {
    /// `sqlite://path/to/file.db` (relative) or `sqlite:///abs/path.db`.
    Sqlite(PathBuf),
    /// `postgres://...` or `postgresql://...`, passed to libpq unchanged.
    Postgres(String),
}

impl Target {
    /// Parses a database URL.
    pub(crate) fn parse(url: &str) -> Result<Target, StorageError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StorageError::InvalidUrl {
                    url: redact_url(url),
                });
            }
            Ok(Target::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Target::Postgres(url.to_owned()))
        } else {
            Err(StorageError::InvalidUrl {
                url: redact_url(url),
            })
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Target::Sqlite(_) => Backend::Sqlite,
            Target::Postgres(_) => Backend::Postgres,
        }
    }

    /// The URL for messages, without a password.
    pub(crate) fn display_url(&self) -> String {
        match self {
            Target::Sqlite(path) => format!("sqlite://{}", path.display()),
            Target::Postgres(url) => redact_url(url),
        }
    }

    /// Creates the SQLite file's parent directory if it is missing.
    pub(crate) fn prepare(&self) -> Result<(), StorageError> {
        if let Target::Sqlite(path) = self
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        Ok(())
    }

    /// Opens one connection (without the per-connection settings).
    pub(crate) fn establish(&self) -> Result<DbConnection, diesel::ConnectionError> {
        match self {
            Target::Sqlite(path) => {
                SqliteConnection::establish(&path_str(path)?).map(DbConnection::Sqlite)
            }
            Target::Postgres(url) => PgConnection::establish(url).map(DbConnection::Pg),
        }
    }
}

fn path_str(path: &Path) -> Result<String, diesel::ConnectionError> {
    path.to_str().map(str::to_owned).ok_or_else(|| {
        diesel::ConnectionError::InvalidConnectionUrl(format!(
            "path {} is not UTF-8",
            path.display()
        ))
    })
}

/// Removes the password from `scheme://user:password@host/...`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

/// The r2d2 manager: opens connections of the backend the URL names.
#[derive(Clone)]
pub(crate) struct Manager {
    pub(crate) target: Target,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("url", &self.target.display_url())
            .finish()
    }
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        self.target
            .establish()
            .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// Runs `$body` with `$c` bound to the backend's own connection
/// (`SqliteConnection` or `PgConnection`): the body is compiled once per
/// backend. Two uses:
///
/// - statements a card waits for. Through [`DbConnection`], diesel writes
///   a statement's SQL text anew each time it runs (to find the prepared
///   statement in the cache, then again to bind it); on the backend's own
///   connection a statement with a static query id finds its prepared
///   statement by its type, with no SQL text written at all;
/// - what diesel's `MultiConnection` lacks (`ON CONFLICT`).
///
/// Inside a transaction opened on the [`DbConnection`] the statements run
/// in it: both are the same connection.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::connection::DbConnection::Sqlite($c) => $body,
            $crate::connection::DbConnection::Pg($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Per-connection SQLite settings, applied to every pooled connection:
/// WAL (readers do not block the writer), a busy timeout (a writer waits for
/// the write lock instead of failing with SQLITE_BUSY), foreign keys on
/// (SQLite leaves them off per connection), `synchronous = NORMAL` (durable
/// across application crashes in WAL mode; a power cut may lose the last
/// transactions, not corrupt the file). PostgreSQL connections are untouched.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SqliteSettings {
    pub(crate) busy_timeout: Duration,
}

impl SqliteSettings {
    pub(crate) fn apply(&self, conn: &mut DbConnection) -> diesel::QueryResult<()> {
        if let DbConnection::Sqlite(conn) = conn {
            // busy_timeout first: switching to WAL needs the lock.
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                self.busy_timeout.as_millis()
            ))?;
        }
        Ok(())
    }
}

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqliteSettings {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        self.apply(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// How an outermost transaction begins.
#[derive(Clone, Copy)]
enum TxKind {
    Write,
    Snapshot,
}

impl TxKind {
    fn begin_sql(self, backend: Backend) -> &'static str {
        match (self, backend) {
            // Take the write lock at BEGIN: a deferred transaction that reads
            // and then writes can fail with SQLITE_BUSY without waiting.
            (TxKind::Write, Backend::Sqlite) => "BEGIN IMMEDIATE",
            (TxKind::Write, Backend::Postgres) => "BEGIN",
            // In WAL mode the first read fixes the snapshot.
            (TxKind::Snapshot, Backend::Sqlite) => "BEGIN",
            (TxKind::Snapshot, Backend::Postgres) => {
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            }
        }
    }
}

/// Runs `f` in a write transaction: committed if `f` returns `Ok`, rolled
/// back otherwise. On SQLite the outermost transaction is `BEGIN IMMEDIATE`,
/// so writers queue for the lock (up to the busy timeout) instead of failing.
/// Called inside another transaction it becomes a savepoint, so repository
/// functions compose: call several inside one `write_tx`.
///
/// Every repository function that writes uses this; a caller composing
/// several must use it (not diesel's `transaction`) for the outer one.
pub fn write_tx<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    run_tx(conn, TxKind::Write, f)
}

/// [`write_tx`] for a repository function whose every caller propagates
/// its error with `?`: inside a transaction already, `f` joins it instead
/// of opening a savepoint (two statements fewer), so an error rolls back
/// with the enclosing transaction, or with the nearest savepoint a caller
/// opened around it. Outside one, it is [`write_tx`]. Never catch this
/// function's error and go on writing in the same transaction: what `f`
/// wrote before the error would be committed.
pub(crate) fn join_write_tx<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    if in_transaction(conn) {
        f(conn)
    } else {
        write_tx(conn, f)
    }
}

/// Whether `conn` is inside a transaction (or a savepoint) now.
fn in_transaction(conn: &mut DbConnection) -> bool {
    fn depth<C>(conn: &mut C) -> bool
    where
        C: Connection<TransactionManager = AnsiTransactionManager>,
    {
        AnsiTransactionManager::transaction_manager_status_mut(conn)
            .transaction_depth()
            .is_ok_and(|depth| depth.is_some())
    }
    on_backend!(conn, |c| depth(c))
}

/// Runs `f` in a read-only transaction that sees one consistent snapshot
/// (PostgreSQL: REPEATABLE READ READ ONLY; SQLite: a read transaction).
/// Inside another transaction it is a savepoint of that one.
pub fn snapshot_tx<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    run_tx(conn, TxKind::Snapshot, f)
}

fn run_tx<T>(
    conn: &mut DbConnection,
    kind: TxKind,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    type Tm = <DbConnection as Connection>::TransactionManager;
    let sql = kind.begin_sql(conn.backend());
    let began = match conn {
        // Prepared once per connection (`sqlite_tx`).
        DbConnection::Sqlite(c) => crate::sqlite_tx::begin(c, sql),
        DbConnection::Pg(c) => match AnsiTransactionManager::begin_transaction_sql(c, sql) {
            // Already inside a transaction: nest as a savepoint.
            Err(diesel::result::Error::AlreadyInTransaction) => Tm::begin_transaction(conn),
            began => began,
        },
    };
    if let Err(e) = began {
        let what = if in_transaction(conn) {
            "open a savepoint"
        } else {
            "begin a transaction"
        };
        return Err(db(what)(e));
    }
    match f(conn) {
        Ok(value) => {
            match conn {
                DbConnection::Sqlite(c) => crate::sqlite_tx::commit(c),
                DbConnection::Pg(_) => Tm::commit_transaction(conn),
            }
            .map_err(db("commit a transaction"))?;
            Ok(value)
        }
        Err(error) => match Tm::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
            Err(rollback) => Err(db("roll back a transaction")(rollback)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_passwords_hidden() {
        assert!(
            matches!(Target::parse("sqlite://data/hub.db"), Ok(Target::Sqlite(p)) if p == Path::new("data/hub.db"))
        );
        assert!(
            matches!(Target::parse("sqlite:///var/lib/hub.db"), Ok(Target::Sqlite(p)) if p == Path::new("/var/lib/hub.db"))
        );
        assert!(matches!(
            Target::parse("postgres://u@h/db"),
            Ok(Target::Postgres(_))
        ));
        assert!(matches!(
            Target::parse("mysql://u@h/db"),
            Err(StorageError::InvalidUrl { .. })
        ));
        assert!(matches!(
            Target::parse("sqlite://"),
            Err(StorageError::InvalidUrl { .. })
        ));
        assert_eq!(
            redact_url("postgres://hub:s3cret@db:5432/hub"),
            "postgres://hub:***@db:5432/hub"
        );
        assert_eq!(redact_url("postgres://hub@db/hub"), "postgres://hub@db/hub");
        let err = Target::parse("mysql://root:pw@h/db")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.contains("pw@"), "{err}");
    }
}
