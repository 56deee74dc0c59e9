//! Reading a stored session record (`signal.SessionRecordData`) straight into session state.
//!
//! A record is loaded for every message, so this is on the per-message path. prost copied every
//! `bytes` field out of the record (twice, through `Bytes`) into a dozen small allocations, each
//! a copy of a secret to wipe again, before the state was built from them. This reader scans the
//! stored bytes ([`crate::pbscan`]) and copies each key once, straight into its place in the
//! record it returns: the states are built where they end up (a blank state filled in, not
//! fields gathered first and then moved into one), and which fields were seen, and seen valid,
//! is kept in a bit set per state and checked once at its end.
//!
//! It accepts what prost 0.14 accepts and yields the same record (the `decoder_agrees_with_prost`
//! property test checks both on real records, mutated, truncated and concatenated): a later
//! occurrence of a scalar or `bytes` field replaces an earlier one, a later occurrence of a
//! singular message field (`current`, `sender_chain`, `pending_pre_key`) merges into it, repeated
//! fields append, unknown fields are skipped, a known field with another wire type is refused.
//! Then the same checks as before: format 1, at most [`MAX_PREVIOUS_SESSIONS`] previous
//! sessions, keys of 32 bytes, the required fields present. Every refusal is the same
//! [`Error::CorruptRecord`], so the order in which they are found does not show.

use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::pbscan::{Fields, Invalid};
use crate::record::{SESSION_RECORD_FORMAT, SessionRecord};
use crate::session::{
    ChainKey, MAX_PREVIOUS_SESSIONS, MAX_RECEIVER_CHAINS, PendingPreKey, RatchetKey, ReceiverChain,
    Secret32, SenderChain, SessionState,
};

type Scan<T = ()> = core::result::Result<T, Invalid>;

// The fields of a `SessionStateData` (and of its sender chain and pending prekey, which merge
// into it) seen so far with a valid value, one bit each.
const LOCAL_IDENTITY: u32 = 1;
const REMOTE_IDENTITY: u32 = 1 << 1;
const ROOT_KEY: u32 = 1 << 2;
const BASE_KEY: u32 = 1 << 3;
const SENDER_PUBLIC: u32 = 1 << 4;
const SENDER_PRIVATE: u32 = 1 << 5;
const SENDER_CHAIN_KEY: u32 = 1 << 6;
const SENDER_INDEX: u32 = 1 << 7;
const PENDING: u32 = 1 << 8;
const PENDING_SIGNED_ID: u32 = 1 << 9;
const PENDING_BASE_KEY: u32 = 1 << 10;

/// Present in every state (a sender chain is required, and its fields in it).
const STATE_REQUIRED: u32 = LOCAL_IDENTITY
    | REMOTE_IDENTITY
    | ROOT_KEY
    | BASE_KEY
    | SENDER_PUBLIC
    | SENDER_PRIVATE
    | SENDER_CHAIN_KEY
    | SENDER_INDEX;
/// Present in a pending prekey header, if there is one.
const PENDING_REQUIRED: u32 = PENDING_SIGNED_ID | PENDING_BASE_KEY;

/// Sets `bit` in `seen` if the field just read is valid, clears it if not (a later occurrence
/// replaces an earlier one, valid or not).
#[inline(always)]
fn mark(seen: &mut u32, bit: u32, valid: bool) {
    if valid {
        *seen |= bit;
    } else {
        *seen &= !bit;
    }
}

/// A known tag (`1..=last`) with another wire type than its field's: prost refuses the message.
#[inline(always)]
fn known_tag(key: u32, last: u32) -> bool {
    key >> 3 <= last
}

/// The state the fields are read into: zeros and empty lists, filled in where it will stay.
fn blank_state() -> SessionState {
    SessionState {
        local_identity: PublicKey([0; 32]),
        remote_identity: PublicKey([0; 32]),
        local_registration_id: 0,
        remote_registration_id: 0,
        root_key: Secret32([0; 32]),
        base_key: PublicKey([0; 32]),
        sender: SenderChain {
            ratchet: RatchetKey {
                public: PublicKey([0; 32]),
                private: Secret32([0; 32]),
            },
            chain: ChainKey {
                key: [0; 32],
                index: 0,
            },
        },
        receivers: Vec::new(),
        previous_counter: 0,
        pending: None,
    }
}

