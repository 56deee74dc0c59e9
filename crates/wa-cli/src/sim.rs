//! `wa sim`: the wa-sim server, standalone, until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use wa_sim::{Config, SeedAccount, SimConfig, SimHandle, SimServer};

use crate::error::CliError;
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

Control API (JSON): GET /_sim/state, GET /_sim/events, POST /_sim/scan, /_sim/qr,
/_sim/unpair, /_sim/config. Events are printed on standard error as they happen.";

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
    let config = SimConfig {
        listen,
        server,
        ..SimConfig::default()
    };
    Ok(SimServer::start(config).await?)
}

/// Runs `wa sim`.
pub async fn run(args: SimArgs, out: Style, err: Style) -> Result<(), CliError> {
    let config = server_config(&args)?;
    let account = config.accounts.first().cloned().unwrap_or_default();
    let auto_scan = config.auto_scan_delay;
    let handle = start(args.listen, config).await?;
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
    println!(
        "  {}    {} (serial {}; MD clients must trust it)",
        out.dim("MD root"),
        md_root
            .key
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        md_root.serial
    );
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
    if auto_scan.is_some() {
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
