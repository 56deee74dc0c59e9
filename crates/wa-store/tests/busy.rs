//! SQLITE_BUSY: a naive store (deferred transactions, read then write, no retry) gets it from
//! two connections on one file; ours, with many threads and async tasks on one file, never lets
//! it reach the caller.

#![cfg(feature = "sqlite")]

use std::sync::Arc;

use rusqlite::{Connection, TransactionBehavior};
use wa_core::md::store::{ChatStore as _, OutboxEntry, OutboxKind, OutboxStore as _};
use wa_store::{Error, Store};

/// The control: the hazard is real on this SQLite. Two deferred transactions both read, then
/// both try to write: the second upgrade fails with SQLITE_BUSY at once (waiting could not help:
/// the first writer waits for the second reader), whatever the busy timeout.
#[test]
fn a_naive_store_gets_sqlite_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("naive.db");
    let mut a = Connection::open(&path).unwrap();
    let mut b = Connection::open(&path).unwrap();
    a.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    a.execute_batch(
        "CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (1, 0)",
    )
    .unwrap();
    for c in [&a, &b] {
        c.busy_timeout(std::time::Duration::from_millis(200))
            .unwrap();
    }
    let ta = a
        .transaction_with_behavior(TransactionBehavior::Deferred)
        .unwrap();
    let tb = b
        .transaction_with_behavior(TransactionBehavior::Deferred)
        .unwrap();
    let _: i64 = ta
        .query_row("SELECT v FROM t WHERE k = 1", [], |r| r.get(0))
        .unwrap();
    let _: i64 = tb
        .query_row("SELECT v FROM t WHERE k = 1", [], |r| r.get(0))
        .unwrap();
    ta.execute("UPDATE t SET v = v + 1 WHERE k = 1", [])
        .unwrap();
    ta.commit().unwrap();
    let err = tb
        .execute("UPDATE t SET v = v + 1 WHERE k = 1", [])
        .unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy),
        "naive read-then-write: {err}"
    );
}

fn bump(store: &Store, who: u32) -> Result<u64, Error> {
    store.transaction(|tx| -> Result<u64, Error> {
        let mut chat = tx.chat("c@s")?.unwrap_or_default();
        chat.unread += 1;
        tx.store_chat("c@s", &chat)?;
        Ok(tx.enqueue_outbox(&OutboxEntry {
            kind: OutboxKind::Receipt,
            to: who.to_string(),
            payload: Vec::new(),
        })?)
    })
}

#[test]
fn many_threads_on_one_file_see_no_busy_error() {
    const THREADS: u32 = 16;
    const EACH: u32 = 40;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_sqlite(dir.path().join("wa.db")).unwrap());
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for _ in 0..EACH {
                    bump(&store, t).expect("no error reaches the user");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(store.chat("c@s").unwrap().unwrap().unread, THREADS * EACH);
    assert_eq!(store.outbox().unwrap().len(), (THREADS * EACH) as usize);
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_async_tasks_on_one_file_see_no_busy_error() {
    const TASKS: u32 = 32;
    const EACH: u32 = 10;
    let dir = tempfile::tempdir().unwrap();
    let store = wa_store::AsyncStore::new(Store::open_sqlite(dir.path().join("wa.db")).unwrap());
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..EACH {
                    store
                        .transaction(move |tx| -> Result<(), Error> {
                            let mut chat = tx.chat("c@s")?.unwrap_or_default();
                            chat.unread += 1;
                            tx.store_chat("c@s", &chat)?;
                            let _ = t;
                            Ok(())
                        })
                        .await
                        .expect("no error reaches the user");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.0.chat("c@s").unwrap().unwrap().unread, TASKS * EACH);
}
