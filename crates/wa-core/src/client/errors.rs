//! The session's errors: what was wrong with what the server sent ([`SessionError`]), why a
//! session ended ([`CloseReason`]) and why a command was refused ([`CommandError`]). Its own
//! file because callers match on these without needing the state machine.

use wa_binary::{DecodeError, EncodeError};

use super::RequestKind;
use crate::frame::{FrameError, Tag};

/// Something wrong with what the server sent. Not fatal by itself: as an [`Event::Error`] the
/// session carries on; inside [`CloseReason::Protocol`] it ended the session.
///
/// [`Event::Error`]: super::Event::Error
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A WebSocket message that is not a valid frame.
    #[error("malformed frame: {0}")]
    Frame(#[from] FrameError),
    /// A binary frame arrived before the session keys exist.
    #[error("binary frame {tag} arrived before login")]
    BinaryBeforeLogin {
        /// Its tag.
        tag: Tag,
    },
    /// A decrypted binary frame is not a valid binary node.
    #[error("binary frame {tag} could not be decoded: {source}")]
    Decode {
        /// Its tag.
        tag: Tag,
        /// What failed.
        source: DecodeError,
    },
    /// A binary frame failed authentication or decryption.
    #[error("binary frame {tag} could not be opened: {source}")]
    Decrypt {
        /// Its tag.
        tag: Tag,
        /// What failed.
        source: wa_crypto::Error,
    },
    /// The `secret` of `Conn` is invalid (not base64, wrong length, HMAC mismatch...).
    #[error("invalid login secret: {0}")]
    BadSecret(String),
    /// A message lacks a field it must have.
    #[error("{message} lacks field `{field}`")]
    MissingField {
        /// Which message.
        message: &'static str,
        /// Which field.
        field: &'static str,
    },
    /// `Conn` without `secret` for a session that has no keys yet.
    #[error("Conn without secret before any session exists")]
    ConnWithoutSecret,
    /// A request sent with [`ClientSession::send_json`] got no reply in time.
    ///
    /// [`ClientSession::send_json`]: super::ClientSession::send_json
    #[error("request {tag} timed out")]
    RequestTimedOut {
        /// Its tag.
        tag: Tag,
    },
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CloseReason {
    /// We logged out ([`ClientSession::logout`]).
    ///
    /// [`ClientSession::logout`]: super::ClientSession::logout
    LoggedOut,
    /// The server no longer knows this session (401, or 419): the phone unlinked it or the
    /// tokens are invalid. Log in again with a QR code.
    Unpaired {
        /// The status code received.
        status: u16,
    },
    /// 403: the account is not allowed (`tos >= 2`: terms-of-service violation).
    Forbidden {
        /// The `tos` value of the reply, if any.
        tos: Option<u64>,
    },
    /// 405: this client is already logged in.
    AlreadyAuthorized,
    /// 409, or `Cmd disconnect replaced`: another client took the session over.
    Replaced,
    /// The server closed the session with `Cmd disconnect` of another kind.
    ServerDisconnected {
        /// The `kind` it gave, if any.
        kind: Option<String>,
    },
    /// The server refused to issue more QR codes (429) or the client limit was reached.
    QrRefsExhausted,
    /// A temporary server failure (5xx); retrying later may work.
    ServerError {
        /// Which request failed.
        request: RequestKind,
        /// The status code.
        status: u16,
    },
    /// Another refusal.
    Rejected {
        /// Which request was refused.
        request: RequestKind,
        /// The status code.
        status: u16,
    },
    /// A login step got no reply in time.
    Timeout {
        /// Which request.
        request: RequestKind,
    },
    /// Nothing received for longer than the link timeout.
    LinkLost,
    /// The transport closed underneath us.
    TransportClosed,
    /// The server broke the protocol during login.
    Protocol(SessionError),
}

impl CloseReason {
    /// Whether the stored session is now useless (delete it; a QR login is needed).
    pub fn invalidates_session(&self) -> bool {
        matches!(
            self,
            CloseReason::LoggedOut | CloseReason::Unpaired { .. } | CloseReason::Forbidden { .. }
        )
    }

    /// Whether reconnecting and restoring may succeed (lost links, timeouts, temporary errors).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CloseReason::LinkLost
                | CloseReason::TransportClosed
                | CloseReason::Timeout { .. }
                | CloseReason::ServerError { .. }
                | CloseReason::ServerDisconnected { .. }
        )
    }
}
/// Why a command was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// `start_login` or `restore` on a session that already started.
    #[error("the session has already started")]
    AlreadyStarted,
    /// The command needs a logged-in session.
    #[error("the session is not logged in")]
    NotConnected,
    /// `reref` outside the QR phase (or while one is in flight).
    #[error("no QR code is being shown")]
    NotAwaitingScan,
    /// The session has ended.
    #[error("the session is closed")]
    Closed,
    /// The node to send cannot be encoded.
    #[error("node cannot be encoded: {0}")]
    Encode(#[from] EncodeError),
    /// A caller-chosen tag the frame format forbids.
    #[error("invalid tag: {0}")]
    InvalidTag(#[from] crate::frame::TagError),
    /// The request's frame is longer than the server accepts
    /// ([`ClientConfig::max_send_frame_len`]); nothing was sent.
    ///
    /// [`ClientConfig::max_send_frame_len`]: super::ClientConfig::max_send_frame_len
    #[error("frame of {len} bytes is longer than the limit of {max} bytes")]
    FrameTooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
}
