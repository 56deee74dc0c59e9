//! `wa login`, `wa logout` and `wa status --check`: the wa-client façade with a file session.

use std::io::IsTerminal as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use clap::Args;
use wa_client::legacy::{Client, ClientError, ClientEvent, FileStore};
use wa_core::client::{CloseReason, ConnInfo, QrCode};

use crate::error::CliError;
use crate::sessions::{DEFAULT_SESSION, SessionInfo, Sessions};
use crate::style::Style;

/// WhatsApp Web's WebSocket endpoint.
pub const DEFAULT_SERVER: &str = "wss://web.whatsapp.com/ws";

pub const LOGIN_EXAMPLES: &str = "\
Examples:
  wa login                                         log in to WhatsApp Web
  wa login --server ws://127.0.0.1:8080/ws         log in to a local `wa sim`
  wa login --session work                          a second account beside the default one
  wa login --server ws://127.0.0.1:8080/ws --show-to-sim
                                                   the simulator's phone scans the code itself

Scan the QR code with the phone (WhatsApp > Linked devices). A new code is drawn each time
the previous one expires. The session is saved as <data dir>/sessions/<name>.json (mode 0600);
the `qr:` line holds the code's text (for `POST /_sim/scan` on a simulator).";

pub const LOGOUT_EXAMPLES: &str = "\
Examples:
  wa logout                      restore the session and log out on the socket (HTTP if that fails)
  wa logout --session work --http
  wa logout --forget             delete the local copy only (the phone keeps listing the device)";

/// Options of `wa login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The WebSocket URL of the server.
    #[arg(long, default_value = DEFAULT_SERVER, value_name = "URL")]
    pub server: String,
    /// Base URL of the HTTP endpoints (default: from --server, ws → http, wss → https).
    #[arg(long, value_name = "URL")]
    pub http_base: Option<String>,
    /// The session's name.
    #[arg(long, default_value = DEFAULT_SESSION, value_name = "NAME")]
    pub session: String,
    /// Replace an existing session of that name.
    #[arg(long)]
    pub force: bool,
    /// Also show each QR code to a `wa sim` phone (`POST <http base>/_sim/qr`), which scans it
    /// after the simulator's --auto-scan delay.
    #[arg(long)]
    pub show_to_sim: bool,
    /// Give up after this many seconds without a scan.
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    pub timeout: f64,
    /// Pair a multi-device companion (state in `<data dir>/<name>.md.sqlite`, or in PostgreSQL
    /// with --store) instead of a legacy session.
    #[arg(long)]
    pub md: bool,
    /// Link with a pair code for this phone number instead of a QR code (prints the
    /// 8-character code to enter on the phone).
    #[arg(long, value_name = "PHONE", requires = "md")]
    pub pair_code: Option<String>,
    /// The multi-device root key to trust, `HEX[:SERIAL]` (a `wa sim`'s; default WhatsApp's).
    #[arg(
        long,
        value_name = "HEX[:SERIAL]",
        requires = "md",
        conflicts_with = "trust_sim"
    )]
    pub md_root: Option<String>,
    /// Trust the root a `wa sim` publishes at `<http base>/_sim/md/root` (local tests only).
    #[arg(long, requires = "md")]
    pub trust_sim: bool,
}

/// Options of `wa logout`.
#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// The session's name.
    #[arg(long, default_value = DEFAULT_SESSION, value_name = "NAME")]
    pub session: String,
    /// The WebSocket URL (default: the one logged in to).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Base URL of the HTTP logout (default: from the server URL).
    #[arg(long, value_name = "URL")]
    pub http_base: Option<String>,
    /// Skip the socket: log out with the HTTP request only.
    #[arg(long, conflicts_with = "forget")]
    pub http: bool,
    /// Do not contact the server: only delete the local session files.
    #[arg(long)]
    pub forget: bool,
}

/// `ws://host/ws` → `http://host`, `wss://host/ws` → `https://host`.
pub fn http_base(ws_url: &str) -> String {
    let Some((scheme, rest)) = ws_url.split_once("://") else {
        return ws_url.to_owned();
    };
    let host = rest.split('/').next().unwrap_or(rest);
    let scheme = match scheme {
        "ws" => "http",
        "wss" => "https",
        other => other,
    };
    format!("{scheme}://{host}")
}

