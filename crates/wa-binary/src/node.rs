//! The node tree: `Node` (owned, for storage and construction) and `NodeRef` (borrowed from the
//! decoded bytes).

use std::borrow::Cow;

use smallvec::SmallVec;

use crate::blob::Blob;
use crate::jid::{Jid, JidError};
use crate::text::Str;

/// What a node holds after its attributes.
///
/// On decode, content written with a BINARY_8/20/32 length is [`Content::Bytes`]; content written
/// as any other string form (a token, packed nibbles or hex, a JID) is [`Content::Text`]. Encoding
/// `Text` picks the shortest form WhatsApp would pick, which for free text is a BINARY length too:
/// so `Text("hello")` reads back as `Bytes(b"hello")`, while `Text("123")` reads back as text.
/// Re-encoding what was decoded gives the same bytes either way.
///
/// Decoded bytes of up to [`Blob::INLINE`] (ids, keys) are held in the [`Blob`] itself; longer
/// ones are spans of the frame they came from (one copy of it made by
/// [`Codec::decode`](crate::Codec::decode), the caller's own with
/// [`Codec::decode_bytes`](crate::Codec::decode_bytes)), as the JavaScript peers' decoded
/// `Buffer`s are views into theirs: holding one keeps that frame's memory alive, and
/// `Blob::copy_from_slice` detaches a long-lived one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Content {
    /// No content.
    #[default]
    None,
    /// Child nodes (possibly an empty list, which differs from `None` on the wire).
    Nodes(Vec<Node>),
    /// Raw bytes (a `Vec<u8>` converts with `.into()` without a copy unless short enough to
    /// go inline; a `Bytes` is kept as it is).
    Bytes(Blob),
    /// A string.
    Text(Str),
}

/// An ordered list of attributes. Order is kept because it decides the encoded bytes; duplicate
/// keys are kept as they came (lookups return the first).
///
/// One attribute is held in the value itself (most nodes have none or one: a `jid`, an `id`),
/// so that decoding such a node allocates nothing for it. (Two would cover a few more nodes,
/// but make every `Node` 64 bytes larger: 208 instead of 144, heavy for the enums that carry
/// one by value. A plain `Vec`, 96 bytes, costs an allocation per node with one attribute:
/// slower on frames of many such nodes, a usync result.) The `SmallVec` is built with its
/// `union` layout, 8 bytes smaller: a decode writes a `Node` for every node of a frame, several
/// times the frame's size in all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attrs(AttrList);

/// The storage of [`Attrs`].
type AttrList = SmallVec<[(Str, Str); 1]>;

impl Attrs {
    /// No attributes.
    pub fn new() -> Attrs {
        Attrs(SmallVec::new())
    }

    /// Sets `count` pairs of inline or static strings (a kept list's old ones, else empty ones:
    /// nothing to drop when overwritten) in place of none, allocating once for all of them: a
    /// decoder then writes each string in its slot ([`Attrs::slots_mut`]) instead of building a
    /// pair and moving it in. Every slot must be written.
    #[inline]
    pub(crate) fn fill_empty(&mut self, count: usize, lists: &mut crate::recycle::Cache) {
        if count == 1 {
            self.0.push(Default::default());
        } else {
            let mut pairs = lists.pairs(count);
            pairs.resize_with(count, Default::default);
            // The empty list replaced without a drop call; assigned with one, the compiler
            // also copied the new list through the stack with wide loads over the narrow
            // stores that had just written it (a stall: half of this function's samples).
            std::mem::forget(std::mem::replace(&mut self.0, SmallVec::from_vec(pairs)));
        }
    }

    /// Whether dropping the attributes frees nothing: the pairs inline, each string inline or
    /// static.
    #[inline(always)]
    pub(crate) fn hold_no_heap(&self) -> bool {
        !self.0.spilled() && pairs_hold_no_heap(&self.0)
    }

