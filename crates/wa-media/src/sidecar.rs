//! The streaming sidecar: one truncated HMAC per 64 KiB window, so a player can verify and
//! decrypt any part of a video or audio file on its own.
//!
//! # Which bytes a window covers
//!
//! Let `S = iv ‖ enc ‖ mac` (the key's IV followed by the uploaded body). Window `i` is
//! `S[i·65536 .. i·65536 + 65552]` (clipped to `S`'s end), for every `i` with
//! `i·65536 < len(S) − 16`; its entry is `HMAC-SHA256(macKey, window)[..10]`, and the sidecar
//! is the entries concatenated.
//!
//! So window `i` is exactly "the 16 bytes CBC needs as IV for chunk `i`" followed by chunk
//! `i` of the body (`body[i·65536 .. (i+1)·65536]`): verifying a window authenticates the
//! ciphertext and the IV needed to decrypt it, and nothing else. This is what WhatsApp's own
//! web client computes (2020 `app.js`), and what implementations checked against media and
//! sidecars produced by WhatsApp do. Some libraries window over `enc ‖ mac` without the
//! leading IV (each window then ends with the *next* chunk's first block); WhatsApp's
//! players would reject such sidecars, so this crate does not produce them.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of body each window advances by.
pub const SIDECAR_CHUNK: u64 = 65536;
/// Bytes a window overlaps the previous one by (one AES block: the CBC IV of its chunk).
pub const SIDECAR_OVERLAP: usize = 16;
/// Bytes of each sidecar entry (a truncated HMAC-SHA256).
pub const SIDECAR_ENTRY_LEN: usize = 10;

const WINDOW: u64 = SIDECAR_CHUNK + SIDECAR_OVERLAP as u64;

/// How many windows (entries) the sidecar of a body of `body_len` bytes (`enc ‖ mac`) has.
pub fn sidecar_windows(body_len: u64) -> u64 {
    body_len.div_ceil(SIDECAR_CHUNK)
}

/// The sidecar's length in bytes for a body of `body_len` bytes.
pub fn sidecar_len(body_len: u64) -> u64 {
    sidecar_windows(body_len) * SIDECAR_ENTRY_LEN as u64
}

/// Computes window MACs incrementally over a body fed in pieces of any size.
#[derive(Clone)]
pub(crate) struct SidecarHasher {
    keyed: Hmac<Sha256>,
    current: Hmac<Sha256>,
    /// Bytes of `S` fed into the current window so far (starts at 16: the IV).
    in_window: u64,
    /// The last 16 bytes of `S` seen: the next window's first bytes when this one closes.
    last: [u8; SIDECAR_OVERLAP],
    completed: u64,
}

impl SidecarHasher {
    pub(crate) fn new(mac_key: &[u8; 32], iv: &[u8; 16]) -> SidecarHasher {
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(mac_key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        let mut current = keyed.clone();
        current.update(iv);
        SidecarHasher {
            keyed,
            current,
            in_window: SIDECAR_OVERLAP as u64,
            last: *iv,
            completed: 0,
        }
    }

    /// Feeds body bytes; calls `on_window(index, entry)` for each window that closes.
    pub(crate) fn update<E>(
        &mut self,
        mut data: &[u8],
        mut on_window: impl FnMut(u64, [u8; SIDECAR_ENTRY_LEN]) -> Result<(), E>,
    ) -> Result<(), E> {
        while !data.is_empty() {
            let room = usize::try_from(WINDOW - self.in_window).unwrap_or(usize::MAX);
            let take = room.min(data.len());
            let (now, rest) = data.split_at(take);
            self.current.update(now);
            self.remember_last(now);
            self.in_window += take as u64;
            data = rest;
            if self.in_window == WINDOW {
                let next = self.keyed.clone();
                let done = std::mem::replace(&mut self.current, next);
                let entry = truncate(done);
                self.current.update(&self.last);
                self.in_window = SIDECAR_OVERLAP as u64;
                let index = self.completed;
                self.completed += 1;
                on_window(index, entry)?;
            }
        }
        Ok(())
    }

    /// Closes the last window; `None` when it holds only the overlap (no body of its own).
    pub(crate) fn finish(self) -> Option<(u64, [u8; SIDECAR_ENTRY_LEN])> {
        (self.in_window > SIDECAR_OVERLAP as u64).then(|| (self.completed, truncate(self.current)))
    }

    fn remember_last(&mut self, bytes: &[u8]) {
        if let Some(tail) = bytes
            .len()
            .checked_sub(SIDECAR_OVERLAP)
            .map(|at| &bytes[at..])
        {
            self.last.copy_from_slice(tail);
        } else {
            self.last.copy_within(bytes.len().., 0);
            let keep = SIDECAR_OVERLAP - bytes.len();
            self.last[keep..].copy_from_slice(bytes);
        }
    }
}

pub(crate) fn truncate(mac: Hmac<Sha256>) -> [u8; SIDECAR_ENTRY_LEN] {
    let full = mac.finalize().into_bytes();
    let mut entry = [0u8; SIDECAR_ENTRY_LEN];
    entry.copy_from_slice(&full[..SIDECAR_ENTRY_LEN]);
    entry
}

/// Builds a whole sidecar from a body fed in pieces (memory: 10 bytes per 64 KiB).
#[derive(Clone)]
pub struct SidecarBuilder {
    hasher: SidecarHasher,
    entries: Vec<u8>,
}

impl SidecarBuilder {
    /// A builder for media with these keys (the window MACs use `macKey`, window 0 starts
    /// with `iv`).
    pub fn new(keys: &crate::MediaKeys) -> SidecarBuilder {
        SidecarBuilder {
            hasher: SidecarHasher::new(keys.mac_key(), keys.iv()),
            entries: Vec::new(),
        }
    }

    /// Feeds the next bytes of the body (`enc ‖ mac`).
    pub fn update(&mut self, body: &[u8]) {
        let entries = &mut self.entries;
        let result: Result<(), std::convert::Infallible> = self.hasher.update(body, |_, entry| {
            entries.extend_from_slice(&entry);
            Ok(())
        });
        let Ok(()) = result;
    }

    /// The sidecar of everything fed.
    pub fn finish(mut self) -> Vec<u8> {
        if let Some((_, entry)) = self.hasher.finish() {
            self.entries.extend_from_slice(&entry);
        }
        self.entries
    }
}

/// The sidecar of a whole body in memory.
pub fn compute_sidecar(keys: &crate::MediaKeys, body: &[u8]) -> Vec<u8> {
    let mut builder = SidecarBuilder::new(keys);
    builder.update(body);
    builder.finish()
}
