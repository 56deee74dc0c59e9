//! The decoder: nom parsers over `&[u8]`, producing borrowed [`NodeRef`]s (owned `Node`s come
//! from the tree walker in `tree`, which this decoder is checked against).

use std::borrow::Cow;

use nom::IResult;
use nom::error::{ErrorKind, ParseError};

use crate::dict::{Dictionary, class, tags};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::jid::Server;
use crate::node::{ContentRef, NodeRef};

/// The parsers' error: the input left when it failed (turned into an offset at the top) and what
/// went wrong. Boxed so that every parser's `Result` stays two words wide on the hot path.
#[derive(Debug)]
pub(crate) struct Fail(Box<FailAt>);

#[derive(Debug)]
struct FailAt {
    remaining: usize,
    kind: DecodeErrorKind,
}

impl Fail {
    fn new(at: &[u8], kind: DecodeErrorKind) -> Fail {
        Fail(Box::new(FailAt {
            remaining: at.len(),
            kind,
        }))
    }
}

impl ParseError<&[u8]> for Fail {
    fn from_error_kind(input: &[u8], _: ErrorKind) -> Fail {
        Fail::new(
            input,
            DecodeErrorKind::UnexpectedEnd {
                expected: "more bytes",
            },
        )
    }
    fn append(_: &[u8], _: ErrorKind, other: Fail) -> Fail {
        other
    }
}

pub(crate) type Res<'a, T> = IResult<&'a [u8], T, Fail>;

pub(crate) fn fail<T>(at: &[u8], kind: DecodeErrorKind) -> Res<'_, T> {
    Err(nom::Err::Failure(Fail::new(at, kind)))
}

/// Relabels nom's end-of-input error with what we were reading.
fn expecting<'a, T>(what: &'static str, r: Res<'a, T>) -> Res<'a, T> {
    r.map_err(|e| {
        e.map(|mut f| {
            if matches!(f.0.kind, DecodeErrorKind::UnexpectedEnd { .. }) {
                f.0.kind = DecodeErrorKind::UnexpectedEnd { expected: what };
            }
            f
        })
    })
}

pub(crate) fn u8_<'a>(i: &'a [u8], what: &'static str) -> Res<'a, u8> {
    expecting(what, nom::number::complete::be_u8(i))
}

pub(crate) fn u16_<'a>(i: &'a [u8], what: &'static str) -> Res<'a, u16> {
    expecting(what, nom::number::complete::be_u16(i))
}

/// Takes `len` bytes after checking they are there (never allocates).
pub(crate) fn take_<'a>(i: &'a [u8], len: u64, what: &'static str) -> Res<'a, &'a [u8]> {
    match usize::try_from(len) {
        Ok(n) if n <= i.len() => nom::bytes::complete::take(n)(i),
        _ => fail(
            i,
            DecodeErrorKind::LengthPastEnd {
                expected: what,
                claimed: len,
                available: i.len(),
            },
        ),
    }
}

/// Reads a BINARY_8/20/32 length whose tag was already consumed.
pub(crate) fn binary_len(i: &[u8], tag: u8) -> Res<'_, u64> {
    match tag {
        tags::BINARY_8 => u8_(i, "BINARY_8 length").map(|(i, n)| (i, u64::from(n))),
        tags::BINARY_20 => expecting("BINARY_20 length", nom::number::complete::be_u24(i))
            .map(|(i, n)| (i, u64::from(n & 0x000f_ffff))),
        _ => expecting("BINARY_32 length", nom::number::complete::be_u32(i))
            .map(|(i, n)| (i, u64::from(n))),
    }
}

pub(crate) fn utf8<'a>(
    at: &'a [u8],
    bytes: &'a [u8],
    what: &'static str,
) -> Result<&'a str, nom::Err<Fail>> {
    std::str::from_utf8(bytes).map_err(|_| {
        nom::Err::Failure(Fail::new(
            at,
            DecodeErrorKind::InvalidUtf8 { expected: what },
        ))
    })
}

