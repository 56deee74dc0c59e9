//! The sans-IO server core, stepped with a simulated clock by a minimal client written here
//! from the protocol description (keys from `secret`, challenge answers and frame sealing come
//! from wa-crypto, frames from wa-core, nodes from wa-binary).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use wa_binary::{Codec, Node};
use wa_core::{Frame, Timestamp, WireMessage};
use wa_crypto::KeyPair;
use wa_crypto::legacy::{
    Flags, Metric, SessionKeys, challenge_response, logout_token, open_server_frame,
    seal_client_frame,
};
use wa_sim::core::{Config, ConnId, LogoutVia, Output, Server, SimEvent};
use wa_sim::{LogoutError, RequestError, ScanError, SeedAccount};

const T0: u64 = 1_600_000_000_000;
const CLIENT_ID: &str = "q7GzpJ0S9dY3d+g1m6fJ0w==";

struct Sim {
    server: Server,
    now: Timestamp,
    rng: StdRng,
}

/// One server → client message, parsed.
#[derive(Debug)]
enum Got {
    Json(String, Value),
    Binary(String, Vec<u8>),
    Pong(u64),
    Close,
}

impl Sim {
    fn new(config: Config) -> Sim {
        Sim {
            server: Server::new(Config {
                rng_seed: Some(42),
                ..config
            }),
            now: Timestamp::from_unix_ms(T0),
            rng: StdRng::seed_from_u64(1),
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        self.server.handle_timeout(self.now);
    }

    fn connect(&mut self) -> ConnId {
        self.server.handle_connect(self.now)
    }

    fn send_text(&mut self, conn: ConnId, text: &str) -> Result<(), RequestError> {
        self.server
            .handle_message(conn, self.now, WireMessage::Text(text.to_owned()))
    }

    fn send_binary(&mut self, conn: ConnId, bytes: Vec<u8>) -> Result<(), RequestError> {
        self.server
            .handle_message(conn, self.now, WireMessage::Binary(bytes))
    }

    /// Everything queued for `conn` (other connections' outputs are dropped).
    fn take(&mut self, conn: ConnId) -> Vec<Got> {
        let mut got = Vec::new();
        while let Some(output) = self.server.poll_output() {
            match output {
                Output::Send { conn: c, message } if c == conn => {
                    got.push(match Frame::parse(&message).expect("server frames parse") {
                        Frame::Json { tag, body, .. } => Got::Json(tag.into_string(), body),
                        Frame::Binary { tag, payload } => Got::Binary(tag.into_string(), payload),
                        Frame::Pong { unix_ms } => Got::Pong(unix_ms),
                        Frame::Keepalive => panic!("server sent a keepalive"),
                    });
                }
                Output::Close { conn: c } if c == conn => got.push(Got::Close),
                _ => {}
            }
        }
        got
    }

    fn events(&mut self) -> Vec<SimEvent> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }

    fn init(&mut self, conn: ConnId) -> String {
        self.send_text(
            conn,
            &format!(
                r#"1600000000.--0,["admin","init",[2,2142,12],["Baileys","Chrome","3.0"],"{CLIENT_ID}",true]"#
            ),
        )
        .unwrap();
        let got = self.take(conn);
        let [Got::Json(tag, body)] = got.as_slice() else {
            panic!("expected one init reply, got {got:?}")
        };
        assert_eq!(tag, "1600000000.--0");
        assert_eq!(body["status"], 200);
        body["ref"].as_str().unwrap().to_owned()
    }

    /// A full QR login; returns the connection, the keys the client derived and its tokens.
    fn qr_login(&mut self) -> (ConnId, SessionKeys, Value) {
        let conn = self.connect();
        let qr_ref = self.init(conn);
        let keys = KeyPair::generate(&mut self.rng);
        let qr = format!(
            "{qr_ref},{},{CLIENT_ID}",
            BASE64.encode(keys.public_bytes())
        );
        assert_eq!(self.server.scan(self.now, &qr), Ok(conn));
        let got = self.take(conn);
        let Some(Got::Json(tag, conn_msg)) = got.first() else {
            panic!("expected Conn, got {got:?}")
        };
        assert_eq!(tag, "s1");
        assert_eq!(conn_msg[0], "Conn");
        let secret = BASE64
            .decode(conn_msg[1]["secret"].as_str().unwrap())
            .unwrap();
        let session = SessionKeys::from_secret(&keys, &secret).expect("HMAC check passes");
        (conn, session, conn_msg[1].clone())
    }

