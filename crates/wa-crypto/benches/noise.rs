//! The Noise handshake (whole, and each role against recorded messages) and transport frames.
//! `cargo xtask bench-compare noise` puts the same figures beside the JavaScript peers and
//! openssl; this bench tracks our own changes.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_crypto::KeyPair;
use wa_crypto::noise::{Initiator, NoiseTransport, Responder, WA_NOISE_PROLOGUE};

const CERT_CHAIN: &[u8] = &[0x0a; 350];
const CLIENT_PAYLOAD: &[u8] = &[0x42; 120];

fn pair(rng: &mut StdRng) -> (NoiseTransport, NoiseTransport) {
    let (client_static, server_static) = (KeyPair::generate(rng), KeyPair::generate(rng));
    let (e, awaiting) =
        Initiator::start(&WA_NOISE_PROLOGUE, &client_static, KeyPair::generate(rng));
    let (hello, awaiting_finish) =
        Responder::start(&WA_NOISE_PROLOGUE, &server_static, KeyPair::generate(rng))
            .read_client_hello(&e)
            .unwrap()
            .server_hello(CERT_CHAIN);
    let (_, finishing) = awaiting
        .read_server_hello(
            &hello.ephemeral,
            &hello.static_ciphertext,
            &hello.payload_ciphertext,
        )
        .unwrap();
    let (finish, client) = finishing.finish(CLIENT_PAYLOAD);
    let (_, server) = awaiting_finish
        .read_client_finish(&finish.static_ciphertext, &finish.payload_ciphertext)
        .unwrap();
    (client, server)
}

fn handshake(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let mut group = c.benchmark_group("noise_handshake");
    group.bench_function("whole", |b| b.iter(|| black_box(pair(&mut rng))));

    // Recorded messages of one handshake; each role replays its side with the same ephemeral.
    let (client_static, server_static) = (KeyPair::generate(&mut rng), KeyPair::generate(&mut rng));
    let (client_ephemeral, server_ephemeral) = ([3u8; 32], [4u8; 32]);
    let (e, awaiting) = Initiator::start(
        &WA_NOISE_PROLOGUE,
        &client_static,
        KeyPair::from_private_bytes(client_ephemeral),
    );
    let (hello, _) = Responder::start(
        &WA_NOISE_PROLOGUE,
        &server_static,
        KeyPair::from_private_bytes(server_ephemeral),
    )
    .read_client_hello(&e)
    .unwrap()
    .server_hello(CERT_CHAIN);
    let (_, finishing) = awaiting
        .read_server_hello(
            &hello.ephemeral,
            &hello.static_ciphertext,
            &hello.payload_ciphertext,
        )
        .unwrap();
    let (finish, _) = finishing.finish(CLIENT_PAYLOAD);

    group.bench_function("initiator", |b| {
        b.iter(|| {
            let (_, awaiting) = Initiator::start(
                &WA_NOISE_PROLOGUE,
                &client_static,
                KeyPair::from_private_bytes(client_ephemeral),
            );
            let (_, finishing) = awaiting
                .read_server_hello(
                    &hello.ephemeral,
                    &hello.static_ciphertext,
                    &hello.payload_ciphertext,
                )
                .unwrap();
            black_box(finishing.finish(CLIENT_PAYLOAD))
        })
    });
    group.bench_function("responder", |b| {
        b.iter(|| {
            let (_, awaiting_finish) = Responder::start(
                &WA_NOISE_PROLOGUE,
                &server_static,
                KeyPair::from_private_bytes(server_ephemeral),
            )
            .read_client_hello(&e)
            .unwrap()
            .server_hello(CERT_CHAIN);
            black_box(
                awaiting_finish
                    .read_client_finish(&finish.static_ciphertext, &finish.payload_ciphertext)
                    .unwrap(),
            )
        })
    });
    group.finish();
}

fn frames(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2);
    let mut group = c.benchmark_group("noise_frames");
    for size in [64usize, 1024, 16 * 1024] {
        let plaintext = vec![0x5A; size];
        group.throughput(Throughput::Bytes(size as u64));
        let (mut client, _) = pair(&mut rng);
        group.bench_with_input(BenchmarkId::new("encrypt", size), &plaintext, |b, p| {
            b.iter(|| client.encrypt(black_box(p)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, handshake, frames);
criterion_main!(benches);
