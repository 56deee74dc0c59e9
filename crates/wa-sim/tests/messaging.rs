//! Messaging on the sans-IO core, stepped with a simulated clock by minimal clients written
//! here from the protocol description: relays and routing between two accounts, acks and
//! receipts, de-duplication, offline delivery, the echo contact, history paging, message info,
//! search, groups, chat operations, blocklist, profile, the media host, and injected faults.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use sha2::Digest as _;
use wa_binary::{Codec, Node};
use wa_core::{Frame, Timestamp, WireMessage};
use wa_crypto::KeyPair;
use wa_crypto::legacy::{Flags, Metric, SessionKeys, open_server_frame, seal_client_frame};
use wa_proto::prost::Message as _;
use wa_proto::{ImageMessage, Message, MessageKey, WebMessageInfo};
use wa_sim::core::{Config, ConnId, Output, Server, SimEvent};
use wa_sim::media::MediaError;
use wa_sim::seed::SeedContact;
use wa_sim::store::{ECHO_JID, wire_jid};
use wa_sim::{RequestError, SeedAccount};

const T0: u64 = 1_600_000_000_000;
const A: &str = "15550100001@c.us";
const B: &str = "15550100002@c.us";

/// One server → client message, parsed (binary ones opened with the session's keys).
#[derive(Debug, Clone)]
enum Got {
    Json(String, Value),
    Node(String, Node),
    Undecryptable(String),
    Close,
}

struct Client {
    conn: ConnId,
    keys: SessionKeys,
    tokens: Value,
    client_id: String,
}

struct Sim {
    server: Server,
    now: Timestamp,
    rng: StdRng,
    inbox: HashMap<ConnId, Vec<Got>>,
    keys: HashMap<ConnId, SessionKeys>,
    next_tag: u32,
}

fn two_accounts() -> Vec<SeedAccount> {
    let a = SeedAccount::default();
    let b = SeedAccount {
        wid: B.to_owned(),
        pushname: "Alice".to_owned(),
        contacts: vec![SeedContact {
            jid: A.to_owned(),
            name: Some("Sim Phone".to_owned()),
            notify: None,
            short: None,
        }],
        chats: Vec::new(),
        ..SeedAccount::default()
    };
    vec![a, b]
}

impl Sim {
    fn new() -> Sim {
        Sim::with(Config {
            accounts: two_accounts(),
            ..Config::default()
        })
    }

    fn with(config: Config) -> Sim {
        Sim {
            server: Server::new(Config {
                rng_seed: Some(9),
                media_host: Some("127.0.0.1:9".into()),
                ..config
            }),
            now: Timestamp::from_unix_ms(T0),
            rng: StdRng::seed_from_u64(3),
            inbox: HashMap::new(),
            keys: HashMap::new(),
            next_tag: 0,
        }
    }

    fn pump(&mut self) {
        while let Some(output) = self.server.poll_output() {
            match output {
                Output::Send { conn, message } => {
                    let got = match Frame::parse(&message).expect("server frames parse") {
                        Frame::Json { tag, body, .. } => Got::Json(tag.into_string(), body),
                        Frame::Binary { tag, payload } => {
                            let keys = self.keys.get(&conn).expect("binary only after login");
                            match open_server_frame(keys, &payload) {
                                Ok(plain) => Got::Node(
                                    tag.into_string(),
                                    Codec::legacy().decode(&plain).expect("valid node"),
                                ),
                                Err(_) => Got::Undecryptable(tag.into_string()),
                            }
                        }
                        other => panic!("unexpected {other:?}"),
                    };
                    self.inbox.entry(conn).or_default().push(got);
                }
                Output::Close { conn } => self.inbox.entry(conn).or_default().push(Got::Close),
            }
        }
    }

    fn take(&mut self, c: &Client) -> Vec<Got> {
        self.pump();
        self.inbox.remove(&c.conn).unwrap_or_default()
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        self.server.handle_timeout(self.now);
        self.pump();
    }

    fn text(&mut self, conn: ConnId, text: &str) -> Result<(), RequestError> {
        let r = self
            .server
            .handle_message(conn, self.now, WireMessage::Text(text.to_owned()));
        self.pump();
        r
    }

    /// QR login of a new client as account `wid`, with the initial pushes consumed.
    fn login(&mut self, wid: &str, client_id: &str) -> Client {
        self.login_with_pushes(wid, client_id).0
    }

    /// QR login of a new client as account `wid`; returns what was pushed after `Conn`.
    fn login_with_pushes(&mut self, wid: &str, client_id: &str) -> (Client, Vec<Got>) {
        let conn = self.server.handle_connect(self.now);
        self.text(
            conn,
            &format!(
                r#"1.--0,["admin","init",[2,2142,12],["Baileys","Chrome","3.0"],"{client_id}",true]"#
            ),
        )
        .unwrap();
        let got = self.inbox.remove(&conn).unwrap_or_default();
        let Some(Got::Json(_, init)) = got.first() else {
            panic!("{got:?}")
        };
        let qr_ref = init["ref"].as_str().unwrap().to_owned();
        let pair = KeyPair::generate(&mut self.rng);
        let qr = format!(
            "{qr_ref},{},{client_id}",
            BASE64.encode(pair.public_bytes())
        );
        self.server.scan_as(self.now, &qr, Some(wid)).unwrap();
        self.pump();
        let got = self.inbox.remove(&conn).unwrap_or_default();
        let Some(Got::Json(_, conn_msg)) = got.first() else {
            panic!("{got:?}")
        };
        let secret = BASE64
            .decode(conn_msg[1]["secret"].as_str().unwrap())
            .unwrap();
        let keys = SessionKeys::from_secret(&pair, &secret).unwrap();
        self.keys.insert(conn, keys.clone());
        let client = Client {
            conn,
            keys,
            tokens: conn_msg[1].clone(),
            client_id: client_id.to_owned(),
        };
        self.advance(self.server.config().initial_push_delay);
        let pushes = self.take(&client);
        (client, pushes)
    }

