//! One-to-one messaging throughput against one wa-sim, our `MdDevice` and Baileys 7 side by
//! side (what `cargo xtask bench-compare messaging` runs and tabulates).
//!
//! ```text
//! cargo run --release -p wa-client --example md_messaging_bench -- <seconds> <interop dir> [rounds]
//! ```
//!
//! This process runs the simulator and the contact: four of our devices paired to one simulated
//! phone, so every text to the contact is encrypted for four devices. Each measured client is a
//! process of its own (so that its CPU time and peak RSS are its own): this example again in
//! `client` mode, or `interop/bench-messaging.mjs`. A measured client pairs to a fresh phone,
//! sends texts to the contact for `seconds` (ours: `send_text`, which returns at the server
//! ack, one after another; Baileys: `sendMessage`, which returns once written, acks timed from
//! the raw stanza) and goes offline; the contact's first device then queues 2,000 texts for it,
//! and the client reconnects and receives them all. Rounds interleave ours and Baileys'; every
//! measurement is one JSON line on stdout.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;
use wa_client::md::{DeviceEvent, MdConnectConfig, MdDevice, MdDeviceConfig};
use wa_core::md::{ClientHandshakeConfig, MessengerEvent, TrustRoot};
use wa_sim::{SimConfig, SimServer};
use wa_transport::TransportConfig;

/// The contact's phone number.
const CONTACT: u64 = 15_550_000_900;
/// The contact's devices (all ours, in this process).
const CONTACT_DEVICES: usize = 4;
/// Texts queued for each measured client to receive, the same for every peer (wa-sim keeps
/// 10,000 stanzas per device).
const RECEIVE_COUNT: u64 = 2_000;
/// The measured clients' phones: `MEASURED_BASE + 10 * round + peer`.
const MEASURED_BASE: u64 = 15_550_001_000;

fn config(url: &str, trust_root: TrustRoot) -> MdDeviceConfig {
    MdDeviceConfig {
        connect: MdConnectConfig {
            transport: TransportConfig {
                url: url.to_owned(),
                ..TransportConfig::multi_device()
            },
            handshake: ClientHandshakeConfig {
                trust_root,
                ..ClientHandshakeConfig::default()
            },
            handshake_timeout: Duration::from_secs(10),
        },
        login_timeout: Duration::from_secs(60),
        ..MdDeviceConfig::default()
    }
}

/// Pairs `device` with phone `phone` by QR, scanned over the control API.
async fn pair(device: &mut MdDevice, control: &str, phone: u64) -> Result<(), String> {
    let http = reqwest::Client::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let scan_url = format!("{control}/md/scan");
    let scanner = async {
        while let Some(event) = rx.recv().await {
            if let DeviceEvent::Qr(qr) = event {
                let response = http
                    .post(&scan_url)
                    .json(&serde_json::json!({ "qr": qr, "phone": phone }))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("scan: {}", response.status()));
                }
                break;
            }
        }
        while rx.recv().await.is_some() {}
        Ok(())
    };
    let login = async {
        let result = device.login(&tx).await.map_err(|e| e.to_string());
        drop(tx);
        result
    };
    let (login, scan) = tokio::join!(login, scanner);
    scan?;
    login
}

/// CPU seconds (user + system) this process used so far, from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // The fields after the command name (which is in parentheses and may hold spaces).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; in clock
    // ticks, 100 a second on Linux.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}

/// This process's peak resident set (`VmHWM`, KiB).
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Where the receive phase's time went, in seconds from the reconnect: `restore` returned
/// (logged in, prekeys settled), the first, middle and last text handed over, how many came
/// before `restore` returned, and the longest gap between two texts (and after which one).
fn stages(arrivals: &[f64], restored_s: f64) -> Value {
    let at = |i: usize| arrivals.get(i).copied().unwrap_or(f64::NAN);
    let (gap, after) = arrivals
        .windows(2)
        .enumerate()
        .map(|(i, w)| (w[1] - w[0], i))
        .fold(
            (0.0, 0),
            |best, next| if next.0 > best.0 { next } else { best },
        );
    serde_json::json!({
        "restored_s": restored_s,
        "before_restored": arrivals.iter().filter(|&&t| t <= restored_s).count(),
        "first_s": at(0),
        "middle_s": at(arrivals.len() / 2),
        "last_s": at(arrivals.len().saturating_sub(1)),
        "max_gap_ms": gap * 1000.0,
        "max_gap_after": after,
    })
}

