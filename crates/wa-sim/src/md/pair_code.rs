//! Pair-code linking, the primary's side (`link_code_companion_reg`).
//!
//! 1. The companion sends `companion_hello`: its ephemeral public key wrapped under the 8-character
//!    code (`salt(32) ‖ iv(16) ‖ AES-256-CTR(key, iv, ephemeral)`, key = PBKDF2-SHA256(code, salt,
//!    131,072 rounds, 32 bytes)). The server answers with a pairing ref.
//! 2. The user types the code on the phone; the phone unwraps the companion's ephemeral, wraps its
//!    own the same way and sends it with its identity key in a `link_code_companion_reg`
//!    notification.
//! 3. The companion sends `companion_finish`: `salt(32) ‖ iv(12) ‖ AES-256-GCM(key, iv, companion
//!    identity ‖ primary identity ‖ random(32))`, key = HKDF(DH(ephemerals), salt,
//!    `link_code_pairing_key_bundle_encryption_key`). The phone decrypts it (a mistyped code
//!    makes the two ephemerals disagree and the tag fails), and both derive the ADV secret
//!    HKDF(DH(ephemerals) ‖ DH(primary identity, companion identity) ‖ random, no salt,
//!    `adv_secret`).

use wa_binary::Node;
use wa_crypto::{
    CTR_IV_LEN, CryptoRng, GCM_NONCE_LEN, KeyPair, RngCore, aes256_ctr_apply, aes256_gcm_decrypt,
    hkdf_sha256, pbkdf2_sha256,
};
use zeroize::Zeroizing;

/// PBKDF2 rounds for the code key (`2 << 16`).
pub const CODE_ROUNDS: u32 = 2 << 16;
/// Characters in a pairing code.
pub const CODE_LEN: usize = 8;
/// Length of a wrapped ephemeral: salt, IV and the 32-byte key.
pub const WRAPPED_LEN: usize = 32 + CTR_IV_LEN + 32;
/// HKDF info of the key-bundle encryption key.
pub const BUNDLE_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
/// HKDF info of the ADV secret.
pub const ADV_SECRET_INFO: &[u8] = b"adv_secret";

/// Why a pair-code step is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PairCodeError {
    /// A child is missing or has the wrong size.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The code is not 8 characters of the pairing alphabet.
    #[error("a pairing code is 8 letters or digits")]
    BadCode,
    /// The key bundle does not decrypt (a mistyped code, or a forged bundle).
    #[error("the key bundle does not decrypt (wrong code?)")]
    BundleRejected,
    /// The bundle names other identity keys than the ones exchanged.
    #[error("the key bundle names other identity keys")]
    IdentityMismatch,
}

/// The companion's `companion_hello`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompanionHello {
    /// The phone number the companion wants to link to.
    pub number: u64,
    /// Its wrapped ephemeral key.
    pub wrapped: Vec<u8>,
    /// Its Noise static key (`companion_server_auth_key_pub`).
    pub noise_key: [u8; 32],
    /// `companion_platform_id`.
    pub platform_id: String,
    /// `companion_platform_display`.
    pub platform_display: String,
}

fn child_bytes<'n>(node: &'n Node, tag: &'static str) -> Result<&'n [u8], PairCodeError> {
    node.child(tag)
        .and_then(Node::content_bytes)
        .ok_or(PairCodeError::Malformed(tag))
}

