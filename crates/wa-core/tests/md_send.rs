//! The send side's durable parts, sans-IO, through the test network of `md_net`: a retry
//! receipt that arrives after the sender restarted is answered from the stored record (from the
//! signed prekey alone, since the receipt carries no one-time prekey), exactly once per retry
//! count and never past the bound; a server error ack for a stale device list refreshes the list
//! and sends once more, and only once; and the store bounds what it keeps.

mod md_net;

use md_net::*;
use wa_binary::Content;

/// The network with B1's session with A1 lost, B1 offline, and message `text` sent by A1 while
/// B1 is away; then A1 restarts (nothing of the send left in memory) and B1 comes back.
fn retry_after_restart(text: &str) -> (Net, String) {
    let mut net = Net::new(vec![
        device(15_550_000_001, 1, 1),
        device(15_550_000_001, 2, 2),
        device(15_550_000_002, 1, 3),
    ]);
    net.send(A1, B, "first");
    net.send(B1, A, "reply");
    net.dev(B1)
        .store
        .signal
        .store_session(
            &ProtocolAddress::new("15550000001", 1),
            &SessionRecord::default(),
        )
        .unwrap();
    net.offline.push(B1.to_owned());
    let id = net.send(A1, B, text);
    net.restart(A1);
    net.offline.clear();
    for node in net.queued.remove(B1).unwrap_or_default() {
        net.give(B1, node);
    }
    net.run();
    (net, id)
}

fn count_text(net: &Net, jid: &str, text: &str) -> usize {
    net.texts(jid).iter().filter(|t| t.3 == text).count()
}

/// The message stanzas A1 sent with id `id`.
fn messages_from_a1(net: &Net, id: &str) -> Vec<Node> {
    net.log
        .iter()
        .filter(|(f, n)| f == A1 && &*n.tag == "message" && n.optional_str("id") == Some(id))
        .map(|(_, n)| n.clone())
        .collect()
}

/// The last retry receipt B1 sent, with its count set to `count`.
fn retry_with_count(net: &Net, count: u32) -> Node {
    let mut retry = net
        .log
        .iter()
        .rev()
        .find(|(f, n)| f == B1 && n.optional_str("type") == Some("retry"))
        .unwrap()
        .1
        .clone();
    if let Content::Nodes(children) = &mut retry.content {
        for child in children.iter_mut().filter(|c| &*c.tag == "retry") {
            child.attrs.set("count", count.to_string());
        }
    }
    retry
}

#[test]
fn a_retry_receipt_after_a_restart_is_answered_from_the_store() {
    let (net, id) = retry_after_restart("after restart");
    assert_eq!(count_text(&net, B1, "after restart"), 1, "exactly once");
    let a1 = &net.devices[A1].events;
    assert!(
        a1.iter().any(
            |e| matches!(e, MessengerEvent::Resent { id: i, device } if *i == id && device == B1)
        ),
        "{a1:?}"
    );
    // The receipt had no one-time prekey (ours never do): the session came from the signed
    // prekey alone, and the resend is a pkmsg that B1 decrypted.
    let retry = retry_with_count(&net, 1);
    assert!(retry.child("keys").unwrap().child("key").is_none());
    let resend = messages_from_a1(&net, &id).pop().unwrap();
    let enc = resend
        .child("participants")
        .unwrap()
        .child("to")
        .unwrap()
        .child("enc")
        .unwrap();
    assert_eq!(enc.optional_str("type"), Some("pkmsg"));
    assert_eq!(
        resend.child("participants").unwrap().child_nodes().len(),
        1,
        "the resend goes to the device that asked, only"
    );
    // The answered count is in the store, beside the message.
    let record = net.devices[A1].store.sent_message(&id).unwrap().unwrap();
    assert_eq!(record.resent_to(B1), 1);
    assert_eq!(record.to, B);
}

