//! [`Codec::decode`](crate::Codec::decode): an owned [`Node`], decoded in one pass straight
//! from the bytes when they are well formed and in the common forms ([`decode_direct`]), else
//! built from a validated tree (the rarer forms, and every error with its offset).
//!
//! Decoding straight into `Node`s costs a vector per node and a `String` per string, freed
//! again when the node goes. Both paths avoid most of it: each attribute list and child list
//! is allocated once at its exact size, tokens are `&'static str`s, and strings of up to
//! [`Str::INLINE`] bytes (JIDs, ids, timestamps, packed numbers) are written into their
//! [`Str`] without allocating. The tree path first walks the input with [`decode_tree`]
//! (which checks everything and allocates nothing once its arena is warm) into an arena kept
//! per thread, then builds the `Node`s from its records.

use std::cell::Cell;

use bytes::Bytes;

use crate::frame::{FrameRef, FrameWriter};

use super::{
    BYTES, HEX, MAX_TREE_INPUT, NIBBLE, NODES, NONE, RAW, RawNode, RawStr, TEXT, TOKEN, Tree,
    TreeArena, decode_tree, packed_chars,
    text::{Suffix, Suffixes, domain_suffixes, nibbles_ok, token_suffixes},
};
use crate::blob::Blob;
use crate::decode::{
    Decoder, PACKED_BUF, PAIR_CHARS, is_utf8, packed_len_ok, unpack_pairs, write_jid,
};
use crate::dict::{Dictionary, class, tags};
use crate::error::DecodeError;
use crate::jid::Server;
use crate::node::{Content, Node};
use crate::recycle::{self, Cache};
use crate::text::{Str, put_words};

/// Largest arena kept for the next decode on a thread (in nodes and attributes): a frame
/// bigger than this (a full history sync) gets an arena of its own, freed with it, so that a
/// thread does not hold the memory of the largest frame it ever saw. About 200 KiB + 256 KiB.
const KEEP_NODES: usize = 4096;
const KEEP_ATTRS: usize = 8192;

thread_local! {
    static ARENA: Cell<TreeArena> = Cell::new(TreeArena::new());
}

/// Decodes `input` into an owned [`Node`], with the same checks and errors as
/// [`decode_tree`]. Byte contents longer than [`Blob::INLINE`] are spans of one copy of
/// `input` from the first of them on, made when it is met.
pub(crate) fn decode_owned(decoder: &Decoder, input: &[u8]) -> Result<Node, DecodeError> {
    if let Some(node) = decode_direct(decoder, input, None) {
        return Ok(node);
    }
    with_thread_arena(|arena| {
        decode_tree(decoder, input, arena).map(|tree| tree_to_node(&tree, None))
    })
}

/// Decodes `frame` into an owned [`Node`] whose byte contents longer than [`Blob::INLINE`] are
/// spans of `frame` (no copy).
pub(crate) fn decode_owned_bytes(decoder: &Decoder, frame: Bytes) -> Result<Node, DecodeError> {
    if let Some(node) = decode_direct(decoder, &frame, Some(&frame)) {
        return Ok(node);
    }
    with_thread_arena(|arena| {
        decode_tree(decoder, &frame, arena).map(|tree| tree_to_node(&tree, Some(&frame)))
    })
}

/// The root of `tree` and its descendants as an owned [`Node`], byte contents longer than
/// [`Blob::INLINE`] spans of `frame` (the bytes `tree` points into) when given, else of a copy
/// of the tree's bytes from the first of them on, made when it is met.
pub(super) fn tree_to_node(tree: &Tree<'_>, frame: Option<&Bytes>) -> Node {
    recycle::with_cache(|lists| {
        let mut builder = Builder {
            tree,
            scratch: String::new(),
            spans: Spans::new(frame),
            lists,
        };
        let mut root = Node::default();
        builder.build(0, &mut root);
        root
    })
}

/// Runs `f` with this thread's arena, which is kept for the next call unless `f` grew it past
/// [`KEEP_NODES`] / [`KEEP_ATTRS`].
pub(super) fn with_thread_arena<R>(f: impl FnOnce(&mut TreeArena) -> R) -> R {
    // Taken out of the cell while in use: a nested call on this thread (none exists) would
    // find an empty arena, never a borrowed one.
    let mut arena = ARENA.with(Cell::take);
    let result = f(&mut arena);
    if arena.nodes.capacity() <= KEEP_NODES && arena.attrs.capacity() <= KEEP_ATTRS {
        ARENA.with(|cell| cell.set(arena));
    }
    result
}