/// What the decoder builds: borrowed [`NodeRef`]s or owned [`Node`]s, without an intermediate tree.
pub(crate) trait Sink<'a> {
    /// A string of the tree.
    type Str: AsRef<str>;
    /// A node of the tree.
    type Node;
    /// A string borrowed from the input.
    fn borrowed(s: &'a str) -> Self::Str;
    /// A dictionary token (or another static string).
    fn token(s: &'static str) -> Self::Str;
    /// A string built while decoding (packed strings, JIDs).
    fn owned(s: String) -> Self::Str;
    /// Assembles a node.
    fn node(
        tag: Self::Str,
        attrs: Vec<(Self::Str, Self::Str)>,
        content: Parsed<'a, Self>,
    ) -> Self::Node;
}

/// Decoded content before it is put in a node.
pub(crate) enum Parsed<'a, K: Sink<'a> + ?Sized> {
    None,
    Nodes(Vec<K::Node>),
    Bytes(&'a [u8]),
    Text(K::Str),
}

/// Builds [`NodeRef`]s.
pub(crate) struct Borrowed;

impl<'a> Sink<'a> for Borrowed {
    type Str = Cow<'a, str>;
    type Node = NodeRef<'a>;
    fn borrowed(s: &'a str) -> Cow<'a, str> {
        Cow::Borrowed(s)
    }
    fn token(s: &'static str) -> Cow<'a, str> {
        Cow::Borrowed(s)
    }
    fn owned(s: String) -> Cow<'a, str> {
        Cow::Owned(s)
    }
    fn node(
        tag: Cow<'a, str>,
        attrs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
        content: Parsed<'a, Self>,
    ) -> NodeRef<'a> {
        let content = match content {
            Parsed::None => ContentRef::None,
            Parsed::Nodes(n) => ContentRef::Nodes(n),
            Parsed::Bytes(b) => ContentRef::Bytes(b),
            Parsed::Text(t) => ContentRef::Text(t),
        };
        NodeRef {
            tag,
            attrs,
            content,
        }
    }
}

/// The decimal digits of `n`, in `digits[start..]` of the returned `(digits, start)` (JIDs'
/// devices; avoids the formatting machinery).
#[inline]
pub(crate) fn decimal_digits(n: u16) -> ([u8; 5], usize) {
    let mut digits = [0u8; 5];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    (digits, i)
}

/// Appends the decimal form of `n`.
fn push_decimal(out: &mut String, n: u16) {
    let (digits, start) = decimal_digits(n);
    for &d in digits.get(start..).unwrap_or_default() {
        out.push(char::from(d));
    }
}

/// Appends `[prefix-]user[:device]@server` to `jid`.
pub(crate) fn write_jid(
    jid: &mut String,
    integrator: Option<u16>,
    user: &str,
    device: Option<u16>,
    server: &str,
) {
    jid.reserve(user.len() + server.len() + 14);
    if let Some(i) = integrator {
        push_decimal(jid, i);
        jid.push('-');
    }
    jid.push_str(user);
    if let Some(d) = device {
        jid.push(':');
        push_decimal(jid, d);
    }
    jid.push('@');
    jid.push_str(server);
}

/// Eight bytes as a little-endian word.
#[inline(always)]
pub(crate) fn word(bytes: &[u8]) -> u64 {
    bytes
        .first_chunk::<8>()
        .map_or(0, |chunk| u64::from_le_bytes(*chunk))
}

/// ORs `f` over the 8-byte words of `input[start..end]`: the last word overlaps the one before
/// it, and fewer than 8 bytes are read as one word of the input around them with the bytes
/// outside cleared (zero bytes must be harmless to `f`). No copy, no call.
#[inline(always)]
pub(crate) fn any_word(input: &[u8], start: usize, end: usize, f: impl Fn(u64) -> u64) -> u64 {
    let bytes = input.get(start..end).unwrap_or_default();
    let len = bytes.len();
    if len >= 8 {
        let mut acc = 0;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            acc |= f(word(chunk));
        }
        if !chunks.remainder().is_empty() {
            acc |= f(word(bytes.get(len - 8..).unwrap_or_default()));
        }
        return acc;
    }
    if len == 0 {
        return 0;
    }
    // 1..=7 bytes: 8..=56 bits to clear.
    let clear = 8 * (8 - len) as u32;
    if let Some(window) = input.get(start..start.saturating_add(8)) {
        return f(word(window) & (u64::MAX >> clear));
    }
    if let Some(window) = end.checked_sub(8).and_then(|from| input.get(from..end)) {
        return f(word(window) >> clear);
    }
    let mut w = 0;
    for (i, &b) in bytes.iter().enumerate() {
        w |= u64::from(b) << (8 * i);
    }
    f(w)
}

/// Whether a NIBBLE_8 string in `input[start..end]` has a digit that is not one, sixteen at a
/// time: 12..=15 anywhere (a nibble `b3 b2 b1 b0` with `b3 & b2`), except that when `odd` (bit 7
/// of its length byte) the last nibble is the padding the reader drops, where 12..=14 are bad
/// and 15 is what writers put. 15 inside the string would read as a NUL that no writer packs,
/// so decoding and re-encoding would change the string's form.
#[inline]
pub(crate) fn has_bad_nibble(input: &[u8], start: usize, end: usize, odd: bool) -> bool {
    let at_least_12 = |w: u64| (w >> 3) & (w >> 2) & 0x1111_1111_1111_1111;
    if !odd || end <= start {
        return any_word(input, start, end, at_least_12) != 0;
    }
    let last = input.get(end - 1).copied().unwrap_or_default();
    any_word(input, start, end - 1, at_least_12) != 0
        || last >> 4 >= 12
        || matches!(last & 0x0f, 12..=14)
}

/// Whether a packed string of this many characters is one a writer packs: 1 to 127
/// ([`tags::PACKED_MAX`]). Longer or empty strings are written raw, so a packed one would
/// change form when re-encoded.
#[inline(always)]
pub(crate) fn packed_len_ok(chars: usize) -> bool {
    (1..=tags::PACKED_MAX).contains(&chars)
}

/// Whether `input[start..end]` is UTF-8: ASCII checked eight bytes at a time, the rest by `std`.
#[inline]
pub(crate) fn is_utf8(input: &[u8], start: usize, end: usize) -> bool {
    any_word(input, start, end, |w| w & 0x8080_8080_8080_8080) == 0
        || std::str::from_utf8(input.get(start..end).unwrap_or_default()).is_ok()
}

/// Both characters of a packed byte, by byte: NIBBLE_8 then HEX_8 (a bad NIBBLE_8 digit or
/// padding reads as NUL here; [`has_bad_nibble`] turns those away first).
pub(crate) static PAIR_CHARS: [[[u8; 2]; 256]; 2] = {
    let mut table = [[[0u8; 2]; 256]; 2];
    let mut b = 0;
    while b < 256 {
        let (hi, lo) = (b >> 4, b & 0x0f);
        table[0][b] = [nibble_char(hi), nibble_char(lo)];
        table[1][b] = [hex_char(hi), hex_char(lo)];
        b += 1;
    }
    table
};

/// The first digit of NIBBLE_8 `bytes` that [`has_bad_nibble`] refuses: its byte's index and
/// value.
pub(crate) fn first_bad_nibble(bytes: &[u8], odd: bool) -> Option<(usize, u8)> {
    let last = bytes.len().wrapping_sub(1);
    bytes.iter().enumerate().find_map(|(n, &byte)| {
        let low = byte & 0x0f;
        let low_bad = if odd && n == last {
            (12..=14).contains(&low)
        } else {
            low >= 12
        };
        if byte >> 4 >= 12 {
            Some((n, byte >> 4))
        } else {
            low_bad.then_some((n, low))
        }
    })
}

/// Unpacks NIBBLE_8 (or HEX_8 when `hex`) `bytes` into `buf`, two characters a byte (a packed
/// string has at most 127 bytes, so they fit).
pub(crate) fn unpack_pairs(bytes: &[u8], hex: bool, buf: &mut [u8; PACKED_BUF]) {
    let table = &PAIR_CHARS[usize::from(hex)];
    for (&byte, out) in bytes.iter().zip(buf.chunks_exact_mut(2)) {
        out.copy_from_slice(&table[usize::from(byte)]);
    }
}

const fn nibble_char(n: usize) -> u8 {
    match NIBBLE_CHARS[n] {
        Some(c) => c,
        None => 0,
    }
}

const fn hex_char(n: usize) -> u8 {
    match HEX_CHARS[n] {
        Some(c) => c,
        None => 0,
    }
}

/// Characters of NIBBLE_8 digits (12..=14 are invalid; 15 is padding, only as the dropped last
/// nibble of an odd string: [`has_bad_nibble`] refuses it anywhere else).
pub(crate) const NIBBLE_CHARS: [Option<u8>; 16] = [
    Some(b'0'),
    Some(b'1'),
    Some(b'2'),
    Some(b'3'),
    Some(b'4'),
    Some(b'5'),
    Some(b'6'),
    Some(b'7'),
    Some(b'8'),
    Some(b'9'),
    Some(b'-'),
    Some(b'.'),
    None,
    None,
    None,
    Some(0),
];

/// Characters of HEX_8 digits.
pub(crate) const HEX_CHARS: [Option<u8>; 16] = [
    Some(b'0'),
    Some(b'1'),
    Some(b'2'),
    Some(b'3'),
    Some(b'4'),
    Some(b'5'),
    Some(b'6'),
    Some(b'7'),
    Some(b'8'),
    Some(b'9'),
    Some(b'A'),
    Some(b'B'),
    Some(b'C'),
    Some(b'D'),
    Some(b'E'),
    Some(b'F'),
];

pub(crate) struct Decoder {
    pub(crate) dict: Dictionary,
    pub(crate) max_depth: usize,
}

impl Decoder {
    /// Decodes one root node that must span all of `input`.
    pub(crate) fn decode<'a, K: Sink<'a>>(&self, input: &'a [u8]) -> Result<K::Node, DecodeError> {
        let to_error = |f: Fail| DecodeError {
            offset: input.len() - f.0.remaining,
            kind: f.0.kind,
        };
        match self.node::<K>(input, 1) {
            Ok(([], node)) => Ok(node),
            Ok((rest, _)) => Err(DecodeError {
                offset: input.len() - rest.len(),
                kind: DecodeErrorKind::TrailingBytes { count: rest.len() },
            }),
            Err(nom::Err::Error(f) | nom::Err::Failure(f)) => Err(to_error(f)),
            // Only streaming parsers report Incomplete; ours are all `complete`.
            Err(nom::Err::Incomplete(_)) => Err(DecodeError {
                offset: input.len(),
                kind: DecodeErrorKind::UnexpectedEnd {
                    expected: "more bytes",
                },
            }),
        }
    }

    pub(crate) fn list_size<'a>(&self, i: &'a [u8], what: &'static str) -> Res<'a, usize> {
        let (rest, tag) = u8_(i, what)?;
        match tag {
            tags::LIST_EMPTY => Ok((rest, 0)),
            tags::LIST_8 => u8_(rest, "LIST_8 size").map(|(r, n)| (r, usize::from(n))),
            tags::LIST_16 => u16_(rest, "LIST_16 size").map(|(r, n)| (r, usize::from(n))),
            _ => fail(
                i,
                DecodeErrorKind::UnexpectedTag {
                    tag,
                    expected: what,
                },
            ),
        }
    }

    fn node<'a, K: Sink<'a>>(&self, i: &'a [u8], depth: usize) -> Res<'a, K::Node> {
        if depth > self.max_depth {
            return fail(
                i,
                DecodeErrorKind::TooDeep {
                    limit: self.max_depth,
                },
            );
        }
        let (rest, size) = self.list_size(i, "a node's list (LIST_EMPTY, LIST_8 or LIST_16)")?;
        if size == 0 {
            return fail(i, DecodeErrorKind::EmptyNode);
        }
        if self.dict == Dictionary::Legacy && rest.first() == Some(&tags::STREAM_END) {
            return fail(rest, DecodeErrorKind::StreamEnd);
        }
        let tag_at = rest;
        let (mut rest, tag) = self.string::<K>(rest, "a node tag")?;
        if tag.as_ref().is_empty() {
            return fail(tag_at, DecodeErrorKind::EmptyTag);
        }
        let attr_count = (size - 1) >> 1;
        // Each attribute takes at least two bytes: never reserve more than the input could hold.
        let mut attrs = Vec::with_capacity(attr_count.min(rest.len() / 2));
        for _ in 0..attr_count {
            let (r, key) = self.string::<K>(rest, "an attribute key")?;
            let (r, value) = self.string::<K>(r, "an attribute value")?;
            attrs.push((key, value));
            rest = r;
        }
        let content = if size % 2 == 0 {
            let (r, content) = self.content::<K>(rest, depth)?;
            rest = r;
            content
        } else {
            Parsed::None
        };
        Ok((rest, K::node(tag, attrs, content)))
    }

    fn content<'a, K: Sink<'a>>(&self, i: &'a [u8], depth: usize) -> Res<'a, Parsed<'a, K>> {
        let (after_tag, tag) = u8_(i, "content")?;
        match tag {
            tags::LIST_EMPTY | tags::LIST_8 | tags::LIST_16 => {
                let (mut rest, count) = self.list_size(i, "a list")?;
                // The smallest node is three bytes.
                let mut children = Vec::with_capacity(count.min(rest.len() / 3));
                for _ in 0..count {
                    let (r, child) = self.node::<K>(rest, depth + 1)?;
                    children.push(child);
                    rest = r;
                }
                Ok((rest, Parsed::Nodes(children)))
            }
            tags::BINARY_8 | tags::BINARY_20 | tags::BINARY_32 => {
                let (r, len) = binary_len(after_tag, tag)?;
                let (r, bytes) = take_(r, len, "binary content")?;
                Ok((r, Parsed::Bytes(bytes)))
            }
            _ => {
                let (r, text) = self.string::<K>(i, "content")?;
                Ok((r, Parsed::Text(text)))
            }
        }
    }

    /// Reads a string in any of its forms (token, packed, JID, raw).
    fn string<'a, K: Sink<'a>>(&self, i: &'a [u8], what: &'static str) -> Res<'a, K::Str> {
        let (rest, tag) = u8_(i, what)?;
        // Single-byte tokens (and LIST_EMPTY, the empty string) in one table lookup.
        if self.dict.classes()[usize::from(tag)] < class::TOKEN_END {
            return Ok((rest, K::token(self.dict.single_str(tag))));
        }
        match tag {
            tags::LIST_EMPTY => Ok((rest, K::token(""))),
            tags::BINARY_8 | tags::BINARY_20 | tags::BINARY_32 => {
                let (data, len) = binary_len(rest, tag)?;
                let (r, bytes) = take_(data, len, what)?;
                Ok((r, K::borrowed(utf8(data, bytes, what)?)))
            }
            tags::NIBBLE_8 | tags::HEX_8 => self.packed(rest, tag).map(|(r, s)| (r, K::owned(s))),
            tags::JID_PAIR => self.jid(rest, tag, 1).map(|(r, s)| (r, K::owned(s))),
            tags::AD_JID | tags::FB_JID | tags::INTEROP_JID
                if self.dict == Dictionary::MultiDeviceV3 =>
            {
                self.jid(rest, tag, 1).map(|(r, s)| (r, K::owned(s)))
            }
            tags::DICTIONARY_0..=tags::DICTIONARY_3 => {
                let (r, index) = u8_(rest, "a double-byte token index")?;
                let dict = tag - tags::DICTIONARY_0;
                match self.dict.double(dict, index) {
                    Some(token) => Ok((r, K::token(token))),
                    None => fail(i, DecodeErrorKind::UnknownDoubleToken { dict, index }),
                }
            }
            tags::STREAM_END if self.dict == Dictionary::Legacy => {
                fail(i, DecodeErrorKind::StreamEnd)
            }
            1..tags::DICTIONARY_0 => match self.dict.decode_single(tag) {
                Some(token) => Ok((rest, K::token(token))),
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

    /// Reads a JID (its tag already consumed) into one `String`.
    pub(crate) fn jid<'a>(&self, rest: &'a [u8], tag: u8, nesting: usize) -> Res<'a, String> {
        let mut jid = String::new();
        let (r, ()) = self.jid_into(rest, tag, nesting, &mut jid)?;
        Ok((r, jid))
    }

    /// Reads a JID (its tag already consumed), appending it to `out` (which a caller reuses,
    /// so that building a JID allocates nothing). Kept out of [`Self::string`] so that the
    /// unpacking buffer is on the stack only while a JID is read.
    /// A JID's parts may themselves be JIDs; `nesting` counts them so that a run of JID tags
    /// ends in an error at `max_depth` instead of exhausting the stack.
    #[inline(never)]
    pub(crate) fn jid_into<'a>(
        &self,
        rest: &'a [u8],
        tag: u8,
        nesting: usize,
        out: &mut String,
    ) -> Res<'a, ()> {
        if nesting > self.max_depth {
            return fail(
                rest,
                DecodeErrorKind::TooDeep {
                    limit: self.max_depth,
                },
            );
        }
        let mut buf = [0u8; PACKED_BUF];
        match tag {
            tags::JID_PAIR => {
                let (r, user) = self.jid_part(rest, "a JID user", &mut buf, nesting)?;
                let server_at = r;
                let (r, server) = self.jid_server(r, "a JID server", nesting)?;
                if server.is_empty() {
                    return fail(server_at, DecodeErrorKind::JidWithoutServer);
                }
                write_jid(out, None, user.as_str(&buf), None, &server);
                Ok((r, ()))
            }
            tags::AD_JID => {
                let (r, domain) = u8_(rest, "an AD_JID domain type")?;
                let (r, device) = u8_(r, "an AD_JID device")?;
                let (r, user) = self.jid_part(r, "an AD_JID user", &mut buf, nesting)?;
                let server = Server::from_domain_type(domain);
                let device = (device != 0).then_some(u16::from(device));
                write_jid(out, None, user.as_str(&buf), device, server.as_str());
                Ok((r, ()))
            }
            tags::FB_JID => {
                let (r, user) = self.jid_part(rest, "an FB_JID user", &mut buf, nesting)?;
                let (r, device) = u16_(r, "an FB_JID device")?;
                let (r, server) = self.jid_server(r, "an FB_JID server", nesting)?;
                write_jid(out, None, user.as_str(&buf), Some(device), &server);
                Ok((r, ()))
            }
            _ => {
                let (r, user) = self.jid_part(rest, "an INTEROP_JID user", &mut buf, nesting)?;
                let (r, device) = u16_(r, "an INTEROP_JID device")?;
                let (r, integrator) = u16_(r, "an INTEROP_JID integrator")?;
                let (r, server) = self.jid_server(r, "an INTEROP_JID server", nesting)?;
                write_jid(
                    out,
                    Some(integrator),
                    user.as_str(&buf),
                    Some(device),
                    &server,
                );
                Ok((r, ()))
            }
        }
    }

    /// Unpacks NIBBLE_8 / HEX_8 (the tag already consumed) into one exactly sized `String`.
    fn packed<'a>(&self, i: &'a [u8], tag: u8) -> Res<'a, String> {
        let mut buf = [0u8; PACKED_BUF];
        let (rest, len) = self.packed_into(i, tag, &mut buf)?;
        let text = utf8(i, buf.get(..len).unwrap_or_default(), "a packed string")?;
        Ok((rest, text.to_owned()))
    }

    /// Unpacks NIBBLE_8 / HEX_8 (the tag already consumed) into `buf`, returning the length.
    /// Every table character is ASCII, so the bytes written are always UTF-8.
    fn packed_into<'a>(&self, i: &'a [u8], tag: u8, buf: &mut [u8; PACKED_BUF]) -> Res<'a, usize> {
        let (data, start) = u8_(i, "a packed string's length byte")?;
        let pairs = u64::from(start & 0x7f);
        let (rest, bytes) = take_(data, pairs, "a packed string")?;
        let hex = tag == tags::HEX_8;
        let odd = start & 0x80 != 0;
        let len = (bytes.len() * 2).saturating_sub(usize::from(odd));
        if !packed_len_ok(len) {
            return fail(i, DecodeErrorKind::PackedLength { chars: len });
        }
        // Only NIBBLE_8 has invalid digits: found next, at the byte that holds one. (Checked
        // within the rest of the input, so that a short string is read as one word.)
        if !hex && has_bad_nibble(data, 0, bytes.len(), odd) {
            if let Some((n, value)) = first_bad_nibble(bytes, odd) {
                let at = i.get(1 + n..).unwrap_or_default();
                return fail(at, DecodeErrorKind::BadNibble { value });
            }
        }
        unpack_pairs(bytes, hex, buf);
        Ok((rest, len))
    }

    /// Reads a JID's user or server: packed strings go into `buf` (a JID then allocates once,
    /// for itself), other forms as [`Self::string`] reads them.
    fn jid_part<'a>(
        &self,
        i: &'a [u8],
        what: &'static str,
        buf: &mut [u8; PACKED_BUF],
        nesting: usize,
    ) -> Res<'a, JidPart<'a>> {
        match i.split_first() {
            Some((&tag @ (tags::NIBBLE_8 | tags::HEX_8), rest)) => {
                let (r, len) = self.packed_into(rest, tag, buf)?;
                Ok((r, JidPart::Packed(len)))
            }
            _ => self
                .jid_server(i, what, nesting)
                .map(|(r, s)| (r, JidPart::Str(s))),
        }
    }

    /// Reads a JID's part as [`Self::string`] does, except that a nested JID counts `nesting`.
    fn jid_server<'a>(
        &self,
        i: &'a [u8],
        what: &'static str,
        nesting: usize,
    ) -> Res<'a, Cow<'a, str>> {
        match i.split_first() {
            Some((&tag, rest))
                if tag == tags::JID_PAIR
                    || (self.dict == Dictionary::MultiDeviceV3
                        && matches!(tag, tags::AD_JID | tags::FB_JID | tags::INTEROP_JID)) =>
            {
                self.jid(rest, tag, nesting + 1)
                    .map(|(r, s)| (r, Cow::Owned(s)))
            }
            _ => self.string::<Borrowed>(i, what),
        }
    }
}

