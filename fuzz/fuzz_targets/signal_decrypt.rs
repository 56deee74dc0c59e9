//! Arbitrary bytes decrypted as `pkmsg`, `msg` and `skmsg` against live sessions and a live
//! sender key (set up once, deterministically, and cloned for every input): never panics, and
//! every failure leaves the stored records byte for byte as they were.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wa_signal::conformance::{TestRng, session_pair};
use wa_signal::{
    InMemoryStore, MessageKind, ProtocolAddress, SenderKeyName, SenderKeyStore as _,
    SessionStore as _, create_sender_key_distribution, decrypt, encrypt,
    process_sender_key_distribution,
};

/// Bob's store with a session with Alice (a pkmsg, an answer and a msg done, so both chains are
/// in use) and Alice's sender key; Alice's address; the sender key's name.
fn live() -> &'static (InMemoryStore, ProtocolAddress, SenderKeyName) {
    static LIVE: OnceLock<(InMemoryStore, ProtocolAddress, SenderKeyName)> = OnceLock::new();
    LIVE.get_or_init(|| {
        let mut rng = TestRng::new(7);
        let (mut alice, mut bob, bob_addr, alice_addr) =
            session_pair(&mut InMemoryStore::new, &mut rng);
        let m = encrypt(&mut alice, &bob_addr, b"one").unwrap();
        decrypt(&mut bob, &alice_addr, m.kind, &m.bytes, &mut rng).unwrap();
        let m = encrypt(&mut bob, &alice_addr, b"two").unwrap();
        decrypt(&mut alice, &bob_addr, m.kind, &m.bytes, &mut rng).unwrap();
        let m = encrypt(&mut alice, &bob_addr, b"three").unwrap();
        decrypt(&mut bob, &alice_addr, m.kind, &m.bytes, &mut rng).unwrap();
        let name = SenderKeyName {
            group_id: "g@g.us".into(),
            sender: alice_addr.clone(),
        };
        let skdm = create_sender_key_distribution(&mut alice, &name, &mut rng).unwrap();
        process_sender_key_distribution(&mut bob, &name, &skdm).unwrap();
        (bob, alice_addr, name)
    })
}

fuzz_target!(|data: &[u8]| {
    let (template, alice_addr, name) = live();
    let mut bob = template.clone();
    let mut rng = TestRng::new(9);
    let session_before = bob.load_session(alice_addr).unwrap().unwrap().to_bytes();
    let group_before = bob.load_sender_key(name).unwrap().unwrap().to_bytes();
    let kind = match data.first().map(|b| b % 3) {
        Some(0) => MessageKind::PreKey,
        Some(1) => MessageKind::Whisper,
        _ => MessageKind::SenderKey,
    };
    let body = data.get(1..).unwrap_or_default();
    let result = match kind {
        MessageKind::SenderKey => wa_signal::group_decrypt(&mut bob, name, body),
        _ => decrypt(&mut bob, alice_addr, kind, body, &mut rng),
    };
    if result.is_err() {
        let session_after = bob.load_session(alice_addr).unwrap().unwrap().to_bytes();
        assert_eq!(
            *session_after, *session_before,
            "a failed decrypt changed the session"
        );
        let group_after = bob.load_sender_key(name).unwrap().unwrap().to_bytes();
        assert_eq!(
            *group_after, *group_before,
            "a failed decrypt changed the sender key"
        );
    }
});
