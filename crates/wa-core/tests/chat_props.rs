//! Pushes from the network never make the messaging mapping panic: arbitrary nodes (with
//! arbitrary protobuf bytes where messages go) and arbitrary JSON map to some event.

use proptest::prelude::*;
use serde_json::Value;
use wa_binary::Node;
use wa_core::chat::{self, ChatEvent};

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("action".to_owned()),
        Just("response".to_owned()),
        Just("message".to_owned()),
        Just("received".to_owned()),
        Just("read".to_owned()),
        Just("battery".to_owned()),
        Just("user".to_owned()),
        Just("chat".to_owned()),
        "[a-z]{1,8}",
    ]
}

fn attrs() -> impl Strategy<Value = Vec<(String, String)>> {
    let key = prop_oneof![
        Just("add".to_owned()),
        Just("type".to_owned()),
        Just("jid".to_owned()),
        Just("index".to_owned()),
        Just("last".to_owned()),
        Just("value".to_owned()),
        Just("count".to_owned()),
        "[a-z]{1,6}",
    ];
    let value = prop_oneof![
        Just("relay".to_owned()),
        Just("chat".to_owned()),
        Just("contacts".to_owned()),
        Just("read".to_owned()),
        Just("true".to_owned()),
        Just("1@c.us".to_owned()),
        "-?[0-9]{1,4}",
        ".{0,12}",
    ];
    proptest::collection::vec((key, value), 0..5)
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = (
        name(),
        attrs(),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(tag, attrs, bytes)| {
            let mut n = Node::new(tag);
            for (k, v) in attrs {
                n = n.attr(k, v);
            }
            if bytes.is_empty() { n } else { n.bytes(bytes) }
        });
    leaf.prop_recursive(3, 24, 6, |inner| {
        (name(), attrs(), proptest::collection::vec(inner, 0..6)).prop_map(|(tag, attrs, kids)| {
            let mut n = Node::new(tag);
            for (k, v) in attrs {
                n = n.attr(k, v);
            }
            n.children(kids)
        })
    })
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just("Msg".to_owned()),
            Just("MsgInfo".to_owned()),
            Just("Presence".to_owned()),
            Just("Chat".to_owned()),
            Just("Blocklist".to_owned()),
            Just("Cmd".to_owned()),
            Just("picture".to_owned()),
            Just("action".to_owned()),
            ".{0,8}",
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        let key = prop_oneof![
            Just("id".to_owned()),
            Just("ack".to_owned()),
            Just("type".to_owned()),
            Just("cmd".to_owned()),
            Just("data".to_owned()),
            Just("blocklist".to_owned()),
            Just("participants".to_owned()),
            "[a-z]{1,5}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_nodes_map_without_panicking(node in node()) {
        let events = chat::map_node(&node);
        prop_assert!(!events.is_empty());
    }

    #[test]
    fn arbitrary_json_maps_without_panicking(body in json()) {
        let event = chat::map_json(&body);
        if !body.is_array() {
            prop_assert_eq!(event, ChatEvent::RawJson(body));
        }
    }
}
