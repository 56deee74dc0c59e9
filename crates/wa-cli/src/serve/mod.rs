//! `wa serve`: an HTTP API that follows WAHA's ("WhatsApp HTTP API"), with webhooks, a
//! WebSocket of events, an OpenAPI file and a web client, over wa-client sessions. Without
//! `--server` the sessions talk to a wa-sim server started in-process, whose simulated phone
//! scans the QR codes the API hands out.

mod api;
mod chats;
mod docs;
mod errors;
mod events;
mod groups;
mod ids;
mod md;
pub(crate) mod png;
mod session;
mod web;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use rand::RngCore as _;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use wa_core::session::MemoryStore;
use wa_sim::{Config, SeedAccount, SimHandle};

use crate::error::CliError;
use crate::sessions::Sessions;
use crate::style::Style;

pub use session::{Session, SessionConfig, Status};

pub const SERVE_EXAMPLES: &str = "\
Examples:
  wa serve                                   API + web client on http://127.0.0.1:3000 over a
                                             built-in simulator (the key is printed)
  wa serve --listen 127.0.0.1:0 --api-key s3cret
  wa serve --server wss://web.whatsapp.com/ws   real WhatsApp Web; sessions kept in the data dir
  curl -H 'X-Api-Key: KEY' http://127.0.0.1:3000/api/sessions

The API follows WAHA (https://waha.devlike.pro): sessions, auth/qr, sendText..., chats,
contacts, groups, webhooks (config.webhooks[] with HMAC) and /ws events. Every /api request
needs the X-Api-Key header. Swagger UI is at /api/docs (served offline by the binary), the
OpenAPI file at /api/docs/openapi.yaml.";

/// Options of `wa serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Where to listen (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:3000", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The API key (default: a random one, printed at start; a key given here is never printed).
    #[arg(long, env = "WA_API_KEY", value_name = "KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// A WhatsApp Web server's WebSocket URL; without it a simulator runs in-process.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Base URL of the server's HTTP endpoints (default: from --server).
    #[arg(long, value_name = "URL", requires = "server")]
    pub http_base: Option<String>,
    /// With the built-in simulator: seconds before its phone scans a QR code it was shown.
    #[arg(long, default_value_t = 2.0, value_name = "SECS")]
    pub scan_delay: f64,
    /// Sessions created (and started) at launch.
    #[arg(long = "session", value_name = "NAME", default_values_t = [String::from("default")])]
    pub sessions: Vec<String>,
    /// Multi-device sessions created (and started) at launch (`config.engine: "MD"`); their
    /// state is in `<data dir>/<name>.md.sqlite`, or in PostgreSQL with --store.
    #[arg(long = "md-session", value_name = "NAME")]
    pub md_sessions: Vec<String>,
    /// With --server: the multi-device WebSocket URL (default WhatsApp's).
    #[arg(long, value_name = "URL", requires = "server")]
    pub md_server: Option<String>,
    /// With --server: the multi-device root key to trust, `HEX[:SERIAL]` (default WhatsApp's).
    #[arg(long, value_name = "HEX[:SERIAL]", requires = "server")]
    pub md_root: Option<String>,
}

/// Where sessions connect.
pub enum Backend {
    /// The in-process simulator.
    Sim {
        /// Its handle.
        handle: Arc<SimHandle>,
        /// How long its phone waits before scanning.
        scan_delay: Duration,
    },
    /// A server given with `--server`; logins are kept as files.
    Remote {
        /// WebSocket URL.
        ws: String,
        /// HTTP base.
        http: String,
        /// Where logins are stored.
        sessions: Sessions,
        /// Where session configs (webhooks...) are kept: `<data dir>/serve/<name>.json`.
        configs: PathBuf,
    },
}

/// One published event: the JSON body and what it is filtered by.
pub struct Published {
    /// The session.
    pub session: String,
    /// The event name.
    pub event: String,
    /// The serialized envelope.
    pub body: String,
}

/// The server's shared state.
pub struct App {
    api_key: String,
    backend: Backend,
    sessions: Mutex<BTreeMap<String, Arc<Session>>>,
    bus: broadcast::Sender<Arc<Published>>,
    http: reqwest::Client,
    /// Sessions created so far (their creation order picks simulator accounts).
    created: std::sync::atomic::AtomicUsize,
    /// Where multi-device sessions connect and keep their state.
    md: md::MdSettings,
}

