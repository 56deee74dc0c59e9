//! The legacy client session: login by QR code, restore by takeover, keepalive, logout.
//!
//! [`ClientSession`] is a sans-IO state machine for ONE WebSocket connection. Feed it what
//! happens ([`handle_frame`](ClientSession::handle_frame),
//! [`handle_timeout`](ClientSession::handle_timeout),
//! [`handle_transport_closed`](ClientSession::handle_transport_closed)) and what the user wants
//! ([`start_login`](ClientSession::start_login), [`restore`](ClientSession::restore),
//! [`reref`](ClientSession::reref), [`logout`](ClientSession::logout)); then drain frames to send
//! ([`poll_transmit`](ClientSession::poll_transmit)), events
//! ([`poll_event`](ClientSession::poll_event)) and the next deadline
//! ([`poll_timeout`](ClientSession::poll_timeout)). Every method takes `now`; none reads a clock.
//!
//! After [`Event::Closed`] the session is finished: the driver closes the socket and, if it wants
//! to reconnect, builds a new session and calls `restore` with the stored [`SessionData`].

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use wa_binary::{Codec, DecodeError, EncodeError, Node};
use wa_crypto::legacy::{
    Flags, Metric, SessionKeys, challenge_response, logout_token, open_server_frame,
    seal_client_frame,
};
use wa_crypto::{CryptoRng, KeyPair, RngCore};
use zeroize::Zeroizing;

use crate::frame::{
    DEFAULT_MAX_FRAME_LEN, Frame, FrameError, JsonForm, Tag, TagGenerator, WireMessage,
};
use crate::session::SessionData;
use crate::time::Timestamp;

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

/// Something wrong with what the server sent. Not fatal by itself: as an [`Event::Error`] the
/// session carries on; inside [`CloseReason::Protocol`] it ended the session.
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
    #[error("frame of {len} bytes is longer than the limit of {max} bytes")]
    FrameTooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    NewLogin,
    Restore,
}

#[derive(Debug)]
enum Phase {
    Idle,
    AwaitInit(Purpose),
    AwaitScan,
    Restoring,
    Connected,
    Closed,
}

#[derive(Debug)]
struct Pending {
    kind: RequestKind,
    /// `None` once the reply no longer matters but should still be recognised.
    deadline: Option<Timestamp>,
    /// A 401 reply is an answer (a private profile picture), not the end of the session.
    unauthorized_is_answer: bool,
}

#[derive(Debug)]
struct QrState {
    reference: String,
    ttl: Duration,
    /// `None` while a reref is in flight.
    expires_at: Option<Timestamp>,
}

/// The legacy client protocol state machine for one connection. See the [module docs](self).
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    phase: Phase,
    tags: TagGenerator,
    transmits: VecDeque<Frame>,
    events: VecDeque<Event>,
    pending: HashMap<Tag, Pending>,
    client_id: String,
    key_pair: Option<KeyPair>,
    session: Option<SessionData>,
    keys: Option<SessionKeys>,
    qr: Option<QrState>,
    rerefs: u32,
    /// Deadline for `Conn` after a login or challenge.
    login_deadline: Option<Timestamp>,
    next_keepalive: Option<Timestamp>,
    last_received: Timestamp,
}

const DEFAULT_QR_TTL: Duration = Duration::from_secs(20);