    /// Restores `old`'s session on a new connection (takeover).
    fn restore(&mut self, old: &Client) -> Client {
        let conn = self.server.handle_connect(self.now);
        self.keys.insert(conn, old.keys.clone());
        self.text(
            conn,
            &format!(
                r#"1.--1,["admin","login","{}","{}","{}","takeover"]"#,
                old.tokens["clientToken"].as_str().unwrap(),
                old.tokens["serverToken"].as_str().unwrap(),
                old.client_id
            ),
        )
        .unwrap();
        self.advance(self.server.config().phone_latency);
        let got = self.inbox.remove(&conn).unwrap_or_default();
        let Some(Got::Json(_, conn_msg)) = got.first() else {
            panic!("{got:?}")
        };
        let client = Client {
            conn,
            keys: old.keys.clone(),
            tokens: conn_msg[1].clone(),
            client_id: old.client_id.clone(),
        };
        let mut rest = got[1..].to_vec();
        self.advance(self.server.config().initial_push_delay);
        rest.extend(self.take(&client));
        self.inbox.insert(conn, rest);
        client
    }

    fn send_node(&mut self, c: &Client, tag: &str, node: &Node) -> Result<(), RequestError> {
        let sealed = seal_client_frame(
            &c.keys,
            Some(Metric::Message),
            Flags::EXPECTS_RESPONSE,
            &Codec::legacy().encode(node).unwrap(),
            &mut self.rng,
        );
        let mut frame = format!("{tag},").into_bytes();
        frame.extend_from_slice(&sealed);
        let r = self
            .server
            .handle_message(c.conn, self.now, WireMessage::Binary(frame));
        self.pump();
        r
    }

    fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("t{}", self.next_tag)
    }

    /// Sends `node` and returns the answer on its tag (JSON or node).
    fn ask(&mut self, c: &Client, node: &Node) -> Got {
        let tag = self.tag();
        self.send_node(c, &tag, node).unwrap();
        self.answer(c, &tag)
    }

    fn answer(&mut self, c: &Client, tag: &str) -> Got {
        self.pump();
        let inbox = self.inbox.entry(c.conn).or_default();
        let i = inbox
            .iter()
            .position(|g| matches!(g, Got::Json(t, _) | Got::Node(t, _) if t == tag))
            .unwrap_or_else(|| panic!("no answer on {tag} in {inbox:?}"));
        inbox.remove(i)
    }

    fn json(&mut self, c: &Client, body: &str) -> Value {
        let tag = self.tag();
        self.text(c.conn, &format!("{tag},,{body}")).unwrap();
        match self.answer(c, &tag) {
            Got::Json(_, v) => v,
            other => panic!("{other:?}"),
        }
    }

    fn set(&mut self, c: &Client, child: Node) -> Value {
        let node = Node::new("action")
            .attr("type", "set")
            .attr("epoch", "1")
            .children([child]);
        match self.ask(c, &node) {
            Got::Json(_, v) => v,
            other => panic!("{other:?}"),
        }
    }

    fn query(&mut self, c: &Client, query: Node) -> Got {
        self.ask(c, &query)
    }

    /// Relays `info`; returns the status answered on the message id.
    fn relay(&mut self, c: &Client, info: &WebMessageInfo) -> Option<i64> {
        let id = info.key.id.clone().unwrap();
        let node = Node::new("action")
            .attr("type", "relay")
            .attr("epoch", "1")
            .children([Node::new("message").bytes(info.encode_to_vec())]);
        self.send_node(c, &id, &node).unwrap();
        self.pump();
        let inbox = self.inbox.entry(c.conn).or_default();
        let i = inbox
            .iter()
            .position(|g| matches!(g, Got::Json(t, _) if *t == id))?;
        match inbox.remove(i) {
            Got::Json(_, v) => v["status"].as_i64(),
            _ => None,
        }
    }
}

fn text_message(to: &str, id: &str, text: &str) -> WebMessageInfo {
    WebMessageInfo {
        key: MessageKey::new(wire_jid(to), true, id),
        message: Some(Message::text(text)),
        message_timestamp: Some(1_600_000_000),
        ..WebMessageInfo::default()
    }
}

/// The relayed messages in `got` (from `action add=relay` nodes).
fn relayed(got: &[Got]) -> Vec<WebMessageInfo> {
    got.iter()
        .filter_map(|g| match g {
            Got::Node(_, n) if n.tag == "action" && n.attrs.get("add") == Some("relay") => {
                n.child("message").and_then(|m| m.content_bytes())
            }
            _ => None,
        })
        .map(|b| WebMessageInfo::decode_bytes(b).unwrap())
        .collect()
}

/// The `Msg` acks in `got`, as (id, ack).
fn acks(got: &[Got]) -> Vec<(String, i64)> {
    got.iter()
        .filter_map(|g| match g {
            Got::Json(_, v) if v[0] == "Msg" && v[1]["cmd"] == "ack" => Some((
                v[1]["id"].as_str().unwrap().to_owned(),
                v[1]["ack"].as_i64().unwrap(),
            )),
            _ => None,
        })
        .collect()
}

