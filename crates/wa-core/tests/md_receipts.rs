//! Receipts of every kind both ways between messengers (delivery, inactive, sender, read,
//! read-self, played, played-self), routed as WhatsApp's server does (the `-self` kinds to the
//! reader's own devices only), and the check of the `device-identity` a companion's `pkmsg`
//! carries: forged identities (another account's key, a broken signature, one lifted from
//! another device, key index 0, none at all) are refused with a typed event before anything is
//! decrypted, and the genuine stanza then decrypts.

mod md_net;

use md_net::*;
use wa_core::md::adv::{self, PeerIdentityError};
use wa_core::md::stanza::{Receipt, StatusKind};
use wa_proto::prost::Message as _;
use wa_proto::proto::{AdvDeviceIdentity, AdvSignedDeviceIdentity};

const B2: &str = "15550000002:2@s.whatsapp.net";

fn net4() -> Net {
    Net::new(vec![
        device(15_550_000_001, 1, 1),
        device(15_550_000_001, 2, 2),
        device(15_550_000_002, 1, 3),
        device(15_550_000_002, 2, 4),
    ])
}

/// The receipts `device` reported for message `id`: (kind, from, sender, from_me).
fn receipts(net: &Net, device: &str, id: &str) -> Vec<(ReceiptKind, String, String, bool)> {
    net.devices[device]
        .events
        .iter()
        .filter_map(|e| match e {
            MessengerEvent::Receipt {
                ids,
                from,
                sender,
                from_me,
                kind,
            } if ids.iter().any(|i| i == id) => {
                Some((kind.clone(), from.clone(), sender.clone(), *from_me))
            }
            _ => None,
        })
        .collect()
}

fn status(net: &mut Net, reader: &str, kind: StatusKind, chat: &str, id: &str) {
    net.dev(reader)
        .messenger
        .mark_status(kind, chat, &[id.to_owned()], 1_700_000_100);
    net.run();
}

#[test]
fn every_receipt_kind_reaches_who_it_should() {
    let mut net = net4();
    // B1 is in the background: its delivery receipts are `inactive`; B2's are plain.
    net.dev(B1).messenger.set_active(false);
    let id = net.send(A1, B, "voice note");
    let on_a1 = receipts(&net, A1, &id);
    assert!(on_a1.contains(&(ReceiptKind::Inactive, B.into(), B1.into(), false)));
    assert!(on_a1.contains(&(ReceiptKind::Delivery, B.into(), B2.into(), false)));
    assert!(on_a1.contains(&(ReceiptKind::Sender, A.into(), A2.into(), true)));
    assert!(
        on_a1
            .iter()
            .all(|r| r.0.is_delivery() || r.0 == ReceiptKind::Sender)
    );

    // B1 reads it: A's devices see `read` from B; B2 sees our own read of A's chat.
    status(&mut net, B1, StatusKind::Read, A, &id);
    for d in [A1, A2] {
        assert!(
            receipts(&net, d, &id).contains(&(ReceiptKind::Read, B.into(), B1.into(), false)),
            "{d}"
        );
    }
    assert_eq!(
        receipts(&net, B2, &id),
        vec![(ReceiptKind::Read, A.into(), B1.into(), true)],
        "our other device learns which chat we read, from `recipient`"
    );

    // Played: to the sender and our own devices alike.
    status(&mut net, B1, StatusKind::Played, A, &id);
    assert!(receipts(&net, A1, &id).contains(&(ReceiptKind::Played, B.into(), B1.into(), false)));
    assert!(receipts(&net, B2, &id).contains(&(ReceiptKind::Played, A.into(), B1.into(), true)));

    // The `-self` forms (read receipts off): our own devices only, the sender learns nothing.
    let quiet = net.send(A1, B, "read quietly");
    let a_before = receipts(&net, A1, &quiet).len();
    status(&mut net, B1, StatusKind::ReadSelf, A, &quiet);
    status(&mut net, B1, StatusKind::PlayedSelf, A, &quiet);
    assert_eq!(receipts(&net, A1, &quiet).len(), a_before, "nothing for A1");
    assert!(receipts(&net, A2, &quiet).iter().all(|r| !r.0.is_read()));
    let on_b2 = receipts(&net, B2, &quiet);
    assert!(on_b2.contains(&(ReceiptKind::ReadSelf, A.into(), B1.into(), true)));
    assert!(on_b2.contains(&(ReceiptKind::PlayedSelf, A.into(), B1.into(), true)));

    // On the wire: what B1 sent, by type.
    let sent: Vec<Option<&str>> = net
        .log
        .iter()
        .filter(|(f, n)| f == B1 && &*n.tag == "receipt")
        .map(|(_, n)| n.optional_str("type"))
        .collect();
    for kind in ["inactive", "read", "played", "read-self", "played-self"] {
        assert!(sent.contains(&Some(kind)), "{kind} in {sent:?}");
    }
    // Every receipt was acked by whoever got it.
    let acked = net
        .log
        .iter()
        .filter(|(_, n)| &*n.tag == "ack" && n.optional_str("class") == Some("receipt"))
        .count();
    assert!(acked >= 10, "{acked}");
}

