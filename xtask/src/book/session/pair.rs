//! The `Pair` harness (our client core and the simulator core, stepped by hand) and its printing
//! helpers.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use wa_binary::{Codec, Node, json as node_json};
use wa_core::client::Event;
use wa_core::{ClientSession, Frame, JsonForm, SessionData, Timestamp, WireMessage};
use wa_crypto::legacy::{open_client_frame, open_server_frame};
use wa_sim::{ConnId, Output, Server, SimEvent};

use super::{START_MS, client_config};
use crate::book::{fenced, hex_spaced};

/// One connection between our client core and the simulator core, stepped by hand.
pub(super) struct Pair {
    pub(super) server: Server,
    pub(super) client: ClientSession,
    pub(super) conn: ConnId,
    pub(super) now: Timestamp,
    pub(super) rng: StdRng,
    pub(super) log: Vec<String>,
    /// One line per frame: direction, tag and what it is.
    pub(super) summary: Vec<String>,
    /// Replies to `send_json` and binary frames the client received, in order.
    pub(super) replies: Vec<Value>,
    pub(super) nodes: Vec<Node>,
    pub(super) sim_events: Vec<SimEvent>,
}

/// How far ahead the pump steps the clock to collect answers the simulator holds back.
const HELD_BACK: Duration = Duration::from_secs(1);

/// Frames longer than this are shown indented over several lines.
const ONE_LINE: usize = 100;

impl Pair {
    pub(super) fn new(server: Server) -> Pair {
        let mut server = server;
        let now = Timestamp::from_unix_ms(START_MS);
        let conn = server.handle_connect(now);
        Pair {
            server,
            client: ClientSession::new(client_config()),
            conn,
            now,
            rng: StdRng::seed_from_u64(11),
            log: Vec::new(),
            summary: Vec::new(),
            replies: Vec::new(),
            nodes: Vec::new(),
            sim_events: Vec::new(),
        }
    }

    /// A fresh connection and client on the same server, the old connection closed.
    pub(super) fn reconnect(&mut self) {
        self.server.handle_disconnect(self.conn, self.now);
        self.client.handle_transport_closed(self.now);
        self.open_second();
    }

    /// A fresh connection and client on the same server; the old connection stays open (its
    /// client is gone, so what the server sends it is only logged).
    pub(super) fn open_second(&mut self) {
        self.conn = self.server.handle_connect(self.now);
        self.client = ClientSession::new(client_config());
        self.drain_events();
        self.log.clear();
        self.summary.clear();
    }

    pub(super) fn note(&mut self, text: impl Into<String>) {
        self.log.push(format!("   ({})", text.into()));
    }

    /// Moves the clock forward, runs both sides' timers and delivers what they send.
    pub(super) fn advance(&mut self, by: Duration) -> Result<(), String> {
        self.now = self.now + by;
        let ms = by.as_millis();
        self.note(if ms % 1000 == 0 {
            format!("{} s later", ms / 1000)
        } else {
            format!("{:.1} s later", by.as_secs_f64())
        });
        self.server.handle_timeout(self.now);
        self.client.handle_timeout(self.now);
        self.pump()
    }

    fn client_id(&self) -> Option<String> {
        self.client.session_data().map(|s| s.client_id.clone())
    }

    fn show(&mut self, arrow: &str, message: &WireMessage) -> Result<(), String> {
        let frame = Frame::parse(message).map_err(|e| e.to_string())?;
        self.summary.push(format!("{arrow} {}", summarize(&frame)));
        match (&frame, message) {
            (Frame::Binary { tag, payload }, _) => {
                let (what, node) = if arrow == "→" {
                    let keys = self
                        .client_id()
                        .and_then(|id| self.server.session_keys(&id).cloned())
                        .ok_or("binary frame before login")?;
                    let opened = open_client_frame(&keys, payload).map_err(|e| e.to_string())?;
                    let metric = opened
                        .metric()
                        .map_or_else(|| "none".to_owned(), |m| m.wire_name().to_owned());
                    let what = format!(
                        "metric {} ({metric}), flags 0x{:02x}, HMAC, IV, {} bytes of ciphertext",
                        opened.metric_byte,
                        opened.flags.bits(),
                        payload.len() - 2 - 48
                    );
                    (what, opened.plaintext)
                } else {
                    let keys = self
                        .client
                        .session_keys()
                        .ok_or("binary frame before login")?;
                    let plain = open_server_frame(keys, payload).map_err(|e| e.to_string())?;
                    (
                        format!("HMAC, IV, {} bytes of ciphertext", payload.len() - 48),
                        plain,
                    )
                };
                let node = Codec::legacy().decode(&node).map_err(|e| e.to_string())?;
                self.log.push(format!(
                    "{arrow} {tag},<binary, {} bytes: {what}>",
                    payload.len()
                ));
                let messages: Vec<String> = node
                    .children_named("message")
                    .filter_map(Node::content_bytes)
                    .map(describe_message)
                    .collect();
                let text = node_json::to_string(&node);
                if !messages.is_empty() {
                    self.log
                        .push(format!("    decrypted: {}", elide_bytes(&text)));
                    for message in messages {
                        self.log.push(format!("      WebMessageInfo {message}"));
                    }
                } else if text.len() <= ONE_LINE {
                    self.log.push(format!("    decrypted: {text}"));
                } else {
                    self.log.push("    decrypted:".to_owned());
                    for line in node_json::to_string_pretty(&node).lines() {
                        self.log.push(format!("      {line}"));
                    }
                }
            }
            (Frame::Json { tag, form, body }, WireMessage::Text(text)) if text.len() > ONE_LINE => {
                let comma = match form {
                    JsonForm::OneComma => ",",
                    JsonForm::TwoCommas => ",,",
                };
                let pretty = serde_json::to_string_pretty(body).map_err(|e| e.to_string())?;
                self.log.push(format!(
                    "{arrow} {tag}{comma}{}",
                    pretty.lines().next().unwrap_or("")
                ));
                for line in pretty.lines().skip(1) {
                    self.log.push(format!("  {line}"));
                }
            }
            (_, WireMessage::Text(text)) => self.log.push(format!("{arrow} {text}")),
            (_, WireMessage::Binary(bytes)) => self
                .log
                .push(format!("{arrow} <binary {}>", hex_spaced(bytes))),
        }
        Ok(())
    }

