use rand_core::{CryptoRng, RngCore};
use serde_json::json;
use wa_binary::Node;
use wa_crypto::legacy::Metric;
use wa_proto::prost::Message as _;
use wa_proto::{Message, MessageKey, WebMessageInfo};

use super::compose::{self, MediaKind};
use super::request::{self, ChatOp, Direction, GroupOp, Presence};
use super::*;

struct Counter(u8);
impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        u32::from(self.next_u8())
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_u8())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u8();
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Counter {}
impl Counter {
    fn next_u8(&mut self) -> u8 {
        self.0 = self.0.wrapping_add(0x11);
        self.0
    }
}

fn info(jid: &str, id: &str, from_me: bool, message: Message) -> WebMessageInfo {
    WebMessageInfo {
        key: MessageKey::new(jid, from_me, id),
        message: Some(message),
        message_timestamp: Some(1_600_000_000),
        ..WebMessageInfo::default()
    }
}

#[test]
fn message_ids_have_whatsapp_web_format() {
    let id = new_message_id(&mut Counter(0));
    assert_eq!(id, "3EB0112233445566778 8".replace(' ', ""));
    assert_eq!(id.len(), 20);
    assert!(
        id[4..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
    );
}

#[test]
fn metrics_and_flags_per_operation() {
    let m = info("1@c.us", "3EB0AA", true, Message::text("hi"));
    let cases: Vec<(Request, Metric, u8)> = vec![
        (request::relay(1, &m), Metric::Message, 0x80),
        (
            request::read(1, "1@c.us", &MessageKey::new("1@c.us", false, "X"), 1),
            Metric::Read,
            0x80,
        ),
        (
            request::mark_unread(1, "1@c.us", &MessageKey::new("1@c.us", false, "X")),
            Metric::Read,
            0x80,
        ),
        (
            request::received(1, Some("played"), "1@c.us", "X", None),
            Metric::Received,
            0x80,
        ),
        (
            request::presence(1, Presence::Available, None),
            Metric::Presence,
            0xA0,
        ),
        (
            request::presence(1, Presence::Unavailable, None),
            Metric::Presence,
            0x10,
        ),
        (
            request::presence(1, Presence::Composing, Some("1@c.us")),
            Metric::Presence,
            0x04,
        ),
        (
            request::presence(1, Presence::Recording, Some("1@c.us")),
            Metric::Presence,
            0x04,
        ),
        (
            request::presence(1, Presence::Paused, Some("1@c.us")),
            Metric::Presence,
            0x04,
        ),
        (
            request::chat_op(1, "1@c.us", &ChatOp::Archive),
            Metric::Chat,
            0x80,
        ),
        (request::block(1, "1@c.us", true), Metric::Block, 0x88),
        (request::push_name(1, "me"), Metric::Profile, 0x88),
        (request::status_text(1, "busy"), Metric::Status, 0x88),
        (request::picture(1, "p1", "1@c.us", None), Metric::Pic, 0x88),
        (
            request::group(1, "g1", "1@c.us", None, &GroupOp::Leave),
            Metric::Group,
            0x88,
        ),
        (
            request::history(1, "1@c.us", Direction::Before, 10, None),
            Metric::QueryMessages,
            0x80,
        ),
        (
            request::message_info(1, &MessageKey::new("1@c.us", true, "X")),
            Metric::QueryMessageInfo,
            0x80,
        ),
        (
            request::media_requery(1, &MessageKey::new("1@c.us", true, "X")),
            Metric::QueryMedia,
            0x80,
        ),
        (
            request::search(1, "x", None, 10, 1),
            Metric::QuerySearch,
            0x80,
        ),
        (request::chats(1), Metric::QueryChat, 0x80),
        (request::contacts(1), Metric::QueryContacts, 0x80),
    ];
    for (req, metric, flags) in cases {
        assert_eq!(req.metric(), Some(metric), "{req:?}");
        assert_eq!(req.flags().map(|f| f.bits()), Some(flags), "{req:?}");
    }
}

#[test]
fn relay_is_tagged_with_the_message_id_and_carries_the_message() {
    let m = info("1@s.whatsapp.net", "3EB0AB", true, Message::text("hi"));
    let Request::Node { node, tag, .. } = request::relay(7, &m) else {
        panic!("relay is binary")
    };
    assert_eq!(tag.as_deref(), Some("3EB0AB"));
    assert_eq!(node.attrs.get("type"), Some("relay"));
    assert_eq!(node.attrs.get("epoch"), Some("7"));
    let bytes = node.child("message").and_then(Node::content_bytes).unwrap();
    assert_eq!(WebMessageInfo::decode_bytes(bytes).unwrap(), m);
}

#[test]
fn json_queries_name_the_user_on_the_wire() {
    assert_eq!(
        request::exists("15550001111@c.us"),
        Request::Json(json!(["query", "exist", "15550001111@s.whatsapp.net"]))
    );
    assert_eq!(
        request::presence_subscribe("1@c.us"),
        Request::Json(json!([
            "action",
            "presence",
            "subscribe",
            "1@s.whatsapp.net"
        ]))
    );
}

#[test]
fn relay_action_maps_to_messages_and_garbage_to_raw() {
    let m = info("1@s.whatsapp.net", "ID1", false, Message::text("hello"));
    let node = Node::new("action").attr("add", "relay").children([
        Node::new("message").bytes(m.encode_to_vec()),
        Node::new("message").bytes(vec![0xff, 0xff, 0xff]),
        Node::new("battery")
            .attr("value", "42")
            .attr("live", "true"),
        Node::new("mystery"),
    ]);
    let events = map_node(&node);
    assert_eq!(
        events[0],
        ChatEvent::Messages {
            batch: MessageBatch::Relay,
            last: false,
            messages: vec![m]
        }
    );
    assert!(matches!(&events[1], ChatEvent::Raw(n) if n.tag == "message"));
    assert_eq!(
        events[2],
        ChatEvent::Battery(BatteryInfo {
            value: Some(42),
            live: true,
            powersave: false
        })
    );
    assert!(matches!(&events[3], ChatEvent::Raw(n) if n.tag == "mystery"));
}

#[test]
fn chat_list_and_contacts_responses() {
    let node = Node::new("response")
        .attr("type", "chat")
        .children([Node::new("chat")
            .attr("jid", "1@s.whatsapp.net")
            .attr("t", "5")
            .attr("count", "-1")
            .attr("archive", "true")
            .attr("mute", "99")]);
    let ChatEvent::Chats(chats) = &map_node(&node)[0] else {
        panic!("chats")
    };
    assert_eq!(chats[0].jid, "1@c.us");
    assert_eq!(
        (chats[0].t, chats[0].count, chats[0].archive),
        (5, -1, true)
    );
    assert_eq!(chats[0].mute, Some(99));
    let node = Node::new("response")
        .attr("type", "contacts")
        .children([Node::new("user")
            .attr("jid", "2@c.us")
            .attr("notify", "bob")]);
    let ChatEvent::Contacts(c) = &map_node(&node)[0] else {
        panic!("contacts")
    };
    assert_eq!(c[0].notify.as_deref(), Some("bob"));
}

#[test]
fn json_pushes_map_to_typed_events() {
    let ack = map_json(
        &json!(["Msg", {"cmd":"ack","id":"A","ack":3,"from":"1@c.us","to":"2@c.us","t":9}]),
    );
    assert_eq!(
        ack,
        ChatEvent::Ack(MessageAck {
            ids: vec!["A".into()],
            level: AckLevel::Read,
            chat: "2@c.us".into(),
            from: Some("1@c.us".into()),
            participant: None,
            t: Some(9),
            from_me: true,
        })
    );
    let acks = map_json(
        &json!(["MsgInfo", {"cmd":"acks","id":["A","B"],"ack":4,"from":"1@c.us","to":"2@c.us"}]),
    );
    assert!(matches!(acks, ChatEvent::Ack(a) if a.ids.len() == 2 && a.level == AckLevel::Played));
    let p = map_json(&json!(["Presence", {"id":"1@s.whatsapp.net","type":"unavailable","t":5}]));
    assert!(matches!(p, ChatEvent::Presence(p) if p.jid == "1@c.us" && p.last_seen == Some(5)));
    let g = map_json(
        &json!(["Chat", {"id":"1-2@g.us","cmd":"action","data":["promote","1@c.us",{"participants":["3@c.us"]}]}]),
    );
    assert!(matches!(g, ChatEvent::Group(g) if g.op == "promote" && g.participants == ["3@c.us"]));
    let b = map_json(&json!(["Blocklist", {"id":1,"blocklist":["4@c.us"]}]));
    assert_eq!(b, ChatEvent::Blocklist(vec!["4@c.us".into()]));
    assert!(matches!(
        map_json(&json!(["Msg", {"ack":"x"}])),
        ChatEvent::RawJson(_)
    ));
    assert!(matches!(
        map_json(&json!("nonsense")),
        ChatEvent::RawJson(_)
    ));
}

#[test]
fn message_kinds() {
    let up = compose::UploadedMedia {
        url: "u".into(),
        direct_path: None,
        media_key: [1; 32],
        info: wa_media::encrypt_bytes(
            &wa_media::MediaKey::from_array([1; 32]),
            wa_media::MediaType::Ptt,
            b"x",
        )
        .1,
    };
    let cases = [
        (Message::text("a"), MessageKind::Text),
        (
            compose::extended_text("a", None, &["1@c.us".into()]),
            MessageKind::ExtendedText,
        ),
        (compose::location(1.0, 2.0, None), MessageKind::Location),
        (compose::contact("a", "BEGIN:VCARD"), MessageKind::Contact),
        (
            compose::revoke(MessageKey::new("1@c.us", true, "X")),
            MessageKind::Revoke,
        ),
        (
            compose::media(MediaKind::VoiceNote, &up, Default::default(), 1),
            MessageKind::VoiceNote,
        ),
        (
            compose::media(MediaKind::Sticker, &up, Default::default(), 1),
            MessageKind::Sticker,
        ),
    ];
    for (m, kind) in cases {
        assert_eq!(MessageKind::of(&m), kind);
    }
    let media = compose::media(MediaKind::VoiceNote, &up, Default::default(), 1);
    let r = compose::media_ref(&media).unwrap();
    assert_eq!(r.kind, MediaKind::VoiceNote);
    assert_eq!(r.file_sha256.as_deref(), Some(&up.info.file_sha256[..]));
}

#[test]
fn reply_quotes_and_forward_marks() {
    let original = info("1@s.whatsapp.net", "Q1", false, Message::text("orig"));
    let reply = compose::extended_text("re", Some(&original), &[]);
    let ctx = reply.extended_text_message.unwrap().context_info.unwrap();
    assert_eq!(ctx.stanza_id.as_deref(), Some("Q1"));
    assert_eq!(
        ctx.quoted_message.unwrap().conversation.as_deref(),
        Some("orig")
    );
    let fwd = compose::forward(&Message::text("x"));
    let ctx = fwd.extended_text_message.unwrap().context_info.unwrap();
    assert_eq!(
        (ctx.is_forwarded, ctx.forwarding_score),
        (Some(true), Some(1))
    );
}

#[test]
fn outbox_keeps_order_ignores_duplicates_and_round_trips() {
    let mut outbox = Outbox::default();
    let a = info("1@c.us", "A", true, Message::text("a"));
    let b = info("1@c.us", "B", true, Message::text("b"));
    outbox.push(PendingMessage::new(&a));
    outbox.push(PendingMessage::new(&b));
    outbox.push(PendingMessage::new(&a));
    assert_eq!(outbox.entries().len(), 2);
    let store = MemoryStore::new();
    store.save_outbox(&outbox).unwrap();
    let back = store.load_outbox().unwrap();
    assert_eq!(back.entries()[1].decode().unwrap(), b);
    assert!(outbox.acked("A"));
    assert!(!outbox.acked("A"));
    assert_eq!(outbox.entries()[0].id, "B");
}

#[test]
fn seen_ids_are_bounded() {
    let mut seen = SeenIds::with_capacity(2);
    assert!(seen.insert("a"));
    assert!(!seen.insert("a"));
    assert!(seen.insert("b"));
    assert!(seen.insert("c"));
    assert_eq!(seen.len(), 2);
    assert!(seen.insert("a"), "the oldest was forgotten");
}

#[test]
fn group_stubs_map_to_group_changes() {
    let stub = WebMessageInfo {
        key: MessageKey::new("1-2@g.us", false, "S1"),
        participant: Some("1@s.whatsapp.net".into()),
        message_stub_type: Some(27),
        message_stub_parameters: vec!["3@s.whatsapp.net".into()],
        ..WebMessageInfo::default()
    };
    let node = Node::new("action")
        .attr("add", "relay")
        .children([Node::new("message").bytes(stub.encode_to_vec())]);
    let events = map_node(&node);
    assert!(
        matches!(&events[0], ChatEvent::Messages { messages, .. } if messages == std::slice::from_ref(&stub))
    );
    let ChatEvent::Group(change) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(change.op, "add");
    assert_eq!(change.gid, "1-2@g.us");
    assert_eq!(change.actor.as_deref(), Some("1@c.us"));
    assert_eq!(change.participants, ["3@c.us"]);
    // Not a group: no change.
    let mut other = stub;
    other.key.remote_jid = Some("1@c.us".into());
    assert_eq!(incoming::group_change_of_stub(&other), None);
}

#[test]
fn unpin_and_unmute_name_the_previous_value() {
    let Request::Node { node, .. } = request::chat_op(1, "1@c.us", &ChatOp::Unpin(Some(5))) else {
        panic!("binary")
    };
    let chat = node.child("chat").unwrap();
    assert_eq!(chat.attrs.get("type"), Some("pin"));
    assert_eq!(chat.attrs.get("previous"), Some("5"));
    assert_eq!(chat.attrs.get("pin"), None);
    assert_eq!(chat.attrs.get("jid"), Some("1@s.whatsapp.net"));
}

mod memory_outbox {
    crate::outbox_store_conformance!(super::MemoryOutbox::default());
}

mod memory_store_outbox {
    crate::outbox_store_conformance!(crate::session::MemoryStore::new());
}

#[test]
fn relay_to_self_asks_for_acknowledgement() {
    let m = info("1@s.whatsapp.net", "3EB0AA", true, Message::text("note"));
    let flags = |own| request::relay_from(1, &m, own).flags().map(|f| f.bits());
    assert_eq!(flags(Some("1@c.us")), Some(0x40));
    assert_eq!(flags(Some("2@c.us")), Some(0x80));
    assert_eq!(flags(None), Some(0x80));
}

#[test]
fn a_group_relay_names_us_as_its_participant() {
    let relayed = |info: &WebMessageInfo, own| {
        let Request::Node { node, .. } = request::relay_from(1, info, own) else {
            panic!("a relay is a node")
        };
        let bytes = node.child("message").and_then(Node::content_bytes).unwrap();
        WebMessageInfo::decode_bytes(bytes).unwrap().participant
    };
    let group = info("123-456@g.us", "3EB0AB", true, Message::text("hi all"));
    assert_eq!(
        relayed(&group, Some("1@c.us")).as_deref(),
        Some("1@s.whatsapp.net")
    );
    assert_eq!(relayed(&group, None), None);
    let named = WebMessageInfo {
        participant: Some("9@s.whatsapp.net".into()),
        ..group.clone()
    };
    assert_eq!(
        relayed(&named, Some("1@c.us")).as_deref(),
        Some("9@s.whatsapp.net")
    );
    let direct = info("2@s.whatsapp.net", "3EB0AC", true, Message::text("hi"));
    assert_eq!(relayed(&direct, Some("1@c.us")), None);
}

#[test]
fn cmd_pushes_map_to_chat_events_only_for_pictures() {
    let cmd = |v: serde_json::Value| v.as_object().unwrap().clone();
    assert_eq!(
        super::map_cmd(&cmd(
            serde_json::json!({"type": "picture", "jid": "1@s.whatsapp.net", "tag": "x"})
        )),
        Some(ChatEvent::ProfilePicture {
            jid: "1@c.us".into()
        })
    );
    assert_eq!(
        super::map_cmd(&cmd(serde_json::json!({"type": "picture"}))),
        None
    );
    assert_eq!(
        super::map_cmd(&cmd(
            serde_json::json!({"type": "disconnect", "kind": "replaced"})
        )),
        None
    );
    // The JSON push form maps the same way.
    assert_eq!(
        super::map_json(&serde_json::json!(["Cmd", {"type": "picture", "jid": "1@c.us"}])),
        ChatEvent::ProfilePicture {
            jid: "1@c.us".into()
        }
    );
}
