//! The framing `encrypt` writes by hand is byte for byte prost's encoding of the same fields
//! (what every earlier version sent and every peer parses), at every size and in both kinds.

use wa_proto::signal as pb;
use wa_signal::{MessageKind, decrypt, encrypt};

use crate::{Party, connect};

/// Decodes `bytes` (after the version byte) as `T` and checks prost writes the same bytes back.
fn assert_canonical<T: wa_proto::prost::Message + Default>(bytes: &[u8]) -> T {
    assert_eq!(bytes[0], 0x33);
    let decoded = T::decode(&bytes[1..]).expect("prost parses it");
    assert_eq!(decoded.encode_to_vec(), bytes[1..], "prost's bytes");
    decoded
}

/// The SignalMessage inside a frame: protobuf between the version byte and the 8-byte MAC.
fn check_signal_message(framed: &[u8], plaintext_len: usize) {
    let body = &framed[..framed.len() - 8];
    let message: pb::SignalMessage = assert_canonical(body);
    assert_eq!(message.ratchet_key.as_ref().map(Vec::len), Some(33));
    assert!(message.counter.is_some() && message.previous_counter.is_some());
    assert_eq!(
        message.ciphertext.map(|c| c.len()),
        Some((plaintext_len / 16 + 1) * 16)
    );
}

#[test]
fn sealed_bytes_are_prosts_in_both_kinds_and_every_size_class() {
    let sizes = [0, 1, 15, 16, 100, 111, 112, 10_240, 20_000, 300_000];
    // With a one-time prekey (field 1 present) and without.
    for one_time in [true, false] {
        let mut alice = Party::new("alice", 1);
        let mut bob = Party::new("bob", 2);
        let mut bundle = bob.bundle();
        if !one_time {
            bundle.pre_key = None;
        }
        wa_signal::process_pre_key_bundle(&mut alice.store, &bob.address, &bundle, &mut alice.rng)
            .unwrap();
        for size in sizes {
            let plaintext = vec![size as u8; size];
            let out = encrypt(&mut alice.store, &bob.address, &plaintext).unwrap();
            assert_eq!(out.kind, MessageKind::PreKey);
            let outer: pb::PreKeySignalMessage = assert_canonical(&out.bytes);
            assert_eq!(outer.pre_key_id.is_some(), one_time);
            check_signal_message(&outer.message.unwrap(), size);
            let got = decrypt(
                &mut bob.store,
                &alice.address,
                out.kind,
                &out.bytes,
                &mut bob.rng,
            );
            assert_eq!(got.unwrap(), plaintext, "pkmsg of {size} bytes");
        }
    }
    let mut alice = Party::new("alice", 3);
    let mut bob = Party::new("bob", 4);
    connect(&mut alice, &mut bob);
    let answer = encrypt(&mut bob.store, &alice.address, b"answer").unwrap();
    decrypt(
        &mut alice.store,
        &bob.address,
        answer.kind,
        &answer.bytes,
        &mut alice.rng,
    )
    .unwrap();
    // Counters past one varint byte too.
    for round in 0..200 {
        for size in sizes {
            if round > 0 && size > 100 {
                continue;
            }
            let plaintext = vec![0xa5; size];
            let out = encrypt(&mut alice.store, &bob.address, &plaintext).unwrap();
            assert_eq!(out.kind, MessageKind::Whisper);
            check_signal_message(&out.bytes, size);
            let got = decrypt(
                &mut bob.store,
                &alice.address,
                out.kind,
                &out.bytes,
                &mut bob.rng,
            );
            assert_eq!(got.unwrap(), plaintext, "msg of {size} bytes");
        }
    }
}
