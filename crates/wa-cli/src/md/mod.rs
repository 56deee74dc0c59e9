//! Multi-device sessions: where a device's state lives (a SQLite file in the data directory, or
//! a PostgreSQL database), and the non-secret facts kept beside it for `whoami` and `sessions`.
//!
//! The device calls its store synchronously from async code. That is safe on both backends and
//! on any thread (`wa-store` keeps PostgreSQL connections on threads of their own), so devices
//! run as ordinary tokio tasks (`wa serve`) or under [`block_on`] (`wa login --md`).

pub mod login;
pub mod store;

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use wa_client::md::{MdConnectConfig, MdDeviceConfig};
use wa_core::md::{ClientHandshakeConfig, TrustRoot};
use wa_transport::TransportConfig;

use crate::error::CliError;
use crate::sessions::{Sessions, write_private};

/// WhatsApp's multi-device WebSocket endpoint.
pub const DEFAULT_MD_SERVER: &str = "wss://web.whatsapp.com/ws/chat";

/// Runs `future` to completion on the runtime whose handle is entered, from synchronous code
/// (`wa login --md` and `wa whoami --check`, which are synchronous commands).
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(future)
}

/// The root a server's certificate chain must lead to, as saved in the info file (absent:
/// WhatsApp's own).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SavedRoot {
    /// The root's public key, 64 hex digits.
    pub public_key_hex: String,
    /// The root's serial.
    pub serial: u32,
}

impl SavedRoot {
    /// The trust root, or a usage error naming `origin` when the key is not 32 bytes of hex.
    pub fn trust_root(&self, origin: &str) -> Result<TrustRoot, CliError> {
        let bytes = hex::decode(self.public_key_hex.trim()).ok();
        let key = bytes
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| {
                CliError::usage(
                    format!("{origin}: the root key must be 64 hex digits"),
                    "copy it from `wa sim` (the `md root` line) or GET /_sim/md/root",
                )
            })?;
        Ok(TrustRoot {
            key,
            serial: self.serial,
        })
    }

    /// Parses `HEX[:SERIAL]` (the serial defaults to 0).
    pub fn parse(text: &str) -> Result<SavedRoot, CliError> {
        let (key, serial) = match text.split_once(':') {
            Some((key, serial)) => (
                key,
                serial.trim().parse().map_err(|_| {
                    CliError::usage(
                        format!("--md-root {text:?}: the serial is not a number"),
                        "write it as HEX:SERIAL, e.g. `--md-root 0a1b...:0`",
                    )
                })?,
            ),
            None => (text, 0),
        };
        let root = SavedRoot {
            public_key_hex: key.trim().to_ascii_lowercase(),
            serial,
        };
        root.trust_root("--md-root")?;
        Ok(root)
    }
}

/// Non-secret facts about an MD session, in `<data dir>/<name>.md.json` (0600) beside its
/// SQLite file: what `whoami` and `sessions` show and what `wa serve` reconnects with.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MdInfo {
    /// The multi-device WebSocket URL logged in to.
    pub server: String,
    /// Our device JID (`number:device@s.whatsapp.net`).
    pub jid: String,
    /// Our LID, when the server told us.
    #[serde(default)]
    pub lid: Option<String>,
    /// The account's name.
    #[serde(default)]
    pub pushname: Option<String>,
    /// The phone's platform.
    #[serde(default)]
    pub platform: Option<String>,
    /// Where the state is: the SQLite path, or the PostgreSQL URL with its password hidden.
    pub store: String,
    /// The trust root when it is not WhatsApp's (a simulator's).
    #[serde(default)]
    pub root: Option<SavedRoot>,
    /// When the device was paired (Unix seconds).
    #[serde(default)]
    pub logged_in_at: u64,
}

/// The MD side of the data directory.
impl Sessions {
    /// The MD info file of session `name`.
    pub fn md_info_path(&self, name: &str) -> Result<PathBuf, CliError> {
        self.path(name)?;
        Ok(self.root().join(format!("{name}.md.json")))
    }

    /// The default SQLite file of MD session `name`.
    pub fn md_sqlite_path(&self, name: &str) -> Result<PathBuf, CliError> {
        self.path(name)?;
        Ok(self.root().join(format!("{name}.md.sqlite")))
    }

