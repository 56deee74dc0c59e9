//! Arbitrary bytes into the legacy frame openers and the login secret, under fixed keys: never
//! panics, rejects what is not authentic, and what opens re-seals into a frame that opens the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_crypto::legacy::{self, Flags, SessionKeys};
use wa_crypto::{Error, KeyPair};

/// Deterministic "RNG" for re-sealing (the IV does not matter here).
struct Counter(u8);

impl wa_crypto::RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        u32::from(self.next_byte())
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_byte())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.iter_mut().for_each(|b| *b = self.next_byte());
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), wa_crypto::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl Counter {
    fn next_byte(&mut self) -> u8 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
}

impl wa_crypto::CryptoRng for Counter {}

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
