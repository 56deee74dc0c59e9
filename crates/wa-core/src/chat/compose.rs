//! Building the messages to send: text, replies, mentions, media, location, contacts, revoke,
//! forward; and the [`WebMessageInfo`] envelope that is relayed.

use wa_media::{EncryptedInfo, MediaKey, MediaType};
use wa_proto::proto::protocol_message::Type as ProtocolType;
use wa_proto::{
    AudioMessage, ContactMessage, ContactsArrayMessage, ContextInfo, DocumentMessage,
    ExtendedTextMessage, GroupInviteMessage, ImageMessage, LiveLocationMessage, LocationMessage,
    Message, MessageKey, ProtocolMessage, Status, StickerMessage, VideoMessage, WebMessageInfo,
};

use super::wire_jid;

/// A plain text message.
pub fn text(body: impl Into<String>) -> Message {
    Message::text(body)
}

/// A quote of `quoted` (for [`extended_text`]).
pub fn quote_of(quoted: &WebMessageInfo) -> ContextInfo {
    ContextInfo {
        stanza_id: quoted.key.id.clone(),
        participant: quoted
            .participant
            .clone()
            .or_else(|| quoted.key.participant.clone())
            .or_else(|| quoted.key.remote_jid.clone()),
        quoted_message: quoted.message.clone().map(Box::new),
        remote_jid: quoted.key.remote_jid.clone(),
        ..ContextInfo::default()
    }
}

/// An extended text message replying to `quoted` (if any) and mentioning `mentions`.
pub fn extended_text(
    body: impl Into<String>,
    quoted: Option<&WebMessageInfo>,
    mentions: &[String],
) -> Message {
    let mut context = quoted.map(quote_of).unwrap_or_default();
    context.mentioned_jid = mentions.iter().map(|j| wire_jid(j)).collect();
    Message {
        extended_text_message: Some(Box::new(ExtendedTextMessage {
            text: Some(body.into()),
            context_info: Some(Box::new(context)),
            ..ExtendedTextMessage::default()
        })),
        ..Message::default()
    }
}

/// A location pin.
pub fn location(latitude: f64, longitude: f64, name: Option<&str>) -> Message {
    Message {
        location_message: Some(Box::new(LocationMessage {
            degrees_latitude: Some(latitude),
            degrees_longitude: Some(longitude),
            name: name.map(str::to_owned),
            ..LocationMessage::default()
        })),
        ..Message::default()
    }
}

/// A live location update (`sequence`: increasing per update of the same share).
pub fn live_location(
    latitude: f64,
    longitude: f64,
    caption: Option<&str>,
    sequence: i64,
) -> Message {
    Message {
        live_location_message: Some(Box::new(LiveLocationMessage {
            degrees_latitude: Some(latitude),
            degrees_longitude: Some(longitude),
            caption: caption.map(str::to_owned),
            sequence_number: Some(sequence),
            ..LiveLocationMessage::default()
        })),
        ..Message::default()
    }
}

/// An invitation to join group `gid` with `code`.
pub fn group_invite(gid: &str, code: &str, group_name: &str, expiration: i64) -> Message {
    Message {
        group_invite_message: Some(Box::new(GroupInviteMessage {
            group_jid: Some(gid.to_owned()),
            invite_code: Some(code.to_owned()),
            invite_expiration: Some(expiration),
            group_name: Some(group_name.to_owned()),
            ..GroupInviteMessage::default()
        })),
        ..Message::default()
    }
}

/// Turns disappearing messages on (`seconds` > 0) or off (0) in a chat.
pub fn ephemeral_setting(seconds: u32) -> Message {
    Message {
        protocol_message: Some(ProtocolMessage {
            r#type: Some(ProtocolType::EphemeralSetting as i32),
            ephemeral_expiration: Some(seconds),
            ..ProtocolMessage::default()
        }),
        ..Message::default()
    }
}

/// A contact card (vCard).
pub fn contact(display_name: &str, vcard: &str) -> Message {
    Message {
        contact_message: Some(Box::new(ContactMessage {
            display_name: Some(display_name.to_owned()),
            vcard: Some(vcard.to_owned()),
            ..ContactMessage::default()
        })),
        ..Message::default()
    }
}

/// Several contact cards: `(display name, vcard)`.
pub fn contacts(display_name: &str, cards: &[(String, String)]) -> Message {
    Message {
        contacts_array_message: Some(Box::new(ContactsArrayMessage {
            display_name: Some(display_name.to_owned()),
            contacts: cards
                .iter()
                .map(|(name, vcard)| ContactMessage {
                    display_name: Some(name.clone()),
                    vcard: Some(vcard.clone()),
                    ..ContactMessage::default()
                })
                .collect(),
            ..ContactsArrayMessage::default()
        })),
        ..Message::default()
    }
}

