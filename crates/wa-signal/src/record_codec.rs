//! The session record's persisted form written directly from the session state: the bytes prost
//! writes for `signal.SessionRecordData` (fields in tag order, every present optional field
//! written; checked in `encoder_writes_prosts_bytes`), without building prost's structs (a
//! dozen small allocations per session, each a copy of a secret to wipe). Records are encoded
//! on every message, so this is on the per-message path.

use zeroize::Zeroizing;

use crate::record::{SESSION_RECORD_FORMAT, SessionRecord};
use crate::session::{ReceiverChain, SessionState, wipe};

/// Counted with independent comparisons (one per 7 bits): the sizes are summed for every field
/// of every record stored, and a bit scan and a division by 7 made a chain twice as long.
fn varint_len(value: u64) -> usize {
    let mut len = 1;
    let mut shift = 7;
    while shift < 64 {
        len += usize::from(value >> shift != 0);
        shift += 7;
    }
    len
}

/// A `uint32` field with a one-byte key (all tags here are below 16).
fn uint_len(value: u32) -> usize {
    1 + varint_len(value.into())
}

/// A 32-byte `bytes` field.
const BYTES32_LEN: usize = 2 + 32;

/// A nested message field of `len` bytes: key, length.
fn nested_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn skipped_len(index: u32) -> usize {
    uint_len(index) + BYTES32_LEN
}

fn receiver_len(chain: &ReceiverChain) -> usize {
    2 * BYTES32_LEN
        + uint_len(chain.chain.index)
        + chain
            .skipped
            .iter()
            .map(|(index, _)| nested_len(skipped_len(*index)))
            .sum::<usize>()
}

fn sender_len(state: &SessionState) -> usize {
    3 * BYTES32_LEN + uint_len(state.sender.chain.index)
}

fn pending_len(state: &SessionState) -> Option<usize> {
    state
        .pending
        .as_ref()
        .map(|p| p.pre_key_id.map_or(0, uint_len) + uint_len(p.signed_pre_key_id) + BYTES32_LEN)
}

fn state_len(state: &SessionState) -> usize {
    2 * BYTES32_LEN
        + uint_len(state.remote_registration_id)
        + uint_len(state.local_registration_id)
        + 2 * BYTES32_LEN
        + nested_len(sender_len(state))
        + state
            .receivers
            .iter()
            .map(|c| nested_len(receiver_len(c)))
            .sum::<usize>()
        + uint_len(state.previous_counter)
        + pending_len(state).map_or(0, nested_len)
}

/// Writes into a buffer already sized to the record (every byte of it is written): plain
/// stores at a cursor, where pushing onto a `Vec` checked and updated its length and capacity
/// through memory for every byte.
struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn byte(&mut self, byte: u8) {
        self.out[self.at] = byte;
        self.at += 1;
    }

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.byte((value as u8) | 0x80);
            value >>= 7;
        }
        self.byte(value as u8);
    }

    fn uint(&mut self, tag: u8, value: u32) {
        self.byte(tag << 3);
        self.varint(value.into());
    }

    fn bytes32(&mut self, tag: u8, bytes: &[u8; 32]) {
        let field = &mut self.out[self.at..self.at + BYTES32_LEN];
        field[0] = (tag << 3) | 2;
        field[1] = 32;
        field[2..].copy_from_slice(bytes);
        self.at += BYTES32_LEN;
    }

    fn nested_header(&mut self, tag: u8, len: usize) {
        self.byte((tag << 3) | 2);
        self.varint(len as u64);
    }

    fn state(&mut self, state: &SessionState) {
        self.bytes32(1, &state.local_identity.0);
        self.bytes32(2, &state.remote_identity.0);
        self.uint(3, state.remote_registration_id);
        self.uint(4, state.local_registration_id);
        self.bytes32(5, &state.root_key);
        self.bytes32(6, &state.base_key.0);
        self.nested_header(7, sender_len(state));
        self.bytes32(1, &state.sender.ratchet.public.0);
        self.bytes32(2, &state.sender.ratchet.private);
        self.bytes32(3, &state.sender.chain.key);
        self.uint(4, state.sender.chain.index);
        for chain in &state.receivers {
            self.nested_header(8, receiver_len(chain));
            self.bytes32(1, &chain.ratchet.0);
            self.bytes32(2, &chain.chain.key);
            self.uint(3, chain.chain.index);
            for (index, seed) in &chain.skipped {
                self.nested_header(4, skipped_len(*index));
                self.uint(1, *index);
                self.bytes32(2, seed);
            }
        }
        self.uint(9, state.previous_counter);
        if let (Some(p), Some(len)) = (&state.pending, pending_len(state)) {
            self.nested_header(10, len);
            if let Some(id) = p.pre_key_id {
                self.uint(1, id);
            }
            self.uint(2, p.signed_pre_key_id);
            self.bytes32(3, &p.base_key.0);
        }
    }
}

