//! [`decode_tree`]: the walker that validates the input once and records nodes, attributes
//! and string positions in a [`TreeArena`] (and, for an arena made by
//! [`TreeArena::with_text`], writes the strings into its text buffer).

use super::*;
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

/// Characters of a packed string of `pairs` bytes whose length byte is `head` (its top bit:
/// the last digit is padding).
#[inline(always)]
pub(super) fn packed_chars(pairs: usize, head: u8) -> usize {
    (pairs * 2).saturating_sub(usize::from(head >> 7))
}

/// Characters of an AD_JID's string besides its user: `:device` (none for device 0), `@` and
/// the server its domain type names.
#[inline(always)]
fn ad_jid_extra(domain: u8, device: u8) -> usize {
    let device = if device == 0 {
        0
    } else {
        1 + digits(u16::from(device))
    };
    device + 1 + Server::from_domain_type(domain).as_str().len()
}

/// The [`RawStr`] kind of a JID with this tag.
#[inline(always)]
fn jid_kind(tag: u8) -> u8 {
    match tag {
        tags::JID_PAIR => JID_PAIR,
        _ => JID + (tag - tags::INTEROP_JID),
    }
}

/// A valid NIBBLE_8 string at `at` in `bytes` (its tag checked by the caller): its end and its
/// length in characters; `None` if it is cut short or has a bad digit.
#[inline(always)]
fn nibble_user(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let head = *bytes.get(at + 1)?;
    let start = at + 2;
    let end = start + usize::from(head & 0x7f);
    let chars = packed_chars(end - start, head);
    if end > bytes.len()
        || !packed_len_ok(chars)
        || !text::nibbles_ok(bytes, (start, end), head >= 0x80)
    {
        return None;
    }
    Some((end, chars))
}

/// The top bit of each of the first `len` bytes (0..=16) of a 16-byte little-endian word,
/// indexed by `len` (lengths above 16 are never looked up).
const ASCII_HIGH_BITS: [u128; 32] = {
    let mut masks = [0u128; 32];
    let mut len = 1;
    while len <= 16 {
        masks[len] = masks[len - 1] | (0x80 << (8 * (len - 1)));
        len += 1;
    }
    masks
};

/// Whether the first `len` bytes (at most 16) of `window` are ASCII (so valid UTF-8): one
/// masked test of the sixteen bytes, no loop.
#[inline(always)]
fn short_ascii(window: &[u8; 16], len: usize) -> bool {
    u128::from_le_bytes(*window) & ASCII_HIGH_BITS[len & 31] == 0
}

/// Decodes one root node spanning all of `input` into `arena` (cleared first).
pub(crate) fn decode_tree<'a>(
    decoder: &Decoder,
    input: &'a [u8],
    arena: &'a mut TreeArena,
) -> Result<Tree<'a>, DecodeError> {
    // What the last tree's reads ask for (see `TreeArena::new`); the records still hold it.
    let built = std::mem::take(arena.reads.built.get_mut());
    // A quarter: a walk over a tree whose raw strings are already copied still builds its
    // packed strings and JIDs, which may be fewer than half of its values.
    if built > 0 && built.saturating_mul(4) >= arena.attrs.len() {
        arena.with_text = true;
    }
    let mode = match (arena.with_text, *arena.reads.raw.get_mut()) {
        (true, _) => Mode::Text,
        (false, true) => Mode::Raw,
        (false, false) => Mode::Positions,
    };
    decode_tree_as(decoder, input, arena, mode)
}

/// Which strings a walk writes into the arena's text buffer.
#[derive(Clone, Copy)]
enum Mode {
    /// None.
    Positions,
    /// Raw strings.
    Raw,
    /// Every string but tokens.
    Text,
}

/// [`decode_tree`] leaving every string in the input whatever kind of arena it is given: for
/// trees whose records are copied out without the text buffer ([`OwnedTree`](super::OwnedTree)).
pub(crate) fn decode_positions<'a>(
    decoder: &Decoder,
    input: &'a [u8],
    arena: &'a mut TreeArena,
) -> Result<Tree<'a>, DecodeError> {
    decode_tree_as(decoder, input, arena, Mode::Positions)
}

