//! wa-signal's costs: session setup, 1:1 encrypt/decrypt of 100 B and 10 KiB, sender-key
//! encrypt/decrypt, XEdDSA sign/verify. All in memory (the in-memory store keeps records in
//! their persisted form, so every operation includes a record load and store).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use wa_signal::conformance::{TestRng, session_pair};
use wa_signal::{
    InMemoryStore, ProtocolAddress, SenderKeyName, create_sender_key_distribution, decrypt,
    encrypt, group_decrypt, group_encrypt, process_sender_key_distribution,
};

fn sessions(c: &mut Criterion) {
    c.bench_function("signal/setup (bundle, pkmsg, decrypt)", |b| {
        let mut seed = 0;
        b.iter(|| {
            seed += 1;
            let mut rng = TestRng::new(seed);
            let (mut alice, mut bob, bob_addr, alice_addr) =
                session_pair(&mut InMemoryStore::new, &mut rng);
            let m = encrypt(&mut alice, &bob_addr, b"hello").unwrap();
            black_box(decrypt(&mut bob, &alice_addr, m.kind, &m.bytes, &mut rng).unwrap());
        });
    });
    for size in [100usize, 10 * 1024] {
        let plaintext = vec![0x5a; size];
        // Separate pairs: encrypting thousands of messages nobody reads would put the decrypt
        // benchmark's messages beyond the forward-jump bound.
        let (mut alice, _, bob_addr, _, _) = answered_pair(1);
        c.bench_function(&format!("signal/encrypt {size} B"), |b| {
            b.iter(|| black_box(encrypt(&mut alice, &bob_addr, &plaintext).unwrap()));
        });
        let (mut alice, mut bob, bob_addr, alice_addr, mut rng) = answered_pair(2);
        c.bench_function(&format!("signal/decrypt {size} B"), |b| {
            b.iter_batched(
                || encrypt(&mut alice, &bob_addr, &plaintext).unwrap(),
                |m| black_box(decrypt(&mut bob, &alice_addr, m.kind, &m.bytes, &mut rng).unwrap()),
                BatchSize::SmallInput,
            );
        });
    }
}

/// Two stores with a session in which both have sent.
fn answered_pair(
    seed: u64,
) -> (
    InMemoryStore,
    InMemoryStore,
    ProtocolAddress,
    ProtocolAddress,
    TestRng,
) {
    let mut rng = TestRng::new(seed);
    let (mut alice, mut bob, bob_addr, alice_addr) =
        session_pair(&mut InMemoryStore::new, &mut rng);
    let m = encrypt(&mut alice, &bob_addr, b"hello").unwrap();
    decrypt(&mut bob, &alice_addr, m.kind, &m.bytes, &mut rng).unwrap();
    let m = encrypt(&mut bob, &alice_addr, b"ack").unwrap();
    decrypt(&mut alice, &bob_addr, m.kind, &m.bytes, &mut rng).unwrap();
    (alice, bob, bob_addr, alice_addr, rng)
}

fn sender_keys(c: &mut Criterion) {
    let mut rng = TestRng::new(2);
    let (mut alice, mut bob, _, alice_addr) = session_pair(&mut InMemoryStore::new, &mut rng);
    let name = SenderKeyName {
        group_id: "g@g.us".into(),
        sender: alice_addr,
    };
    let skdm = create_sender_key_distribution(&mut alice, &name, &mut rng).unwrap();
    process_sender_key_distribution(&mut bob, &name, &skdm).unwrap();
    let plaintext = vec![0x5a; 100];
    c.bench_function("signal/group encrypt 100 B", |b| {
        b.iter(|| black_box(group_encrypt(&mut alice, &name, &plaintext, &mut rng).unwrap()));
    });
    // A fresh sender chain for the decrypt benchmark (see the 1:1 case).
    let name = SenderKeyName {
        group_id: "h@g.us".into(),
        sender: name.sender.clone(),
    };
    let skdm = create_sender_key_distribution(&mut alice, &name, &mut rng).unwrap();
    process_sender_key_distribution(&mut bob, &name, &skdm).unwrap();
    let mut sender_rng = TestRng::new(3);
    c.bench_function("signal/group decrypt 100 B", |b| {
        b.iter_batched(
            || group_encrypt(&mut alice, &name, &plaintext, &mut sender_rng).unwrap(),
            |m| black_box(group_decrypt(&mut bob, &name, &m).unwrap()),
            BatchSize::SmallInput,
        );
    });
}

fn xeddsa(c: &mut Criterion) {
    let mut rng = TestRng::new(4);
    let key = wa_signal::KeyPair::generate(&mut rng);
    let message = [7u8; 33];
    let signature = wa_crypto::xeddsa_sign_rng(&key, &message, &mut rng);
    c.bench_function("xeddsa/sign", |b| {
        b.iter(|| black_box(wa_crypto::xeddsa_sign(&key, &message, &[1; 64])))
    });
    c.bench_function("xeddsa/verify", |b| {
        b.iter(|| {
            wa_crypto::xeddsa_verify(&key.public_bytes(), &message, black_box(&signature)).unwrap()
        })
    });
}

criterion_group!(benches, sessions, sender_keys, xeddsa);
criterion_main!(benches);