/// What building a [`Node`] from a tree needs besides the tree.
struct Builder<'t, 'a, 'c> {
    tree: &'t Tree<'a>,
    /// Where JIDs are built, reused for all of them.
    scratch: String,
    /// Where byte contents longer than [`Blob::INLINE`] are cut from.
    spans: Spans<'t>,
    /// Where child and attribute lists come from.
    lists: &'c mut Cache,
}

impl Builder<'_, '_, '_> {
    /// Fills `node` (a default one) with the node at `index` of `tree` and its descendants. Built
    /// in place, children straight into their list, so that no `Node` is moved once made (a
    /// `Node` is about 200 bytes; moving each one up the recursion cost more than building it).
    /// Depth is bounded by the decoder's `max_depth`, so this recursion is too; its frame holds
    /// only the child list (the strings are written by [`Self::fill`], out of line, whose
    /// buffers would otherwise take stack on every level).
    fn build(&mut self, index: usize, node: &mut Node) {
        let nodes = &self.tree.arena.nodes;
        let Some(raw) = nodes.get(index) else {
            return;
        };
        self.fill(raw, node);
        if raw.content.kind() == NODES {
            // The record keeps the list's size; children follow their parent, each one's
            // `end` is where its next sibling starts.
            let count = raw.content.len;
            let mut children = self.lists.nodes(count);
            children.resize_with(count, Node::default);
            let mut next = index + 1;
            for child in &mut children {
                self.build(next, child);
                next = nodes.get(next).map_or(raw.end, |c| c.end);
            }
            set_children(&mut node.content, children);
        }
    }

    /// Writes `raw`'s tag, attributes and content other than a child list into `node` (a
    /// default one). Every string, attribute pair and byte content is written where it lies,
    /// not made on the stack and copied: each such copy read back with wide loads what narrow
    /// stores had just written there, which the CPU cannot forward (a stall that took 30-45%
    /// of the samples of building).
    #[inline(never)]
    fn fill(&mut self, raw: &RawNode, node: &mut Node) {
        let tree = self.tree;
        string_into(tree, raw.tag, &mut self.scratch, &mut node.tag);
        let attrs = tree
            .arena
            .attrs
            .get(raw.attrs_start as usize..raw.attrs_end as usize)
            .unwrap_or_default();
        if !attrs.is_empty() {
            // Placeholders (inline or static strings, nothing to drop), each then overwritten
            // in place.
            node.attrs.fill_empty(attrs.len(), self.lists);
            for (slot, &(k, v)) in node.attrs.slots_mut().iter_mut().zip(attrs) {
                string_into(tree, k, &mut self.scratch, &mut slot.0);
                string_into(tree, v, &mut self.scratch, &mut slot.1);
            }
        }
        // `node.content` is `None` (a default node): replaced without a drop call.
        match raw.content.kind() {
            NONE | NODES => {}
            BYTES => {
                let blob = self.blob(raw.content.pos(), raw.content.len);
                std::mem::forget(std::mem::replace(&mut node.content, Content::Bytes(blob)));
            }
            _ => {
                std::mem::forget(std::mem::replace(
                    &mut node.content,
                    Content::Text(Str::default()),
                ));
                if let Content::Text(text) = &mut node.content {
                    string_into(tree, raw.content, &mut self.scratch, text);
                }
            }
        }
    }

    /// The byte content at `pos..pos + len` of the tree's bytes: copied inline when short, else
    /// a span of the frame.
    #[inline(always)]
    fn blob(&mut self, pos: usize, len: usize) -> Blob {
        let tree = self.tree;
        // In range for every position recorded while decoding; never panics if not.
        let Some(data) = pos
            .checked_add(len)
            .and_then(|end| tree.bytes.get(pos..end))
        else {
            return Blob::new();
        };
        if len <= Blob::INLINE {
            return Blob::copy_from_slice(data);
        }
        // A copy of its own if the frame had none of it (never: contents are built in input
        // order).
        match self.spans.at(tree.bytes, pos) {
            Some((frame, start)) => Blob::span(frame, start, len),
            None => Blob::copy_from_slice(data),
        }
    }
}

/// Both characters of a packed byte as one little-endian `u16`, by byte: NIBBLE_8 then HEX_8
/// ([`PAIR_CHARS`] read as words, so that four pairs make a `u64` in registers).
static PAIR_WORDS: [[u16; 256]; 2] = {
    let mut table = [[0u16; 256]; 2];
    let mut t = 0;
    while t < 2 {
        let mut b = 0;
        while b < 256 {
            table[t][b] = u16::from_le_bytes(PAIR_CHARS[t][b]);
            b += 1;
        }
        t += 1;
    }
    table
};

