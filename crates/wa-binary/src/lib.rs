// Denied, not forbidden: the `frame` module alone allows it (a reference count updated in
// batches; see there).
#![deny(unsafe_code)]
#![doc = include_str!("../README.md")]

mod blob;
mod codec;
mod decode;
pub mod dict;
mod encode;
mod error;
mod frame;
mod jid;
pub mod json;
mod node;
mod recycle;
mod text;
mod tokens;
mod tree;

pub use blob::Blob;
pub use codec::{Codec, Limits};
pub use dict::{Dictionary, Token};
pub use error::{DecodeError, DecodeErrorKind, EncodeError};
pub use jid::{Jid, JidError, Server};
pub use node::{AttrError, AttrProblem, Attrs, Content, ContentRef, Node, NodeRef};
pub use text::Str;
pub use tree::{Children, OwnedTree, StrRef, Tree, TreeArena, TreeNode};
