//! The client session state machine driven by hand-written server frames on a simulated clock.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use wa_binary::{Codec, Node};
use wa_core::client::{
    ClientConfig, ClientSession, CloseReason, CommandError, Event, QrCode, RequestKind,
    SessionError, SessionState, logout_url,
};
use wa_core::frame::{Frame, JsonForm, Tag, WireMessage};
use wa_core::session::SessionData;
use wa_core::time::Timestamp;
use wa_crypto::legacy::{
    Flags, Metric, SessionKeys, logout_token, open_client_frame, seal_server_frame,
};

const T0: u64 = 1_606_147_375_000;

struct Harness {
    session: ClientSession,
    now: Timestamp,
    rng: StdRng,
}

impl Harness {
    fn new(config: ClientConfig) -> Harness {
        Harness {
            session: ClientSession::new(config),
            now: Timestamp::from_unix_ms(T0),
            rng: StdRng::seed_from_u64(5),
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now = self.now + by;
        self.session.handle_timeout(self.now);
    }

    fn advance_to(&mut self, at: Timestamp) {
        self.now = at;
        self.session.handle_timeout(self.now);
    }

    fn server(&mut self, tag: &str, body: Value) {
        let frame = Frame::json(Tag::new(tag).unwrap(), JsonForm::OneComma, body);
        self.session.handle_frame(self.now, frame);
    }

    fn sent(&mut self) -> Vec<Frame> {
        std::iter::from_fn(|| self.session.poll_transmit()).collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.session.poll_event()).collect()
    }

    /// The single JSON frame sent since the last call: (tag, form, body).
    fn one_json(&mut self) -> (Tag, JsonForm, Value) {
        let sent = self.sent();
        assert_eq!(sent.len(), 1, "expected one frame, got {sent:?}");
        match sent.into_iter().next() {
            Some(Frame::Json { tag, form, body }) => (tag, form, body),
            other => panic!("expected JSON, got {other:?}"),
        }
    }

    fn one_qr(&mut self) -> QrCode {
        match self.events().as_slice() {
            [Event::Qr(qr)] => qr.clone(),
            other => panic!("expected one QR event, got {other:?}"),
        }
    }

    fn closed_with(&mut self) -> CloseReason {
        let events = self.events();
        assert!(self.session.is_closed());
        assert_eq!(self.session.poll_timeout(), None);
        match events.last() {
            Some(Event::Closed(reason)) => reason.clone(),
            other => panic!("expected Closed, got {other:?} in {events:?}"),
        }
    }
}

fn conn_body(secret: Option<&[u8]>, client_token: &str) -> Value {
    let mut conn = json!({
        "ref": "1@ref",
        "wid": "15550001111@c.us",
        "connected": true,
        "isResponse": "false",
        "serverToken": format!("1@server-{client_token}"),
        "browserToken": format!("1@browser+/{client_token}"),
        "clientToken": client_token,
        "lc": "US",
        "lg": "en",
        "is24h": true,
        "protoVersion": [0, 17],
        "binVersion": 10,
        "battery": 87,
        "plugged": false,
        "platform": "android",
        "features": {"KEY_PARTICIPANT": true},
        "phone": {
            "wa_version": "2.21.4.18",
            "mcc": "310",
            "mnc": "260",
            "os_version": "11",
            "device_manufacturer": "Google",
            "device_model": "Pixel",
            "os_build_number": "RQ1A"
        },
        "pushname": "Alice",
        "tos": 0
    });
    if let Some(secret) = secret {
        conn["secret"] = BASE64.encode(secret).into();
    }
    json!(["Conn", conn])
}

