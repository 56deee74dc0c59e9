//! `cargo xtask bench-compare signal [SECS]`: wa-signal against npm `libsignal` 6.0.0 (with
//! Baileys 7's own group cipher for sender keys) and whatsapp-rust-bridge, in one run: session
//! setup in each role, 1:1 encrypt and decrypt of 100 B and 10 KiB in an alternating
//! conversation (a ratchet step on every turn) and in a one-way burst, sender-key encrypt and
//! decrypt, XEdDSA sign and verify; then the session record sizes after 200 round trips and
//! after 10,000 messages one way. `openssl speed` (AES-256-CBC each way and HMAC-SHA256 on
//! 10,240-byte buffers, X25519, Ed25519) gives the single-core limit of each row whose work is
//! those primitives: a 10-KiB message's cipher and MAC passes, plus the X25519 operations of a
//! ratchet step (its two Diffie-Hellmans and its key generation) or of setup. The same with a
//! message's cipher and MAC passes overlapped (the slower alone, as one loop of both runs) is
//! the ceiling, which caps what any implementation on these primitives can show against
//! another: rows where the ceiling is under the target ratio times a peer's rate are named in
//! the output, from the figures of the run.
//!
//! Clocks: every figure divides by CPU time, so that other work on the machine does not move it
//! (much): ours by the measuring thread's CPU clock, the Node peers by `process.cpuUsage()`
//! (process-wide: V8's helper threads count too), `openssl speed` by its own CPU time (run
//! without `-elapsed`). Our wall-clock rate is printed beside ours.
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
/// X25519 operations of a ratchet step (every alternating decrypt): the receiving chain's and
/// the new sending chain's.
const STEP_DH: f64 = 2.0;
/// Key generations of a ratchet step: its new key pair, one fixed-base multiplication. `openssl
/// speed` has no X25519 key generation row; the limit counts it at the faster of wa-crypto's
/// key generation and openssl's Ed25519 signing (one fixed-base multiplication, the one its
/// X25519 key generation uses, plus two hashes): the cheaper of the two, so the stricter limit.
const STEP_KEYGEN: f64 = 1.0;
/// The targets: our rate over npm `libsignal`'s, and over the bridge's.
const NPM_TARGET: f64 = 10.0;
const BRIDGE_TARGET: f64 = 2.0;
/// The 10-KiB rows' size, also the buffer size given to `openssl speed -bytes`.
const BIG: usize = 10 * 1024;

/// `(peer, measure) → figures of every round`.
type Figures = BTreeMap<(String, String), Vec<f64>>;

/// JSON lines `{"peer", "measure", "per_s" | "bytes"}`, with `"per_s_wall"` kept as
/// `<measure>@wall`.
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
        if let Some(wall) = value["per_s_wall"].as_f64() {
            figures
                .entry((peer.to_owned(), format!("{measure}@wall")))
                .or_default()
                .push(wall);
        }
    }
}