/// Sets `dst` to a packed string of at most [`Str::INLINE`] characters whose pairs start at
/// `pos`, unpacked in registers (eight characters to a word) from a 16-byte window of the
/// input; `false` (nothing done) when fewer than 16 bytes are left there. Characters past its
/// length (from the bytes after it) are kept in the string but never read.
#[inline(always)]
fn packed_inline(bytes: &[u8], pos: usize, len: usize, hex: bool, dst: &mut Str) -> bool {
    let Some(window) = bytes.get(pos..).and_then(<[u8]>::first_chunk::<16>) else {
        return false;
    };
    let table = &PAIR_WORDS[usize::from(hex)];
    let pair = |i: usize| u64::from(table[usize::from(window[i])]);
    let word = |i: usize| pair(i) | pair(i + 1) << 16 | pair(i + 2) << 32 | pair(i + 3) << 48;
    let words = if len > 8 {
        [word(0), word(4), word(8), word(12)]
    } else {
        [word(0), 0, 0, 0]
    };
    dst.set_ascii_words(words, len);
    true
}

/// Sets `dst` (a default one, nothing to drop) to a string of the tree: tokens static, the
/// rest copied (inline when short); JIDs are built in `scratch`, which is reused for all of
/// them. Always inlined, and writing into its destination instead of returning a `Str`: a
/// returned one went through the stack, and reading it back stalled (see [`Builder::build`]).
#[inline(always)]
fn string_into(tree: &Tree<'_>, raw: RawStr, scratch: &mut String, dst: &mut Str) {
    match raw.kind() {
        TOKEN => dst.set_static(tree.arena.dict.token_str(raw.pos())),
        // Validated UTF-8 while decoding: a short one is copied as the fixed-size window that
        // starts it (no second UTF-8 check, no variable-length copy), when the input is long
        // enough to hold that window.
        RAW if raw.len <= Str::INLINE => {
            match tree.bytes.get(raw.pos()..).and_then(<[u8]>::first_chunk) {
                Some(window) => dst.set_prefix(window, raw.len),
                None => *dst = Str::copy_of(tree.str(raw).as_str().unwrap_or_default()),
            }
        }
        RAW | TEXT => *dst = Str::copy_of(tree.str(raw).as_str().unwrap_or_default()),
        // Most packed strings (ids, timestamps, phone numbers) fit inline.
        NIBBLE | HEX if raw.len <= Str::INLINE => {
            if !packed_inline(tree.bytes, raw.pos(), raw.len, raw.kind() == HEX, dst) {
                let pairs = tree.slice(raw.pos(), raw.len.div_ceil(2));
                *dst = packed_short(pairs, raw.kind() == HEX, raw.len);
            }
        }
        NIBBLE | HEX => {
            let mut buf = [0u8; PACKED_BUF];
            *dst = Str::copy_of(tree.str(raw).unpack(&mut buf));
        }
        _ => {
            *dst = inline_jid(tree, raw).unwrap_or_else(|| {
                scratch.clear();
                tree.str(raw).write_jid(scratch);
                Str::copy_of(scratch)
            })
        }
    }
}

/// A packed string of at most [`Str::INLINE`] characters near the end of the input (where
/// [`packed_inline`] has no full window), unpacked pair by pair.
#[cold]
#[inline(never)]
fn packed_short(pairs: &[u8], hex: bool, len: usize) -> Str {
    let table = &PAIR_CHARS[usize::from(hex)];
    let mut chars = [0u8; Str::INLINE + 2];
    for (&byte, out) in pairs.iter().zip(chars.chunks_exact_mut(2)) {
        out.copy_from_slice(&table[usize::from(byte)]);
    }
    Str::from_ascii(&chars, len)
}

