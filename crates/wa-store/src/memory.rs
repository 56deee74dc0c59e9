//! The in-memory backend: a map behind a mutex. A transaction holds the mutex and collects its
//! writes aside; they are applied on commit, dropped on rollback.

use std::collections::BTreeMap;
use std::sync::Mutex;

use zeroize::Zeroize;

use crate::error::Result;
use crate::raw::{RawTx, Table};

type Rows = BTreeMap<(Table, Vec<u8>), Vec<u8>>;

/// The rows of one device.
#[derive(Default)]
pub(crate) struct Memory {
    rows: Mutex<Rows>,
}

impl Drop for Memory {
    fn drop(&mut self) {
        if let Ok(rows) = self.rows.get_mut() {
            rows.values_mut().for_each(Zeroize::zeroize);
        }
    }
}

struct MemTx<'a> {
    base: &'a Rows,
    writes: BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>>,
}

impl RawTx for MemTx<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let k = (table, key.to_vec());
        Ok(match self.writes.get(&k) {
            Some(w) => w.clone(),
            None => self.base.get(&k).cloned(),
        })
    }
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.writes
            .insert((table, key.to_vec()), Some(value.to_vec()));
        Ok(())
    }
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool> {
        let existed = self.get(table, key)?.is_some();
        self.writes.insert((table, key.to_vec()), None);
        Ok(existed)
    }
    fn scan(&mut self, table: Table) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = self
            .base
            .range((table, Vec::new())..)
            .take_while(|((t, _), _)| *t == table)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect();
        for ((t, k), w) in &self.writes {
            if *t == table {
                match w {
                    Some(v) => merged.insert(k.clone(), v.clone()),
                    None => merged.remove(k),
                };
            }
        }
        Ok(merged.into_iter().collect())
    }
    fn clear(&mut self, table: Table) -> Result<u64> {
        let rows = self.scan(table)?;
        let gone = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        for (key, mut value) in rows {
            value.zeroize();
            self.writes.insert((table, key), None);
        }
        Ok(gone)
    }
}

impl Memory {
    pub(crate) fn with_tx(&self, body: &mut dyn FnMut(&mut dyn RawTx) -> bool) -> Result<()> {
        // A panic in another transaction poisons nothing we rely on: writes are applied only
        // after the body returned, so the map is never half-updated.
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        let mut tx = MemTx {
            base: &rows,
            writes: BTreeMap::new(),
        };
        if body(&mut tx) {
            let writes = std::mem::take(&mut tx.writes);
            for (k, w) in writes {
                let old = match w {
                    Some(v) => rows.insert(k, v),
                    None => rows.remove(&k),
                };
                if let Some(mut old) = old {
                    old.zeroize();
                }
            }
        }
        Ok(())
    }
}
