//! Stanza shapes the server sends (iq results and errors, stream errors, `success`), and the iqs
//! of a logged-in device: prekeys (`encrypt`), `passive`/`active`, `w:p` pings.

use wa_binary::Node;

use super::prekeys::{self, PrekeyError};
use super::registry::Device;

/// The server's JID, the `from` of everything it sends.
pub const SERVER: &str = "s.whatsapp.net";

/// `<iq type="result" id=.. from="s.whatsapp.net">` answering `iq`.
pub fn result(iq: &Node) -> Node {
    Node::new("iq")
        .attr("from", SERVER)
        .attr("type", "result")
        .attr("id", iq.attrs.get("id").unwrap_or_default())
}

/// `<iq type="error"><error code text/></iq>` answering `iq`.
pub fn error(iq: &Node, code: u16, text: &str) -> Node {
    Node::new("iq")
        .attr("from", SERVER)
        .attr("type", "error")
        .attr("id", iq.attrs.get("id").unwrap_or_default())
        .children([Node::new("error").attr("code", code).attr("text", text)])
}

/// `<stream:error code=..>` with an optional `<conflict type=..>`.
pub fn stream_error(code: u16, conflict: Option<&str>) -> Node {
    let node = Node::new("stream:error").attr("code", code);
    match conflict {
        Some(kind) => node.children([Node::new("conflict").attr("type", kind)]),
        None => node,
    }
}

/// `<failure reason=..>`, the refusal of a login.
pub fn failure(reason: u16) -> Node {
    Node::new("failure").attr("reason", reason)
}

/// What a logged-in device's iq did to the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IqEffect {
    /// Nothing kept changed.
    None,
    /// The device uploaded this many one-time prekeys.
    Uploaded(usize),
    /// The device rotated its signed prekey.
    Rotated,
    /// The device asked to be removed (logout).
    Logout,
}

/// Answers an iq of a logged-in device; `device` is its registry entry.
pub fn logged_in_iq(iq: &Node, device: &mut Device) -> (Node, IqEffect) {
    let xmlns = iq.attrs.get("xmlns").unwrap_or_default();
    let kind = iq.attrs.get("type").unwrap_or_default();
    let first = iq.child_nodes().first().map(|c| c.tag.to_string());
    match (xmlns, kind, first.as_deref()) {
        ("w:p", "get", _) | ("passive", "set", _) => (result(iq), IqEffect::None),
        ("encrypt", "get", Some("count")) => (
            result(iq).children([Node::new("count").attr("value", device.prekeys.len())]),
            IqEffect::None,
        ),
        ("encrypt", "get", Some("digest")) => match prekeys::digest_node(device) {
            Some(digest) => (result(iq).children([digest]), IqEffect::None),
            None => (error(iq, 404, "item-not-found"), IqEffect::None),
        },
        ("encrypt", "set", Some("rotate")) => {
            let rotated = iq
                .child("rotate")
                .and_then(|r| r.child("skey"))
                .ok_or(PrekeyError::Malformed("skey"))
                .and_then(|skey| prekeys::parse_signed_prekey(skey, &device.identity.0));
            match rotated {
                Ok(signed) => {
                    device.signed_prekey = Some(signed);
                    (result(iq), IqEffect::Rotated)
                }
                Err(_) => (error(iq, 400, "bad-request"), IqEffect::None),
            }
        }
        ("encrypt", "set", _) => {
            match prekeys::parse_upload(iq).and_then(|upload| {
                let count = upload.prekeys.len();
                prekeys::apply_upload(device, upload).map(|()| count)
            }) {
                Ok(count) => (result(iq), IqEffect::Uploaded(count)),
                Err(PrekeyError::TooMany(_)) => (error(iq, 406, "not-acceptable"), IqEffect::None),
                Err(_) => (error(iq, 400, "bad-request"), IqEffect::None),
            }
        }
        ("md", "set", Some("remove-companion-device")) => (result(iq), IqEffect::Logout),
        // Privacy settings: everything visible to everyone, so read receipts are `read` (a
        // client reads this before sending one).
        ("privacy", "get", Some("privacy")) => (
            result(iq).children([Node::new("privacy").children(
                [
                    ("readreceipts", "all"),
                    ("last", "all"),
                    ("online", "all"),
                    ("profile", "all"),
                    ("status", "all"),
                    ("groupadd", "all"),
                ]
                .map(|(name, value)| {
                    Node::new("category")
                        .attr("name", name)
                        .attr("value", value)
                }),
            )]),
            IqEffect::None,
        ),
        _ => (error(iq, 501, "feature-not-implemented"), IqEffect::None),
    }
}