impl App {
    fn sessions(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session called `name`.
    pub fn session(&self, name: &str) -> Option<Arc<Session>> {
        self.sessions().get(name).cloned()
    }

    /// All sessions, by name.
    pub fn all_sessions(&self) -> Vec<Arc<Session>> {
        self.sessions().values().cloned().collect()
    }

    /// Adds a stopped session; `None` when the name is taken.
    pub fn add_session(&self, name: &str, config: SessionConfig) -> Option<Arc<Session>> {
        let mut sessions = self.sessions();
        if sessions.contains_key(name) {
            return None;
        }
        let order = self
            .created
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session = Arc::new(Session::new(name.to_owned(), config, order));
        sessions.insert(name.to_owned(), session.clone());
        Some(session)
    }

    /// Removes a session from the list.
    pub fn remove_session(&self, name: &str) -> Option<Arc<Session>> {
        self.sessions().remove(name)
    }

    /// Keeps a session's config across restarts (with `--server`; the built-in simulator
    /// forgets everything at exit anyway). Mode 0600: it may hold HMAC keys.
    pub fn save_config(&self, session: &Session) -> Result<(), String> {
        let Backend::Remote { configs, .. } = &self.backend else {
            return Ok(());
        };
        let text = serde_json::to_string_pretty(&session.lock().config)
            .map_err(|e| format!("cannot serialize the config: {e}"))?;
        std::fs::create_dir_all(configs)
            .map_err(|e| format!("cannot create {}: {e}", configs.display()))?;
        let path = configs.join(format!("{}.json", session.name));
        crate::sessions::write_private(&path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Deletes a session's saved config and login (DELETE /api/sessions/{name}).
    pub fn forget(&self, name: &str) {
        if let Backend::Remote {
            configs, sessions, ..
        } = &self.backend
        {
            let _ = std::fs::remove_file(configs.join(format!("{name}.json")));
            let _ = sessions.remove(name);
        }
    }

    /// Sets a session's status (if `generation` is still its current run) and publishes
    /// `session.status` when it changed.
    pub fn set_status(&self, session: &Session, status: Status, generation: u64) {
        {
            let mut state = session.lock();
            if state.generation != generation || state.status == status {
                return;
            }
            state.status = status;
        }
        self.emit(
            &session.name,
            "session.status",
            json!({"status": status.as_str()}),
        );
    }

    /// Publishes an event to the WebSocket listeners and the session's webhooks.
    pub fn emit(&self, session: &str, event: &str, payload: Value) {
        let me = self.session(session).map(|s| s.me()).unwrap_or(Value::Null);
        let mut id = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut id);
        let envelope = json!({
            "id": format!("evt_{}", hex::encode(id)),
            "timestamp": now_millis(),
            "event": event,
            "session": session,
            "me": me,
            "payload": payload,
            "engine": "WA",
            "environment": {"version": env!("CARGO_PKG_VERSION"), "engine": "WA", "tier": "CORE"},
        });
        let published = Arc::new(Published {
            session: session.to_owned(),
            event: event.to_owned(),
            body: envelope.to_string(),
        });
        let _ = self.bus.send(published.clone());
        if let Some(s) = self.session(session) {
            let hooks: Vec<_> = s
                .lock()
                .config
                .webhooks
                .iter()
                .filter(|h| h.wants(event))
                .cloned()
                .collect();
            for hook in hooks {
                events::deliver(self.http.clone(), hook, published.clone());
            }
        }
    }

    /// Builds a client for `name` and starts its task.
    pub fn start_session(self: &Arc<App>, session: &Arc<Session>) -> Result<(), String> {
        let engine = {
            let state = session.lock();
            if state.commands.is_some() {
                return Ok(());
            }
            state.config.engine.unwrap_or_default()
        };
        if engine == session::Engine::Md {
            return md::spawn(self.clone(), session.clone(), self.md.clone());
        }
        let builder = wa_client::legacy::Client::builder()
            .browser("wa", "wa serve", env!("CARGO_PKG_VERSION"))
            .reconnect(true);
        let builder = match &self.backend {
            Backend::Sim { handle, .. } => builder
                .server_url(handle.ws_url())
                .http_base_url(handle.http_url())
                .media_client(wa_client::legacy::MediaClient::new().insecure_http())
                .store(session_memory_store(session)),
            Backend::Remote {
                ws, http, sessions, ..
            } => {
                let path = sessions.path(&session.name).map_err(|e| e.to_string())?;
                sessions.ensure_dir().map_err(|e| e.to_string())?;
                builder
                    .server_url(ws)
                    .http_base_url(http)
                    .durable_store(wa_client::legacy::FileStore::new(path))
            }
        };
        let client = builder.build().map_err(|e| e.to_string())?;
        session::spawn(self.clone(), session.clone(), client);
        Ok(())
    }

    /// Stops a session's task (keeping its login) and waits for it.
    pub async fn stop_session(&self, session: &Session) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if session.command(session::Command::Stop(tx)) {
            let _ = tokio::time::timeout(Duration::from_secs(10), rx).await;
        }
        let mut state = session.lock();
        state.commands = None;
        state.qr = None;
        if state.status != Status::Stopped {
            state.status = Status::Stopped;
            drop(state);
            self.emit(
                &session.name,
                "session.status",
                json!({"status": "STOPPED"}),
            );
        }
    }

    /// Shows the session's current QR code to the simulated phone (once per code), which
    /// scans it with the session's account after the scan delay.
    pub fn show_qr_to_sim(&self, session: &Session) {
        let Backend::Sim { handle, scan_delay } = &self.backend else {
            return;
        };
        let qr = {
            let mut state = session.lock();
            let Some(qr) = state.qr.clone() else {
                return;
            };
            if state.shown_qr.as_deref() == Some(qr.as_str()) {
                return;
            }
            state.shown_qr = Some(qr.clone());
            qr
        };
        let wid = self.account_for(&session.name);
        let handle = handle.clone();
        let delay = *scan_delay;
        if session.lock().config.engine == Some(session::Engine::Md) {
            // The MD phone of the same number scans it, through the control API.
            let url = format!("{}/md/scan", handle.control_url());
            let phone: Option<String> =
                wid.map(|w| w.chars().filter(char::is_ascii_digit).collect());
            let http = self.http.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let body = json!({"qr": qr, "phone": phone});
                match http.post(&url).json(&body).send().await {
                    Ok(reply) if reply.status().is_success() => {}
                    Ok(reply) => eprintln!("simulated phone: cannot scan: {}", reply.status()),
                    Err(error) => {
                        eprintln!("simulated phone: cannot scan: {}", error.without_url())
                    }
                }
            });
            return;
        }
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let result = handle.with_server(|server, now| server.scan_as(now, &qr, wid.as_deref()));
            if let Err(error) = result {
                eprintln!("simulated phone: cannot scan: {error}");
            }
        });
    }

    /// Has the simulator's phone `phone` enter a pair code after the scan delay (with the
    /// built-in simulator; a real phone's user types it).
    pub fn enter_code_on_sim(&self, phone: &str, code: &str) {
        let (Backend::Sim { scan_delay, .. }, Some(control)) =
            (&self.backend, &self.md.sim_control)
        else {
            return;
        };
        let url = format!("{control}/md/pair-code");
        let body = json!({"phone": phone, "code": code});
        let http = self.http.clone();
        let delay = *scan_delay;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            match http.post(&url).json(&body).send().await {
                Ok(reply) if reply.status().is_success() => {}
                Ok(reply) => {
                    eprintln!("simulated phone: cannot enter the code: {}", reply.status())
                }
                Err(error) => {
                    eprintln!(
                        "simulated phone: cannot enter the code: {}",
                        error.without_url()
                    );
                }
            }
        });
    }

    /// The simulator account a session logs in as: sessions take the seeded accounts in
    /// order of creation, the rest share the last one.
    fn account_for(&self, name: &str) -> Option<String> {
        let Backend::Sim { handle, .. } = &self.backend else {
            return None;
        };
        let accounts = handle.with_server(|server, _| {
            server
                .accounts()
                .iter()
                .map(|a| a.wid.clone())
                .collect::<Vec<_>>()
        });
        let order = self.session(name)?.order;
        accounts.get(order).or(accounts.last()).cloned()
    }
}

