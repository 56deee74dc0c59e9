//! The SQLite backend: one file per device, WAL, `synchronous = FULL`, a busy timeout,
//! `secure_delete`, created with mode 0600 before SQLite opens it, and an exclusive `flock` on a
//! lock file beside it as the lease (the kernel releases it when the process dies, so a crash
//! never leaves a stale lease behind).
//!
//! Transactions start with `BEGIN IMMEDIATE`: a writer takes the write lock up front instead of
//! upgrading a read lock later, which is the upgrade that fails with `SQLITE_BUSY` regardless of
//! the busy timeout in a naive store. Connections are pooled, one per concurrent transaction.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, params};

use crate::error::{Error, Result};
use crate::migrations::{self, Dialect};
use crate::raw::{RawTx, Table};

/// How long one statement waits for another connection's write lock before `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The device id rows carry in a SQLite file (one device per file).
pub const SQLITE_DEVICE: &str = "local";

pub(crate) struct Sqlite {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
    /// Held (flocked) for the store's lifetime: the lease.
    _lock: Option<File>,
}

fn create_private(path: &Path) -> Result<File> {
    Ok(OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?)
}

fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push("-lock");
    PathBuf::from(s)
}

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL: readers do not block the writer; FULL: a commit that returned survives power loss.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Inner(format!("journal_mode is {mode}, not wal")));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;")?;
    Ok(conn)
}

/// Applies the migrations after the database's version, up to `target`.
fn migrate(conn: &mut Connection, target: i64) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(migrations::SCHEMA_VERSION_TABLE)?;
    let current: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )?;
    if current > migrations::LATEST {
        return Err(Error::SchemaTooNew {
            found: current,
            known: migrations::LATEST,
        });
    }
    for version in current + 1..=target {
        for statement in migrations::statements(version, Dialect::Sqlite) {
            tx.execute_batch(&statement)?;
        }
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [version],
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn holder_of(path: &Path) -> String {
    let read = || -> Result<Option<String>> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(conn
            .query_row(
                "SELECT holder FROM leases WHERE device_id = ?1",
                [SQLITE_DEVICE],
                |r| r.get(0),
            )
            .optional()?)
    };
    read().ok().flatten().unwrap_or_else(|| "unknown".into())
}

impl Sqlite {
    /// Opens (creating it if missing) the file, takes the lease, migrates up to `target`.
    pub(crate) fn open(path: &Path, target: i64, lease: bool) -> Result<Sqlite> {
        create_private(path)?;
        let lock = if lease {
            let file = create_private(&lock_path(path))?;
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => Some(file),
                Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                    return Err(Error::LeaseHeld {
                        device: path.display().to_string(),
                        holder: holder_of(path),
                    });
                }
                Err(e) => return Err(Error::Io(e.into())),
            }
        } else {
            None
        };
        let mut conn = connect(path)?;
        migrate(&mut conn, target)?;
        if lease && target >= 2 {
            conn.execute(
                "INSERT INTO leases (device_id, holder, acquired_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (device_id) DO UPDATE SET holder = excluded.holder, \
                 acquired_at = excluded.acquired_at",
                params![SQLITE_DEVICE, migrations::holder(), migrations::now_secs()],
            )?;
        }
        Ok(Sqlite {
            path: path.to_owned(),
            pool: Mutex::new(vec![conn]),
            _lock: lock,
        })
    }

    fn take(&self) -> Result<Connection> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(c) => Ok(c),
            None => connect(&self.path),
        }
    }

    fn give_back(&self, conn: Connection) {
        self.pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
    }

    pub(crate) fn with_tx(&self, body: &mut dyn FnMut(&mut dyn RawTx) -> bool) -> Result<()> {
        let mut conn = self.take()?;
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let commit = body(&mut SqliteTx { tx: &tx });
            if commit {
                tx.commit()?;
            }
            Ok(())
        })();
        self.give_back(conn);
        result
    }

    /// The database's schema version.
    pub(crate) fn schema_version(&self) -> Result<i64> {
        let conn = self.take()?;
        let v = conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        );
        self.give_back(conn);
        Ok(v?)
    }
}

struct SqliteTx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
}

impl RawTx for SqliteTx<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let sql = format!(
            "SELECT v FROM {} WHERE device_id = ?1 AND k = ?2",
            table.name()
        );
        let mut stmt = self.tx.prepare_cached(&sql)?;
        Ok(stmt
            .query_row(params![SQLITE_DEVICE, key], |r| r.get(0))
            .optional()?)
    }
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        let sql = format!(
            "INSERT INTO {} (device_id, k, v) VALUES (?1, ?2, ?3) \
             ON CONFLICT (device_id, k) DO UPDATE SET v = excluded.v",
            table.name()
        );
        self.tx
            .prepare_cached(&sql)?
            .execute(params![SQLITE_DEVICE, key, value])?;
        Ok(())
    }
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool> {
        let sql = format!(
            "DELETE FROM {} WHERE device_id = ?1 AND k = ?2",
            table.name()
        );
        Ok(self
            .tx
            .prepare_cached(&sql)?
            .execute(params![SQLITE_DEVICE, key])?
            > 0)
    }
    fn scan(&mut self, table: Table) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let sql = format!(
            "SELECT k, v FROM {} WHERE device_id = ?1 ORDER BY k",
            table.name()
        );
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let rows = stmt.query_map([SQLITE_DEVICE], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
    fn clear(&mut self, table: Table) -> Result<u64> {
        let sql = format!("DELETE FROM {} WHERE device_id = ?1", table.name());
        let gone = self
            .tx
            .prepare_cached(&sql)?
            .execute(params![SQLITE_DEVICE])?;
        Ok(u64::try_from(gone).unwrap_or(u64::MAX))
    }
}
