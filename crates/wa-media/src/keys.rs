//! The 32-byte media key and its 112-byte expansion.

use crate::{Error, MediaType};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The random 32-byte key a media message carries (`mediaKey`). Zeroized on drop; `Debug`
/// does not print it.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct MediaKey([u8; 32]);

impl MediaKey {
    /// A fresh key from a cryptographic RNG.
    pub fn generate<R: rand_core::RngCore + rand_core::CryptoRng>(rng: &mut R) -> MediaKey {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        MediaKey(key)
    }

    /// The key from its 32 raw bytes.
    pub fn from_array(bytes: [u8; 32]) -> MediaKey {
        MediaKey(bytes)
    }

    /// The key from untrusted bytes (a message field): exactly 32 bytes or
    /// [`Error::MediaKeyLength`].
    pub fn from_slice(bytes: &[u8]) -> Result<MediaKey, Error> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::MediaKeyLength(bytes.len()))?;
        Ok(MediaKey(array))
    }

    /// The raw bytes, to put into the outgoing message.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Expands the key for one media type (HKDF-SHA256, no salt, 112 bytes).
    pub fn expand(&self, media_type: MediaType) -> MediaKeys {
        MediaKeys::derive(self, media_type)
    }
}

impl std::fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaKey(<redacted>)")
    }
}

/// The 112-byte expansion of a [`MediaKey`]: `iv ‖ cipherKey ‖ macKey ‖ refKey`.
/// Zeroized on drop; `Debug` does not print it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MediaKeys {
    iv: [u8; 16],
    cipher_key: [u8; 32],
    mac_key: [u8; 32],
    ref_key: [u8; 32],
}

impl MediaKeys {
    /// `HKDF-SHA256(ikm = mediaKey, salt = none, info = type's info, L = 112)`, split.
    pub fn derive(key: &MediaKey, media_type: MediaType) -> MediaKeys {
        let mut okm = zeroize::Zeroizing::new([0u8; 112]);
        hkdf::Hkdf::<sha2::Sha256>::new(None, key.as_bytes())
            .expand(media_type.hkdf_info(), okm.as_mut())
            .unwrap_or_else(|_| {
                unreachable!("112 bytes is far below HKDF-SHA256's 8160-byte limit")
            });
        let mut keys = MediaKeys {
            iv: [0; 16],
            cipher_key: [0; 32],
            mac_key: [0; 32],
            ref_key: [0; 32],
        };
        let (iv, rest) = okm.split_at(16);
        let (cipher_key, rest) = rest.split_at(32);
        let (mac_key, ref_key) = rest.split_at(32);
        keys.iv.copy_from_slice(iv);
        keys.cipher_key.copy_from_slice(cipher_key);
        keys.mac_key.copy_from_slice(mac_key);
        keys.ref_key.copy_from_slice(ref_key);
        keys
    }

    /// The CBC initialisation vector (bytes 0..16).
    pub fn iv(&self) -> &[u8; 16] {
        &self.iv
    }

    /// The AES-256 key (bytes 16..48).
    pub fn cipher_key(&self) -> &[u8; 32] {
        &self.cipher_key
    }

    /// The HMAC-SHA256 key (bytes 48..80).
    pub fn mac_key(&self) -> &[u8; 32] {
        &self.mac_key
    }

    /// The reference key (bytes 80..112); WhatsApp does not use it for the file itself.
    pub fn ref_key(&self) -> &[u8; 32] {
        &self.ref_key
    }
}

impl std::fmt::Debug for MediaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaKeys(<redacted>)")
    }
}
