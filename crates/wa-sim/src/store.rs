//! What the simulated phones remember: per-account chats with their messages, blocklist, profile,
//! and the groups shared by all accounts. Plain data, inspected through
//! [`Server::store`](crate::core::Server::store) and [`Server::group`](crate::core::Server::group).
//!
//! JIDs are kept in their `@c.us` form (a client's `@s.whatsapp.net` is normalized with
//! [`normalize_jid`]).

use std::collections::{BTreeMap, BTreeSet};

use wa_proto::WebMessageInfo;

/// The JID of the built-in contact that answers every message (present in every account's
/// address book as "Echo").
pub const ECHO_JID: &str = "15550109999@c.us";

/// `x@s.whatsapp.net` → `x@c.us`; other JIDs unchanged.
pub fn normalize_jid(jid: &str) -> String {
    match jid.strip_suffix("@s.whatsapp.net") {
        Some(user) => format!("{user}@c.us"),
        None => jid.to_owned(),
    }
}

/// `x@c.us` → `x@s.whatsapp.net`, the form protobufs carry; other JIDs unchanged.
pub fn wire_jid(jid: &str) -> String {
    match jid.strip_suffix("@c.us") {
        Some(user) => format!("{user}@s.whatsapp.net"),
        None => jid.to_owned(),
    }
}

/// One message in a chat, with the receipts the server has seen for it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMessage {
    /// The message as the account's clients see it (`key.fromMe` from this account's side).
    pub info: WebMessageInfo,
    /// Receipts per recipient JID: the highest ack (2 delivered, 3 read, 4 played) and when.
    pub receipts: BTreeMap<String, (i8, u64)>,
}

impl StoredMessage {
    /// The message id.
    pub fn id(&self) -> &str {
        self.info.key.id.as_deref().unwrap_or_default()
    }

    /// Whether this account sent it.
    pub fn from_me(&self) -> bool {
        self.info.key.from_me.unwrap_or(false)
    }
}

/// One chat of an account.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatState {
    /// Display name (groups: the subject).
    pub name: Option<String>,
    /// Last activity, Unix seconds.
    pub t: u64,
    /// Unread count; -1 when marked unread.
    pub count: i64,
    /// Archived.
    pub archive: bool,
    /// Pinned at this time (Unix seconds).
    pub pin: Option<u64>,
    /// Muted until this time (Unix seconds).
    pub mute: Option<u64>,
    /// Read-only (a group one has left).
    pub read_only: bool,
    /// Messages, oldest first.
    pub messages: Vec<StoredMessage>,
    /// Ids of starred messages.
    pub starred: BTreeSet<String>,
}

impl ChatState {
    /// The message with `id` (either direction).
    pub fn message(&self, id: &str) -> Option<&StoredMessage> {
        self.messages.iter().find(|m| m.id() == id)
    }

    /// The position of the message with `id`.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.messages.iter().position(|m| m.id() == id)
    }
}

/// Everything one account's phone remembers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccountStore {
    /// Chats by JID.
    pub chats: BTreeMap<String, ChatState>,
    /// Blocked JIDs.
    pub blocked: BTreeSet<String>,
    /// Push name (changed by a `profile` action).
    pub pushname: String,
    /// Status text ("about").
    pub status: String,
    /// Profile picture (JPEG), if set.
    pub picture: Option<Vec<u8>>,
    /// Presence the account's clients last announced (`available`, `unavailable`, ...).
    pub presence: String,
    /// JIDs whose presence the account's clients subscribed to.
    pub subscriptions: BTreeSet<String>,
}

/// A group participant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    /// The member's JID.
    pub jid: String,
    /// Admin.
    pub admin: bool,
    /// The creator (super admin).
    pub super_admin: bool,
}

/// A group, shared by all accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// `<creator>-<creation>@g.us`.
    pub id: String,
    /// Creator.
    pub owner: String,
    /// Subject.
    pub subject: String,
    /// Creation time, Unix seconds.
    pub creation: u64,
    /// When and by whom the subject was set.
    pub subject_time: u64,
    /// Who set the subject.
    pub subject_owner: String,
    /// Description.
    pub desc: Option<String>,
    /// Description id.
    pub desc_id: Option<String>,
    /// Who set the description.
    pub desc_owner: Option<String>,
    /// Only admins edit the group info.
    pub restrict: bool,
    /// Only admins send messages.
    pub announce: bool,
    /// Members.
    pub participants: Vec<Participant>,
    /// The current invite code.
    pub invite_code: String,
}

impl Group {
    /// Whether `jid` is a member.
    pub fn is_member(&self, jid: &str) -> bool {
        self.participants.iter().any(|p| p.jid == jid)
    }

    /// Whether `jid` is an admin.
    pub fn is_admin(&self, jid: &str) -> bool {
        self.participants.iter().any(|p| p.jid == jid && p.admin)
    }
}
