//! ADV ("account device verification"): how the phone vouches for a new companion at pairing,
//! and the companion's counter-signature.
//!
//! The phone sends `ADVSignedDeviceIdentityHMAC { details, hmac, account_type }` where `details`
//! is an `ADVSignedDeviceIdentity { details: ADVDeviceIdentity, account_signature_key,
//! account_signature }`. The companion checks, in this order:
//! 1. `hmac == HMAC-SHA256(adv_secret, [6,5 if hosted] ‖ details)`: the phone saw our QR (or
//!    ran the pair-code exchange with us), since only it knows the ADV secret;
//! 2. `account_signature` verifies (XEdDSA) under `account_signature_key` over
//!    `[6,0] (or [6,5] for a hosted device) ‖ inner details ‖ OUR identity key`: the account
//!    vouches for this very key, not another device's;
//! 3. then signs `[6,1] ‖ inner details ‖ our identity key ‖ account key` and returns the
//!    identity with the device signature and without the account key (`pair-device-sign`).
//!
//! Every check failing is a distinct [`AdvError`]; nothing is produced on failure.
//!
//! Later, every `pkmsg` a companion sends carries that identity (`device-identity`), so that its
//! peers can check the new session belongs to the account: [`verify_peer_identity`].

use wa_crypto::{
    CryptoRng, KeyPair, RngCore, hmac_sha256_verify, xeddsa_sign, xeddsa_sign_rng, xeddsa_verify,
};
use wa_proto::prost::Message as _;
use wa_proto::proto::{
    AdvDeviceIdentity, AdvEncryptionType, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
};

/// Prefix of the account signature (E2EE device).
pub const ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
/// Prefix of the device signature.
pub const DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];
/// Prefix of the HMAC input and account signature for hosted (business API) accounts.
pub const HOSTED_ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 5];

/// Why a `pair-success` device identity was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdvError {
    /// A protobuf layer did not decode (or a required field was missing).
    #[error("malformed device identity ({0})")]
    Malformed(&'static str),
    /// The HMAC under our ADV secret does not match: the sender does not know our QR's secret.
    #[error("device identity HMAC mismatch")]
    HmacMismatch,
    /// The account signature does not verify over our identity key: forged, or issued for
    /// another device's key.
    #[error("account signature does not verify for our identity key")]
    AccountSignature,
}

/// A verified and counter-signed device identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The serialized `ADVDeviceIdentity` (what both signatures cover).
    pub details: Vec<u8>,
    /// The account's signing key.
    pub account_signature_key: [u8; 32],
    /// The account's signature.
    pub account_signature: [u8; 64],
    /// Our signature.
    pub device_signature: [u8; 64],
    /// The device's key index.
    pub key_index: u32,
    /// The `ADVSignedDeviceIdentity` to send back in `pair-device-sign`: details, account
    /// signature and device signature, account key left out.
    pub reply: Vec<u8>,
}

/// The account-signature message: `prefix ‖ details ‖ identity`.
pub fn account_signature_message(details: &[u8], identity: &[u8; 32], hosted: bool) -> Vec<u8> {
    let prefix = if hosted {
        HOSTED_ACCOUNT_SIGNATURE_PREFIX
    } else {
        ACCOUNT_SIGNATURE_PREFIX
    };
    [&prefix[..], details, identity].concat()
}

/// The device-signature message: `[6,1] ‖ details ‖ identity ‖ account key`.
pub fn device_signature_message(
    details: &[u8],
    identity: &[u8; 32],
    account_key: &[u8; 32],
) -> Vec<u8> {
    [&DEVICE_SIGNATURE_PREFIX[..], details, identity, account_key].concat()
}

/// The ADV HMAC input prefix for an account type.
pub fn hmac_prefix(hosted: bool) -> &'static [u8] {
    if hosted {
        &HOSTED_ACCOUNT_SIGNATURE_PREFIX
    } else {
        &[]
    }
}

/// Checks a `pair-success` `device-identity` (see the module docs) and counter-signs it with
/// `identity`, drawing the XEdDSA randomness from `rng`.
///
/// # Errors
/// [`AdvError`]; nothing is signed unless every check passed.
pub fn verify_and_sign<R: RngCore + CryptoRng>(
    container: &[u8],
    adv_secret: &[u8; 32],
    identity: &KeyPair,
    rng: &mut R,
) -> Result<VerifiedIdentity, AdvError> {
    let mut z = zeroize::Zeroizing::new([0u8; 64]);
    rng.fill_bytes(z.as_mut());
    verify_and_sign_with(container, adv_secret, identity, &z)
}

