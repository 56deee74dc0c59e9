//! Thin, length-checked wrappers over the RustCrypto primitives WhatsApp uses.

use std::sync::OnceLock;

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::digest::generic_array::GenericArray;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

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
///
/// Its own buffering over the raw SHA-256 state (not the `hmac` crate's), so that whole blocks
/// are compressed straight from the caller's data, many per call, and so that the Signal
/// decryption can stitch its cipher into the compression (see `cbc_hmac`). Every byte of
/// state is wiped on drop.
#[derive(Clone)]
pub struct HmacSha256 {
    /// The inner hash's state (after the key XOR ipad block and every whole block since).
    pub(crate) inner: [u32; 8],
    /// The outer hash's state after the key XOR opad block.
    outer: [u32; 8],
    /// The inner hash's partial block.
    buffer: [u8; SHA256_BLOCK_LEN],
    /// Bytes fed so far.
    fed: u64,
}

/// SHA-256's block size.
pub(crate) const SHA256_BLOCK_LEN: usize = 64;

impl HmacSha256 {
    /// Keyed with `key` (any length).
    pub fn new(key: &[u8]) -> HmacSha256 {
        let key = HmacSha256Key::new(key);
        HmacSha256 {
            inner: key.inner,
            outer: key.outer,
            buffer: [0; SHA256_BLOCK_LEN],
            fed: 0,
        }
    }

    /// Feeds `data`.
    pub fn update(&mut self, mut data: &[u8]) {
        let used = self.block_offset();
        self.fed = self.fed.wrapping_add(data.len() as u64);
        if used > 0 {
            let take = data.len().min(SHA256_BLOCK_LEN - used);
            self.buffer[used..used + take].copy_from_slice(&data[..take]);
            data = &data[take..];
            if used + take < SHA256_BLOCK_LEN {
                return;
            }
            compress(&mut self.inner, &self.buffer);
        }
        let whole = data.len() - data.len() % SHA256_BLOCK_LEN;
        compress_blocks(&mut self.inner, &data[..whole]);
        let rest = &data[whole..];
        self.buffer[..rest.len()].copy_from_slice(rest);
    }

    /// The bytes held of the inner hash's current block (fed, not yet compressed).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn pending(&self) -> &[u8] {
        &self.buffer[..self.block_offset()]
    }

    /// Counts `len` more bytes that the caller compressed into [`HmacSha256::inner`] itself,
    /// after the [`HmacSha256::pending`] bytes (which that compression began with, if `len`
    /// is not 0): it ends on a block boundary.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn compressed(&mut self, len: usize) {
        debug_assert!(len == 0 || (self.fed + len as u64) % SHA256_BLOCK_LEN as u64 == 0);
        self.fed = self.fed.wrapping_add(len as u64);
    }

    /// The tag of everything fed.
    pub fn finalize(mut self) -> [u8; HMAC_LEN] {
        let used = self.block_offset();
        let len = (SHA256_BLOCK_LEN as u64).wrapping_add(self.fed);
        finish(&mut self.inner, &mut self.buffer, used, len);
        outer_tag(&self.outer, &self.inner, &mut self.buffer)
    }

    /// Where the inner hash is in its current 64-byte block (the key block before the data is
    /// whole). Feeding whole blocks from a block boundary lets SHA-256 compress straight from
    /// the input, with no copy through its buffer.
    pub(crate) fn block_offset(&self) -> usize {
        (self.fed % SHA256_BLOCK_LEN as u64) as usize
    }
}

impl Drop for HmacSha256 {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
        self.buffer[..].zeroize();
    }
}

impl ZeroizeOnDrop for HmacSha256 {}

impl core::fmt::Debug for HmacSha256 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HmacSha256(<keyed state redacted>)")
    }
}

/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
pub(crate) const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// One SHA-256 compression of a 64-byte block.
fn compress(state: &mut [u32; 8], block: &[u8; SHA256_BLOCK_LEN]) {
    sha2::compress256(
        state,
        core::slice::from_ref(GenericArray::from_slice(block)),
    );
}

/// SHA-256's compression of each 64-byte block of `blocks` (whole blocks), many per call on
/// x86-64's SHA instructions (the `sha2` crate takes them only as a slice of its own block
/// type, which a byte slice does not convert to without `unsafe`).
fn compress_blocks(state: &mut [u32; 8], blocks: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if let Some(kernels) = crate::x86_kernels::Kernels::detect() {
        kernels.compress(state, blocks);
        return;
    }
    for block in blocks.chunks_exact(SHA256_BLOCK_LEN) {
        compress(state, block.try_into().expect("a whole block"));
    }
}

