//! Measures decode and encode throughput over the benchmark corpus and prints one JSON line per
//! case and direction (`decode`: owned `Node`; `decode-bytes`: the same from a `Bytes` frame
//! that byte contents share; `decode-owned-tree`: an `OwnedTree` over a copy
//! of the bytes; `decode-borrowed`: `NodeRef`; `decode-tree`:
//! `decode_tree` into a reused arena; `decode-tree-walk`: the same, then a walk over every node
//! and attribute reading lengths, no string unpacked; `decode-tree-strings`: the same walk, but
//! every tag, key, value and text is turned into a `&str` and read (on the arena's first tree,
//! packed ones unpacked and JIDs built into a reused `String`, the rest borrowed; the arena then
//! adapts to the walk and writes them while decoding: see `TreeArena::new`);
//! `decode-text-strings`: the same walk
//! over an arena made by `TreeArena::with_text`, which wrote every string while decoding;
//! `encode`) (`cargo xtask bench-compare codec` runs it next to the
//! JavaScript peers).
//!
//! Usage: `cargo run --release -p wa-binary --example measure -- [CORPUS_DIR] [SECONDS_PER_CASE]
//! [CASE_FILTER] [DIRECTION]`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wa_binary::{Codec, TreeArena, TreeNode};

/// Runs `f` repeatedly for about `budget` and returns MB/s for `len` bytes per call.
/// With `MEASURE_CALLS=N` in the environment, `f` runs exactly `N` times instead (a fixed amount
/// of work, for a profiler or for `perf stat -e task-clock`, whose CPU time a loaded machine
/// disturbs less than wall-clock figures).
fn throughput(len: usize, budget: Duration, mut f: impl FnMut() -> usize) -> f64 {
    if let Some(calls) = std::env::var("MEASURE_CALLS")
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
    {
        let start = Instant::now();
        for _ in 0..calls {
            std::hint::black_box(f());
        }
        return (len as f64 * calls as f64) / start.elapsed().as_secs_f64() / 1e6;
    }
    // Warm up, then time batches until the budget is spent.
    let warm = Instant::now();
    while warm.elapsed() < budget / 5 {
        std::hint::black_box(f());
    }
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            std::hint::black_box(f());
        }
        calls += 16;
    }
    (len as f64 * calls as f64) / start.elapsed().as_secs_f64() / 1e6
}

/// Touches every node and attribute of a tree without unpacking any string: counts nodes and
/// sums tag, key and value lengths (known from decoding) plus content byte lengths.
fn walk(node: TreeNode<'_>) -> usize {
    let mut sum = 1 + node.tag().len() + node.bytes().map_or(0, <[u8]>::len);
    for (key, value) in node.attrs() {
        sum += key.len() + value.len();
    }
    for child in node.children() {
        sum += walk(child);
    }
    sum
}

