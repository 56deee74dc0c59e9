//! The legacy WhatsApp Web client (the pre-multi-device protocol: the phone relays every
//! message, sessions restore by takeover). Selectable beside the multi-device default
//! ([`crate::Client`]) for accounts and servers that still speak it.

mod driver;
mod error;
mod messaging;
mod store;
#[cfg(feature = "thumbnails")]
mod thumbnail;

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use wa_core::chat::{ChatEvent, MemoryOutbox, MessageBatch, OutboxStore};
use wa_core::client::{BrowserDescription, ClientConfig, CloseReason, ConnInfo, Event, QrCode};
use wa_core::frame::Tag;
use wa_core::reconnect::Backoff;
use wa_core::session::{MemoryStore, SessionData, SessionStore};
use wa_transport::TransportConfig;

pub use driver::Reply;
pub use error::ClientError;
pub use messaging::SentMessage;
pub use store::FileStore;
#[cfg(feature = "thumbnails")]
pub use thumbnail::THUMBNAIL_MAX_SIDE;
pub use wa_core::chat;
pub use wa_core::chat::reply::MessageInfo;
pub use wa_media::http::MediaClient;

use driver::{Command, Driver, Mode};

/// The base of WhatsApp Web's HTTP endpoints (`/logout`).
pub const DEFAULT_HTTP_BASE: &str = "https://web.whatsapp.com";

/// Where the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not started (or shut down).
    Idle,
    /// Opening the WebSocket.
    Connecting,
    /// Socket open, logging in (QR shown or restore in progress).
    LoggingIn,
    /// Logged in.
    Connected,
    /// Lost; waiting before the next attempt.
    Reconnecting,
    /// Ended for good (see [`ClientEvent::Stopped`]).
    Stopped,
}

