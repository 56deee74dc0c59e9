//! Linking with a pair code instead of a QR: the user types an 8-character code on the phone.
//!
//! 1. The companion draws 5 random bytes, writes them as 8 characters of
//!    `123456789ABCDEFGHJKLMNPQRSTVWXYZ` (the code), derives `key = PBKDF2-SHA256(code, salt,
//!    131072, 32)` and sends its ephemeral public key wrapped as `salt(32) ‖ iv(16) ‖
//!    AES-256-CTR(key, iv, pub)(32)` in `link_code_companion_reg stage=companion_hello`.
//! 2. The phone, given the code, unwraps it and answers (through the server's notification) with
//!    its own ephemeral key wrapped the same way and its identity key.
//! 3. The companion computes `shared = X25519(eph, primary eph)`, encrypts
//!    `our identity ‖ primary identity ‖ random(32)` with AES-256-GCM under
//!    `HKDF(shared, salt, "link_code_pairing_key_bundle_encryption_key")` and sends it as
//!    `salt(32) ‖ nonce(12) ‖ ciphertext` (`companion_finish`); both sides then hold
//!    `adv_secret = HKDF(shared ‖ X25519(identity, primary identity) ‖ random, "adv_secret")`.
//!
//! From there the phone sends `pair-success` as after a QR scan. A code typed wrong leaves the
//! phone with a different key: it cannot open the key bundle and the pairing does not complete.

use wa_binary::{Jid, Node, Server};
use wa_crypto::{
    CryptoRng, KeyPair, RngCore, aes256_ctr_apply, aes256_gcm_decrypt, aes256_gcm_encrypt,
    hkdf_sha256, is_all_zero, pbkdf2_sha256,
};
use zeroize::Zeroizing;

/// The 32 characters a code is written with (no 0, I, O, U).
pub const ALPHABET: &[u8; 32] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";
/// PBKDF2 iterations for the code key.
pub const PBKDF2_ROUNDS: u32 = 131_072;
/// The iterations [`code_key`] runs: the protocol's [`PBKDF2_ROUNDS`], except in fuzz builds
/// (`--cfg fuzzing`, which cargo-fuzz sets and no normal build does), where a 131,072-round
/// derivation per input would hold the fuzzer to a few executions per second. Both sides of
/// such a build derive with it, so a fuzzed pairing still completes; nothing at run time can
/// lower it.
#[cfg(not(fuzzing))]
const CODE_KEY_ROUNDS: u32 = PBKDF2_ROUNDS;
#[cfg(fuzzing)]
const CODE_KEY_ROUNDS: u32 = 2;
/// Length of a wrapped ephemeral key: salt, IV, key.
pub const WRAPPED_LEN: usize = 32 + 16 + 32;
/// HKDF info of the key-bundle encryption key.
pub const BUNDLE_KEY_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
/// HKDF info of the ADV secret.
pub const ADV_SECRET_INFO: &[u8] = b"adv_secret";

/// Why pair-code linking failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PairCodeError {
    /// The phone number has too few digits or starts with 0 (must be international).
    #[error("phone number must be international digits (got {digits} digits)")]
    BadPhone {
        /// How many digits remained after stripping everything else.
        digits: usize,
    },
    /// A required child of the stanza is missing or has the wrong size.
    #[error("malformed pair-code stanza ({0})")]
    Malformed(&'static str),
    /// The notification is for another linking attempt.
    #[error("pairing ref does not match ours")]
    RefMismatch,
    /// The unwrapped key is degenerate (a code typed wrong can produce this; so can an attack).
    #[error("the peer's ephemeral key is degenerate")]
    BadKey,
    /// The key bundle did not decrypt: the code was typed wrong (primary side).
    #[error("key bundle did not decrypt (wrong code?)")]
    WrongCode,
}

/// Writes 5 bytes as the 8-character code.
pub fn encode_code(bytes: &[u8; 5]) -> String {
    let mut value: u64 = 0;
    for &b in bytes {
        value = (value << 8) | u64::from(b);
    }
    (0..8)
        .map(|i| char::from(ALPHABET[((value >> (35 - 5 * i)) & 31) as usize]))
        .collect()
}

