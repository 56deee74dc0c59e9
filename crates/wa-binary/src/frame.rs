//! Frames shared by the byte contents decoded from them, their references counted in batches.
//!
//! An owned decode hands each byte content longer than [`Blob::INLINE`](crate::Blob::INLINE)
//! out as a span of one shared frame (the caller's, or one copy of the input from the first
//! such content on), as the JavaScript peers' `Buffer`s are views into theirs. A `Bytes` slice
//! per content cost two atomic updates of the frame's count (one taken, one given back), each
//! waiting for the stores before it: more than copying a content of a few hundred bytes. Here
//! a decoder hands its references out uncounted and adds them to the count once, when it is
//! done ([`FrameWriter`]), and a dropped tree gives back the references of its contents in one
//! update per frame ([`ReleaseBatch`]); only a content cloned, or dropped alone, updates the
//! count on its own.
//!
//! This is the crate's only `unsafe` code: a reference count (`Arc`'s) that `std` counts one
//! at a time. Its tests, and those of the code that hands its references out and back, run
//! under Miri with `cargo xtask miri`.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

use bytes::Bytes;

/// A shared frame: its bytes and the count of the references to it.
struct Shared {
    refs: AtomicUsize,
    bytes: Frame,
}

/// The bytes of a shared frame.
enum Frame {
    /// A decoder's copy of a borrowed input (from its first long content on).
    Copy(Vec<u8>),
    /// The frame the caller handed over.
    Handed(Bytes),
}

impl Frame {
    #[inline(always)]
    fn as_slice(&self) -> &[u8] {
        match self {
            Frame::Copy(bytes) => bytes,
            Frame::Handed(bytes) => bytes,
        }
    }
}

/// The largest frame copy a thread keeps, once freed, for its next decode to copy into.
const SPARE_MAX: usize = 64 * 1024;

thread_local! {
    /// The last frame copy of at most [`SPARE_MAX`] bytes freed on this thread (none while a
    /// decode has taken it). A decoder copies into it instead of allocating: a message list
    /// decoded frame after frame then reuses one block, warm in the cache, where an allocation
    /// and a free of the copy were about a tenth of its time.
    static SPARE: Cell<Option<Box<Shared>>> = const { Cell::new(None) };
}

/// Keeps `shared` (freed: no reference left) as this thread's spare when it is a copy of at
/// most [`SPARE_MAX`] bytes; else frees it. A spare kept before is freed.
fn keep_spare(shared: Box<Shared>) {
    if matches!(&shared.bytes, Frame::Copy(bytes) if bytes.capacity() <= SPARE_MAX) {
        // Past the thread's end, `try_with` fails and `shared` is freed with the closure.
        let _ = SPARE.try_with(move |spare| spare.set(Some(shared)));
    }
}

/// What a [`FrameWriter`] adds to the count while it hands references out uncounted: none of
/// them can then bring it to zero, whatever is dropped meanwhile.
const WRITER_BIAS: usize = usize::MAX / 4;

/// A count past which a clone aborts, as `Arc`'s does: it cannot be reached but by leaking
/// references, and overflowing would free the frame while still referenced.
const MAX_REFS: usize = usize::MAX / 2;

/// One counted reference to a shared frame, or none (given up to a [`ReleaseBatch`]).
pub(crate) struct FrameRef(Option<NonNull<Shared>>);

// SAFETY: a `FrameRef` gives shared access to immutable bytes (`Bytes` is `Send + Sync`) and
// updates an atomic count, as `Arc<Bytes>` does.
unsafe impl Send for FrameRef {}
// SAFETY: as above.
unsafe impl Sync for FrameRef {}