    pub(super) fn drain_events(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(event) = self.client.poll_event() {
            events.push(event);
        }
        while let Some(event) = self.server.poll_event() {
            self.sim_events.push(event);
        }
        events
    }

    fn log_events(&mut self) {
        for event in self.drain_events() {
            let text = match event {
                Event::Qr(qr) => format!("client shows the QR code {}", qr.qr_string()),
                Event::ChallengeAnswered => "client answered the challenge".to_owned(),
                Event::Connected(info) => format!("client is logged in as {}", info.wid),
                Event::SessionUpdated(_) => {
                    "client stores the session (keys and tokens)".to_owned()
                }
                Event::Closed(reason) => format!("client session closed: {reason:?}"),
                Event::Response { body, .. } => {
                    self.replies.push(body);
                    continue;
                }
                Event::Node { node, .. } => {
                    self.nodes.push(node);
                    continue;
                }
                _ => continue,
            };
            self.note(text);
        }
    }

    /// Delivers frames both ways until neither side has anything to send.
    pub(super) fn pump(&mut self) -> Result<(), String> {
        loop {
            let mut progressed = false;
            while let Some(frame) = self.client.poll_transmit() {
                progressed = true;
                let wire = frame.to_wire();
                self.show("→", &wire)?;
                // A refusal is answered on the wire (and shown from there).
                let _ = self.server.handle_message(self.conn, self.now, wire);
            }
            while let Some(output) = self.server.poll_output() {
                progressed = true;
                match output {
                    Output::Send { conn, message } if conn == self.conn => {
                        self.show("←", &message)?;
                        self.client.handle_wire(self.now, &message);
                    }
                    Output::Send { conn, message } => match message {
                        WireMessage::Text(text) => {
                            self.log
                                .push(format!("← [to connection {}] {text}", conn.get()));
                        }
                        WireMessage::Binary(bytes) => self.log.push(format!(
                            "← [to connection {}] <binary, {} bytes>",
                            conn.get(),
                            bytes.len()
                        )),
                    },
                    Output::Close { conn } if conn == self.conn => {
                        self.note("server closes the connection");
                        self.client.handle_transport_closed(self.now);
                    }
                    Output::Close { conn } => {
                        self.note(format!("server closes connection {}", conn.get()));
                    }
                }
            }
            self.log_events();
            if progressed {
                continue;
            }
            // Answers the simulated phone holds back for its round-trip come out later.
            match self.server.poll_timeout() {
                Some(at) if at > self.now && at <= self.now + HELD_BACK => {
                    let waited = at.saturating_duration_since(self.now);
                    self.now = at;
                    self.note(format!("{} ms later", waited.as_millis()));
                    self.server.handle_timeout(self.now);
                    self.client.handle_timeout(self.now);
                }
                _ => return Ok(()),
            }
        }
    }

    /// QR login: init, the phone scans, Conn/Stream/Props, then the pushed contacts and chats.
    pub(super) fn login(&mut self) -> Result<(), String> {
        self.client
            .start_login(self.now, &mut self.rng)
            .map_err(|e| e.to_string())?;
        self.pump()?;
        let qr = self
            .log
            .iter()
            .rev()
            .find_map(|line| line.split("QR code ").nth(1))
            .map(|s| s.trim_end_matches(')').to_owned())
            .ok_or("the client showed no QR code")?;
        self.now = self.now + Duration::from_secs(3);
        self.note("3 s later the phone scans the QR code");
        self.server.scan(self.now, &qr).map_err(|e| e.to_string())?;
        self.pump()
    }

