//! Unit tests of the Noise state machine: both roles against each other, tampering, lengths,
//! low-order keys, counters. Transcripts against Baileys and whatsapp-rust-bridge are in
//! `tests/integration/noise_vectors.rs`.

use super::*;

fn key(seed: u8) -> KeyPair {
    KeyPair::from_private_bytes([seed; 32])
}

struct Completed {
    server_hello: ServerHello,
    client_finish_in: ClientFinishIn,
    client: NoiseTransport,
    server: NoiseTransport,
}

fn handshake(client_prologue: &[u8], server_prologue: &[u8]) -> Result<Completed, Error> {
    let (client_static, server_static) = (key(1), key(2));
    let (e, awaiting) = Initiator::start(client_prologue, &client_static, key(3));
    let (hello, awaiting_finish) = Responder::start(server_prologue, &server_static, key(4))
        .read_client_hello(&e)?
        .server_hello(b"cert chain");
    let (server_hello, finishing) = awaiting.read_server_hello(
        &hello.ephemeral,
        &hello.static_ciphertext,
        &hello.payload_ciphertext,
    )?;
    let (finish, client) = finishing.finish(b"client payload");
    let (client_finish_in, server) = awaiting_finish
        .read_client_finish(&finish.static_ciphertext, &finish.payload_ciphertext)?;
    Ok(Completed {
        server_hello,
        client_finish_in,
        client,
        server,
    })
}

#[test]
fn both_roles_complete_and_exchange_statics_payloads_and_frames() {
    let mut done = handshake(&WA_NOISE_PROLOGUE, &WA_NOISE_PROLOGUE).unwrap();
    assert_eq!(done.server_hello.server_static, key(2).public_bytes());
    assert_eq!(done.server_hello.payload, b"cert chain");
    assert_eq!(done.client_finish_in.client_static, key(1).public_bytes());
    assert_eq!(done.client_finish_in.payload, b"client payload");
    assert_eq!(done.client.handshake_hash(), done.server.handshake_hash());

    for i in 0..5u8 {
        let up = done.client.encrypt(&[i; 10]).unwrap();
        assert_eq!(up.len(), 10 + GCM_TAG_LEN);
        assert_eq!(done.server.decrypt(&up).unwrap(), [i; 10]);
        let down = done.server.encrypt(&[i; 3]).unwrap();
        assert_eq!(done.client.decrypt(&down).unwrap(), [i; 3]);
    }
    // Directions have distinct keys: a frame cannot be reflected back to its sender.
    let up = done.client.encrypt(b"x").unwrap();
    assert!(matches!(
        done.client.decrypt(&up),
        Err(Error::AeadTagMismatch { .. })
    ));
    assert_eq!(done.client.frames_sent(), 6);
    assert_eq!(done.client.frames_received(), 5);
}

#[test]
fn same_plaintext_twice_gives_different_frames_and_replay_or_reorder_fails() {
    let mut done = handshake(&WA_NOISE_PROLOGUE, &WA_NOISE_PROLOGUE).unwrap();
    let first = done.client.encrypt(b"same").unwrap();
    let second = done.client.encrypt(b"same").unwrap();
    assert_ne!(first, second);
    // Out of order: the second frame under counter 0 fails, and the failure does not advance.
    assert!(matches!(
        done.server.decrypt(&second),
        Err(Error::AeadTagMismatch { .. })
    ));
    assert_eq!(done.server.decrypt(&first).unwrap(), b"same");
    // Replay of the first under counter 1 fails.
    assert!(done.server.decrypt(&first).is_err());
    assert_eq!(done.server.decrypt(&second).unwrap(), b"same");
}

#[test]
fn different_prologues_fail_at_the_first_authenticated_field() {
    let result = handshake(&WA_NOISE_PROLOGUE, b"WA\x06\x02");
    assert!(matches!(
        result,
        Err(Error::AeadTagMismatch {
            what: "server static key"
        })
    ));
}

#[test]
fn every_flipped_bit_of_server_hello_is_rejected() {
    let (e, _) = Initiator::start(&WA_NOISE_PROLOGUE, &key(1), key(3));
    let (hello, _) = Responder::start(&WA_NOISE_PROLOGUE, &key(2), key(4))
        .read_client_hello(&e)
        .unwrap()
        .server_hello(b"cert");
    let fields = [
        hello.ephemeral.to_vec(),
        hello.static_ciphertext.clone(),
        hello.payload_ciphertext.clone(),
    ];
    for field in 0..3 {
        for bit in 0..fields[field].len() * 8 {
            let mut changed = fields.clone();
            changed[field][bit / 8] ^= 1 << (bit % 8);
            let (_, awaiting) = Initiator::start(&WA_NOISE_PROLOGUE, &key(1), key(3));
            let result = awaiting.read_server_hello(&changed[0], &changed[1], &changed[2]);
            // X25519 ignores bit 255 of a public key, but h covers all 32 bytes, so even that
            // bit fails the tag.
            assert!(
                matches!(
                    result,
                    Err(Error::AeadTagMismatch { .. } | Error::NonContributoryKey { .. })
                ),
                "field {field} bit {bit}: {result:?}"
            );
        }
    }
}

