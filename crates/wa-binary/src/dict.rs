//! Dictionaries: the wire tags and the string tokens of each protocol generation.

use crate::tokens::{LEGACY_SINGLE, MD_DOUBLE, MD_SINGLE};

/// Wire tags (the first byte of every string or list).
pub mod tags {
    /// An empty list, or an absent string.
    pub const LIST_EMPTY: u8 = 0;
    /// End of the stream (legacy only; in dictionary v3 byte 2 is the token `xmlstreamend`).
    pub const STREAM_END: u8 = 2;
    /// First of the four double-byte dictionaries (multi-device only).
    pub const DICTIONARY_0: u8 = 236;
    /// Last of the four double-byte dictionaries.
    pub const DICTIONARY_3: u8 = 239;
    /// `integrator-user:device@server` (multi-device only).
    pub const INTEROP_JID: u8 = 245;
    /// `user:device@server` with a 16-bit device (multi-device only).
    pub const FB_JID: u8 = 246;
    /// `user[:device]@server` with a domain-type byte (multi-device only).
    pub const AD_JID: u8 = 247;
    /// A list with an 8-bit size.
    pub const LIST_8: u8 = 248;
    /// A list with a 16-bit big-endian size.
    pub const LIST_16: u8 = 249;
    /// `user@server` as two strings.
    pub const JID_PAIR: u8 = 250;
    /// Packed uppercase hexadecimal.
    pub const HEX_8: u8 = 251;
    /// Bytes with an 8-bit length.
    pub const BINARY_8: u8 = 252;
    /// Bytes with a 20-bit length (low 4 bits of the first byte, then 2 bytes).
    pub const BINARY_20: u8 = 253;
    /// Bytes with a 32-bit big-endian length.
    pub const BINARY_32: u8 = 254;
    /// Packed digits, `-` and `.`.
    pub const NIBBLE_8: u8 = 255;
    /// The longest string (in characters) written packed.
    pub const PACKED_MAX: usize = 127;
}

/// Which token dictionary (and tag set) a codec instance speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dictionary {
    /// The legacy WhatsApp Web protocol: the 176-token single-byte table, no double-byte tokens, no
    /// AD/FB/interop JIDs. `s.whatsapp.net` reads back as `c.us`; `c.us` is written as
    /// `s.whatsapp.net`.
    Legacy,
    /// The multi-device protocol, dictionary version 3: 236 single-byte and 4 x 256 double-byte
    /// tokens.
    #[default]
    MultiDeviceV3,
}

/// Where a token lives in a dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// One byte.
    Single(u8),
    /// `DICTIONARY_0 + dict`, then `index`.
    Double {
        /// Which of the four double-byte dictionaries (0..=3).
        dict: u8,
        /// The index inside it.
        index: u8,
    },
}

impl Dictionary {
    /// The string for a single-byte token, or `None` when the byte is not a token here.
    pub fn single(self, byte: u8) -> Option<&'static str> {
        match self {
            // 0 is LIST_EMPTY, 1 unused, 2 STREAM_END in the legacy protocol.
            Dictionary::Legacy if byte >= 3 => LEGACY_SINGLE.get(usize::from(byte)).copied(),
            Dictionary::Legacy => None,
            Dictionary::MultiDeviceV3 if byte >= 1 => MD_SINGLE.get(usize::from(byte)).copied(),
            Dictionary::MultiDeviceV3 => None,
        }
    }

    /// The string for a double-byte token, or `None` (always `None` for the legacy dictionary).
    pub fn double(self, dict: u8, index: u8) -> Option<&'static str> {
        match self {
            Dictionary::Legacy => None,
            Dictionary::MultiDeviceV3 => MD_DOUBLE
                .get(usize::from(dict))
                .map(|d| d[usize::from(index)]),
        }
    }

    /// The token for `s`, in O(1) (a perfect-enough static hash table built at compile time).
    #[inline]
    pub fn token(self, s: &str) -> Option<Token> {
        let table: &LookupTable = match self {
            Dictionary::Legacy => &LEGACY_LOOKUP,
            Dictionary::MultiDeviceV3 => &MD_LOOKUP,
        };
        let code = table.find(s.as_bytes())?;
        let token = if code < 256 {
            Token::Single(code as u8)
        } else {
            let rest = code - 256;
            Token::Double {
                dict: (rest >> 8) as u8,
                index: (rest & 0xff) as u8,
            }
        };
        Some(token)
    }

    /// The string a single-byte token decodes to (legacy maps `s.whatsapp.net` to `c.us`).
    pub(crate) fn decode_single(self, byte: u8) -> Option<&'static str> {
        Some(self.single_str(byte)).filter(|s| !s.is_empty())
    }
}