/// The most frequent JIDs (those `StrRef::write_common_jid` writes: an AD_JID, or a JID_PAIR
/// with a token server, with a NIBBLE_8 user) of at most [`Str::INLINE`] characters, written
/// straight into a `Str`'s bytes instead of a `String` copied next; `None` for any other (the
/// caller then builds it the long way). Reads only what decoding validated.
#[inline(always)]
fn inline_jid(tree: &Tree<'_>, raw: RawStr) -> Option<Str> {
    if raw.len > Str::INLINE {
        return None;
    }
    let bytes = tree.bytes;
    let at = raw.pos();
    let dict = tree.arena.dict;
    let ad_server;
    let (user_at, device, server, suffix) = match raw.jid_tag() {
        tags::AD_JID => {
            let &[domain, device, tags::NIBBLE_8] = bytes.get(at..)?.first_chunk::<3>()? else {
                return None;
            };
            ad_server = Server::from_domain_type(domain);
            let suffix = &domain_suffixes()[usize::from(domain)];
            (at + 2, device, ad_server.as_str(), suffix)
        }
        tags::JID_PAIR if bytes.get(at) == Some(&tags::NIBBLE_8) => {
            let head = *bytes.get(at + 1)?;
            let server = *bytes.get(at + 2 + usize::from(head & 0x7f))?;
            // A non-empty single-byte token.
            if dict.classes()[usize::from(server)].wrapping_sub(1) >= class::TOKEN_END - 1 {
                return None;
            }
            let suffix = &token_suffixes(dict)[usize::from(server)];
            (at, 0, dict.single_str(server), suffix)
        }
        _ => return None,
    };
    let head = *bytes.get(user_at + 1)?;
    let start = user_at + 2;
    let pairs = bytes.get(start..start + usize::from(head & 0x7f))?;
    let mut jid = Str::default();
    let len = jid_in_place(
        bytes,
        start,
        packed_chars(pairs.len(), head),
        device,
        server,
        suffix,
        &mut jid,
    )?;
    // Equal unless the tree's length and these bytes disagree, which decoding rules out.
    (len == raw.len).then_some(jid)
}

/// Sets `dst` (a default one) to `user[:device]@server` (no device when 0), whose NIBBLE_8 user
/// of `user` characters (validated) has its pairs at `data`, and returns its length: the user
/// unpacked eight characters to a register word from a 16-byte window of the input and stored
/// as words straight into `dst`'s bytes, the rest written after it there (near the end of the
/// input, from the bytes left, zero-padded to 16). `None` (nothing done) when longer than
/// [`Str::INLINE`]. `suffix` is `@server` padded to 16 bytes (all zeros for a server of 16
/// bytes or more, then copied from `server`). Building it in a buffer first and copying that
/// into the `Str` read back with wide loads what narrow stores had just written, which the CPU
/// cannot forward (a quarter of the JID's samples).
#[inline(always)]
fn jid_in_place(
    bytes: &[u8],
    data: usize,
    user: usize,
    device: u8,
    server: &str,
    suffix: &Suffix,
    dst: &mut Str,
) -> Option<usize> {
    let mut padded = [0u8; 16];
    let window = match bytes.get(data..)?.first_chunk::<16>() {
        Some(window) => window,
        None => {
            // Fewer than 16 bytes left: the user's pairs are among them (checked by the
            // caller); the padding is unpacked too, past `user`, and never kept.
            let rest = bytes.get(data..)?;
            padded.get_mut(..rest.len())?.copy_from_slice(rest);
            &padded
        }
    };
    // The colon and the digits of the device, if any.
    let digits = match device {
        0 => 0,
        1..=9 => 2,
        10..=99 => 3,
        _ => 4,
    };
    let len = user + digits + 1 + server.len();
    if len > Str::INLINE {
        return None;
    }
    let table = &PAIR_WORDS[0];
    let pair = |i: usize| u64::from(table[usize::from(window[i])]);
    let word = |i: usize| pair(i) | pair(i + 1) << 16 | pair(i + 2) << 32 | pair(i + 3) << 48;
    let words = if user > 16 {
        [word(0), word(4), word(8), word(12)]
    } else {
        [word(0), word(4), 0, 0]
    };
    let out = dst.inline_mut(len)?;
    put_words(out, words);
    let mut at = user;
    if device != 0 {
        let suffix = [
            b'0' + device / 100,
            b'0' + device / 10 % 10,
            b'0' + device % 10,
        ];
        // The colon, then the digits without leading zeros.
        *out.get_mut(at)? = b':';
        out.get_mut(at + 1..at + digits)?
            .copy_from_slice(suffix.get(4 - digits..)?);
        at += digits;
    }
    // `@server` as one 16-byte store from its padded suffix when there is room for it (past
    // `len`, the padding is never read), instead of a copy of the server's length.
    match out.get_mut(at..).and_then(<[u8]>::first_chunk_mut::<16>) {
        Some(tail) if suffix[0] == b'@' => *tail = *suffix,
        _ => {
            *out.get_mut(at)? = b'@';
            copy_short(out.get_mut(at + 1..len)?, server.as_bytes());
        }
    }
    Some(len)
}

