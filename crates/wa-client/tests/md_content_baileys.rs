//! Typed content beyond plain text through wa-sim over real WebSockets: replies with quotes and
//! mentions, reactions (and taking one back), delete-for-everyone, locations, contact cards and
//! the disappearing-messages setting, between two of our clients and both ways with Baileys 7
//! (`interop/md-chat.mjs`). Every message is built with `wa_core::md::Content` and read back
//! with `Content::from_message`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::sync::mpsc;
use wa_client::md::{DeviceEvent, MdConnectConfig, MdDevice, MdDeviceConfig};
use wa_core::md::content::{ContactCard, LinkPreview};
use wa_core::md::{ClientHandshakeConfig, Content, MessageRef, MessengerEvent, Quote};
use wa_sim::{SimConfig, SimHandle, SimServer};
use wa_transport::TransportConfig;

const PHONE_A: u64 = 15_550_000_111;
const PHONE_B: u64 = 15_550_000_222;

fn config(handle: &SimHandle) -> MdDeviceConfig {
    MdDeviceConfig {
        connect: MdConnectConfig {
            transport: TransportConfig {
                url: handle.md_ws_url(),
                ..TransportConfig::multi_device()
            },
            handshake: ClientHandshakeConfig {
                trust_root: handle.md().trust_root(),
                ..ClientHandshakeConfig::default()
            },
            handshake_timeout: Duration::from_secs(10),
        },
        login_timeout: Duration::from_secs(30),
        ..MdDeviceConfig::default()
    }
}

fn user(phone: u64) -> String {
    format!("{phone}@s.whatsapp.net")
}

/// One of our devices, paired by QR to `phone`, with what it received so far.
struct Peer {
    device: MdDevice,
    rx: mpsc::UnboundedReceiver<MessengerEvent>,
    tx: mpsc::UnboundedSender<DeviceEvent>,
    /// (id, sender chat, content) of every message received.
    got: Vec<(String, String, Content)>,
}

impl Peer {
    async fn paired(handle: &SimHandle, phone: u64) -> Peer {
        let store = Arc::new(wa_store::Store::memory());
        let mut device = MdDevice::open_store(config(handle), store).unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        let control = format!("{}/md/scan", handle.control_url());
        let scan = async {
            while let Some(event) = events.recv().await {
                if let DeviceEvent::Qr(qr) = event {
                    let response = reqwest::Client::new()
                        .post(&control)
                        .json(&serde_json::json!({ "qr": qr, "phone": phone }))
                        .send()
                        .await
                        .unwrap();
                    assert!(response.status().is_success());
                    break;
                }
            }
            while events.recv().await.is_some() {}
        };
        let login = async {
            let r = device.login(&tx).await;
            drop(tx);
            r
        };
        let (result, ()) = tokio::join!(login, scan);
        result.expect("paired");
        let rx = device.messages();
        let (tx, _) = mpsc::unbounded_channel();
        Peer {
            device,
            rx,
            tx,
            got: Vec::new(),
        }
    }

    async fn send(&mut self, to: &str, content: &Content) -> String {
        tokio::time::timeout(
            Duration::from_secs(20),
            self.device.send_content(to, content, &self.tx),
        )
        .await
        .expect("acked in time")
        .expect("sent")
    }