    pub(super) fn restore(&mut self, data: SessionData) -> Result<(), String> {
        self.client
            .restore(self.now, data)
            .map_err(|e| e.to_string())?;
        self.pump()
    }

    pub(super) fn transcript(&self) -> String {
        fenced("text", &self.log.join("\n"))
    }

    /// The transcript up to the line that contains `marker`.
    pub(super) fn transcript_until(&self, marker: &str) -> String {
        let end = self
            .log
            .iter()
            .position(|line| line.contains(marker))
            .map_or(self.log.len(), |i| i + 1);
        fenced("text", &self.log[..end].join("\n"))
    }
}

/// Node JSON for reading: UTF-8 byte content (a status text) as a string, a `message` node's
/// bytes as `<WebMessageInfo>`.
pub(super) fn display_node(node: &Node) -> String {
    fn readable(node: &Node) -> Node {
        let mut copy = node.clone();
        copy.content = match &node.content {
            wa_binary::Content::Bytes(bytes) if node.tag != "message" => {
                match std::str::from_utf8(bytes) {
                    Ok(text) => wa_binary::Content::Text(text.into()),
                    Err(_) => node.content.clone(),
                }
            }
            wa_binary::Content::Nodes(children) => {
                wa_binary::Content::Nodes(children.iter().map(readable).collect())
            }
            other => other.clone(),
        };
        copy
    }
    elide_bytes(&node_json::to_string(&readable(node)))
}

/// Node JSON with every `{"bytes":"…"}` content shown as `<WebMessageInfo>`.
fn elide_bytes(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(start) = rest.find("{\"bytes\":\"") {
        out.push_str(&rest[..start]);
        out.push_str("<WebMessageInfo>");
        let after = &rest[start..];
        rest = after.find("\"}").map_or("", |end| &after[end + 2..]);
    }
    out.push_str(rest);
    out
}

/// A WebMessageInfo in one line: its key, text, timestamp, status and push name.
fn describe_message(bytes: &[u8]) -> String {
    let Ok(info) = wa_proto::WebMessageInfo::decode_bytes(bytes) else {
        return format!("<{} bytes that are not a WebMessageInfo>", bytes.len());
    };
    let key = &info.key;
    let mut out = format!(
        "{{key: {{remoteJid: {:?}, fromMe: {}, id: {:?}}}",
        key.remote_jid.as_deref().unwrap_or(""),
        key.from_me.unwrap_or(false),
        key.id.as_deref().unwrap_or("")
    );
    if let Some(text) = info.message.as_ref().and_then(|m| m.text_content()) {
        out.push_str(&format!(", message: {{conversation: {text:?}}}"));
    }
    if let Some(image) = info.message.as_ref().and_then(|m| m.image_message.as_ref()) {
        out.push_str(&format!(
            ", message: {{imageMessage: {{url: {:?}, fileLength: {}, …}}}}",
            image.url.as_deref().unwrap_or(""),
            image.file_length.unwrap_or(0)
        ));
    }
    if let Some(t) = info.message_timestamp {
        out.push_str(&format!(", messageTimestamp: {t}"));
    }
    if let Some(stub) = info.message_stub_type {
        let name = wa_proto::proto::web_message_info::StubType::try_from(stub)
            .map_or_else(|_| stub.to_string(), |s| s.as_str_name().to_owned());
        out.push_str(&format!(
            ", messageStubType: {name}, messageStubParameters: {:?}",
            info.message_stub_parameters
        ));
    }
    if let Some(status) = info.status.and_then(|s| wa_proto::Status::try_from(s).ok()) {
        out.push_str(&format!(", status: {}", status.as_str_name()));
    }
    if let Some(name) = &info.push_name {
        out.push_str(&format!(", pushName: {name:?}"));
    }
    out.push('}');
    out
}

/// `tag  what`: the first words of a JSON array, a reply's status, or "binary".
fn summarize(frame: &Frame) -> String {
    let (tag, what) = match frame {
        Frame::Json { tag, body, .. } => {
            let what = match body {
                Value::Array(items) => {
                    let words: Vec<String> = items
                        .iter()
                        .take(3)
                        .map(|v| match v {
                            Value::String(s) if s.len() <= 12 => format!("\"{s}\""),
                            Value::Object(o) => match o.get("type") {
                                Some(t) => format!("{{type:{t},…}}"),
                                None => "{…}".to_owned(),
                            },
                            _ => "…".to_owned(),
                        })
                        .collect();
                    format!("[{}]", words.join(","))
                }
                Value::Object(o) => {
                    format!("{{status:{}}}", o.get("status").unwrap_or(&Value::Null))
                }
                other => other.to_string(),
            };
            (tag.as_str(), what)
        }
        Frame::Binary { tag, .. } => (tag.as_str(), "<binary node>".to_owned()),
        Frame::Pong { .. } => ("", "pong".to_owned()),
        Frame::Keepalive => ("", "keepalive".to_owned()),
    };
    format!("{tag:<16} {what}")
}
