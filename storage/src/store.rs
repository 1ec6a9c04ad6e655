//! [`Store`]: the handle the rest of the hub holds. It owns the connection
//! pool and the [`Hsm`] used for encrypted columns and the audit chain, runs
//! the embedded migrations, and runs database work on tokio's blocking pool
//! ([`Store::run`], [`Store::write`]) so that no actor event loop or HTTP
//! worker ever waits on the database.
//!
//! On SQLite, writes have a connection of their own ([`Store::write`],
//! [`Store::with_writer`]): SQLite lets one connection write at a time, and
//! writers on many connections wait for its lock by sleeping and retrying,
//! and each drops its page cache whenever another connection has written.
//! Writers queued for one connection are woken the moment it is free, and
//! its cache stays warm. Reads keep the pool.
//!
//! Not here: the queries themselves (the repository modules, which take a
//! `&mut DbConnection` and add `async` shorthands on `Store`), connection
//! details ([`crate::connection`]).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardhub_protocols::crypto::Hsm;
use diesel::RunQueryDsl;
use diesel::r2d2::{Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use serde::Deserialize;

use crate::connection::{Backend, DbConnection, Manager, SqliteSettings, Target};
use crate::error::{StorageError, db};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Pool and connection settings (from the `[database]` section of the config).
///
/// SQLite and the pool size: WAL lets readers run beside the one writer.
/// The store's writes go through one more connection of their own, so
/// they queue in the process (up to `sqlite_busy_timeout_ms`, or
/// `connect_timeout_secs` if longer) rather than on SQLite's lock; every
/// write transaction still begins with `BEGIN IMMEDIATE`, so a write made
/// on a pooled connection (or by another process) waits for the lock
/// instead of failing with SQLITE_BUSY.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreOptions {
    /// Most connections the pool keeps open. Default 8.
    pub pool_size: u32,
    /// Seconds a request waits for a free connection before failing with
    /// [`StorageError::Pool`]. Default 10.
    pub connect_timeout_secs: u64,
    /// SQLite only: milliseconds a writer waits for the write lock before
    /// failing. Default 5000.
    pub sqlite_busy_timeout_ms: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            // Two cores serve the hub; 8 covers readers plus a writer with
            // head-room without exhausting PostgreSQL's default 100 slots
            // when several hub nodes share one server.
            pool_size: 8,
            connect_timeout_secs: 10,
            // Long enough for any single write transaction the hub makes.
            sqlite_busy_timeout_ms: 5_000,
        }
    }
}

/// The connection pool, as the group-commit writer holds it.
pub(crate) type PoolHandle = Pool<Manager>;

