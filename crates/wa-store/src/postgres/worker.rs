//! One PostgreSQL connection on a thread of its own (see the parent module for why): it
//! receives a transaction's row operations over a channel, runs them on its connection and
//! answers each one. The connection is made on the first transaction and made again after it
//! broke; its prepared statements are cached (each SQL text is prepared once per connection,
//! not once per use: half the round trips).

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender};

use postgres::{Client, IsolationLevel, NoTls, Statement};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::raw::Table;

/// What the transaction asks of the worker.
pub(super) enum Request {
    /// Start a `SERIALIZABLE` transaction (connecting first if needed).
    Begin,
    /// A row's value.
    Get(Table, Vec<u8>),
    /// Insert or replace a row (the value may be secret: wiped once sent).
    Put(Table, Vec<u8>, Zeroizing<Vec<u8>>),
    /// Delete a row; answers how many went.
    Delete(Table, Vec<u8>),
    /// Every row of the device in a table.
    Scan(Table),
    /// Delete every row of the device in a table; answers how many went.
    Clear(Table),
    /// Commit the open transaction.
    Commit,
    /// Roll the open transaction back.
    Rollback,
    /// Outside a transaction: the schema version.
    SchemaVersion,
}

/// The worker's answer to one request.
pub(super) enum Reply {
    /// `Begin`, `Put`, `Commit`, `Rollback`.
    Unit(Result<()>),
    /// `Get`.
    Value(Result<Option<Vec<u8>>>),
    /// `Delete`, `Clear`, `SchemaVersion`.
    Count(Result<u64>),
    /// `Scan`.
    Rows(Result<Vec<(Vec<u8>, Vec<u8>)>>),
}

/// The caller's handle on a worker thread. Dropping it ends the thread (rolling back a
/// transaction left open).
pub(super) struct Worker {
    requests: Sender<Request>,
    replies: Receiver<Reply>,
}

impl Worker {
    /// Starts a worker thread for `device`'s rows (it connects on the first `Begin`).
    pub(super) fn spawn(config: postgres::Config, device: String) -> Result<Worker> {
        let (requests, requests_rx) = mpsc::channel();
        let (replies_tx, replies) = mpsc::channel();
        std::thread::Builder::new()
            .name("wa-store-pg".into())
            .spawn(move || {
                Connection {
                    config,
                    device,
                    client: None,
                    statements: HashMap::new(),
                }
                .serve(&requests_rx, &replies_tx);
            })?;
        Ok(Worker { requests, replies })
    }

    /// Sends one request and waits for its answer.
    pub(super) fn call(&self, request: Request) -> Result<Reply> {
        let gone = || Error::Inner("the postgres connection thread stopped".into());
        self.requests.send(request).map_err(|_| gone())?;
        self.replies.recv().map_err(|_| gone())
    }
}

/// The worker thread's state.
struct Connection {
    config: postgres::Config,
    device: String,
    client: Option<Client>,
    statements: HashMap<String, Statement>,
}

impl Connection {
    /// Serves requests until the handle is dropped.
    fn serve(&mut self, requests: &Receiver<Request>, replies: &Sender<Reply>) {
        while let Ok(request) = requests.recv() {
            let reply = match request {
                Request::Begin => match self.transaction(requests, replies) {
                    Ok(()) => continue,
                    // The handle went away mid-transaction: the transaction was rolled back.
                    Err(Gone) => return,
                },
                Request::SchemaVersion => Reply::Count(self.schema_version()),
                _ => Reply::Unit(Err(Error::Inner(
                    "a row operation outside a transaction".into(),
                ))),
            };
            if replies.send(reply).is_err() {
                return;
            }
        }
    }

    fn schema_version(&mut self) -> Result<u64> {
        let version: i64 = connected(&self.config, &mut self.client, &mut self.statements)?
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version",
                &[],
            )?
            .get(0);
        Ok(u64::try_from(version).unwrap_or(0))
    }

    /// Runs one transaction: answers `Begin`, then each row operation, until `Commit` or
    /// `Rollback` has been answered.
    fn transaction(
        &mut self,
        requests: &Receiver<Request>,
        replies: &Sender<Reply>,
    ) -> Result<(), Gone> {
        let Connection {
            config,
            device,
            client,
            statements,
        } = self;
        let client = match connected(config, client, statements) {
            Ok(client) => client,
            Err(e) => return send(replies, Reply::Unit(Err(e))),
        };
        let started = client
            .build_transaction()
            .isolation_level(IsolationLevel::Serializable)
            .start();
        let mut tx = match started {
            Ok(tx) => tx,
            Err(e) => return send(replies, Reply::Unit(Err(e.into()))),
        };
        send(replies, Reply::Unit(Ok(())))?;
        let mut rows = Rows {
            tx: &mut tx,
            statements,
            device,
        };
        loop {
            let request = requests.recv().map_err(|_| Gone)?;
            let reply = match request {
                Request::Get(table, key) => Reply::Value(rows.get(table, &key)),
                Request::Put(table, key, value) => Reply::Unit(rows.put(table, &key, &value)),
                Request::Delete(table, key) => Reply::Count(rows.delete(table, &key)),
                Request::Scan(table) => Reply::Rows(rows.scan(table)),
                Request::Clear(table) => Reply::Count(rows.clear(table)),
                Request::Commit => {
                    return send(replies, Reply::Unit(tx.commit().map_err(Error::from)));
                }
                Request::Rollback => {
                    return send(replies, Reply::Unit(tx.rollback().map_err(Error::from)));
                }
                Request::Begin | Request::SchemaVersion => Reply::Unit(Err(Error::Inner(
                    "a request that needs no open transaction inside one".into(),
                ))),
            };
            send(replies, reply)?;
        }
    }
}

/// The connection, made (again) when missing or broken; a new connection starts with no
/// prepared statements.
fn connected<'c>(
    config: &postgres::Config,
    client: &'c mut Option<Client>,
    statements: &mut HashMap<String, Statement>,
) -> Result<&'c mut Client> {
    if client.as_ref().is_none_or(Client::is_closed) {
        *client = None;
        statements.clear();
        *client = Some(config.connect(NoTls)?);
    }
    client
        .as_mut()
        .ok_or_else(|| Error::Inner("no postgres connection".into()))
}

/// The handle is gone: nobody waits for answers any more.
struct Gone;

fn send(replies: &Sender<Reply>, reply: Reply) -> Result<(), Gone> {
    replies.send(reply).map_err(|_| Gone)
}

/// The row operations on an open transaction.
struct Rows<'a, 'b> {
    tx: &'a mut postgres::Transaction<'b>,
    statements: &'a mut HashMap<String, Statement>,
    device: &'a str,
}

impl Rows<'_, '_> {
    fn prepared(&mut self, sql: String) -> Result<Statement> {
        if let Some(s) = self.statements.get(&sql) {
            return Ok(s.clone());
        }
        let statement = self.tx.prepare(&sql)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

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

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<u64> {
        let sql = format!(
            "DELETE FROM {} WHERE device_id = $1 AND k = $2",
            table.name()
        );
        let stmt = self.prepared(sql)?;
        Ok(self.tx.execute(&stmt, &[&self.device, &key])?)
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

    fn clear(&mut self, table: Table) -> Result<u64> {
        let sql = format!("DELETE FROM {} WHERE device_id = $1", table.name());
        let stmt = self.prepared(sql)?;
        Ok(self.tx.execute(&stmt, &[&self.device])?)
    }
}