/// `SessionRecordData { format: 1, current, previous }` as prost writes it, into `out`, whose
/// old contents (another record's secrets) are overwritten or wiped: its allocation is reused
/// if it fits (a store rewriting a record in place), else wiped and replaced by one of the
/// exact size (no reallocation leaving a copy behind).
pub(crate) fn encode_into(record: &SessionRecord, out: &mut Vec<u8>) {
    let current = record.current.as_ref().map(state_len);
    let total = uint_len(SESSION_RECORD_FORMAT)
        + current.map_or(0, nested_len)
        + record
            .previous
            .iter()
            .map(|state| nested_len(state_len(state)))
            .sum::<usize>();
    // A buffer much larger than the record (one that held thousands of skipped keys) is not
    // kept: its tail would be wiped again on every store.
    if out.capacity() < total || out.capacity() > 2 * total {
        wipe(out);
        *out = Vec::with_capacity(total);
    }
    let old_len = out.len();
    if old_len > total {
        wipe(&mut out[total..]);
        out.truncate(total);
    } else {
        out.resize(total, 0);
    }
    let mut writer = Writer {
        out: &mut out[..],
        at: 0,
    };
    writer.uint(1, SESSION_RECORD_FORMAT);
    if let (Some(state), Some(len)) = (&record.current, current) {
        writer.nested_header(2, len);
        writer.state(state);
    }
    for state in &record.previous {
        writer.nested_header(3, state_len(state));
        writer.state(state);
    }
    debug_assert_eq!(writer.at, total, "the computed size is the written size");
}

