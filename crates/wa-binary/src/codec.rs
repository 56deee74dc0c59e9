//! The codec value: a dictionary plus limits; decode, encode and the multi-device frame flag byte.

use std::borrow::Cow;

use bytes::{BufMut, Bytes};

use crate::decode::{Borrowed, Decoder};
use crate::dict::Dictionary;
use crate::encode::Encoder;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::node::{Node, NodeRef};
use crate::tree::{OwnedTree, Tree, TreeArena};

/// Limits applied to untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting accepted (the root node is depth 1). Default 64; real stanzas nest < 10.
    pub max_depth: usize,
    /// Largest input (or inflated frame) accepted, in bytes. Default 32 MiB (frames carry at most
    /// 16 MiB before inflation).
    pub max_size: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: 64,
            max_size: 32 << 20,
        }
    }
}

/// A binary node codec for one dictionary.
///
/// ```
/// use wa_binary::{Codec, Node};
/// let codec = Codec::multi_device();
/// let node = Node::new("iq").attr("id", "1").attr("type", "get").attr("to", "s.whatsapp.net");
/// let bytes = codec.encode(&node)?;
/// assert_eq!(codec.decode(&bytes)?, node);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Codec {
    /// The dictionary spoken.
    pub dictionary: Dictionary,
    /// Limits on decoded (and encoded) input.
    pub limits: Limits,
}

impl Codec {
    /// A codec for `dictionary` with default limits.
    pub fn new(dictionary: Dictionary) -> Codec {
        Codec {
            dictionary,
            limits: Limits::default(),
        }
    }

    /// The legacy protocol's codec.
    pub fn legacy() -> Codec {
        Codec::new(Dictionary::Legacy)
    }

    /// The multi-device (dictionary v3) codec.
    pub fn multi_device() -> Codec {
        Codec::new(Dictionary::MultiDeviceV3)
    }

    /// The same codec with other limits.
    pub fn with_limits(self, limits: Limits) -> Codec {
        Codec { limits, ..self }
    }

    fn check_size(&self, len: usize) -> Result<(), DecodeError> {
        if len > self.limits.max_size {
            return Err(DecodeError {
                offset: 0,
                kind: DecodeErrorKind::TooLarge {
                    size: len,
                    limit: self.limits.max_size,
                },
            });
        }
        Ok(())
    }