/// Starts a QR login and answers init: returns the harness and the first QR code.
fn showing_qr(config: ClientConfig) -> (Harness, QrCode) {
    let mut h = Harness::new(config);
    let mut rng = StdRng::seed_from_u64(1);
    h.session.start_login(h.now, &mut rng).unwrap();
    let (tag, form, body) = h.one_json();
    assert_eq!(form, JsonForm::OneComma);
    assert_eq!(tag.as_str(), "1606147375.--0");
    assert_eq!(body[0], "admin");
    assert_eq!(body[1], "init");
    assert_eq!(body[2], json!([2, 2142, 12]));
    assert_eq!(body[3].as_array().map(Vec::len), Some(3));
    assert_eq!(body[5], true);
    let client_id = body[4].as_str().unwrap().to_owned();
    assert_eq!(BASE64.decode(&client_id).unwrap().len(), 16);
    assert_eq!(h.session.state(), SessionState::Initializing);

    h.advance(Duration::from_millis(300));
    h.server(
        tag.as_str(),
        json!({"status": 200, "ref": "1@first", "ttl": 20000, "update": false, "curr": "0.2.7314", "time": T0}),
    );
    let qr = h.one_qr();
    assert_eq!(qr.reference, "1@first");
    assert_eq!(qr.client_id, client_id);
    assert_eq!(qr.expires_at, h.now + Duration::from_secs(20));
    assert_eq!(h.session.state(), SessionState::AwaitingScan);
    (h, qr)
}

/// A fully logged-in harness plus the keys the "server" issued.
fn logged_in() -> (Harness, SessionKeys) {
    let (mut h, qr) = showing_qr(ClientConfig::default());
    let keys = SessionKeys::generate(&mut h.rng);
    let secret = keys.build_secret(&qr.public_key, &mut h.rng);
    h.server("s1", conn_body(Some(&secret), "ct-1"));
    let events = h.events();
    assert!(
        matches!(
            events.as_slice(),
            [Event::SessionUpdated(_), Event::Connected(_)]
        ),
        "{events:?}"
    );
    (h, keys)
}

fn stored_session(keys: &SessionKeys) -> SessionData {
    SessionData {
        client_id: "AAECAwQFBgcICQoLDA0ODw==".into(),
        private_key: [9; 32],
        client_token: "ct-old".into(),
        server_token: "1@st-old".into(),
        browser_token: "1@bt-old".into(),
        enc_key: *keys.enc_key(),
        mac_key: *keys.mac_key(),
        wid: "15550001111@c.us".into(),
    }
}

#[test]
fn qr_string_is_ref_public_key_client_id() {
    let (_, qr) = showing_qr(ClientConfig::default());
    let parts: Vec<String> = qr.qr_string().split(',').map(str::to_owned).collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], "1@first");
    assert_eq!(BASE64.decode(&parts[1]).unwrap(), qr.public_key);
    assert_eq!(parts[2], qr.client_id);
}

#[test]
fn qr_login_derives_keys_and_reports_conn() {
    let (mut h, qr) = showing_qr(ClientConfig::default());
    let keys = SessionKeys::generate(&mut h.rng);
    let secret = keys.build_secret(&qr.public_key, &mut h.rng);
    h.advance(Duration::from_secs(3));
    h.server("s1", conn_body(Some(&secret), "ct-1"));
    let events = h.events();
    let [Event::SessionUpdated(data), Event::Connected(info)] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(data.enc_key, *keys.enc_key());
    assert_eq!(data.mac_key, *keys.mac_key());
    assert_eq!(data.client_token, "ct-1");
    assert_eq!(data.server_token, "1@server-ct-1");
    assert_eq!(data.browser_token, "1@browser+/ct-1");
    assert_eq!(data.client_id, qr.client_id);
    assert_eq!(data.key_pair().public_bytes(), qr.public_key);
    assert_eq!(info.wid, "15550001111@c.us");
    assert_eq!(info.pushname.as_deref(), Some("Alice"));
    assert_eq!(info.platform.as_deref(), Some("android"));
    assert_eq!(info.battery, Some(87));
    assert_eq!(info.plugged, Some(false));
    assert_eq!(info.phone.device_model.as_deref(), Some("Pixel"));
    assert_eq!(info.phone.mcc.as_deref(), Some("310"));
    assert_eq!(h.session.state(), SessionState::Connected);
    // No QR refresh once connected: the next deadline is the keepalive.
    assert_eq!(
        h.session.poll_timeout(),
        Some(Timestamp::from_unix_ms(T0) + Duration::from_secs(20))
    );

    h.server("0", json!(["Stream", "update", false, "0.2.7314"]));
    h.server(
        "1",
        json!(["Props", {"imageMaxKBytes": 1024, "maxParticipants": 257}]),
    );
    h.server(
        "2",
        json!(["Msg", {"cmd": "ack", "id": "3EB0AA", "ack": 2}]),
    );
    let events = h.events();
    assert_eq!(events.len(), 3, "{events:?}");
    match &events[0] {
        Event::Stream(s) => {
            assert_eq!(s.kind, "update");
            assert_eq!(s.args, vec![json!(false), json!("0.2.7314")]);
        }
        other => panic!("{other:?}"),
    }
    match &events[1] {
        Event::Props(p) => assert_eq!(p["maxParticipants"], 257),
        other => panic!("{other:?}"),
    }
    match &events[2] {
        Event::Json { tag, body } => {
            assert_eq!(tag.as_str(), "2");
            assert_eq!(
                body,
                &json!(["Msg", {"cmd": "ack", "id": "3EB0AA", "ack": 2}])
            );
        }
        other => panic!("{other:?}"),
    }

    // Encrypted traffic with the derived keys opens and decodes (legacy dictionary).
    let node = Node::new("response")
        .attr("type", "contacts")
        .children([Node::new("user")
            .attr("jid", "15550002222@c.us")
            .attr("name", "Bob")]);
    let plaintext = Codec::legacy().encode(&node).unwrap();
    let payload = seal_server_frame(&keys, &plaintext, &mut h.rng);
    h.session.handle_frame(
        h.now,
        Frame::binary(Tag::new("preempt-1").unwrap(), payload),
    );
    assert_eq!(
        h.events(),
        vec![Event::Node {
            tag: Tag::new("preempt-1").unwrap(),
            node
        }]
    );
}