/// The chain a `ReceiverChainData` is read into. A constant, copied from where it is stored:
/// a chain assembled on the stack field by field and then copied (in wider moves) stalled on
/// the narrow stores it had just made.
const BLANK_RECEIVER: ReceiverChain = ReceiverChain {
    ratchet: PublicKey([0; 32]),
    chain: ChainKey {
        key: [0; 32],
        index: 0,
    },
    skipped: Vec::new(),
};

/// Whether a state read into with [`state_into`] is complete.
fn state_complete(seen: u32) -> bool {
    seen & STATE_REQUIRED == STATE_REQUIRED
        && (seen & PENDING == 0 || seen & PENDING_REQUIRED == PENDING_REQUIRED)
}

/// Merges a `SessionStateData` nested `level` deep into `state`, marking in `seen` the fields
/// read (a later occurrence of `current` merges into the same state and bits).
fn state_into(input: &[u8], level: u32, state: &mut SessionState, seen: &mut u32) -> Scan {
    let mut fields = Fields::new(input);
    state_head(&mut fields, state, seen);
    while !fields.is_empty() {
        match fields.raw_key()? {
            0x0A => mark(
                seen,
                LOCAL_IDENTITY,
                fields.bytes32_into(&mut state.local_identity.0)?,
            ),
            0x12 => mark(
                seen,
                REMOTE_IDENTITY,
                fields.bytes32_into(&mut state.remote_identity.0)?,
            ),
            0x18 => state.remote_registration_id = fields.varint()? as u32,
            0x20 => state.local_registration_id = fields.varint()? as u32,
            0x2A => mark(seen, ROOT_KEY, fields.bytes32_into(&mut state.root_key.0)?),
            0x32 => mark(seen, BASE_KEY, fields.bytes32_into(&mut state.base_key.0)?),
            0x3A => sender_into(fields.bytes()?, level + 1, &mut state.sender, seen)?,
            0x42 => {
                let input = fields.bytes()?;
                let receivers = &mut state.receivers;
                // Room for the most a session keeps and the one a ratchet step adds before it
                // trims: no reallocation (which would leave a copy of the chain keys behind).
                if receivers.capacity() == 0 {
                    receivers.reserve_exact(MAX_RECEIVER_CHAINS + 1);
                }
                receivers.push(BLANK_RECEIVER);
                let last = receivers.len() - 1;
                receiver_into(input, level + 1, &mut receivers[last])?;
            }
            0x48 => state.previous_counter = fields.varint()? as u32,
            0x52 => {
                let input = fields.bytes()?;
                let pending = state.pending.get_or_insert(PendingPreKey {
                    pre_key_id: None,
                    signed_pre_key_id: 0,
                    base_key: PublicKey([0; 32]),
                });
                *seen |= PENDING;
                pending_into(input, level + 1, pending, seen)?;
            }
            key if known_tag(key, 10) => return Err(Invalid),
            key => fields.skip(key, level)?,
        }
    }
    Ok(())
}

/// The first fields of a `SessionStateData` as this crate writes them (in tag order, one-byte
/// lengths), read one after the other without the key dispatch of [`state_into`]'s loop, which
/// reads the rest from the first field written otherwise (the same reads, in the same order:
/// the same state).
#[inline(always)]
fn state_head(fields: &mut Fields<'_>, state: &mut SessionState, seen: &mut u32) -> Option<()> {
    fields.next_key32(0x0A, &mut state.local_identity.0)?;
    *seen |= LOCAL_IDENTITY;
    fields.next_key32(0x12, &mut state.remote_identity.0)?;
    *seen |= REMOTE_IDENTITY;
    state.remote_registration_id = fields.next_key_varint(0x18)? as u32;
    state.local_registration_id = fields.next_key_varint(0x20)? as u32;
    fields.next_key32(0x2A, &mut state.root_key.0)?;
    *seen |= ROOT_KEY;
    fields.next_key32(0x32, &mut state.base_key.0)?;
    *seen |= BASE_KEY;
    Some(())
}

