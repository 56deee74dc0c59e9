//! Refusals: identity changes, bad bundles, missing prekeys, malformed messages, padding,
//! Debug redaction.

use wa_signal::{
    Error, IdentityStore as _, MAX_PADDING, MessageKind, PreKeyBundle, PreKeySignalMessage,
    SenderKeyDistributionMessage, SenderKeyMessage, SignalMessage, decrypt, encrypt, pad,
    process_pre_key_bundle, unpad,
};

use crate::{Party, connect};

#[test]
fn identity_change_on_a_bundle_is_typed_and_changes_nothing() {
    let mut a = Party::new("a", 1);
    let mut b = Party::new("b", 2);
    connect(&mut a, &mut b);
    let mut reinstalled = Party::new("b", 3);
    let bundle = reinstalled.bundle();
    let before = a.store.session_record_len(&b.address);
    let err = process_pre_key_bundle(&mut a.store, &b.address, &bundle, &mut a.rng).unwrap_err();
    assert!(matches!(err, Error::UntrustedIdentity { .. }), "{err:?}");
    assert_eq!(a.store.session_record_len(&b.address), before);
    // Once accepted, the new device is reachable and the old session is no longer current.
    a.store
        .save_identity(&b.address, &bundle.identity_key)
        .unwrap();
    process_pre_key_bundle(&mut a.store, &b.address, &bundle, &mut a.rng).unwrap();
    let m = encrypt(&mut a.store, &b.address, b"hi again").unwrap();
    assert_eq!(m.kind, MessageKind::PreKey);
    assert_eq!(
        decrypt(
            &mut reinstalled.store,
            &a.address,
            m.kind,
            &m.bytes,
            &mut reinstalled.rng
        )
        .unwrap(),
        b"hi again"
    );
}

#[test]
fn bundle_with_a_bad_signature_is_refused() {
    let mut a = Party::new("a", 4);
    let mut b = Party::new("b", 5);
    let mut bundle = b.bundle();
    bundle.signed_pre_key_signature[10] ^= 1;
    let err = process_pre_key_bundle(&mut a.store, &b.address, &bundle, &mut a.rng).unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err:?}");
}

#[test]
fn bundle_wire_fields_are_length_checked() {
    let ok = PreKeyBundle::from_wire_fields(
        &[0, 0, 1, 2],
        &[1; 32],
        &[0, 0, 5],
        &[2; 32],
        &[3; 64],
        Some((&[0, 1, 0], &[4; 32])),
    )
    .unwrap();
    assert_eq!(ok.registration_id, 258);
    assert_eq!(ok.signed_pre_key_id, 5);
    assert_eq!(ok.pre_key.map(|(id, _)| id), Some(256));
    assert!(
        PreKeyBundle::from_wire_fields(&[0; 3], &[1; 32], &[0; 3], &[2; 32], &[3; 64], None)
            .is_err()
    );
    assert!(
        PreKeyBundle::from_wire_fields(&[0; 4], &[1; 33], &[0; 3], &[2; 32], &[3; 64], None)
            .is_err()
    );
    assert!(
        PreKeyBundle::from_wire_fields(&[0; 4], &[1; 32], &[0; 4], &[2; 32], &[3; 64], None)
            .is_err()
    );
    assert!(
        PreKeyBundle::from_wire_fields(&[0; 4], &[1; 32], &[0; 3], &[2; 32], &[3; 63], None)
            .is_err()
    );
}

#[test]
fn used_one_time_prekey_is_refused_for_a_new_session() {
    let mut a = Party::new("a", 6);
    let mut b = Party::new("b", 7);
    let mut c = Party::new("c", 8);
    let bundle = b.bundle();
    process_pre_key_bundle(&mut a.store, &b.address, &bundle, &mut a.rng).unwrap();
    process_pre_key_bundle(&mut c.store, &b.address, &bundle, &mut c.rng).unwrap();
    let m = encrypt(&mut a.store, &b.address, b"first").unwrap();
    decrypt(&mut b.store, &a.address, m.kind, &m.bytes, &mut b.rng).unwrap();
    let m = encrypt(&mut c.store, &b.address, b"second").unwrap();
    let err = decrypt(&mut b.store, &c.address, m.kind, &m.bytes, &mut b.rng).unwrap_err();
    assert!(matches!(err, Error::MissingPreKey { id: 1 }), "{err:?}");
}

