//! One WAHA session: a wa-client connection run by a task, its status, QR code, account and
//! what it has learnt about chats and contacts.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use wa_client::legacy::chat::compose::{MediaKind, MediaOptions};
use wa_client::legacy::chat::{Direction, GroupOp, Presence};
use wa_client::legacy::{Client, ClientError, ClientEvent, ConnectionState, SentMessage};
use wa_core::client::CloseReason;
use wa_proto::proto::{MessageKey, WebMessageInfo};

use super::App;
use super::chats::ChatData;

/// WAHA's session statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Not running.
    Stopped,
    /// Connecting (or reconnecting).
    Starting,
    /// Waiting for the phone to scan the QR code.
    ScanQrCode,
    /// Logged in.
    Working,
    /// Ended by an error (refused, unpaired, no scan in time); start it again.
    Failed,
}

impl Status {
    /// The name WAHA uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stopped => "STOPPED",
            Status::Starting => "STARTING",
            Status::ScanQrCode => "SCAN_QR_CODE",
            Status::Working => "WORKING",
            Status::Failed => "FAILED",
        }
    }
}

/// `config.webhooks[].hmac`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HmacConfig {
    /// The HMAC-SHA512 key.
    #[serde(default)]
    pub key: Option<String>,
}

/// `config.webhooks[].retries`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetriesConfig {
    /// Seconds between attempts.
    #[serde(default = "default_delay")]
    pub delay_seconds: f64,
    /// Attempts after the first.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// `constant`, `linear` or `exponential`.
    #[serde(default)]
    pub policy: Option<String>,
}

fn default_delay() -> f64 {
    2.0
}

fn default_attempts() -> u32 {
    15
}

impl Default for RetriesConfig {
    fn default() -> RetriesConfig {
        RetriesConfig {
            delay_seconds: default_delay(),
            attempts: default_attempts(),
            policy: None,
        }
    }
}

/// `config.webhooks[].customHeaders[]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CustomHeader {
    /// Header name.
    pub name: String,
    /// Header value.
    pub value: String,
}

/// One webhook of a session.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookConfig {
    /// Where to POST.
    pub url: String,
    /// Which events (`*` for all).
    #[serde(default)]
    pub events: Vec<String>,
    /// Signs the body with HMAC-SHA512 in `X-Webhook-Hmac`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac: Option<HmacConfig>,
    /// Retry policy when the receiver fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<RetriesConfig>,
    /// Extra headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_headers: Option<Vec<CustomHeader>>,
}

impl WebhookConfig {
    /// Whether `event` goes to this webhook.
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event)
    }
}

/// Which protocol a session speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Engine {
    /// WhatsApp Web's legacy protocol (wa-client's `Client`).
    #[default]
    #[serde(rename = "WA")]
    Legacy,
    /// Multi-device (a linked companion; state in the session's store).
    #[serde(rename = "MD")]
    Md,
}

impl Engine {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Legacy => "WA",
            Engine::Md => "MD",
        }
    }
}

/// A session's `config`: webhooks plus anything else the client sent (kept as given).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SessionConfig {
    /// The protocol (`WA` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Engine>,
    /// Webhooks.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// Other fields (`metadata`, `proxy`, `debug`...), echoed back.
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// Commands from the API to a session's task.
pub enum Command {
    /// Disconnect, keep the stored login.
    Stop(oneshot::Sender<()>),
    /// Log out (the stored login is deleted).
    Logout(oneshot::Sender<Result<(), String>>),
    /// Something for the connected client; its result is sent back.
    Op(Op, oneshot::Sender<Result<OpResult, ClientError>>),
    /// Link with a pair code for this phone number instead of the QR code (MD sessions); the
    /// code to enter on the phone is sent back.
    PairCode(String, oneshot::Sender<Result<String, String>>),
}

