//! `Blob`: the byte contents of an owned [`Node`](crate::Node), short ones held inline.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;

use crate::frame::{FrameRef, ReleaseBatch};

/// The bytes of a [`Content::Bytes`](crate::Content::Bytes): up to [`Blob::INLINE`] bytes (ids,
/// keys, hashes) held in the value itself; longer ones a span of a frame they were decoded from
/// (shared by the frame's other contents, which keeps its memory alive: [`Blob::to_vec`] makes a
/// copy of their own) or a [`Bytes`] (a `Vec<u8>` handed over, or any `Bytes`). A span's frame
/// is counted in batches, a frame at a time, where a `Bytes` slice per content cost two atomic
/// updates, each waiting for the stores before it (see `Codec::decode`).
/// Derefs to `[u8]`; compares by content, whatever the form.
#[derive(Clone)]
pub struct Blob(Repr);

/// How a [`Blob`] holds its bytes. Tagged by a first byte, the inline form's 0 (the empty
/// blob, a decoder's placeholder, is then zeros); the inline bytes are 8-aligned, where the
/// other forms' pointers lie, so that a blob is copied in whole words.
#[derive(Clone)]
#[repr(u8)]
enum Repr {
    /// `bytes.0[..len]`; the rest is never read.
    Inline {
        len: u8,
        bytes: Words,
    } = 0,
    /// `frame[start..start + len]`, of a frame decoded from. Once a dropped tree has given
    /// the reference back ([`Blob::give_back`]), nothing is left to free.
    Span {
        frame: FrameRef,
        start: usize,
        len: usize,
    },
    Shared(Bytes),
}

/// Inline bytes, aligned as a `u64`.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Words([u8; Blob::INLINE]);

impl Blob {
    /// The longest content held inline: 32 bytes (a key) keep a `Blob` at 40, the size of the
    /// `Content` that holds it.
    pub const INLINE: usize = 32;

    /// No bytes (nothing allocated).
    pub const fn new() -> Blob {
        Blob(Repr::Inline {
            len: 0,
            bytes: Words([0; Blob::INLINE]),
        })
    }

    /// A copy of `data`: inline when it fits, else in a new shared buffer.
    pub fn copy_from_slice(data: &[u8]) -> Blob {
        let mut bytes = [0u8; Blob::INLINE];
        match bytes.get_mut(..data.len()) {
            Some(prefix) => {
                prefix.copy_from_slice(data);
                Blob(Repr::Inline {
                    // At most INLINE (32), so it fits.
                    len: data.len() as u8,
                    bytes: Words(bytes),
                })
            }
            None => Blob(Repr::Shared(Bytes::copy_from_slice(data))),
        }
    }

    /// Sets this blob (an inline one: a decoder's placeholder, nothing to drop) to the first
    /// `len` bytes (at most [`Blob::INLINE`]) of `window`, written in place as
    /// [`Blob::from_window`] makes them.
    #[inline(always)]
    pub(crate) fn set_prefix(&mut self, window: &[u8; Blob::INLINE], len: usize) {
        match &mut self.0 {
            Repr::Inline { len: at, bytes } => {
                *at = len.min(Blob::INLINE) as u8;
                bytes.0 = *window;
            }
            Repr::Span { .. } | Repr::Shared(_) => *self = Blob::from_window(window, len),
        }
    }

    /// The first `len` bytes (at most [`Blob::INLINE`]) of `window`, which a decoder copies
    /// whole (a few wide moves, no variable-length copy); the rest of `window` is kept but
    /// never read.
    #[inline(always)]
    pub(crate) fn from_window(window: &[u8; Blob::INLINE], len: usize) -> Blob {
        Blob(Repr::Inline {
            len: len.min(Blob::INLINE) as u8,
            bytes: Words(*window),
        })
    }

    /// The span `start..start + len` of `frame` (a decoder's reference, in range: a span out
    /// of it reads as empty, never panics).
    #[inline(always)]
    pub(crate) fn span(frame: FrameRef, start: usize, len: usize) -> Blob {
        Blob(Repr::Span { frame, start, len })
    }

    /// Sets this blob (an inline one: a decoder's placeholder, nothing to drop) to a span of
    /// `frame`, as [`Blob::span`] makes it, written in place.
    #[inline(always)]
    pub(crate) fn set_span(&mut self, frame: FrameRef, start: usize, len: usize) {
        // Replaced without a drop call.
        std::mem::forget(std::mem::replace(self, Blob::span(frame, start, len)));
    }

    /// Gives a span's reference to `batch` (a dropped tree's, which gives its references back
    /// a frame at a time), leaving the span empty, and tells whether the blob now holds
    /// nothing to free ([`Blob::holds_no_heap`]).
    #[inline(always)]
    pub(crate) fn give_back(&mut self, batch: &mut ReleaseBatch) -> bool {
        match &mut self.0 {
            Repr::Inline { .. } => true,
            Repr::Span { frame, start, len } => {
                batch.adopt(frame);
                (*start, *len) = (0, 0);
                true
            }
            Repr::Shared(_) => false,
        }
    }

