//! Incremental, IO-free decryption and verification.

use crate::encrypt::{BLOCK, MAC_LEN, RUN, encrypted_len};
use crate::sidecar::{SIDECAR_CHUNK, SIDECAR_ENTRY_LEN, SidecarHasher, sidecar_windows};
use crate::{Error, MediaKey, MediaKeys, MediaType};
use aes::cipher::inout::InOutBuf;
use aes::cipher::{BlockDecryptMut, KeyIvInit, consts::U16};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes of input always held back: the last block (its padding is checked at the end) and
/// the MAC.
const HOLD: usize = BLOCK + MAC_LEN;

/// Decryption feeds the MAC and both SHA-256s this many bytes at a time, their chains
/// interleaved as in encryption ([`crate::encrypt::STEP`]), after the whole run was decrypted
/// in one call: CBC decryption has no chain (each block needs only the ciphertext
/// before it), so one call over 16 KiB runs eight blocks at once, where 64-byte steps made
/// 256 calls of four blocks. Two SHA-256 blocks per call halve the hashes' per-call work
/// (state loaded and stored, buffer checks) and still overlap. Fewer instructions matter
/// most when the other hardware thread of the core is busy: then the interleaved chains no
/// longer run side by side for free and the pipeline is bound by what it issues (measured
/// on the 2-vCPU machine: a busy loop on the other vCPU took the old pipeline from about
/// 450 to 330 MB/s of CPU time, while `openssl speed`'s one-chain primitives did not move).
const HASH_STEP: usize = 128;

/// What the message says about the file; each field given is checked by
/// [`Decryptor::finish`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// `fileSha256`: SHA-256 of the plaintext.
    pub file_sha256: Option<[u8; 32]>,
    /// `fileEncSha256`: SHA-256 of the body `enc ‖ mac`.
    pub file_enc_sha256: Option<[u8; 32]>,
    /// `fileLength`: plaintext length. Also lets the decryptor reject an over-long body early.
    pub file_length: Option<u64>,
    /// `streamingSidecar`: when given, the decryptor checks each 64 KiB window and releases
    /// plaintext only once its window verified (see [`Decryptor::with_sidecar`]).
    pub streaming_sidecar: Option<Vec<u8>>,
}

/// What a successful decryption established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptedInfo {
    /// SHA-256 of the plaintext.
    pub file_sha256: [u8; 32],
    /// SHA-256 of the body.
    pub file_enc_sha256: [u8; 32],
    /// Plaintext length.
    pub file_length: u64,
}

struct SidecarCheck {
    hasher: SidecarHasher,
    expected: Vec<u8>,
    /// Decrypted plaintext not yet covered by a verified window.
    held: Vec<u8>,
    /// Body offset of `held[0]`'s ciphertext.
    held_from: u64,
}

/// Decrypts a body (`enc ‖ mac`) fed in pieces: `update` as often as needed, then `finish`.
///
/// Without a sidecar, `update` hands out plaintext **before** the MAC is checked: treat it
/// as provisional until `finish` returns `Ok` (and discard it on `Err`). The last block is
/// always held back, so nothing past a failed check is released by `finish`. Use
/// [`crate::decrypt_verified`] (plaintext spooled until verified) or [`Decryptor::with_sidecar`] (per-window
/// checks) when provisional plaintext is not acceptable.
///
/// With a sidecar, `update` only releases plaintext whose 64 KiB window has verified, and
/// fails on the first window that does not.
pub struct Decryptor {
    cbc: cbc::Decryptor<aes::Aes256>,
    mac: Hmac<Sha256>,
    enc_hash: Option<Sha256>,
    plain_hash: Option<Sha256>,
    tail: [u8; 64],
    tail_len: usize,
    body_seen: u64,
    body_decrypted: u64,
    plaintext_out: u64,
    expected: Expected,
    sidecar: Option<SidecarCheck>,
}

impl Decryptor {
    /// A decryptor for a body of `media_type` encrypted under `key`.
    pub fn new(key: &MediaKey, media_type: MediaType, expected: Expected) -> Decryptor {
        Decryptor::with_keys(&key.expand(media_type), expected)
    }

    /// A decryptor from expanded keys.
    pub fn with_keys(keys: &MediaKeys, expected: Expected) -> Decryptor {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(keys.mac_key())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(keys.iv());
        let sidecar = expected
            .streaming_sidecar
            .as_deref()
            .map(|entries| SidecarCheck {
                hasher: SidecarHasher::new(keys.mac_key(), keys.iv()),
                expected: entries.to_vec(),
                held: Vec::new(),
                held_from: 0,
            });
        Decryptor {
            cbc: cbc::Decryptor::new(keys.cipher_key().into(), keys.iv().into()),
            mac,
            enc_hash: Some(Sha256::new()),
            plain_hash: Some(Sha256::new()),
            tail: [0; 64],
            tail_len: 0,
            body_seen: 0,
            body_decrypted: 0,
            plaintext_out: 0,
            expected,
            sidecar,
        }
    }

