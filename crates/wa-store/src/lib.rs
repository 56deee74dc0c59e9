#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]
// Built with no backend feature, every backend match is over an uninhabited type.
#![cfg_attr(
    not(any(feature = "memory", feature = "sqlite", feature = "postgres")),
    allow(unreachable_code, unused_variables)
)]

mod autocommit;
pub mod codec;
pub mod conformance;
mod error;
#[cfg(feature = "memory")]
#[doc(hidden)]
pub mod filled;
mod flow;
#[cfg(feature = "memory")]
mod memory;
pub mod migrations;
#[cfg(feature = "postgres")]
mod postgres;
mod raw;
#[cfg(feature = "tokio")]
mod shim;
#[cfg(feature = "sqlite")]
mod sqlite;
mod tx;

use std::time::Duration;

pub use error::{Error, Result};
pub use flow::{
    Incoming, ReceiptQueue, ReceiveError, Received, Sent, ciphertext_hash, message_payload,
    receive, receive_with, send, send_recorded,
};
#[cfg(feature = "postgres")]
pub use postgres::lease_key;
pub use raw::Table;
#[cfg(feature = "tokio")]
pub use shim::AsyncStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{BUSY_TIMEOUT, SQLITE_DEVICE};
pub use tx::Tx;

use raw::RawTx;

/// How long a transaction keeps retrying a busy database or a serialization failure before the
/// error reaches the caller.
pub const RETRY_BUDGET: Duration = Duration::from_secs(60);

enum Backend {
    #[cfg(feature = "memory")]
    Memory(memory::Memory),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::Sqlite),
    // Boxed: a pool and a client are much larger than the other backends.
    #[cfg(feature = "postgres")]
    Postgres(Box<postgres::Postgres>),
    /// With no backend feature the crate still builds (and is useless): this keeps the matches
    /// below exhaustive.
    #[cfg(not(any(feature = "memory", feature = "sqlite", feature = "postgres")))]
    _None(std::convert::Infallible),
}

/// How to open a store. The defaults are what applications want; the schema target exists for
/// schema-evolution tests (a database left at an older version, as an older build wrote it).
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Migrate up to this version (default: [`migrations::LATEST`]).
    pub schema_target: i64,
    /// Take the lease (default: true). Without it, nothing stops a second driver: only for
    /// read-only inspection and tests.
    pub lease: bool,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            schema_target: migrations::LATEST,
            lease: true,
        }
    }
}

/// One device's durable state on one backend. Cheap to share (`Arc<Store>`): every method takes
/// `&self`, and transactions from many threads are serialised by the backend.
///
/// It implements every store trait itself (each call its own transaction); for atomic
/// multi-step changes use [`Store::transaction`].
pub struct Store {
    backend: Backend,
    device: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.backend {
            #[cfg(feature = "memory")]
            Backend::Memory(_) => "memory",
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => "postgres",
            #[cfg(not(any(feature = "memory", feature = "sqlite", feature = "postgres")))]
            Backend::_None(never) => match *never {},
        };
        f.debug_struct("Store")
            .field("backend", &kind)
            .field("device", &self.device)
            .finish()
    }
}

impl Store {
    /// An empty in-memory store.
    #[cfg(feature = "memory")]
    pub fn memory() -> Store {
        Store {
            backend: Backend::Memory(memory::Memory::default()),
            device: "memory".into(),
        }
    }

    /// Opens (creating it with mode 0600 if missing) a SQLite file and takes its lease; a second
    /// opener gets [`Error::LeaseHeld`].
    #[cfg(feature = "sqlite")]
    pub fn open_sqlite(path: impl AsRef<std::path::Path>) -> Result<Store> {
        Store::open_sqlite_with(path, &OpenOptions::default())
    }

    /// [`Store::open_sqlite`] with options.
    #[cfg(feature = "sqlite")]
    pub fn open_sqlite_with(
        path: impl AsRef<std::path::Path>,
        options: &OpenOptions,
    ) -> Result<Store> {
        let path = path.as_ref();
        Ok(Store {
            backend: Backend::Sqlite(sqlite::Sqlite::open(
                path,
                options.schema_target,
                options.lease,
            )?),
            device: SQLITE_DEVICE.into(),
        })
    }