/// Delete for everyone: revokes the message with `key`.
pub fn revoke(key: MessageKey) -> Message {
    Message {
        protocol_message: Some(ProtocolMessage {
            key: Some(key),
            r#type: Some(ProtocolType::Revoke as i32),
            ..ProtocolMessage::default()
        }),
        ..Message::default()
    }
}

/// A forward of `original`: its content with `isForwarded` and the forwarding score raised.
pub fn forward(original: &Message) -> Message {
    let mut message = original.content().clone();
    let bump = |context: &mut Option<Box<ContextInfo>>| {
        let c = context.get_or_insert_with(Default::default);
        c.is_forwarded = Some(true);
        c.forwarding_score = Some(c.forwarding_score.unwrap_or(0).saturating_add(1));
        c.quoted_message = None;
        c.stanza_id = None;
    };
    if let Some(body) = message.conversation.take() {
        message.extended_text_message = Some(Box::new(ExtendedTextMessage {
            text: Some(body),
            ..ExtendedTextMessage::default()
        }));
    }
    if let Some(m) = message.extended_text_message.as_mut() {
        bump(&mut m.context_info);
    } else if let Some(m) = message.image_message.as_mut() {
        bump(&mut m.context_info);
    } else if let Some(m) = message.video_message.as_mut() {
        bump(&mut m.context_info);
    } else if let Some(m) = message.audio_message.as_mut() {
        bump(&mut m.context_info);
    } else if let Some(m) = message.document_message.as_mut() {
        bump(&mut m.context_info);
    } else if let Some(m) = message.sticker_message.as_mut() {
        bump(&mut m.context_info);
    } else if let Some(m) = message.location_message.as_mut() {
        bump(&mut m.context_info);
    } else if let Some(m) = message.contact_message.as_mut() {
        bump(&mut m.context_info);
    }
    message
}

/// Which kind of media message to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    /// A photo.
    Image,
    /// A video.
    Video,
    /// An audio file.
    Audio,
    /// A voice note.
    VoiceNote,
    /// A document.
    Document,
    /// A sticker (WebP).
    Sticker,
}

impl MediaKind {
    /// The media type whose keys encrypt it.
    pub fn media_type(self) -> MediaType {
        match self {
            MediaKind::Image => MediaType::Image,
            MediaKind::Video => MediaType::Video,
            MediaKind::Audio => MediaType::Audio,
            MediaKind::VoiceNote => MediaType::Ptt,
            MediaKind::Document => MediaType::Document,
            MediaKind::Sticker => MediaType::Sticker,
        }
    }

    /// The default MIME type.
    pub fn default_mimetype(self) -> &'static str {
        match self {
            MediaKind::Image => "image/jpeg",
            MediaKind::Video => "video/mp4",
            MediaKind::Audio => "audio/mp4",
            MediaKind::VoiceNote => "audio/ogg; codecs=opus",
            MediaKind::Document => "application/octet-stream",
            MediaKind::Sticker => "image/webp",
        }
    }
}

/// What the caller says about a media file besides its bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MediaOptions {
    /// MIME type (default per kind).
    pub mimetype: Option<String>,
    /// Caption (image, video; a document's title).
    pub caption: Option<String>,
    /// A JPEG thumbnail (image, video, document).
    pub jpeg_thumbnail: Option<Vec<u8>>,
    /// File name (document).
    pub file_name: Option<String>,
    /// Duration in seconds (video, audio).
    pub seconds: Option<u32>,
    /// Width and height in pixels (image, video, sticker).
    pub dimensions: Option<(u32, u32)>,
    /// A quote / mentions, as a context.
    pub context: Option<ContextInfo>,
}

/// Where an encrypted upload landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedMedia {
    /// The download URL.
    pub url: String,
    /// The host-independent path, if given.
    pub direct_path: Option<String>,
    /// The media key.
    pub media_key: [u8; 32],
    /// Hashes, lengths and sidecar of the encryption.
    pub info: EncryptedInfo,
}

impl UploadedMedia {
    /// The media key as wa-media wants it.
    pub fn key(&self) -> MediaKey {
        MediaKey::from_array(self.media_key)
    }
}

