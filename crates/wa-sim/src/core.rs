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
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};
use wa_core::{Frame, JsonForm, Tag, Timestamp, WireMessage};
use wa_crypto::legacy::{SessionKeys, open_client_frame, seal_server_frame};

use crate::error::{LogoutError, RequestError, ScanError};
use crate::media::{MediaError, MediaHost};
use crate::nodes::{self, ClientNode};
use crate::seed::SeedAccount;
use crate::store::{AccountStore, ChatState, ECHO_JID, Group, Participant};

mod messaging;
use messaging::{Faults, Task};

/// The WhatsApp Web version the server announces (`curr` in the init reply, `Stream update`).
pub const DEFAULT_SERVER_VERSION: &str = "0.2.7314";

/// Identifies one client connection (one WebSocket) on a [`Server`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ConnId(u64);

impl ConnId {
    /// The connection's number (unique for the server's lifetime).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Server settings. `Config::default()` is what a test usually wants.
#[derive(Clone, Debug)]
pub struct Config {
    /// Seed of the server's RNG (refs, tokens, keys, IVs). The core never reads the OS's
    /// randomness: `None` means seed 0 here, and `SimServer::start` replaces `None` with a seed
    /// drawn from the OS before it builds the core.
    pub rng_seed: Option<u64>,
    /// The simulated accounts; the first one scans QR codes unless another is named. Empty means
    /// one [`SeedAccount::default`]. Accounts built in code should pass [`SeedAccount::validate`]
    /// ([`SeedAccount::from_json`] and `SimServer::start` check it).
    pub accounts: Vec<SeedAccount>,
    /// How long after a QR is presented with [`Server::present_qr`] the phone scans it. `None`:
    /// presented QR codes are only scanned on [`Server::scan`].
    pub auto_scan_delay: Option<Duration>,
    /// Whether a takeover login is first answered with a `Cmd challenge` (and `Conn` as `s2`).
    pub challenge_on_restore: bool,
    /// Lifetime of a QR ref (`ttl` of the init and reref replies).
    pub ref_ttl: Duration,
    /// How many `reref` requests one connection may make before getting 429.
    pub max_rerefs: u32,
    /// A reref asked for sooner than this after the current ref was issued gets 304.
    pub reref_min_interval: Duration,
    /// Longest accepted WebSocket message; longer ones get 413. Default
    /// [`wa_core::client::MAX_SEND_FRAME_LEN`], the limit our client keeps to.
    pub max_frame_len: usize,
    /// The simulated phone's round-trip: answers to `admin login` and the `Conn` that follows a
    /// challenge are sent this long after the request, as the real server had to ask the phone.
    /// Clients depend on the gap: Baileys 3.5.3 starts listening for `s1`/`s2` only after it has
    /// processed the reply to `admin init` / `admin challenge`, so an answer in the same TCP read
    /// would be lost. `Duration::ZERO` answers at once.
    pub phone_latency: Duration,
    /// How long after `Conn` the contacts and chats are pushed (a real server's pushes arrive
    /// after the client has processed `Conn`; pushing in the same instant would race it).
    pub initial_push_delay: Duration,
    /// Version string announced in `curr` and `Stream`.
    pub server_version: String,
    /// Whether the phone answers `admin test` (`["Pong",true]`) or is unreachable.
    pub phone_reachable: bool,
    /// The built-in contact that acks (delivered, read) and echoes every message sent to it;
    /// `None` turns it off. Default [`ECHO_JID`].
    pub echo_jid: Option<String>,
    /// Delay between the echo contact's steps (delivered, composing, read, reply).
    pub echo_delay: Duration,
    /// `host:port` of the media host announced in `mediaConn` and used in media URLs. The
    /// network driver sets it to its own address.
    pub media_host: Option<String>,
    /// Scheme of media URLs and uploads: `https` (what real clients assume) or `http`. The
    /// network driver sets it from whether it serves TLS.
    pub media_scheme: String,
    /// How long a media download URL works before answering 404.
    pub media_url_ttl: Duration,
    /// How many of each chat's latest messages are pushed after login
    /// (`["action",{add:"last"},[message...]]`, after the chats); 0 pushes none.
    pub recent_messages_per_chat: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            rng_seed: None,
            accounts: vec![SeedAccount::default()],
            auto_scan_delay: None,
            challenge_on_restore: false,
            ref_ttl: Duration::from_secs(20),
            max_rerefs: 5,
            reref_min_interval: Duration::from_secs(1),
            max_frame_len: wa_core::client::MAX_SEND_FRAME_LEN,
            phone_latency: Duration::from_millis(250),
            initial_push_delay: Duration::from_millis(200),
            server_version: DEFAULT_SERVER_VERSION.to_owned(),
            phone_reachable: true,
            echo_jid: Some(ECHO_JID.to_owned()),
            echo_delay: messaging::DEFAULT_ECHO_DELAY,
            media_host: None,
            media_scheme: "https".to_owned(),
            media_url_ttl: Duration::from_secs(3600),
            recent_messages_per_chat: 20,
        }
    }
}

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send `message` on connection `conn`.
    Send {
        /// The connection.
        conn: ConnId,
        /// The WebSocket message.
        message: WireMessage,
    },
    /// Close connection `conn` (after sending everything queued before this).
    Close {
        /// The connection.
        conn: ConnId,
    },
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogoutVia {
    /// The client sent `goodbye` (`["admin","Conn","disconnect"]`).
    Goodbye,
    /// `POST /logout?t=..&m=..`.
    Http,
    /// The simulated phone removed the session ([`Server::unpair`]).
    Phone,
}

