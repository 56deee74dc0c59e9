//! The text buffer of an arena made by [`TreeArena::with_text`](super::TreeArena::with_text):
//! packed strings unpacked and JIDs built while decoding, into one `Vec<u8>` validated as UTF-8
//! once per tree, so that reading a string afterwards is slicing a `&str`.

use std::sync::OnceLock;

use crate::dict::Dictionary;
use crate::jid::Server;

/// Each byte's low nibble, as a byte.
const LOW_NIBBLES: u64 = 0x000f_000f_000f_000f;
/// One in every byte.
const ONES: u64 = 0x0101_0101_0101_0101;

/// Eight packed digits (four bytes, first digit in the high nibble of the first byte) spread
/// into eight bytes holding one digit each, in string order (little-endian).
#[inline(always)]
fn spread(four: u32) -> u64 {
    let mut x = u64::from(four);
    // Byte i into the low byte of 16-bit lane i.
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    // The high nibble first (even byte), the low one second (odd byte).
    ((x >> 4) & LOW_NIBBLES) | ((x & LOW_NIBBLES) << 8)
}

/// Eight digits (0..=15, one a byte) as their characters: NIBBLE_8 maps 0..=9 to `0`..`9`, 10
/// to `-` and 11 to `.`; HEX_8 maps 10..=15 to `A`..`F`. No carry crosses a byte: every sum
/// stays below 0x50. (NIBBLE_8's 12..=15 are refused while decoding or are the padding that
/// is cut off; they map to characters that are never kept.)
#[inline(always)]
fn chars(digits: u64, hex: bool) -> u64 {
    // 0x10 in each byte whose digit is 10 or more.
    let letters = (digits + 6 * ONES) & (0x10 * ONES);
    let ascii = digits + 0x30 * ONES;
    // The offsets as ORs of shifts of disjoint bits: written as sums of shifts (or products),
    // the compiler made them one 64-bit multiplication, which SSE2 lanes emulate with three
    // dependent `pmuludq`s (a long chain before every store of unpacked characters).
    if hex {
        // 7 = 0x10 >> 2 | 0x10 >> 3 | 0x10 >> 4.
        ascii + ((letters >> 2) | (letters >> 3) | (letters >> 4))
    } else {
        // '0' + 10 - '-' = 13 = 0x10 >> 1 | 0x10 >> 2 | 0x10 >> 4, and '.' follows '-'.
        ascii - ((letters >> 1) | (letters >> 2) | (letters >> 4))
    }
}

/// 1 in each byte whose digit (one a byte) is 12 or more: not a NIBBLE_8 digit.
#[inline(always)]
fn over_eleven(digits: u64) -> u64 {
    ((digits + 4 * ONES) >> 4) & ONES
}

/// The low `n` bytes (0..=8) of a word.
#[inline(always)]
fn low_bytes(n: usize) -> u64 {
    if n >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * n)) - 1
    }
}

/// Up to eight bytes of `input` from `at` (at most `n` of them counted; zeros past its end) as
/// a little-endian word.
#[inline(always)]
fn word_at(input: &[u8], at: usize, n: usize) -> u64 {
    if let Some(window) = input.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        return u64::from_le_bytes(*window);
    }
    let mut w = [0u8; 8];
    let tail = input.get(at..at + n).unwrap_or_default();
    w.iter_mut().zip(tail).for_each(|(w, &b)| *w = b);
    u64::from_le_bytes(w)
}

/// Appends the `len` characters of the packed string at `input[start..end]` (NIBBLE_8, or
/// HEX_8 when `hex`; `odd`: the length byte's bit 7, the last digit is padding) to `out`,
/// checking NIBBLE_8 digits on the way as [`has_bad_nibble`](crate::decode::has_bad_nibble)
/// does (12..=15 are not digits; the padding may be 15 or a digit, not 12..=14): eight bytes
/// (sixteen characters) at a time, read and checked once. Returns `false`, with `out` as it
/// was, for a bad digit. `len` is what the length byte gives (`2 * (end - start) - odd`).
///
/// Strings of up to sixteen characters (eight bytes, most of them: phone numbers, timestamps,
/// counts) whose eight bytes from `start` are inside `input` take a straight path inline: one
/// load, no loop.
#[inline(always)]
pub(super) fn push_packed(
    out: &mut Vec<u8>,
    input: &[u8],
    (start, end): (usize, usize),
    hex: bool,
    odd: bool,
    len: usize,
) -> bool {
    let short = end.wrapping_sub(start) <= 8 && len <= 16;
    if let (true, Some(window)) = (short, input.get(start..).and_then(<[u8]>::first_chunk::<8>)) {
        if !hex && nibble_word_bad(u64::from_le_bytes(*window), len) {
            return false;
        }
        push_window(out, window, hex, len);
        return true;
    }
    push_packed_long(out, input, (start, end), hex, odd, len)
}

