//! The crate's error type.

use wa_core::md::store::MdStoreError;
use wa_signal::StoreError;

/// Everything a store can fail with. No variant carries secret material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process (or another `Store` in this one) drives this device: two drivers would
    /// fork its ratchets. Close the other one first.
    #[error("device {device} is leased by another driver ({holder})")]
    LeaseHeld {
        /// The device id.
        device: String,
        /// Who holds it, as recorded by the holder (process id and host), when known.
        holder: String,
    },
    /// A stored value that does not decode (corrupt row, or a format this version does not know).
    #[error("corrupt stored {what}")]
    Corrupt {
        /// Which kind of value.
        what: &'static str,
    },
    /// The database was written by a newer version of this crate.
    #[error("database schema version {found} is newer than this build knows ({known})")]
    SchemaTooNew {
        /// The version in the database.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// Signal refused (in the `receive`/`send` helpers); nothing was committed.
    #[error("signal: {0}")]
    Signal(#[from] wa_signal::Error),
    /// A file could not be created, opened or locked.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// SQLite failed (after retrying what is retryable).
    #[cfg(feature = "sqlite")]
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (after retrying what is retryable).
    #[cfg(feature = "postgres")]
    #[error("postgres: {0}")]
    Postgres(#[from] postgres::Error),
    /// A trait call inside a transaction failed earlier; the transaction is rolled back.
    #[error("store: {0}")]
    Inner(String),
}

impl From<Error> for StoreError {
    fn from(e: Error) -> StoreError {
        StoreError(Box::new(e))
    }
}

impl From<Error> for MdStoreError {
    fn from(e: Error) -> MdStoreError {
        MdStoreError(Box::new(e))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e.0.downcast::<Error>() {
            Ok(inner) => *inner,
            Err(other) => Error::Inner(other.to_string()),
        }
    }
}

impl From<MdStoreError> for Error {
    fn from(e: MdStoreError) -> Error {
        match e.0.downcast::<Error>() {
            Ok(inner) => *inner,
            Err(other) => Error::Inner(other.to_string()),
        }
    }
}

impl Error {
    /// Whether retrying the whole transaction may succeed (a busy SQLite file, a PostgreSQL
    /// serialization failure or deadlock). The `transaction` loop retries these itself.
    pub fn is_retryable(&self) -> bool {
        match self {
            #[cfg(feature = "sqlite")]
            Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            #[cfg(feature = "postgres")]
            Error::Postgres(e) => matches!(
                e.code(),
                Some(c) if *c == postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == postgres::error::SqlState::T_R_DEADLOCK_DETECTED
            ),
            Error::Signal(wa_signal::Error::Store(e)) => {
                // A backend error that travelled through wa-signal's error type.
                match e.0.downcast_ref::<Error>() {
                    Some(inner) => inner.is_retryable(),
                    None => false,
                }
            }
            _ => false,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
