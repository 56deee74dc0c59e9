//! Reading a stored session record (`signal.SessionRecordData`) straight into session state.
//!
//! A record is loaded for every message, so this is on the per-message path. prost copied every
//! `bytes` field out of the record (twice, through `Bytes`) into a dozen small allocations, each
//! a copy of a secret to wipe again, before the state was built from them. This reader borrows
//! the fields from the stored bytes ([`crate::pbscan`]) and copies each secret once, into the
//! state.
//!
//! It accepts what prost 0.14 accepts and yields the same record (the `decoder_agrees_with_prost`
//! property test checks both on real records, mutated, truncated and concatenated): a later
//! occurrence of a scalar or `bytes` field replaces an earlier one, a later occurrence of a
//! singular message field (`current`, `sender_chain`, `pending_pre_key`) merges into it, repeated
//! fields append, unknown fields are skipped, a known field with another wire type is refused.
//! Then the same checks as before: format 1, at most [`MAX_PREVIOUS_SESSIONS`] previous
//! sessions, keys of 32 bytes, the required fields present.

use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::pbscan::{Field, Fields, Invalid};
use crate::record::{SESSION_RECORD_FORMAT, SessionRecord};
use crate::session::{
    ChainKey, MAX_PREVIOUS_SESSIONS, PendingPreKey, RatchetKey, ReceiverChain, Secret32,
    SenderChain, SessionState,
};

fn corrupt() -> Error {
    Error::CorruptRecord {
        what: "session record",
    }
}

/// Calls `field` for every `(tag, value)` of a message nested `level` deep.
fn each_field<'a>(
    input: &'a [u8],
    level: u32,
    mut field: impl FnMut(u32, Field<'a>) -> Result<()>,
) -> Result<()> {
    let mut fields = Fields::new(input);
    while let Some((tag, value)) = fields
        .next_field_nested(level)
        .map_err(|Invalid| corrupt())?
    {
        field(tag, value)?;
    }
    Ok(())
}

/// A known field with the wrong wire type (prost refuses the message).
fn wrong_type() -> Result<()> {
    Err(corrupt())
}

/// `SenderChainData`.
#[derive(Default)]
struct SenderFields<'a> {
    ratchet_public: Option<&'a [u8]>,
    ratchet_private: Option<&'a [u8]>,
    chain_key: Option<&'a [u8]>,
    index: Option<u32>,
}

impl<'a> SenderFields<'a> {
    fn merge(&mut self, input: &'a [u8], level: u32) -> Result<()> {
        each_field(input, level, |tag, value| {
            match (tag, value) {
                (1, Field::Bytes(b)) => self.ratchet_public = Some(b),
                (2, Field::Bytes(b)) => self.ratchet_private = Some(b),
                (3, Field::Bytes(b)) => self.chain_key = Some(b),
                (4, Field::Varint(v)) => self.index = Some(v as u32),
                (1..=4, _) => return wrong_type(),
                _ => {}
            }
            Ok(())
        })
    }
}

/// `ReceiverChainData`, made into the chain as soon as it is read (every error of the record is
/// the same [`Error::CorruptRecord`], so checking a chain's fields before the rest of the record
/// is parsed answers the same, without a vector of borrowed fields to collect first).
fn receiver_chain(input: &[u8], level: u32) -> Result<ReceiverChain> {
    let mut ratchet_public = None;
    let mut chain_key = None;
    let mut index = None;
    let mut skipped = Vec::new();
    each_field(input, level, |tag, value| {
        match (tag, value) {
            (1, Field::Bytes(b)) => ratchet_public = Some(b),
            (2, Field::Bytes(b)) => chain_key = Some(b),
            (3, Field::Varint(v)) => index = Some(v as u32),
            (4, Field::Bytes(b)) => {
                // `SkippedKeyData`.
                let mut key_index = None;
                let mut seed = None;
                each_field(b, level + 1, |tag, value| {
                    match (tag, value) {
                        (1, Field::Varint(v)) => key_index = Some(v as u32),
                        (2, Field::Bytes(b)) => seed = Some(b),
                        (1 | 2, _) => return wrong_type(),
                        _ => {}
                    }
                    Ok(())
                })?;
                skipped.push((key_index.ok_or_else(corrupt)?, Secret32(bytes32(seed)?)));
            }
            (1..=4, _) => return wrong_type(),
            _ => {}
        }
        Ok(())
    })?;
    Ok(ReceiverChain {
        ratchet: key32(ratchet_public)?,
        chain: ChainKey {
            key: bytes32(chain_key)?,
            index: index.ok_or_else(corrupt)?,
        },
        skipped,
    })
}

/// `PendingPreKeyData`.
#[derive(Default)]
struct PendingFields<'a> {
    pre_key_id: Option<u32>,
    signed_pre_key_id: Option<u32>,
    base_key: Option<&'a [u8]>,
}