    /// Whether the bytes are a span of a decoded frame.
    #[cfg(test)]
    pub(crate) fn is_span(&self) -> bool {
        matches!(&self.0, Repr::Span { frame, .. } if !frame.is_given_up())
    }

    /// How many references the frame of a span has, for tests.
    #[cfg(test)]
    pub(crate) fn frame_count(&self) -> Option<usize> {
        match &self.0 {
            Repr::Span { frame, .. } => frame.count(),
            _ => None,
        }
    }

    /// Whether dropping the blob frees nothing and releases no reference: inline, or a span
    /// whose reference was given back ([`Blob::give_back`]).
    #[inline(always)]
    pub(crate) fn holds_no_heap(&self) -> bool {
        match &self.0 {
            Repr::Inline { .. } => true,
            Repr::Span { frame, .. } => frame.is_given_up(),
            Repr::Shared(_) => false,
        }
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => bytes.0.get(..usize::from(*len)).unwrap_or_default(),
            Repr::Span { frame, start, len } => frame
                .bytes()
                .get(*start..start.wrapping_add(*len))
                .unwrap_or_default(),
            Repr::Shared(bytes) => bytes,
        }
    }

    /// The bytes as a [`Bytes`]: the shared buffer itself, or a slice of the frame handed to
    /// [`Codec::decode_bytes`](crate::Codec::decode_bytes) (no copy); a copy of the others
    /// (inline bytes, a span of the copy [`Codec::decode`](crate::Codec::decode) made, which a
    /// `Bytes` cannot share).
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Shared(bytes) => bytes.clone(),
            Repr::Span { frame, start, len } => frame.slice(*start, start.wrapping_add(*len)),
            Repr::Inline { .. } => Bytes::copy_from_slice(self.as_slice()),
        }
    }

    /// Converts into a [`Bytes`] (no copy but of inline bytes).
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Shared(bytes) => bytes,
            Repr::Span { .. } | Repr::Inline { .. } => self.to_bytes(),
        }
    }

    /// A copy of the bytes in a `Vec<u8>` (of their own: a span's frame is not kept alive).
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_slice().to_vec()
    }

    /// Converts into a `Vec<u8>` (a copy).
    pub fn into_vec(self) -> Vec<u8> {
        self.to_vec()
    }
}

impl Default for Blob {
    /// No bytes, inline.
    fn default() -> Blob {
        Blob::new()
    }
}