/// The legacy token for `s.whatsapp.net`, which the legacy protocol reads as `c.us`.
pub(crate) const LEGACY_WHATSAPP_NET: u8 = 80;

/// Number of slots in a lookup table; a power of two well above the entry count keeps probes short.
const SLOTS: usize = 4096;
/// Longest token in any table, in bytes; longer strings skip the hash entirely.
const MAX_TOKEN_LEN: usize = 64;

/// An open-addressing hash table from token bytes to a code (single byte, or 256 + dict*256 + index).
///
/// Each slot packs code + 1 (bits 0..11; 0 marks an empty slot), the token's length (bits 11..18)
/// and 14 bits of its hash (bits 18..32); `words` holds its first 8 bytes. A lookup compares
/// those integers and touches the token's text only past 8 bytes: most non-tokens are turned away
/// by the fingerprint, and short tokens never call `memcmp`.
pub(crate) struct LookupTable {
    slots: [u32; SLOTS],
    words: [u64; SLOTS],
    kind: Dictionary,
}

/// A cheap hash of a token candidate: its length and four of its bytes, mixed. Tokens differ
/// enough in those that probes stay short, and non-tokens (ids, numbers, text) cost no full scan.
const fn token_hash(bytes: &[u8]) -> u32 {
    let n = bytes.len();
    let mut h = (n as u32).wrapping_mul(0x9e37_79b1)
        ^ (bytes[0] as u32).wrapping_mul(0x85eb_ca77)
        ^ (bytes[n - 1] as u32).wrapping_mul(0xc2b2_ae3d)
        ^ (bytes[n / 2] as u32).wrapping_mul(0x27d4_eb2f)
        ^ (bytes[(n - 1) / 3] as u32).wrapping_mul(0x1656_67b1);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^= h >> 12;
    h
}

/// The first (up to) 8 bytes, little-endian, zero-padded.
#[inline]
const fn first_word(bytes: &[u8]) -> u64 {
    if let Some((head, _)) = bytes.split_first_chunk::<8>() {
        return u64::from_le_bytes(*head);
    }
    let mut word = 0u64;
    let mut i = 0;
    while i < bytes.len() && i < 8 {
        word |= (bytes[i] as u64) << (8 * i);
        i += 1;
    }
    word
}

/// The slot value for a key of `len` bytes with `hash`, holding `code`.
const fn slot_value(hash: u32, len: usize, code: usize) -> u32 {
    (hash & 0xfffc_0000) | ((len as u32) << 11) | (code as u32 + 1)
}

const FINGERPRINT_AND_LEN: u32 = 0xffff_f800;

const fn const_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn code_str(kind: Dictionary, code: usize) -> &'static str {
    match kind {
        Dictionary::Legacy => LEGACY_SINGLE[code],
        Dictionary::MultiDeviceV3 => {
            if code < 256 {
                MD_SINGLE[code]
            } else {
                MD_DOUBLE[(code - 256) >> 8][(code - 256) & 0xff]
            }
        }
    }
}

const fn insert(mut table: LookupTable, code: usize) -> LookupTable {
    let key = code_str(table.kind, code).as_bytes();
    if key.is_empty() {
        return table;
    }
    assert!(
        key.len() <= MAX_TOKEN_LEN,
        "token longer than MAX_TOKEN_LEN"
    );
    let hash = token_hash(key);
    let mut slot = hash as usize & (SLOTS - 1);
    loop {
        let existing = table.slots[slot];
        if existing == 0 {
            table.slots[slot] = slot_value(hash, key.len(), code);
            table.words[slot] = first_word(key);
            return table;
        }
        // A duplicate keeps its first position, as WhatsApp's own lookup does.
        if const_eq(
            code_str(table.kind, (existing & 0x7ff) as usize - 1).as_bytes(),
            key,
        ) {
            return table;
        }
        slot = (slot + 1) & (SLOTS - 1);
    }
}

