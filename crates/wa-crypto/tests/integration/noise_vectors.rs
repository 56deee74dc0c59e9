//! Noise transcripts and symmetric known answers from Baileys 7 and whatsapp-rust-bridge
//! (`interop/gen-noise.mjs`): with the same fixed keys, our initiator writes the client's bytes
//! and our responder the server's, byte for byte, and each reads the other side's.

use serde::Deserialize;
use wa_crypto::noise::{Initiator, Responder, WA_NOISE_PROLOGUE};
use wa_crypto::{KeyPair, aes256_ctr_apply, aes256_gcm_decrypt, aes256_gcm_encrypt, pbkdf2_sha256};

use crate::{unhex, unhex_array};

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Transcript>,
    aes_gcm: Vec<GcmCase>,
    aes_ctr: Vec<CtrCase>,
    pairing_code_pbkdf2: Vec<PairingCodeCase>,
}

#[derive(Deserialize)]
struct Transcript {
    name: String,
    prologue: String,
    client_static_private: String,
    client_static_public: String,
    client_ephemeral_private: String,
    client_ephemeral_public: String,
    server_static_private: String,
    server_static_public: String,
    server_ephemeral_private: String,
    cert_chain: String,
    server_hello: HelloFields,
    client_payload: String,
    client_finish: FinishFields,
    handshake_hash: String,
    client_frames: Vec<Frame>,
    server_frames: Vec<Frame>,
}

#[derive(Deserialize)]
struct HelloFields {
    ephemeral: String,
    static_ciphertext: String,
    payload_ciphertext: String,
}

#[derive(Deserialize)]
struct FinishFields {
    static_ciphertext: String,
    payload_ciphertext: String,
}

#[derive(Deserialize)]
struct Frame {
    plaintext: String,
    ciphertext: String,
}

#[derive(Deserialize)]
struct GcmCase {
    key: String,
    iv: String,
    aad: String,
    plaintext: String,
    ciphertext: String,
}

#[derive(Deserialize)]
struct CtrCase {
    key: String,
    iv: String,
    plaintext: String,
    ciphertext: String,
}

#[derive(Deserialize)]
struct PairingCodeCase {
    code: String,
    salt: String,
    rounds: u32,
    key: String,
}

fn vectors() -> Vectors {
    serde_json::from_str(include_str!("../vectors/noise.json")).expect("noise.json parses")
}

fn key_pair(private: &str) -> KeyPair {
    KeyPair::from_private_bytes(unhex_array(private))
}

#[test]
fn our_initiator_writes_baileys_and_bridge_client_bytes() {
    let vectors = vectors();
    assert_eq!(vectors.cases.len(), 3);
    for case in &vectors.cases {
        let name = &case.name;
        assert_eq!(unhex(&case.prologue), WA_NOISE_PROLOGUE);
        let client_static = key_pair(&case.client_static_private);
        assert_eq!(
            hex::encode(client_static.public_bytes()),
            case.client_static_public
        );
        let (ephemeral, awaiting) = Initiator::start(
            &WA_NOISE_PROLOGUE,
            &client_static,
            key_pair(&case.client_ephemeral_private),
        );
        assert_eq!(
            hex::encode(ephemeral),
            case.client_ephemeral_public,
            "{name}"
        );

        let (server, finishing) = awaiting
            .read_server_hello(
                &unhex(&case.server_hello.ephemeral),
                &unhex(&case.server_hello.static_ciphertext),
                &unhex(&case.server_hello.payload_ciphertext),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            hex::encode(server.server_static),
            case.server_static_public,
            "{name}"
        );
        assert_eq!(hex::encode(&server.payload), case.cert_chain, "{name}");

        let (finish, mut transport) = finishing.finish(&unhex(&case.client_payload));
        assert_eq!(
            hex::encode(&finish.static_ciphertext),
            case.client_finish.static_ciphertext,
            "{name}"
        );
        assert_eq!(
            hex::encode(&finish.payload_ciphertext),
            case.client_finish.payload_ciphertext,
            "{name}"
        );
        assert_eq!(
            hex::encode(transport.handshake_hash()),
            case.handshake_hash,
            "{name}"
        );

        for (i, frame) in case.client_frames.iter().enumerate() {
            let sealed = transport.encrypt(&unhex(&frame.plaintext)).unwrap();
            assert_eq!(
                hex::encode(sealed),
                frame.ciphertext,
                "{name}: client frame {i}"
            );
        }
        for (i, frame) in case.server_frames.iter().enumerate() {
            let opened = transport
                .decrypt(&unhex(&frame.ciphertext))
                .unwrap_or_else(|e| panic!("{name}: server frame {i}: {e}"));
            assert_eq!(
                hex::encode(opened),
                frame.plaintext,
                "{name}: server frame {i}"
            );
        }
    }
}

