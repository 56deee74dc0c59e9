//! Verified decryption in one pass over the source: plaintext is spooled until every check
//! passed, and only then handed to the writer.
//!
//! Why a spool: the MAC covers the whole body, so no plaintext can be released before the
//! last byte was read. Reading the source twice (verify, then decrypt) is slower and is not
//! safe either: a source that changes between the passes (a file being rewritten) gets its
//! changed blocks written before the second pass notices. Holding the plaintext back in a
//! place only this call holds keeps the contract whatever the source does, and memory flat:
//! the first [`SPOOL_MEMORY`] bytes stay in memory, the rest goes to an unnamed temporary
//! file (or to the spool the caller gives [`decrypt_verified_via`]).

use crate::io::{IO_BUF, read_some};
use crate::{DecryptedInfo, Decryptor, Error, Expected, MediaKeys};
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Plaintext kept in memory before [`decrypt_verified`] spills to a temporary file: most
/// images and voice notes fit, so they never touch the disk.
pub const SPOOL_MEMORY: usize = 1024 * 1024;

/// Verified decryption: reads the body (`enc ‖ mac`) from `reader` once, checks the length,
/// the MAC, padding and every hash `expected` gives, and writes the plaintext to `writer`
/// only after all of them passed. On `Err` nothing at all has been written, whatever the
/// reader yields (even a source that changes while it is read).
///
/// Up to [`SPOOL_MEMORY`] bytes of plaintext are held in memory; beyond that the plaintext is
/// spooled to an unnamed temporary file in [`std::env::temp_dir`] (gone when the call
/// returns, even on a crash). Use [`decrypt_verified_via`] to choose the spool.
pub fn decrypt_verified<R: Read, W: Write>(
    reader: R,
    writer: W,
    keys: &MediaKeys,
    expected: Expected,
) -> Result<DecryptedInfo, Error> {
    let mut spool = MemoryThenFile::default();
    let info = spool_verified(reader, &mut spool, keys, expected)?;
    spool.copy_to(writer)?;
    Ok(info)
}

/// [`decrypt_verified`] on two threads: the source is decrypted with
/// [`crate::decrypt_stream_parallel`] into the spool (a second thread hashes), and the
/// plaintext is copied to `writer` only once every check passed.
pub fn decrypt_verified_parallel<R: Read, W: Write>(
    reader: R,
    writer: W,
    keys: &MediaKeys,
    expected: Expected,
) -> Result<DecryptedInfo, Error> {
    let mut spool = MemoryThenFile::default();
    let info = crate::decrypt_stream_parallel(reader, &mut spool, keys, expected)?;
    spool.copy_to(writer)?;
    Ok(info)
}

/// [`decrypt_verified`] with a spool of the caller's choice (a file on the destination's
/// disk, a `Cursor<Vec<u8>>` for small media): the plaintext is written to `spool` from its
/// current end of data, and copied to `writer` only once every check passed. `spool` must
/// be private to this process: what it holds when the checks pass is what `writer` gets.
pub fn decrypt_verified_via<R: Read, S: Read + Write + Seek, W: Write>(
    reader: R,
    mut spool: S,
    mut writer: W,
    keys: &MediaKeys,
    expected: Expected,
) -> Result<DecryptedInfo, Error> {
    let start = spool.stream_position()?;
    let info = spool_verified(reader, &mut spool, keys, expected)?;
    spool.seek(SeekFrom::Start(start))?;
    copy_exact(&mut spool, &mut writer, info.file_length)?;
    writer.flush()?;
    Ok(info)
}

/// Decrypts everything `reader` yields into `spool` and runs every check.
fn spool_verified<R: Read, S: Write>(
    mut reader: R,
    spool: &mut S,
    keys: &MediaKeys,
    expected: Expected,
) -> Result<DecryptedInfo, Error> {
    let mut decryptor = Decryptor::with_keys(keys, expected);
    let mut body = vec![0u8; IO_BUF];
    let mut plain = Vec::with_capacity(IO_BUF + 64);
    loop {
        let n = read_some(&mut reader, &mut body)?;
        plain.clear();
        if n == 0 {
            let info = decryptor.finish(&mut plain)?;
            spool.write_all(&plain)?;
            return Ok(info);
        }
        decryptor.update(&body[..n], &mut plain)?;
        spool.write_all(&plain)?;
    }
}

/// Copies exactly `len` bytes: a spool that lost bytes is an error, not a short file.
/// Through a 256 KiB buffer: `io::copy`'s 8 KiB one costs a system call per 8 KiB.
fn copy_exact<S: Read, W: Write>(spool: &mut S, writer: &mut W, len: u64) -> io::Result<()> {
    let mut buf = vec![0u8; COPY_BUF];
    let mut copied = 0u64;
    while copied < len {
        let want = usize::try_from(len - copied).map_or(COPY_BUF, |left| left.min(COPY_BUF));
        let n = read_some(spool, &mut buf[..want])?;
        if n == 0 {
            break;
        }
        writer.write_all(&buf[..n])?;
        copied += n as u64;
    }
    if copied != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the spool held {copied} of {len} verified bytes"),
        ));
    }
    Ok(())
}

/// Buffer for copying the spool out.
const COPY_BUF: usize = 256 * 1024;

/// Memory up to [`SPOOL_MEMORY`], then an unnamed temporary file.
#[derive(Default)]
struct MemoryThenFile {
    memory: Vec<u8>,
    file: Option<std::fs::File>,
    file_len: u64,
}

impl MemoryThenFile {
    fn copy_to<W: Write>(mut self, mut writer: W) -> io::Result<()> {
        match self.file.as_mut() {
            None => writer.write_all(&self.memory)?,
            Some(file) => {
                file.seek(SeekFrom::Start(0))?;
                copy_exact(file, &mut writer, self.file_len)?;
            }
        }
        writer.flush()
    }
}

impl Write for MemoryThenFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.file.is_none() && self.memory.len() + data.len() > SPOOL_MEMORY {
            let mut file = tempfile::tempfile()?;
            file.write_all(&self.memory)?;
            self.file_len = self.memory.len() as u64;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        match self.file.as_mut() {
            Some(file) => {
                file.write_all(data)?;
                self.file_len += data.len() as u64;
            }
            None => self.memory.extend_from_slice(data),
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