/// An HMAC-SHA256 key as its two padded states (RFC 2104: the hash state after the key XOR
/// ipad block, and after the key XOR opad block), for MACs of short messages.
///
/// Signal's key derivations are all short HMACs: a chain key's two outputs (one byte each), and
/// HKDF's extract and expand blocks (under 100 bytes). Each then costs its own compressions and
/// nothing else: keying two, a message of up to 55 bytes two more (inner, then outer), where the
/// general-purpose `hmac` crate adds its buffer handling around each (measured: 470 ns for a
/// chain step's three HMAC operations against about 300 of compression). The states are
/// key-equivalent: wiped on drop.
#[derive(Clone)]
pub struct HmacSha256Key {
    inner: [u32; 8],
    outer: [u32; 8],
}

/// Wiped as two slices: zeroize's volatile fill of a slice takes one compiler fence, where its
/// wipe of an array fences after every element (a short HMAC's keys are made and dropped per
/// Signal message).
impl Zeroize for HmacSha256Key {
    fn zeroize(&mut self) {
        self.inner[..].zeroize();
        self.outer[..].zeroize();
    }
}

impl Drop for HmacSha256Key {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for HmacSha256Key {}

impl HmacSha256Key {
    /// Keyed with `key` (any length; over 64 bytes it is hashed first, as RFC 2104 says).
    pub fn new(key: &[u8]) -> HmacSha256Key {
        let mut block = [0u8; SHA256_BLOCK_LEN];
        if key.len() > SHA256_BLOCK_LEN {
            block[..HMAC_LEN].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let (mut inner, mut outer) = (SHA256_IV, SHA256_IV);
        block.iter_mut().for_each(|b| *b ^= 0x36);
        compress(&mut inner, &block);
        // Now XOR opad: 0x36 ^ 0x5c undoes ipad and applies opad in one pass.
        block.iter_mut().for_each(|b| *b ^= 0x36 ^ 0x5c);
        compress(&mut outer, &block);
        block[..].zeroize();
        HmacSha256Key { inner, outer }
    }

    /// The tag of the concatenation of `parts` (any length; short ones are what this is for).
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; HMAC_LEN] {
        let mut state = self.inner;
        let mut block = [0u8; SHA256_BLOCK_LEN];
        let mut used = 0;
        // The key block is the first of the inner hash.
        let mut len = SHA256_BLOCK_LEN as u64;
        for part in parts {
            len += part.len() as u64;
            let mut part = *part;
            while !part.is_empty() {
                let take = part.len().min(SHA256_BLOCK_LEN - used);
                block[used..used + take].copy_from_slice(&part[..take]);
                used += take;
                part = &part[take..];
                if used == SHA256_BLOCK_LEN {
                    compress(&mut state, &block);
                    used = 0;
                }
            }
        }
        finish(&mut state, &mut block, used, len);
        let tag = outer_tag(&self.outer, &state, &mut block);
        state.zeroize();
        tag
    }