#[test]
fn our_responder_writes_the_peers_server_bytes() {
    for case in &vectors().cases {
        let name = &case.name;
        let server_static = key_pair(&case.server_static_private);
        assert_eq!(
            hex::encode(server_static.public_bytes()),
            case.server_static_public
        );
        let (hello, awaiting_finish) = Responder::start(
            &WA_NOISE_PROLOGUE,
            &server_static,
            key_pair(&case.server_ephemeral_private),
        )
        .read_client_hello(&unhex(&case.client_ephemeral_public))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .server_hello(&unhex(&case.cert_chain));
        assert_eq!(
            hex::encode(hello.ephemeral),
            case.server_hello.ephemeral,
            "{name}"
        );
        assert_eq!(
            hex::encode(&hello.static_ciphertext),
            case.server_hello.static_ciphertext,
            "{name}"
        );
        assert_eq!(
            hex::encode(&hello.payload_ciphertext),
            case.server_hello.payload_ciphertext,
            "{name}"
        );

        let (client, mut transport) = awaiting_finish
            .read_client_finish(
                &unhex(&case.client_finish.static_ciphertext),
                &unhex(&case.client_finish.payload_ciphertext),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            hex::encode(client.client_static),
            case.client_static_public,
            "{name}"
        );
        assert_eq!(hex::encode(&client.payload), case.client_payload, "{name}");
        assert_eq!(
            hex::encode(transport.handshake_hash()),
            case.handshake_hash,
            "{name}"
        );

        for (i, frame) in case.server_frames.iter().enumerate() {
            let sealed = transport.encrypt(&unhex(&frame.plaintext)).unwrap();
            assert_eq!(
                hex::encode(sealed),
                frame.ciphertext,
                "{name}: server frame {i}"
            );
        }
        for (i, frame) in case.client_frames.iter().enumerate() {
            let opened = transport.decrypt(&unhex(&frame.ciphertext)).unwrap();
            assert_eq!(
                hex::encode(opened),
                frame.plaintext,
                "{name}: client frame {i}"
            );
        }
    }
}

#[test]
fn skipping_a_peer_frame_breaks_the_counter_sequence() {
    // Frames are bound to their position: the second server frame cannot be read first.
    let case = &vectors().cases[0];
    let (_, awaiting) = Initiator::start(
        &WA_NOISE_PROLOGUE,
        &key_pair(&case.client_static_private),
        key_pair(&case.client_ephemeral_private),
    );
    let (_, finishing) = awaiting
        .read_server_hello(
            &unhex(&case.server_hello.ephemeral),
            &unhex(&case.server_hello.static_ciphertext),
            &unhex(&case.server_hello.payload_ciphertext),
        )
        .unwrap();
    let (_, mut transport) = finishing.finish(&unhex(&case.client_payload));
    assert!(
        transport
            .decrypt(&unhex(&case.server_frames[1].ciphertext))
            .is_err()
    );
    assert!(
        transport
            .decrypt(&unhex(&case.server_frames[0].ciphertext))
            .is_ok()
    );
}

#[test]
fn aes_gcm_ctr_and_pairing_code_pbkdf2_match_baileys_helpers() {
    let vectors = vectors();
    for case in &vectors.aes_gcm {
        let (key, iv) = (unhex_array(&case.key), unhex_array(&case.iv));
        let sealed = aes256_gcm_encrypt(&key, &iv, &unhex(&case.aad), &unhex(&case.plaintext));
        assert_eq!(hex::encode(&sealed), case.ciphertext);
        let opened = aes256_gcm_decrypt(&key, &iv, &unhex(&case.aad), &sealed).unwrap();
        assert_eq!(hex::encode(opened), case.plaintext);
    }
    for case in &vectors.aes_ctr {
        let (key, iv) = (unhex_array(&case.key), unhex_array(&case.iv));
        let ciphertext = aes256_ctr_apply(&key, &iv, &unhex(&case.plaintext));
        assert_eq!(hex::encode(&ciphertext), case.ciphertext);
        assert_eq!(
            hex::encode(aes256_ctr_apply(&key, &iv, &ciphertext)),
            case.plaintext
        );
    }
    assert!(!vectors.pairing_code_pbkdf2.is_empty());
    for case in &vectors.pairing_code_pbkdf2 {
        let mut key = [0u8; 32];
        pbkdf2_sha256(
            case.code.as_bytes(),
            &unhex(&case.salt),
            case.rounds,
            &mut key,
        )
        .unwrap();
        assert_eq!(hex::encode(key), case.key, "pairing code {}", case.code);
    }
}
