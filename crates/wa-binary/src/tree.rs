//! `decode_tree`: a validating, allocation-free (once its arena is warm) decoder that records
//! nodes in flat vectors and leaves strings in the input until they are asked for.

use std::borrow::Cow;
use std::fmt;

use crate::decode::{
    Decoder, HEX_CHARS, NIBBLE_CHARS, Res, binary_len, fail, take_, u8_, u16_, utf8,
};
use crate::dict::{Dictionary, tags};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::jid::Server;
use crate::node::{Attrs, Content, Node};
use crate::text::Str;

/// Where a string of a [`Tree`] is: positions into the input, so that the arena holds no
/// borrow and can be reused for the next input.
#[derive(Debug, Clone, Copy)]
enum RawStr {
    /// A dictionary token (or the empty string).
    Token(&'static str),
    /// Validated UTF-8 at `start..start + len`.
    Raw { start: usize, len: usize },
    /// Packed NIBBLE_8 / HEX_8 pairs at `start..start + pairs`, validated, `len` characters.
    Packed {
        start: usize,
        pairs: usize,
        len: usize,
        hex: bool,
    },
    /// A JID whose encoding (after its tag byte `tag`) starts at `start`; validated, `len`
    /// characters once built.
    Jid { tag: u8, start: usize, len: usize },
}

impl RawStr {
    fn len(&self) -> usize {
        match *self {
            RawStr::Token(t) => t.len(),
            RawStr::Raw { len, .. } | RawStr::Packed { len, .. } | RawStr::Jid { len, .. } => len,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum RawContent {
    None,
    Nodes,
    Bytes { start: usize, len: usize },
    Text(RawStr),
}

/// One node, in pre-order: its children are the nodes that follow it up to `end`.
#[derive(Debug, Clone, Copy)]
struct RawNode {
    tag: RawStr,
    attrs_start: usize,
    attrs_end: usize,
    content: RawContent,
    /// One past the index of this node's last descendant.
    end: usize,
}

/// The reusable storage of a [`Tree`]: flat vectors of nodes and attributes. Keep one per
/// connection and pass it to every [`Codec::decode_tree`](crate::Codec::decode_tree) call;
/// after the first few frames decoding allocates nothing.
#[derive(Debug, Default)]
pub struct TreeArena {
    nodes: Vec<RawNode>,
    attrs: Vec<(RawStr, RawStr)>,
}

impl TreeArena {
    /// An empty arena.
    pub fn new() -> TreeArena {
        TreeArena::default()
    }
}

/// A decoded node tree borrowing its input and a [`TreeArena`]. Start at [`Tree::root`].
#[derive(Debug, Clone, Copy)]
pub struct Tree<'a> {
    bytes: &'a [u8],
    dict: Dictionary,
    arena: &'a TreeArena,
}

impl<'a> Tree<'a> {
    /// The root node.
    pub fn root(&self) -> TreeNode<'a> {
        TreeNode {
            tree: *self,
            index: 0,
        }
    }

    /// How many nodes the tree holds.
    pub fn node_count(&self) -> usize {
        self.arena.nodes.len()
    }

    fn str(&self, raw: RawStr) -> StrRef<'a> {
        StrRef {
            raw,
            bytes: self.bytes,
            dict: self.dict,
        }
    }
}

/// A node of a [`Tree`] (a cheap `Copy` handle).
#[derive(Debug, Clone, Copy)]
pub struct TreeNode<'a> {
    tree: Tree<'a>,
    index: usize,
}