/// [`decode_tree`], writing the strings `mode` names into the text buffer.
fn decode_tree_as<'a>(
    decoder: &Decoder,
    input: &'a [u8],
    arena: &'a mut TreeArena,
    mode: Mode,
) -> Result<Tree<'a>, DecodeError> {
    arena.nodes.clear();
    arena.attrs.clear();
    arena.text.clear();
    arena.dict = decoder.dict;
    arena.tokens = decoder.dict.token_table();
    if input.len() as u64 > MAX_TREE_INPUT {
        // Attribute indices must fit in 32 bits (and positions in 56).
        return Err(DecodeError {
            offset: 0,
            kind: DecodeErrorKind::TooLarge {
                size: input.len(),
                limit: usize::try_from(MAX_TREE_INPUT).unwrap_or(usize::MAX),
            },
        });
    }
    // One walker per kind of arena, so that each is compiled without the others' paths.
    match mode {
        Mode::Text => walk::<true, true>(decoder, input, arena)?,
        Mode::Raw => walk::<false, true>(decoder, input, arena)?,
        Mode::Positions => walk::<false, false>(decoder, input, arena)?,
    }
    Ok(Tree {
        bytes: input,
        // Pieces that are each UTF-8 (validated raw strings, ASCII digits and tokens) make
        // UTF-8: this check cannot fail, and it runs once per tree, not once per string.
        text: match arena.text.is_empty() {
            true => "",
            false => std::str::from_utf8(&arena.text).unwrap_or_default(),
        },
        arena,
    })
}

/// Walks `input` into `arena` (cleared by the caller), writing strings into its text buffer
/// when `KEEP_TEXT` (raw strings only when `KEEP_RAW`).
fn walk<const KEEP_TEXT: bool, const KEEP_RAW: bool>(
    decoder: &Decoder,
    input: &[u8],
    arena: &mut TreeArena,
) -> Result<(), DecodeError> {
    let mut walker = Walker::<KEEP_TEXT, KEEP_RAW> {
        bytes: input,
        pos: 0,
        classes: decoder.dict.classes(),
        dict: decoder.dict,
        max_depth: decoder.max_depth,
        arena,
        error: None,
        text: Vec::new(),
        jid: String::new(),
        // Only JIDs written into the text buffer use them.
        token_suffixes: match KEEP_TEXT {
            true => text::token_suffixes(decoder.dict),
            false => &NO_SUFFIXES,
        },
        domain_suffixes: match KEEP_TEXT {
            true => text::domain_suffixes(),
            false => &NO_SUFFIXES,
        },
    };
    match walker.tree() {
        Ok(()) if walker.pos == input.len() => Ok(()),
        Ok(()) => Err(DecodeError {
            offset: walker.pos,
            kind: DecodeErrorKind::TrailingBytes {
                count: input.len() - walker.pos,
            },
        }),
        Err(Stop) => Err(walker.error.take().unwrap_or(DecodeError {
            offset: input.len(),
            kind: DecodeErrorKind::UnexpectedEnd {
                expected: "more bytes",
            },
        })),
    }
}

/// The arena's vectors while a tree is decoded.
struct Out {
    nodes: Vec<RawNode>,
    attrs: Vec<(RawStr, RawStr)>,
}

/// Decoding stopped; the error is in [`Walker::error`].
struct Stop;

type Step<T> = Result<T, Stop>;

/// Walks the input once with a plain cursor: mirrors [`Decoder`] check for check (same errors at
/// the same offsets) but records positions instead of building values (and, when `KEEP_TEXT`,
/// writes every string but tokens into the arena's text buffer: [`TreeArena::with_text`]; when
/// `KEEP_RAW`, raw strings: see [`TreeArena::new`]).
struct Walker<'a, 't, const KEEP_TEXT: bool, const KEEP_RAW: bool> {
    bytes: &'a [u8],
    /// The cursor: everything before it has been read.
    pos: usize,
    classes: &'static [u8; 256],
    dict: Dictionary,
    max_depth: usize,
    arena: &'t mut TreeArena,
    error: Option<DecodeError>,
    /// The arena's text buffer while decoding, when it keeps one
    /// ([`TreeArena::with_text`]).
    text: Vec<u8>,
    /// Where JIDs are built before they are copied into `text`.
    jid: String,
    /// `@` and each single-byte token, padded (see [`text::token_suffixes`]), when `KEEP_TEXT`.
    token_suffixes: &'static text::Suffixes,
    /// `@` and each AD_JID domain type's server, padded, when `KEEP_TEXT`.
    domain_suffixes: &'static text::Suffixes,
}

