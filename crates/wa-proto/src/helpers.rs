//! Small conveniences over the generated types: decoding with a typed error, the legacy ack
//! numbers, building keys, and reaching the content inside wrapper messages.

use core::fmt;

use prost::Message as _;

use crate::proto::web_message_info::Status;
use crate::proto::{Message, MessageKey, WebMessageInfo};

/// Bytes that are not a valid encoding of the named message type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    message_type: &'static str,
    source: prost::DecodeError,
}

impl DecodeError {
    /// The protobuf message type that failed to decode, e.g. `"proto.WebMessageInfo"`.
    pub fn message_type(&self) -> &'static str {
        self.message_type
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} protobuf: {}", self.message_type, self.source)
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl WebMessageInfo {
    /// Decodes a WebMessageInfo, e.g. the content of a `message` node of an `action`.
    ///
    /// Unknown fields are skipped. prost does not enforce proto2 `required`: a missing `key`
    /// decodes as an empty [`MessageKey`].
    pub fn decode_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode(bytes).map_err(|source| DecodeError {
            message_type: "proto.WebMessageInfo",
            source,
        })
    }

    /// The legacy ack number of [`status`](Self::status) (-1 failed … 4 played), or `None`
    /// when no status is set or it is a value this schema does not know.
    pub fn ack(&self) -> Option<i8> {
        self.status
            .and_then(|raw| Status::try_from(raw).ok())
            .map(Status::ack)
    }
}

impl Message {
    /// Decodes a bare Message (e.g. a quoted message or a decrypted payload).
    pub fn decode_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode(bytes).map_err(|source| DecodeError {
            message_type: "proto.Message",
            source,
        })
    }

    /// A plain text message (`conversation`).
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            conversation: Some(text.into()),
            ..Self::default()
        }
    }

    /// The message inside the ephemeral and view-once wrappers, however deeply nested; `self`
    /// when it is not a wrapper (or the wrapper is empty).
    pub fn content(&self) -> &Message {
        let mut current = self;
        while let Some(inner) = current
            .ephemeral_message
            .as_ref()
            .or(current.view_once_message.as_ref())
            .and_then(|wrapper| wrapper.message.as_deref())
        {
            current = inner;
        }
        current
    }

    /// The text of a plain or extended text message (after unwrapping wrappers), else the
    /// caption of an image, video or document, if any.
    pub fn text_content(&self) -> Option<&str> {
        let m = self.content();
        m.conversation
            .as_deref()
            .or_else(|| {
                m.extended_text_message
                    .as_ref()
                    .and_then(|x| x.text.as_deref())
            })
            .or_else(|| m.image_message.as_ref().and_then(|x| x.caption.as_deref()))
            .or_else(|| m.video_message.as_ref().and_then(|x| x.caption.as_deref()))
            .or_else(|| m.document_message.as_ref().and_then(|x| x.title.as_deref()))
    }
}

impl MessageKey {
    /// The key of message `id` in chat `remote_jid`; `from_me` tells whether this account sent
    /// it.
    pub fn new(remote_jid: impl Into<String>, from_me: bool, id: impl Into<String>) -> Self {
        Self {
            remote_jid: Some(remote_jid.into()),
            from_me: Some(from_me),
            id: Some(id.into()),
            participant: None,
        }
    }

    /// The same key with the group member who sent the message.
    pub fn with_participant(mut self, participant: impl Into<String>) -> Self {
        self.participant = Some(participant.into());
        self
    }
}

impl Status {
    /// The status for a legacy ack number (`Msg`/`MsgInfo` pushes and `received` nodes):
    /// -1 failed, 0 clock, 1 sent, 2 received, 3 read, 4 played. The status is the ack plus one.
    pub fn from_ack(ack: i8) -> Option<Self> {
        Self::try_from(i32::from(ack) + 1).ok()
    }

    /// The legacy ack number of this status (the status minus one).
    pub fn ack(self) -> i8 {
        // Status values are 0..=5, so the difference always fits.
        (self as i8) - 1
    }
}
