//! Messaging over the legacy protocol, sans-IO: typed incoming events ([`incoming`]), every
//! request with its metric and flags ([`request`]), message construction ([`compose`]), and the
//! state that makes delivery reliable: the persistent [`Outbox`] (resend with the same id until
//! the server acks) and [`SeenIds`] (drop duplicate deliveries, bounded memory).

pub mod compose;
pub mod incoming;
pub mod messenger;
pub mod reply;
pub mod request;

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand_core::RngCore;
use serde::{Deserialize, Serialize};
use wa_proto::WebMessageInfo;
use wa_proto::prost::Message as _;

use crate::session::{MemoryStore, StoreError};

pub use incoming::{
    AckLevel, BatteryInfo, ChatEvent, ChatInfo, ContactInfo, GroupChange, MessageAck, MessageBatch,
    MessageKind, PresenceUpdate, map_cmd, map_json, map_node,
};
pub use messenger::{
    FIRST_DEFERRED_RETRY, MAX_DEFERRED_RESENDS, MAX_DEFERRED_RETRY, MAX_MESSAGE_LEN,
    MAX_UNANSWERED_RELAYS, MessageTooLarge, Messenger, RELAY_FRAME_OVERHEAD, RelayError,
    RelayOutcome, check_message_len,
};
pub use request::{ChatOp, Direction, GroupOp, GroupSetting, Presence, Request};

/// A new message id in WhatsApp Web's format: `3EB0` followed by 16 uppercase hex digits.
pub fn new_message_id<R: RngCore + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; 8];
    rng.fill_bytes(&mut bytes);
    let mut id = String::from("3EB0");
    for b in bytes {
        id.push_str(&format!("{b:02X}"));
    }
    id
}

/// A JID as apps use it: `@s.whatsapp.net` becomes `@c.us`.
pub fn normalize_jid(jid: &str) -> String {
    match jid.strip_suffix("@s.whatsapp.net") {
        Some(user) => format!("{user}@c.us"),
        None => jid.to_owned(),
    }
}

/// A JID as sent on the wire in JSON and attributes (`@c.us` users as `@s.whatsapp.net`).
pub fn wire_jid(jid: &str) -> String {
    match jid.strip_suffix("@c.us") {
        Some(user) => format!("{user}@s.whatsapp.net"),
        None => jid.to_owned(),
    }
}

/// The `epoch` attribute of actions and queries: a counter bumped per request.
#[derive(Clone, Debug, Default)]
pub struct Epoch(u64);

impl Epoch {
    /// The next value.
    pub fn bump(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
}

/// A message accepted for sending and not yet acknowledged by the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMessage {
    /// The message id (also the relay's tag).
    pub id: String,
    /// The chat.
    pub jid: String,
    /// The encoded WebMessageInfo, base64.
    pub info: String,
}

impl PendingMessage {
    /// Wraps a message to relay.
    pub fn new(info: &WebMessageInfo) -> PendingMessage {
        PendingMessage {
            id: info.key.id.clone().unwrap_or_default(),
            jid: info.key.remote_jid.clone().unwrap_or_default(),
            info: BASE64.encode(info.encode_to_vec()),
        }
    }

    /// The message, decoded again.
    pub fn decode(&self) -> Result<WebMessageInfo, StoreError> {
        let bytes = BASE64
            .decode(&self.info)
            .map_err(|_| StoreError::Corrupt(format!("outbox entry {} is not base64", self.id)))?;
        WebMessageInfo::decode_bytes(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("outbox entry {}: {e}", self.id)))
    }
}

/// Messages sent but not yet acked, in send order. Persist it (through an [`OutboxStore`])
/// every time it changes; after a reconnect or a restart, relay every entry again with the same
/// id: the server de-duplicates by id, so each message is delivered exactly once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox {
    entries: Vec<PendingMessage>,
}

impl Outbox {
    /// An outbox holding `entries`.
    pub fn from_entries(entries: Vec<PendingMessage>) -> Outbox {
        Outbox { entries }
    }

    /// Adds a message (a second add of the same id is ignored).
    pub fn push(&mut self, entry: PendingMessage) {
        if !self.contains(&entry.id) {
            self.entries.push(entry);
        }
    }

    /// Whether message `id` is waiting for its ack.
    pub fn contains(&self, id: &str) -> bool {
        self.entries.iter().any(|e| e.id == id)
    }

    /// The server acked `id`: forget it. Returns whether it was pending.
    pub fn acked(&mut self, id: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.id != id);
        self.entries.len() != before
    }

    /// The pending messages, oldest first.
    pub fn entries(&self) -> &[PendingMessage] {
        &self.entries
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Where the [`Outbox`] survives restarts. Methods take `&self` (interior mutability).
pub trait OutboxStore: Send + Sync {
    /// The stored outbox (empty if none).
    fn load_outbox(&self) -> Result<Outbox, StoreError>;
    /// Replaces the stored outbox.
    fn save_outbox(&self, outbox: &Outbox) -> Result<(), StoreError>;
}

/// An in-memory [`OutboxStore`] (survives reconnects, not restarts).
#[derive(Debug, Default)]
pub struct MemoryOutbox(Mutex<Outbox>);

impl OutboxStore for MemoryOutbox {
    fn load_outbox(&self) -> Result<Outbox, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    fn save_outbox(&self, outbox: &Outbox) -> Result<(), StoreError> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = outbox.clone();
        Ok(())
    }
}

