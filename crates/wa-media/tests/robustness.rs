//! Untrusted input never panics: arbitrary bodies, sidecars, chunkings and ranges give a typed
//! error (or, for a genuine body, the right plaintext).

use proptest::prelude::*;
use wa_media::{Decryptor, Error, Expected, MediaKey, MediaType, RangePlan, encrypt_bytes};

fn feed(dec: &mut Decryptor, body: &[u8], cuts: &[usize], out: &mut Vec<u8>) -> Result<(), Error> {
    let mut rest = body;
    for &cut in cuts {
        let (head, tail) = rest.split_at(cut.min(rest.len()));
        dec.update(head, out)?;
        rest = tail;
    }
    dec.update(rest, out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bodies_are_rejected_without_panic(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        cuts in proptest::collection::vec(0usize..64, 0..6),
        sidecar in proptest::collection::vec(any::<u8>(), 0..40),
        use_sidecar: bool,
        file_length in proptest::option::of(0u64..400),
    ) {
        let key = MediaKey::from_array([4; 32]);
        let keys = key.expand(MediaType::Audio);
        let expected = Expected { file_length, ..Expected::default() };
        let mut dec = Decryptor::with_keys(&keys, expected);
        if use_sidecar {
            dec = dec.with_sidecar(&keys, &sidecar);
        }
        let mut out = Vec::new();
        let result = feed(&mut dec, &body, &cuts, &mut out).and_then(|()| dec.finish(&mut out));
        // A random body passing a 10-byte MAC would be a 2^-80 event.
        prop_assert!(result.is_err());
        prop_assert!(out.len() <= body.len());
    }

    #[test]
    fn genuine_bodies_decrypt_under_any_chunking(
        plain in proptest::collection::vec(any::<u8>(), 0..2000),
        cuts in proptest::collection::vec(0usize..700, 0..8),
        flip in proptest::option::of((0usize..4000, 1u8..=255)),
    ) {
        let key = MediaKey::from_array([6; 32]);
        let (mut body, info) = encrypt_bytes(&key, MediaType::Video, &plain);
        if let Some((at, bits)) = flip {
            let at = at % body.len();
            body[at] ^= bits;
        }
        let keys = key.expand(MediaType::Video);
        let sidecar = info.streaming_sidecar.clone().unwrap_or_default();
        let mut dec = Decryptor::with_keys(&keys, Expected::default()).with_sidecar(&keys, &sidecar);
        let mut out = Vec::new();
        let result = feed(&mut dec, &body, &cuts, &mut out).and_then(|()| dec.finish(&mut out));
        if flip.is_some() {
            prop_assert!(result.is_err());
            prop_assert!(out.len() < plain.len() || plain.is_empty());
        } else {
            prop_assert!(result.is_ok());
            prop_assert_eq!(out, plain);
        }
    }

    #[test]
    fn arbitrary_range_requests_never_panic(
        file_length in 0u64..300_000,
        start in 0u64..310_000,
        len in 0u64..200_000,
        fetched_len in 0usize..5000,
        sidecar_len in 0usize..100,
    ) {
        let key = MediaKey::from_array([8; 32]);
        let keys = key.expand(MediaType::Video);
        if let Ok(plan) = RangePlan::new(file_length, start, start.saturating_add(len)) {
            prop_assert!(plan.fetch_start() < plan.fetch_end());
            let fetched = vec![0u8; fetched_len];
            let sidecar = vec![0u8; sidecar_len];
            prop_assert!(plan.decrypt(&keys, &sidecar, &fetched).is_err());
        }
    }
}
