//! The default client: multi-device. A [`Client`] is a handle over a tokio task that owns an
//! [`MdDevice`] (every protocol decision stays `wa_core::md`'s); the user gets one event stream
//! ([`Client::next_event`]) with QR codes, the pair code, the login, messages, receipts and
//! disconnects, and async calls that the task serves between reads.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use wa_binary::Jid;
use wa_core::md::store::CiphertextHash;
use wa_core::md::{MessengerEvent, TrustRoot};
use wa_core::reconnect::Backoff;

use super::client_driver::{Command, Driver, Mode};
use super::{MdDevice, MdDeviceConfig, MdDeviceError, MessageAcker};

/// Where the device keeps its credentials, prekeys and Signal sessions.
#[derive(Clone)]
#[non_exhaustive]
pub enum StoreConfig {
    /// One SQLite file (created mode 0600; the default is `wa-device.db` in the working
    /// directory).
    Sqlite(PathBuf),
    /// In memory: gone when the process ends (tests, throwaway sessions).
    Memory,
    /// A PostgreSQL database (`wa-store`'s `postgres` feature, enabled by this crate's
    /// `postgres` feature); `device` names this device's rows, so many devices share one
    /// database.
    Postgres {
        /// The connection URL (it may hold a password: never printed).
        url: String,
        /// This device's name in the database.
        device: String,
    },
    /// A store the caller opened.
    Open(Arc<wa_store::Store>),
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig::Sqlite(PathBuf::from("wa-device.db"))
    }
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreConfig::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            StoreConfig::Memory => f.write_str("Memory"),
            // The URL may carry a password.
            StoreConfig::Postgres { device, .. } => f
                .debug_struct("Postgres")
                .field("url", &"<redacted>")
                .field("device", device)
                .finish(),
            StoreConfig::Open(_) => f.write_str("Open(..)"),
        }
    }
}

impl StoreConfig {
    fn open(&self) -> Result<Arc<wa_store::Store>, ClientError> {
        Ok(match self {
            StoreConfig::Sqlite(path) => Arc::new(wa_store::Store::open_sqlite(path)?),
            StoreConfig::Memory => Arc::new(wa_store::Store::memory()),
            #[cfg(feature = "postgres")]
            StoreConfig::Postgres { url, device } => {
                Arc::new(wa_store::Store::open_postgres(url, device)?)
            }
            #[cfg(not(feature = "postgres"))]
            StoreConfig::Postgres { .. } => return Err(ClientError::PostgresDisabled),
            StoreConfig::Open(store) => Arc::clone(store),
        })
    }
}

/// What a [`Client`] call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The device failed (connection, pairing, store, send...).
    #[error(transparent)]
    Device(#[from] MdDeviceError),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] wa_store::Error),
    /// A PostgreSQL store was asked for without the `postgres` feature.
    #[error("PostgreSQL support is not compiled in (feature `postgres`)")]
    PostgresDisabled,
    /// `login`, `pair_with_code` or `restore` while the client is already running.
    #[error("the client is already running")]
    AlreadyRunning,
    /// A call that needs the connection before `login`/`restore`, or after it stopped.
    #[error("the client is not running")]
    NotRunning,
    /// A call that needs a logged-in connection while the client is still logging in or
    /// reconnecting.
    #[error("not connected yet")]
    NotConnected,
    /// `restore` without saved paired credentials.
    #[error("no paired credentials to restore")]
    NotPaired,
    /// The connection broke during the call; the client reconnects (see
    /// [`ClientEvent::Disconnected`]) and the call may be repeated.
    #[error("the connection broke during the call")]
    Interrupted,
}

