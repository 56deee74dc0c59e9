//! Messaging: relays, routing between accounts, the echo contact, receipts, chat and group
//! actions, and the queries answered from the store.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use wa_binary::Node;
use wa_core::{Tag, Timestamp};
use wa_proto::prost::Message as _;
use wa_proto::{Message, MessageKey, Status, WebMessageInfo};

use super::{Server, SimEvent};
use crate::core::ConnId;
use crate::error::RequestError;
use crate::store::{ECHO_JID, Group, Participant, StoredMessage, normalize_jid, wire_jid};

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

    // ----- relay and routing ----------------------------------------------------------------

    fn relay(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        tag: &Tag,
        node: &Node,
    ) -> Result<(), RequestError> {
        let account = self.account_index(conn)?;
        let bytes = node
            .child("message")
            .and_then(Node::content_bytes)
            .ok_or_else(|| bad("relay without a message"))?;
        let mut info =
            WebMessageInfo::decode_bytes(bytes).map_err(|e| bad(format!("relay: {e}")))?;
        let id = info
            .key
            .id
            .clone()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| bad("relayed message has no id"))?;
        let chat = info
            .key
            .remote_jid
            .as_deref()
            .map(normalize_jid)
            .filter(|j| j.contains('@'))
            .ok_or_else(|| bad("relayed message has no remoteJid"))?;
        if self.faults.defer_next_relays > 0 {
            // Busy: nothing stored or routed; the client must send it again later.
            self.faults.defer_next_relays -= 1;
            self.events.push_back(SimEvent::FaultInjected {
                conn,
                fault: "relay_deferred_503".into(),
            });
            self.send_status(conn, tag.clone(), 503);
            return Ok(());
        }
        let me = self.wid(account);
        if chat.ends_with("@g.us")
            && !self
                .groups
                .get(&chat)
                .is_some_and(|g| g.is_member(&me) && (!g.announce || g.is_admin(&me)))
        {
            // Not a member (or no such group), or an announce-only group and not an admin:
            // refused, nothing stored.
            self.send_status(conn, tag.clone(), 403);
            return Ok(());
        }
        let duplicate = self.stores[account]
            .chats
            .get(&chat)
            .and_then(|c| c.message(&id))
            .is_some_and(StoredMessage::from_me);
        if duplicate {
            // A resend (the client never saw the ack): ack again, deliver nothing.
            self.events.push_back(SimEvent::DuplicateRelay { conn, id });
            self.send_status(conn, tag.clone(), 200);
            return Ok(());
        }
        info.key.from_me = Some(true);
        info.key.remote_jid = Some(wire_jid(&chat));
        if info.message_timestamp.is_none() {
            info.message_timestamp = Some(secs(now));
        }
        info.status = Some(Status::ServerAck as i32);
        if chat.ends_with("@g.us") {
            info.participant = Some(wire_jid(&me));
        }
        self.apply_revoke(account, &chat, &info);
        self.store_message(account, &chat, info.clone(), false);
        self.events.push_back(SimEvent::Relayed {
            conn,
            from: me.clone(),
            to: chat.clone(),
            id: id.clone(),
        });
        if std::mem::take(&mut self.faults.drop_next_relay_ack) {
            self.events.push_back(SimEvent::FaultInjected {
                conn,
                fault: "drop_before_ack".into(),
            });
            self.close(conn);
        } else {
            self.send_status(conn, tag.clone(), 200);
        }
        self.route(account, &chat, &info, now);
        Ok(())
    }

    fn route(&mut self, account: usize, chat: &str, info: &WebMessageInfo, now: Timestamp) {
        let me = self.wid(account);
        let id = info.key.id.clone().unwrap_or_default();
        if Some(chat) == self.config.echo_jid.as_deref() {
            let d = self.config.echo_delay;
            let echo = chat.to_owned();
            let ack = |ack| Task::Ack {
                account,
                chat: echo.clone(),
                id: id.clone(),
                ack,
                by: echo.clone(),
            };
            self.schedule(now + d, ack(2));
            let content = info.message.clone().unwrap_or_default();
            if content.protocol_message.is_some() {
                return;
            }
            self.schedule(
                now + d * 2,
                Task::Presence {
                    account,
                    from: echo.clone(),
                    kind: "composing",
                },
            );
            self.schedule(now + d * 3, ack(3));
            let reply = match (content.content().conversation.is_some()
                || content.content().extended_text_message.is_some())
            .then(|| content.text_content())
            .flatten()
            {
                Some(text) => Message::text(text),
                None => content,
            };
            self.schedule(
                now + d * 4,
                Task::EchoReply {
                    account,
                    message: Box::new(reply),
                },
            );
            self.schedule(
                now + d * 4,
                Task::Presence {
                    account,
                    from: echo,
                    kind: "paused",
                },
            );
            return;
        }
        if chat.ends_with("@g.us") {
            let members: Vec<String> = self
                .groups
                .get(chat)
                .map(|g| g.participants.iter().map(|p| p.jid.clone()).collect())
                .unwrap_or_default();
            let mut delivered = false;
            for member in members.iter().filter(|m| **m != me) {
                if let Some(b) = self.account_by_jid(member) {
                    delivered |= self.deliver_incoming(b, chat, Some(&me), info);
                }
            }
            if delivered {
                self.run_task(
                    now,
                    Task::Ack {
                        account,
                        chat: chat.to_owned(),
                        id,
                        ack: 2,
                        by: chat.to_owned(),
                    },
                );
            }
            return;
        }
        if let Some(b) = self.account_by_jid(chat) {
            if self.deliver_incoming(b, &me, None, info) {
                // The recipient's phone is always online: delivered at once.
                self.run_task(
                    now,
                    Task::Ack {
                        account,
                        chat: chat.to_owned(),
                        id,
                        ack: 2,
                        by: chat.to_owned(),
                    },
                );
            }
        }
    }

    /// Stores an incoming copy in account `b`'s chat `chat` and pushes it to `b`'s clients.
    /// Returns false when `b` blocked the sender.
    fn deliver_incoming(
        &mut self,
        b: usize,
        chat: &str,
        participant: Option<&str>,
        info: &WebMessageInfo,
    ) -> bool {
        let sender = participant.unwrap_or(chat).to_owned();
        if self.stores[b].blocked.contains(&sender) {
            return false;
        }
        let mut incoming = info.clone();
        incoming.key = MessageKey {
            remote_jid: Some(wire_jid(chat)),
            from_me: Some(false),
            id: info.key.id.clone(),
            participant: participant.map(wire_jid),
        };
        incoming.participant = participant.map(wire_jid);
        incoming.status = Some(Status::DeliveryAck as i32);
        incoming.push_name = self
            .account_by_jid(&sender)
            .map(|a| self.stores[a].pushname.clone())
            .or_else(|| {
                (Some(sender.as_str()) == self.config.echo_jid.as_deref()).then(|| "Echo".into())
            });
        if let Some(message) = &incoming.message {
            self.apply_revoke(b, chat, &incoming);
            if message.protocol_message.is_some() {
                // Revokes are applied, not stored as messages.
                self.push_relay(b, &incoming);
                return true;
            }
        }
        self.store_message(b, chat, incoming.clone(), true);
        self.push_relay(b, &incoming);
        true
    }

    fn push_relay(&mut self, account: usize, info: &WebMessageInfo) {
        let node = relay_node(info);
        let twice = std::mem::take(&mut self.faults.duplicate_next_delivery);
        let delivered = self.push_node_to_account(account, &node);
        if !delivered {
            self.offline[account].push(node.clone());
        }
        if twice {
            self.events.push_back(SimEvent::FaultInjected {
                conn: ConnId(0),
                fault: "duplicate_delivery".into(),
            });
            if !self.push_node_to_account(account, &node) {
                self.offline[account].push(node);
            }
        }
    }

    fn store_message(&mut self, account: usize, chat: &str, info: WebMessageInfo, unread: bool) {
        let t = info.message_timestamp.unwrap_or_default();
        let name = self.chat_name(account, chat);
        let state = self.stores[account]
            .chats
            .entry(chat.to_owned())
            .or_default();
        if state.name.is_none() {
            state.name = name;
        }
        state.t = state.t.max(t);
        state.archive = false;
        if unread {
            state.count = state.count.max(0) + 1;
        }
        state.messages.push(StoredMessage {
            info,
            receipts: Default::default(),
        });
    }

    fn chat_name(&self, account: usize, chat: &str) -> Option<String> {
        if let Some(g) = self.groups.get(chat) {
            return Some(g.subject.clone());
        }
        if Some(chat) == self.config.echo_jid.as_deref() {
            return Some("Echo".into());
        }
        self.accounts
            .get(account)
            .and_then(|a| a.contacts.iter().find(|c| c.jid == chat))
            .and_then(|c| c.name.clone())
    }

    /// A `protocolMessage{type:REVOKE}` clears the revoked message's content.
    fn apply_revoke(&mut self, account: usize, chat: &str, info: &WebMessageInfo) {
        let Some(key) = info
            .message
            .as_ref()
            .and_then(|m| m.protocol_message.as_ref())
            .filter(|p| p.r#type.unwrap_or(0) == 0)
            .and_then(|p| p.key.as_ref())
        else {
            return;
        };
        let Some(id) = key.id.as_deref() else { return };
        if let Some(stored) = self.stores[account]
            .chats
            .get_mut(chat)
            .and_then(|c| c.messages.iter_mut().find(|m| m.id() == id))
        {
            stored.info.message = None;
            stored.info.message_stub_type = Some(1); // REVOKE
        }
    }

    pub(super) fn schedule(&mut self, at: Timestamp, task: Task) {
        self.tasks.push((at, task));
    }

    pub(super) fn run_due_tasks(&mut self, now: Timestamp) {
        while let Some(i) = self
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, (at, _))| *at <= now)
            .min_by_key(|(_, (at, _))| *at)
            .map(|(i, _)| i)
        {
            let (_, task) = self.tasks.remove(i);
            self.run_task(now, task);
        }
    }

    fn run_task(&mut self, now: Timestamp, task: Task) {
        match task {
            Task::Ack {
                account,
                chat,
                id,
                ack,
                by,
            } => {
                let Some(stored) = self.stores[account]
                    .chats
                    .get_mut(&chat)
                    .and_then(|c| c.messages.iter_mut().find(|m| m.id() == id && m.from_me()))
                else {
                    return;
                };
                let entry = stored.receipts.entry(by.clone()).or_insert((0, 0));
                if entry.0 >= ack {
                    return;
                }
                *entry = (ack, secs(now));
                let status = Status::from_ack(ack).map(|s| s as i32);
                if stored.info.status < status {
                    stored.info.status = status;
                }
                let me = self.wid(account);
                let mut body = json!({
                    "cmd": "ack", "id": id, "ack": ack, "from": me, "to": chat, "t": secs(now),
                });
                if chat.ends_with("@g.us") && by != chat {
                    body["participant"] = Value::String(by);
                }
                self.push_json_to_account(account, now, json!(["Msg", body]));
            }
            Task::Presence {
                account,
                from,
                kind,
            } => {
                self.push_json_to_account(
                    account,
                    now,
                    json!(["Presence", { "id": from, "type": kind }]),
                );
            }
            Task::EchoReply { account, message } => {
                let echo = self.config.echo_jid.clone().unwrap_or(ECHO_JID.into());
                let info = WebMessageInfo {
                    key: MessageKey::new(wire_jid(&echo), false, self.new_message_id()),
                    message: Some(*message),
                    message_timestamp: Some(secs(now)),
                    ..WebMessageInfo::default()
                };
                self.deliver_incoming(account, &echo, None, &info);
            }
        }
    }

    fn new_message_id(&mut self) -> String {
        let mut bytes = [0u8; 16];
        rand::RngCore::fill_bytes(&mut self.rng, &mut bytes);
        bytes.iter().map(|b| format!("{b:02X}")).collect()
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

    // ----- set actions ------------------------------------------------------------------------

    fn set_action(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        tag: &Tag,
        node: &Node,
    ) -> Result<(), RequestError> {
        let account = self.account_index(conn)?;
        let me = self.wid(account);
        let attr = |k: &str| node.attrs.get(k).map(str::to_owned);
        match node.tag.as_str() {
            "read" => {
                let chat = normalize_jid(&attr("jid").ok_or_else(|| bad("read without jid"))?);
                if attr("count").as_deref() == Some("-2") {
                    if let Some(c) = self.stores[account].chats.get_mut(&chat) {
                        c.count = -1;
                    }
                    return Ok(());
                }
                self.mark_read(account, &chat, 3, None, now);
                Ok(())
            }
            "received" => {
                let chat = normalize_jid(
                    &attr("from")
                        .or(attr("jid"))
                        .ok_or_else(|| bad("received without from"))?,
                );
                let ack = match attr("type").as_deref() {
                    Some("played") => 4,
                    Some("read") => 3,
                    _ => 2,
                };
                self.mark_read(account, &chat, ack, attr("index"), now);
                Ok(())
            }
            "presence" => {
                let kind = attr("type").unwrap_or_else(|| "available".into());
                if let Some(to) = attr("to").map(|t| normalize_jid(&t)) {
                    if let Some(b) = self.account_by_jid(&to) {
                        self.push_json_to_account(
                            b,
                            now,
                            json!(["Presence", { "id": me, "type": kind }]),
                        );
                    }
                } else {
                    // Accounts subscribed to this one hear of it.
                    let subscribers: Vec<usize> = (0..self.stores.len())
                        .filter(|b| *b != account && self.stores[*b].subscriptions.contains(&me))
                        .collect();
                    let mut presence = json!({ "id": me, "type": kind });
                    if kind == "unavailable" {
                        presence["t"] = json!(secs(now));
                    }
                    for b in subscribers {
                        self.push_json_to_account(b, now, json!(["Presence", presence.clone()]));
                    }
                    self.stores[account].presence = kind;
                }
                Ok(())
            }
            "chat" => self.chat_action(account, node),
            "block" => {
                let add = attr("type").as_deref() != Some("remove");
                for user in node.children_named("user") {
                    if let Some(jid) = user.attrs.get("jid").map(normalize_jid) {
                        if add {
                            self.stores[account].blocked.insert(jid);
                        } else {
                            self.stores[account].blocked.remove(&jid);
                        }
                    }
                }
                let list: Vec<String> = self.stores[account].blocked.iter().cloned().collect();
                self.push_json_to_account(
                    account,
                    now,
                    json!(["Blocklist", { "id": 1, "blocklist": list }]),
                );
                Ok(())
            }
            "profile" => {
                let name = attr("name").ok_or_else(|| bad("profile without name"))?;
                self.stores[account].pushname = name.clone();
                // Baileys 3.5.3 takes the new name from the answer.
                self.send_json(
                    conn,
                    tag.clone(),
                    json!({ "status": 200, "pushname": name }),
                );
                self.push_json_to_account(account, now, json!(["Conn", { "pushname": name }]));
                Ok(())
            }
            "status" => {
                let text = node
                    .content_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .or_else(|| node.content_str().map(str::to_owned))
                    .ok_or_else(|| bad("status without text"))?;
                self.stores[account].status = text.clone();
                self.push_json_to_account(
                    account,
                    now,
                    json!(["Status", { "id": me, "status": text }]),
                );
                Ok(())
            }
            "picture" => {
                let set = attr("type").as_deref() != Some("delete");
                let image = node.child("image").and_then(Node::content_bytes);
                self.stores[account].picture = if set { image.map(<[u8]>::to_vec) } else { None };
                let body = match self.picture_url(&me) {
                    Some(url) => json!({ "status": 200, "eurl": url, "tag": "1" }),
                    None => json!({ "status": 200 }),
                };
                self.send_json(conn, tag.clone(), body);
                // Whoever has this account as a contact (or a chat with it) hears to query again.
                let mut change = json!({ "type": "picture", "jid": me });
                if set {
                    change["tag"] = json!(secs(now).to_string());
                }
                for other in self.accounts_knowing(&me) {
                    self.push_json_to_account(other, now, json!(["Cmd", change.clone()]));
                }
                Ok(())
            }
            "group" => {
                let body = self.group_action(account, now, node)?;
                self.send_json(conn, tag.clone(), body);
                Ok(())
            }
            other => Err(RequestError::UnknownCommand(format!("set {other}"))),
        }
    }

    /// The account read (ack 3) or played (4) incoming messages in `chat` (all unread ones, or
    /// `index` only); their senders are told.
    fn mark_read(
        &mut self,
        account: usize,
        chat: &str,
        ack: i8,
        index: Option<String>,
        now: Timestamp,
    ) {
        let me = self.wid(account);
        let mut acks = Vec::new();
        if let Some(state) = self.stores[account].chats.get_mut(chat) {
            if index.is_none() {
                state.count = 0;
            }
            for m in state.messages.iter_mut().filter(|m| !m.from_me()) {
                if index.as_deref().is_some_and(|i| i != m.id()) {
                    continue;
                }
                let entry = m.receipts.entry(me.clone()).or_insert((2, 0));
                if entry.0 >= ack {
                    continue;
                }
                *entry = (ack, secs(now));
                let sender = m
                    .info
                    .key
                    .participant
                    .as_deref()
                    .map_or_else(|| chat.to_owned(), normalize_jid);
                acks.push((sender, m.id().to_owned()));
            }
        }
        for (sender, id) in acks {
            if let Some(s) = self.account_by_jid(&sender) {
                let their_chat = if chat.ends_with("@g.us") {
                    chat.to_owned()
                } else {
                    me.clone()
                };
                self.run_task(
                    now,
                    Task::Ack {
                        account: s,
                        chat: their_chat,
                        id,
                        ack,
                        by: me.clone(),
                    },
                );
            }
        }
    }

    fn chat_action(&mut self, account: usize, node: &Node) -> Result<(), RequestError> {
        let attr = |k: &str| node.attrs.get(k).map(str::to_owned);
        let chat = normalize_jid(&attr("jid").ok_or_else(|| bad("chat action without jid"))?);
        let kind = attr("type").ok_or_else(|| bad("chat action without type"))?;
        let items: Vec<String> = node
            .children_named("item")
            .filter_map(|i| i.attrs.get("index").map(str::to_owned))
            .collect();
        let store = &mut self.stores[account];
        if kind == "delete" {
            store.chats.remove(&chat);
            return Ok(());
        }
        let state = store.chats.entry(chat).or_default();
        let number = |k: &str| attr(k).and_then(|v| v.parse::<u64>().ok());
        match kind.as_str() {
            "archive" => state.archive = true,
            "unarchive" => state.archive = false,
            // Clients unpin/unmute with type pin/mute, `previous` and no new value.
            "pin" => state.pin = number("pin"),
            "unpin" => state.pin = None,
            "mute" => state.mute = number("mute"),
            "unmute" => state.mute = None,
            "star" => state.starred.extend(items),
            "unstar" => {
                for i in &items {
                    state.starred.remove(i);
                }
            }
            "clear" if items.is_empty() => state.messages.clear(),
            "clear" => state
                .messages
                .retain(|m| !items.iter().any(|i| i == m.id())),
            "spam" | "read" => {}
            other => return Err(bad(format!("chat action {other:?}"))),
        }
        Ok(())
    }

    // ----- groups -------------------------------------------------------------------------------

    fn group_action(
        &mut self,
        account: usize,
        now: Timestamp,
        node: &Node,
    ) -> Result<Value, RequestError> {
        let me = self.wid(account);
        let attr = |k: &str| node.attrs.get(k).map(str::to_owned);
        let kind = attr("type").ok_or_else(|| bad("group action without type"))?;
        let jids: Vec<String> = node
            .children_named("participant")
            .filter_map(|p| p.attrs.get("jid").map(normalize_jid))
            .collect();
        if kind == "create" {
            let subject = attr("subject").unwrap_or_default();
            let mut creation = secs(now);
            while self
                .groups
                .contains_key(&format!("{}-{creation}@g.us", number_of(&me)))
            {
                creation += 1;
            }
            let id = format!("{}-{creation}@g.us", number_of(&me));
            let mut participants = vec![Participant {
                jid: me.clone(),
                admin: true,
                super_admin: true,
            }];
            participants.extend(jids.iter().filter(|j| **j != me).map(|j| Participant {
                jid: j.clone(),
                admin: false,
                super_admin: false,
            }));
            let code = self.new_invite_code();
            self.groups.insert(
                id.clone(),
                Group {
                    id: id.clone(),
                    owner: me.clone(),
                    subject: subject.clone(),
                    creation,
                    subject_time: creation,
                    subject_owner: me.clone(),
                    desc: None,
                    desc_id: None,
                    desc_owner: None,
                    restrict: false,
                    announce: false,
                    participants,
                    invite_code: code,
                },
            );
            self.group_joined(&id, now);
            self.group_stub(&id, &me, 20, vec![subject], &[], now);
            let results: serde_json::Map<String, Value> = jids
                .iter()
                .map(|j| (wire_jid(j), json!({ "code": "200" })))
                .collect();
            return Ok(json!({ "status": 200, "gid": id, "participants": [results] }));
        }
        let gid = attr("jid").ok_or_else(|| bad("group action without jid"))?;
        let Some(group) = self.groups.get_mut(&gid) else {
            return Ok(json!({ "status": 404 }));
        };
        if !group.is_member(&me) {
            return Ok(json!({ "status": 401 }));
        }
        let admin = group.is_admin(&me);
        let open_to_members = kind == "leave"
            || (matches!(kind.as_str(), "subject" | "description") && !group.restrict);
        let needs_admin = !open_to_members;
        if needs_admin && !admin {
            return Ok(json!({ "status": 401 }));
        }
        let mut changed = Vec::new();
        match kind.as_str() {
            "subject" => {
                group.subject = attr("subject").unwrap_or_default();
                group.subject_time = secs(now);
                group.subject_owner = me.clone();
            }
            "description" => {
                let d = node.child("description");
                group.desc = d
                    .and_then(Node::content_bytes)
                    .map(|b| String::from_utf8_lossy(b).into_owned());
                group.desc_id = d.and_then(|d| d.attrs.get("id").map(str::to_owned));
                group.desc_owner = Some(me.clone());
            }
            "add" => {
                for j in &jids {
                    if !group.is_member(j) {
                        group.participants.push(Participant {
                            jid: j.clone(),
                            admin: false,
                            super_admin: false,
                        });
                        changed.push(j.clone());
                    }
                }
            }
            "remove" => {
                group.participants.retain(|p| !jids.contains(&p.jid));
                changed = jids.clone();
            }
            "promote" | "demote" => {
                for p in group
                    .participants
                    .iter_mut()
                    .filter(|p| jids.contains(&p.jid))
                {
                    p.admin = kind == "promote";
                }
                changed = jids.clone();
            }
            "leave" => {
                group.participants.retain(|p| p.jid != me);
            }
            "prop" => {
                for child in node.child_nodes() {
                    let on = child.attrs.get("value") == Some("true");
                    match child.tag.as_str() {
                        "announcement" => group.announce = on,
                        "locked" => group.restrict = on,
                        _ => continue,
                    }
                    // Announced as GROUP_CHANGE_ANNOUNCE / GROUP_CHANGE_RESTRICT stubs below.
                    changed.push(format!("{}={}", child.tag, if on { "on" } else { "off" }));
                }
            }
            other => return Err(bad(format!("group action {other:?}"))),
        }
        let subject = group.subject.clone();
        if kind == "leave" {
            if let Some(c) = self.stores[account].chats.get_mut(&gid) {
                c.read_only = true;
            }
        }
        if kind == "subject" {
            for a in 0..self.stores.len() {
                if let Some(c) = self.stores[a].chats.get_mut(&gid) {
                    c.name = Some(subject.clone());
                }
            }
        }
        if kind == "add" {
            self.group_joined(&gid, now);
        }
        // Members (and whoever just left or was removed) learn of the change as a stub
        // message; promotions also come as a `Chat` action, which is what Baileys listens to.
        let (stub, params): (i32, Vec<String>) = match kind.as_str() {
            "subject" => (21, vec![subject]),
            "description" => (24, Vec::new()),
            "add" => (27, changed.iter().map(|j| wire_jid(j)).collect()),
            "remove" => (28, changed.iter().map(|j| wire_jid(j)).collect()),
            "promote" => (29, changed.iter().map(|j| wire_jid(j)).collect()),
            "demote" => (30, changed.iter().map(|j| wire_jid(j)).collect()),
            "leave" => (32, vec![wire_jid(&me)]),
            _ => (0, Vec::new()),
        };
        // Each setting change is its own stub, with "on"/"off" as its parameter.
        if kind == "prop" {
            for setting in &changed {
                let (name, value) = setting.split_once('=').unwrap_or((setting, "off"));
                let stub = if name == "announcement" { 26 } else { 25 };
                self.group_stub(&gid, &me, stub, vec![value.to_owned()], &[], now);
            }
        }
        let gone: Vec<String> = match kind.as_str() {
            "remove" => changed.clone(),
            "leave" => vec![me.clone()],
            _ => Vec::new(),
        };
        if stub != 0 {
            self.group_stub(&gid, &me, stub, params, &gone, now);
        }
        if matches!(kind.as_str(), "promote" | "demote") {
            let members = self.member_accounts(&gid, &[]);
            let body = json!(["Chat", { "id": gid, "cmd": "action",
                "data": [kind, me, { "participants": changed }] }]);
            for a in members {
                self.push_json_to_account(a, now, body.clone());
            }
        }
        let results: serde_json::Map<String, Value> = changed
            .iter()
            .filter(|_| kind != "prop")
            .map(|j| (wire_jid(j), json!({ "code": "200" })))
            .collect();
        Ok(json!({ "status": 200, "participants": [results] }))
    }

    /// The accounts among the members of `gid`, plus `extra` JIDs that are accounts.
    fn member_accounts(&self, gid: &str, extra: &[String]) -> Vec<usize> {
        let mut accounts: Vec<usize> = self
            .groups
            .get(gid)
            .map(|g| {
                g.participants
                    .iter()
                    .map(|p| p.jid.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .iter()
            .chain(extra)
            .filter_map(|j| self.account_by_jid(j))
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        accounts
    }

    /// A group notification (`messageStubType` with its parameters, sent by `actor`) stored in
    /// and pushed to every member account, and to `extra` (members who just left).
    fn group_stub(
        &mut self,
        gid: &str,
        actor: &str,
        stub: i32,
        params: Vec<String>,
        extra: &[String],
        now: Timestamp,
    ) {
        let id = self.new_message_id();
        for a in self.member_accounts(gid, extra) {
            let from_me = self.wid(a) == actor;
            let info = WebMessageInfo {
                key: MessageKey {
                    remote_jid: Some(gid.to_owned()),
                    from_me: Some(from_me),
                    id: Some(id.clone()),
                    participant: Some(wire_jid(actor)),
                },
                participant: Some(wire_jid(actor)),
                message_timestamp: Some(secs(now)),
                message_stub_type: Some(stub),
                message_stub_parameters: params.clone(),
                ..WebMessageInfo::default()
            };
            self.store_message(a, gid, info.clone(), false);
            let node = relay_node(&info);
            if !self.push_node_to_account(a, &node) {
                self.offline[a].push(node);
            }
        }
    }

    /// Every member account gets the group's chat.
    fn group_joined(&mut self, gid: &str, now: Timestamp) {
        let Some(group) = self.groups.get(gid).cloned() else {
            return;
        };
        for p in &group.participants {
            if let Some(a) = self.account_by_jid(&p.jid) {
                let chat = self.stores[a].chats.entry(gid.to_owned()).or_default();
                chat.name = Some(group.subject.clone());
                chat.read_only = false;
                chat.t = chat.t.max(secs(now));
            }
        }
    }

    fn new_invite_code(&mut self) -> String {
        let mut bytes = [0u8; 16];
        rand::RngCore::fill_bytes(&mut self.rng, &mut bytes);
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
    }

    /// Group `gid` as `me` may read it: 404 when there is no such group, 401 when `me` is not
    /// a member (both group queries answer so).
    fn readable_group(&self, gid: &str, me: &str) -> Result<&Group, u16> {
        match self.groups.get(gid) {
            Some(g) if g.is_member(me) => Ok(g),
            Some(_) => Err(401),
            None => Err(404),
        }
    }

    fn group_metadata_json(&self, gid: &str) -> Value {
        let Some(g) = self.groups.get(gid) else {
            return json!({ "status": 404 });
        };
        json!({
            "id": g.id,
            "owner": g.owner,
            "subject": g.subject,
            "creation": g.creation,
            "subjectTime": g.subject_time,
            "subjectOwner": g.subject_owner,
            "desc": g.desc,
            "descId": g.desc_id,
            "descOwner": g.desc_owner,
            "restrict": g.restrict.to_string(),
            "announce": g.announce.to_string(),
            "participants": g.participants.iter().map(|p| json!({
                "id": p.jid, "isAdmin": p.admin, "isSuperAdmin": p.super_admin,
            })).collect::<Vec<_>>(),
        })
    }

    // ----- JSON requests ----------------------------------------------------------------------

    /// JSON queries and actions about messaging; `None` when `kind` is not one of them.
    pub(super) fn messaging_json(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        verb: &str,
        kind: &str,
        items: &[Value],
    ) -> Result<Option<Value>, RequestError> {
        let account = self.account_index(conn)?;
        let me = self.wid(account);
        let arg = |i: usize| items.get(i).and_then(Value::as_str);
        let body = match (verb, kind) {
            ("query", "GroupMetadata") => {
                let gid = arg(2).ok_or_else(|| bad("GroupMetadata needs a jid"))?;
                match self.readable_group(gid, &me) {
                    Ok(_) => self.group_metadata_json(gid),
                    Err(status) => json!({ "status": status }),
                }
            }
            ("query", "mediaConn") => {
                let host = self
                    .config
                    .media_host
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1".into());
                json!({ "status": 200, "media_conn": {
                    "auth": self.media.auth, "auth_ttl": 21600, "ttl": 300,
                    "hosts": [{ "hostname": host }],
                    "sim_scheme": self.config.media_scheme,
                }})
            }
            ("query", "inviteCode") => {
                let gid = arg(2).ok_or_else(|| bad("inviteCode needs a jid"))?;
                match self.groups.get(gid) {
                    Some(g) if g.is_admin(&me) => json!({ "status": 200, "code": g.invite_code }),
                    Some(_) => json!({ "status": 401 }),
                    None => json!({ "status": 404 }),
                }
            }
            ("action", "inviteReset") => {
                let gid = arg(2).ok_or_else(|| bad("inviteReset needs a jid"))?;
                let code = self.new_invite_code();
                match self.groups.get_mut(gid) {
                    Some(g) if g.is_admin(&me) => {
                        g.invite_code = code.clone();
                        json!({ "status": 200, "code": code })
                    }
                    Some(_) => json!({ "status": 401 }),
                    None => json!({ "status": 404 }),
                }
            }
            ("action", "invite") => {
                let code = arg(2).ok_or_else(|| bad("invite needs a code"))?;
                let gid = self
                    .groups
                    .values()
                    .find(|g| g.invite_code == code)
                    .map(|g| g.id.clone());
                match gid {
                    Some(gid) => {
                        if let Some(g) = self.groups.get_mut(&gid) {
                            if !g.is_member(&me) {
                                g.participants.push(Participant {
                                    jid: me.clone(),
                                    admin: false,
                                    super_admin: false,
                                });
                            }
                        }
                        self.group_joined(&gid, now);
                        json!({ "status": 200, "gid": gid })
                    }
                    None => json!({ "status": 404 }),
                }
            }
            ("action", "presence") if arg(2) == Some("subscribe") => {
                let jid = normalize_jid(arg(3).ok_or_else(|| bad("subscribe needs a jid"))?);
                self.stores[account].subscriptions.insert(jid.clone());
                let online = Some(jid.as_str()) == self.config.echo_jid.as_deref()
                    || self.account_by_jid(&jid).is_some_and(|b| {
                        !self.account_conns(b).is_empty()
                            && self.stores[b].presence != "unavailable"
                    });
                let presence = if online {
                    json!({ "id": jid, "type": "available" })
                } else {
                    json!({ "id": jid, "type": "unavailable", "t": secs(now) })
                };
                self.push_json_to_account(account, now, json!(["Presence", presence]));
                json!({ "status": 200 })
            }
            ("action", "encr_upload") => {
                let kind = arg(2).ok_or_else(|| bad("encr_upload needs a type"))?;
                let hash = arg(3).ok_or_else(|| bad("encr_upload needs a hash"))?;
                let token = hash
                    .trim_end_matches('=')
                    .replace('+', "-")
                    .replace('/', "_");
                let url = format!(
                    "{}://{}/mms/upload/{kind}/{token}?auth={}",
                    self.config.media_scheme,
                    self.config.media_host.as_deref().unwrap_or("127.0.0.1"),
                    self.media.auth
                );
                json!({ "status": 200, "url": url })
            }
            _ => return Ok(None),
        };
        Ok(Some(body))
    }

    // ----- binary queries ---------------------------------------------------------------------

    fn binary_query(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        tag: &Tag,
        kind: &str,
        node: &Node,
    ) -> Result<(), RequestError> {
        let account = self.account_index(conn)?;
        let attr = |k: &str| node.attrs.get(k).map(str::to_owned);
        let response = match kind {
            "chat" => self.chats_node(account),
            "contacts" => crate::nodes::contacts_response(&self.accounts[account]),
            "message" => {
                let chat = normalize_jid(&attr("jid").ok_or_else(|| bad("message query jid"))?);
                let count = attr("count")
                    .and_then(|c| c.parse::<usize>().ok())
                    .unwrap_or(20)
                    .min(1000);
                let after = attr("kind").as_deref() == Some("after");
                let messages = self.stores[account]
                    .chats
                    .get(&chat)
                    .map(|c| c.messages.as_slice())
                    .unwrap_or_default();
                let index = attr("index").and_then(|i| messages.iter().position(|m| m.id() == i));
                let (page, last) = if after {
                    let start = index.map_or(0, |i| i + 1);
                    let end = (start + count).min(messages.len());
                    (
                        messages.get(start..end).unwrap_or_default(),
                        end >= messages.len(),
                    )
                } else {
                    let end = index.unwrap_or(messages.len());
                    let start = end.saturating_sub(count);
                    (messages.get(start..end).unwrap_or_default(), start == 0)
                };
                Node::new("response")
                    .attr("type", "message")
                    .attr_opt("last", last.then_some("true"))
                    .children(
                        page.iter()
                            .map(|m| Node::new("message").bytes(m.info.encode_to_vec())),
                    )
            }
            "message_info" => {
                let chat = normalize_jid(&attr("jid").ok_or_else(|| bad("message_info jid"))?);
                let id = attr("index").ok_or_else(|| bad("message_info index"))?;
                let Some(stored) = self.stores[account]
                    .chats
                    .get(&chat)
                    .and_then(|c| c.message(&id))
                else {
                    self.send_status(conn, tag.clone(), 404);
                    return Ok(());
                };
                let list = |min: i8, exact: bool| {
                    stored
                        .receipts
                        .iter()
                        .filter(|(_, (ack, _))| if exact { *ack == min } else { *ack >= min })
                        .map(|(jid, (_, t))| Node::new("user").attr("jid", jid).attr("t", t))
                        .collect::<Vec<_>>()
                };
                Node::new("response")
                    .attr("type", "message_info")
                    .attr("count", stored.receipts.len())
                    .children([
                        Node::new("played").children(list(4, true)),
                        Node::new("read").children(list(3, false)),
                        Node::new("delivery").children(list(2, false)),
                    ])
            }
            "media" => {
                let chat = normalize_jid(&attr("jid").ok_or_else(|| bad("media query jid"))?);
                let id = attr("index").ok_or_else(|| bad("media query index"))?;
                let message = self.stores[account]
                    .chats
                    .get(&chat)
                    .and_then(|c| c.message(&id))
                    .and_then(|m| m.info.message.as_ref());
                // The real answer also names the media key (base64), for a client that lost it.
                let key = message.and_then(media_key).map(|k| BASE64.encode(k));
                let blob = message
                    .and_then(media_url)
                    .and_then(|url| self.media.blob_of_url(url));
                let path = blob.and_then(|b| self.media.issue_path(&b, now));
                match path {
                    Some(path) => {
                        let url = self.media_url_for(&path);
                        let node = Node::new("media").attr("code", "200").attr("url", url);
                        match key {
                            Some(key) => node.attr("media_key", key),
                            None => node,
                        }
                    }
                    None => {
                        self.send_status(conn, tag.clone(), 404);
                        return Ok(());
                    }
                }
            }
            "search" => {
                let needle = attr("search").unwrap_or_default().to_lowercase();
                let count = attr("count")
                    .and_then(|c| c.parse::<usize>().ok())
                    .unwrap_or(20)
                    .clamp(1, 1000);
                let page = attr("page")
                    .and_then(|c| c.parse::<usize>().ok())
                    .unwrap_or(1)
                    .max(1);
                let only = attr("jid").map(|j| normalize_jid(&j));
                let mut hits: Vec<&StoredMessage> = self.stores[account]
                    .chats
                    .iter()
                    .filter(|(jid, _)| only.as_ref().is_none_or(|o| o == *jid))
                    .flat_map(|(_, c)| c.messages.iter())
                    .filter(|m| {
                        m.info
                            .message
                            .as_ref()
                            .and_then(Message::text_content)
                            .is_some_and(|t| t.to_lowercase().contains(&needle))
                    })
                    .collect();
                hits.sort_by_key(|m| std::cmp::Reverse(m.info.message_timestamp));
                let start = (page - 1).saturating_mul(count);
                let last = start.saturating_add(count) >= hits.len();
                Node::new("response")
                    .attr("type", "search")
                    .attr("last", last)
                    .children(
                        hits.iter()
                            .skip(start)
                            .take(count)
                            .map(|m| Node::new("message").bytes(m.info.encode_to_vec())),
                    )
            }
            "group" => {
                let gid = attr("jid").ok_or_else(|| bad("group query jid"))?;
                let g = match self.readable_group(&gid, &self.wid(account)) {
                    Ok(g) => g,
                    Err(status) => {
                        self.send_status(conn, tag.clone(), status);
                        return Ok(());
                    }
                };
                let mut children: Vec<Node> = g
                    .participants
                    .iter()
                    .map(|p| {
                        Node::new("participant")
                            .attr("jid", &p.jid)
                            .attr_opt("type", p.admin.then_some("admin"))
                    })
                    .collect();
                if let Some(desc) = &g.desc {
                    children.push(Node::new("description").bytes(desc.as_bytes().to_vec()));
                }
                Node::new("response")
                    .attr("type", "group")
                    .children([Node::new("group")
                        .attr("jid", &g.id)
                        .attr("creator", &g.owner)
                        .attr("create", g.creation)
                        .attr("subject", &g.subject)
                        .children(children)])
            }
            "status" | "quick_reply" | "label" | "emoji" => Node::new("response")
                .attr("type", kind)
                .children(Vec::new()),
            other => {
                return Err(RequestError::UnknownCommand(format!(
                    "binary query {other}"
                )));
            }
        };
        self.send_node(conn, tag.clone(), &response);
        Ok(())
    }

    /// `response type=chat` from the account's store.
    pub(super) fn chats_node(&self, account: usize) -> Node {
        let mut chats: Vec<_> = self.stores[account].chats.iter().collect();
        chats.sort_by_key(|(_, c)| std::cmp::Reverse(c.t));
        Node::new("response")
            .attr("type", "chat")
            .children(chats.into_iter().map(|(jid, c)| {
                Node::new("chat")
                    .attr("jid", jid)
                    .attr("t", c.t)
                    .attr("count", c.count)
                    .attr_opt("name", c.name.as_ref())
                    .attr_opt("archive", c.archive.then_some("true"))
                    .attr_opt("read_only", c.read_only.then_some("true"))
                    .attr_opt("pin", c.pin)
                    .attr("spam", "false")
                    .attr("mute", c.mute.unwrap_or(0))
            }))
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