impl FrameRef {
    /// The frame's bytes (none once given up).
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        match self.0 {
            // SAFETY: this reference is counted, so the frame is alive while it is borrowed.
            Some(shared) => unsafe { shared.as_ref().bytes.as_slice() },
            None => &[],
        }
    }

    /// The frame's `start..end` as a [`Bytes`] (a slice of the caller's frame, or a copy;
    /// empty when out of range).
    pub(crate) fn slice(&self, start: usize, end: usize) -> Bytes {
        let Some(shared) = self.0 else {
            return Bytes::new();
        };
        // SAFETY: as in `bytes`.
        match unsafe { &shared.as_ref().bytes } {
            Frame::Handed(bytes) if start <= end && end <= bytes.len() => bytes.slice(start..end),
            Frame::Copy(bytes) => Bytes::copy_from_slice(bytes.get(start..end).unwrap_or_default()),
            Frame::Handed(_) => Bytes::new(),
        }
    }

    /// Whether the reference was given up: dropping it does nothing.
    #[inline(always)]
    pub(crate) fn is_given_up(&self) -> bool {
        self.0.is_none()
    }

    /// How many references the frame has (`None` once given up), for tests.
    #[cfg(test)]
    pub(crate) fn count(&self) -> Option<usize> {
        // SAFETY: as in `bytes`.
        self.0
            .map(|shared| unsafe { shared.as_ref() }.refs.load(Ordering::Acquire))
    }
}

impl Clone for FrameRef {
    fn clone(&self) -> FrameRef {
        if let Some(shared) = self.0 {
            // SAFETY: as in `bytes`. Relaxed, as `Arc::clone`: the new reference is made from
            // one already held, so the count cannot reach zero meanwhile.
            let old = unsafe { shared.as_ref() }
                .refs
                .fetch_add(1, Ordering::Relaxed);
            if old > MAX_REFS {
                std::process::abort();
            }
        }
        FrameRef(self.0)
    }
}

impl Drop for FrameRef {
    #[inline]
    fn drop(&mut self) {
        if let Some(shared) = self.0 {
            // SAFETY: this reference is counted and given up here.
            unsafe { release(shared, 1) }
        }
    }
}

/// Gives up `n` references to `shared`, freeing it with the last, as `Arc`'s drop does.
///
/// # Safety
/// The caller holds `n` counted references to `shared` and uses none of them afterwards.
#[inline]
unsafe fn release(shared: NonNull<Shared>, n: usize) {
    // SAFETY: the caller's references keep the frame alive until this update.
    let refs = &unsafe { shared.as_ref() }.refs;
    // Release: this thread's reads of the frame happen before whichever update frees it.
    if refs.fetch_sub(n, Ordering::Release) == n {
        // Acquire: every other thread's reads happened before the free.
        fence(Ordering::Acquire);
        // SAFETY: made by `Box::leak` in `FrameWriter::start`; the count is zero, so no
        // reference is left to use it.
        keep_spare(unsafe { Box::from_raw(shared.as_ptr()) });
    }
}

/// A new shared frame, from which a decoder hands out references without counting each. The
/// count holds [`WRITER_BIAS`] until the writer is dropped, which trades it for the number of
/// references handed out: one update for the whole frame.
pub(crate) struct FrameWriter {
    shared: NonNull<Shared>,
    handed: usize,
}

impl FrameWriter {
    /// A shared frame of the bytes the caller handed over.
    pub(crate) fn handed(bytes: Bytes) -> FrameWriter {
        FrameWriter::start(Box::new(Shared {
            refs: AtomicUsize::new(WRITER_BIAS),
            bytes: Frame::Handed(bytes),
        }))
    }

    /// A shared frame of a copy of `input`: into this thread's spare when it holds them and
    /// is not more than twice their size (a small content kept would keep the whole block),
    /// else into a new block.
    pub(crate) fn copy_of(input: &[u8]) -> FrameWriter {
        let spare = SPARE.try_with(Cell::take).ok().flatten();
        let fits = |bytes: &Vec<u8>| {
            (input.len()..=input.len().saturating_mul(2)).contains(&bytes.capacity())
        };
        let shared = match spare {
            Some(mut shared) if matches!(&shared.bytes, Frame::Copy(b) if fits(b)) => {
                *shared.refs.get_mut() = WRITER_BIAS;
                if let Frame::Copy(bytes) = &mut shared.bytes {
                    bytes.clear();
                    bytes.extend_from_slice(input);
                }
                shared
            }
            _ => Box::new(Shared {
                refs: AtomicUsize::new(WRITER_BIAS),
                bytes: Frame::Copy(input.to_vec()),
            }),
        };
        FrameWriter::start(shared)
    }