/// [`verify_and_sign`] with the XEdDSA randomness given, for known-answer tests.
///
/// # Errors
/// [`AdvError`].
pub fn verify_and_sign_with(
    container: &[u8],
    adv_secret: &[u8; 32],
    identity: &KeyPair,
    random: &[u8; 64],
) -> Result<VerifiedIdentity, AdvError> {
    let container = AdvSignedDeviceIdentityHmac::decode(container)
        .map_err(|_| AdvError::Malformed("ADVSignedDeviceIdentityHMAC"))?;
    let signed_bytes = container
        .details
        .as_deref()
        .ok_or(AdvError::Malformed("hmac details"))?;
    let hmac = container
        .hmac
        .as_deref()
        .ok_or(AdvError::Malformed("hmac"))?;
    let hosted_account = container.account_type == Some(AdvEncryptionType::Hosted as i32);
    hmac_sha256_verify(
        adv_secret,
        &[hmac_prefix(hosted_account), signed_bytes],
        hmac,
    )
    .map_err(|_| AdvError::HmacMismatch)?;

    let signed = AdvSignedDeviceIdentity::decode(signed_bytes)
        .map_err(|_| AdvError::Malformed("ADVSignedDeviceIdentity"))?;
    let details = signed
        .details
        .clone()
        .ok_or(AdvError::Malformed("details"))?;
    let inner = AdvDeviceIdentity::decode(details.as_slice())
        .map_err(|_| AdvError::Malformed("ADVDeviceIdentity"))?;
    let account_signature_key: [u8; 32] = signed
        .account_signature_key
        .as_deref()
        .and_then(|k| k.try_into().ok())
        .ok_or(AdvError::AccountSignature)?;
    let account_signature: [u8; 64] = signed
        .account_signature
        .as_deref()
        .and_then(|s| s.try_into().ok())
        .ok_or(AdvError::AccountSignature)?;
    let hosted_device = inner.device_type == Some(AdvEncryptionType::Hosted as i32);
    let our_key = identity.public_bytes();
    let message = account_signature_message(&details, &our_key, hosted_device);
    xeddsa_verify(&account_signature_key, &message, &account_signature)
        .map_err(|_| AdvError::AccountSignature)?;

    let device_message = device_signature_message(&details, &our_key, &account_signature_key);
    let device_signature = xeddsa_sign(identity, &device_message, random);
    let reply = AdvSignedDeviceIdentity {
        details: Some(details.clone()),
        account_signature_key: None,
        account_signature: Some(account_signature.to_vec()),
        device_signature: Some(device_signature.to_vec()),
    }
    .encode_to_vec();
    Ok(VerifiedIdentity {
        details,
        account_signature_key,
        account_signature,
        device_signature,
        key_index: inner.key_index.unwrap_or(0),
        reply,
    })
}

/// The primary's side, for simulators and tests: the `ADVSignedDeviceIdentityHMAC` a phone with
/// `account` sends for a companion whose identity key is `companion_identity`.
pub fn primary_sign<R: RngCore + CryptoRng>(
    account: &KeyPair,
    companion_identity: &[u8; 32],
    adv_secret: &[u8; 32],
    identity: AdvDeviceIdentity,
    rng: &mut R,
) -> Vec<u8> {
    let hosted_device = identity.device_type == Some(AdvEncryptionType::Hosted as i32);
    let hosted_account = identity.account_type == Some(AdvEncryptionType::Hosted as i32);
    let details = identity.encode_to_vec();
    let message = account_signature_message(&details, companion_identity, hosted_device);
    let signed = AdvSignedDeviceIdentity {
        details: Some(details),
        account_signature_key: Some(account.public_bytes().to_vec()),
        account_signature: Some(xeddsa_sign_rng(account, &message, rng).to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let hmac = wa_crypto::hmac_sha256(adv_secret, &[hmac_prefix(hosted_account), &signed]);
    AdvSignedDeviceIdentityHmac {
        details: Some(signed),
        hmac: Some(hmac.to_vec()),
        account_type: hosted_account.then_some(AdvEncryptionType::Hosted as i32),
    }
    .encode_to_vec()
}

/// Why the `device-identity` of an incoming `pkmsg` from a companion device was refused: the
/// account does not vouch for the key that opened the session, so the message is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerIdentityError {
    /// A companion's `pkmsg` came without a `device-identity`: nothing ties its key to the
    /// account it claims to be.
    #[error("pkmsg from a companion device without a device-identity")]
    Missing,
    /// A protobuf layer did not decode, or a required field is missing or of the wrong length.
    #[error("malformed device identity ({0})")]
    Malformed(&'static str),
    /// The identity names an account key that is not the one we know for the sender's account
    /// (the identity key of its primary device).
    #[error("device identity signed by another account key")]
    AccountKeyMismatch,
    /// The account signature does not verify over the details and the key of the session's
    /// device: forged, or issued for another device.
    #[error("account signature does not verify for the sending device's key")]
    AccountSignature,
    /// The device signature does not verify under the session's identity key.
    #[error("device signature does not verify")]
    DeviceSignature,
    /// The key index is 0 (the primary's own) for a companion device, or differs from the one
    /// the device list announced for this device.
    #[error("key index {got} does not fit device (expected {expected:?})")]
    KeyIndex {
        /// The index in the identity's details.
        got: u32,
        /// The index the device list gave, when known.
        expected: Option<u32>,
    },
}

/// A companion's identity, checked: the account it belongs to and its key index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The account's signing key (the identity key of the account's primary device).
    pub account_key: [u8; 32],
    /// The device's index in the account's key index list.
    pub key_index: u32,
}

/// What [`verify_peer_identity`] checks against, besides the stanza.
#[derive(Clone, Copy, Debug)]
pub struct PeerIdentityCheck<'a> {
    /// The identity key the `pkmsg` opens its session with.
    pub device_key: &'a [u8; 32],
    /// The identity key we already hold for the sender's primary device (device 0), if any: the
    /// account key in the stanza must be this one.
    pub known_account_key: Option<&'a [u8; 32]>,
    /// The key index the device list gave for the sending device, if known.
    pub expected_key_index: Option<u32>,
}

