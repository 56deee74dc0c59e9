//! A chat history exporter: pages backwards through one chat's history and writes it as JSON,
//! one object per message, oldest first.
//!
//! ```text
//! cargo run -p wa-client --example history_export                  # offline demo against wa-sim
//! cargo run -p wa-client --example history_export -- --server ws://127.0.0.1:8080/ws \
//!     --session me.json --chat 15550100002@c.us --out chat.json --page 50
//! ```

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;

use common::{Error, FRIEND, ME};
use serde_json::{Value, json};
use wa_client::legacy::Client;
use wa_client::legacy::chat::compose::{MediaKind, MediaOptions, media_ref};
use wa_client::legacy::chat::request::Direction;
use wa_client::legacy::chat::{MessageKind, normalize_jid};
use wa_proto::{MessageKey, Status, WebMessageInfo};

const HELP: &str = "\
history_export: writes a chat's history as a JSON array, oldest message first.

Options:
  --server URL        a WhatsApp Web server; without it an in-process wa-sim runs and a short
                      conversation with a second simulated account is exported
  --session FILE      keep the session in FILE; the next run restores it without a QR code
  --chat JID          the chat (required with --server; offline: the demo account)
  --out FILE          where to write the JSON (default: history.json; - for stdout)
  --page N            messages per history request (default 50)
  --limit N           stop after N messages (default: the whole history)
  --before ID         start before this message (someone else's; --before-mine for ours)
  --before-mine ID    start before this message of ours";

/// The offline demo conversation: (sent by us?, text). The friend's third message is an
/// image with this text as its caption.
pub const DEMO_CONVERSATION: [(bool, &str); 8] = [
    (false, "hi! are we still on for friday?"),
    (true, "yes, 7pm"),
    (false, "great"),
    (false, "the place, from last time"),
    (true, "looks nice"),
    (true, "see you there"),
    (false, "👍"),
    (true, "bring the photos"),
];

/// Which demo message is sent as an image with its text as the caption.
pub const DEMO_IMAGE_AT: usize = 3;

/// The demo image's content (not a real JPEG: encryption and hashes don't care).
pub fn demo_photo() -> Vec<u8> {
    (0..20_000u32).map(|i| (i % 251) as u8).collect()
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    /// The exported messages, oldest first (what was written).
    pub messages: Vec<Value>,
    /// How many history requests it took.
    pub pages: usize,
    /// Where the JSON went (`None`: stdout).
    pub out: Option<PathBuf>,
    /// Offline: the ids of the demo conversation, in the order they were sent.
    pub demo_ids: Vec<String>,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if common::wants_help(&args) {
        println!("{HELP}");
        return;
    }
    match run(&args).await {
        Ok(s) => eprintln!("done: {} messages in {} pages", s.messages.len(), s.pages),
        Err(e) => {
            eprintln!("history_export: {e}");
            std::process::exit(1);
        }
    }
}

/// Runs the exporter with command-line `args` (without the program name).
pub async fn run(args: &[String]) -> Result<Summary, Error> {
    let (opts, rest) = common::parse(args)?;
    let mut chat = None;
    let mut out = Some(PathBuf::from("history.json"));
    let (mut page, mut limit, mut before) = (50, usize::MAX, None);
    for (flag, value) in rest {
        match flag.as_str() {
            "--chat" => chat = Some(normalize_jid(&value)),
            "--out" => out = (value != "-").then(|| value.into()),
            "--page" => page = value.parse()?,
            "--limit" => limit = value.parse()?,
            // The server finds the index message by id and by who sent it.
            "--before" | "--before-mine" => {
                before = Some(MessageKey {
                    id: Some(value),
                    from_me: Some(flag == "--before-mine"),
                    ..MessageKey::default()
                });
            }
            _ => return Err(format!("unknown option {flag} (see --help)").into()),
        }
    }
    if page == 0 {
        return Err("--page must be at least 1".into());
    }

    let sim = match opts.server {
        Some(_) => None,
        None => Some(common::start_sim().await?),
    };
    let mut client = common::build(opts.server.as_deref(), sim.as_ref(), opts.session.as_ref())?;
    // Progress goes to stderr: with `--out -` stdout is the JSON.
    let me = common::connect(&mut client, sim.as_ref()).await?.wid;

    let mut summary = Summary::default();
    if let Some(sim) = &sim {
        summary.demo_ids = demo_conversation(&client, sim).await?;
        chat = chat.or(Some(FRIEND.to_owned()));
    }
    let chat = chat.ok_or("--chat JID is required with --server")?;
    if let Some(key) = &mut before {
        key.remote_jid = Some(chat.clone());
    }

    // Each page holds the `page` messages before the cursor, oldest first; the cursor moves
    // to the page's oldest message. `at_start` says the beginning of the chat was reached.
    let mut pages: Vec<Vec<WebMessageInfo>> = Vec::new();
    let mut count = 0;
    while count < limit {
        let want = u32::try_from((limit - count).min(page)).unwrap_or(u32::MAX);
        let (messages, at_start) = client
            .history(&chat, Direction::Before, want, before.as_ref())
            .await?;
        summary.pages += 1;
        eprintln!("page {}: {} messages", summary.pages, messages.len());
        count += messages.len();
        before = messages.first().map(|m| m.key.clone());
        pages.push(messages);
        if at_start || before.is_none() {
            break;
        }
    }
    // Pages came newest first: reverse them for one oldest-first list.
    summary.messages = pages
        .iter()
        .rev()
        .flatten()
        .map(|m| to_json(m, &me))
        .collect();

    let text = serde_json::to_string_pretty(&summary.messages)?;
    match &out {
        Some(path) => {
            std::fs::write(path, text + "\n")?;
            eprintln!("wrote {} messages to {}", count, path.display());
        }
        None => println!("{text}"),
    }
    summary.out = out;

    client.shutdown().await;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    Ok(summary)
}

/// One message as exported. Field names follow WhatsApp Web's own (camelCase).
pub fn to_json(info: &WebMessageInfo, me: &str) -> Value {
    let from_me = info.key.from_me == Some(true);
    let chat = normalize_jid(info.key.remote_jid.as_deref().unwrap_or_default());
    // In a group the sender is the participant; in a one-to-one chat, the chat itself.
    let from = if from_me {
        normalize_jid(me)
    } else {
        info.key
            .participant
            .as_deref()
            .or(info.participant.as_deref())
            .map_or_else(|| chat.clone(), normalize_jid)
    };
    let content = info.message.clone().unwrap_or_default();
    let kind = info
        .message
        .as_ref()
        .map_or(MessageKind::Other, MessageKind::of);
    let media = media_ref(&content).map(|media| {
        let (mimetype, file_name) = common::mimetype_and_name(&content);
        json!({
            "kind": snake_case(&format!("{:?}", media.kind)),
            "mimetype": mimetype,
            "fileName": file_name,
            "fileLength": media.file_length,
            "fileSha256": media.file_sha256.as_deref().map(hex),
        })
    });
    // `text_content` falls back to captions; export them apart, as the message has them.
    let text = content.text_content().filter(|_| media.is_none());
    let caption = content.text_content().filter(|_| media.is_some());
    json!({
        "id": info.key.id,
        "chat": chat,
        "from": from,
        "fromMe": from_me,
        "timestamp": info.message_timestamp,
        "type": snake_case(&format!("{kind:?}")),
        "text": text,
        "caption": caption,
        "media": media,
        "status": info.status.and_then(|s| Status::try_from(s).ok()).map(|s| s.as_str_name()),
    })
}

/// `ExtendedText` → `extended_text`.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Offline: we and the friend's account have a short conversation; the friend reads what we
/// sent, so our messages' status is READ. Returns the ids in the order sent.
async fn demo_conversation(me: &Client, sim: &wa_sim::SimHandle) -> Result<Vec<String>, Error> {
    let mut friend = common::friend(sim).await?;
    let mut ids = Vec::new();
    for (n, (ours, text)) in DEMO_CONVERSATION.into_iter().enumerate() {
        let sent = match (ours, n == DEMO_IMAGE_AT) {
            (true, _) => me.send_text(FRIEND, text).await?,
            (false, false) => friend.send_text(ME, text).await?,
            (false, true) => {
                let photo = demo_photo();
                let options = MediaOptions {
                    caption: Some(text.to_owned()),
                    ..MediaOptions::default()
                };
                friend
                    .send_media(ME, MediaKind::Image, &photo, options)
                    .await?
            }
        };
        ids.push(sent.id);
    }
    let last_ours = DEMO_CONVERSATION.iter().rposition(|(ours, _)| *ours);
    if let Some(last) = last_ours.and_then(|n| ids.get(n)) {
        let key = MessageKey {
            remote_jid: Some(ME.to_owned()),
            from_me: Some(false),
            id: Some(last.clone()),
            ..MessageKey::default()
        };
        friend.read(ME, &key).await?;
    }
    friend.shutdown().await;
    Ok(ids)
}