    /// Hands `shared` (its count at the bias) over to the references the writer makes.
    fn start(shared: Box<Shared>) -> FrameWriter {
        FrameWriter {
            shared: NonNull::from(Box::leak(shared)),
            handed: 0,
        }
    }

    /// The frame's bytes, for tests.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the writer's bias keeps the frame alive.
        unsafe { self.shared.as_ref().bytes.as_slice() }
    }

    /// A reference to the frame, counted when the writer is dropped.
    #[inline(always)]
    pub(crate) fn reference(&mut self) -> FrameRef {
        self.handed += 1;
        FrameRef(Some(self.shared))
    }
}

impl Drop for FrameWriter {
    fn drop(&mut self) {
        // The references handed out stay counted; the rest of the bias is given up. The count
        // never reaches zero before this: at most `handed` references were dropped, each
        // taking one from the bias. (`handed` cannot come near the bias: each reference lies
        // in a decoded node, at least 40 bytes.)
        //
        // SAFETY: the writer holds `WRITER_BIAS - handed` of the count and uses the frame no
        // more.
        unsafe { release(self.shared, WRITER_BIAS - self.handed) }
    }
}

/// References given up together, one count update for each run of references to one frame.
/// Holds none between uses: [`ReleaseBatch::flush`] ends each.
#[derive(Default)]
pub(crate) struct ReleaseBatch {
    frame: Option<NonNull<Shared>>,
    count: usize,
}

impl ReleaseBatch {
    /// Takes over `frame`'s reference, leaving it given up.
    #[inline(always)]
    pub(crate) fn adopt(&mut self, frame: &mut FrameRef) {
        match frame.0.take() {
            Some(shared) if self.frame == Some(shared) => self.count += 1,
            Some(shared) => self.start(shared),
            None => {}
        }
    }

    /// Gives up the references held, then holds `shared`'s one.
    #[inline(never)]
    fn start(&mut self, shared: NonNull<Shared>) {
        self.flush();
        self.frame = Some(shared);
        self.count = 1;
    }

    /// Gives up the references held.
    #[inline]
    pub(crate) fn flush(&mut self) {
        if let Some(shared) = self.frame.take() {
            // SAFETY: the batch holds `count` references to `shared`, adopted from `FrameRef`s
            // left given up.
            unsafe { release(shared, std::mem::take(&mut self.count)) }
        }
    }
}

impl Drop for ReleaseBatch {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame whose bytes are `frame`'s, to tell when it is freed: `frame` is then unique.
    fn writer(frame: &Bytes) -> FrameWriter {
        FrameWriter::handed(frame.clone())
    }

    /// References handed out are counted once the writer is dropped, keep the frame alive
    /// as long as any of them is, on any thread, and free it with the last.
    #[test]
    fn references_handed_out_keep_the_frame_until_the_last_is_dropped() {
        let frame = Bytes::from(vec![7u8; 100]);
        let mut w = writer(&frame);
        let refs: Vec<FrameRef> = (0..5).map(|_| w.reference()).collect();
        assert_eq!(w.bytes(), &[7u8; 100][..]);
        drop(w);
        assert_eq!(refs[0].count(), Some(5));
        let clone = refs[3].clone();
        assert_eq!(clone.count(), Some(6));
        let moved: Vec<FrameRef> = refs.into_iter().skip(1).collect();
        assert!(!frame.is_unique());
        let thread = std::thread::spawn(move || {
            assert_eq!(moved[0].bytes().len(), 100);
            drop(moved);
        });
        thread.join().unwrap();
        assert_eq!(clone.count(), Some(1));
        assert_eq!(clone.slice(10, 20), Bytes::from(vec![7u8; 10]));
        assert!(clone.slice(20, 10).is_empty() && clone.slice(0, 101).is_empty());
        drop(clone);
        assert!(frame.is_unique());
    }

