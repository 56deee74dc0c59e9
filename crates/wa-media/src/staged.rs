//! Verified decryption into a destination that is handed over only once every check passed:
//! one pass over the source, and no copy of the plaintext after it.
//!
//! Why: [`crate::decrypt_verified`] has to hold the plaintext back somewhere and copy it to
//! its writer at the end, which for a large file means writing it to a spool and reading it
//! back, about a third of the work of decrypting it. Most callers want the plaintext in a
//! file anyway. Writing it into a private temporary file next to that file and renaming the
//! temporary file into place after the MAC verified gives the same guarantee (nothing
//! unverified is ever visible at the destination, and a failed check leaves no file) with the
//! plaintext written once and never read back. [`HoldBack`] is the general form: a sink with
//! commit-or-discard semantics, so a caller can stage elsewhere (a database blob, an object
//! store's multipart upload) and still decrypt in one pass.

use crate::io::read_some;
use crate::{DecryptedInfo, Decryptor, Error, Expected, MediaKeys};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// A sink for plaintext that is not verified yet: it keeps what [`HoldBack::hold`] gives
/// where nobody else can see it, releases all of it on [`HoldBack::commit`], and discards it
/// when dropped without a commit (which is what a failed check does).
pub trait HoldBack {
    /// What the caller gets back on commit (the opened file, the collected bytes).
    type Committed;

    /// Takes the next plaintext, in order. Not visible to anyone until the commit.
    fn hold(&mut self, plain: &[u8]) -> io::Result<()>;

    /// Every check passed: makes everything held visible at once.
    fn commit(self) -> io::Result<Self::Committed>;
}

/// Decrypts the body (`enc ‖ mac`) read once from `reader` into `sink`, and commits the sink
/// only after the length, the MAC, padding and every hash `expected` gives passed. On `Err`
/// the sink is dropped uncommitted, whatever the reader yielded.
pub fn decrypt_verified_into<R: Read, H: HoldBack>(
    mut reader: R,
    mut sink: H,
    keys: &MediaKeys,
    expected: Expected,
) -> Result<(DecryptedInfo, H::Committed), Error> {
    let mut decryptor = Decryptor::with_keys(keys, expected);
    let mut body = vec![0u8; PIECE];
    let mut plain = Vec::with_capacity(PIECE + 64);
    loop {
        let n = read_some(&mut reader, &mut body)?;
        plain.clear();
        if n == 0 {
            let info = decryptor.finish(&mut plain)?;
            sink.hold(&plain)?;
            return Ok((info, sink.commit()?));
        }
        decryptor.update(&body[..n], &mut plain)?;
        sink.hold(&plain)?;
    }
}

/// Size of the pieces read and written: small enough that a piece's plaintext is still in
/// the CPU's cache when it is written out, large enough that system calls cost nothing.
const PIECE: usize = 256 * 1024;

/// Verified decryption straight to `dest`: the plaintext goes into a private (mode 0600)
/// temporary file in `dest`'s directory, which is renamed to `dest` only once every check
/// passed (replacing a file there). On `Err`, `dest` is untouched and the temporary file is
/// gone. One pass over the source and one write of the plaintext: no spool to read back.
///
/// The rename makes the file appear whole to other processes; it is not a durability
/// barrier (call `sync_all` on the returned file if the plaintext must survive a power cut).
/// The returned file is open for writing, positioned at its end.
pub fn decrypt_verified_to_file<R: Read>(
    reader: R,
    dest: impl AsRef<Path>,
    keys: &MediaKeys,
    expected: Expected,
) -> Result<(DecryptedInfo, File), Error> {
    let mut staged = StagedFile::new(dest)?;
    staged.claimed = expected.file_length;
    decrypt_verified_into(reader, staged, keys, expected)
}

/// A [`HoldBack`] that stages plaintext in a temporary file next to its destination and
/// renames it into place on commit; dropped uncommitted, the temporary file is deleted.
///
/// Disk blocks are reserved ahead of the writes (`fallocate` on Linux, [`RESERVE_STEP`] at a
/// time, never past the length the message claims): a write into reserved blocks costs the
/// kernel about a third less than one that allocates as it goes. The reservation follows the
/// bytes actually written, so a false claim reserves at most one step more than was received.
#[derive(Debug)]
pub struct StagedFile {
    temp: tempfile::NamedTempFile,
    dest: PathBuf,
    /// Bytes held so far.
    written: u64,
    /// Bytes of disk reserved so far.
    reserved: u64,
    /// The plaintext length the message claims, if known: no reservation goes past it.
    claimed: Option<u64>,
}

/// How far ahead of the writes [`StagedFile`] reserves disk blocks.
pub const RESERVE_STEP: u64 = 8 * 1024 * 1024;

impl StagedFile {
    /// Stages for `dest`, in its directory (so that the commit is a rename, never a copy
    /// across file systems).
    pub fn new(dest: impl AsRef<Path>) -> io::Result<StagedFile> {
        let dest = dest.as_ref().to_path_buf();
        let dir = match dest.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".wa-media-")
            .suffix(".part")
            .tempfile_in(dir)?;
        Ok(StagedFile {
            temp,
            dest,
            written: 0,
            reserved: 0,
            claimed: None,
        })
    }

    /// Reserves disk blocks up to [`RESERVE_STEP`] past `needed` (capped at the claimed
    /// length), without changing the file's size. Best effort: a file system that cannot
    /// reserve just allocates as it writes.
    fn reserve(&mut self, needed: u64) {
        if needed <= self.reserved {
            return;
        }
        let mut target = needed.saturating_add(RESERVE_STEP);
        if let Some(claimed) = self.claimed {
            target = target.min(claimed.max(needed));
        }
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{FallocateFlags, fallocate};
            let _ = fallocate(
                self.temp.as_file(),
                FallocateFlags::KEEP_SIZE,
                self.reserved,
                target - self.reserved,
            );
        }
        self.reserved = target;
    }
}

impl HoldBack for StagedFile {
    type Committed = File;

    fn hold(&mut self, plain: &[u8]) -> io::Result<()> {
        let end = self.written + plain.len() as u64;
        self.reserve(end);
        self.temp.as_file_mut().write_all(plain)?;
        self.written = end;
        Ok(())
    }

    fn commit(self) -> io::Result<File> {
        if self.reserved > self.written {
            // Gives back blocks reserved past the end (kept by `KEEP_SIZE` otherwise).
            self.temp.as_file().set_len(self.written)?;
        }
        self.temp.persist(&self.dest).map_err(|e| e.error)
    }
}

/// Memory as a [`HoldBack`], for small media: the bytes are the commit's result.
impl HoldBack for Vec<u8> {
    type Committed = Vec<u8>;

    fn hold(&mut self, plain: &[u8]) -> io::Result<()> {
        self.extend_from_slice(plain);
        Ok(())
    }

    fn commit(self) -> io::Result<Vec<u8>> {
        Ok(self)
    }
}
