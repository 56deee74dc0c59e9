//! 1:1 sessions with each peer: started by either side, out of order, gaps, loss, identity
//! change, a second session replacing the first, and record growth.

use rand::seq::SliceRandom as _;
use serde_json::json;
use wa_signal::{Error, IdentityStore as _, MessageKind, decrypt, encrypt, process_pre_key_bundle};

use crate::{Impl, Peer, US, Us, them};

/// We start (pkmsg), they answer (msg), then messages both ways.
fn we_initiate(which: Impl) {
    let mut peer = Peer::start(which);
    let mut us = Us::new(1);
    let bundle = peer.bundle();
    process_pre_key_bundle(&mut us.store, &them(), &bundle, &mut us.rng).unwrap();
    for round in 0..4u8 {
        let out = encrypt(&mut us.store, &them(), &[round; 37]).unwrap();
        assert_eq!(
            out.kind,
            if round == 0 {
                MessageKind::PreKey
            } else {
                MessageKind::Whisper
            },
            "round {round}"
        );
        assert_eq!(peer.decrypt(US, out.kind, &out.bytes).unwrap(), [round; 37]);
        let (kind, body) = peer.encrypt(US, &[round + 100; 5]);
        assert_eq!(kind, MessageKind::Whisper);
        assert_eq!(
            decrypt(&mut us.store, &them(), kind, &body, &mut us.rng).unwrap(),
            [round + 100; 5]
        );
    }
}

/// They start from our bundle (pkmsg, twice before we answer), then messages both ways.
fn they_initiate(which: Impl) {
    let mut peer = Peer::start(which);
    let mut us = Us::new(2);
    let bundle = us.bundle();
    peer.ok(json!({"cmd": "process_bundle", "address": US, "bundle": bundle}));
    for i in 0..2u8 {
        let (kind, body) = peer.encrypt(US, &[i; 16]);
        assert_eq!(kind, MessageKind::PreKey);
        assert_eq!(
            decrypt(&mut us.store, &them(), kind, &body, &mut us.rng).unwrap(),
            [i; 16]
        );
    }
    for round in 0..4u8 {
        let out = encrypt(&mut us.store, &them(), &[round; 1000]).unwrap();
        assert_eq!(out.kind, MessageKind::Whisper);
        assert_eq!(
            peer.decrypt(US, out.kind, &out.bytes).unwrap(),
            [round; 1000]
        );
        let (kind, body) = peer.encrypt(US, b"");
        assert_eq!(kind, MessageKind::Whisper, "round {round}");
        assert_eq!(
            decrypt(&mut us.store, &them(), kind, &body, &mut us.rng).unwrap(),
            b""
        );
    }
}

/// Messages delivered shuffled, with one lost, in both directions and across ratchet steps;
/// replays refused on our side.
fn out_of_order(which: Impl) {
    let mut peer = Peer::start(which);
    let mut us = Us::new(3);
    let bundle = us.bundle();
    peer.ok(json!({"cmd": "process_bundle", "address": US, "bundle": bundle}));
    let (kind, body) = peer.encrypt(US, b"hello");
    decrypt(&mut us.store, &them(), kind, &body, &mut us.rng).unwrap();
    for round in 0..3 {
        // Theirs to us: 12 messages, one lost, the rest shuffled.
        let mut batch: Vec<(usize, MessageKind, Vec<u8>)> = (0..12)
            .map(|i| {
                let (k, b) = peer.encrypt(US, format!("t{round}-{i}").as_bytes());
                (i, k, b)
            })
            .collect();
        batch.remove(5);
        batch.shuffle(&mut us.rng);
        for (i, kind, body) in &batch {
            let got = decrypt(&mut us.store, &them(), *kind, body, &mut us.rng).unwrap();
            assert_eq!(got, format!("t{round}-{i}").as_bytes());
        }
        let (_, kind, body) = &batch[0];
        assert!(matches!(
            decrypt(&mut us.store, &them(), *kind, body, &mut us.rng),
            Err(Error::DuplicateMessage { .. })
        ));
        // Ours to them: the same.
        let mut batch: Vec<(usize, Vec<u8>)> = (0..12)
            .map(|i| {
                (
                    i,
                    encrypt(&mut us.store, &them(), format!("u{round}-{i}").as_bytes())
                        .unwrap()
                        .bytes,
                )
            })
            .collect();
        batch.remove(7);
        batch.shuffle(&mut us.rng);
        for (i, body) in &batch {
            assert_eq!(
                peer.decrypt(US, MessageKind::Whisper, body).unwrap(),
                format!("u{round}-{i}").as_bytes()
            );
        }
    }
}

