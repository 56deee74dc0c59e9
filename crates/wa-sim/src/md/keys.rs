//! Key material the simulator keeps across restarts: a Curve25519 private key that serializes as
//! base64 (only into the 0600 state file), zeroized on drop and redacted in `Debug`.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use wa_crypto::{CryptoRng, KeyPair, RngCore};
use zeroize::{Zeroize, Zeroizing};

/// A Curve25519 private key.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// A fresh key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> SecretKey {
        SecretKey(*KeyPair::generate(rng).private_bytes())
    }

    /// The key of an existing pair.
    pub fn from_pair(pair: &KeyPair) -> SecretKey {
        SecretKey(*pair.private_bytes())
    }

    /// The key pair.
    pub fn pair(&self) -> KeyPair {
        KeyPair::from_private_bytes(self.0)
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        self.pair().public_bytes()
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(public {})", hex(&self.public()))
    }
}

impl Serialize for SecretKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0));
        serializer.serialize_str(&encoded)
    }
}

impl<'de> Deserialize<'de> for SecretKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SecretKey, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(serde::de::Error::custom)?,
        );
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| serde::de::Error::custom("a private key is 32 bytes"))?;
        Ok(SecretKey(array))
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serde helpers for public byte strings (base64 in the state file).
pub mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes bytes as base64.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// Deserializes base64 into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// Serde helpers for 32-byte public keys (base64).
pub mod b64_32 {
    use serde::{Deserializer, Serializer};

    /// Serializes a key as base64.
    pub fn serialize<S: Serializer>(key: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        super::b64::serialize(key, serializer)
    }

    /// Deserializes base64 into a 32-byte key.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let bytes = super::b64::deserialize(deserializer)?;
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| serde::de::Error::custom("a public key is 32 bytes"))
    }
}
