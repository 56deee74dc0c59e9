//! Store traits, one per kind of state, and an in-memory implementation.
//!
//! # Durability rules (what a backend must give and what this crate does with it)
//!
//! - Each `store_*` call is atomic: after a crash the store holds either the old value or the
//!   new one, whole.
//! - Decrypting works on a copy of the session; the new state is written with one
//!   `store_session` call only after the MAC verified and the plaintext was recovered. On any
//!   failure nothing is written: the old state stays whole.
//! - Encrypting advances the sending chain and writes it (`store_session`) **before** the
//!   ciphertext is returned. If that write fails, no ciphertext is returned. So a message key
//!   never reaches the wire twice, even across a crash between encrypting and sending: after
//!   the crash the next encryption uses the next key (the receiver sees a gap, which the
//!   ratchet handles as a skipped message). The same holds for sender keys.
//! - For a `pkmsg`, the session is written before the one-time prekey is removed, so a crash in
//!   between leaves a session that the redelivered message finds again by its base key.
//! - Plaintexts are the caller's to keep: once `decrypt` returns, the message key is gone, and
//!   a redelivery of the same ciphertext is refused as a duplicate. A caller that acks the
//!   server before it has stored the plaintext can lose the message.

use std::collections::HashMap;
use std::fmt;

use wa_crypto::KeyPair;

use crate::group::SenderKeyRecord;
use crate::keys::{PreKey, PublicKey, SignedPreKey};
use crate::record::SessionRecord;

/// A peer device: a user (phone number or LID user part) and a device id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolAddress {
    /// The user.
    pub name: String,
    /// The device (0 is the phone).
    pub device_id: u32,
}

impl ProtocolAddress {
    /// An address.
    pub fn new(name: impl Into<String>, device_id: u32) -> ProtocolAddress {
        ProtocolAddress {
            name: name.into(),
            device_id,
        }
    }
}

impl fmt::Display for ProtocolAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.name, self.device_id)
    }
}

/// A group sender: whose sender key in which group.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SenderKeyName {
    /// The group id (its JID).
    pub group_id: String,
    /// The sending device.
    pub sender: ProtocolAddress,
}

impl fmt::Display for SenderKeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{}", self.group_id, self.sender)
    }
}

/// A backend's failure. Nothing was committed by the call that returned it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wraps a message.
    pub fn msg(text: impl Into<String>) -> StoreError {
        StoreError(text.into().into())
    }
}

/// Our identity and the peers' identity keys.
pub trait IdentityStore {
    /// Our identity key pair.
    fn local_identity(&self) -> Result<KeyPair, StoreError>;
    /// Our registration id.
    fn local_registration_id(&self) -> Result<u32, StoreError>;
    /// The identity key stored (trusted) for a peer, if any.
    fn identity(&self, address: &ProtocolAddress) -> Result<Option<PublicKey>, StoreError>;
    /// Stores (trusts) a peer's identity key, replacing any other.
    fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        key: &PublicKey,
    ) -> Result<(), StoreError>;
}

/// Session records per peer device.
pub trait SessionStore {
    /// The record for a peer, if any.
    fn load_session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>, StoreError>;
    /// Replaces the record for a peer, atomically.
    fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> Result<(), StoreError>;
}

/// Our one-time prekeys.
pub trait PreKeyStore {
    /// A prekey by id.
    fn load_pre_key(&self, id: u32) -> Result<Option<PreKey>, StoreError>;
    /// Stores a prekey.
    fn store_pre_key(&mut self, pre_key: &PreKey) -> Result<(), StoreError>;
    /// Removes a used prekey (removing a missing one is not an error).
    fn remove_pre_key(&mut self, id: u32) -> Result<(), StoreError>;
}

/// Our signed prekeys.
pub trait SignedPreKeyStore {
    /// A signed prekey by id.
    fn load_signed_pre_key(&self, id: u32) -> Result<Option<SignedPreKey>, StoreError>;
    /// Stores a signed prekey.
    fn store_signed_pre_key(&mut self, key: &SignedPreKey) -> Result<(), StoreError>;
}

/// Sender-key records per (group, sender).
pub trait SenderKeyStore {
    /// The record, if any.
    fn load_sender_key(&self, name: &SenderKeyName) -> Result<Option<SenderKeyRecord>, StoreError>;
    /// Replaces the record, atomically.
    fn store_sender_key(
        &mut self,
        name: &SenderKeyName,
        record: &SenderKeyRecord,
    ) -> Result<(), StoreError>;
}

/// Everything 1:1 sessions need.
pub trait SessionStores: IdentityStore + SessionStore + PreKeyStore + SignedPreKeyStore {}
impl<T: IdentityStore + SessionStore + PreKeyStore + SignedPreKeyStore> SessionStores for T {}

/// All stores in memory. Records are kept in their persisted form (bytes), as a durable backend
/// keeps them, so every load and store goes through the record format. Cloning copies every
/// secret (tests and fuzzing use it to start many runs from one state).
#[derive(Clone)]
pub struct InMemoryStore {
    identity: KeyPair,
    registration_id: u32,
    identities: HashMap<ProtocolAddress, PublicKey>,
    sessions: HashMap<ProtocolAddress, Vec<u8>>,
    pre_keys: HashMap<u32, PreKey>,
    signed_pre_keys: HashMap<u32, SignedPreKey>,
    sender_keys: HashMap<SenderKeyName, Vec<u8>>,
}

