//! Requests: every action and query as the node (or JSON) to send, with its metric and flags.

use serde_json::{Value, json};
use wa_binary::Node;
use wa_crypto::legacy::{Flags, Metric};
use wa_proto::prost::Message as _;
use wa_proto::{MessageKey, WebMessageInfo};

use super::wire_jid;

/// `0x80`: relay, queries, read, chat operations.
pub const FLAGS_DEFAULT: Flags = Flags::EXPECTS_RESPONSE;
/// `0x88`: groups, picture, block, status.
pub const FLAGS_EXPIRES: Flags = Flags::from_bits(0x88);
/// `0xA0`: presence available.
pub const FLAGS_AVAILABLE: Flags = Flags::from_bits(0xA0);
/// `0x10`: presence unavailable.
pub const FLAGS_UNAVAILABLE: Flags = Flags::UNAVAILABLE;
/// `0x04`: composing, recording, paused.
pub const FLAGS_TYPING: Flags = Flags::SKIP_OFFLINE;

/// A request ready to send.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// A binary node with its metric and flags; `tag` is fixed for relays (the message id) and
    /// group/picture actions (their `id`), otherwise the session picks one.
    Node {
        /// The node.
        node: Node,
        /// Metric byte.
        metric: Metric,
        /// Flag byte.
        flags: Flags,
        /// A fixed tag.
        tag: Option<String>,
    },
    /// A JSON request `tag,,[...]`.
    Json(Value),
}

impl Request {
    fn node(node: Node, metric: Metric, flags: Flags) -> Request {
        Request::Node {
            node,
            metric,
            flags,
            tag: None,
        }
    }

    /// The metric, for binary requests.
    pub fn metric(&self) -> Option<Metric> {
        match self {
            Request::Node { metric, .. } => Some(*metric),
            Request::Json(_) => None,
        }
    }

    /// The flags, for binary requests.
    pub fn flags(&self) -> Option<Flags> {
        match self {
            Request::Node { flags, .. } => Some(*flags),
            Request::Json(_) => None,
        }
    }
}

/// `["action",{type:"set",epoch},[children]]`.
pub fn set_action(epoch: u64, children: impl IntoIterator<Item = Node>) -> Node {
    Node::new("action")
        .attr("type", "set")
        .attr("epoch", epoch)
        .children(children)
}

/// Relays a message: tag = its id, metric 16, flags 0x80 (0x40, "acknowledge", when the chat
/// is our own JID `own`, as WhatsApp Web does for notes to self). In a group the message names
/// us, `own`, as its `participant` when it names nobody yet.
pub fn relay_from(epoch: u64, info: &WebMessageInfo, own: Option<&str>) -> Request {
    let in_group = info
        .key
        .remote_jid
        .as_deref()
        .is_some_and(|to| to.ends_with("@g.us"));
    let mut request = match own {
        Some(own) if in_group && info.participant.is_none() => {
            let mut info = info.clone();
            info.participant = Some(wire_jid(own));
            relay(epoch, &info)
        }
        _ => relay(epoch, info),
    };
    let to_self = own.is_some_and(|own| {
        info.key
            .remote_jid
            .as_deref()
            .is_some_and(|to| super::normalize_jid(to) == super::normalize_jid(own))
    });
    if let (Request::Node { flags, .. }, true) = (&mut request, to_self) {
        *flags = Flags::ACK_REQUEST;
    }
    request
}

/// Relays a message: tag = its id, metric 16, flags 0x80.
pub fn relay(epoch: u64, info: &WebMessageInfo) -> Request {
    let node = Node::new("action")
        .attr("type", "relay")
        .attr("epoch", epoch)
        .children([Node::new("message").bytes(info.encode_to_vec())]);
    Request::Node {
        node,
        metric: Metric::Message,
        flags: FLAGS_DEFAULT,
        tag: info.key.id.clone(),
    }
}

/// `index`, `owner` and (in a group, for a message of another member) `participant`: how
/// requests name a message by its key.
fn key_attrs(node: Node, key: &MessageKey) -> Node {
    node.attr("index", key.id.as_deref().unwrap_or_default())
        .attr("owner", key.from_me == Some(true))
        .attr_opt("participant", key.participant.as_deref().map(wire_jid))
}

/// Marks chat `jid` read up to message `last`, metric 11.
pub fn read(epoch: u64, jid: &str, last: &MessageKey, count: u32) -> Request {
    read_count(epoch, jid, last, i64::from(count))
}