/// What the client reports, in order, through [`Client::next_event`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientEvent {
    /// Show this QR code to the phone (replaces the previous one; a new one follows each
    /// expiry until they run out).
    Qr(String),
    /// The code to type on the phone (also returned by [`Client::pair_with_code`]).
    PairCode(String),
    /// Paired as this device (its JID is `user:device@s.whatsapp.net`).
    Paired(Jid),
    /// Logged in, prekeys settled: sends go out from now on.
    Connected,
    /// This many one-time prekeys were uploaded.
    PreKeysUploaded(usize),
    /// Messaging: an incoming message, a receipt, a server ack, an identity change, a message
    /// that could not be decrypted... An incoming message stays pending until the application
    /// acknowledges it ([`Client::ack`]); one handed over again after a restart is flagged
    /// `redelivered`.
    Message(MessengerEvent),
    /// The connection was lost; the client logs in again from the saved credentials after
    /// `reconnect_in`.
    Disconnected {
        /// Why.
        error: MdDeviceError,
        /// The backoff delay before the next attempt.
        reconnect_in: Duration,
    },
    /// The client stopped for good: logged out (by us: [`MdDeviceError::LoggedOut`]; by the
    /// phone or the server: `Stopped(..)`, credentials cleared), replaced, QR codes exhausted,
    /// a refused pairing, or out of reconnect attempts.
    Stopped(MdDeviceError),
}

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    device: MdDeviceConfig,
    store: StoreConfig,
    backoff: Backoff,
    reconnect: bool,
    tick: Duration,
}

impl ClientBuilder {
    /// The WebSocket URL (default: WhatsApp's multi-device endpoint).
    pub fn server_url(mut self, url: impl Into<String>) -> ClientBuilder {
        self.device.connect.transport.url = url.into();
        self
    }

    /// The root the server's certificate chain must lead to (default: WhatsApp's); a local
    /// simulator has its own.
    pub fn trust_root(mut self, root: TrustRoot) -> ClientBuilder {
        self.device.connect.handshake.trust_root = root;
        self
    }

    /// Every device setting at once (connection, session tunables, login timeout).
    pub fn device_config(mut self, config: MdDeviceConfig) -> ClientBuilder {
        self.device = config;
        self
    }

    /// Where the device is kept (default: SQLite, `wa-device.db`).
    pub fn store(mut self, store: StoreConfig) -> ClientBuilder {
        self.store = store;
        self
    }

    /// Keeps the device in the SQLite file at `path`.
    pub fn sqlite(self, path: impl Into<PathBuf>) -> ClientBuilder {
        self.store(StoreConfig::Sqlite(path.into()))
    }

    /// Keeps the device in memory only (tests).
    pub fn memory_store(self) -> ClientBuilder {
        self.store(StoreConfig::Memory)
    }

    /// The reconnect policy after a lost link (default: 1 s doubling up to 60 s).
    pub fn backoff(mut self, backoff: Backoff) -> ClientBuilder {
        self.backoff = backoff;
        self
    }

    /// Whether to log in again after a lost link (default true).
    pub fn reconnect(mut self, reconnect: bool) -> ClientBuilder {
        self.reconnect = reconnect;
        self
    }

    /// The longest slice the connection task serves the device before it looks round (default
    /// 20 ms). Calls do not wait for a slice to end: they wake the task at once (the device
    /// stops only where no frame is half handled).
    pub fn command_latency(mut self, tick: Duration) -> ClientBuilder {
        self.tick = tick.max(Duration::from_millis(1));
        self
    }

    /// Opens the store and the device in it (a new, unpaired device is created and saved when
    /// the store holds none). Nothing connects until [`Client::login`],
    /// [`Client::pair_with_code`] or [`Client::restore`].
    ///
    /// # Errors
    /// The store could not be opened, or the credentials in it are damaged.
    pub fn build(self) -> Result<Client, ClientError> {
        let store = self.store.open()?;
        let device = MdDevice::open_store(self.device.clone(), Arc::clone(&store))?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Ok(Client {
            config: self.device,
            store,
            backoff: self.backoff,
            reconnect: self.reconnect,
            tick: self.tick,
            idle: Arc::new(Mutex::new(Some(device))),
            events_tx,
            events_rx: tokio::sync::Mutex::new(events_rx),
            running: None,
        })
    }
}

