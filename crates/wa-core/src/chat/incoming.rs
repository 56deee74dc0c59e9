//! Incoming pushes mapped to typed [`ChatEvent`]s: decoded binary nodes and JSON arrays.
//!
//! Nothing here fails: a node or push that does not fit a known shape becomes
//! [`ChatEvent::Raw`] / [`ChatEvent::RawJson`], so one odd frame never stops the stream.

use serde_json::Value;
use wa_binary::Node;
use wa_proto::{Message, MessageKey, WebMessageInfo};

use super::normalize_jid;

/// One entry of the chat list (`response type=chat`, or an `action` `chat` child).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChatInfo {
    /// The chat's JID (`@c.us` or `@g.us`).
    pub jid: String,
    /// Display name (groups: the subject).
    pub name: Option<String>,
    /// Last activity, Unix seconds.
    pub t: u64,
    /// Unread count (-1: marked unread).
    pub count: i64,
    /// Archived.
    pub archive: bool,
    /// Read-only (a group one has left).
    pub read_only: bool,
    /// Pinned at (Unix seconds).
    pub pin: Option<u64>,
    /// Muted until (Unix seconds; 0 = not muted).
    pub mute: Option<u64>,
    /// Marked as spam.
    pub spam: bool,
}

/// One address-book entry (`response type=contacts`, `action` `user` children).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactInfo {
    /// The contact's JID.
    pub jid: String,
    /// Name saved in the phone's address book.
    pub name: Option<String>,
    /// The contact's own push name.
    pub notify: Option<String>,
    /// Short name.
    pub short: Option<String>,
    /// Verified business name.
    pub vname: Option<String>,
}

/// Why a batch of messages arrived (`action add=...`, or a query's response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageBatch {
    /// `add=relay`: a new message, live.
    Relay,
    /// `add=last`: the last messages of chats, after login.
    Last,
    /// `add=before`: older history.
    Before,
    /// `add=after`: newer history.
    After,
    /// `add=unread`: unread messages, after login.
    Unread,
    /// `add=update`: a message changed (e.g. a media URL, a live location).
    Update,
    /// A history query's answer (`response type=message`).
    History,
    /// A search query's answer (`response type=search`).
    Search,
}

impl MessageBatch {
    fn from_add(add: &str) -> Option<MessageBatch> {
        Some(match add {
            "relay" => MessageBatch::Relay,
            "last" => MessageBatch::Last,
            "before" => MessageBatch::Before,
            "after" => MessageBatch::After,
            "unread" => MessageBatch::Unread,
            "update" => MessageBatch::Update,
            _ => return None,
        })
    }
}

/// A message's state as reported by acks and receipts (the legacy ack numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AckLevel {
    /// -1: failed.
    Error,
    /// 0: waiting (clock).
    Pending,
    /// 1: the server has it.
    ServerAck,
    /// 2: delivered to the recipient's phone.
    Delivered,
    /// 3: read.
    Read,
    /// 4: played (voice notes, videos).
    Played,
}

impl AckLevel {
    /// From a legacy ack number (-1..=4).
    pub fn from_ack(ack: i64) -> Option<AckLevel> {
        Some(match ack {
            -1 => AckLevel::Error,
            0 => AckLevel::Pending,
            1 => AckLevel::ServerAck,
            2 => AckLevel::Delivered,
            3 => AckLevel::Read,
            4 => AckLevel::Played,
            _ => return None,
        })
    }

    /// The legacy ack number.
    pub fn ack(self) -> i8 {
        match self {
            AckLevel::Error => -1,
            AckLevel::Pending => 0,
            AckLevel::ServerAck => 1,
            AckLevel::Delivered => 2,
            AckLevel::Read => 3,
            AckLevel::Played => 4,
        }
    }
}

/// A `Msg`/`MsgInfo` push or a `received` node: messages reached a new state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageAck {
    /// The message ids (one for `ack`, several for `acks`).
    pub ids: Vec<String>,
    /// The new state.
    pub level: AckLevel,
    /// The chat.
    pub chat: String,
    /// Who sent the ack (`from`), when given.
    pub from: Option<String>,
    /// The group member who read/received, in groups.
    pub participant: Option<String>,
    /// When, Unix seconds.
    pub t: Option<u64>,
    /// Whether the acked messages are ours (`Msg` pushes always are).
    pub from_me: bool,
}

