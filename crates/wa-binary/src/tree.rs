//! `decode_tree`: a validating, allocation-free (once its arena is warm) decoder that records
//! nodes in flat vectors and leaves strings in the input until they are asked for.

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::decode::{
    Decoder, PACKED_BUF, PAIR_CHARS, first_bad_nibble, is_utf8, packed_len_ok, unpack_pairs,
    write_jid,
};
use crate::dict::{Dictionary, TokenTable, class, tags};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::jid::Server;
use crate::node::{Content, Node};
use crate::text::Str;

mod owned;
mod shared;
mod text;
mod walk;
pub(crate) use owned::{decode_owned, decode_owned_bytes};
pub use shared::OwnedTree;
pub(crate) use shared::decode_shared;
use walk::packed_chars;
pub(crate) use walk::{decode_positions, decode_tree};

/// Where a string (or a node's content) of a [`Tree`] is: positions into the input, so that the
/// arena holds no borrow and can be reused for the next input. 16 bytes: the kind in the top byte
/// of `word` and a position (or token code) below it, and the length in bytes of the string.
/// Kinds start at 1 so that `word` is never zero: `Result<RawStr, _>` then fits in two registers.
#[derive(Debug, Clone, Copy)]
struct RawStr {
    word: NonZeroU64,
    len: usize,
}

/// A dictionary token: the position is its code (see [`Dictionary::token_str`]).
const TOKEN: u8 = 1;
/// Validated UTF-8 at `pos..pos + len`.
const RAW: u8 = 2;
/// Validated NIBBLE_8 pairs at `pos..`, `len` characters (`(len + 1) / 2` pairs).
const NIBBLE: u8 = 3;
/// HEX_8 pairs, as [`NIBBLE`].
const HEX: u8 = 4;
/// A validated JID whose encoding starts at `pos` (after its tag): `JID + tag - INTEROP_JID` for
/// INTEROP_JID, FB_JID and AD_JID, [`JID_PAIR`] for JID_PAIR; `len` characters once built.
const JID: u8 = 5;
/// A JID_PAIR JID.
const JID_PAIR: u8 = 8;
/// A string (of any form but a token) already in the arena's text buffer, at `pos..pos + len`
/// of it (see [`TreeArena::with_text`]).
const TEXT: u8 = 9;
/// Content: none.
const NONE: u8 = 10;
/// Content: a list of nodes; `len` is the number of children (the list's header, every one of
/// them decoded), so a reader sizes the list without walking it.
const NODES: u8 = 11;
/// Content: bytes at `pos..pos + len`.
const BYTES: u8 = 12;

/// Positions are kept below 2^56 so that the kind fits above them.
const POS_BITS: u32 = 56;
const POS_MASK: u64 = (1 << POS_BITS) - 1;

/// The word of a [`RawStr`] of this kind at position 0.
const fn kind_word(kind: u8) -> NonZeroU64 {
    match NonZeroU64::new((kind as u64) << POS_BITS) {
        Some(word) => word,
        None => NonZeroU64::MAX,
    }
}

impl RawStr {
    #[inline(always)]
    fn new(kind: u8, pos: usize, len: usize) -> RawStr {
        RawStr {
            // Every kind is at least 1.
            word: NonZeroU64::new((u64::from(kind) << POS_BITS) | pos as u64)
                .unwrap_or(NonZeroU64::MAX),
            len,
        }
    }

    #[inline(always)]
    fn kind(&self) -> u8 {
        (self.word.get() >> POS_BITS) as u8
    }

    #[inline(always)]
    fn pos(&self) -> usize {
        // Below the input's length, so it fits.
        (self.word.get() & POS_MASK) as usize
    }

    /// The JID tag of a JID.
    fn jid_tag(&self) -> u8 {
        match self.kind() {
            JID_PAIR => tags::JID_PAIR,
            k => tags::INTEROP_JID.wrapping_add(k.wrapping_sub(JID)),
        }
    }
}

/// One node, in pre-order (48 bytes): its children are the nodes that follow it up to `end`, its
/// attributes are `attrs_start..attrs_end` of the arena's.
#[derive(Debug, Clone, Copy)]
struct RawNode {
    tag: RawStr,
    content: RawStr,
    /// Attribute indices fit in 32 bits: see [`MAX_TREE_INPUT`].
    attrs_start: u32,
    attrs_end: u32,
    /// One past the index of this node's last descendant.
    end: usize,
}

