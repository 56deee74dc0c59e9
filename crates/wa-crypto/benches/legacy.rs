//! Throughput of the legacy session crypto: key derivation and frame sealing/opening.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_crypto::KeyPair;
use wa_crypto::legacy::{self, Flags, Metric, SessionKeys};

fn login(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let client = KeyPair::generate(&mut rng);
    let keys = SessionKeys::generate(&mut rng);
    let secret = keys.build_secret(&client.public_bytes(), &mut rng);
    c.bench_function("from_secret", |b| {
        b.iter(|| SessionKeys::from_secret(black_box(&client), black_box(&secret)))
    });
    c.bench_function("build_secret", |b| {
        b.iter(|| keys.build_secret(black_box(&client.public_bytes()), &mut rng))
    });
}

fn frames(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2);
    let keys = SessionKeys::generate(&mut rng);
    let mut group = c.benchmark_group("frames");
    for size in [64usize, 1024, 64 * 1024] {
        let plaintext = vec![0x5A; size];
        let sealed = legacy::seal_client_frame(
            &keys,
            Some(Metric::Message),
            Flags::EXPECTS_RESPONSE,
            &plaintext,
            &mut rng,
        );
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("seal_client", size), &plaintext, |b, p| {
            b.iter(|| {
                legacy::seal_client_frame(&keys, Some(Metric::Message), Flags::EMPTY, p, &mut rng)
            })
        });
        group.bench_with_input(BenchmarkId::new("open_client", size), &sealed, |b, s| {
            b.iter(|| legacy::open_client_frame(&keys, black_box(s)))
        });
    }
    group.finish();
}

criterion_group!(benches, login, frames);
criterion_main!(benches);
