//! Arbitrary handshake messages into the Noise responder (client hello and client finish) and
//! initiator (server hello), then arbitrary transport frames: never panics, and allocates only
//! in proportion to the input. A third mode runs an honest handshake carrying fuzzer-chosen
//! payloads and frames and checks both sides read exactly what the other wrote.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_crypto::KeyPair;
use wa_crypto::noise::{Initiator, NoiseTransport, Responder, WA_NOISE_PROLOGUE};

/// Splits the input into fields, each a 1-byte length then that many bytes (the last field
/// takes what is left when the input runs short).
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn next(&mut self) -> &'a [u8] {
        let Some((&len, rest)) = self.0.split_first() else {
            return &[];
        };
        let len = usize::from(len).min(rest.len());
        let (field, rest) = rest.split_at(len);
        self.0 = rest;
        field
    }
}

fn key(seed: u8) -> KeyPair {
    KeyPair::from_private_bytes([seed; 32])
}

fn read_frames(transport: &mut NoiseTransport, fields: &mut Fields<'_>) {
    for _ in 0..4 {
        let frame = fields.next();
        if let Ok(plaintext) = transport.decrypt(frame) {
            // Random bytes authenticating would mean the tag is not checked.
            panic!(
                "forged frame of {} bytes accepted: {plaintext:?}",
                frame.len()
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut fields = Fields(rest);
    match mode % 3 {
        // Server side fed a client.
        0 => {
            let Ok(received) = Responder::start(&WA_NOISE_PROLOGUE, &key(2), key(4))
                .read_client_hello(fields.next())
            else {
                return;
            };
            let (_, awaiting_finish) = received.server_hello(b"cert chain");
            let (static_ciphertext, payload) = (fields.next(), fields.next());
            if awaiting_finish
                .read_client_finish(static_ciphertext, payload)
                .is_ok()
            {
                panic!("forged client finish accepted");
            }
        }
        // Client side fed a server.
        1 => {
            let (_, awaiting) = Initiator::start(&WA_NOISE_PROLOGUE, &key(1), key(3));
            let (ephemeral, static_ciphertext, payload) =
                (fields.next(), fields.next(), fields.next());
            if awaiting
                .read_server_hello(ephemeral, static_ciphertext, payload)
                .is_ok()
            {
                panic!("forged server hello accepted");
            }
        }
        // An honest handshake with fuzzer-chosen payloads and frames, then forged frames.
        _ => {
            let (cert_chain, client_payload) = (fields.next(), fields.next());
            let (e, awaiting) = Initiator::start(&WA_NOISE_PROLOGUE, &key(1), key(3));
            let (hello_out, awaiting_finish) =
                Responder::start(&WA_NOISE_PROLOGUE, &key(2), key(4))
                    .read_client_hello(&e)
                    .expect("honest client hello")
                    .server_hello(cert_chain);
            let (server, finishing) = awaiting
                .read_server_hello(
                    &hello_out.ephemeral,
                    &hello_out.static_ciphertext,
                    &hello_out.payload_ciphertext,
                )
                .expect("honest server hello");
            assert_eq!(server.payload, cert_chain);
            let (finish, mut client) = finishing.finish(client_payload);
            let (received, mut server) = awaiting_finish
                .read_client_finish(&finish.static_ciphertext, &finish.payload_ciphertext)
                .expect("honest client finish");
            assert_eq!(received.payload, client_payload);
            for _ in 0..3 {
                let frame = fields.next();
                let up = client.encrypt(frame).expect("fresh counter");
                assert_eq!(server.decrypt(&up).expect("honest frame"), frame);
                let down = server.encrypt(frame).expect("fresh counter");
                assert_eq!(client.decrypt(&down).expect("honest frame"), frame);
            }
            read_frames(&mut server, &mut fields);
            read_frames(&mut client, &mut fields);
        }
    }
});