#[test]
fn receipt_types_parse_to_distinct_kinds() {
    let cases: [(Option<&str>, ReceiptKind); 9] = [
        (None, ReceiptKind::Delivery),
        (Some("inactive"), ReceiptKind::Inactive),
        (Some("sender"), ReceiptKind::Sender),
        (Some("read"), ReceiptKind::Read),
        (Some("read-self"), ReceiptKind::ReadSelf),
        (Some("played"), ReceiptKind::Played),
        (Some("played-self"), ReceiptKind::PlayedSelf),
        (
            Some("server-error"),
            ReceiptKind::Other("server-error".into()),
        ),
        (
            Some("retry"),
            ReceiptKind::Retry {
                count: 1,
                registration_id: None,
            },
        ),
    ];
    for (kind, want) in cases {
        let node = Node::new("receipt")
            .attr("id", "3EB0AA")
            .attr("from", B1)
            .attr_opt("type", kind)
            .attr("recipient", A);
        let receipt = Receipt::parse(&node).unwrap();
        assert_eq!(receipt.kind, want, "{kind:?}");
        assert_eq!(receipt.recipient.as_deref(), Some(A));
        assert_eq!(
            want.is_delivery(),
            matches!(kind, None | Some("inactive")),
            "{kind:?}"
        );
        assert_eq!(
            want.is_read(),
            matches!(kind, Some(k) if k.starts_with("read") || k.starts_with("played")),
            "{kind:?}"
        );
    }
}

#[test]
fn long_status_lists_go_out_in_bounded_receipts() {
    let mut net = net4();
    let ids: Vec<String> = (0..300).map(|i| format!("3EB0{i:04}")).collect();
    net.dev(B1)
        .messenger
        .mark_status(StatusKind::Played, A, &ids, 5);
    let out: Vec<Node> = std::iter::from_fn(|| net.dev(B1).messenger.poll_transmit()).collect();
    assert_eq!(out.len(), 2);
    let parsed: Vec<Receipt> = out
        .iter()
        .map(|n| {
            let n = n.clone().attr("from", B1);
            Receipt::parse(&n).unwrap()
        })
        .collect();
    assert_eq!(parsed[0].ids.len(), stanza::MAX_RECEIPT_IDS);
    assert_eq!(parsed[1].ids.len(), 300 - stanza::MAX_RECEIPT_IDS);
    let all: Vec<String> = parsed.iter().flat_map(|r| r.ids.clone()).collect();
    assert_eq!(all, ids);
    assert!(parsed.iter().all(|r| r.kind == ReceiptKind::Played));
}

/// A's account key, as the test network derives it (see `vouched_account`).
fn account_key(number: u64) -> KeyPair {
    KeyPair::generate(&mut StdRng::seed_from_u64(number))
}

