//! Generators that run our client state machine (wa-core) against our simulator (wa-sim), both
//! sans-IO, with fixed seeds and a simulated clock, and print what crosses the wire.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use wa_binary::{Codec, Node, json as node_json};
use wa_core::chat::{ChatOp, Direction, GroupOp, GroupSetting, Presence, Request};
use wa_core::client::{BrowserDescription, CloseReason, Event};
use wa_core::{
    ClientConfig, ClientSession, Frame, JsonForm, SessionData, Tag, TagGenerator, Timestamp,
    WireMessage,
};
use wa_crypto::legacy::{
    Flags, Metric, SessionKeys, logout_token, open_client_frame, open_server_frame,
};
use wa_sim::{Config, ConnId, LogoutError, Output, RequestError, Server, SimEvent};

use super::{Generator, fenced, hex_spaced, table};

pub(crate) const GENERATORS: [(&str, Generator); 24] = [
    ("request-catalogue", request_catalogue),
    ("history-transcript", history_transcript),
    ("group-transcript", group_transcript),
    ("media-transcript", media_transcript),
    ("message-transcript", message_transcript),
    ("frame-parse-errors", frame_parse_errors),
    ("takeover-transcript", takeover_transcript),
    ("reref-transcript", reref_transcript),
    ("keepalive-transcript", keepalive_transcript),
    ("conn-tags-evidence", conn_tags_evidence),
    ("browser-evidence", browser_evidence),
    ("json-query-transcript", json_query_transcript),
    ("frame-forms", frame_forms),
    ("tag-examples", tag_examples),
    ("login-transcript", login_transcript),
    ("restore-transcript", restore_transcript),
    ("restore-challenge-transcript", restore_challenge_transcript),
    ("logout-transcript", logout_transcript),
    ("http-logout", http_logout),
    ("binary-query-transcript", binary_query_transcript),
    ("login-status-table", login_status_table),
    ("sim-request-errors", sim_request_errors),
    ("sim-state-example", sim_state_example),
    ("sim-events-example", sim_events_example),
];

/// 2020-11-23 16:02:55 UTC: the book's clock.
const START_MS: u64 = 1_606_147_375_000;

fn client_config() -> ClientConfig {
    ClientConfig {
        browser: BrowserDescription {
            os: "wa".into(),
            browser: "Chrome".into(),
            version: "0.1.0".into(),
        },
        ..ClientConfig::default()
    }
}

fn server_config(challenge: bool) -> Config {
    Config {
        rng_seed: Some(7),
        challenge_on_restore: challenge,
        ..Config::default()
    }
}

fn tag(text: &str) -> Result<Tag, String> {
    Tag::new(text).map_err(|e| e.to_string())
}

fn frame_forms() -> Result<String, String> {
    let now = Timestamp::from_unix_ms(START_MS);
    let frames = [
        (
            "JSON, one comma (admin commands; everything the server sends)",
            Frame::json(
                tag("1606147375.--0")?,
                JsonForm::OneComma,
                json!(["admin", "Conn", "reref"]),
            ),
        ),
        (
            "JSON, two commas (every other client request)",
            Frame::json(
                tag("375.--5")?,
                JsonForm::TwoCommas,
                json!(["query", "exist", "15550100002@c.us"]),
            ),
        ),
        (
            "JSON with an empty body (parsed as `null`)",
            Frame::json(tag("s9")?, JsonForm::OneComma, Value::Null),
        ),
        (
            "binary: tag, comma, payload (shown in hex)",
            Frame::binary(tag("375.--6")?, vec![0x05, 0x80, 0xde, 0xad]),
        ),
        ("keepalive (client)", Frame::Keepalive),
        ("pong (server), no tag", Frame::pong(now)),
    ];
    let mut rows = Vec::new();
    for (what, frame) in frames {
        let wire = frame.to_wire();
        let shown = match &wire {
            WireMessage::Text(text) => format!("text `{text}`"),
            WireMessage::Binary(bytes) => format!("binary `{}`", hex_spaced(bytes)),
        };
        if Frame::parse(&wire).map_err(|e| e.to_string())? != frame {
            return Err(format!("{what}: does not parse back to itself"));
        }
        rows.push(vec![what.to_owned(), shown]);
    }
    Ok(table(&["frame", "WebSocket message"], &rows))
}

