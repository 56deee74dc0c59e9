//! A media downloader: saves the photos, videos, voice notes, documents... of one chat to a
//! directory, first from the chat's history, then as they arrive. Every file is decrypted and
//! checked against the hashes in its message (`download_media` refuses a tampered blob).
//!
//! ```text
//! cargo run -p wa-client --example media_downloader                # offline demo against wa-sim
//! cargo run -p wa-client --example media_downloader -- --server ws://127.0.0.1:8080/ws \
//!     --session me.json --chat 15550100002@c.us --dir media --wait 5
//! ```

#[path = "common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use common::{Error, FRIEND, ME};
use wa_client::legacy::chat::compose::{MediaKind, MediaOptions, media_ref};
use wa_client::legacy::chat::normalize_jid;
use wa_client::legacy::chat::request::Direction;
use wa_client::legacy::{Client, ClientEvent};
use wa_proto::WebMessageInfo;

const HELP: &str = "\
media_downloader: saves the media of a chat's messages (history, then live) to a directory.

Options:
  --server URL     a WhatsApp Web server; without it an in-process wa-sim runs and a second
                   simulated account sends some media first
  --session FILE   keep the session in FILE; the next run restores it without a QR code
  --chat JID       the chat (required with --server; offline: the demo account)
  --dir DIR        where to save the files (default: media)
  --page N         history page size (default 20)
  --wait N         then wait for N more media messages to arrive (offline default 1, else 0)";

/// One file the demo account sends when running offline.
#[derive(Clone, Debug)]
pub struct DemoMedia {
    /// What kind of message carries it.
    pub kind: MediaKind,
    /// A document's file name.
    pub file_name: Option<&'static str>,
    /// The content (pseudo-random: encryption doesn't care whether it's a real JPEG).
    pub bytes: Vec<u8>,
}

/// The offline demo's files: all but the last are in the history before the downloader
/// looks, the last one arrives while it waits.
pub fn demo_media() -> Vec<DemoMedia> {
    let bytes = |seed: u64, len: usize| {
        let mut x = seed;
        (0..len)
            .map(|_| {
                // xorshift64: deterministic filler, different per file.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[0]
            })
            .collect()
    };
    vec![
        DemoMedia {
            kind: MediaKind::Image,
            file_name: None,
            bytes: bytes(1, 48_000),
        },
        DemoMedia {
            kind: MediaKind::Document,
            file_name: Some("report 2026.pdf"),
            bytes: bytes(2, 150_001),
        },
        DemoMedia {
            kind: MediaKind::VoiceNote,
            file_name: None,
            bytes: bytes(3, 9_000),
        },
        DemoMedia {
            kind: MediaKind::Video,
            file_name: None,
            bytes: bytes(4, 70_000),
        },
    ]
}

/// One saved file.
#[derive(Clone, Debug)]
pub struct Saved {
    /// The message id.
    pub id: String,
    /// Where the file went.
    pub path: PathBuf,
    /// Its size.
    pub bytes: usize,
    /// Whether it arrived live (rather than from the history).
    pub live: bool,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    /// The files saved, oldest message first.
    pub saved: Vec<Saved>,
    /// Media messages whose download failed (expired for good, tampered, ...).
    pub failed: usize,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if common::wants_help(&args) {
        println!("{HELP}");
        return;
    }
    match run(&args).await {
        Ok(s) => println!("done: {} files saved, {} failed", s.saved.len(), s.failed),
        Err(e) => {
            eprintln!("media_downloader: {e}");
            std::process::exit(1);
        }
    }
}

