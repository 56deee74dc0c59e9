//! Decrypt-and-commit operations per second on every backend, in one run: each operation is
//! `wa_store::receive` (Signal decrypt, session state + plaintext + receipt committed in one
//! transaction). The in-memory store is the baseline; the ratio is the cost of durability.
//!
//! `cargo xtask bench-store` runs it in release mode with a PostgreSQL of its own; by hand:
//! `WA_TEST_POSTGRES_URL=postgres://... cargo run --release -p wa-store --features postgres
//! --example bench_store [MESSAGES]`.

use std::time::Instant;

use wa_signal::conformance::TestRng;
use wa_signal::{Ciphertext, MessageKind, ProtocolAddress};
use wa_store::{Incoming, Received, Store, conformance};

/// Encrypts `n` messages from Alice to the store's device, after one round trip so they are
/// `msg`s (the steady state), and returns them with Alice's address at the store.
fn prepare(store: &Store, n: usize, rng: &mut TestRng) -> (Vec<Ciphertext>, ProtocolAddress) {
    let (mut alice, bob, alice_at_bob) = conformance::pair(store, rng);
    let first = wa_signal::encrypt(&mut alice, &bob, b"first").unwrap();
    let incoming = Incoming {
        from: &alice_at_bob,
        sender_jid: "alice@s.whatsapp.net",
        id: "first",
        kind: first.kind,
        ciphertext: &first.bytes,
    };
    wa_store::receive(store, &incoming, rng).unwrap();
    let reply = wa_store::send(store, &alice_at_bob, "alice@s.whatsapp.net", b"reply").unwrap();
    wa_signal::decrypt(
        &mut alice,
        &bob,
        reply.ciphertext.kind,
        &reply.ciphertext.bytes,
        rng,
    )
    .unwrap();
    let messages = (0..n)
        .map(|i| wa_signal::encrypt(&mut alice, &bob, format!("message {i:06}").as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert!(messages.iter().all(|m| m.kind == MessageKind::Whisper));
    (messages, alice_at_bob)
}

fn measure(name: &str, store: &Store, n: usize) -> f64 {
    let mut rng = TestRng::new(7);
    let (messages, from) = prepare(store, n, &mut rng);
    let ids: Vec<String> = (0..n).map(|i| format!("M{i}")).collect();
    let started = Instant::now();
    for (m, id) in messages.iter().zip(&ids) {
        let incoming = Incoming {
            from: &from,
            sender_jid: "alice@s.whatsapp.net",
            id,
            kind: m.kind,
            ciphertext: &m.bytes,
        };
        match wa_store::receive(store, &incoming, &mut rng).unwrap() {
            Received::New { .. } => {}
            Received::Duplicate { .. } => panic!("{name}: fresh message seen as duplicate"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = n as f64 / secs;
    println!(
        "{name:<10} {n:>6} decrypt-and-commit in {secs:>7.3} s: {rate:>9.0} ops/s, {:>8.1} µs/op",
        secs * 1e6 / n as f64
    );
    rate
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    println!("wa-store: decrypt-and-commit (wa_store::receive), one thread, {n} messages each");
    let memory = measure("memory", &Store::memory(), n);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = measure(
        "sqlite",
        &Store::open_sqlite(dir.path().join("bench.db")).unwrap(),
        n,
    );
    println!(
        "sqlite:   {:.1}x the in-memory time per op (synchronous = FULL, WAL)",
        memory / sqlite
    );
    #[cfg(feature = "postgres")]
    match std::env::var("WA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            let device = format!("bench-{}", std::process::id());
            let pg = measure("postgres", &Store::open_postgres(&url, &device).unwrap(), n);
            println!(
                "postgres: {:.1}x the in-memory time per op (SERIALIZABLE, loopback)",
                memory / pg
            );
        }
        _ => println!("postgres: skipped (WA_TEST_POSTGRES_URL is not set)"),
    }
    #[cfg(not(feature = "postgres"))]
    println!("postgres: skipped (built without the `postgres` feature)");
}
