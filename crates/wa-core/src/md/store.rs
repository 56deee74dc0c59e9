//! Store traits for the multi-device state that is not Signal's (those traits live in
//! `wa-signal::store`): the device credentials, LID ↔ phone-number mappings, app-state sync keys
//! and versions, the incoming decrypt buffer, the outbox, the sent messages kept for retry
//! receipts, message secrets, contacts and chats.
//!
//! # Why synchronous
//!
//! This crate is sans-IO: it has no executor and must not pick one for its users. The traits
//! are plain synchronous calls, as `wa-signal`'s are, so one backend value can implement both
//! families and a protocol step can run against them inside one database transaction (a
//! transaction handle cannot be held across `.await` points of an unknown executor without
//! pinning it to a thread). Async programs call a backend through its own shim (`wa-store`
//! runs each transaction on `tokio::task::spawn_blocking`).
//!
//! # Durability rules
//!
//! - Every `store_*`/`save_*`/`remove_*` call is atomic: after a crash the backend holds either
//!   the old value or the new one, whole.
//! - The decrypt buffer is the hand-over point between decryption and the application: a
//!   plaintext is buffered in the same transaction that stores the session state which
//!   consumed its message key, and its entry stays (without the plaintext) after delivery, so a
//!   redelivered ciphertext is recognised by its hash and never decrypted twice.
//! - An outbox entry is written in the same transaction that advanced the sending chain, so a
//!   ciphertext is sent (and re-sent after a crash) byte for byte; no message key is used twice.
//! - A sent message's record ([`SentMessageStore`]) is written in the same transaction that
//!   advanced its sending chains, so a message that left can always be answered with a resend,
//!   and a resend's recorded retry count commits with the session it used.

use std::fmt;

use zeroize::Zeroize;

/// A backend's failure. Nothing was committed by the call that returned it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MdStoreError(pub Box<dyn std::error::Error + Send + Sync>);

impl MdStoreError {
    /// Wraps a message.
    pub fn msg(text: impl Into<String>) -> MdStoreError {
        MdStoreError(text.into().into())
    }
}

/// Shorthand for the result of a store call.
pub type StoreResult<T> = Result<T, MdStoreError>;

/// The device's credentials, as one opaque versioned blob: its format belongs to whoever defines
/// the credentials; a store only keeps the bytes whole.
pub trait DeviceStore {
    /// Replaces the stored credentials.
    fn save_device(&mut self, blob: &[u8]) -> StoreResult<()>;
    /// The stored credentials, if the device was ever paired.
    fn load_device(&self) -> StoreResult<Option<Vec<u8>>>;
}

/// How a one-to-one chat is addressed on the wire (`addressing_mode`): by phone number or by LID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressingMode {
    /// `pn`: the chat uses the phone-number JID (`number@s.whatsapp.net`).
    Pn,
    /// `lid`: the chat uses the LID (`lid@lid`).
    Lid,
}

impl AddressingMode {
    /// The attribute value (`pn` or `lid`).
    pub fn as_str(self) -> &'static str {
        match self {
            AddressingMode::Pn => "pn",
            AddressingMode::Lid => "lid",
        }
    }

    /// Parses the attribute value; anything but `pn` and `lid` is `None`.
    pub fn parse(value: &str) -> Option<AddressingMode> {
        match value {
            "pn" => Some(AddressingMode::Pn),
            "lid" => Some(AddressingMode::Lid),
            _ => None,
        }
    }
}

/// LID ↔ phone-number mappings (user parts, without device or server), the addressing mode of
/// each one-to-one chat, and the one step that moves a session from a phone-number address to a
/// LID address.
pub trait LidStore {
    /// Records that `lid` and `pn` are the same user (replacing older mappings of either).
    fn store_lid_mapping(&mut self, lid: &str, pn: &str) -> StoreResult<()>;
    /// The phone number of a LID.
    fn pn_for_lid(&self, lid: &str) -> StoreResult<Option<String>>;
    /// The LID of a phone number.
    fn lid_for_pn(&self, pn: &str) -> StoreResult<Option<String>>;
    /// Records how the chat with `user` (a phone-number user part) is addressed (schema v3).
    fn store_addressing_mode(&mut self, user: &str, mode: AddressingMode) -> StoreResult<()>;
    /// How the chat with `user` is addressed, if a message ever said so.
    fn addressing_mode(&self, user: &str) -> StoreResult<Option<AddressingMode>>;
    /// Moves the Signal session and identity of `from` (a phone-number address) to `to` (the
    /// same device's LID address) in one atomic step, and deletes the `from` rows, so that a
    /// device never has two sessions. When `to` already has a session it is kept (it is the
    /// newer one) and only the `from` rows go. Returns whether a session moved.
    fn migrate_session(
        &mut self,
        from: &wa_signal::ProtocolAddress,
        to: &wa_signal::ProtocolAddress,
    ) -> StoreResult<bool>;
}

