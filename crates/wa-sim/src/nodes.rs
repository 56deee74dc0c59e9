//! The binary nodes the server sends (responses built from the seed account) and a summary of
//! the ones clients send.

use serde::Serialize;
pub(crate) use wa_binary::Node;
use wa_binary::{Codec, node};

use crate::seed::SeedAccount;

/// A client's binary node as the server saw it (decrypted and decoded), without its content
/// bytes: enough for tests to check what a client asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientNode {
    /// The node's description (tag), e.g. `query` or `action`.
    pub description: String,
    /// Its attributes in wire order.
    pub attrs: Vec<(String, String)>,
    /// The descriptions of its child nodes, in order.
    pub children: Vec<String>,
}

impl ClientNode {
    /// The value of attribute `key`.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn of(node: &Node) -> ClientNode {
        ClientNode {
            description: node.tag.to_string(),
            attrs: node
                .attrs
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            children: node
                .child_nodes()
                .iter()
                .map(|c| c.tag.to_string())
                .collect(),
        }
    }
}

/// Decodes a decrypted client payload.
pub(crate) fn decode_client_node(plaintext: &[u8]) -> Result<(Node, ClientNode), String> {
    let node = Codec::legacy()
        .decode(plaintext)
        .map_err(|e| e.to_string())?;
    let summary = ClientNode::of(&node);
    Ok((node, summary))
}

/// Encodes a node the server built. Server nodes are built from a validated seed account
/// ([`SeedAccount::validate`] encodes them once), so this does not fail in practice; if it did,
/// the payload would be empty rather than a panic.
pub(crate) fn encode(node: &Node) -> Vec<u8> {
    try_encode(node).unwrap_or_default()
}

/// Encodes a node, describing the failure.
pub(crate) fn try_encode(node: &Node) -> Result<Vec<u8>, String> {
    Codec::legacy().encode(node).map_err(|e| e.to_string())
}

/// `response type=contacts`: one `user` child per address-book entry.
pub(crate) fn contacts_response(account: &SeedAccount) -> Node {
    let users = account.contacts.iter().map(|c| {
        Node::new("user")
            .attr("jid", &c.jid)
            .attr_opt("notify", c.notify.as_ref())
            .attr_opt("name", c.name.as_ref())
            .attr_opt("short", c.short.as_ref())
    });
    node!("response", { "type" => "contacts" }).children(users)
}

/// `response type=chat`: one `chat` child per chat.
pub(crate) fn chats_response(account: &SeedAccount) -> Node {
    let chats = account.chats.iter().map(|c| {
        Node::new("chat")
            .attr("jid", &c.jid)
            .attr("t", c.t)
            .attr("count", c.count)
            .attr_opt("name", c.name.as_ref())
            .attr_opt("archive", c.archive.then_some("true"))
            .attr_opt("read_only", c.read_only.then_some("true"))
            .attr("spam", "false")
            .attr("mute", "0")
    });
    node!("response", { "type" => "chat" }).children(chats)
}
