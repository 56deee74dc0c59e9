//! `wa sim`: the wa-sim server, standalone, until Ctrl-C.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use wa_sim::{Config, LocalCa, SeedAccount, SimConfig, SimHandle, SimServer, TlsConfig};

use crate::error::CliError;
use crate::sessions::Sessions;
use crate::style::Style;

pub const SIM_EXAMPLES: &str = "\
Examples:
  wa sim                                   a free port on 127.0.0.1, QR codes scanned on request
  wa sim --listen 127.0.0.1:8080 --auto-scan 2
  wa sim --seed account.json --challenge   your own phone account; restores get a challenge
  # then, in another terminal (the simulated phone scans the code after 2 s):
  wa login --server ws://127.0.0.1:8080/ws --show-to-sim
  # without --auto-scan, scan a code by hand:
  curl -X POST http://127.0.0.1:8080/_sim/scan -H 'content-type: application/json' \\
       -d '{\"qr\": \"<the qr: line of wa login>\"}'
  wa sim --tls --auto-scan 1               wss:// and https:// (what real clients need for
                                           media), certificate from a local CA made on first use
  NODE_EXTRA_CA_CERTS=<the CA file it prints> node your-baileys-script.js
  wa sim --tls-cert chain.pem --tls-key key.pem   TLS with your own certificate

  wa sim --md-state md.json                multi-device phones and linked devices kept in
                                           md.json (0600), so they log in again after a restart
  # a multi-device client (Baileys 7) pairs: the phone scans the QR it shows
  curl -X POST http://127.0.0.1:8080/_sim/md/scan -H 'content-type: application/json' \\
       -d '{\"qr\": \"<the QR string>\"}'

Control API (JSON): GET /_sim/state, GET /_sim/events, POST /_sim/scan, /_sim/qr,
/_sim/unpair, /_sim/config; multi-device: GET /_sim/md/root, POST /_sim/md/scan,
/_sim/md/pair-code, /_sim/md/unlink, GET /_sim/md/devices. Events are printed on standard
error as they happen.";

/// Options of `wa sim`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The simulated phone scans each QR code a client shows after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub auto_scan: Option<f64>,
    /// The phone's account (JSON: wid, pushname, platform, battery, phone, contacts, chats).
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Answer session restores with a challenge first.
    #[arg(long)]
    pub challenge: bool,
    /// Seed the server's RNG (refs, tokens, keys) for reproducible runs.
    #[arg(long, value_name = "N")]
    pub rng_seed: Option<u64>,
    /// Do not print events.
    #[arg(long, short)]
    pub quiet: bool,
    /// Serve TLS (wss://, https://: Baileys uploads media over https only) with a certificate
    /// for localhost, 127.0.0.1 and ::1 from a local CA, made on first use in --tls-ca-dir.
    /// Trust its CA file once (printed at start).
    #[arg(long, conflicts_with = "tls_cert")]
    pub tls: bool,
    /// Where the local CA of --tls lives (default: the data directory + `sim-ca`).
    #[arg(long, value_name = "DIR", requires = "tls")]
    pub tls_ca_dir: Option<PathBuf>,
    /// Serve TLS with this certificate chain (PEM, leaf first) instead of the local CA's.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Keep the multi-device state (root keys, phones, linked devices, their prekeys) in this
    /// file (mode 0600): read back at start, so linked devices log in again after a restart.
    #[arg(long, value_name = "FILE")]
    pub md_state: Option<PathBuf>,
}

/// Where a TLS certificate came from, for the start-up lines.
enum TlsSource {
    /// `--tls`: issued now by this CA, for these hosts.
    LocalCa(Box<LocalCa>, Vec<String>),
    /// `--tls-cert`/`--tls-key`.
    Files(PathBuf),
}

/// The names a local CA's server certificate carries: the loopback names, and the listen
/// address when it is a specific one (the sim names it in its media URLs).
fn certificate_hosts(listen: SocketAddr) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    let ip = listen.ip().to_string();
    if !listen.ip().is_unspecified() && !hosts.contains(&ip) {
        hosts.push(ip);
    }
    hosts
}

/// The TLS settings from the options, if any: the local CA's (made now if needed) or the
/// given files'.
fn tls_config(
    args: &SimArgs,
    data_dir: Option<&Path>,
) -> Result<Option<(TlsConfig, TlsSource)>, CliError> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let tls = TlsConfig::from_pem_files(cert, key)?;
        return Ok(Some((tls, TlsSource::Files(cert.clone()))));
    }
    if !args.tls {
        return Ok(None);
    }
    let dir = match &args.tls_ca_dir {
        Some(dir) => dir.clone(),
        None => Sessions::locate(data_dir)?.root().join("sim-ca"),
    };
    let ca = LocalCa::open_or_create(&dir)?;
    let hosts = certificate_hosts(args.listen);
    let tls = ca.issue(&hosts)?;
    Ok(Some((tls, TlsSource::LocalCa(Box::new(ca), hosts))))
}

/// A duration from a `--auto-scan` value, refusing negative and absurd ones.
pub fn seconds(value: f64, option: &str) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(value).map_err(|e| {
        CliError::usage(
            format!("{option} {value}: {e}"),
            "give a number of seconds, e.g. 1 or 0.5",
        )
    })
}

/// The simulator's core settings from the options.
pub fn server_config(args: &SimArgs) -> Result<Config, CliError> {
    let mut config = Config {
        challenge_on_restore: args.challenge,
        rng_seed: args.rng_seed,
        ..Config::default()
    };
    if let Some(secs) = args.auto_scan {
        config.auto_scan_delay = Some(seconds(secs, "--auto-scan")?);
    }
    if let Some(path) = &args.seed {
        config.accounts = vec![SeedAccount::from_file(path)?];
    }
    Ok(config)
}

