//! The tokio task that runs one client: connect, feed the wa-core session, reconnect.
//!
//! It is thin on purpose: every protocol decision is the [`ClientSession`]'s; this loop only
//! moves frames and instants between the socket, the clock and the state machine, persists what
//! the session asks, and applies the reconnect policy.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use wa_binary::Node;
use wa_core::chat::{self, AckLevel, ChatEvent, Messenger, OutboxStore, RelayOutcome, Request};
use wa_core::client::{
    ClientConfig, ClientSession, CloseReason, CommandError, Event, SessionError,
};
use wa_core::frame::Tag;
use wa_core::reconnect::Backoff;
use wa_core::session::{SessionData, SessionStore};
use wa_core::time::Timestamp;
use wa_transport::{Transport, TransportConfig};

use super::{ClientError, ClientEvent, ConnectionState};

/// The answer to a request: a JSON reply or a binary node.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A JSON reply (`{status:200,...}`, query answers).
    Json(Value),
    /// A binary node (`response`, `media`...).
    Node(Node),
}

type ReplyTx = oneshot::Sender<Result<Reply, ClientError>>;
type AckTx = oneshot::Sender<Result<AckLevel, ClientError>>;

/// What the [`Client`](super::Client) asks of the running driver.
pub(crate) enum Command {
    Logout(oneshot::Sender<Result<(), CommandError>>),
    Reref(oneshot::Sender<Result<(), CommandError>>),
    SendJson(Value, oneshot::Sender<Result<Tag, CommandError>>),
    /// Send a request and answer with its reply.
    Request(Request, ReplyTx),
    /// Put a message in the outbox and relay it; answered once the server acks it.
    SendMessage(Box<wa_proto::WebMessageInfo>, AckTx),
    /// The application has taken these incoming messages: `received` receipts (chat, id,
    /// participant).
    AckIncoming(Vec<(String, String, Option<String>)>),
    Shutdown,
}

/// How the first connection logs in.
pub(crate) enum Mode {
    NewLogin,
    Restore(Box<SessionData>),
}

/// Wall-clock time advanced by tokio's monotonic clock, so the core sees a steady `now`.
#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    start_unix: Timestamp,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            start: Instant::now(),
            start_unix: Timestamp::from_system_time(SystemTime::now()),
        }
    }

    fn now(&self) -> Timestamp {
        self.start_unix + self.start.elapsed()
    }

    fn instant_at(&self, at: Timestamp) -> Instant {
        self.start + at.saturating_duration_since(self.start_unix)
    }
}

pub(crate) struct Driver {
    pub(crate) session_config: ClientConfig,
    pub(crate) transport_config: TransportConfig,
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) events: mpsc::UnboundedSender<ClientEvent>,
    pub(crate) state: watch::Sender<ConnectionState>,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) backoff: Backoff,
    pub(crate) reconnect: bool,
    pub(crate) rng: StdRng,
    pub(crate) outbox_store: Arc<dyn OutboxStore>,
    pub(crate) messenger: Messenger,
    pub(crate) message_waiters: HashMap<String, Vec<AckTx>>,
    pub(crate) reply_waiters: HashMap<Tag, ReplyTx>,
    /// When the current connection logged in (`None` before it does).
    pub(crate) connected_at: Option<Timestamp>,
}

/// A connection that stayed logged in this long resets the reconnect backoff; one that drops
/// sooner keeps it growing, so a session that cannot stay connected backs off instead of
/// reconnecting about once a second.
pub(crate) const STABLE_CONNECTION: Duration = Duration::from_secs(10);

/// How one connection ended.
enum Ended {
    Closed(CloseReason),
    Shutdown,
}

impl Driver {
    fn emit(&self, event: ClientEvent) {
        // The receiver lives in the Client; if it is gone nobody is listening.
        let _ = self.events.send(event);
    }

    fn set_state(&self, state: ConnectionState) {
        self.state.send_replace(state);
        self.emit(ClientEvent::State(state));
    }

