//! The schema and its versions. A database records each applied version in `schema_version`;
//! opening one applies the missing versions in order, in one transaction (SQLite: `BEGIN
//! IMMEDIATE`; PostgreSQL: under a transaction-scoped advisory lock), so two processes opening a
//! fresh database at once do not both migrate it. A database of a newer version is refused
//! ([`Error::SchemaTooNew`](crate::Error::SchemaTooNew)).
//!
//! - v1: one table per kind of state ([`Table`]), rows `(device_id, k, v)` keyed by
//!   `(device_id, k)`: every row belongs to one device, so one PostgreSQL database holds many.
//! - v2: `leases`: who drives a device (process id and host, since when), so a second driver's
//!   error names the first one.

use crate::raw::Table;

/// The newest schema version this build knows.
pub const LATEST: i64 = 2;

/// The SQL dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.
    Sqlite,
    /// PostgreSQL (13 and later).
    Postgres,
}

impl Dialect {
    fn blob(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BLOB",
            Dialect::Postgres => "BYTEA",
        }
    }
}

/// The bookkeeping table, created before any migration.
pub const SCHEMA_VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL PRIMARY KEY)";

/// The statements of one migration.
pub fn statements(version: i64, dialect: Dialect) -> Vec<String> {
    match version {
        1 => Table::ALL
            .iter()
            .map(|t| {
                format!(
                    "CREATE TABLE {} (device_id TEXT NOT NULL, k {blob} NOT NULL, \
                     v {blob} NOT NULL, PRIMARY KEY (device_id, k))",
                    t.name(),
                    blob = dialect.blob()
                )
            })
            .collect(),
        2 => vec![
            "CREATE TABLE leases (device_id TEXT NOT NULL PRIMARY KEY, holder TEXT NOT NULL, \
             acquired_at BIGINT NOT NULL)"
                .to_owned(),
        ],
        _ => Vec::new(),
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// Who we are, for the lease row: process id and host name.
pub(crate) fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".to_owned());
    format!("pid {} on {host}", std::process::id())
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// Seconds since the epoch (0 if the clock is before it).
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
