//! Messaging on a running [`Client`]: send (through the persistent outbox), receipts,
//! presence, chat operations, profile, groups, queries and media.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore as _;
use serde_json::Value;
use wa_binary::Node;
use wa_core::chat::compose::{self, MediaKind, MediaOptions, UploadedMedia};
use wa_core::chat::reply::{self, MessageInfo};
use wa_core::chat::request::{self, ChatOp, Direction, GroupOp, Presence, Request};
use wa_core::chat::{self, AckLevel, incoming};
use wa_media::http::{MediaConn, MediaLocation, UploadBody};
use wa_media::{Expected, MediaKey};
use wa_proto::{Message, MessageKey, WebMessageInfo};

use super::driver::{Command, Reply};
use super::{Client, ClientError};

/// A message the server accepted.
#[derive(Clone, Debug, PartialEq)]
pub struct SentMessage {
    /// Its id.
    pub id: String,
    /// What was relayed.
    pub info: WebMessageInfo,
    /// Its state when `send` returned ([`AckLevel::ServerAck`]; later acks arrive as
    /// `ChatEvent::Ack`).
    pub status: AckLevel,
}

impl SentMessage {
    /// The message's key (to quote, revoke, star...).
    pub fn key(&self) -> &MessageKey {
        &self.info.key
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The string `key` of a JSON reply to `request`.
fn string_field(body: &Value, key: &str, request: &'static str) -> Result<String, ClientError> {
    body.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| unexpected(request, body))
}

fn unexpected(request: &'static str, reply: &impl std::fmt::Debug) -> ClientError {
    let mut text = format!("{reply:?}");
    // The reply comes from the network: cut on a char boundary, `truncate` panics inside one.
    let mut cut = text.len().min(300);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    ClientError::UnexpectedReply {
        request,
        reply: text,
    }
}

impl Client {
    fn new_id(&self) -> String {
        let mut rng = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        chat::new_message_id(&mut *rng)
    }

    /// Sends any request and waits for its reply.
    pub async fn request(&self, request: Request) -> Result<Reply, ClientError> {
        self.command(|reply| Command::Request(request, reply))
            .await?
    }

    /// A JSON request whose numeric `status`, if any, must be 200.
    async fn json(&self, what: &'static str, request: Request) -> Result<Value, ClientError> {
        match self.request(request).await? {
            Reply::Json(body) => match body.get("status").and_then(Value::as_u64) {
                Some(200) | None => Ok(body),
                Some(status) => Err(ClientError::Refused(format!("{what}: status {status}"))),
            },
            Reply::Node(node) => Err(unexpected(what, &node)),
        }
    }

    /// A request answered by a node.
    async fn node(&self, what: &'static str, request: Request) -> Result<Node, ClientError> {
        match self.request(request).await? {
            Reply::Node(node) => Ok(node),
            Reply::Json(body) => match body.get("status").and_then(Value::as_u64) {
                Some(status) if status != 200 => {
                    Err(ClientError::Refused(format!("{what}: status {status}")))
                }
                _ => Err(unexpected(what, &body)),
            },
        }
    }

    // ----- sending ----------------------------------------------------------------------------

    /// Sends `message` to `jid`: it enters the outbox (persisted) with a new id and is relayed
    /// until the server acks it, across reconnects and restarts. Returns once acked. A message
    /// larger than [`chat::MAX_MESSAGE_LEN`] fails at once with
    /// [`ClientError::MessageTooLarge`]; one the server refuses, or never answers
    /// [`chat::MAX_UNANSWERED_RELAYS`] times, fails ([`ClientError::Refused`],
    /// [`ClientError::Undelivered`]) and leaves the outbox.
    pub async fn send(&self, jid: &str, message: Message) -> Result<SentMessage, ClientError> {
        let id = self.new_id();
        let info = compose::envelope(jid, &id, message, now_secs());
        // Refused where it enters, connected or not: it could never go.
        chat::check_message_len(&info)?;
        let status = self
            .command(|reply| Command::SendMessage(Box::new(info.clone()), reply))
            .await??;
        Ok(SentMessage { id, info, status })
    }

    /// Sends a text.
    pub async fn send_text(&self, jid: &str, text: &str) -> Result<SentMessage, ClientError> {
        self.send(jid, compose::text(text)).await
    }

    /// Replies to `quoted` with a text.
    pub async fn send_reply(
        &self,
        jid: &str,
        text: &str,
        quoted: &WebMessageInfo,
    ) -> Result<SentMessage, ClientError> {
        self.send(jid, compose::extended_text(text, Some(quoted), &[]))
            .await
    }