impl<'a> PendingFields<'a> {
    fn merge(&mut self, input: &'a [u8], level: u32) -> Result<()> {
        each_field(input, level, |tag, value| {
            match (tag, value) {
                (1, Field::Varint(v)) => self.pre_key_id = Some(v as u32),
                (2, Field::Varint(v)) => self.signed_pre_key_id = Some(v as u32),
                (3, Field::Bytes(b)) => self.base_key = Some(b),
                (1..=3, _) => return wrong_type(),
                _ => {}
            }
            Ok(())
        })
    }
}

/// `SessionStateData`.
#[derive(Default)]
struct StateFields<'a> {
    local_identity: Option<&'a [u8]>,
    remote_identity: Option<&'a [u8]>,
    remote_registration_id: Option<u32>,
    local_registration_id: Option<u32>,
    root_key: Option<&'a [u8]>,
    base_key: Option<&'a [u8]>,
    sender: Option<SenderFields<'a>>,
    receivers: Vec<ReceiverChain>,
    previous_counter: Option<u32>,
    pending: Option<PendingFields<'a>>,
}

impl<'a> StateFields<'a> {
    fn merge(&mut self, input: &'a [u8], level: u32) -> Result<()> {
        let inner = level + 1;
        each_field(input, level, |tag, value| {
            match (tag, value) {
                (1, Field::Bytes(b)) => self.local_identity = Some(b),
                (2, Field::Bytes(b)) => self.remote_identity = Some(b),
                (3, Field::Varint(v)) => self.remote_registration_id = Some(v as u32),
                (4, Field::Varint(v)) => self.local_registration_id = Some(v as u32),
                (5, Field::Bytes(b)) => self.root_key = Some(b),
                (6, Field::Bytes(b)) => self.base_key = Some(b),
                (7, Field::Bytes(b)) => self.sender.get_or_insert_default().merge(b, inner)?,
                (8, Field::Bytes(b)) => self.receivers.push(receiver_chain(b, inner)?),
                (9, Field::Varint(v)) => self.previous_counter = Some(v as u32),
                (10, Field::Bytes(b)) => self.pending.get_or_insert_default().merge(b, inner)?,
                (1..=10, _) => return wrong_type(),
                _ => {}
            }
            Ok(())
        })
    }

