//! wa-signal's side of `cargo xtask bench-compare signal`: operations per second of session
//! setup (each role alone), 1:1 encrypt and decrypt in an alternating conversation and in a
//! one-way burst (100 B and 10 KiB), sender-key encrypt and decrypt, XEdDSA sign and verify,
//! and wa-crypto's X25519 (Diffie–Hellman and key generation, the curve work of a ratchet step);
//! with `--sizes`, also the stored session record's size after 200 round trips and after
//! 10,000 messages one way. `interop/bench-signal.mjs` measures npm `libsignal` and
//! whatsapp-rust-bridge the same way.
//!
//! Every operation goes through [`InMemoryStore`], which keeps records in their persisted form:
//! each one loads (parses) the record and stores (serialises) it again, as a real client does.
//! Randomness is `StdRng` seeded from the OS, as a client would draw it.
//!
//! Clocks: `per_s` counts the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), which another
//! process on the same core does not inflate (`openssl speed` also divides by its CPU time);
//! `per_s_wall` is the same operations over wall-clock time.
//!
//! Output: one JSON object per line, `{"peer":"wa-signal","measure":…,"per_s":…,"per_s_wall":…}`
//! or `{…,"bytes":…}`. Usage: `signal_measure [SECONDS per measure] [--sizes]
//! [--only setup|alternating|burst|group|xeddsa|x25519] [--size BYTES]` (the last two for
//! profiling one measure).

use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rustix::time::{ClockId, clock_gettime};
use wa_signal::{
    Ciphertext, InMemoryStore, KeyPair, PreKey, PreKeyBundle, ProtocolAddress, PublicKey,
    SenderKeyName, SignedPreKey, create_sender_key_distribution, decrypt, encrypt,
    generate_registration_id, group_decrypt, group_encrypt, process_pre_key_bundle,
    process_sender_key_distribution,
};
use wa_signal::{PreKeyStore as _, SignedPreKeyStore as _};

const PEER: &str = "wa-signal";
const SIZES: [usize; 2] = [100, 10 * 1024];
/// Messages encrypted before they are decrypted, in the burst and group measures: few enough
/// that 10-KiB ones stay in the core's cache, as one message does (`openssl speed` reuses one
/// buffer). Each 10-KiB message is some 20 KiB with its plaintext: 32 of them (the earlier
/// batch) overflow a 512-KiB second-level cache and the decrypts then read from the third level
/// (measured here: 15.0 µs per 10-KiB decrypt in batches of 32, 11.4 µs in batches of 8).
const BATCH: usize = 8;

