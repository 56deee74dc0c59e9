//! A `wa serve` session on the multi-device engine (`config.engine: "MD"`): a
//! `wa_client::md::MdDevice` whose state lives in the same store `wa login --md` uses (the
//! session's SQLite file in the data directory, or PostgreSQL with `--store`), driven by a tokio
//! task like everything else in `wa serve` (the PostgreSQL store keeps its connections on
//! threads of its own, so calling it from a task is safe). It shows its QR code through
//! `auth/qr` (or a pair code through `auth/request-code`), sends texts for `sendText`, and hands
//! incoming messages to the same `message` / `message.any` events and webhooks as legacy
//! sessions.
//!
//! A logged-in session whose connection drops (the server restarted, the socket cut, no pong)
//! logs in again from its store with backoff ([`Backoff`]'s default: 1 s doubling up to 60 s),
//! status `STARTING` meanwhile, never pairing again; only a server that voids the device
//! (logged out, unlinked, replaced) ends it. A logout unlinks the device on the phone
//! (`remove-companion-device`) and erases every row the device had in the store.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::OsRng;
use tokio::sync::{mpsc, oneshot};
use wa_client::legacy::{ClientError, SentMessage};
use wa_client::md::{DeviceEvent, MdDevice, MdDeviceError};
use wa_core::chat::AckLevel;
use wa_core::md::{MessengerEvent, TrustRoot};
use wa_core::reconnect::Backoff;
use wa_proto::proto::{Message, MessageKey, WebMessageInfo};

use super::session::{Command, Op, OpResult, OutgoingMessage, Session, Status};
use super::{App, chats};
use crate::md::store::MdStore;
use crate::md::{legacy_chat_id, md_chat_id};
use crate::sessions::Sessions;

/// Where MD sessions connect and keep their state.
#[derive(Clone)]
pub struct MdSettings {
    /// The data directory (`<name>.md.sqlite` files).
    pub sessions: Sessions,
    /// `--store` / `WA_STORE_URL`: PostgreSQL instead of SQLite.
    pub store_url: Option<String>,
    /// The multi-device WebSocket URL.
    pub server: String,
    /// The root its certificate chain must lead to.
    pub root: TrustRoot,
    /// The simulator's control API (`.../_sim`), whose phone scans shown QR codes.
    pub sim_control: Option<String>,
}

// The store URL may hold a password: Debug shows it redacted.
impl std::fmt::Debug for MdSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdSettings")
            .field("data_dir", &self.sessions.root())
            .field(
                "store_url",
                &self.store_url.as_deref().map(crate::md::store::redact_url),
            )
            .field("server", &self.server)
            .field("sim_control", &self.sim_control)
            .finish_non_exhaustive()
    }
}

/// The longest a device serves its connection between looks at the command queue (a command
/// wakes it sooner: see [`MdDevice::serve_until`]).
const SLICE: Duration = Duration::from_millis(100);

/// Starts `session`'s device in a task of its own.
pub fn spawn(app: Arc<App>, session: Arc<Session>, settings: MdSettings) -> Result<(), String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let generation = {
        let mut state = session.lock();
        state.generation += 1;
        state.commands = Some(tx);
        state.qr = None;
        state.generation
    };
    app.set_status(&session, Status::Starting, generation);
    tokio::spawn(async move {
        let (end, finish) = match run(&app, &session, &settings, rx, generation).await {
            Ok(finish) => (Status::Stopped, finish),
            Err(error) => {
                eprintln!("session {}: {error}", session.name);
                (Status::Failed, None)
            }
        };
        {
            let mut state = session.lock();
            if state.generation == generation {
                state.commands = None;
                state.qr = None;
            }
        }
        app.set_status(&session, end, generation);
        // Only now: the device and its store (the lease) are gone, so whoever waits for this
        // answer may start the session again at once.
        if let Some(finish) = finish {
            finish.send();
        }
    });
    Ok(())
}

/// An answer owed once the device (and its store's lease) is dropped.
enum Finish {
    /// `Command::Stop`'s.
    Stopped(oneshot::Sender<()>),
    /// `Command::Logout`'s, with the logout's outcome.
    LoggedOut(oneshot::Sender<Result<(), String>>, Result<(), String>),
}