#[test]
fn message_kinds_and_versions() {
    for kind in [
        MessageKind::PreKey,
        MessageKind::Whisper,
        MessageKind::SenderKey,
    ] {
        assert_eq!(MessageKind::from_attr(kind.as_str()), Some(kind));
    }
    assert_eq!(MessageKind::from_attr("frskmsg"), None);
    let mut a = Party::new("a", 9);
    let mut b = Party::new("b", 10);
    connect(&mut a, &mut b);
    let m = encrypt(&mut b.store, &a.address, b"x").unwrap();
    assert_eq!(m.bytes[0], 0x33);
    let mut v2 = m.bytes.clone();
    v2[0] = 0x22;
    assert!(matches!(
        SignalMessage::parse(&v2),
        Err(Error::UnsupportedVersion { version: 0x22, .. })
    ));
    for len in 0..10 {
        assert!(SignalMessage::parse(&m.bytes[..len.min(m.bytes.len())]).is_err());
        assert!(PreKeySignalMessage::parse(&m.bytes[..len.min(m.bytes.len())]).is_err());
        assert!(SenderKeyMessage::parse(&m.bytes[..len.min(m.bytes.len())]).is_err());
        assert!(SenderKeyDistributionMessage::parse(&m.bytes[..len.min(m.bytes.len())]).is_err());
    }
}

#[test]
fn padding_round_trips_and_refuses_garbage() {
    let mut a = Party::new("a", 11);
    let mut seen = [false; MAX_PADDING + 1];
    for round in 0..400usize {
        let len = round % 37;
        let plaintext = vec![7u8; len];
        let padded = pad(&plaintext, &mut a.rng);
        let extra = padded.len() - len;
        assert!((1..=MAX_PADDING).contains(&extra));
        seen[extra] = true;
        assert!(padded[len..].iter().all(|&b| usize::from(b) == extra));
        assert_eq!(unpad(&padded).unwrap(), plaintext.as_slice());
    }
    assert!(
        seen[1..].iter().all(|&s| s),
        "every count from 1 to 16 drawn"
    );
    assert!(matches!(unpad(&[]), Err(Error::BadPadding)));
    assert!(matches!(unpad(&[1, 2, 0]), Err(Error::BadPadding)));
    assert!(matches!(unpad(&[4, 4, 4]), Err(Error::BadPadding)));
    assert_eq!(unpad(&[9, 3, 3, 3]).unwrap(), &[9]);
    assert_eq!(unpad(&[3, 3, 3]).unwrap(), &[] as &[u8]);
    // Every padding byte must hold the count.
    assert!(matches!(unpad(&[9, 3, 2, 3]), Err(Error::BadPadding)));
    assert!(matches!(unpad(&[9, 2, 3, 3]), Err(Error::BadPadding)));
    // At most 16 bytes of padding.
    let mut sixteen = vec![9u8];
    sixteen.extend([16u8; 16]);
    assert_eq!(unpad(&sixteen).unwrap(), &[9]);
    let mut seventeen = vec![9u8];
    seventeen.extend([17u8; 17]);
    assert!(matches!(unpad(&seventeen), Err(Error::BadPadding)));
}

#[test]
fn debug_output_redacts_secrets() {
    let mut a = Party::new("a", 12);
    let mut b = Party::new("b", 13);
    connect(&mut a, &mut b);
    let text = format!("{:?}", a.store);
    assert!(text.contains("<redacted>"), "{text}");
    let identity = a.store.local_identity().unwrap();
    assert!(!text.contains(&hex::encode(*identity.private_bytes())));
    let name = wa_signal::SenderKeyName {
        group_id: "g".into(),
        sender: a.address.clone(),
    };
    let skdm = wa_signal::create_sender_key_distribution(&mut a.store, &name, &mut a.rng).unwrap();
    let text = format!("{skdm:?}");
    assert!(!text.contains(&hex::encode(*skdm.chain_key)), "{text}");
}

/// Replaces a field of a stored record through its persisted form.
fn rewrite<M: wa_proto::prost::Message + Default>(
    bytes: &[u8],
    change: impl FnOnce(&mut M),
) -> Vec<u8> {
    let mut data = M::decode(bytes).unwrap();
    change(&mut data);
    data.encode_to_vec()
}

/// The session record `party` holds for `peer`, as stored bytes.
/// `message` from `from`, decrypted by `to`.
fn receive(
    to: &mut Party,
    from: &Party,
    message: &wa_signal::Ciphertext,
) -> wa_signal::Result<Vec<u8>> {
    decrypt(
        &mut to.store,
        &from.address,
        message.kind,
        &message.bytes,
        &mut to.rng,
    )
}

fn stored_record(party: &Party, peer: &Party) -> Vec<u8> {
    use wa_signal::SessionStore as _;
    party
        .store
        .load_session(&peer.address)
        .unwrap()
        .unwrap()
        .to_bytes()
        .to_vec()
}

