//! Corrupt rows read back as errors, never panics: every row of a filled store is overwritten
//! with each truncation of a valid value (and some junk), then every read path runs.

#![cfg(feature = "memory")]

use wa_store::{Error, Store, filled};

fn corrupt_everything(store: &Store) {
    store.transaction(filled::fill).unwrap();
    let valid = store
        .transaction(|tx| Ok::<_, Error>(filled::read_all(tx)))
        .unwrap();
    assert_eq!(valid, 26, "all read paths succeed on valid rows");
    let mut junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![1],
        vec![1, 0xff, 0xff, 0xff, 0xff],
        vec![2; 40],
    ];
    junk.extend((0..40).map(|n| {
        let mut v = vec![1u8];
        v.extend(std::iter::repeat_n(0xAB, n));
        v
    }));
    for value in junk {
        // Each overwrite in a transaction that is rolled back, so every round starts valid.
        let ok = store.transaction(|tx| -> Result<usize, Error> {
            filled::overwrite_all(tx, &value)?;
            let n = filled::read_all(tx);
            Err(Error::Inner(n.to_string()))
        });
        let Err(Error::Inner(n)) = ok else {
            panic!("rolled back")
        };
        let n: usize = n.parse().unwrap();
        assert!(n < 26, "some read path must notice {value:?}");
    }
}

#[cfg(feature = "memory")]
#[test]
fn memory_corrupt_rows_are_errors() {
    corrupt_everything(&Store::memory());
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_corrupt_rows_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    corrupt_everything(&Store::open_sqlite(dir.path().join("wa.db")).unwrap());
}

/// Found by the `store_values` fuzz target: a stored outbox counter at `u64::MAX` (bytes
/// `01 ff ff ff ff ff ff ff ff`) overflowed on the next enqueue; it is a corrupt row now.
#[cfg(feature = "memory")]
#[test]
fn exhausted_outbox_counter_is_corrupt_not_a_panic() {
    use wa_core::md::store::{OutboxEntry, OutboxKind, OutboxStore as _};
    let mut store = Store::memory();
    let entry = OutboxEntry {
        kind: OutboxKind::Receipt,
        to: "a".into(),
        payload: vec![],
    };
    store.enqueue_outbox(&entry).unwrap();
    store
        .transaction(|tx| {
            let keys = tx.raw_keys(wa_store::Table::Meta)?;
            assert_eq!(keys.len(), 1, "only the counter");
            tx.put_raw(
                wa_store::Table::Meta,
                &keys[0],
                &[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            )
        })
        .unwrap();
    let err = store.enqueue_outbox(&entry).unwrap_err();
    assert!(err.to_string().contains("outbox sequence"), "{err}");
}

/// A closure that swallows a backend error (here: a table dropped behind the store's back) and
/// returns `Ok` commits nothing and gets an error: part of what it meant to write is missing,
/// and PostgreSQL would have turned the COMMIT of its aborted transaction into a rollback.
#[cfg(feature = "sqlite")]
#[test]
fn a_swallowed_backend_error_commits_nothing() {
    use wa_core::md::store::{ChatStore as _, DeviceStore as _};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa.db");
    let mut store = Store::open_sqlite(&path).unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("DROP TABLE chats").unwrap();
    drop(other);
    let result = store.transaction(|tx| -> Result<(), Error> {
        tx.save_device(b"written before the failure")?;
        let failed = tx.chat("a@s");
        assert!(failed.is_err(), "the dropped table fails the read");
        Ok(())
    });
    assert!(result.is_err(), "swallowed failure reported");
    assert_eq!(store.load_device().unwrap(), None, "nothing committed");
    store.save_device(b"x").unwrap();
}
