//! Live interop: the real legacy client, `@adiwajshing/baileys@3.5.3` (driven by
//! `interop/legacy-peer.js`), logged into one wa-sim account, and a wa-client session logged into
//! another exchange a text and an image over TLS; each decrypts what the other sent, and
//! Baileys' read receipt reaches our client.

mod legacy_common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;
use wa_client::legacy::chat::compose::{MediaKind, MediaOptions};
use wa_client::legacy::chat::{AckLevel, ChatEvent, MessageBatch};
use wa_client::legacy::{Client, ClientEvent};
use wa_proto::WebMessageInfo;
use wa_sim::{Config, SeedAccount, SimConfig, SimServer, TlsConfig};

use legacy_common::interop_dir;

const ME: &str = "15550100001@c.us";
const BAILEYS: &str = "15550100002@c.us";
const PATIENCE: Duration = Duration::from_secs(40);

async fn next<T>(client: &mut Client, pick: impl FnMut(&ClientEvent) -> Option<T>) -> T {
    legacy_common::next_event(client, PATIENCE, pick).await
}

async fn incoming(client: &mut Client) -> WebMessageInfo {
    next(client, |e| match e {
        ClientEvent::Chat(ChatEvent::Messages {
            batch: MessageBatch::Relay,
            messages,
            ..
        }) => messages
            .iter()
            .find(|m| m.key.from_me != Some(true) && m.message.is_some())
            .cloned(),
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_3_5_3_and_wa_client_exchange_text_and_image() {
    let interop = interop_dir();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wa-sim/tests/data");
    let cert = data.join("localhost.crt");
    let tls = TlsConfig::from_pem_files(&cert, &data.join("localhost.key")).expect("certificate");
    let other = SeedAccount {
        wid: BAILEYS.to_owned(),
        pushname: "Baileys".to_owned(),
        contacts: Vec::new(),
        chats: Vec::new(),
        ..SeedAccount::default()
    };
    let sim = SimServer::start(SimConfig {
        server: Config {
            rng_seed: Some(35),
            accounts: vec![SeedAccount::default(), other],
            ..Config::default()
        },
        tls: Some(tls),
        ..SimConfig::default()
    })
    .await
    .expect("sim starts");

    let pem = std::fs::read(&cert).expect("certificate");
    let mut client = Client::builder()
        .server_url(sim.ws_url())
        .http_base_url(sim.http_url())
        .extra_root_pem(pem)
        .rng_seed(5)
        .build()
        .unwrap();
    client.login().unwrap();
    let qr = next(&mut client, |e| match e {
        ClientEvent::Qr(qr) => Some(qr.qr_string()),
        _ => None,
    })
    .await;
    sim.with_server(|s, now| s.scan_as(now, &qr, Some(ME)))
        .unwrap();
    next(&mut client, |e| {
        matches!(e, ClientEvent::Connected(_)).then_some(())
    })
    .await;

    let mut node = Command::new("node")
        .arg("legacy-peer.js")
        .args([&sim.ws_url(), &sim.control_url(), BAILEYS, ME])
        .current_dir(&interop)
        .env("NODE_EXTRA_CA_CERTS", &cert)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut seen: Vec<Value> = Vec::new();
    let mut line_for = async |name: &str| -> Value {
        if let Some(found) = seen.iter().find(|l| l["event"] == name) {
            return found.clone();
        }
        loop {
            let line = tokio::time::timeout(PATIENCE, lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("no {name} from Baileys; saw {seen:#?}"))
                .expect("read stdout")
                .unwrap_or_else(|| panic!("Baileys exited before {name}; saw {seen:#?}"));
            let value: Value = serde_json::from_str(&line).expect("JSON line");
            assert_ne!(value["event"], "error", "{value}");
            seen.push(value.clone());
            if value["event"] == name {
                return value;
            }
        }
    };
    line_for("open").await;

    // wa-client → Baileys: a text, and an image Baileys downloads and decrypts.
    let text = client
        .send_text(BAILEYS, "hello from wa-client")
        .await
        .unwrap();
    let got = line_for("text").await;
    assert_eq!(got["id"], text.id.as_str());
    assert_eq!(got["text"], "hello from wa-client");
    let image: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let sent_image = client
        .send_media(
            BAILEYS,
            MediaKind::Image,
            &image,
            MediaOptions {
                caption: Some("from wa-client".into()),
                jpeg_thumbnail: Some(vec![0xff, 0xd8, 0xff, 0xd9]),
                ..MediaOptions::default()
            },
        )
        .await
        .unwrap();
    let got = line_for("image").await;
    assert_eq!(got["id"], sent_image.id.as_str());
    assert_eq!(got["caption"], "from wa-client");
    assert_eq!(got["sha256"], hex::encode(Sha256::digest(&image)));

    // Baileys read the chat: our text shows as read.
    line_for("read").await;
    next(&mut client, |e| match e {
        ClientEvent::Chat(ChatEvent::Ack(ack))
            if ack.ids.contains(&text.id) && ack.level == AckLevel::Read =>
        {
            Some(())
        }
        _ => None,
    })
    .await;

    // Baileys → wa-client: a quoting text, and an image we download and decrypt.
    let reply = incoming(&mut client).await;
    let sent = line_for("sent_text").await;
    assert_eq!(reply.key.id.as_deref(), sent["id"].as_str());
    let ext = reply
        .message
        .as_ref()
        .and_then(|m| m.extended_text_message.as_ref())
        .expect("extended text");
    assert_eq!(
        ext.text.as_deref(),
        Some("baileys read: hello from wa-client")
    );
    let quoted = ext
        .context_info
        .as_ref()
        .and_then(|c| c.stanza_id.as_deref());
    assert_eq!(quoted, Some(text.id.as_str()));

    let picture = incoming(&mut client).await;
    let sent = line_for("sent_image").await;
    assert_eq!(picture.key.id.as_deref(), sent["id"].as_str());
    let plain = client.download_media(&picture).await.unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&plain)),
        sent["sha256"].as_str().unwrap()
    );
    line_for("done").await;
    let status = node.wait().await.expect("node exits");
    assert!(status.success(), "{status}");
    client.shutdown().await;
}
