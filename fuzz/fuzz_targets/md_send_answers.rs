//! What a sender gets back for a message it sent, against its store: a device that sent one
//! message (recorded in a wa-store memory store, in the same step as its encryption) receives
//! (a) arbitrary bytes decoded as a node, (b) a retry receipt for that message with the input
//! spliced into its count and keys, and (c) a server ack for it with an error code from the
//! input. Never panics; resends per device never exceed the retry bound, and resends after an
//! error ack never exceed one.
#![no_main]

use std::collections::HashMap;

mod common;

use common::{Counter, paired_credentials};
use libfuzzer_sys::fuzz_target;
use wa_binary::{Codec, Node};
use wa_core::md::usync::{self, UserDevices};
use wa_core::md::{Credentials, Messenger, MessengerConfig, MessengerEvent};
use wa_signal::{PreKeyBundle, PublicKey};

const ME: &str = "15550001111:1@s.whatsapp.net";
const PEER: &str = "15550002222@s.whatsapp.net";
const PEER_DEVICE: &str = "15550002222:1@s.whatsapp.net";

fn result(iq: &Node, child: Node) -> Node {
    Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "result")
        .attr("id", iq.optional_str("id").unwrap())
        .children([child])
}

fn bundle_of(creds: &Credentials) -> PreKeyBundle {
    PreKeyBundle {
        registration_id: creds.registration_id,
        identity_key: PublicKey::of(&creds.identity),
        signed_pre_key_id: creds.signed_prekey.id,
        signed_pre_key: PublicKey::of(&creds.signed_prekey.key_pair),
        signed_pre_key_signature: creds.signed_prekey.signature,
        pre_key: None,
    }
}

/// A retry receipt from the peer's device for `id`: count, registration and keys, where the
/// input replaces the count and overwrites key bytes.
fn retry(id: &str, peer: &Credentials, data: &[u8]) -> Node {
    let count = data.first().copied().unwrap_or(1);
    let mut identity = peer.identity.public_bytes().to_vec();
    let mut signed = peer.signed_prekey.key_pair.public_bytes().to_vec();
    for (i, b) in data.iter().skip(1).enumerate().take(64) {
        match i % 2 {
            0 => identity[i / 2 % 32] ^= b,
            _ => signed[i / 2 % 32] ^= b,
        }
    }
    Node::new("receipt")
        .attr("from", PEER_DEVICE)
        .attr("id", id)
        .attr("type", "retry")
        .children([
            Node::new("retry")
                .attr("count", count)
                .attr("id", id)
                .attr("v", "1"),
            Node::new("registration").bytes(peer.registration_id.to_be_bytes().to_vec()),
            Node::new("keys").children([
                Node::new("type").bytes(vec![wa_signal::DJB_TYPE]),
                Node::new("identity").bytes(identity),
                Node::new("skey").children([
                    Node::new("id").bytes(peer.signed_prekey.id.to_be_bytes()[1..].to_vec()),
                    Node::new("value").bytes(signed),
                    Node::new("signature").bytes(peer.signed_prekey.signature.to_vec()),
                ]),
            ]),
        ])
}

fuzz_target!(|data: &[u8]| {
    let mut rng = Counter(7);
    let me = paired_credentials(&mut rng, ME);
    let peer = paired_credentials(&mut rng, "15550002222:1@s.whatsapp.net");
    let mut store = wa_store::Store::memory();
    store
        .set_local_identity(&me.identity, me.registration_id)
        .unwrap();
    wa_signal::SignedPreKeyStore::store_signed_pre_key(&mut store, &me.signed_prekey).unwrap();
    let mut messenger = Messenger::new(&me, MessengerConfig::default(), &mut rng).unwrap();

    // Send one message: device list, bundle, the message (recorded with its encryption).
    let id = messenger.send_text(PEER, "hi", &mut rng).unwrap();
    let query = messenger.poll_transmit().unwrap();
    let lists = [
        UserDevices {
            user: PEER.into(),
            devices: vec![1],
            lid: None,
        },
        UserDevices {
            user: "15550001111@s.whatsapp.net".into(),
            devices: vec![1],
            lid: None,
        },
    ];
    messenger.handle_node(
        &result(&query, usync::device_answer("s", &lists)),
        &mut store,
        1,
        &mut rng,
    );
    let keys = messenger.poll_transmit().unwrap();
    let list = Node::new("list").children([usync::bundle_node(PEER_DEVICE, &bundle_of(&peer))]);
    messenger.handle_node(&result(&keys, list), &mut store, 1, &mut rng);
    let sent = messenger.poll_transmit().unwrap();
    assert_eq!(&*sent.tag, "message", "sent at once");
    while messenger.poll_event().is_some() {}

    // (a) the input as a node; (b) a retry receipt with the input spliced in; (c) an error ack.
    let error = u16::from_be_bytes([
        data.first().copied().unwrap_or(1),
        data.get(1).copied().unwrap_or(223),
    ]);
    let ack = Node::new("ack")
        .attr("class", "message")
        .attr("id", &id)
        .attr("from", PEER)
        .attr("error", error)
        .attr("phash", "2:AAAAAAAA");
    let mut nodes = vec![retry(&id, &peer, data), ack];
    if let Ok(node) = Codec::multi_device().decode(data) {
        nodes.insert(0, node);
    }
    let mut resent: HashMap<String, u32> = HashMap::new();
    let mut error_resends = 0;
    for node in nodes {
        for _ in 0..4 {
            messenger.handle_node(&node, &mut store, 2, &mut rng);
        }
        while messenger.poll_transmit().is_some() {}
        while let Some(event) = messenger.poll_event() {
            match event {
                MessengerEvent::Resent { device, .. } => *resent.entry(device).or_default() += 1,
                MessengerEvent::ResendAfterError { .. } => error_resends += 1,
                _ => {}
            }
        }
    }
    let bound = MessengerConfig::default().max_retries;
    assert!(
        resent.values().all(|n| *n <= bound),
        "resends per device are bounded: {resent:?}"
    );
    assert!(error_resends <= 1, "one resend after an error ack at most");
});
