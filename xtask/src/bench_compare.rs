//! `cargo xtask bench-compare codec`: our codec against the JavaScript peers on the same corpus,
//! in the same run. Runs `interop/bench-codec.mjs` (Baileys 7, whatsapp-rust-bridge when
//! installed, Baileys 3.5.3) and `wa-binary`'s `measure` example (release build), then prints MB/s
//! per case and direction with our ratio to the better peer. `noise` is in [`noise`], `signal`
//! in [`signal`], `pairing` in [`pairing`], `messaging` in [`messaging`].

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::project_root;

mod messaging;
mod noise;
mod pairing;
mod signal;

/// One measurement line: `{"dict", "case", "direction", "peer", "mbps"}`.
struct Row {
    dict: String,
    case: String,
    direction: String,
    peer: String,
    mbps: f64,
}

/// The value of `"key":` in a flat JSON object line (strings without escapes, or numbers).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = line[start..].trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        s.split('"').next()
    } else {
        rest.split([',', '}']).next().map(str::trim)
    }
}

fn parse(output: &str) -> Vec<Row> {
    output
        .lines()
        .filter_map(|line| {
            Some(Row {
                dict: field(line, "dict")?.to_owned(),
                case: field(line, "case")?.to_owned(),
                direction: field(line, "direction")?.to_owned(),
                peer: field(line, "peer")?.to_owned(),
                mbps: field(line, "mbps")?.parse().ok()?,
            })
        })
        .collect()
}

/// Runs of each side; each keeps its best figure.
const ROUNDS: usize = 2;

/// Adds `fresh` to `best`, keeping the higher figure for a row already there.
fn keep_best(best: &mut Vec<Row>, fresh: Vec<Row>) {
    for row in fresh {
        let same = best.iter_mut().find(|b| {
            b.dict == row.dict
                && b.case == row.case
                && b.direction == row.direction
                && b.peer == row.peer
        });
        match same {
            Some(b) => b.mbps = b.mbps.max(row.mbps),
            None => best.push(row),
        }
    }
}

fn capture(dir: &Path, program: &str, args: &[&str]) -> Result<String, String> {
    let shown = format!("{program} {}", args.join(" "));
    eprintln!("\n==> {shown}");
    let output = crate::command(program)
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if !output.status.success() {
        return Err(format!("`{shown}` failed ({})", output.status));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("`{shown}` printed non-UTF-8: {e}"))
}

/// What every area's comparison does first: checks `seconds`, checks that the npm peers are
/// installed, and builds our measuring `example` of `package` in release mode. Returns the
/// project root and `interop/`.
fn prepare(seconds: &str, package: &str, example: &str) -> Result<(PathBuf, PathBuf), String> {
    seconds
        .parse::<f64>()
        .map_err(|_| format!("seconds must be a number, not `{seconds}`"))?;
    let root = project_root();
    let interop = root.join("interop");
    if !interop.join("node_modules/baileys").exists() {
        return Err("interop/node_modules is missing: run `cargo xtask setup`".into());
    }
    crate::run(
        &root,
        "cargo",
        &[
            "build",
            "--release",
            "--quiet",
            "-p",
            package,
            "--example",
            example,
        ],
        &[],
    )?;
    Ok((root, interop))
}

