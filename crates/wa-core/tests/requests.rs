//! wa-core's request builders against what the real legacy client sends:
//! `tests/vectors/legacy-requests.json`, recorded from `@adiwajshing/baileys@3.5.3` by
//! `interop/gen-legacy-requests.js`. Same node shape (tags, attributes, children, content),
//! same tags where fixed, same JSON queries; metric and flag bytes equal except where Baileys
//! departs from WhatsApp's own web client (listed below, checked both ways).

use serde_json::Value;
use wa_binary::{Content, Node};
use wa_core::chat::compose;
use wa_core::chat::request::{self, ChatOp, Direction, GroupOp, GroupSetting, Presence, Request};
use wa_proto::MessageKey;

const ME: &str = "15550100001@s.whatsapp.net";
const PEER: &str = "15550100002@s.whatsapp.net";
const GROUP: &str = "15550100001-1600000000@g.us";
const ID1: &str = "3EB0000000000001";
const ID2: &str = "3EB0000000000002";

/// A metric byte and a flag byte.
type MetricFlags = (u8, u8);

/// Operations where Baileys 3.5.3 sends other metric/flag bytes than WhatsApp Web (which we
/// follow): (op, Baileys' metric and flags, ours).
const DEPARTURES: &[(&str, MetricFlags, MetricFlags)] = &[
    // Baileys' setQuery default ([GROUP, ignore]) leaks into these.
    ("star", (10, 0x80), (12, 0x80)),
    ("push_name", (10, 0x80), (27, 0x88)),
    ("status_text", (10, 0x80), (15, 0x88)),
    // WhatsApp Web sends block with the "expires" bit (0x88).
    ("block", (18, 0x80), (18, 0x88)),
    ("unblock", (18, 0x80), (18, 0x88)),
];

fn ours(op: &str, tag: Option<&str>) -> Request {
    let e = 1;
    let gid = Some(GROUP);
    let group = |op: GroupOp| request::group(e, tag.unwrap_or("x"), ME, gid, &op);
    match op {
        "relay" => request::relay(
            e,
            &compose::envelope(PEER, ID2, compose::text("hi"), 1_600_000_000),
        ),
        "relay_self" => request::relay_from(
            e,
            &compose::envelope(
                ME,
                "3EB0000000000003",
                compose::text("note to self"),
                1_600_000_000,
            ),
            Some("15550100001@c.us"),
        ),
        "read" => request::read(e, PEER, &MessageKey::new(PEER, false, ID1), 1),
        "mark_unread" => request::mark_unread(e, PEER, &MessageKey::new(PEER, false, ID1)),
        "read_group" => request::read(
            e,
            GROUP,
            &MessageKey::new(GROUP, false, "3EB0000000000005").with_participant(PEER),
            1,
        ),
        "presence_available" => request::presence(e, Presence::Available, None),
        "presence_unavailable" => request::presence(e, Presence::Unavailable, None),
        "presence_composing" => request::presence(e, Presence::Composing, Some(PEER)),
        "presence_recording" => request::presence(e, Presence::Recording, Some(PEER)),
        "presence_paused" => request::presence(e, Presence::Paused, Some(PEER)),
        "presence_subscribe" => request::presence_subscribe(PEER),
        "pin" => request::chat_op(e, PEER, &ChatOp::Pin(1_600_000_000)),
        "mute" => request::chat_op(e, PEER, &ChatOp::Mute(1_600_028_800)),
        "star" => request::chat_op(e, PEER, &ChatOp::Star(vec![(ID1.into(), true)])),
        "block" => request::block(e, PEER, true),
        "unblock" => request::block(e, PEER, false),
        "push_name" => request::push_name(e, "Anna"),
        "status_text" => request::status_text(e, "busy"),
        "group_create" => request::group(
            e,
            tag.unwrap_or("x"),
            ME,
            None,
            &GroupOp::Create {
                subject: "Plans".into(),
                participants: vec![PEER.into()],
            },
        ),
        "group_subject" => group(GroupOp::Subject("New plans".into())),
        "group_add" => group(GroupOp::Add(vec![PEER.into()])),
        "group_remove" => group(GroupOp::Remove(vec![PEER.into()])),
        "group_promote" => group(GroupOp::Promote(vec![PEER.into()])),
        "group_demote" => group(GroupOp::Demote(vec![PEER.into()])),
        "group_leave" => group(GroupOp::Leave),
        "group_setting" => group(GroupOp::Setting {
            setting: GroupSetting::SendMessages,
            only_admins: true,
        }),
        "group_description" => group(GroupOp::Description {
            text: "about us".into(),
            id: "x".into(),
            prev: None,
        }),
        "message_info" => request::message_info(e, &MessageKey::new(PEER, true, ID2)),
        "history" => request::history(
            e,
            PEER,
            Direction::Before,
            25,
            Some(&MessageKey::new(PEER, false, ID1)),
        ),
        "search" => request::search(e, "hello", Some(PEER), 10, 1),
        "media_requery" => {
            request::media_requery(e, &MessageKey::new(PEER, false, "3EB0000000000004"))
        }
        "exists" => request::exists(PEER),
        "status_of" => request::status_of(PEER),
        "invite_code" => request::invite_code(GROUP),
        "invite_reset" => request::invite_reset(GROUP),
        "join_by_code" => request::join_by_code("CODE"),
        other => panic!("no builder for {other}"),
    }
}

