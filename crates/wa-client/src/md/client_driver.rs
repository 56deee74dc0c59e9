//! The task behind [`super::Client`]: owns the [`MdDevice`], runs its login, serves it until a
//! call arrives (the device's wake-up hook) and answers it at once, forwards device and
//! messaging events into the one event stream, and logs in again after a lost link with the
//! backoff policy.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::OsRng;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;
use wa_core::md::{MessengerEvent, StreamError};
use wa_core::reconnect::Backoff;

use super::client::{ClientError, ClientEvent};
use super::{DeviceEvent, MdDevice, MdDeviceConfig, MdDeviceError};

/// How the task starts.
pub(super) enum Mode {
    /// QR pairing, or a plain login when paired.
    Login,
    /// Pair-code linking for the phone; the code (or the failure) goes to the sender.
    PairCode(String, oneshot::Sender<Result<String, ClientError>>),
    /// A login with saved credentials.
    Restore,
}

/// What the handle asks of the task.
pub(super) enum Command {
    /// Send a text; the reply gets its id once the server acked it.
    SendText {
        to: String,
        text: String,
        reply: oneshot::Sender<Result<String, ClientError>>,
    },
    /// Send a read receipt.
    MarkRead {
        chat: String,
        ids: Vec<String>,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
    /// Unlink and clear the store, then stop.
    Logout {
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
    /// Close the connection and stop (credentials kept).
    Shutdown,
}

/// The task's state; see the module docs.
pub(super) struct Driver {
    pub(super) device: MdDevice,
    pub(super) config: MdDeviceConfig,
    pub(super) store: Arc<wa_store::Store>,
    pub(super) events: UnboundedSender<ClientEvent>,
    pub(super) commands: UnboundedReceiver<Command>,
    pub(super) backoff: Backoff,
    pub(super) reconnect: bool,
    pub(super) tick: Duration,
    pub(super) idle: Arc<Mutex<Option<MdDevice>>>,
}

/// Where the device's own events and its messaging events come in, and where both go out.
struct Pipes {
    device_rx: UnboundedReceiver<DeviceEvent>,
    messages_rx: UnboundedReceiver<MessengerEvent>,
    events: UnboundedSender<ClientEvent>,
    /// Pair-code linking: the server still hands out QR refs, but the user asked for a code,
    /// so showing a QR would only confuse.
    hide_qr: bool,
}

impl Pipes {
    fn forward_device(&self, event: DeviceEvent) {
        let mapped = match event {
            DeviceEvent::Qr(_) if self.hide_qr => return,
            DeviceEvent::Qr(code) => ClientEvent::Qr(code),
            DeviceEvent::Paired(jid) => ClientEvent::Paired(jid),
            DeviceEvent::PreKeysUploaded(count) => ClientEvent::PreKeysUploaded(count),
            // `Connected` is reported once the login call returned (prekeys settled).
            _ => return,
        };
        let _ = self.events.send(mapped);
    }

    fn drain(&mut self) {
        while let Ok(event) = self.device_rx.try_recv() {
            self.forward_device(event);
        }
        while let Ok(event) = self.messages_rx.try_recv() {
            let _ = self.events.send(ClientEvent::Message(event));
        }
    }

    /// Runs `work` to its end while forwarding events as they come (a QR must reach the user
    /// while the login still waits for the scan).
    async fn pass<T>(&mut self, work: impl Future<Output = T>) -> T {
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                Some(event) = self.device_rx.recv() => self.forward_device(event),
                Some(event) = self.messages_rx.recv() => {
                    let _ = self.events.send(ClientEvent::Message(event));
                }
                out = &mut work => {
                    self.drain();
                    return out;
                }
            }
        }
    }
}

/// A login step's end: its result, or a shutdown asked for meanwhile.
enum Step<T> {
    Done(T),
    Shutdown,
}

/// Whether an error ends only the call (the connection is fine), asks for a new login, or
/// stops the client.
fn is_call_only(error: &MdDeviceError) -> bool {
    matches!(
        error,
        MdDeviceError::SendFailed(_)
            | MdDeviceError::Messaging(_)
            | MdDeviceError::SignalStore(_)
            | MdDeviceError::Timeout
    )
}