fn frame_parse_errors() -> Result<String, String> {
    let long_tag = format!("{},[]", "t".repeat(129));
    let texts = [
        "no comma at all",
        ",[\"query\"]",
        long_tag.as_str(),
        "!abc",
        "!+123",
        "12.--3,[\"query\",",
    ];
    let mut rows: Vec<Vec<String>> = texts
        .iter()
        .map(|text| {
            let shown = if text.len() > 40 {
                format!("{}…", &text[..20])
            } else {
                (*text).to_owned()
            };
            let outcome = match Frame::parse_text(text) {
                Ok(frame) => format!("{frame:?}"),
                Err(e) => e.to_string(),
            };
            vec![format!("`{shown}`"), outcome]
        })
        .collect();
    let binary = [0xffu8, 0xfe, b',', 1, 2];
    let outcome = match Frame::parse_binary(&binary) {
        Ok(frame) => format!("{frame:?}"),
        Err(e) => e.to_string(),
    };
    rows.push(vec![format!("binary `{}`", hex_spaced(&binary)), outcome]);
    Ok(table(&["message", "wa-core `Frame::parse`"], &rows))
}

fn tag_examples() -> Result<String, String> {
    let mut tags = TagGenerator::new();
    let now = Timestamp::from_unix_ms(START_MS);
    let lines = [
        format!("clock: {} ms since the epoch", now.unix_ms()),
        format!("next_long()  → {}   (admin commands)", tags.next_long(now)),
        format!(
            "next_short() → {}        (other requests)",
            tags.next_short(now)
        ),
        format!("next_short() → {}", tags.next_short(now)),
        format!("next_long()  → {}", tags.next_long(now)),
    ];
    Ok(fenced("text", &lines.join("\n")))
}

/// One connection between our client core and the simulator core, stepped by hand.
struct Pair {
    server: Server,
    client: ClientSession,
    conn: ConnId,
    now: Timestamp,
    rng: StdRng,
    log: Vec<String>,
    /// One line per frame: direction, tag and what it is.
    summary: Vec<String>,
    /// Replies to `send_json` and binary frames the client received, in order.
    replies: Vec<Value>,
    nodes: Vec<Node>,
    sim_events: Vec<SimEvent>,
}

/// How far ahead the pump steps the clock to collect answers the simulator holds back.
const HELD_BACK: Duration = Duration::from_secs(1);

/// Frames longer than this are shown indented over several lines.
const ONE_LINE: usize = 100;

