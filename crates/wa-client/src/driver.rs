//! The tokio task that runs one client: connect, feed the wa-core session, reconnect.
//!
//! It is thin on purpose: every protocol decision is the [`ClientSession`]'s; this loop only
//! moves frames and instants between the socket, the clock and the state machine, persists what
//! the session asks, and applies the reconnect policy.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use wa_core::client::{ClientConfig, ClientSession, CloseReason, CommandError, Event};
use wa_core::frame::Tag;
use wa_core::reconnect::Backoff;
use wa_core::session::{SessionData, SessionStore};
use wa_core::time::Timestamp;
use wa_transport::{Transport, TransportConfig};

use crate::{ClientError, ClientEvent, ConnectionState};

/// What the [`Client`](crate::Client) asks of the running driver.
pub(crate) enum Command {
    Logout(oneshot::Sender<Result<(), CommandError>>),
    Reref(oneshot::Sender<Result<(), CommandError>>),
    SendJson(Value, oneshot::Sender<Result<Tag, CommandError>>),
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
}

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
        let connecting = Transport::connect(&self.transport_config);
        tokio::pin!(connecting);
        loop {
            tokio::select! {
                result = &mut connecting => return Some(result),
                command = self.commands.recv() => {
                    if refuse_offline(command) {
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
                    if refuse_offline(command) {
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
        loop {
            while let Some(frame) = session.poll_transmit() {
                if let Err(e) = transport.send(&frame).await {
                    tracing::debug!(error = %e, "send failed");
                    session.handle_transport_closed(clock.now());
                    break;
                }
            }
            while let Some(event) = session.poll_event() {
                if let Some(reason) = self.on_event(event) {
                    return Ended::Closed(reason);
                }
            }
            let deadline = session.poll_timeout().map(|at| clock.instant_at(at));
            tokio::select! {
                message = transport.recv() => match message {
                    Ok(Some(message)) => session.handle_wire(clock.now(), &message),
                    Ok(None) => session.handle_transport_closed(clock.now()),
                    Err(e) => {
                        tracing::debug!(error = %e, "receive failed");
                        session.handle_transport_closed(clock.now());
                    }
                },
                () = sleep_until_opt(deadline) => session.handle_timeout(clock.now()),
                command = self.commands.recv() => match command {
                    None | Some(Command::Shutdown) => return Ended::Shutdown,
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
                },
            }
        }
    }

    /// Handles one session event; returns the reason if the session closed.
    fn on_event(&mut self, event: Event) -> Option<CloseReason> {
        match event {
            Event::SessionUpdated(data) => {
                if let Err(e) = self.store.save(&data) {
                    self.emit(ClientEvent::Error(ClientError::Store(e)));
                }
            }
            Event::Qr(qr) => self.emit(ClientEvent::Qr(qr)),
            Event::ChallengeAnswered => self.emit(ClientEvent::ChallengeAnswered),
            Event::Connected(info) => {
                self.backoff.reset();
                self.set_state(ConnectionState::Connected);
                self.emit(ClientEvent::Connected(info));
            }
            Event::Closed(reason) => return Some(reason),
            other => self.emit(ClientEvent::Protocol(other)),
        }
        None
    }
}

/// Answers a command received while no session is up; true if it asks to shut down.
fn refuse_offline(command: Option<Command>) -> bool {
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
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
