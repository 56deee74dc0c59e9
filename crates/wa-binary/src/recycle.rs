//! Reuse of the buffers of small child and attribute lists, per thread, and the return of a
//! dropped tree's frame references.
//!
//! A decoded frame is mostly small lists: a prekey upload holds 812 two-child `<key>` nodes, a
//! message fans out to devices of one child each, most stanzas carry two or three attributes.
//! Each list is one heap block; the decoder allocates them all and the caller frees them all,
//! in bulk, frame after frame. The system allocator's per-thread cache keeps only a few blocks
//! per size, so the rest of such a bulk went through its general bins (sorted, coalesced):
//! about a third of the time of decoding and dropping a prekey upload. Instead a dropped
//! [`Node`] hands its lists' buffers, and its descendants', to a cache of this thread kept by
//! capacity, and the decoder takes its lists from there: node lists emptied, attribute lists
//! still holding their old pairs when these are inline or static strings (nothing to free, and
//! a decoder writes over every slot, so it need not fill them with empty ones first). The
//! cache is bounded ([`MAX_BYTES`]); past the bound, and for lists longer than [`LARGEST`],
//! buffers go back to the allocator as before. Nothing is shared between threads: a node
//! dropped on another thread feeds that thread's cache. When a dropped tree's buffers were
//! refused for want of room, the cache then frees kept buffers of the classes that tree did
//! not want, fullest first, so that it follows the shape of the frames a thread decodes now
//! rather than keeping those it decoded first.
//!
//! The same walk gives back the frame references of the tree's byte contents (spans of the
//! frame they were decoded from, see `crate::frame`), one count update per frame where each
//! content's drop made one.

use std::cell::Cell;

use crate::frame::ReleaseBatch;
use crate::node::{Content, Node, pairs_hold_no_heap};
use crate::text::Str;

/// The largest capacity kept: lists of up to this many nodes or pairs (most lists).
pub(crate) const LARGEST: usize = 8;

/// The most bytes of buffers one thread's cache holds: a prekey upload's 812 key lists are
/// 234 KiB; the allocator keeps freed memory for reuse too, so this is what the cache keeps
/// from it, not memory a program without it would have returned.
pub(crate) const MAX_BYTES: usize = 512 * 1024;

/// Empty buffers of node and pair lists.
#[derive(Default)]
pub(crate) struct Cache {
    /// Lists of 1 to [`LARGEST`] nodes, by capacity (class `capacity - 1`).
    nodes: Shelf<Node, LARGEST>,
    /// Lists of pairs, as `nodes`.
    pairs: Shelf<(Str, Str), LARGEST>,
    /// The capacity in bytes of the buffers held, both kinds.
    bytes: usize,
    /// The bytes of the buffers refused since the last [`Cache::make_room`] for want of room.
    refused: usize,
    /// The frame references of the contents of the tree being reclaimed (none between
    /// reclaims).
    released: ReleaseBatch,
}

/// Empty buffers of one element type, `N` classes of capacity (which capacity a class holds
/// is the caller's: a list's count).
struct Shelf<T, const N: usize> {
    classes: [Vec<Vec<T>>; N],
    /// The classes (a bit each) a buffer was refused in since the last [`Cache::make_room`].
    refused: u32,
}

impl<T, const N: usize> Default for Shelf<T, N> {
    fn default() -> Shelf<T, N> {
        Shelf {
            classes: std::array::from_fn(|_| Vec::new()),
            refused: 0,
        }
    }
}

