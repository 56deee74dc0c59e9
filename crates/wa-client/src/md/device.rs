//! A multi-device companion: pairs by QR ([`MdDevice::login`]) or pair code
//! ([`MdDevice::pair_with_code`]), restarts on 515, logs in from saved credentials
//! ([`MdDevice::restore`]), keeps its prekeys topped up, and logs out. Every decision is
//! [`wa_core::md::MdSession`]'s; this drives it with a WebSocket, the clock and the store.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::rngs::OsRng;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;
use wa_binary::Jid;
use wa_core::md::stanza::StatusKind;
use wa_core::md::store::{CiphertextHash, DELIVERED_KEEP_SECS, DecryptBufferStore as _};
use wa_core::md::{
    Content, Credentials, MdEvent, MdSession, Messenger, MessengerConfig, MessengerError,
    MessengerEvent, NextStep, PairError, ReceiveStore as _, SessionConfig, StreamError,
};
use wa_signal::SessionStore as _;

use super::conn::{MdClient, MdClientError, MdConnectConfig};
use super::signal::{SignalState, WaStoreCredentials};
use super::store::CredentialStore;

/// How the device connects and behaves.
#[derive(Clone, Debug)]
pub struct MdDeviceConfig {
    /// Where to connect and which root to trust.
    pub connect: MdConnectConfig,
    /// The session's tunables.
    pub session: SessionConfig,
    /// How long a login may take, from connect to a settled prekey store.
    pub login_timeout: Duration,
    /// Whether a message counts as processed as soon as it is in the [`MdDevice::messages`]
    /// channel (`true`), or only once the application acknowledged it with
    /// [`MdDevice::ack_handled`] or a [`MessageAcker`] (`false`, the default). Automatic
    /// acknowledgement can lose a message the application had not processed when the process
    /// died; manual acknowledgement never does (an unacknowledged message is handed over again,
    /// flagged `redelivered`).
    pub auto_ack: bool,
    /// How long an acknowledged message's tombstone (its ciphertext hash) is kept to refuse a
    /// replayed ciphertext; older ones are pruned when messaging starts.
    pub delivered_keep: Duration,
}

impl Default for MdDeviceConfig {
    fn default() -> MdDeviceConfig {
        MdDeviceConfig {
            connect: MdConnectConfig::default(),
            session: SessionConfig::default(),
            login_timeout: Duration::from_secs(120),
            auto_ack: false,
            delivered_keep: Duration::from_secs(DELIVERED_KEEP_SECS),
        }
    }
}

/// Acknowledges messages the application has processed, from any task or thread (it holds the
/// device's store, not the device). An acknowledged message is never handed over again; one
/// left unacknowledged is handed over again after a restart, flagged `redelivered`.
#[derive(Clone, Debug)]
pub struct MessageAcker(Arc<wa_store::Store>);

impl MessageAcker {
    /// An acker on `store` (the store a device keeps its decrypt buffer in).
    pub(crate) fn new(store: Arc<wa_store::Store>) -> MessageAcker {
        MessageAcker(store)
    }