fn child_text(node: &Node, tag: &'static str) -> String {
    node.child(tag)
        .and_then(Node::content_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// Reads a `companion_hello` (`reg` is the `link_code_companion_reg` child).
pub fn parse_hello(reg: &Node) -> Result<CompanionHello, PairCodeError> {
    let jid = reg
        .attrs
        .get("jid")
        .ok_or(PairCodeError::Malformed("jid"))?;
    let number = jid
        .split(['@', ':'])
        .next()
        .and_then(|user| user.parse().ok())
        .ok_or(PairCodeError::Malformed("jid"))?;
    let wrapped = child_bytes(reg, "link_code_pairing_wrapped_companion_ephemeral_pub")?;
    if wrapped.len() != WRAPPED_LEN {
        return Err(PairCodeError::Malformed(
            "link_code_pairing_wrapped_companion_ephemeral_pub",
        ));
    }
    let noise_key = child_bytes(reg, "companion_server_auth_key_pub")?
        .try_into()
        .map_err(|_| PairCodeError::Malformed("companion_server_auth_key_pub"))?;
    Ok(CompanionHello {
        number,
        wrapped: wrapped.to_vec(),
        noise_key,
        platform_id: child_text(reg, "companion_platform_id"),
        platform_display: child_text(reg, "companion_platform_display"),
    })
}

/// The code as the companion used it: upper case, without separators; 8 characters.
pub fn normalize_code(code: &str) -> Result<String, PairCodeError> {
    let code: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if code.len() != CODE_LEN || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(PairCodeError::BadCode);
    }
    Ok(code)
}

fn code_key(code: &str, salt: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    // Fixed non-zero rounds and a 32-byte output: PBKDF2 cannot refuse them.
    let _ = pbkdf2_sha256(code.as_bytes(), salt, CODE_ROUNDS, &mut key[..]);
    key
}

/// Unwraps a wrapped ephemeral with `code` (any code gives 32 bytes; a wrong one gives the
/// wrong key, found out at `companion_finish`).
pub fn unwrap_ephemeral(code: &str, wrapped: &[u8]) -> Result<[u8; 32], PairCodeError> {
    if wrapped.len() != WRAPPED_LEN {
        return Err(PairCodeError::Malformed("wrapped ephemeral"));
    }
    let (salt, rest) = wrapped.split_at(32);
    let (iv, ciphertext) = rest.split_at(CTR_IV_LEN);
    let iv: &[u8; CTR_IV_LEN] = iv
        .try_into()
        .map_err(|_| PairCodeError::Malformed("wrapped ephemeral"))?;
    let key = code_key(code, salt);
    aes256_ctr_apply(&key, iv, ciphertext)
        .try_into()
        .map_err(|_| PairCodeError::Malformed("wrapped ephemeral"))
}

/// Wraps `public` under `code` with a fresh salt and IV.
pub fn wrap_ephemeral<R: RngCore + CryptoRng>(
    code: &str,
    public: &[u8; 32],
    rng: &mut R,
) -> Vec<u8> {
    let mut salt = [0u8; 32];
    let mut iv = [0u8; CTR_IV_LEN];
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut iv);
    let key = code_key(code, &salt);
    [&salt[..], &iv, &aes256_ctr_apply(&key, &iv, public)].concat()
}

/// The phone's check of `companion_finish`; returns the ADV secret.
///
/// `primary_ephemeral` is the phone's, `companion_ephemeral` what it unwrapped at the hello,
/// `phone_identity` its identity key and `companion_identity` the one the companion registered.
pub fn finish(
    primary_ephemeral: &KeyPair,
    companion_ephemeral: &[u8; 32],
    phone_identity: &KeyPair,
    companion_identity: &[u8; 32],
    wrapped_bundle: &[u8],
) -> Result<Zeroizing<[u8; 32]>, PairCodeError> {
    if wrapped_bundle.len() < 32 + GCM_NONCE_LEN + 16 {
        return Err(PairCodeError::Malformed(
            "link_code_pairing_wrapped_key_bundle",
        ));
    }
    let (salt, rest) = wrapped_bundle.split_at(32);
    let (iv, ciphertext) = rest.split_at(GCM_NONCE_LEN);
    let iv: &[u8; GCM_NONCE_LEN] = iv
        .try_into()
        .map_err(|_| PairCodeError::Malformed("link_code_pairing_wrapped_key_bundle"))?;
    let shared = primary_ephemeral.shared_secret(companion_ephemeral);
    let mut key = Zeroizing::new([0u8; 32]);
    hkdf_sha256(&shared[..], Some(salt), BUNDLE_INFO, &mut key[..])
        .map_err(|_| PairCodeError::BundleRejected)?;
    let plain = Zeroizing::new(
        aes256_gcm_decrypt(&key, iv, &[], ciphertext).map_err(|_| PairCodeError::BundleRejected)?,
    );
    if plain.len() != 96 {
        return Err(PairCodeError::Malformed("key bundle"));
    }
    if plain[..32] != companion_identity[..] || plain[32..64] != phone_identity.public_bytes() {
        return Err(PairCodeError::IdentityMismatch);
    }
    let identity_shared = phone_identity.shared_secret(companion_identity);
    let material = Zeroizing::new([&shared[..], &identity_shared[..], &plain[64..]].concat());
    let mut adv = Zeroizing::new([0u8; 32]);
    hkdf_sha256(&material, None, ADV_SECRET_INFO, &mut adv[..])
        .map_err(|_| PairCodeError::BundleRejected)?;
    Ok(adv)
}
