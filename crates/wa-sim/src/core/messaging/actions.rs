//! `action type=set` children: read marks and receipts, presence, chat actions (archive, pin,
//! mute, star, clear, spam...), blocking, profile name and status, and pictures; group actions
//! are handed to `groups`. Its own file because each changes one account's store and tells the
//! account's connections.

use serde_json::json;
use wa_binary::Node;
use wa_core::{Tag, Timestamp};

use super::{Task, bad, secs};
use crate::core::{ConnId, Server};
use crate::error::RequestError;
use crate::store::normalize_jid;

impl Server {
    // ----- set actions ------------------------------------------------------------------------

    pub(super) fn set_action(
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
}