/// Refuses a `--server` that is not a WebSocket URL before trying to connect.
pub fn check_ws_url(url: &str) -> Result<(), CliError> {
    let scheme_ok = url.starts_with("ws://") || url.starts_with("wss://");
    let host = url.split_once("://").map_or("", |(_, rest)| rest);
    if scheme_ok && !host.is_empty() && !host.starts_with('/') {
        return Ok(());
    }
    Err(CliError::usage(
        format!("--server {url:?} is not a WebSocket URL"),
        format!("use ws://HOST:PORT/ws (a local `wa sim`) or {DEFAULT_SERVER}"),
    ))
}

/// A client that keeps its session in `path` and does not reconnect on its own.
pub fn build_client(server: &str, http: &str, path: &Path) -> Result<Client, CliError> {
    let mut builder = Client::builder();
    if server.starts_with("ws://") {
        // A plain-WebSocket server is a local one (wa-sim): its media host speaks plain HTTP too.
        builder = builder.media_client(wa_client::legacy::MediaClient::new().insecure_http());
    }
    builder
        .server_url(server)
        .http_base_url(http)
        .browser("wa", "wa-cli", env!("CARGO_PKG_VERSION"))
        .store(FileStore::new(path))
        .reconnect(false)
        .build()
        .map_err(client_error)
}