    /// Loads MD session `name`'s info, if it has any.
    pub fn load_md_info(&self, name: &str) -> Result<Option<MdInfo>, CliError> {
        let path = self.md_info_path(name)?;
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| CliError::SessionCorrupt {
                        path,
                        problem: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CliError::Read {
                what: path.display().to_string(),
                source,
            }),
        }
    }

    /// Writes MD session `name`'s info (0600).
    pub fn save_md_info(&self, name: &str, info: &MdInfo) -> Result<(), CliError> {
        self.ensure_dir()?;
        let path = self.md_info_path(name)?;
        let json = serde_json::to_vec_pretty(info).unwrap_or_default();
        write_private(&path, &json).map_err(|source| CliError::Io {
            action: "write",
            path,
            source,
        })
    }

    /// The names of the MD sessions (an info file, or a SQLite file not yet paired), sorted.
    pub fn list_md(&self) -> Result<Vec<String>, CliError> {
        let entries = match std::fs::read_dir(self.root()) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(CliError::Read {
                    what: self.root().display().to_string(),
                    source,
                });
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| {
                n.strip_suffix(".md.json")
                    .or_else(|| n.strip_suffix(".md.sqlite"))
                    .map(str::to_owned)
            })
            .filter(|n| self.path(n).is_ok())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// A saved root as a trust root (WhatsApp's when `None`).
pub fn trust_root_of(root: Option<&SavedRoot>) -> Result<TrustRoot, CliError> {
    match root {
        Some(root) => root.trust_root("the saved root"),
        None => Ok(TrustRoot::WHATSAPP),
    }
}

/// The device configuration for `server`, trusting `trust_root`.
pub fn device_config(
    server: &str,
    trust_root: TrustRoot,
    login_timeout: Duration,
) -> MdDeviceConfig {
    MdDeviceConfig {
        connect: MdConnectConfig {
            transport: TransportConfig {
                url: server.to_owned(),
                ..TransportConfig::multi_device()
            },
            handshake: ClientHandshakeConfig {
                trust_root,
                ..ClientHandshakeConfig::default()
            },
            ..MdConnectConfig::default()
        },
        login_timeout,
        ..MdDeviceConfig::default()
    }
}

/// A WhatsApp user JID as the legacy API writes chats (`123@c.us`): MD's `123:4@s.whatsapp.net`
/// loses its device and takes the `c.us` server. Other JIDs (groups) pass unchanged.
pub fn legacy_chat_id(jid: &str) -> String {
    match jid.split_once('@') {
        Some((user, "s.whatsapp.net" | "c.us")) => {
            let user = user.split(':').next().unwrap_or(user);
            format!("{user}@c.us")
        }
        _ => jid.to_owned(),
    }
}

/// A chat id of the API (`123@c.us`) as MD addresses users (`123@s.whatsapp.net`).
pub fn md_chat_id(chat: &str) -> String {
    match chat.strip_suffix("@c.us") {
        Some(user) => format!("{user}@s.whatsapp.net"),
        None => chat.to_owned(),
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_parse_with_and_without_serial() {
        let hex = "ab".repeat(32);
        let root = SavedRoot::parse(&format!("{}:7", hex.to_uppercase())).unwrap();
        assert_eq!(root.public_key_hex, hex);
        assert_eq!(root.serial, 7);
        assert_eq!(root.trust_root("x").unwrap().key, [0xab; 32]);
        assert_eq!(SavedRoot::parse(&hex).unwrap().serial, 0);
        assert!(SavedRoot::parse("abcd").is_err());
        assert!(SavedRoot::parse(&format!("{hex}:x")).is_err());
    }

    #[test]
    fn md_sessions_are_listed_apart_from_legacy_ones() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = Sessions::locate(Some(dir.path())).unwrap();
        let info = MdInfo {
            jid: "1:2@s.whatsapp.net".into(),
            ..MdInfo::default()
        };
        sessions.save_md_info("b", &info).unwrap();
        std::fs::write(dir.path().join("a.md.sqlite"), b"").unwrap();
        std::fs::write(dir.path().join("b.md.sqlite"), b"").unwrap();
        std::fs::write(dir.path().join(".x.md.sqlite"), b"").unwrap();
        assert_eq!(sessions.list_md().unwrap(), ["a", "b"]);
        assert_eq!(sessions.list().unwrap(), Vec::<String>::new());
        assert_eq!(sessions.load_md_info("b").unwrap(), Some(info));
        assert_eq!(sessions.load_md_info("a").unwrap(), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(sessions.md_info_path("b").unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn chat_ids_convert_both_ways() {
        assert_eq!(
            legacy_chat_id("15550100001:3@s.whatsapp.net"),
            "15550100001@c.us"
        );
        assert_eq!(
            legacy_chat_id("15550100001@s.whatsapp.net"),
            "15550100001@c.us"
        );
        assert_eq!(legacy_chat_id("1203630@g.us"), "1203630@g.us");
        assert_eq!(md_chat_id("15550100002@c.us"), "15550100002@s.whatsapp.net");
        assert_eq!(md_chat_id("1203630@g.us"), "1203630@g.us");
    }

    #[test]
    fn block_on_drives_tokio_timers() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let _entered = runtime.enter();
        let started = std::time::Instant::now();
        let value = block_on(async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            41 + 1
        });
        assert_eq!(value, 42);
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