/// Checks `node` against Baileys' `[tag, attrs, content]`.
fn same_shape(op: &str, theirs: &Value, node: &Node) {
    let where_ = format!("{op}: <{}>", node.tag);
    assert_eq!(theirs[0].as_str(), Some(node.tag.as_str()), "{where_} tag");
    if let Some(attrs) = theirs[1].as_object() {
        for (key, value) in attrs {
            match value {
                Value::Null => {}
                Value::String(v) => {
                    let ours = node.attrs.get(key);
                    assert!(ours.is_some(), "{where_} lacks attribute {key}");
                    // Epochs count per connection and ids are random on both sides.
                    if key != "epoch" && key != "id" {
                        assert_eq!(ours, Some(v.as_str()), "{where_} attribute {key}");
                    }
                }
                // A Buffer attribute (Baileys writes the search text as bytes).
                Value::Object(b) if b.contains_key("bytes") => {
                    assert!(
                        node.attrs.get(key).is_some(),
                        "{where_} lacks attribute {key}"
                    );
                }
                other => panic!("{where_}: unexpected attribute value {other}"),
            }
        }
    }
    match (&theirs[2], &node.content) {
        (Value::Null, Content::None) => {}
        (Value::Array(children), Content::Nodes(ours)) => {
            assert_eq!(children.len(), ours.len(), "{where_} child count");
            for (t, o) in children.iter().zip(ours) {
                same_shape(op, t, o);
            }
        }
        (Value::Object(b), Content::Bytes(ours)) if b.contains_key("bytes") => {
            assert_eq!(
                b["bytes"].as_u64(),
                Some(ours.len() as u64),
                "{where_} bytes"
            );
        }
        // The relayed WebMessageInfo: an object in Baileys' form, protobuf bytes on the wire.
        (Value::Object(_), Content::Bytes(ours)) if node.tag == "message" => {
            let info = wa_proto::WebMessageInfo::decode_bytes(ours).expect("protobuf");
            assert_eq!(info.key.id.as_deref(), theirs[2]["key"]["id"].as_str());
            assert_eq!(
                info.key.remote_jid.as_deref(),
                theirs[2]["key"]["remoteJid"].as_str()
            );
        }
        (t, o) => panic!("{where_}: content {t} vs {o:?}"),
    }
}

#[test]
fn requests_match_baileys_3_5_3() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/legacy-requests.json"
    );
    let text =
        std::fs::read_to_string(path).expect("vectors (node interop/gen-legacy-requests.js)");
    let vectors: Value = serde_json::from_str(&text).unwrap();
    let ops = vectors["ops"].as_array().unwrap();
    assert!(ops.len() >= 30, "{} operations", ops.len());
    for op in ops {
        let name = op["op"].as_str().unwrap();
        let tag = op["tag"].as_str();
        match ours(name, tag) {
            Request::Json(body) => {
                assert!(op["metric"].is_null(), "{name} is binary in Baileys");
                assert_eq!(body, op["json"], "{name}");
            }
            Request::Node {
                node,
                metric,
                flags,
                tag: our_tag,
            } => {
                same_shape(name, &op["json"], &node);
                let theirs = (
                    op["metric"].as_u64().unwrap() as u8,
                    op["flags"].as_u64().unwrap() as u8,
                );
                let mine = (metric as u8, flags.bits());
                match DEPARTURES.iter().find(|(n, _, _)| *n == name) {
                    Some((_, baileys, expected)) => {
                        assert_eq!(theirs, *baileys, "{name}: Baileys changed");
                        assert_eq!(mine, *expected, "{name}");
                    }
                    None => assert_eq!(mine, theirs, "{name}: metric and flags"),
                }
                // Relays go under the message id, group actions under their node id.
                assert_eq!(our_tag.as_deref(), tag, "{name}: tag");
            }
        }
    }
}
