//! The messenger, sans-IO, between devices of two accounts through the test network of `md_net`
//! (device lists, bundles, per-device delivery, acks, receipts): text both ways, the own-device
//! copy, a redelivered message recognised and not decrypted twice, a lost session repaired by a
//! retry receipt, the retry bound, a changed identity reported, malformed stanzas acked without
//! an event, and the stanza shapes.

mod md_net;

use md_net::*;

#[test]
fn text_both_ways_with_own_device_copy_and_receipts() {
    let mut net = net();
    let id = net.send(A1, B, "hello");
    assert_eq!(
        net.texts(B1),
        vec![(id.clone(), A.to_owned(), false, "hello".to_owned())]
    );
    assert_eq!(
        net.texts(A2),
        vec![(id.clone(), B.to_owned(), true, "hello".to_owned())],
        "our second device gets the DeviceSentMessage form, for the chat with B"
    );
    assert!(net.texts(A1).is_empty(), "nothing comes back to the sender");
    let a1 = &net.devices[A1].events;
    assert!(a1.contains(&MessengerEvent::Sent {
        id: id.clone(),
        error: None
    }));
    assert!(a1.iter().any(|e| matches!(e, MessengerEvent::Receipt { ids, kind: ReceiptKind::Delivery, sender, .. } if ids == &vec![id.clone()] && sender == B1)));
    assert!(a1.iter().any(|e| matches!(e, MessengerEvent::Receipt { ids, kind: ReceiptKind::Sender, sender, .. } if ids == &vec![id.clone()] && sender == A2)));

    // The first message to each device was a pkmsg with our device identity; the reply in the
    // established session is a msg, to all of A's devices, without device-identity.
    let first = &net
        .log
        .iter()
        .find(|(f, n)| f == A1 && &*n.tag == "message")
        .unwrap()
        .1;
    let kinds: Vec<&str> = first
        .child("participants")
        .unwrap()
        .children_named("to")
        .map(|t| t.child("enc").unwrap().optional_str("type").unwrap())
        .collect();
    assert_eq!(kinds, vec!["pkmsg", "pkmsg"]);
    assert!(first.child("device-identity").is_some());
    assert_eq!(
        first.optional_str("phash"),
        Some(stanza::phash(&[A2, B1]).as_str())
    );

    let reply = net.send(B1, A, "hi back");
    for d in [A1, A2] {
        assert_eq!(
            net.texts(d).iter().filter(|t| t.3 == "hi back").count(),
            1,
            "{d}"
        );
    }
    let back = &net
        .log
        .iter()
        .rev()
        .find(|(f, n)| f == B1 && &*n.tag == "message")
        .unwrap()
        .1;
    assert_eq!(back.optional_str("id"), Some(reply.as_str()));
    let kinds: BTreeMap<&str, &str> = back
        .child("participants")
        .unwrap()
        .children_named("to")
        .map(|t| {
            (
                t.optional_str("jid").unwrap(),
                t.child("enc").unwrap().optional_str("type").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        BTreeMap::from([(A1, "msg"), (A2, "pkmsg")]),
        "A1 answered B1's session; A2 never wrote to B1"
    );

    // A second message: B1 answered, so its copy is a msg; A2 never wrote to A1, so Signal keeps
    // sending it pkmsgs (and the device identity rides along).
    net.send(A1, B, "again");
    let last = &net
        .log
        .iter()
        .rev()
        .find(|(f, n)| f == A1 && &*n.tag == "message")
        .unwrap()
        .1;
    let kinds: BTreeMap<&str, &str> = last
        .child("participants")
        .unwrap()
        .children_named("to")
        .map(|t| {
            (
                t.optional_str("jid").unwrap(),
                t.child("enc").unwrap().optional_str("type").unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, BTreeMap::from([(A2, "pkmsg"), (B1, "msg")]));
    assert!(last.child("device-identity").is_some());
}

#[test]
fn redelivery_is_not_decrypted_twice_but_acked_and_receipted_again() {
    let mut net = net();
    net.send(A1, B, "once");
    let delivered = net
        .log
        .iter()
        .find(|(f, n)| f == A1 && &*n.tag == "message")
        .unwrap()
        .1
        .clone();
    let decrypts = net.devices[B1].store.decrypts;
    // The server redelivers B1's copy (as after a crash before the ack).
    let copy = delivered
        .child("participants")
        .unwrap()
        .children_named("to")
        .find(|t| t.optional_str("jid") == Some(B1))
        .unwrap();
    // As the server keeps it: the copy's enc and the sender's device identity.
    let mut children = copy.child_nodes().to_vec();
    children.extend(delivered.child("device-identity").cloned());
    let again = Node::new("message")
        .attr("from", A1)
        .attr("id", delivered.optional_str("id").unwrap())
        .attr("type", "text")
        .children(children);
    let before = net.log.len();
    net.give(B1, again);
    net.run();
    assert_eq!(
        net.devices[B1].store.decrypts, decrypts,
        "not decrypted again"
    );
    assert_eq!(net.texts(B1).len(), 1, "no second event");
    let sent: Vec<&str> = net.log[before..]
        .iter()
        .filter(|(f, _)| f == B1)
        .map(|(_, n)| &*n.tag)
        .collect();
    assert_eq!(
        sent,
        vec!["receipt", "ack"],
        "the redelivery is receipted and acked again"
    );
}

#[test]
fn lost_session_is_repaired_by_a_retry_receipt_bounded() {
    let mut net = net();
    net.send(A1, B, "first");
    net.send(B1, A, "reply");
    // B1 loses its session with A1.
    let address = ProtocolAddress::new("15550000001", 1);
    net.dev(B1)
        .store
        .signal
        .store_session(&address, &SessionRecord::default())
        .unwrap();
    let id = net.send(A1, B, "after loss");
    let b1 = &net.devices[B1].events;
    assert!(b1.iter().any(
        |e| matches!(e, MessengerEvent::DecryptFailed { id: i, retry_sent: true, .. } if *i == id)
    ));
    assert!(net.devices[A1].events.iter().any(
        |e| matches!(e, MessengerEvent::Resent { id: i, device } if *i == id && device == B1)
    ));
    assert_eq!(
        net.texts(B1).iter().filter(|t| t.3 == "after loss").count(),
        1
    );
    let retry = net
        .log
        .iter()
        .find(|(f, n)| f == B1 && n.optional_str("type") == Some("retry"))
        .unwrap()
        .1
        .clone();
    assert_eq!(
        retry.child("retry").unwrap().optional_str("count"),
        Some("1")
    );
    assert_eq!(
        retry
            .child("registration")
            .unwrap()
            .content_bytes()
            .unwrap(),
        net.devices[B1].creds.registration_id.to_be_bytes()
    );
    assert!(
        stanza::retry_bundle(&retry).is_some(),
        "the retry carries usable keys"
    );

    // A message nobody can ever decrypt: retry receipts stop at the bound.
    let garbage = Node::new("message")
        .attr("from", A1)
        .attr("id", "3EB0BAD")
        .attr("type", "text")
        .children([stanza::enc_node(MessageKind::Whisper, &[0x33; 60])]);
    for _ in 0..6 {
        net.give(B1, garbage.clone());
    }
    let sent_retries = {
        let d = net.dev(B1);
        std::iter::from_fn(|| d.messenger.poll_transmit())
            .filter(|n| n.optional_str("type") == Some("retry"))
            .count()
    };
    assert_eq!(
        sent_retries,
        MessengerConfig::default().max_retries as usize
    );
}

#[test]
fn changed_identity_is_reported_and_trusted() {
    let mut net = net();
    net.send(A1, B, "before");
    // B1 reinstalls: new identity, same JID.
    let fresh = device(15_550_000_002, 1, 77);
    net.devices.insert(B1.to_owned(), fresh);
    // A1's old session still encrypts for the old identity; B1 cannot read it and asks again.
    let id = net.send(A1, B, "after reinstall");
    let a1 = &net.devices[A1].events;
    assert!(
        a1.iter()
            .any(|e| matches!(e, MessengerEvent::IdentityChanged { device } if device == B1)),
        "{a1:#?}"
    );
    assert_eq!(
        net.texts(B1)
            .iter()
            .filter(|t| t.3 == "after reinstall" && t.0 == id)
            .count(),
        1
    );
}

#[test]
fn malformed_messages_are_acked_without_a_message() {
    let mut net = net();
    net.send(A1, B, "hello");
    let cases = [
        Node::new("message").attr("from", A1).attr("id", "x1"),
        Node::new("message")
            .attr("from", A1)
            .attr("id", "x2")
            .children([Node::new("enc")
                .attr("v", "1")
                .attr("type", "msg")
                .bytes(vec![1])]),
        Node::new("message")
            .attr("from", A1)
            .attr("id", "x3")
            .children([Node::new("enc")
                .attr("v", "2")
                .attr("type", "skmsg")
                .bytes(vec![1])]),
        Node::new("message")
            .attr("from", A1)
            .attr("id", "x4")
            .children((0..5).map(|_| stanza::enc_node(MessageKind::Whisper, &[1]))),
    ];
    for node in cases {
        let id = node.optional_str("id").unwrap().to_owned();
        let before = net.log.len();
        net.give(B1, node);
        net.run();
        let sent: Vec<&Node> = net.log[before..]
            .iter()
            .filter(|(f, _)| f == B1)
            .map(|(_, n)| n)
            .collect();
        assert!(
            sent.iter()
                .any(|n| &*n.tag == "ack" && n.optional_str("id") == Some(id.as_str())),
            "{id} acked"
        );
        assert!(
            !sent
                .iter()
                .any(|n| &*n.tag == "receipt" && n.optional_str("type").is_none()),
            "{id}: no delivery receipt"
        );
    }
    assert_eq!(net.texts(B1).len(), 1);
}

#[test]
fn stanza_shapes() {
    let parts = [stanza::EncPart {
        device: B1.to_owned(),
        kind: MessageKind::Whisper,
        ciphertext: vec![0x33, 1, 2],
    }];
    let node = stanza::message_node("3EB0AA", B, &parts, Some(&[1, 2]), Some("2:AAAAAAAA"));
    assert_eq!(node.optional_str("type"), Some("text"));
    assert!(
        node.child("device-identity").is_none(),
        "no device-identity without a pkmsg"
    );
    let enc = node
        .child("participants")
        .unwrap()
        .child("to")
        .unwrap()
        .child("enc")
        .unwrap();
    assert_eq!(
        (enc.optional_str("v"), enc.optional_str("type")),
        (Some("2"), Some("msg"))
    );
    // phash: order-independent, "2:" + 8 base64 characters.
    let h = stanza::phash(&[A1, B1]);
    assert_eq!(h, stanza::phash(&[B1, A1]));
    assert!(h.starts_with("2:") && h.len() == 10, "{h}");
    assert_ne!(h, stanza::phash(&[A1]));
    let id = stanza::new_message_id(&mut StdRng::seed_from_u64(1));
    assert!(
        id.starts_with("3EB0") && id.len() == 22 && id[4..].chars().all(|c| c.is_ascii_hexdigit())
    );
    let ack = stanza::ack_for(
        &Node::new("receipt")
            .attr("from", A1)
            .attr("id", "i")
            .attr("type", "read"),
    );
    assert_eq!(
        (
            ack.optional_str("class"),
            ack.optional_str("to"),
            ack.optional_str("type")
        ),
        (Some("receipt"), Some(A1), Some("read"))
    );
    let _ = A2;
}

/// A replayed message carries the decrypt buffer's record of an earlier hand-over as
/// `redelivered`; a live one is never flagged.
#[test]
fn replay_flags_a_message_handed_over_before() {
    let mut rng = StdRng::seed_from_u64(77);
    let mut d = device(15_550_000_303, 0, 7);
    let body = wa_signal::pad(&[0x0A, 0x02, b'h', b'i'], &mut rng);
    for (id, handed) in [("FIRST", false), ("AGAIN", true)] {
        d.messenger
            .replay("15550000404@s.whatsapp.net", id, [1; 32], &body, handed);
    }
    let flags: Vec<(String, bool, Option<String>)> =
        std::iter::from_fn(|| d.messenger.poll_event())
            .filter_map(|e| match e {
                MessengerEvent::Message {
                    id,
                    redelivered,
                    message,
                    ..
                } => Some((id, redelivered, message.conversation)),
                _ => None,
            })
            .collect();
    assert_eq!(
        flags,
        vec![
            ("FIRST".to_owned(), false, Some("hi".to_owned())),
            ("AGAIN".to_owned(), true, Some("hi".to_owned())),
        ]
    );
}

/// `send_message_with` on A1, run to the end.
fn send_cached(net: &mut Net, text: &str) -> String {
    let mut rng = StdRng::seed_from_u64(net.log.len() as u64 + 1_000);
    let d = net.devices.get_mut(A1).unwrap();
    let message = wa_core::md::Content::Text(text.into()).to_message();
    let id = d
        .messenger
        .send_message_with(B, message, &mut d.store, &mut rng)
        .unwrap();
    net.run();
    id
}

fn usyncs_from_a1(net: &Net) -> usize {
    net.log
        .iter()
        .filter(|(f, n)| f == A1 && n.optional_str("xmlns") == Some("usync"))
        .count()
}

#[test]
fn device_lists_are_cached_until_the_protocol_says_they_changed() {
    let mut net = net();
    send_cached(&mut net, "one");
    assert_eq!(usyncs_from_a1(&net), 1);
    assert!(net.devices[A1].messenger.knows_devices_of(B));
    send_cached(&mut net, "two");
    assert_eq!(usyncs_from_a1(&net), 1, "the second send asks nothing");
    assert_eq!(net.texts(B1).iter().filter(|t| t.3 == "two").count(), 1);
    assert_eq!(net.texts(A2).iter().filter(|t| t.3 == "two").count(), 1);

    // A devices notification for B drops B's list: the next send asks again.
    net.give(
        A1,
        Node::new("notification")
            .attr("type", "devices")
            .attr("from", B),
    );
    assert!(!net.devices[A1].messenger.knows_devices_of(B));
    send_cached(&mut net, "three");
    assert_eq!(usyncs_from_a1(&net), 2);

    // An ack with our own phash keeps the lists; one with another phash drops them.
    for (matching, kept) in [(true, true), (false, false)] {
        let mut rng = StdRng::seed_from_u64(7);
        let d = net.devices.get_mut(A1).unwrap();
        let message = wa_core::md::Content::Text("acked by hand".into()).to_message();
        let id = d
            .messenger
            .send_message_with(B, message, &mut d.store, &mut rng)
            .unwrap();
        let node = std::iter::from_fn(|| d.messenger.poll_transmit())
            .find(|n| &*n.tag == "message")
            .expect("sent at once from the cache");
        let ours = node.optional_str("phash").unwrap().to_owned();
        let phash = if matching {
            ours
        } else {
            "2:AAAAAAAA".to_owned()
        };
        let ack = Node::new("ack")
            .attr("class", "message")
            .attr("id", &id)
            .attr("from", B)
            .attr("phash", phash);
        d.messenger
            .handle_node(&ack, &mut d.store, 1_700_000_000, &mut rng);
        assert_eq!(d.messenger.knows_devices_of(B), kept, "matching {matching}");
    }
    send_cached(&mut net, "four");
    assert_eq!(usyncs_from_a1(&net), 3);

    // B links a new device, which writes to A: a sender missing from the list drops it.
    let b2 = device(15_550_000_002, 2, 4);
    net.devices.insert(b2.jid.clone(), b2);
    assert!(net.devices[A1].messenger.knows_devices_of(B));
    net.send("15550000002:2@s.whatsapp.net", A, "from the new device");
    assert_eq!(
        net.texts(A1)
            .iter()
            .filter(|t| t.3 == "from the new device")
            .count(),
        1
    );
    assert!(!net.devices[A1].messenger.knows_devices_of(B));
    send_cached(&mut net, "five");
    assert_eq!(usyncs_from_a1(&net), 4);
    assert_eq!(
        net.texts("15550000002:2@s.whatsapp.net")
            .iter()
            .filter(|t| t.3 == "five")
            .count(),
        1,
        "the refreshed list reaches the new device"
    );
}