/// Marks chat `jid` unread (`count=-2`) at message `last`, metric 11.
pub fn mark_unread(epoch: u64, jid: &str, last: &MessageKey) -> Request {
    read_count(epoch, jid, last, -2)
}

fn read_count(epoch: u64, jid: &str, last: &MessageKey, count: i64) -> Request {
    let child = key_attrs(Node::new("read").attr("jid", wire_jid(jid)), last).attr("count", count);
    Request::node(set_action(epoch, [child]), Metric::Read, FLAGS_DEFAULT)
}

/// A `received` receipt of type `kind` (`played`, or none for "delivered to the app"),
/// metric 13.
pub fn received(
    epoch: u64,
    kind: Option<&str>,
    chat: &str,
    index: &str,
    participant: Option<&str>,
) -> Request {
    let child = Node::new("received")
        .attr_opt("type", kind)
        .attr("index", index)
        .attr("from", wire_jid(chat))
        .attr_opt("participant", participant.map(wire_jid));
    Request::node(set_action(epoch, [child]), Metric::Received, FLAGS_DEFAULT)
}

/// Our presence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Online.
    Available,
    /// Offline.
    Unavailable,
    /// Typing.
    Composing,
    /// Recording audio.
    Recording,
    /// Stopped typing.
    Paused,
}

impl Presence {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Available => "available",
            Presence::Unavailable => "unavailable",
            Presence::Composing => "composing",
            Presence::Recording => "recording",
            Presence::Paused => "paused",
        }
    }
}

/// Sends our presence (to `to` for typing states), metric 8 with the presence's flags.
pub fn presence(epoch: u64, kind: Presence, to: Option<&str>) -> Request {
    let child = Node::new("presence")
        .attr("type", kind.as_str())
        .attr_opt("to", to.map(wire_jid));
    let flags = match kind {
        Presence::Available => FLAGS_AVAILABLE,
        Presence::Unavailable => FLAGS_UNAVAILABLE,
        _ => FLAGS_TYPING,
    };
    Request::node(set_action(epoch, [child]), Metric::Presence, flags)
}

/// `["action","presence","subscribe",jid]`.
pub fn presence_subscribe(jid: &str) -> Request {
    Request::Json(json!(["action", "presence", "subscribe", wire_jid(jid)]))
}

/// A chat operation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChatOp {
    /// Archive.
    Archive,
    /// Unarchive.
    Unarchive,
    /// Pin (at Unix seconds).
    Pin(u64),
    /// Unpin (the pin's timestamp, as `previous`, when known).
    Unpin(Option<u64>),
    /// Mute until Unix seconds.
    Mute(u64),
    /// Unmute (the mute's expiry, as `previous`, when known).
    Unmute(Option<u64>),
    /// Star messages (id, fromMe).
    Star(Vec<(String, bool)>),
    /// Unstar messages.
    Unstar(Vec<(String, bool)>),
    /// Delete the chat.
    Delete,
    /// Clear all messages.
    Clear,
}

/// A chat operation, metric 12, flags 0x80.
pub fn chat_op(epoch: u64, jid: &str, op: &ChatOp) -> Request {
    let chat = Node::new("chat").attr("jid", wire_jid(jid));
    let items = |ids: &[(String, bool)]| {
        ids.iter()
            .map(|(id, me)| Node::new("item").attr("owner", me).attr("index", id))
            .collect::<Vec<_>>()
    };
    let chat = match op {
        ChatOp::Archive => chat.attr("type", "archive"),
        ChatOp::Unarchive => chat.attr("type", "unarchive"),
        ChatOp::Pin(at) => chat.attr("type", "pin").attr("pin", at),
        // As WhatsApp Web does: the same type without a new value, naming the previous one.
        ChatOp::Unpin(previous) => chat.attr("type", "pin").attr_opt("previous", *previous),
        ChatOp::Mute(until) => chat.attr("type", "mute").attr("mute", until),
        ChatOp::Unmute(previous) => chat.attr("type", "mute").attr_opt("previous", *previous),
        ChatOp::Star(ids) => chat.attr("type", "star").children(items(ids)),
        ChatOp::Unstar(ids) => chat.attr("type", "unstar").children(items(ids)),
        ChatOp::Delete => chat.attr("type", "delete"),
        ChatOp::Clear => chat.attr("type", "clear"),
    };
    Request::node(set_action(epoch, [chat]), Metric::Chat, FLAGS_DEFAULT)
}

