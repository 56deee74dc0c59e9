//! Messaging: relays, routing between accounts, the echo contact, receipts, chat and group
//! actions, and the queries answered from the store.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use wa_binary::Node;
use wa_core::{Tag, Timestamp};
use wa_proto::prost::Message as _;
use wa_proto::{Message, WebMessageInfo};

use super::Server;
use crate::core::ConnId;
use crate::error::RequestError;
use crate::store::{StoredMessage, normalize_jid};

mod actions;
mod groups;
mod queries;
mod relay;

/// Work the server does later: receipts of the simulated phones and the echo contact's replies.
#[derive(Clone, Debug)]
pub(super) enum Task {
    /// Tell `account` that its message `id` in `chat` reached ack `ack` at `by`.
    Ack {
        account: usize,
        chat: String,
        id: String,
        ack: i8,
        by: String,
    },
    /// A `Presence` push to `account` about `from`.
    Presence {
        account: usize,
        from: String,
        kind: &'static str,
    },
    /// The echo contact answers `account` with `message`.
    EchoReply {
        account: usize,
        message: Box<Message>,
    },
}

/// Faults armed through the control API; each fires once.
#[derive(Clone, Debug, Default)]
pub(super) struct Faults {
    /// Close the connection after storing and routing the next relay, without acking it.
    pub drop_next_relay_ack: bool,
    /// Deliver the next incoming message twice.
    pub duplicate_next_delivery: bool,
    /// Answer this many next relays `503` (server busy) without storing them.
    pub defer_next_relays: u32,
    /// Close the connection, unanswered, on any client message longer than this.
    pub close_on_frames_over: Option<usize>,
}

fn bad(what: impl Into<String>) -> RequestError {
    RequestError::Malformed(what.into())
}

fn secs(now: Timestamp) -> u64 {
    now.unix_ms() / 1000
}

/// `action add=relay` with one `message`.
fn relay_node(info: &WebMessageInfo) -> Node {
    Node::new("action")
        .attr("add", "relay")
        .children([Node::new("message").bytes(info.encode_to_vec())])
}

/// The download URL of the media inside `message`, if it is a media message.
fn media_url(message: &Message) -> Option<&str> {
    let m = message.content();
    m.image_message
        .as_ref()
        .and_then(|x| x.url.as_deref())
        .or_else(|| m.video_message.as_ref().and_then(|x| x.url.as_deref()))
        .or_else(|| m.audio_message.as_ref().and_then(|x| x.url.as_deref()))
        .or_else(|| m.document_message.as_ref().and_then(|x| x.url.as_deref()))
        .or_else(|| m.sticker_message.as_ref().and_then(|x| x.url.as_deref()))
}

/// The media key inside `message`, if it is a media message that carries one.
fn media_key(message: &Message) -> Option<&[u8]> {
    let m = message.content();
    m.image_message
        .as_ref()
        .and_then(|x| x.media_key.as_deref())
        .or_else(|| {
            m.video_message
                .as_ref()
                .and_then(|x| x.media_key.as_deref())
        })
        .or_else(|| {
            m.audio_message
                .as_ref()
                .and_then(|x| x.media_key.as_deref())
        })
        .or_else(|| {
            m.document_message
                .as_ref()
                .and_then(|x| x.media_key.as_deref())
        })
        .or_else(|| {
            m.sticker_message
                .as_ref()
                .and_then(|x| x.media_key.as_deref())
        })
}

impl Server {
    // ----- binary dispatch --------------------------------------------------------------------

    /// A decoded binary node of a logged-in connection.
    pub(super) fn handle_node(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        tag: &Tag,
        node: &Node,
    ) -> Result<(), RequestError> {
        match (node.tag.as_str(), node.attrs.get("type")) {
            ("action", Some("relay")) => self.relay(conn, now, tag, node),
            ("action", Some("set")) => {
                for child in node.child_nodes() {
                    self.set_action(conn, now, tag, child)?;
                }
                // Group, picture and profile actions answer themselves.
                let answered = node
                    .child_nodes()
                    .iter()
                    .any(|c| matches!(c.tag.as_str(), "group" | "picture" | "profile"));
                if !answered {
                    self.send_status(conn, tag.clone(), 200);
                }
                Ok(())
            }
            ("action", Some(_)) => {
                self.send_status(conn, tag.clone(), 200);
                Ok(())
            }
            ("query", Some(kind)) => self.binary_query(conn, now, tag, kind, node),
            (other, _) => Err(RequestError::UnknownCommand(format!("binary node {other}"))),
        }
    }

    // ----- pushes -----------------------------------------------------------------------------

    fn account_conns(&self, account: usize) -> Vec<ConnId> {
        let mut conns: Vec<ConnId> = self
            .sessions
            .values()
            .filter(|s| s.account == account)
            .filter_map(|s| s.conn)
            .filter(|c| self.logged_in_client(*c).is_some())
            .collect();
        conns.sort();
        conns
    }