/// What the client reports, in order, through [`Client::next_event`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A QR code to show (a new one follows each expiry until the server refuses).
    Qr(QrCode),
    /// The server challenged a restore and the client answered.
    ChallengeAnswered,
    /// Logged in (after a QR scan or a restore); the session is stored.
    Connected(ConnInfo),
    /// The connection state changed.
    State(ConnectionState),
    /// Messaging: chats, contacts, messages, acks, presence, groups... (unknown nodes and
    /// pushes as `ChatEvent::Raw`/`RawJson`). New incoming messages are acknowledged to the
    /// server (`received`) when [`Client::next_event`] hands them over, never before.
    Chat(ChatEvent),
    /// Any other protocol event (`Stream`, `Props`, `Cmd`, unsolicited replies, skipped
    /// garbage...). Every unsolicited binary node is also reported here as received
    /// (`Event::Node`, e.g. for a wire view), just before the `Chat` events mapped from it.
    Protocol(Event),
    /// The connection was lost; the client reconnects (and restores) after `reconnect_in`.
    Disconnected {
        /// Why it was lost.
        reason: CloseReason,
        /// The backoff delay before the next attempt.
        reconnect_in: Duration,
    },
    /// The client stopped for good: logged out, unpaired, replaced, QR codes exhausted, or
    /// out of reconnect attempts. A stored session that `reason` invalidates was deleted.
    Stopped(CloseReason),
    /// A message left the outbox without reaching the server: refused
    /// ([`ClientError::Refused`]), or given up after relays that went unanswered
    /// ([`ClientError::Undelivered`]). Its `send` (if still waiting) fails with the same error.
    MessageFailed {
        /// The message's id.
        id: String,
        /// Why.
        error: ClientError,
    },
    /// A non-fatal error (a failed connection attempt, a store failure).
    Error(ClientError),
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    transport: TransportConfig,
    http_base: String,
    session: ClientConfig,
    store: Option<Arc<dyn SessionStore>>,
    rng_seed: Option<u64>,
    backoff: Backoff,
    reconnect: bool,
    extra_roots_pem: Vec<Vec<u8>>,
    outbox_store: Option<Arc<dyn OutboxStore>>,
    media: Option<MediaClient>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.transport.url)
            .field("http_base", &self.http_base)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    fn new() -> ClientBuilder {
        ClientBuilder {
            transport: TransportConfig::default(),
            http_base: DEFAULT_HTTP_BASE.into(),
            session: ClientConfig::default(),
            store: None,
            rng_seed: None,
            backoff: Backoff::default(),
            reconnect: true,
            extra_roots_pem: Vec::new(),
            outbox_store: None,
            media: None,
        }
    }

    /// Where unacknowledged outgoing messages are kept (default: in memory, which survives
    /// reconnects but not restarts). [`FileStore`] and `MemoryStore` implement it.
    pub fn outbox_store(mut self, store: impl OutboxStore + 'static) -> ClientBuilder {
        self.outbox_store = Some(Arc::new(store));
        self
    }

    /// Keeps both the session and the outbox in `store` (e.g. one [`FileStore`]).
    pub fn durable_store<S>(mut self, store: S) -> ClientBuilder
    where
        S: SessionStore + OutboxStore + Clone + 'static,
    {
        self.outbox_store = Some(Arc::new(store.clone()));
        self.store = Some(Arc::new(store));
        self
    }

    /// The media HTTP client (default: HTTPS with WebPKI roots; a local simulator without TLS
    /// needs `MediaClient::new().insecure_http()`).
    pub fn media_client(mut self, media: MediaClient) -> ClientBuilder {
        self.media = Some(media);
        self
    }

    /// The WebSocket URL (default `wss://web.whatsapp.com/ws`).
    pub fn server_url(mut self, url: impl Into<String>) -> ClientBuilder {
        self.transport.url = url.into();
        self
    }

    /// The base URL of the HTTP logout (default `https://web.whatsapp.com`).
    pub fn http_base_url(mut self, url: impl Into<String>) -> ClientBuilder {
        self.http_base = url.into();
        self
    }

    /// The `[os, browser, version]` shown on the phone.
    pub fn browser(
        mut self,
        os: impl Into<String>,
        browser: impl Into<String>,
        version: impl Into<String>,
    ) -> ClientBuilder {
        self.session.browser = BrowserDescription {
            os: os.into(),
            browser: browser.into(),
            version: version.into(),
        };
        self
    }

    /// Protocol settings (timeouts, keepalive, QR refresh limit...).
    pub fn session_config(mut self, config: ClientConfig) -> ClientBuilder {
        self.session = config;
        self
    }

    /// Transport settings other than the URL (origin, size limit, connect timeout).
    pub fn transport_config(mut self, config: TransportConfig) -> ClientBuilder {
        let url = std::mem::take(&mut self.transport.url);
        self.transport = TransportConfig { url, ..config };
        self
    }

    /// Trusts one more root certificate (PEM), for both the WebSocket and the HTTP logout, in
    /// addition to the webpki roots: e.g. a local server's test certificate.
    pub fn extra_root_pem(mut self, pem: impl Into<Vec<u8>>) -> ClientBuilder {
        self.extra_roots_pem.push(pem.into());
        self
    }

    /// Where the session is kept (default: in memory).
    pub fn store(mut self, store: impl SessionStore + 'static) -> ClientBuilder {
        self.store = Some(Arc::new(store));
        self
    }

    /// A shared store.
    pub fn shared_store(mut self, store: Arc<dyn SessionStore>) -> ClientBuilder {
        self.store = Some(store);
        self
    }

    /// Seeds the RNG (keys, client id, IVs, backoff jitter) for reproducible runs; by default
    /// it is seeded from the operating system.
    pub fn rng_seed(mut self, seed: u64) -> ClientBuilder {
        self.rng_seed = Some(seed);
        self
    }

    /// The reconnect policy.
    pub fn backoff(mut self, backoff: Backoff) -> ClientBuilder {
        self.backoff = backoff;
        self
    }

    /// Whether to reconnect after a lost link (default true).
    pub fn reconnect(mut self, reconnect: bool) -> ClientBuilder {
        self.reconnect = reconnect;
        self
    }

    /// Builds the client (nothing connects until [`Client::login`] or [`Client::restore`]).
    pub fn build(self) -> Result<Client, ClientError> {
        let mut http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(30));
        for pem in &self.extra_roots_pem {
            http = http.add_root_certificate(reqwest::Certificate::from_pem(pem)?);
        }
        let http = http.build()?;
        let mut transport = self.transport;
        let extra_roots = self.extra_roots_pem.clone();
        transport.extra_roots_pem.extend(self.extra_roots_pem);
        let rng = match self.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (state_tx, _) = watch::channel(ConnectionState::Idle);
        let mut rng = rng;
        let ids = std::sync::Mutex::new(StdRng::seed_from_u64(rng.r#gen()));
        Ok(Client {
            outbox_store: self
                .outbox_store
                .unwrap_or_else(|| Arc::new(MemoryOutbox::default())),
            media: match self.media {
                Some(media) => media,
                // The same trust for media hosts as for the WebSocket and the logout.
                None if !extra_roots.is_empty() => {
                    let mut media_http = reqwest::Client::builder().use_rustls_tls();
                    for pem in &extra_roots {
                        media_http =
                            media_http.add_root_certificate(reqwest::Certificate::from_pem(pem)?);
                    }
                    MediaClient::new().with_http_client(media_http.build()?)
                }
                None => MediaClient::new(),
            },
            ids,
            transport,
            http_base: self.http_base,
            session: self.session,
            store: self.store.unwrap_or_else(|| Arc::new(MemoryStore::new())),
            backoff: self.backoff,
            reconnect: self.reconnect,
            rng,
            http,
            events_tx,
            events_rx: tokio::sync::Mutex::new(events_rx),
            state: state_tx,
            running: None,
        })
    }
}

