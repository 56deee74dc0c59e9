//! Properties over arbitrary inputs: round trips, tamper detection, no panics.

use proptest::prelude::*;
use wa_crypto::KeyPair;
use wa_crypto::legacy::{self, Flags, Metric, SessionKeys};

use crate::rng;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn secrets_round_trip(client_seed: [u8; 32], enc: [u8; 32], mac: [u8; 32], seed: u64) {
        let client = KeyPair::from_private_bytes(client_seed);
        let keys = SessionKeys::new(enc, mac);
        let secret = keys.build_secret(&client.public_bytes(), &mut rng(seed));
        prop_assert_eq!(SessionKeys::from_secret(&client, &secret), Ok(keys));
    }

    #[test]
    fn frames_round_trip(
        enc: [u8; 32],
        mac: [u8; 32],
        plaintext in proptest::collection::vec(any::<u8>(), 0..300),
        metric_index in 0..49usize,
        flags: u8,
        seed: u64,
    ) {
        let keys = SessionKeys::new(enc, mac);
        let metric = Metric::ALL[metric_index];
        let mut rng = rng(seed);
        let sealed = legacy::seal_client_frame(&keys, Some(metric), Flags::from_bits(flags), &plaintext, &mut rng);
        let opened = legacy::open_client_frame(&keys, &sealed).expect("own frame opens");
        prop_assert_eq!(opened.metric(), Some(metric));
        prop_assert_eq!(opened.flags.bits(), flags);
        prop_assert_eq!(&opened.plaintext, &plaintext);

        let sealed = legacy::seal_server_frame(&keys, &plaintext, &mut rng);
        prop_assert_eq!(legacy::open_server_frame(&keys, &sealed), Ok(plaintext));
    }

    #[test]
    fn any_flipped_bit_after_the_header_is_caught(
        plaintext in proptest::collection::vec(any::<u8>(), 0..100),
        position: prop::sample::Index,
        bit in 0..8u8,
    ) {
        let keys = SessionKeys::generate(&mut rng(11));
        let mut sealed = legacy::seal_server_frame(&keys, &plaintext, &mut rng(12));
        let index = position.index(sealed.len());
        sealed[index] ^= 1 << bit;
        prop_assert!(legacy::open_server_frame(&keys, &sealed).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let keys = SessionKeys::generate(&mut rng(13));
        let client = KeyPair::from_private_bytes([5; 32]);
        let _ = legacy::open_server_frame(&keys, &bytes);
        let _ = legacy::open_client_frame(&keys, &bytes);
        let _ = SessionKeys::from_secret(&client, &bytes);
        let _ = wa_crypto::aes256_cbc_decrypt(&[1; 32], &bytes);
    }
}