impl ClientSession {
    /// A new idle session.
    pub fn new(config: ClientConfig) -> ClientSession {
        ClientSession {
            config,
            phase: Phase::Idle,
            tags: TagGenerator::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            pending: HashMap::new(),
            client_id: String::new(),
            key_pair: None,
            session: None,
            keys: None,
            qr: None,
            rerefs: 0,
            login_deadline: None,
            next_keepalive: None,
            last_received: Timestamp::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Where the session is.
    pub fn state(&self) -> SessionState {
        match self.phase {
            Phase::Idle => SessionState::Idle,
            Phase::AwaitInit(_) => SessionState::Initializing,
            Phase::AwaitScan => SessionState::AwaitingScan,
            Phase::Restoring => SessionState::LoggingIn,
            Phase::Connected => SessionState::Connected,
            Phase::Closed => SessionState::Closed,
        }
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// The session data, once logged in (or as given to `restore`).
    pub fn session_data(&self) -> Option<&SessionData> {
        self.session.as_ref()
    }

    /// The session keys, once known.
    pub fn session_keys(&self) -> Option<&SessionKeys> {
        self.keys.as_ref()
    }

    /// Starts a new login by QR code: generates our key pair and client id and sends
    /// `admin init`. A [`Event::Qr`] follows the server's reply.
    pub fn start_login<R: RngCore + CryptoRng>(
        &mut self,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<(), CommandError> {
        self.ensure_idle()?;
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        self.client_id = BASE64.encode(id);
        self.key_pair = Some(KeyPair::generate(rng));
        self.begin(now, Purpose::NewLogin);
        Ok(())
    }

    /// Restores a stored session by takeover: sends `admin init` and then `admin login`.
    pub fn restore(&mut self, now: Timestamp, session: SessionData) -> Result<(), CommandError> {
        self.ensure_idle()?;
        self.client_id = session.client_id.clone();
        self.key_pair = Some(session.key_pair());
        self.keys = Some(session.session_keys());
        self.session = Some(session);
        self.begin(now, Purpose::Restore);
        Ok(())
    }

    /// Asks for a new QR code now rather than at expiry.
    pub fn reref(&mut self, now: Timestamp) -> Result<(), CommandError> {
        if self.is_closed() {
            return Err(CommandError::Closed);
        }
        let in_flight = self.qr.as_ref().is_none_or(|qr| qr.expires_at.is_none());
        if !matches!(self.phase, Phase::AwaitScan) || in_flight {
            return Err(CommandError::NotAwaitingScan);
        }
        self.send_reref(now);
        Ok(())
    }

    /// Logs out on the socket (`goodbye,,["admin","Conn","disconnect"]`) and ends the session
    /// with [`CloseReason::LoggedOut`]. Without a logged-in socket, use [`logout_url`] instead.
    pub fn logout(&mut self, _now: Timestamp) -> Result<(), CommandError> {
        match self.phase {
            Phase::Connected => {}
            Phase::Closed => return Err(CommandError::Closed),
            _ => return Err(CommandError::NotConnected),
        }
        let tag = Tag::new("goodbye").map_err(|_| CommandError::Closed)?;
        self.transmits.push_back(Frame::json(
            tag,
            JsonForm::TwoCommas,
            json!(["admin", "Conn", "disconnect"]),
        ));
        self.close(CloseReason::LoggedOut);
        Ok(())
    }

    /// Sends a JSON request `tag,,body` on a logged-in session; the reply arrives as
    /// [`Event::Response`] with the returned tag (or [`SessionError::RequestTimedOut`]).
    pub fn send_json(&mut self, now: Timestamp, body: Value) -> Result<Tag, CommandError> {
        match self.phase {
            Phase::Connected => {}
            Phase::Closed => return Err(CommandError::Closed),
            _ => return Err(CommandError::NotConnected),
        }
        let tag = self.tags.next_short(now);
        let unauthorized_is_answer = json_401_is_an_answer(&body);
        let frame = Frame::json(tag.clone(), JsonForm::TwoCommas, body);
        let len = match frame.to_wire() {
            WireMessage::Text(text) => text.len(),
            WireMessage::Binary(bytes) => bytes.len(),
        };
        self.check_send_len(len)?;
        self.track(now, tag.clone(), RequestKind::User);
        if let Some(pending) = self.pending.get_mut(&tag) {
            pending.unauthorized_is_answer = unauthorized_is_answer;
        }
        self.transmits.push_back(frame);
        Ok(tag)
    }

    /// Sends a binary node, encrypted with the session keys, as `tag,` + metric + flags +
    /// HMAC + IV + ciphertext, on a logged-in session. A reply with the same tag arrives as
    /// [`Event::Node`] or [`Event::Response`] (or [`SessionError::RequestTimedOut`]).
    pub fn send_node<R: RngCore + CryptoRng>(
        &mut self,
        now: Timestamp,
        node: &Node,
        metric: Option<Metric>,
        flags: Flags,
        rng: &mut R,
    ) -> Result<Tag, CommandError> {
        match self.phase {
            Phase::Connected => {}
            Phase::Closed => return Err(CommandError::Closed),
            _ => return Err(CommandError::NotConnected),
        }
        let tag = self.tags.next_short(now);
        self.send_node_tagged(now, tag, node, metric, flags, rng)
    }

    /// Like [`send_node`](Self::send_node) with a tag chosen by the caller: a relayed message
    /// uses its message id, group and picture actions their node's `id`.
    pub fn send_node_tagged<R: RngCore + CryptoRng>(
        &mut self,
        now: Timestamp,
        tag: Tag,
        node: &Node,
        metric: Option<Metric>,
        flags: Flags,
        rng: &mut R,
    ) -> Result<Tag, CommandError> {
        match self.phase {
            Phase::Connected => {}
            Phase::Closed => return Err(CommandError::Closed),
            _ => return Err(CommandError::NotConnected),
        }
        let keys = self.keys.as_ref().ok_or(CommandError::NotConnected)?;
        let plaintext = Zeroizing::new(Codec::legacy().encode(node)?);
        let payload = seal_client_frame(keys, metric, flags, &plaintext, rng);
        // The wire form is `tag,` + payload.
        self.check_send_len(tag.as_str().len() + 1 + payload.len())?;
        self.track(now, tag.clone(), RequestKind::User);
        if node_401_is_an_answer(node) {
            if let Some(pending) = self.pending.get_mut(&tag) {
                pending.unauthorized_is_answer = true;
            }
        }
        self.transmits
            .push_back(Frame::binary(tag.clone(), payload));
        Ok(tag)
    }

    /// Feeds a WebSocket message from the server.
    pub fn handle_wire(&mut self, now: Timestamp, message: &WireMessage) {
        if self.is_closed() {
            return;
        }
        match Frame::parse_with_limit(message, self.config.max_frame_len) {
            Ok(frame) => self.handle_frame(now, frame),
            Err(e) => {
                // Even a malformed message shows the link is alive.
                self.last_received = now;
                self.events.push_back(Event::Error(SessionError::Frame(e)));
            }
        }
    }

    /// Feeds a frame from the server.
    pub fn handle_frame(&mut self, now: Timestamp, frame: Frame) {
        if self.is_closed() {
            return;
        }
        self.last_received = now;
        match frame {
            Frame::Pong { .. } | Frame::Keepalive => {}
            Frame::Json { tag, body, .. } => self.handle_json(now, tag, body),
            Frame::Binary { tag, payload } => self.handle_binary(tag, &payload),
        }
    }

    /// Tells the session the transport closed.
    pub fn handle_transport_closed(&mut self, _now: Timestamp) {
        self.close(CloseReason::TransportClosed);
    }

    /// Runs whatever is due at `now`: keepalives, QR refreshes, timeouts.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if matches!(self.phase, Phase::Idle | Phase::Closed) {
            return;
        }
        if now >= self.last_received + self.config.link_timeout {
            self.close(CloseReason::LinkLost);
            return;
        }
        let mut expired: Vec<(Tag, RequestKind)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline.is_some_and(|d| d <= now))
            .map(|(tag, p)| (tag.clone(), p.kind))
            .collect();
        expired.sort();
        for (tag, kind) in expired {
            self.pending.remove(&tag);
            match kind {
                RequestKind::User => self
                    .events
                    .push_back(Event::Error(SessionError::RequestTimedOut { tag })),
                request => {
                    self.close(CloseReason::Timeout { request });
                    return;
                }
            }
        }
        if self.login_deadline.is_some_and(|d| d <= now) {
            self.close(CloseReason::Timeout {
                request: RequestKind::Login,
            });
            return;
        }
        let qr_expired = self
            .qr
            .as_ref()
            .and_then(|qr| qr.expires_at)
            .is_some_and(|at| at <= now);
        if matches!(self.phase, Phase::AwaitScan) && qr_expired {
            if self.config.max_rerefs.is_some_and(|max| self.rerefs >= max) {
                self.close(CloseReason::QrRefsExhausted);
                return;
            }
            self.send_reref(now);
        }
        if self.next_keepalive.is_some_and(|at| at <= now) {
            self.transmits.push_back(Frame::Keepalive);
            self.next_keepalive = Some(now + self.config.keepalive_interval);
        }
    }

    /// Whether frames are waiting to be sent.
    pub fn has_transmit(&self) -> bool {
        !self.transmits.is_empty()
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if matches!(self.phase, Phase::Idle | Phase::Closed) {
            return None;
        }
        let qr = match self.phase {
            Phase::AwaitScan => self.qr.as_ref().and_then(|qr| qr.expires_at),
            _ => None,
        };
        [
            Some(self.last_received + self.config.link_timeout),
            self.next_keepalive,
            self.login_deadline,
            qr,
            self.pending.values().filter_map(|p| p.deadline).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn ensure_idle(&self) -> Result<(), CommandError> {
        match self.phase {
            Phase::Idle => Ok(()),
            Phase::Closed => Err(CommandError::Closed),
            _ => Err(CommandError::AlreadyStarted),
        }
    }

    fn begin(&mut self, now: Timestamp, purpose: Purpose) {
        self.last_received = now;
        self.next_keepalive = Some(now + self.config.keepalive_interval);
        let c = &self.config;
        let body = json!([
            "admin",
            "init",
            c.version,
            [c.browser.os, c.browser.browser, c.browser.version],
            self.client_id,
            true
        ]);
        self.send_admin(now, RequestKind::Init, body);
        self.phase = Phase::AwaitInit(purpose);
    }

    fn send_admin(&mut self, now: Timestamp, kind: RequestKind, body: Value) {
        let tag = self.tags.next_long(now);
        self.track(now, tag.clone(), kind);
        self.transmits
            .push_back(Frame::json(tag, JsonForm::OneComma, body));
    }

    /// Refuses a frame of `len` bytes longer than the server accepts.
    fn check_send_len(&self, len: usize) -> Result<(), CommandError> {
        let max = self.config.max_send_frame_len;
        if len > max {
            return Err(CommandError::FrameTooLarge { len, max });
        }
        Ok(())
    }

    fn track(&mut self, now: Timestamp, tag: Tag, kind: RequestKind) {
        let deadline = Some(now + self.config.request_timeout);
        self.pending.insert(
            tag,
            Pending {
                kind,
                deadline,
                unauthorized_is_answer: false,
            },
        );
    }

    fn send_reref(&mut self, now: Timestamp) {
        self.rerefs = self.rerefs.saturating_add(1);
        if let Some(qr) = self.qr.as_mut() {
            qr.expires_at = None;
        }
        self.send_admin(now, RequestKind::Reref, json!(["admin", "Conn", "reref"]));
    }

    fn close(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        self.phase = Phase::Closed;
        self.pending.clear();
        self.qr = None;
        self.login_deadline = None;
        self.next_keepalive = None;
        self.events.push_back(Event::Closed(reason));
    }

    fn handle_json(&mut self, now: Timestamp, tag: Tag, body: Value) {
        if let Some(pending) = self.pending.remove(&tag) {
            let logged_out = pending.kind == RequestKind::User
                && !pending.unauthorized_is_answer
                && status_of(&body) == Some(401);
            self.handle_reply(now, tag, pending.kind, body);
            if logged_out {
                // The server no longer knows this session (the phone logged it out): the
                // requester gets its answer first, then the session ends.
                self.close(CloseReason::Unpaired { status: 401 });
            }
            return;
        }
        let Value::Array(items) = body else {
            self.events.push_back(Event::Json { tag, body });
            return;
        };
        let mut items = items.into_iter();
        let (first, second) = (items.next(), items.next());
        match (first.as_ref().and_then(Value::as_str), second) {
            (Some("Conn"), Some(Value::Object(conn))) => self.handle_conn(&conn),
            (Some("Cmd"), Some(Value::Object(cmd))) => self.handle_cmd(now, cmd),
            (Some("Props"), Some(Value::Object(props))) => {
                self.events.push_back(Event::Props(props));
            }
            (Some("Stream"), Some(Value::String(kind))) => {
                let args = items.collect();
                self.events
                    .push_back(Event::Stream(StreamUpdate { kind, args }));
            }
            (_, second) => {
                // Not one the session handles: hand the array back as it came.
                let body = first.into_iter().chain(second).chain(items).collect();
                self.events.push_back(Event::Json {
                    tag,
                    body: Value::Array(body),
                });
            }
        }
    }

    fn handle_reply(&mut self, now: Timestamp, tag: Tag, kind: RequestKind, body: Value) {
        let status = status_of(&body);
        match kind {
            RequestKind::User => self.events.push_back(Event::Response { tag, body }),
            RequestKind::Init => {
                let Phase::AwaitInit(purpose) = self.phase else {
                    return;
                };
                match status {
                    Some(200) => match purpose {
                        Purpose::NewLogin => {
                            let Some(reference) = body.get("ref").and_then(Value::as_str) else {
                                self.close(CloseReason::Protocol(SessionError::MissingField {
                                    message: "init reply",
                                    field: "ref",
                                }));
                                return;
                            };
                            let ttl = ttl_of(&body).unwrap_or(DEFAULT_QR_TTL);
                            self.qr = Some(QrState {
                                reference: reference.to_owned(),
                                ttl,
                                expires_at: None,
                            });
                            self.phase = Phase::AwaitScan;
                            self.show_qr(now, ttl);
                        }
                        Purpose::Restore => self.send_login(now),
                    },
                    other => self.close_for_status(kind, other, &body),
                }
            }
            RequestKind::Reref => {
                if !matches!(self.phase, Phase::AwaitScan) {
                    return;
                }
                match status {
                    Some(200) => {
                        let Some(reference) = body.get("ref").and_then(Value::as_str) else {
                            self.close(CloseReason::Protocol(SessionError::MissingField {
                                message: "reref reply",
                                field: "ref",
                            }));
                            return;
                        };
                        let ttl = ttl_of(&body)
                            .or(self.qr.as_ref().map(|q| q.ttl))
                            .unwrap_or(DEFAULT_QR_TTL);
                        self.qr = Some(QrState {
                            reference: reference.to_owned(),
                            ttl,
                            expires_at: None,
                        });
                        self.show_qr(now, ttl);
                    }
                    Some(304) => {
                        let ttl = ttl_of(&body)
                            .or(self.qr.as_ref().map(|q| q.ttl))
                            .unwrap_or(DEFAULT_QR_TTL);
                        self.show_qr(now, ttl);
                    }
                    Some(429) => self.close(CloseReason::QrRefsExhausted),
                    other => self.close_for_status(kind, other, &body),
                }
            }
            RequestKind::Login => {
                if matches!(self.phase, Phase::Restoring) && status != Some(200) {
                    self.close_for_status(kind, status, &body);
                }
            }
            RequestKind::Challenge => {
                if !matches!(self.phase, Phase::Restoring) {
                    return;
                }
                match status {
                    Some(200) => {}
                    Some(s) if s >= 500 => self.close(CloseReason::ServerError {
                        request: kind,
                        status: s,
                    }),
                    Some(s) if s >= 400 => self.close(CloseReason::Unpaired { status: s }),
                    other => self.close_for_status(kind, other, &body),
                }
            }
        }
    }

    fn show_qr(&mut self, now: Timestamp, ttl: Duration) {
        let (Some(qr), Some(key_pair)) = (self.qr.as_mut(), self.key_pair.as_ref()) else {
            return;
        };
        let expires_at = now + ttl;
        qr.ttl = ttl;
        qr.expires_at = Some(expires_at);
        let code = QrCode {
            reference: qr.reference.clone(),
            public_key: key_pair.public_bytes(),
            client_id: self.client_id.clone(),
            expires_at,
        };
        self.events.push_back(Event::Qr(code));
    }

    fn send_login(&mut self, now: Timestamp) {
        let Some(session) = self.session.as_ref() else {
            return;
        };
        let body = json!([
            "admin",
            "login",
            session.client_token,
            session.server_token,
            session.client_id,
            "takeover"
        ]);
        self.send_admin(now, RequestKind::Login, body);
        self.login_deadline = Some(now + self.config.request_timeout);
        self.phase = Phase::Restoring;
    }

    fn close_for_status(&mut self, request: RequestKind, status: Option<u16>, body: &Value) {
        let reason = match status {
            None => CloseReason::Protocol(SessionError::MissingField {
                message: "reply",
                field: "status",
            }),
            Some(401 | 419) => CloseReason::Unpaired {
                status: status.unwrap_or(401),
            },
            Some(403) => CloseReason::Forbidden {
                tos: body.get("tos").and_then(Value::as_u64),
            },
            Some(405) => CloseReason::AlreadyAuthorized,
            Some(409) => CloseReason::Replaced,
            Some(s) if s >= 500 => CloseReason::ServerError { request, status: s },
            Some(s) => CloseReason::Rejected { request, status: s },
        };
        self.close(reason);
    }

    fn handle_conn(&mut self, conn: &Map<String, Value>) {
        match self.phase {
            Phase::AwaitScan | Phase::Restoring | Phase::Connected | Phase::AwaitInit(_) => {}
            Phase::Idle | Phase::Closed => return,
        }
        let text = |field: &str| conn.get(field).and_then(Value::as_str).map(str::to_owned);
        if let Some(secret) = conn.get("secret").and_then(Value::as_str) {
            match self.derive_keys(secret) {
                Ok(keys) => self.keys = Some(keys),
                Err(e) => {
                    self.close(CloseReason::Protocol(e));
                    return;
                }
            }
        }
        let Some(keys) = self.keys.as_ref() else {
            self.close(CloseReason::Protocol(SessionError::ConnWithoutSecret));
            return;
        };
        let session = match self.session.take() {
            Some(mut s) => {
                s.enc_key = *keys.enc_key();
                s.mac_key = *keys.mac_key();
                s
            }
            None => {
                let required = |field: &'static str| {
                    text(field).ok_or(SessionError::MissingField {
                        message: "Conn",
                        field,
                    })
                };
                let fields = (|| {
                    Ok::<_, SessionError>((
                        required("clientToken")?,
                        required("serverToken")?,
                        required("wid")?,
                    ))
                })();
                let (client_token, server_token, wid) = match fields {
                    Ok(f) => f,
                    Err(e) => {
                        self.close(CloseReason::Protocol(e));
                        return;
                    }
                };
                let private_key = self
                    .key_pair
                    .as_ref()
                    .map(|k| *k.private_bytes())
                    .unwrap_or_default();
                SessionData {
                    client_id: self.client_id.clone(),
                    private_key,
                    client_token,
                    server_token,
                    browser_token: text("browserToken").unwrap_or_default(),
                    enc_key: *keys.enc_key(),
                    mac_key: *keys.mac_key(),
                    wid,
                }
            }
        };
        let mut session = session;
        if let Some(t) = text("clientToken") {
            session.client_token = t;
        }
        if let Some(t) = text("serverToken") {
            session.server_token = t;
        }
        if let Some(t) = text("browserToken") {
            session.browser_token = t;
        }
        if let Some(wid) = text("wid") {
            session.wid = wid;
        }
        let info = conn_info(conn, &session.wid);
        self.events
            .push_back(Event::SessionUpdated(Box::new(session.clone())));
        self.session = Some(session);
        self.login_deadline = None;
        self.qr = None;
        // Replies to login-phase requests (the login itself, a late reref) no longer matter,
        // but are still recognised rather than reported as unsolicited.
        for pending in self.pending.values_mut() {
            if pending.kind != RequestKind::User {
                pending.deadline = None;
            }
        }
        if matches!(self.phase, Phase::Connected) {
            self.events.push_back(Event::ConnUpdated(info));
        } else {
            self.phase = Phase::Connected;
            self.events.push_back(Event::Connected(info));
        }
    }

    fn derive_keys(&self, secret_b64: &str) -> Result<SessionKeys, SessionError> {
        let secret = Zeroizing::new(
            BASE64
                .decode(secret_b64)
                .map_err(|_| SessionError::BadSecret("not base64".into()))?,
        );
        let key_pair = self
            .key_pair
            .as_ref()
            .ok_or_else(|| SessionError::BadSecret("no key pair for this session".into()))?;
        SessionKeys::from_secret(key_pair, &secret)
            .map_err(|e| SessionError::BadSecret(e.to_string()))
    }

    fn handle_cmd(&mut self, now: Timestamp, cmd: Map<String, Value>) {
        match cmd.get("type").and_then(Value::as_str) {
            Some("challenge") => {
                if !matches!(self.phase, Phase::Restoring) {
                    self.events.push_back(Event::Cmd(cmd));
                    return;
                }
                let challenge = cmd
                    .get("challenge")
                    .and_then(Value::as_str)
                    .and_then(|c| BASE64.decode(c).ok());
                let (Some(challenge), Some(keys), Some(session)) =
                    (challenge, self.keys.as_ref(), self.session.as_ref())
                else {
                    self.close(CloseReason::Protocol(SessionError::MissingField {
                        message: "Cmd challenge",
                        field: "challenge",
                    }));
                    return;
                };
                let answer = BASE64.encode(challenge_response(keys, &challenge));
                let body = json!([
                    "admin",
                    "challenge",
                    answer,
                    session.server_token,
                    session.client_id
                ]);
                self.send_admin(now, RequestKind::Challenge, body);
                self.login_deadline = Some(now + self.config.request_timeout);
                self.events.push_back(Event::ChallengeAnswered);
            }
            Some("disconnect") => {
                let kind = cmd.get("kind").and_then(Value::as_str);
                if kind == Some("replaced") {
                    self.close(CloseReason::Replaced);
                } else {
                    self.close(CloseReason::ServerDisconnected {
                        kind: kind.map(str::to_owned),
                    });
                }
            }
            _ => self.events.push_back(Event::Cmd(cmd)),
        }
    }

    fn handle_binary(&mut self, tag: Tag, payload: &[u8]) {
        if self
            .pending
            .get(&tag)
            .is_some_and(|p| p.kind == RequestKind::User)
        {
            self.pending.remove(&tag);
        }
        let Some(keys) = self.keys.as_ref() else {
            self.events
                .push_back(Event::Error(SessionError::BinaryBeforeLogin { tag }));
            return;
        };
        let plaintext = match open_server_frame(keys, payload) {
            Ok(plaintext) => Zeroizing::new(plaintext),
            Err(source) => {
                self.events
                    .push_back(Event::Error(SessionError::Decrypt { tag, source }));
                return;
            }
        };
        match Codec::legacy().decode(&plaintext) {
            Ok(node) => self.events.push_back(Event::Node { tag, node }),
            Err(source) => self
                .events
                .push_back(Event::Error(SessionError::Decode { tag, source })),
        }
    }
}

/// Whether a 401 reply to this JSON request refuses one item (a picture hidden from us, a
/// number or group we may not see, a group we do not administer) rather than meaning the
/// session was logged out, as a 401 to any other request does.
fn json_401_is_an_answer(body: &Value) -> bool {
    matches!(
        body.get(1).and_then(Value::as_str),
        Some("ProfilePicThumb" | "Status" | "GroupMetadata" | "inviteCode" | "inviteReset")
    )
}

/// Whether a 401 reply to this node refuses one item: group actions and the `group` query
/// answer 401 to a non-member or non-admin.
fn node_401_is_an_answer(node: &Node) -> bool {
    match node.tag.as_str() {
        "action" => node.child("group").is_some(),
        "query" => node.attrs.get("type") == Some("group"),
        _ => false,
    }
}

fn status_of(body: &Value) -> Option<u16> {
    body.get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
}

fn ttl_of(body: &Value) -> Option<Duration> {
    body.get("ttl")
        .and_then(Value::as_u64)
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
}

fn lenient_string(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn conn_info(conn: &Map<String, Value>, wid: &str) -> ConnInfo {
    let phone = conn.get("phone").and_then(Value::as_object);
    let phone_field = |name: &str| lenient_string(phone.and_then(|p| p.get(name)));
    let battery = match conn.get("battery") {
        Some(Value::Number(n)) => n.as_u64().and_then(|b| u8::try_from(b).ok()),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    ConnInfo {
        wid: wid.to_owned(),
        pushname: lenient_string(conn.get("pushname")),
        platform: lenient_string(conn.get("platform")),
        phone: PhoneInfo {
            device_manufacturer: phone_field("device_manufacturer"),
            device_model: phone_field("device_model"),
            os_version: phone_field("os_version"),
            os_build_number: phone_field("os_build_number"),
            mcc: phone_field("mcc"),
            mnc: phone_field("mnc"),
            wa_version: phone_field("wa_version"),
        },
        battery,
        plugged: conn.get("plugged").and_then(Value::as_bool),
        connected: conn.get("connected").and_then(Value::as_bool),
        tos: conn.get("tos").and_then(Value::as_u64),
        locale_country: lenient_string(conn.get("lc")),
        locale_language: lenient_string(conn.get("lg")),
    }
}

/// The HTTP logout request for a session without a socket:
/// `<base>/logout?t=<browserToken>&m=<base64(HMAC-SHA256(macKey, encKey))>`, query values
/// percent-encoded. `base` is e.g. `https://web.whatsapp.com` (a trailing `/` is ignored).
pub fn logout_url(base: &str, session: &SessionData) -> String {
    let token = logout_token(&session.session_keys());
    format!(
        "{}/logout?t={}&m={}",
        base.trim_end_matches('/'),
        percent_encode(&session.browser_token),
        percent_encode(&token)
    )
}

fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