/// The largest input [`decode_tree`] takes: an attribute takes at least two bytes (a key and a
/// value of one byte each), so an input of at most 2^33 - 1 bytes (8 GiB) has fewer than 2^32
/// attributes and their indices fit in the 32 bits of [`RawNode`]. Larger inputs (far above the
/// default `max_size` of 32 MiB) fail with [`DecodeErrorKind::TooLarge`].
const MAX_TREE_INPUT: u64 = 2 * (u32::MAX as u64) + 1;

/// How the strings of an arena's trees have been read through [`StrRef::str_with`] (see
/// [`TreeArena::new`]): written through the trees' shared references while they are read,
/// looked at when the arena decodes its next tree. Atomic so that trees stay `Send` and
/// `Sync`; relaxed loads and stores only (no locked instruction), and only on the out-of-line
/// path of `str_with`, which an arena that writes its strings while decoding no longer takes.
#[derive(Debug, Default)]
struct Reads {
    /// A raw string has been read (sticky).
    raw: AtomicBool,
    /// Raw, packed and JID strings read since the arena last decoded (a count for a
    /// heuristic: concurrent reads of one tree from several threads may lose some).
    built: AtomicUsize,
}

impl Reads {
    /// Counts a read of a string that is not in the text buffer, raw or not.
    #[inline(always)]
    fn count(&self, raw: bool) {
        if raw {
            self.raw.store(true, Ordering::Relaxed);
        }
        let built = self.built.load(Ordering::Relaxed);
        self.built.store(built.wrapping_add(1), Ordering::Relaxed);
    }
}

impl Clone for Reads {
    fn clone(&self) -> Reads {
        Reads {
            raw: AtomicBool::new(self.raw.load(Ordering::Relaxed)),
            built: AtomicUsize::new(self.built.load(Ordering::Relaxed)),
        }
    }
}

/// The record of strings that belong to no arena's tree (built while decoding).
static NOT_TRACKED: Reads = Reads {
    raw: AtomicBool::new(false),
    built: AtomicUsize::new(0),
};

/// The reusable storage of a [`Tree`]: flat vectors of nodes and attributes. Keep one per
/// connection and pass it to every [`Codec::decode_tree`](crate::Codec::decode_tree) call;
/// after the first few frames decoding allocates nothing.
#[derive(Debug, Clone)]
pub struct TreeArena {
    nodes: Vec<RawNode>,
    attrs: Vec<(RawStr, RawStr)>,
    /// Every string but tokens, unpacked, built or copied, when `with_text` (else raw strings
    /// once `reads.raw` is set, or nothing).
    text: Vec<u8>,
    /// Made by [`TreeArena::with_text`], or a plain arena whose trees are read string by
    /// string (see [`TreeArena::new`]).
    with_text: bool,
    /// How this arena's trees have been read through [`StrRef::str_with`].
    reads: Reads,
    /// Where JIDs are built for `text`, kept to reuse its allocation.
    jid: String,
    /// The dictionary of the last tree decoded (kept here to keep [`Tree`] small).
    dict: Dictionary,
    /// `dict`'s token table, read by every token string.
    tokens: &'static TokenTable,
}

impl Default for TreeArena {
    fn default() -> TreeArena {
        let dict = Dictionary::default();
        TreeArena {
            nodes: Vec::new(),
            attrs: Vec::new(),
            text: Vec::new(),
            with_text: false,
            reads: Reads::default(),
            jid: String::new(),
            dict,
            tokens: dict.token_table(),
        }
    }
}

impl TreeArena {
    /// An empty arena. Its trees leave strings in the input until they are asked for, which
    /// makes decoding cheapest for consumers that look at a few strings of a frame. It adapts
    /// to consumers that read strings through [`StrRef::str_with`] (a walk that reads strings
    /// as it goes), from the next tree it decodes on:
    ///
    /// - once a raw (UTF-8) string has been read that way, it copies raw strings into a buffer
    ///   it keeps while decoding, checked as UTF-8 once per tree, so that reading one is
    ///   slicing a `&str` instead of checking it again (safe Rust makes a `&str` from bytes
    ///   only through that check);
    /// - once the raw, packed and JID strings read that way from one tree number at least a
    ///   quarter of its attributes, it becomes what [`TreeArena::with_text`] makes: every string but
    ///   tokens is written while decoding (while the bytes are hot), and reading one costs a
    ///   slice.
    ///
    /// Either way the same inputs decode to the same trees and fail with the same errors; only
    /// where the strings are read from changes.
    pub fn new() -> TreeArena {
        TreeArena::default()
    }

