//! Known answers computed by `@adiwajshing/baileys@3.5.3` (`interop/gen-crypto.js`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use wa_crypto::legacy::{self, Flags, Metric, SessionKeys};
use wa_crypto::{Error, KeyPair};

use crate::{unhex, unhex_array};

#[derive(Deserialize)]
struct Vectors {
    baileys_version: String,
    sessions: Vec<Session>,
    hkdf: Vec<HkdfCase>,
    aes: Vec<AesCase>,
    bad_secrets: Vec<BadSecret>,
    bad_frames: Vec<BadFrame>,
}

#[derive(Deserialize)]
struct Session {
    client_seed: String,
    client_private: String,
    client_public: String,
    server_private: String,
    server_public: String,
    shared_secret: String,
    expanded: String,
    enc_key: String,
    mac_key: String,
    secret: String,
    baileys_derived: DerivedKeys,
    challenge: String,
    challenge_response: String,
    logout_token: String,
    client_frames: Vec<ClientFrameCase>,
    server_frames: Vec<ServerFrameCase>,
}

#[derive(Deserialize)]
struct DerivedKeys {
    enc_key: String,
    mac_key: String,
}

#[derive(Deserialize)]
struct ClientFrameCase {
    metric: u8,
    metric_name: String,
    flags: u8,
    plaintext: String,
    payload: String,
}

#[derive(Deserialize)]
struct ServerFrameCase {
    plaintext: String,
    payload: String,
}

#[derive(Deserialize)]
struct HkdfCase {
    ikm: String,
    info: String,
    length: usize,
    okm: String,
}

#[derive(Deserialize)]
struct AesCase {
    key: String,
    plaintext: String,
    iv_and_ciphertext: String,
}

#[derive(Deserialize)]
struct BadSecret {
    what: String,
    client_private: String,
    secret: String,
    baileys_error: String,
}

#[derive(Deserialize)]
struct BadFrame {
    what: String,
    enc_key: String,
    mac_key: String,
    payload: String,
}

fn vectors() -> Vectors {
    let text = include_str!("../vectors/legacy.json");
    let vectors: Vectors = serde_json::from_str(text).expect("tests/vectors/legacy.json parses");
    assert_eq!(vectors.baileys_version, "3.5.3");
    assert!(!vectors.sessions.is_empty());
    vectors
}

fn session_keys(session: &Session) -> SessionKeys {
    SessionKeys::new(unhex_array(&session.enc_key), unhex_array(&session.mac_key))
}

#[test]
fn key_pairs_match_curve25519_js() {
    for session in vectors().sessions {
        let public: [u8; 32] = unhex_array(&session.client_public);
        // curve25519-js clamps the seed into the private key; both forms must give its public key.
        let from_seed = KeyPair::from_private_bytes(unhex_array(&session.client_seed));
        let from_clamped = KeyPair::from_private_bytes(unhex_array(&session.client_private));
        assert_eq!(from_seed.public_bytes(), public);
        assert_eq!(from_clamped.public_bytes(), public);
        assert_eq!(
            *from_seed.private_bytes(),
            unhex_array::<32>(&session.client_seed)
        );

        let server = KeyPair::from_private_bytes(unhex_array(&session.server_private));
        assert_eq!(
            server.public_bytes(),
            unhex_array::<32>(&session.server_public)
        );
        let shared: [u8; 32] = unhex_array(&session.shared_secret);
        assert_eq!(*server.shared_secret(&public), shared);
        assert_eq!(*from_seed.shared_secret(&server.public_bytes()), shared);
    }
}

#[test]
fn hkdf_of_the_shared_secret_matches() {
    for session in vectors().sessions {
        let mut expanded = [0u8; 80];
        wa_crypto::hkdf_sha256(
            &unhex(&session.shared_secret),
            Some(&[0; 32]),
            &[],
            &mut expanded,
        )
        .expect("80 bytes is in range");
        assert_eq!(expanded.as_slice(), unhex(&session.expanded));
    }
}

#[test]
fn hkdf_matches_futoin_hkdf() {
    let cases = vectors().hkdf;
    assert!(cases.iter().any(|c| !c.info.is_empty()));
    for case in cases {
        let mut okm = vec![0u8; case.length];
        // Baileys always passes a 32-byte zero salt; `None` means the same per RFC 5869.
        wa_crypto::hkdf_sha256(&unhex(&case.ikm), None, case.info.as_bytes(), &mut okm)
            .expect("in range");
        assert_eq!(
            okm,
            unhex(&case.okm),
            "ikm {} info {:?}",
            case.ikm,
            case.info
        );
    }
}

#[test]
fn we_decrypt_baileys_aes() {
    let cases = vectors().aes;
    assert!(cases.iter().any(|c| c.plaintext.is_empty()));
    for case in cases {
        let key: [u8; 32] = unhex_array(&case.key);
        let plaintext = wa_crypto::aes256_cbc_decrypt(&key, &unhex(&case.iv_and_ciphertext))
            .expect("Baileys' ciphertext opens");
        assert_eq!(plaintext, unhex(&case.plaintext));
        // Same IV, same bytes: our encryption is the same function.
        let sealed = unhex(&case.iv_and_ciphertext);
        let iv: [u8; 16] = sealed[..16].try_into().expect("16-byte IV");
        let ours = wa_crypto::aes256_cbc_encrypt_with_iv(&key, &iv, &plaintext);
        assert_eq!(ours.as_slice(), &sealed[16..]);
    }
}

