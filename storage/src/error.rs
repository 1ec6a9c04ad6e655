//! [`StorageError`]: the one error type of the storage crate's boundary.
//! Every repository function, [`crate::Store`] method and the audit verifier
//! return it. Each variant says what happened and what the operator can do.
//!
//! Not here: errors of the card status machine itself
//! ([`TransitionError`], wrapped as [`StorageError::Transition`]) and of the
//! key store ([`HsmError`], wrapped with the column or operation it served).

use std::path::PathBuf;

use cardhub_protocols::card_status::TransitionError;
use cardhub_protocols::crypto::HsmError;

use crate::connection::Backend;

/// Everything that can go wrong in storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database URL has a scheme other than `sqlite://` or `postgres://`.
    #[error(
        "database URL `{url}` is not understood: use `sqlite://path/to/file.db` or `postgres://user@host:port/database`"
    )]
    InvalidUrl {
        /// The URL as given, with any password removed.
        url: String,
    },

    /// The directory that should hold the SQLite file could not be created.
    #[error("cannot create directory {} for the SQLite database: {source}; check the path and its permissions", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },

    /// The first connection to the database failed.
    #[error(
        "cannot connect to the {backend} database at {url}: {source}; check that the database server is running and that the URL (user, host, port, database name, file path) is right"
    )]
    Connect {
        /// Which backend.
        backend: Backend,
        /// The URL, with any password removed.
        url: String,
        /// The driver's error.
        source: diesel::ConnectionError,
    },

    /// The connection pool could not hand out a connection in time.
    #[error(
        "no database connection available: {0}; the database may be down, or every connection is busy (raise `database.pool_size` in the config)"
    )]
    Pool(#[from] diesel::r2d2::PoolError),

    /// Applying the embedded migrations failed.
    #[error(
        "database migration failed: {source}; the schema may have been changed by hand: restore it from a backup or repair it, then run `cardhub db migrate` again"
    )]
    Migration {
        /// The migration harness's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A query failed for a reason other than the ones below.
    #[error("database error while trying to {context}: {source}")]
    Database {
        /// What was being done, as a verb phrase ("insert a branch").
        context: &'static str,
        /// diesel's error.
        source: diesel::result::Error,
    },

    /// A row that was asked for does not exist.
    #[error("{what} `{key}` not found: check the identifier")]
    NotFound {
        /// What kind of row ("card", "operator").
        what: &'static str,
        /// The identifier that was looked up.
        key: String,
    },

    /// A unique value is already taken.
    #[error("{what}: choose another value")]
    Conflict {
        /// What collided, in words ("branch code `310101` already exists").
        what: String,
    },

    /// The card changed since the caller read it (optimistic lock).
    #[error(
        "card {card_id} was changed by someone else (expected version {expected}, found {actual}): reload the card and try again"
    )]
    StaleCard {
        /// The card.
        card_id: i64,
        /// The version the caller read.
        expected: i64,
        /// The version now stored.
        actual: i64,
    },

    /// The card status machine refused the transition.
    #[error(transparent)]
    Transition(#[from] TransitionError),

    /// An encrypted column could not be decrypted.
    #[error(
        "cannot decrypt column {column}: {reason}; the row was corrupted or the `field-encryption` key in the key file is not the one the data was written with"
    )]
    Decrypt {
        /// The column, as `table.column`.
        column: &'static str,
        /// Why, in words.
        reason: String,
    },

    /// A key operation (encryption, HMAC) failed.
    #[error("key operation failed while trying to {operation}: {source}")]
    Crypto {
        /// What was being done ("encrypt persons.phone").
        operation: &'static str,
        /// The key store's error.
        source: HsmError,
    },

    /// A stored value is not one this version of cardhub understands.
    #[error(
        "column {column} holds `{value}`, which is not valid: {reason}; the row was edited outside cardhub or written by a newer version"
    )]
    Corrupt {
        /// The column, as `table.column`.
        column: &'static str,
        /// The stored value (never a decrypted sensitive value).
        value: String,
        /// Why it was rejected.
        reason: String,
    },

    /// The caller passed a value that cannot be stored.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was wrong ("username").
        what: &'static str,
        /// Why, and what is expected.
        reason: String,
    },

    /// The blocking database task panicked or was cancelled.
    #[error("the database task did not finish: {0}; see the log for the panic message")]
    Task(String),
}

/// Maps a diesel error to [`StorageError::Database`] with context.
pub(crate) fn db(context: &'static str) -> impl FnOnce(diesel::result::Error) -> StorageError {
    move |source| StorageError::Database { context, source }
}

/// Maps a unique-constraint violation to [`StorageError::Conflict`] (with the
/// words `what` builds) and anything else to [`StorageError::Database`].
pub(crate) fn conflict_or_db(
    context: &'static str,
    what: impl FnOnce() -> String,
) -> impl FnOnce(diesel::result::Error) -> StorageError {
    move |source| match source {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => StorageError::Conflict { what: what() },
        source => StorageError::Database { context, source },
    }
}

/// Parses a stored text column, mapping failure to [`StorageError::Corrupt`].
pub(crate) fn parse_column<T>(column: &'static str, value: &str) -> Result<T, StorageError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| StorageError::Corrupt {
        column,
        value: value.to_owned(),
        reason: e.to_string(),
    })
}