impl<T, const N: usize> Shelf<T, N> {
    /// An empty buffer of `class`: a kept one, its bytes taken off `held`, else a new one of
    /// `capacity` (the class's). Always inlined: a decoder takes one per list.
    #[inline(always)]
    fn take(&mut self, class: usize, capacity: usize, held: &mut usize) -> Vec<T> {
        match self.classes.get_mut(class).and_then(Vec::pop) {
            Some(list) => {
                *held -= list.capacity() * size_of::<T>();
                list
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// Keeps `list` (emptied by the caller, or holding nothing to free) in `class` when there
    /// is one and `held` stays within [`MAX_BYTES`]; else frees it, and when it was for want
    /// of room, marks its class and counts its bytes in `refused`.
    #[inline]
    fn keep(&mut self, list: Vec<T>, class: Option<usize>, held: &mut usize, refused: &mut usize) {
        let bytes = list.capacity() * size_of::<T>();
        if let Some((class, shelf)) = class.and_then(|c| Some((c, self.classes.get_mut(c)?))) {
            if *held + bytes <= MAX_BYTES {
                shelf.push(list);
                *held += bytes;
            } else {
                self.refused |= 1 << class;
                *refused += bytes;
            }
        }
    }

    /// The class, of those no buffer was refused in, that holds the most bytes, and how many,
    /// when each buffer of class `c` holds `unit(c)` bytes (the callers' rule for classes).
    fn fullest(&self, unit: impl Fn(usize) -> usize) -> (usize, usize) {
        (0..N)
            .filter(|&class| self.refused & (1 << class) == 0)
            .map(|class| (class, self.classes[class].len() * unit(class)))
            .max_by_key(|&(_, bytes)| bytes)
            .unwrap_or((0, 0))
    }

    /// Frees buffers of `class`, their bytes taken off `held`, until `held` leaves room for
    /// `wanted` bytes within [`MAX_BYTES`] or the class is empty.
    fn evict(&mut self, class: usize, held: &mut usize, wanted: usize) {
        let Some(shelf) = self.classes.get_mut(class) else {
            return;
        };
        while MAX_BYTES - *held < wanted {
            match shelf.pop() {
                Some(list) => *held -= list.capacity() * size_of::<T>(),
                None => break,
            }
        }
    }
}

thread_local! {
    /// This thread's cache, out of the cell while in use (boxed: taking it out and putting it
    /// back moves a pointer).
    static CACHE: Cell<Option<Box<Cache>>> = const { Cell::new(None) };
}

/// Runs `f` with this thread's cache, taken once for a whole frame or tree.
pub(crate) fn with_cache<R>(f: impl FnOnce(&mut Cache) -> R) -> R {
    match CACHE.try_with(Cell::take) {
        Ok(cache) => {
            let mut cache = cache.unwrap_or_default();
            let result = f(&mut cache);
            // A cache made meanwhile by a nested use (a partly built tree dropped while
            // decoding fails) is dropped here, its buffers freed.
            let _ = CACHE.try_with(|cell| cell.set(Some(cache)));
            result
        }
        // The thread is ending: lists are allocated and freed as without a cache.
        Err(_) => f(&mut Cache::default()),
    }
}

/// Whether dropping `node` would free a list buffer of its own (its descendants' lists and
/// frame references lie in its child list). A node's own frame reference does not count: a
/// leaf's is given back with its parent's list (dropped alone, a leaf gives it back itself),
/// which keeps this test, made on every node dropped, cheap.
#[inline]
pub(crate) fn holds_lists(node: &Node) -> bool {
    matches!(&node.content, Content::Nodes(list) if list.capacity() > 0) || node.attrs.spilled()
}

/// Whether dropping `node` would free nothing and release no reference: what is left of a
/// child once [`Cache::reclaim`] has taken its buffers, when its strings are inline or static
/// and its content is too (or a frame reference already given back). Every form is named, so
/// that a new one has to be placed here.
#[inline(always)]
fn holds_no_heap(node: &Node) -> bool {
    let content = match &node.content {
        Content::None => true,
        Content::Nodes(list) => list.capacity() == 0,
        Content::Bytes(blob) => blob.holds_no_heap(),
        Content::Text(text) => text.holds_no_heap(),
    };
    content && node.tag.holds_no_heap() && node.attrs.hold_no_heap()
}

/// Takes the list buffers of `node` and its descendants into this thread's cache, then makes
/// room for those it had to refuse ([`Cache::make_room`]).
#[inline(never)]
pub(crate) fn reclaim(node: &mut Node) {
    with_cache(|cache| {
        cache.reclaim(node);
        cache.released.flush();
        if cache.refused > 0 {
            cache.make_room();
        }
    });
}

/// The two kinds of buffers a [`Cache`] keeps, a [`Shelf`] each.
#[derive(Clone, Copy)]
enum Kind {
    Nodes,
    Pairs,
}

impl Cache {
    /// An empty list of capacity `count` (from the cache when it holds one).
    #[inline]
    pub(crate) fn nodes(&mut self, count: usize) -> Vec<Node> {
        self.nodes
            .take(count.wrapping_sub(1), count, &mut self.bytes)
    }

    /// A list of capacity `count` for attribute pairs, as [`Cache::nodes`], that may hold up
    /// to `count` old pairs of inline or static strings for the caller to write over.
    #[inline]
    pub(crate) fn pairs(&mut self, count: usize) -> Vec<(Str, Str)> {
        self.pairs
            .take(count.wrapping_sub(1), count, &mut self.bytes)
    }

    /// Keeps a node list (emptied) when it is short enough and within the bound.
    #[inline]
    fn keep_nodes(&mut self, mut list: Vec<Node>) {
        list.clear();
        let class = list.capacity().checked_sub(1);
        self.nodes
            .keep(list, class, &mut self.bytes, &mut self.refused);
    }

    /// Keeps a pair list, as [`Cache::keep_nodes`]: as it is when each of its strings is inline
    /// or static (the next decode writes over them instead of filling it with empty pairs),
    /// else emptied.
    #[inline]
    fn keep_pairs(&mut self, mut list: Vec<(Str, Str)>) {
        if !pairs_hold_no_heap(&list) {
            list.clear();
        }
        let class = list.capacity().checked_sub(1);
        self.pairs
            .keep(list, class, &mut self.bytes, &mut self.refused);
    }

    /// Frees kept buffers of classes none was refused in, the fullest class first, until the
    /// buffers refused since the last call would have fitted. A thread whose frames change
    /// shape (a prekey upload, then chats) then comes to keep the buffers its frames use now,
    /// from their second frame on: the bound once filled with buffers of the old shape kept
    /// the new ones out for good, and each of their frames went to the allocator (legacy chats
    /// decoded at 0.73x the speed after the other cases of the bench corpus than alone). Done
    /// once a tree is dropped, not as each buffer is refused: a call made there, with the
    /// buffer still held, sent it through the stack (a stall of a sixth of an MD message's
    /// time).
    #[cold]
    #[inline(never)]
    fn make_room(&mut self) {
        let wanted = std::mem::take(&mut self.refused).min(MAX_BYTES);
        while MAX_BYTES - self.bytes < wanted {
            let fullest = [
                (
                    Kind::Nodes,
                    self.nodes.fullest(|c| (c + 1) * size_of::<Node>()),
                ),
                (
                    Kind::Pairs,
                    self.pairs.fullest(|c| (c + 1) * size_of::<(Str, Str)>()),
                ),
            ]
            .into_iter()
            .max_by_key(|&(_, (_, held))| held);
            match fullest {
                Some((Kind::Nodes, (class, held))) if held > 0 => {
                    self.nodes.evict(class, &mut self.bytes, wanted);
                }
                Some((Kind::Pairs, (class, held))) if held > 0 => {
                    self.pairs.evict(class, &mut self.bytes, wanted);
                }
                _ => break,
            }
        }
        self.nodes.refused = 0;
        self.pairs.refused = 0;
    }

    /// Takes the list buffers of `node` and its descendants, and its descendants' frame
    /// references into [`Cache::released`]. The recursion goes as deep as the tree, as
    /// dropping it does.
    fn reclaim(&mut self, node: &mut Node) {
        if let Some(pairs) = node.attrs.take_spilled() {
            self.keep_pairs(pairs);
        }
        if let Content::Nodes(list) = &mut node.content {
            let mut list = std::mem::take(list);
            let mut plain = true;
            for child in &mut list {
                // A leaf of bytes (a message list's many): its frame reference given back
                // here, without a call, which tells whether its content holds anything else.
                if let Content::Bytes(blob) = &mut child.content {
                    let given = blob.give_back(&mut self.released);
                    if child.attrs.spilled() {
                        self.reclaim(child);
                    }
                    plain &= given && child.tag.holds_no_heap() && child.attrs.hold_no_heap();
                    continue;
                }
                if holds_lists(child) {
                    self.reclaim(child);
                }
                plain &= holds_no_heap(child);
            }
            // The children hold no buffers now. When nothing else is left in them either (most
            // frames: tokens, inline strings, contents copied), the list is emptied without a
            // drop call per child (a `Drain` forgotten leaves its list empty and the elements
            // unvisited, which frees nothing that was not already taken); else emptying it
            // frees the long strings and releases the shared contents.
            if plain {
                std::mem::forget(list.drain(..));
            }
            self.keep_nodes(list);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Blob, Codec};
    use bytes::Bytes;

    /// What this thread's cache holds: bytes, node lists and pair lists by capacity.
    fn held() -> (usize, Vec<usize>, Vec<usize>) {
        with_cache(|cache| {
            let nodes = cache.nodes.classes.iter().map(Vec::len).collect();
            let pairs = cache.pairs.classes.iter().map(Vec::len).collect();
            (cache.bytes, nodes, pairs)
        })
    }

    /// Empties this thread's cache.
    fn empty_cache() {
        with_cache(|cache| *cache = Cache::default());
    }

    /// A `<list>` of one `<item>` per length, each with that many bytes of content (byte `i`
    /// of the item at index `k` being `k + i`).
    fn items(lengths: &[usize]) -> Node {
        Node::new("list").children(lengths.iter().enumerate().map(|(k, &len)| {
            Node::new("item").bytes((0..len).map(|i| (k + i) as u8).collect::<Vec<u8>>())
        }))
    }

    /// Whether each child of `node` holds its content as a span of a frame.
    fn spans(node: &Node) -> Vec<bool> {
        node.child_nodes()
            .iter()
            .map(|child| matches!(&child.content, Content::Bytes(b) if b.is_span()))
            .collect()
    }

    /// `keys` `<key>` nodes of two children each under one `<list>`, every key with two
    /// attributes (a two-pair list on the heap) and a content longer than kept inline.
    fn keys(keys: usize) -> Node {
        Node::new("list").children((0..keys).map(|i| {
            Node::new("key")
                .attr("id", i)
                .attr("type", "one-time")
                .children([
                    Node::new("id").bytes(vec![i as u8; 3]),
                    Node::new("value").bytes(b"a content longer than thirty-two bytes".to_vec()),
                ])
        }))
    }

    #[test]
    fn a_dropped_tree_leaves_its_small_lists_and_a_decode_takes_them() {
        let codec = Codec::multi_device();
        let tree = keys(10);
        let frame = codec.encode(&tree).unwrap();
        assert_eq!(held().0, 0);
        drop(tree);
        // Ten two-child lists and ten two-pair lists; the ten-key list is longer than kept.
        let (bytes, nodes, pairs) = held();
        assert_eq!((nodes[1], pairs[1]), (10, 10));
        assert_eq!(
            nodes.iter().sum::<usize>() + pairs.iter().sum::<usize>(),
            20
        );
        assert_eq!(
            bytes,
            10 * 2 * size_of::<Node>() + 10 * 2 * size_of::<(Str, Str)>()
        );

        // A decode takes its lists from the cache, emptied: what it builds is the tree encoded.
        let decoded = codec.decode(&frame).unwrap();
        assert_eq!(held(), (0, vec![0; LARGEST], vec![0; LARGEST]));
        let tree = keys(10);
        assert!(decoded == tree);
        drop(decoded);
        assert_eq!(held().1[1], 10);
        drop(tree);
        assert_eq!(held().1[1], 20);
    }

    #[test]
    fn the_cache_holds_no_more_than_its_bound() {
        let many = MAX_BYTES / (2 * size_of::<Node>()) + 100;
        let tree = keys(many);
        let codec = Codec::multi_device();
        let frame = codec.encode(&tree).unwrap();
        drop(tree);
        let (bytes, _, _) = held();
        assert!(bytes <= MAX_BYTES, "{bytes}");
        assert!(bytes > MAX_BYTES - 2 * size_of::<Node>(), "{bytes}");
        // Decoding the same tree takes every kept list and allocates the rest.
        let decoded = codec.decode(&frame).unwrap();
        assert_eq!(held().0, 0);
        assert!(decoded == keys(many));
    }

    /// `count` `<chat>` nodes of three attributes each (a three-pair list) under one `<list>`.
    fn chats(count: usize) -> Node {
        Node::new("list").children((0..count).map(|i| {
            Node::new("chat")
                .attr("id", i)
                .attr("t", "1")
                .attr("c", "2")
        }))
    }

    #[test]
    fn a_cache_full_of_one_shape_makes_room_for_the_next_shape_it_is_handed() {
        let codec = Codec::multi_device();
        let many = MAX_BYTES / (2 * size_of::<Node>()) + 100;
        let keys_frame = codec.encode(&keys(many)).unwrap();
        let count = 100;
        let frame = codec.encode(&chats(count)).unwrap();
        let three_pairs = 3 * size_of::<(Str, Str)>();
        // Keys fill the bound with two-node lists and two-pair lists.
        empty_cache();
        drop(codec.decode(&keys_frame).unwrap());
        assert!(held().0 > MAX_BYTES - 2 * size_of::<Node>());

        // The first frame of chats finds the cache full: its three-pair lists are refused,
        // and room is made for them by freeing kept lists of the fullest class, the two-node
        // lists (a class no list was refused in).
        let two_node_lists = held().1[1];
        drop(codec.decode(&frame).unwrap());
        let (bytes, nodes, pairs) = held();
        assert_eq!(pairs[2], 0);
        assert!(MAX_BYTES - bytes >= count * three_pairs, "{bytes}");
        assert!(nodes[1] < two_node_lists);

        // The second frame's lists are kept, all of them, and the third frame takes them.
        drop(codec.decode(&frame).unwrap());
        let (bytes, _, pairs) = held();
        assert_eq!(pairs[2], count);
        assert!(bytes <= MAX_BYTES);
        let decoded = codec.decode(&frame).unwrap();
        assert_eq!(held().2[2], 0);
        assert!(decoded == chats(count));
    }

    #[test]
    fn a_class_refused_for_want_of_room_is_not_freed_to_make_it() {
        empty_cache();
        let codec = Codec::multi_device();
        // One frame past the bound alone: its classes are all refused in, so nothing kept is
        // freed for them, and what was kept first stays.
        let many = MAX_BYTES / (2 * size_of::<Node>()) + 100;
        let frame = codec.encode(&keys(many)).unwrap();
        drop(codec.decode(&frame).unwrap());
        let first = held();
        drop(codec.decode(&frame).unwrap());
        assert_eq!(held(), first);
        assert!(first.0 > MAX_BYTES - 2 * size_of::<Node>());
    }

    #[test]
    fn lists_longer_than_kept_and_empty_ones_are_not_kept() {
        let long = Node::new("a").children((0..LARGEST + 1).map(|_| Node::new("b")));
        let empty = Node::new("a").children(Vec::new());
        drop((long, empty));
        assert_eq!(held(), (0, vec![0; LARGEST], vec![0; LARGEST]));
    }

    #[test]
    fn a_tree_dropped_while_the_cache_is_in_use_leaves_the_cache_whole() {
        drop(keys(3));
        let before = held();
        let other = keys(5);
        // As when a decode that holds the cache fails and drops what it had built.
        with_cache(|cache| {
            drop(other);
            assert_eq!(cache.nodes.classes[1].len(), 3);
        });
        assert_eq!(held(), before);
    }

    #[test]
    fn a_frame_the_one_pass_decoder_declines_returns_its_lists_and_references() {
        let codec = Codec::multi_device();
        let tree = keys(3);
        let frame = Bytes::from(codec.encode(&tree).unwrap());
        drop(tree);
        let before = held();
        // Cut inside the last key's last content: the one-pass decoder has built the list,
        // three key lists and their attributes, and the first two keys' contents (spans of
        // the frame), when it gives up; the validating path then refuses the frame.
        let cut = frame.slice(..frame.len() - 1);
        assert!(codec.decode(&cut).is_err());
        assert_eq!(held(), before);
        assert!(codec.decode_bytes(cut).is_err());
        assert_eq!(held(), before);
        assert!(frame.is_unique());
    }

    #[test]
    fn long_contents_are_spans_given_back_a_frame_at_a_time() {
        let codec = Codec::multi_device();
        let lengths = [32, 33, 64, 200, 5000];
        let frame = Bytes::from(codec.encode(&items(&lengths)).unwrap());
        for handed in [false, true] {
            let decoded = match handed {
                false => codec.decode(&frame).unwrap(),
                true => codec.decode_bytes(frame.clone()).unwrap(),
            };
            assert!(decoded == items(&lengths));
            assert_eq!(spans(&decoded), [false, true, true, true, true]);
            let counts: Vec<_> = decoded
                .child_nodes()
                .iter()
                .map(|c| match &c.content {
                    Content::Bytes(b) => b.frame_count(),
                    _ => None,
                })
                .collect();
            assert_eq!(counts, [None, Some(4), Some(4), Some(4), Some(4)]);
            assert_eq!(frame.is_unique(), !handed);
            // A content taken out of the tree keeps its frame once the tree is dropped.
            let mut decoded = decoded;
            let taken = match &mut decoded.content {
                Content::Nodes(children) => std::mem::take(&mut children[3].content),
                _ => unreachable!(),
            };
            drop(decoded);
            let Content::Bytes(blob) = &taken else {
                unreachable!()
            };
            assert_eq!(blob.frame_count(), Some(1));
            assert_eq!(
                blob.as_slice(),
                &(0..200).map(|i| (3 + i) as u8).collect::<Vec<_>>()[..]
            );
            assert_eq!(frame.is_unique(), !handed);
            drop(taken);
            assert!(frame.is_unique());
        }
    }

    #[test]
    fn a_leaf_dropped_alone_and_one_in_a_tree_give_their_reference_back() {
        let codec = Codec::multi_device();
        let leaf = Node::new("enc").bytes(vec![9u8; 100]);
        let frame = Bytes::from(codec.encode(&leaf).unwrap());
        let decoded = codec.decode_bytes(frame.clone()).unwrap();
        assert!(matches!(&decoded.content, Content::Bytes(b) if b.is_span()));
        assert!(!frame.is_unique());
        drop(decoded);
        assert!(frame.is_unique());
        // Under a parent, and under a grandparent.
        let parent = Node::new("message").children([leaf.clone()]);
        let tree = Node::new("list").children([parent, leaf]);
        let frame = Bytes::from(codec.encode(&tree).unwrap());
        let decoded = codec.decode_bytes(frame.clone()).unwrap();
        assert!(decoded == tree);
        drop(decoded);
        assert!(frame.is_unique());
    }

    #[test]
    fn a_tree_of_contents_from_several_frames_gives_each_its_references_back() {
        let codec = Codec::multi_device();
        let [a, b] = [1u8, 2].map(|k| {
            Bytes::from(
                codec
                    .encode(&items(&[40 + usize::from(k), 50, 60]))
                    .unwrap(),
            )
        });
        let [mut from_a, mut from_b] =
            [&a, &b].map(|frame| codec.decode_bytes(frame.clone()).unwrap());
        let take = |node: &mut Node| match &mut node.content {
            Content::Nodes(children) => std::mem::take(children),
            _ => Vec::new(),
        };
        // Interleaved: a, b, a, b, a, b, under one list (the runs change frame at each child).
        let mixed: Vec<Node> = take(&mut from_a)
            .into_iter()
            .zip(take(&mut from_b))
            .flat_map(|(x, y)| [x, y])
            .collect();
        drop((from_a, from_b));
        let tree = Node::new("list").children([Node::new("group").children(mixed)]);
        assert!(!a.is_unique() && !b.is_unique());
        drop(tree);
        assert!(a.is_unique() && b.is_unique());
    }

    #[test]
    fn contents_of_reused_lists_are_those_of_the_new_frame() {
        let codec = Codec::multi_device();
        let first = Node::new("iq").children([
            Node::new("a")
                .attr("x", "1")
                .attr("y", "2")
                .bytes(b"first".to_vec()),
            Node::new("b").bytes(vec![1; 40]),
        ]);
        let second = Node::new("iq").children([
            Node::new("c").attr("z", "3").attr("w", "4"),
            Node::new("d").bytes(b"second".to_vec()),
        ]);
        let (first_frame, frame) = (
            codec.encode(&first).unwrap(),
            codec.encode(&second).unwrap(),
        );
        drop(first);
        let decoded = codec.decode(&first_frame).unwrap();
        drop(decoded);
        assert_eq!(codec.decode(&frame).unwrap(), second);
    }

    /// An `<item>` whose content is `bytes`, shared (`Node::bytes` takes a `Vec`).
    fn with_shared(bytes: Bytes) -> Node {
        let mut node = Node::new("item");
        node.content = Content::Bytes(Blob::from(bytes));
        node
    }

    /// An `<item>` whose content is a span of a frame, as a decoder makes it.
    fn with_span(len: usize) -> Node {
        let codec = Codec::multi_device();
        let frame = codec
            .encode(&Node::new("item").bytes(vec![1; len]))
            .unwrap();
        codec.decode(&frame).unwrap()
    }

    #[test]
    fn only_children_left_with_nothing_to_free_skip_their_drop() {
        let long = "a string longer than thirty bytes, on the heap";
        let leaf = |node: Node| holds_no_heap(&node);
        // Tokens, inline strings, no content, an empty list, inline bytes: nothing to free.
        assert!(leaf(Node::new("item")));
        assert!(leaf(Node::new("item").attr("id", "1").bytes(vec![1; 32])));
        assert!(leaf(Node::new("item").text("short")));
        assert!(leaf(Node::new("item").children(Vec::new())));
        // A long tag, key, value or text, two pairs, a child list, bytes in a span or shared.
        assert!(!leaf(Node::new(long)));
        assert!(!leaf(Node::new("item").attr(long, "1")));
        assert!(!leaf(Node::new("item").attr("id", long)));
        assert!(!leaf(Node::new("item").attr("a", "1").attr("b", "2")));
        assert!(!leaf(Node::new("item").text(long)));
        assert!(!leaf(Node::new("item").children([Node::new("x")])));
        assert!(!leaf(with_span(33)));
        assert!(!leaf(with_shared(Bytes::from(vec![1; 33]))));
        assert!(!leaf(with_shared(Bytes::from_static(&[1; 64]))));
        // A reference given back leaves nothing.
        let mut given = with_span(33);
        let mut batch = ReleaseBatch::default();
        if let Content::Bytes(blob) = &mut given.content {
            assert!(blob.give_back(&mut batch));
        }
        assert!(leaf(given));
    }

    #[test]
    fn a_list_with_one_child_that_holds_a_reference_drops_every_child() {
        // A shared content among plain children: the list is emptied by dropping them all, so
        // the reference is released; alone among plain ones, and alone in its list.
        let shared = Bytes::from(vec![7u8; 100]);
        for position in [0, 2] {
            let mut children: Vec<Node> = (0..3).map(|i| Node::new("item").attr("id", i)).collect();
            children[position] = with_shared(shared.clone());
            let tree = Node::new("list").children([Node::new("group").children(children)]);
            assert!(!shared.is_unique());
            drop(tree);
            assert!(shared.is_unique(), "child {position} was not dropped");
        }
        let tree = Node::new("list").children([with_shared(shared.clone())]);
        drop(tree);
        assert!(shared.is_unique());
    }

    /// How many pairs each kept two-pair list still holds, last kept first.
    fn kept_two_pair_lists() -> Vec<usize> {
        with_cache(|cache| cache.pairs.classes[1].iter().rev().map(Vec::len).collect())
    }

    #[test]
    fn attribute_lists_keep_short_pairs_for_the_next_decode_to_write_over() {
        empty_cache();
        let codec = Codec::multi_device();
        let long = "a value longer than thirty bytes, on the heap";
        let tree = Node::new("iq").children([
            Node::new("a").attr("id", "1234567890").attr("type", "get"),
            Node::new("b").attr("id", "7").attr("note", long),
        ]);
        let decoded = codec.decode(&codec.encode(&tree).unwrap()).unwrap();
        drop(decoded);
        // The first list keeps its two short pairs; the one with a heap string is emptied.
        assert_eq!(kept_two_pair_lists(), [0, 2]);
        // The next decode takes the filled list first and writes every slot over: shorter and
        // longer strings than the old ones, a token, a heap string.
        let next = Node::new("iq").children([
            Node::new("c").attr("to", "s.whatsapp.net").attr("id", long),
            Node::new("d")
                .attr("x", "12345678901234567890")
                .attr("y", ""),
        ]);
        let decoded = codec.decode(&codec.encode(&next).unwrap()).unwrap();
        assert_eq!(kept_two_pair_lists(), Vec::<usize>::new());
        assert_eq!(decoded, next);
    }
}
