//! What the three examples share: argument parsing, building and connecting a client, and the
//! offline setup (an in-process wa-sim with two accounts: "me", the example's account, and a
//! "friend" driven by a second client to produce traffic).
//!
//! Not an example itself: cargo only builds `examples/*.rs` and `examples/*/main.rs`.

// Each example uses a different part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use wa_client::legacy::chat::{ChatEvent, MessageBatch};
use wa_client::legacy::{Client, ClientEvent, FileStore, MediaClient};
use wa_core::client::ConnInfo;
use wa_proto::{Message, WebMessageInfo};
use wa_sim::{Config, SeedAccount, SimConfig, SimHandle, SimServer};

/// Every error an example reports: they only print it.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The account the example logs into when it runs offline (wa-sim's default account).
pub const ME: &str = "15550100001@c.us";
/// The second simulated account, which sends the example its demo messages.
pub const FRIEND: &str = "15550100002@c.us";

/// How long to wait for any one step before giving up (the sim answers in milliseconds).
const PATIENCE: Duration = Duration::from_secs(30);

/// The options every example takes.
#[derive(Clone, Debug, Default)]
pub struct Common {
    /// `--server URL`: a WebSocket URL (`ws://host:port/ws`); none runs an in-process wa-sim.
    pub server: Option<String>,
    /// `--session FILE`: where the session is kept, so a second run restores it (no QR).
    pub session: Option<PathBuf>,
}

/// Splits `args` into the common options and the rest (`--flag value` pairs, in order).
/// Every option takes a value, which keeps the parsing to a few lines of std.
pub fn parse(args: &[String]) -> Result<(Common, Vec<(String, String)>), Error> {
    let mut common = Common::default();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value (see --help)"))?
            .clone();
        match flag.as_str() {
            "--server" => common.server = Some(value),
            "--session" => common.session = Some(value.into()),
            _ if flag.starts_with("--") => rest.push((flag.clone(), value)),
            _ => return Err(format!("unexpected argument {flag:?} (see --help)").into()),
        }
    }
    Ok((common, rest))
}

/// Whether the user asked for help.
pub fn wants_help(args: &[String]) -> bool {
    args.iter().any(|a| a == "--help" || a == "-h")
}

/// Starts wa-sim on a free loopback port with our account and the friend's. The phone scans a
/// QR shortly after it is presented (`auto_scan_delay`), as a person holding it up would.
pub async fn start_sim() -> Result<SimHandle, Error> {
    let friend = SeedAccount {
        wid: FRIEND.to_owned(),
        pushname: "Alice".to_owned(),
        contacts: Vec::new(),
        chats: Vec::new(),
        ..SeedAccount::default()
    };
    let sim = SimServer::start(SimConfig {
        server: Config {
            accounts: vec![SeedAccount::default(), friend],
            auto_scan_delay: Some(Duration::from_millis(200)),
            ..Config::default()
        },
        ..SimConfig::default()
    })
    .await?;
    eprintln!("started wa-sim at {}", sim.ws_url());
    Ok(sim)
}

/// A client for `server` (a WebSocket URL), or for the simulator. The sim serves media over
/// plain HTTP, which the default media client refuses.
pub fn build(
    server: Option<&str>,
    sim: Option<&SimHandle>,
    session: Option<&PathBuf>,
) -> Result<Client, Error> {
    let mut builder = Client::builder().browser("wa examples", "Chrome", "0.1");
    if let Some(sim) = sim {
        builder = builder
            .server_url(sim.ws_url())
            .http_base_url(sim.http_url())
            .media_client(MediaClient::new().insecure_http());
    } else if let Some(url) = server {
        builder = builder.server_url(url);
    }
    if let Some(path) = session {
        // Keeps the outbox next to the session too: nothing sent is lost across restarts.
        builder = builder.durable_store(FileStore::new(path));
    }
    Ok(builder.build()?)
}

/// Logs `client` in: restores a stored session if there is one, otherwise shows QR codes, to
/// the simulated phone when there is a sim (as `wa login --show-to-sim` does), else printed.
/// Status lines go to stderr, leaving stdout to an example's output.
pub async fn connect(client: &mut Client, sim: Option<&SimHandle>) -> Result<ConnInfo, Error> {
    if client.session_data()?.is_some() {
        eprintln!("restoring the saved session");
        client.restore()?;
    } else {
        client.login()?;
    }
    loop {
        match next_event(client).await? {
            ClientEvent::Qr(qr) => match sim {
                Some(sim) => {
                    sim.present_qr(&qr.qr_string())?;
                    eprintln!("QR code presented to the simulated phone");
                }
                None => eprintln!("scan this QR code with your phone: {}", qr.qr_string()),
            },
            ClientEvent::Connected(info) => {
                eprintln!("logged in as {}", info.wid);
                return Ok(info);
            }
            ClientEvent::Stopped(reason) => return Err(format!("login failed: {reason:?}").into()),
            _ => {}
        }
    }
}

/// The next event, or an error when the client stopped or nothing came for too long.
pub async fn next_event(client: &mut Client) -> Result<ClientEvent, Error> {
    match tokio::time::timeout(PATIENCE, client.next_event()).await {
        Ok(Some(event)) => Ok(event),
        Ok(None) => Err("the client's event stream ended".into()),
        Err(_) => Err(format!("no event for {PATIENCE:?}").into()),
    }
}

/// Logs a second client into the friend's account of `sim` (its phone scans on command).
pub async fn friend(sim: &SimHandle) -> Result<Client, Error> {
    let mut client = build(None, Some(sim), None)?;
    client.login()?;
    loop {
        match next_event(&mut client).await? {
            ClientEvent::Qr(qr) => {
                sim.with_server(|s, now| s.scan_as(now, &qr.qr_string(), Some(FRIEND)))?;
            }
            ClientEvent::Connected(_) => return Ok(client),
            ClientEvent::Stopped(reason) => return Err(format!("friend: {reason:?}").into()),
            _ => {}
        }
    }
}

/// New messages from others in a live event (not our own, not the history sent at login).
pub fn incoming(event: &ClientEvent) -> Vec<WebMessageInfo> {
    match event {
        ClientEvent::Chat(ChatEvent::Messages {
            batch: MessageBatch::Relay,
            messages,
            ..
        }) => messages
            .iter()
            .filter(|m| m.key.from_me != Some(true))
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

/// The MIME type and (documents) file name of a media message's content.
pub fn mimetype_and_name(message: &Message) -> (Option<String>, Option<String>) {
    let m = message.content();
    let mimetype = m
        .image_message
        .as_ref()
        .and_then(|x| x.mimetype.clone())
        .or_else(|| m.video_message.as_ref().and_then(|x| x.mimetype.clone()))
        .or_else(|| m.audio_message.as_ref().and_then(|x| x.mimetype.clone()))
        .or_else(|| m.sticker_message.as_ref().and_then(|x| x.mimetype.clone()))
        .or_else(|| m.document_message.as_ref().and_then(|x| x.mimetype.clone()));
    let file_name = m
        .document_message
        .as_ref()
        .and_then(|x| x.file_name.clone());
    (mimetype, file_name)
}