/// The media message for an uploaded file.
pub fn media(kind: MediaKind, up: &UploadedMedia, options: MediaOptions, now_secs: i64) -> Message {
    let mimetype = Some(
        options
            .mimetype
            .clone()
            .unwrap_or_else(|| kind.default_mimetype().to_owned()),
    );
    let url = Some(up.url.clone());
    let direct_path = up.direct_path.clone();
    let key = Some(up.media_key.to_vec());
    let sha = Some(up.info.file_sha256.to_vec());
    let enc_sha = Some(up.info.file_enc_sha256.to_vec());
    let length = Some(up.info.file_length);
    let (width, height) = options.dimensions.unzip();
    let context = options.context.map(Box::new);
    let mut message = Message::default();
    match kind {
        MediaKind::Image => {
            message.image_message = Some(Box::new(ImageMessage {
                url,
                mimetype,
                caption: options.caption,
                file_sha256: sha,
                file_length: length,
                height,
                width,
                media_key: key,
                file_enc_sha256: enc_sha,
                direct_path,
                media_key_timestamp: Some(now_secs),
                jpeg_thumbnail: options.jpeg_thumbnail,
                context_info: context,
                ..ImageMessage::default()
            }));
        }
        MediaKind::Video => {
            message.video_message = Some(Box::new(VideoMessage {
                url,
                mimetype,
                file_sha256: sha,
                file_length: length,
                seconds: options.seconds,
                media_key: key,
                caption: options.caption,
                height,
                width,
                file_enc_sha256: enc_sha,
                direct_path,
                media_key_timestamp: Some(now_secs),
                jpeg_thumbnail: options.jpeg_thumbnail,
                context_info: context,
                streaming_sidecar: up.info.streaming_sidecar.clone(),
                ..VideoMessage::default()
            }));
        }
        MediaKind::Audio | MediaKind::VoiceNote => {
            message.audio_message = Some(Box::new(AudioMessage {
                url,
                mimetype,
                file_sha256: sha,
                file_length: length,
                seconds: options.seconds,
                ptt: Some(kind == MediaKind::VoiceNote),
                media_key: key,
                file_enc_sha256: enc_sha,
                direct_path,
                media_key_timestamp: Some(now_secs),
                context_info: context,
                streaming_sidecar: up.info.streaming_sidecar.clone(),
            }));
        }
        MediaKind::Document => {
            message.document_message = Some(Box::new(DocumentMessage {
                url,
                mimetype,
                title: options.caption.or_else(|| options.file_name.clone()),
                file_sha256: sha,
                file_length: length,
                media_key: key,
                file_name: options.file_name,
                file_enc_sha256: enc_sha,
                direct_path,
                media_key_timestamp: Some(now_secs),
                jpeg_thumbnail: options.jpeg_thumbnail,
                context_info: context,
                ..DocumentMessage::default()
            }));
        }
        MediaKind::Sticker => {
            message.sticker_message = Some(Box::new(StickerMessage {
                url,
                file_sha256: sha,
                file_enc_sha256: enc_sha,
                media_key: key,
                mimetype,
                height,
                width,
                direct_path,
                file_length: length,
                media_key_timestamp: Some(now_secs),
                context_info: context,
                ..StickerMessage::default()
            }));
        }
    }
    message
}

/// What a received media message says about its file: kind, key, location and hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaRef {
    /// The kind.
    pub kind: MediaKind,
    /// The URL.
    pub url: Option<String>,
    /// The direct path.
    pub direct_path: Option<String>,
    /// The media key bytes.
    pub media_key: Vec<u8>,
    /// `fileSha256`.
    pub file_sha256: Option<Vec<u8>>,
    /// `fileEncSha256`.
    pub file_enc_sha256: Option<Vec<u8>>,
    /// `fileLength`.
    pub file_length: Option<u64>,
}

/// The media of `message`, if it carries one.
pub fn media_ref(message: &Message) -> Option<MediaRef> {
    let m = message.content();
    macro_rules! pick {
        ($field:ident, $kind:expr) => {
            if let Some(x) = &m.$field {
                return Some(MediaRef {
                    kind: $kind,
                    url: x.url.clone(),
                    direct_path: x.direct_path.clone(),
                    media_key: x.media_key.clone()?,
                    file_sha256: x.file_sha256.clone(),
                    file_enc_sha256: x.file_enc_sha256.clone(),
                    file_length: x.file_length,
                });
            }
        };
    }
    pick!(image_message, MediaKind::Image);
    pick!(video_message, MediaKind::Video);
    if let Some(a) = &m.audio_message {
        let kind = if a.ptt == Some(true) {
            MediaKind::VoiceNote
        } else {
            MediaKind::Audio
        };
        return Some(MediaRef {
            kind,
            url: a.url.clone(),
            direct_path: a.direct_path.clone(),
            media_key: a.media_key.clone()?,
            file_sha256: a.file_sha256.clone(),
            file_enc_sha256: a.file_enc_sha256.clone(),
            file_length: a.file_length,
        });
    }
    pick!(document_message, MediaKind::Document);
    pick!(sticker_message, MediaKind::Sticker);
    None
}

/// The envelope relayed for `message` to `jid`: our key with `id`, the time, status PENDING.
pub fn envelope(jid: &str, id: &str, message: Message, now_secs: u64) -> WebMessageInfo {
    WebMessageInfo {
        key: MessageKey::new(wire_jid(jid), true, id),
        message: Some(message),
        message_timestamp: Some(now_secs),
        status: Some(Status::Pending as i32),
        ..WebMessageInfo::default()
    }
}