    /// An empty arena that also writes every string of its trees but tokens into a text
    /// buffer it keeps, while decoding: packed strings unpacked, JIDs built, raw strings
    /// copied. Decoding takes longer, reading strings no longer takes anything:
    /// [`StrRef::as_str`] always gives the `&str`, borrowed from the arena. For consumers
    /// that read most strings of a frame (a walk over every attribute of a history sync);
    /// routing on a few attributes is faster with [`TreeArena::new`], which becomes this once
    /// its trees are walked string by string. Decodes accept and refuse exactly the same
    /// inputs either way.
    pub fn with_text() -> TreeArena {
        TreeArena {
            with_text: true,
            ..TreeArena::default()
        }
    }
}

/// A decoded node tree borrowing its input and a [`TreeArena`]. Start at [`Tree::root`].
#[derive(Debug, Clone, Copy)]
pub struct Tree<'a> {
    bytes: &'a [u8],
    arena: &'a TreeArena,
    /// The arena's text buffer (validated once, as a whole).
    text: &'a str,
}

impl<'a> Tree<'a> {
    /// The root node.
    pub fn root(&self) -> TreeNode<'a> {
        TreeNode {
            tree: *self,
            index: 0,
            // A decoded tree has at least its root.
            raw: self.arena.nodes.first().unwrap_or(&NO_NODE),
        }
    }

    /// How many nodes the tree holds.
    pub fn node_count(&self) -> usize {
        self.arena.nodes.len()
    }

    #[inline]
    fn str(&self, raw: RawStr) -> StrRef<'a> {
        StrRef {
            raw,
            bytes: self.bytes,
            text: self.text,
            tokens: self.arena.tokens,
            read: &self.arena.reads,
        }
    }

    /// The bytes at `pos..pos + len` (empty if out of range, which never happens for positions
    /// recorded while decoding; a wrapped end is below `pos`, which `get` turns down too).
    #[inline]
    fn slice(&self, pos: usize, len: usize) -> &'a [u8] {
        self.bytes
            .get(pos..pos.wrapping_add(len))
            .unwrap_or_default()
    }
}

/// A node of a [`Tree`] (a cheap `Copy` handle).
#[derive(Debug, Clone, Copy)]
pub struct TreeNode<'a> {
    tree: Tree<'a>,
    index: usize,
    /// The record at `index`, looked up once (not once per accessor).
    raw: &'a RawNode,
}

/// What [`Tree::root`] gives for an arena without nodes (which a decoded tree never has): no
/// tag, no attributes, no content.
static NO_NODE: RawNode = RawNode {
    // Token 0: the empty string.
    tag: RawStr {
        word: kind_word(TOKEN),
        len: 0,
    },
    content: RawStr {
        word: kind_word(NONE),
        len: 0,
    },
    attrs_start: 0,
    attrs_end: 0,
    end: 1,
};

impl<'a> TreeNode<'a> {
    #[inline(always)]
    fn raw(&self) -> &'a RawNode {
        self.raw
    }

    /// The tag.
    #[inline]
    pub fn tag(&self) -> StrRef<'a> {
        self.tree.str(self.raw().tag)
    }

    /// The attributes, in wire order.
    #[inline]
    pub fn attrs(&self) -> impl ExactSizeIterator<Item = (StrRef<'a>, StrRef<'a>)> + 'a {
        let arena = self.tree.arena;
        let raw = self.raw();
        let tree = self.tree;
        let attrs = arena
            .attrs
            .get(raw.attrs_start as usize..raw.attrs_end as usize)
            .unwrap_or_default();
        attrs.iter().map(move |&(k, v)| (tree.str(k), tree.str(v)))
    }

    /// The value of the first attribute named `key`.
    pub fn attr(&self, key: &str) -> Option<StrRef<'a>> {
        self.attrs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The child nodes (none unless the content is a list).
    #[inline]
    pub fn children(&self) -> Children<'a> {
        Children {
            tree: self.tree,
            next: self.index + 1,
            end: self.raw().end,
        }
    }

    /// The first child tagged `tag`.
    pub fn child(&self, tag: &str) -> Option<TreeNode<'a>> {
        self.children().find(|c| c.tag() == tag)
    }

    /// Whether the content is a list of nodes (possibly empty).
    pub fn has_node_list(&self) -> bool {
        self.raw().content.kind() == NODES
    }

    /// The content, when it was written as bytes (BINARY_8/20/32).
    #[inline]
    pub fn bytes(&self) -> Option<&'a [u8]> {
        let content = self.raw().content;
        (content.kind() == BYTES).then(|| self.tree.slice(content.pos(), content.len))
    }

    /// The content, when it was written as a string form other than bytes (token, packed, JID).
    pub fn text(&self) -> Option<StrRef<'a>> {
        let content = self.raw().content;
        (content.kind() < NONE).then(|| self.tree.str(content))
    }

    /// Converts this node and its descendants into an owned [`Node`], equal to what
    /// [`Codec::decode`](crate::Codec::decode) returns for the same bytes.
    pub fn to_node(&self) -> Node {
        let attrs = self
            .attrs()
            .map(|(k, v)| (k.to_str(), v.to_str()))
            .collect();
        let raw = self.raw().content;
        let content = match raw.kind() {
            NONE => Content::None,
            NODES => Content::Nodes(self.children().map(|c| c.to_node()).collect()),
            BYTES => Content::Bytes(crate::Blob::copy_from_slice(
                self.bytes().unwrap_or_default(),
            )),
            _ => Content::Text(self.tree.str(raw).to_str()),
        };
        Node {
            tag: self.tag().to_str(),
            attrs,
            content,
        }
    }
}

