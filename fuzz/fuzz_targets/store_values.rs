//! Values read back from the database never panic: arbitrary bytes go through every value
//! decoder, then replace every row of a filled in-memory store (one valid row per table, as a
//! corrupted or hostile database file would hold them) before every read path of the store
//! traits runs. Errors are expected; a panic or an allocation of a claimed length is the bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_store::{Error, Store, codec, filled};

fuzz_target!(|data: &[u8]| {
    let _ = codec::decode_any(data);
    let store = Store::memory();
    store.transaction(filled::fill).expect("fill");
    let _ = store.transaction(|tx| -> Result<usize, Error> {
        filled::overwrite_all(tx, data)?;
        Ok(filled::read_all(tx))
    });
});
