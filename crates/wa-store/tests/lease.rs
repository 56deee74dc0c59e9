//! The lease: one driver per device; a second opener gets a typed error naming the first; the
//! lease ends with its store (and, see tests/crash.rs, with its process).

#![cfg(any(feature = "sqlite", feature = "postgres"))]
mod common;

use wa_store::{Error, Store};

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_second_opener_gets_lease_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa.db");
    let first = Store::open_sqlite(&path).unwrap();
    match Store::open_sqlite(&path) {
        Err(Error::LeaseHeld { holder, .. }) => {
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "holder names us: {holder}"
            );
        }
        other => panic!("second opener: {other:?}"),
    }
    drop(first);
    Store::open_sqlite(&path).expect("lease released with the store");
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_file_and_lock_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa.db");
    let store = Store::open_sqlite(&path).unwrap();
    store
        .set_local_identity(&wa_signal::KeyPair::from_private_bytes([3; 32]), 7)
        .unwrap();
    for name in ["wa.db", "wa.db-lock", "wa.db-wal"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} mode {mode:o}");
    }
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_one_driver_per_device_many_devices_per_database() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let device = common::fresh_device("lease");
    let first = Store::open_postgres(&url, &device).unwrap();
    match Store::open_postgres(&url, &device) {
        Err(Error::LeaseHeld { device: d, holder }) => {
            assert_eq!(d, device);
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "{holder}"
            );
        }
        other => panic!("second driver: {other:?}"),
    }
    // Another device in the same database is independent.
    let other = Store::open_postgres(&url, &common::fresh_device("lease")).unwrap();
    use wa_core::md::store::DeviceStore as _;
    let (mut first, mut other) = (first, other);
    first.save_device(b"first").unwrap();
    other.save_device(b"other").unwrap();
    assert_eq!(first.load_device().unwrap().as_deref(), Some(&b"first"[..]));
    assert_eq!(other.load_device().unwrap().as_deref(), Some(&b"other"[..]));
    drop(first);
    let again = Store::open_postgres(&url, &device).expect("lease released with the store");
    assert_eq!(again.load_device().unwrap().as_deref(), Some(&b"first"[..]));
}