/// A `Presence` push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceUpdate {
    /// Whose presence (the chat).
    pub jid: String,
    /// `available`, `unavailable`, `composing`, `recording`, `paused`.
    pub kind: String,
    /// Last seen, Unix seconds (with `unavailable`).
    pub last_seen: Option<u64>,
    /// The group member it is about, in groups.
    pub participant: Option<String>,
}

/// A `battery` node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatteryInfo {
    /// Percentage.
    pub value: Option<u8>,
    /// Charging.
    pub live: bool,
    /// Power-save mode.
    pub powersave: bool,
}

/// A group change (`["Chat",{id,cmd:"action",data:[op,actor,payload]}]`).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupChange {
    /// The group.
    pub gid: String,
    /// `create`, `subject`, `add`, `remove`, `promote`, `demote`, `leave`, `desc_add`,
    /// `restrict`, `announce`, `invite`...
    pub op: String,
    /// Who did it.
    pub actor: Option<String>,
    /// Participants concerned (`payload.participants`).
    pub participants: Vec<String>,
    /// The new subject, for `subject` and `create`.
    pub subject: Option<String>,
    /// The new description, for `desc_add`.
    pub description: Option<String>,
    /// The whole payload.
    pub payload: Value,
}

/// What the messaging layer understood of a push.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ChatEvent {
    /// The chat list.
    Chats(Vec<ChatInfo>),
    /// Contacts (the address book, or changed entries).
    Contacts(Vec<ContactInfo>),
    /// Messages, new or from history.
    Messages {
        /// Why they came.
        batch: MessageBatch,
        /// `last="true"`: history is complete in that direction.
        last: bool,
        /// The messages, in the order received.
        messages: Vec<WebMessageInfo>,
    },
    /// Acks and receipts.
    Ack(MessageAck),
    /// A presence change.
    Presence(PresenceUpdate),
    /// The phone's battery.
    Battery(BatteryInfo),
    /// A group notification.
    Group(GroupChange),
    /// The full blocklist.
    Blocklist(Vec<String>),
    /// A contact's status text.
    StatusText {
        /// Whose.
        jid: String,
        /// The text.
        status: String,
    },
    /// A profile picture changed (`Cmd type=picture`): query it again.
    ProfilePicture {
        /// Whose.
        jid: String,
    },
    /// A chat was read or marked unread on another device (`action` `read`).
    ReadState {
        /// The chat.
        jid: String,
        /// Marked unread (`type=false`).
        unread: bool,
    },
    /// A chat operation made on another device (`action` `chat`: archive, pin, mute, ...).
    ChatChanged {
        /// The chat.
        jid: String,
        /// The operation (`archive`, `unarchive`, `pin`, `mute`, `star`, `delete`, `clear`...).
        kind: String,
        /// The node, for its other attributes.
        node: Node,
    },
    /// A node nothing above matched.
    Raw(Node),
    /// A JSON push nothing above matched.
    RawJson(Value),
}

fn attr(node: &Node, key: &str) -> Option<String> {
    node.attrs.get(key).map(str::to_owned)
}

fn attr_u64(node: &Node, key: &str) -> Option<u64> {
    node.attrs.get(key).and_then(|v| v.parse().ok())
}

fn attr_true(node: &Node, key: &str) -> bool {
    node.attrs.get(key) == Some("true")
}

/// The chat list of a `response type=chat` (or `chat` children of anything).
pub fn chats_of(node: &Node) -> Vec<ChatInfo> {
    node.children_named("chat")
        .filter_map(|c| {
            Some(ChatInfo {
                jid: normalize_jid(c.attrs.get("jid")?),
                name: attr(c, "name"),
                t: attr_u64(c, "t").unwrap_or(0),
                count: c
                    .attrs
                    .get("count")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                archive: attr_true(c, "archive"),
                read_only: attr_true(c, "read_only"),
                pin: attr_u64(c, "pin"),
                mute: attr_u64(c, "mute"),
                spam: attr_true(c, "spam"),
            })
        })
        .collect()
}

