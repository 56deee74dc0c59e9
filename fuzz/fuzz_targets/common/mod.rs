//! Set-up shared by several fuzz targets, which include it with `mod common;`: the deterministic
//! RNGs and a paired companion's credentials. It is not a target (fuzz/Cargo.toml lists those one
//! by one); each target uses part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

use wa_core::md::{Account, Credentials};
use wa_crypto::{CryptoRng, RngCore};

/// A deterministic generator (fuzzing needs reproducible runs, not secrecy).
pub struct Counter(pub u64);

impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = (self.next_u64() >> 33) as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), wa_crypto::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Counter {}

/// Deterministic "RNG" counting bytes up, for IVs and keys whose value does not matter.
pub struct ByteCounter(pub u8);

impl wa_crypto::RngCore for ByteCounter {
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

impl ByteCounter {
    fn next_byte(&mut self) -> u8 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
}

impl wa_crypto::CryptoRng for ByteCounter {}

/// Fresh credentials (keys from `rng`) of a companion paired as `jid`, with a fixed account
/// identity: enough for a session to log in and for messages to be addressed to it.
pub fn paired_credentials(rng: &mut Counter, jid: &str) -> Credentials {
    let mut creds = Credentials::generate(rng);
    creds.account = Some(Account {
        jid: jid.parse().unwrap(),
        lid: None,
        details: vec![8, 1],
        account_signature_key: [1; 32],
        account_signature: [2; 64],
        device_signature: [3; 64],
        key_index: 1,
        business_name: None,
    });
    creds
}