fn messages_of(got: &Got) -> Vec<WebMessageInfo> {
    match got {
        Got::Node(_, n) => n
            .children_named("message")
            .map(|m| WebMessageInfo::decode_bytes(m.content_bytes().unwrap()).unwrap())
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_message_between_two_accounts_is_delivered_acked_and_read() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let b = sim.login(B, "client-b");
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0AA01", "hi Alice")),
        Some(200)
    );
    // B's client gets it as an incoming message in chat A.
    let got_b = sim.take(&b);
    let incoming = relayed(&got_b);
    assert_eq!(incoming.len(), 1);
    let m = &incoming[0];
    assert_eq!(
        m.key.remote_jid.as_deref(),
        Some("15550100001@s.whatsapp.net")
    );
    assert_eq!(m.key.from_me, Some(false));
    assert_eq!(m.key.id.as_deref(), Some("3EB0AA01"));
    assert_eq!(m.message.as_ref().unwrap().text_content(), Some("hi Alice"));
    assert_eq!(m.push_name.as_deref(), Some("Sim Phone"));
    // B's phone received it: A is told (ack 2).
    assert_eq!(acks(&sim.take(&a)), [("3EB0AA01".to_owned(), 2)]);
    assert_eq!(sim.server.store(B).unwrap().chats[A].count, 1);

    // B reads the chat: A gets ack 3, and message info lists B as reader.
    let answer = sim.set(
        &b,
        Node::new("read")
            .attr("jid", A)
            .attr("index", "3EB0AA01")
            .attr("owner", "false")
            .attr("count", "1"),
    );
    assert_eq!(answer["status"], 200);
    assert_eq!(acks(&sim.take(&a)), [("3EB0AA01".to_owned(), 3)]);
    assert_eq!(sim.server.store(B).unwrap().chats[A].count, 0);
    let info = sim.query(
        &a,
        Node::new("query")
            .attr("type", "message_info")
            .attr("index", "3EB0AA01")
            .attr("jid", B),
    );
    let Got::Node(_, info) = info else {
        panic!("{info:?}")
    };
    let reads: Vec<&str> = info
        .child("read")
        .unwrap()
        .child_nodes()
        .iter()
        .filter_map(|u| u.attrs.get("jid"))
        .collect();
    assert_eq!(reads, ["15550100002@c.us"]);
    // A's store has the sent message at READ (status 4).
    let stored = sim.server.store(A).unwrap().chats[B]
        .message("3EB0AA01")
        .unwrap()
        .clone();
    assert_eq!(stored.info.status, Some(4));
    // Marking unread sets count -1.
    sim.set(&b, Node::new("read").attr("jid", A).attr("count", "-2"));
    assert_eq!(sim.server.store(B).unwrap().chats[A].count, -1);
    // Played receipt: ack 4.
    sim.set(
        &b,
        Node::new("received")
            .attr("type", "played")
            .attr("index", "3EB0AA01")
            .attr("from", A),
    );
    assert_eq!(acks(&sim.take(&a)), [("3EB0AA01".to_owned(), 4)]);
}

#[test]
fn a_resend_with_the_same_id_is_acked_again_not_delivered_twice() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let b = sim.login(B, "client-b");
    // The connection drops after the server took the message, before the ack.
    sim.server.fault_drop_next_relay_ack();
    assert_eq!(sim.relay(&a, &text_message(B, "3EB0DD01", "once")), None);
    let got_a = sim.take(&a);
    assert!(matches!(got_a.last(), Some(Got::Close)), "{got_a:?}");
    assert_eq!(relayed(&sim.take(&b)).len(), 1);
    sim.server.handle_disconnect(a.conn, sim.now);
    // The client restores and resends the same id.
    let a2 = sim.restore(&a);
    sim.take(&a2);
    assert_eq!(
        sim.relay(&a2, &text_message(B, "3EB0DD01", "once")),
        Some(200)
    );
    assert!(relayed(&sim.take(&b)).is_empty(), "not delivered again");
    let events: Vec<SimEvent> = std::iter::from_fn(|| sim.server.poll_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SimEvent::DuplicateRelay { id, .. } if id == "3EB0DD01"))
    );
    assert_eq!(sim.server.store(A).unwrap().chats[B].messages.len(), 1);
    assert_eq!(sim.server.store(B).unwrap().chats[A].messages.len(), 1);
}

#[test]
fn a_delivery_can_be_forced_to_happen_twice() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    sim.login(B, "client-b");
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0OF02", "second")),
        Some(200)
    );
    let b_conn = sim.server.account_connections(B)[0];
    let got: Vec<Got> = sim.inbox.remove(&b_conn).unwrap_or_default();
    assert_eq!(relayed(&got).len(), 1);

    sim.server.fault_duplicate_next_delivery();
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0DU01", "twice")),
        Some(200)
    );
    let got: Vec<Got> = sim.inbox.remove(&b_conn).unwrap_or_default();
    let twice = relayed(&got);
    assert_eq!(twice.len(), 2);
    assert_eq!(twice[0], twice[1]);
    // Stored once.
    let chat = &sim.server.store(B).unwrap().chats[A];
    assert_eq!(
        chat.messages
            .iter()
            .filter(|m| m.id() == "3EB0DU01")
            .count(),
        1
    );
}

#[test]
fn offline_messages_are_pushed_after_login() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0OF09", "queued")),
        Some(200)
    );
    let conn = sim.server.handle_connect(sim.now);
    sim.text(
        conn,
        r#"1.--0,["admin","init",[2,2142,12],["Baileys","Chrome","3.0"],"client-b",true]"#,
    )
    .unwrap();
    let got = sim.inbox.remove(&conn).unwrap();
    let Some(Got::Json(_, init)) = got.first() else {
        panic!()
    };
    let pair = KeyPair::generate(&mut sim.rng);
    let qr = format!(
        "{},{},client-b",
        init["ref"].as_str().unwrap(),
        BASE64.encode(pair.public_bytes())
    );
    sim.server.scan_as(sim.now, &qr, Some(B)).unwrap();
    sim.pump();
    let got = sim.inbox.remove(&conn).unwrap();
    let Some(Got::Json(_, conn_msg)) = got.first() else {
        panic!()
    };
    let secret = BASE64
        .decode(conn_msg[1]["secret"].as_str().unwrap())
        .unwrap();
    sim.keys
        .insert(conn, SessionKeys::from_secret(&pair, &secret).unwrap());
    sim.advance(sim.server.config().initial_push_delay);
    let got = sim.inbox.remove(&conn).unwrap();
    // After the chats, the recent messages (`add:last`), which include the queued one, so it is
    // not pushed again as a relay.
    assert!(relayed(&got).is_empty());
    let last = got
        .iter()
        .find_map(|g| match g {
            Got::Node(_, n) if n.attrs.get("add") == Some("last") => {
                Some(Got::Node(String::new(), n.clone()))
            }
            _ => None,
        })
        .expect("recent messages pushed");
    let pushed = messages_of(&last);
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].key.id.as_deref(), Some("3EB0OF09"));
    assert_eq!(pushed[0].key.from_me, Some(false));
    // The chat list names the new chat.
    let chats = got
        .iter()
        .find_map(|g| match g {
            Got::Node(_, n) if n.attrs.get("type") == Some("chat") => Some(n.clone()),
            _ => None,
        })
        .unwrap();
    assert!(chats.child_nodes().iter().any(
        |c| c.attrs.get("jid") == Some("15550100001@c.us") && c.attrs.get("count") == Some("1")
    ));
}