/// An app-state sync key (`AppStateSyncKeyShare`): secret, zeroized on drop, redacted in Debug.
#[derive(Clone, PartialEq, Eq)]
pub struct AppStateSyncKey {
    /// The key data (32 bytes in practice; kept as given).
    pub data: Vec<u8>,
    /// The key's fingerprint, as received.
    pub fingerprint: Vec<u8>,
    /// When it was created (milliseconds since the epoch).
    pub timestamp: i64,
}

impl Drop for AppStateSyncKey {
    fn drop(&mut self) {
        self.data.zeroize();
    }
}

impl fmt::Debug for AppStateSyncKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppStateSyncKey")
            .field("data", &"<redacted>")
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

/// Where one app-state collection is: its version and LT-hash (128 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppStateVersion {
    /// The collection's version.
    pub version: u64,
    /// The LT-hash of its content.
    pub hash: [u8; 128],
}

/// App-state sync keys (by key id) and collection versions (by collection name).
pub trait AppStateStore {
    /// Stores a sync key.
    fn store_sync_key(&mut self, key_id: &[u8], key: &AppStateSyncKey) -> StoreResult<()>;
    /// A sync key by id.
    fn sync_key(&self, key_id: &[u8]) -> StoreResult<Option<AppStateSyncKey>>;
    /// Stores a collection's version.
    fn store_app_state_version(&mut self, name: &str, version: &AppStateVersion)
    -> StoreResult<()>;
    /// A collection's version.
    fn app_state_version(&self, name: &str) -> StoreResult<Option<AppStateVersion>>;
}

/// A decrypted incoming message waiting for (or past) delivery to the application.
///
/// An entry goes through three states, each written in its own transaction: decrypted
/// (`handed == false`, `delivered == false`), handed to the application at least once
/// (`handed`, written *before* the hand-over, so a hand-over after a crash knows it may be a
/// second one), and acknowledged by the application (`delivered`, plaintext wiped,
/// `delivered_at` set). Only the last state is final; see [`DecryptBufferStore`].
#[derive(Clone, PartialEq, Eq)]
pub struct DecryptedMessage {
    /// The sender (JID).
    pub sender: String,
    /// The message id.
    pub id: String,
    /// The plaintext (empty once delivered: the entry then only remembers the hash).
    pub plaintext: Vec<u8>,
    /// Whether the application has acknowledged it.
    pub delivered: bool,
    /// Whether it was (possibly) handed to the application before: a later hand-over is then a
    /// redelivery.
    pub handed: bool,
    /// When the application acknowledged it (seconds since the epoch; 0 while pending, and for
    /// entries written before this field existed).
    pub delivered_at: u64,
}

impl DecryptedMessage {
    /// A freshly decrypted entry: neither handed over nor delivered.
    pub fn new(sender: &str, id: &str, plaintext: Vec<u8>) -> DecryptedMessage {
        DecryptedMessage {
            sender: sender.to_owned(),
            id: id.to_owned(),
            plaintext,
            delivered: false,
            handed: false,
            delivered_at: 0,
        }
    }
}

impl Drop for DecryptedMessage {
    fn drop(&mut self) {
        self.plaintext.zeroize();
    }
}

impl fmt::Debug for DecryptedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptedMessage")
            .field("sender", &self.sender)
            .field("id", &self.id)
            .field("plaintext_len", &self.plaintext.len())
            .field("delivered", &self.delivered)
            .field("handed", &self.handed)
            .field("delivered_at", &self.delivered_at)
            .finish()
    }
}

/// The SHA-256 of an incoming ciphertext: the decrypt buffer's key.
pub type CiphertextHash = [u8; 32];

/// How long an acknowledged entry is kept (as a tombstone without plaintext) before
/// [`DecryptBufferStore::prune_delivered`] may remove it: 30 days, the time WhatsApp's server
/// keeps an undelivered message in its offline queue. Within it, a redelivered ciphertext is
/// recognised by its hash (answered with a receipt, not decrypted, not handed over again);
/// after it, the Signal session refuses the consumed message key anyway.
pub const DELIVERED_KEEP_SECS: u64 = 30 * 24 * 3600;

