//! The command's error type: what failed, and a hint saying what to do next.

use std::io;
use std::path::PathBuf;

use wa_binary::DecodeError;

/// Everything a `wa` command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line is inconsistent in a way clap cannot express (exit code 2).
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// What to type instead.
        hint: String,
    },
    /// No frame was given and standard input is a terminal.
    #[error("no frame to decode")]
    NoInput,
    /// Reading an input failed.
    #[error("cannot read {what}: {source}")]
    Read {
        /// What was being read (a path or "standard input").
        what: String,
        /// The IO error.
        source: io::Error,
    },
    /// Hex text did not parse.
    #[error("{what} is not valid hex: {problem}")]
    Hex {
        /// What was being parsed.
        what: String,
        /// Where and why.
        problem: String,
    },
    /// A key given on the command line is malformed.
    #[error("{option} must be 32 bytes, as 64 hex digits or base64: {problem}")]
    Key {
        /// The option (`--enc-key` or `--mac-key`).
        option: &'static str,
        /// What was wrong with it.
        problem: String,
    },
    /// No layout of the frame verified under the keys given.
    #[error("the HMAC does not match: are these the session's keys?")]
    HmacMismatch {
        /// The layouts tried, for the hint.
        tried: Vec<String>,
    },
    /// A frame could not be opened for another reason (too short, unaligned).
    #[error("cannot open the frame as {layout}: {source}")]
    Crypto {
        /// The layout tried.
        layout: String,
        /// What the crypto layer said.
        source: wa_crypto::Error,
    },
    /// The bytes (decrypted or not) are not a binary node.
    #[error("{}not a binary node in the {dict} dictionary: {source}", if *.decrypted { "the frame decrypted, but it is " } else { "" })]
    NotANode {
        /// The dictionary tried.
        dict: &'static str,
        /// Whether the bytes came out of a verified decryption.
        decrypted: bool,
        /// Whether keys were given.
        had_keys: bool,
        /// The decoder's error.
        source: DecodeError,
    },
    /// The platform has no data directory and none was given.
    #[error("cannot find a data directory (no home directory)")]
    NoDataDir,
    /// A named session does not exist.
    #[error("no saved session {name:?} in {dir}")]
    NoSession {
        /// The session's name.
        name: String,
        /// The sessions directory looked in.
        dir: PathBuf,
    },
    /// A session file exists but cannot be used.
    #[error("session file {path} cannot be used: {problem}")]
    SessionCorrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        problem: String,
    },
    /// A filesystem operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done ("create", "write", ...).
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The IO error.
        source: io::Error,
    },
    /// The simulator did not start.
    #[error(transparent)]
    SimStart(#[from] wa_sim::StartError),
    /// A simulator seed file is invalid.
    #[error("bad seed file: {0}")]
    Seed(#[from] wa_sim::SeedError),
    /// The async runtime did not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    /// A demo step did not go as expected.
    #[error("demo step failed: {0}")]
    Demo(String),
    /// Another process drives this multi-device session (it holds the store's lease).
    #[error("session {session:?} is in use by another process ({holder}); its store: {store}")]
    Lease {
        /// The session's name.
        session: String,
        /// Where its state is (password hidden).
        store: String,
        /// Who holds the lease, as it recorded itself (process id and host).
        holder: String,
    },
    /// A multi-device store could not be opened or used.
    #[error("store {store}: {message}")]
    Store {
        /// Where its state is (password hidden).
        store: String,
        /// What failed.
        message: String,
    },
    /// A connection-level failure (login, logout, restore).
    #[error("{message}")]
    Connection {
        /// What happened.
        message: String,
        /// What to do about it.
        hint: Option<String>,
    },
}

impl CliError {
    /// A usage error with its hint.
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> CliError {
        CliError::Usage {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The process exit code: 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage { .. } | CliError::NoInput => 2,
            _ => 1,
        }
    }

    /// What the user can do next, if we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            CliError::Usage { hint, .. } => Some(hint.clone()),
            CliError::NoInput => Some(
                "give the frame as hex (`wa decode 'c0ffee...'`), as a file (`--file frame.bin`), \
                 or pipe it on standard input"
                    .into(),
            ),
            CliError::Hex { .. } => Some(
                "hex may contain spaces and colons; for raw binary use `--file PATH` or standard \
                 input; a text frame looks like `tag,[\"json\"]`"
                    .into(),
            ),
            CliError::Key { .. } => Some(
                "copy the keys from the session file, or use `--session NAME` to read them".into(),
            ),
            CliError::HmacMismatch { tried } => Some(format!(
                "check --enc-key/--mac-key (or --session), and that the capture is complete; tried: {}",
                tried.join("; ")
            )),
            CliError::Crypto { source, .. } => match source {
                wa_crypto::Error::TooShort { .. } => {
                    Some("is this the whole frame? A truncated capture cannot be decrypted".into())
                }
                _ => Some("is this an encrypted legacy frame, and the whole of it?".into()),
            },
            CliError::NotANode {
                decrypted,
                had_keys,
                dict,
                ..
            } => Some(if *decrypted {
                let other = if *dict == "legacy" { "md" } else { "legacy" };
                format!("the keys are right; try `--dict {other}`")
            } else if *had_keys {
                "try the other direction (--from-server / --from-client)".into()
            } else {
                "if the frame is encrypted, pass `--session NAME` or `--enc-key HEX --mac-key HEX`; \
                 for multi-device frames pass `--dict md`"
                    .into()
            }),
            CliError::NoDataDir => Some("pass `--data-dir DIR` or set WA_DATA_DIR".into()),
            CliError::NoSession { name, .. } => Some(if name == "default" {
                "log in first with `wa login` (or list sessions with `wa sessions`)".into()
            } else {
                format!(
                    "log in first with `wa login --session {name}` (or list sessions with `wa sessions`)"
                )
            }),
            CliError::SessionCorrupt { .. } => {
                Some("log in again with `wa login` to replace it, or delete the file".into())
            }
            CliError::SimStart(wa_sim::StartError::Tls(_)) => Some(
                "check --tls-cert and --tls-key, or (with --tls) the CA directory the error names"
                    .into(),
            ),
            CliError::SimStart(_) => {
                Some("is the address in use? `--listen 127.0.0.1:0` picks a free port".into())
            }
            CliError::Lease { session, .. } => Some(format!(
                "two drivers of one device would fork its encryption state: stop the other `wa` \
                 (login, serve) using session {session:?} first, or pick another --session"
            )),
            CliError::Store { .. } => Some(
                "for SQLite check the data directory's permissions; for PostgreSQL the URL \
                 (--store or WA_STORE_URL) and that the server runs"
                    .into(),
            ),
            CliError::Connection { hint, .. } => hint.clone(),
            _ => None,
        }
    }
}