/// Keeps the digits of `phone`; refuses numbers of 6 digits or fewer and ones starting with 0.
///
/// # Errors
/// [`PairCodeError::BadPhone`].
pub fn normalize_phone(phone: &str) -> Result<String, PairCodeError> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.len() <= 6 || digits.len() > 20 || digits.starts_with('0') {
        return Err(PairCodeError::BadPhone {
            digits: digits.len(),
        });
    }
    Ok(digits)
}

/// `PBKDF2-SHA256(code, salt, 131072, 32)` (fewer rounds only in fuzz builds, see
/// `CODE_KEY_ROUNDS`).
pub fn code_key(code: &str, salt: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    // Infallible: rounds and output length are non-zero constants.
    let _ = pbkdf2_sha256(code.as_bytes(), salt, CODE_KEY_ROUNDS, key.as_mut());
    key
}

/// Wraps `public` under the code: `salt ‖ iv ‖ AES-256-CTR(key(code, salt), iv, public)`.
pub fn wrap_public(code: &str, salt: &[u8; 32], iv: &[u8; 16], public: &[u8; 32]) -> Vec<u8> {
    let key = code_key(code, salt);
    let mut out = Vec::with_capacity(WRAPPED_LEN);
    out.extend_from_slice(salt);
    out.extend_from_slice(iv);
    out.extend_from_slice(&aes256_ctr_apply(&key, iv, public));
    out
}

/// Unwraps a key wrapped by [`wrap_public`] (extra trailing bytes are ignored, as peers do).
///
/// # Errors
/// [`PairCodeError::Malformed`] under 80 bytes.
pub fn unwrap_public(code: &str, wrapped: &[u8]) -> Result<[u8; 32], PairCodeError> {
    if wrapped.len() < WRAPPED_LEN {
        return Err(PairCodeError::Malformed("wrapped ephemeral key"));
    }
    let key = code_key(code, &wrapped[..32]);
    let iv: [u8; 16] = wrapped[32..48].try_into().unwrap_or([0; 16]);
    let plain = aes256_ctr_apply(&key, &iv, &wrapped[48..80]);
    let mut out = [0u8; 32];
    out.copy_from_slice(&plain);
    Ok(out)
}

fn bundle_key(shared: &[u8; 32], salt: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    let _ = hkdf_sha256(shared, Some(salt), BUNDLE_KEY_INFO, key.as_mut());
    key
}

fn adv_secret(
    ephemeral_shared: &[u8; 32],
    identity_shared: &[u8; 32],
    random: &[u8],
) -> Zeroizing<[u8; 32]> {
    let input = Zeroizing::new([&ephemeral_shared[..], identity_shared, random].concat());
    let mut out = Zeroizing::new([0u8; 32]);
    let _ = hkdf_sha256(&input, None, ADV_SECRET_INFO, out.as_mut());
    out
}

/// The companion's state between `companion_hello` and the phone's answer.
pub struct CompanionLink {
    /// The phone's JID (`<digits>@s.whatsapp.net`).
    pub jid: Jid,
    code: Zeroizing<String>,
    ephemeral: KeyPair,
    pairing_ref: Option<Vec<u8>>,
}

