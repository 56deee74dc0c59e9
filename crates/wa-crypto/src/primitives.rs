//! Thin, length-checked wrappers over the RustCrypto primitives WhatsApp uses.

use std::sync::OnceLock;

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::Error;

/// AES block size, also the CBC IV size.
pub const AES_BLOCK_LEN: usize = 16;
/// HMAC-SHA256 tag size.
pub const HMAC_LEN: usize = 32;
/// HKDF-SHA256's maximum output: 255 blocks of 32 bytes.
pub const HKDF_MAX_OUTPUT_LEN: usize = 255 * 32;

type RawHmac = Hmac<Sha256>;

fn keyed(key: &[u8]) -> RawHmac {
    // HMAC accepts keys of any length (long ones are hashed first), so this cannot fail.
    <RawHmac as Mac>::new_from_slice(key).expect("HMAC takes keys of any length")
}

fn hmac_over(key: &[u8], parts: &[&[u8]]) -> RawHmac {
    let mut mac = keyed(key);
    for part in parts {
        mac.update(part);
    }
    mac
}

/// An HMAC-SHA256 fed in parts. Keying costs two SHA-256 compressions; a clone of a keyed
/// value skips them, so one key used for several MACs (a chain key's two outputs) is keyed once.
#[derive(Clone)]
pub struct HmacSha256 {
    mac: RawHmac,
    /// Bytes fed so far, for [`HmacSha256::block_offset`].
    fed: u64,
}

/// SHA-256's block size.
pub(crate) const SHA256_BLOCK_LEN: usize = 64;

impl HmacSha256 {
    /// Keyed with `key` (any length).
    pub fn new(key: &[u8]) -> HmacSha256 {
        HmacSha256 {
            mac: keyed(key),
            fed: 0,
        }
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.mac.update(data);
        self.fed = self.fed.wrapping_add(data.len() as u64);
    }

    /// The tag of everything fed.
    pub fn finalize(self) -> [u8; HMAC_LEN] {
        self.mac.finalize().into_bytes().into()
    }

    /// Where the inner hash is in its current 64-byte block (the key block before the data is
    /// whole). Feeding whole blocks from a block boundary lets SHA-256 compress straight from
    /// the input, with no copy through its buffer.
    pub(crate) fn block_offset(&self) -> usize {
        (self.fed % SHA256_BLOCK_LEN as u64) as usize
    }
}

impl core::fmt::Debug for HmacSha256 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HmacSha256(<keyed state redacted>)")
    }
}

/// HKDF's extract step without a salt keys HMAC with 32 zero bytes: the same state every time,
/// so it is keyed once per process (Signal derives every message's keys this way).
fn zero_salt() -> &'static RawHmac {
    static ZERO_SALT: OnceLock<RawHmac> = OnceLock::new();
    ZERO_SALT.get_or_init(|| keyed(&[0u8; 32]))
}

/// HKDF-SHA256 (RFC 5869): extract with `salt` (`None` = 32 zero bytes, as RFC 5869 says and
/// WhatsApp uses), expand with `info` into `out`.
///
/// # Errors
/// [`Error::HkdfOutputTooLong`] if `out` is longer than 8160 bytes.
pub fn hkdf_sha256(
    ikm: &[u8],
    salt: Option<&[u8]>,
    info: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let requested = out.len();
    let too_long = |_| Error::HkdfOutputTooLong { requested };
    match salt {
        Some(salt) => Hkdf::<Sha256>::new(Some(salt), ikm)
            .expand(info, out)
            .map_err(too_long),
        None => {
            let mut extract = zero_salt().clone();
            extract.update(ikm);
            let mut prk: [u8; HMAC_LEN] = extract.finalize().into_bytes().into();
            let result = Hkdf::<Sha256>::from_prk(&prk)
                .expect("a 32-byte PRK is long enough")
                .expand(info, out)
                .map_err(too_long);
            zeroize::Zeroize::zeroize(&mut prk);
            result
        }
    }
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; HMAC_LEN] {
    hmac_over(key, parts).finalize().into_bytes().into()
}

/// Checks, in constant time, that `expected` is the HMAC-SHA256 of `parts` under `key`.
///
/// # Errors
/// [`Error::WrongLength`] if `expected` is not 32 bytes, [`Error::HmacMismatch`] if it differs.
pub fn hmac_sha256_verify(key: &[u8], parts: &[&[u8]], expected: &[u8]) -> Result<(), Error> {
    verify_tag(key, parts, expected, "HMAC-SHA256 tag")
}

/// [`hmac_sha256_verify`] with the name of what is authenticated, for the error.
pub(crate) fn verify_tag(
    key: &[u8],
    parts: &[&[u8]],
    expected: &[u8],
    what: &'static str,
) -> Result<(), Error> {
    if expected.len() != HMAC_LEN {
        return Err(Error::WrongLength {
            what,
            expected: HMAC_LEN,
            actual: expected.len(),
        });
    }
    let computed = hmac_sha256(key, parts);
    if bool::from(computed.ct_eq(expected)) {
        Ok(())
    } else {
        Err(Error::HmacMismatch { what })
    }
}

