#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

mod cipher;
pub mod conformance;
mod error;
mod group;
mod keys;
mod pbscan;
mod record;
mod record_codec;
mod record_decode;
#[cfg(test)]
mod record_reference;
mod seal;
mod session;
pub mod store;
mod wire;
mod x3dh;

pub use cipher::{
    Ciphertext, decrypt, decrypt_message, decrypt_pre_key_message, encrypt, process_pre_key_bundle,
};
pub use error::{Error, Result};
pub use group::{
    MAX_SENDER_KEY_STATES, SENDER_KEY_RECORD_FORMAT, SenderKeyRecord,
    create_sender_key_distribution, group_decrypt, group_encrypt, process_sender_key_distribution,
};
pub use keys::{DJB_TYPE, PreKey, PreKeyBundle, PublicKey, SignedPreKey, generate_registration_id};
pub use record::{SESSION_RECORD_FORMAT, SessionRecord};
pub use session::{MAX_FORWARD_JUMP, MAX_PREVIOUS_SESSIONS, MAX_RECEIVER_CHAINS, MAX_SKIPPED_KEYS};
pub use store::{
    IdentityStore, InMemoryStore, PreKeyStore, ProtocolAddress, SenderKeyName, SenderKeyStore,
    SessionStore, SessionStores, SignedPreKeyStore, StoreError,
};
/// Key pairs come from `wa-crypto`.
pub use wa_crypto::KeyPair;
pub use wire::{
    MAC_LEN, MAX_PADDING, MessageKind, PreKeySignalMessage, SenderKeyDistributionMessage,
    SenderKeyMessage, SignalMessage, VERSION_BYTE, pad, unpad,
};