/// Appends the first `len` characters (at most sixteen) of the packed bytes of `window`, checked
/// by the caller: all sixteen written as one block, the excess cut.
#[inline(always)]
pub(super) fn push_window(out: &mut Vec<u8>, window: &[u8; 8], hex: bool, len: usize) {
    let w = u64::from_le_bytes(*window);
    let lo = spread(w as u32);
    let hi = spread((w >> 32) as u32);
    let base = out.len();
    let chunk = (u128::from(chars(hi, hex)) << 64) | u128::from(chars(lo, hex));
    out.extend_from_slice(&chunk.to_le_bytes());
    out.truncate(base + len);
}

/// The sixteen characters of the packed word `w` (eight bytes, string order), and a non-zero
/// mask if one of its first `keep` digits (0..=16) is 12..=15 (not a NIBBLE_8 digit).
#[inline(always)]
fn unpack_word(w: u64, hex: bool, keep: usize) -> (u128, u64) {
    let lo = spread(w as u32);
    let hi = spread((w >> 32) as u32);
    let bad =
        (over_eleven(lo) & low_bytes(keep)) | (over_eleven(hi) & low_bytes(keep.saturating_sub(8)));
    let chunk = (u128::from(chars(hi, hex)) << 64) | u128::from(chars(lo, hex));
    (chunk, bad)
}

/// For a NIBBLE_8 string of `len` characters (0..=16) packed in one word (first digit in the
/// high nibble of the low byte), the bit 0 of each nibble that holds one of its digits, and of
/// the padding nibble that follows an odd length (masks of the word, indexed by `len`; lengths
/// above 16 are never looked up).
const NIBBLE_MASKS: [(u64, u64); 32] = {
    let mut masks = [(0u64, 0u64); 32];
    let mut len = 0;
    while len <= 16 {
        let mut digits = 0u64;
        let mut i = 0;
        while i < len {
            // Even characters are high nibbles, odd ones low nibbles.
            digits |= 1 << (8 * (i / 2) + if i % 2 == 0 { 4 } else { 0 });
            i += 1;
        }
        let padding = if len % 2 == 1 {
            1 << (8 * (len / 2))
        } else {
            0
        };
        masks[len] = (digits, padding);
        len += 1;
    }
    masks
};

/// Whether the NIBBLE_8 string of `len` characters (1..=16) packed in `w` has a bad digit
/// (12..=15), or, for an odd length, a bad padding nibble (12..=14: 15 and digits are
/// accepted), as [`has_bad_nibble`](crate::decode::has_bad_nibble) checks them: a few bit
/// operations and one table load, no branch on the length's parity.
#[inline(always)]
pub(super) fn nibble_word_bad(w: u64, len: usize) -> bool {
    let (digits, padding) = NIBBLE_MASKS[len & 31];
    // Bit 0 of each nibble: 12 or more (its top two bits set); 15 (all four set).
    let twelve_up = (w >> 3) & (w >> 2);
    let fifteen = twelve_up & w & (w >> 1);
    twelve_up & (digits | padding) & !(fifteen & padding) != 0
}

/// [`push_packed`] for longer strings and strings at the end of the input.
#[inline(never)]
fn push_packed_long(
    out: &mut Vec<u8>,
    input: &[u8],
    (start, end): (usize, usize),
    hex: bool,
    odd: bool,
    len: usize,
) -> bool {
    let pairs = end.wrapping_sub(start);
    if let (true, Some(window)) = (
        pairs <= 16 && len <= 32,
        input.get(start..).and_then(<[u8]>::first_chunk::<16>),
    ) {
        // Up to 32 characters (group JIDs' users) whose sixteen bytes are inside `input`: two
        // words, no loop.
        let w = u128::from_le_bytes(*window);
        let (first, bad_first) = unpack_word(w as u64, hex, 16);
        let (second, bad_second) = unpack_word((w >> 64) as u64, hex, len.saturating_sub(16));
        // An odd length's padding digit, in the last byte (the second word: more than 8 bytes).
        let padding = if odd {
            window.get(pairs.wrapping_sub(1)).map_or(0, |b| b & 0x0f)
        } else {
            0
        };
        if !hex && (bad_first | bad_second != 0 || (12..=14).contains(&padding)) {
            return false;
        }
        let base = out.len();
        let mut chunk = [0u8; 32];
        chunk[..16].copy_from_slice(&first.to_le_bytes());
        chunk[16..].copy_from_slice(&second.to_le_bytes());
        out.extend_from_slice(&chunk);
        out.truncate(base + len);
        return true;
    }
    let base = out.len();
    out.reserve(len + 16);
    let mut bad = 0u64;
    let (mut at, mut left) = (start, len);
    while at < end {
        let n = (end - at).min(8);
        let w = word_at(input, at, n);
        let lo = spread(w as u32);
        let hi = spread((w >> 32) as u32);
        let keep = left.min(16);
        bad |= (over_eleven(lo) & low_bytes(keep))
            | (over_eleven(hi) & low_bytes(keep.saturating_sub(8)));
        // All sixteen written (two stores, no call), the excess cut below.
        let chunk = (u128::from(chars(hi, hex)) << 64) | u128::from(chars(lo, hex));
        out.extend_from_slice(&chunk.to_le_bytes());
        left -= keep;
        at += n;
    }
    out.truncate(base + len);
    let padding = if odd && end > start {
        input.get(end - 1).map_or(0, |b| b & 0x0f)
    } else {
        0
    };
    if !hex && (bad != 0 || (12..=14).contains(&padding)) {
        out.truncate(base);
        return false;
    }
    true
}

