//! What a session learns from the server's pushes (chat list, contacts, messages, acks,
//! presence), kept in WAHA's shapes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};
use wa_client::legacy::chat::{ChatEvent, MessageBatch, normalize_jid};
use wa_proto::proto::WebMessageInfo;

/// How many messages are kept per chat.
const MAX_MESSAGES_PER_CHAT: usize = 500;

/// A chat in the list.
#[derive(Clone, Debug, Default)]
pub struct Chat {
    /// Its JID (`…@c.us`, `…@g.us`).
    pub id: String,
    /// Its name, if any.
    pub name: Option<String>,
    /// Last activity (seconds).
    pub timestamp: u64,
    /// Unread messages.
    pub unread: u32,
    /// Archived.
    pub archived: bool,
}

/// A contact.
#[derive(Clone, Debug, Default)]
pub struct Contact {
    /// Its JID.
    pub id: String,
    /// Saved name.
    pub name: Option<String>,
    /// The name the contact chose.
    pub push_name: Option<String>,
    /// First name.
    pub short_name: Option<String>,
}

impl Contact {
    /// WAHA's contact object.
    pub fn to_json(&self) -> Value {
        let number = self.id.split('@').next().unwrap_or_default();
        json!({
            "id": self.id,
            "number": number,
            "name": self.name,
            "pushname": self.push_name,
            "shortName": self.short_name,
            "isMe": false,
            "isGroup": self.id.ends_with("@g.us"),
            "isUser": self.id.ends_with("@c.us"),
            "isMyContact": self.name.is_some(),
            "isBusiness": false,
            "isWAContact": true,
            "isBlocked": false,
        })
    }
}

/// Chats, contacts and recent messages of a session.
#[derive(Default, Debug)]
pub struct ChatData {
    /// Chats by JID.
    pub chats: BTreeMap<String, Chat>,
    /// Contacts by JID.
    pub contacts: BTreeMap<String, Contact>,
    /// Messages by chat, oldest first (WAHA message objects).
    pub messages: BTreeMap<String, Vec<Value>>,
    /// Who is typing where: chat → (participant, presence).
    pub presence: BTreeMap<String, (String, String)>,
    /// The session's name (for media URLs).
    pub session: String,
    /// Messages as received, by WAHA id.
    pub infos: HashMap<String, WebMessageInfo>,
    /// Media bytes we sent or downloaded, by WAHA id: (mimetype, bytes).
    pub media: HashMap<String, (String, Arc<Vec<u8>>)>,
    /// Chats whose history was asked of the server already.
    pub history_loaded: std::collections::HashSet<String>,
    /// Acks of our messages that arrived before the message was recorded (a delivery ack can
    /// overtake the send's own answer): (chat, id) → level, applied when it is recorded.
    pub early_acks: BTreeMap<(String, String), i64>,
}

/// How many early acks are remembered (acks of messages sent elsewhere are never claimed).
const MAX_EARLY_ACKS: usize = 1024;

/// WAHA's name of an ack number.
pub fn ack_name(ack: i64) -> &'static str {
    match ack {
        -1 => "ERROR",
        0 => "PENDING",
        1 => "SERVER",
        2 => "DEVICE",
        3 => "READ",
        4 => "PLAYED",
        _ => "UNKNOWN",
    }
}

/// WAHA's serialized message id: `true_<chat>_<id>` for our messages, `false_…` otherwise
/// (with `_<participant>` in groups).
pub fn serialized_id(from_me: bool, chat: &str, id: &str, participant: Option<&str>) -> String {
    match participant {
        Some(p) if !p.is_empty() => format!("{from_me}_{chat}_{id}_{p}"),
        _ => format!("{from_me}_{chat}_{id}"),
    }
}

