//! A conformance suite that any store backend runs, so durable backends behave as the in-memory
//! one does.
//!
//! Call [`run_all`] with a factory that makes an empty store for an identity, or generate one
//! `#[test]` per check with [`store_conformance_tests!`](crate::store_conformance_tests):
//!
//! ```
//! wa_signal::store_conformance_tests!(wa_signal::InMemoryStore::new);
//! ```
//!
//! Each check panics (with what failed) on a non-conforming backend.

use wa_crypto::rand_core::{CryptoRng, Error as RandError, RngCore};

use crate::store::{ProtocolAddress, SenderKeyName, SenderKeyStore, SessionStores};
use crate::{
    KeyPair, MessageKind, PreKey, PreKeyBundle, PublicKey, SignedPreKey,
    create_sender_key_distribution, decrypt, encrypt, group_decrypt, group_encrypt,
    process_pre_key_bundle, process_sender_key_distribution,
};

/// What every backend must implement to run the suite.
pub trait ConformanceStore: SessionStores + SenderKeyStore {}
impl<T: SessionStores + SenderKeyStore> ConformanceStore for T {}

/// A small deterministic RNG (SplitMix64) so the suite needs no RNG crate; never use it
/// outside tests.
#[derive(Debug)]
pub struct TestRng(u64);

impl TestRng {
    /// Seeded.
    pub fn new(seed: u64) -> TestRng {
        TestRng(seed)
    }
}

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), RandError> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for TestRng {}

/// Our identity and registration id, and theirs.
pub fn identities(rng: &mut TestRng) -> ((KeyPair, u32), (KeyPair, u32)) {
    (
        (KeyPair::generate(rng), 1111),
        (KeyPair::generate(rng), 2222),
    )
}

/// Identity keys: ours as given, peers' stored, replaced, kept per address.
pub fn check_identities<S: ConformanceStore>(make: &mut impl FnMut(KeyPair, u32) -> S) {
    let mut rng = TestRng::new(1);
    let ((ours, reg), _) = identities(&mut rng);
    let mut store = make(ours.clone(), reg);
    assert_eq!(
        store.local_identity().unwrap().public_bytes(),
        ours.public_bytes(),
        "local identity"
    );
    assert_eq!(
        store.local_registration_id().unwrap(),
        reg,
        "registration id"
    );
    let a = ProtocolAddress::new("111", 0);
    let b = ProtocolAddress::new("111", 1);
    assert_eq!(store.identity(&a).unwrap(), None, "unknown peer");
    store.save_identity(&a, &PublicKey([1; 32])).unwrap();
    assert_eq!(
        store.identity(&a).unwrap(),
        Some(PublicKey([1; 32])),
        "saved identity"
    );
    assert_eq!(store.identity(&b).unwrap(), None, "per device");
    store.save_identity(&a, &PublicKey([2; 32])).unwrap();
    assert_eq!(
        store.identity(&a).unwrap(),
        Some(PublicKey([2; 32])),
        "replaced identity"
    );
}

/// Prekeys and signed prekeys: stored, loaded, removed.
pub fn check_pre_keys<S: ConformanceStore>(make: &mut impl FnMut(KeyPair, u32) -> S) {
    let mut rng = TestRng::new(2);
    let ((ours, reg), _) = identities(&mut rng);
    let mut store = make(ours.clone(), reg);
    let pre_key = PreKey::generate(7, &mut rng);
    store.store_pre_key(&pre_key).unwrap();
    let loaded = store.load_pre_key(7).unwrap().expect("stored prekey");
    assert_eq!(
        loaded.key_pair.public_bytes(),
        pre_key.key_pair.public_bytes(),
        "prekey"
    );
    assert!(store.load_pre_key(8).unwrap().is_none(), "unknown prekey");
    store.remove_pre_key(7).unwrap();
    assert!(store.load_pre_key(7).unwrap().is_none(), "removed prekey");
    store.remove_pre_key(7).unwrap();
    let signed = SignedPreKey::generate(&ours, 3, &mut rng);
    store.store_signed_pre_key(&signed).unwrap();
    let loaded = store
        .load_signed_pre_key(3)
        .unwrap()
        .expect("stored signed prekey");
    assert_eq!(
        loaded.signature, signed.signature,
        "signed prekey signature"
    );
    assert_eq!(
        loaded.key_pair.private_bytes(),
        signed.key_pair.private_bytes(),
        "signed prekey private"
    );
}

