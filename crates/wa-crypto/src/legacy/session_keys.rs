//! The legacy session keys and the `secret` exchange that delivers them.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::primitives::{aes256_cbc_decrypt_with_iv, aes256_cbc_encrypt_with_iv, verify_tag};
use crate::{AES_BLOCK_LEN, Error, HMAC_LEN, KeyPair, hkdf_sha256, hmac_sha256, is_all_zero};

/// Length of the `secret` field of `Conn` once base64-decoded:
/// server public key (32) ‖ HMAC (32) ‖ encrypted keys (80).
pub const SECRET_LEN: usize = 144;

const KEY_LEN: usize = 32;
/// Encrypted `encKey ‖ macKey`: 64 bytes plus one whole block of PKCS#7 padding.
const ENCRYPTED_KEYS_LEN: usize = 80;
/// HKDF output: AES key (32) ‖ HMAC key (32) ‖ AES IV (16).
const EXPANDED_LEN: usize = 80;
/// HKDF salt for the `secret` exchange: 32 zero bytes, as every implementation uses.
const ZERO_SALT: [u8; 32] = [0; 32];

/// The legacy `encKey` (AES-256-CBC) and `macKey` (HMAC-SHA256) of a paired session.
///
/// Both keys are wiped on drop. `Debug` prints `SessionKeys { .. }` and never the keys; equality
/// is constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SessionKeys {
    enc_key: [u8; KEY_LEN],
    mac_key: [u8; KEY_LEN],
}

/// The three keys HKDF expands the X25519 shared secret into.
struct ExpandedSecret {
    aes_key: Zeroizing<[u8; KEY_LEN]>,
    hmac_key: Zeroizing<[u8; KEY_LEN]>,
    iv: [u8; AES_BLOCK_LEN],
}

impl ExpandedSecret {
    fn from_shared(shared: &[u8; 32]) -> Result<ExpandedSecret, Error> {
        let mut expanded = Zeroizing::new([0u8; EXPANDED_LEN]);
        hkdf_sha256(shared, Some(&ZERO_SALT), &[], expanded.as_mut())?;
        let mut aes_key = Zeroizing::new([0u8; KEY_LEN]);
        let mut hmac_key = Zeroizing::new([0u8; KEY_LEN]);
        let mut iv = [0u8; AES_BLOCK_LEN];
        aes_key.copy_from_slice(&expanded[..32]);
        hmac_key.copy_from_slice(&expanded[32..64]);
        iv.copy_from_slice(&expanded[64..80]);
        Ok(ExpandedSecret {
            aes_key,
            hmac_key,
            iv,
        })
    }
}

impl SessionKeys {
    /// Wraps known keys (e.g. restored from storage).
    pub fn new(enc_key: [u8; 32], mac_key: [u8; 32]) -> SessionKeys {
        SessionKeys { enc_key, mac_key }
    }