/// The children of a [`TreeNode`].
#[derive(Debug, Clone)]
pub struct Children<'a> {
    tree: Tree<'a>,
    next: usize,
    end: usize,
}

impl<'a> Iterator for Children<'a> {
    type Item = TreeNode<'a>;
    #[inline]
    fn next(&mut self) -> Option<TreeNode<'a>> {
        if self.next >= self.end {
            return None;
        }
        let raw = self.tree.arena.nodes.get(self.next)?;
        let node = TreeNode {
            tree: self.tree,
            index: self.next,
            raw,
        };
        self.next = raw.end;
        Some(node)
    }
}

/// A string of a [`Tree`], left where it is in the input: a dictionary token, UTF-8 bytes,
/// packed nibbles or hex (unpacked when asked for), or a JID (built when asked for).
/// Comparing with `&str`, [`len`](StrRef::len) and [`as_str`](StrRef::as_str) never allocate.
#[derive(Clone, Copy)]
pub struct StrRef<'a> {
    raw: RawStr,
    bytes: &'a [u8],
    /// The arena's text buffer, where [`TEXT`] strings are.
    text: &'a str,
    /// The dictionary's tokens (and the dictionary, for building JIDs).
    tokens: &'static TokenTable,
    /// The arena's record of strings read through [`Self::str_with`].
    read: &'a Reads,
}

impl<'a> StrRef<'a> {
    /// The dictionary of the tree.
    #[inline(always)]
    fn dict(&self) -> Dictionary {
        self.tokens.dict
    }