fn is_transient(error: &MdDeviceError) -> bool {
    matches!(
        error,
        MdDeviceError::LinkLost
            | MdDeviceError::Ended(_)
            | MdDeviceError::Connection(_)
            | MdDeviceError::Timeout
    )
}

impl Driver {
    /// The task: login, then serve and reconnect until stopped; the device goes back to the
    /// handle at the end.
    pub(super) async fn run(mut self, mode: Mode) {
        let (device_tx, device_rx) = mpsc::unbounded_channel();
        let mut pipes = Pipes {
            device_rx,
            messages_rx: self.device.messages(),
            events: self.events.clone(),
            hide_qr: matches!(mode, Mode::PairCode(..)),
        };
        let first = match mode {
            Mode::Login => {
                let work = self.device.login(&device_tx);
                login_step(&mut pipes, &mut self.commands, work).await
            }
            Mode::Restore => {
                let work = self.device.restore(&device_tx);
                login_step(&mut pipes, &mut self.commands, work).await
            }
            Mode::PairCode(phone, reply) => {
                let work = self.device.pair_with_code(&phone, &device_tx);
                match login_step(&mut pipes, &mut self.commands, work).await {
                    Step::Done(Ok(code)) => {
                        let _ = self.events.send(ClientEvent::PairCode(code.clone()));
                        let _ = reply.send(Ok(code));
                        let work = self.device.finish_login(&device_tx);
                        login_step(&mut pipes, &mut self.commands, work).await
                    }
                    Step::Done(Err(error)) => {
                        let _ = reply.send(Err(error.into()));
                        Step::Shutdown
                    }
                    Step::Shutdown => Step::Shutdown,
                }
            }
        };
        let mut result = match first {
            Step::Done(result) => result,
            Step::Shutdown => return self.finish().await,
        };
        loop {
            match result {
                Ok(()) => {
                    self.backoff.reset();
                    let _ = self.events.send(ClientEvent::Connected);
                    match self.serve(&mut pipes, &device_tx).await {
                        Some(error) => result = Err(error),
                        None => return self.finish().await,
                    }
                }
                Err(error) => {
                    let retry = self.reconnect
                        && is_transient(&error)
                        && self.device.credentials().is_paired();
                    let delay = if retry {
                        self.backoff.next_delay(&mut OsRng)
                    } else {
                        None
                    };
                    let Some(delay) = delay else {
                        self.forget_if_void(&error);
                        let _ = self.events.send(ClientEvent::Stopped(error));
                        return self.finish().await;
                    };
                    let _ = self.events.send(ClientEvent::Disconnected {
                        error,
                        reconnect_in: delay,
                    });
                    let wait = tokio::time::sleep(delay);
                    if let Step::Shutdown = login_step(&mut pipes, &mut self.commands, wait).await {
                        return self.finish().await;
                    }
                    let work = self.device.restore(&device_tx);
                    result = match login_step(&mut pipes, &mut self.commands, work).await {
                        Step::Done(result) => result,
                        Step::Shutdown => return self.finish().await,
                    };
                }
            }
        }
    }

    /// Serves the logged-in connection, answering each call as soon as it comes: the device
    /// is served until a call arrives (its wake-up hook) or a slice of `tick` passed. Returns
    /// the error that ended the connection, or `None` when asked to stop.
    async fn serve(
        &mut self,
        pipes: &mut Pipes,
        device_tx: &UnboundedSender<DeviceEvent>,
    ) -> Option<MdDeviceError> {
        loop {
            let woke = pipes
                .pass(
                    self.device
                        .serve_until(self.tick, self.commands.recv(), device_tx),
                )
                .await;
            let command = match woke {
                Err(error) => return Some(error),
                Ok(None) => continue,
                // The handle is gone: nobody is left to serve.
                Ok(Some(None)) => return None,
                Ok(Some(Some(command))) => command,
            };
            match command {
                Command::SendText { to, text, reply } => {
                    let sent = pipes.pass(self.device.send_text(&to, &text, device_tx));
                    if let Err(error) = answer(reply, sent.await) {
                        return Some(error);
                    }
                }
                Command::MarkRead { chat, ids, reply } => {
                    let marked = self.device.mark_read(&chat, &ids).await;
                    if let Err(error) = answer(reply, marked) {
                        return Some(error);
                    }
                }
                Command::Logout { reply } => {
                    let done = pipes.pass(self.device.logout(device_tx)).await;
                    return self.logged_out(reply, done);
                }
                Command::Shutdown => return None,
            }
        }
    }