    /// Sends a text mentioning `mentions` (JIDs; write `@<number>` in the text).
    pub async fn send_mentions(
        &self,
        jid: &str,
        text: &str,
        mentions: &[String],
    ) -> Result<SentMessage, ClientError> {
        self.send(jid, compose::extended_text(text, None, mentions))
            .await
    }

    /// Sends a location.
    pub async fn send_location(
        &self,
        jid: &str,
        latitude: f64,
        longitude: f64,
        name: Option<&str>,
    ) -> Result<SentMessage, ClientError> {
        self.send(jid, compose::location(latitude, longitude, name))
            .await
    }

    /// Sends a contact card.
    pub async fn send_contact(
        &self,
        jid: &str,
        display_name: &str,
        vcard: &str,
    ) -> Result<SentMessage, ClientError> {
        self.send(jid, compose::contact(display_name, vcard)).await
    }

    /// Deletes one of our messages for everyone.
    pub async fn revoke(&self, key: &MessageKey) -> Result<SentMessage, ClientError> {
        let jid = chat::normalize_jid(key.remote_jid.as_deref().unwrap_or_default());
        self.send(&jid, compose::revoke(key.clone())).await
    }

    /// Forwards `original` to `jid`.
    pub async fn forward(
        &self,
        jid: &str,
        original: &WebMessageInfo,
    ) -> Result<SentMessage, ClientError> {
        let message = original.message.clone().unwrap_or_default();
        self.send(jid, compose::forward(&message)).await
    }

    /// Encrypts `data` and uploads it to a media host from `mediaConn`.
    pub async fn upload_media(
        &self,
        kind: MediaKind,
        data: &[u8],
    ) -> Result<UploadedMedia, ClientError> {
        let mut key = [0u8; 32];
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fill_bytes(&mut key);
        let media_key = MediaKey::from_array(key);
        let (body, info) = wa_media::encrypt_bytes(&media_key, kind.media_type(), data);
        let conn = self.media_conn().await?;
        let uploaded = self
            .media
            .upload(
                &conn,
                kind.media_type(),
                UploadBody::Bytes(std::sync::Arc::new(body)),
                &info,
                |_, _| {},
            )
            .await?;
        Ok(UploadedMedia {
            url: uploaded.url,
            direct_path: uploaded.direct_path,
            media_key: key,
            info,
        })
    }

    /// Encrypts, uploads and sends a media message (image, video, audio, voice note,
    /// document, sticker). A thumbnail the caller gives (`options.jpeg_thumbnail`) is sent as
    /// is; with the `thumbnails` feature (default) an image without one gets a generated JPEG
    /// thumbnail, and an image or sticker without `dimensions` gets its decoded size. Video and
    /// document thumbnails are always the caller's.
    pub async fn send_media(
        &self,
        jid: &str,
        kind: MediaKind,
        data: &[u8],
        options: MediaOptions,
    ) -> Result<SentMessage, ClientError> {
        #[cfg(feature = "thumbnails")]
        let options = super::thumbnail::complete(kind, data, options);
        let uploaded = self.upload_media(kind, data).await?;
        let secs = i64::try_from(now_secs()).unwrap_or(i64::MAX);
        self.send(jid, compose::media(kind, &uploaded, options, secs))
            .await
    }

    /// The media hosts and upload credential (`["query","mediaConn"]`).
    pub async fn media_conn(&self) -> Result<MediaConn, ClientError> {
        let body = self.json("mediaConn", request::media_conn()).await?;
        MediaConn::from_reply(&body).ok_or_else(|| unexpected("mediaConn", &body))
    }

    /// A fresh download URL for the media of message `key` (binary `media` query).
    pub async fn media_requery(&self, key: &MessageKey) -> Result<String, ClientError> {
        let req = request::media_requery(now_secs(), key);
        let node = self.node("media", req).await?;
        reply::media_url(&node)
            .map(str::to_owned)
            .ok_or_else(|| unexpected("media", &node))
    }

    /// Downloads, verifies and decrypts the media of `info`; an expired URL (404/410) is
    /// re-queried once.
    pub async fn download_media(&self, info: &WebMessageInfo) -> Result<Vec<u8>, ClientError> {
        let message = info
            .message
            .as_ref()
            .ok_or(ClientError::NoMedia("no content"))?;
        let media =
            compose::media_ref(message).ok_or(ClientError::NoMedia("not a media message"))?;
        let key = MediaKey::from_slice(&media.media_key)
            .map_err(|_| ClientError::NoMedia("media key is not 32 bytes"))?;
        let arr = |v: &Option<Vec<u8>>| v.as_deref().and_then(|b| <[u8; 32]>::try_from(b).ok());
        let expected = Expected {
            file_sha256: arr(&media.file_sha256),
            file_enc_sha256: arr(&media.file_enc_sha256),
            file_length: media.file_length,
            streaming_sidecar: None,
        };
        let location = MediaLocation {
            url: media.url.clone(),
            direct_path: media.direct_path.clone(),
        };
        let hosts = match &media.direct_path {
            Some(_) => self.media_conn().await?.hosts,
            None => Vec::new(),
        };
        let msg_key = info.key.clone();
        let requery = || {
            let msg_key = msg_key.clone();
            async move {
                self.media_requery(&msg_key)
                    .await
                    .ok()
                    .map(|url| MediaLocation {
                        url: Some(url),
                        direct_path: None,
                    })
            }
        };
        let (plain, _) = self
            .media
            .download(
                location,
                &hosts,
                &key,
                media.kind.media_type(),
                expected,
                requery,
                |_, _| {},
            )
            .await?;
        Ok(plain)
    }

