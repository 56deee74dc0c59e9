//! Incremental, IO-free encryption.

use crate::sidecar::SidecarBuilder;
use crate::{MediaKey, MediaKeys, MediaType};
use aes::cipher::inout::InOutBuf;
use aes::cipher::{BlockEncryptMut, KeyIvInit, consts::U16};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Length of the MAC appended to the ciphertext.
pub const MAC_LEN: usize = 10;
/// AES block size.
pub const BLOCK: usize = 16;

/// Ciphertext is produced and hashed in runs of this size so each run is still in L1/L2 when
/// the MAC and hash read it back.
pub(crate) const RUN: usize = 16 * 1024;

/// Within a run, ciphertext is produced and fed to the MAC and hashes 64 bytes (one SHA-256
/// block) at a time. CBC encryption is one long dependency chain (each block's 14 AES rounds
/// wait for the block before), and so is each SHA-256: interleaved this finely, the
/// independent chains sit in the CPU's reorder window together and run side by side, which
/// is faster than the sum of the primitives alone (the limit `openssl speed` sets, one at a
/// time). At 256 bytes and more the overlap is lost.
pub(crate) const STEP: usize = 64;

/// The length of the body (`enc ‖ mac`) for a plaintext of `file_length` bytes.
pub fn encrypted_len(file_length: u64) -> u64 {
    (file_length / BLOCK as u64 + 1) * BLOCK as u64 + MAC_LEN as u64
}

/// What an encryption produced besides the body, i.e. what goes into the media message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedInfo {
    /// The 10-byte MAC (also the body's last 10 bytes).
    pub mac: [u8; MAC_LEN],
    /// SHA-256 of the plaintext (`fileSha256`).
    pub file_sha256: [u8; 32],
    /// SHA-256 of the body `enc ‖ mac` (`fileEncSha256`; also the upload token).
    pub file_enc_sha256: [u8; 32],
    /// Plaintext length (`fileLength`).
    pub file_length: u64,
    /// Body length (`enc ‖ mac`).
    pub encrypted_length: u64,
    /// The streaming sidecar, for video and audio types (`streamingSidecar`).
    pub streaming_sidecar: Option<Vec<u8>>,
}

/// Encrypts a file fed in pieces: `update` as often as needed, then `finish`.
///
/// Memory stays constant (a partial block, hash states, and 10 bytes of sidecar per 64 KiB).
///
/// ```
/// use wa_media::{Encryptor, MediaKey, MediaType};
/// let key = MediaKey::from_array([7; 32]);
/// let mut enc = Encryptor::new(&key, MediaType::Document);
/// let mut body = Vec::new();
/// enc.update(b"hello ", &mut body);
/// enc.update(b"world", &mut body);
/// let info = enc.finish(&mut body);
/// assert_eq!(body.len() as u64, info.encrypted_length);
/// assert_eq!(info.file_length, 11);
/// ```
pub struct Encryptor {
    cbc: cbc::Encryptor<aes::Aes256>,
    mac: Hmac<Sha256>,
    plain_hash: Option<Sha256>,
    enc_hash: Option<Sha256>,
    partial: [u8; BLOCK],
    partial_len: usize,
    file_length: u64,
    encrypted_length: u64,
    sidecar: Option<SidecarBuilder>,
}

impl Encryptor {
    /// An encryptor for `media_type`; video and audio types also build a streaming sidecar.
    pub fn new(key: &MediaKey, media_type: MediaType) -> Encryptor {
        Encryptor::with_keys(&key.expand(media_type), media_type.is_streamable())
    }

    /// An encryptor from expanded keys, building a sidecar if `sidecar` is set.
    pub fn with_keys(keys: &MediaKeys, sidecar: bool) -> Encryptor {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(keys.mac_key())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(keys.iv());
        Encryptor {
            cbc: cbc::Encryptor::new(keys.cipher_key().into(), keys.iv().into()),
            mac,
            plain_hash: Some(Sha256::new()),
            enc_hash: Some(Sha256::new()),
            partial: [0; BLOCK],
            partial_len: 0,
            file_length: 0,
            encrypted_length: 0,
            sidecar: sidecar.then(|| SidecarBuilder::new(keys)),
        }
    }

    /// Leaves both SHA-256s and the sidecar to the caller (who computes them on another
    /// thread); returns the sidecar builder, if this encryptor had one.
    pub(crate) fn without_hashes(&mut self) -> Option<SidecarBuilder> {
        self.plain_hash = None;
        self.enc_hash = None;
        self.sidecar.take()
    }