impl Pair {
    fn new(server: Server) -> Pair {
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
    fn reconnect(&mut self) {
        self.server.handle_disconnect(self.conn, self.now);
        self.client.handle_transport_closed(self.now);
        self.open_second();
    }

    /// A fresh connection and client on the same server; the old connection stays open (its
    /// client is gone, so what the server sends it is only logged).
    fn open_second(&mut self) {
        self.conn = self.server.handle_connect(self.now);
        self.client = ClientSession::new(client_config());
        self.drain_events();
        self.log.clear();
        self.summary.clear();
    }

    fn note(&mut self, text: impl Into<String>) {
        self.log.push(format!("   ({})", text.into()));
    }

    /// Moves the clock forward, runs both sides' timers and delivers what they send.
    fn advance(&mut self, by: Duration) -> Result<(), String> {
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

    fn drain_events(&mut self) -> Vec<Event> {
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
    fn pump(&mut self) -> Result<(), String> {
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
    fn login(&mut self) -> Result<(), String> {
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

    fn restore(&mut self, data: SessionData) -> Result<(), String> {
        self.client
            .restore(self.now, data)
            .map_err(|e| e.to_string())?;
        self.pump()
    }

    fn transcript(&self) -> String {
        fenced("text", &self.log.join("\n"))
    }

    /// The transcript up to the line that contains `marker`.
    fn transcript_until(&self, marker: &str) -> String {
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
fn display_node(node: &Node) -> String {
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

fn logged_in(challenge: bool) -> Result<Pair, String> {
    let mut pair = Pair::new(Server::new(server_config(challenge)));
    pair.login()?;
    Ok(pair)
}

fn login_transcript() -> Result<String, String> {
    Ok(logged_in(false)?.transcript())
}

fn restored(challenge: bool) -> Result<Pair, String> {
    let mut pair = logged_in(challenge)?;
    let data = pair
        .client
        .session_data()
        .cloned()
        .ok_or("no session after login")?;
    pair.now = pair.now + Duration::from_secs(60);
    pair.reconnect();
    pair.note("a minute later, on a new connection, with the stored session");
    pair.restore(data)?;
    Ok(pair)
}

fn restore_transcript() -> Result<String, String> {
    Ok(restored(false)?.transcript_until("client is logged in"))
}

fn restore_challenge_transcript() -> Result<String, String> {
    Ok(restored(true)?.transcript_until("client is logged in"))
}

fn logout_transcript() -> Result<String, String> {
    let mut pair = logged_in(false)?;
    pair.log.clear();
    pair.client.logout(pair.now).map_err(|e| e.to_string())?;
    pair.pump()?;
    Ok(pair.transcript())
}

fn http_logout() -> Result<String, String> {
    let mut pair = logged_in(false)?;
    let data = pair.client.session_data().cloned().ok_or("no session")?;
    let keys = data.session_keys();
    let token = logout_token(&keys);
    let wrong = logout_token(&SessionKeys::new(data.mac_key, data.enc_key));
    let refused = pair
        .server
        .http_logout(pair.now, &data.browser_token, &wrong)
        .err()
        .ok_or("the simulator accepted a wrong logout token")?;
    pair.server
        .http_logout(pair.now, &data.browser_token, &token)
        .map_err(|e| e.to_string())?;
    let lines = [
        format!("browserToken (from Conn)   {}", data.browser_token),
        format!("m = base64(HMAC-SHA256(macKey, encKey)) = {token}"),
        String::new(),
        format!(
            "POST {}",
            wa_core::client::logout_url("https://web.whatsapp.com", &data)
        ),
        String::new(),
        "wa-sim (POST /logout): the session is unpaired; its tokens now get 401.".to_owned(),
        format!(
            "With m computed from swapped keys instead: {} ({refused}).",
            refused.http_status()
        ),
    ];
    Ok(fenced("text", &lines.join("\n")))
}

fn binary_query_transcript() -> Result<String, String> {
    use wa_core::chat::request;
    let mut pair = logged_in(false)?;
    pair.log.clear();
    send(&mut pair, request::contacts(1))?;
    // No builder for the status query (the client does not send it); built by hand.
    let status = Node::new("query").attr("type", "status").attr("epoch", "2");
    send(
        &mut pair,
        Request::Node {
            node: status,
            metric: Metric::QueryStatus,
            flags: Flags::EXPECTS_RESPONSE,
            tag: None,
        },
    )?;
    send(&mut pair, request::presence(3, Presence::Available, None))?;
    Ok(pair.transcript())
}

fn json_query_transcript() -> Result<String, String> {
    use wa_core::chat::request;
    let mut pair = logged_in(false)?;
    pair.log.clear();
    let alice = "15550100002@c.us";
    for req in [
        request::exists(alice),
        request::exists("15559990000@c.us"),
        request::status_of(alice),
        request::profile_picture(alice),
        request::presence_subscribe(alice),
        Request::Json(json!(["admin", "test"])),
    ] {
        send(&mut pair, req)?;
    }
    Ok(pair.transcript())
}

fn conn_tags_evidence() -> Result<String, String> {
    let mut out = String::new();
    let qr = logged_in(false)?;
    let runs = [
        ("QR login", qr.summary.clone()),
        ("restore", restored(false)?.summary),
        ("restore with a challenge", restored(true)?.summary),
    ];
    for (name, summary) in runs {
        out.push_str(&format!("{name}:\n"));
        for line in summary.iter().filter(|l| !l.contains("preempt-")) {
            out.push_str(&format!("  {line}\n"));
        }
        out.push('\n');
    }
    Ok(fenced("text", &out))
}

fn browser_evidence() -> Result<String, String> {
    let mut pair = Pair::new(Server::new(server_config(false)));
    pair.client
        .start_login(pair.now, &mut pair.rng)
        .map_err(|e| e.to_string())?;
    let init = match pair.client.poll_transmit().map(|f| f.to_wire()) {
        Some(WireMessage::Text(text)) => text,
        other => return Err(format!("expected admin init, got {other:?}")),
    };
    let client_id = match Frame::parse_text(&init).map_err(|e| e.to_string())? {
        Frame::Json { body, .. } => body[4].as_str().unwrap_or_default().to_owned(),
        other => return Err(format!("admin init is not JSON: {other:?}")),
    };
    let mut lines = vec![
        format!("wa-core sends:  {init}"),
        format!(
            "  (clientId {client_id:?}: base64 of 16 random bytes, {} characters)",
            client_id.len()
        ),
        String::new(),
    ];
    let id = "AAAAAAAAAAAAAAAAAAAAAA==";
    let browsers = [
        json!(["Baileys", "Chrome", "3.0"]),
        json!(["Long browser description", "ShortBrowserDesc"]),
        json!(["a", "b", "c", "d"]),
    ];
    for browser in browsers {
        let mut server = Server::new(server_config(false));
        let now = Timestamp::from_unix_ms(START_MS);
        let conn = server.handle_connect(now);
        let body = json!(["admin", "init", [2, 2142, 12], browser, id, true]);
        let frame = Frame::json(tag("1606147375.--0")?, JsonForm::OneComma, body.clone());
        let _ = server.handle_message(conn, now, frame.to_wire());
        let status = match server.poll_output() {
            Some(Output::Send {
                message: WireMessage::Text(text),
                ..
            }) => {
                let reply = Frame::parse_text(&text).map_err(|e| e.to_string())?;
                match reply {
                    Frame::Json { body, .. } => body["status"].to_string(),
                    other => format!("{other:?}"),
                }
            }
            other => format!("{other:?}"),
        };
        lines.push(format!("wa-sim, browser {browser}: status {status}"));
    }
    Ok(fenced("text", &lines.join("\n")))
}

fn takeover_transcript() -> Result<String, String> {
    let mut pair = logged_in(false)?;
    let data = pair
        .client
        .session_data()
        .cloned()
        .ok_or("no session after login")?;
    let first = pair.conn;
    pair.now = pair.now + Duration::from_secs(60);
    pair.open_second();
    pair.note(format!(
        "connection {} is still logged in; connection {} restores the same session",
        first.get(),
        pair.conn.get()
    ));
    pair.restore(data)?;
    Ok(pair.transcript_until("client is logged in"))
}

fn reref_transcript() -> Result<String, String> {
    let mut pair = Pair::new(Server::new(server_config(false)));
    pair.client
        .start_login(pair.now, &mut pair.rng)
        .map_err(|e| e.to_string())?;
    pair.pump()?;
    let mut asked_early = false;
    for _ in 0..8 {
        if pair.client.is_closed() {
            break;
        }
        let next = pair
            .client
            .poll_timeout()
            .ok_or("the client has no deadline")?;
        pair.advance(next.saturating_duration_since(pair.now))?;
        if !asked_early && !pair.client.is_closed() {
            asked_early = true;
            pair.note("the client asks again at once");
            pair.client.reref(pair.now).map_err(|e| e.to_string())?;
            pair.pump()?;
        }
    }
    if !pair.client.is_closed() {
        return Err("the client never ran out of QR refs".into());
    }
    Ok(pair.transcript())
}

fn keepalive_transcript() -> Result<String, String> {
    let mut pair = logged_in(false)?;
    pair.log.clear();
    // Up to the client's next deadline: its keepalive timer runs since `admin init`.
    let next = pair
        .client
        .poll_timeout()
        .ok_or("the client has no deadline")?;
    pair.advance(next.saturating_duration_since(pair.now))?;
    pair.advance(Duration::from_secs(20))?;
    Ok(pair.transcript())
}

fn message_transcript() -> Result<String, String> {
    let mut pair = logged_in(false)?;
    pair.log.clear();
    send_hello(&mut pair)?;
    Ok(pair.transcript())
}

/// Relays "Hello" to the echo contact (wa-core's `compose` and `request`) and steps until its
/// reply has arrived.
fn send_hello(pair: &mut Pair) -> Result<(), String> {
    use wa_core::chat::{compose, request};
    let info = compose::envelope(
        "15550109999@c.us",
        "3EB0C431C26A1916E07E",
        compose::text("Hello"),
        pair.now.unix_secs(),
    );
    send(pair, request::relay(1, &info))
}

fn history_transcript() -> Result<String, String> {
    use wa_core::chat::request;
    // The message run first, so the echo chat has history and receipts.
    let mut pair = logged_in(false)?;
    send_hello(&mut pair)?;
    pair.log.clear();
    let echo = "15550109999@c.us";
    send(
        &mut pair,
        request::message_info(
            2,
            &wa_proto::MessageKey::new(echo, true, "3EB0C431C26A1916E07E"),
        ),
    )?;
    send(
        &mut pair,
        request::history(3, echo, Direction::Before, 10, None),
    )?;
    Ok(pair.transcript())
}

fn group_transcript() -> Result<String, String> {
    use wa_core::chat::request;
    let mut pair = logged_in(false)?;
    pair.log.clear();
    let create = GroupOp::Create {
        subject: "Book club".into(),
        participants: vec!["15550100002@c.us".into(), "15550100003@c.us".into()],
    };
    let id = "1606147378.--1";
    send(
        &mut pair,
        request::group(1, id, "15550100001@c.us", None, &create),
    )?;
    let gid = pair
        .replies
        .last()
        .and_then(|r| r["gid"].as_str())
        .map(str::to_owned)
        .ok_or("group create gave no gid")?;
    send(&mut pair, request::group_metadata(&gid))?;
    Ok(pair.transcript())
}

/// Sends a wa-core request: JSON, or a node with its metric, flags and fixed tag if any.
fn send(pair: &mut Pair, request: Request) -> Result<(), String> {
    match request {
        Request::Json(body) => pair
            .client
            .send_json(pair.now, body)
            .map(drop)
            .map_err(|e| e.to_string())?,
        Request::Node {
            node,
            metric,
            flags,
            tag,
        } => {
            let sent = match tag {
                Some(tag) => pair.client.send_node_tagged(
                    pair.now,
                    Tag::new(tag).map_err(|e| e.to_string())?,
                    &node,
                    Some(metric),
                    flags,
                    &mut pair.rng,
                ),
                None => pair
                    .client
                    .send_node(pair.now, &node, Some(metric), flags, &mut pair.rng),
            };
            sent.map(drop).map_err(|e| e.to_string())?;
        }
    }
    pair.pump()
}

/// One row per request builder of wa-core's `chat::request`, with example arguments.
fn request_catalogue() -> Result<String, String> {
    use wa_core::chat::compose;
    use wa_core::chat::request as r;
    // Epochs as a client numbers them: one more per request.
    let mut counter = 0;
    let mut epoch = || {
        counter += 1;
        counter
    };
    let me = "15550100001@c.us";
    let alice = "15550100002@c.us";
    let group = "15550100001-1606147378@g.us";
    let id = "3EB0C431C26A1916E07E";
    let hello = compose::envelope(alice, id, compose::text("Hello"), 1_606_147_375);
    // A message of theirs, as read receipts and history paging name it.
    let theirs = wa_proto::MessageKey::new(alice, false, id);
    let ours = wa_proto::MessageKey::new(alice, true, id);
    let requests: Vec<(&str, Request)> = vec![
        ("relay", r::relay(epoch(), &hello)),
        (
            "relay_from (note to self)",
            r::relay_from(
                epoch(),
                &compose::envelope(me, id, compose::text("Note"), 1_606_147_375),
                Some(me),
            ),
        ),
        ("read", r::read(epoch(), alice, &theirs, 1)),
        ("mark_unread", r::mark_unread(epoch(), alice, &theirs)),
        (
            "received (played)",
            r::received(epoch(), Some("played"), alice, id, None),
        ),
        (
            "received (delivered)",
            r::received(epoch(), None, alice, id, None),
        ),
        ("presence", r::presence(epoch(), Presence::Available, None)),
        (
            "presence",
            r::presence(epoch(), Presence::Unavailable, None),
        ),
        (
            "presence",
            r::presence(epoch(), Presence::Composing, Some(alice)),
        ),
        ("presence_subscribe", r::presence_subscribe(alice)),
        ("chat_op", r::chat_op(epoch(), alice, &ChatOp::Archive)),
        (
            "chat_op",
            r::chat_op(epoch(), alice, &ChatOp::Mute(1_606_233_775)),
        ),
        (
            "chat_op",
            r::chat_op(epoch(), alice, &ChatOp::Unmute(Some(1_606_233_775))),
        ),
        (
            "chat_op",
            r::chat_op(epoch(), alice, &ChatOp::Pin(1_606_147_375)),
        ),
        (
            "chat_op",
            r::chat_op(epoch(), alice, &ChatOp::Unpin(Some(1_606_147_375))),
        ),
        (
            "chat_op",
            r::chat_op(epoch(), alice, &ChatOp::Star(vec![(id.to_owned(), false)])),
        ),
        ("block", r::block(epoch(), alice, true)),
        ("push_name", r::push_name(epoch(), "Book")),
        ("status_text", r::status_text(epoch(), "Reading")),
        (
            "picture (delete)",
            r::picture(epoch(), "1606147375.--15", "15550100001@c.us", None),
        ),
        (
            "group (create)",
            r::group(
                epoch(),
                "1606147375.--16",
                "15550100001@c.us",
                None,
                &GroupOp::Create {
                    subject: "Book club".into(),
                    participants: vec![alice.into()],
                },
            ),
        ),
        (
            "group (promote)",
            r::group(
                epoch(),
                "1606147375.--17",
                "15550100001@c.us",
                Some(group),
                &GroupOp::Promote(vec![alice.into()]),
            ),
        ),
        (
            "group (description)",
            r::group(
                epoch(),
                "1606147375.--18",
                "15550100001@c.us",
                Some(group),
                &GroupOp::Description {
                    text: "Monthly".into(),
                    id: "3EB0D1E5C0A4F00D".into(),
                    prev: None,
                },
            ),
        ),
        (
            "group (prop)",
            r::group(
                epoch(),
                "1606147375.--19",
                "15550100001@c.us",
                Some(group),
                &GroupOp::Setting {
                    setting: GroupSetting::SendMessages,
                    only_admins: true,
                },
            ),
        ),
        (
            "group (leave)",
            r::group(
                epoch(),
                "1606147375.--20",
                "15550100001@c.us",
                Some(group),
                &GroupOp::Leave,
            ),
        ),
        (
            "history",
            r::history(epoch(), alice, Direction::Before, 25, Some(&theirs)),
        ),
        ("message_info", r::message_info(epoch(), &ours)),
        ("media_requery", r::media_requery(epoch(), &ours)),
        ("search", r::search(epoch(), "book", None, 25, 1)),
        ("chats", r::chats(epoch())),
        ("contacts", r::contacts(epoch())),
        ("exists", r::exists(alice)),
        ("profile_picture", r::profile_picture(alice)),
        ("status_of", r::status_of(alice)),
        ("group_metadata", r::group_metadata(group)),
        ("invite_code", r::invite_code(group)),
        ("invite_reset", r::invite_reset(group)),
        ("join_by_code", r::join_by_code("AbCdEfGhIjKlMnOp")),
        ("media_conn", r::media_conn()),
    ];
    let mut rows = Vec::new();
    for (name, request) in requests {
        let row = match request {
            Request::Json(body) => vec![
                format!("`{name}`"),
                "JSON".to_owned(),
                String::new(),
                String::new(),
                format!("`{body}`"),
            ],
            Request::Node {
                node,
                metric,
                flags,
                tag,
            } => {
                Codec::legacy()
                    .encode(&node)
                    .map_err(|e| format!("{name}: {e}"))?;
                let text = display_node(&node);
                vec![
                    format!("`{name}`"),
                    format!("{} `{}`", u8::from(metric), metric.wire_name()),
                    format!("`0x{:02x}`", flags.bits()),
                    tag.map_or_else(String::new, |t| format!("`{t}`")),
                    format!("`{text}`"),
                ]
            }
        };
        rows.push(row);
    }
    Ok(table(
        &[
            "wa-core `chat::request`",
            "metric",
            "flags",
            "fixed tag",
            "sends",
        ],
        &rows,
    ))
}

/// The path of an absolute URL (`scheme://host/path` → `/path`).
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map_or("/", |i| &rest[i..])
}

fn media_transcript() -> Result<String, String> {
    use base64::Engine as _;
    let config = Config {
        media_host: Some("mmg.wa-sim.test".into()),
        ..server_config(false)
    };
    let mut pair = Pair::new(Server::new(config));
    pair.login()?;
    pair.log.clear();

    send(&mut pair, wa_core::chat::request::media_conn())?;
    let conn = pair.replies.last().cloned().ok_or("no mediaConn reply")?;
    let auth = conn["media_conn"]["auth"]
        .as_str()
        .ok_or("mediaConn without auth")?
        .to_owned();
    let host = conn["media_conn"]["hosts"][0]["hostname"]
        .as_str()
        .ok_or("mediaConn without hosts")?
        .to_owned();

    let key = wa_media::MediaKey::from_array([7; 32]);
    let file: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    let (body, info) = wa_media::encrypt_bytes(&key, wa_media::MediaType::Image, &file);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(info.file_enc_sha256);
    pair.note(format!(
        "the client encrypts a 1000-byte image (wa-media): body enc ‖ mac of {} bytes",
        body.len()
    ));
    pair.log.push(format!(
        "→ POST https://{host}/mms/image/{token}?auth={auth}&token={token}   ({} bytes)",
        body.len()
    ));
    let url = pair
        .server
        .media_upload(pair.now, &auth, &token, body)
        .map_err(|e| e.to_string())?;
    pair.log.push(format!("← {{\"url\":\"{url}\"}}"));

    let uploaded = wa_core::chat::compose::UploadedMedia {
        url: url.clone(),
        direct_path: Some(url_path(&url).to_owned()),
        media_key: *key.as_bytes(),
        info: info.clone(),
    };
    let image = wa_core::chat::compose::media(
        wa_core::chat::compose::MediaKind::Image,
        &uploaded,
        wa_core::chat::compose::MediaOptions::default(),
        pair.now.unix_secs() as i64,
    );
    let message = wa_core::chat::compose::envelope(
        "15550109999@c.us",
        "3EB0D5E1A9F0B0C2A7E4",
        image,
        pair.now.unix_secs(),
    );
    send(&mut pair, wa_core::chat::request::relay(1, &message))?;

    let download = |pair: &mut Pair, url: &str| -> Result<(), String> {
        pair.log.push(format!("→ GET {url}"));
        match pair.server.media_download(pair.now, url_path(url)) {
            Ok(got) => {
                let plain = wa_media::decrypt_bytes(
                    &key,
                    wa_media::MediaType::Image,
                    &got,
                    wa_media::Expected::default(),
                )
                .map_err(|e| e.to_string())?;
                if plain != file {
                    return Err("the download decrypted to other bytes".into());
                }
                pair.log.push(format!(
                    "← 200, {} bytes; MAC checked, decrypted: the 1000-byte image",
                    got.len()
                ));
            }
            Err(e) => pair.log.push(format!("← {} ({e})", e.http_status())),
        }
        Ok(())
    };
    download(&mut pair, &url)?;
    pair.server.expire_media_urls(pair.now);
    pair.note("the URL expires");
    download(&mut pair, &url)?;
    send(
        &mut pair,
        wa_core::chat::request::media_requery(
            2,
            &wa_proto::MessageKey::new("15550109999@c.us", true, "3EB0D5E1A9F0B0C2A7E4"),
        ),
    )?;
    let fresh = pair
        .nodes
        .iter()
        .rev()
        .find(|n| n.tag == "media")
        .and_then(|n| n.attrs.get("url"))
        .map(str::to_owned)
        .ok_or("the media query gave no url")?;
    download(&mut pair, &fresh)?;
    Ok(pair.transcript())
}

fn sample_session() -> SessionData {
    SessionData {
        client_id: "AAECAwQFBgcICQoLDA0ODw==".into(),
        private_key: [1; 32],
        client_token: "client-token".into(),
        server_token: "1@server-token".into(),
        browser_token: "1@browser-token".into(),
        enc_key: [2; 32],
        mac_key: [3; 32],
        wid: "15550100001@c.us".into(),
    }
}

/// Runs a restore whose `admin login` (or, with `challenge`, `admin challenge`) gets `reply`.
fn restore_outcome(reply: Value, challenge: bool) -> Result<CloseReason, String> {
    let now = Timestamp::from_unix_ms(START_MS);
    let mut client = ClientSession::new(client_config());
    client
        .restore(now, sample_session())
        .map_err(|e| e.to_string())?;
    let next_tag = |client: &mut ClientSession| match client.poll_transmit() {
        Some(Frame::Json { tag, .. }) => Ok(tag),
        other => Err(format!("expected a JSON request, got {other:?}")),
    };
    let init = next_tag(&mut client)?;
    client.handle_frame(
        now,
        Frame::json(init, JsonForm::OneComma, json!({"status": 200})),
    );
    let login = next_tag(&mut client)?;
    let answered = if challenge {
        let cmd = json!(["Cmd", {"type": "challenge", "challenge": "AAECAw=="}]);
        client.handle_frame(now, Frame::json(tag("s1")?, JsonForm::OneComma, cmd));
        next_tag(&mut client)?
    } else {
        login
    };
    client.handle_frame(now, Frame::json(answered, JsonForm::OneComma, reply));
    while let Some(event) = client.poll_event() {
        if let Event::Closed(reason) = event {
            return Ok(reason);
        }
    }
    Err("the session did not close".into())
}

fn login_status_table() -> Result<String, String> {
    let cases = [
        (json!({"status": 401}), false),
        (json!({"status": 403, "tos": 2}), false),
        (json!({"status": 405}), false),
        (json!({"status": 409}), false),
        (json!({"status": 419}), false),
        (json!({"status": 503}), false),
        (json!({"status": 418}), false),
        (json!({"status": 401}), true),
        (json!({"status": 500}), true),
    ];
    let mut rows = Vec::new();
    for (reply, challenge) in cases {
        let reason = restore_outcome(reply.clone(), challenge)?;
        rows.push(vec![
            if challenge {
                "`admin challenge`"
            } else {
                "`admin login`"
            }
            .to_owned(),
            format!("`{reply}`"),
            format!("`{reason:?}`"),
            if reason.invalidates_session() {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
            if reason.is_retryable() { "yes" } else { "no" }.to_owned(),
        ]);
    }
    Ok(table(
        &[
            "request",
            "reply",
            "wa-core `CloseReason`",
            "forget the session",
            "retry later",
        ],
        &rows,
    ))
}

fn sim_request_errors() -> Result<String, String> {
    let errors = [
        RequestError::Frame(wa_core::FrameError::TooLong {
            len: 2_000_000,
            max: 1_048_576,
        }),
        RequestError::Frame(wa_core::FrameError::MissingComma),
        RequestError::Malformed("request is not a JSON array".into()),
        RequestError::Node("unexpected end".into()),
        RequestError::UnknownCommand("query Foo".into()),
        RequestError::NotLoggedIn,
        RequestError::Crypto("HMAC mismatch".into()),
        RequestError::Replaced,
    ];
    let mut rows: Vec<Vec<String>> = errors
        .iter()
        .map(|e| vec![format!("{e}"), e.status().to_string()])
        .collect();
    for e in [
        LogoutError::MissingParameter,
        LogoutError::UnknownToken,
        LogoutError::BadMac,
    ] {
        rows.push(vec![
            format!("`POST /logout`: {e}"),
            e.http_status().to_string(),
        ]);
    }
    Ok(table(&["wa-sim refuses because", "status"], &rows))
}

fn sim_state_example() -> Result<String, String> {
    let pair = logged_in(false)?;
    let state = serde_json::to_string_pretty(&pair.server.state()).map_err(|e| e.to_string())?;
    Ok(fenced("json", &state))
}

fn sim_events_example() -> Result<String, String> {
    let mut pair = logged_in(false)?;
    pair.drain_events();
    let events = serde_json::to_string_pretty(&pair.sim_events).map_err(|e| e.to_string())?;
    Ok(fenced("json", &events))
}
