//! `std::io` adapters over the IO-free core. Memory stays flat: every adapter works through
//! fixed-size buffers whatever the file size.

use crate::{DecryptedInfo, Decryptor, EncryptedInfo, Encryptor, Error};
use std::io::{self, Read, Write};

/// Size of the read buffers the adapters use.
pub(crate) const IO_BUF: usize = 64 * 1024;

/// A `Write` that encrypts what is written to it into `inner` (the body `enc ‖ mac`).
/// Call [`EncryptWriter::finish`] at the end: dropping it loses the last block and the MAC.
#[derive(Debug)]
pub struct EncryptWriter<W: Write> {
    inner: W,
    encryptor: Encryptor,
    buf: Vec<u8>,
}

impl<W: Write> EncryptWriter<W> {
    /// Encrypts into `inner` with `encryptor`.
    pub fn new(inner: W, encryptor: Encryptor) -> EncryptWriter<W> {
        EncryptWriter {
            inner,
            encryptor,
            buf: Vec::with_capacity(IO_BUF + 16),
        }
    }

    /// Writes the last block and the MAC, flushes, and returns `inner` and the message fields.
    pub fn finish(mut self) -> io::Result<(W, EncryptedInfo)> {
        self.buf.clear();
        let info = self.encryptor.finish(&mut self.buf);
        self.inner.write_all(&self.buf)?;
        self.inner.flush()?;
        Ok((self.inner, info))
    }
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        for piece in data.chunks(IO_BUF) {
            self.buf.clear();
            self.encryptor.update(piece, &mut self.buf);
            self.inner.write_all(&self.buf)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A `Read` that yields the body (`enc ‖ mac`) of the plaintext read from `inner`; after
/// EOF, [`EncryptReader::info`] has the message fields. Handy as an upload body.
#[derive(Debug)]
pub struct EncryptReader<R: Read> {
    inner: R,
    encryptor: Option<Encryptor>,
    plain: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    info: Option<EncryptedInfo>,
}

impl<R: Read> EncryptReader<R> {
    /// Encrypts what `inner` yields with `encryptor`.
    pub fn new(inner: R, encryptor: Encryptor) -> EncryptReader<R> {
        EncryptReader {
            inner,
            encryptor: Some(encryptor),
            plain: vec![0; IO_BUF],
            out: Vec::with_capacity(IO_BUF + 32),
            pos: 0,
            info: None,
        }
    }

    /// The message fields, once the whole body has been read.
    pub fn info(&self) -> Option<&EncryptedInfo> {
        self.info.as_ref()
    }

    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.pos = 0;
        while self.out.is_empty() {
            let Some(encryptor) = self.encryptor.as_mut() else {
                return Ok(());
            };
            let n = match self.inner.read(&mut self.plain) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                if let Some(encryptor) = self.encryptor.take() {
                    self.info = Some(encryptor.finish(&mut self.out));
                }
            } else {
                encryptor.update(&self.plain[..n], &mut self.out);
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for EncryptReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.out.len() {
            self.refill()?;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A `Write` that decrypts the body written to it into `inner`.
///
/// See [`Decryptor`] for when written plaintext is final: without a sidecar it is
/// provisional until [`DecryptWriter::finish`] returns `Ok`.
#[derive(Debug)]
pub struct DecryptWriter<W: Write> {
    inner: W,
    decryptor: Decryptor,
    buf: Vec<u8>,
}

impl<W: Write> DecryptWriter<W> {
    /// Decrypts into `inner` with `decryptor`.
    pub fn new(inner: W, decryptor: Decryptor) -> DecryptWriter<W> {
        DecryptWriter {
            inner,
            decryptor,
            buf: Vec::with_capacity(IO_BUF + 64),
        }
    }

    /// Checks everything, writes the last plaintext only if the checks pass, and returns
    /// `inner` and what was verified.
    pub fn finish(mut self) -> Result<(W, DecryptedInfo), Error> {
        self.buf.clear();
        let info = self.decryptor.finish(&mut self.buf)?;
        self.inner.write_all(&self.buf)?;
        self.inner.flush()?;
        Ok((self.inner, info))
    }
}

impl<W: Write> Write for DecryptWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        for piece in data.chunks(IO_BUF) {
            self.buf.clear();
            self.decryptor.update(piece, &mut self.buf)?;
            self.inner.write_all(&self.buf)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A `Read` that yields the plaintext of the body read from `inner`.
///
/// The last block is only yielded after every check passed; if one fails, `read` returns an
/// [`io::ErrorKind::InvalidData`] error wrapping the [`Error`] instead of a clean EOF, so
/// `io::copy` and friends fail rather than report a whole file.
#[derive(Debug)]
pub struct DecryptReader<R: Read> {
    inner: R,
    decryptor: Option<Decryptor>,
    body: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    info: Option<DecryptedInfo>,
    failed: Option<String>,
}

impl<R: Read> DecryptReader<R> {
    /// Decrypts what `inner` yields with `decryptor`.
    pub fn new(inner: R, decryptor: Decryptor) -> DecryptReader<R> {
        DecryptReader {
            inner,
            decryptor: Some(decryptor),
            body: vec![0; IO_BUF],
            out: Vec::with_capacity(IO_BUF + 64),
            pos: 0,
            info: None,
            failed: None,
        }
    }

    /// What was verified, once the whole plaintext has been read.
    pub fn info(&self) -> Option<&DecryptedInfo> {
        self.info.as_ref()
    }

    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.pos = 0;
        while self.out.is_empty() {
            if let Some(reason) = &self.failed {
                return Err(io::Error::new(io::ErrorKind::InvalidData, reason.clone()));
            }
            let Some(decryptor) = self.decryptor.as_mut() else {
                return Ok(());
            };
            let n = match self.inner.read(&mut self.body) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let step = if n == 0 {
                match self.decryptor.take() {
                    Some(decryptor) => decryptor.finish(&mut self.out).map(|info| {
                        self.info = Some(info);
                    }),
                    None => Ok(()),
                }
            } else {
                decryptor.update(&self.body[..n], &mut self.out)
            };
            if let Err(error) = step {
                self.out.clear();
                self.decryptor = None;
                self.failed = Some(error.to_string());
                return Err(error.into());
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.out.len() {
            self.refill()?;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

pub(crate) fn read_some<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Encrypts everything `reader` yields into `writer` on this thread.
pub fn encrypt_stream<R: Read, W: Write>(
    mut reader: R,
    mut writer: W,
    mut encryptor: Encryptor,
) -> Result<EncryptedInfo, Error> {
    let mut plain = vec![0u8; IO_BUF];
    let mut out = Vec::with_capacity(IO_BUF + 32);
    loop {
        let n = read_some(&mut reader, &mut plain)?;
        out.clear();
        if n == 0 {
            let info = encryptor.finish(&mut out);
            writer.write_all(&out)?;
            writer.flush()?;
            return Ok(info);
        }
        encryptor.update(&plain[..n], &mut out);
        writer.write_all(&out)?;
    }
}

/// Decrypts everything `reader` yields into `writer` (see [`Decryptor`] for when the written
/// plaintext is final).
pub fn decrypt_stream<R: Read, W: Write>(
    mut reader: R,
    mut writer: W,
    mut decryptor: Decryptor,
) -> Result<DecryptedInfo, Error> {
    let mut body = vec![0u8; IO_BUF];
    let mut out = Vec::with_capacity(IO_BUF + 64);
    loop {
        let n = read_some(&mut reader, &mut body)?;
        out.clear();
        if n == 0 {
            let info = decryptor.finish(&mut out)?;
            writer.write_all(&out)?;
            writer.flush()?;
            return Ok(info);
        }
        decryptor.update(&body[..n], &mut out)?;
        writer.write_all(&out)?;
    }
}
