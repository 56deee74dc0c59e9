//! The network server: drives a [`Server`] core over WebSocket and HTTP with tokio and axum.
//!
//! One port serves:
//!
//! | route | what |
//! |---|---|
//! | `GET /ws` (WebSocket) | the WhatsApp Web endpoint; any `Origin` and `Host` |
//! | `GET /ws/chat` (WebSocket) | the multi-device endpoint (see [`crate::md`]) |
//! | `POST /logout?t=..&m=..` | logout without a socket (200, or 400/401) |
//! | `GET /_sim/state` | connections, sessions, accounts (JSON) |
//! | `GET /_sim/events` | every [`SimEvent`] so far (JSON array) |
//! | `POST /_sim/scan` `{"qr": "...", "wid"?: "..."}` | the phone scans a QR now |
//! | `POST /_sim/qr` `{"qr": "..."}` | the phone sees a QR; scanned after the auto-scan delay |
//! | `POST /_sim/unpair` `{"client_id": "..."}` | the phone removes a session |
//! | `POST /_sim/config` `{"challenge_on_restore"?, "auto_scan_delay_ms"?, "auto_scan_off"?, "ref_ttl_ms"?, "reref_min_interval_ms"?, "media_url_ttl_ms"?, "expire_media_urls"?, "echo_delay_ms"?, "tos"?: {"wid", "tos"}}` | change settings |
//! | `POST /_sim/fault` `{"drop_next_relay_ack"?: true, "duplicate_next_delivery"?: true, "defer_next_relays"?: N, "garbage"?: {"wid", "truncated"?}}` | arm faults (each fires once; the next N relays get 503) / send a bad frame now |
//! | `GET /_sim/store?wid=..` | the account's chats and messages (ids, direction, status, text) |
//! | `GET /_sim/md/root` | the multi-device root public key clients must trust (hex, base64, serial) |
//! | `POST /_sim/md/scan` `{"qr": "...", "phone"?: "..."}` | the phone scans a multi-device QR |
//! | `POST /_sim/md/pair-code` `{"phone": "...", "code": "..."}` | the phone enters a pairing code |
//! | `GET /_sim/md/devices?phone=..` | the linked companion devices (JSON array) |
//! | `POST /_sim/md/unlink` `{"jid": "..."}` | the phone removes a companion device |
//! | `POST /mms/<type>/<token>?auth=..&token=..` | media upload (the `mediaConn` route); answers `{url}` |
//! | `POST /mms/upload/<type>/<token>?auth=..&f=j` (multipart `hash`, `file`) | media upload (the `encr_upload` route); answers `{url}` |
//! | `GET /mms/d/<id>/<token>` | media download (404 once expired) |
//! | `GET /pp/<number>` | a profile picture |
//!
//! The control routes answer `{"error": "..."}` with a 4xx status when they refuse.
//!
//! With [`SimConfig::tls`] set, the same routes are served over TLS (`wss://`, `https://`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use wa_core::{Timestamp, WireMessage};
use wa_crypto::legacy::SessionKeys;

use crate::core::{Config, ConnId, Output, Server, SimEvent, StateSnapshot};
use crate::error::{ScanError, StartError};
use crate::md::net::MdHub;
use crate::md::{MdEvent, MdSim};

mod control;
mod media_routes;
mod tls;

use control::{
    config_route, events_route, fault_route, qr_route, scan_route, state_route, store_route,
    unpair_route,
};
use media_routes::{download_route, encr_upload_route, picture_route, upload_route};
pub use tls::TlsConfig;
use tls::TlsListener;

/// How many events a [`SimHandle`] keeps (the oldest are dropped first).
pub const MAX_EVENTS: usize = 100_000;

/// Settings of a network [`SimServer`].
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The protocol core's settings.
    pub server: Config,
    /// Serve TLS with this certificate instead of plain TCP.
    pub tls: Option<TlsConfig>,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            server: Config::default(),
            tls: None,
        }
    }
}

/// Starts network simulators. See [`SimServer::start`].
#[derive(Debug)]
pub struct SimServer;

impl SimServer {
    /// Binds `config.listen` and serves until [`SimHandle::shutdown`] (or the handle is dropped).
    pub async fn start(config: SimConfig) -> Result<SimHandle, StartError> {
        Self::start_inner(config, None, None).await
    }

    /// Like [`SimServer::start`], with a given multi-device identity (tests use forged chains).
    pub async fn start_with_md(config: SimConfig, md: MdSim) -> Result<SimHandle, StartError> {
        Self::start_inner(config, None, Some(MdHub::new(Arc::new(md)))).await
    }