/// The measured client (ours): `client <ws url> <root hex> <root serial> <control url> <phone>
/// <to> <seconds>`; speaks the same lines as `interop/bench-messaging.mjs`.
async fn client(args: &[String]) -> Result<(), String> {
    let [url, root, serial, control, phone, to, seconds] = args else {
        return Err("client <ws url> <root hex> <serial> <control> <phone> <to> <seconds>".into());
    };
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = root
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or("root is not 32 bytes of hex")?;
    }
    let trust_root = TrustRoot {
        key,
        serial: serial.parse().map_err(|_| "bad serial")?,
    };
    let phone: u64 = phone.parse().map_err(|_| "bad phone")?;
    let seconds: f64 = seconds.parse().map_err(|_| "bad seconds")?;
    let store = Arc::new(wa_store::Store::memory());
    let mut device =
        MdDevice::open_store(config(url, trust_root), store).map_err(|e| e.to_string())?;
    pair(&mut device, control, phone).await?;
    let mut messages = device.messages();
    println!("{}", serde_json::json!({ "ready": phone }));
    let (tx, _rx) = mpsc::unbounded_channel();

    // Send phase.
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let mut latencies = Vec::new();
    while start.elapsed().as_secs_f64() < seconds {
        let at = Instant::now();
        device
            .send_text(to, &format!("bench {}", latencies.len()), &tx)
            .await
            .map_err(|e| format!("send: {e}"))?;
        latencies.push(at.elapsed().as_secs_f64() * 1000.0);
    }
    let send_s = start.elapsed().as_secs_f64();
    let send_cpu = cpu_seconds() - cpu0;
    device.close().await;
    while messages.try_recv().is_ok() {}
    let sent = latencies.len();
    println!("{}", serde_json::json!({ "offline": sent }));

    // Receive phase: the contact queued `want` texts meanwhile.
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let want = serde_json::from_str::<Value>(&line).map_err(|e| e.to_string())?["reconnect"]
        .as_u64()
        .ok_or("expected {\"reconnect\": N}")?;
    let cpu1 = cpu_seconds();
    let start = Instant::now();
    // A task of its own counts the texts as they come out of the device, so each one is
    // timed when it is handed over, not when the loop below next looks.
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
    let counter = tokio::spawn(async move {
        let mut arrivals = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        while let Some(event) = messages.recv().await {
            if let MessengerEvent::Message {
                from_me: false,
                message,
                ..
            } = event
            {
                if message.conversation.is_some() {
                    arrivals.push(start.elapsed().as_secs_f64());
                    if arrivals.len() as u64 == want {
                        let _ = done_tx.send(true);
                    }
                }
            }
        }
        arrivals
    });
    device.restore(&tx).await.map_err(|e| e.to_string())?;
    let restored_s = start.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !*done_rx.borrow() && Instant::now() < deadline {
        device
            .serve_until(Duration::from_secs(1), done_rx.changed(), &tx)
            .await
            .map_err(|e| e.to_string())?;
    }
    let served_s = start.elapsed().as_secs_f64();
    let recv_cpu = cpu_seconds() - cpu1;
    latencies.sort_by(f64::total_cmp);
    device.close().await;
    // Closing drops the device's sender, so the counter's channel ends.
    drop(device);
    let arrivals = counter.await.map_err(|e| e.to_string())?;
    let received = arrivals.len();
    // Timed to the last text handed over, as Baileys' side is (to its last `messages.upsert`).
    let recv_s = match arrivals.last() {
        Some(&last) if received as u64 >= want => last,
        _ => served_s,
    };
    let stages = stages(&arrivals, restored_s);
    println!(
        "{}",
        serde_json::json!({ "result": {
            "sent": sent,
            "acked": sent,
            "send_s": send_s,
            "send_cpu_s": send_cpu,
            "ack_p50_ms": percentile(&latencies, 50),
            "ack_p99_ms": percentile(&latencies, 99),
            "received": received,
            "recv_s": recv_s,
            "recv_cpu_s": recv_cpu,
            "peak_rss_kb": peak_rss_kb(),
            "stages": stages,
        }})
    );
    Ok(())
}

