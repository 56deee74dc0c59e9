//! Typed readers for the server's answers to queries (the requests are in
//! [`request`](super::request)). Each takes the reply as it came off the wire and never panics:
//! a reply of an unexpected shape gives `None` (or an empty value), for the caller to report.

use serde_json::Value;
use wa_binary::Node;
use wa_proto::WebMessageInfo;

use super::{incoming, normalize_jid};

/// Who received, read and played one of our messages (the `message_info` query's answer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageInfo {
    /// Delivered to (JIDs).
    pub delivered: Vec<String>,
    /// Read by.
    pub read: Vec<String>,
    /// Played by.
    pub played: Vec<String>,
}

/// Reads a `message_info` answer: `response` with `delivery`, `read` and `played` children, each
/// a list of `user{jid}`.
pub fn message_info(node: &Node) -> MessageInfo {
    let users = |name: &str| {
        node.child(name)
            .map(|n| {
                n.children_named("user")
                    .filter_map(|u| u.attrs.get("jid").map(normalize_jid))
                    .collect()
            })
            .unwrap_or_default()
    };
    MessageInfo {
        delivered: users("delivery"),
        read: users("read"),
        played: users("played"),
    }
}

/// The fresh download URL in a `media` query's answer (`media{code,url}`, bare or inside a
/// `response`).
pub fn media_url(node: &Node) -> Option<&str> {
    let media = if node.tag == "media" {
        node
    } else {
        node.child("media")?
    };
    media.attrs.get("url")
}

/// The media key in a `media` query's answer (`media_key`, base64), when the server gives
/// one: what a client that lost the message's key needs to decrypt the fresh URL.
pub fn media_key(node: &Node) -> Option<[u8; 32]> {
    use base64::Engine as _;
    let media = if node.tag == "media" {
        node
    } else {
        node.child("media")?
    };
    let text = media.attrs.get("media_key")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

/// The messages of a history (`message` query) or `search` page, oldest first, and whether it
/// is the last page (`last="true"`).
pub fn page(node: &Node) -> (Vec<WebMessageInfo>, bool) {
    (
        incoming::messages_of(node),
        node.attrs.get("last") == Some("true"),
    )
}

/// The picture URL (`eurl`) of a `ProfilePicThumb` answer; `None` for `{status:404|401}`.
pub fn profile_picture_url(body: &Value) -> Option<String> {
    body.get("eurl").and_then(Value::as_str).map(str::to_owned)
}

/// The status text of a `Status` answer (`{status:"text"}`); `None` when `status` is a number
/// (an error code) or missing.
pub fn status_text(body: &Value) -> Option<String> {
    body.get("status")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Whether an `exist` answer says the number is on WhatsApp (`{status:200}`; 404 otherwise).
pub fn exists(body: &Value) -> bool {
    body.get("status").and_then(Value::as_u64) == Some(200)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_answers() {
        assert_eq!(
            profile_picture_url(&json!({"eurl": "https://x/p.jpg", "tag": "1"})).as_deref(),
            Some("https://x/p.jpg")
        );
        assert_eq!(profile_picture_url(&json!({"status": 404})), None);
        assert_eq!(
            status_text(&json!({"status": "at work"})).as_deref(),
            Some("at work")
        );
        assert_eq!(status_text(&json!({"status": 401})), None);
        assert!(exists(&json!({"status": 200, "jid": "1@c.us"})));
        assert!(!exists(&json!({"status": 404})));
        assert!(!exists(&json!({"status": "200"})));
    }

    #[test]
    fn node_answers() {
        let info = Node::new("response")
            .attr("type", "message_info")
            .children([
                Node::new("played").children(Vec::new()),
                Node::new("read").children([Node::new("user").attr("jid", "2@s.whatsapp.net")]),
                Node::new("delivery").children([
                    Node::new("user").attr("jid", "2@c.us"),
                    Node::new("user").attr("jid", "3@c.us"),
                    Node::new("other").attr("jid", "4@c.us"),
                ]),
            ]);
        assert_eq!(
            message_info(&info),
            MessageInfo {
                delivered: vec!["2@c.us".into(), "3@c.us".into()],
                read: vec!["2@c.us".into()],
                played: Vec::new(),
            }
        );
        assert_eq!(message_info(&Node::new("response")), MessageInfo::default());
        let media = Node::new("media")
            .attr("code", "200")
            .attr("url", "https://m/1");
        assert_eq!(media_url(&media), Some("https://m/1"));
        let wrapped = Node::new("response").children([media]);
        assert_eq!(media_url(&wrapped), Some("https://m/1"));
        assert_eq!(media_url(&Node::new("response")), None);
        let (messages, last) = page(&Node::new("response").attr("last", "true"));
        assert!(messages.is_empty() && last);
    }
}