/// Something that happened on the server, for tests and logs (no secrets inside).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SimEvent {
    /// Something happened on a multi-device (`/ws/chat`) connection.
    Md {
        /// The connection's number (counted apart from the legacy [`ConnId`]s).
        conn: u64,
        /// What happened.
        md: crate::md::MdEvent,
    },
    /// A connection opened.
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// A connection closed (either side).
    Disconnected {
        /// The connection.
        conn: ConnId,
    },
    /// The phone scanned a QR: a new session exists.
    Paired {
        /// The connection that showed the QR.
        conn: ConnId,
        /// The client's id.
        client_id: String,
        /// The account that scanned.
        wid: String,
    },
    /// A connection logged in (after a scan or a restore).
    LoggedIn {
        /// The connection.
        conn: ConnId,
        /// The session's client id.
        client_id: String,
        /// Whether this was a restore with stored tokens (`admin login`).
        restored: bool,
        /// Whether the restore went through a challenge.
        challenged: bool,
    },
    /// A takeover disconnected the session's previous connection.
    Replaced {
        /// The connection that was replaced (and closed).
        old: ConnId,
        /// The connection that took over.
        new: ConnId,
    },
    /// A login or challenge was refused with `status`.
    LoginRefused {
        /// The connection.
        conn: ConnId,
        /// The status sent (401, 403, 405, 409).
        status: u16,
    },
    /// A session was unpaired; its tokens are refused from now on.
    LoggedOut {
        /// The session's client id.
        client_id: String,
        /// What ended it.
        via: LogoutVia,
    },
    /// A logged-in client sent a binary node (decrypted and decoded).
    ClientNode {
        /// The connection.
        conn: ConnId,
        /// The frame's tag.
        tag: String,
        /// The frame's metric byte.
        metric: u8,
        /// The frame's flag byte.
        flags: u8,
        /// A summary of the node.
        node: ClientNode,
    },
    /// A frame was refused; the connection stays open.
    Rejected {
        /// The connection.
        conn: ConnId,
        /// The status answered (0 when the frame had no tag to answer on).
        status: u16,
        /// The error, as text.
        error: String,
    },
    /// A presented QR could not be scanned when its auto-scan time came.
    ScanFailed {
        /// Why.
        error: String,
    },
    /// A client relayed a new message (stored, acked and routed).
    Relayed {
        /// The connection.
        conn: ConnId,
        /// The sending account.
        from: String,
        /// The chat it was sent to.
        to: String,
        /// The message id.
        id: String,
    },
    /// A client relayed a message id it had relayed before: acked again, not delivered again.
    DuplicateRelay {
        /// The connection.
        conn: ConnId,
        /// The message id.
        id: String,
    },
    /// An armed fault fired (`drop_before_ack`, `duplicate_delivery`, `garbage`, `truncated`).
    FaultInjected {
        /// The connection it hit (0 when it hit an account's connections).
        conn: ConnId,
        /// Which fault.
        fault: String,
    },
}

/// A paired session as seen from outside (tokens are public test data; keys are not included,
/// see [`Server::session_keys`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// The client id announced in `admin init`.
    pub client_id: String,
    /// The account's JID.
    pub wid: String,
    /// The current client token.
    pub client_token: String,
    /// The current server token.
    pub server_token: String,
    /// The browser token (for `POST /logout?t=`).
    pub browser_token: String,
    /// The connection currently logged in to this session, if any.
    pub conn: Option<ConnId>,
}

/// A connection as seen from outside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectionInfo {
    /// The connection.
    pub conn: ConnId,
    /// The client id announced in `admin init`, if any.
    pub client_id: Option<String>,
    /// The stage: `new`, `awaiting_scan`, `challenged`, `logged_in`, `closed`.
    pub stage: &'static str,
    /// The QR ref the connection currently shows, if it awaits a scan.
    pub qr_ref: Option<String>,
}