/// The storage handle. Cloning is cheap (the pool and HSM are shared).
#[derive(Clone)]
pub struct Store {
    pool: Pool<Manager>,
    /// SQLite: the one connection writes go through (`None` on PostgreSQL,
    /// whose writers do not share a lock: they use the pool).
    writer: Option<Pool<Manager>>,
    hsm: Arc<dyn Hsm>,
    backend: Backend,
    url: Arc<str>,
    group: Arc<crate::group_commit::GroupCommit>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a store: `sqlite://path/to/file.db` (the directory is created if
    /// missing; `sqlite:///abs/path.db` for an absolute path) or
    /// `postgres://user@host:port/database`. One connection is made at once
    /// so that a wrong URL fails here with the driver's own message. Does not
    /// migrate: call [`Store::migrate`].
    pub fn open(url: &str, hsm: Arc<dyn Hsm>, opts: StoreOptions) -> Result<Store, StorageError> {
        let target = Target::parse(url)?;
        target.prepare()?;
        let backend = target.backend();
        let display_url = target.display_url();
        let settings = SqliteSettings {
            busy_timeout: Duration::from_millis(opts.sqlite_busy_timeout_ms),
        };

        let mut first = target.establish().map_err(|source| StorageError::Connect {
            backend,
            url: display_url.clone(),
            source,
        })?;
        settings.apply(&mut first).map_err(db(
            "apply SQLite settings (WAL, busy timeout, foreign keys)",
        ))?;
        drop(first);

        let connect_timeout = Duration::from_secs(opts.connect_timeout_secs.max(1));
        let builder = || {
            Pool::builder()
                // No idle minimum: r2d2 opens connections on its own worker
                // threads, and a minimum makes it open one in the background
                // whenever the pool dips below it. A background connect still
                // running when the process exits races libpq's, OpenSSL's and
                // GSSAPI's exit-time clean-up and crashes the process. With no
                // minimum a connection is only opened for a caller that waits
                // for it, so none is in flight once the work is done.
                .min_idle(Some(0))
                // A pooled PostgreSQL connection may have been cut by the
                // server since its last use: r2d2 pings it at checkout and
                // replaces it. An embedded SQLite connection cannot be cut,
                // and the ping was one more statement on every storage call.
                .test_on_check_out(backend == Backend::Postgres)
                .connection_customizer(Box::new(settings))
        };
        let writer = match backend {
            Backend::Sqlite => Some(
                builder()
                    .max_size(1)
                    // A writer waits here as long as it would for the lock.
                    .connection_timeout(settings.busy_timeout.max(connect_timeout))
                    .build(Manager {
                        target: target.clone(),
                    })?,
            ),
            Backend::Postgres => None,
        };
        let pool = builder()
            .max_size(opts.pool_size.max(1))
            .connection_timeout(connect_timeout)
            .build(Manager { target })?;
        tracing::info!(%backend, url = %display_url, "database opened");
        Ok(Store {
            pool,
            writer,
            hsm,
            backend,
            url: display_url.into(),
            group: Arc::default(),
        })
    }

    /// The writers' pool (on PostgreSQL the pool), for the group-commit
    /// writer's thread.
    pub(crate) fn pool_handle(&self) -> PoolHandle {
        self.write_pool().clone()
    }

    /// Where writes get their connection.
    fn write_pool(&self) -> &Pool<Manager> {
        self.writer.as_ref().unwrap_or(&self.pool)
    }

    /// The group-commit writer ([`Store::commit_grouped`]).
    pub(crate) fn group_commit(&self) -> &crate::group_commit::GroupCommit {
        &self.group
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database URL with any password removed, for logs and `/healthz`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key store used for encrypted columns, blind indexes, the audit
    /// chain and token digests.
    pub fn hsm(&self) -> &Arc<dyn Hsm> {
        &self.hsm
    }

    /// Applies the embedded migrations that have not run yet and returns
    /// their versions. Blocking: call at start-up or from the CLI (`cardhub
    /// db migrate`), or through [`Store::run`].
    pub fn migrate(&self) -> Result<Vec<String>, StorageError> {
        self.with_conn(migrate_connection)
    }

    /// Runs `f` with a pooled connection on the current thread. For the CLI
    /// and start-up code; async code uses [`Store::run`]. Writes use
    /// [`Store::with_writer`].
    pub fn with_conn<R>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let mut conn: PooledConnection<Manager> = self.pool.get()?;
        f(&mut conn)
    }

    /// [`Store::with_conn`] on the writers' connection (see the module
    /// docs), for `f` that writes. Never call it (or [`Store::write`])
    /// from inside `f`: on SQLite the one connection is taken, and the
    /// inner call waits for it until it times out.
    pub fn with_writer<R>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let mut conn: PooledConnection<Manager> = self.write_pool().get()?;
        f(&mut conn)
    }

    /// Runs `f` with a pooled connection on tokio's blocking pool and
    /// records its duration in the `cardhub_db_query_seconds` histogram,
    /// labelled `op`. Compose repository functions inside `f` (use
    /// [`crate::write_tx`] to make them one transaction). Writes use
    /// [`Store::write`].
    pub async fn run<R>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut DbConnection) -> Result<R, StorageError> + Send + 'static,
    ) -> Result<R, StorageError>
    where
        R: Send + 'static,
    {
        run_on(self.pool.clone(), op, f).await
    }

    /// [`Store::run`] on the writers' connection (see the module docs),
    /// for `f` that writes.
    pub async fn write<R>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut DbConnection) -> Result<R, StorageError> + Send + 'static,
    ) -> Result<R, StorageError>
    where
        R: Send + 'static,
    {
        run_on(self.write_pool().clone(), op, f).await
    }

    /// Checks that the database answers (`SELECT 1`), for `/healthz`.
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.run("ping", |conn| {
            diesel::sql_query("SELECT 1")
                .execute(conn)
                .map_err(db("ping the database"))?;
            Ok(())
        })
        .await
    }
}

/// Runs `f` on a connection of `pool` on tokio's blocking pool, timed
/// under `op`.
async fn run_on<R>(
    pool: Pool<Manager>,
    op: &'static str,
    f: impl FnOnce(&mut DbConnection) -> Result<R, StorageError> + Send + 'static,
) -> Result<R, StorageError>
where
    R: Send + 'static,
{
    let task = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        let started = Instant::now();
        let result = f(&mut conn);
        metrics::histogram!("cardhub_db_query_seconds", "op" => op)
            .record(started.elapsed().as_secs_f64());
        result
    });
    match task.await {
        Ok(result) => result,
        Err(join) => Err(StorageError::Task(join.to_string())),
    }
}

/// Applies pending migrations on one connection (either backend).
pub fn migrate_connection(conn: &mut DbConnection) -> Result<Vec<String>, StorageError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        DbConnection::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(|source| StorageError::Migration { source })?;
    let versions: Vec<String> = applied.iter().map(ToString::to_string).collect();
    if !versions.is_empty() {
        tracing::info!(?versions, "database migrations applied");
    }
    Ok(versions)
}