/// Blocks (`true`) or unblocks a user, metric 18, flags 0x88.
pub fn block(epoch: u64, jid: &str, blocked: bool) -> Request {
    let child = Node::new("block")
        .attr("type", if blocked { "add" } else { "remove" })
        .children([Node::new("user").attr("jid", wire_jid(jid))]);
    Request::node(set_action(epoch, [child]), Metric::Block, FLAGS_EXPIRES)
}

/// Sets our push name, metric 27, flags 0x88.
pub fn push_name(epoch: u64, name: &str) -> Request {
    let child = Node::new("profile").attr("name", name);
    Request::node(set_action(epoch, [child]), Metric::Profile, FLAGS_EXPIRES)
}

/// Sets our status text, metric 15, flags 0x88.
pub fn status_text(epoch: u64, status: &str) -> Request {
    let child = Node::new("status").bytes(status.as_bytes().to_vec());
    Request::node(set_action(epoch, [child]), Metric::Status, FLAGS_EXPIRES)
}

/// Sets (JPEG 640 px + 96 px preview) or deletes (`None`) our profile picture, metric 14,
/// flags 0x88, tagged with the node id.
pub fn picture(epoch: u64, id: &str, jid: &str, images: Option<(&[u8], &[u8])>) -> Request {
    let child = Node::new("picture")
        .attr("id", id)
        .attr("jid", wire_jid(jid))
        .attr("type", if images.is_some() { "set" } else { "delete" });
    let child = match images {
        Some((image, preview)) => child.children([
            Node::new("image").bytes(image.to_vec()),
            Node::new("preview").bytes(preview.to_vec()),
        ]),
        None => child,
    };
    Request::Node {
        node: set_action(epoch, [child]),
        metric: Metric::Pic,
        flags: FLAGS_EXPIRES,
        tag: Some(id.to_owned()),
    }
}

/// A group action.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupOp {
    /// Create with a subject and participants.
    Create {
        /// Subject.
        subject: String,
        /// Members besides us.
        participants: Vec<String>,
    },
    /// Change the subject.
    Subject(String),
    /// Change the description (`prev`: the current description id).
    Description {
        /// New text.
        text: String,
        /// The description's new id.
        id: String,
        /// The previous description id.
        prev: Option<String>,
    },
    /// Add members.
    Add(Vec<String>),
    /// Remove members.
    Remove(Vec<String>),
    /// Make admins.
    Promote(Vec<String>),
    /// Revoke admin.
    Demote(Vec<String>),
    /// Leave.
    Leave,
    /// Turns a group setting on or off.
    Setting {
        /// Which.
        setting: GroupSetting,
        /// Only admins (true) or everyone (false).
        only_admins: bool,
    },
}

/// A group setting (`prop` action).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupSetting {
    /// Who may send messages (`announcement`).
    SendMessages,
    /// Who may edit the group's info (`locked`).
    EditInfo,
}

impl GroupSetting {
    /// The node name.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupSetting::SendMessages => "announcement",
            GroupSetting::EditInfo => "locked",
        }
    }
}

/// A group action, metric 10, flags 0x88, tagged with the node id.
pub fn group(epoch: u64, id: &str, author: &str, gid: Option<&str>, op: &GroupOp) -> Request {
    let base = |kind: &str| {
        Node::new("group")
            .attr("author", wire_jid(author))
            .attr("id", id)
            .attr("type", kind)
            .attr_opt("jid", gid)
    };
    let members = |jids: &[String]| {
        jids.iter()
            .map(|j| Node::new("participant").attr("jid", wire_jid(j)))
            .collect::<Vec<_>>()
    };
    let node = match op {
        GroupOp::Create {
            subject,
            participants,
        } => base("create")
            .attr("subject", subject)
            .children(members(participants)),
        GroupOp::Subject(subject) => base("subject").attr("subject", subject),
        GroupOp::Description { text, id, prev } => {
            base("description").children([Node::new("description")
                .attr("id", id)
                .attr_opt("prev", prev.as_ref())
                .bytes(text.as_bytes().to_vec())])
        }
        GroupOp::Add(j) => base("add").children(members(j)),
        GroupOp::Remove(j) => base("remove").children(members(j)),
        GroupOp::Promote(j) => base("promote").children(members(j)),
        GroupOp::Demote(j) => base("demote").children(members(j)),
        GroupOp::Leave => base("leave"),
        GroupOp::Setting {
            setting,
            only_admins,
        } => base("prop").children([Node::new(setting.as_str()).attr("value", only_admins)]),
    };
    Request::Node {
        node: set_action(epoch, [node]),
        metric: Metric::Group,
        flags: FLAGS_EXPIRES,
        tag: Some(id.to_owned()),
    }
}