/// Runs the comparison for `area` (`codec`, `noise`, `signal`, `pairing` or `messaging`).
pub fn run(area: &str, seconds: &str) -> Result<(), String> {
    match area {
        "noise" => return noise::run(seconds),
        "signal" => return signal::run(seconds),
        "pairing" => return pairing::run(seconds),
        "messaging" => return messaging::run(seconds),
        "codec" => {}
        _ => {
            return Err(format!(
                "bench-compare knows `codec`, `noise`, `signal`, `pairing`, `messaging` and `media`, not `{area}`"
            ));
        }
    }
    let root = project_root();
    let corpus = root.join("crates/wa-binary/benches/corpus");
    let corpus = corpus.to_str().ok_or("corpus path is not UTF-8")?;
    let interop = root.join("interop");
    if !interop.join("node_modules/baileys").exists() {
        return Err("interop/node_modules is missing: run `cargo xtask setup`".into());
    }
    // Ours and the peers' alternate, and each keeps its best figure per case and direction:
    // on a shared machine the load moves by 2-3x within a minute, and the best of a few runs
    // is the one least disturbed, for both sides alike.
    let mut ours: Vec<Row> = Vec::new();
    let mut peers: Vec<Row> = Vec::new();
    for round in 1..=ROUNDS {
        eprintln!("round {round}/{ROUNDS}");
        let measured = capture(
            &root,
            "cargo",
            &[
                "run",
                "--release",
                "--quiet",
                "-p",
                "wa-binary",
                "--example",
                "measure",
                "--",
                corpus,
                seconds,
            ],
        )?;
        keep_best(&mut ours, parse(&measured));
        let measured = capture(&interop, "node", &["bench-codec.mjs", corpus, seconds])?;
        keep_best(&mut peers, parse(&measured));
    }
    if ours.is_empty() || peers.is_empty() {
        return Err("a measurement printed no results".into());
    }
    let peer_names: Vec<String> = {
        let mut names: Vec<String> = peers.iter().map(|r| r.peer.clone()).collect();
        names.sort();
        names.dedup();
        names
    };
    println!(
        "\n{:<8} {:<20} {:<16} {:>10} {}  {:>8}",
        "dict",
        "case",
        "direction",
        "wa-binary",
        peer_names
            .iter()
            .map(|p| format!("{p:>11}"))
            .collect::<Vec<_>>()
            .join(" "),
        "ratio"
    );
    for row in &ours {
        // Like for like: our owned `Node` against the peers' owned form (JavaScript objects,
        // every string made: Baileys's decode, the bridge's decode + toJSON); our trees against
        // the peers' plain decode (the bridge's is a borrowed tree over a copy of the frame);
        // a decode followed by a walk against theirs.
        let peer_direction = match row.direction.as_str() {
            "decode" | "decode-bytes" => "decode-owned",
            "decode-tree-walk" | "decode-tree-strings" | "decode-text-strings" => "decode-walk",
            other => other.split('-').next().unwrap_or_default(),
        };
        let peer_rates: Vec<Option<f64>> = peer_names
            .iter()
            .map(|name| {
                peers
                    .iter()
                    .find(|p| {
                        p.peer == *name
                            && p.case == row.case
                            && p.dict == row.dict
                            && p.direction == peer_direction
                    })
                    .map(|p| p.mbps)
            })
            .collect();
        let best = peer_rates.iter().flatten().fold(0.0_f64, |a, &b| a.max(b));
        let ratio = if best > 0.0 {
            format!("{:.1}x", row.mbps / best)
        } else {
            "-".into()
        };
        println!(
            "{:<8} {:<20} {:<16} {:>10.1} {}  {:>8}",
            row.dict,
            row.case,
            row.direction,
            row.mbps,
            peer_rates
                .iter()
                .map(|r| r.map_or(format!("{:>11}", "-"), |v| format!("{v:>11.1}")))
                .collect::<Vec<_>>()
                .join(" "),
            ratio
        );
    }
    println!(
        "\nMB/s of encoded bytes, best of {ROUNDS} alternating runs per side; ratio = wa-binary / the\n\
         better peer for that case and direction, both measured in this run.\n\
         decode: owned Node (`Codec::decode`), against the peers' owned form (decode-owned:\n\
         Baileys's decode; the bridge's decode, then toJSON() building JavaScript objects).\n\
         decode-bytes: the same from a frame the caller owns (`Codec::decode_bytes`), byte\n\
         contents sharing it as the peers' Buffers share theirs.\n\
         decode-owned-tree: an OwnedTree ('static, Send) over a copy of the bytes, dropped each\n\
         time, against the peers' decode (the bridge's: a copy of the frame into WASM memory and\n\
         a borrowed tree over it, freed; never read from JavaScript). decode-borrowed: NodeRef\n\
         (Cow strings, Vec per node); decode-tree: decode_tree into a reused TreeArena.\n\
         decode-tree-walk: decode_tree, then a walk over every node and attribute summing tag,\n\
         key, value and byte-content lengths, no string unpacked (the lengths-only walk).\n\
         decode-tree-strings: decode_tree, then every tag, key, value and text turned into a\n\
         &str and read (tokens and raw UTF-8 borrowed, packed strings unpacked and JIDs built\n\
         into a reused String; from its second tree on the arena, having seen the walk, writes\n\
         them while decoding as with_text does): the string walk.\n\
         Both walks compete with the peers' decode + walk over their node (whose strings the\n\
         decode built). Peers' decode: Baileys 7 and 3.5.3 build JavaScript node objects;\n\
         rust-bridge copies the bytes into WASM memory, decodes a borrowed tree there and frees\n\
         it (never read from JavaScript); its walk hands its nodes to JavaScript."
    );
    Ok(())
}