impl Finish {
    fn send(self) {
        match self {
            Finish::Stopped(done) => {
                let _ = done.send(());
            }
            Finish::LoggedOut(done, result) => {
                let _ = done.send(result);
            }
        }
    }
}

/// What ended the login phase.
enum Login {
    Done(Result<(), MdDeviceError>),
    Command(Option<Command>),
}

async fn run(
    app: &Arc<App>,
    session: &Arc<Session>,
    settings: &MdSettings,
    mut commands: mpsc::UnboundedReceiver<Command>,
    generation: u64,
) -> Result<Option<Finish>, String> {
    let choice = MdStore::choose(
        &settings.sessions,
        &session.name,
        settings.store_url.as_deref(),
    )
    .map_err(|e| e.to_string())?;
    let store = choice
        .open(&settings.sessions, &session.name)
        .map_err(|e| e.to_string())?;
    let config =
        crate::md::device_config(&settings.server, settings.root, Duration::from_secs(120));
    let mut device = MdDevice::open_store(config, store).map_err(|e| e.to_string())?;
    tokio::spawn(forward_messages(
        app.clone(),
        session.clone(),
        device.messages(),
    ));
    let (events, event_rx) = mpsc::unbounded_channel();
    tokio::spawn(forward_device_events(
        app.clone(),
        session.clone(),
        event_rx,
        generation,
    ));

    let mut backoff = Backoff::default();
    // Log in (QR, or a pair code once asked for), answering stop and logout meanwhile.
    let mut pair_phone: Option<(String, oneshot::Sender<Result<String, String>>)> = None;
    loop {
        let step = {
            let login = async {
                if let Some((phone, reply)) = pair_phone.take() {
                    device.close().await;
                    match device.pair_with_code(&phone, &events).await {
                        Ok(code) => {
                            let _ = reply.send(Ok(code));
                            device.finish_login(&events).await
                        }
                        Err(error) => {
                            let _ = reply.send(Err(error.to_string()));
                            Err(error)
                        }
                    }
                } else {
                    device.login(&events).await
                }
            };
            tokio::select! {
                done = login => Login::Done(done),
                command = commands.recv() => Login::Command(command),
            }
        };
        match step {
            Login::Done(Ok(())) => break,
            // A paired device whose server is away (restarting, unreachable) waits for it.
            Login::Done(Err(error)) if reconnects(&error) && device.credentials().is_paired() => {
                eprintln!("session {}: {error}; logging in again", session.name);
                match reconnect(&mut device, &mut commands, &events, &mut backoff).await {
                    Reconnect::Back => break,
                    Reconnect::Finish(finish) => return Ok(finish),
                    Reconnect::Failed(error) => return Err(error),
                }
            }
            Login::Done(Err(error)) => {
                device.close().await;
                return Err(format!("multi-device login: {error}"));
            }
            Login::Command(None) => {
                device.close().await;
                return Ok(None);
            }
            Login::Command(Some(Command::PairCode(phone, reply))) => {
                pair_phone = Some((phone, reply));
            }
            Login::Command(Some(command)) => {
                if let Some(finish) = refuse_or_end(&mut device, command, &events).await {
                    return Ok(Some(finish));
                }
            }
        }
    }
    if let Some(account) = &device.credentials().account {
        {
            let mut state = session.lock();
            state.qr = None;
            state.me = Some((
                legacy_chat_id(&account.jid.to_string()),
                device.credentials().push_name.clone(),
            ));
        }
        // What `wa whoami` / `wa sessions` show for it, as `wa login --md` writes.
        let info = crate::md::MdInfo {
            server: settings.server.clone(),
            jid: account.jid.to_string(),
            lid: account.lid.as_ref().map(ToString::to_string),
            pushname: device.credentials().push_name.clone(),
            platform: device.credentials().platform.clone(),
            store: choice.describe(),
            root: (settings.root != TrustRoot::WHATSAPP).then(|| crate::md::SavedRoot {
                public_key_hex: hex::encode(settings.root.key),
                serial: settings.root.serial,
            }),
            logged_in_at: unix_now(),
        };
        if let Err(error) = settings.sessions.save_md_info(&session.name, &info) {
            eprintln!("session {}: {error}", session.name);
        }
    }
    app.set_status(session, Status::Working, generation);

    loop {
        // Served until a command arrives (handled at once, not after the slice) or the slice
        // ends; `recv` is cancel-safe, so a slice that ends first loses no command.
        let woke = device.serve_until(SLICE, commands.recv(), &events).await;
        let mut arrived = match woke {
            Ok(Some(command)) => command,
            Ok(None) => None,
            Err(error) => {
                if !reconnects(&error) || !device.credentials().is_paired() {
                    device.close().await;
                    return Err(format!("multi-device connection: {error}"));
                }
                eprintln!("session {}: {error}; logging in again", session.name);
                app.set_status(session, Status::Starting, generation);
                match reconnect(&mut device, &mut commands, &events, &mut backoff).await {
                    Reconnect::Back => app.set_status(session, Status::Working, generation),
                    Reconnect::Finish(finish) => return Ok(finish),
                    Reconnect::Failed(error) => return Err(error),
                }
                continue;
            }
        };
        while let Some(command) = arrived.take().or_else(|| commands.try_recv().ok()) {
            let Command::Op(op, reply) = command else {
                if let Some(finish) = refuse_or_end(&mut device, command, &events).await {
                    return Ok(Some(finish));
                }
                continue;
            };
            let result = match op {
                Op::Send { chat, message } => match *message {
                    OutgoingMessage::Text(text, None) => {
                        send_text(&mut device, &chat, &text, &events)
                            .await
                            .map(|sent| OpResult::Sent(Box::new(sent)))
                    }
                    _ => Err(not_yet("only plain texts are sent")),
                },
                _ => Err(not_yet("this operation")),
            };
            let _ = reply.send(result);
        }
        if commands.is_closed() {
            device.close().await;
            return Ok(None);
        }
    }
}