/// Checks the `device-identity` (`ADVSignedDeviceIdentity`) that rides with a companion's
/// `pkmsg`, as WhatsApp clients do before trusting the new session:
/// 1. the account key is the stanza's `account_signature_key`, which must equal the known
///    account key when we have one (without either, there is nothing to check against);
/// 2. the account signature verifies under it over `[6,0] (or [6,5] hosted) ‖ details ‖ the
///    pkmsg's identity key`: the account linked *this* key (an identity lifted from another of
///    its devices fails here);
/// 3. the device signature verifies under the pkmsg's identity key over
///    `[6,1] ‖ details ‖ identity key ‖ account key`;
/// 4. the key index is not 0 (the primary's) and equals the device list's, when known.
///
/// # Errors
/// [`PeerIdentityError`], one variant per failed check.
pub fn verify_peer_identity(
    encoded: &[u8],
    check: PeerIdentityCheck<'_>,
) -> Result<PeerIdentity, PeerIdentityError> {
    let signed = AdvSignedDeviceIdentity::decode(encoded)
        .map_err(|_| PeerIdentityError::Malformed("ADVSignedDeviceIdentity"))?;
    let details = signed
        .details
        .as_deref()
        .ok_or(PeerIdentityError::Malformed("details"))?;
    let inner = AdvDeviceIdentity::decode(details)
        .map_err(|_| PeerIdentityError::Malformed("ADVDeviceIdentity"))?;
    let account_signature: [u8; 64] = signed
        .account_signature
        .as_deref()
        .and_then(|s| s.try_into().ok())
        .ok_or(PeerIdentityError::Malformed("account signature"))?;
    let device_signature: [u8; 64] = signed
        .device_signature
        .as_deref()
        .and_then(|s| s.try_into().ok())
        .ok_or(PeerIdentityError::Malformed("device signature"))?;
    let stated: Option<[u8; 32]> = match signed.account_signature_key.as_deref() {
        None | Some([]) => None,
        Some(key) => Some(
            key.try_into()
                .map_err(|_| PeerIdentityError::Malformed("account signature key"))?,
        ),
    };
    let account_key = match (stated, check.known_account_key) {
        (Some(stated), Some(known)) if stated != *known => {
            return Err(PeerIdentityError::AccountKeyMismatch);
        }
        (Some(key), _) => key,
        (None, Some(known)) => *known,
        (None, None) => return Err(PeerIdentityError::Malformed("no account key")),
    };
    let hosted_device = inner.device_type == Some(AdvEncryptionType::Hosted as i32);
    let message = account_signature_message(details, check.device_key, hosted_device);
    xeddsa_verify(&account_key, &message, &account_signature)
        .map_err(|_| PeerIdentityError::AccountSignature)?;
    let device_message = device_signature_message(details, check.device_key, &account_key);
    xeddsa_verify(check.device_key, &device_message, &device_signature)
        .map_err(|_| PeerIdentityError::DeviceSignature)?;
    let key_index = inner.key_index.unwrap_or(0);
    if key_index == 0 || check.expected_key_index.is_some_and(|e| e != key_index) {
        return Err(PeerIdentityError::KeyIndex {
            got: key_index,
            expected: check.expected_key_index,
        });
    }
    Ok(PeerIdentity {
        account_key,
        key_index,
    })
}