    /// Like [`SimServer::start`], keeping the multi-device state (root keys, phones, linked
    /// devices and their prekeys) in the file `path` (mode 0600): read back when it exists, so
    /// devices linked before a restart log in again.
    pub async fn start_with_md_state(
        config: SimConfig,
        path: PathBuf,
    ) -> Result<SimHandle, StartError> {
        let hub = MdHub::with_state(path).map_err(|e| StartError::MdState(e.to_string()))?;
        Self::start_inner(config, None, Some(hub)).await
    }

    async fn start_inner(
        mut config: SimConfig,
        core: Option<Server>,
        md: Option<MdHub>,
    ) -> Result<SimHandle, StartError> {
        for account in &config.server.accounts {
            account.validate()?;
        }
        let max_frame_len = config.server.max_frame_len;
        let acceptor = config.tls.as_ref().map(TlsConfig::acceptor).transpose()?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen.to_string(),
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen.to_string(),
            source,
        })?;
        // Media URLs must name a host clients can reach, not the wildcard address.
        let media_addr = if addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        } else {
            addr
        };
        config.server.media_host = Some(media_addr.to_string());
        config.server.media_scheme = if acceptor.is_some() { "https" } else { "http" }.into();
        let listen = config.listen;
        let restart_config = config.clone();
        let server = match core {
            Some(core) => core,
            None => {
                // The core takes its randomness as a seed; the OS supplies it here, at the edge.
                let mut server_config = config.server;
                server_config.rng_seed.get_or_insert_with(rand::random);
                Server::new(server_config)
            }
        };
        let shared = Arc::new(Shared {
            server: Mutex::new(server),
            conns: Mutex::new(HashMap::new()),
            events: Mutex::new(Vec::new()),
            event_added: Notify::new(),
            timer_changed: Notify::new(),
            max_frame_len,
            md: Arc::new(md.unwrap_or_else(|| {
                MdHub::new(Arc::new(MdSim::generate(rand::random(), now().unix_secs())))
            })),
        });
        let app = Router::new()
            .route("/ws", get(ws_route))
            .route("/ws/chat", get(md_route))
            .route("/logout", post(logout_route))
            .route("/_sim/state", get(state_route))
            .route("/_sim/events", get(events_route))
            .route("/_sim/scan", post(scan_route))
            .route("/_sim/qr", post(qr_route))
            .route("/_sim/unpair", post(unpair_route))
            .route("/_sim/config", post(config_route))
            .route("/_sim/fault", post(fault_route))
            .route("/_sim/store", get(store_route))
            .route("/mms/d/{id}/{blob}", get(download_route))
            .route("/pp/{number}", get(picture_route))
            .route("/mms/upload/{kind}/{token}", post(encr_upload_route))
            .route("/mms/{kind}/{token}", post(upload_route))
            .merge(crate::md::control::routes())
            .layer(DefaultBodyLimit::max(70 * 1024 * 1024))
            .with_state(shared.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stop_rx.await;
        };
        let tls = acceptor.is_some();
        let serve = tokio::spawn(async move {
            let result = match acceptor {
                Some(acceptor) => {
                    let listener = TlsListener::new(listener, acceptor, addr);
                    axum::serve(listener, app)
                        .with_graceful_shutdown(stopped)
                        .await
                }
                None => {
                    // Nagle off, as on WhatsApp's edge: with it, a small reply that follows a
                    // small write waits for the peer's delayed ACK (~40 ms per round trip).
                    let listener = listener.tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                    axum::serve(listener, app)
                        .with_graceful_shutdown(stopped)
                        .await
                }
            };
            if let Err(error) = result {
                tracing::warn!(%error, "wa-sim server stopped");
            }
        });
        let timer = tokio::spawn(timer_loop(shared.clone()));
        tracing::info!(%addr, "wa-sim listening");
        let _ = listen;
        Ok(SimHandle {
            config: restart_config,
            addr,
            tls,
            shared,
            stop: Some(stop_tx),
            tasks: vec![serve, timer],
        })
    }
}