    /// Acknowledges the message whose [`MessengerEvent::Message`] carried `hash`: one short
    /// transaction (it blocks; from async code that matters, call it in `spawn_blocking`).
    /// Returns false when the decrypt buffer has no such entry (pruned, or never there).
    ///
    /// Applications that keep their own data in the same store can instead acknowledge inside
    /// their own [`wa_store::Store::transaction`] with `tx.mark_delivered(hash, now)`, so that
    /// their write and the acknowledgement commit together.
    ///
    /// # Errors
    /// A store failure (the message stays pending).
    pub fn ack(&self, hash: &CiphertextHash) -> Result<bool, MdDeviceError> {
        let now = unix_now();
        self.0
            .transaction(|tx| tx.mark_delivered(hash, now))
            .map_err(|e| MdDeviceError::SignalStore(e.to_string()))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the device reports while logging in.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceEvent {
    /// Show this QR (replaces the previous one).
    Qr(String),
    /// Paired as this device.
    Paired(Jid),
    /// Logged in.
    LoggedIn,
    /// This many prekeys were uploaded.
    PreKeysUploaded(usize),
    /// The server's digest of our key bundle: `true` when it matched what we hold, `false`
    /// when it did not (a re-upload followed).
    KeyBundleChecked(bool),
}

/// Why the device stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MdDeviceError {
    /// The connection failed.
    #[error(transparent)]
    Connection(#[from] MdClientError),
    /// The store failed.
    #[error("credential store: {0}")]
    Store(#[from] std::io::Error),
    /// The stored credentials did not parse.
    #[error(transparent)]
    Credentials(#[from] wa_core::md::CredentialsError),
    /// A pairing step was refused.
    #[error(transparent)]
    Pair(#[from] PairError),
    /// The server ended the stream in a way that stops the device (logged out, unlinked,
    /// replaced, banned); the store was cleared when the credentials are void.
    #[error("stopped by the server: {0:?}")]
    Stopped(StreamError),
    /// The server ended the stream; reconnect later.
    #[error("stream ended: {0:?}; reconnect later")]
    Ended(StreamError),
    /// The link was lost (no pong in time, or the socket closed).
    #[error("the link was lost")]
    LinkLost,
    /// Every QR expired unscanned.
    #[error("no QR was scanned in time")]
    QrExhausted,
    /// `restore` without saved paired credentials.
    #[error("no paired credentials to restore")]
    NotPaired,
    /// The login (or a send) did not finish in time.
    #[error("the login timed out")]
    Timeout,
    /// Messaging needs a device opened on a `wa-store` database ([`MdDevice::open_store`]),
    /// paired.
    #[error("messaging is not available: {0}")]
    Messaging(#[from] MessengerError),
    /// The message could not be sent.
    #[error("send failed: {0}")]
    SendFailed(String),
    /// The Signal store failed.
    #[error("signal store: {0}")]
    SignalStore(String),
    /// Logged out at our request.
    #[error("logged out")]
    LoggedOut,
}

/// A companion device. See the module docs.
pub struct MdDevice {
    config: MdDeviceConfig,
    store: Box<dyn CredentialStore>,
    session: MdSession,
    conn: Option<MdClient>,
    epoch: Instant,
    /// The Signal state, when the device lives in a `wa-store` database.
    signal: Option<SignalState>,
    /// Messaging, once paired (and with `signal`).
    messenger: Option<Messenger>,
    /// Where messenger events go.
    chat_events: Option<UnboundedSender<MessengerEvent>>,
    /// Events that came before anyone subscribed (handed over by [`MdDevice::messages`]).
    early_events: Vec<MessengerEvent>,
    /// The send whose server ack a pump waits for, and its outcome once known.
    awaiting: Option<(String, Option<Result<(), String>>)>,
    /// Where a [`MdDevice::serve_for`] stops.
    idle_until: Option<Instant>,
}

impl core::fmt::Debug for MdDevice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MdDevice")
            .field("credentials", self.session.credentials())
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

/// Where a pump loop stops.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Goal {
    /// The server acked the send in `awaiting`.
    Acked,
    /// Serve until the deadline, which is then no error.
    Idle,
    /// Logged in with the prekey store settled.
    Ready,
    /// The answer to the pair-code request arrived.
    PairCodeSent,
    /// The logout iq was answered.
    LoggedOut,
    /// Never: serve until the connection ends.
    Serve,
}

impl MdDevice {
    /// Opens the device kept in `store`, or a fresh unpaired one (saved at once).
    ///
    /// # Errors
    /// A store error or damaged credentials.
    pub fn open(
        config: MdDeviceConfig,
        store: Box<dyn CredentialStore>,
    ) -> Result<MdDevice, MdDeviceError> {
        let creds = match store.load()? {
            Some(blob) => Credentials::from_bytes(&blob)?,
            None => {
                let creds = Credentials::generate(&mut OsRng);
                store.save(&creds.to_bytes())?;
                creds
            }
        };
        let mut session = MdSession::new(creds, config.session.clone(), &mut OsRng);
        session.remember_prekeys(
            store
                .prekeys()?
                .iter()
                .map(|k| (k.id, k.key_pair.public_bytes())),
        );
        Ok(MdDevice {
            config,
            store,
            session,
            conn: None,
            epoch: Instant::now(),
            signal: None,
            messenger: None,
            chat_events: None,
            early_events: Vec::new(),
            awaiting: None,
            idle_until: None,
        })
    }

    /// Opens the device kept in a `wa-store` database (credentials, prekeys and the Signal
    /// state together), or a fresh unpaired one. This is the form that can send and receive
    /// messages; a paired device replays messages that were decrypted but not handed over
    /// before the process stopped.
    ///
    /// # Errors
    /// A store error or damaged credentials.
    pub fn open_store(
        config: MdDeviceConfig,
        store: Arc<wa_store::Store>,
    ) -> Result<MdDevice, MdDeviceError> {
        let mut device = MdDevice::open(config, Box::new(WaStoreCredentials(Arc::clone(&store))))?;
        // The credentials may predate this store (saved before the identity was recorded).
        device
            .store
            .save(&device.session.credentials().to_bytes())?;
        device.signal = Some(SignalState(store));
        device.start_messenger()?;
        Ok(device)
    }

    /// Typed messaging events from now on (and any that came before the first call).
    pub fn messages(&mut self) -> UnboundedReceiver<MessengerEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        for event in self.early_events.drain(..) {
            let _ = tx.send(event);
        }
        self.chat_events = Some(tx);
        rx
    }

    /// Starts messaging once paired; replays what the decrypt buffer holds undelivered.
    fn start_messenger(&mut self) -> Result<(), MdDeviceError> {
        if self.messenger.is_some() || !self.session.credentials().is_paired() {
            return Ok(());
        }
        let Some(signal) = &self.signal else {
            return Ok(());
        };
        let mut messenger = Messenger::new(
            self.session.credentials(),
            MessengerConfig::default(),
            &mut OsRng,
        )?;
        let keep = self.config.delivered_keep.as_secs();
        signal
            .prune_delivered(unix_now().saturating_sub(keep))
            .map_err(|e| MdDeviceError::SignalStore(e.to_string()))?;
        let undelivered = signal
            .undelivered()
            .map_err(|e| MdDeviceError::SignalStore(e.to_string()))?;
        for entry in undelivered {
            messenger.replay(
                &entry.sender,
                &entry.id,
                entry.hash,
                &entry.plaintext,
                entry.handed,
            );
        }
        self.messenger = Some(messenger);
        Ok(())
    }

    /// A handle that acknowledges processed messages from another task (see
    /// [`MessageAcker`]); `None` for a device not opened on a `wa-store` database.
    pub fn acker(&self) -> Option<MessageAcker> {
        self.signal.as_ref().map(|s| MessageAcker(Arc::clone(&s.0)))
    }

    /// Acknowledges a processed message (the `hash` of its [`MessengerEvent::Message`]); see
    /// [`MessageAcker::ack`].
    ///
    /// # Errors
    /// Messaging unavailable, or a store failure.
    pub fn ack_handled(&self, hash: &CiphertextHash) -> Result<bool, MdDeviceError> {
        self.acker().ok_or(MessengerError::NotPaired)?.ack(hash)
    }

    /// Sends `text` to the user `to` (`number@s.whatsapp.net`) and returns its id once the
    /// server acknowledged it. Serves the connection meanwhile (incoming messages keep flowing
    /// to [`MdDevice::messages`]).
    ///
    /// # Errors
    /// [`MdDeviceError::Messaging`] when messaging is unavailable, [`MdDeviceError::SendFailed`]
    /// when no device could be encrypted for or the server refused it, or a connection error.
    pub async fn send_text(
        &mut self,
        to: &str,
        text: &str,
        events: &UnboundedSender<DeviceEvent>,
    ) -> Result<String, MdDeviceError> {
        let message = Content::Text(text.to_owned()).to_message();
        self.send_message(to, message, events).await
    }

    /// Sends typed `content` (a reply, reaction, revoke, location, ...; see
    /// [`wa_core::md::Content`]) to the user `to`, as [`MdDevice::send_message`].
    ///
    /// # Errors
    /// As [`MdDevice::send_text`].
    pub async fn send_content(
        &mut self,
        to: &str,
        content: &Content,
        events: &UnboundedSender<DeviceEvent>,
    ) -> Result<String, MdDeviceError> {
        self.send_message(to, content.to_message(), events).await
    }

    /// Sends any `wa_proto` message to the user `to` and returns its id once the server
    /// acknowledged it, as [`MdDevice::send_text`].
    ///
    /// # Errors
    /// As [`MdDevice::send_text`].
    pub async fn send_message(
        &mut self,
        to: &str,
        message: wa_proto::proto::Message,
        events: &UnboundedSender<DeviceEvent>,
    ) -> Result<String, MdDeviceError> {
        self.start_messenger()?;
        let messenger = self.messenger.as_mut().ok_or(MessengerError::NotPaired)?;
        let signal = self.signal.as_mut().ok_or(MessengerError::NotPaired)?;
        // With the device lists cached this encrypts now, without a round trip first (the
        // record kept for retry receipts carries this time).
        messenger.set_time(unix_now());
        let id = messenger.send_message_with(to, message, signal, &mut OsRng)?;
        self.awaiting = Some((id.clone(), None));
        let result = self.pump(Goal::Acked, events).await;
        let outcome = self.awaiting.take().and_then(|(_, o)| o);
        result?;
        match outcome {
            Some(Ok(())) => Ok(id),
            Some(Err(reason)) => Err(MdDeviceError::SendFailed(reason)),
            None => Err(MdDeviceError::Timeout),
        }
    }

    /// Sends a read receipt for messages `ids` of chat `chat` (the sender's user JID).
    ///
    /// # Errors
    /// Messaging unavailable, or the connection failed.
    pub async fn mark_read(&mut self, chat: &str, ids: &[String]) -> Result<(), MdDeviceError> {
        self.mark_status(StatusKind::Read, chat, ids).await
    }

    /// Sends a `played` receipt (a voice note or video message was played; it counts as read)
    /// for messages `ids` of chat `chat`.
    ///
    /// # Errors
    /// As [`MdDevice::mark_read`].
    pub async fn mark_played(&mut self, chat: &str, ids: &[String]) -> Result<(), MdDeviceError> {
        self.mark_status(StatusKind::Played, chat, ids).await
    }

    /// Sends a receipt of `kind` for messages `ids` of chat `chat`: `read`/`played` reach the
    /// sender and our other devices, `read-self`/`played-self` (read receipts off) only our
    /// other devices.
    ///
    /// # Errors
    /// As [`MdDevice::mark_read`].
    pub async fn mark_status(
        &mut self,
        kind: StatusKind,
        chat: &str,
        ids: &[String],
    ) -> Result<(), MdDeviceError> {
        let messenger = self.messenger.as_mut().ok_or(MessengerError::NotPaired)?;
        let unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        messenger.mark_status(kind, chat, ids, unix);
        let conn = self.conn.as_mut().ok_or(MdDeviceError::LinkLost)?;
        while let Some(node) = messenger.poll_transmit() {
            conn.send_node(&node).await?;
        }
        Ok(())
    }

    /// Whether this device counts as in the foreground: when not, its delivery receipts are
    /// `inactive` (the sender sees the message delivered, not us online).
    ///
    /// # Errors
    /// Messaging unavailable (not paired).
    pub fn set_active(&mut self, active: bool) -> Result<(), MdDeviceError> {
        let messenger = self.messenger.as_mut().ok_or(MessengerError::NotPaired)?;
        messenger.set_active(active);
        Ok(())
    }

    /// Forgets the Signal session with one device (`number:device@s.whatsapp.net`), as a
    /// damaged or lost session would: its next message cannot be decrypted and goes through a
    /// retry receipt.
    ///
    /// # Errors
    /// A store error, or no Signal state.
    pub fn reset_session(&mut self, device: &str) -> Result<(), MdDeviceError> {
        let signal = self.signal.as_mut().ok_or(MessengerError::NotPaired)?;
        let not_a_device = || MdDeviceError::SignalStore(format!("not a device JID: {device}"));
        let jid: wa_binary::Jid = device.parse().map_err(|_| not_a_device())?;
        // Where the session lives: under the LID address once the LID is known.
        let address = wa_core::md::lid::session_address(signal, &jid)
            .map_err(|e| MdDeviceError::SignalStore(e.to_string()))?
            .ok_or_else(not_a_device)?;
        signal
            .store_session(&address, &wa_signal::SessionRecord::default())
            .map_err(|e| MdDeviceError::SignalStore(e.to_string()))
    }

    /// Hands messenger events on. Messages are first recorded as handed over (one transaction
    /// for the batch), so that a hand-over after a crash is flagged `redelivered`; with
    /// [`MdDeviceConfig::auto_ack`] they are marked delivered once in the channel.
    fn drain_messenger(&mut self) -> Result<(), MdDeviceError> {
        let Some(messenger) = self.messenger.as_mut() else {
            return Ok(());
        };
        let batch: Vec<MessengerEvent> = std::iter::from_fn(|| messenger.poll_event()).collect();
        let fresh: Vec<CiphertextHash> = batch
            .iter()
            .filter_map(|e| match e {
                MessengerEvent::Message {
                    hash,
                    redelivered: false,
                    ..
                } => Some(*hash),
                _ => None,
            })
            .collect();
        if let Some(signal) = &self.signal {
            signal
                .mark_handed(&fresh)
                .map_err(|e| MdDeviceError::SignalStore(e.to_string()))?;
        }
        for event in batch {
            match &event {
                MessengerEvent::Sent { id, error } => {
                    if let Some((want, outcome)) = &mut self.awaiting {
                        if want == id && outcome.is_none() {
                            *outcome = Some(match error {
                                None => Ok(()),
                                Some(code) => Err(format!("server error {code}")),
                            });
                        }
                    }
                }
                MessengerEvent::SendFailed { id, reason } => {
                    if let Some((want, outcome)) = &mut self.awaiting {
                        if want == id && outcome.is_none() {
                            *outcome = Some(Err(reason.clone()));
                        }
                    }
                }
                _ => {}
            }
            let hash = match &event {
                MessengerEvent::Message { hash, .. } if self.config.auto_ack => Some(*hash),
                _ => None,
            };
            match &self.chat_events {
                Some(tx) => {
                    let _ = tx.send(event);
                }
                None => self.early_events.push(event),
            }
            if let (Some(hash), Some(signal)) = (hash, self.signal.as_mut()) {
                signal
                    .mark_delivered(&hash, unix_now())
                    .map_err(|e| MdDeviceError::SignalStore(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// The current credentials.
    pub fn credentials(&self) -> &Credentials {
        self.session.credentials()
    }

    /// Pairs by QR (QR strings go to `events`; scanning them is the user's part), restarts on
    /// 515, logs in and uploads prekeys. A paired device just logs in.
    ///
    /// # Errors
    /// [`MdDeviceError`]; a refused pairing is `Pair(..)`.
    pub async fn login(
        &mut self,
        events: &UnboundedSender<DeviceEvent>,
    ) -> Result<(), MdDeviceError> {
        self.connect().await?;
        self.pump(Goal::Ready, events).await
    }

    /// Logs in with saved paired credentials.
    ///
    /// # Errors
    /// [`MdDeviceError::NotPaired`] without them; otherwise as [`MdDevice::login`].
    pub async fn restore(
        &mut self,
        events: &UnboundedSender<DeviceEvent>,
    ) -> Result<(), MdDeviceError> {
        if !self.session.credentials().is_paired() {
            return Err(MdDeviceError::NotPaired);
        }
        self.login(events).await
    }

    /// Starts pair-code linking for `phone`: connects unpaired, asks the server, and returns the
    /// 8-character code for the user to type on the phone. Then call
    /// [`MdDevice::finish_login`] to wait for the phone.
    ///
    /// # Errors
    /// [`MdDeviceError`].
    pub async fn pair_with_code(
        &mut self,
        phone: &str,
        events: &UnboundedSender<DeviceEvent>,
    ) -> Result<String, MdDeviceError> {
        self.connect().await?;
        let code = self.session.request_pair_code(phone, &mut OsRng)?;
        self.pump(Goal::PairCodeSent, events).await?;
        Ok(code)
    }

    /// Keeps the connection going until logged in with prekeys settled (after
    /// [`MdDevice::pair_with_code`]).
    ///
    /// # Errors
    /// [`MdDeviceError`].
    pub async fn finish_login(
        &mut self,
        events: &UnboundedSender<DeviceEvent>,
    ) -> Result<(), MdDeviceError> {
        self.pump(Goal::Ready, events).await
    }

    /// Serves the connection (pings, server iqs) until it ends; returns why. A lost link or a
    /// stream error asking to reconnect later come back as errors for the caller to act on.
    ///
    /// # Errors
    /// Always, once the connection ends: the reason.
    pub async fn run(
        &mut self,
        events: &UnboundedSender<DeviceEvent>,
    ) -> Result<(), MdDeviceError> {
        self.pump(Goal::Serve, events).await
    }

    /// Serves the connection for `duration` (incoming messages and receipts flow to
    /// [`MdDevice::messages`]), then returns.
    ///
    /// # Errors
    /// The connection ended meanwhile.
    pub async fn serve_for(
        &mut self,
        duration: Duration,
        events: &UnboundedSender<DeviceEvent>,
    ) -> Result<(), MdDeviceError> {
        self.serve_until(duration, std::future::pending::<()>(), events)
            .await
            .map(|_| ())
    }

    /// Serves the connection until `wake` completes or `at_most` passed, whichever comes
    /// first, and returns `wake`'s output if it completed. The wake-up is checked only while
    /// the device waits for the network, with everything received so far handled, handed on
    /// and acknowledged, so returning early never leaves a stanza half done; a caller that
    /// has other work (a command channel, a shutdown signal) thus gets the device back at once
    /// instead of after a fixed slice.
    ///
    /// # Errors
    /// The connection ended meanwhile.
    pub async fn serve_until<T>(
        &mut self,
        at_most: Duration,
        wake: impl std::future::Future<Output = T>,
        events: &UnboundedSender<DeviceEvent>,
    ) -> Result<Option<T>, MdDeviceError> {
        self.idle_until = Some(Instant::now() + at_most);
        let result = self.pump_until(Goal::Idle, events, wake).await;
        self.idle_until = None;
        result
    }

    /// Unlinks this device (`remove-companion-device`) and clears the store.
    ///
    /// # Errors
    /// [`MdDeviceError`].
    pub async fn logout(
        &mut self,
        events: &UnboundedSender<DeviceEvent>,
    ) -> Result<(), MdDeviceError> {
        self.session.logout();
        match self.pump(Goal::LoggedOut, events).await {
            Ok(()) | Err(MdDeviceError::LoggedOut) => {
                self.store.clear()?;
                self.close().await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Closes the connection (the credentials stay).
    pub async fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
        self.session.disconnected();
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn connect(&mut self) -> Result<(), MdDeviceError> {
        if let Some(old) = self.conn.take() {
            let _ = old.close().await;
        }
        let payload = self.session.client_payload();
        let noise = self.session.credentials().noise.clone();
        let conn = MdClient::connect(&self.config.connect, &noise, &payload).await?;
        self.conn = Some(conn);
        let now = self.now();
        self.session.connected(now);
        Ok(())
    }

    /// Waits for one node or timer and feeds it to the session.
    async fn step(&mut self) -> Result<(), MdDeviceError> {
        let deadline = self
            .session
            .poll_timeout()
            .map(|t| self.epoch + Duration::from_millis(t));
        let Some(conn) = self.conn.as_mut() else {
            return Err(MdDeviceError::LinkLost);
        };
        let node = match deadline {
            Some(at) => match tokio::time::timeout_at(at, conn.next_node()).await {
                Ok(result) => Some(result?),
                Err(_) => None,
            },
            None => Some(conn.next_node().await?),
        };
        let now = self.now();
        match node {
            Some(Some(node)) => {
                self.session.handle_node(&node, now, &mut OsRng);
                if let (Some(messenger), Some(signal)) =
                    (self.messenger.as_mut(), self.signal.as_mut())
                {
                    let unix = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    messenger.handle_node(&node, signal, unix, &mut OsRng);
                }
            }
            Some(None) => {
                self.conn = None;
                self.session.disconnected();
                return Err(MdDeviceError::LinkLost);
            }
            None => self.session.handle_timeout(now),
        }
        Ok(())
    }

    async fn pump(
        &mut self,
        goal: Goal,
        events: &UnboundedSender<DeviceEvent>,
    ) -> Result<(), MdDeviceError> {
        self.pump_until(goal, events, std::future::pending::<()>())
            .await
            .map(|_| ())
    }

    /// [`MdDevice::pump`] that also returns (with its output) once `wake` completes; `wake` is
    /// polled only at the one await where nothing is half done (waiting for the next node,
    /// which is cancel-safe).
    async fn pump_until<T>(
        &mut self,
        goal: Goal,
        events: &UnboundedSender<DeviceEvent>,
        wake: impl std::future::Future<Output = T>,
    ) -> Result<Option<T>, MdDeviceError> {
        tokio::pin!(wake);
        let deadline = if goal == Goal::Serve {
            // Serving has no deadline; keepalive detects a dead link.
            Instant::now() + Duration::from_secs(365 * 24 * 3600)
        } else if let (Goal::Idle, Some(until)) = (goal, self.idle_until) {
            until
        } else {
            Instant::now() + self.config.login_timeout
        };
        let mut logged_in = false;
        loop {
            let mut reached = false;
            let mut reconnect = false;
            while let Some(event) = self.session.poll_event() {
                match event {
                    MdEvent::CredentialsChanged => {
                        self.store.save(&self.session.credentials().to_bytes())?;
                    }
                    MdEvent::PreKeysGenerated(keys) => self.store.add_prekeys(&keys)?,
                    MdEvent::Qr { code, .. } => {
                        let _ = events.send(DeviceEvent::Qr(code));
                    }
                    MdEvent::QrExhausted => {
                        self.close().await;
                        return Err(MdDeviceError::QrExhausted);
                    }
                    MdEvent::Paired { jid, .. } => {
                        let _ = events.send(DeviceEvent::Paired(jid));
                    }
                    MdEvent::PairFailed(error) => {
                        // A refused pairing-code exchange is final for this attempt; a
                        // refused pair-success leaves the QR flow waiting for a genuine one.
                        if goal == Goal::PairCodeSent || matches!(error, PairError::Refused(_)) {
                            return Err(error.into());
                        }
                        tracing::warn!(%error, "pairing step refused");
                    }
                    MdEvent::LoggedIn => {
                        logged_in = true;
                        self.start_messenger()?;
                        let _ = events.send(DeviceEvent::LoggedIn);
                    }
                    MdEvent::PreKeysUploaded { count } => {
                        let _ = events.send(DeviceEvent::PreKeysUploaded(count));
                    }
                    MdEvent::DigestVerified | MdEvent::DigestMismatch => {
                        let matched = matches!(event, MdEvent::DigestVerified);
                        let _ = events.send(DeviceEvent::KeyBundleChecked(matched));
                        if logged_in && goal == Goal::Ready {
                            reached = true;
                        }
                    }
                    MdEvent::IqFailed { what, code } => {
                        tracing::warn!(what, code, "iq failed");
                        if what == "prekey digest" && goal == Goal::Ready {
                            reached = true;
                        }
                    }
                    MdEvent::StreamEnded { error, next } => match next {
                        NextStep::ReconnectNow => reconnect = true,
                        NextStep::ReconnectLater => {
                            self.close().await;
                            return Err(MdDeviceError::Ended(error));
                        }
                        NextStep::StopLoggedOut => {
                            self.store.clear()?;
                            self.close().await;
                            return Err(MdDeviceError::Stopped(error));
                        }
                        NextStep::StopReplaced | NextStep::Stop => {
                            self.close().await;
                            return Err(MdDeviceError::Stopped(error));
                        }
                    },
                    MdEvent::LinkLost => {
                        self.close().await;
                        return Err(MdDeviceError::LinkLost);
                    }
                    MdEvent::LoggedOut => {
                        if goal == Goal::LoggedOut {
                            reached = true;
                        } else {
                            return Err(MdDeviceError::LoggedOut);
                        }
                    }
                    MdEvent::SignedPreKeyRotated { .. } => {}
                    _ => {}
                }
            }
            // Messages are recorded as handed over, and handed on, before their acks go out.
            self.drain_messenger()?;
            if goal == Goal::Acked && self.awaiting.as_ref().is_some_and(|(_, o)| o.is_some()) {
                reached = true;
            }
            // Send what the session queued (after the events above were persisted).
            if let Some(conn) = self.conn.as_mut() {
                while let Some(node) = self.session.poll_transmit() {
                    conn.send_node(&node).await?;
                }
                if let Some(messenger) = self.messenger.as_mut() {
                    while let Some(node) = messenger.poll_transmit() {
                        conn.send_node(&node).await?;
                    }
                }
            }
            if reconnect {
                self.connect().await?;
                continue;
            }
            if reached {
                return Ok(None);
            }
            if goal == Goal::PairCodeSent && self.pair_code_answered() {
                return Ok(None);
            }
            if Instant::now() >= deadline {
                return match goal {
                    Goal::Idle => Ok(None),
                    _ => Err(MdDeviceError::Timeout),
                };
            }
            let stepped = tokio::select! {
                biased;
                out = &mut wake => return Ok(Some(out)),
                stepped = tokio::time::timeout_at(deadline, self.step()) => stepped,
            };
            match stepped {
                Ok(result) => result?,
                Err(_) if goal == Goal::Idle => return Ok(None),
                Err(_) => return Err(MdDeviceError::Timeout),
            }
        }
    }

    fn pair_code_answered(&self) -> bool {
        self.session.pair_code_answered()
    }
}