/// What the API asks of a connected client.
pub enum Op {
    /// Send a message.
    Send {
        /// To whom.
        chat: String,
        /// What.
        message: Box<OutgoingMessage>,
    },
    /// Mark a chat read up to a message.
    Read {
        /// The chat.
        chat: String,
        /// The last message read.
        last: MessageKey,
    },
    /// Set our presence (typing...) in a chat.
    Presence(Presence, String),
    /// Does this JID exist?
    Exists(String),
    /// Create a group.
    GroupCreate(String, Vec<String>),
    /// Change a group.
    ChangeGroup(String, GroupOp),
    /// Group metadata.
    GroupMetadata(String),
    /// The invite code.
    InviteCode(String),
    /// A new invite code.
    InviteReset(String),
    /// Download and decrypt a message's media.
    Download(Box<WebMessageInfo>),
    /// The newest `count` messages of a chat from the server.
    History(String, u32),
}

/// The message of an [`Op::Send`].
pub enum OutgoingMessage {
    /// A text, maybe a reply.
    Text(String, Option<Box<WebMessageInfo>>),
    /// Media.
    Media(MediaKind, Vec<u8>, Box<MediaOptions>),
    /// A location.
    Location(f64, f64, Option<String>),
    /// A contact card.
    Contact(String, String),
}

/// What an [`Op`] gave.
pub enum OpResult {
    /// The message the server accepted.
    Sent(Box<SentMessage>),
    /// Done.
    Done,
    /// A yes/no answer.
    Bool(bool),
    /// A text answer (a group id, an invite code).
    Text(String),
    /// A JSON answer.
    Json(Value),
    /// Bytes.
    Bytes(Vec<u8>),
    /// Messages, oldest first.
    Messages(Vec<WebMessageInfo>),
}

async fn run_op(client: &Client, op: Op) -> Result<OpResult, ClientError> {
    Ok(match op {
        Op::Send { chat, message } => {
            let sent = match *message {
                OutgoingMessage::Text(text, None) => client.send_text(&chat, &text).await?,
                OutgoingMessage::Text(text, Some(quoted)) => {
                    client.send_reply(&chat, &text, &quoted).await?
                }
                OutgoingMessage::Media(kind, data, options) => {
                    client.send_media(&chat, kind, &data, *options).await?
                }
                OutgoingMessage::Location(lat, lon, name) => {
                    client
                        .send_location(&chat, lat, lon, name.as_deref())
                        .await?
                }
                OutgoingMessage::Contact(name, vcard) => {
                    client.send_contact(&chat, &name, &vcard).await?
                }
            };
            OpResult::Sent(Box::new(sent))
        }
        Op::Read { chat, last } => {
            client.read(&chat, &last).await?;
            OpResult::Done
        }
        Op::Presence(presence, chat) => {
            client.set_presence(presence, Some(&chat)).await?;
            OpResult::Done
        }
        Op::Exists(jid) => OpResult::Bool(client.exists(&jid).await?),
        Op::GroupCreate(subject, participants) => {
            OpResult::Text(client.group_create(&subject, &participants).await?)
        }
        Op::ChangeGroup(gid, op) => OpResult::Json(client.group_op(&gid, op).await?),
        Op::GroupMetadata(gid) => OpResult::Json(client.group_metadata(&gid).await?),
        Op::InviteCode(gid) => OpResult::Text(client.group_invite_code(&gid).await?),
        Op::InviteReset(gid) => OpResult::Text(client.group_invite_reset(&gid).await?),
        Op::Download(info) => OpResult::Bytes(client.download_media(&info).await?),
        Op::History(chat, count) => {
            let (messages, _) = client
                .history(&chat, Direction::Before, count, None)
                .await?;
            OpResult::Messages(messages)
        }
    })
}

/// What a session knows, behind its mutex.
pub struct SessionState {
    /// Its status.
    pub status: Status,
    /// Its config.
    pub config: SessionConfig,
    /// The logged-in account: `(id, pushName)`.
    pub me: Option<(String, Option<String>)>,
    /// The QR code shown now.
    pub qr: Option<String>,
    /// The QR codes the simulated phone was already shown.
    pub shown_qr: Option<String>,
    /// The channel to the running task.
    pub commands: Option<mpsc::UnboundedSender<Command>>,
    /// Bumped at each start, so an old task's last words do not overwrite a new one's status.
    pub generation: u64,
    /// Chats, contacts and messages.
    pub data: ChatData,
}

/// A named session.
pub struct Session {
    /// Its name.
    pub name: String,
    /// How many sessions were created before it.
    pub order: usize,
    state: Mutex<SessionState>,
}

