//! Thin, length-checked wrappers over the RustCrypto primitives WhatsApp uses.

use std::sync::OnceLock;

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::inout::InOutBuf;
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
pub struct HmacSha256(RawHmac);

impl HmacSha256 {
    /// Keyed with `key` (any length).
    pub fn new(key: &[u8]) -> HmacSha256 {
        HmacSha256(keyed(key))
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The tag of everything fed.
    pub fn finalize(self) -> [u8; HMAC_LEN] {
        self.0.finalize().into_bytes().into()
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

/// AES-256-CBC with PKCS#7 under the given IV, the ciphertext appended to `out` (whose spare
/// capacity is used: a caller that frames the ciphertext reserves for the frame and writes it
/// once, with no copy), and fed to `mac` as it is produced, one kilobyte at a time, while that
/// part is still in the first-level cache: the MAC costs no second pass over memory.
pub fn aes256_cbc_encrypt_append(
    key: &[u8; 32],
    iv: &[u8; AES_BLOCK_LEN],
    plaintext: &[u8],
    out: &mut Vec<u8>,
    mut mac: Option<&mut HmacSha256>,
) {
    /// Blocks per step: 1 KiB, well inside any L1 data cache with the MAC's state.
    const CHUNK_BLOCKS: usize = 64;
    let mut cipher = cbc::Encryptor::<Aes256>::new(key.into(), iv.into());
    let start = out.len();
    out.resize(start + padded_len(plaintext.len()), 0);
    let whole = plaintext.len() - plaintext.len() % AES_BLOCK_LEN;
    let (body, last) = out[start..].split_at_mut(whole);
    let (plain_body, tail) = plaintext.split_at(whole);
    for (input, output) in plain_body
        .chunks(CHUNK_BLOCKS * AES_BLOCK_LEN)
        .zip(body.chunks_mut(CHUNK_BLOCKS * AES_BLOCK_LEN))
    {
        let buf = InOutBuf::new(input, output).expect("chunks of equal length");
        let (blocks, rest) = buf.into_chunks();
        debug_assert!(rest.is_empty(), "whole blocks only");
        cipher.encrypt_blocks_inout_mut(blocks);
        if let Some(mac) = mac.as_deref_mut() {
            mac.update(output);
        }
    }
    // PKCS#7: the final block holds the tail and 1..=16 bytes of the pad length.
    let pad = (AES_BLOCK_LEN - tail.len()) as u8;
    let mut final_block = [pad; AES_BLOCK_LEN];
    final_block[..tail.len()].copy_from_slice(tail);
    let last: &mut [u8; AES_BLOCK_LEN] = last.try_into().expect("one block remains");
    cipher.encrypt_block_b2b_mut(&final_block.into(), last.into());
    zeroize::Zeroize::zeroize(&mut final_block);
    if let Some(mac) = mac {
        mac.update(last);
    }
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
    fn cbc_append_with_mac_matches_the_one_shot_functions() {
        let key = [0x42; 32];
        let iv = [0x24; AES_BLOCK_LEN];
        let data: Vec<u8> = (0..10_300u32).map(|i| (i * 7 + 3) as u8).collect();
        // Every tail length, lengths around the 1-KiB step, and a 10-KiB message.
        let lengths = (0..=40).chain([1023, 1024, 1025, 2047, 2048, 2049, 10_240, 10_255]);
        for len in lengths {
            let plaintext = &data[..len];
            let mut out = b"header".to_vec();
            let mut mac = HmacSha256::new(b"mac key");
            mac.update(b"header");
            aes256_cbc_encrypt_append(&key, &iv, plaintext, &mut out, Some(&mut mac));
            let expected = aes256_cbc_encrypt_with_iv(&key, &iv, plaintext);
            assert_eq!(&out[..6], b"header", "len {len}");
            assert_eq!(out[6..], expected[..], "len {len}");
            assert_eq!(
                mac.finalize(),
                hmac_sha256(b"mac key", &[&out]),
                "len {len}"
            );
            assert_eq!(
                aes256_cbc_decrypt_with_iv(&key, &iv, &out[6..]).unwrap(),
                plaintext
            );
            let mut bare = Vec::new();
            aes256_cbc_encrypt_append(&key, &iv, plaintext, &mut bare, None);
            assert_eq!(bare, expected);
        }
    }

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
