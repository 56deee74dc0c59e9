//! Values read back from the database never panic: arbitrary bytes go through every value
//! decoder, then are written as the value of every row of a filled in-memory store (one row per
//! table, under the keys a real store uses, as a corrupted or hostile database file would hold
//! them) before every read path of the store traits runs. Errors are expected; a panic or an
//! allocation of a claimed length is the bug.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wa_store::{Error, Store, Table, codec, filled};

fn keys() -> &'static [(Table, Vec<u8>)] {
    static KEYS: OnceLock<Vec<(Table, Vec<u8>)>> = OnceLock::new();
    KEYS.get_or_init(|| filled::keys().expect("keys of a filled store"))
}

fuzz_target!(|data: &[u8]| {
    let _ = codec::decode_any(data);
    let store = Store::memory();
    let _ = store.transaction(|tx| -> Result<usize, Error> {
        for (table, key) in keys() {
            tx.put_raw(*table, key, data)?;
        }
        Ok(filled::read_all(tx))
    });
});
