//! The router of wa-sim's multi-device server, sans-IO: device lists and bundles from the
//! registry (one-time prekeys consumed), messages handed to each addressed device without being
//! read, the server ack, per-device queues kept until acked (redelivered after a reconnect,
//! before the `ib offline` marker), receipts and retry receipts forwarded.

use std::collections::BTreeMap;

use wa_binary::Node;
use wa_core::md::usync::{self, FetchedBundle};
use wa_proto::proto::ClientPayload;
use wa_sim::md::registry::{Device, PublicKey, SignedPreKey};
use wa_sim::md::{Action, MdServer, Out};

const A: u64 = 15_550_000_001;
const B: u64 = 15_550_000_002;

fn device(number: u64, device: u32) -> Device {
    let seed = u8::try_from(device).unwrap() + u8::try_from(number % 100).unwrap();
    Device {
        number,
        device,
        key_index: device,
        noise_key: PublicKey([seed; 32]),
        identity: PublicKey([seed.wrapping_add(1); 32]),
        registration_id: 1000 + device,
        signed_prekey: Some(SignedPreKey {
            id: 1,
            public: PublicKey([seed.wrapping_add(2); 32]),
            signature: vec![seed; 64],
        }),
        prekeys: BTreeMap::from([(7, PublicKey([70; 32])), (8, PublicKey([80; 32]))]),
        platform: "test".into(),
        signed_identity: vec![1, 2, 3],
        linked_at: 1,
    }
}

/// A server with A:1, A:2 and B:1 linked.
fn server() -> MdServer {
    let mut server = MdServer::new(1);
    server.phone(Some(A));
    server.phone(Some(B));
    for d in [device(A, 1), device(A, 2), device(B, 1)] {
        server.registry_mut().insert(d);
    }
    server
}

fn login(server: &mut MdServer, conn: u64, number: u64, dev: u32) -> Vec<Node> {
    let payload = ClientPayload {
        username: Some(number),
        device: Some(dev),
        ..ClientPayload::default()
    };
    let key = device(number, dev).noise_key.0;
    sent_to(&server.connected(conn, &payload, &key, 100), conn)
}