#[test]
fn the_same_retry_twice_is_answered_once_and_counts_are_bounded() {
    let (mut net, id) = retry_after_restart("once");
    let before = messages_from_a1(&net, &id).len();
    // The same receipt again (a redelivery of it): not answered a second time.
    let same = retry_with_count(&net, 1);
    net.route(B1, &same);
    net.run();
    assert_eq!(
        messages_from_a1(&net, &id).len(),
        before,
        "no second resend"
    );
    assert!(net.devices[A1].events.iter().any(|e| matches!(
        e,
        MessengerEvent::RetryIgnored { id: i, reason, .. }
            if *i == id && reason == "retry count answered before"
    )));
    // A restart between them changes nothing: the answered count is stored.
    net.restart(A1);
    net.route(B1, &same);
    net.run();
    assert_eq!(messages_from_a1(&net, &id).len(), before);

    // A higher count is a new request: answered (B1 sees a duplicate id in a new session and
    // decrypts it; what matters here is that A1 answers, once).
    let second = retry_with_count(&net, 2);
    net.route(B1, &second);
    net.run();
    assert_eq!(messages_from_a1(&net, &id).len(), before + 1);
    // Past the bound: never answered.
    let max = MessengerConfig::default().max_retries;
    let past = retry_with_count(&net, max + 1);
    net.route(B1, &past);
    net.run();
    assert_eq!(messages_from_a1(&net, &id).len(), before + 1);
    assert!(net.devices[A1].events.iter().any(|e| matches!(
        e,
        MessengerEvent::RetryIgnored { reason, .. } if reason == "past the retry bound"
    )));
}

#[test]
fn a_retry_for_a_message_not_kept_is_ignored_with_a_reason() {
    let (mut net, id) = retry_after_restart("pruned");
    net.dev(A1).store.sent.remove(&id);
    let again = retry_with_count(&net, 2);
    net.route(B1, &again);
    net.run();
    assert!(net.devices[A1].events.iter().any(|e| matches!(
        e,
        MessengerEvent::RetryIgnored { id: i, reason, .. } if *i == id && reason == "message not kept"
    )));
}

/// `send_message_with` from A1 to B, run to the end.
fn send_cached(net: &mut Net, text: &str) -> String {
    let mut rng = StdRng::seed_from_u64(net.log.len() as u64 + 77);
    let d = net.devices.get_mut(A1).unwrap();
    let message = wa_core::md::Content::Text(text.into()).to_message();
    let id = d
        .messenger
        .send_message_with(B, message, &mut d.store, &mut rng)
        .unwrap();
    net.run();
    id
}

#[test]
fn a_stale_device_list_error_refreshes_the_list_and_resends_once() {
    let mut net = Net::new(vec![
        device(15_550_000_001, 1, 1),
        device(15_550_000_001, 2, 2),
        device(15_550_000_002, 1, 3),
    ]);
    net.strict_devices = true;
    send_cached(&mut net, "before");
    assert!(net.devices[A1].messenger.knows_devices_of(B));
    // B links a device; A1's cached list does not know it (no notification came).
    let b2 = device(15_550_000_002, 2, 4);
    net.devices.insert(b2.jid.clone(), b2);
    let id = send_cached(&mut net, "after the link");
    let stanzas = messages_from_a1(&net, &id);
    assert_eq!(stanzas.len(), 2, "refused once, sent once more");
    let targets = |n: &Node| -> Vec<String> {
        n.child("participants")
            .unwrap()
            .children_named("to")
            .map(|t| t.optional_str("jid").unwrap().to_owned())
            .collect()
    };
    assert!(!targets(&stanzas[0]).contains(&B2.to_owned()));
    assert!(targets(&stanzas[1]).contains(&B2.to_owned()));
    for d in [B1, B2, A2] {
        assert_eq!(count_text(&net, d, "after the link"), 1, "{d}");
    }
    let a1: Vec<&MessengerEvent> = net.devices[A1]
        .events
        .iter()
        .filter(|e| match e {
            MessengerEvent::ResendAfterError { id: i, .. } | MessengerEvent::Sent { id: i, .. } => {
                *i == id
            }
            _ => false,
        })
        .collect();
    assert_eq!(
        a1,
        vec![
            &MessengerEvent::ResendAfterError {
                id: id.clone(),
                error: 479
            },
            &MessengerEvent::Sent {
                id: id.clone(),
                error: None
            },
        ]
    );
}