    /// Whether the pairs lie in a heap buffer of their own.
    #[inline]
    pub(crate) fn spilled(&self) -> bool {
        self.0.spilled()
    }

    /// The heap buffer of the pairs, when they lie in one, leaving none.
    #[inline]
    pub(crate) fn take_spilled(&mut self) -> Option<Vec<(Str, Str)>> {
        self.0
            .spilled()
            .then(|| std::mem::take(&mut self.0).into_vec())
    }

    /// The pairs, to be written in place.
    #[inline]
    pub(crate) fn slots_mut(&mut self) -> &mut [(Str, Str)] {
        &mut self.0
    }

    /// The attributes as key-value pairs, in order.
    pub fn as_slice(&self) -> &[(Str, Str)] {
        &self.0
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Appends `key = value`.
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0
            .push((Str::from(key.into()), Str::from(value.into())));
    }

    /// Sets `key` (replacing the first existing value, else appending).
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = Str::from(key.into());
        let value = Str::from(value.into());
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Removes every `key`, returning the first value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let pos = self.0.iter().position(|(k, _)| k == key)?;
        let (_, value) = self.0.remove(pos);
        self.0.retain(|(k, _)| k != key);
        Some(value.into_string())
    }

    /// The attributes in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many attributes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether every string of `pairs` is inline or static (dropping them frees nothing).
#[inline(always)]
pub(crate) fn pairs_hold_no_heap(pairs: &[(Str, Str)]) -> bool {
    pairs
        .iter()
        .all(|(key, value)| key.holds_no_heap() && value.holds_no_heap())
}

impl From<Vec<(Str, Str)>> for Attrs {
    fn from(pairs: Vec<(Str, Str)>) -> Attrs {
        Attrs(SmallVec::from_vec(pairs))
    }
}

impl FromIterator<(Str, Str)> for Attrs {
    fn from_iter<I: IntoIterator<Item = (Str, Str)>>(pairs: I) -> Attrs {
        Attrs(pairs.into_iter().collect())
    }
}

/// What is wrong with an attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttrProblem {
    /// It is absent.
    #[error("is missing")]
    Missing,
    /// It is not a JID.
    #[error("is not a JID: {0}")]
    NotJid(#[from] JidError),
    /// It is not an unsigned decimal integer that fits.
    #[error("is not an unsigned integer in range")]
    NotUnsigned,
    /// It is not a signed decimal integer that fits.
    #[error("is not an integer in range")]
    NotInteger,
    /// It is not `true` or `false`.
    #[error("is not `true` or `false`")]
    NotBool,
}

/// A typed attribute lookup failed; names the node and the attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("<{node}> attribute `{attr}` {problem}")]
pub struct AttrError {
    /// The node's tag.
    pub node: String,
    /// The attribute's key.
    pub attr: String,
    /// What is wrong.
    pub problem: AttrProblem,
}

/// A node: `<tag attrs...>content</tag>`.
///
/// Dropping a node hands the buffers of its short child and attribute lists, and its
/// descendants' with the byte contents a decoder copied into them, to a cache of the thread
/// that the decoder takes its next ones from (bounded; see the crate's README). So `Node`
/// implements `Drop`, and its fields are taken out with [`std::mem::take`] rather than by
/// destructuring.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The tag (description).
    pub tag: Str,
    /// The attributes, in wire order.
    pub attrs: Attrs,
    /// The content.
    pub content: Content,
}

/// Hands the buffers of the node's child and attribute lists, and its descendants' lists and
/// decoded contents, to this thread's cache, where the decoder takes its next ones from; what
/// the lists held is dropped as usual.
impl Drop for Node {
    #[inline]
    fn drop(&mut self) {
        if crate::recycle::holds_lists(self) {
            crate::recycle::reclaim(self);
        }
    }
}

