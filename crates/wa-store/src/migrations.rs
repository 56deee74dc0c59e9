//! The schema and its versions. A database records each applied version in `schema_version`;
//! opening one applies the missing versions in order, in one transaction (SQLite: `BEGIN
//! IMMEDIATE`; PostgreSQL: under a transaction-scoped advisory lock), so two processes opening a
//! fresh database at once do not both migrate it. A database of a newer version is refused
//! ([`Error::SchemaTooNew`](crate::Error::SchemaTooNew)).
//!
//! - v1: one table per kind of state ([`Table`]), rows `(device_id, k, v)` keyed by
//!   `(device_id, k)`: every row belongs to one device, so one PostgreSQL database holds many.
//! - v2: `leases`: who drives a device (process id and host, since when), so a second driver's
//!   error names the first one; `decrypt_pending`: the hashes of undelivered decrypt-buffer
//!   entries, filled from the v1 buffer (byte 1 of a stored entry is its `delivered` flag), so
//!   listing what is pending no longer reads every delivered entry ever kept (with thousands of
//!   them that scan made each delivery slower: seen in the PostgreSQL crash soak).
//! - v3: `addressing`: the addressing mode (`pn` or `lid`) of each one-to-one chat, by the
//!   peer's phone-number user part, so that a reply after a restart goes out in the form the
//!   chat uses (WhatsApp moved most chats to LIDs). The LID map itself dates from v1; sessions
//!   move from phone-number to LID addresses row by row as LIDs become known, so v3 rewrites no
//!   existing row.
//! - v4: `sent_messages`: the messages we sent (recipient, plaintext, time, the retry receipts
//!   answered), by id, so that a retry receipt arriving after a restart can still be answered
//!   with a resend, and answered once. Bounded by age and count (pruned by the messenger); the
//!   plaintext is a secret, as the decrypt buffer's.

use crate::raw::Table;

/// The newest schema version this build knows.
pub const LATEST: i64 = 4;

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

    /// SQL true for a stored decrypt-buffer entry not delivered yet: value format 1, then the
    /// `delivered` byte 0.
    fn undelivered(self) -> &'static str {
        match self {
            Dialect::Sqlite => "substr(v, 1, 2) = X'0100'",
            Dialect::Postgres => "substring(v from 1 for 2) = '\\x0100'::bytea",
        }
    }
}

/// The bookkeeping table, created before any migration.
pub const SCHEMA_VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL PRIMARY KEY)";

/// A `(device_id, k, v)` table.
fn create_table(table: Table, dialect: Dialect) -> String {
    format!(
        "CREATE TABLE {} (device_id TEXT NOT NULL, k {blob} NOT NULL, v {blob} NOT NULL, \
         PRIMARY KEY (device_id, k))",
        table.name(),
        blob = dialect.blob()
    )
}

/// The statements of one migration.
pub fn statements(version: i64, dialect: Dialect) -> Vec<String> {
    match version {
        1 => Table::V1
            .iter()
            .map(|t| create_table(*t, dialect))
            .collect(),
        2 => vec![
            "CREATE TABLE leases (device_id TEXT NOT NULL PRIMARY KEY, holder TEXT NOT NULL, \
             acquired_at BIGINT NOT NULL)"
                .to_owned(),
            create_table(Table::DecryptPending, dialect),
            format!(
                "INSERT INTO decrypt_pending (device_id, k, v) SELECT device_id, k, {empty} \
                 FROM decrypt_buffer WHERE {undelivered}",
                empty = match dialect {
                    Dialect::Sqlite => "X''",
                    Dialect::Postgres => "''::bytea",
                },
                undelivered = dialect.undelivered()
            ),
        ],
        3 => vec![create_table(Table::Addressing, dialect)],
        4 => vec![create_table(Table::SentMessages, dialect)],
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