    /// Decodes one node spanning all of `bytes`, borrowing from them.
    pub fn decode_ref<'a>(&self, bytes: &'a [u8]) -> Result<NodeRef<'a>, DecodeError> {
        self.check_size(bytes.len())?;
        self.decoder().decode::<Borrowed>(bytes)
    }

    /// Decodes one node spanning all of `bytes` into an owned [`Node`]. Accepts exactly what
    /// [`Codec::decode_tree`] accepts and fails with the same errors, which are those of
    /// [`Codec::decode_ref`]: well-formed input in the common forms is decoded in one pass
    /// straight into the `Node` (every list at its exact size, short strings inline); anything
    /// else (rarer JID forms, and every error) goes through `decode_tree`, into an arena kept
    /// per thread, and the `Node` is built from it.
    ///
    /// The fastest owned form is [`Codec::decode_owned_tree`]: an [`OwnedTree`] is `'static`
    /// and `Send` like a `Node`, but costs two allocations per frame instead of a `Node`, a
    /// child list and a byte vector per node (several times faster on large frames; see the
    /// crate's README, "Speed"). Use `decode` when the node will be modified or built upon.
    ///
    /// Byte contents ([`Content::Bytes`](crate::Content::Bytes)) of up to
    /// [`Blob::INLINE`](crate::Blob::INLINE) bytes are held inline; longer ones are spans of
    /// one copy of `bytes` from the first of them on, made when it is met (holding one keeps
    /// that copy alive; [`Blob::to_vec`](crate::Blob::to_vec) detaches it). Their references
    /// to it are counted once for the whole frame when the decode ends, and given back once
    /// per frame when the tree is dropped: a content costs no atomic update of its own unless
    /// it is cloned or dropped alone. [`Codec::decode_bytes`] makes them spans of the caller's
    /// frame instead, with no copy at all.
    pub fn decode(&self, bytes: &[u8]) -> Result<Node, DecodeError> {
        self.check_size(bytes.len())?;
        crate::tree::decode_owned(&self.decoder(), bytes)
    }

    /// [`Codec::decode`] from a frame the caller hands over (the `Vec<u8>` or [`Bytes`] a
    /// transport owns): byte contents are slices of it, not copies, as the JavaScript peers'
    /// decoded `Buffer`s are views into the one they were given. Holding any of them keeps
    /// the frame's memory alive. Same checks and errors as [`Codec::decode`].
    ///
    /// The fastest way to a `Node` when the frame is at hand as a `Vec<u8>` or `Bytes`: no
    /// copy at all, and the frame's reference count is updated once for all its contents, as
    /// [`Codec::decode`] does for its copy.
    ///
    /// ```
    /// use wa_binary::{Codec, Content, Node};
    /// let codec = Codec::multi_device();
    /// let frame = codec.encode(&Node::new("enc").attr("v", "2").bytes(vec![7u8; 40]))?;
    /// let node = codec.decode_bytes(frame)?;
    /// assert!(matches!(&node.content, Content::Bytes(b) if b[..] == [7u8; 40]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode_bytes(&self, bytes: impl Into<Bytes>) -> Result<Node, DecodeError> {
        let bytes = bytes.into();
        self.check_size(bytes.len())?;
        crate::tree::decode_owned_bytes(&self.decoder(), bytes)
    }

    /// Decodes one node spanning all of `bytes` into an [`OwnedTree`]: the tree of
    /// [`Codec::decode_tree`], owning `bytes` (shared, not copied: pass the [`Bytes`] a
    /// transport hands over, or `Bytes::copy_from_slice`) and an exact-size copy of its
    /// records, so that it can be stored and sent to other threads. Same checks and errors as
    /// [`Codec::decode`].
    pub fn decode_owned_tree(&self, bytes: impl Into<Bytes>) -> Result<OwnedTree, DecodeError> {
        let bytes = bytes.into();
        self.check_size(bytes.len())?;
        crate::tree::decode_shared(&self.decoder(), bytes)
    }

    /// Decodes one node spanning all of `bytes` into `arena` (cleared first), without building
    /// strings or per-node vectors: nodes and attributes go into the arena's flat vectors, and
    /// strings stay in `bytes` until asked for. Validates exactly what [`Codec::decode`] does and
    /// fails with the same errors. Reuse one arena and decoding allocates nothing once it is warm.
    /// The one difference: inputs over 8 GiB (2^33 - 1 bytes, far above the default `max_size`)
    /// fail with [`DecodeErrorKind::TooLarge`](crate::DecodeErrorKind::TooLarge), since the
    /// arena keeps attribute indices in 32 bits.
    ///
    /// ```
    /// use wa_binary::{Codec, Node, TreeArena};
    /// let codec = Codec::multi_device();
    /// let bytes = codec.encode(&Node::new("iq").attr("id", "1").attr("type", "result"))?;
    /// let mut arena = TreeArena::new();
    /// let tree = codec.decode_tree(&bytes, &mut arena)?;
    /// assert!(tree.root().tag() == "iq");
    /// assert!(tree.root().attr("type").is_some_and(|t| t == "result"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode_tree<'a>(
        &self,
        bytes: &'a [u8],
        arena: &'a mut TreeArena,
    ) -> Result<Tree<'a>, DecodeError> {
        self.check_size(bytes.len())?;
        crate::tree::decode_tree(&self.decoder(), bytes, arena)
    }

    pub(crate) fn decoder(&self) -> Decoder {
        Decoder {
            dict: self.dictionary,
            max_depth: self.limits.max_depth,
        }
    }

    /// Appends the encoding of `node` to `out` (a `Vec<u8>` or a `BytesMut`).
    pub fn encode_into<B: BufMut>(&self, node: &Node, out: &mut B) -> Result<(), EncodeError> {
        Encoder {
            dict: self.dictionary,
            max_depth: self.limits.max_depth,
        }
        .node(out, node, 1)
    }

    /// Encodes `node` into a new vector.
    pub fn encode(&self, node: &Node) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(1 + crate::encode::size_hint(node));
        self.encode_into(node, &mut out)?;
        Ok(out)
    }

    /// Strips a multi-device frame's flag byte, inflating when `flag & 0x02` (zlib), capped at
    /// `limits.max_size`. Returns the node bytes.
    pub fn unpack_frame<'a>(&self, frame: &'a [u8]) -> Result<Cow<'a, [u8]>, DecodeError> {
        let Some((&flags, rest)) = frame.split_first() else {
            return Err(DecodeError {
                offset: 0,
                kind: DecodeErrorKind::EmptyFrame,
            });
        };
        if flags & 0x02 == 0 {
            return Ok(Cow::Borrowed(rest));
        }
        let limit = self.limits.max_size;
        miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(rest, limit)
            .map(Cow::Owned)
            .map_err(|e| {
                let kind = if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput {
                    DecodeErrorKind::InflatedTooLarge { limit }
                } else {
                    DecodeErrorKind::Inflate
                };
                DecodeError { offset: 1, kind }
            })
    }

    /// Decodes a multi-device frame payload (flag byte, then the node, maybe compressed).
    pub fn decode_frame(&self, frame: &[u8]) -> Result<Node, DecodeError> {
        match self.unpack_frame(frame)? {
            // Offsets in errors count from the start of the frame for an uncompressed body.
            Cow::Borrowed(body) => self.decode(body).map_err(|mut e| {
                e.offset += 1;
                e
            }),
            // An inflated body is ours already: byte contents slice it, with no further copy.
            Cow::Owned(body) => self.decode_bytes(body),
        }
    }

    /// Encodes `node` as a multi-device frame payload: the flag byte 0x00, then the node.
    pub fn encode_frame(&self, node: &Node) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(1 + crate::encode::size_hint(node));
        out.push(0);
        self.encode_into(node, &mut out)?;
        Ok(out)
    }
}