/// Builds a [`Node`]: `node!("iq", { "id" => id, "type" => "get" }, [child1, child2])`. The
/// attribute block and the content are optional; content may be `[nodes...]`, `bytes: expr` or
/// `text: expr`.
#[macro_export]
macro_rules! node {
    ($tag:expr) => { $crate::Node::new($tag) };
    ($tag:expr, { $($k:expr => $v:expr),* $(,)? }) => {
        $crate::Node::new($tag)$(.attr($k, $v))*
    };
    ($tag:expr, { $($k:expr => $v:expr),* $(,)? }, [ $($child:expr),* $(,)? ]) => {
        $crate::Node::new($tag)$(.attr($k, $v))*.children(vec![$($child),*])
    };
    ($tag:expr, { $($k:expr => $v:expr),* $(,)? }, bytes: $b:expr) => {
        $crate::Node::new($tag)$(.attr($k, $v))*.bytes($b)
    };
    ($tag:expr, { $($k:expr => $v:expr),* $(,)? }, text: $t:expr) => {
        $crate::Node::new($tag)$(.attr($k, $v))*.text($t)
    };
    ($tag:expr, [ $($child:expr),* $(,)? ]) => {
        $crate::Node::new($tag).children(vec![$($child),*])
    };
}

impl Node {
    /// A node with no attributes and no content.
    pub fn new(tag: impl Into<String>) -> Node {
        Node {
            tag: Str::from(tag.into()),
            attrs: Attrs::new(),
            content: Content::None,
        }
    }

    /// Builder: appends an attribute (anything printable: strings, numbers, [`Jid`]s).
    pub fn attr(mut self, key: impl Into<String>, value: impl ToString) -> Node {
        self.attrs.push(key, value.to_string());
        self
    }

    /// Builder: appends an attribute when `value` is `Some`.
    pub fn attr_opt(self, key: impl Into<String>, value: Option<impl ToString>) -> Node {
        match value {
            Some(v) => self.attr(key, v),
            None => self,
        }
    }

    /// Builder: sets child nodes as the content.
    pub fn children(mut self, children: impl IntoIterator<Item = Node>) -> Node {
        self.content = Content::Nodes(children.into_iter().collect());
        self
    }

    /// Builder: sets bytes as the content (a `Vec<u8>` is kept, not copied, unless short enough
    /// to go inline in its [`Blob`]).
    pub fn bytes(mut self, bytes: impl Into<Vec<u8>>) -> Node {
        self.content = Content::Bytes(Blob::from(bytes.into()));
        self
    }

    /// Builder: sets a string as the content.
    pub fn text(mut self, text: impl Into<String>) -> Node {
        self.content = Content::Text(Str::from(text.into()));
        self
    }

    /// The child nodes (empty when the content is not a list).
    pub fn child_nodes(&self) -> &[Node] {
        match &self.content {
            Content::Nodes(nodes) => nodes,
            _ => &[],
        }
    }

    /// The first child with `tag`.
    pub fn child(&self, tag: &str) -> Option<&Node> {
        self.child_nodes().iter().find(|n| n.tag == tag)
    }

