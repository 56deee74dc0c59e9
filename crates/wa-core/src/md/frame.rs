//! The multi-device frame layer, sans-IO: the intro header a client sends first (optionally
//! behind the `ED 00 01` edge-routing pre-header), then frames of a 3-byte big-endian length
//! and that many bytes. During the handshake a frame holds a `HandshakeMessage`; after it, a
//! Noise ciphertext whose plaintext is a flag byte (`0x02` = zlib) and a binary node.
//!
//! WebSocket messages and frames are independent: one message may carry several frames or part
//! of one, so [`FrameDecoder`] buffers bytes and hands out whole frames.

use wa_binary::{Codec, DecodeError, Node};

/// What a client sends before its first frame: `W A`, the protocol magic 6, the dictionary
/// version 3. It is also the Noise prologue.
pub const INTRO_HEADER: [u8; 4] = *b"WA\x06\x03";

/// The optional edge-routing pre-header: `E D 0 1`, then a 3-byte length and the routing info
/// a server handed out earlier, then [`INTRO_HEADER`].
pub const ROUTING_PREHEADER: [u8; 4] = *b"ED\x00\x01";

/// The largest frame the 3-byte length can describe.
pub const MAX_FRAME_LEN: usize = (1 << 24) - 1;

/// The largest routing info accepted in the pre-header (real values are a few bytes).
pub const MAX_ROUTING_INFO_LEN: usize = 4096;

/// The flag bit saying the rest of a decrypted frame is zlib-compressed.
pub const FLAG_COMPRESSED: u8 = 0x02;

/// A malformed or oversized frame stream. The connection cannot continue after one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MdFrameError {
    /// A frame's length is over the limit (checked before anything is buffered for it).
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The length the frame claims.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The stream does not start with `WA 06 03` (or `ED 00 01 … WA 06 03`).
    #[error("stream does not start with the WA 06 03 intro header (found {found:02x?})")]
    BadIntro {
        /// The four bytes found instead.
        found: [u8; 4],
    },
    /// The routing pre-header claims more routing info than accepted.
    #[error("routing info of {len} bytes exceeds the {max}-byte limit")]
    RoutingTooLarge {
        /// The length it claims.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A decrypted frame is empty, fails to inflate, or holds no valid node.
    #[error("invalid node in frame: {0}")]
    Node(#[from] DecodeError),
}

/// The bytes a client sends before its first frame: the pre-header with `routing_info` when
/// given, then [`INTRO_HEADER`].
///
/// # Errors
/// [`MdFrameError::RoutingTooLarge`] when the routing info is over [`MAX_ROUTING_INFO_LEN`].
pub fn intro(routing_info: Option<&[u8]>) -> Result<Vec<u8>, MdFrameError> {
    let mut out = Vec::with_capacity(INTRO_HEADER.len() + 7 + routing_info.map_or(0, <[u8]>::len));
    if let Some(info) = routing_info {
        if info.len() > MAX_ROUTING_INFO_LEN {
            return Err(MdFrameError::RoutingTooLarge {
                len: info.len(),
                max: MAX_ROUTING_INFO_LEN,
            });
        }
        out.extend_from_slice(&ROUTING_PREHEADER);
        push_len(&mut out, info.len());
        out.extend_from_slice(info);
    }
    out.extend_from_slice(&INTRO_HEADER);
    Ok(out)
}

/// Appends one frame (length, then `payload`) to `out`.
///
/// # Errors
/// [`MdFrameError::TooLarge`] when `payload` is over `max_len` (at most [`MAX_FRAME_LEN`]).
pub fn encode_frame(payload: &[u8], max_len: usize, out: &mut Vec<u8>) -> Result<(), MdFrameError> {
    let max = max_len.min(MAX_FRAME_LEN);
    if payload.len() > max {
        return Err(MdFrameError::TooLarge {
            len: payload.len(),
            max,
        });
    }
    out.reserve(3 + payload.len());
    push_len(out, payload.len());
    out.extend_from_slice(payload);
    Ok(())
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    debug_assert!(len <= MAX_FRAME_LEN);
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8]);
}

fn read_len(bytes: &[u8]) -> usize {
    (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2])
}

/// Where a [`FrameDecoder`] is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// A server's decoder before the client's intro.
    Intro,
    /// Frames.
    Frames,
}

