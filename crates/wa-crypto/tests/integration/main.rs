//! wa-crypto integration tests: known answers from Baileys and RFC 7748, live interop, edge cases,
//! properties.

mod edges;
mod live;
mod noise_live;
mod noise_vectors;
mod properties;
mod vectors;
mod x25519;
mod xeddsa;
mod xeddsa_oracle;

use rand::SeedableRng;
use rand::rngs::StdRng;

/// A seeded RNG so every run sees the same inputs.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// 32 bytes from a seeded RNG.
pub fn rng_bytes(seed: u64) -> [u8; 32] {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rng(seed).fill_bytes(&mut bytes);
    bytes
}

/// Decodes hex from the vector files.
pub fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap_or_else(|e| panic!("bad hex in test data ({e}): {text}"))
}

/// Decodes hex into a fixed-size array.
pub fn unhex_array<const N: usize>(text: &str) -> [u8; N] {
    unhex(text)
        .try_into()
        .unwrap_or_else(|v: Vec<u8>| panic!("expected {N} bytes, got {}", v.len()))
}
