//! Messaging on the sans-IO core, stepped with a simulated clock by minimal clients written
//! here from the protocol description: relays and routing between two accounts, acks and
//! receipts, de-duplication, offline delivery, the echo contact, history paging, message info,
//! search, groups, chat operations, blocklist, profile, the media host, and injected faults.

mod chats;
mod delivery;
mod faults;
mod history;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use wa_binary::{Codec, Node};
use wa_core::{Frame, Timestamp, WireMessage};
use wa_crypto::KeyPair;
use wa_crypto::legacy::{Flags, Metric, SessionKeys, open_server_frame, seal_client_frame};
use wa_proto::prost::Message as _;
use wa_proto::{Message, MessageKey, WebMessageInfo};
use wa_sim::core::{Config, ConnId, Output, Server};
use wa_sim::seed::SeedContact;
use wa_sim::store::wire_jid;
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