    // ----- receipts and presence ------------------------------------------------------------

    /// Marks chat `jid` read up to `last` (the newest message read).
    pub async fn read(&self, jid: &str, last: &MessageKey) -> Result<(), ClientError> {
        let req = request::read(now_secs(), jid, last, 1);
        self.json("read", req).await.map(drop)
    }

    /// Marks chat `jid` unread.
    pub async fn mark_unread(&self, jid: &str, last: &MessageKey) -> Result<(), ClientError> {
        let req = request::mark_unread(now_secs(), jid, last);
        self.json("mark unread", req).await.map(drop)
    }

    /// Tells the sender we played a voice note or video.
    pub async fn played(&self, info: &WebMessageInfo) -> Result<(), ClientError> {
        let jid = info.key.remote_jid.as_deref().unwrap_or_default();
        let id = info.key.id.as_deref().unwrap_or_default();
        let participant = info.key.participant.as_deref();
        let req = request::received(now_secs(), Some("played"), jid, id, participant);
        self.json("played", req).await.map(drop)
    }

    /// Sets our presence (`to`: the chat, for composing/recording/paused).
    pub async fn set_presence(
        &self,
        presence: Presence,
        to: Option<&str>,
    ) -> Result<(), ClientError> {
        let req = request::presence(now_secs(), presence, to);
        self.json("presence", req).await.map(drop)
    }

    /// Subscribes to `jid`'s presence (`Presence` pushes follow).
    pub async fn subscribe_presence(&self, jid: &str) -> Result<(), ClientError> {
        self.json("presence subscribe", request::presence_subscribe(jid))
            .await
            .map(drop)
    }

    // ----- chats, block, profile ------------------------------------------------------------

    /// Archive, pin, mute, star, delete, clear... a chat.
    pub async fn chat_op(&self, jid: &str, op: ChatOp) -> Result<(), ClientError> {
        let req = request::chat_op(now_secs(), jid, &op);
        self.json("chat", req).await.map(drop)
    }

    /// Blocks (`true`) or unblocks `jid`.
    pub async fn block(&self, jid: &str, blocked: bool) -> Result<(), ClientError> {
        let req = request::block(now_secs(), jid, blocked);
        self.json("block", req).await.map(drop)
    }

    /// Sets our push name.
    pub async fn set_push_name(&self, name: &str) -> Result<(), ClientError> {
        let req = request::push_name(now_secs(), name);
        self.json("profile", req).await.map(drop)
    }

    /// Sets our status text.
    pub async fn set_status_text(&self, text: &str) -> Result<(), ClientError> {
        let req = request::status_text(now_secs(), text);
        self.json("status", req).await.map(drop)
    }

    /// Sets (`Some((jpeg 640, jpeg 96))`) or removes our (or a group's) picture; the new URL
    /// when the server gives one.
    pub async fn set_profile_picture(
        &self,
        jid: &str,
        images: Option<(&[u8], &[u8])>,
    ) -> Result<Option<String>, ClientError> {
        let id = self.new_id();
        let req = request::picture(now_secs(), &id, jid, images);
        let body = self.json("picture", req).await?;
        Ok(body.get("eurl").and_then(Value::as_str).map(str::to_owned))
    }

    // ----- groups ---------------------------------------------------------------------------

    fn own_jid(&self) -> Result<String, ClientError> {
        Ok(self
            .store
            .load()?
            .ok_or(ClientError::NoSession)?
            .wid
            .clone())
    }

    /// Creates a group; its JID.
    pub async fn group_create(
        &self,
        subject: &str,
        participants: &[String],
    ) -> Result<String, ClientError> {
        let body = self
            .group_op_inner(
                None,
                GroupOp::Create {
                    subject: subject.to_owned(),
                    participants: participants.to_vec(),
                },
            )
            .await?;
        string_field(&body, "gid", "group create")
    }