    fn login(&mut self, conn: ConnId, tokens: &Value, mode: &str) {
        let text = format!(
            r#"1600000001.--1,["admin","login","{}","{}","{CLIENT_ID}","{mode}"]"#,
            tokens["clientToken"].as_str().unwrap(),
            tokens["serverToken"].as_str().unwrap(),
        );
        self.send_text(conn, &text).unwrap();
        // Login answers come after the simulated phone's round-trip.
        self.advance(self.server.config().phone_latency);
    }

    /// Sends an `admin challenge` answer and waits out the phone round-trip.
    fn answer_challenge(&mut self, conn: ConnId, answer: &str, tokens: &Value) {
        self.send_text(
            conn,
            &format!(
                r#"c1,["admin","challenge","{answer}","{}","{CLIENT_ID}"]"#,
                tokens["serverToken"].as_str().unwrap()
            ),
        )
        .unwrap();
        self.advance(self.server.config().phone_latency);
    }
}

fn open_node(keys: &SessionKeys, payload: &[u8]) -> Node {
    let plaintext = open_server_frame(keys, payload).expect("sealed with the session keys");
    Codec::legacy().decode(&plaintext).expect("a valid node")
}

fn status_of(got: &[Got], tag: &str) -> Option<i64> {
    got.iter().find_map(|g| match g {
        Got::Json(t, body) if t == tag => body["status"].as_i64(),
        _ => None,
    })
}

