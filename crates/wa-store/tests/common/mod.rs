//! Helpers shared by the test binaries: fresh stores per backend.

#![allow(dead_code, unused_imports)]

use std::sync::atomic::{AtomicU32, Ordering};

use wa_store::Store;

#[cfg(feature = "sqlite")]
/// A fresh SQLite store in a directory of its own (kept: tests may reopen it).
pub fn sqlite() -> Option<Store> {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    Some(Store::open_sqlite(dir.join("wa.db")).expect("open sqlite"))
}

/// The PostgreSQL URL, or `None` after printing why the test is skipped.
pub fn postgres_url() -> Option<String> {
    match std::env::var("WA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "skipped: WA_TEST_POSTGRES_URL is not set (`cargo xtask ci` starts a PostgreSQL \
                 server and sets it)"
            );
            None
        }
    }
}

static DEVICES: AtomicU32 = AtomicU32::new(0);

/// A device id no other test run uses.
pub fn fresh_device(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        DEVICES.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh device's store in the shared PostgreSQL database, or `None` (skipped).
#[cfg(feature = "postgres")]
pub fn postgres() -> Option<Store> {
    let url = postgres_url()?;
    Some(Store::open_postgres(&url, &fresh_device("conf")).expect("open postgres"))
}
