//! Group messages with sender keys distributed by either side.

use rand::seq::SliceRandom as _;
use serde_json::json;
use wa_signal::{
    Error, ProtocolAddress, SenderKeyDistributionMessage, SenderKeyName,
    create_sender_key_distribution, group_decrypt, group_encrypt, process_sender_key_distribution,
};

use crate::{Impl, Peer, THEM, US, Us};

const GROUP: &str = "120363000000000000@g.us";

fn our_name() -> SenderKeyName {
    SenderKeyName {
        group_id: GROUP.into(),
        sender: ProtocolAddress::new("rust", 1),
    }
}

fn their_name() -> SenderKeyName {
    SenderKeyName {
        group_id: GROUP.into(),
        sender: ProtocolAddress::new("node", 2),
    }
}

/// Our sender key, distributed to the peer; our messages decrypt there, shuffled with a gap.
fn we_send(which: Impl) {
    let mut peer = Peer::start(which);
    let mut us = Us::new(10);
    let skdm = create_sender_key_distribution(&mut us.store, &our_name(), &mut us.rng).unwrap();
    peer.ok(json!({"cmd": "group_process", "group": GROUP, "sender": US, "skdm": hex::encode(skdm.serialize())}));
    let mut batch: Vec<(usize, Vec<u8>)> = (0..10)
        .map(|i| {
            (
                i,
                group_encrypt(
                    &mut us.store,
                    &our_name(),
                    format!("g{i}").as_bytes(),
                    &mut us.rng,
                )
                .unwrap(),
            )
        })
        .collect();
    batch.remove(3);
    batch.shuffle(&mut us.rng);
    for (i, body) in batch {
        let a = peer.ok(json!({"cmd": "group_decrypt", "group": GROUP, "sender": US, "body": hex::encode(&body)}));
        assert_eq!(
            hex::decode(a["plaintext"].as_str().unwrap()).unwrap(),
            format!("g{i}").as_bytes()
        );
    }
}

/// The peer's sender key, distributed to us; its messages decrypt here; replays refused.
fn they_send(which: Impl) {
    let mut peer = Peer::start(which);
    let mut us = Us::new(11);
    let skdm = peer.ok(json!({"cmd": "group_create", "group": GROUP, "sender": THEM}));
    let skdm =
        SenderKeyDistributionMessage::parse(&hex::decode(skdm["skdm"].as_str().unwrap()).unwrap())
            .unwrap();
    process_sender_key_distribution(&mut us.store, &their_name(), &skdm).unwrap();
    let mut batch: Vec<(usize, Vec<u8>)> = (0..10)
        .map(|i| {
            let a = peer.ok(json!({"cmd": "group_encrypt", "group": GROUP, "sender": THEM, "plaintext": hex::encode(format!("h{i}"))}));
            (i, hex::decode(a["body"].as_str().unwrap()).unwrap())
        })
        .collect();
    batch.remove(6);
    batch.shuffle(&mut us.rng);
    for (i, body) in &batch {
        assert_eq!(
            group_decrypt(&mut us.store, &their_name(), body).unwrap(),
            format!("h{i}").as_bytes()
        );
    }
    assert!(matches!(
        group_decrypt(&mut us.store, &their_name(), &batch[0].1),
        Err(Error::DuplicateMessage { .. })
    ));
    let mut forged = batch[1].1.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(matches!(
        group_decrypt(&mut us.store, &their_name(), &forged),
        Err(Error::BadSignature { .. })
    ));
}

macro_rules! per_impl {
    ($($name:ident),*) => {
        mod libsignal {
            $( #[test] fn $name() { super::$name(crate::Impl::Libsignal) } )*
        }
        mod bridge {
            $( #[test] fn $name() { super::$name(crate::Impl::Bridge) } )*
        }
    };
}

per_impl!(we_send, they_send);