    fn push_tag(&mut self, now: Option<Timestamp>) -> Tag {
        self.next_push += 1;
        let secs = now.map_or(0, secs);
        super::tag_of(&format!("{secs}.--{}", self.next_push))
    }

    /// Sends `node` to every logged-in client of `account`; false when none is connected.
    fn push_node_to_account(&mut self, account: usize, node: &Node) -> bool {
        let conns = self.account_conns(account);
        for conn in &conns {
            let tag = self.push_tag(None);
            self.send_node(*conn, tag, node);
        }
        !conns.is_empty()
    }

    fn push_json_to_account(&mut self, account: usize, now: Timestamp, body: Value) {
        for conn in self.account_conns(account) {
            let tag = self.push_tag(Some(now));
            self.send_json(conn, tag, body.clone());
        }
    }

    /// After login: what arrived while no client of the account was connected, except the
    /// messages with `already_sent` ids (pushed with the recent messages).
    pub(super) fn flush_offline(&mut self, conn: ConnId, already_sent: &BTreeSet<String>) {
        let Ok(account) = self.account_index(conn) else {
            return;
        };
        for node in std::mem::take(&mut self.offline[account]) {
            let id = node
                .child("message")
                .and_then(Node::content_bytes)
                .and_then(|b| WebMessageInfo::decode_bytes(b).ok())
                .and_then(|m| m.key.id);
            if id.is_some_and(|id| already_sent.contains(&id)) {
                continue;
            }
            let tag = self.push_tag(None);
            self.send_node(conn, tag, &node);
        }
    }

    /// `["action",{add:"last"},[message...]]` with the latest messages of every chat (oldest
    /// first), and their ids; `None` when there are none.
    pub(super) fn recent_messages_node(&self, account: usize) -> (Option<Node>, BTreeSet<String>) {
        let per_chat = self.config.recent_messages_per_chat;
        let mut recent: Vec<&StoredMessage> = self.stores[account]
            .chats
            .values()
            .flat_map(|c| {
                let skip = c.messages.len().saturating_sub(per_chat);
                c.messages.iter().skip(skip)
            })
            .collect();
        if recent.is_empty() {
            return (None, BTreeSet::new());
        }
        recent.sort_by_key(|m| m.info.message_timestamp);
        let ids = recent.iter().map(|m| m.id().to_owned()).collect();
        let node = Node::new("action").attr("add", "last").children(
            recent
                .iter()
                .map(|m| Node::new("message").bytes(m.info.encode_to_vec())),
        );
        (Some(node), ids)
    }

    // ----- media ------------------------------------------------------------------------------

    pub(super) fn media_url_for(&self, path: &str) -> String {
        format!(
            "{}://{}{path}",
            self.config.media_scheme,
            self.config.media_host.as_deref().unwrap_or("127.0.0.1")
        )
    }

    /// The URL of `jid`'s profile picture, if it has one.
    fn picture_url(&self, jid: &str) -> Option<String> {
        let a = self.account_by_jid(jid)?;
        self.stores[a].picture.as_ref()?;
        Some(self.media_url_for(&format!("/pp/{}", number_of(jid))))
    }

    /// `ProfilePicThumb` answer.
    pub(super) fn profile_pic_json(&self, jid: &str) -> Value {
        match self.picture_url(&normalize_jid(jid)) {
            Some(url) => json!({ "eurl": url, "tag": "1" }),
            None => json!({ "status": 404 }),
        }
    }

    // ----- lookups ----------------------------------------------------------------------------

    pub(super) fn account_index(&self, conn: ConnId) -> Result<usize, RequestError> {
        let client_id = self
            .logged_in_client(conn)
            .ok_or(RequestError::NotLoggedIn)?;
        self.sessions
            .get(client_id)
            .map(|s| s.account)
            .ok_or(RequestError::NotLoggedIn)
    }

    pub(super) fn account_by_jid(&self, jid: &str) -> Option<usize> {
        let jid = normalize_jid(jid);
        self.accounts.iter().position(|a| a.wid == jid)
    }

    /// The other accounts that have `jid` among their contacts or chats.
    fn accounts_knowing(&self, jid: &str) -> Vec<usize> {
        (0..self.accounts.len())
            .filter(|&a| self.accounts[a].wid != jid)
            .filter(|&a| {
                self.accounts[a].contacts.iter().any(|c| c.jid == jid)
                    || self
                        .stores
                        .get(a)
                        .is_some_and(|s| s.chats.contains_key(jid))
            })
            .collect()
    }

    fn wid(&self, account: usize) -> String {
        self.accounts
            .get(account)
            .map(|a| a.wid.clone())
            .unwrap_or_default()
    }
}

fn number_of(jid: &str) -> &str {
    jid.split('@').next().unwrap_or_default()
}

/// The default delay between the echo contact's steps.
pub(super) const DEFAULT_ECHO_DELAY: Duration = Duration::from_millis(100);
