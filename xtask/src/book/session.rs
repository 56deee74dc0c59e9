//! Generators that run our client state machine (wa-core) against our simulator (wa-sim), both
//! sans-IO, with fixed seeds and a simulated clock, and print what crosses the wire.

mod catalogue;
mod pair;

use std::time::Duration;

use serde_json::{Value, json};
use wa_binary::Node;
use wa_core::chat::{Direction, GroupOp, Presence, Request};
use wa_core::client::{BrowserDescription, CloseReason, Event};
use wa_core::{
    ClientConfig, ClientSession, Frame, JsonForm, SessionData, Tag, TagGenerator, Timestamp,
    WireMessage,
};
use wa_crypto::legacy::{Flags, Metric, SessionKeys, logout_token};
use wa_sim::{Config, LogoutError, Output, RequestError, Server};

use super::{Generator, fenced, hex_spaced, table};
use catalogue::{media_transcript, request_catalogue};
use pair::Pair;

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