    /// After our logout: the store is clear; a fresh unpaired device replaces the old one.
    fn logged_out(
        &mut self,
        reply: oneshot::Sender<Result<(), ClientError>>,
        done: Result<(), MdDeviceError>,
    ) -> Option<MdDeviceError> {
        if let Err(error) = done {
            let _ = reply.send(Err(ClientError::Interrupted));
            return Some(error);
        }
        match MdDevice::open_store(self.config.clone(), Arc::clone(&self.store)) {
            Ok(fresh) => {
                self.device = fresh;
                let _ = reply.send(Ok(()));
                let _ = self
                    .events
                    .send(ClientEvent::Stopped(MdDeviceError::LoggedOut));
            }
            Err(error) => {
                let _ = reply.send(Ok(()));
                let _ = self.events.send(ClientEvent::Stopped(error));
            }
        }
        None
    }

    /// After the server voided the credentials (unlinked, logged out: the device already
    /// cleared the store), a fresh unpaired device replaces the one still holding them, so a
    /// later `restore` says `NotPaired` instead of being refused by the server.
    fn forget_if_void(&mut self, error: &MdDeviceError) {
        if !matches!(
            error,
            MdDeviceError::Stopped(StreamError::DeviceRemoved | StreamError::LoggedOut { .. })
        ) {
            return;
        }
        match MdDevice::open_store(self.config.clone(), Arc::clone(&self.store)) {
            Ok(fresh) => self.device = fresh,
            Err(e) => tracing::warn!(error = %e, "could not open a fresh device"),
        }
    }

    /// Closes the connection and hands the device back to the handle.
    async fn finish(mut self) {
        self.device.close().await;
        // Calls still queued get an answer instead of a dropped channel.
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::SendText { reply, .. } => {
                    let _ = reply.send(Err(ClientError::NotRunning));
                }
                Command::MarkRead { reply, .. } | Command::Logout { reply } => {
                    let _ = reply.send(Err(ClientError::NotRunning));
                }
                Command::Shutdown => {}
            }
        }
        *self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(self.device);
    }
}

/// Answers a call: an error that concerns only the call goes to the caller; one that ended
/// the connection is returned for the reconnect logic (the caller hears `Interrupted`).
fn answer<T>(
    reply: oneshot::Sender<Result<T, ClientError>>,
    result: Result<T, MdDeviceError>,
) -> Result<(), MdDeviceError> {
    match result {
        Ok(value) => {
            let _ = reply.send(Ok(value));
            Ok(())
        }
        Err(error) if is_call_only(&error) => {
            let _ = reply.send(Err(error.into()));
            Ok(())
        }
        Err(error) => {
            let _ = reply.send(Err(ClientError::Interrupted));
            Err(error)
        }
    }
}

/// Runs a login step (or a backoff wait) while answering calls: a shutdown (or a dropped
/// handle) abandons the step, which only drops a connection that is not logged in; anything
/// else is refused until connected.
async fn login_step<T>(
    pipes: &mut Pipes,
    commands: &mut UnboundedReceiver<Command>,
    work: impl Future<Output = T>,
) -> Step<T> {
    let work = pipes.pass(work);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return Step::Done(out),
            command = commands.recv() => match command {
                None | Some(Command::Shutdown) => return Step::Shutdown,
                Some(Command::SendText { reply, .. }) => {
                    let _ = reply.send(Err(ClientError::NotConnected));
                }
                Some(Command::MarkRead { reply, .. } | Command::Logout { reply }) => {
                    let _ = reply.send(Err(ClientError::NotConnected));
                }
            },
        }
    }
}