/// The suffix tables of a walker that writes no JID.
static NO_SUFFIXES: text::Suffixes = [[0; 16]; 256];

/// The methods that are inlined move a cursor `at` kept in a local (a register) by their caller;
/// the others (recursive or rarely taken) start at [`Walker::pos`] and leave it after what they
/// read, and their callers hand the cursor over through it.
impl<const KEEP_TEXT: bool, const KEEP_RAW: bool> Walker<'_, '_, KEEP_TEXT, KEEP_RAW> {
    /// Records the error at `offset` and stops.
    #[cold]
    #[inline(never)]
    fn fail<T>(&mut self, offset: usize, kind: DecodeErrorKind) -> Step<T> {
        self.error = Some(DecodeError { offset, kind });
        Err(Stop)
    }

    /// The node at `offset` is one level too deep.
    #[cold]
    #[inline(never)]
    fn too_deep<T>(&mut self, offset: usize) -> Step<T> {
        let limit = self.max_depth;
        self.fail(offset, DecodeErrorKind::TooDeep { limit })
    }

    /// The input ended at `offset` while reading `what`.
    #[cold]
    #[inline(never)]
    fn end<T>(&mut self, offset: usize, what: &'static str) -> Step<T> {
        self.fail(offset, DecodeErrorKind::UnexpectedEnd { expected: what })
    }

    #[inline(always)]
    fn u8(&mut self, at: &mut usize, what: &'static str) -> Step<u8> {
        match self.bytes.get(*at) {
            Some(&b) => {
                *at += 1;
                Ok(b)
            }
            None => self.end(*at, what),
        }
    }