    /// A token's string (`""` for a code that is not one, which decoding never records).
    #[inline(always)]
    fn token_str(&self) -> &'static str {
        self.tokens
            .strs
            .get(self.raw.pos())
            .copied()
            .unwrap_or_default()
    }

    /// The bytes of a raw string (validated UTF-8 while decoding).
    #[inline]
    fn raw_bytes(&self) -> &'a [u8] {
        let pos = self.raw.pos();
        self.bytes
            .get(pos..pos.wrapping_add(self.raw.len))
            .unwrap_or_default()
    }

    /// The string without copying, when it is a token or plain UTF-8 (not packed, not a JID).
    #[inline]
    pub fn as_str(&self) -> Option<&'a str> {
        match self.raw.kind() {
            TOKEN => Some(self.token_str()),
            TEXT => Some(self.text_str()),
            RAW => std::str::from_utf8(self.raw_bytes()).ok(),
            _ => None,
        }
    }

    /// A [`TEXT`] string.
    #[inline]
    fn text_str(&self) -> &'a str {
        let pos = self.raw.pos();
        self.text
            .get(pos..pos.wrapping_add(self.raw.len))
            .unwrap_or_default()
    }

    /// Whether this is a dictionary token.
    pub fn is_token(&self) -> bool {
        self.raw.kind() == TOKEN
    }

    /// Length in bytes of the string (computed while decoding; never unpacks).
    #[inline]
    pub fn len(&self) -> usize {
        self.raw.len
    }

    /// Whether the string is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Unpacks a packed string into `buf`, returning the characters written.
    fn unpack<'b>(&self, buf: &'b mut [u8; PACKED_BUF]) -> &'b str {
        let hex = match self.raw.kind() {
            NIBBLE => false,
            HEX => true,
            _ => return "",
        };
        let len = self.raw.len;
        let pos = self.raw.pos();
        let pairs = len.div_ceil(2);
        let packed = self
            .bytes
            .get(pos..pos.saturating_add(pairs))
            .unwrap_or_default();
        unpack_pairs(packed, hex, buf);
        // Table characters are ASCII, so this never falls back.
        std::str::from_utf8(buf.get(..len).unwrap_or_default()).unwrap_or_default()
    }

    /// Appends a packed string to `out` character by character: no buffer to clear and no
    /// UTF-8 check (every table character is ASCII, pushed as a `char`).
    fn unpack_into(&self, out: &mut String) {
        let hex = match self.raw.kind() {
            NIBBLE => false,
            HEX => true,
            _ => return,
        };
        let len = self.raw.len;
        let pos = self.raw.pos();
        let packed = self
            .bytes
            .get(pos..pos.saturating_add(len.div_ceil(2)))
            .unwrap_or_default();
        out.reserve(len + 1);
        let start = out.len();
        let table = &PAIR_CHARS[usize::from(hex)];
        for &byte in packed {
            let [high, low] = table[usize::from(byte)];
            // Table characters are ASCII; the mask tells the compiler so (a one-byte push,
            // no UTF-8 length branch).
            out.push(char::from(high & 0x7f));
            out.push(char::from(low & 0x7f));
        }
        // An odd length's last character is the padding digit, not part of the string.
        out.truncate(start + len);
    }

    fn build_jid(&self) -> String {
        let mut jid = String::new();
        self.write_jid(&mut jid);
        jid
    }

    /// Appends a JID's string to `out` (nothing for other kinds): no allocation once `out`
    /// has room.
    fn write_jid(&self, out: &mut String) {
        if !(JID..=JID_PAIR).contains(&self.raw.kind()) || self.write_common_jid(out) {
            return;
        }
        // Validated while decoding (nesting included), so this reads it again without a limit
        // and cannot fail (if it did, nothing would be appended: the JID is written at its end).
        let decoder = Decoder {
            dict: self.dict(),
            max_depth: usize::MAX,
        };
        let at = self.bytes.get(self.raw.pos()..).unwrap_or_default();
        let _ = decoder.jid_into(at, self.raw.jid_tag(), 1, out);
    }

    /// Writes the JIDs [`Walker::common_jid`] recognises (AD_JID, and JID_PAIR with a token
    /// server, each with a NIBBLE_8 user) straight from their bytes, validated while decoding;
    /// `false` (and nothing written) for any other layout, which the decoder then reads.
    #[inline]
    fn write_common_jid(&self, out: &mut String) -> bool {
        let bytes = self.bytes;
        let at = self.raw.pos();
        let ad_server;
        let (user_at, device, server) = match self.raw.jid_tag() {
            tags::AD_JID => {
                let Some(&[domain, device, tags::NIBBLE_8]) =
                    bytes.get(at..).and_then(<[u8]>::first_chunk::<3>)
                else {
                    return false;
                };
                let device = (device != 0).then_some(u16::from(device));
                ad_server = Server::from_domain_type(domain);
                (at + 2, device, ad_server.as_str())
            }
            tags::JID_PAIR if bytes.get(at) == Some(&tags::NIBBLE_8) => {
                let Some(&head) = bytes.get(at + 1) else {
                    return false;
                };
                let Some(&server) = bytes.get(at + 2 + usize::from(head & 0x7f)) else {
                    return false;
                };
                let class = self.dict().classes()[usize::from(server)];
                // A non-empty single-byte token, as `common_jid` requires.
                if class.wrapping_sub(1) >= class::TOKEN_END - 1 {
                    return false;
                }
                (at, None, self.dict().single_str(server))
            }
            _ => return false,
        };
        let Some(&head) = bytes.get(user_at + 1) else {
            return false;
        };
        let start = user_at + 2;
        let Some(pairs) = bytes.get(start..start + usize::from(head & 0x7f)) else {
            return false;
        };
        let mut buf = [0u8; PACKED_BUF];
        unpack_pairs(pairs, false, &mut buf);
        let chars = packed_chars(pairs.len(), head);
        // Unpacked digits are ASCII, so this never falls back.
        let user = std::str::from_utf8(buf.get(..chars).unwrap_or_default()).unwrap_or_default();
        write_jid(out, None, user, device, server);
        true
    }

    /// The string, borrowed when it is a token or plain UTF-8, built otherwise.
    pub fn to_cow(&self) -> Cow<'a, str> {
        if let Some(s) = self.as_str() {
            return Cow::Borrowed(s);
        }
        match self.raw.kind() {
            NIBBLE | HEX => {
                let mut buf = [0u8; PACKED_BUF];
                Cow::Owned(self.unpack(&mut buf).to_owned())
            }
            _ => Cow::Owned(self.build_jid()),
        }
    }

    /// The string as a `&str` without allocating once `scratch` has room: borrowed when it is a
    /// token or plain UTF-8, else unpacked or built into `scratch` (cleared first) and
    /// borrowed from there. What [`Self::to_cow`] gives, without the allocation.
    ///
    /// Tokens and strings of the arena's text buffer are read inline (a few instructions, so
    /// that a walk over every string of a tree inlines them); every other form out of line,
    /// where the arena takes note of it: a plain arena whose strings are read this way writes
    /// them while decoding its next trees (see [`TreeArena::new`]).
    #[inline(always)]
    pub fn str_with<'s>(&self, scratch: &'s mut String) -> &'s str
    where
        'a: 's,
    {
        match self.raw.kind() {
            TEXT => self.text_str(),
            TOKEN => self.token_str(),
            _ => Self::str_with_slow(self.raw, self.bytes, self.tokens, self.read, scratch),
        }
    }

    /// [`Self::str_with`] for raw, packed and JID strings (none of them in the text buffer).
    /// Its inputs are passed in registers (but the arena's flag, which only a raw string sets:
    /// marking it inline cost the walk 4% on text-buffer trees), so that the inline fast path
    /// stores nothing.
    #[cold]
    #[inline(never)]
    fn str_with_slow<'s>(
        raw: RawStr,
        bytes: &'a [u8],
        tokens: &'static TokenTable,
        read: &'a Reads,
        scratch: &'s mut String,
    ) -> &'s str
    where
        'a: 's,
    {
        let s = StrRef {
            raw,
            bytes,
            text: "",
            tokens,
            read,
        };
        // One dispatch on the kind, each form's path inline (no second call through
        // `write_to`).
        // The arena copies raw strings, or writes every string, from its next tree on.
        read.count(raw.kind() == RAW);
        match raw.kind() {
            RAW => std::str::from_utf8(s.raw_bytes()).unwrap_or_default(),
            NIBBLE | HEX => {
                scratch.clear();
                s.unpack_into(scratch);
                scratch
            }
            JID..=JID_PAIR => {
                scratch.clear();
                s.write_jid(scratch);
                scratch
            }
            _ => s.as_str().unwrap_or_default(),
        }
    }

    /// Appends the string to `out`: tokens and raw strings copied, packed strings unpacked and
    /// JIDs built straight into it, so that no allocation happens once `out` has room.
    pub fn write_to(&self, out: &mut String) {
        match self.raw.kind() {
            NIBBLE | HEX => self.unpack_into(out),
            TOKEN | RAW | TEXT => out.push_str(self.as_str().unwrap_or_default()),
            _ => self.write_jid(out),
        }
    }

    fn to_str(self) -> Str {
        match self.raw.kind() {
            TOKEN => Str::from_static(self.token_str()),
            _ => Str::from(self.to_cow().into_owned()),
        }
    }
}

impl PartialEq<str> for StrRef<'_> {
    #[inline]
    fn eq(&self, other: &str) -> bool {
        if self.len() != other.len() {
            return false;
        }
        match self.raw.kind() {
            TOKEN => self.token_str() == other,
            // Validated UTF-8: equal bytes are equal strings.
            RAW => self.raw_bytes() == other.as_bytes(),
            TEXT => self.text_str() == other,
            NIBBLE | HEX => {
                let mut buf = [0u8; PACKED_BUF];
                self.unpack(&mut buf) == other
            }
            _ => self.build_jid() == other,
        }
    }
}

impl PartialEq<&str> for StrRef<'_> {
    #[inline]
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl fmt::Display for StrRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.raw.kind() {
            NIBBLE | HEX => {
                let mut buf = [0u8; PACKED_BUF];
                f.write_str(self.unpack(&mut buf))
            }
            _ => f.write_str(&self.to_cow()),
        }
    }
}

impl fmt::Debug for StrRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_cow(), f)
    }
}

#[cfg(test)]
mod tests;