    /// Checks every 64 KiB window against `streaming_sidecar` and releases plaintext only
    /// once its window verified.
    pub fn with_sidecar(mut self, keys: &MediaKeys, streaming_sidecar: &[u8]) -> Decryptor {
        self.sidecar = Some(SidecarCheck {
            hasher: SidecarHasher::new(keys.mac_key(), keys.iv()),
            expected: streaming_sidecar.to_vec(),
            held: Vec::new(),
            held_from: 0,
        });
        self
    }

    /// Leaves both SHA-256s to the caller (who computes them on another thread); the
    /// returned info then carries zeroed hashes, and `Expected`'s hashes are not checked.
    pub(crate) fn without_hashes(mut self) -> Decryptor {
        self.enc_hash = None;
        self.plain_hash = None;
        self.expected.file_sha256 = None;
        self.expected.file_enc_sha256 = None;
        self
    }

    /// Feeds the next piece of the body, appending plaintext to `out` (see the type's docs
    /// for when that plaintext is final).
    pub fn update(&mut self, body: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.body_seen += body.len() as u64;
        if let Some(file_length) = self.expected.file_length {
            let limit = encrypted_len(file_length);
            if self.body_seen > limit {
                return Err(Error::BadLength(self.body_seen));
            }
        }
        if let Some(check) = &mut self.sidecar {
            let verified = check_windows(check, body)?;
            // Decrypt into the held buffer, then release whatever verified windows cover.
            let mut held = std::mem::take(&mut check.held);
            self.feed(body, &mut held);
            let check = self
                .sidecar
                .as_mut()
                .unwrap_or_else(|| unreachable!("checked above"));
            check.held = held;
            if let Some(end) = verified {
                release(check, end, out);
            }
            Ok(())
        } else {
            self.feed(body, out);
            Ok(())
        }
    }

    /// Verifies the MAC, padding, hashes and length, and only then appends the last
    /// plaintext (and, with a sidecar, the last windows' plaintext) to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<DecryptedInfo, Error> {
        if self.body_seen < HOLD as u64 {
            return Err(Error::TooShort(self.body_seen));
        }
        if self.tail_len != HOLD {
            return Err(Error::BadLength(self.body_seen));
        }
        let (last, mac) = self.tail[..HOLD].split_at(BLOCK);
        self.mac.update(last);
        if let Some(hash) = &mut self.enc_hash {
            hash.update(&self.tail[..HOLD]);
        }
        let computed = crate::sidecar::truncate(self.mac.clone());
        if !bool::from(computed.ct_eq(mac)) {
            return Err(Error::MacMismatch);
        }
        let file_enc_sha256: [u8; 32] = self
            .enc_hash
            .take()
            .map(|hash| hash.finalize().into())
            .unwrap_or_default();
        // `is_some_and`, not a let chain: let chains need Rust 1.88, our rust-version is 1.85.
        if self
            .expected
            .file_enc_sha256
            .is_some_and(|expected| !bool::from(expected.ct_eq(&file_enc_sha256)))
        {
            return Err(Error::FileEncSha256Mismatch);
        }
        if let Some(check) = self.sidecar.take() {
            let SidecarCheck {
                hasher, expected, ..
            } = &check;
            if let Some((index, entry)) = hasher.clone().finish() {
                verify_entry(expected, index, &entry)?;
            }
            self.sidecar = Some(check);
        }
        let mut block = [0u8; BLOCK];
        block.copy_from_slice(last);
        let block_ref: &mut aes::Block = (&mut block).into();
        self.cbc.decrypt_block_mut(block_ref);
        let pad = usize::from(block[BLOCK - 1]);
        if pad == 0 || pad > BLOCK || block[BLOCK - pad..].iter().any(|&b| usize::from(b) != pad) {
            return Err(Error::BadPadding);
        }
        let last_plain = &block[..BLOCK - pad];
        if let Some(hash) = &mut self.plain_hash {
            hash.update(last_plain);
        }
        let file_length = self.body_decrypted + last_plain.len() as u64;
        let file_sha256: [u8; 32] = self
            .plain_hash
            .take()
            .map(|hash| hash.finalize().into())
            .unwrap_or_default();
        if let Some(expected) = self.expected.file_length.filter(|&e| e != file_length) {
            return Err(Error::FileLengthMismatch {
                expected,
                actual: file_length,
            });
        }
        if self
            .expected
            .file_sha256
            .is_some_and(|expected| !bool::from(expected.ct_eq(&file_sha256)))
        {
            return Err(Error::FileSha256Mismatch);
        }
        if let Some(check) = self.sidecar.take() {
            out.extend_from_slice(&check.held);
        }
        out.extend_from_slice(last_plain);
        self.plaintext_out = file_length;
        Ok(DecryptedInfo {
            file_sha256,
            file_enc_sha256,
            file_length,
        })
    }

    /// Feeds the MAC and decrypts every block that is certainly not the last one.
    fn feed(&mut self, body: &[u8], out: &mut Vec<u8>) {
        let available = self.tail_len + body.len();
        let ready = available.saturating_sub(HOLD) / BLOCK * BLOCK;
        if ready == 0 {
            self.tail[self.tail_len..available].copy_from_slice(body);
            self.tail_len = available;
            return;
        }
        // Whole blocks formed from the held tail and the head of `body`.
        let from_tail = ready.min(self.tail_len.next_multiple_of(BLOCK));
        let mut body = body;
        if from_tail > 0 {
            let from_body = from_tail.saturating_sub(self.tail_len);
            let (head, rest) = body.split_at(from_body);
            self.tail[self.tail_len..self.tail_len + from_body].copy_from_slice(head);
            body = rest;
            let joined = self.tail_len + from_body;
            let mut blocks = [0u8; 64];
            blocks[..from_tail].copy_from_slice(&self.tail[..from_tail]);
            self.tail.copy_within(from_tail..joined, 0);
            self.tail_len = joined - from_tail;
            self.decrypt_run(&blocks[..from_tail], out);
        }
        let direct = ready - from_tail;
        let (blocks, rest) = body.split_at(direct);
        out.reserve(direct);
        for run in blocks.chunks(RUN) {
            self.decrypt_run(run, out);
        }
        self.tail[self.tail_len..self.tail_len + rest.len()].copy_from_slice(rest);
        self.tail_len += rest.len();
    }

    /// Decrypts the whole blocks `run` onto `out` in one call, then MACs and hashes the
    /// ciphertext and hashes the plaintext [`HASH_STEP`] bytes at a time, so that the three
    /// dependency chains overlap in the CPU while the run is still in L1/L2.
    fn decrypt_run(&mut self, run: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + run.len(), 0);
        let fresh = &mut out[start..];
        let (blocks, _) = InOutBuf::new(run, &mut *fresh)
            .unwrap_or_else(|_| unreachable!("slices of equal length"))
            .into_chunks::<U16>();
        self.cbc.decrypt_blocks_inout_mut(blocks);
        for (cipher, plain) in run.chunks(HASH_STEP).zip(fresh.chunks(HASH_STEP)) {
            self.mac.update(cipher);
            if let Some(hash) = &mut self.enc_hash {
                hash.update(cipher);
            }
            if let Some(hash) = &mut self.plain_hash {
                hash.update(plain);
            }
        }
        self.body_decrypted += run.len() as u64;
    }
}

