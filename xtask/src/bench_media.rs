//! `cargo xtask bench-compare media [MiB]`: wa-media against the single-core limit OpenSSL
//! sets for the same work, measured in the same run.
//!
//! The limit: encrypting a byte costs AES-256-CBC, two SHA-256s (plaintext and body) and one
//! HMAC-SHA256; `openssl speed` times each primitive alone on this machine, and one core
//! doing all four runs at `1 / (1/aes + 2/sha256 + 1/hmac)`. Decryption's limit uses AES-CBC
//! decryption. Our pipelines (one thread, and two threads where a second thread hashes) are
//! reported as ratios to that limit, next to Node's crypto running Baileys' pipeline. One-thread
//! figures (ours and Node's) are per second of CPU time, as `openssl speed` times itself; the
//! two-thread ones are wall time and need a free second core to mean anything. Each
//! side runs three times and keeps its best figure (the machine is shared, so the best run is
//! the one least disturbed); then peak RSS is measured per pipeline with `/usr/bin/time -v`.

use crate::project_root;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const ROUNDS: usize = 3;

/// The primitives `openssl speed` times, by our name, with its arguments.
const OPENSSL: [(&str, &[&str]); 4] = [
    ("aes-encrypt", &["-evp", "aes-256-cbc"]),
    ("aes-decrypt", &["-decrypt", "-evp", "aes-256-cbc"]),
    ("sha256", &["-evp", "sha256"]),
    ("hmac", &["-hmac", "sha256"]),
];

/// Runs the comparison for a file of `mib` MiB (default 128).
pub fn run(mib: Option<&str>) -> Result<(), String> {
    let mib = mib.unwrap_or("128");
    mib.parse::<u64>()
        .map_err(|_| format!("size must be a whole number of MiB, not `{mib}`"))?;
    let root = project_root();
    let interop = root.join("interop");
    let node = interop.join("node_modules").exists();
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
        let mut figures: Vec<(String, f64)> = results(&capture(&root, example, &[mib, "all"])?);
        for (name, args) in OPENSSL {
            let mut full = vec!["speed", "-mr", "-seconds", "1", "-bytes", "16384"];
            full.extend(args);
            let text = capture(&root, "openssl", &full)?;
            let rate = openssl_rate(&text)
                .ok_or_else(|| format!("no `+F:` line in `openssl {}`", full.join(" ")))?;
            figures.push((format!("openssl-{name}"), rate / 1e6));
        }
        if node {
            figures.extend(results(&capture(
                &interop,
                "node",
                &["bench-media.mjs", mib],
            )?));
        }
        for (name, value) in figures {
            let slot = best.entry(name).or_insert(0.0);
            *slot = slot.max(value);
        }
    }
    let get = |name: &str| best.get(name).copied().unwrap_or(f64::NAN);
    let limit = |aes: &str| {
        1.0 / (1.0 / get(aes) + 2.0 / get("openssl-sha256") + 1.0 / get("openssl-hmac"))
    };
    let (encrypt_limit, decrypt_limit) =
        (limit("openssl-aes-encrypt"), limit("openssl-aes-decrypt"));
    println!("\nwa-media against the single-core OpenSSL limit, {mib} MiB, best of {ROUNDS}");
    println!(
        "OpenSSL 16 KiB pieces (MB/s): AES-256-CBC encrypt {:.0}, decrypt {:.0}, SHA-256 {:.0}, \
         HMAC-SHA256 {:.0}",
        get("openssl-aes-encrypt"),
        get("openssl-aes-decrypt"),
        get("openssl-sha256"),
        get("openssl-hmac"),
    );
    println!(
        "one-core limit (AES + 2 SHA-256 + HMAC per byte): encrypt {encrypt_limit:.0} MB/s, \
         decrypt {decrypt_limit:.0} MB/s\n"
    );
    println!("{:<38} {:>9} {:>9}", "pipeline", "MB/s", "of limit");
    let rows = [
        ("encrypt, one thread", "encrypt", encrypt_limit),
        (
            "encrypt, two threads (wall time)",
            "parallel",
            encrypt_limit,
        ),
        ("decrypt, one thread", "decrypt", decrypt_limit),
        (
            "decrypt, two threads (wall time)",
            "decrypt-parallel",
            decrypt_limit,
        ),
        ("verified decrypt, one thread", "verified", decrypt_limit),
        (
            "verified decrypt, two threads (wall)",
            "verified-parallel",
            decrypt_limit,
        ),
        (
            "decrypt into a file, one thread",
            "decrypt-file",
            decrypt_limit,
        ),
        (
            "verified decrypt to a file, one thread",
            "verified-file",
            decrypt_limit,
        ),
        (
            "Node crypto, Baileys' pipeline: encrypt",
            "node-encrypt",
            encrypt_limit,
        ),
        (
            "Node crypto, Baileys' pipeline: decrypt",
            "node-decrypt",
            decrypt_limit,
        ),
    ];
    for (label, name, limit) in rows {
        let value = get(name);
        println!("{label:<40} {value:>9.1} {:>8.2}x", value / limit);
    }
    println!(
        "(the file rows write the plaintext into a file in the temporary directory; \
         verified to a file over decrypt into a file: {:.2})",
        get("verified-file") / get("decrypt-file")
    );
    println!(
        "(our one-thread pipelines overlap the AES and SHA-256 chains inside one core; a busy \
         sibling hardware thread, e.g. the other vCPU of a 2-vCPU VM, takes that overlap away \
         and their figures down by up to a quarter, while `openssl speed`'s one-chain \
         primitives barely move: compare runs at the same `uptime` load)"
    );
    if !Path::new("/usr/bin/time").exists() {
        println!("\n(/usr/bin/time is missing: `apt-get install time` for the memory figures)");
        return Ok(());
    }
    println!(
        "\npeak RSS over {mib} MiB (generated data, body encrypted as it is read, output discarded \
         or, for the file mode, written to a file):"
    );
    for mode in [
        "encrypt",
        "parallel",
        "decrypt-flat",
        "decrypt-parallel-flat",
        "verified-flat",
        "verified-parallel-flat",
        "verified-file-flat",
    ] {
        let output = Command::new("/usr/bin/time")
            .arg("-v")
            .args([example, mib, mode])
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
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or("?".to_owned(), |kib| format!("{:.1} MiB", kib / 1024.0));
        println!("  {mode:<24} {rss}");
    }
    Ok(())
}

/// `RESULT <name> <MB/s>` lines.
fn results(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.strip_prefix("RESULT ")?.split_whitespace();
            let name = words.next()?.to_owned();
            let value = words.next()?.parse().ok()?;
            Some((name, value))
        })
        .collect()
}

/// Bytes per second from `openssl speed -mr`'s `+F:<n>:<name>:<rate>` line (one size asked).
fn openssl_rate(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix("+F:")?.rsplit(':').next()?.parse().ok())
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