struct Running {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

/// A WhatsApp multi-device client: pairs (QR or pair code), logs in from saved credentials,
/// stays connected (reconnecting with backoff), sends and receives messages.
///
/// The connection runs in a tokio task started by [`login`](Self::login),
/// [`pair_with_code`](Self::pair_with_code) or [`restore`](Self::restore); events arrive through
/// [`next_event`](Self::next_event), which must be polled (events queue up unboundedly
/// otherwise).
pub struct Client {
    config: MdDeviceConfig,
    store: Arc<wa_store::Store>,
    backoff: Backoff,
    reconnect: bool,
    tick: Duration,
    /// The device while no task runs; the task puts it back here when it ends.
    idle: Arc<Mutex<Option<MdDevice>>>,
    events_tx: mpsc::UnboundedSender<ClientEvent>,
    /// Behind a lock so that [`Client::next_event`] takes `&self`: events can be awaited while
    /// a `send_text` waits for its ack.
    events_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<ClientEvent>>,
    running: Option<Running>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.config.connect.transport.url)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with WhatsApp's defaults (SQLite store `wa-device.db`).
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            device: MdDeviceConfig::default(),
            store: StoreConfig::default(),
            backoff: Backoff::default(),
            reconnect: true,
            tick: Duration::from_millis(20),
        }
    }

    /// The store the device lives in.
    pub fn store(&self) -> &Arc<wa_store::Store> {
        &self.store
    }

    /// Whether the connection task is running.
    pub fn is_running(&self) -> bool {
        self.running.as_ref().is_some_and(|r| !r.task.is_finished())
    }

    /// This device's JID when paired; `None` while unpaired, and while the task runs (the
    /// task owns the device then; [`ClientEvent::Paired`] tells it).
    pub fn jid(&self) -> Option<Jid> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let device = idle.as_ref()?;
        device.credentials().account.as_ref().map(|a| a.jid.clone())
    }

    /// Acknowledges messages the application has processed, from any task (see
    /// [`MessageAcker`]). Every [`ClientEvent::Message`] carrying a
    /// [`MessengerEvent::Message`] stays pending until acknowledged (unless
    /// [`MdDeviceConfig::auto_ack`] is set): after a crash or restart an unacknowledged one is
    /// handed over again, flagged `redelivered`.
    pub fn acker(&self) -> MessageAcker {
        MessageAcker::new(Arc::clone(&self.store))
    }

    /// Acknowledges one processed message by the `hash` its event carried; returns false when
    /// the store holds no such message. Runs the store transaction off the async threads.
    ///
    /// # Errors
    /// A store failure (the message stays pending).
    pub async fn ack(&self, hash: &CiphertextHash) -> Result<bool, ClientError> {
        let acker = self.acker();
        let hash = *hash;
        tokio::task::spawn_blocking(move || acker.ack(&hash))
            .await
            .map_err(|_| ClientError::Interrupted)?
            .map_err(ClientError::from)
    }

    /// The next event; waits until one arrives.
    pub async fn next_event(&self) -> Option<ClientEvent> {
        self.events_rx.lock().await.recv().await
    }

    fn take_device(&mut self) -> Result<MdDevice, ClientError> {
        if self.is_running() {
            return Err(ClientError::AlreadyRunning);
        }
        self.running = None;
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .ok_or(ClientError::AlreadyRunning)
    }

    fn spawn(&mut self, device: MdDevice, mode: Mode) {
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let driver = Driver {
            device,
            config: self.config.clone(),
            store: Arc::clone(&self.store),
            events: self.events_tx.clone(),
            commands: commands_rx,
            backoff: self.backoff.clone(),
            reconnect: self.reconnect,
            tick: self.tick,
            idle: Arc::clone(&self.idle),
        };
        let task = tokio::spawn(driver.run(mode));
        self.running = Some(Running {
            commands: commands_tx,
            task,
        });
    }

    /// Starts a login: an unpaired device shows QR codes ([`ClientEvent::Qr`]) until the
    /// phone scans one, then [`ClientEvent::Paired`] and, after the server's restart and the
    /// prekey upload, [`ClientEvent::Connected`]. A paired device just logs in.
    ///
    /// # Errors
    /// [`ClientError::AlreadyRunning`].
    pub fn login(&mut self) -> Result<(), ClientError> {
        let device = self.take_device()?;
        self.spawn(device, Mode::Login);
        Ok(())
    }

    /// Links by pair code instead of QR: connects unpaired, asks the server for the code for
    /// `phone` (international digits, `+` allowed) and returns the 8 characters to type on the
    /// phone. The login continues in the task: [`ClientEvent::Paired`], then
    /// [`ClientEvent::Connected`].
    ///
    /// # Errors
    /// [`ClientError::AlreadyRunning`], or the device's error getting the code (the task has
    /// then stopped).
    pub async fn pair_with_code(&mut self, phone: &str) -> Result<String, ClientError> {
        let device = self.take_device()?;
        let (tx, rx) = oneshot::channel();
        self.spawn(device, Mode::PairCode(phone.to_owned(), tx));
        match rx.await {
            Ok(result) => result,
            Err(_) => Err(ClientError::NotRunning),
        }
    }

    /// Logs in with the saved paired credentials: [`ClientEvent::Connected`] follows.
    ///
    /// # Errors
    /// [`ClientError::NotPaired`] without them; [`ClientError::AlreadyRunning`].
    pub fn restore(&mut self) -> Result<(), ClientError> {
        let device = self.take_device()?;
        if !device.credentials().is_paired() {
            *self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(device);
            return Err(ClientError::NotPaired);
        }
        self.spawn(device, Mode::Restore);
        Ok(())
    }

    async fn command<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, ClientError>>) -> Command,
    ) -> Result<T, ClientError> {
        let running = self.running.as_ref().ok_or(ClientError::NotRunning)?;
        let (tx, rx) = oneshot::channel();
        running
            .commands
            .send(make(tx))
            .map_err(|_| ClientError::NotRunning)?;
        rx.await.map_err(|_| ClientError::NotRunning)?
    }

    /// Sends `text` to the user `to` (`number@s.whatsapp.net`) and returns the message id once
    /// the server acknowledged it.
    ///
    /// # Errors
    /// [`ClientError::NotConnected`] before [`ClientEvent::Connected`], [`ClientError::Device`]
    /// when no device could be encrypted for or the server refused it,
    /// [`ClientError::Interrupted`] when the connection broke meanwhile.
    pub async fn send_text(&self, to: &str, text: &str) -> Result<String, ClientError> {
        let (to, text) = (to.to_owned(), text.to_owned());
        self.command(|reply| Command::SendText { to, text, reply })
            .await
    }

    /// Sends a read receipt for the messages `ids` of chat `chat` (the sender's user JID).
    ///
    /// # Errors
    /// As [`Client::send_text`].
    pub async fn mark_read(&self, chat: &str, ids: &[String]) -> Result<(), ClientError> {
        let (chat, ids) = (chat.to_owned(), ids.to_vec());
        self.command(|reply| Command::MarkRead { chat, ids, reply })
            .await
    }

    /// Unlinks this device from the phone and clears the store; the client then holds a
    /// fresh unpaired device (a later [`Client::login`] pairs anew).
    ///
    /// # Errors
    /// [`ClientError::NotConnected`] unless logged in; the device's error.
    pub async fn logout(&mut self) -> Result<(), ClientError> {
        self.command(|reply| Command::Logout { reply }).await?;
        self.join().await;
        Ok(())
    }

    async fn join(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.task.await;
        }
    }

    /// Stops the connection without logging out (the credentials stay stored).
    pub async fn shutdown(&mut self) {
        if let Some(running) = self.running.as_ref() {
            let _ = running.commands.send(Command::Shutdown);
        }
        self.join().await;
    }
}
