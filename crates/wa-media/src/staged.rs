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
    decrypt_verified_into(reader, StagedFile::new(dest)?, keys, expected)
}

/// A [`HoldBack`] that stages plaintext in a temporary file next to its destination and
/// renames it into place on commit; dropped uncommitted, the temporary file is deleted.
#[derive(Debug)]
pub struct StagedFile {
    temp: tempfile::NamedTempFile,
    dest: PathBuf,
}

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
        Ok(StagedFile { temp, dest })
    }
}

impl HoldBack for StagedFile {
    type Committed = File;

    fn hold(&mut self, plain: &[u8]) -> io::Result<()> {
        self.temp.as_file_mut().write_all(plain)
    }

    fn commit(self) -> io::Result<File> {
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