fn sent_to(outs: &[Out], conn: u64) -> Vec<Node> {
    outs.iter()
        .filter(|o| o.conn == conn)
        .filter_map(|o| match &o.action {
            Action::Send(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

fn enc(kind: &str, byte: u8) -> Node {
    Node::new("enc")
        .attr("v", "2")
        .attr("type", kind)
        .bytes(vec![byte; 4])
}

fn message(id: &str, to: &str, parts: &[(&str, Node)]) -> Node {
    Node::new("message")
        .attr("id", id)
        .attr("to", to)
        .attr("type", "text")
        .children([
            Node::new("participants").children(
                parts
                    .iter()
                    .map(|(jid, e)| Node::new("to").attr("jid", *jid).children([e.clone()])),
            ),
            Node::new("device-identity").bytes(vec![9]),
        ])
}

#[test]
fn device_lists_and_bundles_come_from_the_registry() {
    let mut server = server();
    login(&mut server, 1, A, 1);
    let query = Node::new("iq")
        .attr("id", "q1")
        .attr("xmlns", "usync")
        .attr("type", "get")
        .children([usync::device_query(
            "s1",
            &[
                format!("{B}@s.whatsapp.net"),
                format!("{A}@s.whatsapp.net"),
                "999@s.whatsapp.net".into(),
            ],
        )]);
    let answer = sent_to(&server.node(1, &query, 100), 1);
    let users = usync::parse_device_answer(&answer[0]).unwrap();
    assert_eq!(users[0].devices, vec![1]);
    assert_eq!(users[1].devices, vec![1, 2]);
    assert!(
        users[2].devices.is_empty(),
        "an unknown user has no devices"
    );
    assert!(users[0].lid.as_deref().unwrap().ends_with("@lid"));
    assert_ne!(users[0].lid, users[1].lid, "a LID per account");

    let fetch = |id: &str| {
        Node::new("iq")
            .attr("id", id)
            .attr("xmlns", "encrypt")
            .attr("type", "get")
            .children([usync::key_query(&[
                format!("{B}:1@s.whatsapp.net"),
                format!("{B}:9@s.whatsapp.net"),
            ])])
    };
    let mut served = Vec::new();
    for i in 0..3 {
        let answer = sent_to(&server.node(1, &fetch(&format!("k{i}")), 100), 1);
        let bundles = usync::parse_key_answer(&answer[0]).unwrap();
        assert_eq!(bundles[1].1, FetchedBundle::Missing, "B:9 is not linked");
        let FetchedBundle::Bundle(b) = &bundles[0].1 else {
            panic!()
        };
        assert_eq!(b.registration_id, 1001);
        served.push(b.pre_key.map(|(id, _)| id));
    }
    assert_eq!(
        served,
        vec![Some(7), Some(8), None],
        "each one-time prekey is served once"
    );
}

#[test]
fn messages_are_routed_queued_until_acked_and_redelivered_before_the_marker() {
    let mut server = server();
    login(&mut server, 1, A, 1);
    login(&mut server, 3, B, 1);
    // A:2 is offline. A:1 writes to B, with a copy for A:2 and one for a device of a third
    // account, which the router refuses to address.
    let node = message(
        "M1",
        &format!("{B}@s.whatsapp.net"),
        &[
            (&format!("{B}:1@s.whatsapp.net"), enc("pkmsg", 1)),
            (&format!("{A}:2@s.whatsapp.net"), enc("pkmsg", 2)),
            ("15550000777:1@s.whatsapp.net", enc("msg", 3)),
        ],
    );
    let outs = server.node(1, &node, 200);
    let to_b = sent_to(&outs, 3);
    assert_eq!(to_b.len(), 1);
    let got = &to_b[0];
    assert_eq!(
        got.optional_str("from"),
        Some(format!("{A}:1@s.whatsapp.net").as_str())
    );
    assert_eq!(got.optional_str("id"), Some("M1"));
    assert_eq!(got.optional_str("recipient"), None);
    assert_eq!(
        got.child("enc").unwrap().content_bytes(),
        Some(&[1u8; 4][..]),
        "the ciphertext as sent"
    );
    assert!(got.child("device-identity").is_some());
    let ack = sent_to(&outs, 1);
    assert_eq!(ack.len(), 1);
    assert_eq!(
        (
            &*ack[0].tag,
            ack[0].optional_str("class"),
            ack[0].optional_str("id")
        ),
        ("ack", Some("message"), Some("M1"))
    );
    assert_eq!(server.queued(A, 2), 1);
    assert_eq!(server.queued(B, 1), 1, "kept until B acks");
    assert_eq!(server.queued(15_550_000_777, 1), 0);

    // B does not ack and reconnects: the message comes again, then the marker.
    let after = login(&mut server, 4, B, 1);
    let tags: Vec<&str> = after.iter().map(|n| &*n.tag).collect();
    assert_eq!(tags, vec!["success", "message", "ib"]);
    assert_eq!(
        after[2].child("offline").unwrap().optional_str("count"),
        Some("1")
    );
    // Now B acks; the next login has nothing.
    let b_ack = Node::new("ack")
        .attr("class", "message")
        .attr("id", "M1")
        .attr("to", format!("{A}:1@s.whatsapp.net"));
    server.node(4, &b_ack, 300);
    assert_eq!(server.queued(B, 1), 0);
    let again = login(&mut server, 5, B, 1);
    assert_eq!(
        again.iter().map(|n| &*n.tag).collect::<Vec<_>>(),
        vec!["success", "ib"]
    );

    // A:2 logs in: its copy names the chat it went to.
    let a2 = login(&mut server, 2, A, 2);
    assert_eq!(
        a2[1].optional_str("recipient"),
        Some(format!("{B}@s.whatsapp.net").as_str())
    );
    assert_eq!(
        a2[2].child("offline").unwrap().optional_str("count"),
        Some("1")
    );
}

#[test]
fn receipts_and_retry_receipts_are_forwarded() {
    let mut server = server();
    login(&mut server, 1, A, 1);
    login(&mut server, 3, B, 1);
    let receipt = Node::new("receipt")
        .attr("id", "M1")
        .attr("to", format!("{A}:1@s.whatsapp.net"));
    let outs = server.node(3, &receipt, 400);
    let got = sent_to(&outs, 1);
    assert_eq!(
        got[0].optional_str("from"),
        Some(format!("{B}:1@s.whatsapp.net").as_str())
    );
    assert_eq!(got[0].optional_str("type"), None, "a delivery receipt");
    assert!(sent_to(&outs, 3).is_empty());

    let retry = Node::new("receipt")
        .attr("id", "M2")
        .attr("to", format!("{A}:1@s.whatsapp.net"))
        .attr("type", "retry")
        .children([
            Node::new("retry").attr("count", 1).attr("id", "M2"),
            Node::new("registration").bytes(vec![0, 0, 3, 233]),
        ]);
    let got = sent_to(&server.node(3, &retry, 401), 1);
    assert_eq!(got[0].optional_str("type"), Some("retry"));
    assert_eq!(
        got[0].child("registration").unwrap().content_bytes(),
        Some(&[0, 0, 3, 233][..])
    );
    // A receipt to a user goes to all its devices (A:2 is offline: queued).
    let read = Node::new("receipt")
        .attr("id", "M3")
        .attr("to", format!("{A}@s.whatsapp.net"))
        .attr("type", "read");
    let outs = server.node(3, &read, 402);
    assert_eq!(sent_to(&outs, 1).len(), 1);
    assert_eq!(server.queued(A, 2), 1);
}

#[test]
fn read_and_played_reach_the_readers_own_devices_and_self_kinds_only_them() {
    let mut server = server();
    server.registry_mut().insert(device(B, 2));
    login(&mut server, 1, A, 1);
    login(&mut server, 3, B, 1);
    login(&mut server, 4, B, 2);
    let b2 = 4;
    for (kind, to_sender) in [
        ("read", true),
        ("played", true),
        ("read-self", false),
        ("played-self", false),
    ] {
        let receipt = Node::new("receipt")
            .attr("id", "M9")
            .attr("to", format!("{A}@s.whatsapp.net"))
            .attr("type", kind);
        let outs = server.node(3, &receipt, 600);
        let to_a = sent_to(&outs, 1);
        assert_eq!(to_a.len(), usize::from(to_sender), "{kind} to the sender");
        if let Some(got) = to_a.first() {
            assert_eq!(got.optional_str("recipient"), None, "{kind}");
        }
        let mine = sent_to(&outs, b2);
        assert_eq!(mine.len(), 1, "{kind} to the reader's other device");
        assert_eq!(mine[0].optional_str("type"), Some(kind));
        assert_eq!(
            mine[0].optional_str("from"),
            Some(format!("{B}:1@s.whatsapp.net").as_str())
        );
        assert_eq!(
            mine[0].optional_str("recipient"),
            Some(format!("{A}@s.whatsapp.net").as_str()),
            "{kind}: the chat that was read"
        );
        assert!(
            sent_to(&outs, 3).is_empty(),
            "{kind}: not back to the reader"
        );
    }
    // A delivery receipt is the sender's business only.
    let delivery = Node::new("receipt")
        .attr("id", "M10")
        .attr("to", format!("{A}:1@s.whatsapp.net"))
        .attr("type", "inactive");
    let outs = server.node(3, &delivery, 601);
    assert_eq!(sent_to(&outs, 1)[0].optional_str("type"), Some("inactive"));
    assert!(sent_to(&outs, b2).is_empty());
}

#[test]
fn queues_are_bounded() {
    let mut server = server();
    login(&mut server, 1, A, 1);
    let max = wa_sim::md::router::MAX_QUEUE;
    for i in 0..max + 5 {
        let node = message(
            &format!("Q{i}"),
            &format!("{B}@s.whatsapp.net"),
            &[(&format!("{B}:1@s.whatsapp.net"), enc("msg", 1))],
        );
        server.node(1, &node, 500);
    }
    assert_eq!(server.queued(B, 1), max);
    let first = login(&mut server, 3, B, 1);
    assert_eq!(
        first[1].optional_str("id"),
        Some("Q5"),
        "the oldest were dropped"
    );
}

#[test]
fn addressing_follows_the_chat_lid_or_phone_number() {
    let mut server = server();
    login(&mut server, 1, A, 1);
    login(&mut server, 2, A, 2);
    login(&mut server, 3, B, 1);
    let mut lid = |jid: &str| {
        let q = Node::new("iq")
            .attr("id", "q")
            .attr("xmlns", "usync")
            .attr("type", "get")
            .children([usync::device_query("s", &[jid.to_owned()])]);
        let answer = sent_to(&server.node(1, &q, 100), 1);
        usync::parse_device_answer(&answer[0]).unwrap()[0]
            .lid
            .clone()
            .unwrap()
    };
    let (a_lid, b_lid) = (
        lid(&format!("{A}@s.whatsapp.net")),
        lid(&format!("{B}@s.whatsapp.net")),
    );
    let (a_lid_user, b_lid_user) = (
        a_lid.trim_end_matches("@lid").to_owned(),
        b_lid.trim_end_matches("@lid").to_owned(),
    );
    // To B's LID: LID-addressed, with the phone number beside it.
    let node = message(
        "L1",
        &b_lid,
        &[
            (&format!("{b_lid_user}:1@lid"), enc("pkmsg", 1)),
            (&format!("{A}:2@s.whatsapp.net"), enc("pkmsg", 2)),
        ],
    );
    let outs = server.node(1, &node, 200);
    let got = &sent_to(&outs, 3)[0];
    assert_eq!(
        got.optional_str("from"),
        Some(format!("{a_lid_user}:1@lid").as_str())
    );
    assert_eq!(
        got.optional_str("sender_pn"),
        Some(format!("{A}@s.whatsapp.net").as_str())
    );
    assert_eq!(got.optional_str("addressing_mode"), Some("lid"));
    assert_eq!(got.optional_str("sender_lid"), None);
    let own = &sent_to(&outs, 2)[0];
    assert_eq!(own.optional_str("recipient"), Some(b_lid.as_str()));
    assert_eq!(
        own.optional_str("peer_recipient_pn"),
        Some(format!("{B}@s.whatsapp.net").as_str())
    );
    // B's receipt to A's LID comes from B's LID device.
    let receipt = Node::new("receipt")
        .attr("id", "L1")
        .attr("to", format!("{a_lid_user}:1@lid"));
    let outs = server.node(3, &receipt, 210);
    assert_eq!(
        sent_to(&outs, 1)[0].optional_str("from"),
        Some(format!("{b_lid_user}:1@lid").as_str())
    );
    // To B's phone number: phone-number-addressed, with the LID beside it.
    let node = message(
        "P1",
        &format!("{B}@s.whatsapp.net"),
        &[(&format!("{B}:1@s.whatsapp.net"), enc("msg", 3))],
    );
    let got = &sent_to(&server.node(1, &node, 220), 3)[0];
    assert_eq!(
        got.optional_str("from"),
        Some(format!("{A}:1@s.whatsapp.net").as_str())
    );
    assert_eq!(got.optional_str("sender_lid"), Some(a_lid.as_str()));
    assert_eq!(got.optional_str("addressing_mode"), Some("pn"));
    // What the router writes passes wa-core's checks and teaches the right pair.
    let addressing = wa_core::md::lid::Addressing::parse(got).unwrap();
    assert_eq!(
        addressing.pairs(),
        [wa_core::md::lid::LidPair {
            lid: a_lid_user,
            pn: A.to_string()
        }]
    );
}
