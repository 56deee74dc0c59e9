//! Relays between the two accounts: delivery, acks and receipts, message info, a resent id
//! acked again but not delivered twice, a forced duplicate delivery, and every message type
//! relayed intact (revoke included).

use wa_binary::Node;
use wa_proto::{Message, MessageKey};
use wa_sim::core::SimEvent;
use wa_sim::store::wire_jid;

use crate::{A, B, Got, Sim, acks, relayed, text_message};

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
