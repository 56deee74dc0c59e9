//! Bounded state: record sizes after many round trips and many one-way messages, the forward
//! jump limit, the skipped-key bound.

use wa_signal::{
    Error, MAX_FORWARD_JUMP, MAX_PREVIOUS_SESSIONS, MAX_SKIPPED_KEYS, ProtocolAddress,
    SenderKeyName, SenderKeyStore as _, SessionStore as _, create_sender_key_distribution, decrypt,
    encrypt, group_decrypt, group_encrypt, process_pre_key_bundle, process_sender_key_distribution,
};

use crate::{Party, connect};

#[test]
fn record_size_stays_bounded_over_200_round_trips() {
    let mut a = Party::new("a", 1);
    let mut b = Party::new("b", 2);
    connect(&mut a, &mut b);
    let mut sizes = Vec::new();
    for round in 0..200 {
        let m = encrypt(&mut b.store, &a.address, b"ping").unwrap();
        decrypt(&mut a.store, &b.address, m.kind, &m.bytes, &mut a.rng).unwrap();
        let m = encrypt(&mut a.store, &b.address, b"pong").unwrap();
        decrypt(&mut b.store, &a.address, m.kind, &m.bytes, &mut b.rng).unwrap();
        if round % 20 == 19 {
            sizes.push(
                a.store
                    .session_record_len(&b.address)
                    .max(b.store.session_record_len(&a.address)),
            );
        }
    }
    // Each round trip is two ratchet steps; only the last 5 receiver chains are kept.
    assert!(
        sizes.iter().all(|&s| s == sizes[0]),
        "constant size: {sizes:?}"
    );
    assert!(sizes[0] < 1024, "{sizes:?}");
}

#[test]
fn record_size_stays_bounded_after_10_000_messages_one_way() {
    let mut a = Party::new("a", 3);
    let mut b = Party::new("b", 4);
    connect(&mut a, &mut b);
    let mut sizes = Vec::new();
    for i in 0..10_000u32 {
        let m = encrypt(&mut a.store, &b.address, &i.to_le_bytes()).unwrap();
        // One message in 100 is lost: its key is kept as skipped.
        if i % 100 != 42 {
            decrypt(&mut b.store, &a.address, m.kind, &m.bytes, &mut b.rng).unwrap();
        }
        if i % 2000 == 1999 {
            sizes.push(b.store.session_record_len(&a.address));
        }
    }
    let record = b.store.load_session(&a.address).unwrap().unwrap();
    assert_eq!(
        record.skipped_keys(),
        100,
        "every lost key kept while under the bound"
    );
    // Grows only by the kept keys (about 40 bytes each), never by the messages delivered.
    assert!(
        sizes.windows(2).all(|w| w[1] <= w[0] + 20 * 45),
        "{sizes:?}"
    );
    assert!(*sizes.last().unwrap() < 100 * 45 + 1024, "{sizes:?}");
    assert!(a.store.session_record_len(&b.address) < 1024);
}

#[test]
fn skipped_keys_are_capped() {
    let mut a = Party::new("a", 13);
    let mut b = Party::new("b", 14);
    connect(&mut a, &mut b);
    for _ in 0..5 {
        let mut last = None;
        for _ in 0..600 {
            last = Some(encrypt(&mut a.store, &b.address, b"mostly lost").unwrap());
        }
        let m = last.unwrap();
        decrypt(&mut b.store, &a.address, m.kind, &m.bytes, &mut b.rng).unwrap();
    }
    let record = b.store.load_session(&a.address).unwrap().unwrap();
    assert_eq!(
        record.skipped_keys(),
        MAX_SKIPPED_KEYS,
        "5 × 599 skipped, capped"
    );
    let len = b.store.session_record_len(&a.address);
    assert!(len < MAX_SKIPPED_KEYS * 45 + 1024, "{len}");
}