/// [`state_head`] for a `SenderChainData`: all its fields.
#[inline(always)]
fn sender_head(fields: &mut Fields<'_>, sender: &mut SenderChain, seen: &mut u32) -> Option<()> {
    fields.next_key32(0x0A, &mut sender.ratchet.public.0)?;
    *seen |= SENDER_PUBLIC;
    fields.next_key32(0x12, &mut sender.ratchet.private.0)?;
    *seen |= SENDER_PRIVATE;
    fields.next_key32(0x1A, &mut sender.chain.key)?;
    *seen |= SENDER_CHAIN_KEY;
    sender.chain.index = fields.next_key_varint(0x20)? as u32;
    *seen |= SENDER_INDEX;
    Some(())
}

/// Merges a `SenderChainData` into the state's sender chain.
fn sender_into(input: &[u8], level: u32, sender: &mut SenderChain, seen: &mut u32) -> Scan {
    let mut fields = Fields::new(input);
    sender_head(&mut fields, sender, seen);
    while !fields.is_empty() {
        match fields.raw_key()? {
            0x0A => mark(
                seen,
                SENDER_PUBLIC,
                fields.bytes32_into(&mut sender.ratchet.public.0)?,
            ),
            // No curve operation here: the halves are compared only when a message after a
            // ratchet step fails to authenticate (see `RatchetKey`).
            0x12 => mark(
                seen,
                SENDER_PRIVATE,
                fields.bytes32_into(&mut sender.ratchet.private.0)?,
            ),
            0x1A => mark(
                seen,
                SENDER_CHAIN_KEY,
                fields.bytes32_into(&mut sender.chain.key)?,
            ),
            0x20 => {
                sender.chain.index = fields.varint()? as u32;
                *seen |= SENDER_INDEX;
            }
            key if known_tag(key, 4) => return Err(Invalid),
            key => fields.skip(key, level)?,
        }
    }
    Ok(())
}

/// Merges a `PendingPreKeyData` into the state's pending prekey header.
fn pending_into(input: &[u8], level: u32, pending: &mut PendingPreKey, seen: &mut u32) -> Scan {
    let mut fields = Fields::new(input);
    while !fields.is_empty() {
        match fields.raw_key()? {
            0x08 => pending.pre_key_id = Some(fields.varint()? as u32),
            0x10 => {
                pending.signed_pre_key_id = fields.varint()? as u32;
                *seen |= PENDING_SIGNED_ID;
            }
            0x1A => mark(
                seen,
                PENDING_BASE_KEY,
                fields.bytes32_into(&mut pending.base_key.0)?,
            ),
            key if known_tag(key, 3) => return Err(Invalid),
            key => fields.skip(key, level)?,
        }
    }
    Ok(())
}

/// Reads a `ReceiverChainData` into a blank chain, checked as soon as it is read.
fn receiver_into(input: &[u8], level: u32, chain: &mut ReceiverChain) -> Scan {
    const RATCHET: u32 = 1;
    const CHAIN_KEY: u32 = 1 << 1;
    const INDEX: u32 = 1 << 2;
    /// [`state_head`] for a `ReceiverChainData`: its fields before the skipped keys.
    #[inline(always)]
    fn head(fields: &mut Fields<'_>, chain: &mut ReceiverChain, seen: &mut u32) -> Option<()> {
        fields.next_key32(0x0A, &mut chain.ratchet.0)?;
        *seen |= RATCHET;
        fields.next_key32(0x12, &mut chain.chain.key)?;
        *seen |= CHAIN_KEY;
        chain.chain.index = fields.next_key_varint(0x18)? as u32;
        *seen |= INDEX;
        Some(())
    }
    let mut seen = 0;
    let mut fields = Fields::new(input);
    head(&mut fields, chain, &mut seen);
    while !fields.is_empty() {
        match fields.raw_key()? {
            0x0A => mark(
                &mut seen,
                RATCHET,
                fields.bytes32_into(&mut chain.ratchet.0)?,
            ),
            0x12 => mark(
                &mut seen,
                CHAIN_KEY,
                fields.bytes32_into(&mut chain.chain.key)?,
            ),
            0x18 => {
                chain.chain.index = fields.varint()? as u32;
                seen |= INDEX;
            }
            0x22 => {
                let input = fields.bytes()?;
                let skipped = &mut chain.skipped;
                // Room for as many more as the rest of the chain can hold: the list is not
                // reallocated while it is read (which would leave copies of seeds behind).
                if skipped.capacity() == 0 {
                    skipped.reserve_exact(1 + fields.remaining() / SKIPPED_MIN_LEN);
                }
                skipped.push((0, Secret32([0; 32])));
                let last = skipped.len() - 1;
                let (index, seed) = &mut skipped[last];
                skipped_into(input, level + 1, index, seed)?;
            }
            key if known_tag(key, 4) => return Err(Invalid),
            key => fields.skip(key, level)?,
        }
    }
    if seen != RATCHET | CHAIN_KEY | INDEX {
        return Err(Invalid);
    }
    Ok(())
}

