//! The sans-IO server: all of the simulator's protocol logic, with no sockets, clocks or tasks.
//!
//! A [`Server`] is driven by calls, and answers through queues:
//!
//! - inputs: [`Server::handle_connect`], [`Server::handle_message`] (one WebSocket message),
//!   [`Server::handle_disconnect`], [`Server::handle_timeout`], and the control commands
//!   ([`Server::scan`], [`Server::present_qr`], [`Server::http_logout`], [`Server::unpair`], ...);
//! - outputs: [`Server::poll_output`] (messages to send and connections to close, in order),
//!   [`Server::poll_event`] (what happened, for tests and logs), and [`Server::poll_timeout`]
//!   (when [`Server::handle_timeout`] must next be called).
//!
//! Every input takes `now` ([`Timestamp`], Unix milliseconds), and all randomness comes from one
//! RNG seeded from [`Config::rng_seed`], so a test can step a client core against this server with
//! a simulated clock and get the same bytes every run:
//!
//! ```
//! use std::time::Duration;
//! use wa_core::{Timestamp, WireMessage};
//! use wa_sim::core::{Config, Output, Server};
//!
//! let mut server = Server::new(Config { rng_seed: Some(7), ..Config::default() });
//! let now = Timestamp::from_unix_ms(1_600_000_000_000);
//! let conn = server.handle_connect(now);
//! let init = r#"1600000000.--0,["admin","init",[2,2142,12],["Baileys","Chrome","3.0"],"AAAAAAAAAAAAAAAAAAAAAA==",true]"#;
//! server.handle_message(conn, now, WireMessage::Text(init.into())).unwrap();
//! let Some(Output::Send { message: WireMessage::Text(reply), .. }) = server.poll_output() else {
//!     panic!("expected the init reply")
//! };
//! assert!(reply.starts_with(r#"1600000000.--0,{"#) && reply.contains(r#""status":200"#));
//! assert_eq!(server.poll_timeout(), None); // nothing scheduled until a QR is presented
//! # let _ = Duration::ZERO;
//! ```
//!
//! The protocol it speaks is the legacy WhatsApp Web one: `admin init` / `reref` for QR refs, a
//! simulated phone that scans a QR and sends `s1 Conn` with a `secret` built for the client's
//! public key, takeover logins with stored tokens (optionally with a `challenge` first), the
//! `goodbye` and HTTP logouts, keepalives, and binary frames sealed with the session's keys.
//!
//! Messaging (in the `messaging` submodule) works on per-account stores
//! ([`crate::store`]): relays are de-duplicated by id, stored, acked and routed to other accounts,
//! group members or the echo contact; receipts become `Msg` acks; queries are answered from the
//! stores; the echo contact's steps and the simulated phones' receipts are scheduled work run by
//! [`Server::handle_timeout`]. Media blobs live in a sans-IO [`MediaHost`] that the network
//! driver exposes over HTTP.

use std::collections::{BTreeMap, HashMap, VecDeque};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};
use wa_core::{Frame, JsonForm, Tag, Timestamp, WireMessage};
use wa_crypto::legacy::{SessionKeys, open_client_frame, seal_server_frame};

use crate::error::RequestError;
use crate::media::MediaHost;
use crate::nodes;
use crate::seed::SeedAccount;
use crate::store::{AccountStore, Group};

mod config;
mod control;
mod events;
mod login;
mod messaging;
mod seeding;

pub use config::{Config, DEFAULT_SERVER_VERSION};
pub use events::{ConnectionInfo, LogoutVia, Output, SessionInfo, SimEvent, StateSnapshot};
use messaging::{Faults, Task};
use seeding::seed_stores;

/// Identifies one client connection (one WebSocket) on a [`Server`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ConnId(u64);

impl ConnId {
    /// The connection's number (unique for the server's lifetime).
    pub fn get(self) -> u64 {
        self.0
    }
}

#[derive(Debug)]
struct RefState {
    current: String,
    issued_at: Timestamp,
    rerefs: u32,
}

#[derive(Debug)]
enum Stage {
    New,
    AwaitingScan(RefState),
    Challenged {
        client_id: String,
        challenge: Vec<u8>,
        login_tag: Tag,
    },
    LoggedIn {
        client_id: String,
    },
    /// The server closed the connection; `replaced` when a takeover did.
    Closed {
        replaced: bool,
    },
}

impl Stage {
    fn name(&self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::AwaitingScan(_) => "awaiting_scan",
            Stage::Challenged { .. } => "challenged",
            Stage::LoggedIn { .. } => "logged_in",
            Stage::Closed { .. } => "closed",
        }
    }
}