    /// Encrypts `plaintext`, appending whole blocks of ciphertext to `out` (a trailing partial
    /// block is kept until more input or `finish`).
    pub fn update(&mut self, mut plaintext: &[u8], out: &mut Vec<u8>) {
        self.file_length += plaintext.len() as u64;
        if self.partial_len > 0 {
            let take = (BLOCK - self.partial_len).min(plaintext.len());
            let (head, rest) = plaintext.split_at(take);
            self.partial[self.partial_len..self.partial_len + take].copy_from_slice(head);
            self.partial_len += take;
            plaintext = rest;
            if self.partial_len < BLOCK {
                return;
            }
            let block = self.partial;
            self.partial_len = 0;
            self.encrypt_run(&block, out);
        }
        let whole = plaintext.len() - plaintext.len() % BLOCK;
        let (blocks, rest) = plaintext.split_at(whole);
        out.reserve(whole);
        for run in blocks.chunks(RUN) {
            self.encrypt_run(run, out);
        }
        self.partial[..rest.len()].copy_from_slice(rest);
        self.partial_len = rest.len();
    }

    /// Pads and encrypts the rest, appends it and the MAC to `out`, and returns the message
    /// fields.
    pub fn finish(mut self, out: &mut Vec<u8>) -> EncryptedInfo {
        let pad = BLOCK - self.partial_len;
        let mut last = self.partial;
        last[self.partial_len..].fill(pad as u8);
        // The padding is not part of the file: hash the plaintext here, not in `encrypt_run`.
        let plain_hash = self.plain_hash.take().map(|mut hash| {
            hash.update(&last[..self.partial_len]);
            hash
        });
        self.encrypt_run(&last, out);
        self.plain_hash = plain_hash;
        let mac = crate::sidecar::truncate(self.mac.clone());
        out.extend_from_slice(&mac);
        self.encrypted_length += MAC_LEN as u64;
        let streaming_sidecar = self.sidecar.take().map(|mut builder| {
            builder.update(&mac);
            builder.finish()
        });
        let file_enc_sha256 = self
            .enc_hash
            .take()
            .map(|mut hash| {
                hash.update(mac);
                hash.finalize().into()
            })
            .unwrap_or_default();
        let file_sha256 = self
            .plain_hash
            .take()
            .map(|hash| hash.finalize().into())
            .unwrap_or_default();
        EncryptedInfo {
            mac,
            file_sha256,
            file_enc_sha256,
            file_length: self.file_length,
            encrypted_length: self.encrypted_length,
            streaming_sidecar,
        }
    }

    /// Encrypts the plaintext `run` (whole blocks) onto `out`, [`STEP`] bytes at a time, each
    /// step hashed as plaintext and fed as ciphertext to the MAC and the body hash right
    /// after it is encrypted; then the sidecar reads the run while it is in the L1 cache.
    fn encrypt_run(&mut self, run: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + run.len(), 0);
        let fresh = &mut out[start..];
        for (plain, cipher) in run.chunks(STEP).zip(fresh.chunks_mut(STEP)) {
            let (blocks, _) = InOutBuf::new(plain, cipher)
                .unwrap_or_else(|_| unreachable!("chunks of equal length"))
                .into_chunks::<U16>();
            self.cbc.encrypt_blocks_inout_mut(blocks);
            if let Some(hash) = &mut self.plain_hash {
                hash.update(plain);
            }
            self.mac.update(cipher);
            if let Some(hash) = &mut self.enc_hash {
                hash.update(&*cipher);
            }
        }
        if let Some(sidecar) = &mut self.sidecar {
            sidecar.update(fresh);
        }
        self.encrypted_length += run.len() as u64;
    }
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor")
            .field("file_length", &self.file_length)
            .finish_non_exhaustive()
    }
}

/// Encrypts a whole file in memory: the body `enc ‖ mac` and the message fields.
pub fn encrypt_bytes(
    key: &MediaKey,
    media_type: MediaType,
    plaintext: &[u8],
) -> (Vec<u8>, EncryptedInfo) {
    let mut encryptor = Encryptor::new(key, media_type);
    let capacity = usize::try_from(encrypted_len(plaintext.len() as u64)).unwrap_or(0);
    let mut body = Vec::with_capacity(capacity);
    encryptor.update(plaintext, &mut body);
    let info = encryptor.finish(&mut body);
    (body, info)
}
