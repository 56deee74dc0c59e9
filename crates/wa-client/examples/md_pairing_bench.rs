//! Pairings per second against one wa-sim, ours and Baileys 7's, in one run (what
//! `cargo xtask bench-compare pairing` runs and tabulates).
//!
//! ```text
//! cargo run --release -p wa-client --example md_pairing_bench -- <seconds> <interop dir>
//! ```
//!
//! One pairing = a new device (fresh credentials, in-memory store) connects, shows a QR that
//! the phone scans through the control API over HTTP, gets 515, reconnects, logs in, uploads
//! its 812 prekeys and has the server's digest checked. One pairing at a time for each peer,
//! against the same in-process wa-sim; prints one JSON line per peer.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use wa_client::md::{
    DeviceEvent, MdConnectConfig, MdDevice, MdDeviceConfig, MemoryCredentialStore,
};
use wa_core::md::ClientHandshakeConfig;
use wa_sim::{SimConfig, SimHandle, SimServer};
use wa_transport::TransportConfig;

fn config(handle: &SimHandle) -> MdDeviceConfig {
    MdDeviceConfig {
        connect: MdConnectConfig {
            transport: TransportConfig {
                url: handle.md_ws_url(),
                ..TransportConfig::multi_device()
            },
            handshake: ClientHandshakeConfig {
                trust_root: handle.md().trust_root(),
                ..ClientHandshakeConfig::default()
            },
            handshake_timeout: Duration::from_secs(10),
        },
        login_timeout: Duration::from_secs(30),
        ..MdDeviceConfig::default()
    }
}

/// Where a pairing's time goes: the milliseconds from its start to each step, summed over the
/// timed pairings (printed with `MD_BENCH_PHASES=1`).
#[derive(Default)]
struct Phases {
    opened: f64,
    qr: f64,
    scanned: f64,
    paired: f64,
    logged_in: f64,
    uploaded: f64,
    ready: f64,
    closed: f64,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

async fn pair_once(
    handle: &SimHandle,
    http: &reqwest::Client,
    phases: &mut Phases,
) -> Result<(), String> {
    let start = Instant::now();
    let mut device = MdDevice::open(config(handle), Box::<MemoryCredentialStore>::default())
        .map_err(|e| e.to_string())?;
    phases.opened += ms(start);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let scan_url = format!("{}/md/scan", handle.control_url());
    let mut marks = (0.0, 0.0, 0.0, 0.0, 0.0);
    let scanner = async {
        let mut scanned = false;
        while let Some(event) = rx.recv().await {
            match event {
                DeviceEvent::Paired(_) => marks.1 = ms(start),
                DeviceEvent::LoggedIn => marks.2 = ms(start),
                DeviceEvent::PreKeysUploaded(_) => marks.3 = ms(start),
                _ => {}
            }
            if let (false, DeviceEvent::Qr(qr)) = (scanned, event) {
                scanned = true;
                phases.qr += ms(start);
                let response = http
                    .post(&scan_url)
                    .json(&serde_json::json!({ "qr": qr }))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("scan: {}", response.status()));
                }
                marks.0 = ms(start);
            }
        }
        if scanned {
            Ok(())
        } else {
            Err("no QR".to_owned())
        }
    };
    let login = async {
        let result = device.login(&tx).await.map_err(|e| e.to_string());
        drop(tx);
        result
    };
    let (login, scan) = tokio::join!(login, scanner);
    scan?;
    login?;
    marks.4 = ms(start);
    device.close().await;
    phases.scanned += marks.0;
    phases.paired += marks.1;
    phases.logged_in += marks.2;
    phases.uploaded += marks.3;
    phases.ready += marks.4;
    phases.closed += ms(start);
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or("usage: md_pairing_bench <seconds> <interop dir>")?;
    let interop = args
        .next()
        .ok_or("usage: md_pairing_bench <seconds> <interop dir>")?;
    let handle = SimServer::start(SimConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    let http = reqwest::Client::new();

    pair_once(&handle, &http, &mut Phases::default()).await?; // warm-up
    let mut phases = Phases::default();
    let started = Instant::now();
    let mut count = 0u32;
    while started.elapsed().as_secs_f64() < seconds {
        pair_once(&handle, &http, &mut phases).await?;
        count += 1;
    }
    let per_s = f64::from(count) / started.elapsed().as_secs_f64();
    println!(r#"{{"peer":"wa-client","measure":"pairing","per_s":{per_s:.2},"count":{count}}}"#);
    if std::env::var_os("MD_BENCH_PHASES").is_some() {
        let n = f64::from(count.max(1));
        eprintln!(
            "ms from start (mean of {count}): opened {:.1}, QR {:.1}, scan answered {:.1}, \
             paired {:.1}, logged in {:.1}, prekeys uploaded {:.1}, ready {:.1}, closed {:.1}",
            phases.opened / n,
            phases.qr / n,
            phases.scanned / n,
            phases.paired / n,
            phases.logged_in / n,
            phases.uploaded / n,
            phases.ready / n,
            phases.closed / n,
        );
        if std::env::var_os("MD_BENCH_ONLY_OURS").is_some() {
            handle.shutdown().await;
            return Ok(());
        }
    }

    let root: String = handle
        .md()
        .trust_root()
        .key
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let output = tokio::process::Command::new("node")
        .arg("bench-pairing.mjs")
        .arg(handle.md_ws_url())
        .arg(root)
        .arg(handle.control_url())
        .arg(seconds.to_string())
        .current_dir(interop)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("node: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.lines().last() {
        Some(line) if output.status.success() => println!("{line}"),
        _ => {
            return Err(format!(
                "bench-pairing.mjs failed: {stdout} {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    handle.shutdown().await;
    Ok(())
}
