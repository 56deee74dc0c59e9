//! What a paired legacy session must remember, and where it is kept.
//!
//! [`SessionData`] holds the client id, our Curve25519 private key, the three tokens the server
//! issued, the session keys and our own JID. It serializes with serde (byte arrays as base64),
//! wipes itself on drop and never prints a secret in `Debug`.
//!
//! [`SessionStore`] is the storage interface, deliberately free of IO types so backends can live
//! anywhere; [`MemoryStore`] is the in-memory backend. Every backend runs the same conformance
//! suite: invoke [`session_store_conformance!`](crate::session_store_conformance) in its tests.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use wa_crypto::KeyPair;
use wa_crypto::legacy::SessionKeys;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The state of a paired legacy session: enough to log in again without a QR code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(rename_all = "camelCase")]
pub struct SessionData {
    /// Our client id (base64 of 16 random bytes), sent with init, login and challenge.
    pub client_id: String,
    /// Our Curve25519 private key (the public half was in the QR code).
    #[serde(with = "base64_32")]
    pub private_key: [u8; 32],
    /// Token the server issued to this client (`clientToken`).
    pub client_token: String,
    /// Token identifying the session on the server (`serverToken`).
    pub server_token: String,
    /// Token for the HTTP logout (`browserToken`).
    pub browser_token: String,
    /// AES-256 key of binary frames.
    #[serde(with = "base64_32")]
    pub enc_key: [u8; 32],
    /// HMAC-SHA256 key of binary frames.
    #[serde(with = "base64_32")]
    pub mac_key: [u8; 32],
    /// Our own JID (`wid`), e.g. `123456789@c.us`.
    pub wid: String,
}

impl SessionData {
    /// The session keys as the crypto layer wants them.
    pub fn session_keys(&self) -> SessionKeys {
        SessionKeys::new(self.enc_key, self.mac_key)
    }

    /// Our key pair, rebuilt from the stored private key.
    pub fn key_pair(&self) -> KeyPair {
        KeyPair::from_private_bytes(self.private_key)
    }
}

impl fmt::Debug for SessionData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionData")
            .field("client_id", &self.client_id)
            .field("wid", &self.wid)
            .finish_non_exhaustive()
    }
}

mod base64_32 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(STANDARD.encode(bytes));
        s.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.as_bytes())
                .map_err(|_| D::Error::custom("key is not valid base64"))?,
        );
        let mut out = [0u8; 32];
        if bytes.len() != out.len() {
            return Err(D::Error::custom(format_args!(
                "key is {} bytes, expected 32",
                bytes.len()
            )));
        }
        out.copy_from_slice(&bytes);
        Ok(out)
    }
}

/// Why a session store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stored data exists but cannot be read back as a session.
    #[error("stored session is corrupt: {0}")]
    Corrupt(String),
    /// The backend failed (IO, database...).
    #[error("session store backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Where a client keeps its [`SessionData`] between runs.
///
/// Methods take `&self` so a store can be shared; backends use interior mutability.
pub trait SessionStore: Send + Sync {
    /// The stored session, or `None` if there is none.
    fn load(&self) -> Result<Option<SessionData>, StoreError>;
    /// Replaces the stored session with `data`.
    fn save(&self, data: &SessionData) -> Result<(), StoreError>;
    /// Forgets the stored session (no error if there is none).
    fn clear(&self) -> Result<(), StoreError>;
}