fn query(kind: &str, epoch: u64) -> Node {
    Node::new("query").attr("type", kind).attr("epoch", epoch)
}

/// Which way a history page goes from its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Older messages.
    Before,
    /// Newer messages.
    After,
}

/// Message history of `jid`: `count` messages before/after message `index` (none: the
/// newest), metric 7.
pub fn history(
    epoch: u64,
    jid: &str,
    direction: Direction,
    count: u32,
    index: Option<&MessageKey>,
) -> Request {
    let kind = match direction {
        Direction::Before => "before",
        Direction::After => "after",
    };
    let mut node = query("message", epoch)
        .attr("jid", wire_jid(jid))
        .attr("kind", kind)
        .attr("count", count);
    if let Some(key) = index {
        node = key_attrs(node, key);
    }
    Request::node(node, Metric::QueryMessages, FLAGS_DEFAULT)
}

/// A query of type `kind` about the message `key` names (`index`, `jid`, `owner`, in the order
/// WhatsApp Web writes them).
fn message_query(kind: &str, epoch: u64, key: &MessageKey) -> Node {
    query(kind, epoch)
        .attr("index", key.id.as_deref().unwrap_or_default())
        .attr(
            "jid",
            wire_jid(key.remote_jid.as_deref().unwrap_or_default()),
        )
        .attr("owner", key.from_me == Some(true))
}

/// Who received, read and played the message `key` names, metric 22.
pub fn message_info(epoch: u64, key: &MessageKey) -> Request {
    let node = message_query("message_info", epoch, key);
    Request::node(node, Metric::QueryMessageInfo, FLAGS_DEFAULT)
}

/// A fresh download URL for the media of the message `key` names, metric 4.
pub fn media_requery(epoch: u64, key: &MessageKey) -> Request {
    let node = message_query("media", epoch, key);
    Request::node(node, Metric::QueryMedia, FLAGS_DEFAULT)
}

/// Full-text search, `count` per page, page numbers from 1, metric 24.
pub fn search(epoch: u64, text: &str, jid: Option<&str>, count: u32, page: u32) -> Request {
    let node = query("search", epoch)
        .attr("search", text)
        .attr_opt("jid", jid.map(wire_jid))
        .attr("count", count)
        .attr("page", page);
    Request::node(node, Metric::QuerySearch, FLAGS_DEFAULT)
}

/// The chat list, metric 5.
pub fn chats(epoch: u64) -> Request {
    Request::node(query("chat", epoch), Metric::QueryChat, FLAGS_DEFAULT)
}

/// The contacts, metric 6.
pub fn contacts(epoch: u64) -> Request {
    Request::node(
        query("contacts", epoch),
        Metric::QueryContacts,
        FLAGS_DEFAULT,
    )
}

/// `["query","exist",jid]`.
pub fn exists(jid: &str) -> Request {
    Request::Json(json!(["query", "exist", wire_jid(jid)]))
}

/// `["query","ProfilePicThumb",jid]`.
pub fn profile_picture(jid: &str) -> Request {
    Request::Json(json!(["query", "ProfilePicThumb", wire_jid(jid)]))
}

/// `["query","Status",jid]`.
pub fn status_of(jid: &str) -> Request {
    Request::Json(json!(["query", "Status", wire_jid(jid)]))
}

/// `["query","GroupMetadata",gid]`.
pub fn group_metadata(gid: &str) -> Request {
    Request::Json(json!(["query", "GroupMetadata", gid]))
}

/// `["query","inviteCode",gid]`.
pub fn invite_code(gid: &str) -> Request {
    Request::Json(json!(["query", "inviteCode", gid]))
}

/// `["action","inviteReset",gid]`.
pub fn invite_reset(gid: &str) -> Request {
    Request::Json(json!(["action", "inviteReset", gid]))
}

/// `["action","invite",code]`: join a group by invite code.
pub fn join_by_code(code: &str) -> Request {
    Request::Json(json!(["action", "invite", code]))
}

/// `["query","mediaConn"]`.
pub fn media_conn() -> Request {
    Request::Json(json!(["query", "mediaConn"]))
}