/// A measured client process and its line streams.
struct Measured {
    child: Child,
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl Measured {
    fn spawn(mut command: Command) -> Result<Measured, String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        Ok(Measured {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// The next line that holds `key`, as that key's value.
    async fn until(&mut self, key: &str) -> Result<Value, String> {
        let wait = async {
            while let Some(line) = self.lines.next_line().await.map_err(|e| e.to_string())? {
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if !value[key].is_null() {
                    return Ok(value[key].clone());
                }
            }
            Err(format!("the client ended before `{key}`"))
        };
        tokio::time::timeout(Duration::from_secs(300), wait)
            .await
            .map_err(|_| format!("no `{key}` in 300 s"))?
    }
}

/// One measured run: the client sends, goes offline, the contact's first device queues
/// [`RECEIVE_COUNT`] texts for it, the client reconnects and receives them. Returns the client's result.
async fn measure(
    mut measured: Measured,
    contact: &mut MdDevice,
    to_measured: &str,
) -> Result<Value, String> {
    measured.until("ready").await?;
    measured.until("offline").await?;
    let queue = RECEIVE_COUNT;
    let (tx, _rx) = mpsc::unbounded_channel();
    contact.restore(&tx).await.map_err(|e| e.to_string())?;
    for i in 0..queue {
        contact
            .send_text(to_measured, &format!("to you {i}"), &tx)
            .await
            .map_err(|e| format!("contact send: {e}"))?;
    }
    contact.close().await;
    measured
        .stdin
        .write_all(format!("{{\"reconnect\":{queue}}}\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let result = measured.until("result").await?;
    let _ = measured.child.wait().await;
    Ok(result)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("client") {
        return client(&args[1..]).await;
    }
    let usage = "usage: md_messaging_bench <seconds> <interop dir> [rounds]";
    let seconds: f64 = args.first().and_then(|s| s.parse().ok()).ok_or(usage)?;
    let interop = args.get(1).ok_or(usage)?.clone();
    let rounds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let handle = SimServer::start(SimConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    let trust = handle.md().trust_root();
    let root_hex: String = trust.key.iter().map(|b| format!("{b:02x}")).collect();
    let control = handle.control_url();
    let url = handle.md_ws_url();

    // The contact: four devices of one phone; the first one also writes to the measured
    // clients. All offline while a client sends (their copies wait in the sim's queues).
    let mut contact = Vec::new();
    for _ in 0..CONTACT_DEVICES {
        let store = Arc::new(wa_store::Store::memory());
        let mut device =
            MdDevice::open_store(config(&url, trust), store).map_err(|e| e.to_string())?;
        pair(&mut device, &control, CONTACT).await?;
        device.close().await;
        contact.push(device);
    }
    let to = format!("{CONTACT}@s.whatsapp.net");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    for round in 1..=rounds {
        for (peer_index, peer) in ["wa-client", "baileys"].into_iter().enumerate() {
            let phone = MEASURED_BASE + 10 * round + peer_index as u64;
            let command = if peer == "wa-client" {
                let mut command = Command::new(&exe);
                command.args([
                    "client",
                    &url,
                    &root_hex,
                    &trust.serial.to_string(),
                    &control,
                    &phone.to_string(),
                    &to,
                    &seconds.to_string(),
                ]);
                command
            } else {
                let mut command = Command::new("node");
                command
                    .arg("bench-messaging.mjs")
                    .args([&url, &root_hex, &control, &phone.to_string(), &to])
                    .arg(seconds.to_string())
                    .current_dir(&interop);
                command
            };
            let measured = Measured::spawn(command)?;
            let to_measured = format!("{phone}@s.whatsapp.net");
            let mut result = measure(measured, &mut contact[0], &to_measured).await?;
            result["peer"] = peer.into();
            result["round"] = round.into();
            result["devices"] = CONTACT_DEVICES.into();
            println!("{result}");
        }
    }
    handle.shutdown().await;
    Ok(())
}