/// In-process simulator sessions live in memory (the simulator forgets them at exit anyway).
fn session_memory_store(_session: &Session) -> MemoryStore {
    MemoryStore::default()
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The simulator's accounts for `wa serve`: the default one and a second phone (Alice) so two
/// sessions can talk to each other.
fn sim_accounts() -> Vec<SeedAccount> {
    let mut first = SeedAccount::default();
    // A little history, so the chat list has last messages and the unread counts have
    // messages behind them.
    let message = |id: &str, from_me: bool, text: &str, t: u64, participant: Option<&str>| {
        wa_sim::seed::SeedMessage {
            id: id.to_owned(),
            from_me,
            text: text.to_owned(),
            t,
            participant: participant.map(str::to_owned),
        }
    };
    for chat in &mut first.chats {
        let t = chat.t;
        chat.messages = match chat.jid.as_str() {
            "15550100002@c.us" => vec![
                message("3EB0SEED0A1", true, "Lunch tomorrow?", t - 120, None),
                message(
                    "SEED0A2",
                    false,
                    "Yes! 12:30 at the usual place",
                    t - 60,
                    None,
                ),
                message("SEED0A3", false, "I'll bring the slides", t, None),
            ],
            "15550100003@c.us" => vec![
                message("SEED0B1", false, "Did the build pass?", t - 30, None),
                message("3EB0SEED0B2", true, "All green", t, None),
            ],
            jid if jid.ends_with("@g.us") => vec![message(
                "SEED0C1",
                false,
                "Welcome to the group",
                t,
                Some("15550100002@c.us"),
            )],
            _ => Vec::new(),
        };
    }
    let mut second = SeedAccount {
        wid: "15550100002@c.us".to_owned(),
        pushname: "Alice Example".to_owned(),
        ..SeedAccount::default()
    };
    second.contacts.retain(|c| c.jid != second.wid);
    if let Some(me) = second.contacts.first_mut() {
        me.jid = first.wid.clone();
        me.name = Some(first.pushname.clone());
        me.notify = Some(first.pushname.clone());
        me.short = first.pushname.split(' ').next().map(str::to_owned);
    }
    second.chats.retain(|c| c.jid.ends_with("@g.us"));
    vec![first, second]
}

/// A saved config, or the default when there is none (or it does not parse: said on stderr).
fn load_config(dir: &std::path::Path, name: &str) -> SessionConfig {
    let path = dir.join(format!("{name}.json"));
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            eprintln!("ignoring {}: {e}", path.display());
            SessionConfig::default()
        }),
        Err(_) => SessionConfig::default(),
    }
}

