//! Sender keys (groups): create and distribute our chain, process others' distribution
//! messages, encrypt and decrypt `skmsg`.
//!
//! A sender-key chain uses the same chain KDF as the ratchet (`HMAC(chain key, 0x01)` for the
//! message seed, `0x02` for the next chain key); message keys are `HKDF(salt = 0³², ikm = seed,
//! info = "WhisperGroup")` → 48 bytes: CBC IV (16), then AES-256 key (32). Each message is
//! signed with XEdDSA by the sender's signing key.

use prost::Message as _;
use wa_crypto::{
    CryptoRng, KeyPair, RngCore, XeddsaSigningKey, aes256_cbc_decrypt_with_iv,
    aes256_cbc_encrypt_with_iv, hkdf_sha256,
};
use wa_proto::prost;
use wa_proto::signal as pb;
use zeroize::{Zeroize as _, Zeroizing};

use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::record::{bytes32, skipped_from_data, wipe_skipped};
use crate::session::{ChainKey, MAX_FORWARD_JUMP, MAX_SKIPPED_KEYS, Secret32};
use crate::store::{SenderKeyName, SenderKeyStore};
use crate::wire::{SenderKeyDistributionMessage, SenderKeyMessage};

/// Sender-key states kept per (group, sender) (a sender that rotates its key keeps old ones
/// readable for a while).
pub const MAX_SENDER_KEY_STATES: usize = 5;
/// The record format this version writes and reads.
pub const SENDER_KEY_RECORD_FORMAT: u32 = 1;

#[derive(Clone)]
struct SenderKeyState {
    key_id: u32,
    chain: ChainKey,
    signing_public: PublicKey,
    /// Our own chains only. Kept as bytes: the signing key (one curve operation) is made, and
    /// checked against `signing_public`, when a message is signed, not on every record load.
    signing_private: Option<Zeroizing<[u8; 32]>>,
    skipped: Vec<(u32, Secret32)>,
}

/// Everything stored about one (group, sender)'s sender keys.
#[derive(Clone, Default)]
pub struct SenderKeyRecord {
    /// Most recent first.
    states: Vec<SenderKeyState>,
}

