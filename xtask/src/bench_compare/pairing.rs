//! `cargo xtask bench-compare pairing [SECS]`: pairings per second against one wa-sim, our
//! `MdDevice` and Baileys 7 side by side in the same run. A pairing is a new device connecting,
//! its QR scanned by the simulated phone over the control API, the 515, the login and the
//! 812-prekey upload (and, for both, the digest check that follows). The example
//! `wa-client/examples/md_pairing_bench.rs` starts the sim, runs ours, then runs
//! `interop/bench-pairing.mjs` against the same sim.
//! Runs `ROUNDS` times and keeps each peer's best (the machine is shared).

use std::collections::BTreeMap;

use super::capture;

const ROUNDS: usize = 2;
/// Baileys 7's rate on these machines against a minimal server (issue #16), for reference.
const BAILEYS_REFERENCE: f64 = 3.4;

/// Runs the comparison with `seconds` per peer and round.
pub fn run(seconds: &str) -> Result<(), String> {
    let (root, interop) = super::prepare(seconds, "wa-client", "md_pairing_bench")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let example = target.join("release/examples/md_pairing_bench");
    let example = example.to_str().ok_or("target path is not UTF-8")?;
    let interop = interop.to_str().ok_or("interop path is not UTF-8")?;
    let mut best: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    for round in 1..=ROUNDS {
        eprintln!("round {round}/{ROUNDS}");
        let output = capture(&root, example, &[seconds, interop])?;
        for line in output.lines() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let (Some(peer), Some(per_s)) = (value["peer"].as_str(), value["per_s"].as_f64())
            else {
                continue;
            };
            let count = value["count"].as_u64().unwrap_or(0);
            let slot = best.entry(peer.to_owned()).or_insert((0.0, 0));
            if per_s > slot.0 {
                *slot = (per_s, count);
            }
        }
    }
    let get = |peer: &str| best.get(peer).copied().unwrap_or((f64::NAN, 0));
    let (ours, ours_n) = get("wa-client");
    let (baileys, baileys_n) = get("baileys");
    println!(
        "\nPairings per second against one wa-sim (pair, 515, login, 812 prekeys), best of {ROUNDS}"
    );
    println!("{:<10} {:>10} {:>10}", "peer", "pairings/s", "pairings");
    println!("{:<10} {ours:>10.2} {ours_n:>10}", "wa-client");
    println!("{:<10} {baileys:>10.2} {baileys_n:>10}", "baileys");
    println!(
        "\nwa-client / Baileys 7: {:.1}x (target 10x; Baileys' earlier reference rate {BAILEYS_REFERENCE}/s \
         against a minimal server). One pairing at a time per peer; both scan over HTTP.",
        ours / baileys
    );
    Ok(())
}