#[test]
fn send_node_seals_with_metric_and_flags() {
    let (mut h, keys) = logged_in();
    let query = Node::new("query").attr("type", "chat").attr("epoch", "1");
    let mut rng = StdRng::seed_from_u64(9);
    let tag = h
        .session
        .send_node(
            h.now,
            &query,
            Some(Metric::QueryChat),
            Flags::EXPECTS_RESPONSE,
            &mut rng,
        )
        .unwrap();
    let sent = h.sent();
    let [
        Frame::Binary {
            tag: sent_tag,
            payload,
        },
    ] = sent.as_slice()
    else {
        panic!("{sent:?}");
    };
    assert_eq!(sent_tag, &tag);
    let opened = open_client_frame(&keys, payload).unwrap();
    assert_eq!(opened.metric_byte, 5);
    assert_eq!(opened.flags, Flags::EXPECTS_RESPONSE);
    assert_eq!(Codec::legacy().decode(&opened.plaintext).unwrap(), query);

    // The binary reply on the same tag comes back as a node event.
    let reply = Node::new("response").attr("type", "chat");
    let payload = seal_server_frame(&keys, &Codec::legacy().encode(&reply).unwrap(), &mut h.rng);
    h.session
        .handle_frame(h.now, Frame::binary(tag.clone(), payload));
    assert_eq!(h.events(), vec![Event::Node { tag, node: reply }]);
}

#[test]
fn undecodable_plaintext_is_reported() {
    let (mut h, keys) = logged_in();
    let payload = seal_server_frame(&keys, &[0xf8, 0x09], &mut h.rng);
    h.session
        .handle_frame(h.now, Frame::binary(Tag::new("x").unwrap(), payload));
    assert!(matches!(
        h.events().as_slice(),
        [Event::Error(SessionError::Decode { .. })]
    ));
}