/// The incoming decrypt buffer, keyed by the hash of the ciphertext.
///
/// The hand-over contract: an entry is pending from its decryption until the application
/// acknowledges it ([`DecryptBufferStore::mark_delivered`]); pending entries are handed over
/// again after a restart, flagged as redeliveries when [`DecryptBufferStore::mark_handed`] ran
/// before. So every message reaches the application at least once, a second hand-over is
/// always flagged, and a ciphertext is decrypted once.
pub trait DecryptBufferStore {
    /// Buffers a decrypted message (replacing an entry with the same hash).
    fn buffer_decrypted(
        &mut self,
        hash: &CiphertextHash,
        message: &DecryptedMessage,
    ) -> StoreResult<()>;
    /// The entry for a ciphertext, delivered or not.
    fn decrypted(&self, hash: &CiphertextHash) -> StoreResult<Option<DecryptedMessage>>;
    /// Entries not delivered yet, in hash order.
    fn undelivered(&self) -> StoreResult<Vec<(CiphertextHash, DecryptedMessage)>>;
    /// Records that an entry is about to be handed to the application (its plaintext stays);
    /// false if there is none.
    fn mark_handed(&mut self, hash: &CiphertextHash) -> StoreResult<bool>;
    /// Marks an entry delivered (acknowledged by the application at `now_secs`, seconds since
    /// the epoch) and wipes its plaintext; false if there is none.
    fn mark_delivered(&mut self, hash: &CiphertextHash, now_secs: u64) -> StoreResult<bool>;
    /// Removes delivered entries acknowledged before `before_secs` (pending entries always
    /// stay); returns how many went. See [`DELIVERED_KEEP_SECS`] for the window to keep.
    fn prune_delivered(&mut self, before_secs: u64) -> StoreResult<usize>;
}

/// What an outbox entry carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboxKind {
    /// An encrypted message (the payload is its ciphertext, framed as the sender chose).
    Message,
    /// A receipt for a received message (the payload is the message id).
    Receipt,
}

/// A stanza to send, written before it leaves so it survives a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Message or receipt.
    pub kind: OutboxKind,
    /// The recipient (JID).
    pub to: String,
    /// What to send (see [`OutboxKind`]).
    pub payload: Vec<u8>,
}

/// The outbox: entries numbered by a sequence the store never reuses.
pub trait OutboxStore {
    /// Adds an entry; returns its sequence number (strictly increasing, never reused).
    fn enqueue_outbox(&mut self, entry: &OutboxEntry) -> StoreResult<u64>;
    /// Entries not removed yet, oldest first.
    fn outbox(&self) -> StoreResult<Vec<(u64, OutboxEntry)>>;
    /// Removes a sent entry; false if there was none.
    fn remove_outbox(&mut self, seq: u64) -> StoreResult<bool>;
}

/// How long a sent message is kept to answer retry receipts: 7 days. A peer device that was
/// offline asks (with a retry receipt) when it finally fails to decrypt; after a week the chance
/// of that is small, and the plaintext should not stay on disk longer than it helps.
pub const SENT_KEEP_SECS: u64 = 7 * 24 * 3600;

/// How many sent messages are kept at most (the newest), whatever their age: the bound on the
/// plaintext kept on disk for resends.
pub const SENT_KEEP_COUNT: usize = 2048;

/// Resends recorded per sent message at most (one entry per device that asked): a receipt
/// naming more devices than an account can have is not worth keeping.
pub const MAX_RESEND_DEVICES: usize = 64;

/// A message we sent, kept so that a retry receipt (a device that could not decrypt it) can be
/// answered after a restart: the plaintext is re-encrypted in a fresh session. Secret: the
/// plaintext is zeroized on drop and redacted in Debug.
#[derive(Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The chat it went to (the `to` of the `message` stanza).
    pub to: String,
    /// The encoded `wa_proto` `Message` (the plaintext, before padding).
    pub message: Vec<u8>,
    /// When it was sent (seconds since the epoch).
    pub sent_at: u64,
    /// The retry receipts answered, per device JID: the highest `count` answered. A retry with a
    /// count not above it is a duplicate and gets no second resend.
    pub resends: Vec<(String, u32)>,
}