    /// Every child with `tag`.
    pub fn children_named<'s>(&'s self, tag: &'s str) -> impl Iterator<Item = &'s Node> + 's {
        self.child_nodes().iter().filter(move |n| n.tag == tag)
    }

    /// The content as bytes: `Bytes` as is, `Text` as its UTF-8.
    pub fn content_bytes(&self) -> Option<&[u8]> {
        match &self.content {
            Content::Bytes(b) => Some(b.as_slice()),
            Content::Text(t) => Some(t.as_bytes()),
            _ => None,
        }
    }

    /// The content as a string: `Text`, or `Bytes` that are valid UTF-8.
    pub fn content_str(&self) -> Option<&str> {
        match &self.content {
            Content::Text(t) => Some(t),
            Content::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    fn attr_error(&self, attr: &str, problem: AttrProblem) -> AttrError {
        AttrError {
            node: self.tag.to_string(),
            attr: attr.to_owned(),
            problem,
        }
    }

    /// The attribute `key` as a string, if present.
    pub fn optional_str(&self, key: &str) -> Option<&str> {
        self.attrs.get(key)
    }

    /// The attribute `key` as a string; an error names the node and the attribute when absent.
    pub fn get_str(&self, key: &str) -> Result<&str, AttrError> {
        self.attrs
            .get(key)
            .ok_or_else(|| self.attr_error(key, AttrProblem::Missing))
    }

    /// The attribute `key` as a JID, if present.
    pub fn optional_jid(&self, key: &str) -> Result<Option<Jid>, AttrError> {
        self.attrs
            .get(key)
            .map(|v| {
                v.parse()
                    .map_err(|e| self.attr_error(key, AttrProblem::NotJid(e)))
            })
            .transpose()
    }

    /// The attribute `key` as a JID.
    pub fn get_jid(&self, key: &str) -> Result<Jid, AttrError> {
        self.optional_jid(key)?
            .ok_or_else(|| self.attr_error(key, AttrProblem::Missing))
    }

    /// The attribute `key` as an unsigned integer, if present.
    pub fn optional_u64(&self, key: &str) -> Result<Option<u64>, AttrError> {
        self.attrs
            .get(key)
            .map(|v| {
                if v.bytes().all(|b| b.is_ascii_digit()) {
                    v.parse().ok()
                } else {
                    None
                }
                .ok_or_else(|| self.attr_error(key, AttrProblem::NotUnsigned))
            })
            .transpose()
    }

    /// The attribute `key` as an unsigned integer.
    pub fn get_u64(&self, key: &str) -> Result<u64, AttrError> {
        self.optional_u64(key)?
            .ok_or_else(|| self.attr_error(key, AttrProblem::Missing))
    }

    /// The attribute `key` as a signed integer, if present.
    pub fn optional_i64(&self, key: &str) -> Result<Option<i64>, AttrError> {
        self.attrs
            .get(key)
            .map(|v| {
                v.parse()
                    .map_err(|_| self.attr_error(key, AttrProblem::NotInteger))
            })
            .transpose()
    }

    /// The attribute `key` as a signed integer.
    pub fn get_i64(&self, key: &str) -> Result<i64, AttrError> {
        self.optional_i64(key)?
            .ok_or_else(|| self.attr_error(key, AttrProblem::Missing))
    }

    /// The attribute `key` as `true`/`false`, if present.
    pub fn optional_bool(&self, key: &str) -> Result<Option<bool>, AttrError> {
        self.attrs
            .get(key)
            .map(|v| match v {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(self.attr_error(key, AttrProblem::NotBool)),
            })
            .transpose()
    }

    /// The attribute `key` as `true`/`false`.
    pub fn get_bool(&self, key: &str) -> Result<bool, AttrError> {
        self.optional_bool(key)?
            .ok_or_else(|| self.attr_error(key, AttrProblem::Missing))
    }
}

/// Content borrowed from the decoded bytes (see [`Content`] for how text and bytes differ).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ContentRef<'a> {
    /// No content.
    #[default]
    None,
    /// Child nodes.
    Nodes(Vec<NodeRef<'a>>),
    /// Raw bytes, borrowed.
    Bytes(&'a [u8]),
    /// A string: borrowed for tokens and raw UTF-8, owned for packed strings and JIDs.
    Text(Cow<'a, str>),
}

/// A node borrowed from the decoded bytes: tokens and raw strings point into the input (or the
/// static dictionaries); only packed strings and JIDs allocate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeRef<'a> {
    /// The tag.
    pub tag: Cow<'a, str>,
    /// The attributes, in wire order.
    pub attrs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// The content.
    pub content: ContentRef<'a>,
}

impl<'a> NodeRef<'a> {
    /// The value of attribute `key`, if present.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// The child nodes (empty when the content is not a list).
    pub fn child_nodes(&self) -> &[NodeRef<'a>] {
        match &self.content {
            ContentRef::Nodes(nodes) => nodes,
            _ => &[],
        }
    }

    /// Copies into an owned [`Node`].
    pub fn to_owned_node(&self) -> Node {
        self.clone().into_owned()
    }

    /// Converts into an owned [`Node`], moving strings that are already owned.
    pub fn into_owned(self) -> Node {
        Node {
            tag: Str::from(self.tag.into_owned()),
            attrs: self
                .attrs
                .into_iter()
                .map(|(k, v)| (Str::from(k), Str::from(v)))
                .collect(),
            content: match self.content {
                ContentRef::None => Content::None,
                ContentRef::Nodes(nodes) => {
                    Content::Nodes(nodes.into_iter().map(NodeRef::into_owned).collect())
                }
                ContentRef::Bytes(b) => Content::Bytes(Blob::copy_from_slice(b)),
                ContentRef::Text(t) => Content::Text(Str::from(t.into_owned())),
            },
        }
    }
}

impl Node {
    /// Borrows this node as a [`NodeRef`] (no string is copied).
    pub fn as_ref(&self) -> NodeRef<'_> {
        NodeRef {
            tag: Cow::Borrowed(self.tag.as_str()),
            attrs: self
                .attrs
                .0
                .iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
                .collect(),
            content: match &self.content {
                Content::None => ContentRef::None,
                Content::Nodes(n) => ContentRef::Nodes(n.iter().map(Node::as_ref).collect()),
                Content::Bytes(b) => ContentRef::Bytes(b.as_slice()),
                Content::Text(t) => ContentRef::Text(Cow::Borrowed(t.as_str())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getters_name_node_and_attribute() {
        let n = crate::node!("message", { "from" => "1555@s.whatsapp.net", "t" => 17, "x" => "y" });
        assert_eq!(n.get_jid("from").unwrap().user, "1555");
        assert_eq!(n.get_u64("t").unwrap(), 17);
        let err = n.get_str("id").unwrap_err();
        assert_eq!(err.to_string(), "<message> attribute `id` is missing");
        let err = n.get_u64("x").unwrap_err();
        assert_eq!(err.problem, AttrProblem::NotUnsigned);
        assert_eq!(err.attr, "x");
        assert_eq!(n.optional_u64("nope").unwrap(), None);
        assert!(n.get_bool("x").is_err());
    }

    #[test]
    fn builder_and_macro_agree() {
        let a = Node::new("iq")
            .attr("id", "1")
            .children([Node::new("ping")]);
        let b = crate::node!("iq", { "id" => "1" }, [crate::node!("ping")]);
        assert_eq!(a, b);
        assert_eq!(a.as_ref().into_owned(), a);
        assert_eq!(a.child("ping").map(|c| c.tag.as_str()), Some("ping"));
    }

    #[test]
    fn attributes_keep_order_and_duplicates_inline_or_not() {
        for count in 0..4 {
            let mut attrs = Attrs::new();
            for i in 0..count {
                attrs.push(format!("k{i}"), format!("v{i}"));
            }
            attrs.push("k0", "again");
            let keys: Vec<&str> = attrs.iter().map(|(k, _)| k).collect();
            assert_eq!(keys.len(), count + 1);
            assert_eq!(
                attrs.get("k0"),
                Some(if count == 0 { "again" } else { "v0" })
            );
            assert_eq!(
                attrs.remove("k0").as_deref(),
                Some(if count == 0 { "again" } else { "v0" })
            );
            assert_eq!(attrs.len(), count.saturating_sub(1));
            assert_eq!(attrs.get("k0"), None);
        }
        // A Node stays small enough to be carried by value (a shared `Bytes` content, 32
        // bytes with one niche, costs 8 more than a `Vec` did).
        assert_eq!(std::mem::size_of::<Node>(), 144);
    }
}