impl Session {
    /// A stopped session.
    pub fn new(name: String, config: SessionConfig, order: usize) -> Session {
        let data = ChatData {
            session: name.clone(),
            ..ChatData::default()
        };
        Session {
            name,
            order,
            state: Mutex::new(SessionState {
                status: Status::Stopped,
                config,
                me: None,
                qr: None,
                shown_qr: None,
                commands: None,
                generation: 0,
                data,
            }),
        }
    }

    /// Locks the state (a poisoned lock is taken over: the state stays consistent field by field).
    pub fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The WAHA session object.
    pub fn to_json(&self) -> Value {
        let state = self.lock();
        json!({
            "name": self.name,
            "status": state.status.as_str(),
            "config": state.config,
            "me": me_json(&state.me),
            "engine": {"engine": state.config.engine.unwrap_or_default().as_str()},
        })
    }

    /// `me` as WAHA shows it.
    pub fn me(&self) -> Value {
        me_json(&self.lock().me)
    }

    /// Sends a command to the running task; false when it is not running.
    pub fn command(&self, command: Command) -> bool {
        let state = self.lock();
        state
            .commands
            .as_ref()
            .is_some_and(|tx| tx.send(command).is_ok())
    }
}

fn me_json(me: &Option<(String, Option<String>)>) -> Value {
    match me {
        Some((id, push_name)) => json!({"id": id, "pushName": push_name}),
        None => Value::Null,
    }
}

/// Starts `session`'s task with `client` (restoring when it holds a login, else by QR).
pub fn spawn(app: Arc<App>, session: Arc<Session>, mut client: Client) {
    let (tx, rx) = mpsc::unbounded_channel();
    let generation = {
        let mut state = session.lock();
        state.generation += 1;
        state.commands = Some(tx);
        state.qr = None;
        state.generation
    };
    app.set_status(&session, Status::Starting, generation);
    let has_login = client.session_data().ok().flatten().is_some();
    let started = if has_login {
        client.restore()
    } else {
        client.login()
    };
    if let Err(error) = started {
        eprintln!("session {}: cannot start: {error}", session.name);
        app.set_status(&session, Status::Failed, generation);
        return;
    }
    tokio::spawn(run(app, session, client, rx, generation));
}

enum Step {
    Command(Option<Command>),
    Event(Option<Box<ClientEvent>>),
    /// An operation finished (its answer is already sent).
    OpDone,
    /// The connection has stayed up long enough to be reported as working.
    Stable,
}

/// How long a reconnected session that has lost its link more than once lately must stay
/// connected before it is reported `WORKING` again.
pub const STABLE_AFTER: Duration = Duration::from_secs(10);

/// How far back link losses count when deciding whether a session is flapping.
const FLAP_WINDOW: Duration = Duration::from_secs(60);

/// Recent link losses: a session that lost its link twice within [`FLAP_WINDOW`] is only
/// reported `WORKING` after staying connected for [`STABLE_AFTER`].
#[derive(Default)]
struct Flapping {
    losses: std::collections::VecDeque<Instant>,
    working_at: Option<Instant>,
}

impl Flapping {
    fn lost(&mut self, now: Instant) {
        self.working_at = None;
        self.losses.push_back(now);
        while self
            .losses
            .front()
            .is_some_and(|t| now.duration_since(*t) > FLAP_WINDOW)
        {
            self.losses.pop_front();
        }
    }