    pub(crate) async fn run(mut self, mut mode: Mode) {
        let clock = Clock::new();
        let mut logout_reply: Option<oneshot::Sender<Result<(), CommandError>>> = None;
        loop {
            self.set_state(ConnectionState::Connecting);
            let Some(connected) = self.connect().await else {
                break;
            };
            let ended = match connected {
                Ok(mut transport) => {
                    let ended = self
                        .drive(&clock, &mut transport, &mode, &mut logout_reply)
                        .await;
                    if let Err(e) = transport.close().await {
                        tracing::debug!(error = %e, "closing the WebSocket failed");
                    }
                    ended
                }
                Err(e) => {
                    self.emit(ClientEvent::Error(ClientError::Transport(e)));
                    Ended::Closed(CloseReason::TransportClosed)
                }
            };
            let reason = match ended {
                Ended::Shutdown => break,
                Ended::Closed(reason) => reason,
            };
            // Relays in flight on the lost link count as unanswered; some may be given up.
            self.messenger.on_link_lost();
            self.drain_failed();
            if let Some(since) = self.connected_at.take() {
                if clock.now().saturating_duration_since(since) >= STABLE_CONNECTION {
                    self.backoff.reset();
                }
            }
            if let Some(reply) = logout_reply.take() {
                let _ = reply.send(Ok(()));
            }
            if reason.invalidates_session() {
                if let Err(e) = self.store.clear() {
                    self.emit(ClientEvent::Error(ClientError::Store(e)));
                }
            }
            let delay = if self.reconnect && reason.is_retryable() {
                self.backoff.next_delay(&mut self.rng)
            } else {
                None
            };
            let Some(delay) = delay else {
                self.set_state(ConnectionState::Stopped);
                self.emit(ClientEvent::Stopped(reason));
                break;
            };
            // Once paired, every reconnect restores; before that, a new QR login starts.
            match self.store.load() {
                Ok(Some(data)) => mode = Mode::Restore(Box::new(data)),
                Ok(None) => {}
                Err(e) => self.emit(ClientEvent::Error(ClientError::Store(e))),
            }
            tracing::info!(?reason, ?delay, "connection lost, reconnecting");
            self.set_state(ConnectionState::Reconnecting);
            self.emit(ClientEvent::Disconnected {
                reason,
                reconnect_in: delay,
            });
            if self.wait(delay).await {
                break;
            }
        }
    }

    /// Connects while answering commands; `None` if asked to shut down meanwhile.
    async fn connect(&mut self) -> Option<Result<Transport, wa_transport::TransportError>> {
        let config = self.transport_config.clone();
        let connecting = Transport::connect(&config);
        tokio::pin!(connecting);
        loop {
            tokio::select! {
                result = &mut connecting => return Some(result),
                command = self.commands.recv() => {
                    if self.offline_command(command) {
                        return None;
                    }
                }
            }
        }
    }

