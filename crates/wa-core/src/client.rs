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
use serde_json::{Value, json};
use wa_binary::{Codec, Node};
use wa_crypto::legacy::{Flags, Metric, SessionKeys, logout_token, seal_client_frame};
use wa_crypto::{CryptoRng, KeyPair, RngCore};
use zeroize::Zeroizing;

use crate::frame::{Frame, JsonForm, Tag, TagGenerator, WireMessage};
use crate::session::SessionData;
use crate::time::Timestamp;

mod config;
mod errors;
mod events;
mod incoming;

pub use config::{BrowserDescription, ClientConfig, MAX_SEND_FRAME_LEN};
pub use errors::{CloseReason, CommandError, SessionError};
pub use events::{ConnInfo, Event, PhoneInfo, QrCode, RequestKind, SessionState, StreamUpdate};
use incoming::{json_401_is_an_answer, node_401_is_an_answer};

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