/// A device identity for `device_key` signed by `account` with `key_index` (and the device's
/// counter-signature by `device`).
fn identity_for(account: &KeyPair, device: &KeyPair, key_index: u32) -> Vec<u8> {
    let details = AdvDeviceIdentity {
        raw_id: Some(1),
        timestamp: Some(1_700_000_000),
        key_index: Some(key_index),
        account_type: None,
        device_type: None,
    }
    .encode_to_vec();
    let mut rng = StdRng::seed_from_u64(7);
    let device_key = device.public_bytes();
    let account_signature = wa_crypto::xeddsa_sign_rng(
        account,
        &adv::account_signature_message(&details, &device_key, false),
        &mut rng,
    );
    let device_signature = wa_crypto::xeddsa_sign_rng(
        device,
        &adv::device_signature_message(&details, &device_key, &account.public_bytes()),
        &mut rng,
    );
    AdvSignedDeviceIdentity {
        details: Some(details),
        account_signature_key: Some(account.public_bytes().to_vec()),
        account_signature: Some(account_signature.to_vec()),
        device_signature: Some(device_signature.to_vec()),
    }
    .encode_to_vec()
}

/// A1's first message to B1 as the server would deliver it, held back from B1.
fn held_pkmsg(net: &mut Net) -> Node {
    net.offline.push(B1.to_owned());
    net.send(A1, B, "vouched");
    let queued = net.queued.remove(B1).unwrap();
    net.offline.clear();
    let message = queued.into_iter().find(|n| &*n.tag == "message").unwrap();
    assert_eq!(
        message.child("enc").unwrap().optional_str("type"),
        Some("pkmsg")
    );
    message
}

fn with_identity(message: &Node, identity: Option<Vec<u8>>) -> Node {
    let mut children: Vec<Node> = message
        .child_nodes()
        .iter()
        .filter(|c| &*c.tag != "device-identity")
        .cloned()
        .collect();
    if let Some(identity) = identity {
        children.push(Node::new("device-identity").bytes(identity));
    }
    let mut node = Node::new("message");
    for (k, v) in message.attrs.iter() {
        node = node.attr(k, v);
    }
    node.children(children)
}

