//! tokio `AsyncRead` adapters (feature `tokio`): the same core behind `poll_read`.

use crate::{DecryptedInfo, Decryptor, EncryptedInfo, Encryptor};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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

/// What the writers do with their input: the two cores behind one `AsyncWrite` impl.
trait Core {
    type Info;
    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()>;
    fn finish(self, out: &mut Vec<u8>) -> io::Result<Self::Info>;
}

impl Core for Encryptor {
    type Info = EncryptedInfo;
    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        Encryptor::update(self, input, out);
        Ok(())
    }
    fn finish(self, out: &mut Vec<u8>) -> io::Result<EncryptedInfo> {
        Ok(Encryptor::finish(self, out))
    }
}

impl Core for Decryptor {
    type Info = DecryptedInfo;
    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        Ok(Decryptor::update(self, input, out)?)
    }
    fn finish(self, out: &mut Vec<u8>) -> io::Result<DecryptedInfo> {
        Ok(Decryptor::finish(self, out)?)
    }
}

/// Shared state of the two writers: output not yet written to `inner`.
#[derive(Debug)]
struct WriterState<W, C: Core> {
    inner: W,
    core: Option<C>,
    out: Vec<u8>,
    pos: usize,
    info: Option<C::Info>,
    /// Set when `finish` failed, so a repeated `shutdown` fails again.
    failed: Option<String>,
}

impl<W: AsyncWrite + Unpin, C: Core> WriterState<W, C> {
    fn new(inner: W, core: C) -> Self {
        WriterState {
            inner,
            core: Some(core),
            out: Vec::with_capacity(BUF + 64),
            pos: 0,
            info: None,
            failed: None,
        }
    }

    /// Writes out everything pending.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pos < self.out.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pos += n;
        }
        self.out.clear();
        self.pos = 0;
        Poll::Ready(Ok(()))
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        let Some(core) = self.core.as_mut() else {
            return Poll::Ready(Err(io::Error::other("write after shutdown")));
        };
        let take = data.len().min(BUF);
        core.update(&data[..take], &mut self.out)?;
        Poll::Ready(Ok(take))
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        if let Some(reason) = &self.failed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                reason.clone(),
            )));
        }
        if let Some(core) = self.core.take() {
            match core.finish(&mut self.out) {
                Ok(info) => self.info = Some(info),
                Err(error) => {
                    self.out.clear();
                    self.failed = Some(error.to_string());
                    return Poll::Ready(Err(error));
                }
            }
            ready!(self.poll_drain(cx))?;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An `AsyncWrite` that encrypts what is written into `inner`. `shutdown` writes the last
/// block and the MAC; then [`AsyncEncryptWriter::info`] has the message fields.
#[derive(Debug)]
pub struct AsyncEncryptWriter<W> {
    state: WriterState<W, Encryptor>,
}

impl<W: AsyncWrite + Unpin> AsyncEncryptWriter<W> {
    /// Encrypts into `inner` with `encryptor`.
    pub fn new(inner: W, encryptor: Encryptor) -> Self {
        AsyncEncryptWriter {
            state: WriterState::new(inner, encryptor),
        }
    }

    /// The message fields, after `shutdown`.
    pub fn info(&self) -> Option<&EncryptedInfo> {
        self.state.info.as_ref()
    }

    /// The wrapped writer.
    pub fn into_inner(self) -> W {
        self.state.inner
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for AsyncEncryptWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().state.poll_write(cx, data)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().state.poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().state.poll_shutdown(cx)
    }
}

/// An `AsyncWrite` that decrypts the body written to it into `inner`. `shutdown` checks
/// everything and writes the last plaintext only if the checks pass (else it fails with
/// `InvalidData`); plaintext written before is provisional, as with [`Decryptor`].
#[derive(Debug)]
pub struct AsyncDecryptWriter<W> {
    state: WriterState<W, Decryptor>,
}

impl<W: AsyncWrite + Unpin> AsyncDecryptWriter<W> {
    /// Decrypts into `inner` with `decryptor`.
    pub fn new(inner: W, decryptor: Decryptor) -> Self {
        AsyncDecryptWriter {
            state: WriterState::new(inner, decryptor),
        }
    }

    /// What was verified, after a successful `shutdown`.
    pub fn info(&self) -> Option<&DecryptedInfo> {
        self.state.info.as_ref()
    }

    /// The wrapped writer.
    pub fn into_inner(self) -> W {
        self.state.inner
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for AsyncDecryptWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().state.poll_write(cx, data)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().state.poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().state.poll_shutdown(cx)
    }
}