/// Whether the connection ended in a way that logging in again may cure (the link dropped, the
/// server closed the stream asking to come back later, it could not be reached, a login timed
/// out), as opposed to a server that voided or replaced the device.
fn reconnects(error: &MdDeviceError) -> bool {
    matches!(
        error,
        MdDeviceError::LinkLost
            | MdDeviceError::Ended(_)
            | MdDeviceError::Connection(_)
            | MdDeviceError::Timeout
    )
}

/// How a reconnect ended.
enum Reconnect {
    /// Logged in again.
    Back,
    /// Stopped or logged out meanwhile (the answer to send once the device is dropped), or the
    /// handle went away (`None`).
    Finish(Option<Finish>),
    /// The server voided the device, or the backoff gave up.
    Failed(String),
}

/// What ended one wait or one login attempt of a reconnect.
enum Attempt {
    Waited,
    LoggedIn(Result<(), MdDeviceError>),
    Command(Option<Command>),
}

/// Logs the paired device in again from its store, waiting with `backoff` before each attempt,
/// answering commands meanwhile: stop and logout end it, operations are refused.
async fn reconnect(
    device: &mut MdDevice,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    events: &mpsc::UnboundedSender<DeviceEvent>,
    backoff: &mut Backoff,
) -> Reconnect {
    device.close().await;
    let mut waited = false;
    loop {
        let attempt = if waited {
            tokio::select! {
                done = device.restore(events) => Attempt::LoggedIn(done),
                command = commands.recv() => Attempt::Command(command),
            }
        } else {
            let Some(delay) = backoff.next_delay(&mut OsRng) else {
                return Reconnect::Failed(
                    "multi-device connection: out of reconnect attempts".into(),
                );
            };
            tokio::select! {
                () = tokio::time::sleep(delay) => Attempt::Waited,
                command = commands.recv() => Attempt::Command(command),
            }
        };
        match attempt {
            Attempt::Waited => waited = true,
            Attempt::LoggedIn(Ok(())) => {
                backoff.reset();
                return Reconnect::Back;
            }
            Attempt::LoggedIn(Err(error)) if reconnects(&error) => {
                eprintln!("multi-device reconnect: {error}");
                device.close().await;
                waited = false;
            }
            Attempt::LoggedIn(Err(error)) => {
                device.close().await;
                return Reconnect::Failed(format!("multi-device login: {error}"));
            }
            Attempt::Command(None) => {
                device.close().await;
                return Reconnect::Finish(None);
            }
            Attempt::Command(Some(command)) => {
                // An attempt cut short by a command starts over with its wait.
                device.close().await;
                waited = false;
                if let Some(finish) = refuse_or_end(device, command, events).await {
                    return Reconnect::Finish(Some(finish));
                }
            }
        }
    }
}

