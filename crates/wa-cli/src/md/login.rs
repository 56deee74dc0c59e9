//! `wa login --md`: pairs a new multi-device companion (QR drawn in the terminal, or an
//! 8-character pair code for `--pair-code PHONE`), logs in, uploads prekeys, and keeps the state
//! in the session's store (see [`super::store`]). The info file beside it records the server,
//! the trust root and the device JID for `whoami`, `sessions` and `wa serve`.

use std::time::Duration;

use tokio::sync::mpsc;
use wa_client::md::{DeviceEvent, MdDevice, MdDeviceError};

use super::store::MdStore;
use super::{
    DEFAULT_MD_SERVER, MdInfo, SavedRoot, block_on, device_config, trust_root_of, unix_now,
};
use crate::error::CliError;
use crate::login::{DEFAULT_SERVER, LoginArgs, QrDisplay, check_ws_url, http_base};
use crate::sessions::Sessions;
use crate::style::Style;

/// The MD WebSocket URL of a login: `--server`, with the legacy default meaning WhatsApp's MD
/// endpoint.
pub fn server_of(args: &LoginArgs) -> &str {
    if args.server == DEFAULT_SERVER {
        DEFAULT_MD_SERVER
    } else {
        &args.server
    }
}

/// An MD device error as the command reports it.
pub fn device_error(error: MdDeviceError) -> CliError {
    let hint = match &error {
        MdDeviceError::Connection(_) => {
            Some("is the server running and the URL right (--server; a `wa sim` serves /ws/chat)?")
        }
        MdDeviceError::QrExhausted | MdDeviceError::Timeout => {
            Some("run `wa login --md` again and scan the code (or enter the pair code) sooner")
        }
        MdDeviceError::Stopped(_) | MdDeviceError::NotPaired => {
            Some("the phone no longer lists this device: log in again with `wa login --md`")
        }
        MdDeviceError::Pair(_) => Some("the phone refused the pairing; try again"),
        _ => None,
    };
    CliError::Connection {
        message: format!("multi-device: {error}"),
        hint: hint.map(str::to_owned),
    }
}

/// The trust root: `--md-root`, or the simulator's (`--trust-sim`), or WhatsApp's (`None`).
async fn trust_root(args: &LoginArgs, http: &str) -> Result<Option<SavedRoot>, CliError> {
    if let Some(text) = &args.md_root {
        return SavedRoot::parse(text).map(Some);
    }
    if !args.trust_sim {
        return Ok(None);
    }
    let url = format!("{}/_sim/md/root", http.trim_end_matches('/'));
    let fetched = async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        client
            .get(&url)
            .send()
            .await?
            .error_for_status()?
            .json::<serde_json::Value>()
            .await
    }
    .await
    .map_err(|e| CliError::Connection {
        message: format!(
            "cannot read the simulator's root at {url}: {}",
            e.without_url()
        ),
        hint: Some("is `wa sim` running there (--http-base)?".into()),
    })?;
    let root = SavedRoot {
        public_key_hex: fetched["public_key_hex"].as_str().unwrap_or("").to_owned(),
        serial: fetched["serial"]
            .as_u64()
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0),
    };
    root.trust_root(&url)?;
    Ok(Some(root))
}

/// Shows `qr` to a `wa sim` phone, which scans it (`POST <http>/_sim/md/scan`). Problems are
/// reported, not fatal: a person can still scan the code.
async fn scan_on_sim(http: &str, qr: &str, out: Style) {
    let url = format!("{}/_sim/md/scan", http.trim_end_matches('/'));
    let sent = async {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?
            .post(&url)
            .json(&serde_json::json!({ "qr": qr }))
            .send()
            .await
    }
    .await;
    match sent {
        Ok(reply) if reply.status().is_success() => {
            println!("{} shown to the simulated phone", out.dim("qr:"));
        }
        Ok(reply) => eprintln!(
            "{} the simulator refused the QR code ({})",
            out.warn("!"),
            reply.status()
        ),
        Err(e) => eprintln!(
            "{} cannot show the QR code to the simulator at {url}: {}",
            out.warn("!"),
            e.without_url()
        ),
    }
}