/// Feeds `body` to the sidecar hasher, checking each window that closes; returns the body
/// offset up to which everything is verified, if a window closed.
fn check_windows(check: &mut SidecarCheck, body: &[u8]) -> Result<Option<u64>, Error> {
    let expected = &check.expected;
    let mut verified_to = None;
    check.hasher.update(body, |index, entry| {
        verify_entry(expected, index, &entry)?;
        verified_to = Some((index + 1) * SIDECAR_CHUNK);
        Ok::<(), Error>(())
    })?;
    Ok(verified_to)
}

fn verify_entry(expected: &[u8], index: u64, entry: &[u8; SIDECAR_ENTRY_LEN]) -> Result<(), Error> {
    let at = usize::try_from(index)
        .ok()
        .and_then(|i| i.checked_mul(SIDECAR_ENTRY_LEN))
        .and_then(|start| expected.get(start..start + SIDECAR_ENTRY_LEN));
    let Some(want) = at else {
        return Err(Error::SidecarTooShort {
            have: expected.len(),
            need: (index + 1) * SIDECAR_ENTRY_LEN as u64,
        });
    };
    if bool::from(want.ct_eq(entry)) {
        Ok(())
    } else {
        Err(Error::SidecarMismatch { index })
    }
}

/// Moves the held plaintext whose ciphertext lies before `verified_end` to `out`.
fn release(check: &mut SidecarCheck, verified_end: u64, out: &mut Vec<u8>) {
    let releasable = verified_end.saturating_sub(check.held_from);
    let count = usize::try_from(releasable)
        .unwrap_or(usize::MAX)
        .min(check.held.len());
    out.extend_from_slice(&check.held[..count]);
    check.held.drain(..count);
    check.held_from += count as u64;
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("body_seen", &self.body_seen)
            .field("sidecar", &self.sidecar.is_some())
            .finish_non_exhaustive()
    }
}

/// Decrypts a whole body in memory, returning the plaintext only if every check passed.
pub fn decrypt_bytes(
    key: &MediaKey,
    media_type: MediaType,
    body: &[u8],
    expected: Expected,
) -> Result<Vec<u8>, Error> {
    let mut decryptor = Decryptor::new(key, media_type, expected);
    let mut plaintext = Vec::with_capacity(body.len());
    decryptor.update(body, &mut plaintext)?;
    decryptor.finish(&mut plaintext)?;
    Ok(plaintext)
}

/// The number of sidecar windows for a plaintext of `file_length` bytes.
pub fn windows_for_file(file_length: u64) -> u64 {
    sidecar_windows(encrypted_len(file_length))
}