    fn read(input: &'a [u8], level: u32) -> Result<StateFields<'a>> {
        let mut out = StateFields::default();
        out.merge(input, level)?;
        Ok(out)
    }

    /// The session state, checked as the record format requires.
    fn state(self) -> Result<SessionState> {
        let sender = self.sender.ok_or_else(corrupt)?;
        // No curve operation here: the halves are compared only when a message after a ratchet
        // step fails to authenticate (see `RatchetKey`).
        let ratchet = RatchetKey {
            public: key32(sender.ratchet_public)?,
            private: Secret32(bytes32(sender.ratchet_private)?),
        };
        let pending = match self.pending {
            Some(p) => Some(PendingPreKey {
                pre_key_id: p.pre_key_id,
                signed_pre_key_id: p.signed_pre_key_id.ok_or_else(corrupt)?,
                base_key: key32(p.base_key)?,
            }),
            None => None,
        };
        Ok(SessionState {
            local_identity: key32(self.local_identity)?,
            remote_identity: key32(self.remote_identity)?,
            local_registration_id: self.local_registration_id.unwrap_or(0),
            remote_registration_id: self.remote_registration_id.unwrap_or(0),
            root_key: Secret32(bytes32(self.root_key)?),
            base_key: key32(self.base_key)?,
            sender: SenderChain {
                ratchet,
                chain: ChainKey {
                    key: bytes32(sender.chain_key)?,
                    index: sender.index.ok_or_else(corrupt)?,
                },
            },
            receivers: self.receivers,
            previous_counter: self.previous_counter.unwrap_or(0),
            pending,
        })
    }
}

fn bytes32(field: Option<&[u8]>) -> Result<[u8; 32]> {
    field.and_then(|b| b.try_into().ok()).ok_or_else(corrupt)
}

fn key32(field: Option<&[u8]>) -> Result<PublicKey> {
    bytes32(field).map(PublicKey)
}

/// Reads a stored `SessionRecordData`.
pub(crate) fn decode(bytes: &[u8]) -> Result<SessionRecord> {
    let mut format = None;
    let mut current: Option<StateFields<'_>> = None;
    let mut previous = Vec::new();
    each_field(bytes, 0, |tag, value| {
        match (tag, value) {
            (1, Field::Varint(v)) => format = Some(v as u32),
            (2, Field::Bytes(b)) => current.get_or_insert_default().merge(b, 1)?,
            (3, Field::Bytes(b)) => previous.push(StateFields::read(b, 1)?.state()?),
            (1..=3, _) => return wrong_type(),
            _ => {}
        }
        Ok(())
    })?;
    if format != Some(SESSION_RECORD_FORMAT) || previous.len() > MAX_PREVIOUS_SESSIONS {
        return Err(corrupt());
    }
    Ok(SessionRecord {
        current: current.map(StateFields::state).transpose()?,
        previous,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;

    use super::*;
    use crate::record_codec::encode;
    use crate::record_reference;
    use crate::store::{IdentityStore as _, SessionStore as _};
    use crate::{
        InMemoryStore, KeyPair, PreKey, PreKeyBundle, PreKeyStore as _, ProtocolAddress,
        SignedPreKey, SignedPreKeyStore as _, decrypt, encrypt, process_pre_key_bundle,
    };

    fn bundle(bob: &mut InMemoryStore, id: u32, rng: &mut StdRng) -> PreKeyBundle {
        let identity = bob.local_identity().unwrap();
        let signed = SignedPreKey::generate(&identity, id, rng);
        bob.store_signed_pre_key(&signed).unwrap();
        let pre_key = PreKey::generate(id + 100, rng);
        bob.store_pre_key(&pre_key).unwrap();
        PreKeyBundle {
            registration_id: 77,
            identity_key: PublicKey::of(&identity),
            signed_pre_key_id: signed.id,
            signed_pre_key: PublicKey::of(&signed.key_pair),
            signed_pre_key_signature: signed.signature,
            pre_key: Some((pre_key.id, PublicKey::of(&pre_key.key_pair))),
        }
    }

    /// Stored records with every part in use: Bob's (previous sessions, several receiver chains,
    /// skipped keys) and Alice's (a pending prekey header in its current session).
    fn records() -> Vec<Vec<u8>> {
        let mut rng = StdRng::seed_from_u64(15);
        let mut alice = InMemoryStore::new(KeyPair::generate(&mut rng), 11);
        let mut bob = InMemoryStore::new(KeyPair::generate(&mut rng), 22);
        let (at_alice, at_bob) = (ProtocolAddress::new("b", 1), ProtocolAddress::new("a", 1));
        let stored = |store: &InMemoryStore, address| {
            store
                .load_session(address)
                .unwrap()
                .unwrap()
                .to_bytes()
                .to_vec()
        };
        for round in 1..=2 {
            let b = bundle(&mut bob, round, &mut rng);
            process_pre_key_bundle(&mut alice, &at_alice, &b, &mut rng).unwrap();
            for turn in 0..4u8 {
                for i in 0..5u8 {
                    let m = encrypt(&mut alice, &at_alice, &[turn, i]).unwrap();
                    // Every other message held back: skipped keys at Bob's.
                    if i % 2 == 0 {
                        decrypt(&mut bob, &at_bob, m.kind, &m.bytes, &mut rng).unwrap();
                    }
                }
                let answer = encrypt(&mut bob, &at_bob, b"ok").unwrap();
                decrypt(&mut alice, &at_alice, answer.kind, &answer.bytes, &mut rng).unwrap();
            }
        }
        let b = bundle(&mut bob, 3, &mut rng);
        process_pre_key_bundle(&mut alice, &at_alice, &b, &mut rng).unwrap();
        vec![stored(&bob, &at_bob), stored(&alice, &at_alice)]
    }

    /// The direct decoder and prost agree: both refuse, or both read records that encode to
    /// the same bytes.
    fn agree(bytes: &[u8]) {
        match (decode(bytes), record_reference::from_bytes(bytes)) {
            (Ok(ours), Ok(theirs)) => assert_eq!(*encode(&ours), *encode(&theirs)),
            (Err(Error::CorruptRecord { .. }), Err(Error::CorruptRecord { .. })) => {}
            (ours, theirs) => panic!(
                "ours {:?}, prost {:?} on {bytes:02x?}",
                ours.map(|_| ()),
                theirs.map(|_| ())
            ),
        }
    }

    #[test]
    fn decoder_reads_what_the_encoder_wrote() {
        for bytes in records() {
            let record = decode(&bytes).unwrap();
            assert_eq!(*encode(&record), bytes);
            assert!(
                record.skipped_keys() > 0 || record.current.as_ref().unwrap().pending.is_some()
            );
            agree(&bytes);
        }
    }

    /// A record stored by `main` before the direct decoder (its encoder, byte for byte prost's):
    /// Bob's record from [`records`], kept as it was written then.
    #[test]
    fn loads_a_record_stored_by_main() {
        let stored =
            hex::decode(include_str!("../tests/data/session-record-main.hex").trim()).unwrap();
        let record = SessionRecord::from_bytes(&stored).unwrap();
        assert_eq!(record.previous_sessions(), 1);
        assert_eq!(record.skipped_keys(), 16);
        assert_eq!(*record.to_bytes(), stored);
        agree(&stored);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn decoder_agrees_with_prost(
            which in 0usize..2,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..5), 1..4),
        ) {
            let records = RECORDS.get_or_init(records);
            let mut bytes = records[which].clone();
            for (at, byte, edit) in edits {
                let at = at % (bytes.len() + 1);
                match edit {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.truncate(at),
                    // A second record after the first: prost merges them.
                    2 => bytes.extend_from_slice(&records[1 - which][..at.min(records[1 - which].len())]),
                    3 => bytes.insert(at, byte),
                    _ => bytes.extend_from_slice(&[byte, at as u8, byte]),
                }
                agree(&bytes);
            }
        }
    }

    static RECORDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
}