impl core::fmt::Debug for CompanionLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CompanionLink")
            .field("jid", &self.jid.to_string())
            .field("code", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl CompanionLink {
    /// Starts linking `phone`: returns the state, the code to show the user and the
    /// `link_code_companion_reg` (stage `companion_hello`) to send in an `md` iq.
    ///
    /// # Errors
    /// [`PairCodeError::BadPhone`].
    pub fn start<R: RngCore + CryptoRng>(
        phone: &str,
        noise_public: &[u8; 32],
        platform_id: &str,
        platform_display: &str,
        rng: &mut R,
    ) -> Result<(CompanionLink, String, Node), PairCodeError> {
        let digits = normalize_phone(phone)?;
        let mut code_bytes = [0u8; 5];
        rng.fill_bytes(&mut code_bytes);
        let code = encode_code(&code_bytes);
        let ephemeral = KeyPair::generate(rng);
        let mut salt = [0u8; 32];
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut iv);
        let wrapped = wrap_public(&code, &salt, &iv, &ephemeral.public_bytes());
        let jid = Jid::new(digits, Server::parse("s.whatsapp.net"));
        let node = Node::new("link_code_companion_reg")
            .attr("jid", &jid)
            .attr("stage", "companion_hello")
            .attr("should_show_push_notification", "true")
            .children([
                Node::new("link_code_pairing_wrapped_companion_ephemeral_pub").bytes(wrapped),
                Node::new("companion_server_auth_key_pub").bytes(noise_public.to_vec()),
                Node::new("companion_platform_id").bytes(platform_id.as_bytes().to_vec()),
                Node::new("companion_platform_display").bytes(platform_display.as_bytes().to_vec()),
                Node::new("link_code_pairing_nonce").bytes(vec![b'0']),
            ]);
        let link = CompanionLink {
            jid,
            code: Zeroizing::new(code.clone()),
            ephemeral,
            pairing_ref: None,
        };
        Ok((link, code, node))
    }

    /// Records the `link_code_pairing_ref` from the server's answer to `companion_hello`, so a
    /// notification for another attempt is refused.
    pub fn set_ref(&mut self, pairing_ref: Vec<u8>) {
        self.pairing_ref = Some(pairing_ref);
    }

    /// Handles the phone's answer (the `link_code_companion_reg` inside the notification):
    /// returns the new ADV secret and the `companion_finish` node to send.
    ///
    /// # Errors
    /// [`PairCodeError`]; on error nothing is derived.
    pub fn finish<R: RngCore + CryptoRng>(
        &self,
        reg: &Node,
        identity: &KeyPair,
        rng: &mut R,
    ) -> Result<(Zeroizing<[u8; 32]>, Node), PairCodeError> {
        let pairing_ref = child_bytes(reg, "link_code_pairing_ref")?;
        if let Some(ours) = &self.pairing_ref {
            if ours.as_slice() != pairing_ref {
                return Err(PairCodeError::RefMismatch);
            }
        }
        let wrapped = child_bytes(reg, "link_code_pairing_wrapped_primary_ephemeral_pub")?;
        let primary_identity: [u8; 32] = child_bytes(reg, "primary_identity_pub")?
            .try_into()
            .map_err(|_| PairCodeError::Malformed("primary_identity_pub"))?;
        let primary_ephemeral = unwrap_public(&self.code, wrapped)?;
        let shared = self.ephemeral.shared_secret(&primary_ephemeral);
        let identity_shared = identity.shared_secret(&primary_identity);
        if is_all_zero(shared.as_ref()) || is_all_zero(identity_shared.as_ref()) {
            return Err(PairCodeError::BadKey);
        }
        let mut random = Zeroizing::new([0u8; 32]);
        let mut salt = [0u8; 32];
        let mut nonce = [0u8; 12];
        rng.fill_bytes(random.as_mut());
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut nonce);
        let key = bundle_key(&shared, &salt);
        let plain = Zeroizing::new(
            [
                &identity.public_bytes()[..],
                &primary_identity,
                random.as_ref(),
            ]
            .concat(),
        );
        let sealed = aes256_gcm_encrypt(&key, &nonce, &[], &plain);
        let bundle = [&salt[..], &nonce, &sealed].concat();
        let secret = adv_secret(&shared, &identity_shared, random.as_ref());
        let node = Node::new("link_code_companion_reg")
            .attr("jid", &self.jid)
            .attr("stage", "companion_finish")
            .children([
                Node::new("link_code_pairing_wrapped_key_bundle").bytes(bundle),
                Node::new("companion_identity_public").bytes(identity.public_bytes().to_vec()),
                Node::new("link_code_pairing_ref").bytes(pairing_ref.to_vec()),
            ]);
        Ok((secret, node))
    }
}

