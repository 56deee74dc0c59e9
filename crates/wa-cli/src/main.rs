#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

mod decode;
mod demo;
mod error;
mod input;
mod login;
mod md;
mod qr;
mod serve;
mod sessions;
mod sim;
mod style;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Parser, Subcommand};
use wa_crypto::legacy::SessionKeys;

use crate::decode::{Dict, Direction};
use crate::error::CliError;
use crate::sessions::{DEFAULT_SESSION, Sessions};
use crate::style::{ColorWhen, Stream, Style};

const MAIN_EXAMPLES: &str = "\
Examples:
  wa demo                                  offline login demo against a built-in simulator
  wa sim --auto-scan 1                     run a local WhatsApp Web server
  wa login --server ws://127.0.0.1:8080/ws log in (scan the QR with the phone)
  wa whoami                                show the saved session
  wa decode --session default 'a1b2...'    decrypt and decode a captured frame

Sessions live in the platform data directory (wa/sessions/<name>.json);
--data-dir or WA_DATA_DIR moves them. NO_COLOR turns colours off.";

const DECODE_EXAMPLES: &str = "\
Examples:
  # a plaintext legacy node, hex with spaces or colons
  wa decode 'f8 05 5d 0c ...'
  # a captured server frame with the keys of a saved session
  wa decode --session default --from-server --file frame.bin
  # explicit keys (64 hex digits each, or base64 as in session files)
  wa decode --enc-key 00112233... --mac-key 44556677... 'tag,<hex payload>'
  # a multi-device frame (flag byte, maybe zlib) from standard input
  xxd -p frame.bin | wa decode --dict md
  # a text frame is pretty-printed
  wa decode '1603.--0,[\"admin\",\"init\",[2,2126,11],[\"wa\",\"cli\"],\"abc=\",true]'

The input may be a whole WebSocket message (`tag,` + payload) or the payload alone;
without --from-server/--from-client both layouts are tried and the HMAC decides.
Standard input and --file may hold raw bytes or hex text.";

/// wa: a WhatsApp Web (legacy protocol) client and toolkit.
#[derive(Parser, Debug)]
#[command(name = "wa", version, after_help = MAIN_EXAMPLES, propagate_version = true)]
struct Cli {
    /// Where sessions are kept (default: the platform data directory + `wa`).
    #[arg(long, global = true, env = "WA_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Multi-device state in PostgreSQL (`postgres://USER[:PASSWORD]@HOST/DB`) instead of the
    /// SQLite file `<data dir>/<session>.md.sqlite`.
    #[arg(
        long,
        global = true,
        env = "WA_STORE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    store: Option<md::store::StoreUrl>,
    /// When to use colours.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    color: ColorWhen,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Offline demo: log in to a built-in simulator, restore, log out (no network needed).
    #[command(after_help = demo::DEMO_EXAMPLES)]
    Demo(demo::DemoArgs),
    /// Decode a captured frame or node into JSON (decrypting it with a session's keys).
    #[command(after_help = DECODE_EXAMPLES)]
    Decode(DecodeArgs),
    /// Log in by QR code and save the session.
    #[command(after_help = login::LOGIN_EXAMPLES)]
    Login(login::LoginArgs),
    /// Log out (on the socket, or over HTTP when it cannot connect) and delete the session.
    #[command(after_help = login::LOGOUT_EXAMPLES)]
    Logout(login::LogoutArgs),
    /// Show the saved session: who is logged in, where, with which phone.
    #[command(
        visible_alias = "status",
        after_help = "Examples:\n  wa whoami\n  wa status --check        also ask the server whether the session still works\n  wa whoami --session work --json"
    )]
    Whoami(WhoamiArgs),
    /// Run a local WhatsApp Web server (the simulator) until Ctrl-C.
    #[command(after_help = sim::SIM_EXAMPLES)]
    Sim(sim::SimArgs),
    /// List the saved sessions.
    #[command(after_help = "Examples:\n  wa sessions\n  WA_DATA_DIR=/tmp/wa wa sessions")]
    Sessions,
    /// Serve a WAHA-compatible HTTP API, webhooks, events and a web client.
    #[command(after_help = serve::SERVE_EXAMPLES)]
    Serve(serve::ServeArgs),
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("keys").args(["enc_key", "session"])))]
struct DecodeArgs {
    /// The frame: hex (spaces and colons allowed), or a text frame `tag,JSON`. Omit to read
    /// standard input.
    #[arg(value_name = "FRAME", conflicts_with = "file")]
    frame: Option<String>,
    /// Read the frame from a file (raw bytes or hex text).
    #[arg(long, short, value_name = "PATH")]
    file: Option<PathBuf>,
    /// The session's AES key (hex or base64).
    #[arg(long, value_name = "HEX", requires = "mac_key")]
    enc_key: Option<String>,
    /// The session's HMAC key (hex or base64).
    #[arg(long, value_name = "HEX", requires = "enc_key")]
    mac_key: Option<String>,
    /// Take the keys from a saved session.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["enc_key", "mac_key"])]
    session: Option<String>,
    /// The frame came from the server: HMAC ‖ IV ‖ CT.
    #[arg(long, requires = "keys", conflicts_with = "from_client")]
    from_server: bool,
    /// The frame came from the client: metric ‖ flags ‖ HMAC ‖ IV ‖ CT.
    #[arg(long, requires = "keys")]
    from_client: bool,
    /// The binary dictionary: legacy, or md (multi-device: flag byte first, maybe zlib).
    #[arg(long, value_enum, default_value_t = Dict::Legacy)]
    dict: Dict,
    /// The input has no `tag,` in front (never split at the first comma).
    #[arg(long)]
    no_tag: bool,
    /// Print one JSON document (tag, direction, metric, flags, node) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct WhoamiArgs {
    /// The session's name.
    #[arg(long, default_value = DEFAULT_SESSION, value_name = "NAME")]
    session: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Also connect and restore the session to see whether the server still accepts it.
    #[arg(long)]
    check: bool,
}