/// `openssl speed -mr` output: `+H:10240` then `+F:<n>:<algorithm>:<bytes per second>` for
/// ciphers and MACs; `+F5:<n>:253:<ops per second>:…` for X25519;
/// `+F6:<n>:253:Ed25519:<signatures per second>:<verifications per second>` for Ed25519.
fn collect_openssl(output: &str, measure: &str, figures: &mut Figures) -> Result<(), String> {
    let rate = output
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.first().copied() {
                Some("+F") => fields.last()?.parse::<f64>().ok(),
                Some("+F5") => fields.get(3)?.parse::<f64>().ok(),
                Some("+F6") => fields.get(4)?.parse::<f64>().ok(),
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

/// The openssl limit of `measure` in operations per second, from the primitives' figures (bytes
/// per second for the ciphers and the MAC, operations per second for X25519 and for a
/// `fixed-base` multiplication, see [`STEP_KEYGEN`]); NaN for a row whose work is not those
/// primitives alone.
fn limit(measure: &str, openssl: &dyn Fn(&str) -> f64) -> f64 {
    per_row(measure, openssl, |cipher, mac| cipher + mac)
}

/// What no implementation on these primitives can beat for `measure`, in operations per
/// second: [`limit`], but a 10-KiB message's cipher and MAC passes counted as the slower of the
/// two alone, since one loop can run both at once (wa-crypto's x86-64 kernels hide the faster
/// in the slower). The cap on what any implementation can show over a peer.
fn ceiling(measure: &str, openssl: &dyn Fn(&str) -> f64) -> f64 {
    per_row(measure, openssl, f64::max)
}

/// [`limit`] and [`ceiling`]: `symmetric` makes a message's cipher and MAC times (seconds) one.
fn per_row(measure: &str, openssl: &dyn Fn(&str) -> f64, combine: impl Fn(f64, f64) -> f64) -> f64 {
    let size = BIG as f64;
    // Seconds per operation: a 10-KiB message's cipher and MAC passes, an X25519.
    let symmetric = |aes: &str| combine(size / openssl(aes), size / openssl("hmac-sha256"));
    let (seal, open) = (
        symmetric("aes-256-cbc-encrypt"),
        symmetric("aes-256-cbc-decrypt"),
    );
    let dh = 1.0 / openssl("x25519");
    let keygen = 1.0 / openssl("fixed-base");
    let per_op = match measure {
        "setup-initiator" => INITIATOR_DH * dh,
        "setup-responder" => RESPONDER_DH * dh,
        m if m.starts_with("alt-decrypt-") => {
            // The cipher share of a 100-byte message at the 10-KiB rate (generous).
            let bytes: f64 = m["alt-decrypt-".len()..].parse().unwrap_or(size);
            STEP_DH * dh + STEP_KEYGEN * keygen + open * bytes / size
        }
        m if m == format!("alt-encrypt-{BIG}") || m == format!("burst-encrypt-{BIG}") => seal,
        m if m == format!("burst-decrypt-{BIG}") => open,
        _ => return f64::NAN,
    };
    1.0 / per_op
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
            ("ed25519-sign", &["ed25519"]),
        ] {
            // Without `-elapsed`: openssl divides by its CPU time, as the other sides do.
            let mut args = vec!["speed", "-mr", "-seconds", "1"];
            if !matches!(measure, "x25519" | "ed25519-sign") {
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

    let (ours_dh, ours_keygen) = (
        get("wa-signal", "x25519"),
        get("wa-signal", "x25519-keygen"),
    );
    let ed25519_sign = get("openssl", "ed25519-sign");
    // `f64::max` ignores a missing (NaN) side.
    let fixed_base = ours_keygen.max(ed25519_sign);
    let openssl = |measure: &str| match measure {
        "fixed-base" => fixed_base,
        _ => get("openssl", measure),
    };
    let size = BIG as f64;
    let open = size / openssl("aes-256-cbc-decrypt") + size / openssl("hmac-sha256");
    let x25519 = openssl("x25519");
    let limit = |measure: &str| limit(measure, &openssl);
    let ceiling = |measure: &str| ceiling(measure, &openssl);

    println!(
        "\nSignal operations per second of CPU time, median of {ROUNDS} rounds (wall: ours on \
         the wall clock)"
    );
    println!(
        "{:<23} {:>10} {:>9} {:>10} {:>11} {:>8} {:>8} {:>7} {:>9} {:>9}",
        "measure",
        "wa-signal",
        "wall",
        "libsignal",
        "rust-bridge",
        "/npm",
        "/bridge",
        "/limit",
        "cap/npm",
        "cap/brdg"
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
    // Rows where the primitives alone keep a target out of reach: (row, ceiling over peer).
    let (mut npm_capped, mut bridge_capped) = (Vec::new(), Vec::new());
    for measure in &rows {
        let ours = get("wa-signal", measure);
        let npm = get("libsignal", measure);
        let bridge = get("rust-bridge", measure);
        let limit = limit(measure);
        let ceiling = ceiling(measure);
        if ceiling / npm < NPM_TARGET {
            npm_capped.push(format!("{measure} {:.1}x", ceiling / npm));
        }
        if ceiling / bridge < BRIDGE_TARGET {
            bridge_capped.push(format!("{measure} {:.1}x", ceiling / bridge));
        }
        println!(
            "{measure:<23} {} {} {} {} {} {} {} {} {}",
            show(ours, 10, 0, ""),
            show(get("wa-signal", &format!("{measure}@wall")), 9, 0, ""),
            show(npm, 10, 0, ""),
            show(bridge, 11, 0, ""),
            show(ours / npm, 8, 1, "x"),
            show(ours / bridge, 8, 1, "x"),
            show(ours / limit, 7, 2, ""),
            show(ceiling / npm, 9, 1, "x"),
            show(ceiling / bridge, 9, 1, "x"),
        );
    }
    println!(
        "\nlimit: openssl speed, one core, CPU time: AES-256-CBC encrypt {:.0} MB/s, decrypt \
         {:.0} MB/s, HMAC-SHA256 {:.0} MB/s on {BIG}-byte buffers; X25519 {x25519:.0}/s; \
         Ed25519 sign {ed25519_sign:.0}/s.\n\
         Per operation: a {BIG}-byte encrypt = cipher + MAC passes ({:.0}/s); a burst decrypt = \
         the same ({:.0}/s);\nan alternating decrypt = its ratchet step ({STEP_DH} X25519 and \
         {STEP_KEYGEN} key generation, counted at {fixed_base:.0}/s: the faster of\nwa-crypto's \
         key generation and openssl's Ed25519 signing, whose fixed-base multiplication is its \
         X25519 key generation's) + cipher + MAC\n({:.0}/s at {BIG} B);\nsetup = \
         {INITIATOR_DH} X25519 for the initiator (four for X3DH, one for its first sending \
         chain), {RESPONDER_DH} for the responder (X3DH and the\nfirst ratchet step): {:.0} and \
         {:.0}/s, before key generation and the signature check.",
        get("openssl", "aes-256-cbc-encrypt") / 1e6,
        get("openssl", "aes-256-cbc-decrypt") / 1e6,
        get("openssl", "hmac-sha256") / 1e6,
        limit(&format!("burst-encrypt-{BIG}")),
        limit(&format!("burst-decrypt-{BIG}")),
        limit(&format!("alt-decrypt-{BIG}")),
        limit("setup-initiator"),
        limit("setup-responder"),
    );
    println!(
        "Ceilings (a message's cipher and MAC overlapped: the slower pass alone): a {BIG}-byte \
         encrypt {:.0}/s, a burst decrypt {:.0}/s, an alternating decrypt {:.0}/s.",
        ceiling(&format!("burst-encrypt-{BIG}")),
        ceiling(&format!("burst-decrypt-{BIG}")),
        ceiling(&format!("alt-decrypt-{BIG}")),
    );
    let at_our_curve_rate = STEP_DH / ours_dh + STEP_KEYGEN / fixed_base + open;
    println!(
        "wa-crypto's X25519: {ours_dh:.0} Diffie-Hellman/s (crrl's) = {:.2} of openssl's, \
         {ours_keygen:.0} key generations/s. The alternating {BIG}-byte decrypt's limit at our own \
         Diffie-Hellman rate\n(the same work, from this run's medians): {:.0}/s; ours is {:.2} of \
         that.",
        ours_dh / x25519,
        1.0 / at_our_curve_rate,
        get("wa-signal", &format!("alt-decrypt-{BIG}")) * at_our_curve_rate,
    );
    for (peer, target, capped) in [
        ("npm libsignal", NPM_TARGET, &npm_capped),
        ("the bridge", BRIDGE_TARGET, &bridge_capped),
    ] {
        if capped.is_empty() {
            println!(
                "No row's ceiling (the limit with a message's cipher and MAC overlapped) is under \
                 {target}x {peer}'s rate."
            );
        } else {
            println!(
                "Primitives cap the {target}x target over {peer} on: {} (the openssl ceiling over \
                 their rate, a message's cipher and MAC at the slower one's speed alone: no \
                 implementation on these primitives reaches {target}x there).",
                capped.join(", ")
            );
        }
    }
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
         step). alt: each message answers the last (a ratchet step per decrypt); burst: 8\n\
         messages one way, then decrypted in order. group: one sender's chain, 8 skmsg then\n\
         decrypted; npm column = Baileys 7's group cipher. xeddsa: over a 33-byte key, from the\n\
         private key each time as the peers' calls do; -precomputed: wa-crypto's XeddsaSigningKey,\n\
         its Edwards form computed once (one fixed-base multiplication per signature). Every\n\
         operation loads and stores the serialised record (ours: record bytes; libsignal: JSON of\n\
         SessionRecord.serialize(); Baileys' sender keys: its JSON; bridge: its bytes).\n\
         /npm, /bridge: wa-signal's rate over theirs (targets >= 10x and >= 2x); /limit: our\n\
         rate over the openssl limit above (target >= 0.8); cap/npm, cap/brdg: the ceiling over\n\
         their rate (the limit with a message's cipher and MAC passes overlapped, the slower one\n\
         alone), the most any implementation on these primitives can show against them.\n\
         Clocks: wa-signal, the measuring thread's CPU time (CLOCK_THREAD_CPUTIME_ID; wall: the\n\
         same operations on the wall clock); libsignal and rust-bridge, process.cpuUsage() of\n\
         their Node process (user + system, process-wide: V8's GC and compiler threads count\n\
         too; the peers run single-threaded); openssl speed, its own CPU time."
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
        collect_openssl(
            "+R9:6244:253:Ed25519:1.00\n+F6:0:253:Ed25519:17190.000000:6244.000000\n",
            "ed25519",
            &mut figures,
        )
        .unwrap();
        assert_eq!(figures[&("openssl".into(), "aes".into())], [696924160.0]);
        assert_eq!(figures[&("openssl".into(), "hmac".into())], [1377350970.3]);
        assert_eq!(figures[&("openssl".into(), "x25519".into())], [4554.0]);
        assert_eq!(figures[&("openssl".into(), "ed25519".into())], [17190.0]);
        assert!(collect_openssl("+H:10240\n", "none", &mut figures).is_err());
    }

    #[test]
    fn limits_add_the_cipher_mac_and_curve_work_of_each_row() {
        // 10,240 bytes at 10,240,000 B/s is 1 ms; at 40,960,000 B/s, 0.25 ms; X25519 1 ms; a
        // key generation 0.5 ms.
        let openssl = |measure: &str| match measure {
            "aes-256-cbc-encrypt" => 10_240_000.0,
            "aes-256-cbc-decrypt" | "hmac-sha256" => 40_960_000.0,
            "x25519" => 1000.0,
            "fixed-base" => 2000.0,
            _ => f64::NAN,
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b;
        assert!(close(limit("burst-encrypt-10240", &openssl), 1.0 / 1.25e-3));
        assert!(close(limit("alt-encrypt-10240", &openssl), 1.0 / 1.25e-3));
        assert!(close(limit("burst-decrypt-10240", &openssl), 1.0 / 0.5e-3));
        assert!(close(limit("alt-decrypt-10240", &openssl), 1.0 / 3e-3));
        assert!(close(
            limit("alt-decrypt-100", &openssl),
            1.0 / (2.5e-3 + 0.5e-3 * 100.0 / 10_240.0)
        ));
        assert!(close(limit("setup-initiator", &openssl), 200.0));
        assert!(close(limit("setup-responder", &openssl), 1000.0 / 6.0));
        for unbounded in ["burst-decrypt-100", "group-encrypt-100", "xeddsa-sign"] {
            assert!(limit(unbounded, &openssl).is_nan(), "{unbounded}");
        }
        // The ceiling overlaps a message's passes: the slower alone (1 ms encrypting, 0.25 ms
        // decrypting); curve work still adds.
        assert!(close(ceiling("burst-encrypt-10240", &openssl), 1000.0));
        assert!(close(ceiling("burst-decrypt-10240", &openssl), 4000.0));
        assert!(close(ceiling("alt-decrypt-10240", &openssl), 1.0 / 2.75e-3));
        assert!(close(ceiling("setup-responder", &openssl), 1000.0 / 6.0));
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
