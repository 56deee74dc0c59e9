//! Arbitrary bytes into the legacy frame openers and the login secret, under fixed keys: never
//! panics, rejects what is not authentic, and what opens re-seals into a frame that opens the same.
#![no_main]

mod common;

use common::ByteCounter as Counter;
use libfuzzer_sys::fuzz_target;
use wa_crypto::legacy::{self, Flags, SessionKeys};
use wa_crypto::{Error, KeyPair};

fuzz_target!(|data: &[u8]| {
    let keys = SessionKeys::new([0x11; 32], [0x22; 32]);
    let mut rng = Counter(0);

    if let Ok(plaintext) = legacy::open_server_frame(&keys, data) {
        let sealed = legacy::seal_server_frame(&keys, &plaintext, &mut rng);
        assert_eq!(legacy::open_server_frame(&keys, &sealed), Ok(plaintext));
    }
    if let Ok(frame) = legacy::open_client_frame(&keys, data) {
        let sealed = legacy::seal_client_frame(
            &keys,
            frame.metric(),
            frame.flags,
            &frame.plaintext,
            &mut rng,
        );
        let again = legacy::open_client_frame(&keys, &sealed).expect("own frame opens");
        assert_eq!(
            (again.flags, &again.plaintext),
            (frame.flags, &frame.plaintext)
        );
    }

    // Authenticate the input ourselves so the fuzzer reaches decryption and padding checks.
    let tag = wa_crypto::hmac_sha256(keys.mac_key(), &[data]);
    let mut payload = tag.to_vec();
    payload.extend_from_slice(data);
    match legacy::open_server_frame(&keys, &payload) {
        Err(Error::HmacMismatch { .. }) => {
            panic!("a frame with a correct HMAC was refused as forged")
        }
        Ok(plaintext) => assert_eq!(
            wa_crypto::aes256_cbc_decrypt(keys.enc_key(), data),
            Ok(plaintext)
        ),
        Err(_) => {}
    }
    let mut client_payload = vec![16, Flags::EXPECTS_RESPONSE.bits()];
    client_payload.extend_from_slice(&payload);
    let _ = legacy::open_client_frame(&keys, &client_payload);

    let client = KeyPair::from_private_bytes([0x33; 32]);
    let _ = SessionKeys::from_secret(&client, data);
});
