//! A standalone wa-sim server.
//!
//! ```text
//! cargo run -p wa-sim --example sim -- [--listen 127.0.0.1:8080] [--auto-scan-ms 1000]
//!                                      [--seed-file account.json]... [--challenge] [--rng-seed N]
//!                                      [--tls-cert chain.pem --tls-key key.pem | --tls-ca DIR]
//! ```
//!
//! `--tls-ca DIR` serves TLS with a certificate for localhost, 127.0.0.1 and ::1 from the local
//! CA in DIR (made there on first use; see [`wa_sim::LocalCa`]) and prints `ca_file=` to trust.
//! Prints the WebSocket URL and the control URL, then serves until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use wa_sim::{Config, LocalCa, SeedAccount, SimConfig, SimServer, TlsConfig};

fn usage(problem: &str) -> ! {
    eprintln!("{problem}");
    eprintln!(
        "usage: sim [--listen ADDR] [--auto-scan-ms MS] [--seed-file FILE] [--challenge] [--rng-seed N] [--tls-cert PEM --tls-key PEM | --tls-ca DIR]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut server = Config::default();
    let mut seed_files: Vec<PathBuf> = Vec::new();
    let mut tls_cert: Option<PathBuf> = None;
    let mut tls_key: Option<PathBuf> = None;
    let mut tls_ca: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--listen" => {
                listen = value("--listen")
                    .parse()
                    .unwrap_or_else(|e| usage(&format!("--listen: {e}")));
            }
            "--auto-scan-ms" => {
                let ms: u64 = value("--auto-scan-ms")
                    .parse()
                    .unwrap_or_else(|e| usage(&format!("--auto-scan-ms: {e}")));
                server.auto_scan_delay = Some(Duration::from_millis(ms));
            }
            "--seed-file" => seed_files.push(PathBuf::from(value("--seed-file"))),
            "--challenge" => server.challenge_on_restore = true,
            "--tls-cert" => tls_cert = Some(PathBuf::from(value("--tls-cert"))),
            "--tls-key" => tls_key = Some(PathBuf::from(value("--tls-key"))),
            "--tls-ca" => tls_ca = Some(PathBuf::from(value("--tls-ca"))),
            "--rng-seed" => {
                server.rng_seed = Some(
                    value("--rng-seed")
                        .parse()
                        .unwrap_or_else(|e| usage(&format!("--rng-seed: {e}"))),
                );
            }
            "-h" | "--help" => usage("wa-sim: a local WhatsApp Web (legacy) server"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    // Each --seed-file adds an account; the first scans QR codes unless told otherwise.
    if !seed_files.is_empty() {
        server.accounts = seed_files
            .iter()
            .map(|path| SeedAccount::from_file(path).unwrap_or_else(|e| usage(&e.to_string())))
            .collect();
    }
    let mut ca_file = None;
    let tls = match (tls_cert, tls_key, tls_ca) {
        (Some(cert), Some(key), None) => match TlsConfig::from_pem_files(&cert, &key) {
            Ok(tls) => Some(tls),
            Err(error) => usage(&error.to_string()),
        },
        (None, None, Some(dir)) => {
            let hosts = ["localhost", "127.0.0.1", "::1"].map(String::from);
            match LocalCa::open_or_create(&dir).and_then(|ca| {
                ca_file = Some(ca.cert_path());
                ca.issue(&hosts)
            }) {
                Ok(tls) => Some(tls),
                Err(error) => usage(&error.to_string()),
            }
        }
        (None, None, None) => None,
        (_, _, Some(_)) => usage("--tls-ca replaces --tls-cert and --tls-key"),
        _ => usage("--tls-cert and --tls-key go together"),
    };
    let handle = match SimServer::start(SimConfig {
        listen,
        server,
        tls,
    })
    .await
    {
        Ok(handle) => handle,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1)
        }
    };
    println!("ws_url={}", handle.ws_url());
    println!("control_url={}", handle.control_url());
    println!("logout_url={}/logout", handle.http_url());
    if let Some(ca_file) = ca_file {
        println!("ca_file={}", ca_file.display());
    }
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
}