    /// Connects to PostgreSQL (`postgres://user@host:port/db`), migrates, and takes the lease
    /// of `device` (any string naming the device, e.g. its JID); a second driver of the same
    /// device gets [`Error::LeaseHeld`]. Other devices share the database freely.
    #[cfg(feature = "postgres")]
    pub fn open_postgres(url: &str, device: &str) -> Result<Store> {
        Store::open_postgres_with(url, device, &OpenOptions::default())
    }

    /// [`Store::open_postgres`] with options.
    #[cfg(feature = "postgres")]
    pub fn open_postgres_with(url: &str, device: &str, options: &OpenOptions) -> Result<Store> {
        Ok(Store {
            backend: Backend::Postgres(Box::new(postgres::Postgres::open(
                url,
                device,
                options.schema_target,
                options.lease,
            )?)),
            device: device.into(),
        })
    }

    /// The device whose rows this store reads and writes.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The database's schema version (the memory backend is always the latest).
    pub fn schema_version(&self) -> Result<i64> {
        match &self.backend {
            #[cfg(feature = "memory")]
            Backend::Memory(_) => Ok(migrations::LATEST),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(s) => s.schema_version(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(p) => p.schema_version(),
            #[cfg(not(any(feature = "memory", feature = "sqlite", feature = "postgres")))]
            Backend::_None(never) => match *never {},
        }
    }

    /// Deletes everything this device has stored, in one transaction (see
    /// [`Tx::erase_device`]); how many rows went. The store stays open and leased: the device
    /// can pair again into it.
    pub fn erase_device(&self) -> Result<u64> {
        self.transaction(|tx| tx.erase_device())
    }

    fn with_tx(&self, body: &mut dyn FnMut(&mut dyn RawTx) -> bool) -> Result<()> {
        match &self.backend {
            #[cfg(feature = "memory")]
            Backend::Memory(m) => m.with_tx(body),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(s) => s.with_tx(body),
            #[cfg(feature = "postgres")]
            Backend::Postgres(p) => p.with_tx(body),
            #[cfg(not(any(feature = "memory", feature = "sqlite", feature = "postgres")))]
            Backend::_None(never) => {
                let _ = body;
                match *never {}
            }
        }
    }

    /// Runs `f` in one transaction: everything it did through the [`Tx`] is committed together
    /// when it returns `Ok`, and nothing when it returns `Err`.
    ///
    /// `f` may run more than once: a busy database (SQLite) or a serialization failure
    /// (PostgreSQL) rolls the attempt back and runs `f` again, for up to [`RETRY_BUDGET`], so
    /// these never reach the caller under contention. Keep side effects out of `f`.
    pub fn transaction<T, E: From<Error>>(
        &self,
        mut f: impl FnMut(&mut Tx<'_>) -> core::result::Result<T, E>,
    ) -> core::result::Result<T, E> {
        let started = std::time::Instant::now();
        let mut attempt = 0u32;
        loop {
            let mut out = None;
            let mut retry_inner = false;
            let mut failed_inner = false;
            let run = self.with_tx(&mut |raw| {
                let mut tx = Tx::new(raw);
                let result = f(&mut tx);
                retry_inner = tx.saw_retryable();
                failed_inner = tx.saw_failure();
                // A closure that swallowed a backend error must not commit: part of what it
                // meant to write may be missing.
                let commit = result.is_ok() && !failed_inner;
                out = Some(result);
                commit
            });
            let retry = match (&run, &out) {
                (Err(e), _) => e.is_retryable(),
                (Ok(()), Some(_)) => retry_inner,
                _ => false,
            };
            if retry && started.elapsed() < RETRY_BUDGET {
                attempt = attempt.saturating_add(1);
                backoff(attempt);
                continue;
            }
            run?;
            return match out {
                Some(Ok(_)) if failed_inner => Err(Error::Inner(
                    "a store call failed inside the transaction; nothing was committed".into(),
                )
                .into()),
                Some(result) => result,
                None => Err(Error::Inner("transaction body did not run".into()).into()),
            };
        }
    }
}

/// Sleeps a little longer after each failed attempt (up to 50 ms), with jitter from the clock so
/// contending threads spread out.
fn backoff(attempt: u32) {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() % 1000);
    let micros = (100u64 << attempt.min(9)).min(50_000) + u64::from(jitter);
    std::thread::sleep(Duration::from_micros(micros));
}
