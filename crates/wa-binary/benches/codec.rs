//! Criterion benches over the committed corpus (`benches/corpus/`, written by
//! `interop/gen-binary.mjs`): decode (borrowed, owned, and `decode_tree` with a reused arena,
//! alone, followed by a walk over the tree reading lengths, and followed by a walk turning every
//! string into a `&str`) and encode, per file.

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wa_binary::{Codec, TreeArena, TreeNode};

fn corpus() -> Vec<(String, Codec, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/corpus");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("corpus manifest"),
    )
    .expect("manifest is JSON");
    manifest
        .as_array()
        .expect("manifest is a list")
        .iter()
        .map(|entry| {
            let codec = if entry["dict"] == "legacy" {
                Codec::legacy()
            } else {
                Codec::multi_device()
            };
            let file = entry["file"].as_str().expect("file name");
            let bytes = std::fs::read(dir.join(file)).expect("corpus file");
            (file.trim_end_matches(".bin").to_owned(), codec, bytes)
        })
        .collect()
}

/// Counts the nodes and sums attribute value lengths (no string unpacked).
fn walk(node: TreeNode<'_>) -> usize {
    let mut sum = 1;
    for (_, value) in node.attrs() {
        sum += value.len();
    }
    for child in node.children() {
        sum += walk(child);
    }
    sum
}

/// Turns every tag, key and value into a `&str` (packed strings and JIDs built in `scratch`).
fn string_walk(node: TreeNode<'_>, scratch: &mut String) -> usize {
    let mut sum = 1 + node.tag().str_with(scratch).len();
    for (key, value) in node.attrs() {
        sum += key.str_with(scratch).len() + value.str_with(scratch).len();
    }
    for child in node.children() {
        sum += string_walk(child, scratch);
    }
    sum
}

fn codec(c: &mut Criterion) {
    for (name, codec, bytes) in corpus() {
        let node = codec.decode(&bytes).expect("corpus decodes");
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("decode_ref", |b| {
            b.iter(|| {
                codec
                    .decode_ref(std::hint::black_box(&bytes))
                    .map(|n| n.attrs.len())
            })
        });
        group.bench_function("decode", |b| {
            b.iter(|| {
                codec
                    .decode(std::hint::black_box(&bytes))
                    .map(|n| n.attrs.len())
            })
        });
        let mut arena = TreeArena::new();
        group.bench_function("decode_tree", |b| {
            b.iter(|| {
                codec
                    .decode_tree(std::hint::black_box(&bytes), &mut arena)
                    .map(|t| t.node_count())
            })
        });
        group.bench_function("decode_tree_walk", |b| {
            b.iter(|| {
                codec
                    .decode_tree(std::hint::black_box(&bytes), &mut arena)
                    .map(|t| walk(t.root()))
            })
        });
        let mut scratch = String::new();
        group.bench_function("decode_tree_strings", |b| {
            b.iter(|| {
                codec
                    .decode_tree(std::hint::black_box(&bytes), &mut arena)
                    .map(|t| string_walk(t.root(), &mut scratch))
            })
        });
        let mut out = Vec::with_capacity(bytes.len());
        group.bench_function("encode", |b| {
            b.iter(|| {
                out.clear();
                codec
                    .encode_into(std::hint::black_box(&node), &mut out)
                    .map(|()| out.len())
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // Short runs: the machine is shared.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    targets = codec
}
criterion_main!(benches);