/// The fewest bytes a valid `SkippedKeyData` field takes: its key and length, the index (key
/// and one byte), the seed (key, length, 32 bytes).
const SKIPPED_MIN_LEN: usize = 2 + 2 + 34;

/// Reads a `SkippedKeyData` into a blank entry.
fn skipped_into(input: &[u8], level: u32, index: &mut u32, seed: &mut Secret32) -> Scan {
    const INDEX: u32 = 1;
    const SEED: u32 = 1 << 1;
    let mut seen = 0;
    let mut fields = Fields::new(input);
    while !fields.is_empty() {
        match fields.raw_key()? {
            0x08 => {
                *index = fields.varint()? as u32;
                seen |= INDEX;
            }
            0x12 => mark(&mut seen, SEED, fields.bytes32_into(&mut seed.0)?),
            key if known_tag(key, 2) => return Err(Invalid),
            key => fields.skip(key, level)?,
        }
    }
    if seen != INDEX | SEED {
        return Err(Invalid);
    }
    Ok(())
}

/// Reads a `SessionRecordData` into an empty record.
fn record_into(bytes: &[u8], record: &mut SessionRecord) -> Scan {
    let mut format = None;
    let mut current_seen = 0;
    let mut fields = Fields::new(bytes);
    while !fields.is_empty() {
        match fields.raw_key()? {
            0x08 => format = Some(fields.varint()? as u32),
            0x12 => {
                let input = fields.bytes()?;
                let state = record.current.get_or_insert_with(blank_state);
                state_into(input, 1, state, &mut current_seen)?;
            }
            0x1A => {
                let input = fields.bytes()?;
                // One more than kept is refused at once (prost would read them all first).
                if record.previous.len() == MAX_PREVIOUS_SESSIONS {
                    return Err(Invalid);
                }
                record.previous.push(blank_state());
                let last = record.previous.len() - 1;
                let mut seen = 0;
                state_into(input, 1, &mut record.previous[last], &mut seen)?;
                if !state_complete(seen) {
                    return Err(Invalid);
                }
            }
            key if known_tag(key, 3) => return Err(Invalid),
            key => fields.skip(key, 0)?,
        }
    }
    if format != Some(SESSION_RECORD_FORMAT)
        || (record.current.is_some() && !state_complete(current_seen))
    {
        return Err(Invalid);
    }
    Ok(())
}

