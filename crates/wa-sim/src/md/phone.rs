//! The simulated primary phone of one account: it holds the account signing key (the ADV key that
//! vouches for companion devices), its own Signal identity key (used by pair-code linking), a phone
//! number and a LID, and it signs each new companion's `ADVDeviceIdentity`.
//!
//! The phone SIGNS, the companion verifies: this is the primary's half of ADV, written for the
//! simulator (the client's checks live in wa-core).

use rand::RngCore;
use serde::{Deserialize, Serialize};
use wa_core::md::adv;
use wa_crypto::{CryptoRng, KeyPair, hmac_sha256, xeddsa_sign_rng, xeddsa_verify};
use wa_proto::prost::Message as _;
use wa_proto::proto::{AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac};

use super::keys::SecretKey;

/// Why a companion's `pair-device-sign` is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeviceSignError {
    /// The bytes are not an `ADVSignedDeviceIdentity`.
    #[error("device-identity is not an ADVSignedDeviceIdentity")]
    Malformed,
    /// The details differ from what the phone signed.
    #[error("device-identity details differ from the ones the phone signed")]
    DetailsChanged,
    /// The account signature differs from the phone's.
    #[error("account signature differs from the phone's")]
    AccountSignatureChanged,
    /// No device signature, or one that does not verify under the companion's identity key.
    #[error("device signature does not verify")]
    BadDeviceSignature,
}

/// One account's primary device.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Phone {
    /// The phone number (the `user` of `number@s.whatsapp.net`).
    pub number: u64,
    /// The account's LID (`lid@lid`).
    pub lid: u64,
    /// The account (ADV) signing key.
    pub account_key: SecretKey,
    /// The phone's own Signal identity key (device 0).
    pub identity: SecretKey,
    /// The account's ADV raw id (random, fixed for the account).
    pub raw_id: u32,
    /// The next companion device id (1, 2, ...; 0 is the phone).
    pub next_device: u32,
    /// The next ADV key index.
    pub next_key_index: u32,
}

/// A signed identity for one companion, as the phone made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCompanion {
    /// The companion's device id.
    pub device: u32,
    /// The key index in the details.
    pub key_index: u32,
    /// Encoded `ADVDeviceIdentity`.
    pub details: Vec<u8>,
    /// The account signature over `[6,0] ‖ details ‖ companion identity`.
    pub account_signature: Vec<u8>,
    /// Encoded `ADVSignedDeviceIdentityHMAC`, the `device-identity` of `pair-success`.
    pub hmac_wrapped: Vec<u8>,
}

impl Phone {
    /// A new phone with fresh keys.
    pub fn generate<R: RngCore + CryptoRng>(number: u64, lid: u64, rng: &mut R) -> Phone {
        Phone {
            number,
            lid,
            account_key: SecretKey::generate(rng),
            identity: SecretKey::generate(rng),
            raw_id: rng.next_u32(),
            next_device: 1,
            next_key_index: 1,
        }
    }

    /// `number@s.whatsapp.net` for device 0, `number:device@s.whatsapp.net` otherwise.
    pub fn jid(&self, device: u32) -> String {
        device_jid(self.number, device, "s.whatsapp.net")
    }

    /// The LID form of [`Phone::jid`].
    pub fn lid_jid(&self, device: u32) -> String {
        device_jid(self.lid, device, "lid")
    }

    /// Allocates a device id and key index for a companion with identity key `companion` and
    /// signs it; `adv_secret` is the companion's (from the QR or the pair-code exchange).
    pub fn sign_companion<R: RngCore + CryptoRng>(
        &mut self,
        companion: &[u8; 32],
        adv_secret: &[u8],
        now: u64,
        rng: &mut R,
    ) -> SignedCompanion {
        let device = self.next_device;
        let key_index = self.next_key_index;
        self.next_device += 1;
        self.next_key_index += 1;
        let details = AdvDeviceIdentity {
            raw_id: Some(self.raw_id),
            timestamp: Some(now),
            key_index: Some(key_index),
            account_type: None,
            device_type: None,
        }
        .encode_to_vec();
        let account_signature = xeddsa_sign_rng(
            &self.account_key.pair(),
            &adv::account_signature_message(&details, companion, false),
            rng,
        )
        .to_vec();
        let signed = AdvSignedDeviceIdentity {
            details: Some(details.clone()),
            account_signature_key: Some(self.account_key.public().to_vec()),
            account_signature: Some(account_signature.clone()),
            device_signature: None,
        }
        .encode_to_vec();
        let hmac = hmac_sha256(adv_secret, &[&signed]);
        let hmac_wrapped = AdvSignedDeviceIdentityHmac {
            details: Some(signed),
            hmac: Some(hmac.to_vec()),
            account_type: None,
        }
        .encode_to_vec();
        SignedCompanion {
            device,
            key_index,
            details,
            account_signature,
            hmac_wrapped,
        }
    }

    /// Checks the companion's counter-signed identity (`pair-device-sign`): same details and
    /// account signature as `signed`, and a device signature by `companion` over
    /// `[6,1] ‖ details ‖ companion ‖ account key`. Returns the full signed identity (with the
    /// account key) as the registry keeps it.
    pub fn verify_device_sign(
        &self,
        signed: &SignedCompanion,
        companion: &[u8; 32],
        reply: &[u8],
    ) -> Result<Vec<u8>, DeviceSignError> {
        let identity =
            AdvSignedDeviceIdentity::decode(reply).map_err(|_| DeviceSignError::Malformed)?;
        if identity.details.as_deref() != Some(&signed.details[..]) {
            return Err(DeviceSignError::DetailsChanged);
        }
        if identity.account_signature.as_deref() != Some(&signed.account_signature[..]) {
            return Err(DeviceSignError::AccountSignatureChanged);
        }
        if identity
            .account_signature_key
            .as_deref()
            .is_some_and(|key| key != self.account_key.public())
        {
            return Err(DeviceSignError::AccountSignatureChanged);
        }
        let signature = identity
            .device_signature
            .as_deref()
            .ok_or(DeviceSignError::BadDeviceSignature)?;
        let message =
            adv::device_signature_message(&signed.details, companion, &self.account_key.public());
        xeddsa_verify(companion, &message, signature)
            .map_err(|_| DeviceSignError::BadDeviceSignature)?;
        Ok(AdvSignedDeviceIdentity {
            account_signature_key: Some(self.account_key.public().to_vec()),
            ..identity
        }
        .encode_to_vec())
    }

    /// The phone's identity key pair.
    pub fn identity_pair(&self) -> KeyPair {
        self.identity.pair()
    }
}

/// `user@server` or `user:device@server`.
pub fn device_jid(user: u64, device: u32, server: &str) -> String {
    if device == 0 {
        format!("{user}@{server}")
    } else {
        format!("{user}:{device}@{server}")
    }
}