#[test]
fn init_answers_with_ref_ttl_and_time() {
    let mut sim = Sim::new(Config::default());
    let conn = sim.connect();
    sim.send_text(
        conn,
        r#"123.--0,["admin","init",[2,2123,8],["Chrome","83"],"abc",true]"#,
    )
    .unwrap();
    let got = sim.take(conn);
    let [Got::Json(tag, body)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(tag, "123.--0");
    assert_eq!(body["status"], 200);
    assert_eq!(body["ttl"], 20000);
    assert_eq!(body["update"], false);
    assert_eq!(body["curr"], "0.2.7314");
    assert_eq!(body["time"], T0);
    assert_eq!(sim.server.qr_ref(conn), body["ref"].as_str());
}

#[test]
fn reref_gives_five_new_refs_then_429_and_304_when_too_soon() {
    let mut sim = Sim::new(Config::default());
    let conn = sim.connect();
    let mut current = sim.init(conn);
    // Too soon after init: the same ref comes back with 304.
    sim.send_text(conn, r#"r0,["admin","Conn","reref"]"#)
        .unwrap();
    let got = sim.take(conn);
    assert_eq!(status_of(&got, "r0"), Some(304));
    assert_eq!(sim.server.qr_ref(conn), Some(current.as_str()));
    for i in 1..=5 {
        sim.advance(Duration::from_secs(20));
        sim.send_text(conn, &format!(r#"r{i},["admin","Conn","reref"]"#))
            .unwrap();
        let got = sim.take(conn);
        let [Got::Json(_, body)] = got.as_slice() else {
            panic!("{got:?}")
        };
        assert_eq!(body["status"], 200, "reref {i}");
        assert_eq!(body["ttl"], 20000);
        let new_ref = body["ref"].as_str().unwrap().to_owned();
        assert_ne!(new_ref, current);
        current = new_ref;
    }
    sim.advance(Duration::from_secs(20));
    sim.send_text(conn, r#"r6,["admin","Conn","reref"]"#)
        .unwrap();
    assert_eq!(status_of(&sim.take(conn), "r6"), Some(429));
}

#[test]
fn scan_pairs_with_a_secret_the_client_can_open_then_pushes_encrypted_data() {
    let mut sim = Sim::new(Config::default());
    let conn = sim.connect();
    let qr_ref = sim.init(conn);
    let client = KeyPair::generate(&mut sim.rng);
    let qr = format!(
        "{qr_ref},{},{CLIENT_ID}",
        BASE64.encode(client.public_bytes())
    );
    sim.server.scan(sim.now, &qr).unwrap();
    let got = sim.take(conn);
    let [
        Got::Json(t1, conn_msg),
        Got::Json(t2, stream),
        Got::Json(t3, props),
    ] = got.as_slice()
    else {
        panic!("{got:?}")
    };
    assert_eq!((t1.as_str(), t2.as_str(), t3.as_str()), ("s1", "s2", "s3"));
    let seed = SeedAccount::default();
    let info = &conn_msg[1];
    assert_eq!(conn_msg[0], "Conn");
    assert_eq!(info["wid"], seed.wid.as_str());
    assert_eq!(info["pushname"], seed.pushname.as_str());
    assert_eq!(info["platform"], "android");
    assert_eq!(info["battery"], 87);
    assert_eq!(
        info["phone"]["device_model"],
        seed.phone.device_model.as_str()
    );
    for token in ["clientToken", "serverToken", "browserToken"] {
        assert!(
            info[token].as_str().is_some_and(|t| t.len() > 20),
            "{token}"
        );
    }
    assert_eq!(stream, &json!(["Stream", "update", false, "0.2.7314"]));
    assert_eq!(props[0], "Props");
    assert_eq!(props[1]["maxParticipants"], 257);

    let secret = BASE64.decode(info["secret"].as_str().unwrap()).unwrap();
    assert_eq!(secret.len(), 144);
    let keys = SessionKeys::from_secret(&client, &secret).expect("HMAC check passes");
    assert_eq!(sim.server.session_keys(CLIENT_ID), Some(&keys));
    assert_eq!(sim.server.logged_in_client(conn), Some(CLIENT_ID));

    // Contacts and chats follow once the push delay has passed.
    assert_eq!(
        sim.server.poll_timeout(),
        Some(sim.now + Duration::from_millis(200))
    );
    sim.advance(Duration::from_millis(199));
    assert!(sim.take(conn).is_empty());
    sim.advance(Duration::from_millis(1));
    let got = sim.take(conn);
    let [Got::Binary(c_tag, contacts), Got::Binary(h_tag, chats)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert!(c_tag.starts_with("preempt") && h_tag.starts_with("preempt"));
    let contacts = open_node(&keys, contacts);
    assert_eq!(contacts.tag, "response");
    assert_eq!(contacts.attrs.get("type"), Some("contacts"));
    let jids: Vec<&str> = contacts
        .child_nodes()
        .iter()
        .map(|u| u.attrs.get("jid").unwrap())
        .collect();
    let seed_jids: Vec<&str> = seed.contacts.iter().map(|c| c.jid.as_str()).collect();
    assert_eq!(jids, seed_jids);
    assert_eq!(
        contacts.child_nodes()[0].attrs.get("name"),
        seed.contacts[0].name.as_deref()
    );
    let chats = open_node(&keys, chats);
    assert_eq!(chats.attrs.get("type"), Some("chat"));
    assert_eq!(chats.child_nodes().len(), seed.chats.len());
    assert_eq!(chats.child_nodes()[0].attrs.get("count"), Some("2"));
    assert_eq!(chats.child_nodes()[2].attrs.get("archive"), Some("true"));
    assert_eq!(sim.server.poll_timeout(), None);

    let events = sim.events();
    assert!(events.contains(&SimEvent::Paired {
        conn,
        client_id: CLIENT_ID.into(),
        wid: seed.wid.clone()
    }));
    assert!(events.contains(&SimEvent::LoggedIn {
        conn,
        client_id: CLIENT_ID.into(),
        restored: false,
        challenged: false
    }));
}

#[test]
fn scan_refuses_bad_qr_codes() {
    let mut sim = Sim::new(Config::default());
    let conn = sim.connect();
    let qr_ref = sim.init(conn);
    let key = BASE64.encode([9u8; 32]);
    assert!(matches!(
        sim.server.scan(sim.now, "just text"),
        Err(ScanError::MalformedQr(_))
    ));
    assert!(matches!(
        sim.server.scan(
            sim.now,
            &format!("{qr_ref},{},{CLIENT_ID}", BASE64.encode([1u8; 31]))
        ),
        Err(ScanError::MalformedQr(_))
    ));
    assert_eq!(
        sim.server.scan(sim.now, &format!("nope,{key},{CLIENT_ID}")),
        Err(ScanError::UnknownRef("nope".into()))
    );
    assert_eq!(
        sim.server.scan(sim.now, &format!("{qr_ref},{key},other")),
        Err(ScanError::ClientIdMismatch)
    );
    assert_eq!(
        sim.server.scan_as(
            sim.now,
            &format!("{qr_ref},{key},{CLIENT_ID}"),
            Some("1@c.us")
        ),
        Err(ScanError::UnknownAccount("1@c.us".into()))
    );
    sim.advance(Duration::from_secs(20));
    assert_eq!(
        sim.server
            .scan(sim.now, &format!("{qr_ref},{key},{CLIENT_ID}")),
        Err(ScanError::ExpiredRef(qr_ref))
    );
    assert!(sim.take(conn).is_empty());
}

#[test]
fn presented_qr_is_scanned_after_the_auto_scan_delay() {
    let mut sim = Sim::new(Config {
        auto_scan_delay: Some(Duration::from_millis(1500)),
        ..Config::default()
    });
    let conn = sim.connect();
    let qr_ref = sim.init(conn);
    let client = KeyPair::generate(&mut sim.rng);
    let qr = format!(
        "{qr_ref},{},{CLIENT_ID}",
        BASE64.encode(client.public_bytes())
    );
    let at = sim.server.present_qr(sim.now, &qr).unwrap();
    assert_eq!(at, Some(sim.now + Duration::from_millis(1500)));
    assert_eq!(sim.server.poll_timeout(), at);
    sim.advance(Duration::from_millis(1499));
    assert!(sim.take(conn).is_empty());
    sim.advance(Duration::from_millis(1));
    let got = sim.take(conn);
    let Some(Got::Json(tag, body)) = got.first() else {
        panic!("{got:?}")
    };
    assert_eq!(tag, "s1");
    let secret = BASE64.decode(body[1]["secret"].as_str().unwrap()).unwrap();
    let keys = SessionKeys::from_secret(&client, &secret).unwrap();
    assert_eq!(sim.server.session_keys(CLIENT_ID), Some(&keys));
}

#[test]
fn takeover_without_challenge_sends_conn_without_secret_and_new_tokens() {
    let mut sim = Sim::new(Config::default());
    let (first, keys, tokens) = sim.qr_login();
    sim.server.handle_disconnect(first, sim.now);
    sim.take(first);

    let conn = sim.connect();
    sim.init(conn);
    sim.login(conn, &tokens, "takeover");
    let got = sim.take(conn);
    let Some(Got::Json(tag, conn_msg)) = got.first() else {
        panic!("{got:?}")
    };
    assert_eq!(tag, "s1");
    assert_eq!(conn_msg[0], "Conn");
    assert!(conn_msg[1].get("secret").is_none());
    assert_ne!(conn_msg[1]["clientToken"], tokens["clientToken"]);
    assert_ne!(conn_msg[1]["serverToken"], tokens["serverToken"]);
    assert_eq!(status_of(&got, "1600000001.--1"), Some(200));
    // The login ack comes after Conn, as real clients race the two.
    assert!(matches!(got.last(), Some(Got::Json(t, _)) if t == "1600000001.--1"));
    assert_eq!(sim.server.session_keys(CLIENT_ID), Some(&keys));
    assert!(sim.events().contains(&SimEvent::LoggedIn {
        conn,
        client_id: CLIENT_ID.into(),
        restored: true,
        challenged: false
    }));

    // The old tokens were replaced.
    let other = sim.connect();
    sim.login(other, &tokens, "takeover");
    assert_eq!(status_of(&sim.take(other), "1600000001.--1"), Some(401));
    // The new ones work, and take the session over from `conn`.
    let newer = sim.connect();
    sim.login(newer, &conn_msg[1], "takeover");
    assert_eq!(status_of(&sim.take(newer), "1600000001.--1"), Some(200));
}

#[test]
fn takeover_with_challenge_sends_conn_as_s2_after_a_correct_answer() {
    let mut sim = Sim::new(Config {
        challenge_on_restore: true,
        ..Config::default()
    });
    let (first, keys, tokens) = sim.qr_login();
    sim.server.handle_disconnect(first, sim.now);

    let conn = sim.connect();
    sim.init(conn);
    sim.login(conn, &tokens, "takeover");
    let got = sim.take(conn);
    let [Got::Json(tag, cmd)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(tag, "s1");
    assert_eq!(cmd[0], "Cmd");
    assert_eq!(cmd[1]["type"], "challenge");
    let challenge = BASE64
        .decode(cmd[1]["challenge"].as_str().unwrap())
        .unwrap();
    let answer = BASE64.encode(challenge_response(&keys, &challenge));
    sim.answer_challenge(conn, &answer, &tokens);
    let got = sim.take(conn);
    assert_eq!(status_of(&got, "c1"), Some(200));
    let conn_msg = got
        .iter()
        .find_map(|g| match g {
            Got::Json(t, body) if t == "s2" => Some(body),
            _ => None,
        })
        .expect("Conn as s2");
    assert_eq!(conn_msg[0], "Conn");
    assert!(conn_msg[1].get("secret").is_none());
    assert_eq!(status_of(&got, "1600000001.--1"), Some(200));
    assert!(sim.events().contains(&SimEvent::LoggedIn {
        conn,
        client_id: CLIENT_ID.into(),
        restored: true,
        challenged: true
    }));
}

#[test]
fn wrong_challenge_answer_is_refused_with_401() {
    let mut sim = Sim::new(Config {
        challenge_on_restore: true,
        ..Config::default()
    });
    let (first, _, tokens) = sim.qr_login();
    sim.server.handle_disconnect(first, sim.now);
    let conn = sim.connect();
    sim.login(conn, &tokens, "takeover");
    sim.take(conn);
    let wrong = BASE64.encode([0u8; 32]);
    sim.answer_challenge(conn, &wrong, &tokens);
    let got = sim.take(conn);
    assert_eq!(status_of(&got, "c1"), Some(401));
    assert_eq!(status_of(&got, "1600000001.--1"), Some(401));
    assert_eq!(sim.server.logged_in_client(conn), None);
    // The connection is still usable.
    sim.send_text(conn, "?,,").unwrap();
    assert!(matches!(sim.take(conn).as_slice(), [Got::Pong(_)]));
}

#[test]
fn unknown_tokens_get_401_and_tos_blocked_accounts_403() {
    let mut sim = Sim::new(Config::default());
    let conn = sim.connect();
    sim.login(
        conn,
        &json!({"clientToken": "nope", "serverToken": "nope"}),
        "takeover",
    );
    assert_eq!(status_of(&sim.take(conn), "1600000001.--1"), Some(401));

    let (first, _, tokens) = sim.qr_login();
    sim.server.handle_disconnect(first, sim.now);
    assert!(sim.server.set_account_tos(&SeedAccount::default().wid, 2));
    let conn = sim.connect();
    sim.login(conn, &tokens, "takeover");
    let got = sim.take(conn);
    let [Got::Json(_, body)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(body, &json!({"status": 403, "tos": 2}));
    assert!(
        sim.events()
            .contains(&SimEvent::LoginRefused { conn, status: 403 })
    );
}

#[test]
fn takeover_replaces_the_live_connection_and_reconnect_gets_409() {
    let mut sim = Sim::new(Config::default());
    let (first, _, tokens) = sim.qr_login();
    sim.take(first);

    // "reconnect" does not steal a live session.
    let second = sim.connect();
    sim.login(second, &tokens, "reconnect");
    assert_eq!(status_of(&sim.take(second), "1600000001.--1"), Some(409));

    // "takeover" does: the first connection is told and closed.
    sim.login(second, &tokens, "takeover");
    let mut outputs = Vec::new();
    while let Some(o) = sim.server.poll_output() {
        outputs.push(o);
    }
    let to_first: Vec<&Output> = outputs
        .iter()
        .filter(
            |o| matches!(o, Output::Send { conn, .. } | Output::Close { conn } if *conn == first),
        )
        .collect();
    let [Output::Send { message, .. }, Output::Close { .. }] = to_first.as_slice() else {
        panic!("{to_first:?}")
    };
    let Frame::Json { body, .. } = Frame::parse(message).unwrap() else {
        panic!()
    };
    assert_eq!(
        body,
        json!(["Cmd", {"type": "disconnect", "kind": "replaced"}])
    );
    assert!(sim.events().contains(&SimEvent::Replaced {
        old: first,
        new: second
    }));
    // Anything the replaced connection still sends is refused with 409.
    assert_eq!(
        sim.send_text(first, r#"x,,["query","exist","1@c.us"]"#),
        Err(RequestError::Replaced)
    );
    // A second login on a logged-in connection: 405.
    let session = sim.server.session(CLIENT_ID).unwrap();
    let tokens = json!({"clientToken": session.client_token, "serverToken": session.server_token});
    sim.login(second, &tokens, "takeover");
    assert_eq!(status_of(&sim.take(second), "1600000001.--1"), Some(405));
}

#[test]
fn goodbye_unpairs_and_the_tokens_are_refused_after() {
    let mut sim = Sim::new(Config::default());
    let (conn, _, tokens) = sim.qr_login();
    sim.take(conn);
    // Baileys 3.5.3 sends one comma, WhatsApp Web two: both must work.
    sim.send_text(conn, r#"goodbye,["admin","Conn","disconnect"]"#)
        .unwrap();
    assert!(matches!(sim.take(conn).as_slice(), [Got::Close]));
    assert!(sim.events().contains(&SimEvent::LoggedOut {
        client_id: CLIENT_ID.into(),
        via: LogoutVia::Goodbye
    }));
    assert!(sim.server.session(CLIENT_ID).is_none());
    // Until the transport closes, anything more on the socket is refused as logged out.
    assert_eq!(
        sim.send_text(conn, r#"x,,["admin","test"]"#),
        Err(RequestError::NotLoggedIn)
    );
    assert_eq!(status_of(&sim.take(conn), "x"), Some(401));
    sim.server.handle_disconnect(conn, sim.now);
    let conn = sim.connect();
    sim.login(conn, &tokens, "takeover");
    assert_eq!(status_of(&sim.take(conn), "1600000001.--1"), Some(401));

    let (conn, _, _) = sim.qr_login();
    sim.take(conn);
    sim.send_text(conn, r#"goodbye,,["admin","Conn","disconnect"]"#)
        .unwrap();
    assert!(matches!(sim.take(conn).as_slice(), [Got::Close]));
    assert!(sim.server.session(CLIENT_ID).is_none());
}

#[test]
fn http_logout_checks_the_mac_then_unpairs() {
    let mut sim = Sim::new(Config::default());
    let (conn, keys, tokens) = sim.qr_login();
    sim.take(conn);
    let t = tokens["browserToken"].as_str().unwrap().to_owned();
    let m = logout_token(&keys);
    assert_eq!(
        sim.server.http_logout(sim.now, "", &m),
        Err(LogoutError::MissingParameter)
    );
    assert_eq!(
        sim.server.http_logout(sim.now, "other", &m),
        Err(LogoutError::UnknownToken)
    );
    let wrong = logout_token(&SessionKeys::new([1; 32], [2; 32]));
    assert_eq!(
        sim.server.http_logout(sim.now, &t, &wrong),
        Err(LogoutError::BadMac)
    );
    assert_eq!(
        sim.server.http_logout(sim.now, &t, "not base64!"),
        Err(LogoutError::BadMac)
    );
    assert!(sim.server.session(CLIENT_ID).is_some());
    assert_eq!(sim.server.http_logout(sim.now, &t, &m), Ok(()));
    // The open connection is told and closed.
    let got = sim.take(conn);
    assert!(
        matches!(got.as_slice(), [Got::Json(_, body), Got::Close] if body == &json!(["Cmd", {"type": "disconnect"}])),
        "{got:?}"
    );
    assert_eq!(
        sim.server.http_logout(sim.now, &t, &m),
        Err(LogoutError::UnknownToken)
    );
    sim.server.handle_disconnect(conn, sim.now);
    let conn = sim.connect();
    sim.login(conn, &tokens, "takeover");
    assert_eq!(status_of(&sim.take(conn), "1600000001.--1"), Some(401));
}

#[test]
fn binary_queries_are_answered_with_sealed_responses() {
    let mut sim = Sim::new(Config::default());
    let (conn, keys, _) = sim.qr_login();
    sim.take(conn);
    let query = Node::new("query")
        .attr("type", "contacts")
        .attr("epoch", "1");
    let plaintext = Codec::legacy().encode(&query).unwrap();
    let sealed = seal_client_frame(
        &keys,
        Some(Metric::QueryContacts),
        Flags::EXPECTS_RESPONSE,
        &plaintext,
        &mut sim.rng,
    );
    let mut frame = b"123.--7,".to_vec();
    frame.extend_from_slice(&sealed);
    sim.send_binary(conn, frame).unwrap();
    let got = sim.take(conn);
    let [Got::Binary(tag, payload)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(tag, "123.--7");
    let response = open_node(&keys, payload);
    assert_eq!(response.attrs.get("type"), Some("contacts"));
    assert_eq!(
        response.child_nodes().len(),
        SeedAccount::default().contacts.len()
    );
    let event = sim
        .events()
        .into_iter()
        .find(|e| matches!(e, SimEvent::ClientNode { .. }))
        .unwrap();
    let SimEvent::ClientNode {
        tag, metric, node, ..
    } = event
    else {
        unreachable!()
    };
    assert_eq!(tag, "123.--7");
    assert_eq!(metric, 6);
    assert_eq!(node.description, "query");
    assert_eq!(node.attr("type"), Some("contacts"));

    // A set action (presence) is acknowledged with 200.
    let presence = Node::new("action")
        .attr("type", "set")
        .attr("epoch", "1")
        .children([Node::new("presence").attr("type", "available")]);
    let sealed = seal_client_frame(
        &keys,
        Some(Metric::Presence),
        Flags::from_bits(0xa0),
        &Codec::legacy().encode(&presence).unwrap(),
        &mut sim.rng,
    );
    let mut frame = b"p1,".to_vec();
    frame.extend_from_slice(&sealed);
    sim.send_binary(conn, frame).unwrap();
    assert_eq!(status_of(&sim.take(conn), "p1"), Some(200));
}

#[test]
fn bad_input_gets_4xx_answers_and_the_connection_stays_usable() {
    let mut sim = Sim::new(Config {
        max_frame_len: 4096,
        ..Config::default()
    });
    let (conn, keys, _) = sim.qr_login();
    sim.take(conn);

    let cases: Vec<(WireMessage, Option<(&str, i64)>)> = vec![
        (WireMessage::Text("t1,{not json".into()), Some(("t1", 400))),
        (
            WireMessage::Text("t2,,[\"admin\"]".into()),
            Some(("t2", 400)),
        ),
        (WireMessage::Text("t3,{\"a\":1}".into()), Some(("t3", 400))),
        (
            WireMessage::Text("t4,,[\"admin\",\"frobnicate\"]".into()),
            Some(("t4", 404)),
        ),
        (
            WireMessage::Text("t5,,[\"query\",\"nope\",\"x\"]".into()),
            Some(("t5", 404)),
        ),
        (
            WireMessage::Text("t6,[\"admin\",\"init\",\"bad\"]".into()),
            Some(("t6", 400)),
        ),
        (WireMessage::Text("no comma at all".into()), None),
        (WireMessage::Text("!12345".into()), None),
        (
            WireMessage::Text(format!("t7,\"{}\"", "x".repeat(5000))),
            Some(("t7", 413)),
        ),
        // Bad HMAC, truncated and empty binary payloads.
        (
            WireMessage::Binary([b"b1,".as_slice(), &[6, 0x80], &[0u8; 64]].concat()),
            Some(("b1", 401)),
        ),
        (
            WireMessage::Binary(b"b2,\x06\x80\x01\x02".to_vec()),
            Some(("b2", 401)),
        ),
        (WireMessage::Binary(b"b3,".to_vec()), Some(("b3", 401))),
        (WireMessage::Binary(vec![0xff; 10]), None),
        (
            WireMessage::Binary([b"b4,".as_slice(), &[0u8; 5000]].concat()),
            Some(("b4", 413)),
        ),
    ];
    for (message, expected) in cases {
        let result = sim.server.handle_message(conn, sim.now, message.clone());
        assert!(result.is_err(), "{message:?} accepted");
        let got = sim.take(conn);
        match expected {
            Some((tag, status)) => {
                assert_eq!(status_of(&got, tag), Some(status), "{message:?} -> {got:?}");
            }
            None => assert!(got.is_empty(), "{got:?}"),
        }
    }
    // Valid crypto around bytes that are not a node: 400.
    let sealed = seal_client_frame(
        &keys,
        None,
        Flags::EXPECTS_RESPONSE,
        &[0xf8, 0x09],
        &mut sim.rng,
    );
    let result = sim.send_binary(conn, [b"n1,".as_slice(), &sealed].concat());
    assert!(matches!(result, Err(RequestError::Node(_))));
    assert_eq!(status_of(&sim.take(conn), "n1"), Some(400));

    // Still logged in and answering.
    sim.send_text(conn, "?,,").unwrap();
    assert!(matches!(sim.take(conn).as_slice(), [Got::Pong(T0)]));
    sim.send_text(conn, r#"q1,,["query","exist","15550100002@c.us"]"#)
        .unwrap();
    assert_eq!(status_of(&sim.take(conn), "q1"), Some(200));
    assert_eq!(sim.server.logged_in_client(conn), Some(CLIENT_ID));
    assert!(
        sim.events()
            .iter()
            .any(|e| matches!(e, SimEvent::Rejected { status: 413, .. }))
    );
}

#[test]
fn binary_frames_before_login_are_refused() {
    let mut sim = Sim::new(Config::default());
    let conn = sim.connect();
    assert_eq!(
        sim.send_binary(conn, b"x1,\x06\x80".to_vec()),
        Err(RequestError::NotLoggedIn)
    );
    assert_eq!(status_of(&sim.take(conn), "x1"), Some(401));
    assert_eq!(
        sim.send_text(conn, r#"x2,,["query","exist","1@c.us"]"#),
        Err(RequestError::NotLoggedIn)
    );
    assert_eq!(status_of(&sim.take(conn), "x2"), Some(401));
}

#[test]
fn random_input_never_panics() {
    let mut sim = Sim::new(Config {
        max_frame_len: 2048,
        ..Config::default()
    });
    let (conn, _, _) = sim.qr_login();
    let other = sim.connect();
    let mut rng = StdRng::seed_from_u64(99);
    let prefixes: [&[u8]; 6] = [b"", b"t,", b"t,,", b"goodbye,", b"?,,", b"s1,[\"admin\","];
    for i in 0..3000u32 {
        let len = (rand::RngCore::next_u32(&mut rng) % 3000) as usize;
        let mut bytes = vec![0u8; len];
        rand::RngCore::fill_bytes(&mut rng, &mut bytes);
        let prefix = prefixes[i as usize % prefixes.len()];
        let bytes = [prefix, &bytes].concat();
        let target = if i % 2 == 0 { conn } else { other };
        let message = if i % 3 == 0 {
            WireMessage::Text(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            WireMessage::Binary(bytes)
        };
        let _ = sim.server.handle_message(target, sim.now, message);
        while sim.server.poll_output().is_some() {}
    }
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let run = || {
        let mut sim = Sim::new(Config::default());
        let conn = sim.connect();
        let qr_ref = sim.init(conn);
        let client = KeyPair::from_private_bytes([5; 32]);
        let qr = format!(
            "{qr_ref},{},{CLIENT_ID}",
            BASE64.encode(client.public_bytes())
        );
        sim.server.scan(sim.now, &qr).unwrap();
        sim.advance(Duration::from_secs(1));
        let mut out = Vec::new();
        while let Some(o) = sim.server.poll_output() {
            out.push(o);
        }
        out
    };
    assert_eq!(run(), run());
}

#[test]
fn login_answers_wait_for_the_phone_round_trip() {
    let mut sim = Sim::new(Config {
        challenge_on_restore: true,
        ..Config::default()
    });
    let (first, keys, tokens) = sim.qr_login();
    sim.server.handle_disconnect(first, sim.now);
    let latency = sim.server.config().phone_latency;
    assert_eq!(latency, Duration::from_millis(250));

    let conn = sim.connect();
    sim.init(conn);
    sim.send_text(
        conn,
        &format!(
            r#"l1,["admin","login","{}","{}","{CLIENT_ID}","takeover"]"#,
            tokens["clientToken"].as_str().unwrap(),
            tokens["serverToken"].as_str().unwrap(),
        ),
    )
    .unwrap();
    // Nothing yet: the server asks the phone first.
    assert!(sim.take(conn).is_empty());
    assert_eq!(sim.server.poll_timeout(), Some(sim.now + latency));
    sim.send_text(conn, "?,,").unwrap();
    assert!(matches!(sim.take(conn).as_slice(), [Got::Pong(_)]));
    sim.advance(latency);
    let got = sim.take(conn);
    let [Got::Json(tag, cmd)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!((tag.as_str(), &cmd[1]["type"]), ("s1", &json!("challenge")));
    let challenge = BASE64
        .decode(cmd[1]["challenge"].as_str().unwrap())
        .unwrap();

    // The challenge is acknowledged at once, Conn follows one round-trip later.
    let answer = BASE64.encode(challenge_response(&keys, &challenge));
    sim.send_text(
        conn,
        &format!(
            r#"c1,["admin","challenge","{answer}","{}","{CLIENT_ID}"]"#,
            tokens["serverToken"].as_str().unwrap()
        ),
    )
    .unwrap();
    let got = sim.take(conn);
    assert!(
        matches!(got.as_slice(), [Got::Json(t, _)] if t == "c1"),
        "{got:?}"
    );
    sim.advance(latency);
    let got = sim.take(conn);
    assert!(matches!(got.first(), Some(Got::Json(t, body)) if t == "s2" && body[0] == "Conn"));
    assert_eq!(status_of(&got, "l1"), Some(200));
    // The pushes follow Conn by the push delay.
    assert_eq!(
        sim.server.poll_timeout(),
        Some(sim.now + Duration::from_millis(200))
    );
}