/// AES-256-CBC with PKCS#7 under a fresh random IV from `rng`; returns `IV ‖ ciphertext`.
pub fn aes256_cbc_encrypt<R: RngCore + CryptoRng>(
    key: &[u8; 32],
    plaintext: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let mut iv = [0u8; AES_BLOCK_LEN];
    rng.fill_bytes(&mut iv);
    let mut out = Vec::with_capacity(AES_BLOCK_LEN + padded_len(plaintext.len()));
    out.extend_from_slice(&iv);
    out.extend_from_slice(&aes256_cbc_encrypt_with_iv(key, &iv, plaintext));
    out
}

/// AES-256-CBC with PKCS#7 under the given IV; returns the ciphertext alone (a whole number of
/// blocks, always at least one).
pub fn aes256_cbc_encrypt_with_iv(
    key: &[u8; 32],
    iv: &[u8; AES_BLOCK_LEN],
    plaintext: &[u8],
) -> Vec<u8> {
    cbc::Encryptor::<Aes256>::new(key.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext)
}

/// Decrypts `IV ‖ ciphertext` (AES-256-CBC, PKCS#7), the layout [`aes256_cbc_encrypt`] makes.
///
/// # Errors
/// [`Error::TooShort`] under 32 bytes (IV and one block), [`Error::UnalignedCiphertext`] if the
/// ciphertext is not whole blocks, [`Error::BadPadding`] if the padding is invalid.
pub fn aes256_cbc_decrypt(key: &[u8; 32], iv_and_ciphertext: &[u8]) -> Result<Vec<u8>, Error> {
    decrypt_prefixed(key, iv_and_ciphertext, "AES-CBC input")
}

/// Decrypts `ciphertext` (AES-256-CBC, PKCS#7) under the given IV.
///
/// # Errors
/// [`Error::TooShort`] if empty, [`Error::UnalignedCiphertext`] if not whole blocks,
/// [`Error::BadPadding`] if the padding is invalid.
pub fn aes256_cbc_decrypt_with_iv(
    key: &[u8; 32],
    iv: &[u8; AES_BLOCK_LEN],
    ciphertext: &[u8],
) -> Result<Vec<u8>, Error> {
    decrypt_blocks(key, iv, ciphertext, "AES-CBC ciphertext")
}

pub(crate) fn decrypt_prefixed(
    key: &[u8; 32],
    input: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, Error> {
    let too_short = || Error::TooShort {
        what,
        min: 2 * AES_BLOCK_LEN,
        actual: input.len(),
    };
    if input.len() < 2 * AES_BLOCK_LEN {
        return Err(too_short());
    }
    let (iv, ciphertext) = input
        .split_first_chunk::<AES_BLOCK_LEN>()
        .ok_or_else(too_short)?;
    decrypt_blocks(key, iv, ciphertext, what)
}

fn decrypt_blocks(
    key: &[u8; 32],
    iv: &[u8; AES_BLOCK_LEN],
    ciphertext: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, Error> {
    if ciphertext.is_empty() {
        return Err(Error::TooShort {
            what,
            min: AES_BLOCK_LEN,
            actual: 0,
        });
    }
    if ciphertext.len() % AES_BLOCK_LEN != 0 {
        return Err(Error::UnalignedCiphertext {
            what,
            len: ciphertext.len(),
        });
    }
    cbc::Decryptor::<Aes256>::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map_err(|_| Error::BadPadding { what })
}

/// Length of the PKCS#7-padded form of `len` bytes (always adds 1..=16 bytes).
pub(crate) const fn padded_len(len: usize) -> usize {
    (len / AES_BLOCK_LEN + 1) * AES_BLOCK_LEN
}

/// True if `bytes` are all zero, checked in constant time (for Diffie–Hellman outputs).
pub fn is_all_zero(bytes: &[u8]) -> bool {
    let acc = bytes.iter().fold(0u8, |acc, b| acc | b);
    bool::from(acc.ct_eq(&0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_without_salt_is_rfc5869_with_a_zero_salt() {
        for ikm_len in [0, 1, 32, 80, 200] {
            let ikm: Vec<u8> = (0..ikm_len).map(|i| i as u8).collect();
            for out_len in [1, 32, 80, 255] {
                let mut ours = vec![0u8; out_len];
                hkdf_sha256(&ikm, None, b"info", &mut ours).unwrap();
                let mut reference = vec![0u8; out_len];
                Hkdf::<Sha256>::new(None, &ikm)
                    .expand(b"info", &mut reference)
                    .unwrap();
                assert_eq!(ours, reference);
                let mut explicit = vec![0u8; out_len];
                hkdf_sha256(&ikm, Some(&[0; 32]), b"info", &mut explicit).unwrap();
                assert_eq!(ours, explicit);
            }
        }
        let mut too_long = vec![0u8; HKDF_MAX_OUTPUT_LEN + 1];
        assert!(matches!(
            hkdf_sha256(b"k", None, b"", &mut too_long),
            Err(Error::HkdfOutputTooLong { requested }) if requested == HKDF_MAX_OUTPUT_LEN + 1
        ));
    }

    #[test]
    fn a_cloned_keyed_hmac_gives_the_one_shot_tags() {
        let keyed = HmacSha256::new(&[9; 32]);
        for input in [&b""[..], b"\x01", b"\x02", &[0x55; 200]] {
            let mut mac = keyed.clone();
            mac.update(input);
            assert_eq!(mac.finalize(), hmac_sha256(&[9; 32], &[input]));
        }
        assert!(!format!("{keyed:?}").contains('9'));
    }
}