#[derive(Debug)]
struct Connection {
    client_id: Option<String>,
    stage: Stage,
    next_server_tag: u32,
    next_preempt: u32,
    /// A QR the phone has seen, scanned at the given time (auto-scan).
    pending_scan: Option<(String, Timestamp)>,
    /// When the initial contacts and chats are pushed.
    pending_push: Option<Timestamp>,
}

impl Connection {
    fn server_tag(&mut self) -> Tag {
        let tag = format!("s{}", self.next_server_tag);
        self.next_server_tag = self.next_server_tag.saturating_add(1);
        tag_of(&tag)
    }

    fn preempt_tag(&mut self) -> Tag {
        let tag = format!("preempt-{}", self.next_preempt);
        self.next_preempt = self.next_preempt.saturating_add(1);
        tag_of(&tag)
    }
}

struct Session {
    account: usize,
    keys: SessionKeys,
    client_token: String,
    server_token: String,
    browser_token: String,
    conn: Option<ConnId>,
}

/// Per-account state that changes at run time.
#[derive(Debug, Default)]
struct AccountState {
    /// `tos` value; 2 or more refuses logins with 403.
    tos: u8,
}

/// The simulated WhatsApp Web server (sans-IO). See the [module docs](self).
pub struct Server {
    config: Config,
    accounts: Vec<SeedAccount>,
    account_state: Vec<AccountState>,
    rng: StdRng,
    next_conn: u64,
    connections: BTreeMap<ConnId, Connection>,
    sessions: HashMap<String, Session>,
    outputs: VecDeque<Output>,
    /// Outputs held back until a time (the phone round-trip), in the order they were queued.
    delayed: Vec<(Timestamp, Output)>,
    /// While set, messages to this connection are held back until this time.
    defer: Option<(ConnId, Timestamp)>,
    events: VecDeque<SimEvent>,
    /// Per account (same order as `accounts`): chats, messages, blocklist, profile.
    stores: Vec<AccountStore>,
    /// Nodes for accounts none of whose clients was connected, pushed at the next login.
    offline: Vec<Vec<nodes::Node>>,
    groups: BTreeMap<String, Group>,
    media: MediaHost,
    tasks: Vec<(Timestamp, Task)>,
    faults: Faults,
    next_push: u64,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("connections", &self.connections.len())
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

/// How a `admin login` asks for the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LoginMode {
    Takeover,
    Reconnect,
}