#[test]
fn qr_expiry_rerefs_until_429() {
    let (mut h, first) = showing_qr(ClientConfig::default());
    // Not yet expired: nothing but (at most) nothing.
    h.advance_to(first.expires_at - Duration::from_millis(1));
    // Only the keepalive (due at 20 s, before the QR's expiry at 20.3 s) went out.
    assert_eq!(h.sent(), vec![Frame::Keepalive]);
    assert_eq!(h.session.poll_timeout(), Some(first.expires_at));
    h.advance_to(first.expires_at);
    let sent = h.sent();
    let reref = sent
        .iter()
        .find_map(|f| match f {
            Frame::Json { tag, form, body } if body == &json!(["admin", "Conn", "reref"]) => {
                assert_eq!(*form, JsonForm::OneComma);
                Some(tag.clone())
            }
            _ => None,
        })
        .expect("a reref");
    // A reref in flight cannot be doubled.
    assert_eq!(h.session.reref(h.now), Err(CommandError::NotAwaitingScan));

    h.advance(Duration::from_millis(200));
    h.server(
        reref.as_str(),
        json!({"status": 200, "ref": "1@second", "ttl": 15000}),
    );
    let second = h.one_qr();
    assert_eq!(second.reference, "1@second");
    assert_eq!(second.public_key, first.public_key);
    assert_eq!(second.expires_at, h.now + Duration::from_secs(15));

    // 304 keeps the ref with a fresh expiry.
    h.session.reref(h.now).unwrap();
    let (tag, _, _) = h.one_json();
    h.server(tag.as_str(), json!({"status": 304}));
    let third = h.one_qr();
    assert_eq!(third.reference, "1@second");
    assert_eq!(third.expires_at, h.now + Duration::from_secs(15));

    h.advance_to(third.expires_at);
    let tag = h
        .sent()
        .into_iter()
        .find_map(|f| match f {
            Frame::Json { tag, .. } => Some(tag),
            _ => None,
        })
        .unwrap();
    h.server(tag.as_str(), json!({"status": 429}));
    assert_eq!(h.closed_with(), CloseReason::QrRefsExhausted);
}

#[test]
fn client_side_reref_limit() {
    let config = ClientConfig {
        max_rerefs: Some(1),
        ..ClientConfig::default()
    };
    let (mut h, first) = showing_qr(config);
    h.advance_to(first.expires_at);
    let tag = h
        .sent()
        .into_iter()
        .find_map(|f| match f {
            Frame::Json { tag, .. } => Some(tag),
            _ => None,
        })
        .unwrap();
    h.server(
        tag.as_str(),
        json!({"status": 200, "ref": "1@second", "ttl": 20000}),
    );
    let second = h.one_qr();
    h.advance_to(second.expires_at);
    assert_eq!(h.closed_with(), CloseReason::QrRefsExhausted);
}

#[test]
fn keepalive_every_20s_and_link_lost_after_25s_of_silence() {
    let (mut h, _) = logged_in();
    let start = Timestamp::from_unix_ms(T0);
    h.advance_to(start + Duration::from_secs(20));
    assert_eq!(h.sent(), vec![Frame::Keepalive]);
    assert_eq!(Frame::Keepalive.to_wire(), WireMessage::Text("?,,".into()));
    h.advance(Duration::from_millis(400));
    h.session
        .handle_wire(h.now, &WireMessage::Text("!1606147395400".into()));
    let pong_at = h.now;
    h.advance_to(start + Duration::from_secs(40));
    assert_eq!(h.sent(), vec![Frame::Keepalive]);
    // No pong for the second keepalive: lost 25 s after the last thing received.
    h.advance_to(pong_at + Duration::from_millis(24_999));
    assert!(!h.session.is_closed());
    assert_eq!(
        h.session.poll_timeout(),
        Some(pong_at + Duration::from_secs(25))
    );
    h.advance_to(pong_at + Duration::from_secs(25));
    assert_eq!(h.closed_with(), CloseReason::LinkLost);
    assert!(CloseReason::LinkLost.is_retryable());
}

