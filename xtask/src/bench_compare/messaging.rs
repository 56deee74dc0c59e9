//! `cargo xtask bench-compare messaging [SECS]`: one-to-one text messaging against one wa-sim,
//! our `MdDevice` and Baileys 7 side by side in the same run. The contact has four devices, so
//! every text is encrypted four times (plus the sender's own other devices). Per peer: texts
//! sent per second (each one to its server ack), ack latency p50/p99, texts received per second
//! (the contact queued them while the client was offline; timed from reconnecting to the last
//! one), CPU seconds per 1,000 texts of the client process alone, and its peak RSS. The example
//! `wa-client/examples/md_messaging_bench.rs` runs the sim and the contact and starts each
//! measured client as a process of its own (itself in `client` mode, or
//! `interop/bench-messaging.mjs`); rounds interleave the two peers and the table shows medians.

use std::collections::BTreeMap;

use super::capture;

/// Interleaved rounds; each figure is the median over them.
const ROUNDS: usize = 3;

/// The figures of one peer in one round.
#[derive(Default, Clone, Copy)]
struct Figures {
    sent_per_s: f64,
    ack_p50_ms: f64,
    ack_p99_ms: f64,
    send_cpu_per_1000: f64,
    received_per_s: f64,
    recv_cpu_per_1000: f64,
    peak_rss_mib: f64,
    sent: f64,
}

fn figures(value: &serde_json::Value) -> Option<Figures> {
    let get = |key: &str| value[key].as_f64();
    let sent = get("sent")?;
    let received = get("received")?;
    if sent < 1.0 || received < 1.0 {
        return None;
    }
    Some(Figures {
        sent_per_s: sent / get("send_s")?,
        ack_p50_ms: get("ack_p50_ms")?,
        ack_p99_ms: get("ack_p99_ms")?,
        send_cpu_per_1000: get("send_cpu_s")? * 1000.0 / sent,
        received_per_s: received / get("recv_s")?,
        recv_cpu_per_1000: get("recv_cpu_s")? * 1000.0 / received,
        peak_rss_mib: get("peak_rss_kb")? / 1024.0,
        sent,
    })
}

/// Where our client's receive time went in one round (the example's `stages`): seconds from
/// the reconnect to the first, middle and last text and to the settled login, and the longest
/// gap between two texts. A wait shows up as a long gap or a late first text.
struct Stages {
    first_s: f64,
    middle_s: f64,
    last_s: f64,
    restored_s: f64,
    max_gap_ms: f64,
}

impl Stages {
    fn of(value: &serde_json::Value) -> Option<Stages> {
        let get = |key: &str| value[key].as_f64();
        Some(Stages {
            first_s: get("first_s")?,
            middle_s: get("middle_s")?,
            last_s: get("last_s")?,
            restored_s: get("restored_s")?,
            max_gap_ms: get("max_gap_ms")?,
        })
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs the comparison with `seconds` of sending per peer and round.
pub fn run(seconds: &str) -> Result<(), String> {
    let (root, interop) = super::prepare(seconds, "wa-client", "md_messaging_bench")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let example = target.join("release/examples/md_messaging_bench");
    let example = example.to_str().ok_or("target path is not UTF-8")?;
    let interop = interop.to_str().ok_or("interop path is not UTF-8")?;
    let rounds = ROUNDS.to_string();
    let output = capture(&root, example, &[seconds, interop, &rounds])?;
    let mut runs: BTreeMap<String, Vec<Figures>> = BTreeMap::new();
    let mut stages: Vec<Stages> = Vec::new();
    for line in output.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(peer), Some(f)) = (value["peer"].as_str(), figures(&value)) else {
            continue;
        };
        eprintln!("{line}");
        stages.extend(Stages::of(&value["stages"]));
        runs.entry(peer.to_owned()).or_default().push(f);
    }
    let med = |peer: &str, pick: fn(&Figures) -> f64| {
        median(
            runs.get(peer)
                .map_or_else(Vec::new, |r| r.iter().map(pick).collect()),
        )
    };
    println!(
        "\nText messages to a contact with 4 devices, one wa-sim, medians of {ROUNDS} interleaved rounds"
    );
    println!(
        "{:<10} {:>8} {:>9} {:>9} {:>10} {:>8} {:>10} {:>9} {:>7}",
        "peer",
        "sent/s",
        "ack p50",
        "ack p99",
        "CPU s/1k",
        "recv/s",
        "CPU s/1k",
        "peak RSS",
        "texts"
    );
    for peer in ["wa-client", "baileys"] {
        println!(
            "{peer:<10} {:>8.1} {:>7.2}ms {:>7.2}ms {:>10.3} {:>8.1} {:>10.3} {:>6.1}MiB {:>7.0}",
            med(peer, |f| f.sent_per_s),
            med(peer, |f| f.ack_p50_ms),
            med(peer, |f| f.ack_p99_ms),
            med(peer, |f| f.send_cpu_per_1000),
            med(peer, |f| f.received_per_s),
            med(peer, |f| f.recv_cpu_per_1000),
            med(peer, |f| f.peak_rss_mib),
            med(peer, |f| f.sent),
        );
    }
    let ratio = |pick: fn(&Figures) -> f64| med("wa-client", pick) / med("baileys", pick);
    println!(
        "\nwa-client / Baileys 7: send rate {:.1}x, receive rate {:.1}x (target 10x); CPU per \
         text: send {:.2}x, receive {:.2}x of Baileys' (target <= 1); ack p50 {:.2}x.",
        ratio(|f| f.sent_per_s),
        ratio(|f| f.received_per_s),
        ratio(|f| f.send_cpu_per_1000),
        ratio(|f| f.recv_cpu_per_1000),
        ratio(|f| f.ack_p50_ms),
    );
    if !stages.is_empty() {
        let med = |pick: fn(&Stages) -> f64| median(stages.iter().map(pick).collect());
        println!(
            "Ours, receiving (medians, from the reconnect): first text {:.3} s, half {:.3} s, \
             last {:.3} s, login settled {:.3} s; longest gap between two texts {:.1} ms.",
            med(|s| s.first_s),
            med(|s| s.middle_s),
            med(|s| s.last_s),
            med(|s| s.restored_s),
            med(|s| s.max_gap_ms),
        );
    }
    println!(
        "Ours: `send_text` returns at the server ack, so sends go one after another; Baileys' \
         `sendMessage` returns once written and its acks are timed from the raw stanza."
    );
    Ok(())
}