/// The contacts of a `response type=contacts` or an `action` with `user` children.
pub fn contacts_of(node: &Node) -> Vec<ContactInfo> {
    node.children_named("user")
        .filter_map(|u| {
            Some(ContactInfo {
                jid: normalize_jid(u.attrs.get("jid")?),
                name: attr(u, "name"),
                notify: attr(u, "notify"),
                short: attr(u, "short"),
                vname: attr(u, "vname"),
            })
        })
        .collect()
}

/// The decodable `message` children of `node` (undecodable ones are skipped).
pub fn messages_of(node: &Node) -> Vec<WebMessageInfo> {
    node.children_named("message")
        .filter_map(|m| m.content_bytes())
        .filter_map(|bytes| WebMessageInfo::decode_bytes(bytes).ok())
        .collect()
}

/// Maps a decoded binary node pushed by the server.
pub fn map_node(node: &Node) -> Vec<ChatEvent> {
    match node.tag.as_str() {
        "response" => match node.attrs.get("type") {
            Some("chat") => vec![ChatEvent::Chats(chats_of(node))],
            Some("contacts") => vec![ChatEvent::Contacts(contacts_of(node))],
            Some("message") => vec![ChatEvent::Messages {
                batch: MessageBatch::History,
                last: attr_true(node, "last"),
                messages: messages_of(node),
            }],
            Some("search") => vec![ChatEvent::Messages {
                batch: MessageBatch::Search,
                last: attr_true(node, "last"),
                messages: messages_of(node),
            }],
            _ => vec![ChatEvent::Raw(node.clone())],
        },
        "action" => map_action(node),
        _ => vec![ChatEvent::Raw(node.clone())],
    }
}

fn map_action(node: &Node) -> Vec<ChatEvent> {
    let batch = node.attrs.get("add").and_then(MessageBatch::from_add);
    let last = attr_true(node, "last");
    let mut events = Vec::new();
    let mut messages = Vec::new();
    let mut users = Vec::new();
    for child in node.child_nodes() {
        match child.tag.as_str() {
            "message" => match child.content_bytes().map(WebMessageInfo::decode_bytes) {
                Some(Ok(info)) => messages.push(info),
                _ => events.push(ChatEvent::Raw(child.clone())),
            },
            "received" => match received_ack(child) {
                Some(ack) => events.push(ChatEvent::Ack(ack)),
                None => events.push(ChatEvent::Raw(child.clone())),
            },
            "read" => match child.attrs.get("jid") {
                Some(jid) => events.push(ChatEvent::ReadState {
                    jid: normalize_jid(jid),
                    unread: child.attrs.get("type") == Some("false"),
                }),
                None => events.push(ChatEvent::Raw(child.clone())),
            },
            "battery" => events.push(ChatEvent::Battery(BatteryInfo {
                value: child.attrs.get("value").and_then(|v| v.parse::<u8>().ok()),
                live: attr_true(child, "live"),
                powersave: attr_true(child, "powersave"),
            })),
            "user" => users.push(child.clone()),
            "chat" => match (child.attrs.get("jid"), child.attrs.get("type")) {
                (Some(jid), Some(kind)) => events.push(ChatEvent::ChatChanged {
                    jid: normalize_jid(jid),
                    kind: kind.to_owned(),
                    node: child.clone(),
                }),
                _ => events.push(ChatEvent::Chats(chats_of(
                    &Node::new("x").children([child.clone()]),
                ))),
            },
            _ => events.push(ChatEvent::Raw(child.clone())),
        }
    }
    if !users.is_empty() {
        events.push(ChatEvent::Contacts(contacts_of(
            &Node::new("x").children(users),
        )));
    }
    let stubs: Vec<ChatEvent> = messages
        .iter()
        .filter_map(group_change_of_stub)
        .map(ChatEvent::Group)
        .collect();
    events.extend(stubs);
    if !messages.is_empty() {
        events.insert(
            0,
            ChatEvent::Messages {
                batch: batch.unwrap_or(MessageBatch::Relay),
                last,
                messages,
            },
        );
    } else if last && batch.is_some() && events.is_empty() {
        events.push(ChatEvent::Messages {
            batch: batch.unwrap_or(MessageBatch::Relay),
            last,
            messages: Vec::new(),
        });
    }
    if events.is_empty() {
        events.push(ChatEvent::Raw(node.clone()));
    }
    events
}