#[test]
fn without_recent_message_pushes_queued_messages_come_as_relays() {
    let mut sim = Sim::with(Config {
        accounts: two_accounts(),
        recent_messages_per_chat: 0,
        ..Config::default()
    });
    let a = sim.login(A, "client-a");
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0Q001", "one")),
        Some(200)
    );
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0Q002", "two")),
        Some(200)
    );
    let (b, pushes) = sim.login_with_pushes(B, "client-b");
    assert!(
        !pushes
            .iter()
            .any(|g| matches!(g, Got::Node(_, n) if n.attrs.get("add") == Some("last")))
    );
    let ids: Vec<String> = relayed(&pushes)
        .into_iter()
        .filter_map(|m| m.key.id)
        .collect();
    assert_eq!(ids, ["3EB0Q001", "3EB0Q002"]);
    // Nothing stays queued: the next message goes straight to B.
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0Q003", "three")),
        Some(200)
    );
    assert_eq!(relayed(&sim.take(&b)).len(), 1);
}

#[test]
fn the_echo_contact_acks_composes_and_echoes() {
    let mut sim = Sim::with(Config::default());
    let a = sim.login(A, "client-a");
    assert_eq!(
        sim.relay(&a, &text_message(ECHO_JID, "3EB0EC01", "ping")),
        Some(200)
    );
    let step = sim.server.config().echo_delay;
    let mut seen = Vec::new();
    for _ in 0..5 {
        sim.advance(step);
        seen.extend(sim.take(&a));
    }
    let acks = acks(&seen);
    assert_eq!(
        acks,
        [("3EB0EC01".to_owned(), 2), ("3EB0EC01".to_owned(), 3)]
    );
    let presences: Vec<&str> = seen
        .iter()
        .filter_map(|g| match g {
            Got::Json(_, v) if v[0] == "Presence" => v[1]["type"].as_str(),
            _ => None,
        })
        .collect();
    assert_eq!(presences, ["composing", "paused"]);
    let echo = relayed(&seen);
    assert_eq!(echo.len(), 1);
    assert_eq!(
        echo[0].message.as_ref().unwrap().conversation.as_deref(),
        Some("ping")
    );
    assert_eq!(
        echo[0].key.remote_jid.as_deref(),
        Some("15550109999@s.whatsapp.net")
    );
    assert_eq!(echo[0].key.from_me, Some(false));

    // History: before/after paging with `last`.
    for i in 0..3 {
        let id = format!("3EB0EC1{i}");
        sim.relay(&a, &text_message(ECHO_JID, &id, &format!("n{i}")));
    }
    sim.advance(step * 5);
    sim.take(&a);
    let ids = |got: &Got| -> Vec<String> {
        messages_of(got)
            .into_iter()
            .map(|m| m.key.id.unwrap())
            .collect()
    };
    let all = sim.server.store(A).unwrap().chats[ECHO_JID]
        .messages
        .iter()
        .map(|m| m.id().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(all.len(), 8);
    let q = |kind: &str, count: &str, index: Option<&str>| {
        Node::new("query")
            .attr("type", "message")
            .attr("jid", ECHO_JID)
            .attr("kind", kind)
            .attr("count", count)
            .attr_opt("index", index)
    };
    let last3 = sim.query(&a, q("before", "3", None));
    assert_eq!(ids(&last3), all[5..]);
    let before = sim.query(&a, q("before", "3", Some(&all[5])));
    assert_eq!(ids(&before), all[2..5]);
    let Got::Node(_, n) = &before else { panic!() };
    assert_eq!(n.attrs.get("last"), None);
    let first = sim.query(&a, q("before", "10", Some(&all[2])));
    assert_eq!(ids(&first), all[..2]);
    let Got::Node(_, n) = &first else { panic!() };
    assert_eq!(n.attrs.get("last"), Some("true"));
    let after = sim.query(&a, q("after", "2", Some(&all[0])));
    assert_eq!(ids(&after), all[1..3]);

    // Search finds the texts.
    let found = sim.query(
        &a,
        Node::new("query")
            .attr("type", "search")
            .attr("search", "PING")
            .attr("count", "10")
            .attr("page", "1"),
    );
    assert_eq!(messages_of(&found).len(), 2);
}

#[test]
fn groups_route_to_members_and_enforce_admin_rights() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let b = sim.login(B, "client-b");
    let created = sim.set(
        &a,
        Node::new("group")
            .attr("id", "g1")
            .attr("type", "create")
            .attr("author", A)
            .attr("subject", "Team")
            .children([Node::new("participant").attr("jid", B)]),
    );
    assert_eq!(created["status"], 200);
    let gid = created["gid"].as_str().unwrap().to_owned();
    assert!(gid.starts_with("15550100001-") && gid.ends_with("@g.us"));
    let meta = sim.json(&b, &format!(r#"["query","GroupMetadata","{gid}"]"#));
    assert_eq!(meta["subject"], "Team");
    assert_eq!(meta["owner"], A);
    assert_eq!(meta["participants"][0]["isSuperAdmin"], true);
    assert_eq!(meta["participants"][1]["id"], B);

    // A message to the group reaches B with A as participant.
    let mut info = text_message(&gid, "3EB0GR01", "hello team");
    info.key.remote_jid = Some(gid.clone());
    assert_eq!(sim.relay(&a, &info), Some(200));
    let incoming = relayed(&sim.take(&b));
    // First the creation notice (GROUP_CREATE stub with the subject), then the message.
    assert_eq!(incoming.len(), 2);
    assert_eq!(incoming[0].message_stub_type, Some(20));
    assert_eq!(incoming[0].message_stub_parameters, ["Team"]);
    assert_eq!(incoming[0].key.from_me, Some(false));
    assert_eq!(incoming[1].key.remote_jid.as_deref(), Some(gid.as_str()));
    assert_eq!(
        incoming[1].participant.as_deref(),
        Some("15550100001@s.whatsapp.net")
    );
    assert_eq!(sim.server.store(B).unwrap().chats[&gid].messages.len(), 2);

    // B is no admin: cannot add or promote, can change the subject (not restricted).
    let group = |kind: &str| {
        Node::new("group")
            .attr("id", "g2")
            .attr("type", kind)
            .attr("author", B)
            .attr("jid", &gid)
    };
    let refused = sim.set(
        &b,
        group("add").children([Node::new("participant").attr("jid", "15550100003@c.us")]),
    );
    assert_eq!(refused["status"], 401);
    assert_eq!(
        sim.set(&b, group("subject").attr("subject", "Renamed"))["status"],
        200
    );
    assert_eq!(sim.server.group(&gid).unwrap().subject, "Renamed");
    assert_eq!(
        sim.server.store(A).unwrap().chats[&gid].name.as_deref(),
        Some("Renamed")
    );
    let promote = Node::new("group")
        .attr("id", "g3")
        .attr("type", "promote")
        .attr("author", A)
        .attr("jid", &gid)
        .children([Node::new("participant").attr("jid", B)]);
    sim.take(&b);
    assert_eq!(sim.set(&a, promote)["status"], 200);
    assert!(sim.server.group(&gid).unwrap().is_admin(B));
    // B hears of it as a stub and as the `Chat` action Baileys listens to.
    let got = sim.take(&b);
    assert_eq!(relayed(&got)[0].message_stub_type, Some(29));
    assert!(got.iter().any(|g| matches!(g,
        Got::Json(_, v) if v[0] == "Chat" && v[1]["data"][0] == "promote" && v[1]["data"][2]["participants"][0] == B)));
    let description = Node::new("group")
        .attr("id", "g4")
        .attr("type", "description")
        .attr("author", B)
        .attr("jid", &gid)
        .children([Node::new("description")
            .attr("id", "d1")
            .bytes(b"about us".to_vec())]);
    assert_eq!(sim.set(&b, description)["status"], 200);
    assert_eq!(
        sim.server.group(&gid).unwrap().desc.as_deref(),
        Some("about us")
    );

    // Settings: announce-only reaches B as a GROUP_CHANGE_ANNOUNCE stub ("on").
    sim.take(&b);
    let prop = Node::new("group")
        .attr("id", "g5")
        .attr("type", "prop")
        .attr("author", A)
        .attr("jid", &gid)
        .children([Node::new("announcement").attr("value", "true")]);
    assert_eq!(sim.set(&a, prop)["status"], 200);
    assert!(sim.server.group(&gid).unwrap().announce);
    let stubs = relayed(&sim.take(&b));
    assert_eq!(stubs.len(), 1);
    assert_eq!(stubs[0].message_stub_type, Some(26));
    assert_eq!(stubs[0].message_stub_parameters, ["on"]);
    // Announce-only: once B is no admin, B's message is refused and stored nowhere; A's passes.
    let demote = Node::new("group")
        .attr("id", "g6")
        .attr("type", "demote")
        .attr("author", A)
        .attr("jid", &gid)
        .children([Node::new("participant").attr("jid", B)]);
    assert_eq!(sim.set(&a, demote)["status"], 200);
    let stored = |sim: &Sim, wid: &str| sim.server.store(wid).unwrap().chats[&gid].messages.len();
    let before = (stored(&sim, A), stored(&sim, B));
    let mut muted = text_message(&gid, "3EB0GR03", "may I?");
    muted.key.remote_jid = Some(gid.clone());
    assert_eq!(sim.relay(&b, &muted), Some(403));
    assert_eq!((stored(&sim, A), stored(&sim, B)), before);
    let mut news = text_message(&gid, "3EB0GR04", "admins only");
    news.key.remote_jid = Some(gid.clone());
    assert_eq!(sim.relay(&a, &news), Some(200));
    assert_eq!(
        (stored(&sim, A), stored(&sim, B)),
        (before.0 + 1, before.1 + 1)
    );

    // Invite codes: get, reset, join; leave.
    let code = sim.json(&a, &format!(r#"["query","inviteCode","{gid}"]"#));
    let code = code["code"].as_str().unwrap().to_owned();
    let reset = sim.json(&a, &format!(r#"["action","inviteReset","{gid}"]"#));
    assert_ne!(reset["code"].as_str().unwrap(), code);
    assert_eq!(
        sim.json(&b, &format!(r#"["action","invite","{code}"]"#))["status"],
        404
    );
    assert_eq!(sim.set(&b, group("leave"))["status"], 200);
    assert!(!sim.server.group(&gid).unwrap().is_member(B));
    assert!(sim.server.store(B).unwrap().chats[&gid].read_only);
    // A former member cannot send to the group.
    let mut late = text_message(&gid, "3EB0GR02", "let me back");
    late.key.remote_jid = Some(gid.clone());
    assert_eq!(sim.relay(&b, &late), Some(403));
    // Nor read it, with either query; a member can.
    assert_eq!(
        sim.json(&b, &format!(r#"["query","GroupMetadata","{gid}"]"#))["status"],
        401
    );
    let group_query = || Node::new("query").attr("type", "group").attr("jid", &gid);
    match sim.query(&b, group_query()) {
        Got::Json(_, v) => assert_eq!(v["status"], 401),
        other => panic!("{other:?}"),
    }
    match sim.query(&a, group_query()) {
        Got::Node(_, n) => assert_eq!(
            n.child("group").unwrap().attrs.get("subject"),
            Some("Renamed")
        ),
        other => panic!("{other:?}"),
    }
    let new_code = reset["code"].as_str().unwrap();
    let joined = sim.json(&b, &format!(r#"["action","invite","{new_code}"]"#));
    assert_eq!(joined["gid"], gid.as_str());
    assert!(sim.server.group(&gid).unwrap().is_member(B));
    // A non-member cannot read the metadata of an unknown group.
    assert_eq!(
        sim.json(&b, r#"["query","GroupMetadata","1-1@g.us"]"#)["status"],
        404
    );
}

#[test]
fn chat_operations_blocklist_and_profile_are_kept() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let b = sim.login(B, "client-b");
    sim.relay(&a, &text_message(B, "3EB0CH01", "x"));
    let chat = |kind: &str| Node::new("chat").attr("jid", B).attr("type", kind);
    sim.set(&a, chat("archive"));
    sim.set(&a, chat("pin").attr("pin", "1600000100"));
    sim.set(&a, chat("mute").attr("mute", "1600009999"));
    sim.set(
        &a,
        chat("star").children([Node::new("item")
            .attr("owner", "true")
            .attr("index", "3EB0CH01")]),
    );
    let c = sim.server.store(A).unwrap().chats[B].clone();
    assert!(c.archive);
    assert_eq!(c.pin, Some(1_600_000_100));
    assert_eq!(c.mute, Some(1_600_009_999));
    assert!(c.starred.contains("3EB0CH01"));
    // Unpin/unmute as Baileys sends them: type pin/mute with `previous` only.
    sim.set(&a, chat("pin").attr("previous", "1600000100"));
    sim.set(&a, chat("mute").attr("previous", "1600009999"));
    sim.set(&a, chat("unarchive"));
    let c = sim.server.store(A).unwrap().chats[B].clone();
    assert_eq!((c.archive, c.pin, c.mute), (false, None, None));
    sim.set(&a, chat("clear"));
    assert!(sim.server.store(A).unwrap().chats[B].messages.is_empty());
    sim.set(&a, chat("delete"));
    assert!(!sim.server.store(A).unwrap().chats.contains_key(B));

    // B blocks A: the Blocklist push, and A's next message is not delivered.
    sim.take(&b);
    sim.set(
        &b,
        Node::new("block")
            .attr("type", "add")
            .children([Node::new("user").attr("jid", A)]),
    );
    let got = sim.take(&b);
    assert!(
        got.iter().any(
            |g| matches!(g, Got::Json(_, v) if v[0] == "Blocklist" && v[1]["blocklist"][0] == A)
        )
    );
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0BL01", "blocked")),
        Some(200)
    );
    assert!(relayed(&sim.take(&b)).is_empty());
    sim.set(
        &b,
        Node::new("block")
            .attr("type", "remove")
            .children([Node::new("user").attr("jid", A)]),
    );
    assert!(sim.server.store(B).unwrap().blocked.is_empty());

    // Profile: push name, status text, picture.
    sim.take(&a);
    let answer = sim.set(&a, Node::new("profile").attr("name", "New Name"));
    assert_eq!(
        (answer["status"].as_i64(), answer["pushname"].as_str()),
        (Some(200), Some("New Name"))
    );
    assert!(
        sim.take(&a).iter().any(
            |g| matches!(g, Got::Json(_, v) if v[0] == "Conn" && v[1]["pushname"] == "New Name")
        )
    );
    sim.set(&a, Node::new("status").bytes(b"busy".to_vec()));
    assert_eq!(
        sim.json(&b, &format!(r#"["query","Status","{A}"]"#))["status"],
        "busy"
    );
    assert_eq!(
        sim.json(&b, &format!(r#"["query","ProfilePicThumb","{A}"]"#))["status"],
        404
    );
    let picture = sim.set(
        &a,
        Node::new("picture")
            .attr("jid", A)
            .attr("id", "p1")
            .attr("type", "set")
            .children([
                Node::new("image").bytes(vec![0xff, 0xd8, 1, 2]),
                Node::new("preview").bytes(vec![0xff, 0xd8]),
            ]),
    );
    let eurl = picture["eurl"].as_str().unwrap().to_owned();
    // B has a chat with A: told to query the picture again.
    assert!(sim.take(&b).iter().any(|g| matches!(g,
        Got::Json(_, v) if v[0] == "Cmd" && v[1]["type"] == "picture" && v[1]["jid"] == A)));
    assert_eq!(
        sim.json(&b, &format!(r#"["query","ProfilePicThumb","{A}"]"#))["eurl"],
        eurl.as_str()
    );
    let path = eurl.split("127.0.0.1:9").nth(1).unwrap();
    assert_eq!(
        sim.server.media_download(sim.now, path),
        Ok(vec![0xff, 0xd8, 1, 2])
    );
    // Presence to a contact reaches that account.
    sim.take(&b);
    sim.set(
        &a,
        Node::new("presence")
            .attr("type", "composing")
            .attr("to", B),
    );
    assert!(sim.take(&b).iter().any(
        |g| matches!(g, Got::Json(_, v) if v[0] == "Presence" && v[1]["type"] == "composing")
    ));
    assert_eq!(
        sim.json(&a, r#"["query","exist","15550109999@c.us"]"#)["status"],
        200
    );
    assert_eq!(
        sim.json(&a, r#"["query","exist","19999999999@c.us"]"#)["status"],
        404
    );
}

#[test]
fn the_media_host_checks_uploads_and_expires_urls() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let b = sim.login(B, "client-b");
    let conn = sim.json(&a, r#"["query","mediaConn"]"#);
    assert_eq!(conn["status"], 200);
    let auth = conn["media_conn"]["auth"].as_str().unwrap().to_owned();
    assert_eq!(conn["media_conn"]["hosts"][0]["hostname"], "127.0.0.1:9");
    let blob = b"encrypted bytes and a mac".to_vec();
    let token = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&blob));
    assert_eq!(
        sim.server
            .media_upload(sim.now, "wrong", &token, blob.clone()),
        Err(MediaError::BadAuth)
    );
    assert_eq!(
        sim.server
            .media_upload(sim.now, &auth, "AAAA", blob.clone()),
        Err(MediaError::HashMismatch)
    );
    let url = sim
        .server
        .media_upload(sim.now, &auth, &token, blob.clone())
        .unwrap();
    assert!(url.starts_with("https://127.0.0.1:9/mms/d/"), "{url}");
    let path = url.trim_start_matches("https://127.0.0.1:9").to_owned();
    assert_eq!(sim.server.media_download(sim.now, &path), Ok(blob.clone()));

    // The image message goes to B; its URL expires; B re-queries and downloads again.
    let info = WebMessageInfo {
        key: MessageKey::new(wire_jid(B), true, "3EB0ME01"),
        message: Some(Message {
            image_message: Some(Box::new(ImageMessage {
                url: Some(url.clone()),
                media_key: Some(vec![7; 32]),
                ..ImageMessage::default()
            })),
            ..Message::default()
        }),
        ..WebMessageInfo::default()
    };
    assert_eq!(sim.relay(&a, &info), Some(200));
    sim.server.expire_media_urls(sim.now);
    assert_eq!(
        sim.server.media_download(sim.now, &path),
        Err(MediaError::NotFound)
    );
    let fresh = sim.query(
        &b,
        Node::new("query")
            .attr("type", "media")
            .attr("index", "3EB0ME01")
            .attr("owner", "false")
            .attr("jid", A),
    );
    let Got::Node(_, media) = fresh else {
        panic!("{fresh:?}")
    };
    assert_eq!(media.tag, "media");
    // As a real server does, the answer names the media key too.
    assert_eq!(wa_core::chat::reply::media_key(&media), Some([7; 32]));
    let new_url = media.attrs.get("url").unwrap();
    assert_ne!(new_url, url);
    let new_path = new_url.trim_start_matches("https://127.0.0.1:9");
    assert_eq!(sim.server.media_download(sim.now, new_path), Ok(blob));
    // The encr_upload route points at the same host.
    let upload = sim.json(&a, r#"["action","encr_upload","image","q83vEjRWeJA="]"#);
    assert!(
        upload["url"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:9/mms/upload/image/")
    );
}

#[test]
fn garbage_and_truncated_frames_can_be_sent_to_a_client() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    assert!(sim.server.fault_send_garbage(a.conn, false));
    assert!(sim.server.fault_send_garbage(a.conn, true));
    let got = sim.take(&a);
    let bad: Vec<&str> = got
        .iter()
        .filter_map(|g| match g {
            Got::Undecryptable(tag) => Some(tag.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(bad.len(), 2, "{got:?}");
    assert!(bad[0].starts_with("sim-garbage") && bad[1].starts_with("sim-truncated"));
    // The connection still works afterwards.
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0GA01", "still here")),
        Some(200)
    );
}

#[test]
fn malformed_relays_are_refused_and_never_panic() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let no_message = Node::new("action").attr("type", "relay");
    assert!(matches!(
        sim.send_node(&a, "r1", &no_message),
        Err(RequestError::Malformed(_))
    ));
    let garbage = Node::new("action")
        .attr("type", "relay")
        .children([Node::new("message").bytes(vec![0xff, 0xff, 0xff])]);
    assert!(sim.send_node(&a, "r2", &garbage).is_err());
    let no_id = WebMessageInfo {
        key: MessageKey {
            remote_jid: Some(wire_jid(B)),
            ..MessageKey::default()
        },
        ..WebMessageInfo::default()
    };
    let node = Node::new("action")
        .attr("type", "relay")
        .children([Node::new("message").bytes(no_id.encode_to_vec())]);
    assert!(sim.send_node(&a, "r3", &node).is_err());
    let got = sim.take(&a);
    for tag in ["r1", "r2", "r3"] {
        assert!(
            got.iter()
                .any(|g| matches!(g, Got::Json(t, v) if t == tag && v["status"] == 400)),
            "{tag}: {got:?}"
        );
    }
}

#[test]
fn presence_subscriptions_follow_the_contact() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let b = sim.login(B, "client-b");
    let answer = sim.json(&a, &format!(r#"["action","presence","subscribe","{B}"]"#));
    assert_eq!(answer["status"], 200);
    let presences = |got: &[Got]| -> Vec<(String, String)> {
        got.iter()
            .filter_map(|g| match g {
                Got::Json(_, v) if v[0] == "Presence" => Some((
                    v[1]["id"].as_str().unwrap().to_owned(),
                    v[1]["type"].as_str().unwrap().to_owned(),
                )),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        presences(&sim.take(&a)),
        [(B.to_owned(), "available".to_owned())]
    );
    sim.set(&b, Node::new("presence").attr("type", "unavailable"));
    sim.set(&b, Node::new("presence").attr("type", "available"));
    assert_eq!(
        presences(&sim.take(&a)),
        [
            (B.to_owned(), "unavailable".to_owned()),
            (B.to_owned(), "available".to_owned())
        ]
    );
}

#[test]
fn every_message_type_is_relayed_intact() {
    use wa_proto::{
        ContactMessage, ContextInfo, DocumentMessage, ExtendedTextMessage, LocationMessage,
        ProtocolMessage,
    };
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let b = sim.login(B, "client-b");
    let quoted = ContextInfo {
        stanza_id: Some("3EB0Q0".into()),
        participant: Some(wire_jid(B)),
        quoted_message: Some(Box::new(Message::text("original"))),
        mentioned_jid: vec![wire_jid(B)],
        forwarding_score: Some(2),
        is_forwarded: Some(true),
        ..ContextInfo::default()
    };
    let contents = vec![
        Message {
            extended_text_message: Some(Box::new(ExtendedTextMessage {
                text: Some("quote @15550100002, forwarded".into()),
                context_info: Some(Box::new(quoted)),
                ..ExtendedTextMessage::default()
            })),
            ..Message::default()
        },
        Message {
            location_message: Some(Box::new(LocationMessage {
                degrees_latitude: Some(52.52),
                degrees_longitude: Some(13.405),
                name: Some("Berlin".into()),
                ..LocationMessage::default()
            })),
            ..Message::default()
        },
        Message {
            contact_message: Some(Box::new(ContactMessage {
                display_name: Some("Bob".into()),
                vcard: Some("BEGIN:VCARD\nFN:Bob\nEND:VCARD".into()),
                ..ContactMessage::default()
            })),
            ..Message::default()
        },
        Message {
            document_message: Some(Box::new(DocumentMessage {
                url: Some("https://127.0.0.1:9/mms/d/u1/x".into()),
                file_name: Some("a.pdf".into()),
                media_key: Some(vec![7; 32]),
                ..DocumentMessage::default()
            })),
            ..Message::default()
        },
    ];
    for (i, content) in contents.iter().enumerate() {
        let mut info = text_message(B, &format!("3EB0TY0{i}"), "");
        info.message = Some(content.clone());
        assert_eq!(sim.relay(&a, &info), Some(200));
    }
    let got = relayed(&sim.take(&b));
    assert_eq!(got.len(), contents.len());
    for (m, content) in got.iter().zip(&contents) {
        assert_eq!(m.message.as_ref(), Some(content));
    }
    // Revoke ("delete for everyone") clears the first message on both sides.
    let mut revoke = text_message(B, "3EB0TYRV", "");
    revoke.message = Some(Message {
        protocol_message: Some(ProtocolMessage {
            key: Some(MessageKey::new(wire_jid(B), true, "3EB0TY00")),
            r#type: Some(0),
            ..ProtocolMessage::default()
        }),
        ..Message::default()
    });
    assert_eq!(sim.relay(&a, &revoke), Some(200));
    assert_eq!(relayed(&sim.take(&b)).len(), 1);
    for (who, chat) in [(A, B), (B, A)] {
        let stored = sim.server.store(who).unwrap().chats[chat]
            .message("3EB0TY00")
            .unwrap()
            .clone();
        assert_eq!(stored.info.message, None, "{who}");
        assert_eq!(stored.info.message_stub_type, Some(1));
    }
}

#[test]
fn random_messaging_nodes_never_panic() {
    use rand::{Rng, RngCore};
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let _b = sim.login(B, "client-b");
    let mut rng = StdRng::seed_from_u64(77);
    let queries = [
        "message",
        "message_info",
        "media",
        "search",
        "group",
        "chat",
        "contacts",
        "nope",
    ];
    let children = [
        "read", "received", "presence", "chat", "block", "profile", "status", "picture", "group",
        "user", "x",
    ];
    let keys = [
        "jid",
        "index",
        "owner",
        "count",
        "kind",
        "type",
        "to",
        "pin",
        "mute",
        "name",
        "subject",
        "id",
        "page",
        "search",
        "from",
        "participant",
    ];
    let values = [
        A,
        B,
        ECHO_JID,
        "15550100002-1600000000@g.us",
        "",
        "-2",
        "0",
        "999999999999999999999",
        "before",
        "after",
        "create",
        "add",
        "remove",
        "promote",
        "leave",
        "prop",
        "subject",
        "description",
        "archive",
        "pin",
        "mute",
        "star",
        "clear",
        "delete",
        "played",
        "set",
        "relay",
        "3EB0AA01",
    ];
    let pick = |rng: &mut StdRng, list: &[&'static str]| list[rng.gen_range(0..list.len())];
    let random_attrs = |rng: &mut StdRng, mut node: Node| {
        for _ in 0..rng.gen_range(0..6) {
            node = node.attr(pick(rng, &keys), pick(rng, &values));
        }
        node
    };
    for round in 0..2000 {
        let node = match rng.gen_range(0..3) {
            0 => {
                let kind = pick(&mut rng, &queries);
                random_attrs(&mut rng, Node::new("query").attr("type", kind))
            }
            1 => {
                let tag = pick(&mut rng, &children);
                let mut child = random_attrs(&mut rng, Node::new(tag));
                if rng.gen_bool(0.3) {
                    let inner = pick(&mut rng, &["participant", "item", "user", "description"]);
                    child = child.children([random_attrs(&mut rng, Node::new(inner))]);
                } else if rng.gen_bool(0.3) {
                    let mut bytes = vec![0u8; rng.gen_range(0..40)];
                    rng.fill_bytes(&mut bytes);
                    child = child.bytes(bytes);
                }
                Node::new("action").attr("type", "set").children([child])
            }
            _ => {
                let mut bytes = vec![0u8; rng.gen_range(0..80)];
                rng.fill_bytes(&mut bytes);
                if rng.gen_bool(0.5) {
                    let to = pick(&mut rng, &values);
                    let mut info = text_message(to, "3EB0RND", "r");
                    info.key.id = Some(format!("3EB0RND{round}"));
                    bytes = info.encode_to_vec();
                }
                Node::new("action")
                    .attr("type", "relay")
                    .children([Node::new("message").bytes(bytes)])
            }
        };
        let _ = sim.send_node(&a, &format!("r{round}"), &node);
        sim.advance(Duration::from_millis(50));
    }
    // Still serving.
    sim.take(&a);
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0ALIVE", "still here")),
        Some(200)
    );
}

#[test]
fn seeded_messages_and_group_members_are_served() {
    let json = r#"{
        "wid": "15550100001@c.us",
        "chats": [
            { "jid": "15550100002@c.us", "t": 1600000010, "count": 1, "messages": [
                { "id": "SEED1", "from_me": true, "text": "first", "t": 1600000000 },
                { "id": "SEED2", "text": "second", "t": 1600000010 } ] },
            { "jid": "15550100002-1600000000@g.us", "name": "Seeded",
              "participants": ["15550100003@c.us"] }
        ]
    }"#;
    let mut sim = Sim::with(Config {
        accounts: vec![SeedAccount::from_json(json).unwrap()],
        ..Config::default()
    });
    let (a, pushes) = sim.login_with_pushes(A, "client-a");
    let last = pushes
        .iter()
        .find(|g| matches!(g, Got::Node(_, n) if n.attrs.get("add") == Some("last")))
        .expect("recent messages pushed");
    let pushed: Vec<(String, bool)> = messages_of(last)
        .into_iter()
        .map(|m| (m.key.id.unwrap(), m.key.from_me.unwrap()))
        .collect();
    assert_eq!(
        pushed,
        [("SEED1".to_owned(), true), ("SEED2".to_owned(), false)]
    );
    let history = sim.query(
        &a,
        Node::new("query")
            .attr("type", "message")
            .attr("jid", B)
            .attr("kind", "before")
            .attr("count", "1"),
    );
    let texts: Vec<String> = messages_of(&history)
        .into_iter()
        .filter_map(|m| m.message.and_then(|c| c.conversation))
        .collect();
    assert_eq!(texts, ["second"]);
    let meta = sim.json(
        &a,
        r#"["query","GroupMetadata","15550100002-1600000000@g.us"]"#,
    );
    let members: Vec<&str> = meta["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(members, ["15550100002@c.us", "15550100003@c.us", A]);
}