/// A wa-client error with a hint. URLs are left out of HTTP errors: the logout URL carries the
/// session's logout tokens.
pub fn client_error(error: ClientError) -> CliError {
    let hint = match &error {
        ClientError::Transport(_) => Some("is the server running and the URL right (--server)?"),
        ClientError::Http(_) => Some("is the server reachable over HTTP (--http-base)?"),
        ClientError::HttpStatus(401) => Some("the server no longer knows this session"),
        ClientError::NoSession => Some("log in first with `wa login`"),
        _ => None,
    };
    let message = match error {
        ClientError::Http(e) => {
            let e = e.without_url();
            let mut text = format!("HTTP logout request failed: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
        other => other.to_string(),
    };
    CliError::Connection {
        message,
        hint: hint.map(str::to_owned),
    }
}

/// Why a connection ended, and what to do.
pub fn close_error(reason: &CloseReason) -> CliError {
    let (message, hint): (String, Option<&str>) = match reason {
        CloseReason::LoggedOut => ("logged out".into(), None),
        CloseReason::Unpaired { status } => (
            format!("the server refused the session ({status}): it was logged out or unlinked"),
            Some("log in again with `wa login`"),
        ),
        CloseReason::Forbidden { tos } => (
            format!("the account is not allowed (403, tos {tos:?})"),
            None,
        ),
        CloseReason::AlreadyAuthorized => (
            "this client is already logged in elsewhere (405)".into(),
            None,
        ),
        CloseReason::Replaced => (
            "another client took the session over".into(),
            Some("close the other `wa` process, then retry"),
        ),
        CloseReason::ServerDisconnected { kind } => (
            format!(
                "the server disconnected ({})",
                kind.as_deref().unwrap_or("no reason")
            ),
            Some("retry in a moment"),
        ),
        CloseReason::QrRefsExhausted => (
            "no QR code was scanned before the server stopped issuing them".into(),
            Some("run `wa login` again and scan the code within a minute or two"),
        ),
        CloseReason::ServerError { status, .. } => (
            format!("temporary server error ({status})"),
            Some("retry in a moment"),
        ),
        CloseReason::Rejected { request, status } => (
            format!("the server refused {request:?} with {status}"),
            None,
        ),
        CloseReason::Timeout { request } => (
            format!("no answer to {request:?} in time"),
            Some("is the server reachable? retry"),
        ),
        CloseReason::LinkLost => ("the connection went silent".into(), Some("retry")),
        CloseReason::TransportClosed => (
            "the connection closed (or could not be opened)".into(),
            Some("is the server running and the URL right (--server)?"),
        ),
        CloseReason::Protocol(e) => (format!("protocol error: {e}"), None),
        other => (format!("the session ended: {other:?}"), None),
    };
    CliError::Connection {
        message,
        hint: hint.map(str::to_owned),
    }
}

/// Draws QR codes, replacing the previous one on a terminal.
pub struct QrDisplay {
    style: Style,
    shown_lines: usize,
    rewrite: bool,
}

impl QrDisplay {
    /// A display on standard output.
    pub fn new(style: Style) -> QrDisplay {
        QrDisplay {
            style,
            shown_lines: 0,
            rewrite: std::io::stdout().is_terminal(),
        }
    }

    /// Draws `qr`, with a line saying how to scan it and its text.
    pub fn show(&mut self, qr: &QrCode) -> Result<(), CliError> {
        let ttl = qr
            .expires_at
            .saturating_duration_since(
                wa_core::time::Timestamp::from_system_time(SystemTime::now()),
            )
            .as_secs();
        self.show_text(&qr.qr_string(), Some(ttl))
    }

    /// Draws the code `text` (valid for `ttl` seconds, when known), replacing the previous one.
    pub fn show_text(&mut self, text: &str, ttl: Option<u64>) -> Result<(), CliError> {
        let lines = crate::qr::render(text, self.style).map_err(|e| CliError::Connection {
            message: format!("cannot draw the QR code: {e}"),
            hint: None,
        })?;
        if self.rewrite && self.shown_lines > 0 {
            // Up over the previous code and clear to the end of the screen.
            print!("\x1b[{}A\x1b[J", self.shown_lines);
        }
        let refresh = if self.shown_lines > 0 {
            " (new code)"
        } else {
            ""
        };
        for line in &lines {
            println!("{line}");
        }
        let valid = ttl.map_or(String::new(), |ttl| format!("; valid for {ttl} s"));
        println!(
            "{}{refresh}",
            self.style
                .bold(format!("Scan with WhatsApp > Linked devices{valid}"))
        );
        println!("{} {}", self.style.dim("qr:"), self.style.dim(text));
        self.shown_lines = lines.len() + 2;
        Ok(())
    }
}

/// The non-secret facts of a `Conn`, for the info file.
pub fn session_info(server: &str, info: &ConnInfo) -> SessionInfo {
    let phone = [&info.phone.device_manufacturer, &info.phone.device_model]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    SessionInfo {
        server: server.to_owned(),
        wid: info.wid.clone(),
        pushname: info.pushname.clone(),
        platform: info.platform.clone(),
        phone: (!phone.is_empty()).then_some(phone),
        battery: info.battery.map(u64::from),
        logged_in_at: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
    }
}

/// The next event, or an error after `deadline`.
pub async fn next_event(
    client: &mut Client,
    deadline: tokio::time::Instant,
    waiting_for: &str,
) -> Result<ClientEvent, CliError> {
    match tokio::time::timeout_at(deadline, client.next_event()).await {
        Ok(Some(event)) => Ok(event),
        Ok(None) => Err(CliError::Connection {
            message: format!("the client stopped while waiting for {waiting_for}"),
            hint: None,
        }),
        Err(_) => Err(CliError::Connection {
            message: format!("timed out waiting for {waiting_for}"),
            hint: Some("is the server reachable? retry, or raise --timeout".into()),
        }),
    }
}

/// Runs `wa login`.
pub async fn login(args: LoginArgs, sessions: &Sessions, out: Style) -> Result<(), CliError> {
    let timeout = crate::sim::seconds(args.timeout, "--timeout")?;
    check_ws_url(&args.server)?;
    let path = sessions.path(&args.session)?;
    if !args.force {
        if let Ok(existing) = sessions.load(&args.session) {
            return Err(CliError::usage(
                format!(
                    "session {:?} already exists ({})",
                    args.session, existing.wid
                ),
                format!(
                    "log out first with `wa logout --session {0}`, pass --force to replace it, \
                     or pick another name with --session",
                    args.session
                ),
            ));
        }
    }
    sessions.ensure_dir()?;
    let http = args
        .http_base
        .clone()
        .unwrap_or_else(|| http_base(&args.server));
    let mut client = build_client(&args.server, &http, &path)?;
    client.login().map_err(client_error)?;
    println!("Connecting to {} ...", out.accent(&args.server));
    let deadline = tokio::time::Instant::now() + timeout;
    let mut display = QrDisplay::new(out);
    let mut last_error = None;
    let sim_http = if args.show_to_sim {
        Some(
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| client_error(ClientError::Http(e)))?,
        )
    } else {
        None
    };
    let info = loop {
        match next_event(&mut client, deadline, "the QR code to be scanned").await? {
            ClientEvent::Qr(qr) => {
                display.show(&qr)?;
                if let Some(sim_http) = &sim_http {
                    show_to_sim(sim_http, &http, &qr.qr_string(), out).await;
                }
            }
            ClientEvent::Connected(info) => break info,
            ClientEvent::Stopped(reason) => {
                return Err(match (reason, last_error) {
                    (CloseReason::TransportClosed, Some(error)) => client_error(error),
                    (reason, _) => close_error(&reason),
                });
            }
            ClientEvent::Error(error) => last_error = Some(error),
            _ => {}
        }
    };
    client.shutdown().await;
    let saved = sessions.load(&args.session)?;
    let info = session_info(&args.server, &info);
    sessions.save_info(&args.session, &info)?;
    println!(
        "{} Logged in as {} ({})",
        out.ok("✓"),
        out.bold(info.pushname.as_deref().unwrap_or("?")),
        out.accent(&saved.wid)
    );
    if let Some(phone) = &info.phone {
        println!(
            "  {}  {phone} ({}), battery {}%",
            out.dim("phone  "),
            info.platform.as_deref().unwrap_or("?"),
            info.battery.map_or("?".into(), |b| b.to_string())
        );
    }
    println!(
        "  {}  {} → {}",
        out.dim("session"),
        args.session,
        path.display()
    );
    Ok(())
}

/// Presents `qr` to a simulator's phone; problems are reported, not fatal (a person can still
/// scan the code).
async fn show_to_sim(http: &reqwest::Client, base: &str, qr: &str, out: Style) {
    let url = format!("{}/_sim/qr", base.trim_end_matches('/'));
    let body = serde_json::json!({ "qr": qr });
    let reply = match http.post(&url).json(&body).send().await {
        Ok(reply) => reply,
        Err(e) => {
            eprintln!(
                "{} cannot show the QR code to the simulator at {url}: {}",
                out.warn("!"),
                e.without_url()
            );
            return;
        }
    };
    let status = reply.status();
    let value: serde_json::Value = reply.json().await.unwrap_or_default();
    if !status.is_success() {
        eprintln!(
            "{} the simulator refused the QR code ({status}): {}",
            out.warn("!"),
            value["error"].as_str().unwrap_or("no reason given")
        );
    } else if value["scan_at_ms"].is_null() {
        eprintln!(
            "{} the simulator does not scan by itself: restart it with --auto-scan SECS, or \
             POST {base}/_sim/scan {{\"qr\": \"...\"}}",
            out.warn("!")
        );
    } else {
        println!(
            "{}",
            out.dim("shown to the simulated phone, which scans it shortly")
        );
    }
}

/// How a restore attempt went.
pub enum Restored {
    /// Logged in; the client is running.
    Connected(Box<ConnInfo>),
    /// The server refused the session: it is gone (and the local copy was deleted).
    Refused(CloseReason),
    /// The server could not be reached or answered otherwise.
    Failed(CliError),
}

/// Restores the session in `client`'s store, waiting up to `timeout`.
pub async fn restore(client: &mut Client, timeout: Duration) -> Restored {
    if let Err(e) = client.restore() {
        return Restored::Failed(client_error(e));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match next_event(client, deadline, "the session to be restored").await {
            Err(e) => return Restored::Failed(e),
            Ok(ClientEvent::Connected(info)) => return Restored::Connected(Box::new(info)),
            Ok(ClientEvent::Stopped(reason)) if reason.invalidates_session() => {
                return Restored::Refused(reason);
            }
            Ok(ClientEvent::Stopped(reason)) => {
                return Restored::Failed(match (reason, last_error) {
                    (CloseReason::TransportClosed, Some(error)) => client_error(error),
                    (reason, _) => close_error(&reason),
                });
            }
            Ok(ClientEvent::Error(error)) => last_error = Some(error),
            Ok(_) => {}
        }
    }
}

/// Runs `wa logout`.
pub async fn logout(args: LogoutArgs, sessions: &Sessions, out: Style) -> Result<(), CliError> {
    let data = sessions.load(&args.session)?;
    let wid = data.wid.clone();
    drop(data);
    if args.forget {
        sessions.remove(&args.session)?;
        println!(
            "{} Deleted the local session {:?} ({wid}); the phone still lists it until unlinked",
            out.ok("✓"),
            args.session
        );
        return Ok(());
    }
    let info = sessions.load_info(&args.session)?;
    let server = args
        .server
        .clone()
        .or_else(|| info.map(|i| i.server))
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    check_ws_url(&server)?;
    let http = args.http_base.clone().unwrap_or_else(|| http_base(&server));
    let path = sessions.path(&args.session)?;
    let mut client = build_client(&server, &http, &path)?;
    let mut socket_problem = None;
    if !args.http {
        match restore(&mut client, Duration::from_secs(20)).await {
            Restored::Connected(_) => {
                client.logout().await.map_err(client_error)?;
                sessions.remove(&args.session)?;
                println!(
                    "{} Logged out {wid} on the socket; session {:?} deleted",
                    out.ok("✓"),
                    args.session
                );
                return Ok(());
            }
            Restored::Refused(reason) => {
                sessions.remove(&args.session)?;
                let why = match reason {
                    CloseReason::Unpaired { status } => format!("refused it with {status}"),
                    other => format!("ended it ({other:?})"),
                };
                println!(
                    "{} The server {why}: the session was already logged out; local copy deleted",
                    out.warn("!")
                );
                return Ok(());
            }
            Restored::Failed(error) => socket_problem = Some(error),
        }
        client.shutdown().await;
    }
    if let Some(problem) = &socket_problem {
        eprintln!(
            "{} socket logout failed ({problem}); trying HTTP",
            out.warn("!")
        );
    }
    match client.logout_http().await {
        Ok(()) => {
            sessions.remove(&args.session)?;
            println!(
                "{} Logged out {wid} over HTTP; session {:?} deleted",
                out.ok("✓"),
                args.session
            );
            Ok(())
        }
        Err(ClientError::HttpStatus(401)) => {
            sessions.remove(&args.session)?;
            println!(
                "{} The server no longer knows this session (401); local copy deleted",
                out.warn("!")
            );
            Ok(())
        }
        Err(error) => Err(CliError::Connection {
            message: format!("could not log out: {}", client_error(error)),
            hint: Some(format!(
                "check that {server} is reachable (--server/--http-base); `wa logout --forget` \
                 deletes the local copy only"
            )),
        }),
    }
}

/// Runs `wa status --check`: restores the session to see whether the server still accepts it.
pub async fn check(sessions: &Sessions, name: &str, out: Style) -> Result<(), CliError> {
    sessions.load(name)?;
    let server = sessions
        .load_info(name)?
        .map(|i| i.server)
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    let path = sessions.path(name)?;
    let mut client = build_client(&server, &http_base(&server), &path)?;
    match restore(&mut client, Duration::from_secs(20)).await {
        Restored::Connected(info) => {
            client.shutdown().await;
            println!(
                "{} {} accepts the session: restored as {}{}",
                out.ok("✓"),
                server,
                out.accent(&info.wid),
                info.battery
                    .map(|b| format!(", phone battery {b}%"))
                    .unwrap_or_default()
            );
            Ok(())
        }
        Restored::Refused(reason) => {
            let _ = sessions.remove(name);
            Err(close_error(&reason))
        }
        Restored::Failed(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_base_follows_the_websocket_url() {
        assert_eq!(http_base("ws://127.0.0.1:8080/ws"), "http://127.0.0.1:8080");
        assert_eq!(
            http_base("wss://web.whatsapp.com/ws"),
            "https://web.whatsapp.com"
        );
        assert_eq!(http_base("wss://example.org"), "https://example.org");
    }

    #[test]
    fn server_urls_are_checked() {
        assert!(check_ws_url("ws://127.0.0.1:1/ws").is_ok());
        assert!(check_ws_url(DEFAULT_SERVER).is_ok());
        for bad in ["notaurl", "http://x/ws", "ws://", "ws:///ws"] {
            assert!(
                matches!(check_ws_url(bad), Err(CliError::Usage { .. })),
                "{bad}"
            );
        }
    }
}
