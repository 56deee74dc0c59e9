//! `cargo xtask bench-compare signal [SECS]`: wa-signal against npm `libsignal` 6.0.0 (with
//! Baileys 7's own group cipher for sender keys) and whatsapp-rust-bridge, in one run: session
//! setup in each role, 1:1 encrypt and decrypt of 100 B and 10 KiB in an alternating
//! conversation (a ratchet step on every turn) and in a one-way burst, sender-key encrypt and
//! decrypt, XEdDSA sign and verify; then the session record sizes after 200 round trips and
//! after 10,000 messages one way. `openssl speed` (AES-256-CBC each way and HMAC-SHA256 on
//! 10,240-byte buffers) gives the single-core limit of a 10-KiB message's symmetric work.
//!
//! Each side runs `ROUNDS` times, interleaved, and each figure is the median of its rounds (the
//! machine may be shared: the median ignores one disturbed round either way). Every side saves
//! the session record to its store on every operation (see `signal_measure.rs` and
//! `interop/bench-signal.mjs`).

use std::collections::BTreeMap;

use super::capture;

const ROUNDS: usize = 5;
/// X25519 operations of the initiator's setup: DH1–DH4, then its first sending chain.
const INITIATOR_DH: f64 = 5.0;
/// X25519 operations of the responder's setup: DH1–DH4, then the first ratchet step's two.
const RESPONDER_DH: f64 = 6.0;
/// The 10-KiB rows' size, also the buffer size given to `openssl speed -bytes`.
const BIG: usize = 10 * 1024;

/// `(peer, measure) → figures of every round`.
type Figures = BTreeMap<(String, String), Vec<f64>>;

/// JSON lines `{"peer", "measure", "per_s" | "bytes"}`.
fn collect(output: &str, figures: &mut Figures) {
    for line in output.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(peer), Some(measure)) = (value["peer"].as_str(), value["measure"].as_str())
        else {
            continue;
        };
        let Some(figure) = value["per_s"].as_f64().or(value["bytes"].as_f64()) else {
            continue;
        };
        figures
            .entry((peer.to_owned(), measure.to_owned()))
            .or_default()
            .push(figure);
    }
}

