//! The PostgreSQL backend: the same migrations as SQLite, every row keyed by its device id so
//! one database holds many devices.
//!
//! **Connections live on threads of their own.** The synchronous `postgres` driver runs a tokio
//! runtime inside each connection, and tokio panics when that runtime is entered, or dropped,
//! from a thread that is already inside a runtime (a worker of `multi_thread`, the one thread of
//! `current_thread`). The store's traits are synchronous and called from async code (the MD
//! device calls them between socket reads), so no connection may ever be touched by the
//! caller's thread: each one is owned by a worker thread ([`worker`]) that the transaction talks
//! to over channels, one request per row operation. The caller only waits on a channel, which
//! is legal on any thread; the round trip through the channel costs microseconds beside the
//! server's. Up to [`MAX_WORKERS`] transactions run at once; workers start on demand and
//! reconnect after a broken connection.
//!
//! The lease is a session-level advisory lock (`pg_try_advisory_lock`) on the device's key, held
//! by one more connection on a thread of its own for the store's lifetime: when the process dies
//! its connection closes and the server releases the lock, so a crashed driver never blocks its
//! successor, and a live one always blocks a second. Dropping the store unlocks it and closes
//! that connection before returning, so the next opener (a restart in the same process) finds
//! the lock free.
//! Transactions run `SERIALIZABLE`; serialization failures and deadlocks are retried by
//! [`Store::transaction`](crate::Store::transaction).

mod worker;

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use postgres::{Client, NoTls};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::migrations::{self, Dialect};
use crate::raw::{RawTx, Table};
use worker::{Reply, Request, Worker};

/// The advisory-lock key under which migrations run (one migrator at a time per database).
const MIGRATION_LOCK: i64 = 0x7761_2d73_746f_7265; // "wa-store"

/// How many transactions of one store may run at once (one connection and thread each).
pub(crate) const MAX_WORKERS: usize = 8;