#[test]
fn every_flipped_bit_of_client_finish_is_rejected() {
    let finish_fields = || {
        let (e, awaiting) = Initiator::start(&WA_NOISE_PROLOGUE, &key(1), key(3));
        let (hello, awaiting_finish) = Responder::start(&WA_NOISE_PROLOGUE, &key(2), key(4))
            .read_client_hello(&e)
            .unwrap()
            .server_hello(b"cert");
        let (_, finishing) = awaiting
            .read_server_hello(
                &hello.ephemeral,
                &hello.static_ciphertext,
                &hello.payload_ciphertext,
            )
            .unwrap();
        let (finish, _) = finishing.finish(b"payload");
        (finish, awaiting_finish)
    };
    let (finish, _) = finish_fields();
    let fields = [finish.static_ciphertext, finish.payload_ciphertext];
    for field in 0..2 {
        for bit in 0..fields[field].len() * 8 {
            let mut changed = fields.clone();
            changed[field][bit / 8] ^= 1 << (bit % 8);
            let (_, awaiting_finish) = finish_fields();
            let result = awaiting_finish.read_client_finish(&changed[0], &changed[1]);
            assert!(
                matches!(result, Err(Error::AeadTagMismatch { .. })),
                "field {field} bit {bit}"
            );
        }
    }
}

#[test]
fn wrong_lengths_are_typed_errors() {
    let start = || Initiator::start(&WA_NOISE_PROLOGUE, &key(1), key(3)).1;
    assert!(matches!(
        start().read_server_hello(&[9; 31], &[0; 48], &[0; 16]),
        Err(Error::WrongLength {
            expected: 32,
            actual: 31,
            ..
        })
    ));
    assert!(matches!(
        start().read_server_hello(&[9; 32], &[0; 47], &[0; 16]),
        Err(Error::WrongLength {
            expected: 48,
            actual: 47,
            ..
        })
    ));
    assert!(matches!(
        Responder::start(&WA_NOISE_PROLOGUE, &key(2), key(4)).read_client_hello(&[9; 33]),
        Err(Error::WrongLength {
            expected: 32,
            actual: 33,
            ..
        })
    ));

    let (e, awaiting) = Initiator::start(&WA_NOISE_PROLOGUE, &key(1), key(3));
    let (hello, awaiting_finish) = Responder::start(&WA_NOISE_PROLOGUE, &key(2), key(4))
        .read_client_hello(&e)
        .unwrap()
        .server_hello(b"");
    // An empty payload encrypts to its 16-byte tag alone; anything shorter cannot be one.
    assert_eq!(hello.payload_ciphertext.len(), 16);
    assert!(matches!(
        awaiting.read_server_hello(
            &hello.ephemeral,
            &hello.static_ciphertext,
            &hello.payload_ciphertext[..15]
        ),
        Err(Error::TooShort {
            min: 16,
            actual: 15,
            ..
        })
    ));
    assert!(matches!(
        awaiting_finish.read_client_finish(&[0; 49], &[0; 16]),
        Err(Error::WrongLength {
            expected: 48,
            actual: 49,
            ..
        })
    ));
}

#[test]
fn low_order_ephemeral_keys_are_refused() {
    // The all-zero point and the order-8 point with u = 1 are low order.
    let mut one = [0u8; 32];
    one[0] = 1;
    for low in [[0u8; 32], one] {
        assert!(matches!(
            Responder::start(&WA_NOISE_PROLOGUE, &key(2), key(4)).read_client_hello(&low),
            Err(Error::NonContributoryKey { .. })
        ));
        let (_, awaiting) = Initiator::start(&WA_NOISE_PROLOGUE, &key(1), key(3));
        assert!(matches!(
            awaiting.read_server_hello(&low, &[0; 48], &[0; 16]),
            Err(Error::NonContributoryKey { .. })
        ));
    }
}

#[test]
fn counters_stop_at_the_last_nonce_instead_of_wrapping() {
    let mut done = handshake(&WA_NOISE_PROLOGUE, &WA_NOISE_PROLOGUE).unwrap();
    done.client.send.next = u64::from(u32::MAX);
    done.server.receive.next = u64::from(u32::MAX);
    // Counter 2^32 - 1 is still usable and both sides agree on it...
    let last = done.client.encrypt(b"last").unwrap();
    assert_eq!(done.server.decrypt(&last).unwrap(), b"last");
    // ...then both directions refuse rather than reuse nonce 0.
    assert!(matches!(
        done.client.encrypt(b"again"),
        Err(Error::CounterExhausted { .. })
    ));
    assert!(matches!(
        done.server.decrypt(&last),
        Err(Error::CounterExhausted { .. })
    ));
    assert_eq!(done.client.frames_sent(), 1 << 32);
}

#[test]
fn debug_shows_no_key_material() {
    let (e, awaiting) = Initiator::start(&WA_NOISE_PROLOGUE, &key(1), key(3));
    assert_eq!(
        format!("{awaiting:?}"),
        "InitiatorAwaitingServerHello { .. }"
    );
    let received = Responder::start(&WA_NOISE_PROLOGUE, &key(2), key(4))
        .read_client_hello(&e)
        .unwrap();
    assert_eq!(format!("{received:?}"), "ResponderHelloReceived { .. }");
    let done = handshake(&WA_NOISE_PROLOGUE, &WA_NOISE_PROLOGUE).unwrap();
    assert_eq!(
        format!("{:?}", done.client),
        "NoiseTransport { frames_sent: 0, frames_received: 0, .. }"
    );
}