/// `openssl speed -mr` output: `+H:10240` then `+F:<n>:<algorithm>:<bytes per second>` for
/// ciphers and MACs; `+F5:<n>:253:<ops per second>:…` for X25519.
fn collect_openssl(output: &str, measure: &str, figures: &mut Figures) -> Result<(), String> {
    let rate = output
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.first().copied() {
                Some("+F") => fields.last()?.parse::<f64>().ok(),
                Some("+F5") => fields.get(3)?.parse::<f64>().ok(),
                _ => None,
            }
        })
        .ok_or_else(|| format!("no `+F` line in openssl's output for {measure}"))?;
    figures
        .entry(("openssl".into(), measure.into()))
        .or_default()
        .push(rate);
    Ok(())
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Runs the comparison with `seconds` per measure.
pub fn run(seconds: &str) -> Result<(), String> {
    let (root, interop) = super::prepare(seconds, "wa-signal", "signal_measure")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let example = target.join("release/examples/signal_measure");
    let example = example.to_str().ok_or("target path is not UTF-8")?;
    let native = interop
        .join("node_modules/@signalapp/libsignal-client")
        .exists();
    let big = BIG.to_string();
    let mut figures = Figures::new();
    for round in 1..=ROUNDS {
        eprintln!("round {round}/{ROUNDS}");
        // Record sizes do not vary between rounds: measured once, in the first.
        let mut ours = vec![seconds];
        let mut theirs = vec!["bench-signal.mjs", seconds];
        if round == 1 {
            ours.push("--sizes");
            theirs.push("--sizes");
        }
        collect(&capture(&root, example, &ours)?, &mut figures);
        collect(&capture(&interop, "node", &theirs)?, &mut figures);
        for (measure, algorithm) in [
            ("aes-256-cbc-encrypt", &["-evp", "aes-256-cbc"][..]),
            ("aes-256-cbc-decrypt", &["-decrypt", "-evp", "aes-256-cbc"]),
            ("hmac-sha256", &["-hmac", "sha256"]),
            ("x25519", &["ecdhx25519"]),
        ] {
            // `-elapsed`: wall-clock time, like the other measurements.
            let mut args = vec!["speed", "-elapsed", "-mr", "-seconds", "1"];
            if measure != "x25519" {
                args.extend_from_slice(&["-bytes", &big]);
            }
            args.extend_from_slice(algorithm);
            collect_openssl(&capture(&root, "openssl", &args)?, measure, &mut figures)?;
        }
    }
    let get = |peer: &str, measure: &str| {
        figures
            .get(&(peer.to_owned(), measure.to_owned()))
            .map_or(f64::NAN, |v| median(v))
    };

    // The limit for one 10-KiB message: the cipher pass plus the MAC pass, in bytes per second.
    let per_message = |aes: &str| {
        let size = BIG as f64;
        1.0 / (size / get("openssl", aes) + size / get("openssl", "hmac-sha256"))
    };
    let encrypt_limit = per_message("aes-256-cbc-encrypt");
    let decrypt_limit = per_message("aes-256-cbc-decrypt");

    println!("\nSignal operations per second, median of {ROUNDS} rounds");
    println!(
        "{:<23} {:>10} {:>10} {:>11} {:>9} {:>9} {:>8}",
        "measure", "wa-signal", "libsignal", "rust-bridge", "/npm", "/bridge", "/limit"
    );
    let mut rows: Vec<String> = vec!["setup-initiator".into(), "setup-responder".into()];
    for kind in ["alt", "burst"] {
        for size in [100, BIG] {
            for op in ["encrypt", "decrypt"] {
                rows.push(format!("{kind}-{op}-{size}"));
            }
        }
    }
    rows.extend(
        [
            "group-encrypt-100",
            "group-decrypt-100",
            "xeddsa-sign",
            "xeddsa-sign-precomputed",
            "xeddsa-verify",
        ]
        .map(String::from),
    );
    // A figure, or `-` where a side has none.
    let show = |value: f64, width: usize, decimals: usize, suffix: &str| {
        if value.is_finite() {
            format!("{value:>w$.decimals$}{suffix}", w = width - suffix.len())
        } else {
            format!("{:>width$}", "-")
        }
    };
    for measure in &rows {
        let ours = get("wa-signal", measure);
        let npm = get("libsignal", measure);
        let bridge = get("rust-bridge", measure);
        let limit = if measure.ends_with(&format!("-{BIG}")) {
            let limit = if measure.contains("encrypt") {
                encrypt_limit
            } else {
                decrypt_limit
            };
            format!("{:>8.2}", ours / limit)
        } else {
            format!("{:>8}", "-")
        };
        println!(
            "{measure:<23} {} {} {} {} {} {limit}",
            show(ours, 10, 0, ""),
            show(npm, 10, 0, ""),
            show(bridge, 11, 0, ""),
            show(ours / npm, 9, 1, "x"),
            show(ours / bridge, 9, 1, "x"),
        );
    }
    println!(
        "\nlimit: openssl speed on {BIG}-byte buffers, one core: AES-256-CBC encrypt {:.0} MB/s, \
         decrypt {:.0} MB/s, HMAC-SHA256 {:.0} MB/s\n→ {encrypt_limit:.0} encryptions/s and \
         {decrypt_limit:.0} decryptions/s of a {BIG}-byte message (cipher + MAC passes alone).",
        get("openssl", "aes-256-cbc-encrypt") / 1e6,
        get("openssl", "aes-256-cbc-decrypt") / 1e6,
        get("openssl", "hmac-sha256") / 1e6,
    );
    let x25519 = get("openssl", "x25519");
    println!(
        "openssl X25519: {x25519:.0}/s, one core. Setup is bound by it: the initiator computes\n\
         {INITIATOR_DH} X25519 (four for X3DH, one for its first sending chain), the responder \
         {RESPONDER_DH} (X3DH and the first ratchet step) → at most {:.0} and {:.0} setups/s at \
         openssl's rate,\nbefore key generation and the signature check; ours: {:.0} and {:.0}.",
        x25519 / INITIATOR_DH,
        x25519 / RESPONDER_DH,
        get("wa-signal", "setup-initiator"),
        get("wa-signal", "setup-responder"),
    );
    if native {
        println!(
            "\nXEdDSA against Signal's native library (@signalapp/libsignal-client, Rust in a Node \
             addon; not a WhatsApp peer)"
        );
        for (measure, ours_measure) in [
            ("xeddsa-sign", "xeddsa-sign"),
            ("xeddsa-sign", "xeddsa-sign-precomputed"),
            ("xeddsa-verify", "xeddsa-verify"),
        ] {
            let ours = get("wa-signal", ours_measure);
            let theirs = get("libsignal-client", measure);
            println!(
                "{ours_measure:<23} {ours:>10.0} {theirs:>10.0} {:>8.2}x",
                ours / theirs
            );
        }
    } else {
        println!(
            "XEdDSA native figure: @signalapp/libsignal-client is not in interop/node_modules \
             (`npm ci` in interop/)"
        );
    }
    println!("\nStored session record, bytes");
    println!(
        "{:<24} {:>10} {:>10} {:>11}",
        "after", "wa-signal", "libsignal", "rust-bridge"
    );
    for (label, measure) in [
        ("200 round trips", "record-200-round-trips"),
        ("10,000 messages one way", "record-10000-one-way"),
    ] {
        println!(
            "{label:<24} {:>10.0} {:>10.0} {:>11.0}",
            get("wa-signal", measure),
            get("libsignal", measure),
            get("rust-bridge", measure)
        );
    }
    println!(
        "\nsetup-initiator: process a bundle (signature check, X3DH) and encrypt the first pkmsg,\n\
         to a new peer each time; setup-responder: decrypt such a pkmsg (X3DH, first ratchet\n\
         step). alt: each message answers the last (a ratchet step per decrypt); burst: 32\n\
         messages one way, then decrypted in order. group: one sender's chain, 32 skmsg then\n\
         decrypted; npm column = Baileys 7's group cipher. xeddsa: over a 33-byte key, from the\n\
         private key each time as the peers' calls do; -precomputed: wa-crypto's XeddsaSigningKey,\n\
         its Edwards form computed once (one fixed-base multiplication per signature). Every\n\
         operation loads and stores the serialised record (ours: record bytes; libsignal: JSON of\n\
         SessionRecord.serialize(); Baileys' sender keys: its JSON; bridge: its bytes).\n\
         /npm, /bridge: wa-signal's rate over theirs (targets >= 10x and >= 2x); /limit: our\n\
         rate over the openssl limit above (target >= 0.8; the alternating rows also pay two\n\
         X25519 and a key generation per ratchet step, which that limit leaves out)."
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_lines_are_read_for_ciphers_macs_and_x25519() {
        let mut figures = Figures::new();
        collect_openssl(
            "+DT:AES-256-CBC:1:10240\n+R:1:AES-256-CBC:1.0\n+H:10240\n+F:25:AES-256-CBC:696924160.00\n",
            "aes",
            &mut figures,
        )
        .unwrap();
        collect_openssl(
            "+H:10240\n+F:9:hmac(sha256):1377350970.30\n",
            "hmac",
            &mut figures,
        )
        .unwrap();
        collect_openssl("+F5:22:253:4554.000000:0.000220\n", "x25519", &mut figures).unwrap();
        assert_eq!(figures[&("openssl".into(), "aes".into())], [696924160.0]);
        assert_eq!(figures[&("openssl".into(), "hmac".into())], [1377350970.3]);
        assert_eq!(figures[&("openssl".into(), "x25519".into())], [4554.0]);
        assert!(collect_openssl("+H:10240\n", "none", &mut figures).is_err());
    }

    #[test]
    fn json_lines_collect_per_round_and_medians_ignore_one_outlier() {
        let mut figures = Figures::new();
        for rate in [10.0, 1000.0, 12.0] {
            collect(
                &format!(
                    "noise\n{{\"peer\":\"p\",\"measure\":\"m\",\"per_s\":{rate}}}\n{{\"peer\":\"p\",\"measure\":\"size\",\"bytes\":615}}"
                ),
                &mut figures,
            );
        }
        assert_eq!(figures[&("p".into(), "m".into())], [10.0, 1000.0, 12.0]);
        assert_eq!(median(&figures[&("p".into(), "m".into())]), 12.0);
        assert_eq!(median(&figures[&("p".into(), "size".into())]), 615.0);
        assert_eq!(median(&[1.0, 3.0]), 2.0);
        assert!(median(&[]).is_nan());
    }
}