#[test]
fn we_derive_the_keys_baileys_derives() {
    for session in vectors().sessions {
        let client = KeyPair::from_private_bytes(unhex_array(&session.client_private));
        let keys = SessionKeys::from_secret(&client, &unhex(&session.secret))
            .expect("Baileys-built secret is accepted");
        assert_eq!(
            keys.enc_key(),
            &unhex_array::<32>(&session.baileys_derived.enc_key)
        );
        assert_eq!(
            keys.mac_key(),
            &unhex_array::<32>(&session.baileys_derived.mac_key)
        );
        assert_eq!(keys, session_keys(&session));
    }
}

#[test]
fn our_secret_is_built_like_baileys_server_side() {
    // build_secret draws the server key from the RNG; replaying Baileys' server key through a
    // fixed "RNG" must reproduce its secret byte for byte.
    struct Replay(Vec<u8>);
    impl rand_core::RngCore for Replay {
        fn next_u32(&mut self) -> u32 {
            unreachable!("only fill_bytes is used")
        }
        fn next_u64(&mut self) -> u64 {
            unreachable!("only fill_bytes is used")
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            assert!(dest.len() <= self.0.len(), "replay exhausted");
            let rest = self.0.split_off(dest.len());
            dest.copy_from_slice(&self.0);
            self.0 = rest;
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl rand_core::CryptoRng for Replay {}

    for session in vectors().sessions {
        let keys = session_keys(&session);
        let client_public: [u8; 32] = unhex_array(&session.client_public);
        let mut replay = Replay(unhex(&session.server_private));
        let secret = keys.build_secret(&client_public, &mut replay);
        assert_eq!(secret.as_slice(), unhex(&session.secret));
    }
}

#[test]
fn we_open_frames_baileys_sealed() {
    for session in vectors().sessions {
        let keys = session_keys(&session);
        for case in &session.client_frames {
            let frame = legacy::open_client_frame(&keys, &unhex(&case.payload))
                .expect("Baileys' sendBinary frame opens");
            assert_eq!(frame.metric_byte, case.metric);
            assert_eq!(frame.flags, Flags::from_bits(case.flags));
            assert_eq!(frame.plaintext, unhex(&case.plaintext));
            let metric = frame.metric().expect("every Baileys metric is a known one");
            assert_eq!(u8::from(metric), case.metric, "{}", case.metric_name);
        }
        for case in &session.server_frames {
            let plaintext = legacy::open_server_frame(&keys, &unhex(&case.payload))
                .expect("Baileys-sealed server frame opens");
            assert_eq!(plaintext, unhex(&case.plaintext));
        }
    }
}

#[test]
fn our_frames_use_baileys_layout() {
    // Same keys, same IV, same plaintext: our sealing must produce Baileys' exact bytes.
    struct FixedIv([u8; 16]);
    impl rand_core::RngCore for FixedIv {
        fn next_u32(&mut self) -> u32 {
            unreachable!("only fill_bytes is used")
        }
        fn next_u64(&mut self) -> u64 {
            unreachable!("only fill_bytes is used")
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            dest.copy_from_slice(&self.0);
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl rand_core::CryptoRng for FixedIv {}

    for session in vectors().sessions {
        let keys = session_keys(&session);
        for case in &session.client_frames {
            let payload = unhex(&case.payload);
            let mut iv = FixedIv(payload[34..50].try_into().expect("IV"));
            let metric = Metric::try_from(case.metric).ok();
            let ours = legacy::seal_client_frame(
                &keys,
                metric,
                Flags::from_bits(case.flags),
                &unhex(&case.plaintext),
                &mut iv,
            );
            assert_eq!(ours, payload);
        }
        for case in &session.server_frames {
            let payload = unhex(&case.payload);
            let mut iv = FixedIv(payload[32..48].try_into().expect("IV"));
            let ours = legacy::seal_server_frame(&keys, &unhex(&case.plaintext), &mut iv);
            assert_eq!(ours, payload);
        }
    }
}

#[test]
fn challenge_and_logout_match_baileys() {
    for session in vectors().sessions {
        let keys = session_keys(&session);
        let challenge = BASE64
            .decode(&session.challenge)
            .expect("challenge is base64");
        let response = legacy::challenge_response(&keys, &challenge);
        assert_eq!(BASE64.encode(response), session.challenge_response);
        assert_eq!(legacy::logout_token(&keys), session.logout_token);
    }
}

#[test]
fn secrets_baileys_rejects_we_reject() {
    let cases = vectors().bad_secrets;
    assert!(cases.len() >= 4);
    for case in cases {
        let client = KeyPair::from_private_bytes(unhex_array(&case.client_private));
        let secret = unhex(&case.secret);
        let error = SessionKeys::from_secret(&client, &secret)
            .expect_err("a secret Baileys rejects must be rejected");
        let expected = if case.baileys_error.contains("HMAC") {
            Error::HmacMismatch {
                what: "login secret",
            }
        } else {
            Error::WrongLength {
                what: "login secret",
                expected: 144,
                actual: secret.len(),
            }
        };
        assert_eq!(
            error, expected,
            "{} (Baileys: {})",
            case.what, case.baileys_error
        );
    }
}

#[test]
fn frames_baileys_rejects_we_reject() {
    let cases = vectors().bad_frames;
    assert!(cases.len() >= 3);
    for case in cases {
        let keys = SessionKeys::new(unhex_array(&case.enc_key), unhex_array(&case.mac_key));
        assert_eq!(
            legacy::open_server_frame(&keys, &unhex(&case.payload)),
            Err(Error::HmacMismatch {
                what: "server frame"
            }),
            "{}",
            case.what
        );
    }
}