    /// `N` big-endian bytes as an integer.
    #[inline(always)]
    fn be<const N: usize>(&mut self, at: &mut usize, what: &'static str) -> Step<u32> {
        match self
            .bytes
            .get(*at..)
            .and_then(|rest| rest.first_chunk::<N>())
        {
            Some(chunk) => {
                *at += N;
                Ok(chunk.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b)))
            }
            None => self.end(*at, what),
        }
    }

    /// Checks that `len` bytes remain, for `what`, and steps over them; returns where they start.
    #[inline(always)]
    fn take(&mut self, at: &mut usize, len: u64, what: &'static str) -> Step<usize> {
        let start = *at;
        let available = self.bytes.len().saturating_sub(start);
        if len > available as u64 {
            return self.fail(
                start,
                DecodeErrorKind::LengthPastEnd {
                    expected: what,
                    claimed: len,
                    available,
                },
            );
        }
        // At most `available`, so it fits.
        *at = start + len as usize;
        Ok(start)
    }

    /// A BINARY_8/20/32 length (the tag already read).
    #[inline(always)]
    fn binary_len(&mut self, at: &mut usize, tag: u8) -> Step<u64> {
        Ok(match tag {
            tags::BINARY_8 => u64::from(self.u8(at, "BINARY_8 length")?),
            tags::BINARY_20 => u64::from(self.be::<3>(at, "BINARY_20 length")? & 0x000f_ffff),
            _ => u64::from(self.be::<4>(at, "BINARY_32 length")?),
        })
    }

    /// A list size: LIST_EMPTY, LIST_8 or LIST_16.
    #[inline(always)]
    fn list_size(&mut self, at: &mut usize, what: &'static str) -> Step<usize> {
        let start = *at;
        match self.u8(at, what)? {
            tags::LIST_EMPTY => Ok(0),
            tags::LIST_8 => Ok(usize::from(self.u8(at, "LIST_8 size")?)),
            tags::LIST_16 => Ok(self.be::<2>(at, "LIST_16 size")? as usize),
            tag => self.fail(
                start,
                DecodeErrorKind::UnexpectedTag {
                    tag,
                    expected: what,
                },
            ),
        }
    }

    /// The root node and its descendants, from [`Self::pos`], without recursion (see
    /// [`Self::nodes`] for how unfinished lists are kept).
    /// The arena's vectors are moved into locals meanwhile, so that the compiler knows that
    /// out-of-line calls leave them alone and keeps their lengths in registers.
    fn tree(&mut self) -> Step<()> {
        let mut out = Out {
            nodes: std::mem::take(&mut self.arena.nodes),
            attrs: std::mem::take(&mut self.arena.attrs),
        };
        self.text = std::mem::take(&mut self.arena.text);
        self.jid = std::mem::take(&mut self.arena.jid);
        let result = self.nodes(&mut out);
        self.arena.nodes = out.nodes;
        self.arena.attrs = out.attrs;
        self.arena.text = std::mem::take(&mut self.text);
        self.arena.jid = std::mem::take(&mut self.jid);
        result
    }

    /// A validated raw string at `start..start + len` of the input: left there, or copied into
    /// the text buffer when the arena keeps one.
    #[inline(always)]
    fn raw_string(&mut self, start: usize, len: usize) -> RawStr {
        if !KEEP_TEXT && !KEEP_RAW {
            return RawStr::new(RAW, start, len);
        }
        let pos = self.text.len();
        // Short strings (most) as one 16-byte copy from the input, the excess cut: no call.
        if let (true, Some(window)) = (
            len <= 16,
            self.bytes.get(start..).and_then(<[u8]>::first_chunk::<16>),
        ) {
            self.text.extend_from_slice(window);
            self.text.truncate(pos + len);
        } else {
            let raw = self.bytes.get(start..start + len).unwrap_or_default();
            self.text.extend_from_slice(raw);
        }
        RawStr::new(TEXT, pos, len)
    }

    /// A validated JID: left in the input, or built into the text buffer when the arena keeps
    /// one.
    #[inline(always)]
    fn jid_text(&mut self, jid: RawStr) -> RawStr {
        if !KEEP_TEXT || jid.kind() == TEXT {
            return jid;
        }
        self.jid.clear();
        let s = StrRef {
            raw: jid,
            bytes: self.bytes,
            text: "",
            tokens: self.dict.token_table(),
            read: &NOT_TRACKED,
        };
        s.write_jid(&mut self.jid);
        let pos = self.text.len();
        self.text.extend_from_slice(self.jid.as_bytes());
        RawStr::new(TEXT, pos, self.jid.len())
    }

    /// The unfinished lists: the innermost one's node and how many children are still to come
    /// in registers; each outer one in the content record of the node whose list is open inside
    /// it (a list content has no position or length of its own until it is finished), so that no
    /// stack is pushed or popped; `depth` counts them. The root counts as the one child of an
    /// outer list, so that a node's end is a single count down, and depth is only looked at
    /// when a list opens or closes (a node's depth limit is checked where its list opens: the
    /// same offset, as nothing is read in between).
    #[inline(always)]
    fn nodes(&mut self, out: &mut Out) -> Step<()> {
        let Out { nodes, attrs } = out;
        let (mut parent, mut left) = (0usize, 1usize);
        let mut depth = 0usize;
        let mut at = self.pos;
        if self.max_depth == 0 {
            return self.too_deep(at);
        }
        loop {
            // One node at `at`.
            let start = at;
            // Most nodes start with LIST_8, a size and a single-byte token tag: three bytes read
            // at once; anything else (errors included) takes the general path.
            let fast = match self
                .bytes
                .get(at..)
                .and_then(|rest| rest.first_chunk::<3>())
            {
                Some(&[tags::LIST_8, size, tag]) if size != 0 => {
                    let class = self.classes[usize::from(tag)];
                    // A non-empty token (class 0 would be an empty one).
                    (class.wrapping_sub(1) < class::TOKEN_END - 1).then(|| {
                        (
                            usize::from(size),
                            RawStr::new(TOKEN, usize::from(tag), usize::from(class)),
                        )
                    })
                }
                _ => None,
            };
            let (size, tag) = match fast {
                Some(found) => {
                    at += 3;
                    found
                }
                None => {
                    let size =
                        self.list_size(&mut at, "a node's list (LIST_EMPTY, LIST_8 or LIST_16)")?;
                    if size == 0 {
                        return self.fail(start, DecodeErrorKind::EmptyNode);
                    }
                    // (The legacy STREAM_END check before the tag is the tag's own: same error,
                    // same offset.)
                    let tag_at = at;
                    let tag = self.string(&mut at, "a node tag")?;
                    if tag.len == 0 {
                        return self.fail(tag_at, DecodeErrorKind::EmptyTag);
                    }
                    (size, tag)
                }
            };
            // At most half the input's length (checked below `MAX_TREE_INPUT`), so it fits.
            let attrs_start = attrs.len() as u32;
            for _ in 0..(size - 1) >> 1 {
                let key = self.string(&mut at, "an attribute key")?;
                let value = self.string(&mut at, "an attribute value")?;
                attrs.push((key, value));
            }
            let index = nodes.len();
            let mut node = RawNode {
                tag,
                content: RawStr::new(NONE, 0, 0),
                attrs_start,
                attrs_end: attrs.len() as u32,
                end: index + 1,
            };
            if size % 2 == 0 {
                let content_at = at;
                let Some(&kind) = self.bytes.get(content_at) else {
                    return self.end(content_at, "content");
                };
                match kind {
                    tags::LIST_EMPTY | tags::LIST_8 | tags::LIST_16 => {
                        let count = self.list_size(&mut at, "a list")?;
                        if count > 0 {
                            // Its first child is at `at`, one level deeper.
                            if depth + 1 >= self.max_depth {
                                return self.too_deep(at);
                            }
                            // The enclosing list, until this one is finished; `end` holds
                            // this list's size until then (it is set when the list closes).
                            node.content = RawStr::new(NODES, parent, left);
                            node.end = count;
                            nodes.push(node);
                            depth += 1;
                            (parent, left) = (index, count);
                            continue;
                        }
                        node.content = RawStr::new(NODES, 0, 0);
                    }
                    tags::BINARY_8 => {
                        at += 1;
                        let len = self.u8(&mut at, "BINARY_8 length")?;
                        let start = self.take(&mut at, u64::from(len), "binary content")?;
                        node.content = RawStr::new(BYTES, start, usize::from(len));
                    }
                    tags::BINARY_20 | tags::BINARY_32 => {
                        at += 1;
                        let len = self.binary_len(&mut at, kind)?;
                        let start = self.take(&mut at, len, "binary content")?;
                        node.content = RawStr::new(BYTES, start, at - start);
                    }
                    _ => node.content = self.string(&mut at, "content")?,
                }
            }
            nodes.push(node);
            // Close the lists this node was the last child of.
            loop {
                left -= 1;
                if left > 0 {
                    break;
                }
                if depth == 0 {
                    self.pos = at;
                    return Ok(());
                }
                let end = nodes.len();
                if let Some(node) = nodes.get_mut(parent) {
                    let count = node.end;
                    node.end = end;
                    let outer = node.content;
                    node.content = RawStr::new(NODES, 0, count);
                    (parent, left) = (outer.pos(), outer.len);
                }
                depth -= 1;
            }
        }
    }

    /// Reads a string in any of its forms, as [`Decoder`] does, without building it.
    #[inline(always)]
    fn string(&mut self, at: &mut usize, what: &'static str) -> Step<RawStr> {
        let start = *at;
        let Some(&tag) = self.bytes.get(start) else {
            return self.end(start, what);
        };
        let class = self.classes[usize::from(tag)];
        if class < class::TOKEN_END {
            *at = start + 1;
            return Ok(RawStr::new(TOKEN, usize::from(tag), usize::from(class)));
        }
        // The other common forms inline too: short UTF-8 and packed digits.
        if tag == tags::BINARY_8 {
            *at = start + 1;
            let len = self.u8(at, "BINARY_8 length")?;
            let data = self.take(at, u64::from(len), what)?;
            let len = usize::from(len);
            // Short ASCII strings (most) whose sixteen bytes are inside the input: checked with
            // one masked test of the window that `raw_string` copies.
            let short = len <= 16 && {
                let window = self.bytes.get(data..).and_then(<[u8]>::first_chunk::<16>);
                window.is_some_and(|w| short_ascii(w, len))
            };
            if !short && !is_utf8(self.bytes, data, *at) {
                return self.fail(data, DecodeErrorKind::InvalidUtf8 { expected: what });
            }
            return Ok(self.raw_string(data, len));
        }
        if class == class::NIBBLE || class == class::HEX {
            *at = start + 1;
            return self.packed(at, tag);
        }
        let s = if class == class::JID {
            // The common JIDs written into the text buffer by a small function of their own (a
            // call that saves few registers); the rest, and errors, by the general one.
            let common = match KEEP_TEXT {
                true => self.common_jid_text_call(start + 1, tag),
                false => None,
            };
            match common {
                Some(s) => s,
                None => {
                    let jid = self.jid_string(start, tag)?;
                    self.jid_text(jid)
                }
            }
        } else {
            self.string_slow(start, tag, class, what)?
        };
        *at = self.pos;
        Ok(s)
    }

    /// A JID whose `tag` is at `tag_at`, as a string; leaves [`Self::pos`] after it.
    #[inline(never)]
    fn jid_string(&mut self, tag_at: usize, tag: u8) -> Step<RawStr> {
        let at = tag_at + 1;
        if let Some(s) = self.common_jid(at, tag) {
            return Ok(s);
        }
        let len = self.jid(at, tag, 1)?;
        Ok(RawStr::new(jid_kind(tag), at, len))
    }

    /// [`Self::common_jid`] out of line, for an arena that keeps text.
    #[inline(never)]
    fn common_jid_text_call(&mut self, at: usize, tag: u8) -> Option<RawStr> {
        self.common_jid(at, tag)
    }

    /// The most frequent JIDs, with a valid NIBBLE_8 user: AD_JID, and JID_PAIR with a token
    /// server. Leaves [`Self::pos`] after it; `None` (and nothing done) for anything else,
    /// errors included, which [`Self::jid`] then reads.
    #[inline(always)]
    fn common_jid(&mut self, at: usize, tag: u8) -> Option<RawStr> {
        // The nesting limit of the outermost JID (`1 > max_depth`).
        if self.max_depth == 0 {
            return None;
        }
        let bytes = self.bytes;
        if KEEP_TEXT {
            return self.common_jid_text(at, tag);
        }
        if tag == tags::AD_JID {
            let &[domain, device, tags::NIBBLE_8] = bytes.get(at..)?.first_chunk::<3>()? else {
                return None;
            };
            let (end, user) = nibble_user(bytes, at + 2)?;
            self.pos = end;
            return Some(RawStr::new(
                jid_kind(tag),
                at,
                user + ad_jid_extra(domain, device),
            ));
        }
        if tag == tags::JID_PAIR && bytes.get(at) == Some(&tags::NIBBLE_8) {
            let (end, user) = nibble_user(bytes, at)?;
            let server = self.classes[usize::from(*bytes.get(end)?)];
            // A non-empty token.
            if server.wrapping_sub(1) < class::TOKEN_END - 1 {
                self.pos = end + 1;
                return Some(RawStr::new(JID_PAIR, at, user + 1 + usize::from(server)));
            }
        }
        None
    }

    /// [`Self::common_jid`] for an arena that keeps text: the JID is checked and written into
    /// the text buffer in one pass (nothing written when it returns `None`).
    #[inline(always)]
    fn common_jid_text(&mut self, at: usize, tag: u8) -> Option<RawStr> {
        let bytes = self.bytes;
        let pos = self.text.len();
        // The user: a NIBBLE_8 string whose tag is at `user_at`.
        #[inline(always)]
        fn push_user(text: &mut Vec<u8>, bytes: &[u8], user_at: usize) -> Option<usize> {
            let head = *bytes.get(user_at + 1)?;
            let start = user_at + 2;
            let pairs = usize::from(head & 0x7f);
            // One to eight bytes whose word is inside the input (most users), as in
            // `Walker::packed`; `None` for a bad digit, which the general path reports.
            if let (true, Some(window)) = (
                pairs.wrapping_sub(1) < 8,
                bytes.get(start..).and_then(<[u8]>::first_chunk::<8>),
            ) {
                let len = 2 * pairs - usize::from(head >= 0x80);
                if text::nibble_word_bad(u64::from_le_bytes(*window), len) {
                    return None;
                }
                text::push_window(text, window, false, len);
                return Some(start + pairs);
            }
            let end = start + pairs;
            let chars = packed_chars(pairs, head);
            if end > bytes.len() || !packed_len_ok(chars) {
                return None;
            }
            text::push_packed(text, bytes, (start, end), false, head >= 0x80, chars).then_some(end)
        }
        if tag == tags::AD_JID {
            let &[domain, device, tags::NIBBLE_8] = bytes.get(at..)?.first_chunk::<3>()? else {
                return None;
            };
            let end = push_user(&mut self.text, bytes, at + 2)?;
            if device != 0 {
                self.text.push(b':');
                text::push_decimal(&mut self.text, u16::from(device));
            }
            let server = Server::from_domain_type(domain).as_str().len();
            text::push_suffix(
                &mut self.text,
                &self.domain_suffixes[usize::from(domain)],
                1 + server,
            );
            self.pos = end;
            return Some(RawStr::new(TEXT, pos, self.text.len() - pos));
        }
        if tag == tags::JID_PAIR && bytes.get(at) == Some(&tags::NIBBLE_8) {
            let end = push_user(&mut self.text, bytes, at)?;
            let server = bytes.get(end).copied().unwrap_or(0);
            // A non-empty token; its class is its length.
            let class = self.classes[usize::from(server)];
            if class.wrapping_sub(1) < class::TOKEN_END - 1 {
                if class < 16 {
                    let suffix = &self.token_suffixes[usize::from(server)];
                    text::push_suffix(&mut self.text, suffix, 1 + usize::from(class));
                } else {
                    self.text.push(b'@');
                    let server = self.dict.single_str(server);
                    self.text.extend_from_slice(server.as_bytes());
                }
                self.pos = end + 1;
                return Some(RawStr::new(TEXT, pos, self.text.len() - pos));
            }
            self.text.truncate(pos);
        }
        None
    }

    /// Every form but a single-byte token and a JID (see [`Self::jid_string`]), whose `tag` is
    /// at `tag_at`; leaves [`Self::pos`] after it.
    #[inline(never)]
    fn string_slow(
        &mut self,
        tag_at: usize,
        tag: u8,
        class: u8,
        what: &'static str,
    ) -> Step<RawStr> {
        let mut at = tag_at + 1;
        let s = match class {
            class::BINARY => {
                let len = self.binary_len(&mut at, tag)?;
                let start = self.take(&mut at, len, what)?;
                if !is_utf8(self.bytes, start, at) {
                    return self.fail(start, DecodeErrorKind::InvalidUtf8 { expected: what });
                }
                self.raw_string(start, at - start)
            }
            class::NIBBLE | class::HEX => self.packed(&mut at, tag)?,
            class::DOUBLE => {
                let index = self.u8(&mut at, "a double-byte token index")?;
                let dict = tag - tags::DICTIONARY_0;
                match self.dict.double(dict, index) {
                    Some(token) => RawStr::new(
                        TOKEN,
                        256 + usize::from(dict) * 256 + usize::from(index),
                        token.len(),
                    ),
                    None => {
                        return self
                            .fail(tag_at, DecodeErrorKind::UnknownDoubleToken { dict, index });
                    }
                }
            }
            class::STREAM_END => return self.fail(tag_at, DecodeErrorKind::StreamEnd),
            class::UNKNOWN => {
                return self.fail(tag_at, DecodeErrorKind::UnknownToken { byte: tag });
            }
            _ => {
                return self.fail(
                    tag_at,
                    DecodeErrorKind::UnexpectedTag {
                        tag,
                        expected: what,
                    },
                );
            }
        };
        self.pos = at;
        Ok(s)
    }

    /// Validates NIBBLE_8 / HEX_8 (the tag already read) without unpacking it.
    #[inline(always)]
    fn packed(&mut self, at: &mut usize, tag: u8) -> Step<RawStr> {
        let head_at = *at;
        let head = self.u8(at, "a packed string's length byte")?;
        let hex = tag == tags::HEX_8;
        let odd = head >= 0x80;
        // When strings are written, most are one to eight bytes whose eight bytes from their
        // start are inside the input. Then the checks of their bytes' presence and of their
        // length (1..=16 characters) hold, and one word is checked and unpacked; any other
        // string, and any bad digit, takes the checks below (the same errors). (Trees that
        // leave strings in the input keep the checks below alone: fewer instructions on
        // multi-device frames.)
        let pairs = usize::from(head & 0x7f);
        let window = match KEEP_TEXT && pairs.wrapping_sub(1) < 8 {
            true => self.bytes.get(*at..).and_then(<[u8]>::first_chunk::<8>),
            false => None,
        };
        if let Some(window) = window {
            let len = 2 * pairs - usize::from(odd);
            if hex || !text::nibble_word_bad(u64::from_le_bytes(*window), len) {
                *at += pairs;
                let pos = self.text.len();
                if pairs == 1 {
                    // One or two characters (counts, flags): one load from the pair table.
                    let pair = &PAIR_CHARS[usize::from(hex)][usize::from(window[0])];
                    self.text.extend_from_slice(pair);
                    self.text.truncate(pos + len);
                } else {
                    text::push_window(&mut self.text, window, hex, len);
                }
                return Ok(RawStr::new(TEXT, pos, len));
            }
        }
        let start = self.take(at, u64::from(head & 0x7f), "a packed string")?;
        let len = packed_chars(*at - start, head);
        if !packed_len_ok(len) {
            return self.fail(head_at, DecodeErrorKind::PackedLength { chars: len });
        }
        let kind = if hex { HEX } else { NIBBLE };
        if KEEP_TEXT {
            // Unpacked and checked in one pass.
            let pos = self.text.len();
            if text::push_packed(&mut self.text, self.bytes, (start, *at), hex, odd, len) {
                return Ok(RawStr::new(TEXT, pos, len));
            }
        } else if hex || text::nibbles_ok(self.bytes, (start, *at), odd) {
            // Only NIBBLE_8 has invalid digits.
            return Ok(RawStr::new(kind, start, len));
        }
        let bytes = self.bytes.get(start..*at).unwrap_or_default();
        if let Some((n, value)) = first_bad_nibble(bytes, odd) {
            return self.fail(start + n, DecodeErrorKind::BadNibble { value });
        }
        Ok(RawStr::new(kind, start, len))
    }

    /// Whether `tag` starts a JID in this dictionary.
    #[inline]
    fn is_jid_tag(&self, tag: u8) -> bool {
        self.classes[usize::from(tag)] == class::JID
    }

    /// Validates a JID starting at `at` (its tag already read) as [`Decoder::jid`] reads it,
    /// leaving [`Self::pos`] after it; returns the length of the string it would build.
    #[inline(always)]
    fn jid(&mut self, mut at: usize, tag: u8, nesting: usize) -> Step<usize> {
        if nesting > self.max_depth {
            return self.fail(
                at,
                DecodeErrorKind::TooDeep {
                    limit: self.max_depth,
                },
            );
        }
        let len = match tag {
            tags::JID_PAIR => {
                let user = self.jid_part(&mut at, "a JID user", nesting)?;
                let server_at = at;
                let server = self.jid_part(&mut at, "a JID server", nesting)?;
                if server == 0 {
                    return self.fail(server_at, DecodeErrorKind::JidWithoutServer);
                }
                user.saturating_add(1 + server)
            }
            tags::AD_JID => {
                let domain = self.u8(&mut at, "an AD_JID domain type")?;
                let device = self.u8(&mut at, "an AD_JID device")?;
                let user = self.jid_part(&mut at, "an AD_JID user", nesting)?;
                user.saturating_add(ad_jid_extra(domain, device))
            }
            tags::FB_JID => {
                let user = self.jid_part(&mut at, "an FB_JID user", nesting)?;
                let device = self.be::<2>(&mut at, "an FB_JID device")? as u16;
                let server = self.jid_part(&mut at, "an FB_JID server", nesting)?;
                user.saturating_add(1 + digits(device) + 1)
                    .saturating_add(server)
            }
            _ => {
                let user = self.jid_part(&mut at, "an INTEROP_JID user", nesting)?;
                let device = self.be::<2>(&mut at, "an INTEROP_JID device")? as u16;
                let integrator = self.be::<2>(&mut at, "an INTEROP_JID integrator")? as u16;
                let server = self.jid_part(&mut at, "an INTEROP_JID server", nesting)?;
                user.saturating_add(digits(integrator) + 1 + 1 + digits(device) + 1)
                    .saturating_add(server)
            }
        };
        self.pos = at;
        Ok(len)
    }

    /// A JID's part: a nested JID (one level deeper, out of line) or any other string (inline);
    /// returns its length.
    #[inline(always)]
    fn jid_part(&mut self, at: &mut usize, what: &'static str, nesting: usize) -> Step<usize> {
        match self.bytes.get(*at) {
            Some(&tag) if self.is_jid_tag(tag) => {
                let len = self.nested_jid(*at + 1, tag, nesting + 1)?;
                *at = self.pos;
                Ok(len)
            }
            _ => self.string(at, what).map(|s| s.len),
        }
    }

    /// A JID inside a JID (rare): [`Self::jid`] out of line, which breaks the recursion so that
    /// the parts of the outer JID are read inline.
    #[inline(never)]
    fn nested_jid(&mut self, at: usize, tag: u8, nesting: usize) -> Step<usize> {
        self.jid(at, tag, nesting)
    }
}