/// Copies `src` into `dst` (of the same length; a server) as two overlapping words when it
/// is 8 to 16 bytes long, else byte by byte, instead of a `memcpy` call.
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    match (src.first_chunk::<8>(), src.last_chunk::<8>()) {
        (Some(head), Some(tail)) if n <= 16 && dst.len() == n => {
            if let Some(out) = dst.first_chunk_mut::<8>() {
                *out = *head;
            }
            if let Some(out) = dst.last_chunk_mut::<8>() {
                *out = *tail;
            }
        }
        _ => {
            for (out, &byte) in dst.iter_mut().zip(src) {
                *out = byte;
            }
        }
    }
}

/// Where an owned decode cuts its byte contents longer than [`Blob::INLINE`] from: the frame
/// the caller handed over (it is the input), else a copy of the input from the first such
/// content on, made when it is met. Only what comes from the first long content on is copied:
/// a frame of short contents and one long one at its end (a prekey upload) copies that one
/// alone, and one of long contents (a message list) copies little besides them, in one call,
/// where a copy of each cost more (a call per content, each into a buffer of its own taken and
/// given back). Both decode paths hold one.
struct Spans<'a> {
    /// The input as a [`Bytes`], when the caller handed it over.
    frame: Option<&'a Bytes>,
    /// The frame spans are cut from, once the first long content was met. (Not an `Option`
    /// of a pair with `base`: the one-pass decoder's node head then took 2% more instructions
    /// on frames with no long content.)
    writer: Option<FrameWriter>,
    /// Where `writer`'s frame starts in the input.
    base: usize,
}

impl<'a> Spans<'a> {
    /// None made yet, over `frame` when the caller handed the input over.
    fn new(frame: Option<&'a Bytes>) -> Spans<'a> {
        Spans {
            frame,
            writer: None,
            base: 0,
        }
    }

    /// A reference to the frame for the content at `start` of `input` (the decoder's input),
    /// and where that content starts in the frame; `None` for one before the frame (never:
    /// contents are met in input order).
    #[inline(always)]
    fn at(&mut self, input: &[u8], start: usize) -> Option<(FrameRef, usize)> {
        if self.writer.is_none() {
            self.start(input, start);
        }
        let start = start.checked_sub(self.base)?;
        Some((self.writer.as_mut()?.reference(), start))
    }

    /// Makes the frame, the first long content at `first`.
    #[inline(never)]
    fn start(&mut self, input: &[u8], first: usize) {
        let (writer, base) = match self.frame {
            Some(frame) => (FrameWriter::handed(frame.clone()), 0),
            None => (
                FrameWriter::copy_of(input.get(first..).unwrap_or_default()),
                first,
            ),
        };
        (self.writer, self.base) = (Some(writer), base);
    }
}

/// Decodes `input` in one pass straight into a [`Node`] (no tree, no arena), when it is well
/// formed and written in the common forms: nodes with LIST_8/LIST_16 headers, tokens, raw
/// strings, packed strings, AD_JIDs and token-server JID_PAIRs with a NIBBLE_8 user, byte and
/// list contents. `None` for anything else, well formed or not: the caller then takes the
/// validating tree path, which builds the rarer forms and gives every error with its offset.
/// So this accepts nothing the tree path refuses (every check it needs for the forms it reads
/// is made here too: lengths, UTF-8, packed lengths and digits, token codes, depth, trailing
/// bytes), and builds what the tree path builds (`tests/tree.rs` compares them on every
/// vector, truncation and flip). It saves writing the tree's records and reading them back.
fn decode_direct(decoder: &Decoder, input: &[u8], frame: Option<&Bytes>) -> Option<Node> {
    if input.len() as u64 > MAX_TREE_INPUT {
        return None;
    }
    let (root, complete) = recycle::with_cache(|lists| {
        let mut direct = Direct {
            bytes: input,
            pos: 0,
            classes: decoder.dict.classes(),
            singles: decoder.dict.singles(),
            token_suffixes: token_suffixes(decoder.dict),
            dict: decoder.dict,
            max_depth: decoder.max_depth,
            scratch: String::new(),
            spans: Spans::new(frame),
            lists,
        };
        let mut root = Node::default();
        let complete = direct.node(1, &mut root).is_some() && direct.pos == input.len();
        (root, complete)
    });
    // A declined frame's partial tree is dropped here, once the cache is back in its cell, so
    // that its lists return to it (dropped inside, they went to a cache of their own, freed).
    complete.then_some(root)
}

/// The state of [`decode_direct`].
struct Direct<'a, 'c> {
    bytes: &'a [u8],
    /// Everything before it has been read.
    pos: usize,
    classes: &'static [u8; 256],
    /// The single-byte tokens' strings (`dict`'s, held to index without a match).
    singles: &'static [&'static str; 256],
    /// `@` and each single-byte token, padded (see [`token_suffixes`]): a JID_PAIR's server.
    token_suffixes: &'static Suffixes,
    dict: Dictionary,
    max_depth: usize,
    /// Where long JIDs are built.
    scratch: String,
    /// Where byte contents longer than [`Blob::INLINE`] are cut from.
    spans: Spans<'a>,
    /// Where child and attribute lists come from.
    lists: &'c mut Cache,
}

