//! `cargo xtask bench-compare media [MiB]`: wa-media against Node's crypto running the same
//! pipeline (AES-256-CBC + HMAC-SHA256 + two SHA-256s, as Baileys does), in the same run.
//!
//! Runs each side three times and keeps the best figure of each (the machine is shared, so
//! the best run is the one least disturbed), then measures peak RSS for a 1 GiB encryption
//! with `/usr/bin/time -v` when it is installed.

use crate::project_root;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const ROUNDS: usize = 3;

/// Runs the comparison for a file of `mib` MiB (default 256).
pub fn run(mib: Option<&str>) -> Result<(), String> {
    let mib = mib.unwrap_or("256");
    mib.parse::<u64>()
        .map_err(|_| format!("size must be a whole number of MiB, not `{mib}`"))?;
    let root = project_root();
    let interop = root.join("interop");
    if !interop.join("node_modules").exists() {
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
            "wa-media",
            "--example",
            "encrypt_stream",
        ],
        &[],
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let example = target.join("release/examples/encrypt_stream");
    let example = example.to_str().ok_or("target path is not UTF-8")?;
    let mut best: BTreeMap<String, f64> = BTreeMap::new();
    for round in 1..=ROUNDS {
        eprintln!("round {round}/{ROUNDS}");
        let ours = capture(&root, example, &[mib, "all"])?;
        let node = capture(&interop, "node", &["bench-media.mjs", mib])?;
        for (name, value) in results(&ours).chain(results(&node)) {
            let slot = best.entry(name).or_insert(0.0);
            *slot = slot.max(value);
        }
    }
    let get = |name: &str| best.get(name).copied().unwrap_or(f64::NAN);
    println!("\nwa-media vs Node crypto, {mib} MiB, best of {ROUNDS} (MB/s)");
    println!(
        "{:<34} {:>10} {:>10} {:>7}",
        "pipeline", "wa-media", "node", "ratio"
    );
    let rows = [
        ("encrypt, one thread", "encrypt", "node-encrypt"),
        ("encrypt, second thread hashes", "parallel", "node-encrypt"),
        ("decrypt (MAC + both hashes)", "decrypt", "node-decrypt"),
        (
            "decrypt, second thread hashes",
            "decrypt-parallel",
            "node-decrypt",
        ),
    ];
    for (label, ours, node) in rows {
        let (a, b) = (get(ours), get(node));
        println!("{label:<34} {a:>10.1} {b:>10.1} {:>6.2}x", a / b);
    }
    if Path::new("/usr/bin/time").exists() {
        println!("\npeak RSS encrypting 1 GiB (generated data, output discarded):");
        for mode in ["encrypt", "parallel"] {
            let output = Command::new("/usr/bin/time")
                .arg("-v")
                .args([example, "1024", mode])
                .current_dir(&root)
                .output()
                .map_err(|e| format!("could not run /usr/bin/time: {e}"))?;
            let stderr = String::from_utf8_lossy(&output.stderr);
            let rss = stderr
                .lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix("Maximum resident set size (kbytes): ")
                })
                .unwrap_or("?");
            println!("  {mode:<9} {rss} KiB");
        }
    } else {
        println!("\n(/usr/bin/time is missing: `apt-get install time` for the memory figure)");
    }
    Ok(())
}

/// `RESULT <name> <MB/s>` lines.
fn results(text: &str) -> impl Iterator<Item = (String, f64)> + '_ {
    text.lines().filter_map(|line| {
        let mut words = line.strip_prefix("RESULT ")?.split_whitespace();
        let name = words.next()?.to_owned();
        let value = words.next()?.parse().ok()?;
        Some((name, value))
    })
}

fn capture(dir: &Path, program: &str, args: &[&str]) -> Result<String, String> {
    let shown = format!("{program} {}", args.join(" "));
    eprintln!("==> {shown}");
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{shown}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|_| format!("`{shown}` printed non-UTF-8"))
}