#[test]
fn an_error_that_persists_is_resent_once_then_reported() {
    let mut net = Net::new(vec![
        device(15_550_000_001, 1, 1),
        device(15_550_000_002, 1, 3),
    ]);
    net.strict_devices = true;
    // B's device 9 is registered but never listed in usync answers: every send lacks it.
    net.hidden.push("15550000002:9@s.whatsapp.net".to_owned());
    let id = send_cached(&mut net, "never");
    assert_eq!(messages_from_a1(&net, &id).len(), 2, "one resend, no more");
    let a1 = &net.devices[A1].events;
    assert_eq!(
        a1.iter()
            .filter(|e| matches!(e, MessengerEvent::ResendAfterError { .. }))
            .count(),
        1
    );
    assert!(a1.contains(&MessengerEvent::Sent {
        id,
        error: Some(479)
    }));
}

#[test]
fn other_error_codes_are_not_resent() {
    let mut net = Net::new(vec![
        device(15_550_000_001, 1, 1),
        device(15_550_000_002, 1, 3),
    ]);
    send_cached(&mut net, "warm up");
    let mut rng = StdRng::seed_from_u64(5);
    let d = net.devices.get_mut(A1).unwrap();
    let message = wa_core::md::Content::Text("restricted".into()).to_message();
    let id = d
        .messenger
        .send_message_with(B, message, &mut d.store, &mut rng)
        .unwrap();
    let sent: Vec<Node> = std::iter::from_fn(|| d.messenger.poll_transmit()).collect();
    assert!(sent.iter().any(|n| &*n.tag == "message"));
    // 463: a missing privacy token; a resend would only count as another reach-out.
    let nack = Node::new("ack")
        .attr("class", "message")
        .attr("id", &id)
        .attr("from", B)
        .attr("error", "463");
    d.messenger
        .handle_node(&nack, &mut d.store, 1_700_000_000, &mut rng);
    assert!(d.messenger.poll_transmit().is_none(), "nothing sent again");
    let events: Vec<MessengerEvent> = std::iter::from_fn(|| d.messenger.poll_event()).collect();
    assert!(events.contains(&MessengerEvent::Sent {
        id,
        error: Some(463)
    }));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, MessengerEvent::ResendAfterError { .. }))
    );
}

#[test]
fn sent_records_carry_the_time_and_are_pruned_by_count() {
    let mut net = Net::new(vec![
        device(15_550_000_001, 1, 1),
        device(15_550_000_002, 1, 3),
    ]);
    let config = MessengerConfig {
        sent_keep_count: 10,
        ..MessengerConfig::default()
    };
    let mut rng = StdRng::seed_from_u64(8);
    {
        let d = net.dev(A1);
        d.messenger = wa_core::md::Messenger::new(&d.creds, config, &mut rng).unwrap();
        d.messenger.set_time(1_700_000_123);
    }
    let first = send_cached(&mut net, "first");
    assert_eq!(
        net.devices[A1]
            .store
            .sent_message(&first)
            .unwrap()
            .unwrap()
            .sent_at,
        1_700_000_000,
        "the time of the latest node handled (the usync answer)"
    );
    for i in 0..70 {
        send_cached(&mut net, &format!("m{i}"));
    }
    // Pruned every 64 records down to the newest 10; 7 more since.
    assert_eq!(net.devices[A1].store.sent.len(), 17);
    assert_eq!(net.devices[A1].store.sent_writes, 71);
}