impl Direct<'_, '_> {
    /// Fills `node` (a default one) with the node at [`Self::pos`] (at nesting `level`, the
    /// root being 1) and its descendants, leaving `pos` after it. The recursion is bounded by
    /// `max_depth`, and its frame holds only the child list (see [`Builder::build`]).
    fn node(&mut self, level: usize, node: &mut Node) -> Option<()> {
        if level > self.max_depth {
            return None;
        }
        match self.head(node)? {
            Some(count) => self.children(level, node, count),
            None => Some(()),
        }
    }

    /// Fills the child list of `node` (at nesting `level`, its header read), of `count`
    /// children. A child's own header is read here and the recursion goes a level down only
    /// for a child with a list of its own: a leaf (most nodes) then costs one call, not two.
    fn children(&mut self, level: usize, node: &mut Node, count: usize) -> Option<()> {
        // The children are at `level + 1`: refused past the limit, as the tree path does (an
        // empty list has none).
        if count > 0 && level >= self.max_depth {
            return None;
        }
        let mut children = self.lists.nodes(count);
        children.resize_with(count, Node::default);
        let complete = children.iter_mut().all(|child| match self.head(child) {
            Some(Some(count)) => self.children(level + 1, child, count).is_some(),
            Some(None) => true,
            None => false,
        });
        // Attached even when a child failed: the partial tree is then dropped whole by
        // `decode_direct`, after the cache is back, and its lists return to it.
        set_children(&mut node.content, children);
        complete.then_some(())
    }

    /// Reads a node's header, tag, attributes and content into `node` (a default one), all
    /// but a child list, whose size it returns (its header read) for [`Self::node`] to fill.
    #[inline(never)]
    fn head(&mut self, node: &mut Node) -> Option<Option<usize>> {
        let bytes = self.bytes;
        let mut at = self.pos;
        // Most nodes start with LIST_8, a size and a non-empty single-byte token: read at once.
        let size = match bytes.get(at..).and_then(<[u8]>::first_chunk::<3>) {
            Some(&[tags::LIST_8, size @ 1..=255, tag])
                if self.classes[usize::from(tag)].wrapping_sub(1) < class::TOKEN_END - 1 =>
            {
                node.tag.set_static(self.singles[usize::from(tag)]);
                at += 3;
                usize::from(size)
            }
            _ => {
                let size = self.list_size(&mut at)?;
                // An empty node (LIST_EMPTY, or a size of 0) is an error.
                if size == 0 || self.string(&mut at, &mut node.tag)? == 0 {
                    return None;
                }
                size
            }
        };
        let pairs = (size - 1) >> 1;
        if pairs > 0 {
            // Each attribute takes two bytes at least: a list no input could hold is refused
            // before it is allocated.
            if pairs > bytes.len().saturating_sub(at) / 2 {
                return None;
            }
            node.attrs.fill_empty(pairs, self.lists);
            for (key, value) in node.attrs.slots_mut() {
                self.string(&mut at, key)?;
                self.string(&mut at, value)?;
            }
        }
        if size % 2 == 1 {
            self.pos = at;
            return Some(None);
        }
        match *bytes.get(at)? {
            tags::LIST_EMPTY | tags::LIST_8 | tags::LIST_16 => {
                let count = self.list_size(&mut at)?;
                // Each child takes three bytes at least (as above).
                if count > bytes.len().saturating_sub(at) / 3 {
                    return None;
                }
                self.pos = at;
                return Some(Some(count));
            }
            tag @ (tags::BINARY_8 | tags::BINARY_20 | tags::BINARY_32) => {
                let (start, len) = binary_len(bytes, at, tag)?;
                let end = start.checked_add(len).filter(|&end| end <= bytes.len())?;
                // `node.content` is `None` (a default node): replaced without a drop call. A
                // short content by an empty inline blob then written over in place.
                if len <= Blob::INLINE {
                    // Copied as the fixed-size window that starts it (no reference count, no
                    // variable-length copy) when the input holds one.
                    match bytes.get(start..).and_then(<[u8]>::first_chunk) {
                        Some(window) => {
                            std::mem::forget(std::mem::replace(&mut node.content, EMPTY_BYTES));
                            if let Content::Bytes(blob) = &mut node.content {
                                blob.set_prefix(window, len);
                            }
                        }
                        None => inline_tail(bytes.get(start..end), &mut node.content),
                    }
                } else {
                    // A span of the frame, its reference counted when the decode ends.
                    let (frame, start) = self.spans.at(bytes, start)?;
                    std::mem::forget(std::mem::replace(&mut node.content, EMPTY_BYTES));
                    if let Content::Bytes(blob) = &mut node.content {
                        blob.set_span(frame, start, len);
                    }
                }
                at = end;
            }
            _ => {
                std::mem::forget(std::mem::replace(
                    &mut node.content,
                    Content::Text(Str::default()),
                ));
                if let Content::Text(text) = &mut node.content {
                    self.string(&mut at, text)?;
                }
            }
        }
        self.pos = at;
        Some(None)
    }