/// Whether the NIBBLE_8 string at `input[start..end]` has only valid digits, as
/// [`has_bad_nibble`](crate::decode::has_bad_nibble) checks them (12..=15 are not digits; when
/// `odd`, the last nibble is padding: 15 or a digit, not 12..=14): strings of up to eight
/// bytes (most) whose eight bytes from `start` are inside `input` with one load inline.
#[inline(always)]
pub(super) fn nibbles_ok(input: &[u8], (start, end): (usize, usize), odd: bool) -> bool {
    let pairs = end.wrapping_sub(start);
    let short = pairs.wrapping_sub(1) < 8;
    if let (true, Some(window)) = (short, input.get(start..).and_then(<[u8]>::first_chunk::<8>)) {
        let len = 2 * pairs - usize::from(odd);
        return !nibble_word_bad(u64::from_le_bytes(*window), len);
    }
    !crate::decode::has_bad_nibble(input, start, end, odd)
}

/// A JID's `@server` suffix, zero-padded to sixteen bytes, so that it is written as one
/// fixed-size copy (its excess cut) instead of a variable-length `memcpy` call.
pub(super) type Suffix = [u8; 16];

/// Zero-padded `@server` suffixes, one per byte (see [`Suffix`]).
pub(super) type Suffixes = [Suffix; 256];

/// `@` and `server` as a [`Suffix`], or all zeros when they do not fit in sixteen bytes.
const fn suffix(server: &str) -> Suffix {
    let server = server.as_bytes();
    let mut out = [0u8; 16];
    if server.len() < out.len() {
        out[0] = b'@';
        let mut i = 0;
        while i < server.len() {
            out[1 + i] = server[i];
            i += 1;
        }
    }
    out
}

/// `@` and the single-byte token of each byte of `dict`, as [`Suffix`]es.
const fn token_suffix_table(dict: Dictionary) -> Suffixes {
    let singles = dict.singles();
    let mut table = [[0u8; 16]; 256];
    let mut byte = 0;
    while byte < table.len() {
        table[byte] = suffix(singles[byte]);
        byte += 1;
    }
    table
}

/// Built at compile time: a decoder takes them by reference, with no check that they are.
static LEGACY_SUFFIXES: Suffixes = token_suffix_table(Dictionary::Legacy);
static MD_SUFFIXES: Suffixes = token_suffix_table(Dictionary::MultiDeviceV3);

/// `@` and the single-byte token of each byte of `dict`, as [`Suffix`]es (a JID_PAIR's token
/// server); all zeros for tokens of sixteen bytes or more, which are copied the long way.
pub(super) fn token_suffixes(dict: Dictionary) -> &'static Suffixes {
    match dict {
        Dictionary::Legacy => &LEGACY_SUFFIXES,
        Dictionary::MultiDeviceV3 => &MD_SUFFIXES,
    }
}

/// `@` and the server an AD_JID's domain type names, as a [`Suffix`], by domain type (every
/// server fits). Built once.
pub(super) fn domain_suffixes() -> &'static Suffixes {
    static DOMAINS: OnceLock<Suffixes> = OnceLock::new();
    DOMAINS
        .get_or_init(|| std::array::from_fn(|d| suffix(Server::from_domain_type(d as u8).as_str())))
}

/// Appends the first `len` bytes of `suffix` (at most sixteen) as one fixed-size copy.
#[inline(always)]
pub(super) fn push_suffix(out: &mut Vec<u8>, suffix: &Suffix, len: usize) {
    let base = out.len();
    out.extend_from_slice(suffix);
    out.truncate(base + len);
}