#[test]
fn restore_with_challenge() {
    let mut h = Harness::new(ClientConfig::default());
    let keys = SessionKeys::generate(&mut h.rng);
    let stored = stored_session(&keys);
    h.session.restore(h.now, stored.clone()).unwrap();
    let (init_tag, _, init) = h.one_json();
    assert_eq!(init[1], "init");
    assert_eq!(init[4], stored.client_id.as_str());
    h.server(
        init_tag.as_str(),
        json!({"status": 200, "ref": "1@unused", "ttl": 20000}),
    );
    let (login_tag, form, login) = h.one_json();
    assert_eq!(form, JsonForm::OneComma);
    assert_eq!(
        login,
        json!([
            "admin",
            "login",
            "ct-old",
            "1@st-old",
            stored.client_id,
            "takeover"
        ])
    );
    assert!(h.events().is_empty());
    assert_eq!(h.session.state(), SessionState::LoggingIn);

    let challenge = [0x5au8; 40];
    h.server(
        "s1",
        json!(["Cmd", {"type": "challenge", "challenge": BASE64.encode(challenge)}]),
    );
    assert_eq!(h.events(), vec![Event::ChallengeAnswered]);
    let (challenge_tag, form, answer) = h.one_json();
    assert_eq!(form, JsonForm::OneComma);
    let expected = wa_crypto::hmac_sha256(keys.mac_key(), &[&challenge]);
    assert_eq!(
        answer,
        json!([
            "admin",
            "challenge",
            BASE64.encode(expected),
            "1@st-old",
            stored.client_id
        ])
    );
    h.server(challenge_tag.as_str(), json!({"status": 200}));
    h.server("s2", conn_body(None, "ct-new"));
    h.server(login_tag.as_str(), json!({"status": 200}));
    let events = h.events();
    let [Event::SessionUpdated(data), Event::Connected(info)] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(data.client_token, "ct-new");
    assert_eq!(data.server_token, "1@server-ct-new");
    assert_eq!(data.enc_key, stored.enc_key);
    assert_eq!(data.private_key, stored.private_key);
    assert_eq!(info.wid, stored.wid);
    assert!(!h.session.is_closed());
}

#[test]
fn restore_without_challenge() {
    let mut h = Harness::new(ClientConfig::default());
    let keys = SessionKeys::generate(&mut h.rng);
    h.session.restore(h.now, stored_session(&keys)).unwrap();
    let (init_tag, _, _) = h.one_json();
    h.server(init_tag.as_str(), json!({"status": 200}));
    let (login_tag, _, _) = h.one_json();
    h.server(login_tag.as_str(), json!({"status": 200}));
    assert!(h.events().is_empty());
    h.server("s1", conn_body(None, "ct-2"));
    let events = h.events();
    assert!(
        matches!(
            events.as_slice(),
            [Event::SessionUpdated(_), Event::Connected(_)]
        ),
        "{events:?}"
    );
}

fn restore_refused(status: u16, extra: Value) -> CloseReason {
    let mut h = Harness::new(ClientConfig::default());
    let keys = SessionKeys::generate(&mut h.rng);
    h.session.restore(h.now, stored_session(&keys)).unwrap();
    let (init_tag, _, _) = h.one_json();
    h.server(init_tag.as_str(), json!({"status": 200}));
    let (login_tag, _, _) = h.one_json();
    let mut body = json!({"status": status});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    h.server(login_tag.as_str(), body);
    h.closed_with()
}

#[test]
fn login_status_codes_become_typed_close_reasons() {
    let unpaired = restore_refused(401, json!({}));
    assert_eq!(unpaired, CloseReason::Unpaired { status: 401 });
    assert!(unpaired.invalidates_session());
    assert!(!unpaired.is_retryable());
    assert_eq!(
        restore_refused(419, json!({})),
        CloseReason::Unpaired { status: 419 }
    );
    assert_eq!(
        restore_refused(403, json!({"tos": 2})),
        CloseReason::Forbidden { tos: Some(2) }
    );
    assert_eq!(
        restore_refused(405, json!({})),
        CloseReason::AlreadyAuthorized
    );
    let replaced = restore_refused(409, json!({}));
    assert_eq!(replaced, CloseReason::Replaced);
    assert!(!replaced.invalidates_session() && !replaced.is_retryable());
    let temporary = restore_refused(503, json!({}));
    assert_eq!(
        temporary,
        CloseReason::ServerError {
            request: RequestKind::Login,
            status: 503
        }
    );
    assert!(temporary.is_retryable());
}

#[test]
fn challenge_refused_means_unpaired() {
    let mut h = Harness::new(ClientConfig::default());
    let keys = SessionKeys::generate(&mut h.rng);
    h.session.restore(h.now, stored_session(&keys)).unwrap();
    let (init_tag, _, _) = h.one_json();
    h.server(init_tag.as_str(), json!({"status": 200}));
    h.sent();
    h.server(
        "s1",
        json!(["Cmd", {"type": "challenge", "challenge": "AAAA"}]),
    );
    let (tag, _, _) = h.one_json();
    h.server(tag.as_str(), json!({"status": 401}));
    assert_eq!(h.closed_with(), CloseReason::Unpaired { status: 401 });
}

