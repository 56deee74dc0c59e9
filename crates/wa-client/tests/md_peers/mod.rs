//! What the MD chat tests through wa-sim share: pairing one of our devices by QR with a
//! simulated phone, a [`Peer`] (a device and what it reported), and [`Baileys`] (Baileys 7 running
//! `interop/md-chat.mjs` as a separate node process, driven line by line).

#![allow(dead_code, unreachable_pub, unused_imports)]

pub use std::path::Path;
pub use std::sync::Arc;
pub use std::time::Duration;

pub use serde_json::Value;
pub use tokio::io::{AsyncBufReadExt as _, BufReader};
pub use tokio::sync::mpsc;
pub use wa_client::md::{DeviceEvent, MdConnectConfig, MdDevice, MdDeviceConfig};
pub use wa_core::md::stanza::ReceiptKind;
pub use wa_core::md::{ClientHandshakeConfig, MessengerEvent};
pub use wa_sim::{SimConfig, SimHandle, SimServer};
pub use wa_testkit::node_missing;
pub use wa_transport::TransportConfig;

pub const PHONE_A: u64 = 15_550_000_101;
pub const PHONE_B: u64 = 15_550_000_202;

pub fn config(url: &str, trust: wa_core::md::TrustRoot) -> MdDeviceConfig {
    MdDeviceConfig {
        connect: MdConnectConfig {
            transport: TransportConfig {
                url: url.to_owned(),
                ..TransportConfig::multi_device()
            },
            handshake: ClientHandshakeConfig {
                trust_root: trust,
                ..ClientHandshakeConfig::default()
            },
            handshake_timeout: Duration::from_secs(10),
        },
        login_timeout: Duration::from_secs(30),
        ..MdDeviceConfig::default()
    }
}

pub fn sim_config(handle: &SimHandle) -> MdDeviceConfig {
    config(&handle.md_ws_url(), handle.md().trust_root())
}

pub async fn control(handle: &SimHandle, path: &str, body: Value) -> (u16, String) {
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        reqwest::Client::new()
            .post(format!("{}/{path}", handle.control_url()))
            .json(&body)
            .send(),
    )
    .await
    .expect("control answers in time")
    .expect("control reachable");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Pairs `device` by QR with phone `phone` (the sim's phone scans the first QR).
pub async fn pair(handle: &SimHandle, device: &mut MdDevice, phone: u64) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let login = async {
        let r = device.login(&tx).await;
        drop(tx);
        r
    };
    let scan = async {
        while let Some(event) = rx.recv().await {
            if let DeviceEvent::Qr(qr) = event {
                let (status, body) = control(
                    handle,
                    "md/scan",
                    serde_json::json!({ "qr": qr, "phone": phone }),
                )
                .await;
                assert_eq!(status, 200, "scan: {body}");
                break;
            }
        }
        while rx.recv().await.is_some() {}
    };
    let (result, ()) = tokio::join!(login, scan);
    result.expect("paired and logged in");
}

pub fn user(phone: u64) -> String {
    format!("{phone}@s.whatsapp.net")
}

pub fn own_jid(device: &MdDevice) -> String {
    let jid = &device.credentials().account.as_ref().expect("paired").jid;
    format!("{}:{}@s.whatsapp.net", jid.user, jid.device)
}

/// A device, its event stream and everything it reported so far.
pub struct Peer {
    pub device: MdDevice,
    pub rx: mpsc::UnboundedReceiver<MessengerEvent>,
    pub seen: Vec<MessengerEvent>,
    pub tx: mpsc::UnboundedSender<DeviceEvent>,
}

impl Peer {
    pub fn new(mut device: MdDevice) -> Peer {
        let rx = device.messages();
        let (tx, _) = mpsc::unbounded_channel();
        Peer {
            device,
            rx,
            seen: Vec::new(),
            tx,
        }
    }

    /// Serves until `pred` holds over what was seen, or fails after 20 s.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&[MessengerEvent]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            while let Ok(e) = self.rx.try_recv() {
                self.seen.push(e);
            }
            if pred(&self.seen) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not seen in {:#?}",
                self.seen
            );
            self.device
                .serve_for(Duration::from_millis(100), &self.tx)
                .await
                .expect("serving");
        }
    }

    /// Serves for `time` (late duplicates would arrive meanwhile), then takes what came.
    pub async fn settle(&mut self, time: Duration) {
        self.device
            .serve_for(time, &self.tx)
            .await
            .expect("serving");
        while let Ok(e) = self.rx.try_recv() {
            self.seen.push(e);
        }
    }

    pub async fn send(&mut self, to: &str, text: &str) -> String {
        tokio::time::timeout(
            Duration::from_secs(20),
            self.device.send_text(to, text, &self.tx),
        )
        .await
        .expect("acked in time")
        .expect("sent")
    }

    /// Texts received, in order: (id, chat, from_me, text).
    pub fn texts(&self) -> Vec<(String, String, bool, String)> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                MessengerEvent::Message {
                    id,
                    chat,
                    from_me,
                    message,
                    ..
                } => Some((
                    id.clone(),
                    chat.clone(),
                    *from_me,
                    text_of(message).unwrap_or_default().to_owned(),
                )),
                _ => None,
            })
            .collect()
    }
}

