//! How a [`ClientSession`] is set up: the browser description, timeouts
//! and frame limits. Its own file because it is chosen before a session starts and read by
//! callers that never touch the state machine.
//!
//! [`ClientSession`]: super::ClientSession

use std::time::Duration;

use crate::frame::DEFAULT_MAX_FRAME_LEN;

/// How the client describes itself in `admin init`: `[os, browser, version]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrowserDescription {
    /// Shown on the phone as the session's name (e.g. "Baileys", "wa").
    pub os: String,
    /// Browser name (e.g. "Chrome").
    pub browser: String,
    /// Version string.
    pub version: String,
}

impl Default for BrowserDescription {
    fn default() -> BrowserDescription {
        BrowserDescription {
            os: "wa".into(),
            browser: "Chrome".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Settings of a [`ClientSession`].
///
/// [`ClientSession`]: super::ClientSession
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// WhatsApp Web version sent in `admin init`.
    pub version: [u32; 3],
    /// The `[os, browser, version]` description sent in `admin init`.
    pub browser: BrowserDescription,
    /// Time between keepalives (`?,,`).
    pub keepalive_interval: Duration,
    /// The link is declared lost after this long without receiving anything.
    pub link_timeout: Duration,
    /// How long to wait for the reply to a request (and for `Conn` after a login).
    pub request_timeout: Duration,
    /// Client-side limit on QR refreshes; `None` refreshes until the server refuses (429).
    pub max_rerefs: Option<u32>,
    /// Largest frame accepted from the server, in bytes.
    pub max_frame_len: usize,
    /// Largest frame sent to the server, in bytes: what the server accepts
    /// ([`MAX_SEND_FRAME_LEN`]). A longer request is refused with
    /// [`CommandError::FrameTooLarge`] before it reaches the wire, where the server would
    /// refuse it or drop the link.
    ///
    /// [`CommandError::FrameTooLarge`]: super::CommandError::FrameTooLarge
    pub max_send_frame_len: usize,
}

/// The longest WebSocket message a client may send: what the server accepts (wa-sim's default
/// `max_frame_len`), documented in the protocol book's transport chapter.
pub const MAX_SEND_FRAME_LEN: usize = 1024 * 1024;

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            version: [2, 2142, 12],
            browser: BrowserDescription::default(),
            keepalive_interval: Duration::from_secs(20),
            link_timeout: Duration::from_secs(25),
            request_timeout: Duration::from_secs(20),
            max_rerefs: None,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_send_frame_len: MAX_SEND_FRAME_LEN,
        }
    }
}