#[test]
fn ratchet_key_halves_that_differ_are_reported_when_the_step_fails() {
    use wa_signal::{SessionRecord, SessionStore as _};
    let mut a = Party::new("a", 21);
    let mut b = Party::new("b", 22);
    connect(&mut a, &mut b);
    let record = a.store.load_session(&b.address).unwrap().unwrap();
    let corrupt = rewrite(
        &record.to_bytes(),
        |d: &mut wa_proto::signal::SessionRecordData| {
            let chain = d.current.as_mut().unwrap().sender_chain.as_mut().unwrap();
            chain.ratchet_private = Some(vec![0x42; 32]);
        },
    );
    // Loading costs no curve operation, so it does not see the mismatch...
    let corrupt = SessionRecord::from_bytes(&corrupt).unwrap();
    a.store.store_session(&b.address, &corrupt).unwrap();
    let before = stored_record(&a, &b);
    // ...the ratchet step's Diffie–Hellman with the wrong private half gives keys the answer's
    // MAC refuses; the halves are compared then, and the answer is the corrupt record (not a
    // bad MAC), with nothing changed.
    let answer = encrypt(&mut b.store, &a.address, b"answer").unwrap();
    let err = receive(&mut a, &b, &answer).unwrap_err();
    assert!(matches!(err, Error::CorruptRecord { .. }), "{err:?}");
    let after = stored_record(&a, &b);
    assert_eq!(before, after);
}

#[test]
fn a_forged_answer_to_an_intact_record_is_a_bad_mac() {
    let mut a = Party::new("a", 25);
    let mut b = Party::new("b", 26);
    connect(&mut a, &mut b);
    let before = stored_record(&a, &b);
    let mut answer = encrypt(&mut b.store, &a.address, b"answer").unwrap();
    let last = answer.bytes.len() - 1;
    answer.bytes[last] ^= 1;
    // The step ran and the MAC failed, but the halves match: the message is the fault.
    let err = receive(&mut a, &b, &answer).unwrap_err();
    assert!(matches!(err, Error::BadMac), "{err:?}");
    let after = stored_record(&a, &b);
    assert_eq!(before, after);
}

#[test]
fn a_public_ratchet_half_corrupted_after_sending_is_discarded_by_the_step() {
    use wa_signal::{SessionRecord, SessionStore as _};
    let mut a = Party::new("a", 27);
    let mut b = Party::new("b", 28);
    connect(&mut a, &mut b);
    let record = a.store.load_session(&b.address).unwrap().unwrap();
    // A valid key of someone else's in place of the public half b already has.
    let stranger = wa_signal::KeyPair::generate(&mut a.rng);
    let wrong = stranger.public_bytes().to_vec();
    let mut replaced = None;
    let corrupt = rewrite(
        &record.to_bytes(),
        |d: &mut wa_proto::signal::SessionRecordData| {
            let chain = d.current.as_mut().unwrap().sender_chain.as_mut().unwrap();
            replaced = chain.ratchet_public.replace(wrong.clone());
        },
    );
    assert_ne!(replaced.as_deref(), Some(&wrong[..]));
    a.store
        .store_session(&b.address, &SessionRecord::from_bytes(&corrupt).unwrap())
        .unwrap();
    // b answers the key a sent: a's private half is right, so the step succeeds and replaces
    // the pair, the corrupted half with it.
    let answer = encrypt(&mut b.store, &a.address, b"answer").unwrap();
    let plaintext = receive(&mut a, &b, &answer).unwrap();
    assert_eq!(plaintext, b"answer");
    let stored = stored_record(&a, &b);
    let data =
        <wa_proto::signal::SessionRecordData as wa_proto::prost::Message>::decode(&stored[..])
            .unwrap();
    let sender = data.current.unwrap().sender_chain.unwrap();
    assert_ne!(sender.ratchet_public.as_deref(), Some(&wrong[..]));
    assert_ne!(sender.ratchet_public, replaced);
    // The conversation goes on both ways.
    let reply = encrypt(&mut a.store, &b.address, b"reply").unwrap();
    assert_eq!(receive(&mut b, &a, &reply).unwrap(), b"reply");
}

#[test]
fn signing_key_halves_that_differ_are_refused_when_signing() {
    use wa_signal::{SenderKeyName, SenderKeyRecord, SenderKeyStore as _};
    let mut a = Party::new("a", 23);
    let name = SenderKeyName {
        group_id: "g@g.us".into(),
        sender: a.address.clone(),
    };
    wa_signal::create_sender_key_distribution(&mut a.store, &name, &mut a.rng).unwrap();
    wa_signal::group_encrypt(&mut a.store, &name, b"fine", &mut a.rng).unwrap();
    let record = a.store.load_sender_key(&name).unwrap().unwrap();
    let corrupt = rewrite(
        &record.to_bytes(),
        |d: &mut wa_proto::signal::SenderKeyRecordData| {
            d.states[0].signing_private = Some(vec![0x42; 32]);
        },
    );
    a.store
        .store_sender_key(&name, &SenderKeyRecord::from_bytes(&corrupt).unwrap())
        .unwrap();
    let err = wa_signal::group_encrypt(&mut a.store, &name, b"refused", &mut a.rng).unwrap_err();
    assert!(matches!(err, Error::CorruptRecord { .. }), "{err:?}");
    // The chain did not advance.
    let after = a.store.load_sender_key(&name).unwrap().unwrap().to_bytes();
    assert_eq!(*after, corrupt);
}