#[test]
fn forward_jump_is_bounded_and_leaves_state_alone() {
    let mut a = Party::new("a", 5);
    let mut b = Party::new("b", 6);
    connect(&mut a, &mut b);
    let reply = encrypt(&mut b.store, &a.address, b"ack").unwrap();
    decrypt(
        &mut a.store,
        &b.address,
        reply.kind,
        &reply.bytes,
        &mut a.rng,
    )
    .unwrap();
    for _ in 0..MAX_FORWARD_JUMP + 1 {
        encrypt(&mut a.store, &b.address, b"lost").unwrap();
    }
    let too_far = encrypt(&mut a.store, &b.address, b"too far").unwrap();
    let before = b.store.session_record_len(&a.address);
    let err = decrypt(
        &mut b.store,
        &a.address,
        too_far.kind,
        &too_far.bytes,
        &mut b.rng,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooFarAhead {
                limit: MAX_FORWARD_JUMP,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(b.store.session_record_len(&a.address), before);
}

#[test]
fn previous_sessions_are_bounded() {
    let mut a = Party::new("a", 7);
    let mut b = Party::new("b", 8);
    for _ in 0..MAX_PREVIOUS_SESSIONS + 5 {
        let bundle = b.bundle();
        process_pre_key_bundle(&mut a.store, &b.address, &bundle, &mut a.rng).unwrap();
        let m = encrypt(&mut a.store, &b.address, b"x").unwrap();
        decrypt(&mut b.store, &a.address, m.kind, &m.bytes, &mut b.rng).unwrap();
    }
    for (store, peer) in [(&a.store, &b.address), (&b.store, &a.address)] {
        let record = store.load_session(peer).unwrap().unwrap();
        assert_eq!(record.previous_sessions(), MAX_PREVIOUS_SESSIONS);
    }
}

#[test]
fn sender_key_skips_are_bounded() {
    let mut a = Party::new("a", 9);
    let mut b = Party::new("b", 10);
    let mut c = Party::new("c", 11);
    let name = SenderKeyName {
        group_id: "g@g.us".into(),
        sender: ProtocolAddress::new("a", 1),
    };
    let skdm = create_sender_key_distribution(&mut a.store, &name, &mut a.rng).unwrap();
    process_sender_key_distribution(&mut b.store, &name, &skdm).unwrap();
    process_sender_key_distribution(&mut c.store, &name, &skdm).unwrap();
    let mut last = Vec::new();
    for i in 0..MAX_FORWARD_JUMP + 2 {
        last = group_encrypt(&mut a.store, &name, &i.to_le_bytes(), &mut a.rng).unwrap();
    }
    let before = b.store.sender_key_record_len(&name);
    let err = group_decrypt(&mut b.store, &name, &last).unwrap_err();
    assert!(matches!(err, Error::TooFarAhead { .. }), "{err:?}");
    assert_eq!(
        b.store.sender_key_record_len(&name),
        before,
        "state unchanged"
    );
    // `c` hears one message in 600: 5 × 599 skipped, capped.
    let mut c_sender = Party::new("a2", 12);
    let name2 = SenderKeyName {
        group_id: "g@g.us".into(),
        sender: ProtocolAddress::new("a2", 1),
    };
    let skdm =
        create_sender_key_distribution(&mut c_sender.store, &name2, &mut c_sender.rng).unwrap();
    process_sender_key_distribution(&mut c.store, &name2, &skdm).unwrap();
    for i in 0..3000u32 {
        let m = group_encrypt(
            &mut c_sender.store,
            &name2,
            &i.to_le_bytes(),
            &mut c_sender.rng,
        )
        .unwrap();
        if i % 600 == 599 {
            assert_eq!(
                group_decrypt(&mut c.store, &name2, &m).unwrap(),
                i.to_le_bytes()
            );
        }
    }
    let record = c.store.load_sender_key(&name2).unwrap().unwrap();
    assert_eq!(record.skipped_keys(), MAX_SKIPPED_KEYS);
    let len = c.store.sender_key_record_len(&name2);
    assert!(len < MAX_SKIPPED_KEYS * 45 + 512, "{len}");
}