impl Server {
    /// A server with `config`.
    pub fn new(mut config: Config) -> Server {
        let mut accounts = std::mem::take(&mut config.accounts);
        if accounts.is_empty() {
            accounts.push(SeedAccount::default());
        }
        let mut rng = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::seed_from_u64(0),
        };
        let mut auth = [0u8; 24];
        rng.fill_bytes(&mut auth);
        let mut media =
            MediaHost::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(auth));
        media.url_ttl = config.media_url_ttl;
        let (stores, groups) = seed_stores(&accounts);
        Server {
            offline: accounts.iter().map(|_| Vec::new()).collect(),
            stores,
            groups,
            media,
            tasks: Vec::new(),
            faults: Faults::default(),
            next_push: 0,
            account_state: accounts.iter().map(|_| AccountState::default()).collect(),
            accounts,
            config,
            rng,
            next_conn: 1,
            connections: BTreeMap::new(),
            sessions: HashMap::new(),
            outputs: VecDeque::new(),
            delayed: Vec::new(),
            defer: None,
            events: VecDeque::new(),
        }
    }

    /// The configuration in force (its `accounts` field is empty: see [`Server::accounts`]).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The simulated accounts.
    pub fn accounts(&self) -> &[SeedAccount] {
        &self.accounts
    }

    // ----- inputs -------------------------------------------------------------------------

    /// A client connected; returns its id.
    pub fn handle_connect(&mut self, _now: Timestamp) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.connections.insert(
            conn,
            Connection {
                client_id: None,
                stage: Stage::New,
                next_server_tag: 1,
                next_preempt: 1,
                pending_scan: None,
                pending_push: None,
            },
        );
        self.events.push_back(SimEvent::Connected { conn });
        conn
    }

    /// The connection closed (the transport noticed, or the driver closed it after
    /// [`Output::Close`]). The session stays paired; it may be restored later.
    pub fn handle_disconnect(&mut self, conn: ConnId, _now: Timestamp) {
        if self.connections.remove(&conn).is_none() {
            return;
        }
        self.drop_delayed(conn);
        for session in self.sessions.values_mut() {
            if session.conn == Some(conn) {
                session.conn = None;
            }
        }
        self.events.push_back(SimEvent::Disconnected { conn });
    }

    /// One WebSocket message from `conn`.
    ///
    /// Answers (if any) are queued for [`Server::poll_output`]. A frame the server refuses is
    /// answered with a 4xx status on its tag when it has one, reported as
    /// [`SimEvent::Rejected`], and returned as the error; the connection stays open.
    pub fn handle_message(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        message: WireMessage,
    ) -> Result<(), RequestError> {
        let Some(connection) = self.connections.get(&conn) else {
            return Ok(());
        };
        if let Stage::Closed { replaced } = connection.stage {
            let error = if replaced {
                RequestError::Replaced
            } else {
                RequestError::NotLoggedIn
            };
            return self.reject(conn, salvage_tag(&message), error);
        }
        let len = match &message {
            WireMessage::Text(text) => text.len(),
            WireMessage::Binary(bytes) => bytes.len(),
        };
        if self
            .faults
            .close_on_frames_over
            .is_some_and(|limit| len > limit)
        {
            self.outputs.push_back(Output::Close { conn });
            return Ok(());
        }
        let frame = match Frame::parse_with_limit(&message, self.config.max_frame_len) {
            Ok(frame) => frame,
            Err(error) => return self.reject(conn, salvage_tag(&message), error.into()),
        };
        let (tag, result) = match frame {
            Frame::Keepalive => {
                self.send(conn, Frame::pong(now));
                return Ok(());
            }
            Frame::Pong { .. } => (
                None,
                Err(RequestError::Malformed(
                    "a client does not send pongs".into(),
                )),
            ),
            Frame::Json { tag, body, .. } => {
                let result = self.handle_json(conn, now, &tag, &body);
                (Some(tag), result)
            }
            Frame::Binary { tag, payload } => {
                let result = self.handle_binary(conn, now, &tag, &payload);
                (Some(tag), result)
            }
        };
        result.or_else(|error| self.reject(conn, tag, error))
    }

    /// One already parsed frame from `conn` (for harnesses stepping a client core that emits
    /// [`Frame`]s); the same as [`Server::handle_message`] on its wire form.
    pub fn handle_frame(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        frame: &Frame,
    ) -> Result<(), RequestError> {
        self.handle_message(conn, now, frame.to_wire())
    }

    /// Runs everything due at `now`: answers held back for the phone round-trip, auto-scans of
    /// presented QR codes, and the pushes that follow a login.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.run_due_tasks(now);
        if self.delayed.iter().any(|(at, _)| *at <= now) {
            let (due, later): (Vec<_>, Vec<_>) =
                self.delayed.drain(..).partition(|(at, _)| *at <= now);
            self.delayed = later;
            self.outputs
                .extend(due.into_iter().map(|(_, output)| output));
        }
        let due: Vec<ConnId> = self
            .connections
            .iter()
            .filter(|(_, c)| {
                c.pending_scan.as_ref().is_some_and(|(_, at)| *at <= now)
                    || c.pending_push.is_some_and(|at| at <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for conn in due {
            let Some(connection) = self.connections.get_mut(&conn) else {
                continue;
            };
            let scan = match connection.pending_scan.take() {
                Some((qr, at)) if at <= now => Some(qr),
                other => {
                    connection.pending_scan = other;
                    None
                }
            };
            let push = connection.pending_push.is_some_and(|at| at <= now);
            if push {
                connection.pending_push = None;
            }
            if let Some(qr) = scan {
                if let Err(error) = self.scan(now, &qr) {
                    self.events.push_back(SimEvent::ScanFailed {
                        error: error.to_string(),
                    });
                }
            }
            if push {
                self.push_initial_data(conn);
            }
        }
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next message to send or connection to close.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SimEvent> {
        self.events.pop_front()
    }

    /// When [`Server::handle_timeout`] must next be called, if anything is scheduled.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.connections
            .values()
            .flat_map(|c| {
                c.pending_scan
                    .as_ref()
                    .map(|(_, at)| *at)
                    .into_iter()
                    .chain(c.pending_push)
            })
            .chain(self.delayed.iter().map(|(at, _)| *at))
            .chain(self.tasks.iter().map(|(at, _)| *at))
            .min()
    }

    // ----- binary requests ------------------------------------------------------------------

    fn handle_binary(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        tag: &Tag,
        payload: &[u8],
    ) -> Result<(), RequestError> {
        let client_id = self.require_login(conn)?;
        let keys = self
            .sessions
            .get(&client_id)
            .map(|s| &s.keys)
            .ok_or(RequestError::NotLoggedIn)?;
        let opened =
            open_client_frame(keys, payload).map_err(|e| RequestError::Crypto(e.to_string()))?;
        let (full, node) =
            nodes::decode_client_node(&opened.plaintext).map_err(RequestError::Node)?;
        self.events.push_back(SimEvent::ClientNode {
            conn,
            tag: tag.as_str().to_owned(),
            metric: opened.metric_byte,
            flags: opened.flags.bits(),
            node,
        });
        self.handle_node(conn, now, tag, &full)
    }

    // ----- helpers --------------------------------------------------------------------------

    fn connection(&mut self, conn: ConnId) -> Result<&mut Connection, RequestError> {
        self.connections
            .get_mut(&conn)
            .ok_or(RequestError::NotLoggedIn)
    }

    fn require_login(&self, conn: ConnId) -> Result<String, RequestError> {
        match self.connections.get(&conn).map(|c| &c.stage) {
            Some(Stage::LoggedIn { client_id }) => Ok(client_id.clone()),
            _ => Err(RequestError::NotLoggedIn),
        }
    }

    fn account_of(&self, conn: ConnId) -> Option<&SeedAccount> {
        let client_id = match &self.connections.get(&conn)?.stage {
            Stage::LoggedIn { client_id } => client_id,
            _ => return None,
        };
        self.accounts.get(self.sessions.get(client_id)?.account)
    }

    fn reject(
        &mut self,
        conn: ConnId,
        tag: Option<Tag>,
        error: RequestError,
    ) -> Result<(), RequestError> {
        let status = error.status();
        let answered = match tag {
            Some(tag) => {
                self.send_status(conn, tag, status);
                status
            }
            None => 0,
        };
        self.events.push_back(SimEvent::Rejected {
            conn,
            status: answered,
            error: error.to_string(),
        });
        Err(error)
    }

    fn send(&mut self, conn: ConnId, frame: Frame) {
        let output = Output::Send {
            conn,
            message: frame.to_wire(),
        };
        match self.defer {
            Some((c, at)) if c == conn => self.delayed.push((at, output)),
            _ => self.outputs.push_back(output),
        }
    }

    /// Runs `f` with messages to `conn` held back by [`Config::phone_latency`].
    fn after_phone_round_trip<T>(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        f: impl FnOnce(&mut Server) -> T,
    ) -> T {
        let latency = self.config.phone_latency;
        if !latency.is_zero() {
            self.defer = Some((conn, now + latency));
        }
        let result = f(self);
        self.defer = None;
        result
    }

    fn drop_delayed(&mut self, conn: ConnId) {
        self.delayed
            .retain(|(_, o)| !matches!(o, Output::Send { conn: c, .. } if *c == conn));
    }

    fn send_json(&mut self, conn: ConnId, tag: Tag, body: Value) {
        self.send(conn, Frame::json(tag, JsonForm::OneComma, body));
    }

    fn send_status(&mut self, conn: ConnId, tag: Tag, status: u16) {
        self.send_json(conn, tag, json!({ "status": status }));
    }

    fn send_node(&mut self, conn: ConnId, tag: Tag, node: &nodes::Node) {
        let Some(client_id) = self.logged_in_client(conn).map(str::to_owned) else {
            return;
        };
        let Some(session) = self.sessions.get(&client_id) else {
            return;
        };
        let plaintext = nodes::encode(node);
        let payload = seal_server_frame(&session.keys, &plaintext, &mut self.rng);
        self.send(conn, Frame::binary(tag, payload));
    }

    fn close(&mut self, conn: ConnId) {
        self.drop_delayed(conn);
        if let Some(connection) = self.connections.get_mut(&conn) {
            if !matches!(connection.stage, Stage::Closed { .. }) {
                connection.stage = Stage::Closed { replaced: false };
            }
            connection.pending_push = None;
            connection.pending_scan = None;
        }
        self.outputs.push_back(Output::Close { conn });
    }

    fn new_ref(&mut self) -> String {
        let mut bytes = [0u8; 18];
        self.rng.fill_bytes(&mut bytes);
        format!("1@{}", BASE64.encode(bytes))
    }

    fn token(&mut self, len: usize, prefix: &str) -> String {
        let mut bytes = vec![0u8; len];
        self.rng.fill_bytes(&mut bytes);
        format!("{prefix}{}", BASE64.encode(bytes))
    }
}

/// The tag of a message that failed to parse, if one can be read from its start, so the error
/// can be answered on it.
fn salvage_tag(message: &WireMessage) -> Option<Tag> {
    let bytes = match message {
        WireMessage::Text(text) => text.as_bytes(),
        WireMessage::Binary(bytes) => bytes.as_slice(),
    };
    let head = bytes.get(..bytes.len().min(wa_core::frame::MAX_TAG_LEN + 1))?;
    let comma = head.iter().position(|&b| b == b',')?;
    let tag = std::str::from_utf8(head.get(..comma)?).ok()?;
    Tag::new(tag).ok()
}

fn tag_of(text: &str) -> Tag {
    Tag::new(text).expect("server tags are short ASCII letters, digits and '-'")
}