/// `SessionRecordData { format: 1, current, previous }` as prost writes it.
pub(crate) fn encode(record: &SessionRecord) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::new());
    encode_into(record, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;
    use wa_proto::prost::Message as _;

    use super::*;
    use crate::record_reference::{self, record_to_data};
    use crate::store::{IdentityStore as _, SessionStore as _};
    use crate::{
        InMemoryStore, KeyPair, PreKey, PreKeyBundle, PreKeyStore as _, ProtocolAddress, PublicKey,
        SignedPreKey, SignedPreKeyStore as _, decrypt, encrypt, process_pre_key_bundle,
    };

    fn store(rng: &mut StdRng) -> InMemoryStore {
        InMemoryStore::new(KeyPair::generate(rng), 1234)
    }

    fn bundle(bob: &mut InMemoryStore, id: u32, one_time: bool, rng: &mut StdRng) -> PreKeyBundle {
        let identity = bob.local_identity().unwrap();
        let signed = SignedPreKey::generate(&identity, id, rng);
        bob.store_signed_pre_key(&signed).unwrap();
        let pre_key = PreKey::generate(id + 100_000, rng);
        bob.store_pre_key(&pre_key).unwrap();
        PreKeyBundle {
            registration_id: 99,
            identity_key: PublicKey::of(&identity),
            signed_pre_key_id: signed.id,
            signed_pre_key: PublicKey::of(&signed.key_pair),
            signed_pre_key_signature: signed.signature,
            pre_key: one_time.then(|| (pre_key.id, PublicKey::of(&pre_key.key_pair))),
        }
    }

    /// Checks a stored record: the direct encoding is prost's, and prost's bytes (what earlier
    /// versions stored) load to a record that encodes to the same bytes again.
    fn check(store: &InMemoryStore, address: &ProtocolAddress) -> usize {
        let record = store.load_session(address).unwrap().unwrap();
        let ours = encode(&record);
        let prosts = record_to_data(&record).encode_to_vec();
        assert_eq!(*ours, prosts);
        let reloaded = SessionRecord::from_bytes(&prosts).unwrap();
        assert_eq!(
            *encode(&record_reference::from_bytes(&prosts).unwrap()),
            prosts
        );
        assert_eq!(*encode(&reloaded), prosts);
        record.skipped_keys()
    }

    #[test]
    fn varint_len_is_the_written_length() {
        for bits in 0..64 {
            for value in [
                1u64 << bits,
                (1u64 << bits) - 1,
                (1u64 << bits) + 1,
                u64::MAX,
            ] {
                let mut out = [0u8; 10];
                let mut writer = Writer {
                    out: &mut out,
                    at: 0,
                };
                writer.varint(value);
                assert_eq!(varint_len(value), writer.at, "{value}");
            }
        }
    }

    /// Writing over a buffer that holds another record (longer, shorter, much shorter) gives
    /// exactly a fresh encoding's bytes, in the same allocation when it fits.
    #[test]
    fn encode_into_overwrites_the_old_record() {
        let mut rng = StdRng::seed_from_u64(9);
        let (mut alice, mut bob) = (store(&mut rng), store(&mut rng));
        let (at_alice, at_bob) = (ProtocolAddress::new("b", 1), ProtocolAddress::new("a", 1));
        let b = bundle(&mut bob, 1, true, &mut rng);
        process_pre_key_bundle(&mut alice, &at_alice, &b, &mut rng).unwrap();
        let mut held = Vec::new();
        for i in 0..40u32 {
            let m = encrypt(&mut alice, &at_alice, &i.to_le_bytes()).unwrap();
            if i % 2 == 0 {
                held.push(m);
            } else {
                decrypt(&mut bob, &at_bob, m.kind, &m.bytes, &mut rng).unwrap();
            }
        }
        let mut records = vec![
            alice.load_session(&at_alice).unwrap().unwrap(),
            bob.load_session(&at_bob).unwrap().unwrap(),
        ];
        // Bob's record one skipped key shorter, then all of them.
        for m in [&held[..1], &held[1..]] {
            for m in m {
                decrypt(&mut bob, &at_bob, m.kind, &m.bytes, &mut rng).unwrap();
            }
            records.push(bob.load_session(&at_bob).unwrap().unwrap());
        }
        let mut reused = 0;
        for old in &records {
            for new in &records {
                let mut buffer = encode(old).to_vec();
                let (at, capacity) = (buffer.as_ptr(), buffer.capacity());
                encode_into(new, &mut buffer);
                let fresh = encode(new);
                assert_eq!(buffer, *fresh);
                if capacity >= fresh.len() && capacity <= 2 * fresh.len() {
                    assert_eq!(buffer.as_ptr(), at);
                    reused += 1;
                }
            }
        }
        assert!(
            reused > records.len(),
            "longer and shorter records reuse the buffer"
        );
    }

    #[test]
    fn encoder_writes_prosts_bytes() {
        let mut rng = StdRng::seed_from_u64(7);
        let (mut alice, mut bob) = (store(&mut rng), store(&mut rng));
        let (at_alice, at_bob) = (
            ProtocolAddress::new("bob", 1),
            ProtocolAddress::new("alice", 1),
        );
        let mut skipped_seen = 0;
        // Two sessions (a previous one kept), with and without a one-time prekey.
        for (round, one_time) in [(1, true), (2, false)] {
            let b = bundle(&mut bob, round, one_time, &mut rng);
            process_pre_key_bundle(&mut alice, &at_alice, &b, &mut rng).unwrap();
            check(&alice, &at_alice); // pending prekey header
            let mut held = Vec::new();
            for i in 0..300u32 {
                let m = encrypt(&mut alice, &at_alice, &i.to_le_bytes()).unwrap();
                // Every third message held back: skipped keys on Bob's side.
                if i % 3 == 1 {
                    held.push(m);
                } else {
                    decrypt(&mut bob, &at_bob, m.kind, &m.bytes, &mut rng).unwrap();
                }
                if i % 50 == 0 {
                    skipped_seen += check(&bob, &at_bob);
                    let answer = encrypt(&mut bob, &at_bob, b"ack").unwrap();
                    decrypt(&mut alice, &at_alice, answer.kind, &answer.bytes, &mut rng).unwrap();
                    check(&alice, &at_alice);
                }
            }
            // The latest chain's held messages (older chains are dropped past five).
            for m in held.iter().rev().take(10) {
                decrypt(&mut bob, &at_bob, m.kind, &m.bytes, &mut rng).unwrap();
            }
            skipped_seen += check(&bob, &at_bob);
        }
        let record = alice.load_session(&at_alice).unwrap().unwrap();
        assert_eq!(record.previous_sessions(), 1);
        assert!(skipped_seen > 0, "skipped keys were encoded");
    }
}