    /// References dropped while the writer still hands them out take nothing that frees the
    /// frame; a writer that handed none out frees it when dropped.
    #[test]
    fn references_dropped_before_the_writer_do_not_free_the_frame() {
        let frame = Bytes::from(b"abc".to_vec());
        let mut w = writer(&frame);
        drop(w.reference());
        drop(w.reference());
        let kept = w.reference();
        assert_eq!(w.bytes(), b"abc");
        drop(w);
        assert_eq!(kept.count(), Some(1));
        drop(kept);
        assert!(frame.is_unique());
        drop(writer(&frame));
        assert!(frame.is_unique());
    }

    /// A batch gives up each run of references to one frame in one update, and the rest when
    /// flushed or dropped; references it took over are given up (dropping them does nothing).
    #[test]
    fn a_batch_gives_up_what_it_adopted_frame_by_frame() {
        let [a, b] = [Bytes::from(vec![1u8; 40]), Bytes::from(vec![2u8; 40])];
        let (mut wa, mut wb) = (writer(&a), writer(&b));
        let mut refs = vec![
            wa.reference(),
            wb.reference(),
            wa.reference(),
            wa.reference(),
        ];
        drop((wa, wb));
        let kept = refs[0].clone();
        let mut batch = ReleaseBatch::default();
        for r in &mut refs {
            batch.adopt(r);
            assert!(r.is_given_up() && r.bytes().is_empty() && r.count().is_none());
        }
        // The run of `a` before `b` was given up when `b` came; `b`'s when `a` came again.
        assert_eq!(kept.count(), Some(3));
        assert!(b.is_unique());
        batch.flush();
        assert_eq!(kept.count(), Some(1));
        drop(refs);
        assert_eq!(kept.count(), Some(1));
        let mut last = kept.clone();
        batch.adopt(&mut last);
        drop(batch);
        assert_eq!(kept.count(), Some(1));
        drop(kept);
        assert!(a.is_unique());
    }

    /// Where this thread's spare frame's bytes lie, if it holds one.
    fn spare() -> Option<usize> {
        SPARE.with(|cell| {
            let spare = cell.take();
            let at = spare
                .as_ref()
                .map(|shared| shared.bytes.as_slice().as_ptr() as usize);
            cell.set(spare);
            at
        })
    }

    /// A copy freed becomes the thread's spare, and the next copy of about its size is made
    /// into it; a copy of less than half its size, or of more, gets a block of its own, as
    /// does one past the spare's limit (never kept), and a handed frame is never kept.
    #[test]
    fn a_freed_copy_is_reused_by_the_next_copy_of_its_size() {
        SPARE.with(|cell| cell.set(None));
        let mut w = FrameWriter::copy_of(&[1u8; 1000]);
        let first = w.bytes().as_ptr() as usize;
        drop((w.reference(), w));
        assert_eq!(spare(), Some(first));
        let mut w = FrameWriter::copy_of(&[2u8; 600]);
        assert_eq!(
            (w.bytes().as_ptr() as usize, w.bytes()),
            (first, &[2u8; 600][..])
        );
        assert_eq!(spare(), None);
        let kept = w.reference();
        drop(w);
        // Freed elsewhere, it becomes that thread's spare, not this one's.
        std::thread::spawn(move || {
            drop(kept);
            assert_eq!(spare(), Some(first));
        })
        .join()
        .unwrap();
        assert_eq!(spare(), None);
        for len in [100, 1000] {
            drop(FrameWriter::copy_of(&vec![3u8; len]));
            let at = spare();
            let w = FrameWriter::copy_of(&vec![3u8; 2 * len + 1]);
            assert_ne!(Some(w.bytes().as_ptr() as usize), at);
            assert_eq!(w.bytes(), vec![3u8; 2 * len + 1]);
        }
        // The spare now holds 2001 bytes: more than twice 900.
        let at = spare();
        assert!(at.is_some());
        assert_ne!(
            Some(FrameWriter::copy_of(&[6u8; 900]).bytes().as_ptr() as usize),
            at
        );
        drop(FrameWriter::copy_of(&vec![4u8; SPARE_MAX + 1]));
        assert_eq!(spare(), None);
        drop(writer(&Bytes::from(vec![5u8; 100])));
        assert_eq!(spare(), None);
    }
}
