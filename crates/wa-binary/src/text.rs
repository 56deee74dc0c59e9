//! `Str`: the strings of an owned [`Node`](crate::Node), which hold dictionary tokens without
//! allocating.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// A string of a [`Node`](crate::Node): a `&'static str` (a dictionary token or a literal), a
/// short string held inline, or an owned `String`. Decoding a token stores the dictionary's
/// `&'static str` and a string of up to [`Str::INLINE`] bytes (JIDs, ids, timestamps, packed
/// numbers) is copied into the value itself, so most tags, keys and values cost no allocation.
/// Derefs to `str` and compares with `str`, `&str` and `String`.
#[derive(Clone)]
pub struct Str(Repr);

/// How a [`Str`] holds its characters. Tagged by a first byte, the inline form's 0: the empty
/// inline string (the placeholder a decoder writes over) is then 32 zero bytes, which the
/// compiler stores straight from a zeroed register where the default was built on the stack
/// with narrow stores and copied with wide loads that stalled on them.
#[derive(Clone)]
#[repr(u8)]
enum Repr {
    /// `bytes[..len]` is UTF-8 (only ever filled from a `&str`).
    Inline {
        len: u8,
        bytes: [u8; Str::INLINE],
    } = 0,
    Static(&'static str),
    Owned(String),
}

impl Str {
    /// Whether dropping the string frees nothing (it is inline or static).
    #[inline(always)]
    pub(crate) fn holds_no_heap(&self) -> bool {
        !matches!(self.0, Repr::Owned(_))
    }

    /// The longest string kept inline: 30 bytes keep a `Str` at 32 bytes, and fit a phone-number
    /// JID with a device (`15551234567:12@s.whatsapp.net` is 29).
    pub const INLINE: usize = 30;

    /// A string that borrows `s` for ever (no allocation).
    pub const fn from_static(s: &'static str) -> Str {
        Str(Repr::Static(s))
    }

    /// A copy of `s`: inline when it fits, else in a new `String`.
    #[inline]
    pub fn copy_of(s: &str) -> Str {
        if s.len() <= Str::INLINE {
            let mut bytes = [0u8; Str::INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Str(Repr::Inline {
                // At most INLINE (30), so it fits.
                len: s.len() as u8,
                bytes,
            })
        } else {
            Str(Repr::Owned(s.to_owned()))
        }
    }

    /// The first `len` bytes of `bytes` (at most [`Str::INLINE`]), which the caller unpacked
    /// from a packed string: ASCII, so UTF-8 (were they not, `as_str` would read it as empty,
    /// never as invalid text).
    #[inline]
    pub(crate) fn from_ascii(bytes: &[u8; Str::INLINE + 2], len: usize) -> Str {
        let mut inline = [0u8; Str::INLINE];
        inline.copy_from_slice(&bytes[..Str::INLINE]);
        Str(Repr::Inline {
            len: len.min(Str::INLINE) as u8,
            bytes: inline,
        })
    }

    /// The first `len` bytes of `window` (at most [`Str::INLINE`]), which the caller checked are
    /// UTF-8 (a string the decoder validated, or ASCII it unpacked); the rest of `window` is
    /// kept but never read. Copying a fixed-size window instead of `len` bytes lets the copy be
    /// a few wide moves. Were the bytes not UTF-8, `as_str` would read them as empty, never as
    /// invalid text: it checks them on every read.
    #[inline(always)]
    pub(crate) fn from_prefix(window: &[u8; Str::INLINE], len: usize) -> Str {
        Str(Repr::Inline {
            len: len.min(Str::INLINE) as u8,
            bytes: *window,
        })
    }

    /// An empty inline string: the placeholder a decoder writes strings over in place.
    const EMPTY: Str = Str(Repr::Inline {
        len: 0,
        bytes: [0; Str::INLINE],
    });

    /// Sets this string to `s` (no allocation).
    #[inline(always)]
    pub(crate) fn set_static(&mut self, s: &'static str) {
        *self = Str::from_static(s);
    }

    /// Sets this string to the first `len` bytes of `window`, as [`Str::from_prefix`] makes
    /// them. Written field by field when this string is inline already (a decoder's
    /// placeholder, [`Str::default`]): a whole `Str` made first went through the stack, and
    /// reading it back with wide loads right after its narrow stores stalled the CPU.
    #[inline(always)]
    pub(crate) fn set_prefix(&mut self, window: &[u8; Str::INLINE], len: usize) {
        match &mut self.0 {
            Repr::Inline { len: at, bytes } => {
                *at = len.min(Str::INLINE) as u8;
                *bytes = *window;
            }
            _ => *self = Str::from_prefix(window, len),
        }
    }

    /// Sets this string to the first `len` bytes of the little-endian `words` (ASCII that a
    /// decoder unpacked in registers), in place as [`Str::set_prefix`] does.
    #[inline(always)]
    pub(crate) fn set_ascii_words(&mut self, words: [u64; 4], len: usize) {
        if let Some(bytes) = self.inline_mut(len) {
            put_words(bytes, words);
        }
    }

    /// Makes this string inline (if it is not already: a decoder's placeholder is) with a length
    /// of `len` (at most [`Str::INLINE`]) and returns its bytes, for a decoder to write in
    /// place; always `Some`. The caller must leave the first `len` bytes UTF-8 (ASCII it
    /// wrote): were they not, `as_str` would read them as empty, never as invalid text.
    #[inline(always)]
    pub(crate) fn inline_mut(&mut self, len: usize) -> Option<&mut [u8; Str::INLINE]> {
        if !matches!(self.0, Repr::Inline { .. }) {
            *self = Str::EMPTY;
        }
        match &mut self.0 {
            Repr::Inline { len: at, bytes } => {
                *at = len.min(Str::INLINE) as u8;
                Some(bytes)
            }
            _ => None,
        }
    }

    /// The string.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            // Filled from a `&str` only, so this never falls back; the check is a few
            // nanoseconds for at most 30 bytes, and the workspace forbids `unsafe`.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(bytes.get(..usize::from(*len)).unwrap_or_default())
                    .unwrap_or_default()
            }
            Repr::Owned(s) => s,
        }
    }

    /// Converts into a `String` (allocating unless it is already an owned one).
    pub fn into_string(self) -> String {
        match self.0 {
            Repr::Owned(s) => s,
            _ => self.as_str().to_owned(),
        }
    }
}