/// Whether an MD session can do `op` (the API refuses the rest before asking it).
pub fn supports(op: &Op) -> bool {
    matches!(op, Op::Send { message, .. } if matches!(**message, OutgoingMessage::Text(_, None)))
}

fn not_yet(what: &str) -> ClientError {
    ClientError::InvalidRequest(format!(
        "{what}: not available on a multi-device session yet"
    ))
}

/// Handles a command that is not an operation: stop and logout end the session (`Some`: the
/// answer to send once the device is dropped), a pair code once logged in and operations during
/// login are refused.
async fn refuse_or_end(
    device: &mut MdDevice,
    command: Command,
    events: &mpsc::UnboundedSender<DeviceEvent>,
) -> Option<Finish> {
    match command {
        Command::Stop(done) => {
            device.close().await;
            Some(Finish::Stopped(done))
        }
        Command::Logout(done) => {
            let result = if device.credentials().is_paired() {
                device.logout(events).await.map_err(|e| e.to_string())
            } else {
                device.close().await;
                Ok(())
            };
            Some(Finish::LoggedOut(done, result))
        }
        Command::PairCode(_, reply) => {
            let _ = reply.send(Err("the session is already logged in".into()));
            None
        }
        Command::Op(_, reply) => {
            let _ = reply.send(Err(ClientError::NotRunning));
            None
        }
    }
}

/// Sends `text` and describes it as the legacy API records sent messages.
async fn send_text(
    device: &mut MdDevice,
    chat: &str,
    text: &str,
    events: &mpsc::UnboundedSender<DeviceEvent>,
) -> Result<SentMessage, ClientError> {
    let id = device
        .send_text(&md_chat_id(chat), text, events)
        .await
        .map_err(|e| ClientError::Refused(e.to_string()))?;
    let info = WebMessageInfo {
        key: MessageKey {
            remote_jid: Some(chat.to_owned()),
            from_me: Some(true),
            id: Some(id.clone()),
            participant: None,
        },
        message: Some(Message {
            conversation: Some(text.to_owned()),
            ..Message::default()
        }),
        message_timestamp: Some(unix_now()),
        ..WebMessageInfo::default()
    };
    Ok(SentMessage {
        id,
        info,
        status: AckLevel::ServerAck,
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// QR codes become the session's (for `auth/qr`); the status follows.
async fn forward_device_events(
    app: Arc<App>,
    session: Arc<Session>,
    mut events: mpsc::UnboundedReceiver<DeviceEvent>,
    generation: u64,
) {
    while let Some(event) = events.recv().await {
        if let DeviceEvent::Qr(code) = event {
            session.lock().qr = Some(code);
            app.set_status(&session, Status::ScanQrCode, generation);
        }
    }
}

/// Incoming messages become `message` (and `message.any`) events, recorded in the chat data like
/// a legacy session's.
async fn forward_messages(
    app: Arc<App>,
    session: Arc<Session>,
    mut messages: mpsc::UnboundedReceiver<MessengerEvent>,
) {
    while let Some(event) = messages.recv().await {
        let MessengerEvent::Message {
            id,
            sender,
            chat,
            from_me,
            timestamp,
            message,
            ..
        } = event
        else {
            continue;
        };
        let chat = legacy_chat_id(&chat);
        let group = chat.ends_with("@g.us");
        let info = WebMessageInfo {
            key: MessageKey {
                remote_jid: Some(chat.clone()),
                from_me: Some(from_me),
                id: Some(id),
                participant: group.then(|| legacy_chat_id(&sender)),
            },
            message: Some(*message),
            message_timestamp: Some(timestamp),
            ..WebMessageInfo::default()
        };
        let json = {
            let mut state = session.lock();
            let me = state.me.as_ref().map(|(id, _)| id.clone());
            let json = chats::message_json(&info, me.as_deref(), &session.name);
            state.data.add_info(&chat, info, json.clone(), !from_me);
            json
        };
        if !from_me {
            app.emit(&session.name, "message", json.clone());
        }
        app.emit(&session.name, "message.any", json);
    }
}
