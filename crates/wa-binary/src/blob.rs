//! `Blob`: the byte contents of an owned [`Node`](crate::Node), short ones held inline.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;

/// The bytes of a [`Content::Bytes`](crate::Content::Bytes): up to [`Blob::INLINE`] bytes (ids,
/// keys, hashes) held in the value itself; longer ones a buffer of their own (the decoder's
/// copy of a content of up to [`Blob::OWNED_MAX`] bytes) or a shared [`Bytes`] (a slice of the
/// frame a longer content was decoded from, or a `Vec<u8>` handed over). Decoding a content of
/// up to a few KiB then costs no reference count: a frame of many contents (a prekey upload's
/// 3-byte ids and 32-byte keys, a message list's 150-byte messages) spent a fifth to a third of
/// its time on the shared count's atomic updates, each one waiting for the stores before it.
/// Derefs to `[u8]`; compares by content, whatever the form.
#[derive(Clone)]
pub struct Blob(Repr);

/// How a [`Blob`] holds its bytes. Tagged by a first byte, the inline form's 0 (the empty
/// blob, a decoder's placeholder, is then zeros); the inline bytes are 8-aligned, where the
/// shared form's pointers lie, so that a blob is copied in whole words.
#[derive(Clone)]
#[repr(u8)]
enum Repr {
    /// `bytes.0[..len]`; the rest is never read.
    Inline {
        len: u8,
        bytes: Words,
    } = 0,
    /// A buffer of its own; the decoder's are reused through the thread's cache
    /// (`crate::recycle`) when the node holding them is dropped.
    Owned(Vec<u8>),
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

    /// The longest content a decoder copies into a buffer of the blob's own (from buffers this
    /// thread reuses); longer ones share the frame. Copying a content of a few KiB costs less
    /// than the two atomic updates of a shared reference, and the copy of a frame it saves.
    pub const OWNED_MAX: usize = 4096;

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
            Repr::Owned(_) | Repr::Shared(_) => *self = Blob::from_window(window, len),
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

    /// Sets this blob (an inline one: a decoder's placeholder, nothing to drop) to `bytes`,
    /// kept shared. Moved into the blob's field in place: a whole shared blob built aside was
    /// copied in pieces cut by the inline form's fields, unaligned narrow loads over the wide
    /// stores that had just written it (a stall: a quarter of a legacy message list's samples
    /// of placing its contents).
    #[inline(always)]
    pub(crate) fn set_shared(&mut self, bytes: Bytes) {
        match &mut self.0 {
            Repr::Shared(slot) => *slot = bytes,
            Repr::Owned(_) => *self = Blob(Repr::Shared(bytes)),
            Repr::Inline { .. } => {
                // Replaced without a drop call, by a constant placeholder.
                std::mem::forget(std::mem::replace(self, Blob::EMPTY_SHARED));
                if let Repr::Shared(slot) = &mut self.0 {
                    std::mem::forget(std::mem::replace(slot, bytes));
                }
            }
        }
    }

    /// An empty shared blob (a static empty buffer): the placeholder [`Blob::set_shared`]
    /// moves a buffer into.
    const EMPTY_SHARED: Blob = Blob(Repr::Shared(Bytes::new()));

    /// Sets this blob (an inline one: a decoder's placeholder, nothing to drop) to `buffer`,
    /// kept as it is, in place as [`Blob::set_shared`] does.
    #[inline(always)]
    pub(crate) fn set_owned(&mut self, buffer: Vec<u8>) {
        match &mut self.0 {
            Repr::Owned(slot) => *slot = buffer,
            Repr::Shared(_) => *self = Blob(Repr::Owned(buffer)),
            Repr::Inline { .. } => {
                // Replaced without a drop call, by a constant placeholder.
                std::mem::forget(std::mem::replace(self, Blob::EMPTY_OWNED));
                if let Repr::Owned(slot) = &mut self.0 {
                    std::mem::forget(std::mem::replace(slot, buffer));
                }
            }
        }
    }

    /// A blob of `buffer`'s bytes, kept as it is (a decoder's, from the thread's cache).
    #[inline]
    pub(crate) fn from_buffer(buffer: Vec<u8>) -> Blob {
        Blob(Repr::Owned(buffer))
    }

    /// An empty blob of its own buffer (none allocated): the placeholder [`Blob::set_owned`]
    /// moves a buffer into.
    const EMPTY_OWNED: Blob = Blob(Repr::Owned(Vec::new()));

    /// Whether the bytes are in an allocated buffer of the blob's own (what
    /// [`Blob::take_buffer`] takes, leaving none).
    #[cfg(test)]
    pub(crate) fn owns_buffer(&self) -> bool {
        matches!(&self.0, Repr::Owned(buffer) if buffer.capacity() > 0)
    }