const fn build(kind: Dictionary) -> LookupTable {
    let mut table = LookupTable {
        slots: [0; SLOTS],
        words: [0; SLOTS],
        kind,
    };
    let count = match kind {
        Dictionary::Legacy => LEGACY_SINGLE.len(),
        Dictionary::MultiDeviceV3 => 256 + 4 * 256,
    };
    let mut code = 0;
    while code < count {
        // Dictionary v3 has 236 single-byte tokens; codes 236..256 are the DICTIONARY/JID tags.
        let is_token =
            !matches!(kind, Dictionary::MultiDeviceV3) || code < MD_SINGLE.len() || code >= 256;
        if is_token {
            table = insert(table, code);
        }
        code += 1;
    }
    table
}

impl LookupTable {
    #[inline]
    fn find(&self, key: &[u8]) -> Option<usize> {
        if key.is_empty() || key.len() > MAX_TOKEN_LEN {
            return None;
        }
        let hash = token_hash(key);
        let want = slot_value(hash, key.len(), 0) & FINGERPRINT_AND_LEN;
        let word = first_word(key);
        let mut slot = hash as usize & (SLOTS - 1);
        loop {
            let entry = self.slots[slot];
            if entry == 0 {
                return None;
            }
            if entry & FINGERPRINT_AND_LEN == want && self.words[slot] == word {
                let code = (entry & 0x7ff) as usize - 1;
                if key.len() <= 8 || code_str(self.kind, code).as_bytes().get(8..) == key.get(8..) {
                    return Some(code);
                }
            }
            slot = (slot + 1) & (SLOTS - 1);
        }
    }
}

static LEGACY_LOOKUP: LookupTable = build(Dictionary::Legacy);
static MD_LOOKUP: LookupTable = build(Dictionary::MultiDeviceV3);

/// What a string's first byte means, per dictionary, in one table lookup: values below
/// [`class::TOKEN_END`] are single-byte tokens of that length (byte 0, LIST_EMPTY, is the empty
/// token); the others name the form that follows or the error the byte is.
pub(crate) mod class {
    /// Values below this are token lengths.
    pub const TOKEN_END: u8 = 128;
    /// BINARY_8, BINARY_20 or BINARY_32.
    pub const BINARY: u8 = 128;
    /// NIBBLE_8.
    pub const NIBBLE: u8 = 129;
    /// HEX_8.
    pub const HEX: u8 = 130;
    /// A JID tag this dictionary knows.
    pub const JID: u8 = 131;
    /// DICTIONARY_0..=3 (never a token for the legacy dictionary, but its index is read first).
    pub const DOUBLE: u8 = 132;
    /// STREAM_END (legacy).
    pub const STREAM_END: u8 = 133;
    /// A byte in the single-token range that is not a token.
    pub const UNKNOWN: u8 = 134;
    /// A byte that cannot start a string.
    pub const UNEXPECTED: u8 = 135;
}

/// The single-byte token of every byte (`""` where there is none, and for LIST_EMPTY): the
/// legacy table reads byte 80 as `c.us`, and its bytes 0..=2 are not tokens.
const fn single_table(kind: Dictionary) -> [&'static str; 256] {
    let legacy = matches!(kind, Dictionary::Legacy);
    let mut table = [""; 256];
    let mut byte = 1;
    while byte < tags::DICTIONARY_0 as usize {
        table[byte] = if legacy {
            if byte == LEGACY_WHATSAPP_NET as usize {
                "c.us"
            } else if byte >= 3 && byte < LEGACY_SINGLE.len() {
                LEGACY_SINGLE[byte]
            } else {
                ""
            }
        } else if byte < MD_SINGLE.len() {
            MD_SINGLE[byte]
        } else {
            ""
        };
        byte += 1;
    }
    table
}

static LEGACY_SINGLE_STR: [&str; 256] = single_table(Dictionary::Legacy);
static MD_SINGLE_STR: [&str; 256] = single_table(Dictionary::MultiDeviceV3);

/// Token codes: a single byte, or `256 + dict * 256 + index` for a double-byte token.
pub(crate) const TOKEN_CODES: usize = 256 + 4 * 256;