/// A [`SessionStore`] in memory, for tests and short-lived clients.
#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Option<SessionData>>,
    outbox: Mutex<crate::chat::Outbox>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    pub(crate) fn outbox_cell(&self) -> std::sync::MutexGuard<'_, crate::chat::Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl SessionStore for MemoryStore {
    fn load(&self) -> Result<Option<SessionData>, StoreError> {
        Ok(self
            .data
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    fn save(&self, data: &SessionData) -> Result<(), StoreError> {
        *self.data.lock().unwrap_or_else(PoisonError::into_inner) = Some(data.clone());
        Ok(())
    }

    fn clear(&self) -> Result<(), StoreError> {
        *self.data.lock().unwrap_or_else(PoisonError::into_inner) = None;
        Ok(())
    }
}

impl<S: SessionStore + ?Sized> SessionStore for std::sync::Arc<S> {
    fn load(&self) -> Result<Option<SessionData>, StoreError> {
        (**self).load()
    }

    fn save(&self, data: &SessionData) -> Result<(), StoreError> {
        (**self).save(data)
    }

    fn clear(&self) -> Result<(), StoreError> {
        (**self).clear()
    }
}

/// The checks every [`SessionStore`] backend must pass.
///
/// Each function takes a fresh, empty store. Backends run them all through
/// [`session_store_conformance!`](crate::session_store_conformance).
pub mod conformance {
    use super::{SessionData, SessionStore};

    /// A session whose every field differs from [`sample_b`].
    pub fn sample_a() -> SessionData {
        SessionData {
            client_id: "AAECAwQFBgcICQoLDA0ODw==".into(),
            private_key: [1; 32],
            client_token: "client-token-a".into(),
            server_token: "1@server-token-a".into(),
            browser_token: "1@browser-token-a".into(),
            enc_key: [2; 32],
            mac_key: [3; 32],
            wid: "15550001111@c.us".into(),
        }
    }

    /// A second session, different from [`sample_a`] in every field.
    pub fn sample_b() -> SessionData {
        SessionData {
            client_id: "EBESExQVFhcYGRobHB0eHw==".into(),
            private_key: [4; 32],
            client_token: "client-token-b".into(),
            server_token: "1@server-token-b".into(),
            browser_token: "1@browser-token-b".into(),
            enc_key: [5; 32],
            mac_key: [6; 32],
            wid: "15550002222@c.us".into(),
        }
    }

    /// A fresh store holds nothing.
    pub fn empty_store_loads_none(store: &dyn SessionStore) {
        assert_eq!(store.load().expect("load"), None);
    }

    /// What is saved loads back identical.
    pub fn save_then_load(store: &dyn SessionStore) {
        store.save(&sample_a()).expect("save");
        assert_eq!(store.load().expect("load"), Some(sample_a()));
        // Loading does not consume.
        assert_eq!(store.load().expect("load"), Some(sample_a()));
    }

    /// A second save replaces the first entirely.
    pub fn save_overwrites(store: &dyn SessionStore) {
        store.save(&sample_a()).expect("save a");
        store.save(&sample_b()).expect("save b");
        assert_eq!(store.load().expect("load"), Some(sample_b()));
    }

    /// Clearing forgets the session, and clearing twice is fine.
    pub fn clear_forgets(store: &dyn SessionStore) {
        store.save(&sample_a()).expect("save");
        store.clear().expect("clear");
        assert_eq!(store.load().expect("load"), None);
        store.clear().expect("clear again");
        store.save(&sample_b()).expect("save after clear");
        assert_eq!(store.load().expect("load"), Some(sample_b()));
    }
}

/// Expands to one `#[test]` per conformance check, each given a fresh store by `$make`.
///
/// ```
/// mod memory {
///     wa_core::session_store_conformance!(wa_core::session::MemoryStore::new());
/// }
/// ```
#[macro_export]
macro_rules! session_store_conformance {
    ($make:expr) => {
        #[test]
        fn conformance_empty_store_loads_none() {
            let store = $make;
            $crate::session::conformance::empty_store_loads_none(&store);
        }
        #[test]
        fn conformance_save_then_load() {
            let store = $make;
            $crate::session::conformance::save_then_load(&store);
        }
        #[test]
        fn conformance_save_overwrites() {
            let store = $make;
            $crate::session::conformance::save_overwrites(&store);
        }
        #[test]
        fn conformance_clear_forgets() {
            let store = $make;
            $crate::session::conformance::clear_forgets(&store);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    mod memory {
        crate::session_store_conformance!(super::MemoryStore::new());
    }

    #[test]
    fn serde_round_trip_and_base64_keys() {
        let data = conformance::sample_a();
        let json = serde_json::to_value(&data).unwrap();
        assert_eq!(
            json["encKey"],
            "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
        );
        assert_eq!(json["wid"], "15550001111@c.us");
        let back: SessionData = serde_json::from_value(json).unwrap();
        assert_eq!(back, data);
    }

    /// The stored format is a compatibility promise: sessions saved by this version must load
    /// in later ones.
    #[test]
    fn stored_format_is_stable() {
        let stored = r#"{
          "clientId": "AAECAwQFBgcICQoLDA0ODw==",
          "privateKey": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
          "clientToken": "client-token-a",
          "serverToken": "1@server-token-a",
          "browserToken": "1@browser-token-a",
          "encKey": "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
          "macKey": "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=",
          "wid": "15550001111@c.us"
        }"#;
        let data: SessionData = serde_json::from_str(stored).unwrap();
        assert_eq!(data, conformance::sample_a());
        let again: serde_json::Value = serde_json::to_value(&data).unwrap();
        let original: serde_json::Value = serde_json::from_str(stored).unwrap();
        assert_eq!(again, original);
    }

    #[test]
    fn rejects_wrong_key_length() {
        let mut json = serde_json::to_value(conformance::sample_a()).unwrap();
        json["macKey"] = "AAAA".into();
        let err = serde_json::from_value::<SessionData>(json).unwrap_err();
        assert!(err.to_string().contains("3 bytes, expected 32"), "{err}");
    }

    #[test]
    fn debug_hides_secrets() {
        let text = format!("{:?}", conformance::sample_a());
        assert!(text.contains("15550001111@c.us"));
        assert!(!text.contains("token"), "{text}");
        assert!(!text.contains("[2, 2"), "{text}");
    }
}
