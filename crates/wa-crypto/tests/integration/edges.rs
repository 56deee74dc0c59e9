//! Every length edge and malformed input is a typed error; secrets stay out of `Debug`.

use wa_crypto::legacy::{
    self, CLIENT_FRAME_MIN_LEN, Flags, Metric, SERVER_FRAME_MIN_LEN, SessionKeys,
};
use wa_crypto::{Error, KeyPair};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::rng;

fn keys() -> SessionKeys {
    SessionKeys::generate(&mut rng(1))
}

/// `IV ‖ one block` whose decryption ends in 0x00: authentic-looking but badly padded.
fn badly_padded(key: &[u8; 32]) -> Vec<u8> {
    let iv = [7u8; 16];
    let block = [0u8; 16];
    let ciphertext = wa_crypto::aes256_cbc_encrypt_with_iv(key, &iv, &block);
    let mut out = iv.to_vec();
    out.extend_from_slice(&ciphertext[..16]);
    out
}

#[test]
fn short_server_frames_are_too_short() {
    let keys = keys();
    for len in 0..SERVER_FRAME_MIN_LEN {
        let payload = vec![0xA5; len];
        assert_eq!(
            legacy::open_server_frame(&keys, &payload),
            Err(Error::TooShort {
                what: "server frame",
                min: 64,
                actual: len
            })
        );
    }
}

#[test]
fn short_client_frames_are_too_short() {
    let keys = keys();
    for len in 0..CLIENT_FRAME_MIN_LEN {
        let payload = vec![0x5A; len];
        assert_eq!(
            legacy::open_client_frame(&keys, &payload),
            Err(Error::TooShort {
                what: "client frame",
                min: 66,
                actual: len
            })
        );
    }
}

#[test]
fn unaligned_frame_ciphertext_is_reported_before_the_hmac() {
    let keys = keys();
    for len in SERVER_FRAME_MIN_LEN + 1..SERVER_FRAME_MIN_LEN + 16 {
        assert_eq!(
            legacy::open_server_frame(&keys, &vec![1; len]),
            Err(Error::UnalignedCiphertext {
                what: "server frame",
                len: len - 48
            })
        );
        assert_eq!(
            legacy::open_client_frame(&keys, &vec![1; len + 2]),
            Err(Error::UnalignedCiphertext {
                what: "client frame",
                len: len - 48
            })
        );
    }
}

#[test]
fn aligned_garbage_fails_the_hmac() {
    let keys = keys();
    for len in [64, 80, 96, 256] {
        assert_eq!(
            legacy::open_server_frame(&keys, &vec![9; len]),
            Err(Error::HmacMismatch {
                what: "server frame"
            })
        );
    }
}

#[test]
fn authenticated_bad_padding_is_bad_padding() {
    let keys = keys();
    let encrypted = badly_padded(keys.enc_key());
    let tag = wa_crypto::hmac_sha256(keys.mac_key(), &[&encrypted]);
    let mut payload = tag.to_vec();
    payload.extend_from_slice(&encrypted);
    assert_eq!(
        legacy::open_server_frame(&keys, &payload),
        Err(Error::BadPadding {
            what: "server frame"
        })
    );
    let mut client = vec![16, 0x80];
    client.extend_from_slice(&payload);
    assert_eq!(
        legacy::open_client_frame(&keys, &client),
        Err(Error::BadPadding {
            what: "client frame"
        })
    );
}

#[test]
fn aes_decrypt_length_edges() {
    let key = [3u8; 32];
    for len in 0..32 {
        assert_eq!(
            wa_crypto::aes256_cbc_decrypt(&key, &vec![0; len]),
            Err(Error::TooShort {
                what: "AES-CBC input",
                min: 32,
                actual: len
            })
        );
    }
    for len in 33..48 {
        assert_eq!(
            wa_crypto::aes256_cbc_decrypt(&key, &vec![0; len]),
            Err(Error::UnalignedCiphertext {
                what: "AES-CBC input",
                len: len - 16
            })
        );
    }
    assert_eq!(
        wa_crypto::aes256_cbc_decrypt(&key, &badly_padded(&key)),
        Err(Error::BadPadding {
            what: "AES-CBC input"
        })
    );
    let iv = [0u8; 16];
    assert_eq!(
        wa_crypto::aes256_cbc_decrypt_with_iv(&key, &iv, &[]),
        Err(Error::TooShort {
            what: "AES-CBC ciphertext",
            min: 16,
            actual: 0
        })
    );
    assert_eq!(
        wa_crypto::aes256_cbc_decrypt_with_iv(&key, &iv, &[0; 17]),
        Err(Error::UnalignedCiphertext {
            what: "AES-CBC ciphertext",
            len: 17
        })
    );
}