/// Starts a simulator on `listen`.
pub async fn start(listen: SocketAddr, server: Config) -> Result<SimHandle, CliError> {
    start_with_tls(listen, server, None, None).await
}

/// Starts a simulator on `listen`, serving TLS when given a certificate and keeping its
/// multi-device state in `md_state` when given.
async fn start_with_tls(
    listen: SocketAddr,
    server: Config,
    tls: Option<TlsConfig>,
    md_state: Option<PathBuf>,
) -> Result<SimHandle, CliError> {
    let config = SimConfig {
        listen,
        server,
        tls,
    };
    Ok(match md_state {
        Some(path) => SimServer::start_with_md_state(config, path).await?,
        None => SimServer::start(config).await?,
    })
}

/// Runs `wa sim`; `data_dir` (from `--data-dir`) holds the local CA of `--tls` by default.
pub async fn run(
    args: SimArgs,
    data_dir: Option<&Path>,
    out: Style,
    err: Style,
) -> Result<(), CliError> {
    let config = server_config(&args)?;
    let account = config.accounts.first().cloned().unwrap_or_default();
    let auto_scan = config.auto_scan_delay;
    let (tls, source) = tls_config(&args, data_dir)?.unzip();
    let handle = start_with_tls(args.listen, config, tls, args.md_state.clone()).await?;
    println!(
        "{}",
        out.bold("wa-sim: a local WhatsApp Web (legacy) server")
    );
    println!(
        "  {}  {}",
        out.dim("WebSocket"),
        out.accent(handle.ws_url())
    );
    println!(
        "  {}  {} (multi-device)",
        out.dim("WebSocket"),
        out.accent(handle.md_ws_url())
    );
    let md_root = handle.md().trust_root();
    let md_root_hex: String = md_root.key.iter().map(|b| format!("{b:02x}")).collect();
    println!(
        "  {}    {md_root_hex} (serial {}; MD clients must trust it, also at GET {}/md/root)",
        out.dim("MD root"),
        md_root.serial,
        handle.control_url()
    );
    println!(
        "  {}   Baileys 7: WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from('{md_root_hex}', 'hex') and waWebSocketUrl: '{}'",
        out.dim("trust it"),
        handle.md_ws_url()
    );
    if let Some(path) = &args.md_state {
        println!(
            "  {}   {} (phones and linked devices survive a restart)",
            out.dim("MD state"),
            path.display()
        );
    }
    println!(
        "  {}    {}",
        out.dim("control"),
        out.accent(handle.control_url())
    );
    println!(
        "  {}     {}/logout",
        out.dim("logout"),
        out.accent(handle.http_url())
    );
    println!(
        "  {}    {} ({}, {})",
        out.dim("account"),
        account.wid,
        account.pushname,
        account.platform
    );
    match &source {
        Some(TlsSource::LocalCa(ca, hosts)) => print_local_ca(ca, hosts, out),
        Some(TlsSource::Files(cert)) => println!(
            "  {}        certificate {} (clients must trust its issuer)",
            out.dim("TLS"),
            cert.display()
        ),
        None => {}
    }
    match auto_scan {
        Some(delay) => println!(
            "  {}  the phone scans each QR after {:.1} s",
            out.dim("auto-scan"),
            delay.as_secs_f64()
        ),
        None => println!(
            "  {}       POST {}/scan {{\"qr\": \"...\"}} (or restart with --auto-scan SECS)",
            out.dim("scan"),
            handle.control_url()
        ),
    }
    if source.is_some() {
        // wa login trusts the web's root certificates only.
        println!(
            "Clients must trust the certificate (above); `wa login` needs a wa sim without TLS."
        );
    } else if auto_scan.is_some() {
        println!(
            "Log in with: wa login --server {} --show-to-sim",
            handle.ws_url()
        );
    } else {
        println!("Log in with: wa login --server {}", handle.ws_url());
    }
    println!("{}", out.dim("Press Ctrl-C to stop."));

    let mut seen = 0;
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            _ = ticker.tick(), if !args.quiet => {
                let events = handle.events();
                // The handle keeps the newest events only; start over if it dropped some.
                if events.len() < seen {
                    seen = 0;
                }
                for event in events.iter().skip(seen) {
                    let line = serde_json::to_string(event).unwrap_or_default();
                    eprintln!("{} {}", err.dim("event"), line);
                }
                seen = events.len();
            }
        }
    }
    eprintln!("stopping");
    handle.shutdown().await;
    Ok(())
}

/// The local CA's lines: where its certificate is and how to trust it.
fn print_local_ca(ca: &LocalCa, hosts: &[String], out: Style) {
    let path = ca.cert_path();
    let path = path.display();
    let made = if ca.created() {
        "made now: trust it once"
    } else {
        "made before"
    };
    println!("  {}    {path}", out.dim("CA file"));
    println!(
        "  {}        certificate for {} by that local CA ({made})",
        out.dim("TLS"),
        hosts.join(", ")
    );
    println!(
        "  {}   Node.js: NODE_EXTRA_CA_CERTS={path}   curl: --cacert {path}",
        out.dim("trust it")
    );
    println!(
        "             Debian/Ubuntu: sudo cp {path} /usr/local/share/ca-certificates/wa-sim.crt && sudo update-ca-certificates"
    );
}