    /// Whether dropping the blob frees nothing and releases no reference: inline, or a buffer
    /// of its own already taken ([`Blob::take_buffer`]).
    #[inline(always)]
    pub(crate) fn holds_no_heap(&self) -> bool {
        match &self.0 {
            Repr::Inline { .. } => true,
            Repr::Owned(buffer) => buffer.capacity() == 0,
            Repr::Shared(_) => false,
        }
    }

    /// Whether the bytes are in a buffer of the blob's own (see [`Blob::take_buffer`]).
    #[inline(always)]
    pub(crate) fn is_owned(&self) -> bool {
        matches!(self.0, Repr::Owned(_))
    }

    /// Takes the buffer of the blob's own, leaving it empty (with no buffer, nothing to free);
    /// an empty one for the other forms, which keep their bytes.
    #[inline(always)]
    pub(crate) fn take_buffer(&mut self) -> Vec<u8> {
        match &mut self.0 {
            Repr::Owned(buffer) => std::mem::take(buffer),
            _ => Vec::new(),
        }
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => bytes.0.get(..usize::from(*len)).unwrap_or_default(),
            Repr::Owned(buffer) => buffer,
            Repr::Shared(bytes) => bytes,
        }
    }

    /// The bytes as a [`Bytes`]: the shared buffer itself (no copy) or a copy of the others.
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Shared(bytes) => bytes.clone(),
            Repr::Inline { .. } | Repr::Owned(_) => Bytes::copy_from_slice(self.as_slice()),
        }
    }

    /// Converts into a [`Bytes`] (no copy but of inline bytes).
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Shared(bytes) => bytes,
            Repr::Owned(buffer) => Bytes::from(buffer),
            Repr::Inline { .. } => Bytes::copy_from_slice(self.as_slice()),
        }
    }

    /// A copy of the bytes in a `Vec<u8>`.
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_slice().to_vec()
    }

    /// Converts into a `Vec<u8>` (no copy when the blob has a buffer of its own).
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Owned(buffer) => buffer,
            _ => self.to_vec(),
        }
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

    /// Every form (inline at, below and above the limit, a buffer of its own, shared from a
    /// `Vec` or a `Bytes`) reads back and compares by content, and converts back without loss.
    #[test]
    fn every_form_reads_and_compares_by_content() {
        for len in [0, 3, 32, Blob::INLINE, Blob::INLINE + 1, 200] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let copied = Blob::copy_from_slice(&data);
            let from_vec = Blob::from(data.clone());
            let shared = Blob::from(Bytes::from(data.clone()));
            // As a decoder makes it: a larger buffer, part filled.
            let mut buffer = Vec::with_capacity(len + 64);
            buffer.extend_from_slice(&data);
            let owned = Blob::from_buffer(buffer);
            assert!(owned.owns_buffer());
            for blob in [&copied, &from_vec, &shared, &owned] {
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
            // Taking the buffer leaves an empty blob holding none; the other forms keep theirs.
            let mut taken = owned.clone();
            assert_eq!(taken.take_buffer(), data);
            assert!(taken.is_empty() && !taken.owns_buffer());
            for mut other in [copied.clone(), shared.clone()] {
                assert!(!other.is_owned());
                assert_eq!(other.take_buffer().capacity(), 0);
                assert_eq!(other, data);
            }
            assert_eq!(matches!(copied.0, Repr::Inline { .. }), len <= Blob::INLINE);
            assert_eq!(
                matches!(from_vec.0, Repr::Inline { .. }),
                len <= Blob::INLINE
            );
        }
        assert_ne!(Blob::from(vec![1, 2]), Blob::from(vec![1, 2, 0]));
        assert_eq!(std::mem::size_of::<Blob>(), 40);
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
        let mut shared = Blob::new();
        shared.set_shared(Bytes::from_static(b"abc"));
        assert_eq!(shared, *b"abc");
        assert!(matches!(shared.0, Repr::Shared(_)));
        shared.set_shared(Bytes::from(vec![4u8; 40]));
        assert_eq!(shared, [4u8; 40]);
        // A buffer of its own placed over each form, and each form over it.
        for mut blob in [Blob::new(), shared.clone(), Blob::from_buffer(vec![5; 50])] {
            blob.set_owned(vec![6u8; 45]);
            assert_eq!(blob, [6u8; 45]);
            assert!(blob.owns_buffer());
        }
        let mut blob = Blob::from_buffer(vec![5; 50]);
        blob.set_shared(Bytes::from_static(b"xyz"));
        assert_eq!(blob, *b"xyz");
        blob = Blob::from_buffer(vec![5; 50]);
        blob.set_prefix(&window, 2);
        assert_eq!(blob, [1u8, 2]);
    }
}