impl<'a> TreeNode<'a> {
    fn raw(&self) -> &'a RawNode {
        // `index` always comes from the arena it indexes.
        &self.tree.arena.nodes[self.index]
    }

    /// The tag.
    pub fn tag(&self) -> StrRef<'a> {
        self.tree.str(self.raw().tag)
    }

    /// The attributes, in wire order.
    pub fn attrs(&self) -> impl ExactSizeIterator<Item = (StrRef<'a>, StrRef<'a>)> + 'a {
        let raw = self.raw();
        let tree = self.tree;
        let attrs = self
            .tree
            .arena
            .attrs
            .get(raw.attrs_start..raw.attrs_end)
            .unwrap_or_default();
        attrs.iter().map(move |&(k, v)| (tree.str(k), tree.str(v)))
    }

    /// The value of the first attribute named `key`.
    pub fn attr(&self, key: &str) -> Option<StrRef<'a>> {
        self.attrs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The child nodes (none unless the content is a list).
    pub fn children(&self) -> Children<'a> {
        let raw = self.raw();
        Children {
            tree: self.tree,
            next: self.index + 1,
            end: raw.end,
        }
    }

    /// The first child tagged `tag`.
    pub fn child(&self, tag: &str) -> Option<TreeNode<'a>> {
        self.children().find(|c| c.tag() == tag)
    }

    /// Whether the content is a list of nodes (possibly empty).
    pub fn has_node_list(&self) -> bool {
        matches!(self.raw().content, RawContent::Nodes)
    }

    /// The content, when it was written as bytes (BINARY_8/20/32).
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match self.raw().content {
            RawContent::Bytes { start, len } => self.tree.bytes.get(start..start + len),
            _ => None,
        }
    }

    /// The content, when it was written as a string form other than bytes (token, packed, JID).
    pub fn text(&self) -> Option<StrRef<'a>> {
        match self.raw().content {
            RawContent::Text(t) => Some(self.tree.str(t)),
            _ => None,
        }
    }

    /// Converts this node and its descendants into an owned [`Node`], equal to what
    /// [`Codec::decode`](crate::Codec::decode) returns for the same bytes.
    pub fn to_node(&self) -> Node {
        let attrs = self
            .attrs()
            .map(|(k, v)| (k.to_str(), v.to_str()))
            .collect();
        let content = match self.raw().content {
            RawContent::None => Content::None,
            RawContent::Nodes => Content::Nodes(self.children().map(|c| c.to_node()).collect()),
            RawContent::Bytes { .. } => Content::Bytes(self.bytes().unwrap_or_default().to_vec()),
            RawContent::Text(t) => Content::Text(self.tree.str(t).to_str()),
        };
        Node {
            tag: self.tag().to_str(),
            attrs: Attrs(attrs),
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
    fn next(&mut self) -> Option<TreeNode<'a>> {
        if self.next >= self.end {
            return None;
        }
        let node = TreeNode {
            tree: self.tree,
            index: self.next,
        };
        self.next = node.raw().end;
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
    dict: Dictionary,
}

impl<'a> StrRef<'a> {
    /// The string without copying, when it is a token or plain UTF-8 (not packed, not a JID).
    pub fn as_str(&self) -> Option<&'a str> {
        match self.raw {
            RawStr::Token(t) => Some(t),
            RawStr::Raw { start, len } => self
                .bytes
                .get(start..start + len)
                .and_then(|b| std::str::from_utf8(b).ok()),
            RawStr::Packed { .. } | RawStr::Jid { .. } => None,
        }
    }

    /// Whether this is a dictionary token.
    pub fn is_token(&self) -> bool {
        matches!(self.raw, RawStr::Token(_))
    }

    /// Length in bytes of the string (computed while decoding; never unpacks).
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Unpacks a packed string into `buf`, returning the characters written.
    fn unpack<'b>(&self, buf: &'b mut [u8; 256]) -> &'b str {
        if let RawStr::Packed {
            start,
            pairs,
            len,
            hex,
        } = self.raw
        {
            let table = if hex { &HEX_CHARS } else { &NIBBLE_CHARS };
            let packed = self.bytes.get(start..start + pairs).unwrap_or_default();
            for (&byte, out) in packed.iter().zip(buf.chunks_exact_mut(2)) {
                for (nibble, slot) in [byte >> 4, byte & 0x0f].into_iter().zip(out) {
                    *slot = table[usize::from(nibble)].unwrap_or(0);
                }
            }
            // Table characters are ASCII, so this never falls back.
            return std::str::from_utf8(buf.get(..len).unwrap_or_default()).unwrap_or_default();
        }
        ""
    }

    fn build_jid(&self) -> String {
        let RawStr::Jid { tag, start, .. } = self.raw else {
            return String::new();
        };
        // Validated while decoding (nesting included), so this reads it again without a limit.
        let decoder = Decoder {
            dict: self.dict,
            max_depth: usize::MAX,
        };
        let at = self.bytes.get(start..).unwrap_or_default();
        decoder.jid(at, tag, 1).map(|(_, s)| s).unwrap_or_default()
    }

    /// The string, borrowed when it is a token or plain UTF-8, built otherwise.
    pub fn to_cow(&self) -> Cow<'a, str> {
        if let Some(s) = self.as_str() {
            return Cow::Borrowed(s);
        }
        match self.raw {
            RawStr::Jid { .. } => Cow::Owned(self.build_jid()),
            _ => {
                let mut buf = [0u8; 256];
                Cow::Owned(self.unpack(&mut buf).to_owned())
            }
        }
    }

    /// Appends the string to `out` (packed strings are unpacked straight into it).
    pub fn write_to(&self, out: &mut String) {
        match self.raw {
            RawStr::Packed { .. } => {
                let mut buf = [0u8; 256];
                out.push_str(self.unpack(&mut buf));
            }
            _ => out.push_str(&self.to_cow()),
        }
    }

    fn to_str(self) -> Str {
        match self.raw {
            RawStr::Token(t) => Str::from_static(t),
            _ => Str::from(self.to_cow().into_owned()),
        }
    }
}