/// The group change a notification stub message stands for (`messageStubType` 20–32 in a
/// group chat), if it is one.
pub fn group_change_of_stub(info: &WebMessageInfo) -> Option<GroupChange> {
    let op = match info.message_stub_type? {
        20 => "create",
        21 => "subject",
        22 => "picture",
        23 => "invite_link",
        24 => "description",
        25 => "restrict",
        26 => "announce",
        27 => "add",
        28 => "remove",
        29 => "promote",
        30 => "demote",
        31 => "invite",
        32 => "leave",
        _ => return None,
    };
    let gid = normalize_jid(info.key.remote_jid.as_deref()?);
    if !gid.ends_with("@g.us") {
        return None;
    }
    let params = &info.message_stub_parameters;
    let is_jid = |p: &&String| p.contains('@');
    Some(GroupChange {
        gid,
        op: op.to_owned(),
        actor: info
            .participant
            .as_deref()
            .or(info.key.participant.as_deref())
            .map(normalize_jid),
        participants: params
            .iter()
            .filter(is_jid)
            .map(|p| normalize_jid(p))
            .collect(),
        subject: matches!(op, "create" | "subject")
            .then(|| params.first().cloned())
            .flatten(),
        description: None,
        payload: Value::Array(params.iter().cloned().map(Value::String).collect()),
    })
}

fn received_ack(node: &Node) -> Option<MessageAck> {
    let level = match node.attrs.get("type")? {
        "message" => AckLevel::Delivered,
        "read" => AckLevel::Read,
        "played" => AckLevel::Played,
        "error" => AckLevel::Error,
        _ => return None,
    };
    Some(MessageAck {
        ids: vec![attr(node, "index")?],
        level,
        chat: normalize_jid(node.attrs.get("jid").or(node.attrs.get("from"))?),
        from: None,
        participant: attr(node, "participant").map(|p| normalize_jid(&p)),
        t: attr_u64(node, "t"),
        from_me: node.attrs.get("owner") == Some("true"),
    })
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Maps the object of a `["Cmd",{...}]` push the session passed on
/// ([`Event::Cmd`](crate::client::Event::Cmd)): `None` when it is not about chats (it stays a
/// protocol event). Only `type:"picture"` (a profile picture changed) is a chat event.
pub fn map_cmd(cmd: &serde_json::Map<String, Value>) -> Option<ChatEvent> {
    match cmd.get("type").and_then(Value::as_str)? {
        "picture" => Some(ChatEvent::ProfilePicture {
            jid: normalize_jid(&text(cmd.get("jid"))?),
        }),
        _ => None,
    }
}

/// Maps a JSON push (an array such as `["Msg",{...}]`) the session did not handle itself.
pub fn map_json(body: &Value) -> ChatEvent {
    map_json_known(body).unwrap_or_else(|| ChatEvent::RawJson(body.clone()))
}

fn map_json_known(body: &Value) -> Option<ChatEvent> {
    let items = body.as_array()?;
    let kind = items.first()?.as_str()?;
    let obj = items.get(1)?.as_object()?;
    let field = |k: &str| text(obj.get(k));
    Some(match kind {
        "Msg" | "MsgInfo" => {
            let ids = match obj.get("id")? {
                Value::Array(ids) => ids.iter().filter_map(|v| text(Some(v))).collect(),
                other => vec![text(Some(other))?],
            };
            let level = AckLevel::from_ack(number(obj.get("ack"))?)?;
            let from = field("from").map(|f| normalize_jid(&f));
            let to = field("to").map(|t| normalize_jid(&t));
            ChatEvent::Ack(MessageAck {
                ids,
                level,
                chat: to.clone().or(from.clone())?,
                from,
                participant: field("participant").map(|p| normalize_jid(&p)),
                t: number(obj.get("t")).and_then(|t| u64::try_from(t).ok()),
                from_me: true,
            })
        }
        "Presence" => ChatEvent::Presence(PresenceUpdate {
            jid: normalize_jid(&field("id")?),
            kind: field("type")?,
            last_seen: number(obj.get("t")).and_then(|t| u64::try_from(t).ok()),
            participant: field("participant").map(|p| normalize_jid(&p)),
        }),
        "Blocklist" => ChatEvent::Blocklist(
            obj.get("blocklist")?
                .as_array()?
                .iter()
                .filter_map(|v| v.as_str().map(normalize_jid))
                .collect(),
        ),
        "Status" => ChatEvent::StatusText {
            jid: normalize_jid(&field("id")?),
            status: field("status")?,
        },
        "Cmd" => map_cmd(obj)?,
        "Chat" if obj.get("cmd").and_then(Value::as_str) == Some("action") => {
            let data = obj.get("data")?.as_array()?;
            let payload = data.get(2).cloned().unwrap_or(Value::Null);
            ChatEvent::Group(GroupChange {
                gid: normalize_jid(&field("id")?),
                op: data.first()?.as_str()?.to_owned(),
                actor: text(data.get(1)).map(|a| normalize_jid(&a)),
                participants: payload
                    .get("participants")
                    .and_then(Value::as_array)
                    .map(|ps| {
                        ps.iter()
                            .filter_map(|p| p.as_str().map(normalize_jid))
                            .collect()
                    })
                    .unwrap_or_default(),
                subject: text(payload.get("subject")),
                description: text(payload.get("desc")),
                payload,
            })
        }
        "Contact" => ChatEvent::Contacts(vec![ContactInfo {
            jid: normalize_jid(&field("jid").or(field("id"))?),
            name: field("name"),
            notify: field("notify"),
            short: field("short"),
            vname: field("vname"),
        }]),
        _ => return None,
    })
}

/// What kind of content a message carries, looking through ephemeral and view-once wrappers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageKind {
    /// `conversation`.
    Text,
    /// `extendedTextMessage` (quotes, mentions, link previews).
    ExtendedText,
    /// `imageMessage`.
    Image,
    /// `videoMessage`.
    Video,
    /// `audioMessage` without `ptt`.
    Audio,
    /// `audioMessage` with `ptt` (voice note).
    VoiceNote,
    /// `documentMessage`.
    Document,
    /// `stickerMessage`.
    Sticker,
    /// `locationMessage`.
    Location,
    /// `liveLocationMessage`.
    LiveLocation,
    /// `contactMessage`.
    Contact,
    /// `contactsArrayMessage`.
    Contacts,
    /// `groupInviteMessage`.
    GroupInvite,
    /// `protocolMessage` REVOKE (delete for everyone).
    Revoke,
    /// `protocolMessage` EPHEMERAL_SETTING.
    EphemeralSetting,
    /// Anything else (or no content, e.g. a group notification stub).
    Other,
}