#[test]
fn disconnect_replaced_while_connected() {
    let (mut h, _) = logged_in();
    h.server(
        "1",
        json!(["Cmd", {"type": "disconnect", "kind": "replaced"}]),
    );
    assert_eq!(h.closed_with(), CloseReason::Replaced);
    // Nothing happens after close.
    h.server("2", json!(["Props", {}]));
    assert!(h.events().is_empty());

    let (mut h, _) = logged_in();
    h.server("1", json!(["Cmd", {"type": "disconnect"}]));
    assert_eq!(
        h.closed_with(),
        CloseReason::ServerDisconnected { kind: None }
    );
}

#[test]
fn unanswered_init_and_login_time_out() {
    let mut h = Harness::new(ClientConfig::default());
    h.session
        .start_login(h.now, &mut StdRng::seed_from_u64(2))
        .unwrap();
    h.sent();
    h.advance(Duration::from_millis(19_999));
    assert!(!h.session.is_closed());
    h.advance(Duration::from_millis(1));
    assert_eq!(
        h.closed_with(),
        CloseReason::Timeout {
            request: RequestKind::Init
        }
    );

    // Login answered (200) but no Conn ever comes.
    let mut h = Harness::new(ClientConfig::default());
    let keys = SessionKeys::generate(&mut h.rng);
    h.session.restore(h.now, stored_session(&keys)).unwrap();
    let (init_tag, _, _) = h.one_json();
    h.server(init_tag.as_str(), json!({"status": 200}));
    let (login_tag, _, _) = h.one_json();
    h.server(login_tag.as_str(), json!({"status": 200}));
    h.advance(Duration::from_secs(10));
    h.server("x", json!(["Stream", "asleep"]));
    h.advance(Duration::from_secs(10));
    assert_eq!(
        h.closed_with(),
        CloseReason::Timeout {
            request: RequestKind::Login
        }
    );
}

#[test]
fn logout_on_socket_and_http_url() {
    let (mut h, keys) = logged_in();
    let data = h.session.session_data().unwrap().clone();
    h.session.logout(h.now).unwrap();
    assert_eq!(
        h.sent().iter().map(Frame::to_wire).collect::<Vec<_>>(),
        vec![WireMessage::Text(
            r#"goodbye,,["admin","Conn","disconnect"]"#.into()
        )]
    );
    let reason = h.closed_with();
    assert_eq!(reason, CloseReason::LoggedOut);
    assert!(reason.invalidates_session());
    assert_eq!(h.session.logout(h.now), Err(CommandError::Closed));

    let url = logout_url("http://127.0.0.1:8080/", &data);
    let token = logout_token(&keys);
    let encoded: String = token
        .bytes()
        .map(|b| match b {
            b'+' => "%2B".to_owned(),
            b'/' => "%2F".to_owned(),
            b'=' => "%3D".to_owned(),
            b => char::from(b).to_string(),
        })
        .collect();
    assert_eq!(
        url,
        format!("http://127.0.0.1:8080/logout?t=1%40browser%2B%2Fct-1&m={encoded}")
    );
}

#[test]
fn commands_in_the_wrong_state_are_refused() {
    let mut h = Harness::new(ClientConfig::default());
    assert_eq!(h.session.logout(h.now), Err(CommandError::NotConnected));
    assert_eq!(h.session.reref(h.now), Err(CommandError::NotAwaitingScan));
    assert_eq!(h.session.poll_timeout(), None);
    h.session
        .start_login(h.now, &mut StdRng::seed_from_u64(3))
        .unwrap();
    assert_eq!(
        h.session.start_login(h.now, &mut StdRng::seed_from_u64(3)),
        Err(CommandError::AlreadyStarted)
    );
    assert_eq!(
        h.session
            .send_json(h.now, json!(["query", "exist", "1@c.us"])),
        Err(CommandError::NotConnected)
    );
}

