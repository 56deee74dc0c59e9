//! An echo bot: answers every incoming text with the same text and marks it read.
//!
//! ```text
//! cargo run -p wa-client --example echo_bot                 # offline demo against wa-sim
//! cargo run -p wa-client --example echo_bot -- --server ws://127.0.0.1:8080/ws --session bot.json
//! ```

#[path = "common/mod.rs"]
mod common;

use common::{Error, ME};
use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use wa_client::legacy::chat::compose::{MediaKind, MediaOptions};
use wa_client::legacy::chat::{AckLevel, ChatEvent, MessageBatch, MessageKind, normalize_jid};
use wa_client::legacy::{Client, ClientEvent};
use wa_proto::{Message, WebMessageInfo};

const HELP: &str = "\
echo_bot: answers every incoming text with the same text and marks the chat read.

Options:
  --server URL     a WhatsApp Web server (e.g. wa-sim's ws://127.0.0.1:8080/ws); without it an
                   in-process wa-sim runs and a second simulated account sends a few messages
  --session FILE   keep the session in FILE; the next run restores it without a QR code
  --max N          stop after N replies (offline default 3, one per demo message)";

/// What the demo account sends the bot when running offline.
pub const DEMO_TEXTS: [&str; 3] = ["hello bot", "are you there?", "bye 👋"];

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    /// The replies, in order: (chat, text).
    pub replies: Vec<(String, String)>,
    /// Offline: what the demo account got back, in order.
    pub echoes_received: Vec<String>,
    /// Offline: how many of the demo account's texts it saw read (blue ticks).
    pub read_receipts: usize,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if common::wants_help(&args) {
        println!("{HELP}");
        return;
    }
    match run(&args).await {
        Ok(summary) => println!("done: {} replies", summary.replies.len()),
        Err(e) => {
            eprintln!("echo_bot: {e}");
            std::process::exit(1);
        }
    }
}

/// Runs the bot with command-line `args` (without the program name).
pub async fn run(args: &[String]) -> Result<Summary, Error> {
    let (opts, rest) = common::parse(args)?;
    let mut max = None;
    for (flag, value) in rest {
        match flag.as_str() {
            "--max" => max = Some(value.parse::<usize>()?),
            _ => return Err(format!("unknown option {flag} (see --help)").into()),
        }
    }

    let started = now_secs();
    let mut answered = HashSet::new();
    let sim = match opts.server {
        Some(_) => None,
        None => Some(common::start_sim().await?),
    };
    let mut bot = common::build(opts.server.as_deref(), sim.as_ref(), opts.session.as_ref())?;
    common::connect(&mut bot, sim.as_ref()).await?;

    // Offline, someone has to talk to the bot: the friend's account, in its own task so the
    // bot's loop below stays exactly what it would be against a real server.
    let mut summary = Summary::default();
    let friend = match &sim {
        Some(sim) => {
            let friend = common::friend(sim).await?;
            let n = *max.get_or_insert(DEMO_TEXTS.len());
            Some(tokio::spawn(chat_with_bot(friend, n)))
        }
        None => None,
    };

    println!(
        "echoing incoming texts{}",
        match max {
            Some(n) => format!(" (stopping after {n})"),
            None => String::new(),
        }
    );
    while max.is_none_or(|n| summary.replies.len() < n) {
        // Offline, a stuck demo should fail rather than hang; a real bot waits forever.
        let event = match &sim {
            Some(_) => common::next_event(&mut bot).await?,
            None => bot
                .next_event()
                .await
                .ok_or("the client's event stream ended")?,
        };
        if let ClientEvent::Stopped(reason) = &event {
            return Err(format!("the client stopped: {reason:?}").into());
        }
        for message in new_messages(&event, started) {
            if max.is_some_and(|n| summary.replies.len() >= n) {
                break; // one batch may carry more than we have left
            }
            if !answered.insert(message.key.id.clone()) {
                continue; // seen already (live and again in a login batch)
            }
            let Some(text) = text_of(&message) else {
                continue; // media, locations, stubs...: nothing to echo
            };
            let chat = normalize_jid(message.key.remote_jid.as_deref().unwrap_or_default());
            bot.send_text(&chat, text).await?;
            // Read receipts are per chat "up to this message": the sender sees blue ticks.
            bot.read(&chat, &message.key).await?;
            println!("{chat}: echoed {text:?}");
            summary.replies.push((chat, text.to_owned()));
        }
    }

    if let Some(friend) = friend {
        (summary.echoes_received, summary.read_receipts) = friend.await??;
    }
    // Keeps the session (for --session); `logout` would end it.
    bot.shutdown().await;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    Ok(summary)
}

/// Messages from others that are new to the bot: live relays, and those in the login batches
/// (`last`, `unread`) sent since it started: a message sent while the bot logs in arrives
/// there, not as a relay. Older ones in those batches were (or should have been) answered by
/// an earlier run.
fn new_messages(event: &ClientEvent, since: u64) -> Vec<WebMessageInfo> {
    let ClientEvent::Chat(ChatEvent::Messages {
        batch, messages, ..
    }) = event
    else {
        return Vec::new();
    };
    let is_new = |m: &&WebMessageInfo| match batch {
        MessageBatch::Relay => true,
        MessageBatch::Last | MessageBatch::Unread => m.message_timestamp >= Some(since),
        _ => false, // history answers, updates of known messages
    };
    messages
        .iter()
        .filter(|m| m.key.from_me != Some(true))
        .filter(is_new)
        .cloned()
        .collect()
}

/// A text message's text (plain, or with a quote/mentions/link preview); not a caption.
fn text_of(message: &WebMessageInfo) -> Option<&str> {
    let content = message.message.as_ref()?;
    match MessageKind::of(content) {
        MessageKind::Text | MessageKind::ExtendedText => content.text_content(),
        _ => None,
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The friend's side of the demo: sends `n` demo texts, each after the echo of the last and
/// the bot's read receipt for it; returns the echoes and how many texts showed as read.
async fn chat_with_bot(mut friend: Client, n: usize) -> Result<(Vec<String>, usize), Error> {
    let mut echoes = Vec::new();
    let mut read = 0;
    // A captioned photo first: the bot must not take its caption for a text.
    let caption = MediaOptions {
        caption: Some("a photo, not a text".to_owned()),
        ..MediaOptions::default()
    };
    let photo = vec![0x5a; 4096];
    friend
        .send_media(ME, MediaKind::Image, &photo, caption)
        .await?;
    for text in DEMO_TEXTS.iter().cycle().take(n) {
        let sent = friend.send_text(ME, text).await?;
        let (mut echo, mut seen_read) = (None, false);
        // The echo and the receipt race each other; wait for both.
        while echo.is_none() || !seen_read {
            let event = common::next_event(&mut friend).await?;
            if let ClientEvent::Chat(ChatEvent::Ack(ack)) = &event {
                seen_read |= ack.level == AckLevel::Read && ack.ids.contains(&sent.id);
            }
            if let Some(m) = common::incoming(&event).into_iter().next() {
                echo = m
                    .message
                    .as_ref()
                    .and_then(Message::text_content)
                    .map(str::to_owned);
            }
        }
        echoes.extend(echo);
        read += 1;
    }
    friend.shutdown().await;
    Ok((echoes, read))
}