/// Every token string of a dictionary indexed by its code (`""` for a code that is not a
/// token), with the dictionary: what [`Dictionary::token_str`] gives in one load, without its
/// branches on the dictionary and on the code's form (for the tree's string reads).
#[derive(Debug)]
pub(crate) struct TokenTable {
    pub(crate) dict: Dictionary,
    pub(crate) strs: [&'static str; TOKEN_CODES],
}

const fn token_table(kind: Dictionary) -> TokenTable {
    let singles = single_table(kind);
    let mut strs = [""; TOKEN_CODES];
    let mut code = 0;
    while code < 256 {
        strs[code] = singles[code];
        code += 1;
    }
    if matches!(kind, Dictionary::MultiDeviceV3) {
        while code < TOKEN_CODES {
            strs[code] = MD_DOUBLE[(code - 256) >> 8][(code - 256) & 0xff];
            code += 1;
        }
    }
    TokenTable { dict: kind, strs }
}

static LEGACY_TOKENS: TokenTable = token_table(Dictionary::Legacy);
static MD_TOKENS: TokenTable = token_table(Dictionary::MultiDeviceV3);

const fn class_table(kind: Dictionary) -> [u8; 256] {
    let legacy = matches!(kind, Dictionary::Legacy);
    let singles = single_table(kind);
    let mut table = [class::UNEXPECTED; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = match byte as u8 {
            tags::LIST_EMPTY => 0,
            tags::BINARY_8 | tags::BINARY_20 | tags::BINARY_32 => class::BINARY,
            tags::NIBBLE_8 => class::NIBBLE,
            tags::HEX_8 => class::HEX,
            tags::JID_PAIR => class::JID,
            tags::AD_JID | tags::FB_JID | tags::INTEROP_JID if !legacy => class::JID,
            tags::DICTIONARY_0..=tags::DICTIONARY_3 => class::DOUBLE,
            tags::STREAM_END if legacy => class::STREAM_END,
            // Tokens are at most MAX_TOKEN_LEN (64) bytes: always below TOKEN_END.
            1..tags::DICTIONARY_0 if !singles[byte].is_empty() => singles[byte].len() as u8,
            1..tags::DICTIONARY_0 => class::UNKNOWN,
            _ => class::UNEXPECTED,
        };
        byte += 1;
    }
    table
}

static LEGACY_CLASSES: [u8; 256] = class_table(Dictionary::Legacy);
static MD_CLASSES: [u8; 256] = class_table(Dictionary::MultiDeviceV3);

impl Dictionary {
    /// The [`class`] of every first byte of a string.
    #[inline]
    pub(crate) fn classes(self) -> &'static [u8; 256] {
        match self {
            Dictionary::Legacy => &LEGACY_CLASSES,
            Dictionary::MultiDeviceV3 => &MD_CLASSES,
        }
    }