    /// Serves until a received message's content satisfies `pred`; returns (id, content).
    async fn until(&mut self, what: &str, pred: impl Fn(&Content) -> bool) -> (String, Content) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            while let Ok(event) = self.rx.try_recv() {
                if let MessengerEvent::Message {
                    id, chat, message, ..
                } = event
                {
                    self.got.push((id, chat, Content::from_message(&message)));
                }
            }
            if let Some((id, _, content)) = self.got.iter().find(|(_, _, c)| pred(c)) {
                return (id.clone(), content.clone());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not in {:#?}",
                self.got
            );
            self.device
                .serve_for(Duration::from_millis(100), &self.tx)
                .await
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_clients_exchange_every_content_kind() {
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let mut a = Peer::paired(&handle, PHONE_A).await;
    let mut b = Peer::paired(&handle, PHONE_B).await;

    let original = a
        .send(&user(PHONE_B), &Content::Text("original".into()))
        .await;
    b.until("original", |c| *c == Content::Text("original".into()))
        .await;
    let kinds = vec![
        Content::ExtendedText {
            text: "replying, @15550000111, see https://example.org".into(),
            quote: Some(Quote {
                id: original.clone(),
                sender: user(PHONE_A),
                message: Box::new(Content::Text("original".into()).to_message()),
            }),
            mentions: vec![user(PHONE_A)],
            link: Some(LinkPreview {
                matched_text: "https://example.org".into(),
                title: Some("Example".into()),
                ..LinkPreview::default()
            }),
        },
        Content::reaction(
            MessageRef {
                chat: user(PHONE_A),
                from_me: false,
                id: original.clone(),
                participant: None,
            },
            "🎉",
            1_764_000_000_000,
        ),
        Content::Location {
            latitude: -33.8568,
            longitude: 151.2153,
            name: Some("Opera House".into()),
            address: None,
        },
        Content::Contact(ContactCard {
            display_name: "Grace".into(),
            vcard: "BEGIN:VCARD\nVERSION:3.0\nFN:Grace\nEND:VCARD".into(),
        }),
        Content::EphemeralSetting { seconds: 86_400 },
        Content::Revoke {
            target: MessageRef {
                chat: user(PHONE_A),
                from_me: false,
                id: original.clone(),
                participant: None,
            },
        },
    ];
    // B sends each kind back to A; A reads exactly what B built.
    for kind in kinds {
        let id = b.send(&user(PHONE_A), &kind).await;
        let (got_id, _) = a.until("kind from b", |c| *c == kind).await;
        assert_eq!(got_id, id);
    }
    handle.shutdown().await;
}

/// Baileys 7 running interop/md-chat.mjs.
struct Baileys {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    seen: Vec<Value>,
    seq: u64,
}

impl Baileys {
    async fn start(handle: &SimHandle, auth: &Path, phone: u64) -> Baileys {
        let dir = wa_testkit::interop_dir(&["baileys"]);
        let root: String = handle
            .md()
            .trust_root()
            .key
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut child = tokio::process::Command::new("node")
            .current_dir(&dir)
            .arg("md-chat.mjs")
            .arg(handle.md_ws_url())
            .arg(root)
            .arg(handle.control_url())
            .arg(auth)
            .arg(phone.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut peer = Baileys {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            seq: 0,
        };
        peer.until("Baileys ready", |v| v.get("ready").is_some())
            .await;
        peer
    }

    /// Reads lines until one satisfies `pred`; returns it.
    async fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(v) = self.seen.iter().find(|v| pred(v)) {
                return v.clone();
            }
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("{what}: not seen in {:#?}", self.seen))
                .unwrap()
                .unwrap_or_else(|| panic!("{what}: Baileys exited; saw {:#?}", self.seen));
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                assert!(value.get("closed").is_none(), "{what}: closed: {value}");
                self.seen.push(value);
            }
        }
    }

    /// Sends Baileys message `content` (quoting `quoted`, a key and its text, if given).
    async fn send(&mut self, to: &str, content: Value, quoted: Option<Value>) -> String {
        use tokio::io::AsyncWriteExt as _;
        self.seq += 1;
        let seq = self.seq;
        let mut command = serde_json::json!({ "sendContent": {
            "seq": seq, "to": to, "content": content } });
        if let Some(quoted) = quoted {
            command["sendContent"]["quoted"] = quoted;
        }
        let line = format!("{command}\n");
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        let answer = self
            .until("send answered", |v| {
                v["sent"]["seq"] == seq || v.get("error").is_some()
            })
            .await;
        answer["sent"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("send failed: {answer}"))
            .to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_quotes_and_revokes_with_baileys_both_ways() {
    if wa_testkit::node_missing() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let mut ours = Peer::paired(&handle, PHONE_A).await;
    let mut baileys = Baileys::start(&handle, &tmp.path().join("auth"), PHONE_B).await;

    // Baileys → us: a text, then a reply quoting our own message, a reaction and a revoke.
    let theirs = baileys
        .send(
            &user(PHONE_A),
            serde_json::json!({ "text": "from baileys" }),
            None,
        )
        .await;
    ours.until("baileys text", |c| {
        matches!(c, Content::ExtendedText { text, .. } | Content::Text(text) if text == "from baileys")
    })
    .await;
    let mine = ours
        .send(&user(PHONE_B), &Content::Text("from us".into()))
        .await;
    baileys
        .until("our text", |v| v["msg"]["text"] == "from us")
        .await;
    baileys
        .send(
            &user(PHONE_A),
            serde_json::json!({ "text": "quoting you" }),
            Some(serde_json::json!({ "key": { "id": mine, "fromMe": false }, "text": "from us" })),
        )
        .await;
    let (_, reply) = ours
        .until("baileys' reply", |c| {
            matches!(c, Content::ExtendedText { quote: Some(_), .. })
        })
        .await;
    let Content::ExtendedText { text, quote, .. } = reply else {
        unreachable!()
    };
    let quote = quote.unwrap();
    assert_eq!(text, "quoting you");
    assert_eq!(quote.id, mine);
    assert_eq!(
        Content::from_message(&quote.message),
        Content::Text("from us".into())
    );
    let key = serde_json::json!({ "remoteJid": user(PHONE_A), "fromMe": false, "id": mine });
    baileys
        .send(
            &user(PHONE_A),
            serde_json::json!({ "react": { "text": "👍", "key": key } }),
            None,
        )
        .await;
    let (_, reaction) = ours
        .until("baileys' reaction", |c| {
            matches!(c, Content::Reaction { .. })
        })
        .await;
    let Content::Reaction { target, emoji, .. } = reaction else {
        unreachable!()
    };
    assert_eq!((target.id.as_str(), emoji.as_str()), (mine.as_str(), "👍"));
    let own_key = serde_json::json!({ "remoteJid": user(PHONE_A), "fromMe": true, "id": theirs });
    baileys
        .send(
            &user(PHONE_A),
            serde_json::json!({ "delete": own_key }),
            None,
        )
        .await;
    let (_, revoke) = ours
        .until("baileys' revoke", |c| matches!(c, Content::Revoke { .. }))
        .await;
    assert!(matches!(revoke, Content::Revoke { target } if target.id == theirs));

    // Us → Baileys: a reply quoting theirs, a reaction to it, a revoke of ours.
    ours.send(
        &user(PHONE_B),
        &Content::reply(
            "quoting baileys",
            Quote {
                id: theirs.clone(),
                sender: user(PHONE_B),
                message: Box::new(Content::Text("from baileys".into()).to_message()),
            },
        ),
    )
    .await;
    let quote = baileys
        .until("our reply", |v| {
            v["content"]["kind"] == "quote" && v["content"]["fromMe"] == false
        })
        .await;
    assert_eq!(quote["content"]["text"], "quoting baileys");
    assert_eq!(quote["content"]["quoted"], theirs.as_str());
    assert_eq!(quote["content"]["quotedText"], "from baileys");
    let target = MessageRef {
        chat: user(PHONE_B),
        from_me: false,
        id: theirs.clone(),
        participant: None,
    };
    ours.send(
        &user(PHONE_B),
        &Content::reaction(target, "❤️", 1_764_000_000_000),
    )
    .await;
    let reaction = baileys
        .until("our reaction", |v| {
            v["content"]["kind"] == "reaction" && v["content"]["fromMe"] == false
        })
        .await;
    assert_eq!(reaction["content"]["target"], theirs.as_str());
    assert_eq!(reaction["content"]["emoji"], "❤️");
    let revoke = Content::Revoke {
        target: MessageRef {
            chat: user(PHONE_B),
            from_me: true,
            id: mine.clone(),
            participant: None,
        },
    };
    ours.send(&user(PHONE_B), &revoke).await;
    let revoked = baileys
        .until("our revoke", |v| {
            v["content"]["kind"] == "revoke" && v["content"]["fromMe"] == false
        })
        .await;
    assert_eq!(revoked["content"]["target"], mine.as_str());
    let _ = baileys.child.kill().await;
    let _ = baileys.stdin;
    handle.shutdown().await;
}
