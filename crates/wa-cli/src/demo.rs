//! `wa demo`: the offline demo. A wa-sim server runs in-process; a client logs in by QR (the
//! simulated phone scans it), restores its session through a challenge, syncs chats and
//! contacts, exchanges a text and an image with the echo contact (with delivered and read
//! receipts), logs out, and is refused afterwards. Needs no network and no phone.

use std::time::Duration;

use clap::Args;
use sha2::{Digest as _, Sha256};
use wa_client::legacy::chat::compose::{MediaKind, MediaOptions};
use wa_client::legacy::chat::{AckLevel, ChatEvent, MessageBatch};
use wa_client::legacy::{Client, ClientEvent};
use wa_core::client::{CloseReason, Event};
use wa_core::session::{MemoryStore, SessionStore as _};
use wa_proto::WebMessageInfo;
use wa_sim::{Config, LogoutVia, SimEvent, SimHandle};

use crate::error::CliError;
use crate::login::{self, QrDisplay};
use crate::sessions::Sessions;
use crate::style::Style;

pub const DEMO_EXAMPLES: &str = "\
Examples:
  wa demo                 the whole demo, about two seconds
  wa demo --keep          keep the temporary data directory and print where it is
  NO_COLOR=1 wa demo      plain text

What it shows: a QR login, the Conn info, the session keys being derived (never printed),
an encrypted binary frame decrypted and decoded to JSON, the session saved to a file,
a restore by takeover answering a challenge, the chat list and contacts, a text and an
image exchanged with the echo contact (delivered and read receipts, the image decrypted
and compared), a logout, and the restore refused with 401.";

/// Options of `wa demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Keep the temporary data directory (its path is printed).
    #[arg(long)]
    pub keep: bool,
    /// How long the simulated phone takes to scan the QR code, in seconds.
    #[arg(long, default_value_t = 0.5, value_name = "SECS")]
    pub scan_delay: f64,
}

const SESSION: &str = "demo";
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

fn demo_error(message: impl Into<String>) -> CliError {
    CliError::Demo(message.into())
}

struct Printer {
    out: Style,
    step: usize,
}

impl Printer {
    fn step(&mut self, title: &str) {
        self.step += 1;
        println!();
        println!("{}", self.out.bold(format!("{}. {title}", self.step)));
    }

    fn ok(&self, text: impl std::fmt::Display) {
        println!("   {} {text}", self.out.ok("✓"));
    }

    fn note(&self, text: impl std::fmt::Display) {
        println!("   {}", self.out.dim(text));
    }

    fn field(&self, label: &str, value: impl std::fmt::Display) {
        println!("   {} {value}", self.out.dim(format!("{label:<9}")));
    }
}

async fn sim_event(
    sim: &SimHandle,
    what: &str,
    pred: impl FnMut(&SimEvent) -> bool,
) -> Result<SimEvent, CliError> {
    sim.wait_for_event(STEP_TIMEOUT, pred)
        .await
        .ok_or_else(|| demo_error(format!("the simulator never reported {what}")))
}

/// Runs `wa demo`.
pub async fn run(args: DemoArgs, out: Style) -> Result<(), CliError> {
    let scan_delay = crate::sim::seconds(args.scan_delay, "--scan-delay")?;
    let mut p = Printer { out, step: 0 };
    println!(
        "{}",
        out.bold("wa demo: an offline WhatsApp Web (legacy) session, end to end")
    );

    p.step("Start a local WhatsApp Web server (wa-sim) with a simulated phone");
    let config = Config {
        auto_scan_delay: Some(scan_delay),
        challenge_on_restore: true,
        ..Config::default()
    };
    let account = config.accounts.first().cloned().unwrap_or_default();
    let echo = config
        .echo_jid
        .clone()
        .ok_or_else(|| demo_error("the simulator has no echo contact"))?;
    let sim = crate::sim::start(([127, 0, 0, 1], 0).into(), config).await?;
    p.field("server", out.accent(sim.ws_url()));
    p.field("phone", format!("{} ({})", account.wid, account.pushname));
    let data_dir = tempfile::Builder::new()
        .prefix("wa-demo-")
        .tempdir()
        .map_err(|source| CliError::Io {
            action: "create a temporary directory in",
            path: std::env::temp_dir(),
            source,
        })?;
    let sessions = Sessions::locate(Some(data_dir.path()))?;
    sessions.ensure_dir()?;
    let path = sessions.path(SESSION)?;
    let result = demo(&mut p, &sim, &sessions, &path, &echo).await;
    sim.shutdown().await;
    if args.keep {
        let kept = data_dir.keep();
        println!();
        println!("Data directory kept: {}", kept.display());
    }
    result?;
    println!();
    println!("{}", out.ok(out.bold("Demo complete.")));
    Ok(())
}