/// The calling thread's CPU time so far.
fn thread_cpu() -> Duration {
    let now = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Time spent in the measured operations, on both clocks.
#[derive(Clone, Copy, Default)]
struct Spent {
    cpu: Duration,
    wall: Duration,
}

impl Spent {
    /// Runs `op` and adds its duration on both clocks.
    fn time<T>(&mut self, op: impl FnOnce() -> T) -> T {
        let (wall, cpu) = (Instant::now(), thread_cpu());
        let out = op();
        self.cpu += thread_cpu() - cpu;
        self.wall += wall.elapsed();
        out
    }
}

fn print_rate(measure: &str, count: usize, spent: Spent) {
    let per_s = count as f64 / spent.cpu.as_secs_f64();
    let per_s_wall = count as f64 / spent.wall.as_secs_f64();
    println!(
        r#"{{"peer":"{PEER}","measure":"{measure}","per_s":{per_s:.1},"per_s_wall":{per_s_wall:.1}}}"#
    );
}

fn print_bytes(measure: &str, bytes: usize) {
    println!(r#"{{"peer":"{PEER}","measure":"{measure}","bytes":{bytes}}}"#);
}

fn new_store(rng: &mut StdRng) -> InMemoryStore {
    InMemoryStore::new(KeyPair::generate(rng), generate_registration_id(rng))
}

/// Bob's side of setup: a signed prekey, and a source of bundles with fresh one-time prekeys.
struct Responder {
    store: InMemoryStore,
    signed: SignedPreKey,
    next_pre_key: u32,
}

impl Responder {
    fn new(rng: &mut StdRng) -> Responder {
        let mut store = new_store(rng);
        let identity = wa_signal::IdentityStore::local_identity(&store).unwrap();
        let signed = SignedPreKey::generate(&identity, 1, rng);
        store.store_signed_pre_key(&signed).unwrap();
        Responder {
            store,
            signed,
            next_pre_key: 1,
        }
    }

    fn bundle(&mut self, rng: &mut StdRng) -> PreKeyBundle {
        let pre_key = PreKey::generate(self.next_pre_key, rng);
        self.next_pre_key += 1;
        self.store.store_pre_key(&pre_key).unwrap();
        let identity = wa_signal::IdentityStore::local_identity(&self.store).unwrap();
        PreKeyBundle {
            registration_id: wa_signal::IdentityStore::local_registration_id(&self.store).unwrap(),
            identity_key: PublicKey::of(&identity),
            signed_pre_key_id: self.signed.id,
            signed_pre_key: PublicKey::of(&self.signed.key_pair),
            signed_pre_key_signature: self.signed.signature,
            pre_key: Some((pre_key.id, PublicKey::of(&pre_key.key_pair))),
        }
    }
}

/// Setup in each role: the initiator processes a bundle and encrypts its first `pkmsg` (to a new
/// peer each time); the responder decrypts those `pkmsg`s (each from a new peer address).
fn setup(seconds: f64, rng: &mut StdRng) {
    let mut alice = new_store(rng);
    let mut bob = Responder::new(rng);
    let budget = Duration::from_secs_f64(seconds);
    let (mut initiator, mut responder) = (Spent::default(), Spent::default());
    let mut messages: Vec<(ProtocolAddress, Ciphertext)> = Vec::new();
    while initiator.cpu < budget {
        let batch: Vec<(ProtocolAddress, PreKeyBundle)> = (0..32)
            .map(|_| {
                let n = messages.len();
                (ProtocolAddress::new(format!("bob{n}"), 1), bob.bundle(rng))
            })
            .collect();
        for (address, bundle) in batch {
            let message = initiator.time(|| {
                process_pre_key_bundle(&mut alice, &address, &bundle, rng).unwrap();
                encrypt(&mut alice, &address, b"first message").unwrap()
            });
            messages.push((address, message));
        }
    }
    for (i, (_, message)) in messages.iter().enumerate() {
        let from = ProtocolAddress::new(format!("alice{i}"), 1);
        let plaintext = responder
            .time(|| decrypt(&mut bob.store, &from, message.kind, &message.bytes, rng).unwrap());
        assert_eq!(plaintext, b"first message");
    }
    print_rate("setup-initiator", messages.len(), initiator);
    print_rate("setup-responder", messages.len(), responder);
}

/// Two parties with an answered session (both have sent and received once).
struct Pair {
    alice: InMemoryStore,
    bob: InMemoryStore,
    bob_at_alice: ProtocolAddress,
    alice_at_bob: ProtocolAddress,
}

impl Pair {
    fn new(rng: &mut StdRng) -> Pair {
        let mut alice = new_store(rng);
        let mut responder = Responder::new(rng);
        let bundle = responder.bundle(rng);
        let bob_at_alice = ProtocolAddress::new("bob", 1);
        process_pre_key_bundle(&mut alice, &bob_at_alice, &bundle, rng).unwrap();
        let mut pair = Pair {
            alice,
            bob: responder.store,
            bob_at_alice,
            alice_at_bob: ProtocolAddress::new("alice", 1),
        };
        pair.send(true, b"hello", rng);
        pair.send(false, b"hello back", rng);
        pair
    }

    /// One message, `alice → bob` or back, decrypted and checked.
    fn send(&mut self, from_alice: bool, plaintext: &[u8], rng: &mut StdRng) {
        let (mut encrypting, mut decrypting) = (Spent::default(), Spent::default());
        self.send_timed(from_alice, plaintext, rng, &mut encrypting, &mut decrypting);
    }

    fn send_timed(
        &mut self,
        from_alice: bool,
        plaintext: &[u8],
        rng: &mut StdRng,
        encrypting: &mut Spent,
        decrypting: &mut Spent,
    ) {
        let (sender, receiver, to, from) = if from_alice {
            (
                &mut self.alice,
                &mut self.bob,
                &self.bob_at_alice,
                &self.alice_at_bob,
            )
        } else {
            (
                &mut self.bob,
                &mut self.alice,
                &self.alice_at_bob,
                &self.bob_at_alice,
            )
        };
        let message = encrypting.time(|| encrypt(sender, to, plaintext).unwrap());
        let out =
            decrypting.time(|| decrypt(receiver, from, message.kind, &message.bytes, rng).unwrap());
        assert_eq!(out, plaintext);
    }
}

fn random_plaintext(size: usize, rng: &mut StdRng) -> Vec<u8> {
    let mut plaintext = vec![0u8; size];
    rand::RngCore::fill_bytes(rng, &mut plaintext);
    plaintext
}

/// Alternating: every message answers the last, so every decrypt is a ratchet step.
fn alternating(seconds: f64, size: usize, rng: &mut StdRng) {
    let mut pair = Pair::new(rng);
    let plaintext = random_plaintext(size, rng);
    let budget = Duration::from_secs_f64(seconds);
    let (mut enc, mut dec) = (Spent::default(), Spent::default());
    let mut count = 0;
    while enc.cpu + dec.cpu < budget * 2 {
        pair.send_timed(count % 2 == 0, &plaintext, rng, &mut enc, &mut dec);
        count += 1;
    }
    print_rate(&format!("alt-encrypt-{size}"), count, enc);
    print_rate(&format!("alt-decrypt-{size}"), count, dec);
}

/// One way: batches of [`BATCH`] messages encrypted, then decrypted in order (one chain, no ratchet
/// step after the first). Each batch is timed as a whole (two clock reads per batch, not per
/// message); the plaintexts are checked after it.
fn burst(seconds: f64, size: usize, rng: &mut StdRng) {
    let mut pair = Pair::new(rng);
    let plaintext = random_plaintext(size, rng);
    let budget = Duration::from_secs_f64(seconds);
    let (mut enc, mut dec) = (Spent::default(), Spent::default());
    let mut count = 0;
    let mut batch: Vec<Ciphertext> = Vec::with_capacity(BATCH);
    let mut opened: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    while enc.cpu + dec.cpu < budget * 2 {
        enc.time(|| {
            for _ in 0..BATCH {
                batch.push(encrypt(&mut pair.alice, &pair.bob_at_alice, &plaintext).unwrap());
            }
        });
        dec.time(|| {
            for message in &batch {
                let out = decrypt(
                    &mut pair.bob,
                    &pair.alice_at_bob,
                    message.kind,
                    &message.bytes,
                    rng,
                );
                opened.push(out.unwrap());
            }
        });
        assert!(opened.iter().all(|out| *out == plaintext));
        batch.clear();
        opened.clear();
        count += BATCH;
    }
    print_rate(&format!("burst-encrypt-{size}"), count, enc);
    print_rate(&format!("burst-decrypt-{size}"), count, dec);
}

/// Sender keys: one sender's chain, batches of [`BATCH`] `skmsg`s encrypted, then decrypted in
/// order (each batch timed as a whole, as in [`burst`]).
fn group(seconds: f64, size: usize, rng: &mut StdRng) {
    let mut alice = new_store(rng);
    let mut bob = new_store(rng);
    let name = SenderKeyName {
        group_id: "120363000000000000@g.us".into(),
        sender: ProtocolAddress::new("alice", 1),
    };
    let skdm = create_sender_key_distribution(&mut alice, &name, rng).unwrap();
    process_sender_key_distribution(&mut bob, &name, &skdm).unwrap();
    let plaintext = random_plaintext(size, rng);
    let budget = Duration::from_secs_f64(seconds);
    let (mut enc, mut dec) = (Spent::default(), Spent::default());
    let mut count = 0;
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut opened: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    while enc.cpu + dec.cpu < budget * 2 {
        enc.time(|| {
            for _ in 0..BATCH {
                batch.push(group_encrypt(&mut alice, &name, &plaintext, rng).unwrap());
            }
        });
        dec.time(|| {
            for message in &batch {
                opened.push(group_decrypt(&mut bob, &name, message).unwrap());
            }
        });
        assert!(opened.iter().all(|out| *out == plaintext));
        batch.clear();
        opened.clear();
        count += BATCH;
    }
    print_rate(&format!("group-encrypt-{size}"), count, enc);
    print_rate(&format!("group-decrypt-{size}"), count, dec);
}

/// Runs `op` in rounds of 64 until `seconds` of CPU time are spent; prints its rate.
fn repeat(measure: &str, seconds: f64, mut op: impl FnMut()) {
    let budget = Duration::from_secs_f64(seconds);
    let mut spent = Spent::default();
    let mut count = 0;
    while spent.cpu < budget {
        spent.time(|| (0..64).for_each(|_| op()));
        count += 64;
    }
    print_rate(measure, count, spent);
}

/// XEdDSA over a 33-byte public key, as a signed prekey is signed.
fn xeddsa(seconds: f64, rng: &mut StdRng) {
    let key = KeyPair::generate(rng);
    let message = PublicKey::of(&KeyPair::generate(rng)).to_wire();
    let mut signature = [0u8; 64];
    repeat("xeddsa-sign", seconds, || {
        signature = wa_crypto::xeddsa_sign_rng(&key, &message, rng);
    });
    // The same with the Edwards form computed once, as a client holding its identity key can.
    let signing = wa_crypto::XeddsaSigningKey::new(&key);
    repeat("xeddsa-sign-precomputed", seconds, || {
        signature = signing.sign_rng(&message, rng);
    });
    let public = key.public_bytes();
    repeat("xeddsa-verify", seconds, || {
        wa_crypto::xeddsa_verify(&public, &message, std::hint::black_box(&signature)).unwrap();
    });
}

/// wa-crypto's X25519, as a ratchet step uses it: a Diffie–Hellman with a peer's public key
/// (what `openssl speed ecdhx25519` measures) and a key pair's generation (a fixed-base
/// multiplication).
fn x25519(seconds: f64, rng: &mut StdRng) {
    let ours = KeyPair::generate(rng);
    let theirs = KeyPair::generate(rng).public_bytes();
    repeat("x25519", seconds, || {
        std::hint::black_box(ours.shared_secret(std::hint::black_box(&theirs)));
    });
    repeat("x25519-keygen", seconds, || {
        std::hint::black_box(KeyPair::generate(rng));
    });
}

/// Stored record sizes: after 200 round trips (Alice's record), and after 10,000 messages one
/// way (the receiver's record, which holds the chain).
fn sizes(rng: &mut StdRng) {
    let mut pair = Pair::new(rng);
    for _ in 0..200 {
        pair.send(true, &[0x11; 100], rng);
        pair.send(false, &[0x22; 100], rng);
    }
    print_bytes(
        "record-200-round-trips",
        pair.alice.session_record_len(&pair.bob_at_alice),
    );
    let mut pair = Pair::new(rng);
    for _ in 0..10_000 {
        pair.send(true, &[0x33; 100], rng);
    }
    print_bytes(
        "record-10000-one-way",
        pair.bob.session_record_len(&pair.alice_at_bob),
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut seconds = 1.0;
    let mut with_sizes = false;
    // `--only burst`: one group of measures (for profiling with perf).
    let mut only = String::new();
    // `--size 10240`: the 1:1 measures at that size alone.
    let mut sizes_1to1 = SIZES.to_vec();
    while let Some(arg) = args.next() {
        if arg == "--size" {
            let size = args.next().expect("--size takes a byte count");
            sizes_1to1 = vec![size.parse().expect("--size takes a byte count")];
        } else if arg == "--sizes" {
            with_sizes = true;
        } else if arg == "--only" {
            only = args.next().expect("--only takes a name");
        } else {
            seconds = arg.parse().expect("SECONDS must be a number");
        }
    }
    let mut rng = StdRng::from_entropy();
    let run = |name: &str| only.is_empty() || only == name;
    if run("setup") {
        setup(seconds, &mut rng);
    }
    for size in sizes_1to1 {
        if run("alternating") {
            alternating(seconds, size, &mut rng);
        }
        if run("burst") {
            burst(seconds, size, &mut rng);
        }
    }
    if run("group") {
        group(seconds, 100, &mut rng);
    }
    if run("xeddsa") {
        xeddsa(seconds, &mut rng);
    }
    if run("x25519") {
        x25519(seconds, &mut rng);
    }
    if with_sizes {
        sizes(&mut rng);
    }
}