/// Prints what the device reports while it logs in; QR codes are drawn.
async fn show_events(
    mut events: mpsc::UnboundedReceiver<DeviceEvent>,
    show_to_sim: Option<String>,
    out: Style,
) -> Result<(), CliError> {
    let mut display = QrDisplay::new(out);
    while let Some(event) = events.recv().await {
        match event {
            DeviceEvent::Qr(code) => {
                display.show_text(&code, None)?;
                if let Some(http) = &show_to_sim {
                    scan_on_sim(http, &code, out).await;
                }
            }
            DeviceEvent::Paired(jid) => {
                println!("{} paired as {}", out.ok("✓"), out.accent(jid.to_string()));
            }
            DeviceEvent::PreKeysUploaded(count) => {
                println!("{} {count} prekeys uploaded", out.dim("·"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Runs `wa login --md`. Call with the runtime's handle entered, from synchronous code (see
/// [`super::block_on`]).
pub fn login(
    args: &LoginArgs,
    sessions: &Sessions,
    store_url: Option<&str>,
    out: Style,
) -> Result<(), CliError> {
    let timeout = crate::sim::seconds(args.timeout, "--timeout")?;
    let server = server_of(args).to_owned();
    check_ws_url(&server)?;
    let http = args.http_base.clone().unwrap_or_else(|| http_base(&server));
    let choice = MdStore::choose(sessions, &args.session, store_url)?;
    // The lease comes first: a second process stops here, before touching anything.
    let store = choice.open(sessions, &args.session)?;
    let root = block_on(trust_root(args, &http))?;
    let config = device_config(&server, trust_root_of(root.as_ref())?, timeout);
    let mut device = MdDevice::open_store(config.clone(), std::sync::Arc::clone(&store))
        .map_err(device_error)?;
    if device.credentials().is_paired() {
        if !args.force {
            return Err(CliError::usage(
                format!(
                    "MD session {:?} is already paired ({})",
                    args.session,
                    device
                        .credentials()
                        .account
                        .as_ref()
                        .map_or_else(String::new, |a| a.jid.to_string())
                ),
                format!(
                    "pass --force to pair a new device in its place, or pick another name with \
                     --session (its store: {})",
                    choice.describe()
                ),
            ));
        }
        // A fresh identity in the same store: clear the old credentials and prekeys first.
        use wa_client::md::CredentialStore as _;
        wa_client::md::WaStoreCredentials(std::sync::Arc::clone(&store))
            .clear()
            .map_err(|e| CliError::Store {
                store: choice.describe(),
                message: e.to_string(),
            })?;
        drop(device);
        device =
            MdDevice::open_store(config, std::sync::Arc::clone(&store)).map_err(device_error)?;
    }
    println!("Connecting to {} ...", out.accent(&server));
    let (tx, rx) = mpsc::unbounded_channel();
    let scanner = (args.show_to_sim && args.pair_code.is_none()).then(|| http.clone());
    let shown = show_events(rx, scanner, out);
    let run = async {
        let result = tokio::time::timeout(timeout, async {
            if let Some(phone) = &args.pair_code {
                let code = device.pair_with_code(phone, &tx).await?;
                println!(
                    "{} on the phone: WhatsApp > Linked devices > Link with phone number, enter {}",
                    out.bold("Pair code"),
                    out.accent(format!("{}-{}", &code[..4], &code[4..]))
                );
                println!("{} {code}", out.dim("code:"));
                device.finish_login(&tx).await
            } else {
                device.login(&tx).await
            }
        })
        .await;
        drop(tx);
        match result {
            Ok(done) => done.map_err(device_error),
            Err(_) => Err(CliError::Connection {
                message: "timed out waiting for the phone".into(),
                hint: Some("raise --timeout, or scan / enter the code sooner".into()),
            }),
        }
    };
    let (result, shown) = block_on(async { tokio::join!(run, shown) });
    block_on(device.close());
    result?;
    shown?;
    let creds = device.credentials();
    let account = creds.account.as_ref().ok_or_else(|| CliError::Connection {
        message: "the login ended without pairing".into(),
        hint: Some("run `wa login --md` again".into()),
    })?;
    let info = MdInfo {
        server,
        jid: account.jid.to_string(),
        lid: account.lid.as_ref().map(ToString::to_string),
        pushname: creds.push_name.clone(),
        platform: creds.platform.clone(),
        store: choice.describe(),
        root,
        logged_in_at: unix_now(),
    };
    sessions.save_md_info(&args.session, &info)?;
    println!(
        "{} Logged in as {} ({})",
        out.ok("✓"),
        out.bold(info.pushname.as_deref().unwrap_or("?")),
        out.accent(&info.jid)
    );
    println!(
        "  {}  {} (multi-device) → {}",
        out.dim("session"),
        args.session,
        info.store
    );
    Ok(())
}

/// The store of an MD session that already exists: PostgreSQL when its info says so (the URL
/// must then be given again, as it may hold a password and is not saved), else its SQLite file.
pub fn existing_store(
    sessions: &Sessions,
    name: &str,
    info: &MdInfo,
    store_url: Option<&str>,
) -> Result<MdStore, CliError> {
    let in_postgres = info.store.starts_with("postgres");
    if in_postgres && store_url.is_none() {
        return Err(CliError::usage(
            format!(
                "MD session {name:?} keeps its state in PostgreSQL ({})",
                info.store
            ),
            "pass its URL with --store or WA_STORE_URL",
        ));
    }
    MdStore::choose(sessions, name, store_url)
}

/// `wa whoami` for an MD session (`--check`: log in with the saved credentials and close).
pub fn whoami(
    name: &str,
    info: &MdInfo,
    json: bool,
    check: bool,
    sessions: &Sessions,
    store_url: Option<&str>,
    out: Style,
) -> Result<(), CliError> {
    if json {
        let value = serde_json::json!({
            "session": name,
            "engine": "md",
            "jid": info.jid,
            "store": info.store,
            "info": info,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        let line = |label: &str, value: &str| {
            println!("{} {value}", out.dim(format!("{label:<10}")));
        };
        line("session", &out.bold(name));
        line("engine", "multi-device");
        line("jid", &out.accent(&info.jid));
        if let Some(lid) = &info.lid {
            line("lid", lid);
        }
        if let Some(pushname) = &info.pushname {
            line("pushname", pushname);
        }
        if let Some(platform) = &info.platform {
            line("platform", platform);
        }
        line("server", &info.server);
        line("store", &info.store);
    }
    if !check {
        return Ok(());
    }
    let choice = existing_store(sessions, name, info, store_url)?;
    let runtime = crate::runtime()?;
    let _entered = runtime.enter();
    let store = choice.open(sessions, name)?;
    let config = device_config(
        &info.server,
        trust_root_of(info.root.as_ref())?,
        Duration::from_secs(30),
    );
    let mut device = MdDevice::open_store(config, store).map_err(device_error)?;
    let (tx, _rx) = mpsc::unbounded_channel();
    let restored = block_on(async {
        let result = tokio::time::timeout(Duration::from_secs(40), device.restore(&tx)).await;
        device.close().await;
        result
    });
    match restored {
        Ok(Ok(())) => {
            println!(
                "{} {} accepts the device: logged in as {}",
                out.ok("✓"),
                info.server,
                out.accent(&info.jid)
            );
            Ok(())
        }
        Ok(Err(error)) => Err(device_error(error)),
        Err(_) => Err(CliError::Connection {
            message: "timed out logging in".into(),
            hint: Some("is the server reachable? retry".into()),
        }),
    }
}