#[test]
fn aes_round_trips_every_small_length() {
    let key = [4u8; 32];
    let mut rng = rng(2);
    for len in 0..=64 {
        let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let sealed = wa_crypto::aes256_cbc_encrypt(&key, &plaintext, &mut rng);
        // IV, then PKCS#7 always adds 1..=16 bytes.
        assert_eq!(sealed.len(), 16 + (len / 16 + 1) * 16);
        assert_eq!(wa_crypto::aes256_cbc_decrypt(&key, &sealed), Ok(plaintext));
    }
}

#[test]
fn secret_length_must_be_144() {
    let client = KeyPair::generate(&mut rng(3));
    let good = keys().build_secret(&client.public_bytes(), &mut rng(4));
    for len in [0, 1, 32, 64, 143, 145, 288] {
        let mut secret = good.to_vec();
        secret.resize(len, 0);
        assert_eq!(
            SessionKeys::from_secret(&client, &secret),
            Err(Error::WrongLength {
                what: "login secret",
                expected: 144,
                actual: len
            })
        );
    }
    assert_eq!(SessionKeys::from_secret(&client, &good), Ok(keys()));
}

#[test]
fn every_flipped_secret_bit_is_rejected() {
    let client = KeyPair::generate(&mut rng(5));
    let secret = keys().build_secret(&client.public_bytes(), &mut rng(6));
    for index in 0..secret.len() {
        let mut bad = secret;
        bad[index] ^= 0x10;
        assert!(
            matches!(
                SessionKeys::from_secret(&client, &bad),
                Err(Error::HmacMismatch { .. } | Error::NonContributoryKey { .. })
            ),
            "flip at {index} accepted"
        );
    }
}

#[test]
fn low_order_server_keys_are_refused() {
    let client = KeyPair::generate(&mut rng(7));
    // u = 0 and u = 1 are low-order points: the shared secret is all zeros whatever our key.
    for low_order in [[0u8; 32], {
        let mut one = [0u8; 32];
        one[0] = 1;
        one
    }] {
        let mut secret = [0u8; 144];
        secret[..32].copy_from_slice(&low_order);
        assert_eq!(
            SessionKeys::from_secret(&client, &secret),
            Err(Error::NonContributoryKey {
                what: "login secret"
            })
        );
    }
}

#[test]
fn hmac_verify_checks_length_and_value() {
    let tag = wa_crypto::hmac_sha256(b"key", &[b"a", b"bc"]);
    assert_eq!(tag, wa_crypto::hmac_sha256(b"key", &[b"abc"]));
    assert_eq!(
        wa_crypto::hmac_sha256_verify(b"key", &[b"abc"], &tag),
        Ok(())
    );
    for len in [0, 1, 31, 33] {
        assert_eq!(
            wa_crypto::hmac_sha256_verify(b"key", &[b"abc"], &vec![0; len]),
            Err(Error::WrongLength {
                what: "HMAC-SHA256 tag",
                expected: 32,
                actual: len
            })
        );
    }
    let mut bad = tag;
    bad[31] ^= 1;
    assert_eq!(
        wa_crypto::hmac_sha256_verify(b"key", &[b"abc"], &bad),
        Err(Error::HmacMismatch {
            what: "HMAC-SHA256 tag"
        })
    );
}

#[test]
fn hkdf_output_limit() {
    let mut max = vec![0u8; wa_crypto::HKDF_MAX_OUTPUT_LEN];
    assert_eq!(wa_crypto::hkdf_sha256(b"ikm", None, b"", &mut max), Ok(()));
    assert!(max.iter().any(|&b| b != 0));
    let mut over = vec![0u8; wa_crypto::HKDF_MAX_OUTPUT_LEN + 1];
    assert_eq!(
        wa_crypto::hkdf_sha256(b"ikm", None, b"", &mut over),
        Err(Error::HkdfOutputTooLong { requested: 8161 })
    );
}

