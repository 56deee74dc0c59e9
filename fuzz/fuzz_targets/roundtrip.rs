//! Decode, re-encode, decode again: the node must not change, text content staying text (the
//! one documented exception: a JID the encoder cannot write as a JID without altering it is
//! written raw, so as content it comes back as bytes), and from then on decode/encode is an
//! exact fixpoint. The first byte picks the dictionary.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_binary::{Codec, Content, Node, json};

/// The legacy dictionary writes `s.whatsapp.net` as the token it reads back as `c.us`.
fn legacy_spelling(s: &str) -> String {
    match s.strip_suffix("s.whatsapp.net") {
        Some(head) if head.is_empty() || head.ends_with('@') => format!("{head}c.us"),
        _ => s.to_owned(),
    }
}

/// Equal (in legacy, either spelling of the user server), except that `Text(t)` may come back
/// as `Bytes(t)` when `t` is a JID (it holds `@`).
fn same(a: &Node, b: &Node, legacy: bool) -> bool {
    let eq = |x: &str, y: &str| x == y || (legacy && legacy_spelling(x) == y);
    eq(&a.tag, &b.tag)
        && a.attrs.len() == b.attrs.len()
        && a.attrs
            .iter()
            .zip(b.attrs.iter())
            .all(|((k1, v1), (k2, v2))| eq(k1, k2) && eq(v1, v2))
        && match (&a.content, &b.content) {
            (Content::Nodes(x), Content::Nodes(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q, legacy))
            }
            (Content::Text(t), Content::Bytes(bytes)) => {
                t.contains('@') && t.as_bytes() == &bytes[..]
            }
            (Content::Text(x), Content::Text(y)) => eq(x, y),
            (x, y) => x == y,
        }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let legacy = selector & 1 == 1;
    let codec = if legacy {
        Codec::legacy()
    } else {
        Codec::multi_device()
    };
    let Ok(node) = codec.decode(bytes) else {
        return;
    };
    let encoded = codec.encode(&node).expect("a decoded node re-encodes");
    let again = codec.decode(&encoded).expect("our encoding decodes");
    assert!(same(&node, &again, legacy), "{node:?} became {again:?}");
    let encoded_again = codec.encode(&again).expect("re-encodes");
    assert_eq!(encoded_again, encoded);
    assert_eq!(codec.decode(&encoded_again).expect("decodes"), again);
    let via_json = json::from_str(&json::to_string(&node)).expect("JSON form parses");
    assert_eq!(via_json, node);
});