/// Splits a byte stream into frames, buffering partial ones. A server's decoder first reads the
/// client's intro ([`FrameDecoder::server`]); a client's reads frames from the first byte.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out (compacted lazily).
    start: usize,
    max_len: usize,
    stage: Stage,
    routing_info: Option<Vec<u8>>,
}

impl FrameDecoder {
    /// A client's decoder (the server sends no intro), accepting frames up to `max_len` bytes.
    pub fn client(max_len: usize) -> FrameDecoder {
        FrameDecoder::new(max_len, Stage::Frames)
    }

    /// A server's decoder: reads the client's intro first.
    pub fn server(max_len: usize) -> FrameDecoder {
        FrameDecoder::new(max_len, Stage::Intro)
    }

    fn new(max_len: usize, stage: Stage) -> FrameDecoder {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max_len: max_len.min(MAX_FRAME_LEN),
            stage,
            routing_info: None,
        }
    }

    /// The routing info of the client's pre-header, once read (server side).
    pub fn routing_info(&self) -> Option<&[u8]> {
        self.routing_info.as_deref()
    }

    /// Whether bytes of an unfinished intro or frame are waiting.
    pub fn has_partial(&self) -> bool {
        self.buf.len() > self.start
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame's payload, `Ok(None)` until enough bytes arrived.
    ///
    /// # Errors
    /// [`MdFrameError::BadIntro`], [`MdFrameError::RoutingTooLarge`] or
    /// [`MdFrameError::TooLarge`]; the stream is unusable afterwards.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, MdFrameError> {
        if self.stage == Stage::Intro && !self.read_intro()? {
            return Ok(None);
        }
        let rest = &self.buf[self.start..];
        if rest.len() < 3 {
            return Ok(None);
        }
        let len = read_len(rest);
        if len > self.max_len {
            return Err(MdFrameError::TooLarge {
                len,
                max: self.max_len,
            });
        }
        if rest.len() < 3 + len {
            return Ok(None);
        }
        let frame = rest[3..3 + len].to_vec();
        self.start += 3 + len;
        self.compact();
        Ok(Some(frame))
    }

    /// Consumes the intro when whole; `Ok(false)` while it is incomplete.
    fn read_intro(&mut self) -> Result<bool, MdFrameError> {
        let rest = &self.buf[self.start..];
        if rest.len() < 4 {
            // Refuse early when the bytes present already cannot start an intro.
            let plausible = INTRO_HEADER.starts_with(rest) || ROUTING_PREHEADER.starts_with(rest);
            if !plausible {
                let mut found = [0; 4];
                found[..rest.len()].copy_from_slice(rest);
                return Err(MdFrameError::BadIntro { found });
            }
            return Ok(false);
        }
        let mut consumed = 0;
        let mut routing = None;
        if rest[..4] == ROUTING_PREHEADER {
            if rest.len() < 7 {
                return Ok(false);
            }
            let len = read_len(&rest[4..7]);
            if len > MAX_ROUTING_INFO_LEN {
                return Err(MdFrameError::RoutingTooLarge {
                    len,
                    max: MAX_ROUTING_INFO_LEN,
                });
            }
            if rest.len() < 7 + len + 4 {
                return Ok(false);
            }
            routing = Some(rest[7..7 + len].to_vec());
            consumed = 7 + len;
        }
        let header = &rest[consumed..consumed + 4];
        if header != INTRO_HEADER {
            let mut found = [0; 4];
            found.copy_from_slice(header);
            return Err(MdFrameError::BadIntro { found });
        }
        self.start += consumed + 4;
        self.routing_info = routing;
        self.stage = Stage::Frames;
        Ok(true)
    }

    fn compact(&mut self) {
        // Drop consumed bytes once they outweigh what is left, so the buffer stays bounded.
        if self.start > 4096 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

/// The plaintext of a post-handshake frame for `node`: the flag byte 0 and the encoded node.
///
/// # Errors
/// The codec's error for a node it cannot encode.
pub fn node_payload(codec: &Codec, node: &Node) -> Result<Vec<u8>, wa_binary::EncodeError> {
    codec.encode_frame(node)
}

/// The node in a decrypted post-handshake frame (inflated when its flag says zlib; the
/// inflated size is capped by the codec's limits).
///
/// # Errors
/// [`MdFrameError::Node`] for an empty frame, a bad zlib stream, or an invalid node.
pub fn payload_node(codec: &Codec, plaintext: &[u8]) -> Result<Node, MdFrameError> {
    Ok(codec.decode_frame(plaintext)?)
}
