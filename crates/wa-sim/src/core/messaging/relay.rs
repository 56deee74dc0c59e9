//! A relayed message's way through the server: de-duplicated, stored, acked and routed to the
//! other accounts, group members or the echo contact, and the work scheduled after it (the
//! phones' receipts, the echo contact's steps). Its own file because it is the message path;
//! the rest of messaging serves actions and queries.

use serde_json::{Value, json};
use wa_binary::Node;
use wa_core::{Tag, Timestamp};
use wa_proto::{Message, MessageKey, Status, WebMessageInfo};

use super::{Task, bad, relay_node, secs};
use crate::core::{ConnId, Server, SimEvent};
use crate::error::RequestError;
use crate::store::{ECHO_JID, StoredMessage, normalize_jid, wire_jid};

impl Server {
    // ----- relay and routing ----------------------------------------------------------------

    pub(super) fn relay(
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

    pub(super) fn store_message(
        &mut self,
        account: usize,
        chat: &str,
        info: WebMessageInfo,
        unread: bool,
    ) {
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

    pub(crate) fn run_due_tasks(&mut self, now: Timestamp) {
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

    pub(super) fn run_task(&mut self, now: Timestamp, task: Task) {
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

    pub(super) fn new_message_id(&mut self) -> String {
        let mut bytes = [0u8; 16];
        rand::RngCore::fill_bytes(&mut self.rng, &mut bytes);
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }
}
