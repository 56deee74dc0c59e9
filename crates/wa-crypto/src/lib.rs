#![doc = include_str!("../README.md")]

mod cbc_hmac;
mod error;
mod fixed_base;
mod key_pair;
pub mod legacy;
pub mod noise;
mod primitives;
mod symmetric;
#[cfg(target_arch = "x86_64")]
mod x86_kernels;
mod xeddsa;

pub use cbc_hmac::{aes256_cbc_decrypt_authenticated, aes256_cbc_encrypt_append};
pub use error::Error;
pub use key_pair::{KeyPair, x25519_shared_secret};
pub use primitives::{
    AES_BLOCK_LEN, HKDF_MAX_OUTPUT_LEN, HMAC_LEN, HmacSha256, HmacSha256Key, aes256_cbc_decrypt,
    aes256_cbc_decrypt_with_iv, aes256_cbc_encrypt, aes256_cbc_encrypt_with_iv, hkdf_sha256,
    hmac_sha256, hmac_sha256_verify, is_all_zero,
};
pub use symmetric::{
    CTR_IV_LEN, GCM_NONCE_LEN, GCM_TAG_LEN, aes256_ctr_apply, aes256_gcm_decrypt,
    aes256_gcm_encrypt, pbkdf2_sha256,
};
pub use xeddsa::{
    XEDDSA_SIGNATURE_LEN, XeddsaSigningKey, xeddsa_sign, xeddsa_sign_rng, xeddsa_verify,
};

/// The `rand_core` (0.6) this crate's RNG parameters come from, for implementing them.
pub use rand_core;
/// Re-export of the RNG traits every `rng` parameter takes (`rand_core` 0.6, as the RustCrypto and dalek crates use).
pub use rand_core::{CryptoRng, RngCore};

/// Formats public bytes as lowercase hex in `Debug` output.
pub(crate) struct HexBytes<'a>(pub(crate) &'a [u8]);

impl core::fmt::Debug for HexBytes<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}
