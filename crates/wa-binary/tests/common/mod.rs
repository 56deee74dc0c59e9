//! Helpers shared by the integration tests: vector loading and a seeded random node generator.
#![allow(dead_code)]

use std::path::PathBuf;

use wa_binary::{Content, Dictionary, Node};

/// One known-answer vector: a node given to the peer, the bytes it wrote, and what it read back.
#[derive(serde::Deserialize)]
pub struct Vector {
    pub name: String,
    pub input: Node,
    pub hex: String,
    pub decoded: Node,
}

impl Vector {
    pub fn bytes(&self) -> Vec<u8> {
        hex::decode(&self.hex).unwrap()
    }
}

/// A vector file: its vectors and (for md.json) the large BINARY_32 case.
#[derive(serde::Deserialize)]
pub struct VectorFile {
    pub vectors: Vec<Vector>,
    #[serde(default)]
    pub large: Option<serde_json::Value>,
}

/// `crates/wa-binary/tests/vectors/<name>`, parsed (nodes keep their attribute order).
pub fn vectors(name: &str) -> VectorFile {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// xorshift64*: small, seeded, good enough to spread test inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

const TOKENS_MD: &[&str] = &[
    "message",
    "type",
    "id",
    "to",
    "from",
    "participant",
    "s.whatsapp.net",
    "g.us",
    "lid",
    "iq",
    "result",
    "read-self",
    "protocol",
    "active",
    "fbns",
    "enc",
    "v",
    "2",
    "0",
    "1",
    "text",
    "receipt",
    "notification",
];
const TOKENS_LEGACY: &[&str] = &[
    "action",
    "add",
    "after",
    "archive",
    "body",
    "broadcast",
    "chat",
    "count",
    "create",
    "query",
    "response",
    "type",
    "jid",
    "user",
    "message",
    "epoch",
    "recent",
    "video",
    "call-id",
    "200",
    "404",
];
const WORDS: &[&str] = &[
    "hello",
    "José 🚀",
    "abcdef",
    "x y z",
    "ping",
    "3EB0c0ffee",
    "a:b",
    "k_v",
    "😀",
];
/// JIDs that read back unchanged through both Baileys 7 and our codec.
const JIDS_MD: &[&str] = &[
    "15551234567@s.whatsapp.net",
    "15551234567:2@s.whatsapp.net",
    "123456789012345:7@lid",
    "123456789012345@lid",
    "15551234567:3@hosted",
    "1234@hosted.lid",
    "15551234567-1600000000@g.us",
    "status@broadcast",
    "1600000000@broadcast",
    "123@newsletter",
    "@s.whatsapp.net",
    "a@b@c",
    "server@c.us",
];
const JIDS_LEGACY: &[&str] = &[
    "15551234567@c.us",
    "15551234567-1600000000@g.us",
    "status@broadcast",
    "1600000000@broadcast",
    "server@c.us",
    "c.us",
    "a@b@c",
    "user@example",
];

/// A random string of a kind that exercises every string form of `dict`.
pub fn string(rng: &mut Rng, dict: Dictionary) -> String {
    let legacy = dict == Dictionary::Legacy;
    match rng.below(10) {
        0 => rng
            .pick(if legacy { TOKENS_LEGACY } else { TOKENS_MD })
            .to_string(),
        1 => {
            let n = 1 + rng.below(140);
            rng.digits(n)
        }
        2 => (0..1 + rng.below(140))
            .map(|_| char::from(*rng.pick(b"0123456789ABCDEF")))
            .collect(),
        3 => (0..1 + rng.below(12))
            .map(|_| char::from(*rng.pick(b"0123456789-.")))
            .collect(),
        4 => rng
            .pick(if legacy { JIDS_LEGACY } else { JIDS_MD })
            .to_string(),
        5 => String::new(),
        6 => "w".repeat(250 + rng.below(20)),
        _ => format!("{}{}", rng.pick(WORDS), rng.below(1000)),
    }
}

/// A random node; attribute keys are distinct and never integer-like (JavaScript objects reorder
/// those), so a JavaScript peer keeps the order.
pub fn random_node(rng: &mut Rng, dict: Dictionary, depth: usize) -> Node {
    let mut tag = string(rng, dict);
    if tag.is_empty() {
        tag.push('t');
    }
    let mut node = Node::new(tag);
    for i in 0..rng.below(5) {
        let key = format!("k{i}{}", rng.pick(&["", "-x", "_y", ":z"]));
        node.attrs.push(key, string(rng, dict));
    }
    node.content = match rng.below(if depth > 4 { 3 } else { 5 }) {
        0 => Content::None,
        1 => {
            let max = if rng.below(8) == 0 { 600 } else { 40 };
            let len = rng.below(max);
            Content::Bytes((0..len).map(|_| rng.next() as u8).collect())
        }
        2 => {
            let text = string(rng, dict);
            // Baileys 3.5.3 treats "" content as no content at all.
            if legacy_empty(dict, &text) {
                Content::None
            } else {
                Content::Text(text.into())
            }
        }
        _ => Content::Nodes(
            (0..rng.below(4))
                .map(|_| random_node(rng, dict, depth + 1))
                .collect(),
        ),
    };
    node
}

fn legacy_empty(dict: Dictionary, text: &str) -> bool {
    dict == Dictionary::Legacy && text.is_empty()
}

/// Whether `decoded` is what `original` should read back as: equal, except that text may come back
/// as bytes (free text is written with a BINARY length) and, in legacy, `s.whatsapp.net` as `c.us`.
pub fn equivalent(original: &Node, decoded: &Node, dict: Dictionary) -> bool {
    let s = |a: &str, b: &str| a == b || (dict == Dictionary::Legacy && legacy_norm(a) == b);
    s(&original.tag, &decoded.tag)
        && original.attrs.len() == decoded.attrs.len()
        && original
            .attrs
            .iter()
            .zip(decoded.attrs.iter())
            .all(|((k1, v1), (k2, v2))| s(k1, k2) && s(v1, v2))
        && match (&original.content, &decoded.content) {
            (Content::None, Content::None) => true,
            (Content::Nodes(a), Content::Nodes(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equivalent(x, y, dict))
            }
            (Content::Bytes(a), Content::Bytes(b)) => a == b,
            (Content::Text(a), Content::Text(b)) => s(a, b),
            (Content::Text(a), Content::Bytes(b)) => a.as_bytes() == &b[..],
            _ => false,
        }
}

/// What decoding `encode(decoded)` must give back for a `decoded` node: the same node (in
/// legacy, either spelling of the user server), except that text content holding a JID the
/// encoder cannot write as a JID without altering it (FB_JID, INTEROP_JID, a nested user, a
/// user with `_` or `:`...) is written raw and so reads back as bytes, as the README says.
pub fn same_after_reencoding(decoded: &Node, again: &Node, dict: Dictionary) -> bool {
    let s = |a: &str, b: &str| a == b || (dict == Dictionary::Legacy && legacy_norm(a) == b);
    s(&decoded.tag, &again.tag)
        && decoded.attrs.len() == again.attrs.len()
        && decoded
            .attrs
            .iter()
            .zip(again.attrs.iter())
            .all(|((k1, v1), (k2, v2))| s(k1, k2) && s(v1, v2))
        && match (&decoded.content, &again.content) {
            (Content::None, Content::None) => true,
            (Content::Nodes(a), Content::Nodes(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, y)| same_after_reencoding(x, y, dict))
            }
            (Content::Bytes(a), Content::Bytes(b)) => a == b,
            (Content::Text(a), Content::Text(b)) => s(a, b),
            (Content::Text(a), Content::Bytes(b)) => a.contains('@') && a.as_bytes() == b,
            _ => false,
        }
}

fn legacy_norm(s: &str) -> String {
    if s == "s.whatsapp.net" {
        "c.us".into()
    } else if let Some(user) = s.strip_suffix("@s.whatsapp.net") {
        format!("{user}@c.us")
    } else {
        s.to_owned()
    }
}