/// Runs the downloader with command-line `args` (without the program name).
pub async fn run(args: &[String]) -> Result<Summary, Error> {
    let (opts, rest) = common::parse(args)?;
    let (mut chat, mut dir, mut page, mut wait) = (None, PathBuf::from("media"), 20, None);
    for (flag, value) in rest {
        match flag.as_str() {
            "--chat" => chat = Some(normalize_jid(&value)),
            "--dir" => dir = value.into(),
            "--page" => page = value.parse()?,
            "--wait" => wait = Some(value.parse::<usize>()?),
            _ => return Err(format!("unknown option {flag} (see --help)").into()),
        }
    }

    let sim = match opts.server {
        Some(_) => None,
        None => Some(common::start_sim().await?),
    };
    let mut client = common::build(opts.server.as_deref(), sim.as_ref(), opts.session.as_ref())?;
    common::connect(&mut client, sim.as_ref()).await?;

    // Offline: the demo account sends its files now, so they are history by the time we look.
    let mut demo = demo_media();
    let live_demo = demo.pop();
    let friend = match &sim {
        Some(sim) => {
            let friend = common::friend(sim).await?;
            for item in &demo {
                send_demo(&friend, item).await?;
            }
            chat = chat.or(Some(FRIEND.to_owned()));
            Some(friend)
        }
        None => None,
    };
    let chat = chat.ok_or("--chat JID is required with --server")?;
    let wait = wait.unwrap_or(if sim.is_some() { 1 } else { 0 });
    std::fs::create_dir_all(&dir)?;

    // 1. The history, newest page first, each page oldest first: page until the start.
    let mut history: Vec<WebMessageInfo> = Vec::new();
    let mut before = None;
    loop {
        let (messages, at_start) = client
            .history(&chat, Direction::Before, page, before.as_ref())
            .await?;
        before = messages.first().map(|m| m.key.clone());
        history.splice(0..0, messages);
        if at_start || before.is_none() {
            break;
        }
    }
    let media: Vec<_> = history.iter().filter(|m| has_media(m)).collect();
    println!(
        "{chat}: {} messages, {} with media",
        history.len(),
        media.len()
    );

    let mut summary = Summary::default();
    let mut done = HashSet::new();
    let total = media.len();
    for (n, message) in media.into_iter().enumerate() {
        let progress = format!("[{}/{total}]", n + 1);
        save(&client, message, &dir, &progress, false, &mut summary).await;
        done.extend(message.key.id.clone());
    }

    // 2. Live: new media in this chat, until `wait` more were handled. Messages that arrived
    // while we read the history come as events too; the id set skips them.
    let sender = match (friend, live_demo) {
        (Some(friend), Some(item)) if wait > 0 => Some(tokio::spawn(async move {
            send_demo(&friend, &item).await.map(|()| friend)
        })),
        _ => None,
    };
    let mut live = 0;
    if wait > 0 {
        println!("waiting for {wait} more media messages in {chat}");
    }
    while live < wait {
        let event = match &sim {
            Some(_) => common::next_event(&mut client).await?,
            None => client
                .next_event()
                .await
                .ok_or("the client's event stream ended")?,
        };
        if let ClientEvent::Stopped(reason) = &event {
            return Err(format!("the client stopped: {reason:?}").into());
        }
        for message in common::incoming(&event) {
            let in_chat =
                message.key.remote_jid.as_deref().map(normalize_jid) == Some(chat.clone());
            let new = message.key.id.as_ref().is_some_and(|id| !done.contains(id));
            if in_chat && new && has_media(&message) {
                live += 1;
                let progress = format!("[live {live}/{wait}]");
                save(&client, &message, &dir, &progress, true, &mut summary).await;
                done.extend(message.key.id.clone());
            }
        }
    }

    if let Some(sender) = sender {
        sender.await??.shutdown().await;
    }
    client.shutdown().await;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    Ok(summary)
}

fn has_media(message: &WebMessageInfo) -> bool {
    message.message.as_ref().and_then(media_ref).is_some()
}

/// Downloads one message's media into `dir`, printing progress; a failure is counted, not
/// fatal, so one expired or corrupted file doesn't stop the rest.
async fn save(
    client: &Client,
    message: &WebMessageInfo,
    dir: &Path,
    progress: &str,
    live: bool,
    summary: &mut Summary,
) {
    let id = message.key.id.clone().unwrap_or_default();
    let content = message.message.clone().unwrap_or_default();
    let (mimetype, file_name) = common::mimetype_and_name(&content);
    let size = media_ref(&content).and_then(|m| m.file_length).unwrap_or(0);
    println!(
        "{progress} {id}: {} ({size} bytes)...",
        mimetype.as_deref().unwrap_or("?")
    );
    let result = async {
        let data = client.download_media(message).await?;
        let path = dir.join(file_name_for(
            &id,
            mimetype.as_deref(),
            file_name.as_deref(),
        ));
        std::fs::write(&path, &data)?;
        Ok::<_, Error>((path, data.len()))
    }
    .await;
    match result {
        Ok((path, bytes)) => {
            println!(
                "{progress} saved {} ({bytes} bytes, hashes verified)",
                path.display()
            );
            summary.saved.push(Saved {
                id,
                path,
                bytes,
                live,
            });
        }
        Err(e) => {
            println!("{progress} failed: {e}");
            summary.failed += 1;
        }
    }
}

/// `<id>.<ext>`, or `<id>-<document name>`: the id keeps names unique, and a name from the
/// network is reduced to harmless characters so it can't climb out of `dir`.
pub fn file_name_for(id: &str, mimetype: Option<&str>, document_name: Option<&str>) -> String {
    let safe_id: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
    if let Some(name) = document_name {
        let clean: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        return format!("{safe_id}-{}", clean.trim_start_matches('.'));
    }
    let essence = mimetype
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    let ext = match essence {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/mp4" => "m4a",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    format!("{safe_id}.{ext}")
}

/// Sends one demo file from the friend's account to ours.
async fn send_demo(friend: &Client, item: &DemoMedia) -> Result<(), Error> {
    let options = MediaOptions {
        file_name: item.file_name.map(str::to_owned),
        mimetype: item.file_name.map(|_| "application/pdf".to_owned()),
        ..MediaOptions::default()
    };
    friend
        .send_media(ME, item.kind, &item.bytes, options)
        .await?;
    Ok(())
}