impl core::fmt::Debug for SenderKeyRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SenderKeyRecord")
            .field(
                "key_ids",
                &self.states.iter().map(|s| s.key_id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl SenderKeyRecord {
    /// Whether it holds no state.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Skipped message keys held.
    pub fn skipped_keys(&self) -> usize {
        self.states.iter().map(|s| s.skipped.len()).sum()
    }

    /// The persisted form (wiped on drop).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut data = pb::SenderKeyRecordData {
            format: Some(SENDER_KEY_RECORD_FORMAT),
            states: self
                .states
                .iter()
                .map(|s| pb::SenderKeyStateData {
                    key_id: Some(s.key_id),
                    iteration: Some(s.chain.index),
                    chain_key: Some(s.chain.key.to_vec()),
                    signing_public: Some(s.signing_public.0.to_vec()),
                    signing_private: s.signing_private.as_ref().map(|k| k.to_vec()),
                    skipped: s
                        .skipped
                        .iter()
                        .map(|(i, seed)| pb::SkippedKeyData {
                            index: Some(*i),
                            seed: Some(seed.to_vec()),
                        })
                        .collect(),
                })
                .collect(),
        };
        let bytes = Zeroizing::new(data.encode_to_vec());
        wipe(&mut data);
        bytes
    }

    /// Reads the persisted form.
    pub fn from_bytes(bytes: &[u8]) -> Result<SenderKeyRecord> {
        let mut data =
            pb::SenderKeyRecordData::decode(bytes).map_err(|_| Error::CorruptRecord {
                what: "sender key record",
            })?;
        let record = SenderKeyRecord::from_data(&data);
        wipe(&mut data);
        record
    }

    fn from_data(data: &pb::SenderKeyRecordData) -> Result<SenderKeyRecord> {
        let corrupt = || Error::CorruptRecord {
            what: "sender key record",
        };
        if data.format != Some(SENDER_KEY_RECORD_FORMAT)
            || data.states.len() > MAX_SENDER_KEY_STATES
        {
            return Err(corrupt());
        }
        let states = data
            .states
            .iter()
            .map(|s| {
                let signing_public = PublicKey(bytes32(&s.signing_public)?);
                let signing_private = match &s.signing_private {
                    Some(_) => Some(Zeroizing::new(bytes32(&s.signing_private)?)),
                    None => None,
                };
                Ok(SenderKeyState {
                    key_id: s.key_id.ok_or_else(corrupt)?,
                    chain: ChainKey {
                        key: bytes32(&s.chain_key)?,
                        index: s.iteration.ok_or_else(corrupt)?,
                    },
                    signing_public,
                    signing_private,
                    skipped: skipped_from_data(&s.skipped)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(SenderKeyRecord { states })
    }
}

/// Wipes the secrets in a decoded or to-be-encoded record (prost's buffers are plain `Vec`s).
fn wipe(data: &mut pb::SenderKeyRecordData) {
    for state in &mut data.states {
        state.chain_key.zeroize();
        state.signing_private.zeroize();
        wipe_skipped(&mut state.skipped);
    }
}

/// IV and key of one group message.
fn group_message_keys(seed: &[u8; 32]) -> (Zeroizing<[u8; 16]>, Zeroizing<[u8; 32]>) {
    let mut out = Zeroizing::new([0u8; 48]);
    hkdf_sha256(seed, None, b"WhisperGroup", out.as_mut()).expect("48 bytes");
    let mut iv = Zeroizing::new([0u8; 16]);
    let mut key = Zeroizing::new([0u8; 32]);
    iv.copy_from_slice(&out[..16]);
    key.copy_from_slice(&out[16..]);
    (iv, key)
}

/// Our distribution message for `name` (our own sending chain in a group), creating the chain
/// (random key id, chain key and signing key) on first use. Send it to every member device
/// inside a 1:1 message.
pub fn create_sender_key_distribution<S: SenderKeyStore, R: RngCore + CryptoRng>(
    store: &mut S,
    name: &SenderKeyName,
    rng: &mut R,
) -> Result<SenderKeyDistributionMessage> {
    let mut record = store.load_sender_key(name)?.unwrap_or_default();
    let own = record
        .states
        .first()
        .filter(|s| s.signing_private.is_some())
        .cloned();
    let state = match own {
        Some(state) => state,
        None => {
            let mut chain = ChainKey {
                key: [0; 32],
                index: 0,
            };
            rng.fill_bytes(&mut chain.key);
            let signing = KeyPair::generate(rng);
            let state = SenderKeyState {
                key_id: rng.next_u32() & 0x7FFF_FFFF,
                chain,
                signing_public: PublicKey::of(&signing),
                signing_private: Some(signing.private_bytes()),
                skipped: Vec::new(),
            };
            record.states.insert(0, state.clone());
            record.states.truncate(MAX_SENDER_KEY_STATES);
            store.store_sender_key(name, &record)?;
            state
        }
    };
    Ok(SenderKeyDistributionMessage {
        key_id: state.key_id,
        iteration: state.chain.index,
        chain_key: Zeroizing::new(state.chain.key),
        signing_key: state.signing_public,
    })
}

/// Takes in a sender's distribution message. A message for a key id we already hold with the
/// same signing key changes nothing (a repeated distribution must not rewind the chain, which
/// would let old messages be replayed).
pub fn process_sender_key_distribution<S: SenderKeyStore>(
    store: &mut S,
    name: &SenderKeyName,
    message: &SenderKeyDistributionMessage,
) -> Result<()> {
    let mut record = store.load_sender_key(name)?.unwrap_or_default();
    if record
        .states
        .iter()
        .any(|s| s.key_id == message.key_id && s.signing_public == message.signing_key)
    {
        return Ok(());
    }
    record.states.retain(|s| s.key_id != message.key_id);
    record.states.insert(
        0,
        SenderKeyState {
            key_id: message.key_id,
            chain: ChainKey {
                key: *message.chain_key,
                index: message.iteration,
            },
            signing_public: message.signing_key,
            signing_private: None,
            skipped: Vec::new(),
        },
    );
    record.states.truncate(MAX_SENDER_KEY_STATES);
    store.store_sender_key(name, &record)?;
    Ok(())
}

/// Encrypts a group message with our chain for `name` (created by
/// [`create_sender_key_distribution`]). The advanced chain is stored before the `skmsg` is
/// returned.
pub fn group_encrypt<S: SenderKeyStore, R: RngCore + CryptoRng>(
    store: &mut S,
    name: &SenderKeyName,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>> {
    let mut record = store.load_sender_key(name)?.unwrap_or_default();
    let state = record
        .states
        .first_mut()
        .filter(|s| s.signing_private.is_some())
        .ok_or_else(|| Error::NoSenderKey {
            name: name.to_string(),
            key_id: 0,
        })?;
    // The record is stored only at the end: an error below leaves the stored chain as it was.
    let iteration = state.chain.index;
    let seed = state.chain.advance();
    let (iv, key) = group_message_keys(&seed);
    let ciphertext = aes256_cbc_encrypt_with_iv(&key, &iv, plaintext);
    let mut message = SenderKeyMessage::unsigned(state.key_id, iteration, ciphertext);
    let signing = XeddsaSigningKey::from_private_bytes(
        state.signing_private.as_ref().expect("filtered above"),
    );
    if signing.public_bytes() != state.signing_public.0 {
        return Err(Error::CorruptRecord {
            what: "sender key record (signing key halves differ)",
        });
    }
    let signature = signing.sign_rng(&message, rng);
    message.extend_from_slice(&signature);
    store.store_sender_key(name, &record)?;
    Ok(message)
}

/// Decrypts a group message from `name`'s sender.
pub fn group_decrypt<S: SenderKeyStore>(
    store: &mut S,
    name: &SenderKeyName,
    bytes: &[u8],
) -> Result<Vec<u8>> {
    let message = SenderKeyMessage::parse(bytes)?;
    let no_key = || Error::NoSenderKey {
        name: name.to_string(),
        key_id: message.key_id,
    };
    let mut record = store.load_sender_key(name)?.ok_or_else(no_key)?;
    let state = record
        .states
        .iter_mut()
        .find(|s| s.key_id == message.key_id)
        .ok_or_else(no_key)?;
    message.verify_signature(&state.signing_public)?;
    let mut candidate = state.clone();
    let seed = take_seed(&mut candidate, message.iteration)?;
    let (iv, key) = group_message_keys(&seed);
    let plaintext = aes256_cbc_decrypt_with_iv(&key, &iv, &message.ciphertext)?;
    *state = candidate;
    store.store_sender_key(name, &record)?;
    Ok(plaintext)
}

fn take_seed(state: &mut SenderKeyState, iteration: u32) -> Result<Secret32> {
    let current = state.chain.index;
    if iteration < current {
        return match state.skipped.iter().position(|(i, _)| *i == iteration) {
            Some(found) => Ok(state.skipped.remove(found).1),
            None => Err(Error::DuplicateMessage { counter: iteration }),
        };
    }
    if iteration - current > MAX_FORWARD_JUMP {
        return Err(Error::TooFarAhead {
            counter: iteration,
            current,
            limit: MAX_FORWARD_JUMP,
        });
    }
    while state.chain.index < iteration {
        let index = state.chain.index;
        let skipped = state.chain.advance();
        state.skipped.push((index, skipped));
    }
    let seed = state.chain.advance();
    if state.skipped.len() > MAX_SKIPPED_KEYS {
        let excess = state.skipped.len() - MAX_SKIPPED_KEYS;
        state.skipped.drain(..excess);
    }
    Ok(seed)
}