    /// Sleeps for `delay` while answering commands; true if asked to shut down.
    async fn wait(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return false,
                command = self.commands.recv() => {
                    if self.offline_command(command) {
                        return true;
                    }
                }
            }
        }
    }

    async fn drive(
        &mut self,
        clock: &Clock,
        transport: &mut Transport,
        mode: &Mode,
        logout_reply: &mut Option<oneshot::Sender<Result<(), CommandError>>>,
    ) -> Ended {
        let mut session = ClientSession::new(self.session_config.clone());
        let started = match mode {
            Mode::NewLogin => session.start_login(clock.now(), &mut self.rng),
            Mode::Restore(data) => session.restore(clock.now(), (**data).clone()),
        };
        if let Err(e) = started {
            self.emit(ClientEvent::Error(ClientError::Command(e)));
            return Ended::Shutdown;
        }
        self.set_state(ConnectionState::LoggingIn);
        let ended = loop {
            while let Some(frame) = session.poll_transmit() {
                if let Err(e) = transport.send(&frame).await {
                    tracing::debug!(error = %e, "send failed");
                    session.handle_transport_closed(clock.now());
                    break;
                }
            }
            let mut closed = None;
            while let Some(event) = session.poll_event() {
                if let Some(reason) = self.on_event(clock, &mut session, event) {
                    closed = Some(reason);
                    break;
                }
            }
            self.drain_failed();
            if let Some(reason) = closed {
                break Ended::Closed(reason);
            }
            if session.has_transmit() {
                continue;
            }
            let deadline = [session.poll_timeout(), self.messenger.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .map(|at| clock.instant_at(at));
            tokio::select! {
                message = transport.recv() => match message {
                    Ok(Some(message)) => session.handle_wire(clock.now(), &message),
                    Ok(None) => session.handle_transport_closed(clock.now()),
                    Err(e) => {
                        tracing::debug!(error = %e, "receive failed");
                        session.handle_transport_closed(clock.now());
                    }
                },
                () = sleep_until_opt(deadline) => {
                    session.handle_timeout(clock.now());
                    for e in self.messenger.handle_timeout(&mut session, clock.now(), &mut self.rng) {
                        tracing::debug!(error = %e, "deferred resend postponed");
                    }
                }
                command = self.commands.recv() => match command {
                    None | Some(Command::Shutdown) => break Ended::Shutdown,
                    Some(Command::Logout(reply)) => match session.logout(clock.now()) {
                        // Answered once the goodbye is sent and the session closed.
                        Ok(()) => *logout_reply = Some(reply),
                        Err(e) => { let _ = reply.send(Err(e)); }
                    },
                    Some(Command::Reref(reply)) => {
                        let _ = reply.send(session.reref(clock.now()));
                    }
                    Some(Command::SendJson(body, reply)) => {
                        let _ = reply.send(session.send_json(clock.now(), body));
                    }
                    Some(Command::Request(request, reply)) => {
                        match self.send_request(clock, &mut session, request) {
                            Ok(tag) => { self.reply_waiters.insert(tag, reply); }
                            Err(e) => { let _ = reply.send(Err(e)); }
                        }
                    }
                    Some(Command::SendMessage(info, reply)) => {
                        if let Some(id) = self.enqueue(&info, reply) {
                            if session.state() == wa_core::client::SessionState::Connected {
                                self.relay(clock, &mut session, &id);
                            }
                        }
                    }
                    Some(Command::AckIncoming(keys)) => {
                        for (chat, id, participant) in keys {
                            let request = chat::request::received(
                                0, None, &chat, &id, participant.as_deref(),
                            );
                            // Best effort: the server does not need it to keep the message.
                            let _ = self.send_request(clock, &mut session, request);
                        }
                    }
                },
            }
        };
        // Replies to requests of this connection will never come.
        for (_, waiter) in self.reply_waiters.drain() {
            let _ = waiter.send(Err(ClientError::Command(CommandError::NotConnected)));
        }
        ended
    }

    /// Sends a request on the session; the tag its reply will carry.
    fn send_request(
        &mut self,
        clock: &Clock,
        session: &mut ClientSession,
        request: Request,
    ) -> Result<Tag, ClientError> {
        Ok(self
            .messenger
            .send_request(session, clock.now(), request, &mut self.rng)?)
    }

    /// Puts a message in the (persisted) outbox; its id, or `None` if it could not be stored.
    fn enqueue(&mut self, info: &wa_proto::WebMessageInfo, reply: AckTx) -> Option<String> {
        let id = match self.messenger.enqueue(info) {
            Ok(id) => id,
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return None;
            }
        };
        // Accepted only once it is durable: that is what "nothing lost" rests on.
        if let Err(e) = self.outbox_store.save_outbox(self.messenger.outbox()) {
            self.messenger.forget(&id);
            let _ = reply.send(Err(ClientError::Store(e)));
            return None;
        }
        self.message_waiters
            .entry(id.clone())
            .or_default()
            .push(reply);
        Some(id)
    }

    /// Relays outbox entry `id` (again), tagged with its id.
    fn relay(&mut self, clock: &Clock, session: &mut ClientSession, id: &str) {
        if let Err(e) = self
            .messenger
            .relay(session, clock.now(), id, &mut self.rng)
        {
            tracing::debug!(error = %e, id, "relay deferred");
        }
    }

    fn message_done(&mut self, id: &str, outcome: RelayOutcome) {
        let failure = |outcome: &RelayOutcome| match outcome {
            RelayOutcome::Refused(status) => Some(ClientError::Refused(format!(
                "message {id} refused with status {status:?}"
            ))),
            RelayOutcome::Unanswered { attempts } => Some(ClientError::Undelivered {
                id: id.to_owned(),
                attempts: *attempts,
            }),
            RelayOutcome::Acked(_) | RelayOutcome::Deferred { .. } => None,
        };
        let result = match outcome {
            RelayOutcome::Acked(level) => Ok(level),
            RelayOutcome::Deferred { status, .. } => {
                // Still in the outbox; the messenger's timer relays it again.
                tracing::debug!(id, status, "relay deferred by the server");
                return;
            }
            ref failed => Err(failed.clone()),
        };
        if let Err(e) = self.outbox_store.save_outbox(self.messenger.outbox()) {
            self.emit(ClientEvent::Error(ClientError::Store(e)));
        }
        if let Err(outcome) = &result {
            if let Some(error) = failure(outcome) {
                self.emit(ClientEvent::MessageFailed {
                    id: id.to_owned(),
                    error,
                });
            }
        }
        for waiter in self.message_waiters.remove(id).unwrap_or_default() {
            let _ = waiter.send(match &result {
                Ok(level) => Ok(*level),
                Err(outcome) => Err(failure(outcome)
                    .unwrap_or(ClientError::Refused(format!("message {id} failed")))),
            });
        }
    }

    /// Reports the messages the messenger gave up (they already left the outbox).
    fn drain_failed(&mut self) {
        while let Some((id, outcome)) = self.messenger.poll_failed() {
            tracing::info!(id, ?outcome, "message given up");
            self.message_done(&id, outcome);
        }
    }

    /// Handles one session event; returns the reason if the session closed.
    fn on_event(
        &mut self,
        clock: &Clock,
        session: &mut ClientSession,
        event: Event,
    ) -> Option<CloseReason> {
        match event {
            Event::SessionUpdated(data) => {
                if let Err(e) = self.store.save(&data) {
                    self.emit(ClientEvent::Error(ClientError::Store(e)));
                }
            }
            Event::Qr(qr) => self.emit(ClientEvent::Qr(qr)),
            Event::ChallengeAnswered => self.emit(ClientEvent::ChallengeAnswered),
            Event::Connected(info) => {
                // The backoff resets once this connection has proved stable (see `run`).
                self.connected_at = Some(clock.now());
                self.set_state(ConnectionState::Connected);
                self.emit(ClientEvent::Connected(info));
                // Whatever was never acked goes again, with the same ids.
                for e in self
                    .messenger
                    .resend_pending(session, clock.now(), &mut self.rng)
                {
                    tracing::debug!(error = %e, "resend deferred");
                }
            }
            Event::Closed(reason) => return Some(reason),
            Event::Response { tag, body } => {
                if let Some((id, outcome)) = self.messenger.on_response(clock.now(), &tag, &body) {
                    self.message_done(&id, outcome);
                    // Answered: a message waiting its turn may go now.
                    for e in self.messenger.pump(session, clock.now(), &mut self.rng) {
                        tracing::debug!(error = %e, "relay deferred");
                    }
                } else if let Some(waiter) = self.reply_waiters.remove(&tag) {
                    let _ = waiter.send(Ok(Reply::Json(body)));
                } else {
                    self.emit(ClientEvent::Protocol(Event::Response { tag, body }));
                }
            }
            Event::Node { tag, node } => {
                if let Some(waiter) = self.reply_waiters.remove(&tag) {
                    let _ = waiter.send(Ok(Reply::Node(node)));
                } else {
                    let events = chat::map_node(&node);
                    // The frame as decrypted, for tools that show the wire; typed events follow.
                    self.emit(ClientEvent::Protocol(Event::Node { tag, node }));
                    for event in events {
                        self.emit_chat(event);
                    }
                }
            }
            Event::Json { body, .. } => self.emit_chat(chat::map_json(&body)),
            Event::Cmd(cmd) => match chat::map_cmd(&cmd) {
                Some(event) => self.emit_chat(event),
                None => self.emit(ClientEvent::Protocol(Event::Cmd(cmd))),
            },
            Event::Error(SessionError::RequestTimedOut { tag }) => {
                // No ack in time: a relay goes again with the same id (the server
                // de-duplicates).
                let resent = self
                    .messenger
                    .on_timeout(session, clock.now(), &tag, &mut self.rng);
                if !resent {
                    match self.reply_waiters.remove(&tag) {
                        Some(waiter) => {
                            let _ = waiter.send(Err(ClientError::TimedOut));
                        }
                        None => self.emit(ClientEvent::Protocol(Event::Error(
                            SessionError::RequestTimedOut { tag },
                        ))),
                    }
                }
            }
            other => self.emit(ClientEvent::Protocol(other)),
        }
        None
    }

    /// Emits a chat event, dropping live messages already delivered once.
    fn emit_chat(&mut self, event: ChatEvent) {
        if let Some(event) = self.messenger.accept(event) {
            self.emit(ClientEvent::Chat(event));
        }
    }

    /// Answers a command received while no session is up; true if it asks to shut down.
    fn offline_command(&mut self, command: Option<Command>) -> bool {
        match command {
            None | Some(Command::Shutdown) => true,
            Some(Command::Logout(reply) | Command::Reref(reply)) => {
                let _ = reply.send(Err(CommandError::NotConnected));
                false
            }
            Some(Command::SendJson(_, reply)) => {
                let _ = reply.send(Err(CommandError::NotConnected));
                false
            }
            Some(Command::Request(_, reply)) => {
                let _ = reply.send(Err(ClientError::Command(CommandError::NotConnected)));
                false
            }
            // Kept in the outbox; relayed once logged in again.
            Some(Command::SendMessage(info, reply)) => {
                self.enqueue(&info, reply);
                false
            }
            Some(Command::AckIncoming(_)) => false,
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
