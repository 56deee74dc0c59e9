//! The one seam between the typed store and a backend: tables of (device, key, value) rows and
//! four operations on them inside a transaction. Every typed trait method is written once on
//! top of it ([`crate::tx`]); a backend only moves bytes.

use crate::error::Result;

/// A table. Each holds rows `(device_id, k, v)` with primary key `(device_id, k)`; the names are
/// fixed here (never built from input), so SQL built from them cannot be injected into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Single values: local identity, device blob, outbox sequence.
    Meta,
    /// Peers' identity keys.
    Identities,
    /// Session records.
    Sessions,
    /// One-time prekeys.
    PreKeys,
    /// Signed prekeys.
    SignedPreKeys,
    /// Sender-key records.
    SenderKeys,
    /// LID → phone number.
    LidToPn,
    /// Phone number → LID.
    PnToLid,
    /// App-state sync keys.
    AppStateKeys,
    /// App-state collection versions.
    AppStateVersions,
    /// The decrypt buffer.
    DecryptBuffer,
    /// The hashes of undelivered decrypt-buffer entries (v2): listing what is pending must not
    /// read every delivered entry ever kept.
    DecryptPending,
    /// The outbox.
    Outbox,
    /// Message secrets.
    MessageSecrets,
    /// Contacts.
    Contacts,
    /// Chats.
    Chats,
    /// The addressing mode (`pn` or `lid`) of each one-to-one chat, by phone-number user (v3).
    Addressing,
    /// Messages we sent, by id, kept to answer retry receipts (v4).
    SentMessages,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 18] = [
        Table::Meta,
        Table::Identities,
        Table::Sessions,
        Table::PreKeys,
        Table::SignedPreKeys,
        Table::SenderKeys,
        Table::LidToPn,
        Table::PnToLid,
        Table::AppStateKeys,
        Table::AppStateVersions,
        Table::DecryptBuffer,
        Table::DecryptPending,
        Table::Outbox,
        Table::MessageSecrets,
        Table::Contacts,
        Table::Chats,
        Table::Addressing,
        Table::SentMessages,
    ];

    /// The tables the v1 schema creates.
    pub const V1: [Table; 15] = [
        Table::Meta,
        Table::Identities,
        Table::Sessions,
        Table::PreKeys,
        Table::SignedPreKeys,
        Table::SenderKeys,
        Table::LidToPn,
        Table::PnToLid,
        Table::AppStateKeys,
        Table::AppStateVersions,
        Table::DecryptBuffer,
        Table::Outbox,
        Table::MessageSecrets,
        Table::Contacts,
        Table::Chats,
    ];

    /// The SQL table name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Identities => "identities",
            Table::Sessions => "sessions",
            Table::PreKeys => "pre_keys",
            Table::SignedPreKeys => "signed_pre_keys",
            Table::SenderKeys => "sender_keys",
            Table::LidToPn => "lid_to_pn",
            Table::PnToLid => "pn_to_lid",
            Table::AppStateKeys => "app_state_keys",
            Table::AppStateVersions => "app_state_versions",
            Table::DecryptBuffer => "decrypt_buffer",
            Table::DecryptPending => "decrypt_pending",
            Table::Outbox => "outbox",
            Table::MessageSecrets => "message_secrets",
            Table::Contacts => "contacts",
            Table::Chats => "chats",
            Table::Addressing => "addressing",
            Table::SentMessages => "sent_messages",
        }
    }

    /// Whether rows hold secrets (the backends wipe them from memory after use).
    pub fn is_secret(self) -> bool {
        matches!(
            self,
            Table::Meta
                | Table::Sessions
                | Table::PreKeys
                | Table::SignedPreKeys
                | Table::SenderKeys
                | Table::AppStateKeys
                | Table::DecryptBuffer
                | Table::MessageSecrets
                | Table::SentMessages
        )
    }
}

/// A backend's open transaction for one device. Nothing is visible to others before the backend
/// commits it; dropping it uncommitted rolls it back.
pub(crate) trait RawTx {
    /// A row's value.
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Inserts or replaces a row.
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()>;
    /// Deletes a row; whether there was one.
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool>;
    /// Every row of the device in the table, by key (bytewise order).
    fn scan(&mut self, table: Table) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Deletes every row of the device in the table; how many went. One statement on the SQL
    /// backends (logging out must not cost a round trip per row).
    fn clear(&mut self, table: Table) -> Result<u64>;
}
