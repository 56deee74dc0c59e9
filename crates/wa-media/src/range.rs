//! Random access: verify and decrypt any byte range of a file that has a streaming sidecar,
//! fetching only the 64 KiB windows that cover it.

use crate::encrypt::{BLOCK, MAC_LEN, encrypted_len};
use crate::sidecar::{SIDECAR_CHUNK, SIDECAR_ENTRY_LEN, SIDECAR_OVERLAP};
use crate::{Error, MediaKeys};
use aes::cipher::inout::InOutBuf;
use aes::cipher::{BlockDecryptMut, KeyIvInit, consts::U16};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The largest `fileLength` a [`RangePlan`] accepts.
const MAX_FILE_LENGTH: u64 = u64::MAX / 2;

/// Which bytes of the body to fetch to decrypt a plaintext range, and how to check them.
///
/// ```
/// use wa_media::RangePlan;
/// // Bytes 100 000..100 100 of a 1 MB video lie in window 1: fetch its IV block and chunk.
/// let plan = RangePlan::new(1_000_000, 100_000, 100_100).unwrap();
/// assert_eq!((plan.fetch_start(), plan.fetch_end()), (65536 - 16, 131072));
/// assert_eq!(plan.http_range(), "bytes=65520-131071");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangePlan {
    plain_start: u64,
    plain_end: u64,
    body_len: u64,
    first_window: u64,
    last_window: u64,
}

impl RangePlan {
    /// Plans `plain_start..plain_end` (a non-empty range) of a file whose plaintext is
    /// `file_length` bytes (the message's `fileLength`).
    pub fn new(file_length: u64, plain_start: u64, plain_end: u64) -> Result<RangePlan, Error> {
        // Keeps the body length and window arithmetic below far from u64 overflow.
        if file_length > MAX_FILE_LENGTH {
            return Err(Error::FileLengthTooLarge(file_length));
        }
        if plain_start >= plain_end || plain_end > file_length {
            return Err(Error::RangeOutOfBounds {
                start: plain_start,
                end: plain_end,
                len: file_length,
            });
        }
        Ok(RangePlan {
            plain_start,
            plain_end,
            body_len: encrypted_len(file_length),
            first_window: plain_start / SIDECAR_CHUNK,
            last_window: (plain_end - 1) / SIDECAR_CHUNK,
        })
    }

    /// First body byte to fetch.
    pub fn fetch_start(&self) -> u64 {
        (self.first_window * SIDECAR_CHUNK).saturating_sub(SIDECAR_OVERLAP as u64)
    }

    /// One past the last body byte to fetch.
    pub fn fetch_end(&self) -> u64 {
        ((self.last_window + 1) * SIDECAR_CHUNK).min(self.body_len)
    }

    /// The HTTP `Range` header value for the fetch.
    pub fn http_range(&self) -> String {
        format!("bytes={}-{}", self.fetch_start(), self.fetch_end() - 1)
    }

    /// Verifies each window of `fetched` (the body bytes `fetch_start..fetch_end`) against
    /// the sidecar, then decrypts and returns exactly the planned plaintext range.
    pub fn decrypt(
        &self,
        keys: &MediaKeys,
        streaming_sidecar: &[u8],
        fetched: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let fetch_start = self.fetch_start();
        let expected_len = self.fetch_end() - fetch_start;
        if fetched.len() as u64 != expected_len {
            return Err(Error::RangeDataLength {
                expected: expected_len,
                got: fetched.len() as u64,
            });
        }
        let need = (self.last_window + 1) * SIDECAR_ENTRY_LEN as u64;
        if (streaming_sidecar.len() as u64) < need {
            return Err(Error::SidecarTooShort {
                have: streaming_sidecar.len(),
                need,
            });
        }
        // Offsets into `fetched` are body offsets minus fetch_start; all fit in usize because
        // `fetched` itself does.
        let local = |body_offset: u64| (body_offset - fetch_start) as usize;
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(keys.mac_key())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        for window in self.first_window..=self.last_window {
            let chunk_start = window * SIDECAR_CHUNK;
            let chunk_end = ((window + 1) * SIDECAR_CHUNK).min(self.body_len);
            let mut mac = keyed.clone();
            if window == 0 {
                mac.update(keys.iv());
                mac.update(&fetched[..local(chunk_end)]);
            } else {
                let from = chunk_start - SIDECAR_OVERLAP as u64;
                mac.update(&fetched[local(from)..local(chunk_end)]);
            }
            let entry = crate::sidecar::truncate(mac);
            let at = (window as usize) * SIDECAR_ENTRY_LEN;
            let want = &streaming_sidecar[at..at + SIDECAR_ENTRY_LEN];
            if !bool::from(want.ct_eq(&entry)) {
                return Err(Error::SidecarMismatch { index: window });
            }
        }
        let enc_len = self.body_len - MAC_LEN as u64;
        let cipher_start = self.first_window * SIDECAR_CHUNK;
        let cipher_end = self.fetch_end().min(enc_len);
        let mut iv = [0u8; BLOCK];
        if self.first_window == 0 {
            iv.copy_from_slice(keys.iv());
        } else {
            let at = local(cipher_start - BLOCK as u64);
            iv.copy_from_slice(&fetched[at..at + BLOCK]);
        }
        let mut plain = fetched[local(cipher_start)..local(cipher_end)].to_vec();
        let mut cbc = cbc::Decryptor::<aes::Aes256>::new(keys.cipher_key().into(), (&iv).into());
        let (blocks, _) = InOutBuf::from(plain.as_mut_slice()).into_chunks::<U16>();
        cbc.decrypt_blocks_inout_mut(blocks);
        let from = (self.plain_start - cipher_start) as usize;
        let to = (self.plain_end - cipher_start) as usize;
        plain.truncate(to);
        plain.drain(..from);
        Ok(plain)
    }
}