impl Deref for Blob {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Blob {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for Blob {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for Blob {
    /// As [`Bytes`] prints: `b"..."`, escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"")?;
        for &b in self.as_slice() {
            match b {
                b'\n' => write!(f, "\\n")?,
                b'\r' => write!(f, "\\r")?,
                b'\t' => write!(f, "\\t")?,
                b'\\' | b'"' => write!(f, "\\{}", b as char)?,
                b'\0' => write!(f, "\\0")?,
                0x20..=0x7e => write!(f, "{}", b as char)?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        write!(f, "\"")
    }
}

impl PartialEq for Blob {
    fn eq(&self, other: &Blob) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Blob {}

impl PartialOrd for Blob {
    fn partial_cmp(&self, other: &Blob) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Blob {
    fn cmp(&self, other: &Blob) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl Hash for Blob {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl PartialEq<[u8]> for Blob {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<&[u8]> for Blob {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

impl PartialEq<Vec<u8>> for Blob {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Blob {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<Bytes> for Blob {
    fn eq(&self, other: &Bytes) -> bool {
        self.as_slice() == other.as_ref()
    }
}

impl PartialEq<Blob> for [u8] {
    fn eq(&self, other: &Blob) -> bool {
        self == other.as_slice()
    }
}

impl PartialEq<Blob> for &[u8] {
    fn eq(&self, other: &Blob) -> bool {
        *self == other.as_slice()
    }
}

impl PartialEq<Blob> for Vec<u8> {
    fn eq(&self, other: &Blob) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl PartialEq<Blob> for Bytes {
    fn eq(&self, other: &Blob) -> bool {
        self.as_ref() == other.as_slice()
    }
}

impl From<Vec<u8>> for Blob {
    /// Keeps the `Vec` (no copy), unless it is short enough to go inline.
    fn from(v: Vec<u8>) -> Blob {
        if v.len() <= Blob::INLINE {
            Blob::copy_from_slice(&v)
        } else {
            Blob(Repr::Shared(Bytes::from(v)))
        }
    }
}

impl From<Bytes> for Blob {
    /// Keeps the `Bytes` as it is (shared, no copy).
    fn from(bytes: Bytes) -> Blob {
        Blob(Repr::Shared(bytes))
    }
}

impl From<&[u8]> for Blob {
    fn from(data: &[u8]) -> Blob {
        Blob::copy_from_slice(data)
    }
}

impl<const N: usize> From<[u8; N]> for Blob {
    fn from(data: [u8; N]) -> Blob {
        Blob::copy_from_slice(&data)
    }
}

impl From<Blob> for Bytes {
    fn from(blob: Blob) -> Bytes {
        blob.into_bytes()
    }
}

impl From<Blob> for Vec<u8> {
    fn from(blob: Blob) -> Vec<u8> {
        blob.into_vec()
    }
}

impl FromIterator<u8> for Blob {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Blob {
        Blob::from(iter.into_iter().collect::<Vec<u8>>())
    }
}

impl<'a> IntoIterator for &'a Blob {
    type Item = &'a u8;
    type IntoIter = std::slice::Iter<'a, u8>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameWriter;

    /// Every form (inline at, below and above the limit, a span of a frame, shared from a
    /// `Vec` or a `Bytes`) reads back and compares by content, and converts back without loss.
    #[test]
    fn every_form_reads_and_compares_by_content() {
        for len in [0, 3, 32, Blob::INLINE, Blob::INLINE + 1, 200] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let copied = Blob::copy_from_slice(&data);
            let from_vec = Blob::from(data.clone());
            let shared = Blob::from(Bytes::from(data.clone()));
            // As a decoder makes it: a span of a larger frame.
            let mut frame = vec![0xee; 5];
            frame.extend_from_slice(&data);
            frame.push(0xee);
            let span = Blob::span(FrameWriter::copy_of(&frame).reference(), 5, len);
            assert!(span.is_span());
            for blob in [&copied, &from_vec, &shared, &span] {
                assert_eq!(blob.as_slice(), &data[..]);
                assert_eq!(blob.len(), len);
                assert_eq!(blob.to_bytes(), &data[..]);
                assert_eq!(blob.clone().into_bytes(), &data[..]);
                assert_eq!(blob.clone().into_vec(), data);
                assert_eq!(Vec::from(blob.clone()), data);
                assert_eq!(*blob, data);
                assert_eq!(blob, &shared);
                assert_eq!(
                    format!("{blob:?}"),
                    format!("{:?}", Bytes::from(data.clone()))
                );
            }
            // Giving a span's reference back leaves it empty, holding nothing; the other forms
            // keep their bytes.
            let mut batch = ReleaseBatch::default();
            let mut given = span.clone();
            assert!(given.give_back(&mut batch));
            assert!(given.is_empty() && given.holds_no_heap() && !given.is_span());
            for (mut other, free) in [
                (copied.clone(), len <= Blob::INLINE),
                (shared.clone(), false),
            ] {
                assert_eq!(other.give_back(&mut batch), free);
                assert_eq!(other, data);
            }
            batch.flush();
            assert_eq!(span.frame_count(), Some(1));
            assert_eq!(matches!(copied.0, Repr::Inline { .. }), len <= Blob::INLINE);
            assert_eq!(
                matches!(from_vec.0, Repr::Inline { .. }),
                len <= Blob::INLINE
            );
        }
        assert_ne!(Blob::from(vec![1, 2]), Blob::from(vec![1, 2, 0]));
        assert_eq!(std::mem::size_of::<Blob>(), 40);
    }

    /// A span out of its frame's range reads as empty, and converts to empty bytes.
    #[test]
    fn a_span_out_of_range_reads_as_empty() {
        let mut writer = FrameWriter::copy_of(&[1u8; 50]);
        for (start, len) in [(40, 20), (51, 0), (usize::MAX, 2), (3, usize::MAX)] {
            let blob = Blob::span(writer.reference(), start, len);
            assert!(blob.is_empty(), "{start} {len}");
            assert!(blob.to_bytes().is_empty() && blob.to_vec().is_empty());
        }
    }

    /// A window keeps its tail but reads, compares and hashes as its prefix only, over any
    /// form it replaces.
    #[test]
    fn a_window_reads_and_hashes_as_its_prefix_only() {
        let window: [u8; Blob::INLINE] = std::array::from_fn(|i| i as u8 + 1);
        let blob = Blob::from_window(&window, 3);
        assert_eq!(blob, [1u8, 2, 3]);
        assert_eq!(blob.len(), 3);
        assert_eq!(format!("{blob:?}"), r#"b"\x01\x02\x03""#);
        let [a, b] = [&blob, &Blob::from(vec![1, 2, 3])].map(|b| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            b.hash(&mut h);
            h.finish()
        });
        assert_eq!(a, b);
        let mut writer = FrameWriter::handed(Bytes::from(vec![6u8; 45]));
        // A span placed over an empty blob, and a window over each form.
        let mut span = Blob::new();
        span.set_span(writer.reference(), 0, 45);
        assert_eq!(span, [6u8; 45]);
        for mut blob in [Blob::new(), span, Blob::from(vec![5u8; 50])] {
            blob.set_prefix(&window, 2);
            assert_eq!(blob, [1u8, 2]);
        }
    }
}