impl MessageKind {
    /// Classifies `message`.
    pub fn of(message: &Message) -> MessageKind {
        let m = message.content();
        if m.conversation.is_some() {
            MessageKind::Text
        } else if m.extended_text_message.is_some() {
            MessageKind::ExtendedText
        } else if m.image_message.is_some() {
            MessageKind::Image
        } else if m.video_message.is_some() {
            MessageKind::Video
        } else if let Some(a) = &m.audio_message {
            if a.ptt == Some(true) {
                MessageKind::VoiceNote
            } else {
                MessageKind::Audio
            }
        } else if m.document_message.is_some() {
            MessageKind::Document
        } else if m.sticker_message.is_some() {
            MessageKind::Sticker
        } else if m.location_message.is_some() {
            MessageKind::Location
        } else if m.live_location_message.is_some() {
            MessageKind::LiveLocation
        } else if m.contact_message.is_some() {
            MessageKind::Contact
        } else if m.contacts_array_message.is_some() {
            MessageKind::Contacts
        } else if m.group_invite_message.is_some() {
            MessageKind::GroupInvite
        } else if let Some(p) = &m.protocol_message {
            match p.r#type.unwrap_or(0) {
                0 => MessageKind::Revoke,
                3 => MessageKind::EphemeralSetting,
                _ => MessageKind::Other,
            }
        } else {
            MessageKind::Other
        }
    }
}

/// The key a revoke (`protocolMessage` REVOKE) deletes, if `message` is one.
pub fn revoked_key(message: &Message) -> Option<&MessageKey> {
    message
        .content()
        .protocol_message
        .as_ref()
        .filter(|p| p.r#type.unwrap_or(0) == 0)
        .and_then(|p| p.key.as_ref())
}