impl PartialEq<str> for StrRef<'_> {
    fn eq(&self, other: &str) -> bool {
        if self.len() != other.len() {
            return false;
        }
        match self.raw {
            RawStr::Token(_) | RawStr::Raw { .. } => self.as_str() == Some(other),
            RawStr::Packed { .. } => {
                let mut buf = [0u8; 256];
                self.unpack(&mut buf) == other
            }
            RawStr::Jid { .. } => self.build_jid() == other,
        }
    }
}

impl PartialEq<&str> for StrRef<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl fmt::Display for StrRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.raw {
            RawStr::Packed { .. } => {
                let mut buf = [0u8; 256];
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

/// Number of decimal digits of `n`.
fn digits(n: u16) -> usize {
    match n {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1000..=9999 => 4,
        _ => 5,
    }
}

/// Decodes one root node spanning all of `input` into `arena` (cleared first).
pub(crate) fn decode_tree<'a>(
    decoder: &Decoder,
    input: &'a [u8],
    arena: &'a mut TreeArena,
) -> Result<Tree<'a>, DecodeError> {
    arena.nodes.clear();
    arena.attrs.clear();
    let mut walker = Walker {
        decoder,
        input_len: input.len(),
        arena: &mut *arena,
    };
    match walker.node(input, 1) {
        Ok(([], ())) => Ok(Tree {
            bytes: input,
            dict: decoder.dict,
            arena,
        }),
        Ok((rest, ())) => Err(DecodeError {
            offset: input.len() - rest.len(),
            kind: DecodeErrorKind::TrailingBytes { count: rest.len() },
        }),
        Err(nom::Err::Error(f) | nom::Err::Failure(f)) => Err(f.into_error(input.len())),
        Err(nom::Err::Incomplete(_)) => Err(DecodeError {
            offset: input.len(),
            kind: DecodeErrorKind::UnexpectedEnd {
                expected: "more bytes",
            },
        }),
    }
}

/// Walks the input once: mirrors [`Decoder`] check for check (same errors at the same
/// offsets) but records positions instead of building values.
struct Walker<'d, 't> {
    decoder: &'d Decoder,
    input_len: usize,
    arena: &'t mut TreeArena,
}

impl Walker<'_, '_> {
    /// Offset of `at` in the input.
    fn pos(&self, at: &[u8]) -> usize {
        self.input_len - at.len()
    }