/// A snapshot of the server for the control API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StateSnapshot {
    /// Open connections.
    pub connections: Vec<ConnectionInfo>,
    /// Paired sessions.
    pub sessions: Vec<SessionInfo>,
    /// The accounts' JIDs.
    pub accounts: Vec<String>,
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

    // ----- control commands -----------------------------------------------------------------

    /// The phone scans `qr` (`ref,base64(public key),clientId`, as the client shows it) now,
    /// with the first account.
    pub fn scan(&mut self, now: Timestamp, qr: &str) -> Result<ConnId, ScanError> {
        self.scan_as(now, qr, None)
    }

    /// The phone of account `wid` (or the first account) scans `qr` now: the connection showing
    /// that ref is paired and receives `s1 Conn` with a fresh `secret`, then `Stream` and `Props`.
    pub fn scan_as(
        &mut self,
        now: Timestamp,
        qr: &str,
        wid: Option<&str>,
    ) -> Result<ConnId, ScanError> {
        let (qr_ref, public_key, client_id) = parse_qr(qr)?;
        let account = match wid {
            None => 0,
            Some(wid) => self
                .accounts
                .iter()
                .position(|a| a.wid == wid)
                .ok_or_else(|| ScanError::UnknownAccount(wid.to_owned()))?,
        };
        let (conn, connection) = self
            .connections
            .iter()
            .find(|(_, c)| matches!(&c.stage, Stage::AwaitingScan(r) if r.current == qr_ref))
            .ok_or_else(|| ScanError::UnknownRef(qr_ref.clone()))?;
        let conn = *conn;
        if let Stage::AwaitingScan(refs) = &connection.stage {
            if now >= refs.issued_at + self.config.ref_ttl {
                return Err(ScanError::ExpiredRef(qr_ref));
            }
        }
        if connection.client_id.as_deref() != Some(client_id.as_str()) {
            return Err(ScanError::ClientIdMismatch);
        }

        let keys = SessionKeys::generate(&mut self.rng);
        let secret = keys.build_secret(&public_key, &mut self.rng);
        let session = Session {
            account,
            keys,
            client_token: self.token(32, ""),
            server_token: self.token(48, "1@"),
            browser_token: self.token(48, "1@"),
            conn: None,
        };
        // A client id pairs once; scanning again replaces the old session.
        if let Some(old) = self.sessions.remove(&client_id) {
            if let Some(old_conn) = old.conn {
                self.close(old_conn);
            }
        }
        self.sessions.insert(client_id.clone(), session);
        self.events.push_back(SimEvent::Paired {
            conn,
            client_id: client_id.clone(),
            wid: self.accounts[account].wid.clone(),
        });
        self.complete_login(conn, now, &client_id, Some(&secret), None, false, false);
        Ok(conn)
    }

    /// The phone sees `qr`; with [`Config::auto_scan_delay`] set it scans it that long after
    /// `now` (in [`Server::handle_timeout`]). Returns the time of the scan, or `None` when
    /// auto-scan is off.
    pub fn present_qr(&mut self, now: Timestamp, qr: &str) -> Result<Option<Timestamp>, ScanError> {
        let (qr_ref, _, _) = parse_qr(qr)?;
        let Some(delay) = self.config.auto_scan_delay else {
            return Ok(None);
        };
        let connection = self
            .connections
            .values_mut()
            .find(|c| matches!(&c.stage, Stage::AwaitingScan(r) if r.current == qr_ref))
            .ok_or(ScanError::UnknownRef(qr_ref))?;
        let at = now + delay;
        connection.pending_scan = Some((qr.to_owned(), at));
        Ok(Some(at))
    }

    /// `POST /logout?t=<browserToken>&m=<b64(HMAC(macKey, encKey))>`: unpairs the session.
    pub fn http_logout(&mut self, _now: Timestamp, t: &str, m: &str) -> Result<(), LogoutError> {
        if t.is_empty() || m.is_empty() {
            return Err(LogoutError::MissingParameter);
        }
        let client_id = self
            .sessions
            .iter()
            .find(|(_, s)| s.browser_token == t)
            .map(|(id, _)| id.clone())
            .ok_or(LogoutError::UnknownToken)?;
        let session = self
            .sessions
            .get(&client_id)
            .ok_or(LogoutError::UnknownToken)?;
        let given = BASE64.decode(m).map_err(|_| LogoutError::BadMac)?;
        // Same check as `logout_token` (HMAC(macKey, encKey)), compared in constant time.
        wa_crypto::hmac_sha256_verify(session.keys.mac_key(), &[session.keys.enc_key()], &given)
            .map_err(|_| LogoutError::BadMac)?;
        self.end_session(&client_id, LogoutVia::Http);
        Ok(())
    }

    /// The phone removes the session of `client_id` (as "log out from all computers" does).
    /// Returns whether such a session existed.
    pub fn unpair(&mut self, client_id: &str) -> bool {
        if !self.sessions.contains_key(client_id) {
            return false;
        }
        self.end_session(client_id, LogoutVia::Phone);
        true
    }

    /// Sets the `tos` value of account `wid`: 2 or more refuses its logins with
    /// `{status:403, tos}`. Returns whether the account exists.
    pub fn set_account_tos(&mut self, wid: &str, tos: u8) -> bool {
        match self.accounts.iter().position(|a| a.wid == wid) {
            Some(i) => {
                if let Some(state) = self.account_state.get_mut(i) {
                    state.tos = tos;
                }
                true
            }
            None => false,
        }
    }

    /// Turns the challenge on restore on or off.
    pub fn set_challenge_on_restore(&mut self, on: bool) {
        self.config.challenge_on_restore = on;
    }

    /// Sets the QR ref lifetime and the minimum interval between rerefs (for new refs).
    pub fn set_ref_timing(&mut self, ttl: Duration, reref_min_interval: Duration) {
        self.config.ref_ttl = ttl;
        self.config.reref_min_interval = reref_min_interval;
    }

    /// Sets (or clears) the auto-scan delay.
    pub fn set_auto_scan_delay(&mut self, delay: Option<Duration>) {
        self.config.auto_scan_delay = delay;
    }

    // ----- media host -----------------------------------------------------------------------

    /// An upload to the media host: `POST /mms/<type>/<token>?auth=<auth>&token=<token>` (the
    /// `mediaConn` route) or the `encr_upload` URL. `token` is b64url(SHA-256(body)). Returns
    /// the download URL (absolute, with [`Config::media_scheme`] and [`Config::media_host`]).
    pub fn media_upload(
        &mut self,
        now: Timestamp,
        auth: &str,
        token: &str,
        body: Vec<u8>,
    ) -> Result<String, MediaError> {
        if auth != self.media.auth {
            return Err(MediaError::BadAuth);
        }
        let blob = self.media.put(token, body)?;
        let path = self
            .media
            .issue_path(&blob, now)
            .ok_or(MediaError::NotFound)?;
        Ok(self.media_url_for(&path))
    }

    /// A download from the media host: the blob behind `path` (`/mms/d/...` from an upload or
    /// a `media` query, or `/pp/<number>` for a profile picture). Expired URLs give
    /// [`MediaError::NotFound`] (404).
    pub fn media_download(&self, now: Timestamp, path: &str) -> Result<Vec<u8>, MediaError> {
        if let Some(number) = path.strip_prefix("/pp/") {
            return self
                .account_by_jid(&format!("{number}@c.us"))
                .and_then(|a| self.stores[a].picture.clone())
                .ok_or(MediaError::NotFound);
        }
        self.media.get(path, now).map(<[u8]>::to_vec)
    }

    /// The media host (blobs, URL lifetime).
    pub fn media(&self) -> &MediaHost {
        &self.media
    }

    /// Sets the delay between the echo contact's steps.
    pub fn set_echo_delay(&mut self, delay: Duration) {
        self.config.echo_delay = delay;
    }

    /// Makes every media URL issued so far expire now (clients must re-query with a `media`
    /// query to download again).
    pub fn expire_media_urls(&mut self, now: Timestamp) {
        self.media.expire_all(now);
    }

    /// Sets how long newly issued media URLs work.
    pub fn set_media_url_ttl(&mut self, ttl: Duration) {
        self.config.media_url_ttl = ttl;
        self.media.url_ttl = ttl;
    }

    // ----- faults -----------------------------------------------------------------------------

    /// The next relayed message is stored and routed, but its connection is closed instead of
    /// acked (the client must resend; the resend is acked, not delivered again).
    pub fn fault_drop_next_relay_ack(&mut self) {
        self.faults.drop_next_relay_ack = true;
    }

    /// A message from a client longer than `limit` bytes closes its connection without an
    /// answer (as a server whose WebSocket layer will not read a frame that long does); `None`
    /// turns it off. Clients must not jam on it: see the protocol book's limits.
    pub fn fault_close_on_frames_over(&mut self, limit: Option<usize>) {
        self.faults.close_on_frames_over = limit;
    }

    /// The next `count` relayed messages are answered `{"status":503}` (server busy), neither
    /// stored nor routed: the client must relay them again later, with the same ids.
    pub fn fault_defer_next_relays(&mut self, count: u32) {
        self.faults.defer_next_relays = count;
    }

    /// The next message delivered to an account is pushed twice (clients must de-duplicate).
    pub fn fault_duplicate_next_delivery(&mut self) {
        self.faults.duplicate_next_delivery = true;
    }

    /// Sends `conn` a frame the client must survive: `truncated` is a binary frame cut inside
    /// its HMAC; otherwise a tagged binary frame of random bytes (fails the HMAC). Returns
    /// whether `conn` is open.
    pub fn fault_send_garbage(&mut self, conn: ConnId, truncated: bool) -> bool {
        if self.logged_in_client(conn).is_none() && !self.connections.contains_key(&conn) {
            return false;
        }
        let mut payload = vec![0u8; if truncated { 12 } else { 80 }];
        self.rng.fill_bytes(&mut payload);
        let fault = if truncated { "truncated" } else { "garbage" };
        let tag = tag_of(&format!("sim-{fault}-{}", self.next_push));
        self.next_push += 1;
        self.send(conn, Frame::binary(tag, payload));
        self.events.push_back(SimEvent::FaultInjected {
            conn,
            fault: fault.to_owned(),
        });
        true
    }

    /// The logged-in connections of account `wid`.
    pub fn account_connections(&self, wid: &str) -> Vec<ConnId> {
        self.account_by_jid(wid)
            .map(|a| {
                let mut conns: Vec<ConnId> = self
                    .sessions
                    .values()
                    .filter(|s| s.account == a)
                    .filter_map(|s| s.conn)
                    .collect();
                conns.sort();
                conns
            })
            .unwrap_or_default()
    }

    // ----- inspection -----------------------------------------------------------------------

    /// What account `wid`'s phone remembers (chats, messages, blocklist, profile).
    pub fn store(&self, wid: &str) -> Option<&AccountStore> {
        self.account_by_jid(wid).and_then(|a| self.stores.get(a))
    }

    /// A group by id.
    pub fn group(&self, gid: &str) -> Option<&Group> {
        self.groups.get(gid)
    }

    /// The keys of the session of `client_id`, if it is paired.
    pub fn session_keys(&self, client_id: &str) -> Option<&SessionKeys> {
        self.sessions.get(client_id).map(|s| &s.keys)
    }

    /// The paired session of `client_id`.
    pub fn session(&self, client_id: &str) -> Option<SessionInfo> {
        self.sessions
            .get(client_id)
            .map(|s| self.session_info(client_id, s))
    }

    /// The current QR ref of `conn`, if it awaits a scan.
    pub fn qr_ref(&self, conn: ConnId) -> Option<&str> {
        match &self.connections.get(&conn)?.stage {
            Stage::AwaitingScan(refs) => Some(&refs.current),
            _ => None,
        }
    }

    /// The client id of the session `conn` is logged in to.
    pub fn logged_in_client(&self, conn: ConnId) -> Option<&str> {
        match &self.connections.get(&conn)?.stage {
            Stage::LoggedIn { client_id } => Some(client_id),
            _ => None,
        }
    }

    /// A snapshot of connections and sessions.
    pub fn state(&self) -> StateSnapshot {
        let mut sessions: Vec<SessionInfo> = self
            .sessions
            .iter()
            .map(|(id, s)| self.session_info(id, s))
            .collect();
        sessions.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        StateSnapshot {
            connections: self
                .connections
                .iter()
                .map(|(id, c)| ConnectionInfo {
                    conn: *id,
                    client_id: c.client_id.clone(),
                    stage: c.stage.name(),
                    qr_ref: match &c.stage {
                        Stage::AwaitingScan(r) => Some(r.current.clone()),
                        _ => None,
                    },
                })
                .collect(),
            sessions,
            accounts: self.accounts.iter().map(|a| a.wid.clone()).collect(),
        }
    }

    fn session_info(&self, client_id: &str, s: &Session) -> SessionInfo {
        SessionInfo {
            client_id: client_id.to_owned(),
            wid: self
                .accounts
                .get(s.account)
                .map(|a| a.wid.clone())
                .unwrap_or_default(),
            client_token: s.client_token.clone(),
            server_token: s.server_token.clone(),
            browser_token: s.browser_token.clone(),
            conn: s.conn,
        }
    }

    // ----- JSON requests --------------------------------------------------------------------

    fn handle_json(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        tag: &Tag,
        body: &Value,
    ) -> Result<(), RequestError> {
        let items = body
            .as_array()
            .ok_or_else(|| RequestError::Malformed("request is not a JSON array".into()))?;
        let word = |i: usize| items.get(i).and_then(Value::as_str);
        match (word(0), word(1)) {
            (Some("admin"), Some("init")) => self.admin_init(conn, now, tag, items),
            (Some("admin"), Some("Conn")) => match word(2) {
                Some("reref") => self.admin_reref(conn, now, tag),
                Some("disconnect") => {
                    self.goodbye(conn);
                    Ok(())
                }
                other => Err(RequestError::UnknownCommand(format!(
                    "admin Conn {other:?}"
                ))),
            },
            (Some("admin"), Some("login")) => {
                self.after_phone_round_trip(conn, now, |s| s.admin_login(conn, now, tag, items))
            }
            (Some("admin"), Some("challenge")) => self.admin_challenge(conn, now, tag, items),
            (Some("admin"), Some("test")) => {
                let reachable = self.config.phone_reachable;
                self.send_json(conn, tag.clone(), json!(["Pong", reachable]));
                Ok(())
            }
            (Some("admin"), Some("remember")) => {
                self.send_status(conn, tag.clone(), 200);
                Ok(())
            }
            (Some(verb @ ("query" | "action")), Some(kind)) => {
                self.require_login(conn)?;
                match self.messaging_json(conn, now, verb, kind, items)? {
                    Some(body) => {
                        self.send_json(conn, tag.clone(), body);
                        Ok(())
                    }
                    None if verb == "query" => self.json_query(conn, tag, kind, items),
                    None => Err(RequestError::UnknownCommand(format!("action {kind}"))),
                }
            }
            (Some(a), Some(b)) => Err(RequestError::UnknownCommand(format!("{a} {b}"))),
            _ => Err(RequestError::Malformed(
                "request does not start with two strings".into(),
            )),
        }
    }

    fn admin_init(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        tag: &Tag,
        items: &[Value],
    ) -> Result<(), RequestError> {
        let version_ok = items
            .get(2)
            .and_then(Value::as_array)
            .is_some_and(|v| !v.is_empty() && v.iter().all(Value::is_u64));
        let browser_ok = items
            .get(3)
            .and_then(Value::as_array)
            .is_some_and(|b| (2..=3).contains(&b.len()) && b.iter().all(Value::is_string));
        let client_id = items
            .get(4)
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty() && id.len() <= 128);
        let (true, true, Some(client_id)) = (version_ok, browser_ok, client_id) else {
            return Err(RequestError::Malformed(
                "admin init needs [version], [os, browser(, version)], clientId".into(),
            ));
        };
        let client_id = client_id.to_owned();
        let connection = self.connection(conn)?;
        if matches!(connection.stage, Stage::LoggedIn { .. }) {
            self.send_status(conn, tag.clone(), 405);
            return Ok(());
        }
        let qr_ref = self.new_ref();
        let connection = self.connection(conn)?;
        connection.client_id = Some(client_id);
        connection.stage = Stage::AwaitingScan(RefState {
            current: qr_ref.clone(),
            issued_at: now,
            rerefs: 0,
        });
        connection.pending_scan = None;
        let ttl = duration_ms(self.config.ref_ttl);
        let body = json!({
            "status": 200,
            "ref": qr_ref,
            "ttl": ttl,
            "update": false,
            "curr": self.config.server_version,
            "time": now.unix_ms(),
        });
        self.send_json(conn, tag.clone(), body);
        Ok(())
    }

    fn admin_reref(&mut self, conn: ConnId, now: Timestamp, tag: &Tag) -> Result<(), RequestError> {
        let ttl = self.config.ref_ttl;
        let min_interval = self.config.reref_min_interval;
        let max_rerefs = self.config.max_rerefs;
        let new_ref = self.new_ref();
        let connection = self.connection(conn)?;
        let Stage::AwaitingScan(refs) = &mut connection.stage else {
            return Err(RequestError::Malformed(
                "reref without a pending QR (send admin init first)".into(),
            ));
        };
        let body = if refs.rerefs >= max_rerefs {
            json!({ "status": 429 })
        } else if now < refs.issued_at + min_interval {
            let left = (refs.issued_at + ttl).saturating_duration_since(now);
            json!({ "status": 304, "ref": refs.current, "ttl": duration_ms(left) })
        } else {
            refs.current = new_ref;
            refs.issued_at = now;
            refs.rerefs += 1;
            connection.pending_scan = None;
            json!({ "status": 200, "ref": refs.current, "ttl": duration_ms(ttl) })
        };
        self.send_json(conn, tag.clone(), body);
        Ok(())
    }

    fn admin_login(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        tag: &Tag,
        items: &[Value],
    ) -> Result<(), RequestError> {
        let text = |i: usize| items.get(i).and_then(Value::as_str);
        let (Some(client_token), Some(server_token), Some(client_id), Some(mode)) =
            (text(2), text(3), text(4), text(5))
        else {
            return Err(RequestError::Malformed(
                "admin login needs clientToken, serverToken, clientId, mode".into(),
            ));
        };
        let mode = match mode {
            "takeover" => LoginMode::Takeover,
            "reconnect" | "force_reconnect" => LoginMode::Reconnect,
            other => {
                return Err(RequestError::Malformed(format!(
                    "unknown login mode {other:?}"
                )));
            }
        };
        let reconnect_wid = text(6);
        if let Stage::LoggedIn { .. } = self.connection(conn)?.stage {
            return self.refuse_login(conn, tag, 405, None);
        }
        let Some(session) = self.sessions.get(client_id) else {
            return self.refuse_login(conn, tag, 401, None);
        };
        if session.client_token != client_token || session.server_token != server_token {
            return self.refuse_login(conn, tag, 401, None);
        }
        let account = session.account;
        if let (LoginMode::Reconnect, Some(wid)) = (mode, reconnect_wid) {
            let ours = self.accounts.get(account).map(|a| a.number());
            if ours != Some(wid.split('@').next().unwrap_or_default()) {
                return self.refuse_login(conn, tag, 401, None);
            }
        }
        let tos = self.account_state.get(account).map_or(0, |s| s.tos);
        if tos >= 2 {
            return self.refuse_login(conn, tag, 403, Some(tos));
        }
        let holder = session.conn.filter(|c| *c != conn);
        if let Some(old) = holder {
            if mode == LoginMode::Reconnect {
                return self.refuse_login(conn, tag, 409, None);
            }
            // Takeover: the old connection learns it was replaced, then is closed.
            let kick = json!(["Cmd", { "type": "disconnect", "kind": "replaced" }]);
            if let Some(old_connection) = self.connections.get_mut(&old) {
                let kick_tag = old_connection.server_tag();
                old_connection.stage = Stage::Closed { replaced: true };
                self.send_json(old, kick_tag, kick);
            }
            self.close(old);
            if let Some(session) = self.sessions.get_mut(client_id) {
                session.conn = None;
            }
            self.events.push_back(SimEvent::Replaced { old, new: conn });
        }
        let client_id = client_id.to_owned();
        self.connection(conn)?.client_id = Some(client_id.clone());
        if self.config.challenge_on_restore {
            let mut challenge = vec![0u8; 32];
            self.rng.fill_bytes(&mut challenge);
            let connection = self.connection(conn)?;
            let s1 = connection.server_tag();
            connection.stage = Stage::Challenged {
                client_id,
                challenge: challenge.clone(),
                login_tag: tag.clone(),
            };
            connection.pending_scan = None;
            let body =
                json!(["Cmd", { "type": "challenge", "challenge": BASE64.encode(&challenge) }]);
            self.send_json(conn, s1, body);
        } else {
            self.rotate_tokens(&client_id);
            self.complete_login(conn, now, &client_id, None, Some(tag.clone()), true, false);
        }
        Ok(())
    }

    fn admin_challenge(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        tag: &Tag,
        items: &[Value],
    ) -> Result<(), RequestError> {
        let text = |i: usize| items.get(i).and_then(Value::as_str);
        let (Some(answer), Some(server_token), Some(client_id)) = (text(2), text(3), text(4))
        else {
            return Err(RequestError::Malformed(
                "admin challenge needs answer, serverToken, clientId".into(),
            ));
        };
        let connection = self
            .connections
            .get(&conn)
            .ok_or(RequestError::NotLoggedIn)?;
        let Stage::Challenged {
            client_id: expected_client,
            challenge,
            login_tag,
        } = &connection.stage
        else {
            return Err(RequestError::Malformed("no challenge is pending".into()));
        };
        let login_tag = login_tag.clone();
        let ok = expected_client == client_id
            && self.sessions.get(client_id).is_some_and(|s| {
                s.server_token == server_token
                    && BASE64.decode(answer).is_ok_and(|answer| {
                        wa_crypto::hmac_sha256_verify(s.keys.mac_key(), &[challenge], &answer)
                            .is_ok()
                    })
            });
        if !ok {
            self.connection(conn)?.stage = Stage::New;
            self.send_status(conn, tag.clone(), 401);
            return self.after_phone_round_trip(conn, now, |s| {
                s.refuse_login(conn, &login_tag, 401, None)
            });
        }
        let client_id = client_id.to_owned();
        // The challenge is acknowledged at once; `Conn` comes after the phone confirmed.
        self.send_status(conn, tag.clone(), 200);
        self.rotate_tokens(&client_id);
        self.after_phone_round_trip(conn, now, |s| {
            s.complete_login(conn, now, &client_id, None, Some(login_tag), true, true);
            Ok(())
        })
    }

    fn refuse_login(
        &mut self,
        conn: ConnId,
        tag: &Tag,
        status: u16,
        tos: Option<u8>,
    ) -> Result<(), RequestError> {
        let body = match tos {
            Some(tos) => json!({ "status": status, "tos": tos }),
            None => json!({ "status": status }),
        };
        self.send_json(conn, tag.clone(), body);
        self.events
            .push_back(SimEvent::LoginRefused { conn, status });
        Ok(())
    }

    fn goodbye(&mut self, conn: ConnId) {
        let client_id = match self.connections.get(&conn).map(|c| &c.stage) {
            Some(Stage::LoggedIn { client_id }) => Some(client_id.clone()),
            _ => None,
        };
        match client_id {
            Some(client_id) => self.end_session(&client_id, LogoutVia::Goodbye),
            None => self.close(conn),
        }
    }

    fn json_query(
        &mut self,
        conn: ConnId,
        tag: &Tag,
        kind: &str,
        items: &[Value],
    ) -> Result<(), RequestError> {
        let account = self.account_of(conn).cloned().unwrap_or_default();
        let jid = items.get(2).and_then(Value::as_str);
        let known = |jid: &str| {
            let jid = jid.replace("@s.whatsapp.net", "@c.us");
            jid == account.wid
                || account.contacts.iter().any(|c| c.jid == jid)
                || self.accounts.iter().any(|a| a.wid == jid)
                || self.config.echo_jid.as_deref() == Some(jid.as_str())
        };
        let body = match (kind, jid) {
            ("exist", Some(jid)) => {
                if known(jid) {
                    json!({ "status": 200, "jid": jid.replace("@s.whatsapp.net", "@c.us"), "biz": false })
                } else {
                    json!({ "status": 404 })
                }
            }
            ("ProfilePicThumb", Some(jid)) => self.profile_pic_json(jid),
            ("Status", Some(jid)) => {
                if let Some(a) = self.account_by_jid(jid) {
                    json!({ "status": self.stores[a].status })
                } else if known(jid) {
                    json!({ "status": "Hey there! I am using WhatsApp." })
                } else {
                    json!({ "status": 401 })
                }
            }
            ("exist" | "ProfilePicThumb" | "Status", None) => {
                return Err(RequestError::Malformed(format!("query {kind} needs a jid")));
            }
            (other, _) => return Err(RequestError::UnknownCommand(format!("query {other}"))),
        };
        self.send_json(conn, tag.clone(), body);
        Ok(())
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

    // ----- login completion and pushes ------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn complete_login(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        client_id: &str,
        secret: Option<&[u8; 144]>,
        login_tag: Option<Tag>,
        restored: bool,
        challenged: bool,
    ) {
        let Some(session) = self.sessions.get_mut(client_id) else {
            return;
        };
        session.conn = Some(conn);
        let account = self
            .accounts
            .get(session.account)
            .cloned()
            .unwrap_or_default();
        let tos = self.account_state.get(session.account).map_or(0, |s| s.tos);
        let mut conn_body = json!({
            "ref": self.connections.get(&conn).and_then(|c| match &c.stage {
                Stage::AwaitingScan(r) => Some(r.current.clone()),
                _ => None,
            }),
            "wid": account.wid,
            "connected": true,
            "isResponse": "false",
            "serverToken": session.server_token,
            "browserToken": session.browser_token,
            "clientToken": session.client_token,
            "lc": "US",
            "lg": "en",
            "locales": "en-US",
            "is24h": true,
            "protoVersion": [0, 17],
            "binVersion": 10,
            "battery": account.battery,
            "plugged": account.plugged,
            "platform": account.platform,
            "features": { "KEY_PARSING": true, "MEDIA_UPLOAD_STUB": true, "URL": true },
            "phone": account.phone,
            "pushname": account.pushname,
            "tos": tos,
            "initial": !restored,
        });
        if let (Some(secret), Some(obj)) = (secret, conn_body.as_object_mut()) {
            obj.insert("secret".into(), Value::String(BASE64.encode(secret)));
        }
        // Pushes follow `Conn`, which may itself be held back for the phone round-trip.
        let conn_sent_at = match self.defer {
            Some((c, at)) if c == conn => at,
            _ => now,
        };
        let delay = self.config.initial_push_delay;
        let version = self.config.server_version.clone();
        let Some(connection) = self.connections.get_mut(&conn) else {
            return;
        };
        connection.client_id = Some(client_id.to_owned());
        connection.stage = Stage::LoggedIn {
            client_id: client_id.to_owned(),
        };
        connection.pending_scan = None;
        connection.pending_push = Some(conn_sent_at + delay);
        let conn_tag = connection.server_tag();
        let stream_tag = connection.server_tag();
        let props_tag = connection.server_tag();
        self.send_json(conn, conn_tag, json!(["Conn", conn_body]));
        self.send_json(
            conn,
            stream_tag,
            json!(["Stream", "update", false, version]),
        );
        self.send_json(
            conn,
            props_tag,
            json!(["Props", {
                "imageMaxKBytes": 1024,
                "maxParticipants": 257,
                "videoMaxEdge": 960,
                "mediaMaxMB": 64,
                "groupDescLength": 512,
                "preview": true,
            }]),
        );
        if let Some(login_tag) = login_tag {
            self.send_status(conn, login_tag, 200);
        }
        self.events.push_back(SimEvent::LoggedIn {
            conn,
            client_id: client_id.to_owned(),
            restored,
            challenged,
        });
    }

    /// The unsolicited contacts and chat lists a real server pushes after login.
    fn push_initial_data(&mut self, conn: ConnId) {
        let Some(account) = self.account_of(conn).cloned() else {
            return;
        };
        let Ok(index) = self.account_index(conn) else {
            return;
        };
        let (recent, ids) = self.recent_messages_node(index);
        let responses = [
            Some(nodes::contacts_response(&account)),
            Some(self.chats_node(index)),
            recent,
        ];
        for response in responses.into_iter().flatten() {
            let Some(connection) = self.connections.get_mut(&conn) else {
                return;
            };
            let tag = connection.preempt_tag();
            self.send_node(conn, tag, &response);
        }
        self.flush_offline(conn, &ids);
    }

    fn rotate_tokens(&mut self, client_id: &str) {
        let client_token = self.token(32, "");
        let server_token = self.token(48, "1@");
        if let Some(session) = self.sessions.get_mut(client_id) {
            session.client_token = client_token;
            session.server_token = server_token;
        }
    }

    fn end_session(&mut self, client_id: &str, via: LogoutVia) {
        let Some(session) = self.sessions.remove(client_id) else {
            return;
        };
        if let Some(conn) = session.conn {
            if via != LogoutVia::Goodbye {
                // The client did not ask: tell it why the connection ends.
                if let Some(connection) = self.connections.get_mut(&conn) {
                    let tag = connection.server_tag();
                    self.send_json(conn, tag, json!(["Cmd", { "type": "disconnect" }]));
                }
            }
            if let Some(connection) = self.connections.get_mut(&conn) {
                connection.stage = Stage::Closed { replaced: false };
            }
            self.close(conn);
        }
        self.events.push_back(SimEvent::LoggedOut {
            client_id: client_id.to_owned(),
            via,
        });
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

/// Splits `ref,base64(public key),clientId`. Refs themselves never contain commas.
fn parse_qr(qr: &str) -> Result<(String, [u8; 32], String), ScanError> {
    let mut parts = qr.trim().split(',');
    let (Some(qr_ref), Some(key), Some(client_id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ScanError::MalformedQr(
            "expected three comma-separated parts".into(),
        ));
    };
    let key = BASE64
        .decode(key)
        .map_err(|e| ScanError::MalformedQr(format!("public key is not base64: {e}")))?;
    let key: [u8; 32] = key.try_into().map_err(|k: Vec<u8>| {
        ScanError::MalformedQr(format!("public key has {} bytes, not 32", k.len()))
    })?;
    if qr_ref.is_empty() || client_id.is_empty() {
        return Err(ScanError::MalformedQr("empty ref or client id".into()));
    }
    Ok((qr_ref.to_owned(), key, client_id.to_owned()))
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

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Each account's store and the groups, from the seed: the seed's chats (groups among them
/// become groups whose members are the accounts listing them, plus the creator).
fn seed_stores(accounts: &[SeedAccount]) -> (Vec<AccountStore>, BTreeMap<String, Group>) {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let stores = accounts
        .iter()
        .map(|a| AccountStore {
            chats: a
                .chats
                .iter()
                .map(|c| {
                    (
                        c.jid.clone(),
                        ChatState {
                            name: c.name.clone(),
                            t: c.t,
                            count: i64::from(c.count),
                            archive: c.archive,
                            read_only: c.read_only,
                            messages: c.messages.iter().map(|m| seed_message(&c.jid, m)).collect(),
                            ..ChatState::default()
                        },
                    )
                })
                .collect(),
            pushname: a.pushname.clone(),
            status: "Hey there! I am using WhatsApp.".to_owned(),
            presence: "available".to_owned(),
            ..AccountStore::default()
        })
        .collect();
    for a in accounts {
        for c in a.chats.iter().filter(|c| c.jid.ends_with("@g.us")) {
            let creator_number = c.jid.split('-').next().unwrap_or_default();
            let creation = c
                .jid
                .split('-')
                .nth(1)
                .and_then(|t| t.trim_end_matches("@g.us").parse().ok())
                .unwrap_or(c.t);
            let owner = format!("{creator_number}@c.us");
            let group = groups.entry(c.jid.clone()).or_insert_with(|| Group {
                id: c.jid.clone(),
                owner: owner.clone(),
                subject: c.name.clone().unwrap_or_default(),
                creation,
                subject_time: creation,
                subject_owner: owner.clone(),
                desc: None,
                desc_id: None,
                desc_owner: None,
                restrict: false,
                announce: false,
                participants: vec![Participant {
                    jid: owner.clone(),
                    admin: true,
                    super_admin: true,
                }],
                invite_code: format!("sim{}", c.jid.len() * 7919 + creation as usize % 100_000),
            });
            let listed = (!c.read_only).then_some(&a.wid);
            for jid in c.participants.iter().chain(listed) {
                if !group.is_member(jid) {
                    group.participants.push(Participant {
                        jid: jid.clone(),
                        admin: false,
                        super_admin: false,
                    });
                }
            }
        }
    }
    (stores, groups)
}

/// A seeded text message as stored.
fn seed_message(chat: &str, m: &crate::seed::SeedMessage) -> crate::store::StoredMessage {
    use crate::store::wire_jid;
    let participant = m.participant.as_deref().map(wire_jid);
    crate::store::StoredMessage {
        info: wa_proto::WebMessageInfo {
            key: wa_proto::MessageKey {
                remote_jid: Some(wire_jid(chat)),
                from_me: Some(m.from_me),
                id: Some(m.id.clone()),
                participant: participant.clone(),
            },
            message: Some(wa_proto::Message::text(m.text.clone())),
            message_timestamp: Some(m.t),
            status: Some(if m.from_me {
                wa_proto::Status::Read as i32
            } else {
                wa_proto::Status::DeliveryAck as i32
            }),
            participant,
            ..wa_proto::WebMessageInfo::default()
        },
        receipts: Default::default(),
    }
}