/// Walks like [`walk`], but turns every tag, key, value and text into a `&str` and reads it
/// (its length and first byte are summed, so the work is used): tokens and raw UTF-8 are
/// borrowed from the dictionary and the input, packed strings are unpacked and JIDs built into
/// `scratch` ([`wa_binary::StrRef::str_with`]).
fn string_walk(node: TreeNode<'_>, scratch: &mut String) -> usize {
    let mut sum = 1 + node.bytes().map_or(0, <[u8]>::len);
    let take = |s: wa_binary::StrRef<'_>, scratch: &mut String| {
        let s = s.str_with(scratch);
        s.len() + usize::from(s.as_bytes().first().copied().unwrap_or(0))
    };
    sum += take(node.tag(), scratch);
    for (key, value) in node.attrs() {
        sum += take(key, scratch) + take(value, scratch);
    }
    if let Some(text) = node.text() {
        sum += take(text, scratch);
    }
    for child in node.children() {
        sum += string_walk(child, scratch);
    }
    sum
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/corpus"));
    let seconds: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0.5);
    let budget = Duration::from_secs_f64(seconds);
    let only = args.next();
    // A direction to measure alone (for a profiler), e.g. `decode-tree-strings`.
    let only_direction = args.next();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json"))?)?;
    for entry in manifest.as_array().ok_or("manifest is not a list")? {
        let dict = entry["dict"].as_str().ok_or("dict")?;
        let case = entry["name"].as_str().ok_or("name")?;
        if only.as_deref().is_some_and(|o| !case.contains(o)) {
            continue;
        }
        let codec = if dict == "legacy" {
            Codec::legacy()
        } else {
            Codec::multi_device()
        };
        let bytes = std::fs::read(dir.join(entry["file"].as_str().ok_or("file")?))?;
        let node = codec.decode(&bytes)?;
        let frame = Bytes::from(bytes.clone());
        let mut out = Vec::with_capacity(bytes.len());
        let mut arena = TreeArena::new();
        // The string walk's own plain arena: it adapts to the walk (see `TreeArena::new`), which
        // must not change what the rows decoding into `arena` measure, whatever their order.
        let mut walked_arena = TreeArena::new();
        let mut text_arena = TreeArena::with_text();
        let mut scratch = String::new();
        let wanted = |name: &str| only_direction.as_deref().is_none_or(|d| d == name);
        let results = [
            (
                "decode",
                wanted("decode").then(|| {
                    throughput(bytes.len(), budget, || {
                        codec.decode(&bytes).map_or(0, |n| n.attrs.len())
                    })
                }),
            ),
            (
                // Like for like with the peers' owned decode, handed a frame (a `Buffer`) that
                // their byte contents are views into: `decode_bytes` of a frame the caller owns
                // (a `Bytes`, cloned by reference count), whose byte contents share it.
                "decode-bytes",
                wanted("decode-bytes").then(|| {
                    throughput(bytes.len(), budget, || {
                        codec
                            .decode_bytes(frame.clone())
                            .map_or(0, |n| n.attrs.len())
                    })
                }),
            ),
            (
                // Like for like with whatsapp-rust-bridge's decode, which copies the frame into
                // WASM memory and keeps a borrowed tree over the copy: the frame is copied into a
                // `Bytes` and the tree (owned, `'static`, `Send`) dropped after each call.
                "decode-owned-tree",
                wanted("decode-owned-tree").then(|| {
                    throughput(bytes.len(), budget, || {
                        codec
                            .decode_owned_tree(Bytes::copy_from_slice(&bytes))
                            .map_or(0, |t| t.tree().node_count())
                    })
                }),
            ),
            (
                "decode-borrowed",
                wanted("decode-borrowed").then(|| {
                    throughput(bytes.len(), budget, || {
                        codec.decode_ref(&bytes).map_or(0, |n| n.attrs.len())
                    })
                }),
            ),
            (
                "decode-tree",
                wanted("decode-tree").then(|| {
                    throughput(bytes.len(), budget, || {
                        codec
                            .decode_tree(&bytes, &mut arena)
                            .map_or(0, |t| t.node_count())
                    })
                }),
            ),
            (
                "decode-tree-walk",
                wanted("decode-tree-walk").then(|| {
                    throughput(bytes.len(), budget, || {
                        codec
                            .decode_tree(&bytes, &mut arena)
                            .map_or(0, |t| walk(t.root()))
                    })
                }),
            ),
            (
                "decode-tree-strings",
                wanted("decode-tree-strings").then(|| {
                    throughput(bytes.len(), budget, || {
                        codec
                            .decode_tree(&bytes, &mut walked_arena)
                            .map_or(0, |t| string_walk(t.root(), &mut scratch))
                    })
                }),
            ),
            (
                // The same string walk over a tree whose arena wrote every string into its
                // text buffer while decoding (`TreeArena::with_text`).
                "decode-text-strings",
                wanted("decode-text-strings").then(|| {
                    throughput(bytes.len(), budget, || {
                        codec
                            .decode_tree(&bytes, &mut text_arena)
                            .map_or(0, |t| string_walk(t.root(), &mut scratch))
                    })
                }),
            ),
            (
                "encode",
                wanted("encode").then(|| {
                    throughput(bytes.len(), budget, || {
                        out.clear();
                        codec.encode_into(&node, &mut out).map_or(0, |()| out.len())
                    })
                }),
            ),
        ];
        for (direction, mbps) in results.into_iter().filter_map(|(d, mbps)| Some((d, mbps?))) {
            println!(
                "{}",
                serde_json::json!({ "dict": dict, "case": case, "direction": direction, "peer": "wa-binary", "mbps": mbps })
            );
        }
    }
    Ok(())
}