impl fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryStore")
            .field("identity", &self.identity)
            .field("registration_id", &self.registration_id)
            .field("sessions", &self.sessions.len())
            .field("pre_keys", &self.pre_keys.len())
            .field("sender_keys", &self.sender_keys.len())
            .finish_non_exhaustive()
    }
}

impl InMemoryStore {
    /// An empty store for this identity.
    pub fn new(identity: KeyPair, registration_id: u32) -> InMemoryStore {
        InMemoryStore {
            identity,
            registration_id,
            identities: HashMap::new(),
            sessions: HashMap::new(),
            pre_keys: HashMap::new(),
            signed_pre_keys: HashMap::new(),
            sender_keys: HashMap::new(),
        }
    }

    /// The stored size in bytes of a peer's session record (0 if none).
    pub fn session_record_len(&self, address: &ProtocolAddress) -> usize {
        self.sessions.get(address).map_or(0, Vec::len)
    }

    /// The stored size in bytes of a sender-key record (0 if none).
    pub fn sender_key_record_len(&self, name: &SenderKeyName) -> usize {
        self.sender_keys.get(name).map_or(0, Vec::len)
    }
}

/// Wipes a stored record's buffer, its whole allocation, with one bulk write: zeroize's wipe of
/// a `Vec` stores each byte on its own (volatile), which was an eighth of a session record's
/// load and store.
fn wipe_bytes(bytes: &mut Vec<u8>) {
    bytes.clear();
    zeroize::Zeroize::zeroize(bytes.spare_capacity_mut());
}

impl Drop for InMemoryStore {
    fn drop(&mut self) {
        self.sessions.values_mut().for_each(wipe_bytes);
        self.sender_keys.values_mut().for_each(wipe_bytes);
    }
}

impl IdentityStore for InMemoryStore {
    fn local_identity(&self) -> Result<KeyPair, StoreError> {
        Ok(self.identity.clone())
    }
    fn local_registration_id(&self) -> Result<u32, StoreError> {
        Ok(self.registration_id)
    }
    fn identity(&self, address: &ProtocolAddress) -> Result<Option<PublicKey>, StoreError> {
        Ok(self.identities.get(address).copied())
    }
    fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        key: &PublicKey,
    ) -> Result<(), StoreError> {
        self.identities.insert(address.clone(), *key);
        Ok(())
    }
}

impl SessionStore for InMemoryStore {
    fn load_session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>, StoreError> {
        self.sessions
            .get(address)
            .map(|bytes| SessionRecord::from_bytes(bytes).map_err(|e| StoreError(Box::new(e))))
            .transpose()
    }
    fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> Result<(), StoreError> {
        // This runs for every message: the record is written over the stored one, in its
        // buffer (no allocation, no free, no separate wipe of the old bytes: they are
        // overwritten, or wiped past the new end), in the entry already there (no copy of the
        // address). A new entry keeps the encoder's buffer itself (no copy of the secrets).
        match self.sessions.get_mut(address) {
            Some(stored) => crate::record_codec::encode_into(record, stored),
            None => {
                let mut bytes = record.to_bytes();
                self.sessions
                    .insert(address.clone(), std::mem::take(&mut *bytes));
            }
        }
        Ok(())
    }
}

impl PreKeyStore for InMemoryStore {
    fn load_pre_key(&self, id: u32) -> Result<Option<PreKey>, StoreError> {
        Ok(self.pre_keys.get(&id).cloned())
    }
    fn store_pre_key(&mut self, pre_key: &PreKey) -> Result<(), StoreError> {
        self.pre_keys.insert(pre_key.id, pre_key.clone());
        Ok(())
    }
    fn remove_pre_key(&mut self, id: u32) -> Result<(), StoreError> {
        self.pre_keys.remove(&id);
        Ok(())
    }
}

impl SignedPreKeyStore for InMemoryStore {
    fn load_signed_pre_key(&self, id: u32) -> Result<Option<SignedPreKey>, StoreError> {
        Ok(self.signed_pre_keys.get(&id).cloned())
    }
    fn store_signed_pre_key(&mut self, key: &SignedPreKey) -> Result<(), StoreError> {
        self.signed_pre_keys.insert(key.id, key.clone());
        Ok(())
    }
}

impl SenderKeyStore for InMemoryStore {
    fn load_sender_key(&self, name: &SenderKeyName) -> Result<Option<SenderKeyRecord>, StoreError> {
        self.sender_keys
            .get(name)
            .map(|bytes| SenderKeyRecord::from_bytes(bytes).map_err(|e| StoreError(Box::new(e))))
            .transpose()
    }
    fn store_sender_key(
        &mut self,
        name: &SenderKeyName,
        record: &SenderKeyRecord,
    ) -> Result<(), StoreError> {
        let old = self
            .sender_keys
            .insert(name.clone(), record.to_bytes().to_vec());
        if let Some(mut old) = old {
            wipe_bytes(&mut old);
        }
        Ok(())
    }
}