#[test]
fn invalid_secret_closes_with_protocol_error() {
    let (mut h, qr) = showing_qr(ClientConfig::default());
    let keys = SessionKeys::generate(&mut h.rng);
    let mut secret = keys.build_secret(&qr.public_key, &mut h.rng);
    secret[40] ^= 1; // breaks the HMAC
    h.server("s1", conn_body(Some(&secret), "ct"));
    match h.closed_with() {
        CloseReason::Protocol(SessionError::BadSecret(_)) => {}
        other => panic!("{other:?}"),
    }

    let (mut h, _) = showing_qr(ClientConfig::default());
    h.server("s1", conn_body(Some(&[1, 2, 3]), "ct"));
    assert!(matches!(
        h.closed_with(),
        CloseReason::Protocol(SessionError::BadSecret(_))
    ));

    let (mut h, _) = showing_qr(ClientConfig::default());
    h.server("s1", conn_body(None, "ct"));
    assert_eq!(
        h.closed_with(),
        CloseReason::Protocol(SessionError::ConnWithoutSecret)
    );
}

#[test]
fn garbage_is_reported_and_skipped() {
    let (mut h, keys) = logged_in();
    h.session
        .handle_wire(h.now, &WireMessage::Text("no comma here".into()));
    h.session
        .handle_wire(h.now, &WireMessage::Text("t,{broken".into()));
    h.session
        .handle_wire(h.now, &WireMessage::Binary(vec![0xff, b',', 1]));
    let mut payload = seal_server_frame(&keys, b"hello", &mut h.rng);
    payload[0] ^= 0x80;
    h.session
        .handle_frame(h.now, Frame::binary(Tag::new("b1").unwrap(), payload));
    h.session
        .handle_frame(h.now, Frame::binary(Tag::new("b2").unwrap(), vec![1, 2, 3]));
    let events = h.events();
    assert_eq!(events.len(), 5, "{events:?}");
    assert!(matches!(events[0], Event::Error(SessionError::Frame(_))));
    assert!(matches!(events[1], Event::Error(SessionError::Frame(_))));
    assert!(matches!(events[2], Event::Error(SessionError::Frame(_))));
    assert!(
        matches!(&events[3], Event::Error(SessionError::Decrypt { tag, .. }) if tag.as_str() == "b1")
    );
    assert!(
        matches!(&events[4], Event::Error(SessionError::Decrypt { tag, .. }) if tag.as_str() == "b2")
    );
    assert_eq!(h.session.state(), SessionState::Connected);
}

#[test]
fn binary_before_login_is_an_error_not_a_crash() {
    let (mut h, _) = showing_qr(ClientConfig::default());
    h.session
        .handle_frame(h.now, Frame::binary(Tag::new("x").unwrap(), vec![0; 64]));
    assert!(matches!(
        h.events().as_slice(),
        [Event::Error(SessionError::BinaryBeforeLogin { .. })]
    ));
}

#[test]
fn user_requests_get_responses_or_time_out() {
    let (mut h, _) = logged_in();
    let tag = h
        .session
        .send_json(h.now, json!(["query", "exist", "1@c.us"]))
        .unwrap();
    let (sent_tag, form, _) = h.one_json();
    assert_eq!((sent_tag.clone(), form), (tag.clone(), JsonForm::TwoCommas));
    assert!(tag.as_str().ends_with(".--1"), "{tag}");
    h.server(tag.as_str(), json!({"status": 200, "jid": "1@c.us"}));
    assert_eq!(
        h.events(),
        vec![Event::Response {
            tag,
            body: json!({"status": 200, "jid": "1@c.us"})
        }]
    );
    let tag = h
        .session
        .send_json(h.now, json!(["query", "Status", "1@c.us"]))
        .unwrap();
    h.sent();
    // Keep the link alive while the request ages.
    h.advance(Duration::from_secs(15));
    h.session
        .handle_wire(h.now, &WireMessage::Text("!1".into()));
    h.advance(Duration::from_secs(5));
    let events = h.events();
    assert_eq!(
        events,
        vec![Event::Error(SessionError::RequestTimedOut { tag })]
    );
    assert!(!h.session.is_closed());
}
