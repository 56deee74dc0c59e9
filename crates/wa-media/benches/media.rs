//! Encrypt and decrypt throughput (criterion). `MEDIA_BENCH_MIB` sets the size (default 64).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::io::{self, Cursor};
use wa_media::{Decryptor, Encryptor, Expected, MediaKey, MediaType};

fn size() -> usize {
    std::env::var("MEDIA_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
        * 1024
        * 1024
}

fn bench(c: &mut Criterion) {
    let len = size();
    let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let key = MediaKey::from_array([3; 32]);
    let ty = MediaType::Document;
    let (body, _) = wa_media::encrypt_bytes(&key, ty, &plain);
    let mut group = c.benchmark_group("media");
    group.throughput(Throughput::Bytes(len as u64));
    group.sample_size(10);
    group.bench_function("encrypt_one_thread", |b| {
        b.iter(|| {
            wa_media::encrypt_stream(Cursor::new(&plain), io::sink(), Encryptor::new(&key, ty))
                .map(black_box)
        })
    });
    group.bench_function("encrypt_two_threads", |b| {
        b.iter(|| {
            wa_media::encrypt_stream_parallel(
                Cursor::new(&plain),
                io::sink(),
                Encryptor::new(&key, ty),
            )
            .map(black_box)
        })
    });
    group.bench_function("encrypt_video_with_sidecar", |b| {
        b.iter(|| {
            let video = MediaType::Video;
            wa_media::encrypt_stream(Cursor::new(&plain), io::sink(), Encryptor::new(&key, video))
                .map(black_box)
        })
    });
    group.bench_function("decrypt", |b| {
        b.iter(|| {
            wa_media::decrypt_stream(
                Cursor::new(&body),
                io::sink(),
                Decryptor::new(&key, ty, Expected::default()),
            )
            .map(black_box)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
