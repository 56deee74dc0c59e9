//! [`OwnedTree`]: a decoded tree that owns what it points into (the frame as [`Bytes`] and an
//! exact-size copy of the arena's records), so that it is `'static`, `Send` and `Sync` and can
//! be stored, queued or handed to another task like a [`Node`], at close to the speed of
//! [`Codec::decode_tree`](crate::Codec::decode_tree).
//!
//! Why it is fast: an owned [`Node`] makes a `Vec` per child list and per byte content and a
//! 150-byte `Node` per node, all written out and freed one by one. An `OwnedTree` is two
//! allocations whatever the frame holds (one for the node records, one for the attribute
//! records, copied from the per-thread arena at their exact sizes), plus the frame itself when
//! it is not already a [`Bytes`]: strings stay in the frame, unpacked only when asked for.

use bytes::Bytes;

use super::owned::{tree_to_node, with_thread_arena};
use super::{Tree, TreeArena, TreeNode, decode_positions};
use crate::decode::Decoder;
use crate::error::DecodeError;
use crate::node::Node;

/// A decoded node tree that owns its frame (a [`Bytes`], shared, not copied) and its node and
/// attribute records: what [`Codec::decode_owned_tree`](crate::Codec::decode_owned_tree)
/// returns. Read it through [`root`](OwnedTree::root) exactly as a [`Tree`]; convert with
/// [`to_node`](OwnedTree::to_node) when a mutable [`Node`] is wanted.
///
/// ```
/// use bytes::Bytes;
/// use wa_binary::{Codec, Node, OwnedTree};
/// let codec = Codec::multi_device();
/// let frame = codec.encode(&Node::new("receipt").attr("id", "3EB0").attr("t", "1712636456"))?;
/// let tree: OwnedTree = codec.decode_owned_tree(Bytes::from(frame))?;
/// // 'static and Send: it can outlive the buffer it came from and cross threads.
/// let handle = std::thread::spawn(move || tree.root().attr("t").map(|t| t.to_string()));
/// assert_eq!(handle.join().unwrap().as_deref(), Some("1712636456"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct OwnedTree {
    bytes: Bytes,
    arena: TreeArena,
}

impl OwnedTree {
    /// The tree, borrowing from `self`.
    #[inline]
    pub fn tree(&self) -> Tree<'_> {
        Tree {
            bytes: &self.bytes,
            // Empty: the arena's records are copied from an arena that keeps no text.
            text: "",
            arena: &self.arena,
        }
    }

    /// The root node.
    #[inline]
    pub fn root(&self) -> TreeNode<'_> {
        self.tree().root()
    }

    /// The encoded node the tree points into (the frame given to the decoder).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The whole tree as an owned [`Node`], equal to what
    /// [`Codec::decode`](crate::Codec::decode) returns for the same bytes; its byte contents
    /// share the tree's frame.
    pub fn to_node(&self) -> Node {
        tree_to_node(&self.tree(), Some(&self.bytes))
    }
}

/// Decodes `bytes` (one root node spanning all of them) into an [`OwnedTree`], with the checks
/// and errors of [`decode_tree`](super::decode_tree): the records are written into this thread's arena, then
/// copied out at their exact sizes (a copy of a few dozen bytes per node, cheaper than growing
/// a fresh arena by doubling, and it leaves no unused capacity in what is kept).
pub(crate) fn decode_shared(decoder: &Decoder, bytes: Bytes) -> Result<OwnedTree, DecodeError> {
    let arena = with_thread_arena(|arena| {
        // Raw strings left in the frame: the text buffer is not copied.
        decode_positions(decoder, &bytes, arena)?;
        Ok::<_, DecodeError>(TreeArena {
            // `Vec::clone` allocates exactly `len`.
            nodes: arena.nodes.clone(),
            attrs: arena.attrs.clone(),
            dict: arena.dict,
            tokens: arena.tokens,
            ..TreeArena::default()
        })
    })?;
    Ok(OwnedTree { bytes, arena })
}
