//! The JSON form of a node: `[tag, {attrs}, content]`.
//!
//! - `tag`: a string.
//! - `attrs`: an object whose members keep the wire order (duplicate keys are kept too).
//! - `content`: `null` (none), an array of child nodes, a string (text), or `{"bytes": "<base64>"}`
//!   (raw bytes, standard base64 with padding).
//!
//! Text and bytes stay distinct, so decode → JSON → encode gives the same bytes.
//!
//! [`from_str`] takes nodes nested up to [`MAX_DEPTH`] deep (twice the codec's default depth
//! limit), whatever JSON's own nesting (two arrays a node level) comes to; deeper input is an
//! error, never a stack overflow.
//!
//! ```
//! use wa_binary::{Node, json};
//! let node = Node::new("enc").attr("v", "2").bytes(vec![0, 1, 255]);
//! let text = json::to_string(&node);
//! assert_eq!(text, r#"["enc",{"v":"2"},{"bytes":"AAH/"}]"#);
//! assert_eq!(json::from_str(&text)?, node);
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::node::{Attrs, Content, Node};
use crate::text::Str;

/// The node as JSON text.
pub fn to_string(node: &Node) -> String {
    // Serializing strings, maps and sequences into a String cannot fail.
    serde_json::to_string(node).unwrap_or_default()
}

/// The node as indented JSON text.
pub fn to_string_pretty(node: &Node) -> String {
    serde_json::to_string_pretty(node).unwrap_or_default()
}

/// How deep [`from_str`] lets nodes nest (the root is at depth 1).
pub const MAX_DEPTH: usize = 128;

/// A node from JSON text (nodes nested at most [`MAX_DEPTH`] deep).
pub fn from_str(text: &str) -> Result<Node, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    // serde_json stops at 128 nested arrays and objects, which a node tree the codec accepts
    // can pass (a node level is two arrays); the node depth is bounded below instead, and
    // nothing else recurses.
    de.disable_recursion_limit();
    let node = NodeSeed { depth: 1 }.deserialize(&mut de)?;
    de.end()?;
    Ok(node)
}

struct AttrsJson<'a>(&'a Attrs);

impl Serialize for AttrsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

struct BytesJson<'a>(&'a [u8]);

impl Serialize for BytesJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("bytes", &STANDARD.encode(self.0))?;
        map.end()
    }
}

struct ContentJson<'a>(&'a Content);

impl Serialize for ContentJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Content::None => s.serialize_unit(),
            Content::Text(t) => s.serialize_str(t),
            Content::Bytes(b) => BytesJson(b).serialize(s),
            Content::Nodes(nodes) => {
                let mut seq = s.serialize_seq(Some(nodes.len()))?;
                for n in nodes {
                    seq.serialize_element(n)?;
                }
                seq.end()
            }
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(3)?;
        t.serialize_element(&self.tag)?;
        t.serialize_element(&AttrsJson(&self.attrs))?;
        t.serialize_element(&ContentJson(&self.content))?;
        t.end()
    }
}

struct AttrsSeed;

impl<'de> DeserializeSeed<'de> for AttrsSeed {
    type Value = Attrs;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Attrs, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AttrsSeed {
    type Value = Attrs;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of string attributes")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attrs, A::Error> {
        let mut attrs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some((k, v)) = map.next_entry::<Str, Str>()? {
            attrs.push((k, v));
        }
        Ok(Attrs::from(attrs))
    }
}

/// The content of a node at `depth`.
struct ContentSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ContentSeed {
    type Value = Content;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Content, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ContentSeed {
    type Value = Content;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null, an array of nodes, a string, or {\"bytes\": base64}")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Content, E> {
        Ok(Content::None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Content, E> {
        Ok(Content::None)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
        Ok(Content::Text(Str::from(v)))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Content, E> {
        Ok(Content::Text(Str::from(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
        let mut nodes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        let child = NodeSeed {
            depth: self.depth + 1,
        };
        while let Some(node) = seq.next_element_seed(child)? {
            nodes.push(node);
        }
        Ok(Content::Nodes(nodes))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Content, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::custom("content object needs a `bytes` member"));
        };
        if key != "bytes" {
            return Err(de::Error::unknown_field(&key, &["bytes"]));
        }
        let text: String = map.next_value()?;
        if map.next_key::<String>()?.is_some() {
            return Err(de::Error::custom(
                "content object has members besides `bytes`",
            ));
        }
        let bytes = STANDARD
            .decode(text)
            .map_err(|e| de::Error::custom(format!("bad base64 in `bytes`: {e}")))?;
        Ok(Content::Bytes(bytes.into()))
    }
}

/// A node at `depth` (the root is at 1).
#[derive(Clone, Copy)]
struct NodeSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        if self.depth > MAX_DEPTH {
            return Err(de::Error::custom(format_args!(
                "nodes nested deeper than {MAX_DEPTH}"
            )));
        }
        d.deserialize_seq(self)
    }
}

/// Stands for an element after a node's three: any value is an error, found without reading
/// into it (so a deeply nested one cannot recurse).
struct NoMore;

impl<'de> Deserialize<'de> for NoMore {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NoMore, D::Error> {
        d.deserialize_any(NoMoreVisitor)
    }
}

struct NoMoreVisitor;

impl Visitor<'_> for NoMoreVisitor {
    type Value = NoMore;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the end of a node array [tag, {attrs}, content]")
    }
}

impl<'de> Visitor<'de> for NodeSeed {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a node array [tag, {attrs}, content]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let tag: Str = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let attrs = seq
            .next_element_seed(AttrsSeed)?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        let content = seq
            .next_element_seed(ContentSeed { depth: self.depth })?
            .ok_or_else(|| de::Error::invalid_length(2, &self))?;
        if seq.next_element::<NoMore>()?.is_some() {
            return Err(de::Error::invalid_length(4, &self));
        }
        Ok(Node {
            tag,
            attrs,
            content,
        })
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        NodeSeed { depth: 1 }.deserialize(d)
    }
}