    /// A list size: LIST_EMPTY, LIST_8 or LIST_16.
    #[inline(always)]
    fn list_size(&self, at: &mut usize) -> Option<usize> {
        let bytes = self.bytes;
        let (size, len) = match *bytes.get(*at)? {
            tags::LIST_EMPTY => (0, 1),
            tags::LIST_8 => (usize::from(*bytes.get(*at + 1)?), 2),
            tags::LIST_16 => {
                let &[hi, lo] = bytes.get(*at + 1..)?.first_chunk::<2>()?;
                (usize::from(u16::from_be_bytes([hi, lo])), 3)
            }
            _ => return None,
        };
        *at += len;
        Some(size)
    }

    /// Reads a string at `at` into `dst` (a default one) and returns its length in bytes;
    /// `None` for a form [`decode_direct`] leaves to the tree path, and for any error.
    #[inline(always)]
    fn string(&mut self, at: &mut usize, dst: &mut Str) -> Option<usize> {
        let bytes = self.bytes;
        let start = *at;
        let tag = *bytes.get(start)?;
        let class = self.classes[usize::from(tag)];
        // A single-byte token (class 0 is LIST_EMPTY, the empty string); the class is its
        // length.
        if class < class::TOKEN_END {
            *at = start + 1;
            dst.set_static(self.singles[usize::from(tag)]);
            return Some(usize::from(class));
        }
        match class {
            class::BINARY => {
                let (data, len) = binary_len(bytes, start, tag)?;
                let end = data.checked_add(len).filter(|&end| end <= bytes.len())?;
                if !is_utf8(bytes, data, end) {
                    return None;
                }
                match (
                    len <= Str::INLINE,
                    bytes.get(data..).and_then(<[u8]>::first_chunk),
                ) {
                    (true, Some(window)) => dst.set_prefix(window, len),
                    _ => *dst = Str::copy_of(std::str::from_utf8(bytes.get(data..end)?).ok()?),
                }
                *at = end;
                Some(len)
            }
            class::NIBBLE | class::HEX => {
                let head = *bytes.get(start + 1)?;
                let data = start + 2;
                let end = data + usize::from(head & 0x7f);
                let pairs = bytes.get(data..end)?;
                let chars = packed_chars(pairs.len(), head);
                let hex = class == class::HEX;
                if !packed_len_ok(chars) || !(hex || nibbles_ok(bytes, (data, end), head >= 0x80)) {
                    return None;
                }
                if chars <= Str::INLINE {
                    if !packed_inline(bytes, data, chars, hex, dst) {
                        *dst = packed_short(pairs, hex, chars);
                    }
                } else {
                    let mut buf = [0u8; PACKED_BUF];
                    unpack_pairs(pairs, hex, &mut buf);
                    *dst = Str::copy_of(std::str::from_utf8(buf.get(..chars)?).ok()?);
                }
                *at = end;
                Some(chars)
            }
            class::DOUBLE => {
                let index = *bytes.get(start + 1)?;
                let token = self.dict.double(tag - tags::DICTIONARY_0, index)?;
                dst.set_static(token);
                *at = start + 2;
                Some(token.len())
            }
            class::JID => self.jid(at, tag, dst),
            _ => None,
        }
    }