/// A running simulator: its addresses, control commands and observations.
#[derive(Debug)]
pub struct SimHandle {
    config: SimConfig,
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl SimHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://<addr>/ws` (`wss://` with TLS), for a client's WebSocket URL.
    pub fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/ws", self.addr)
    }

    /// `ws://<addr>/ws/chat` (`wss://` with TLS), the multi-device endpoint.
    pub fn md_ws_url(&self) -> String {
        format!("{}/chat", self.ws_url())
    }

    /// The multi-device identity: its root is what clients must trust.
    pub fn md(&self) -> &MdSim {
        &self.shared.md.sim
    }

    /// `http://<addr>` (`https://` with TLS), the base of `/logout`.
    pub fn http_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// `<http_url>/_sim`, the base of the control API.
    pub fn control_url(&self) -> String {
        format!("{}/_sim", self.http_url())
    }

    /// The phone scans `qr` now (see [`Server::scan`]).
    pub fn scan(&self, qr: &str) -> Result<ConnId, ScanError> {
        self.shared.with(|s, now| s.scan(now, qr))
    }

    /// The phone sees `qr` (see [`Server::present_qr`]).
    pub fn present_qr(&self, qr: &str) -> Result<Option<Timestamp>, ScanError> {
        self.shared.with(|s, now| s.present_qr(now, qr))
    }

    /// Runs `f` on the core (for inspection or control), then sends what it queued.
    pub fn with_server<T>(&self, f: impl FnOnce(&mut Server, Timestamp) -> T) -> T {
        self.shared.with(f)
    }

    /// The keys of the session of `client_id`, if paired.
    pub fn session_keys(&self, client_id: &str) -> Option<SessionKeys> {
        self.shared.with(|s, _| s.session_keys(client_id).cloned())
    }

    /// A snapshot of the connections and sessions.
    pub fn state(&self) -> StateSnapshot {
        self.shared.with(|s, _| s.state())
    }

    /// Every event so far (at most the last [`MAX_EVENTS`]).
    pub fn events(&self) -> Vec<SimEvent> {
        lock(&self.shared.events).clone()
    }

    /// The multi-device events among [`SimHandle::events`], in order, without their connections.
    pub fn md_events(&self) -> Vec<MdEvent> {
        lock(&self.shared.events)
            .iter()
            .filter_map(|event| match event {
                SimEvent::Md { md, .. } => Some(md.clone()),
                _ => None,
            })
            .collect()
    }

    /// Waits up to `timeout` for an event matching `pred` (including past ones).
    pub async fn wait_for_event(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&SimEvent) -> bool,
    ) -> Option<SimEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.event_added.notified();
            if let Some(event) = lock(&self.shared.events).iter().find(|e| pred(e)) {
                return Some(event.clone());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Simulates a server restart: every connection is dropped, the listener closes, and a
    /// new one opens on the same address with the same state (sessions, stores, groups,
    /// media), as a server that persisted everything would come back. Clients reconnect and
    /// restore.
    pub async fn restart(mut self) -> Result<SimHandle, StartError> {
        let core = {
            let mut server = lock(&self.shared.server);
            for c in server.state().connections {
                server.handle_disconnect(c.conn, now());
            }
            while server.poll_output().is_some() {}
            std::mem::replace(&mut *server, Server::new(Config::default()))
        };
        let mut config = self.config.clone();
        config.listen = self.addr;
        self.stop_now();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        self.shared.md.close_all();
        let md = self.shared.md.restarted();
        SimServer::start_inner(config, Some(core), Some(md)).await
    }

    /// Stops serving and closes every connection.
    pub async fn shutdown(mut self) {
        self.stop_now();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }

    fn stop_now(&mut self) {
        for (_, tx) in lock(&self.shared.conns).drain() {
            let _ = tx.send(ConnCommand::Close);
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // The timer loop holds no socket; ending it is enough.
        if let Some(timer) = self.tasks.get(1) {
            timer.abort();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// What a connection's writer task does next.
#[derive(Debug)]
enum ConnCommand {
    Send(WireMessage),
    Close,
}

#[derive(Debug)]
pub(crate) struct Shared {
    server: Mutex<Server>,
    conns: Mutex<HashMap<ConnId, mpsc::UnboundedSender<ConnCommand>>>,
    events: Mutex<Vec<SimEvent>>,
    event_added: Notify,
    timer_changed: Notify,
    max_frame_len: usize,
    pub(crate) md: Arc<MdHub>,
}

impl Shared {
    /// Runs `f` on the core, then routes its outputs and events, all under the core's lock so
    /// that messages reach each connection in the order the core queued them.
    fn with<T>(&self, f: impl FnOnce(&mut Server, Timestamp) -> T) -> T {
        let mut server = lock(&self.server);
        let result = f(&mut server, now());
        self.flush(&mut server);
        result
    }

    fn flush(&self, server: &mut MutexGuard<'_, Server>) {
        {
            let conns = lock(&self.conns);
            while let Some(output) = server.poll_output() {
                let (conn, command) = match output {
                    Output::Send { conn, message } => (conn, ConnCommand::Send(message)),
                    Output::Close { conn } => (conn, ConnCommand::Close),
                };
                if let Some(tx) = conns.get(&conn) {
                    let _ = tx.send(command);
                }
            }
        }
        let mut added = false;
        {
            let mut events = lock(&self.events);
            while let Some(event) = server.poll_event() {
                tracing::debug!(?event, "wa-sim event");
                events.push(event);
                added = true;
            }
            keep_recent(&mut events);
        }
        if added {
            self.event_added.notify_waiters();
        }
        self.timer_changed.notify_one();
    }
}

impl Shared {
    /// Records an event from outside the core (the multi-device endpoint).
    pub(crate) fn record(&self, event: SimEvent) {
        tracing::debug!(?event, "wa-sim event");
        {
            let mut events = lock(&self.events);
            events.push(event);
            keep_recent(&mut events);
        }
        self.event_added.notify_waiters();
    }
}

/// A long-running server keeps the most recent [`MAX_EVENTS`] events only, whichever path
/// recorded them.
fn keep_recent(events: &mut Vec<SimEvent>) {
    if events.len() > MAX_EVENTS {
        let excess = events.len() - MAX_EVENTS;
        events.drain(..excess);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent-enough data for a simulator.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

async fn timer_loop(shared: Arc<Shared>) {
    loop {
        let changed = shared.timer_changed.notified();
        let next = lock(&shared.server).poll_timeout();
        match next {
            Some(at) => {
                let wait = at.saturating_duration_since(now());
                tokio::select! {
                    () = tokio::time::sleep(wait) => {
                        shared.with(|s, now| s.handle_timeout(now));
                    }
                    () = changed => {}
                }
            }
            None => changed.await,
        }
    }
}

async fn ws_route(State(shared): State<Arc<Shared>>, upgrade: WebSocketUpgrade) -> Response {
    // Leave room above the core's limit so the core sees oversized frames and answers 413.
    let limit = shared.max_frame_len.saturating_mul(2).max(64 * 1024);
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| serve_socket(shared, socket))
}

async fn md_route(State(shared): State<Arc<Shared>>, upgrade: WebSocketUpgrade) -> Response {
    // Above the frame limit, so the session sees an oversized frame and closes with an event.
    let limit = shared.md.sim.max_frame_len.saturating_mul(2).max(64 * 1024);
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| {
            let md = shared.md.clone();
            crate::md::net::serve(md, socket, move |conn, event| {
                shared.record(SimEvent::Md { conn, md: event });
            })
        })
}

async fn serve_socket(shared: Arc<Shared>, socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel::<ConnCommand>();
    let conn = {
        let mut server = lock(&shared.server);
        let conn = server.handle_connect(now());
        lock(&shared.conns).insert(conn, tx);
        shared.flush(&mut server);
        conn
    };
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(command) = rx.recv().await {
            match command {
                ConnCommand::Send(message) => {
                    let message = match message {
                        WireMessage::Text(text) => Message::Text(text.into()),
                        WireMessage::Binary(bytes) => Message::Binary(Bytes::from(bytes)),
                    };
                    if sink.send(message).await.is_err() {
                        break;
                    }
                }
                ConnCommand::Close => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            }
        }
        let _ = sink.close().await;
    });
    while let Some(Ok(message)) = stream.next().await {
        let message = match message {
            Message::Text(text) => WireMessage::Text(text.as_str().to_owned()),
            Message::Binary(bytes) => WireMessage::Binary(bytes.to_vec()),
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        // Refusals are answered by the core and recorded as events; nothing to do here.
        let _ = shared.with(|s, now| s.handle_message(conn, now, message));
        if writer.is_finished() {
            break;
        }
    }
    {
        let mut server = lock(&shared.server);
        lock(&shared.conns).remove(&conn);
        server.handle_disconnect(conn, now());
        shared.flush(&mut server);
    }
    writer.abort();
}

#[derive(Deserialize)]
struct LogoutParams {
    t: Option<String>,
    m: Option<String>,
}

async fn logout_route(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<LogoutParams>,
) -> Response {
    let t = params.t.unwrap_or_default();
    let m = params.m.unwrap_or_default();
    match shared.with(|s, now| s.http_logout(now, &t, &m)) {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": 200 }))).into_response(),
        Err(error) => {
            let status = error.http_status();
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                Json(json!({ "status": status, "error": error.to_string() })),
            )
                .into_response()
        }
    }
}

pub(crate) fn refused(status: StatusCode, error: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": error.to_string() }))).into_response()
}