    fn node<'a>(&mut self, i: &'a [u8], depth: usize) -> Res<'a, ()> {
        let d = self.decoder;
        if depth > d.max_depth {
            return fail(i, DecodeErrorKind::TooDeep { limit: d.max_depth });
        }
        let (rest, size) = d.list_size(i, "a node's list (LIST_EMPTY, LIST_8 or LIST_16)")?;
        if size == 0 {
            return fail(i, DecodeErrorKind::EmptyNode);
        }
        if d.dict == Dictionary::Legacy && rest.first() == Some(&tags::STREAM_END) {
            return fail(rest, DecodeErrorKind::StreamEnd);
        }
        let tag_at = rest;
        let (mut rest, tag) = self.string(rest, "a node tag")?;
        if tag.len() == 0 {
            return fail(tag_at, DecodeErrorKind::EmptyTag);
        }
        let index = self.arena.nodes.len();
        let attrs_start = self.arena.attrs.len();
        for _ in 0..(size - 1) >> 1 {
            let (r, key) = self.string(rest, "an attribute key")?;
            let (r, value) = self.string(r, "an attribute value")?;
            self.arena.attrs.push((key, value));
            rest = r;
        }
        self.arena.nodes.push(RawNode {
            tag,
            attrs_start,
            attrs_end: self.arena.attrs.len(),
            content: RawContent::None,
            end: index + 1,
        });
        if size % 2 == 0 {
            let (r, content) = self.content(rest, depth)?;
            rest = r;
            let end = self.arena.nodes.len();
            if let Some(node) = self.arena.nodes.get_mut(index) {
                node.content = content;
                node.end = end;
            }
        }
        Ok((rest, ()))
    }

    fn content<'a>(&mut self, i: &'a [u8], depth: usize) -> Res<'a, RawContent> {
        let (after_tag, tag) = u8_(i, "content")?;
        match tag {
            tags::LIST_EMPTY | tags::LIST_8 | tags::LIST_16 => {
                let (mut rest, count) = self.decoder.list_size(i, "a list")?;
                for _ in 0..count {
                    let (r, ()) = self.node(rest, depth + 1)?;
                    rest = r;
                }
                Ok((rest, RawContent::Nodes))
            }
            tags::BINARY_8 | tags::BINARY_20 | tags::BINARY_32 => {
                let (r, len) = binary_len(after_tag, tag)?;
                let (r, bytes) = take_(r, len, "binary content")?;
                let start = self.pos(r) - bytes.len();
                Ok((
                    r,
                    RawContent::Bytes {
                        start,
                        len: bytes.len(),
                    },
                ))
            }
            _ => {
                let (r, text) = self.string(i, "content")?;
                Ok((r, RawContent::Text(text)))
            }
        }
    }

    fn is_jid_tag(&self, tag: u8) -> bool {
        tag == tags::JID_PAIR
            || (self.decoder.dict == Dictionary::MultiDeviceV3
                && matches!(tag, tags::AD_JID | tags::FB_JID | tags::INTEROP_JID))
    }

    /// Reads a string in any of its forms, as [`Decoder`] does, without building it.
    fn string<'a>(&self, i: &'a [u8], what: &'static str) -> Res<'a, RawStr> {
        let d = self.decoder;
        let (rest, tag) = u8_(i, what)?;
        match tag {
            tags::LIST_EMPTY => Ok((rest, RawStr::Token(""))),
            tags::BINARY_8 | tags::BINARY_20 | tags::BINARY_32 => {
                let (data, len) = binary_len(rest, tag)?;
                let (r, bytes) = take_(data, len, what)?;
                utf8(data, bytes, what)?;
                let start = self.pos(r) - bytes.len();
                Ok((
                    r,
                    RawStr::Raw {
                        start,
                        len: bytes.len(),
                    },
                ))
            }
            tags::NIBBLE_8 | tags::HEX_8 => self.packed(rest, tag),
            _ if self.is_jid_tag(tag) => {
                let (r, len) = self.jid(rest, tag, 1)?;
                let start = self.pos(rest);
                Ok((r, RawStr::Jid { tag, start, len }))
            }
            tags::DICTIONARY_0..=tags::DICTIONARY_3 => {
                let (r, index) = u8_(rest, "a double-byte token index")?;
                let dict = tag - tags::DICTIONARY_0;
                match d.dict.double(dict, index) {
                    Some(token) => Ok((r, RawStr::Token(token))),
                    None => fail(i, DecodeErrorKind::UnknownDoubleToken { dict, index }),
                }
            }
            tags::STREAM_END if d.dict == Dictionary::Legacy => fail(i, DecodeErrorKind::StreamEnd),
            1..tags::DICTIONARY_0 => match d.dict.decode_single(tag) {
                Some(token) => Ok((rest, RawStr::Token(token))),
                None => fail(i, DecodeErrorKind::UnknownToken { byte: tag }),
            },
            _ => fail(
                i,
                DecodeErrorKind::UnexpectedTag {
                    tag,
                    expected: what,
                },
            ),
        }
    }

    /// Validates NIBBLE_8 / HEX_8 (the tag already consumed) without unpacking it.
    fn packed<'a>(&self, i: &'a [u8], tag: u8) -> Res<'a, RawStr> {
        let (rest, start) = u8_(i, "a packed string's length byte")?;
        let pairs = u64::from(start & 0x7f);
        let (rest, bytes) = take_(rest, pairs, "a packed string")?;
        let hex = tag == tags::HEX_8;
        if !hex {
            // Only NIBBLE_8 has invalid digits (12..=14).
            for (n, &byte) in bytes.iter().enumerate() {
                for nibble in [byte >> 4, byte & 0x0f] {
                    if NIBBLE_CHARS[usize::from(nibble)].is_none() {
                        let at = i.get(1 + n..).unwrap_or_default();
                        return fail(at, DecodeErrorKind::BadNibble { value: nibble });
                    }
                }
            }
        }
        let mut len = bytes.len() * 2;
        if start & 0x80 != 0 {
            len = len.saturating_sub(1);
        }
        Ok((
            rest,
            RawStr::Packed {
                start: self.pos(rest) - bytes.len(),
                pairs: bytes.len(),
                len,
                hex,
            },
        ))
    }

    /// Validates a JID (its tag already consumed) as [`Decoder::jid`] reads it, returning the
    /// length of the string it would build.
    fn jid<'a>(&self, rest: &'a [u8], tag: u8, nesting: usize) -> Res<'a, usize> {
        let max_depth = self.decoder.max_depth;
        if nesting > max_depth {
            return fail(rest, DecodeErrorKind::TooDeep { limit: max_depth });
        }
        match tag {
            tags::JID_PAIR => {
                let (r, user) = self.jid_part(rest, "a JID user", nesting)?;
                let server_at = r;
                let (r, server) = self.jid_part(r, "a JID server", nesting)?;
                if server == 0 {
                    return fail(server_at, DecodeErrorKind::JidWithoutServer);
                }
                Ok((r, user + 1 + server))
            }
            tags::AD_JID => {
                let (r, domain) = u8_(rest, "an AD_JID domain type")?;
                let (r, device) = u8_(r, "an AD_JID device")?;
                let (r, user) = self.jid_part(r, "an AD_JID user", nesting)?;
                let server = Server::from_domain_type(domain).as_str().len();
                let device = if device == 0 {
                    0
                } else {
                    1 + digits(u16::from(device))
                };
                Ok((r, user + device + 1 + server))
            }
            tags::FB_JID => {
                let (r, user) = self.jid_part(rest, "an FB_JID user", nesting)?;
                let (r, device) = u16_(r, "an FB_JID device")?;
                let (r, server) = self.jid_part(r, "an FB_JID server", nesting)?;
                Ok((r, user + 1 + digits(device) + 1 + server))
            }
            _ => {
                let (r, user) = self.jid_part(rest, "an INTEROP_JID user", nesting)?;
                let (r, device) = u16_(r, "an INTEROP_JID device")?;
                let (r, integrator) = u16_(r, "an INTEROP_JID integrator")?;
                let (r, server) = self.jid_part(r, "an INTEROP_JID server", nesting)?;
                Ok((
                    r,
                    digits(integrator) + 1 + user + 1 + digits(device) + 1 + server,
                ))
            }
        }
    }

    /// A JID's part: a nested JID (one level deeper) or any other string; returns its length.
    fn jid_part<'a>(&self, i: &'a [u8], what: &'static str, nesting: usize) -> Res<'a, usize> {
        match i.split_first() {
            Some((&tag, rest)) if self.is_jid_tag(tag) => self.jid(rest, tag, nesting + 1),
            _ => self.string(i, what).map(|(r, s)| (r, s.len())),
        }
    }
}
