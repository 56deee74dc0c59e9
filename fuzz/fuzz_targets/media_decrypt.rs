//! Any body (and sidecar) through wa-media's decryption: errors, never panics; every verified
//! path (`decrypt_bytes`, `decrypt_verified`, `decrypt_verified_into`) hands out plaintext only
//! on success, and all of them agree with each other on what they accept and what they give.
//!
//! Input: byte 0 picks the media type and whether the rest starts with a 2-byte sidecar length
//! and a sidecar; the rest is the body (`enc ‖ mac`). Half the runs use a body encrypted here
//! from the input (so the MAC verifies and the decrypting paths run to the end), with one byte
//! flipped when byte 0 says so.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_media::{
    Expected, MediaKey, MediaType, decrypt_bytes, decrypt_verified, decrypt_verified_into,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let ty = [
        MediaType::Image,
        MediaType::Video,
        MediaType::Audio,
        MediaType::Document,
    ][usize::from(mode & 3)];
    let key = MediaKey::from_array([mode; 32]);
    let keys = key.expand(ty);
    let (sidecar, rest) = if mode & 4 != 0 && rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        (Some(rest[2..2 + len].to_vec()), &rest[2 + len..])
    } else {
        (None, rest)
    };
    let mut body = if mode & 8 != 0 {
        wa_media::encrypt_bytes(&key, ty, rest).0
    } else {
        rest.to_vec()
    };
    if mode & 16 != 0 && !body.is_empty() {
        let at = usize::from(mode) % body.len();
        body[at] ^= 0x80;
    }
    let expected = Expected {
        streaming_sidecar: sidecar,
        ..Expected::default()
    };
    let whole = decrypt_bytes(&key, ty, &body, expected.clone());
    let mut out = Vec::new();
    let verified = decrypt_verified(&body[..], &mut out, &keys, expected.clone());
    let held = decrypt_verified_into(&body[..], Vec::new(), &keys, expected);
    match (&whole, &verified, &held) {
        (Ok(plain), Ok(_), Ok((_, held))) => {
            assert!(out == *plain && held == plain);
            if mode & 8 != 0 && mode & 16 == 0 && mode & 4 == 0 {
                assert_eq!(plain.as_slice(), rest);
            }
        }
        (Err(_), Err(_), Err(_)) => assert!(out.is_empty()),
        _ => panic!(
            "paths disagree: {:?} / {:?} / {:?}",
            whole.as_ref().err(),
            verified.as_ref().err(),
            held.as_ref().err()
        ),
    }
});