/// Writes the little-endian `words` over `bytes` (their first 30 bytes: the last word's first six),
/// a few wide stores.
#[inline(always)]
pub(crate) fn put_words(bytes: &mut [u8; Str::INLINE], words: [u64; 4]) {
    let (head, tail) = bytes.split_at_mut(24);
    for (out, word) in head.chunks_exact_mut(8).zip(words) {
        out.copy_from_slice(&word.to_le_bytes());
    }
    tail.copy_from_slice(&words[3].to_le_bytes()[..Str::INLINE - 24]);
}

impl Default for Str {
    /// The empty string, held inline (so that a decoder writes over it in place).
    fn default() -> Str {
        Str::EMPTY
    }
}

impl Deref for Str {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Str {}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Str) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Str) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

macro_rules! eq_with {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for Str {
            fn eq(&self, other: &$t) -> bool {
                self.as_str() == AsRef::<str>::as_ref(other)
            }
        }
        impl PartialEq<Str> for $t {
            fn eq(&self, other: &Str) -> bool {
                AsRef::<str>::as_ref(self) == other.as_str()
            }
        }
    )*};
}

eq_with!(str, &str, String, &String);

impl From<String> for Str {
    /// Keeps the `String` (no copy), unless it is short enough to go inline.
    fn from(s: String) -> Str {
        if s.len() <= Str::INLINE {
            Str::copy_of(&s)
        } else {
            Str(Repr::Owned(s))
        }
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Str {
        Str::copy_of(s)
    }
}

impl From<&String> for Str {
    fn from(s: &String) -> Str {
        Str::copy_of(s)
    }
}

impl From<Cow<'_, str>> for Str {
    fn from(s: Cow<'_, str>) -> Str {
        match s {
            Cow::Borrowed(s) => Str::copy_of(s),
            Cow::Owned(s) => Str::from(s),
        }
    }
}

impl From<Str> for String {
    fn from(s: Str) -> String {
        s.into_string()
    }
}

impl serde::Serialize for Str {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Str {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Str, D::Error> {
        String::deserialize(d).map(Str::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_go_inline_and_every_form_compares_by_content() {
        let at_limit = "x".repeat(Str::INLINE);
        let over = "y".repeat(Str::INLINE + 1);
        for s in ["", "é", "15551234567:12@s.whatsapp.net", &at_limit, &over] {
            let copied = Str::from(s);
            let owned = Str::from(s.to_owned());
            assert_eq!(copied.as_str(), s);
            assert_eq!(owned.as_str(), s);
            assert_eq!(copied, owned);
            assert_eq!(copied.len(), s.len());
            assert_eq!(copied.clone().into_string(), s);
            assert_eq!(
                matches!(copied.0, Repr::Inline { .. }),
                s.len() <= Str::INLINE
            );
        }
        assert_eq!(Str::from_static("iq"), Str::from("iq"));
        // A window keeps its tail but reads and compares as its prefix only.
        let window = *b"15551234567@s.whatsapp.net\xff\xfeab";
        let prefix = Str::from_prefix(&window, 11);
        assert_eq!(prefix, "15551234567");
        assert_eq!(prefix.len(), 11);
        assert_eq!(prefix.clone().into_string(), "15551234567");
        assert_ne!(Str::from("iq"), Str::from("iq "));
        assert_eq!(std::mem::size_of::<Str>(), 32);
    }

    /// The in-place setters give the same string whatever the `Str` held before (the inline
    /// placeholder they write over field by field, a static or an owned one they replace).
    #[test]
    fn setters_write_over_every_form() {
        let long = "z".repeat(Str::INLINE + 5);
        let mut window = [b'#'; Str::INLINE];
        window[..5].copy_from_slice(b"12345");
        let mut words = [0u64; 4];
        for (i, word) in words.iter_mut().enumerate() {
            // "0123456789..." eight characters a word, then '#' padding past the length.
            let chars: [u8; 8] = std::array::from_fn(|j| b'0' + ((8 * i + j) % 10) as u8);
            *word = u64::from_le_bytes(chars);
        }
        for before in [
            Str::default(),
            Str::from_static("iq"),
            Str::from(long.clone()),
        ] {
            let mut s = before.clone();
            s.set_prefix(&window, 5);
            assert_eq!(s, "12345");
            let mut s = before.clone();
            s.set_ascii_words(words, 12);
            assert_eq!(s, "012345678901");
            let mut s = before.clone();
            s.set_ascii_words(words, Str::INLINE);
            assert_eq!(s, "012345678901234567890123456789");
            let mut s = before;
            s.set_static("type");
            assert_eq!(s, "type");
        }
        assert_eq!(Str::default(), "");
    }
}