/// The WAHA message object of a WebMessageInfo; `me` is our own JID.
pub fn message_json(info: &WebMessageInfo, me: Option<&str>, session: &str) -> Value {
    let key = &info.key;
    let chat = normalize_jid(key.remote_jid.as_deref().unwrap_or_default());
    let id = key.id.clone().unwrap_or_default();
    let from_me = key.from_me.unwrap_or(false);
    let participant = key
        .participant
        .clone()
        .or_else(|| info.participant.clone())
        .map(|p| normalize_jid(&p));
    let me = me.unwrap_or_default().to_owned();
    let (from, to) = if from_me {
        (me.clone(), chat.clone())
    } else {
        (chat.clone(), me.clone())
    };
    let message = info.message.as_ref().map(|m| m.content());
    let body = message
        .and_then(|m| m.text_content())
        .unwrap_or_default()
        .to_owned();
    let mut media = Value::Null;
    let mut kind = "chat";
    let mut location = Value::Null;
    let mut vcards = Vec::new();
    let mut reply_to = Value::Null;
    if let Some(m) = message {
        if let Some(image) = &m.image_message {
            kind = "image";
            media = json!({"mimetype": image.mimetype, "url": image.url});
        } else if let Some(video) = &m.video_message {
            kind = "video";
            media = json!({"mimetype": video.mimetype, "url": video.url});
        } else if let Some(audio) = &m.audio_message {
            kind = if audio.ptt == Some(true) {
                "ptt"
            } else {
                "audio"
            };
            media = json!({"mimetype": audio.mimetype, "url": audio.url});
        } else if let Some(document) = &m.document_message {
            kind = "document";
            media = json!({
                "mimetype": document.mimetype,
                "url": document.url,
                "filename": document.file_name,
            });
        } else if let Some(loc) = &m.location_message {
            kind = "location";
            location = json!({
                "latitude": loc.degrees_latitude,
                "longitude": loc.degrees_longitude,
                "name": loc.name,
                "address": loc.address,
            });
        } else if let Some(contact) = &m.contact_message {
            kind = "vcard";
            vcards.extend(contact.vcard.clone());
        } else if let Some(text) = &m.extended_text_message {
            if let Some(ctx) = &text.context_info {
                if let Some(stanza) = &ctx.stanza_id {
                    reply_to = json!({"id": stanza, "participant": ctx.participant});
                }
            }
        }
    }
    let ack = info.ack().map_or(if from_me { 0 } else { 2 }, i64::from);
    let waha_id = serialized_id(from_me, &chat, &id, participant.as_deref());
    if let Some(media) = media.as_object_mut() {
        // Served by this server (GET /api/files/...), downloaded and decrypted on demand.
        media.insert(
            "url".into(),
            json!(format!("/api/files/{session}/{waha_id}")),
        );
    }
    json!({
        "id": waha_id,
        "timestamp": info.message_timestamp.unwrap_or_default(),
        "from": from,
        "fromMe": from_me,
        "source": "app",
        "to": to,
        "participant": participant,
        "body": body,
        "hasMedia": !media.is_null(),
        "media": media,
        "type": kind,
        "ack": ack,
        "ackName": ack_name(ack),
        "location": location,
        "vCards": vcards,
        "replyTo": reply_to,
        "_data": {"key": {"remoteJid": chat, "fromMe": from_me, "id": id}, "pushName": info.push_name},
    })
}