fn child_bytes<'n>(node: &'n Node, tag: &'static str) -> Result<&'n [u8], PairCodeError> {
    node.child(tag)
        .and_then(Node::content_bytes)
        .ok_or(PairCodeError::Malformed(tag))
}

/// The phone's side, for simulators and tests: after the user typed `code`, unwraps the
/// companion's key and returns the phone's wrapped ephemeral key and the state to finish with.
///
/// # Errors
/// [`PairCodeError::Malformed`] for a short wrapped key.
pub fn primary_hello<R: RngCore + CryptoRng>(
    code: &str,
    companion_wrapped: &[u8],
    rng: &mut R,
) -> Result<(PrimaryLink, Vec<u8>), PairCodeError> {
    let companion_ephemeral = unwrap_public(code, companion_wrapped)?;
    let ephemeral = KeyPair::generate(rng);
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 16];
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut iv);
    let wrapped = wrap_public(code, &salt, &iv, &ephemeral.public_bytes());
    Ok((
        PrimaryLink {
            ephemeral,
            companion_ephemeral,
        },
        wrapped,
    ))
}

/// The phone's state between its answer and `companion_finish`.
#[derive(Debug)]
pub struct PrimaryLink {
    ephemeral: KeyPair,
    companion_ephemeral: [u8; 32],
}

impl PrimaryLink {
    /// The phone's state from its ephemeral key and the companion's unwrapped ephemeral public
    /// key (for known-answer tests; [`primary_hello`] builds it in the normal flow).
    pub fn from_parts(ephemeral: KeyPair, companion_ephemeral: [u8; 32]) -> PrimaryLink {
        PrimaryLink {
            ephemeral,
            companion_ephemeral,
        }
    }

    /// Opens the companion's key bundle with the phone's identity key: returns the companion's
    /// identity key and the ADV secret.
    ///
    /// # Errors
    /// [`PairCodeError::WrongCode`] when the bundle does not decrypt (the code was typed wrong),
    /// [`PairCodeError::Malformed`] for a bundle of the wrong shape.
    pub fn open_bundle(
        &self,
        bundle: &[u8],
        primary_identity: &KeyPair,
    ) -> Result<([u8; 32], Zeroizing<[u8; 32]>), PairCodeError> {
        if bundle.len() < 32 + 12 + 16 {
            return Err(PairCodeError::Malformed("key bundle"));
        }
        let shared = self.ephemeral.shared_secret(&self.companion_ephemeral);
        let key = bundle_key(&shared, &bundle[..32]);
        let nonce: [u8; 12] = bundle[32..44].try_into().unwrap_or([0; 12]);
        let plain = Zeroizing::new(
            aes256_gcm_decrypt(&key, &nonce, &[], &bundle[44..])
                .map_err(|_| PairCodeError::WrongCode)?,
        );
        if plain.len() != 96 || plain[32..64] != primary_identity.public_bytes() {
            return Err(PairCodeError::Malformed("key bundle contents"));
        }
        let mut companion_identity = [0u8; 32];
        companion_identity.copy_from_slice(&plain[..32]);
        let identity_shared = primary_identity.shared_secret(&companion_identity);
        Ok((
            companion_identity,
            adv_secret(&shared, &identity_shared, &plain[64..96]),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_eight_alphabet_chars_msb_first() {
        assert_eq!(encode_code(&[0; 5]), "11111111");
        assert_eq!(encode_code(&[0xff; 5]), "ZZZZZZZZ");
        // 0x08 0x42 ... : first 5 bits 00001 -> '2', next 00001 -> '2'.
        assert_eq!(&encode_code(&[0x08, 0x42, 0, 0, 0])[..3], "222");
    }

    #[test]
    fn phone_numbers_are_checked() {
        assert_eq!(normalize_phone("+1 (555) 000-1111").unwrap(), "15550001111");
        assert!(matches!(
            normalize_phone("0555123456"),
            Err(PairCodeError::BadPhone { .. })
        ));
        assert!(matches!(
            normalize_phone("123456"),
            Err(PairCodeError::BadPhone { digits: 6 })
        ));
    }
}