    /// Connected at `now`: whether it may be reported working at once (else at `working_at`).
    fn connected(&mut self, now: Instant) -> bool {
        let recent = self
            .losses
            .iter()
            .filter(|t| now.duration_since(**t) <= FLAP_WINDOW)
            .count();
        if recent >= 2 {
            self.working_at = Some(now + STABLE_AFTER);
            false
        } else {
            true
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs `op` and sends its result back.
async fn answer(client: &Client, op: Op, reply: oneshot::Sender<Result<OpResult, ClientError>>) {
    let _ = reply.send(run_op(client, op).await);
}

async fn run(
    app: Arc<App>,
    session: Arc<Session>,
    client: Client,
    commands: mpsc::UnboundedReceiver<Command>,
    generation: u64,
) {
    run_client(&app, &session, client, commands, generation).await;
    let mut state = session.lock();
    if state.generation == generation {
        state.commands = None;
    }
}

async fn run_client(
    app: &Arc<App>,
    session: &Arc<Session>,
    mut client: Client,
    mut commands: mpsc::UnboundedReceiver<Command>,
    generation: u64,
) {
    // Operations run side by side with event handling: a send waiting for its ack holds up
    // neither other sends nor the status (link losses are seen while it waits).
    let mut ops = FuturesUnordered::new();
    let mut flapping = Flapping::default();
    loop {
        let step = tokio::select! {
            command = commands.recv() => Step::Command(command),
            event = client.next_event() => Step::Event(event.map(Box::new)),
            Some(()) = ops.next(), if !ops.is_empty() => Step::OpDone,
            () = sleep_until_opt(flapping.working_at) => Step::Stable,
        };
        match step {
            Step::OpDone => {}
            Step::Stable => {
                flapping.working_at = None;
                if client.state() == ConnectionState::Connected {
                    app.set_status(session, Status::Working, generation);
                }
            }
            Step::Command(None) => {
                drop(ops);
                client.shutdown().await;
                return;
            }
            Step::Command(Some(Command::Stop(done))) => {
                drop(ops);
                client.shutdown().await;
                app.set_status(session, Status::Stopped, generation);
                let _ = done.send(());
                return;
            }
            Step::Command(Some(Command::Logout(done))) => {
                drop(ops);
                // Through client_error: a failed HTTP logout names its URL, which carries the logout tokens.
                let result = client
                    .logout()
                    .await
                    .map_err(|e| crate::login::client_error(e).to_string());
                {
                    let mut state = session.lock();
                    state.me = None;
                    if state.generation == generation {
                        state.commands = None;
                    }
                }
                app.set_status(session, Status::Stopped, generation);
                let _ = done.send(result);
                return;
            }
            Step::Command(Some(Command::Op(op, reply))) => {
                ops.push(answer(&client, op, reply));
            }
            Step::Command(Some(Command::PairCode(_, reply))) => {
                let _ = reply.send(Err(
                    "pair codes link multi-device sessions only (config.engine \"MD\")".into(),
                ));
            }
            Step::Event(None) => {
                app.set_status(session, Status::Failed, generation);
                return;
            }
            Step::Event(Some(event)) => {
                if !handle_event(app, session, *event, generation, &mut flapping) {
                    return;
                }
            }
        }
    }
}

/// Applies one client event; false when the session ended.
fn handle_event(
    app: &Arc<App>,
    session: &Arc<Session>,
    event: ClientEvent,
    generation: u64,
    flapping: &mut Flapping,
) -> bool {
    match event {
        ClientEvent::Qr(qr) => {
            session.lock().qr = Some(qr.qr_string());
            app.set_status(session, Status::ScanQrCode, generation);
        }
        ClientEvent::Connected(info) => {
            {
                let mut state = session.lock();
                state.qr = None;
                state.me = Some((info.wid.clone(), info.pushname.clone()));
            }
            // A session that keeps losing its link is not working: it says so only once it
            // has stayed connected for a while.
            let status = if flapping.connected(Instant::now()) {
                Status::Working
            } else {
                Status::Starting
            };
            app.set_status(session, status, generation);
        }
        ClientEvent::Disconnected { .. } => {
            flapping.lost(Instant::now());
            let status = session.lock().status;
            if status == Status::Working {
                app.set_status(session, Status::Starting, generation);
            }
        }
        ClientEvent::State(ConnectionState::Connecting) => {
            let status = session.lock().status;
            if status == Status::Working {
                app.set_status(session, Status::Starting, generation);
            }
        }
        ClientEvent::Chat(event) => {
            let events = {
                let mut state = session.lock();
                let me = state.me.as_ref().map(|(id, _)| id.clone());
                state.data.apply(&event, me.as_deref())
            };
            for (name, payload) in events {
                app.emit(&session.name, name, payload);
            }
        }
        ClientEvent::Stopped(reason) => {
            let status = match reason {
                CloseReason::LoggedOut => Status::Stopped,
                _ => Status::Failed,
            };
            {
                let mut state = session.lock();
                state.qr = None;
                if status == Status::Stopped {
                    state.me = None;
                }
            }
            app.set_status(session, status, generation);
            return false;
        }
        _ => {}
    }
    true
}