    /// An AD_JID, or a JID_PAIR with a token server, whose user is NIBBLE_8 (the JIDs of
    /// nearly every stanza); `None` for any other JID.
    #[inline(never)]
    fn jid(&mut self, at: &mut usize, tag: u8, dst: &mut Str) -> Option<usize> {
        let bytes = self.bytes;
        let after = *at + 1;
        let ad_server;
        let (user_at, device, server, suffix, end) = match tag {
            tags::AD_JID => {
                let &[domain, device, tags::NIBBLE_8] = bytes.get(after..)?.first_chunk::<3>()?
                else {
                    return None;
                };
                let end = self.nibble_user(after + 2)?;
                ad_server = Server::from_domain_type(domain);
                let suffix = &domain_suffixes()[usize::from(domain)];
                (after + 2, device, ad_server.as_str(), suffix, end)
            }
            tags::JID_PAIR if bytes.get(after) == Some(&tags::NIBBLE_8) => {
                let user_end = self.nibble_user(after)?;
                let server = *bytes.get(user_end)?;
                // A non-empty single-byte token.
                let class = self.classes[usize::from(server)];
                if class.wrapping_sub(1) >= class::TOKEN_END - 1 {
                    return None;
                }
                let suffix = &self.token_suffixes[usize::from(server)];
                (
                    after,
                    0,
                    self.singles[usize::from(server)],
                    suffix,
                    user_end + 1,
                )
            }
            _ => return None,
        };
        let head = *bytes.get(user_at + 1)?;
        let pairs = bytes.get(user_at + 2..user_at + 2 + usize::from(head & 0x7f))?;
        let user = packed_chars(pairs.len(), head);
        if let Some(len) = jid_in_place(bytes, user_at + 2, user, device, server, suffix, dst) {
            *at = end;
            return Some(len);
        }
        // Longer than a `Str` holds inline.
        let mut buf = [0u8; PACKED_BUF];
        unpack_pairs(pairs, false, &mut buf);
        let user = buf.get(..user)?;
        self.scratch.clear();
        let device = (device != 0).then_some(u16::from(device));
        write_jid(
            &mut self.scratch,
            None,
            std::str::from_utf8(user).ok()?,
            device,
            server,
        );
        *dst = Str::copy_of(&self.scratch);
        *at = end;
        Some(self.scratch.len())
    }

    /// Checks the NIBBLE_8 string whose tag is at `at` (checked by the caller) as a JID's
    /// user, and returns its end.
    #[inline(always)]
    fn nibble_user(&self, at: usize) -> Option<usize> {
        let bytes = self.bytes;
        let head = *bytes.get(at + 1)?;
        let start = at + 2;
        let end = start + usize::from(head & 0x7f);
        let chars = packed_chars(end - start, head);
        (end <= bytes.len()
            && packed_len_ok(chars)
            && nibbles_ok(bytes, (start, end), head >= 0x80))
        .then_some(end)
    }
}

/// An empty child list: the placeholder a list is written over in place.
const EMPTY_NODES: Content = Content::Nodes(Vec::new());

/// Sets `content` (`None`, a default node's: nothing to drop) to `children`, in place: a
/// whole `Content` built aside was copied in pieces cut by the fields of all its forms, one
/// of them a wide load across the narrow stores that had just written the list (a stall that
/// took a third of the samples of [`Direct::node`]).
#[inline(always)]
fn set_children(content: &mut Content, children: Vec<Node>) {
    std::mem::forget(std::mem::replace(content, EMPTY_NODES));
    if let Content::Nodes(list) = content {
        std::mem::forget(std::mem::replace(list, children));
    }
}

/// An empty inline byte content: the placeholder a short one is written over in place.
const EMPTY_BYTES: Content = Content::Bytes(Blob::new());

/// Sets `content` (`None`, nothing to drop) to a short byte content near the end of the input
/// (where no full window is left), copied.
#[cold]
#[inline(never)]
fn inline_tail(data: Option<&[u8]>, content: &mut Content) {
    let blob = Blob::copy_from_slice(data.unwrap_or_default());
    std::mem::forget(std::mem::replace(content, Content::Bytes(blob)));
}

/// Where the data of a BINARY_8/20/32 string or content whose tag is at `at` starts, and its
/// claimed length (not yet checked against the input).
#[inline(always)]
fn binary_len(bytes: &[u8], at: usize, tag: u8) -> Option<(usize, usize)> {
    let rest = bytes.get(at + 1..)?;
    match tag {
        tags::BINARY_8 => Some((at + 2, usize::from(*rest.first()?))),
        tags::BINARY_20 => {
            let &[a, b, c] = rest.first_chunk::<3>()?;
            let len = u32::from_be_bytes([0, a, b, c]) & 0x000f_ffff;
            Some((at + 4, usize::try_from(len).ok()?))
        }
        _ => {
            let &word = rest.first_chunk::<4>()?;
            Some((at + 5, usize::try_from(u32::from_be_bytes(word)).ok()?))
        }
    }
}

#[cfg(test)]
mod tests;
