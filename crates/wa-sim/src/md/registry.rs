//! The device registry: every companion device linked to a simulated phone, with the Signal keys
//! it uploaded, ready to be served as bundles (one one-time prekey consumed per fetch).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::keys::{b64, b64_32};

/// A 32-byte public key (base64 in the state file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey(#[serde(with = "b64_32")] pub [u8; 32]);

/// A signed prekey as uploaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPreKey {
    /// Its id (3 bytes on the wire).
    pub id: u32,
    /// Its public key.
    pub public: PublicKey,
    /// The identity key's XEdDSA signature over `0x05 ‖ public`.
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
}

/// One companion device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The account's phone number.
    pub number: u64,
    /// The device id (1, 2, ...).
    pub device: u32,
    /// The key index the phone gave it.
    pub key_index: u32,
    /// The Noise static key it registered with; its logins must use the same key.
    pub noise_key: PublicKey,
    /// Its Signal identity key.
    pub identity: PublicKey,
    /// Its registration id.
    pub registration_id: u32,
    /// The signed prekey (from registration, replaced by uploads and rotations).
    pub signed_prekey: Option<SignedPreKey>,
    /// One-time prekeys as uploaded and not yet served, by id.
    pub prekeys: BTreeMap<u32, PublicKey>,
    /// The platform it named (the QR's or the pair code's platform field).
    pub platform: String,
    /// The account-signed and device-counter-signed `ADVSignedDeviceIdentity`.
    #[serde(with = "b64")]
    pub signed_identity: Vec<u8>,
    /// When it was linked (unix seconds).
    pub linked_at: u64,
}

/// A bundle served to another device to start a Signal session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The device's registration id.
    pub registration_id: u32,
    /// Its identity key.
    pub identity: [u8; 32],
    /// Its signed prekey.
    pub signed_prekey: SignedPreKey,
    /// One one-time prekey (now removed from the registry), if any was left.
    pub prekey: Option<(u32, [u8; 32])>,
}

/// Every linked companion device, by `(number, device)`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Registry {
    devices: Vec<Device>,
}

impl Registry {
    /// Adds (or replaces) a device.
    pub fn insert(&mut self, device: Device) {
        self.remove(device.number, device.device);
        self.devices.push(device);
    }

    /// The device, if linked.
    pub fn get(&self, number: u64, device: u32) -> Option<&Device> {
        self.devices
            .iter()
            .find(|d| d.number == number && d.device == device)
    }

    /// The device, mutably.
    pub fn get_mut(&mut self, number: u64, device: u32) -> Option<&mut Device> {
        self.devices
            .iter_mut()
            .find(|d| d.number == number && d.device == device)
    }

    /// Removes a device; returns it.
    pub fn remove(&mut self, number: u64, device: u32) -> Option<Device> {
        let index = self
            .devices
            .iter()
            .position(|d| d.number == number && d.device == device)?;
        Some(self.devices.remove(index))
    }

    /// The devices of one account, by device id.
    pub fn devices_of(&self, number: u64) -> Vec<&Device> {
        let mut devices: Vec<&Device> =
            self.devices.iter().filter(|d| d.number == number).collect();
        devices.sort_by_key(|d| d.device);
        devices
    }

    /// Every device.
    pub fn all(&self) -> &[Device] {
        &self.devices
    }

    /// A bundle for starting a session with the device: the lowest-numbered one-time prekey
    /// is handed out and forgotten (WhatsApp serves each one-time prekey once). `None` when the
    /// device is unknown or has no signed prekey yet.
    pub fn take_bundle(&mut self, number: u64, device: u32) -> Option<Bundle> {
        let entry = self.get_mut(number, device)?;
        let signed_prekey = entry.signed_prekey.clone()?;
        let prekey = entry.prekeys.pop_first().map(|(id, key)| (id, key.0));
        Some(Bundle {
            registration_id: entry.registration_id,
            identity: entry.identity.0,
            signed_prekey,
            prekey,
        })
    }
}
