//! What a session reports to the application: [`Event`]s and the values they carry (QR codes,
//! the phone's `Conn` info, stream updates), which request a reply is about, and the session's
//! state. Its own file because it is the session's public vocabulary, apart from the machine.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};
use wa_binary::Node;

use super::{CloseReason, SessionError};
use crate::frame::Tag;
use crate::session::SessionData;
use crate::time::Timestamp;

/// Which request a reply, a refusal or a timeout is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestKind {
    /// `admin init`.
    Init,
    /// `admin login` (restore).
    Login,
    /// `admin challenge`.
    Challenge,
    /// `admin Conn reref` (new QR code).
    Reref,
    /// A request sent with [`ClientSession::send_json`].
    ///
    /// [`ClientSession::send_json`]: super::ClientSession::send_json
    User,
}

/// A QR code to show, for the phone to scan.
#[derive(Clone, PartialEq, Eq)]
pub struct QrCode {
    /// The server's `ref` for this code.
    pub reference: String,
    /// Our Curve25519 public key.
    pub public_key: [u8; 32],
    /// Our client id.
    pub client_id: String,
    /// When the code stops being valid (a new one follows automatically).
    pub expires_at: Timestamp,
}

impl QrCode {
    /// The text to encode in the QR image: `ref,base64(public key),clientId`.
    pub fn qr_string(&self) -> String {
        format!(
            "{},{},{}",
            self.reference,
            BASE64.encode(self.public_key),
            self.client_id
        )
    }
}

impl std::fmt::Debug for QrCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QrCode")
            .field("reference", &self.reference)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The phone as described in `Conn`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PhoneInfo {
    /// `device_manufacturer`.
    pub device_manufacturer: Option<String>,
    /// `device_model`.
    pub device_model: Option<String>,
    /// `os_version`.
    pub os_version: Option<String>,
    /// `os_build_number`.
    pub os_build_number: Option<String>,
    /// `mcc` (mobile country code).
    pub mcc: Option<String>,
    /// `mnc` (mobile network code).
    pub mnc: Option<String>,
    /// `wa_version`, the WhatsApp version on the phone.
    pub wa_version: Option<String>,
}

/// What `Conn` says about the account and the phone (secrets and tokens left out).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnInfo {
    /// Our own JID.
    pub wid: String,
    /// Our display name.
    pub pushname: Option<String>,
    /// The phone's platform (`android`, `iphone`, ...).
    pub platform: Option<String>,
    /// The phone.
    pub phone: PhoneInfo,
    /// Phone battery percentage.
    pub battery: Option<u8>,
    /// Whether the phone is charging.
    pub plugged: Option<bool>,
    /// Whether the phone is connected.
    pub connected: Option<bool>,
    /// Terms-of-service state.
    pub tos: Option<u64>,
    /// Locale country (`lc`).
    pub locale_country: Option<String>,
    /// Locale language (`lg`).
    pub locale_language: Option<String>,
}

/// A `["Stream", kind, ...]` push.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamUpdate {
    /// `update`, `asleep`, `killsw`, ...
    pub kind: String,
    /// The remaining array elements.
    pub args: Vec<Value>,
}
/// What happened, for the application.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A (new) QR code to show.
    Qr(QrCode),
    /// The server challenged our restore and we answered.
    ChallengeAnswered,
    /// Logged in.
    Connected(ConnInfo),
    /// A later `Conn` while logged in.
    ConnUpdated(ConnInfo),
    /// The session data changed (new login or new tokens): persist it.
    SessionUpdated(Box<SessionData>),
    /// A `Stream` push.
    Stream(StreamUpdate),
    /// A `Props` push.
    Props(Map<String, Value>),
    /// A `Cmd` push the session does not handle itself.
    Cmd(Map<String, Value>),
    /// The reply to a [`ClientSession::send_json`] request.
    ///
    /// [`ClientSession::send_json`]: super::ClientSession::send_json
    Response {
        /// The request's tag.
        tag: Tag,
        /// The reply.
        body: Value,
    },
    /// Another JSON push.
    Json {
        /// Its tag.
        tag: Tag,
        /// Its body.
        body: Value,
    },
    /// A binary frame, decrypted and decoded (legacy dictionary); also the reply to
    /// [`ClientSession::send_node`].
    ///
    /// [`ClientSession::send_node`]: super::ClientSession::send_node
    Node {
        /// Its tag.
        tag: Tag,
        /// The node.
        node: Node,
    },
    /// Something invalid arrived and was skipped.
    Error(SessionError),
    /// The session ended; nothing more will happen.
    Closed(CloseReason),
}
/// Where the session is, from the outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Nothing sent yet.
    Idle,
    /// `admin init` sent, waiting for its reply.
    Initializing,
    /// A QR code is shown, waiting for the phone.
    AwaitingScan,
    /// Restoring (login or challenge sent), waiting for `Conn`.
    LoggingIn,
    /// Logged in.
    Connected,
    /// Finished.
    Closed,
}