#[test]
fn forged_device_identities_are_refused_before_decrypting() {
    let mut net = net4();
    let genuine = held_pkmsg(&mut net);
    let good = genuine
        .child("device-identity")
        .and_then(Node::content_bytes)
        .unwrap()
        .to_vec();
    let account = account_key(15_550_000_001);
    let a1_key = net.devices[A1].creds.identity.clone();
    let a2_key = net.devices[A2].creds.identity.clone();
    let stranger = account_key(42);
    let flip = |mut signed: AdvSignedDeviceIdentity, field: u8| {
        let target = match field {
            3 => signed.account_signature.as_mut(),
            _ => signed.device_signature.as_mut(),
        };
        target.unwrap()[5] ^= 1;
        signed.encode_to_vec()
    };
    let decoded = AdvSignedDeviceIdentity::decode(good.as_slice()).unwrap();
    let cases: Vec<(&str, Option<Vec<u8>>, PeerIdentityError)> = vec![
        ("none", None, PeerIdentityError::Missing),
        (
            "not a protobuf",
            Some(vec![0xff, 0xff, 0xff]),
            PeerIdentityError::Malformed("ADVSignedDeviceIdentity"),
        ),
        (
            "broken account signature",
            Some(flip(decoded.clone(), 3)),
            PeerIdentityError::AccountSignature,
        ),
        (
            "broken device signature",
            Some(flip(decoded.clone(), 4)),
            PeerIdentityError::DeviceSignature,
        ),
        (
            "another account's key signs",
            Some(identity_for(&stranger, &a1_key, 1)),
            // Self-consistent, but B knows A's account key (set up below): not this one.
            PeerIdentityError::AccountKeyMismatch,
        ),
        (
            "lifted from A2",
            Some(identity_for(&account, &a2_key, 2)),
            PeerIdentityError::AccountSignature,
        ),
        (
            "key index 0",
            Some(identity_for(&account, &a1_key, 0)),
            PeerIdentityError::KeyIndex {
                got: 0,
                expected: None,
            },
        ),
    ];
    // B has talked to A's phone: its identity key (the account key) is known.
    let phone = ProtocolAddress::new("15550000001".to_owned(), 0);
    net.dev(B1)
        .store
        .signal
        .save_identity(&phone, &PublicKey::of(&account))
        .unwrap();
    for (what, identity, want) in cases {
        let before = net.log.len();
        let decrypts = net.devices[B1].store.decrypts;
        net.dev(B1).events.clear();
        net.give(B1, with_identity(&genuine, identity));
        net.run();
        let events = &net.devices[B1].events;
        assert!(
            events.iter().any(|e| matches!(e, MessengerEvent::DeviceIdentityRefused { error, sender, .. } if *error == want && sender == A1)),
            "{what}: {events:#?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, MessengerEvent::Message { .. })),
            "{what}: no message"
        );
        assert_eq!(
            net.devices[B1].store.decrypts, decrypts,
            "{what}: not decrypted"
        );
        let sent: Vec<(&str, Option<&str>)> = net.log[before..]
            .iter()
            .filter(|(f, _)| f == B1)
            .map(|(_, n)| (&*n.tag, n.optional_str("type")))
            .collect();
        assert_eq!(
            sent,
            vec![("ack", None)],
            "{what}: acked, no receipt, no retry"
        );
    }
    // The genuine stanza still decrypts: nothing was consumed by the forgeries.
    net.dev(B1).events.clear();
    net.give(B1, genuine);
    net.run();
    assert_eq!(net.texts(B1).iter().filter(|t| t.3 == "vouched").count(), 1);
    assert!(
        !net.devices[B1]
            .events
            .iter()
            .any(|e| matches!(e, MessengerEvent::DeviceIdentityRefused { .. }))
    );
}

#[test]
fn without_a_known_account_key_the_stated_one_must_sign_for_this_device() {
    let mut net = net4();
    let genuine = held_pkmsg(&mut net);
    let a1_key = net.devices[A1].creds.identity.clone();
    let a2_key = net.devices[A2].creds.identity.clone();
    // Signed by the stated key, but for A2's identity key, while the pkmsg opens with A1's.
    let lifted = identity_for(&account_key(15_550_000_001), &a2_key, 2);
    net.give(B1, with_identity(&genuine, Some(lifted)));
    net.run();
    assert!(net.devices[B1].events.iter().any(|e| matches!(
        e,
        MessengerEvent::DeviceIdentityRefused {
            error: PeerIdentityError::AccountSignature,
            ..
        }
    )));
    // A self-consistent identity from a key nobody vouched for passes the signatures; this is
    // the limit of the check without the account key (WhatsApp's key index list closes it).
    let stranger = identity_for(&account_key(42), &a1_key, 1);
    let checked = adv::verify_peer_identity(
        &stranger,
        adv::PeerIdentityCheck {
            device_key: &a1_key.public_bytes(),
            known_account_key: None,
            expected_key_index: None,
        },
    )
    .unwrap();
    assert_eq!(checked.account_key, account_key(42).public_bytes());
    // With the expected key index from a device list, a mismatch is refused.
    let good = identity_for(&account_key(15_550_000_001), &a1_key, 1);
    assert_eq!(
        adv::verify_peer_identity(
            &good,
            adv::PeerIdentityCheck {
                device_key: &a1_key.public_bytes(),
                known_account_key: Some(&account_key(15_550_000_001).public_bytes()),
                expected_key_index: Some(3),
            },
        ),
        Err(PeerIdentityError::KeyIndex {
            got: 1,
            expected: Some(3)
        })
    );
    net.give(B1, genuine);
    net.run();
    assert_eq!(net.texts(B1).len(), 1);
}