    /// Fresh random keys, as a server hands out when a QR code is scanned.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> SessionKeys {
        let mut keys = SessionKeys::new([0; 32], [0; 32]);
        rng.fill_bytes(&mut keys.enc_key);
        rng.fill_bytes(&mut keys.mac_key);
        keys
    }

    /// The AES-256-CBC key of binary frames.
    pub fn enc_key(&self) -> &[u8; 32] {
        &self.enc_key
    }

    /// The HMAC-SHA256 key of binary frames, challenges and the logout token.
    pub fn mac_key(&self) -> &[u8; 32] {
        &self.mac_key
    }

    /// Client side: derives the keys from our key pair (whose public half was in the QR code) and
    /// the base64-decoded 144-byte `secret` of the `Conn` message.
    ///
    /// `shared = X25519(ours, secret[0..32])`; `HKDF-SHA256(shared, salt = 32 zero bytes,
    /// info = "")` → 80 bytes `aesKey ‖ hmacKey ‖ iv`; `secret[32..64]` must equal
    /// `HMAC(hmacKey, secret[0..32] ‖ secret[64..144])`; then
    /// `encKey ‖ macKey = AES-256-CBC-decrypt(aesKey, iv, secret[64..144])`.
    ///
    /// # Errors
    /// [`Error::WrongLength`] if `secret` is not 144 bytes; [`Error::NonContributoryKey`] if the
    /// server key is a low-order point; [`Error::HmacMismatch`] if the secret was not made for
    /// our key (or was altered); [`Error::BadPadding`]/[`Error::WrongLength`] if the decrypted keys
    /// are malformed.
    pub fn from_secret(ours: &KeyPair, secret: &[u8]) -> Result<SessionKeys, Error> {
        const WHAT: &str = "login secret";
        let wrong_length = || Error::WrongLength {
            what: WHAT,
            expected: SECRET_LEN,
            actual: secret.len(),
        };
        if secret.len() != SECRET_LEN {
            return Err(wrong_length());
        }
        let (server_public, rest) = secret.split_first_chunk::<32>().ok_or_else(wrong_length)?;
        let (tag, encrypted) = rest
            .split_first_chunk::<HMAC_LEN>()
            .ok_or_else(wrong_length)?;

        let shared = ours.shared_secret(server_public);
        if is_all_zero(shared.as_ref()) {
            return Err(Error::NonContributoryKey { what: WHAT });
        }
        let expanded = ExpandedSecret::from_shared(&shared)?;
        verify_tag(
            expanded.hmac_key.as_ref(),
            &[server_public, encrypted],
            tag,
            WHAT,
        )?;

        let keys = Zeroizing::new(aes256_cbc_decrypt_with_iv(
            &expanded.aes_key,
            &expanded.iv,
            encrypted,
        )?);
        if keys.len() != 2 * KEY_LEN {
            return Err(Error::WrongLength {
                what: "decrypted session keys",
                expected: 2 * KEY_LEN,
                actual: keys.len(),
            });
        }
        let mut session = SessionKeys::new([0; 32], [0; 32]);
        session.enc_key.copy_from_slice(&keys[..KEY_LEN]);
        session.mac_key.copy_from_slice(&keys[KEY_LEN..]);
        Ok(session)
    }

    /// Server side: builds a 144-byte `secret` that delivers these keys to the client whose
    /// public key (from the QR code) is `client_public`, using a fresh server key pair from `rng`.
    ///
    /// The inverse of [`SessionKeys::from_secret`]: the client with the matching private key
    /// derives exactly `self`.
    pub fn build_secret<R: RngCore + CryptoRng>(
        &self,
        client_public: &[u8; 32],
        rng: &mut R,
    ) -> [u8; SECRET_LEN] {
        let server = KeyPair::generate(rng);
        let server_public = server.public_bytes();
        let shared = server.shared_secret(client_public);
        // Only fails for outputs over 8160 bytes; ours is 80.
        let expanded =
            ExpandedSecret::from_shared(&shared).expect("an 80-byte HKDF output is in range");

        let mut plain = Zeroizing::new([0u8; 2 * KEY_LEN]);
        plain[..KEY_LEN].copy_from_slice(&self.enc_key);
        plain[KEY_LEN..].copy_from_slice(&self.mac_key);
        let encrypted = aes256_cbc_encrypt_with_iv(&expanded.aes_key, &expanded.iv, plain.as_ref());
        debug_assert_eq!(encrypted.len(), ENCRYPTED_KEYS_LEN);
        let tag = hmac_sha256(expanded.hmac_key.as_ref(), &[&server_public, &encrypted]);

        let mut secret = [0u8; SECRET_LEN];
        secret[..32].copy_from_slice(&server_public);
        secret[32..64].copy_from_slice(&tag);
        secret[64..].copy_from_slice(&encrypted);
        secret
    }
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKeys { .. }")
    }
}

impl PartialEq for SessionKeys {
    fn eq(&self, other: &SessionKeys) -> bool {
        let enc = self.enc_key.ct_eq(&other.enc_key);
        let mac = self.mac_key.ct_eq(&other.mac_key);
        bool::from(enc & mac)
    }
}

impl Eq for SessionKeys {}

/// The answer to a login `challenge`: `HMAC-SHA256(macKey, challenge)`, where `challenge` is
/// the base64-decoded string of `["Cmd",{type:"challenge",challenge}]`.
///
/// The client sends it base64-encoded in `["admin","challenge",answer,serverToken,clientId]`.
pub fn challenge_response(keys: &SessionKeys, challenge: &[u8]) -> [u8; 32] {
    hmac_sha256(keys.mac_key(), &[challenge])
}

/// The `m` parameter of the HTTP logout request
/// (`POST https://web.whatsapp.com/logout?t=<browserToken>&m=<token>`):
/// standard base64 (with padding) of `HMAC-SHA256(macKey, encKey)`.
///
/// The result is not URL-encoded; `+`, `/` and `=` need escaping in a query string.
pub fn logout_token(keys: &SessionKeys) -> String {
    BASE64.encode(hmac_sha256(keys.mac_key(), &[keys.enc_key()]))
}