/// Appends `n` in decimal.
#[inline]
pub(super) fn push_decimal(out: &mut Vec<u8>, n: u16) {
    let (digits, start) = crate::decode::decimal_digits(n);
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::decode::{PAIR_CHARS, has_bad_nibble};

    /// `push_packed` over `packed` alone, and with other bytes around it.
    fn push(packed: &[u8], hex: bool, odd: bool, len: usize) -> Option<Vec<u8>> {
        let mut results = Vec::new();
        for (before, after) in [(0, 0), (3, 0), (0, 9), (5, 9)] {
            let mut input = vec![0xcc; before];
            input.extend(packed);
            input.extend(vec![0xdd; after]);
            let mut out = b"x".to_vec();
            let ok = push_packed(
                &mut out,
                &input,
                (before, before + packed.len()),
                hex,
                odd,
                len,
            );
            if !ok {
                assert_eq!(out, b"x");
            }
            results.push(ok.then(|| out[1..].to_vec()));
        }
        assert!(results.windows(2).all(|w| w[0] == w[1]));
        results.pop().flatten()
    }

    #[test]
    fn word_unpacking_matches_the_pair_table_for_every_byte_and_length() {
        for hex in [false, true] {
            let table = &PAIR_CHARS[usize::from(hex)];
            for byte in 0..=255u8 {
                for len in (1..=22usize).chain([31, 32, 33, 127]) {
                    // `byte` at every position of strings of many lengths.
                    let pairs = len.div_ceil(2);
                    for at in 0..pairs {
                        let mut packed: Vec<u8> =
                            (0..pairs).map(|i| (i % 10) as u8 * 0x11).collect();
                        packed[at] = byte;
                        let mut expected: Vec<u8> =
                            packed.iter().flat_map(|&b| table[usize::from(b)]).collect();
                        expected.truncate(len);
                        let odd = len % 2 == 1;
                        let bad = !hex && has_bad_nibble(&packed, 0, pairs, odd);
                        let got = push(&packed, hex, odd, len);
                        assert_eq!(got.is_none(), bad, "{hex} {byte:#x} {len} {at}");
                        if let Some(got) = got {
                            assert_eq!(got, expected, "{hex} {byte:#x} {len} {at}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn nibble_check_matches_has_bad_nibble_for_every_byte_and_length() {
        for byte in 0..=255u8 {
            for pairs in 0..=10usize {
                for at in 0..pairs.max(1) {
                    let mut packed: Vec<u8> = (0..pairs).map(|i| (i % 10) as u8 * 0x11).collect();
                    if at < pairs {
                        packed[at] = byte;
                    }
                    for odd in [false, true] {
                        let expected = !has_bad_nibble(&packed, 0, pairs, odd);
                        for (before, after) in [(0, 0), (3, 0), (0, 9), (5, 9)] {
                            let mut input = vec![0xcc; before];
                            input.extend(&packed);
                            input.extend(vec![0xff; after]);
                            let got = nibbles_ok(&input, (before, before + pairs), odd);
                            assert_eq!(got, expected, "{byte:#x} {pairs} {at} {odd} {before}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn nibble_and_hex_characters() {
        let nibbles = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0x0f];
        assert_eq!(push(&nibbles, false, true, 13).unwrap(), b"0123456789-.0");
        // 15 inside the string is not a digit.
        assert_eq!(push(&nibbles, false, false, 14), None);
        let hex = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        assert_eq!(push(&hex, true, false, 16).unwrap(), b"0123456789ABCDEF");
        assert_eq!(push(&hex, false, false, 16), None);
    }

    #[test]
    fn suffix_tables_hold_at_and_each_server() {
        use crate::dict::Dictionary;
        for dict in [Dictionary::Legacy, Dictionary::MultiDeviceV3] {
            let table = token_suffixes(dict);
            for byte in 0..=255u8 {
                let token = dict.single_str(byte);
                let entry = &table[usize::from(byte)];
                if token.len() < 16 {
                    assert_eq!(entry[0], b'@');
                    assert_eq!(&entry[1..=token.len()], token.as_bytes(), "{dict:?} {byte}");
                    assert!(entry[token.len() + 1..].iter().all(|&b| b == 0));
                } else {
                    assert_eq!(entry, &[0; 16]);
                }
            }
        }
        for domain in 0..=255u8 {
            let server = Server::from_domain_type(domain);
            let server = server.as_str();
            let entry = &domain_suffixes()[usize::from(domain)];
            let mut out = b"x".to_vec();
            push_suffix(&mut out, entry, 1 + server.len());
            assert_eq!(out, format!("x@{server}").as_bytes());
        }
    }

    #[test]
    fn decimals() {
        for n in [0u16, 7, 10, 99, 100, 255, 9999, 10000, u16::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