    /// The tags of two messages under this key, computed side by side: for two messages of up
    /// to 55 bytes (one padded block each), the two inner compressions, then the two outer
    /// ones, are issued back to back. Each HMAC is a chain of dependent compressions; two
    /// independent chains interleaved let the processor overlap them (a chain key's two
    /// outputs, keying included: 0.25 µs against 0.31 for two [`HmacSha256Key::mac`] calls).
    /// Longer messages take [`HmacSha256Key::mac`] one after the other.
    pub fn mac_pair(&self, first: &[u8], second: &[u8]) -> ([u8; HMAC_LEN], [u8; HMAC_LEN]) {
        if first.len() > ONE_BLOCK_MESSAGE || second.len() > ONE_BLOCK_MESSAGE {
            return (self.mac(&[first]), self.mac(&[second]));
        }
        let mut blocks = [[0u8; SHA256_BLOCK_LEN]; 2];
        for (block, message) in blocks.iter_mut().zip([first, second]) {
            block[..message.len()].copy_from_slice(message);
            pad_last_block(
                block,
                message.len(),
                (SHA256_BLOCK_LEN + message.len()) as u64,
            );
        }
        let mut states = [self.inner, self.inner];
        compress(&mut states[0], &blocks[0]);
        compress(&mut states[1], &blocks[1]);
        // The outer hashes (see `mac`): each inner hash, padded, after the opad block.
        for (block, state) in blocks.iter_mut().zip(&states) {
            for (out, word) in block.chunks_exact_mut(4).zip(state) {
                out.copy_from_slice(&word.to_be_bytes());
            }
            pad_last_block(block, HMAC_LEN, (SHA256_BLOCK_LEN + HMAC_LEN) as u64);
        }
        states = [self.outer, self.outer];
        compress(&mut states[0], &blocks[0]);
        compress(&mut states[1], &blocks[1]);
        blocks[0][..HMAC_LEN].zeroize();
        blocks[1][..HMAC_LEN].zeroize();
        let mut tags = [[0u8; HMAC_LEN]; 2];
        for (tag, state) in tags.iter_mut().zip(states) {
            for (out, word) in tag.chunks_exact_mut(4).zip(state) {
                out.copy_from_slice(&word.to_be_bytes());
            }
        }
        (tags[0], tags[1])
    }
}

/// HMAC's outer hash: the opad block (in `outer`), then the inner hash (its final `inner`
/// state), padded, in `block`. The inner hash overwrites the block's start and the padding the
/// rest, so wiping that start leaves nothing of the message or the inner hash in it.
fn outer_tag(
    outer: &[u32; 8],
    inner: &[u32; 8],
    block: &mut [u8; SHA256_BLOCK_LEN],
) -> [u8; HMAC_LEN] {
    for (out, word) in block.chunks_exact_mut(4).zip(inner) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    let mut state = *outer;
    finish(
        &mut state,
        block,
        HMAC_LEN,
        (SHA256_BLOCK_LEN + HMAC_LEN) as u64,
    );
    block[..HMAC_LEN].zeroize();
    let mut tag = [0u8; HMAC_LEN];
    for (out, word) in tag.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    tag
}

/// The longest message whose SHA-256 padding fits in its own block (0x80 and the 8-byte length
/// after it).
const ONE_BLOCK_MESSAGE: usize = SHA256_BLOCK_LEN - 9;

/// SHA-256's final padding in a `block` that holds the last `used` (at most
/// [`ONE_BLOCK_MESSAGE`]) bytes of a message of `len` bytes: 0x80, zeros, the length in bits.
fn pad_last_block(block: &mut [u8; SHA256_BLOCK_LEN], used: usize, len: u64) {
    block[used] = 0x80;
    block[used + 1..SHA256_BLOCK_LEN - 8].fill(0);
    block[SHA256_BLOCK_LEN - 8..].copy_from_slice(&(len * 8).to_be_bytes());
}

impl core::fmt::Debug for HmacSha256Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HmacSha256Key(<redacted>)")
    }
}

/// SHA-256's final padding of `block`, which holds `used` (< 64) bytes of a message of `len`
/// bytes in all: 0x80, zeros, the length in bits; one or two compressions.
fn finish(state: &mut [u32; 8], block: &mut [u8; SHA256_BLOCK_LEN], used: usize, len: u64) {
    if used > ONE_BLOCK_MESSAGE {
        block[used] = 0x80;
        block[used + 1..].fill(0);
        compress(state, block);
        block.fill(0);
        block[SHA256_BLOCK_LEN - 8..].copy_from_slice(&(len * 8).to_be_bytes());
    } else {
        pad_last_block(block, used, len);
    }
    compress(state, block);
}

/// HKDF's extract step without a salt keys HMAC with 32 zero bytes: the same states every
/// time, so they are computed once per process (Signal derives every message's keys this way).
fn zero_salt() -> &'static HmacSha256Key {
    static ZERO_SALT: OnceLock<HmacSha256Key> = OnceLock::new();
    ZERO_SALT.get_or_init(|| HmacSha256Key::new(&[0u8; 32]))
}