/// Reads a stored `SessionRecordData`.
pub(crate) fn decode(bytes: &[u8]) -> Result<SessionRecord> {
    let mut record = SessionRecord::default();
    match record_into(bytes, &mut record) {
        Ok(()) => Ok(record),
        // The half-read record is dropped here, its secrets wiped.
        Err(Invalid) => Err(Error::CorruptRecord {
            what: "session record",
        }),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;
    use wa_proto::prost::Message as _;

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
            // Each list of skipped keys allocated once, to its size (its entries are the
            // chain's last fields, of the fewest bytes: indexes below 128).
            for chain in record.current.iter().flat_map(|s| &s.receivers) {
                assert_eq!(chain.skipped.capacity(), chain.skipped.len());
            }
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

    /// `current` fragments appended to a real record (prost merges them into its current
    /// state), each an edge of the field scanner: over-long lengths and varints, a key of the
    /// wrong length replaced by a later one (or not), unknown fields of every wire type (groups
    /// nested), known tags with other wire types, empty nested messages.
    #[test]
    fn decoder_agrees_with_prost_on_crafted_fields() {
        let key = [7u8; 32];
        let with = |prefix: &[u8]| [prefix, &key[..]].concat();
        let nested = |tag: u8, body: &[u8]| {
            assert!(body.len() < 0x80);
            [&[tag, body.len() as u8][..], body].concat()
        };
        let fragments: Vec<Vec<u8>> = vec![
            with(&[0x0A, 0xA0, 0x00]),       // identity, length 32 in two bytes
            with(&[0x2A, 0xA0, 0x80, 0x00]), // root key, length in three bytes
            vec![0x0A, 0x03, 1, 2, 3],       // identity of 3 bytes, the last one
            [vec![0x0A, 0x03, 1, 2, 3], with(&[0x0A, 0x20])].concat(), // replaced by a valid one
            [with(&[0x0A, 0x20]), vec![0x0A, 0x00]].concat(), // a valid one replaced
            vec![0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], // registration id over 32 bits
            vec![
                0x48, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
            ],
            vec![
                0x48, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02,
            ],
            vec![0x48, 0x80],                                     // truncated varint
            vec![0x08, 0x01],                                     // tag 1 as a varint
            vec![0x3B, 0x3C],                                     // tag 7 as a group
            vec![0x5B, 0x5B, 0x08, 0x01, 0x5C, 0x5C],             // unknown tag 11, nested groups
            vec![0x5B, 0x64],                                     // a group closed by another tag
            vec![0x59, 0, 0, 0, 0, 0, 0, 0, 0, 0x5D, 0, 0, 0, 0], // unknown fixed64, fixed32
            vec![0x5E, 0x00],                                     // wire type 6
            vec![0x80, 0x01, 0x00],                               // tag 16 in a two-byte key
            vec![0x3A, 0x00], // empty sender chain: merges, changes nothing
            nested(0x3A, &with(&[0x12, 0xA0, 0x00])), // sender private key, long length
            nested(0x3A, &[0x20, 0x80, 0x01]), // sender index in two bytes
            nested(0x3A, &[0x18, 0x01]), // sender chain key as a varint
            nested(0x3A, &[0x2A, 0x00]), // unknown field in the sender chain
            vec![0x52, 0x00], // empty pending header: fields missing
            nested(
                0x52,
                &[[0x10, 0x05].as_slice(), &with(&[0x1A, 0x20])].concat(),
            ),
            nested(
                0x52,
                &[[0x08, 0x09].as_slice(), &with(&[0x1A, 0x20])].concat(),
            ),
            vec![0x42, 0x00], // empty receiver chain
            nested(
                0x42,
                &[with(&[0x0A, 0x20]), with(&[0x12, 0x20]), vec![0x18, 0x03]].concat(),
            ),
            nested(
                0x42,
                &[
                    with(&[0x0A, 0x20]),
                    with(&[0x12, 0x20]),
                    vec![0x18, 0x03],
                    nested(
                        0x22,
                        &[[0x08, 0x02].as_slice(), &with(&[0x12, 0x20])].concat(),
                    ),
                    nested(0x22, &[0x08, 0x02]), // a skipped key without its seed
                ]
                .concat(),
            ),
        ];
        let records = RECORDS.get_or_init(records);
        let mut accepted = 0;
        for record in records {
            // The current state's bytes (prost writes what our encoder writes).
            let data = wa_proto::signal::SessionRecordData::decode(&record[..]).unwrap();
            let state = &data.current.unwrap().encode_to_vec()[..];
            for fragment in &fragments {
                let mut bytes = record.clone();
                bytes.extend_from_slice(&nested(0x12, fragment));
                agree(&bytes);
                accepted += usize::from(decode(&bytes).is_ok());
                // The current state with the fragment after it, as a previous session.
                let mut bytes = record.clone();
                let previous = [state, fragment].concat();
                bytes.push(0x1A);
                let mut len = previous.len();
                while len >= 0x80 {
                    bytes.push(len as u8 | 0x80);
                    len >>= 7;
                }
                bytes.push(len as u8);
                bytes.extend_from_slice(&previous);
                agree(&bytes);
                accepted += usize::from(decode(&bytes).is_ok());
            }
        }
        // Both outcomes are exercised.
        let total = records.len() * fragments.len() * 2;
        assert!(
            accepted > total / 3 && accepted < total,
            "{accepted} of {total}"
        );
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