impl OutboxStore for MemoryStore {
    fn load_outbox(&self) -> Result<Outbox, StoreError> {
        Ok(self.outbox_cell().clone())
    }

    fn save_outbox(&self, outbox: &Outbox) -> Result<(), StoreError> {
        *self.outbox_cell() = outbox.clone();
        Ok(())
    }
}

impl<S: OutboxStore + ?Sized> OutboxStore for std::sync::Arc<S> {
    fn load_outbox(&self) -> Result<Outbox, StoreError> {
        (**self).load_outbox()
    }

    fn save_outbox(&self, outbox: &Outbox) -> Result<(), StoreError> {
        (**self).save_outbox(outbox)
    }
}

/// Incoming message ids already handed on, to drop duplicate deliveries. Remembers the last
/// `capacity` ids (memory stays bounded).
#[derive(Clone, Debug)]
pub struct SeenIds {
    order: VecDeque<String>,
    set: HashSet<String>,
    capacity: usize,
}

impl Default for SeenIds {
    fn default() -> SeenIds {
        SeenIds::with_capacity(4096)
    }
}

impl SeenIds {
    /// Remembers at most `capacity` ids (at least 1).
    pub fn with_capacity(capacity: usize) -> SeenIds {
        SeenIds {
            order: VecDeque::new(),
            set: HashSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records `key`; true if it is new, false if it was seen already.
    pub fn insert(&mut self, key: &str) -> bool {
        if self.set.contains(key) {
            return false;
        }
        if self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(key.to_owned());
        self.set.insert(key.to_owned());
        true
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// The de-duplication key of a message: chat, sender side and id.
pub fn message_key_string(info: &WebMessageInfo) -> String {
    format!(
        "{}|{}|{}",
        normalize_jid(info.key.remote_jid.as_deref().unwrap_or_default()),
        info.key.from_me.unwrap_or(false),
        info.key.id.as_deref().unwrap_or_default()
    )
}

/// The checks every [`OutboxStore`] backend must pass; run them with
/// [`outbox_store_conformance!`](crate::outbox_store_conformance).
pub mod conformance {
    use super::{Outbox, OutboxStore, PendingMessage, compose};

    fn sample(id: &str, text: &str) -> PendingMessage {
        PendingMessage::new(&compose::envelope(
            "15550100002@c.us",
            id,
            compose::text(text),
            1_600_000_000,
        ))
    }

    /// A fresh store holds an empty outbox.
    pub fn empty_store_has_empty_outbox(store: &dyn OutboxStore) {
        assert!(store.load_outbox().expect("load").is_empty());
    }

    /// What is saved loads back identical, in order, and decodes to the same message.
    pub fn save_then_load(store: &dyn OutboxStore) {
        let outbox = Outbox::from_entries(vec![sample("3EB0A", "one"), sample("3EB0B", "two")]);
        store.save_outbox(&outbox).expect("save");
        let back = store.load_outbox().expect("load");
        assert_eq!(back, outbox);
        let info = back.entries()[1].decode().expect("decodes");
        assert_eq!(info.key.id.as_deref(), Some("3EB0B"));
    }

    /// Saving after an ack forgets the acked message.
    pub fn save_replaces(store: &dyn OutboxStore) {
        let mut outbox = Outbox::from_entries(vec![sample("3EB0A", "one"), sample("3EB0B", "two")]);
        store.save_outbox(&outbox).expect("save");
        assert!(outbox.acked("3EB0A"));
        store.save_outbox(&outbox).expect("save again");
        let ids: Vec<String> = store
            .load_outbox()
            .expect("load")
            .entries()
            .iter()
            .map(|e| e.id.clone())
            .collect();
        assert_eq!(ids, ["3EB0B"]);
        store.save_outbox(&Outbox::default()).expect("save empty");
        assert!(store.load_outbox().expect("load").is_empty());
    }
}

/// Expands to one `#[test]` per outbox conformance check, each given a fresh store by `$make`.
///
/// ```
/// mod memory {
///     wa_core::outbox_store_conformance!(wa_core::chat::MemoryOutbox::default());
/// }
/// ```
#[macro_export]
macro_rules! outbox_store_conformance {
    ($make:expr) => {
        #[test]
        fn outbox_conformance_empty() {
            let store = $make;
            $crate::chat::conformance::empty_store_has_empty_outbox(&store);
        }
        #[test]
        fn outbox_conformance_save_then_load() {
            let store = $make;
            $crate::chat::conformance::save_then_load(&store);
        }
        #[test]
        fn outbox_conformance_save_replaces() {
            let store = $make;
            $crate::chat::conformance::save_replaces(&store);
        }
    };
}

#[cfg(test)]
mod tests;
