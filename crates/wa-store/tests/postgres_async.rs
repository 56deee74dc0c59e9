//! The PostgreSQL store called from async code: opened, used and dropped on a tokio runtime's
//! own thread, under both runtime flavours (the synchronous driver alone panics there, see the
//! control), and erasing one device in a shared database leaves the others whole.

#![cfg(feature = "postgres")]
mod common;

use wa_core::md::store::{ContactStore as _, DeviceStore as _};
use wa_signal::IdentityStore as _;
use wa_store::{Store, Table};

/// Opens, writes, reads, drops and reopens a device's store on the calling thread, which is
/// inside a runtime: the reopen right after the drop proves the lease connection closed.
fn round_trip_on_this_thread(url: &str) {
    let device = common::fresh_device("async");
    let mut store = Store::open_postgres(url, &device).expect("open inside a runtime");
    store.save_device(b"blob").unwrap();
    assert_eq!(store.load_device().unwrap().as_deref(), Some(&b"blob"[..]));
    assert_eq!(
        store.schema_version().unwrap(),
        wa_store::migrations::LATEST
    );
    drop(store);
    let again = Store::open_postgres(url, &device).expect("lease free once dropped");
    assert_eq!(again.load_device().unwrap().as_deref(), Some(&b"blob"[..]));
}

#[tokio::test(flavor = "current_thread")]
async fn store_works_on_a_current_thread_runtime() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    round_trip_on_this_thread(&url);
    // And interleaved with the runtime's own work: a timer still fires between calls.
    let mut store = Store::open_postgres(&url, &common::fresh_device("async")).unwrap();
    for i in 0..20u8 {
        store.save_device(&[i]).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert_eq!(store.load_device().unwrap().as_deref(), Some(&[19u8][..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_works_on_multi_thread_workers() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    round_trip_on_this_thread(&url);
    // Many tasks on the workers share one store (up to its worker limit at once).
    let store =
        std::sync::Arc::new(Store::open_postgres(&url, &common::fresh_device("async")).unwrap());
    let tasks: Vec<_> = (0..16u32)
        .map(|i| {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .transaction(|tx| tx.store_contact(&format!("{i}@s"), &Default::default()))
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.transaction(|tx| tx.contacts()).unwrap().len(), 16);
}

/// The control: the synchronous driver used directly on a runtime thread panics, which is what
/// the store's connection threads avoid.
#[tokio::test(flavor = "current_thread")]
async fn control_the_bare_driver_panics_inside_a_runtime() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let bare = std::panic::catch_unwind(|| postgres::Client::connect(&url, postgres::NoTls));
    assert!(
        bare.is_err(),
        "the bare driver did not panic inside a runtime"
    );
}

#[test]
fn erasing_one_device_leaves_the_others() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let mut a = Store::open_postgres(&url, &common::fresh_device("erase-a")).unwrap();
    let mut b = Store::open_postgres(&url, &common::fresh_device("erase-b")).unwrap();
    wa_store::conformance::fill_every_table(&mut a);
    wa_store::conformance::fill_every_table(&mut b);
    let count = |s: &Store| -> usize {
        s.transaction(|tx| -> wa_store::Result<usize> {
            let mut n = 0;
            for t in Table::ALL {
                n += tx.raw_keys(t)?.len();
            }
            Ok(n)
        })
        .unwrap()
    };
    let b_before = count(&b);
    assert!(b_before >= Table::ALL.len());
    assert_eq!(
        a.erase_device().unwrap(),
        count(&b) as u64,
        "same fill, same count"
    );
    assert_eq!(count(&a), 0);
    assert_eq!(count(&b), b_before, "the other device untouched");
    assert!(b.local_identity().is_ok());
}

/// A transaction whose closure panics is rolled back and frees its connection: after more
/// panics than the store has connections, a transaction still runs (it would wait forever on
/// a leaked one), and none of the panicked writes is there.
#[test]
fn a_panicking_transaction_rolls_back_and_frees_its_connection() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let store =
        std::sync::Arc::new(Store::open_postgres(&url, &common::fresh_device("panic")).unwrap());
    for i in 0..12u8 {
        let store = std::sync::Arc::clone(&store);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _: Result<(), wa_store::Error> = store.transaction(|tx| {
                tx.store_contact(&format!("{i}@s"), &Default::default())
                    .map_err(wa_store::Error::from)?;
                panic!("the closure fails half way");
            });
        }));
        assert!(result.is_err());
    }
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let worker = std::sync::Arc::clone(&store);
    std::thread::spawn(move || {
        let _ = done_tx.send(worker.transaction(|tx| tx.contacts()));
    });
    let contacts = done_rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("a transaction after the panics runs")
        .unwrap();
    assert!(
        contacts.is_empty(),
        "a panicked write committed: {contacts:?}"
    );
}