    /// The string a single-byte token decodes to, from a table (`""` for a byte that is not
    /// one, and for LIST_EMPTY).
    #[inline]
    pub(crate) fn single_str(self, byte: u8) -> &'static str {
        self.singles()[usize::from(byte)]
    }

    /// The strings of the single-byte tokens by byte, as [`Dictionary::single_str`] gives
    /// them: for a decoder that reads many, one table to index instead of a match per token.
    #[inline]
    pub(crate) const fn singles(self) -> &'static [&'static str; 256] {
        match self {
            Dictionary::Legacy => &LEGACY_SINGLE_STR,
            Dictionary::MultiDeviceV3 => &MD_SINGLE_STR,
        }
    }

    /// The table of every token string by code, and this dictionary.
    #[inline]
    pub(crate) fn token_table(self) -> &'static TokenTable {
        match self {
            Dictionary::Legacy => &LEGACY_TOKENS,
            Dictionary::MultiDeviceV3 => &MD_TOKENS,
        }
    }

    /// The string of a token code: a single byte (0 is the empty string), or
    /// `256 + dict * 256 + index` for a double-byte token. `""` for a code that is not a token.
    #[inline]
    pub(crate) fn token_str(self, code: usize) -> &'static str {
        if code < 256 {
            return self.single_str(code as u8);
        }
        let code = code - 256;
        self.double((code >> 8) as u8, (code & 0xff) as u8)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_tables_match_token_str() {
        for dict in [Dictionary::Legacy, Dictionary::MultiDeviceV3] {
            let table = dict.token_table();
            assert_eq!(table.dict, dict);
            for code in 0..TOKEN_CODES {
                assert_eq!(table.strs[code], dict.token_str(code), "{dict:?} {code}");
            }
        }
        assert_eq!(Dictionary::Legacy.token_table().strs[0xff], "");
        assert!(!Dictionary::MultiDeviceV3.token_table().strs[256 + 3 * 256 + 5].is_empty());
    }

    #[test]
    fn every_token_is_found_at_its_own_index() {
        for (i, t) in MD_SINGLE.iter().enumerate().skip(1) {
            assert_eq!(
                Dictionary::MultiDeviceV3.token(t),
                Some(Token::Single(i as u8)),
                "{t}"
            );
        }
        for (d, dict) in MD_DOUBLE.iter().enumerate() {
            for (i, t) in dict.iter().enumerate() {
                assert_eq!(
                    Dictionary::MultiDeviceV3.token(t),
                    Some(Token::Double {
                        dict: d as u8,
                        index: i as u8
                    }),
                    "{t}"
                );
            }
        }
        for (i, t) in LEGACY_SINGLE.iter().enumerate().skip(3) {
            assert_eq!(
                Dictionary::Legacy.token(t),
                Some(Token::Single(i as u8)),
                "{t}"
            );
        }
    }

    #[test]
    fn near_misses_of_long_tokens_are_not_tokens() {
        for dict in [Dictionary::Legacy, Dictionary::MultiDeviceV3] {
            let tokens = MD_SINGLE
                .iter()
                .chain(MD_DOUBLE.iter().flatten())
                .chain(LEGACY_SINGLE.iter());
            for token in tokens.filter(|t| t.len() > 8) {
                let mut near = token.to_string();
                let last = near.pop().unwrap();
                near.push(if last == 'x' { 'y' } else { 'x' });
                if let Some(found) = dict.token(&near) {
                    // Only another real token with that spelling may match.
                    let text = match found {
                        Token::Single(b) => dict.single(b),
                        Token::Double { dict: d, index } => dict.double(d, index),
                    };
                    assert_eq!(text, Some(near.as_str()));
                }
            }
        }
    }

    #[test]
    fn class_tables_agree_with_the_token_lookups() {
        for dict in [Dictionary::Legacy, Dictionary::MultiDeviceV3] {
            for byte in 0..=255u8 {
                let c = dict.classes()[usize::from(byte)];
                if c < class::TOKEN_END {
                    assert_eq!(dict.token_str(usize::from(byte)).len(), usize::from(c));
                    assert_eq!(dict.single_str(byte).len(), usize::from(c));
                    if byte != 0 {
                        assert_eq!(dict.decode_single(byte).map(str::len), Some(usize::from(c)));
                    }
                } else if (1..tags::DICTIONARY_0).contains(&byte) {
                    assert!(dict.decode_single(byte).is_none() || c == class::STREAM_END);
                    assert_eq!(dict.single_str(byte), "");
                }
                // The tables agree with the public lookup (except legacy's `c.us` spelling).
                if !(dict == Dictionary::Legacy && byte == LEGACY_WHATSAPP_NET) {
                    assert_eq!(dict.single_str(byte), dict.single(byte).unwrap_or_default());
                }
            }
        }
        assert_eq!(Dictionary::Legacy.classes()[2], class::STREAM_END);
        assert_eq!(
            Dictionary::Legacy.classes()[usize::from(tags::AD_JID)],
            class::UNEXPECTED
        );
        assert_eq!(
            Dictionary::MultiDeviceV3.classes()[usize::from(tags::AD_JID)],
            class::JID
        );
        assert_eq!(Dictionary::Legacy.token_str(80), "c.us");
    }

    #[test]
    fn known_positions_match_the_protocol_notes() {
        let md = Dictionary::MultiDeviceV3;
        assert_eq!(md.single(3), Some("s.whatsapp.net"));
        assert_eq!(md.single(28), Some("g.us"));
        assert_eq!(md.single(118), Some("lid"));
        assert_eq!(md.double(0, 0), Some("read-self"));
        assert_eq!(md.double(0, 3), Some("protocol"));
        assert_eq!(Dictionary::Legacy.single(175), Some("recent"));
        assert_eq!(Dictionary::Legacy.single(176), None);
        assert_eq!(
            Dictionary::Legacy.single(LEGACY_WHATSAPP_NET),
            Some("s.whatsapp.net")
        );
        assert_eq!(
            Dictionary::Legacy.decode_single(LEGACY_WHATSAPP_NET),
            Some("c.us")
        );
        assert_eq!(Dictionary::Legacy.decode_single(3), Some("200"));
        assert_eq!(md.token("not a token"), None);
        assert_eq!(Dictionary::Legacy.token("read-self"), None);
    }
}