struct Running {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

/// A WhatsApp Web client: logs in, keeps the connection, reports events.
///
/// The connection runs in a tokio task started by [`login`](Self::login) or
/// [`restore`](Self::restore); events arrive through [`next_event`](Self::next_event), which
/// must be polled (events queue up unboundedly otherwise).
pub struct Client {
    outbox_store: Arc<dyn OutboxStore>,
    media: MediaClient,
    ids: std::sync::Mutex<StdRng>,
    transport: TransportConfig,
    http_base: String,
    session: ClientConfig,
    store: Arc<dyn SessionStore>,
    backoff: Backoff,
    reconnect: bool,
    rng: StdRng,
    http: reqwest::Client,
    events_tx: mpsc::UnboundedSender<ClientEvent>,
    /// Behind a lock so that [`Client::next_event`] takes `&self`: events can be awaited while
    /// other calls (a `send` waiting for its ack) are in progress.
    events_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<ClientEvent>>,
    state: watch::Sender<ConnectionState>,
    running: Option<Running>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.transport.url)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with WhatsApp Web's defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The current connection state.
    pub fn state(&self) -> ConnectionState {
        *self.state.borrow()
    }

    /// A receiver that follows the connection state.
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.state.subscribe()
    }

    /// The stored session, if any.
    pub fn session_data(&self) -> Result<Option<SessionData>, ClientError> {
        Ok(self.store.load()?)
    }

    /// The next event. Waits until one arrives.
    ///
    /// New incoming messages (`ChatEvent::Messages` of batch `Relay`/`Unread`) are
    /// acknowledged to the server as they are returned here.
    pub async fn next_event(&self) -> Option<ClientEvent> {
        let event = self.events_rx.lock().await.recv().await?;
        if let ClientEvent::Chat(ChatEvent::Messages {
            batch: MessageBatch::Relay | MessageBatch::Unread,
            messages,
            ..
        }) = &event
        {
            let keys: Vec<_> = messages
                .iter()
                .filter(|m| m.key.from_me != Some(true))
                .filter_map(|m| {
                    Some((
                        m.key.remote_jid.clone()?,
                        m.key.id.clone()?,
                        m.key.participant.clone(),
                    ))
                })
                .collect();
            if !keys.is_empty() {
                if let Some(running) = self.running.as_ref() {
                    let _ = running.commands.send(Command::AckIncoming(keys));
                }
            }
        }
        Some(event)
    }

    fn is_running(&self) -> bool {
        self.running.as_ref().is_some_and(|r| !r.task.is_finished())
    }

    fn spawn(&mut self, mode: Mode) -> Result<(), ClientError> {
        if self.is_running() {
            return Err(ClientError::AlreadyRunning);
        }
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let outbox = self.outbox_store.load_outbox()?;
        let driver = Driver {
            outbox_store: Arc::clone(&self.outbox_store),
            messenger: wa_core::chat::Messenger::new(outbox),
            message_waiters: Default::default(),
            reply_waiters: Default::default(),
            connected_at: None,
            session_config: self.session.clone(),
            transport_config: self.transport.clone(),
            store: Arc::clone(&self.store),
            events: self.events_tx.clone(),
            state: self.state.clone(),
            commands: commands_rx,
            backoff: self.backoff.clone(),
            reconnect: self.reconnect,
            rng: StdRng::seed_from_u64(self.rng.r#gen()),
        };
        let task = tokio::spawn(driver.run(mode));
        self.running = Some(Running {
            commands: commands_tx,
            task,
        });
        Ok(())
    }

    /// Starts a new login by QR code: [`ClientEvent::Qr`] events follow, then
    /// [`ClientEvent::Connected`] once the phone scanned one. Any stored session is replaced
    /// when the new one is established.
    pub fn login(&mut self) -> Result<(), ClientError> {
        self.spawn(Mode::NewLogin)
    }

    /// Restores the stored session by takeover (answering a challenge if asked); then
    /// [`ClientEvent::Connected`].
    pub fn restore(&mut self) -> Result<(), ClientError> {
        if self.is_running() {
            return Err(ClientError::AlreadyRunning);
        }
        let data = self.store.load()?.ok_or(ClientError::NoSession)?;
        self.spawn(Mode::Restore(Box::new(data)))
    }

    async fn command<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ClientError> {
        let running = self.running.as_ref().ok_or(ClientError::NotRunning)?;
        let (tx, rx) = oneshot::channel();
        running
            .commands
            .send(make(tx))
            .map_err(|_| ClientError::NotRunning)?;
        rx.await.map_err(|_| ClientError::NotRunning)
    }

    /// Asks for a new QR code now (they are also refreshed automatically at expiry).
    pub async fn reref(&self) -> Result<(), ClientError> {
        Ok(self.command(Command::Reref).await??)
    }

    /// Sends a JSON query (`tag,,body`); its reply arrives as
    /// [`ClientEvent::Protocol`]`(`[`Event::Response`]`)` with the returned tag.
    pub async fn send_json(&self, body: Value) -> Result<Tag, ClientError> {
        Ok(self
            .command(|reply| Command::SendJson(body, reply))
            .await??)
    }

    /// Logs out and deletes the stored session: on the open socket if logged in
    /// (`goodbye`), otherwise with the HTTP logout request.
    pub async fn logout(&mut self) -> Result<(), ClientError> {
        if self.is_running() {
            match self.command(Command::Logout).await {
                Ok(Ok(())) => {
                    self.join().await;
                    return Ok(());
                }
                // Not logged in on the socket: stop it and log out over HTTP.
                Ok(Err(_)) | Err(ClientError::NotRunning) => self.shutdown().await,
                Err(e) => return Err(e),
            }
        }
        self.logout_http().await
    }

    /// Logs out with `POST <http base>/logout?t=<browserToken>&m=<token>` (no socket needed)
    /// and deletes the stored session. A running connection is shut down first.
    pub async fn logout_http(&mut self) -> Result<(), ClientError> {
        self.shutdown().await;
        let data = self.store.load()?.ok_or(ClientError::NoSession)?;
        let url = wa_core::client::logout_url(&self.http_base, &data);
        let response = self.http.post(url).send().await?;
        let status = response.status();
        if !status.is_success() {
            return Err(ClientError::HttpStatus(status.as_u16()));
        }
        self.store.clear()?;
        Ok(())
    }

    async fn join(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.task.await;
        }
    }

    /// Stops the connection without logging out (the session stays stored).
    pub async fn shutdown(&mut self) {
        if let Some(running) = self.running.as_ref() {
            let _ = running.commands.send(Command::Shutdown);
        }
        self.join().await;
        if self.state() != ConnectionState::Stopped {
            self.state.send_replace(ConnectionState::Idle);
        }
    }
}
