//! 1:1 sessions: start one from a prekey bundle, encrypt, decrypt `pkmsg` and `msg`.
//!
//! Plaintexts go in and come out as given: WhatsApp's random padding is the caller's
//! ([`pad`](crate::pad) before encrypting, [`unpad`](crate::unpad) after decrypting).

use wa_crypto::{CryptoRng, RngCore};

use crate::error::{Error, Result};
use crate::keys::{PreKeyBundle, PublicKey};
use crate::record::SessionRecord;
use crate::session::SessionState;
use crate::store::{IdentityStore, ProtocolAddress, SessionStore, SessionStores};
use crate::wire::{MessageKind, PreKeySignalMessage, SignalMessageRef};
use crate::x3dh::{self, Responder};

/// An encrypted 1:1 message and its kind (`pkmsg` until the peer has answered, then `msg`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ciphertext {
    /// `PreKey` or `Whisper`.
    pub kind: MessageKind,
    /// The framed message.
    pub bytes: Vec<u8>,
}

/// Refuses a peer identity key other than the stored one: the caller must decide.
fn check_identity<S: IdentityStore + ?Sized>(
    store: &S,
    address: &ProtocolAddress,
    key: &PublicKey,
) -> Result<()> {
    match store.identity(address)? {
        Some(stored) if stored != *key => Err(Error::UntrustedIdentity {
            address: address.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Starts a session with `address` from its prekey bundle (the initiator's X3DH). The
/// signature over the signed prekey is verified; an identity key other than the stored one is
/// [`Error::UntrustedIdentity`] and changes nothing. An existing session is kept as a previous one.
pub fn process_pre_key_bundle<S: IdentityStore + SessionStore, R: RngCore + CryptoRng>(
    store: &mut S,
    address: &ProtocolAddress,
    bundle: &PreKeyBundle,
    rng: &mut R,
) -> Result<()> {
    bundle.verify()?;
    check_identity(store, address, &bundle.identity_key)?;
    let identity = store.local_identity()?;
    let registration_id = store.local_registration_id()?;
    let state = x3dh::initiate(&identity, registration_id, bundle, rng)?;
    let mut record = store.load_session(address)?.unwrap_or_default();
    record.promote(state);
    store.save_identity(address, &bundle.identity_key)?;
    store.store_session(address, &record)?;
    Ok(())
}

/// Encrypts for `address` with the current session. The advanced chain is stored before the
/// ciphertext is returned (see the durability rules in [`store`](crate::store)).
pub fn encrypt<S: IdentityStore + SessionStore>(
    store: &mut S,
    address: &ProtocolAddress,
    plaintext: &[u8],
) -> Result<Ciphertext> {
    let no_session = || Error::NoSession {
        address: address.to_string(),
    };
    let mut record = store.load_session(address)?.ok_or_else(no_session)?;
    let state = record.current.as_mut().ok_or_else(no_session)?;
    check_identity(store, address, &state.remote_identity)?;
    let out = state.encrypt(plaintext);
    store.store_session(address, &record)?;
    Ok(Ciphertext {
        kind: if out.pre_key {
            MessageKind::PreKey
        } else {
            MessageKind::Whisper
        },
        bytes: out.bytes,
    })
}

/// Decrypts a `pkmsg` or `msg` from `address`.
pub fn decrypt<S: SessionStores, R: RngCore + CryptoRng>(
    store: &mut S,
    address: &ProtocolAddress,
    kind: MessageKind,
    bytes: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>> {
    match kind {
        MessageKind::PreKey => decrypt_pre_key_message(store, address, bytes, rng),
        MessageKind::Whisper => decrypt_message(store, address, bytes, rng),
        MessageKind::SenderKey => Err(Error::Malformed {
            what: "1:1 message",
            reason: "skmsg is a group message",
        }),
    }
}

/// Where in a record a state sits.
#[derive(Clone, Copy)]
enum Slot {
    Current,
    Previous(usize),
}

/// Writes the state that decrypted back into its place and stores the record.
///
/// A previous session that decrypted a late message stays previous: the current one is what
/// the peer uses for new messages, so our answers go there. (Answering in the old one also
/// breaks npm `libsignal`, whose failed decryption attempts in its open session ratchet that
/// session in place: seen in the `second_session` interop test.)
fn commit<S: SessionStore + ?Sized>(
    store: &mut S,
    address: &ProtocolAddress,
    mut record: SessionRecord,
    slot: Slot,
    state: SessionState,
) -> Result<()> {
    match slot {
        Slot::Current => record.current = Some(state),
        Slot::Previous(i) => record.previous[i] = state,
    }
    store.store_session(address, &record)?;
    Ok(())
}

fn slots(record: &SessionRecord) -> impl Iterator<Item = (Slot, &SessionState)> {
    record.current.iter().map(|s| (Slot::Current, s)).chain(
        record
            .previous
            .iter()
            .enumerate()
            .map(|(i, s)| (Slot::Previous(i), s)),
    )
}

/// Decrypts a `msg` from `address`, trying the current session, then the previous ones.
pub fn decrypt_message<S: SessionStore, R: RngCore + CryptoRng>(
    store: &mut S,
    address: &ProtocolAddress,
    bytes: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>> {
    let message = SignalMessageRef::parse(bytes)?;
    let no_session = || Error::NoSession {
        address: address.to_string(),
    };
    let mut record = store.load_session(address)?.ok_or_else(no_session)?;
    // The current session, where nearly every message belongs, is tried in place: the record
    // is this call's own copy, written back only if the message decrypted, so a failure leaves
    // the stored one whole without copying the state first.
    let first_error = match record.current.as_mut() {
        Some(state) => match state.decrypt(&message, rng) {
            Ok(plaintext) => {
                store.store_session(address, &record)?;
                return Ok(plaintext);
            }
            // A used key in the session that has this ratchet key is the answer: a replay.
            Err(e @ Error::DuplicateMessage { .. }) => return Err(e),
            Err(e) => Some(e),
        },
        None => None,
    };
    if record.previous.is_empty() {
        return Err(first_error.unwrap_or_else(no_session));
    }
    // A failed attempt may have changed the current state: the previous sessions are tried
    // against the record as stored, each on a copy.
    let record = if first_error.is_some() {
        store.load_session(address)?.ok_or_else(no_session)?
    } else {
        record
    };
    let mut first_error = first_error;
    let mut decrypted = None;
    for (slot, state) in slots(&record).filter(|(slot, _)| matches!(slot, Slot::Previous(_))) {
        let mut candidate = state.clone();
        match candidate.decrypt(&message, rng) {
            Ok(plaintext) => {
                decrypted = Some((slot, candidate, plaintext));
                break;
            }
            Err(e @ Error::DuplicateMessage { .. }) => return Err(e),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match decrypted {
        Some((slot, state, plaintext)) => {
            commit(store, address, record, slot, state)?;
            Ok(plaintext)
        }
        None => Err(first_error.unwrap_or_else(no_session)),
    }
}

/// Decrypts a `pkmsg` from `address`: in the session it already set up (same base key), or by
/// setting one up (the responder's X3DH), which becomes current.
pub fn decrypt_pre_key_message<S: SessionStores, R: RngCore + CryptoRng>(
    store: &mut S,
    address: &ProtocolAddress,
    bytes: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>> {
    let message = PreKeySignalMessage::parse(bytes)?;
    check_identity(store, address, &message.identity_key)?;
    let record = store.load_session(address)?.unwrap_or_default();
    let existing = slots(&record)
        .find(|(_, s)| s.base_key == message.base_key && s.remote_identity == message.identity_key)
        .map(|(slot, s)| (slot, s.clone()));
    if let Some((slot, mut state)) = existing {
        let plaintext = state.decrypt(&message.message.view()?, rng)?;
        commit(store, address, record, slot, state)?;
        return Ok(plaintext);
    }
    let signed = store
        .load_signed_pre_key(message.signed_pre_key_id)?
        .ok_or(Error::MissingSignedPreKey {
            id: message.signed_pre_key_id,
        })?;
    let one_time = match message.pre_key_id {
        Some(id) => Some(store.load_pre_key(id)?.ok_or(Error::MissingPreKey { id })?),
        None => None,
    };
    let identity = store.local_identity()?;
    let mut state = x3dh::respond(&Responder {
        identity: &identity,
        registration_id: store.local_registration_id()?,
        signed_pre_key: &signed.key_pair,
        one_time_pre_key: one_time.as_ref().map(|k| &k.key_pair),
        their_identity: message.identity_key,
        their_registration_id: message.registration_id,
        their_base_key: message.base_key,
    })?;
    let plaintext = state.decrypt(&message.message.view()?, rng)?;
    let mut record = record;
    record.promote(state);
    store.save_identity(address, &message.identity_key)?;
    store.store_session(address, &record)?;
    if let Some(id) = message.pre_key_id {
        store.remove_pre_key(id)?;
    }
    Ok(plaintext)
}
