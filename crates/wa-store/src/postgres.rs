//! The PostgreSQL backend: a pool of connections (`r2d2`), the same migrations as SQLite, every
//! row keyed by its device id so one database holds many devices.
//!
//! The lease is a session-level advisory lock (`pg_try_advisory_lock`) on the device's key, held
//! by one dedicated connection for the store's lifetime: when the process dies its connection
//! closes and the server releases the lock, so a crashed driver never blocks its successor, and
//! a live one always blocks a second. Transactions run `SERIALIZABLE`; serialization failures
//! and deadlocks are retried by [`Store::transaction`](crate::Store::transaction).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use postgres::{Client, IsolationLevel, NoTls, Statement};
use r2d2_postgres::PostgresConnectionManager;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::migrations::{self, Dialect};
use crate::raw::{RawTx, Table};

/// The advisory-lock key under which migrations run (one migrator at a time per database).
const MIGRATION_LOCK: i64 = 0x7761_2d73_746f_7265; // "wa-store"

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

/// A pooled connection and the statements prepared on it (each SQL text is prepared once per
/// connection, not once per use: half the round trips).
pub(crate) struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// r2d2's PostgreSQL manager, with a statement cache per connection.
#[derive(Debug)]
pub(crate) struct Manager(PostgresConnectionManager<NoTls>);

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: self.0.connect()?,
            statements: HashMap::new(),
        })
    }
    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        self.0.is_valid(&mut conn.client)
    }
    fn has_broken(&self, conn: &mut PgConn) -> bool {
        self.0.has_broken(&mut conn.client)
    }
}

pub(crate) struct Postgres {
    pool: r2d2::Pool<Manager>,
    device: String,
    /// Holds the advisory lock (the lease) while the store lives.
    _lease: Option<Mutex<Client>>,
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

impl Postgres {
    pub(crate) fn open(url: &str, device: &str, target: i64, lease: bool) -> Result<Postgres> {
        let mut config: postgres::Config = url.parse()?;
        config.connect_timeout(Duration::from_secs(10));
        let mut first = config.connect(NoTls)?;
        migrate(&mut first, target)?;
        let lease_conn = if lease {
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
            Some(Mutex::new(first))
        } else {
            None
        };
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(30))
            .build(Manager(PostgresConnectionManager::new(config, NoTls)))?;
        Ok(Postgres {
            pool,
            device: device.to_owned(),
            _lease: lease_conn,
        })
    }

    pub(crate) fn with_tx(&self, body: &mut dyn FnMut(&mut dyn RawTx) -> bool) -> Result<()> {
        let mut conn = self.pool.get()?;
        let PgConn { client, statements } = &mut *conn;
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::Serializable)
            .start()?;
        let commit = body(&mut PgTx {
            tx: &mut tx,
            statements,
            device: &self.device,
        });
        if commit {
            tx.commit()?;
        }
        Ok(())
    }

    pub(crate) fn schema_version(&self) -> Result<i64> {
        let mut conn = self.pool.get()?;
        Ok(conn
            .client
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version",
                &[],
            )?
            .get(0))
    }
}

struct PgTx<'a, 'b> {
    tx: &'a mut postgres::Transaction<'b>,
    statements: &'a mut HashMap<String, Statement>,
    device: &'a str,
}

impl PgTx<'_, '_> {
    fn prepared(&mut self, sql: String) -> Result<Statement> {
        if let Some(s) = self.statements.get(&sql) {
            return Ok(s.clone());
        }
        let statement = self.tx.prepare(&sql)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }
}

impl RawTx for PgTx<'_, '_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let sql = format!(
            "SELECT v FROM {} WHERE device_id = $1 AND k = $2",
            table.name()
        );
        let stmt = self.prepared(sql)?;
        Ok(self
            .tx
            .query_opt(&stmt, &[&self.device, &key])?
            .map(|r| r.get(0)))
    }
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        let sql = format!(
            "INSERT INTO {} (device_id, k, v) VALUES ($1, $2, $3) \
             ON CONFLICT (device_id, k) DO UPDATE SET v = excluded.v",
            table.name()
        );
        let stmt = self.prepared(sql)?;
        self.tx.execute(&stmt, &[&self.device, &key, &value])?;
        Ok(())
    }
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool> {
        let sql = format!(
            "DELETE FROM {} WHERE device_id = $1 AND k = $2",
            table.name()
        );
        let stmt = self.prepared(sql)?;
        Ok(self.tx.execute(&stmt, &[&self.device, &key])? > 0)
    }
    fn scan(&mut self, table: Table) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let sql = format!(
            "SELECT k, v FROM {} WHERE device_id = $1 ORDER BY k",
            table.name()
        );
        let stmt = self.prepared(sql)?;
        Ok(self
            .tx
            .query(&stmt, &[&self.device])?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }
}