impl ChatData {
    /// Records a message (replacing one with the same id); returns whether it is new.
    pub fn add_message(&mut self, chat: &str, message: Value, unread: bool) -> bool {
        let list = self.messages.entry(chat.to_owned()).or_default();
        let id = message.get("id").cloned();
        let timestamp = message
            .get("timestamp")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let mut message = message;
        // An ack that came first (already published) raises the message's state.
        let key = (
            chat.to_owned(),
            message
                .pointer("/_data/key/id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        );
        if message.get("fromMe") == Some(&Value::Bool(true)) {
            if let Some(early) = self.early_acks.remove(&key) {
                if message.get("ack").and_then(Value::as_i64).unwrap_or(0) < early {
                    message["ack"] = json!(early);
                    message["ackName"] = json!(ack_name(early));
                }
            }
        }
        if let Some(old) = list.iter_mut().find(|m| m.get("id") == id.as_ref()) {
            // A copy from history may be older than the acks seen since: keep the higher.
            let known = old.get("ack").and_then(Value::as_i64).unwrap_or(0);
            if message.get("ack").and_then(Value::as_i64).unwrap_or(0) < known {
                message["ack"] = json!(known);
                message["ackName"] = json!(ack_name(known));
            }
            *old = message;
            return false;
        }
        let at = list
            .iter()
            .rposition(|m| m.get("timestamp").and_then(Value::as_u64).unwrap_or(0) <= timestamp)
            .map_or(0, |i| i + 1);
        list.insert(at, message);
        if list.len() > MAX_MESSAGES_PER_CHAT {
            list.remove(0);
        }
        let chat_entry = self.chats.entry(chat.to_owned()).or_insert_with(|| Chat {
            id: chat.to_owned(),
            ..Chat::default()
        });
        chat_entry.timestamp = chat_entry.timestamp.max(timestamp);
        if unread {
            chat_entry.unread += 1;
        }
        true
    }

    /// Sets the ack of our message `id` in `chat` (only upwards); the updated message.
    pub fn set_ack(&mut self, chat: &str, id: &str, ack: i64) -> Option<Value> {
        let list = self.messages.get_mut(chat)?;
        let message = list.iter_mut().find(|m| {
            m.pointer("/_data/key/id").and_then(Value::as_str) == Some(id)
                && m.get("fromMe") == Some(&Value::Bool(true))
        })?;
        let old = message.get("ack").and_then(Value::as_i64).unwrap_or(0);
        if ack <= old && ack >= 0 {
            return None;
        }
        message["ack"] = json!(ack);
        message["ackName"] = json!(ack_name(ack));
        Some(message.clone())
    }

    /// An ack of our message `id` not recorded (yet): remembered for when it is, and, when it
    /// raises what was remembered, the fields of its `message.ack`.
    fn early_ack(&mut self, chat: &str, id: &str, ack: i64, me: Option<&str>) -> Option<Value> {
        let key = (chat.to_owned(), id.to_owned());
        let old = self.early_acks.get(&key).copied().unwrap_or(0);
        if ack <= old && ack >= 0 {
            return None;
        }
        if !self.early_acks.contains_key(&key) && self.early_acks.len() >= MAX_EARLY_ACKS {
            // Forget the oldest-keyed entry: bounded memory matters more than a stray ack.
            let first = self.early_acks.keys().next().cloned();
            if let Some(first) = first {
                self.early_acks.remove(&first);
            }
        }
        self.early_acks.insert(key, ack);
        Some(json!({
            "id": serialized_id(true, chat, id, None),
            "from": me.unwrap_or_default(),
            "to": chat,
        }))
    }

    /// The last message of a chat.
    pub fn last_message(&self, chat: &str) -> Option<&Value> {
        self.messages.get(chat).and_then(|list| list.last())
    }

    /// The display name of a JID: the chat's, the contact's, else the number.
    pub fn name_of(&self, jid: &str) -> String {
        self.chats
            .get(jid)
            .and_then(|c| c.name.clone())
            .or_else(|| {
                self.contacts
                    .get(jid)
                    .and_then(|c| c.name.clone().or_else(|| c.push_name.clone()))
            })
            .unwrap_or_else(|| jid.split('@').next().unwrap_or(jid).to_owned())
    }

    /// Learns from a messaging event; returns the events to publish (`(event, payload)`).
    pub fn apply(&mut self, event: &ChatEvent, me: Option<&str>) -> Vec<(&'static str, Value)> {
        let mut events = Vec::new();
        match event {
            ChatEvent::Chats(list) => {
                for chat in list {
                    let entry = self.chats.entry(chat.jid.clone()).or_default();
                    entry.id = chat.jid.clone();
                    if chat.name.is_some() {
                        entry.name = chat.name.clone();
                    }
                    entry.timestamp = entry.timestamp.max(chat.t);
                    entry.unread = u32::try_from(chat.count.max(0)).unwrap_or(u32::MAX);
                    entry.archived = chat.archive;
                }
            }
            ChatEvent::Contacts(list) => {
                for contact in list {
                    self.contacts.insert(
                        contact.jid.clone(),
                        Contact {
                            id: contact.jid.clone(),
                            name: contact.name.clone(),
                            push_name: contact.notify.clone(),
                            short_name: contact.short.clone(),
                        },
                    );
                }
            }
            ChatEvent::Messages {
                batch, messages, ..
            } => {
                let live = matches!(batch, MessageBatch::Relay);
                for info in messages {
                    let chat = normalize_jid(info.key.remote_jid.as_deref().unwrap_or_default());
                    if chat.is_empty() || chat == "status@broadcast" {
                        continue;
                    }
                    let from_me = info.key.from_me.unwrap_or(false);
                    let message = message_json(info, me, &self.session);
                    let new = self.add_info(&chat, info.clone(), message.clone(), live && !from_me);
                    if live && new {
                        if !from_me {
                            self.presence.remove(&chat);
                            events.push(("message", message.clone()));
                        }
                        events.push(("message.any", message));
                    }
                }
            }
            ChatEvent::Ack(ack) if ack.from_me => {
                let level = i64::from(ack.level.ack());
                let chat = normalize_jid(&ack.chat);
                for id in &ack.ids {
                    let known = self.messages.get(&chat).is_some_and(|list| {
                        list.iter().any(|m| {
                            m.pointer("/_data/key/id").and_then(Value::as_str) == Some(id)
                                && m.get("fromMe") == Some(&Value::Bool(true))
                        })
                    });
                    let changed = if known {
                        self.set_ack(&chat, id, level)
                    } else {
                        self.early_ack(&chat, id, level, me)
                    };
                    if let Some(message) = changed {
                        events.push((
                            "message.ack",
                            json!({
                                "id": message["id"],
                                "from": message["from"],
                                "to": message["to"],
                                "participant": ack.participant,
                                "fromMe": true,
                                "ack": level,
                                "ackName": ack_name(level),
                                "timestamp": ack.t,
                            }),
                        ));
                    }
                }
            }
            ChatEvent::Presence(presence) => {
                let participant = presence.participant.clone().unwrap_or(presence.jid.clone());
                let waha = match presence.kind.as_str() {
                    "composing" => "typing",
                    "recording" => "recording",
                    "available" => "online",
                    "paused" => "paused",
                    _ => "offline",
                };
                self.presence
                    .insert(presence.jid.clone(), (participant.clone(), waha.to_owned()));
                events.push((
                    "presence.update",
                    json!({
                        "id": presence.jid,
                        "presences": [{
                            "participant": participant,
                            "lastKnownPresence": waha,
                            "lastSeen": presence.last_seen,
                        }],
                    }),
                ));
            }
            ChatEvent::ReadState { jid, unread } => {
                if let Some(chat) = self.chats.get_mut(jid) {
                    chat.unread = u32::from(*unread);
                }
            }
            ChatEvent::Group(change) => {
                let group = json!({"id": change.gid, "subject": change.subject, "description": change.description});
                let participants: Vec<Value> = change
                    .participants
                    .iter()
                    .map(|p| json!({"id": p, "role": "participant"}))
                    .collect();
                let timestamp = json!(super::now_millis() / 1000);
                match change.op.as_str() {
                    "create" => {
                        let entry = self.chats.entry(change.gid.clone()).or_default();
                        entry.id = change.gid.clone();
                        entry.name = change.subject.clone();
                        events.push((
                            "group.v2.join",
                            json!({"group": group, "timestamp": timestamp}),
                        ));
                        events.push((
                            "group.join",
                            json!({"id": change.gid, "subject": change.subject}),
                        ));
                    }
                    "leave" => {
                        events.push((
                            "group.v2.leave",
                            json!({"group": {"id": change.gid}, "timestamp": timestamp}),
                        ));
                        events.push(("group.leave", json!({"id": change.gid})));
                    }
                    "add" | "remove" | "promote" | "demote" => {
                        events.push((
                            "group.v2.participants",
                            json!({"group": {"id": change.gid}, "type": change.op, "timestamp": timestamp, "participants": participants, "actor": change.actor}),
                        ));
                    }
                    "subject" | "desc_add" | "restrict" | "announce" => {
                        if change.op == "subject" {
                            if let Some(chat) = self.chats.get_mut(&change.gid) {
                                chat.name = change.subject.clone();
                            }
                        }
                        events.push(("group.v2.update", json!({"group": group, "timestamp": timestamp, "type": change.op, "actor": change.actor})));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        events
    }

    /// Records a message with its WebMessageInfo (kept for replies and media downloads).
    pub fn add_info(
        &mut self,
        chat: &str,
        info: WebMessageInfo,
        message: Value,
        unread: bool,
    ) -> bool {
        if let Some(id) = message.get("id").and_then(Value::as_str) {
            self.infos.insert(id.to_owned(), info);
        }
        self.add_message(chat, message, unread)
    }

    /// The WebMessageInfo of a message, by WAHA id or bare id.
    pub fn info(&self, id: &str) -> Option<&WebMessageInfo> {
        self.infos.get(id).or_else(|| {
            self.infos
                .values()
                .find(|info| info.key.id.as_deref() == Some(id))
        })
    }
}

#[cfg(test)]
mod tests {
    use wa_client::legacy::chat::{AckLevel, ChatInfo, MessageAck};
    use wa_proto::proto::{Message, MessageKey};

    use super::*;

    fn info(chat: &str, from_me: bool, id: &str, t: u64, text: &str) -> WebMessageInfo {
        WebMessageInfo {
            key: MessageKey::new(chat, from_me, id),
            message: Some(Message::text(text)),
            message_timestamp: Some(t),
            ..WebMessageInfo::default()
        }
    }

    fn relay(messages: Vec<WebMessageInfo>) -> ChatEvent {
        ChatEvent::Messages {
            batch: MessageBatch::Relay,
            last: false,
            messages,
        }
    }

    #[test]
    fn ids_follow_waha() {
        assert_eq!(
            serialized_id(true, "1@c.us", "ABC", None),
            "true_1@c.us_ABC"
        );
        assert_eq!(
            serialized_id(false, "1-2@g.us", "ABC", Some("3@c.us")),
            "false_1-2@g.us_ABC_3@c.us"
        );
    }

    #[test]
    fn live_messages_are_published_counted_and_ordered_history_is_not() {
        let mut data = ChatData {
            session: "s".into(),
            ..ChatData::default()
        };
        let me = Some("9@c.us");
        data.apply(
            &ChatEvent::Chats(vec![ChatInfo {
                jid: "1@c.us".into(),
                name: Some("One".into()),
                t: 5,
                count: 0,
                archive: false,
                read_only: false,
                pin: None,
                mute: None,
                spam: false,
            }]),
            me,
        );
        let history = ChatEvent::Messages {
            batch: MessageBatch::Last,
            last: true,
            messages: vec![info("1@s.whatsapp.net", false, "OLD", 10, "old")],
        };
        assert!(data.apply(&history, me).is_empty());
        let events = data.apply(&relay(vec![info("1@c.us", false, "NEW", 20, "new")]), me);
        let names: Vec<_> = events.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["message", "message.any"]);
        assert_eq!(events[0].1["from"], "1@c.us");
        assert_eq!(events[0].1["to"], "9@c.us");
        // The same message again (a duplicate delivery) is not new.
        assert!(
            data.apply(&relay(vec![info("1@c.us", false, "NEW", 20, "new")]), me)
                .is_empty()
        );
        let chat = &data.chats["1@c.us"];
        assert_eq!((chat.unread, chat.timestamp), (1, 20));
        // Oldest first, whatever the arrival order; @s.whatsapp.net normalised.
        let bodies: Vec<_> = data.messages["1@c.us"]
            .iter()
            .map(|m| m["body"].clone())
            .collect();
        assert_eq!(bodies, [json!("old"), json!("new")]);
        assert_eq!(data.name_of("1@c.us"), "One");
        assert_eq!(data.name_of("2@c.us"), "2");
    }

    #[test]
    fn acks_only_go_up_and_are_published_for_our_messages() {
        let mut data = ChatData::default();
        let mine = info("1@c.us", true, "M1", 10, "hi");
        let json = message_json(&mine, Some("9@c.us"), "s");
        data.add_info("1@c.us", mine, json, false);
        let ack = |level, from_me| {
            ChatEvent::Ack(MessageAck {
                ids: vec!["M1".into()],
                level,
                chat: "1@s.whatsapp.net".into(),
                from: None,
                participant: None,
                t: None,
                from_me,
            })
        };
        let events = data.apply(&ack(AckLevel::Read, true), None);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, "message.ack");
        assert_eq!(events[0].1["ackName"], "READ");
        assert_eq!(events[0].1["id"], "true_1@c.us_M1");
        // A late "delivered" does not undo "read".
        assert!(data.apply(&ack(AckLevel::Delivered, true), None).is_empty());
        assert_eq!(data.messages["1@c.us"][0]["ack"], 3);
        assert!(data.apply(&ack(AckLevel::Played, false), None).is_empty());
    }

    #[test]
    fn every_ack_applies_whatever_the_order_and_fires_once() {
        let ack = |level| {
            ChatEvent::Ack(MessageAck {
                ids: vec!["M2".into()],
                level,
                chat: "1@s.whatsapp.net".into(),
                from: None,
                participant: None,
                t: Some(11),
                from_me: true,
            })
        };
        // What the send route records once `send` returns: our message, acked by the server.
        let record = |data: &mut ChatData| {
            let mine = info("1@c.us", true, "M2", 10, "hi");
            let mut json = message_json(&mine, Some("9@c.us"), "s");
            json["ack"] = json!(1);
            json["ackName"] = json!(ack_name(1));
            data.add_info("1@c.us", mine, json, false);
        };
        // The delivered and read acks, with the send's own recording at every position among
        // them (and each ack delivered twice, as a resend may cause).
        for recorded_after in 0..=2 {
            let mut data = ChatData::default();
            let mut published = Vec::new();
            let acks = [AckLevel::Delivered, AckLevel::Read];
            for (i, level) in acks.into_iter().enumerate() {
                if i == recorded_after {
                    record(&mut data);
                }
                for _ in 0..2 {
                    for (name, payload) in data.apply(&ack(level), Some("9@c.us")) {
                        assert_eq!(name, "message.ack");
                        assert_eq!(payload["id"], "true_1@c.us_M2");
                        assert_eq!(payload["from"], "9@c.us");
                        assert_eq!(payload["to"], "1@c.us");
                        published.push(payload["ack"].as_i64().unwrap());
                    }
                }
            }
            if recorded_after == acks.len() {
                record(&mut data);
            }
            assert_eq!(published, [2, 3], "recorded after {recorded_after} acks");
            assert_eq!(data.messages["1@c.us"].len(), 1);
            assert_eq!(data.messages["1@c.us"][0]["ack"], 3, "{recorded_after}");
            assert_eq!(data.messages["1@c.us"][0]["ackName"], "READ");
            assert!(data.early_acks.is_empty());
        }
    }
}