/// The text of a plain (`conversation`) or extended text message (Baileys sends the latter).
pub fn text_of(message: &wa_proto::proto::Message) -> Option<&str> {
    message.conversation.as_deref().or_else(|| {
        message
            .extended_text_message
            .as_ref()
            .and_then(|m| m.text.as_deref())
    })
}

pub fn has_text(events: &[MessengerEvent], text: &str) -> bool {
    events.iter().any(
        |e| matches!(e, MessengerEvent::Message { message, .. } if text_of(message) == Some(text)),
    )
}

pub fn count_text(events: &[MessengerEvent], text: &str) -> usize {
    events.iter().filter(|e| matches!(e, MessengerEvent::Message { message, .. } if text_of(message) == Some(text))).count()
}

pub fn delivered(events: &[MessengerEvent], id: &str) -> bool {
    events.iter().any(|e| {
        matches!(e, MessengerEvent::Receipt { ids, kind, .. } if kind.is_delivery() && ids.iter().any(|i| i == id))
    })
}

pub async fn paired_peer(handle: &SimHandle, phone: u64) -> (Peer, Arc<wa_store::Store>) {
    let store = Arc::new(wa_store::Store::memory());
    let mut device = MdDevice::open_store(sim_config(handle), Arc::clone(&store)).unwrap();
    pair(handle, &mut device, phone).await;
    (Peer::new(device), store)
}

/// Baileys 7 running interop/md-chat.mjs, its stdin and everything it printed.
pub struct Baileys {
    pub child: tokio::process::Child,
    pub stdin: tokio::process::ChildStdin,
    pub lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    pub seen: Vec<Value>,
    pub seq: u64,
}

impl Baileys {
    pub async fn start(handle: &SimHandle, auth: &Path, phone: u64) -> Baileys {
        let dir = wa_testkit::interop_dir(&["baileys"]);
        let mut child = tokio::process::Command::new("node")
            .current_dir(&dir)
            .arg("md-chat.mjs")
            .arg(handle.md_ws_url())
            .arg(hex::encode(handle.md().trust_root().key))
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
        peer.until("Baileys ready", |s| {
            s.iter().any(|v| v.get("ready").is_some())
        })
        .await;
        peer
    }

    pub fn me(&self) -> String {
        let id = self
            .seen
            .iter()
            .find_map(|v| v["ready"]["id"].as_str())
            .expect("ready")
            .to_owned();
        // Baileys names itself `number:device@s.whatsapp.net`.
        id
    }

    /// Takes what Baileys printed within `wait` (without failing when nothing came).
    pub async fn take_lines(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout_at(deadline, self.lines.next_line()).await
        {
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                self.seen.push(value);
            }
        }
    }

    pub async fn until(&mut self, what: &str, pred: impl Fn(&[Value]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        while !pred(&self.seen) {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("{what}: not seen in {:#?}", self.seen))
                .unwrap()
                .unwrap_or_else(|| panic!("{what}: Baileys exited; saw {:#?}", self.seen));
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                assert!(
                    value.get("closed").is_none(),
                    "{what}: Baileys closed: {value}"
                );
                self.seen.push(value);
            }
        }
    }

    pub async fn command(&mut self, command: Value) {
        use tokio::io::AsyncWriteExt as _;
        let mut line = command.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    pub async fn send(&mut self, to: &str, text: &str) -> String {
        self.seq += 1;
        let seq = self.seq;
        self.command(serde_json::json!({ "send": { "seq": seq, "to": to, "text": text } }))
            .await;
        self.until("send answered", |s| {
            s.iter()
                .any(|v| v["sent"]["seq"] == seq || v.get("error").is_some())
        })
        .await;
        let answer = self
            .seen
            .iter()
            .find(|v| v["sent"]["seq"] == seq)
            .unwrap_or_else(|| panic!("send failed: {:?}", self.seen.last()));
        answer["sent"]["id"].as_str().unwrap().to_owned()
    }

    pub fn count_text(&self, text: &str) -> usize {
        self.seen
            .iter()
            .filter(|v| v["msg"]["text"] == text && v["msg"]["fromMe"] == false)
            .count()
    }

    pub async fn quit(mut self) {
        self.command(serde_json::json!({ "quit": true })).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}