/// The peer reinstalls (new identity) and starts again: a typed error, nothing changed, until
/// we accept the new identity.
fn identity_change(which: Impl) {
    let mut peer = Peer::start(which);
    let mut us = Us::new(4);
    let bundle = us.bundle();
    peer.ok(json!({"cmd": "process_bundle", "address": US, "bundle": bundle}));
    let (kind, body) = peer.encrypt(US, b"before");
    decrypt(&mut us.store, &them(), kind, &body, &mut us.rng).unwrap();
    let old_identity = us.store.identity(&them()).unwrap().unwrap();
    let before = us.store.session_record_len(&them());

    let new = peer.ok(json!({"cmd": "identity"}));
    let bundle = us.bundle();
    peer.ok(json!({"cmd": "process_bundle", "address": US, "bundle": bundle}));
    let (kind, body) = peer.encrypt(US, b"after");
    let err = decrypt(&mut us.store, &them(), kind, &body, &mut us.rng).unwrap_err();
    assert!(matches!(err, Error::UntrustedIdentity { .. }), "{err:?}");
    assert_eq!(
        us.store.identity(&them()).unwrap(),
        Some(old_identity),
        "identity unchanged"
    );
    assert_eq!(
        us.store.session_record_len(&them()),
        before,
        "session unchanged"
    );
    // Sending to the old session is refused too: the stored identity still names the old key,
    // but it is the session's key; what must not happen is a silent switch.
    let new_key = wa_signal::PublicKey(crate::unhex(&new["identity"]));
    us.store.save_identity(&them(), &new_key).unwrap();
    assert_eq!(
        decrypt(&mut us.store, &them(), kind, &body, &mut us.rng).unwrap(),
        b"after"
    );
    let reply = encrypt(&mut us.store, &them(), b"welcome back").unwrap();
    assert_eq!(
        peer.decrypt(US, reply.kind, &reply.bytes).unwrap(),
        b"welcome back"
    );
}

/// The peer starts a second session while the first is in use; messages of the first still in
/// flight decrypt, and the second becomes the one we answer in.
fn second_session(which: Impl) {
    let mut peer = Peer::start(which);
    let mut us = Us::new(5);
    let bundle = us.bundle();
    peer.ok(json!({"cmd": "process_bundle", "address": US, "bundle": bundle}));
    let (kind, body) = peer.encrypt(US, b"one");
    decrypt(&mut us.store, &them(), kind, &body, &mut us.rng).unwrap();
    let reply = encrypt(&mut us.store, &them(), b"ack").unwrap();
    peer.decrypt(US, reply.kind, &reply.bytes).unwrap();
    let (old_kind, in_flight) = peer.encrypt(US, b"old session, late");
    let bundle = us.bundle();
    peer.ok(json!({"cmd": "process_bundle", "address": US, "bundle": bundle}));
    let (kind, body) = peer.encrypt(US, b"two");
    assert_eq!(kind, MessageKind::PreKey);
    assert_eq!(
        decrypt(&mut us.store, &them(), kind, &body, &mut us.rng).unwrap(),
        b"two"
    );
    assert_eq!(
        decrypt(&mut us.store, &them(), old_kind, &in_flight, &mut us.rng).unwrap(),
        b"old session, late"
    );
    // Our answer goes out in a session the peer has (its newest).
    let reply = encrypt(&mut us.store, &them(), b"ack two").unwrap();
    assert_eq!(
        peer.decrypt(US, reply.kind, &reply.bytes).unwrap(),
        b"ack two"
    );
    let (kind, body) = peer.encrypt(US, b"three");
    assert_eq!(
        decrypt(&mut us.store, &them(), kind, &body, &mut us.rng).unwrap(),
        b"three"
    );
}

/// 200 round trips: the peer's record size and ours, printed; ours bounded.
fn record_growth(which: Impl) {
    let mut peer = Peer::start(which);
    let mut us = Us::new(6);
    let bundle = us.bundle();
    peer.ok(json!({"cmd": "process_bundle", "address": US, "bundle": bundle}));
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for round in 0..200 {
        let (kind, body) = peer.encrypt(US, b"ping");
        decrypt(&mut us.store, &them(), kind, &body, &mut us.rng).unwrap();
        let reply = encrypt(&mut us.store, &them(), b"pong").unwrap();
        peer.decrypt(US, reply.kind, &reply.bytes).unwrap();
        if round % 50 == 49 {
            ours.push(us.store.session_record_len(&them()));
            theirs.push(
                peer.ok(json!({"cmd": "record_size", "address": US}))["bytes"]
                    .as_u64()
                    .unwrap(),
            );
        }
    }
    eprintln!(
        "{which:?}: record bytes after 50/100/150/200 round trips: theirs {theirs:?}, ours {ours:?}"
    );
    assert!(
        ours.windows(2).all(|w| w[1] <= w[0] + 64),
        "ours does not grow: {ours:?}"
    );
    assert!(*ours.last().unwrap() < 2048, "ours stays small: {ours:?}");
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

per_impl!(
    we_initiate,
    they_initiate,
    out_of_order,
    identity_change,
    second_session,
    record_growth
);
