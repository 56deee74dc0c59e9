//! X3DH session setup (Signal's pre-PQ version 3, as WhatsApp runs it), both roles.
//!
//! The master secret is `0xFF × 32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4]` with, for initiator A and
//! responder B: `DH1 = DH(IK_A, SPK_B)`, `DH2 = DH(EK_A, IK_B)`, `DH3 = DH(EK_A, SPK_B)`,
//! `DH4 = DH(EK_A, OPK_B)` when a one-time prekey was used. `HKDF(salt = 0³², info =
//! "WhisperText")` → 64 bytes: root key, chain key. The responder's first sending chain is that
//! chain key under its signed prekey as ratchet key; the initiator, which sends first, takes a
//! root step to a fresh ratchet key at once.

use wa_crypto::{CryptoRng, KeyPair, RngCore, hkdf_sha256};
use zeroize::Zeroizing;

use crate::error::Result;
use crate::keys::{PreKeyBundle, PublicKey};
use crate::session::{
    ChainKey, PendingPreKey, RatchetKey, ReceiverChain, Secret32, SenderChain, SessionState, dh,
    root_step,
};

fn derive(parts: &[&[u8; 32]]) -> ([u8; 32], ChainKey) {
    let mut secret = Zeroizing::new(Vec::with_capacity(32 * 5));
    secret.extend_from_slice(&[0xFF; 32]);
    for part in parts {
        secret.extend_from_slice(&part[..]);
    }
    let mut out = Zeroizing::new([0u8; 64]);
    hkdf_sha256(&secret, None, b"WhisperText", out.as_mut()).expect("64 bytes");
    let mut root = [0u8; 32];
    root.copy_from_slice(&out[..32]);
    let mut chain = ChainKey {
        key: [0; 32],
        index: 0,
    };
    chain.key.copy_from_slice(&out[32..]);
    (root, chain)
}

/// The initiator's side, from the peer's (already verified) bundle.
pub(crate) fn initiate<R: RngCore + CryptoRng>(
    identity: &KeyPair,
    registration_id: u32,
    bundle: &PreKeyBundle,
    rng: &mut R,
) -> Result<SessionState> {
    let base = KeyPair::generate(rng);
    let dh1 = dh(identity, &bundle.signed_pre_key)?;
    let dh2 = dh(&base, &bundle.identity_key)?;
    let dh3 = dh(&base, &bundle.signed_pre_key)?;
    let dh4 = bundle.pre_key.map(|(_, key)| dh(&base, &key)).transpose()?;
    let mut parts = vec![&*dh1, &*dh2, &*dh3];
    if let Some(dh4) = &dh4 {
        parts.push(dh4);
    }
    let (root, chain) = derive(&parts);
    let sending_ratchet = KeyPair::generate(rng);
    let (root, sending) = root_step(
        &root,
        &sending_ratchet.private_bytes(),
        &bundle.signed_pre_key,
    )?;
    Ok(SessionState {
        local_identity: PublicKey::of(identity),
        remote_identity: bundle.identity_key,
        local_registration_id: registration_id,
        remote_registration_id: bundle.registration_id,
        root_key: Secret32(root),
        base_key: PublicKey::of(&base),
        sender: SenderChain {
            ratchet: RatchetKey::from_pair(&sending_ratchet),
            chain: sending,
        },
        receivers: vec![ReceiverChain {
            ratchet: bundle.signed_pre_key,
            chain,
            skipped: Vec::new(),
        }],
        previous_counter: 0,
        pending: Some(PendingPreKey {
            pre_key_id: bundle.pre_key.map(|(id, _)| id),
            signed_pre_key_id: bundle.signed_pre_key_id,
            base_key: PublicKey::of(&base),
        }),
    })
}

/// What the responder knows when a `pkmsg` arrives.
pub(crate) struct Responder<'a> {
    pub(crate) identity: &'a KeyPair,
    pub(crate) registration_id: u32,
    pub(crate) signed_pre_key: &'a KeyPair,
    pub(crate) one_time_pre_key: Option<&'a KeyPair>,
    pub(crate) their_identity: PublicKey,
    pub(crate) their_registration_id: u32,
    pub(crate) their_base_key: PublicKey,
}

/// The responder's side.
pub(crate) fn respond(r: &Responder<'_>) -> Result<SessionState> {
    let dh1 = dh(r.signed_pre_key, &r.their_identity)?;
    let dh2 = dh(r.identity, &r.their_base_key)?;
    let dh3 = dh(r.signed_pre_key, &r.their_base_key)?;
    let dh4 = r
        .one_time_pre_key
        .map(|key| dh(key, &r.their_base_key))
        .transpose()?;
    let mut parts = vec![&*dh1, &*dh2, &*dh3];
    if let Some(dh4) = &dh4 {
        parts.push(dh4);
    }
    let (root, chain) = derive(&parts);
    Ok(SessionState {
        local_identity: PublicKey::of(r.identity),
        remote_identity: r.their_identity,
        local_registration_id: r.registration_id,
        remote_registration_id: r.their_registration_id,
        root_key: Secret32(root),
        base_key: r.their_base_key,
        sender: SenderChain {
            ratchet: RatchetKey::from_pair(r.signed_pre_key),
            chain,
        },
        receivers: Vec::new(),
        previous_counter: 0,
        pending: None,
    })
}