    /// Subject, description, add, remove, promote, demote, leave, settings; the server's reply.
    pub async fn group_op(&self, gid: &str, op: GroupOp) -> Result<Value, ClientError> {
        self.group_op_inner(Some(gid), op).await
    }

    async fn group_op_inner(&self, gid: Option<&str>, op: GroupOp) -> Result<Value, ClientError> {
        let me = self.own_jid()?;
        let id = self.new_id();
        let req = request::group(now_secs(), &id, &me, gid, &op);
        self.json("group", req).await
    }

    /// Group metadata (`GroupMetadata`): id, owner, subject, desc, participants...
    pub async fn group_metadata(&self, gid: &str) -> Result<Value, ClientError> {
        self.json("GroupMetadata", request::group_metadata(gid))
            .await
    }

    /// The group's invite code.
    pub async fn group_invite_code(&self, gid: &str) -> Result<String, ClientError> {
        let body = self.json("inviteCode", request::invite_code(gid)).await?;
        string_field(&body, "code", "inviteCode")
    }

    /// Revokes the invite code; the new one.
    pub async fn group_invite_reset(&self, gid: &str) -> Result<String, ClientError> {
        let body = self.json("inviteReset", request::invite_reset(gid)).await?;
        string_field(&body, "code", "inviteReset")
    }

    /// Joins a group by invite code; its JID.
    pub async fn group_join(&self, code: &str) -> Result<String, ClientError> {
        let body = self.json("invite", request::join_by_code(code)).await?;
        string_field(&body, "gid", "invite")
    }

    // ----- queries ----------------------------------------------------------------------------

    /// A page of `jid`'s history: `count` messages before/after `index` (none: the newest);
    /// the messages oldest first and whether the history ends there.
    pub async fn history(
        &self,
        jid: &str,
        direction: Direction,
        count: u32,
        index: Option<&MessageKey>,
    ) -> Result<(Vec<WebMessageInfo>, bool), ClientError> {
        let req = request::history(now_secs(), jid, direction, count, index);
        Ok(reply::page(&self.node("history", req).await?))
    }

    /// Full-text search; the hits and whether this is the last page.
    pub async fn search(
        &self,
        text: &str,
        jid: Option<&str>,
        count: u32,
        page: u32,
    ) -> Result<(Vec<WebMessageInfo>, bool), ClientError> {
        let req = request::search(now_secs(), text, jid, count, page);
        Ok(reply::page(&self.node("search", req).await?))
    }

    /// Who received, read and played one of our messages.
    pub async fn message_info(&self, key: &MessageKey) -> Result<MessageInfo, ClientError> {
        let req = request::message_info(now_secs(), key);
        Ok(reply::message_info(&self.node("message_info", req).await?))
    }

    /// The chat list (binary `chat` query).
    pub async fn chats(&self) -> Result<Vec<chat::ChatInfo>, ClientError> {
        let node = self.node("chat", request::chats(0)).await?;
        Ok(incoming::chats_of(&node))
    }

    /// The address book (binary `contacts` query).
    pub async fn contacts(&self) -> Result<Vec<chat::ContactInfo>, ClientError> {
        let node = self.node("contacts", request::contacts(0)).await?;
        Ok(incoming::contacts_of(&node))
    }

    /// `jid`'s profile picture URL, if it has one.
    pub async fn profile_picture_url(&self, jid: &str) -> Result<Option<String>, ClientError> {
        match self.request(request::profile_picture(jid)).await? {
            Reply::Json(body) => Ok(reply::profile_picture_url(&body)),
            Reply::Node(node) => Err(unexpected("ProfilePicThumb", &node)),
        }
    }

    /// `jid`'s status text.
    pub async fn status_text(&self, jid: &str) -> Result<Option<String>, ClientError> {
        match self.request(request::status_of(jid)).await? {
            Reply::Json(body) => Ok(reply::status_text(&body)),
            Reply::Node(node) => Err(unexpected("Status", &node)),
        }
    }

    /// Whether `jid` is on WhatsApp.
    pub async fn exists(&self, jid: &str) -> Result<bool, ClientError> {
        match self.request(request::exists(jid)).await? {
            Reply::Json(body) => Ok(reply::exists(&body)),
            Reply::Node(node) => Err(unexpected("exist", &node)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unexpected_reply_is_cut_on_a_char_boundary() {
        // 299 ASCII bytes after the opening quote put a 2-byte char across byte 300.
        let reply = format!("{}é tail", "a".repeat(298));
        let ClientError::UnexpectedReply { reply: text, .. } = unexpected("x", &reply) else {
            panic!("wrong variant");
        };
        assert_eq!(text.len(), 299);
        assert!(format!("{reply:?}").starts_with(&text));
    }
}