async fn demo(
    p: &mut Printer,
    sim: &SimHandle,
    sessions: &Sessions,
    path: &std::path::Path,
    echo: &str,
) -> Result<(), CliError> {
    let out = p.out;
    let ws = sim.ws_url();
    let http = sim.http_url();

    p.step("Log in by QR code");
    let mut client = login::build_client(&ws, &http, path)?;
    client.login().map_err(login::client_error)?;
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    let mut display = QrDisplay::new(out);
    let info = loop {
        match login::next_event(&mut client, deadline, "the login").await? {
            ClientEvent::Qr(qr) => {
                p.note("QR code shown (ref, our public key, client id):");
                display.show(&qr)?;
                sim.present_qr(&qr.qr_string())
                    .map_err(|e| demo_error(format!("the phone cannot see the QR: {e}")))?;
                p.note("the simulated phone points its camera at the code...");
            }
            ClientEvent::Connected(info) => break info,
            ClientEvent::Stopped(reason) => return Err(login::close_error(&reason)),
            _ => {}
        }
    };
    sim_event(sim, "the scan", |e| matches!(e, SimEvent::Paired { .. })).await?;
    p.ok("QR scanned by the phone; the server sent Conn");
    p.field("wid", out.accent(&info.wid));
    p.field("pushname", info.pushname.as_deref().unwrap_or("?"));
    let phone = [
        &info.phone.device_manufacturer,
        &info.phone.device_model,
        &info.phone.os_version,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect::<Vec<_>>()
    .join(" ");
    p.field(
        "phone",
        format!("{phone} ({})", info.platform.as_deref().unwrap_or("?")),
    );
    p.field(
        "battery",
        info.battery.map_or("?".to_owned(), |b| format!("{b}%"))
            + if info.plugged == Some(true) {
                ", charging"
            } else {
                ""
            },
    );

    p.step("Derive the session keys");
    let data = sessions.load(SESSION)?;
    p.ok("keys derived: encKey and macKey from Conn's 144-byte secret");
    p.note("X25519(our private key, the phone's public key) → HKDF-SHA256 → HMAC check → AES-CBC");
    let same = sim.session_keys(&data.client_id).is_some_and(|server| {
        server.enc_key() == &data.enc_key && server.mac_key() == &data.mac_key
    });
    if !same {
        return Err(demo_error("the client's keys differ from the server's"));
    }
    p.ok("the client and the server hold the same keys (key bytes are never printed)");

    p.step("Receive an encrypted binary frame");
    let (tag, node) = loop {
        match login::next_event(&mut client, deadline, "a binary frame").await? {
            ClientEvent::Protocol(Event::Node { tag, node }) => break (tag, node),
            ClientEvent::Stopped(reason) => return Err(login::close_error(&reason)),
            _ => {}
        }
    };
    p.ok(format!(
        "binary frame {} decrypted (HMAC-SHA256 verified, AES-256-CBC) and decoded:",
        out.accent(tag.as_str())
    ));
    print_node(p, &node, 12);

    p.step("Save the session");
    let info = login::session_info(&ws, &info);
    sessions.save_info(SESSION, &info)?;
    p.ok(format!("session saved to {}", path.display()));
    p.field("mode", file_mode(path));
    p.note("client id, private key, client/server/browser tokens, keys, wid");
    client.shutdown().await;
    p.note("disconnected; the session stays on disk");

    p.step("Restore the session by takeover (the server asks for a challenge)");
    let mut client = login::build_client(&ws, &http, path)?;
    client.restore().map_err(login::client_error)?;
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    let restored = loop {
        match login::next_event(&mut client, deadline, "the restore").await? {
            ClientEvent::ChallengeAnswered => {
                p.ok("challenge received and answered with HMAC-SHA256(macKey, challenge)");
            }
            ClientEvent::Connected(info) => break info,
            ClientEvent::Stopped(reason) => return Err(login::close_error(&reason)),
            _ => {}
        }
    };
    let event = sim_event(sim, "the restore", |e| {
        matches!(e, SimEvent::LoggedIn { restored: true, .. })
    })
    .await?;
    let challenged = matches!(
        event,
        SimEvent::LoggedIn {
            challenged: true,
            ..
        }
    );
    p.ok(format!(
        "restored as {} without a QR code (server: challenged = {challenged})",
        out.accent(&restored.wid)
    ));

    chat_with_echo(p, &mut client, echo).await?;

    p.step("Log out");
    let saved = sessions.load(SESSION)?;
    client.logout().await.map_err(login::client_error)?;
    sim_event(sim, "the logout", |e| {
        matches!(
            e,
            SimEvent::LoggedOut {
                via: LogoutVia::Goodbye,
                ..
            }
        )
    })
    .await?;
    p.ok("logged out with goodbye on the socket; the server unpaired the session");
    if path.exists() {
        return Err(demo_error(
            "the session file is still there after the logout",
        ));
    }
    sessions.remove(SESSION)?;
    p.ok("the client deleted the session file");

    p.step("Try to restore the logged-out session (from a copy kept for the demo)");
    let store = MemoryStore::new();
    store
        .save(&saved)
        .map_err(|e| demo_error(format!("cannot copy the session: {e}")))?;
    let mut client = Client::builder()
        .server_url(&ws)
        .http_base_url(&http)
        .store(store)
        .reconnect(false)
        .build()
        .map_err(login::client_error)?;
    match login::restore(&mut client, STEP_TIMEOUT).await {
        login::Restored::Refused(CloseReason::Unpaired { status }) => {
            p.ok(format!(
                "restore refused with {status}: the server forgot the session, a new QR login is needed"
            ));
        }
        login::Restored::Refused(other) => {
            return Err(demo_error(format!(
                "the restore was refused, but not as expected: {other:?}"
            )));
        }
        login::Restored::Connected(_) => {
            return Err(demo_error("the server accepted a logged-out session"));
        }
        login::Restored::Failed(error) => return Err(error),
    }
    client.shutdown().await;
    Ok(())
}

/// Chats, contacts, then a text and an image to the echo contact, with receipts.
async fn chat_with_echo(p: &mut Printer, client: &mut Client, echo: &str) -> Result<(), CliError> {
    let out = p.out;
    p.step("Sync chats and contacts");
    let chats = client.chats().await.map_err(login::client_error)?;
    p.ok(format!("{} chats", chats.len()));
    for chat in &chats {
        let unread = match chat.count {
            0 => String::new(),
            n if n < 0 => "  (marked unread)".to_owned(),
            n => format!("  ({n} unread)"),
        };
        p.note(format!(
            "{:<28} {}{unread}",
            chat.jid,
            chat.name.as_deref().unwrap_or("")
        ));
    }
    let contacts = client.contacts().await.map_err(login::client_error)?;
    p.ok(format!("{} contacts", contacts.len()));
    for contact in &contacts {
        p.note(format!(
            "{:<28} {}",
            contact.jid,
            contact
                .name
                .as_deref()
                .or(contact.notify.as_deref())
                .unwrap_or("")
        ));
    }

    p.step("Talk to the echo contact");
    let text = "Hello from wa!";
    let sent = client
        .send_text(echo, text)
        .await
        .map_err(login::client_error)?;
    p.ok(format!(
        "sent {text:?} to {} as {} (the server acked it)",
        out.accent(echo),
        sent.id
    ));
    let reply = await_echo(p, client, echo, &sent.id, |m| {
        m.message
            .as_ref()
            .and_then(|b| b.text_content())
            .map(str::to_owned)
    })
    .await?;
    if reply.1 != text {
        return Err(demo_error(format!(
            "the echo said {:?}, not {text:?}",
            reply.1
        )));
    }
    p.ok(format!("reply from the echo contact: {:?}", reply.1));
    client
        .read(echo, &reply.0.key)
        .await
        .map_err(login::client_error)?;
    p.ok("marked the chat read (the echo's message gets blue ticks)");

    p.step("Send an image");
    let image = crate::serve::png::qr_png("https://example.invalid/wa-demo")
        .map_err(|e| demo_error(format!("cannot draw the demo image: {e}")))?;
    let options = MediaOptions {
        mimetype: Some("image/png".into()),
        caption: Some("a picture from wa demo".into()),
        ..MediaOptions::default()
    };
    let sent = client
        .send_media(echo, MediaKind::Image, &image, options)
        .await
        .map_err(login::client_error)?;
    p.ok(format!(
        "image encrypted (AES-256-CBC, HMAC-SHA256), uploaded to the media host and sent as {}",
        sent.id
    ));
    p.field("sha256", hex::encode(Sha256::digest(&image)));
    let (echoed, _) = await_echo(p, client, echo, &sent.id, |m| {
        m.message
            .as_ref()
            .and_then(|b| b.image_message.as_ref())
            .map(|_| ())
    })
    .await?;
    let downloaded = client
        .download_media(&echoed)
        .await
        .map_err(login::client_error)?;
    if downloaded != image {
        return Err(demo_error("the echoed image differs from the one sent"));
    }
    p.ok(format!(
        "the echo sent it back; downloaded, MAC and hashes verified, decrypted: {} bytes, same sha256",
        downloaded.len()
    ));
    Ok(())
}

/// Waits for the delivered and read receipts of `sent_id` and for the echo's reply, which
/// `reply` recognises; prints the receipts as they come.
async fn await_echo<T>(
    p: &Printer,
    client: &mut Client,
    echo: &str,
    sent_id: &str,
    reply: impl Fn(&WebMessageInfo) -> Option<T>,
) -> Result<(WebMessageInfo, T), CliError> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    let (mut delivered, mut read, mut answer) = (false, false, None);
    while !(delivered && read && answer.is_some()) {
        match login::next_event(client, deadline, "the echo contact").await? {
            ClientEvent::Chat(ChatEvent::Ack(ack)) if ack.ids.iter().any(|id| id == sent_id) => {
                if ack.level >= AckLevel::Delivered && !delivered {
                    delivered = true;
                    p.ok("delivered to the echo contact's phone (two grey ticks)");
                }
                if ack.level >= AckLevel::Read && !read {
                    read = true;
                    p.ok("read by the echo contact (two blue ticks)");
                }
            }
            ClientEvent::Chat(ChatEvent::Messages {
                batch: MessageBatch::Relay,
                messages,
                ..
            }) => {
                for m in messages {
                    let from_echo = m.key.from_me != Some(true)
                        && m.key
                            .remote_jid
                            .as_deref()
                            .map(wa_client::legacy::chat::normalize_jid)
                            == Some(echo.to_owned());
                    if from_echo && answer.is_none() {
                        if let Some(value) = reply(&m) {
                            answer = Some((m, value));
                        }
                    }
                }
            }
            ClientEvent::Stopped(reason) => return Err(login::close_error(&reason)),
            _ => {}
        }
    }
    answer.ok_or_else(|| demo_error("no reply from the echo contact"))
}

/// The node's JSON form, one child per line.
fn print_node(p: &Printer, node: &wa_binary::Node, max_children: usize) {
    let children = node.child_nodes();
    if children.is_empty() {
        println!("     {}", wa_binary::json::to_string(node));
        return;
    }
    let head = wa_binary::Node {
        tag: node.tag.clone(),
        attrs: node.attrs.clone(),
        content: wa_binary::Content::None,
    };
    let head = wa_binary::json::to_string(&head);
    // `["tag",{attrs},null]` → `["tag",{attrs},[`
    let open = head.strip_suffix("null]").unwrap_or(&head);
    println!("     {open}[");
    for (i, child) in children.iter().take(max_children).enumerate() {
        let comma = if i + 1 < children.len() { "," } else { "" };
        println!("       {}{comma}", wa_binary::json::to_string(child));
    }
    if children.len() > max_children {
        p.note(format!("  … {} more", children.len() - max_children));
    }
    println!("     ]]");
}

fn file_mode(path: &std::path::Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(metadata) = std::fs::metadata(path) {
            return format!(
                "{:04o} (owner read/write only)",
                metadata.permissions().mode() & 0o777
            );
        }
    }
    let _ = path;
    "?".to_owned()
}
