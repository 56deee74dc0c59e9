//! The façade's error type.

use wa_core::chat::MessageTooLarge;
use wa_core::client::CommandError;
use wa_core::session::StoreError;
use wa_transport::TransportError;

/// Everything a [`Client`](super::Client) call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The WebSocket transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The session store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The protocol session refused a command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// `restore` or `logout` without a stored session.
    #[error("no stored session")]
    NoSession,
    /// `login` or `restore` while a connection is already running.
    #[error("a connection is already running")]
    AlreadyRunning,
    /// The command needs a running connection.
    #[error("no connection is running")]
    NotRunning,
    /// The HTTP logout request failed.
    #[error("HTTP logout request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The HTTP logout was refused.
    #[error("HTTP logout refused with status {0}")]
    HttpStatus(u16),
    /// The server refused a request or a message.
    #[error("refused by the server: {0}")]
    Refused(String),
    /// A message too large for any frame the server accepts; refused before it was queued.
    #[error("message too large: {size} bytes, the limit is {limit} bytes")]
    MessageTooLarge {
        /// The encoded message's size.
        size: usize,
        /// The largest message that fits ([`wa_core::chat::MAX_MESSAGE_LEN`]).
        limit: usize,
    },
    /// A message given up after `attempts` relays went unanswered (the server dropped the
    /// link or never answered); it left the outbox.
    #[error("message {id} undelivered: {attempts} relays went unanswered")]
    Undelivered {
        /// The message's id.
        id: String,
        /// How many relays went unanswered.
        attempts: u32,
    },
    /// A request got no reply in time.
    #[error("the request timed out")]
    TimedOut,
    /// A reply did not have the expected shape.
    #[error("unexpected reply to {request}: {reply}")]
    UnexpectedReply {
        /// Which request.
        request: &'static str,
        /// What came back (abridged).
        reply: String,
    },
    /// A request that cannot be sent as built (e.g. a tag the frame format forbids).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// `download_media` on a message that carries no (usable) media.
    #[error("the message has no downloadable media: {0}")]
    NoMedia(&'static str),
    /// Media upload or download failed.
    #[error(transparent)]
    Media(#[from] wa_media::http::HttpError),
}

impl From<MessageTooLarge> for ClientError {
    fn from(e: MessageTooLarge) -> ClientError {
        ClientError::MessageTooLarge {
            size: e.size,
            limit: e.limit,
        }
    }
}