/// What a command needs from the global options.
struct Context {
    out: Style,
    err: Style,
    data_dir: Option<PathBuf>,
    /// `--store` / `WA_STORE_URL`: where MD sessions keep their state, when not SQLite.
    store: Option<String>,
}

impl Context {
    fn sessions(&self) -> Result<Sessions, CliError> {
        Sessions::locate(self.data_dir.as_deref())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let context = Context {
        out: Style::new(cli.color, Stream::Stdout),
        err: Style::new(cli.color, Stream::Stderr),
        data_dir: cli.data_dir,
        store: cli.store.map(|url| url.0),
    };
    match run(cli.command, &context) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let style = context.err;
            eprintln!("{} {error}", style.error("error:"));
            if let Some(hint) = error.hint() {
                eprintln!("{} {hint}", style.warn("hint:"));
            }
            ExitCode::from(error.exit_code())
        }
    }
}

fn run(command: Command, context: &Context) -> Result<(), CliError> {
    match command {
        Command::Decode(args) => run_decode(args, context),
        Command::Whoami(args) => run_whoami(args, context),
        Command::Sessions => run_sessions(context),
        Command::Demo(args) => runtime()?.block_on(demo::run(args, context.out)),
        Command::Login(args) if args.md => {
            let sessions = context.sessions()?;
            let runtime = runtime()?;
            // A synchronous command that drives its device with `md::block_on`.
            let _entered = runtime.enter();
            md::login::login(&args, &sessions, context.store.as_deref(), context.out)
        }
        Command::Login(args) => {
            let sessions = context.sessions()?;
            runtime()?.block_on(login::login(args, &sessions, context.out))
        }
        Command::Logout(args) => {
            let sessions = context.sessions()?;
            runtime()?.block_on(login::logout(args, &sessions, context.out))
        }
        Command::Sim(args) => runtime()?.block_on(sim::run(
            args,
            context.data_dir.as_deref(),
            context.out,
            context.err,
        )),
        Command::Serve(args) => runtime()?.block_on(serve::run(
            args,
            context.data_dir.clone(),
            context.store.clone(),
            context.out,
        )),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}

fn run_decode(args: DecodeArgs, context: &Context) -> Result<(), CliError> {
    let bytes = match (&args.frame, &args.file) {
        (Some(frame), _) if frame == "-" => input::from_bytes(input::read_stdin()?)?,
        (Some(frame), _) => input::from_argument(frame)?,
        (None, Some(path)) => input::from_bytes(input::read_file(path)?)?,
        (None, None) => input::from_bytes(input::read_stdin()?)?,
    };
    if bytes.is_empty() {
        return Err(CliError::NoInput);
    }
    let keys = match (&args.enc_key, &args.mac_key, &args.session) {
        (Some(enc), Some(mac), _) => Some(SessionKeys::new(
            input::parse_key(enc, "--enc-key")?,
            input::parse_key(mac, "--mac-key")?,
        )),
        (_, _, Some(name)) => Some(context.sessions()?.load(name)?.session_keys()),
        _ => None,
    };
    let direction = if args.from_server {
        Some(Direction::FromServer)
    } else if args.from_client {
        Some(Direction::FromClient)
    } else {
        None
    };
    let options = decode::Options {
        keys,
        direction,
        dict: args.dict,
        allow_tag: !args.no_tag,
    };
    let decoded = decode::decode(&bytes, &options)?;
    if args.json {
        let text = serde_json::to_string_pretty(&decode::to_json(&decoded)).unwrap_or_default();
        println!("{text}");
    } else {
        print!("{}", decode::render(&decoded, context.out));
    }
    Ok(())
}

fn run_whoami(args: WhoamiArgs, context: &Context) -> Result<(), CliError> {
    let sessions = context.sessions()?;
    let md_info = sessions.load_md_info(&args.session)?;
    let data = match (sessions.load(&args.session), &md_info) {
        (Ok(data), _) => data,
        // Only a multi-device session has that name.
        (Err(CliError::NoSession { .. }), Some(info)) => {
            return md::login::whoami(
                &args.session,
                info,
                args.json,
                args.check,
                &sessions,
                context.store.as_deref(),
                context.out,
            );
        }
        (Err(error), _) => return Err(error),
    };
    let info = sessions.load_info(&args.session)?;
    let path = sessions.path(&args.session)?;
    if args.json {
        let value = serde_json::json!({
            "session": args.session,
            "file": path,
            "wid": data.wid,
            "client_id": data.client_id,
            "info": info,
            "md": md_info,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return Ok(());
    }
    let style = context.out;
    let line = |label: &str, value: &str| {
        println!("{} {value}", style.dim(format!("{label:<10}")));
    };
    line("session", &style.bold(&args.session));
    line("wid", &style.accent(&data.wid));
    if let Some(info) = &info {
        if let Some(name) = &info.pushname {
            line("pushname", name);
        }
        if let Some(phone) = &info.phone {
            let platform = info.platform.as_deref().unwrap_or("?");
            line("phone", &format!("{phone} ({platform})"));
        }
        if let Some(battery) = info.battery {
            line("battery", &format!("{battery}% at login"));
        }
        line("server", &info.server);
    }
    line("client id", &data.client_id);
    line("file", &path.display().to_string());
    if let Some(md) = &md_info {
        line("md", &format!("{} (multi-device, {})", md.jid, md.store));
    }
    if args.check {
        runtime()?.block_on(login::check(&sessions, &args.session, style))?;
    }
    Ok(())
}

fn run_sessions(context: &Context) -> Result<(), CliError> {
    let sessions = context.sessions()?;
    let names = sessions.list()?;
    let md_names = sessions.list_md()?;
    if names.is_empty() && md_names.is_empty() {
        eprintln!(
            "no saved sessions in {} (log in with `wa login`)",
            sessions.dir().display()
        );
        return Ok(());
    }
    for name in names {
        let info = sessions.load_info(&name).ok().flatten();
        let wid = info.as_ref().map(|i| i.wid.as_str()).unwrap_or("?");
        let pushname = info
            .as_ref()
            .and_then(|i| i.pushname.as_deref())
            .unwrap_or("");
        println!(
            "{}  {}  {}",
            context.out.bold(format!("{name:<16}")),
            context.out.accent(wid),
            pushname
        );
    }
    for name in md_names {
        let info = sessions.load_md_info(&name).ok().flatten();
        let jid = info
            .as_ref()
            .map_or("(not paired)", |i| i.jid.as_str())
            .to_owned();
        let pushname = info.as_ref().and_then(|i| i.pushname.clone());
        println!(
            "{}  {}  {}{}",
            context.out.bold(format!("{name:<16}")),
            context.out.accent(jid),
            context.out.dim("(md) "),
            pushname.unwrap_or_default()
        );
    }
    Ok(())
}