/// HKDF-SHA256 (RFC 5869): extract with `salt` (`None` = 32 zero bytes, as RFC 5869 says and
/// WhatsApp uses), expand with `info` into `out`. Every HMAC is a short one
/// ([`HmacSha256Key`]): the pseudorandom key is keyed once for all the expand blocks.
///
/// # Errors
/// [`Error::HkdfOutputTooLong`] if `out` is longer than 8160 bytes.
pub fn hkdf_sha256(
    ikm: &[u8],
    salt: Option<&[u8]>,
    info: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    if out.len() > HKDF_MAX_OUTPUT_LEN {
        return Err(Error::HkdfOutputTooLong {
            requested: out.len(),
        });
    }
    let mut prk = match salt {
        Some(salt) => HmacSha256Key::new(salt).mac(&[ikm]),
        None => zero_salt().mac(&[ikm]),
    };
    let expand = HmacSha256Key::new(&prk);
    prk[..].zeroize();
    let mut block = [0u8; HMAC_LEN];
    let mut previous: &[u8] = &[];
    for (counter, chunk) in (1..=u8::MAX).zip(out.chunks_mut(HMAC_LEN)) {
        block = expand.mac(&[previous, info, &[counter]]);
        chunk.copy_from_slice(&block[..chunk.len()]);
        previous = &block;
    }
    block[..].zeroize();
    Ok(())
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
    use hkdf::Hkdf;

    use super::*;

    #[test]
    fn short_hmac_keys_give_the_hmac_crates_tags() {
        // Keys below, at and over a block; messages across the one- and two-block paddings and
        // over several blocks, in parts.
        let data: Vec<u8> = (0..300u32).map(|i| (i * 13 + 5) as u8).collect();
        for key_len in [0, 1, 32, 63, 64, 65, 100] {
            let key = &data[..key_len];
            let keyed = HmacSha256Key::new(key);
            for len in [
                0, 1, 31, 32, 54, 55, 56, 57, 63, 64, 65, 119, 120, 128, 200, 300,
            ] {
                let message = &data[data.len() - len..];
                let reference = hmac_over(key, &[message]).finalize().into_bytes();
                assert_eq!(
                    keyed.mac(&[message]),
                    reference[..],
                    "key {key_len} len {len}"
                );
                let (a, b) = message.split_at(len / 3);
                assert_eq!(
                    keyed.mac(&[a, b, b""]),
                    reference[..],
                    "key {key_len} len {len}"
                );
            }
        }
        assert!(!format!("{:?}", HmacSha256Key::new(&[7; 32])).contains('7'));
    }

    #[test]
    fn a_pair_of_tags_is_two_tags() {
        // Both messages in one block each (the interleaved path), at its limit, and past it on
        // either side (one after the other).
        let data: Vec<u8> = (0..100u32).map(|i| (i * 29 + 1) as u8).collect();
        for key_len in [0, 32, 65] {
            let keyed = HmacSha256Key::new(&data[..key_len]);
            for (a, b) in [
                (0, 0),
                (1, 1),
                (1, 32),
                (55, 54),
                (56, 1),
                (1, 56),
                (64, 100),
            ] {
                let (first, second) = (&data[..a], &data[100 - b..]);
                let expected = (
                    hmac_sha256(&data[..key_len], &[first]),
                    hmac_sha256(&data[..key_len], &[second]),
                );
                assert_eq!(
                    keyed.mac_pair(first, second),
                    expected,
                    "key {key_len} {a} {b}"
                );
            }
        }
    }

    #[test]
    fn hkdf_with_a_salt_is_rfc5869() {
        // RFC 5869, test case 1.
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let mut okm = [0u8; 42];
        hkdf_sha256(&ikm, Some(&salt), &info, &mut okm).unwrap();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
        for salt_len in [0, 1, 32, 64, 65, 80] {
            let salt = vec![0x5a; salt_len];
            for out_len in [0, 1, 32, 33, 64, 80, 255, HKDF_MAX_OUTPUT_LEN] {
                let mut ours = vec![0u8; out_len];
                hkdf_sha256(b"input key", Some(&salt), b"info", &mut ours).unwrap();
                let mut reference = vec![0u8; out_len];
                Hkdf::<Sha256>::new(Some(&salt), b"input key")
                    .expand(b"info", &mut reference)
                    .unwrap();
                assert_eq!(ours, reference, "salt {salt_len} out {out_len}");
            }
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

    proptest::proptest! {
        /// Fed in any pieces, from any key, the streamed HMAC gives the `hmac` crate's tag.
        #[test]
        fn streamed_hmac_matches_the_hmac_crate(
            key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100),
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..700),
            cuts in proptest::collection::vec(0usize..700, 0..6),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut mac = HmacSha256::new(&key);
            let mut at = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                mac.update(&data[at..cut]);
                at = cut;
            }
            let reference = hmac_over(&key, &[&data]).finalize().into_bytes();
            proptest::prop_assert_eq!(&mac.finalize()[..], &reference[..]);
        }
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