#[test]
fn metrics_round_trip_and_unknown_bytes_are_errors() {
    assert_eq!(Metric::ALL.len(), 49);
    for (index, metric) in Metric::ALL.iter().enumerate() {
        let byte = u8::from(*metric);
        assert_eq!(usize::from(byte), index + 1);
        assert_eq!(Metric::try_from(byte), Ok(*metric));
    }
    assert_eq!(Metric::Message.wire_name(), "MESSAGE");
    assert_eq!(Metric::try_from(16), Ok(Metric::Message));
    assert_eq!(Metric::try_from(49), Ok(Metric::QueryRecentStickers));
    for byte in std::iter::once(0).chain(50..=255) {
        assert_eq!(Metric::try_from(byte), Err(Error::UnknownMetric(byte)));
    }
}

#[test]
fn client_frames_keep_metric_zero_and_unknown_bytes() {
    let keys = keys();
    let mut rng = rng(8);
    let frame = legacy::seal_client_frame(&keys, None, Flags::EMPTY, b"x", &mut rng);
    assert_eq!(&frame[..2], &[0, 0]);
    let opened = legacy::open_client_frame(&keys, &frame).expect("opens");
    assert_eq!((opened.metric_byte, opened.metric()), (0, None));

    // A newer client's metric 200 is carried, not rejected.
    let mut unknown = frame.clone();
    unknown[0] = 200;
    let opened = legacy::open_client_frame(&keys, &unknown).expect("metric is not authenticated");
    assert_eq!((opened.metric_byte, opened.metric()), (200, None));
}

#[test]
fn flags_follow_the_official_meaning() {
    assert_eq!(Flags::EXPECTS_RESPONSE.bits(), 0x80);
    assert_eq!((Flags::EXPECTS_RESPONSE | Flags::EXPIRES).bits(), 0x88);
    assert_eq!((Flags::EXPECTS_RESPONSE | Flags::AVAILABLE).bits(), 0xA0);
    assert_eq!(Flags::UNAVAILABLE.bits(), 0x10);
    assert_eq!(Flags::SKIP_OFFLINE.bits(), 0x04);
    assert_eq!(Flags::ACK_REQUEST.bits(), 0x40);
    for byte in 0..=255u8 {
        assert_eq!(Flags::from_bits(byte).bits(), byte);
    }
    assert_eq!(
        format!("{:?}", Flags::from_bits(0xA3)),
        "Flags(0xa3: EXPECTS_RESPONSE | AVAILABLE | 0x03)"
    );
    assert_eq!(format!("{:?}", Flags::EMPTY), "Flags(0x00)");
    assert!(Flags::from_bits(0x88).contains(Flags::EXPIRES));
    assert!(!Flags::from_bits(0x88).contains(Flags::AVAILABLE));
}

fn assert_zeroize_on_drop<T: ZeroizeOnDrop>() {}

#[test]
fn secrets_zeroize_and_never_print() {
    assert_zeroize_on_drop::<SessionKeys>();
    assert_zeroize_on_drop::<KeyPair>();

    let mut keys = SessionKeys::new([0xAB; 32], [0xCD; 32]);
    let shown = format!("{keys:?} {keys:#?}");
    assert!(!shown.to_lowercase().contains("abab"), "{shown}");
    assert!(!shown.contains("171,"), "{shown}"); // 0xAB as a decimal array
    assert!(!shown.contains("205,"), "{shown}"); // 0xCD as a decimal array
    keys.zeroize();
    assert_eq!(keys.enc_key(), &[0; 32]);
    assert_eq!(keys.mac_key(), &[0; 32]);

    let pair = KeyPair::from_private_bytes([0x77; 32]);
    let shown = format!("{pair:?} {pair:#?}");
    assert!(!shown.contains("7777"), "{shown}");
    assert!(!shown.contains("119,"), "{shown}"); // 0x77 as a decimal array
    let public_hex: String = pair
        .public_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        shown.contains(&public_hex),
        "public key should be shown: {shown}"
    );
    assert_eq!(*pair.private_bytes(), [0x77; 32]);
}

#[test]
fn errors_name_what_failed() {
    let error = legacy::open_server_frame(&keys(), &[0; 10]).expect_err("too short");
    assert_eq!(
        error.to_string(),
        "server frame: at least 64 bytes needed, got 10"
    );
}