/// How long dropping a store waits for its lease connection to close (a dead server must not
/// hang the caller; the server frees the lock when it notices the closed socket anyway).
const LEASE_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The advisory-lock key of a device: the first 8 bytes of SHA-256("wa-store lease" || id).
pub fn lease_key(device: &str) -> i64 {
    let digest = Sha256::new()
        .chain_update(b"wa-store lease")
        .chain_update(device.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

fn migrate(client: &mut Client, target: i64) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(migrations::SCHEMA_VERSION_TABLE)?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version",
            &[],
        )?
        .get(0);
    if current > migrations::LATEST {
        return Err(Error::SchemaTooNew {
            found: current,
            known: migrations::LATEST,
        });
    }
    for version in current + 1..=target {
        for statement in migrations::statements(version, Dialect::Postgres) {
            tx.batch_execute(&statement)?;
        }
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Connects, migrates and (when asked) takes the device's lock: the lease thread's first step.
fn open_lease(config: &postgres::Config, device: &str, target: i64, lease: bool) -> Result<Client> {
    let mut first = config.connect(NoTls)?;
    migrate(&mut first, target)?;
    if !lease {
        return Ok(first);
    }
    let got: bool = first
        .query_one("SELECT pg_try_advisory_lock($1)", &[&lease_key(device)])?
        .get(0);
    if !got {
        let holder = first
            .query_opt("SELECT holder FROM leases WHERE device_id = $1", &[&device])
            .ok()
            .flatten()
            .map_or_else(|| "unknown".to_owned(), |r| r.get(0));
        return Err(Error::LeaseHeld {
            device: device.to_owned(),
            holder,
        });
    }
    if target >= 2 {
        first.execute(
            "INSERT INTO leases (device_id, holder, acquired_at) VALUES ($1, $2, $3) \
             ON CONFLICT (device_id) DO UPDATE SET holder = excluded.holder, \
             acquired_at = excluded.acquired_at",
            &[&device, &migrations::holder(), &migrations::now_secs()],
        )?;
    }
    Ok(first)
}

/// The thread holding the lease connection: dropping `stop` ends it, and `closed` then reports
/// that the connection (and so the lock) is gone.
struct Lease {
    stop: Option<SyncSender<()>>,
    closed: Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop.take();
        // Wait (bounded) for the connection to close, then reap the thread if it is done.
        if self.closed.recv_timeout(LEASE_CLOSE_WAIT).is_ok() {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// The idle workers and how many exist.
#[derive(Default)]
struct PoolState {
    idle: Vec<Worker>,
    live: usize,
}

pub(crate) struct Postgres {
    config: postgres::Config,
    device: String,
    pool: Mutex<PoolState>,
    returned: Condvar,
    /// Holds the advisory lock (the lease) while the store lives; `None` without a lease.
    /// (Behind a mutex only to be `Sync`: nothing locks it.)
    _lease: Option<Mutex<Lease>>,
}

impl Postgres {
    pub(crate) fn open(url: &str, device: &str, target: i64, lease: bool) -> Result<Postgres> {
        let mut config: postgres::Config = url.parse()?;
        config.connect_timeout(Duration::from_secs(10));
        let (opened_tx, opened_rx) = mpsc::sync_channel::<Result<()>>(1);
        let (stop_tx, stop_rx) = mpsc::sync_channel::<()>(0);
        let (closed_tx, closed_rx) = mpsc::sync_channel::<()>(1);
        let (thread_config, thread_device) = (config.clone(), device.to_owned());
        let thread = std::thread::Builder::new()
            .name("wa-store-pg-lease".into())
            .spawn(move || {
                match open_lease(&thread_config, &thread_device, target, lease) {
                    Ok(mut client) => {
                        let _ = opened_tx.send(Ok(()));
                        if lease {
                            // Hold the connection until the store is dropped.
                            let _ = stop_rx.recv();
                            // Released by the server before the answer comes back; closing the
                            // socket alone frees it only when the server's backend gets to it,
                            // after the next opener may already have asked.
                            let _ = client.execute(
                                "SELECT pg_advisory_unlock($1)",
                                &[&lease_key(&thread_device)],
                            );
                        }
                        drop(client);
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                    }
                }
                let _ = closed_tx.send(());
            })?;
        let opened = opened_rx
            .recv()
            .unwrap_or_else(|_| Err(Error::Inner("the lease thread stopped".into())));
        // Built before looking at the outcome: on an error (or without a lease) dropping it
        // waits for the thread's connection to close.
        let lease_guard = Lease {
            stop: Some(stop_tx),
            closed: closed_rx,
            thread: Some(thread),
        };
        opened?;
        Ok(Postgres {
            config,
            device: device.to_owned(),
            pool: Mutex::new(PoolState::default()),
            returned: Condvar::new(),
            _lease: lease.then(|| Mutex::new(lease_guard)),
        })
    }

    /// An idle worker, a new one while fewer than [`MAX_WORKERS`] exist, or the first one
    /// returned.
    fn checkout(&self) -> Result<Checkout<'_>> {
        let mut state = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(worker) = state.idle.pop() {
                return Ok(Checkout {
                    pg: self,
                    worker: Some(worker),
                });
            }
            if state.live < MAX_WORKERS {
                let worker = Worker::spawn(self.config.clone(), self.device.clone())?;
                state.live += 1;
                return Ok(Checkout {
                    pg: self,
                    worker: Some(worker),
                });
            }
            state = self.returned.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    pub(crate) fn with_tx(&self, body: &mut dyn FnMut(&mut dyn RawTx) -> bool) -> Result<()> {
        let mut checkout = self.checkout()?;
        let worker = checkout.worker()?;
        worker.call(Request::Begin)?.unit()?;
        let commit = body(&mut PgTx { worker });
        let end = if commit {
            Request::Commit
        } else {
            Request::Rollback
        };
        let result = worker.call(end)?.unit();
        checkout.done();
        result
    }

    pub(crate) fn schema_version(&self) -> Result<i64> {
        let mut checkout = self.checkout()?;
        let version = checkout.worker()?.call(Request::SchemaVersion)?.count();
        checkout.done();
        version.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
    }
}

/// A worker taken from the pool for one transaction. Unless [`Checkout::done`] says the
/// transaction ended cleanly (a panic in the body, a dead worker), the worker is dropped: its
/// thread rolls back what was open and exits, and its place is freed.
struct Checkout<'a> {
    pg: &'a Postgres,
    worker: Option<Worker>,
}

impl Checkout<'_> {
    fn worker(&mut self) -> Result<&Worker> {
        self.worker
            .as_ref()
            .ok_or_else(|| Error::Inner("no postgres worker".into()))
    }

    fn done(mut self) {
        if let Some(worker) = self.worker.take() {
            let mut state = self.pg.pool.lock().unwrap_or_else(|p| p.into_inner());
            state.idle.push(worker);
            self.pg.returned.notify_one();
        }
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        if self.worker.take().is_some() {
            let mut state = self.pg.pool.lock().unwrap_or_else(|p| p.into_inner());
            state.live = state.live.saturating_sub(1);
            self.pg.returned.notify_one();
        }
    }
}

/// The caller's side of an open transaction: each row operation is one request to the worker
/// thread that holds the connection.
struct PgTx<'a> {
    worker: &'a Worker,
}

impl RawTx for PgTx<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.worker.call(Request::Get(table, key.to_vec()))?.value()
    }
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        let value = Zeroizing::new(value.to_vec());
        self.worker
            .call(Request::Put(table, key.to_vec(), value))?
            .unit()
    }
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool> {
        Ok(self
            .worker
            .call(Request::Delete(table, key.to_vec()))?
            .count()?
            > 0)
    }
    fn scan(&mut self, table: Table) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.worker.call(Request::Scan(table))?.rows()
    }
    fn clear(&mut self, table: Table) -> Result<u64> {
        self.worker.call(Request::Clear(table))?.count()
    }
}

impl Reply {
    fn unit(self) -> Result<()> {
        match self {
            Reply::Unit(r) => r,
            other => Err(other.unexpected()),
        }
    }
    fn value(self) -> Result<Option<Vec<u8>>> {
        match self {
            Reply::Value(r) => r,
            other => Err(other.unexpected()),
        }
    }
    fn count(self) -> Result<u64> {
        match self {
            Reply::Count(r) => r,
            other => Err(other.unexpected()),
        }
    }
    fn rows(self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        match self {
            Reply::Rows(r) => r,
            other => Err(other.unexpected()),
        }
    }
    fn unexpected(self) -> Error {
        match self {
            Reply::Unit(Err(e))
            | Reply::Value(Err(e))
            | Reply::Count(Err(e))
            | Reply::Rows(Err(e)) => e,
            _ => Error::Inner("postgres worker answered out of turn".into()),
        }
    }
}