/// Room for the longest packed string (127 pairs).
pub(crate) const PACKED_BUF: usize = 256;

/// A JID part: a string, or the length of what was unpacked into the caller's buffer.
enum JidPart<'a> {
    Str(Cow<'a, str>),
    Packed(usize),
}

impl JidPart<'_> {
    fn as_str<'s>(&'s self, buf: &'s [u8; PACKED_BUF]) -> &'s str {
        match self {
            JidPart::Str(s) => s,
            // Unpacked characters are ASCII (see `packed_into`), so this never falls back.
            JidPart::Packed(len) => {
                std::str::from_utf8(buf.get(..*len).unwrap_or_default()).unwrap_or_default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::dict::tags;
    use crate::{Codec, DecodeErrorKind};

    #[test]
    fn a_run_of_nested_jids_is_too_deep_not_a_stack_overflow() {
        let mut frame = vec![tags::LIST_8, 1];
        frame.extend(std::iter::repeat_n(tags::JID_PAIR, 200_000));
        for codec in [Codec::multi_device(), Codec::legacy()] {
            let err = codec.decode(&frame).unwrap_err();
            assert_eq!(err.kind, DecodeErrorKind::TooDeep { limit: 64 });
            let err = codec.decode_ref(&frame).unwrap_err();
            assert_eq!(err.kind, DecodeErrorKind::TooDeep { limit: 64 });
        }
    }

    #[test]
    fn nested_jids_within_the_limit_still_decode() {
        // <"x@y@s.whatsapp.net"/>: a JID whose user is itself a JID, as Baileys reads it.
        let codec = Codec::multi_device();
        let mut frame = vec![tags::LIST_8, 1, tags::JID_PAIR, tags::JID_PAIR];
        frame.extend([tags::BINARY_8, 1, b'x', tags::BINARY_8, 1, b'y']);
        frame.extend([tags::BINARY_8, 14]);
        frame.extend(b"s.whatsapp.net");
        assert_eq!(codec.decode(&frame).unwrap().tag, "x@y@s.whatsapp.net");
        assert_eq!(codec.decode_ref(&frame).unwrap().tag, "x@y@s.whatsapp.net");
    }
}
