//! Arbitrary messaging traffic into the simulator's sans-IO core: two logged-in clients send
//! relays (with arbitrary WebMessageInfo bytes), set actions, queries and JSON requests built
//! from the input, with the clock advancing; the server never panics and keeps answering.
#![no_main]

mod common;

use common::ByteCounter as Counter;
use libfuzzer_sys::fuzz_target;
use wa_binary::{Codec, Node};
use wa_core::{Frame, Timestamp, WireMessage};
use wa_crypto::KeyPair;
use wa_crypto::legacy::{Flags, Metric, SessionKeys, seal_client_frame};
use wa_sim::SeedAccount;
use wa_sim::core::{Config, ConnId, Output, Server};

/// Reads choices from the input; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn pick<'s>(&mut self, list: &[&'s str]) -> &'s str {
        list[usize::from(self.byte()) % list.len()]
    }
    fn bytes(&mut self) -> Vec<u8> {
        let len = usize::from(self.byte()).min(self.0.len());
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        head.to_vec()
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

const A: &str = "15550100001@c.us";
const B: &str = "15550100002@c.us";
const GROUP: &str = "15550100002-1600000000@g.us";
const JIDS: &[&str] = &[A, B, "15550109999@c.us", GROUP, "1@c.us", "", "x@g.us"];
const KEYS: &[&str] = &[
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
    "value",
];
const VALUES: &[&str] = &[
    A,
    B,
    GROUP,
    "15550109999@c.us",
    "",
    "-2",
    "0",
    "1",
    "99999999999999999999",
    "before",
    "after",
    "create",
    "add",
    "remove",
    "promote",
    "demote",
    "leave",
    "prop",
    "subject",
    "description",
    "archive",
    "unarchive",
    "pin",
    "mute",
    "star",
    "clear",
    "delete",
    "played",
    "true",
    "false",
    "3EB0F0",
];
const SET_TAGS: &[&str] = &[
    "read", "received", "presence", "chat", "block", "profile", "status", "picture", "group", "?",
];
const CHILD_TAGS: &[&str] = &[
    "participant",
    "item",
    "user",
    "description",
    "image",
    "announcement",
];
const QUERIES: &[&str] = &[
    "message",
    "message_info",
    "media",
    "search",
    "group",
    "chat",
    "contacts",
    "?",
];
const JSON: &[&str] = &[
    r#"["query","GroupMetadata","{}"]"#,
    r#"["query","mediaConn"]"#,
    r#"["query","inviteCode","{}"]"#,
    r#"["action","inviteReset","{}"]"#,
    r#"["action","invite","{}"]"#,
    r#"["action","presence","subscribe","{}"]"#,
    r#"["action","encr_upload","image","{}"]"#,
    r#"["query","exist","{}"]"#,
    r#"["query","Status","{}"]"#,
    r#"["query","ProfilePicThumb","{}"]"#,
];

fn login(
    server: &mut Server,
    now: Timestamp,
    wid: &str,
    id: &str,
    rng: &mut Counter,
) -> Option<(ConnId, SessionKeys)> {
    let conn = server.handle_connect(now);
    let init =
        format!(r#"1.--0,["admin","init",[2,2142,12],["Baileys","Chrome","3.0"],"{id}",true]"#);
    server
        .handle_message(conn, now, WireMessage::Text(init))
        .ok()?;
    let qr_ref = server.qr_ref(conn)?.to_owned();
    let pair = KeyPair::generate(rng);
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let qr = format!("{qr_ref},{},{id}", b64.encode(pair.public_bytes()));
    server.scan_as(now, &qr, Some(wid)).ok()?;
    let mut secret = None;
    while let Some(output) = server.poll_output() {
        if let Output::Send { conn: c, message } = output {
            if let (true, Ok(Frame::Json { body, .. })) = (c == conn, Frame::parse(&message)) {
                if body[0] == "Conn" {
                    secret = body[1]["secret"].as_str().and_then(|s| b64.decode(s).ok());
                }
            }
        }
    }
    let keys = SessionKeys::from_secret(&pair, &secret?).ok()?;
    Some((conn, keys))
}

fuzz_target!(|data: &[u8]| {
    let b = SeedAccount {
        wid: B.to_owned(),
        ..SeedAccount::default()
    };
    let mut server = Server::new(Config {
        rng_seed: Some(1),
        accounts: vec![SeedAccount::default(), b],
        phone_latency: std::time::Duration::ZERO,
        ..Config::default()
    });
    let mut now = Timestamp::from_unix_ms(1_600_000_000_000);
    let mut rng = Counter(0);
    let clients = [
        login(&mut server, now, A, "client-a", &mut rng).expect("A logs in"),
        login(&mut server, now, B, "client-b", &mut rng).expect("B logs in"),
    ];
    let mut input = Input(data);
    let mut n = 0u32;
    while !input.done() {
        n += 1;
        let (conn, keys) = &clients[usize::from(input.byte() & 1)];
        let tag = format!("f{n}");
        let op = input.byte() % 5;
        let node = match op {
            0 => {
                // A relay whose WebMessageInfo is arbitrary bytes, or a valid one.
                let content = if input.byte() & 1 == 0 {
                    input.bytes()
                } else {
                    let to = input.pick(JIDS);
                    let id = format!("3EB0F{}", input.byte() % 8);
                    let text = input.bytes();
                    // field 1 key {1 remoteJid, 2 fromMe, 3 id}, field 2 message {1 conversation}
                    let mut key = Vec::new();
                    key.push(0x0a);
                    key.push(to.len() as u8);
                    key.extend_from_slice(to.as_bytes());
                    key.extend_from_slice(&[0x10, 1, 0x1a, id.len() as u8]);
                    key.extend_from_slice(id.as_bytes());
                    let mut message = vec![0x0a, text.len() as u8];
                    message.extend_from_slice(&text);
                    let mut info = vec![0x0a, key.len() as u8];
                    info.extend_from_slice(&key);
                    info.push(0x12);
                    info.push(message.len() as u8);
                    info.extend_from_slice(&message);
                    info
                };
                Some(
                    Node::new("action")
                        .attr("type", "relay")
                        .children([Node::new("message").bytes(content)]),
                )
            }
            1 => {
                let mut child = Node::new(input.pick(SET_TAGS));
                for _ in 0..input.byte() % 5 {
                    child = child.attr(input.pick(KEYS), input.pick(VALUES));
                }
                match input.byte() % 3 {
                    0 => {
                        let mut grandchild = Node::new(input.pick(CHILD_TAGS));
                        for _ in 0..input.byte() % 3 {
                            grandchild = grandchild.attr(input.pick(KEYS), input.pick(VALUES));
                        }
                        child = child.children([grandchild]);
                    }
                    1 => child = child.bytes(input.bytes()),
                    _ => {}
                }
                Some(Node::new("action").attr("type", "set").children([child]))
            }
            2 => {
                let mut query = Node::new("query").attr("type", input.pick(QUERIES));
                for _ in 0..input.byte() % 6 {
                    query = query.attr(input.pick(KEYS), input.pick(VALUES));
                }
                Some(query)
            }
            3 => {
                let body = input.pick(JSON).replace("{}", input.pick(VALUES));
                let _ =
                    server.handle_message(*conn, now, WireMessage::Text(format!("{tag},,{body}")));
                None
            }
            _ => {
                now = now + std::time::Duration::from_millis(u64::from(input.byte()) * 20);
                server.handle_timeout(now);
                None
            }
        };
        if let Some(node) = node {
            let plain = Codec::legacy().encode(&node).expect("built nodes encode");
            let sealed = seal_client_frame(
                keys,
                Some(Metric::Message),
                Flags::EXPECTS_RESPONSE,
                &plain,
                &mut rng,
            );
            let mut frame = format!("{tag},").into_bytes();
            frame.extend_from_slice(&sealed);
            let _ = server.handle_message(*conn, now, WireMessage::Binary(frame));
        }
        while server.poll_output().is_some() {}
        while server.poll_event().is_some() {}
    }
    // Still answering a keepalive.
    let (conn, _) = &clients[0];
    if server.logged_in_client(*conn).is_some() {
        server
            .handle_message(*conn, now, WireMessage::Text("?,,".into()))
            .expect("keepalive");
        assert!(server.poll_output().is_some());
    }
});