impl SentMessage {
    /// The highest retry count answered for `device` (0 if none).
    pub fn resent_to(&self, device: &str) -> u32 {
        self.resends
            .iter()
            .find(|(d, _)| d == device)
            .map_or(0, |(_, c)| *c)
    }

    /// Records that the retry `count` of `device` was answered; false (nothing changed) when
    /// the list is full ([`MAX_RESEND_DEVICES`]) and `device` is not in it.
    pub fn record_resend(&mut self, device: &str, count: u32) -> bool {
        if let Some(entry) = self.resends.iter_mut().find(|(d, _)| d == device) {
            entry.1 = entry.1.max(count);
            return true;
        }
        if self.resends.len() >= MAX_RESEND_DEVICES {
            return false;
        }
        self.resends.push((device.to_owned(), count));
        true
    }
}

impl Drop for SentMessage {
    fn drop(&mut self) {
        self.message.zeroize();
    }
}

impl fmt::Debug for SentMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentMessage")
            .field("to", &self.to)
            .field("message", &"<redacted>")
            .field("sent_at", &self.sent_at)
            .field("resends", &self.resends)
            .finish()
    }
}

/// The sent-message outbox (schema v4): what we sent, by message id, for answering retry
/// receipts after a restart. Written in the same transaction that advanced the sending chains
/// of the send (see [`crate::md::ReceiveStore::encrypt_and_record`]).
pub trait SentMessageStore {
    /// Stores (replaces) the record of message `id`.
    fn store_sent_message(&mut self, id: &str, message: &SentMessage) -> StoreResult<()>;
    /// The record of message `id`.
    fn sent_message(&self, id: &str) -> StoreResult<Option<SentMessage>>;
    /// Removes records sent before `before_secs`, then the oldest beyond the newest `keep`;
    /// returns how many went.
    fn prune_sent_messages(&mut self, before_secs: u64, keep: usize) -> StoreResult<usize>;
}

/// Message secrets (`messageContextInfo.messageSecret`, for polls, reactions, edits), per
/// (chat, sender, message id).
pub trait MessageSecretStore {
    /// Stores a secret.
    fn store_message_secret(
        &mut self,
        chat: &str,
        sender: &str,
        id: &str,
        secret: &[u8; 32],
    ) -> StoreResult<()>;
    /// A secret.
    fn message_secret(&self, chat: &str, sender: &str, id: &str) -> StoreResult<Option<[u8; 32]>>;
}

/// A contact.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contact {
    /// The name in the address book.
    pub name: Option<String>,
    /// The name the contact chose (push name).
    pub notify: Option<String>,
}

/// Contacts by JID.
pub trait ContactStore {
    /// Stores (replaces) a contact.
    fn store_contact(&mut self, jid: &str, contact: &Contact) -> StoreResult<()>;
    /// A contact.
    fn contact(&self, jid: &str) -> StoreResult<Option<Contact>>;
    /// Every contact, by JID.
    fn contacts(&self) -> StoreResult<Vec<(String, Contact)>>;
}

/// A chat's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chat {
    /// Its name (groups) or none.
    pub name: Option<String>,
    /// Unread messages.
    pub unread: u32,
    /// Archived.
    pub archived: bool,
    /// Muted until (seconds since the epoch; 0 = not muted).
    pub muted_until: i64,
    /// Time of the last message (seconds since the epoch).
    pub last_message_at: i64,
}

/// Chats by JID.
pub trait ChatStore {
    /// Stores (replaces) a chat.
    fn store_chat(&mut self, jid: &str, chat: &Chat) -> StoreResult<()>;
    /// A chat.
    fn chat(&self, jid: &str) -> StoreResult<Option<Chat>>;
    /// Every chat, by JID.
    fn chats(&self) -> StoreResult<Vec<(String, Chat)>>;
    /// Removes a chat; false if there was none.
    fn remove_chat(&mut self, jid: &str) -> StoreResult<bool>;
}

/// Everything MD needs besides the Signal stores.
pub trait MdStores:
    DeviceStore
    + LidStore
    + AppStateStore
    + DecryptBufferStore
    + OutboxStore
    + SentMessageStore
    + MessageSecretStore
    + ContactStore
    + ChatStore
{
}
impl<T> MdStores for T where
    T: DeviceStore
        + LidStore
        + AppStateStore
        + DecryptBufferStore
        + OutboxStore
        + SentMessageStore
        + MessageSecretStore
        + ContactStore
        + ChatStore
{
}
