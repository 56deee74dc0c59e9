//! tokio `AsyncRead` adapters (feature `tokio`): the same core behind `poll_read`.

use crate::{DecryptedInfo, Decryptor, EncryptedInfo, Encryptor};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, ReadBuf};

const BUF: usize = 64 * 1024;

/// An `AsyncRead` yielding the body (`enc ‖ mac`) of the plaintext read from `inner`; after
/// EOF, [`AsyncEncryptReader::info`] has the message fields. Copy it into any `AsyncWrite`
/// with `tokio::io::copy`.
#[derive(Debug)]
pub struct AsyncEncryptReader<R> {
    inner: R,
    encryptor: Option<Encryptor>,
    plain: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    info: Option<EncryptedInfo>,
}

impl<R: AsyncRead + Unpin> AsyncEncryptReader<R> {
    /// Encrypts what `inner` yields with `encryptor`.
    pub fn new(inner: R, encryptor: Encryptor) -> Self {
        AsyncEncryptReader {
            inner,
            encryptor: Some(encryptor),
            plain: vec![0; BUF],
            out: Vec::with_capacity(BUF + 32),
            pos: 0,
            info: None,
        }
    }

    /// The message fields, once the whole body has been read.
    pub fn info(&self) -> Option<&EncryptedInfo> {
        self.info.as_ref()
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for AsyncEncryptReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.pos == this.out.len() {
            this.out.clear();
            this.pos = 0;
            if this.encryptor.is_none() {
                return Poll::Ready(Ok(()));
            }
            let mut read = ReadBuf::new(&mut this.plain);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            let n = read.filled().len();
            if n == 0 {
                if let Some(encryptor) = this.encryptor.take() {
                    this.info = Some(encryptor.finish(&mut this.out));
                }
            } else if let Some(encryptor) = this.encryptor.as_mut() {
                encryptor.update(&this.plain[..n], &mut this.out);
            }
        }
        let n = buf.remaining().min(this.out.len() - this.pos);
        buf.put_slice(&this.out[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// An `AsyncRead` yielding the plaintext of the body read from `inner`. As with
/// [`crate::DecryptReader`], a failed check is an `InvalidData` error instead of EOF, and
/// the last block is only released after every check passed.
#[derive(Debug)]
pub struct AsyncDecryptReader<R> {
    inner: R,
    decryptor: Option<Decryptor>,
    body: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    info: Option<DecryptedInfo>,
    failed: Option<String>,
}

impl<R: AsyncRead + Unpin> AsyncDecryptReader<R> {
    /// Decrypts what `inner` yields with `decryptor`.
    pub fn new(inner: R, decryptor: Decryptor) -> Self {
        AsyncDecryptReader {
            inner,
            decryptor: Some(decryptor),
            body: vec![0; BUF],
            out: Vec::with_capacity(BUF + 64),
            pos: 0,
            info: None,
            failed: None,
        }
    }

    /// What was verified, once the whole plaintext has been read.
    pub fn info(&self) -> Option<&DecryptedInfo> {
        self.info.as_ref()
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for AsyncDecryptReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.pos == this.out.len() {
            this.out.clear();
            this.pos = 0;
            if let Some(reason) = &this.failed {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    reason.clone(),
                )));
            }
            if this.decryptor.is_none() {
                return Poll::Ready(Ok(()));
            }
            let mut read = ReadBuf::new(&mut this.body);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            let n = read.filled().len();
            let step = if n == 0 {
                match this.decryptor.take() {
                    Some(decryptor) => decryptor.finish(&mut this.out).map(|info| {
                        this.info = Some(info);
                    }),
                    None => Ok(()),
                }
            } else {
                match this.decryptor.as_mut() {
                    Some(decryptor) => decryptor.update(&this.body[..n], &mut this.out),
                    None => Ok(()),
                }
            };
            if let Err(error) = step {
                this.out.clear();
                this.decryptor = None;
                this.failed = Some(error.to_string());
                return Poll::Ready(Err(error.into()));
            }
        }
        let n = buf.remaining().min(this.out.len() - this.pos);
        buf.put_slice(&this.out[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}