/// Sets up `alice` (initiator) and `bob` (responder) with a session, as the suite uses it.
pub fn session_pair<S: ConformanceStore>(
    make: &mut impl FnMut(KeyPair, u32) -> S,
    rng: &mut TestRng,
) -> (S, S, ProtocolAddress, ProtocolAddress) {
    let ((a, a_reg), (b, b_reg)) = identities(rng);
    let mut alice = make(a, a_reg);
    let mut bob = make(b.clone(), b_reg);
    let signed = SignedPreKey::generate(&b, 1, rng);
    let one_time = PreKey::generate(100, rng);
    bob.store_signed_pre_key(&signed).unwrap();
    bob.store_pre_key(&one_time).unwrap();
    let bundle = PreKeyBundle {
        registration_id: b_reg,
        identity_key: PublicKey::of(&b),
        signed_pre_key_id: 1,
        signed_pre_key: PublicKey::of(&signed.key_pair),
        signed_pre_key_signature: signed.signature,
        pre_key: Some((100, PublicKey::of(&one_time.key_pair))),
    };
    let bob_at_alice = ProtocolAddress::new("bob", 1);
    let alice_at_bob = ProtocolAddress::new("alice", 2);
    process_pre_key_bundle(&mut alice, &bob_at_alice, &bundle, rng).unwrap();
    (alice, bob, bob_at_alice, alice_at_bob)
}

/// Sessions survive the store: a conversation where every step reloads from the backend.
pub fn check_sessions<S: ConformanceStore>(make: &mut impl FnMut(KeyPair, u32) -> S) {
    let mut rng = TestRng::new(3);
    let (mut alice, mut bob, bob_addr, alice_addr) = session_pair(make, &mut rng);
    assert!(
        bob.load_session(&alice_addr).unwrap().is_none(),
        "no session before the first message"
    );
    let first = encrypt(&mut alice, &bob_addr, b"hello").unwrap();
    assert_eq!(first.kind, MessageKind::PreKey);
    assert_eq!(
        decrypt(&mut bob, &alice_addr, first.kind, &first.bytes, &mut rng).unwrap(),
        b"hello"
    );
    assert!(
        bob.load_pre_key(100).unwrap().is_none(),
        "one-time prekey removed after use"
    );
    let reply = encrypt(&mut bob, &alice_addr, b"hi").unwrap();
    assert_eq!(reply.kind, MessageKind::Whisper);
    assert_eq!(
        decrypt(&mut alice, &bob_addr, reply.kind, &reply.bytes, &mut rng).unwrap(),
        b"hi"
    );
    let next = encrypt(&mut alice, &bob_addr, b"again").unwrap();
    assert_eq!(
        next.kind,
        MessageKind::Whisper,
        "pkmsg stops once the peer answered"
    );
    assert_eq!(
        decrypt(&mut bob, &alice_addr, next.kind, &next.bytes, &mut rng).unwrap(),
        b"again"
    );
    // Replays are refused: the store kept the consumed state.
    assert!(
        decrypt(&mut bob, &alice_addr, next.kind, &next.bytes, &mut rng).is_err(),
        "replay refused"
    );
}

/// Sender keys survive the store.
pub fn check_sender_keys<S: ConformanceStore>(make: &mut impl FnMut(KeyPair, u32) -> S) {
    let mut rng = TestRng::new(4);
    let ((a, a_reg), (b, b_reg)) = identities(&mut rng);
    let mut alice = make(a, a_reg);
    let mut bob = make(b, b_reg);
    let name = SenderKeyName {
        group_id: "123-456@g.us".into(),
        sender: ProtocolAddress::new("alice", 2),
    };
    assert!(
        bob.load_sender_key(&name).unwrap().is_none(),
        "no record yet"
    );
    let skdm = create_sender_key_distribution(&mut alice, &name, &mut rng).unwrap();
    process_sender_key_distribution(&mut bob, &name, &skdm).unwrap();
    for i in 0..3u8 {
        let skmsg = group_encrypt(&mut alice, &name, &[i; 20], &mut rng).unwrap();
        assert_eq!(group_decrypt(&mut bob, &name, &skmsg).unwrap(), [i; 20]);
        assert!(
            group_decrypt(&mut bob, &name, &skmsg).is_err(),
            "group replay refused"
        );
    }
}

/// Every check.
pub fn run_all<S: ConformanceStore>(mut make: impl FnMut(KeyPair, u32) -> S) {
    check_identities(&mut make);
    check_pre_keys(&mut make);
    check_sessions(&mut make);
    check_sender_keys(&mut make);
}

/// One `#[test]` per conformance check for a backend: pass an expression of type
/// `FnMut(KeyPair, u32) -> Store` (a function path works).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        #[test]
        fn store_conformance_identities() {
            $crate::conformance::check_identities(&mut $make);
        }
        #[test]
        fn store_conformance_pre_keys() {
            $crate::conformance::check_pre_keys(&mut $make);
        }
        #[test]
        fn store_conformance_sessions() {
            $crate::conformance::check_sessions(&mut $make);
        }
        #[test]
        fn store_conformance_sender_keys() {
            $crate::conformance::check_sender_keys(&mut $make);
        }
    };
}