fn saved_config_names(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
        .filter(|n| api::valid_name(n))
        .collect();
    names.sort();
    names
}

fn random_key() -> String {
    let mut key = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut key);
    hex::encode(key)
}

/// Runs `wa serve` until Ctrl-C.
pub async fn run(
    args: ServeArgs,
    data_dir: Option<PathBuf>,
    store_url: Option<String>,
    out: Style,
) -> Result<(), CliError> {
    let backend = match &args.server {
        None => {
            let scan_delay = crate::sim::seconds(args.scan_delay, "--scan-delay")?;
            let config = Config {
                accounts: sim_accounts(),
                ..Config::default()
            };
            let handle = crate::sim::start(([127, 0, 0, 1], 0).into(), config).await?;
            Backend::Sim {
                handle: Arc::new(handle),
                scan_delay,
            }
        }
        Some(server) => {
            crate::login::check_ws_url(server)?;
            let http = args
                .http_base
                .clone()
                .unwrap_or_else(|| crate::login::http_base(server));
            let sessions = Sessions::locate(data_dir.as_deref())?;
            let configs = sessions
                .dir()
                .parent()
                .map_or_else(|| sessions.dir().join("serve"), |d| d.join("serve"));
            Backend::Remote {
                ws: server.clone(),
                http,
                sessions,
                configs,
            }
        }
    };
    let md_settings = md::MdSettings {
        sessions: Sessions::locate(data_dir.as_deref())?,
        store_url,
        server: match &backend {
            Backend::Sim { handle, .. } => handle.md_ws_url(),
            Backend::Remote { .. } => args
                .md_server
                .clone()
                .unwrap_or_else(|| crate::md::DEFAULT_MD_SERVER.to_owned()),
        },
        root: match (&backend, &args.md_root) {
            (Backend::Sim { handle, .. }, _) => handle.md().trust_root(),
            (Backend::Remote { .. }, Some(text)) => {
                crate::md::SavedRoot::parse(text)?.trust_root("--md-root")?
            }
            (Backend::Remote { .. }, None) => wa_core::md::TrustRoot::WHATSAPP,
        },
        sim_control: match &backend {
            Backend::Sim { handle, .. } => Some(handle.control_url()),
            Backend::Remote { .. } => None,
        },
    };
    let api_key = args.api_key.clone().unwrap_or_else(random_key);
    if api_key.is_empty() {
        return Err(CliError::usage(
            "--api-key is empty",
            "give a key, or leave the option out for a random one",
        ));
    }
    let (bus, _) = broadcast::channel(1024);
    let app = Arc::new(App {
        api_key,
        backend,
        sessions: Mutex::new(BTreeMap::new()),
        bus,
        created: std::sync::atomic::AtomicUsize::new(0),
        md: md_settings,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| CliError::Connection {
                message: format!("cannot build the webhook HTTP client: {e}"),
                hint: None,
            })?,
    });
    if let Backend::Remote {
        sessions, configs, ..
    } = &app.backend
    {
        for name in sessions.list().unwrap_or_default() {
            if api::valid_name(&name) {
                app.add_session(&name, load_config(configs, &name));
            }
        }
        for name in saved_config_names(configs) {
            app.add_session(&name, load_config(configs, &name));
        }
    }
    for name in &args.sessions {
        if !api::valid_name(name) {
            return Err(CliError::usage(
                format!("--session {name:?} is not a valid session name"),
                "use letters, digits, '-' and '_'",
            ));
        }
        app.add_session(name, SessionConfig::default());
    }
    for name in &args.md_sessions {
        if !api::valid_name(name) {
            return Err(CliError::usage(
                format!("--md-session {name:?} is not a valid session name"),
                "use letters, digits, '-' and '_'",
            ));
        }
        let config = SessionConfig {
            engine: Some(session::Engine::Md),
            ..SessionConfig::default()
        };
        if app.add_session(name, config).is_none() {
            return Err(CliError::usage(
                format!("--md-session {name:?} is also a legacy session"),
                "give each session one name",
            ));
        }
    }
    for session in app.all_sessions() {
        if args.sessions.contains(&session.name) || args.md_sessions.contains(&session.name) {
            if let Err(error) = app.start_session(&session) {
                eprintln!("session {}: cannot start: {error}", session.name);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| CliError::Io {
            action: "listen on",
            path: PathBuf::from(args.listen.to_string()),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| CliError::Io {
        action: "read the address of",
        path: PathBuf::from(args.listen.to_string()),
        source,
    })?;
    let base = format!("http://{addr}");
    println!("{} {base}/", out.bold("wa serve listening on"));
    // A key the user chose is theirs to know and may be reused elsewhere: never echo it.
    let (key_line, web_client, docs) = if args.api_key.is_none() {
        (
            app.api_key.clone(),
            format!("{base}/#key={}", app.api_key),
            format!("{base}/api/docs#key={}", app.api_key),
        )
    } else {
        (
            "the one given (--api-key or WA_API_KEY), not shown".to_owned(),
            format!("{base}/ (it asks for the API key)"),
            format!("{base}/api/docs (it asks for the API key)"),
        )
    };
    println!("api key: {key_line}");
    match &app.backend {
        Backend::Sim { handle, .. } => {
            println!("server: built-in simulator at {}", handle.ws_url());
        }
        Backend::Remote { ws, .. } => println!("server: {ws}"),
    }
    println!("web client: {}", out.accent(web_client));
    println!("API docs: {docs}");
    println!("OpenAPI: {base}/api/docs/openapi.yaml   Ctrl-C stops");
    let router = api::router(app.clone());
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| CliError::Io {
            action: "serve HTTP on",
            path: PathBuf::from(addr.to_string()),
            source,
        })?;
    for session in app.all_sessions() {
        app.stop_session(&session).await;
    }
    Ok(())
}
