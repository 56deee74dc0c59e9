//! Named sessions on disk: `<data dir>/sessions/<name>.json` (the keys and tokens, written by
//! wa-client's file store) beside `<name>.info.json` (what `whoami` shows and where to reconnect:
//! the server URL, push name, phone; no secrets). Files are 0600, the directory 0700.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wa_client::legacy::FileStore;
use wa_core::session::{SessionData, SessionStore as _, StoreError};

use crate::error::CliError;

/// The default session name.
pub const DEFAULT_SESSION: &str = "default";

/// Non-secret facts about a session, kept beside it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SessionInfo {
    /// The WebSocket URL logged in to.
    pub server: String,
    /// Our JID.
    pub wid: String,
    /// The name set on the phone.
    #[serde(default)]
    pub pushname: Option<String>,
    /// The phone's platform (`android`, `iphone`, ...).
    #[serde(default)]
    pub platform: Option<String>,
    /// The phone's model, as `Manufacturer Model`.
    #[serde(default)]
    pub phone: Option<String>,
    /// Battery percentage at login.
    #[serde(default)]
    pub battery: Option<u64>,
    /// When the session was first saved (Unix seconds).
    #[serde(default)]
    pub logged_in_at: u64,
}

/// The sessions directory.
#[derive(Clone, Debug)]
pub struct Sessions {
    root: PathBuf,
    dir: PathBuf,
}

impl Sessions {
    /// `data_dir` (from `--data-dir` or `WA_DATA_DIR`), else the platform data directory + `wa`.
    pub fn locate(data_dir: Option<&Path>) -> Result<Sessions, CliError> {
        let root = match data_dir {
            Some(dir) => dir.to_path_buf(),
            None => directories::BaseDirs::new()
                .ok_or(CliError::NoDataDir)?
                .data_dir()
                .join("wa"),
        };
        let dir = root.join("sessions");
        Ok(Sessions { root, dir })
    }

    /// The data directory (the sessions directory's parent).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory holding the session files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the directory (0700) if needed.
    pub fn ensure_dir(&self) -> Result<(), CliError> {
        let root_existed = self.root.exists();
        fs::create_dir_all(&self.dir).map_err(|source| CliError::Io {
            action: "create",
            path: self.dir.clone(),
            source,
        })?;
        private_dir(&self.dir)?;
        if !root_existed {
            private_dir(&self.root)?;
        }
        Ok(())
    }

    /// The key file of session `name`.
    pub fn path(&self, name: &str) -> Result<PathBuf, CliError> {
        check_name(name)?;
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// The info file of session `name`.
    pub fn info_path(&self, name: &str) -> Result<PathBuf, CliError> {
        check_name(name)?;
        Ok(self.dir.join(format!("{name}.info.json")))
    }

    /// Loads session `name`'s keys and tokens (through wa-client's file store, which wrote them).
    pub fn load(&self, name: &str) -> Result<SessionData, CliError> {
        let path = self.path(name)?;
        match FileStore::new(&path).load() {
            Ok(Some(data)) => Ok(data),
            Ok(None) => Err(CliError::NoSession {
                name: name.to_owned(),
                dir: self.dir.clone(),
            }),
            Err(StoreError::Corrupt(problem)) => Err(CliError::SessionCorrupt { path, problem }),
            Err(error) => Err(CliError::Read {
                what: path.display().to_string(),
                source: io::Error::other(error),
            }),
        }
    }

    /// Loads session `name`'s info, if it has any.
    pub fn load_info(&self, name: &str) -> Result<Option<SessionInfo>, CliError> {
        let path = self.info_path(name)?;
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| CliError::SessionCorrupt {
                        path,
                        problem: e.to_string(),
                    })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CliError::Read {
                what: path.display().to_string(),
                source,
            }),
        }
    }

    /// Writes session `name`'s info (0600).
    pub fn save_info(&self, name: &str, info: &SessionInfo) -> Result<(), CliError> {
        let path = self.info_path(name)?;
        self.ensure_dir()?;
        let json = serde_json::to_vec_pretty(info).unwrap_or_default();
        write_private(&path, &json).map_err(|source| CliError::Io {
            action: "write",
            path,
            source,
        })
    }

    /// Removes session `name`'s files (missing files are fine).
    pub fn remove(&self, name: &str) -> Result<(), CliError> {
        for path in [self.path(name)?, self.info_path(name)?] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(CliError::Io {
                        action: "remove",
                        path,
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// The names of the saved sessions, sorted.
    pub fn list(&self) -> Result<Vec<String>, CliError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(CliError::Read {
                    what: self.dir.display().to_string(),
                    source,
                });
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
            .filter(|n| !n.ends_with(".info") && check_name(n).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }
}

/// Session names become file names: keep them to a safe alphabet.
fn check_name(name: &str) -> Result<(), CliError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && !name.ends_with(".info")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(CliError::usage(
            format!("invalid session name {name:?}"),
            "use letters, digits, '-', '_' and '.' (at most 64, not starting with '.')",
        ))
    }
}

fn private_dir(path: &Path) -> Result<(), CliError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(|source| {
            CliError::Io {
                action: "set permissions of",
                path: path.to_path_buf(),
                source,
            }
        })?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes through a `.tmp` sibling renamed into place, readable by the owner only.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let temp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&temp)?;
    // The mode above applies only to a new file: a stale temp file keeps its own.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        let sessions = Sessions::locate(Some(Path::new("/tmp/x"))).unwrap();
        assert!(sessions.path("work-2").is_ok());
        for bad in ["", "../x", ".hidden", "a/b", "x.info"] {
            assert!(sessions.path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn info_round_trip_and_listing() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = Sessions::locate(Some(dir.path())).unwrap();
        let info = SessionInfo {
            server: "ws://x/ws".into(),
            wid: "1@c.us".into(),
            ..SessionInfo::default()
        };
        sessions.save_info("a", &info).unwrap();
        fs::write(sessions.path("b").unwrap(), "{}").unwrap();
        assert_eq!(sessions.load_info("a").unwrap(), Some(info));
        assert_eq!(sessions.list().unwrap(), vec!["b".to_owned()]);
        assert!(matches!(
            sessions.load("a"),
            Err(CliError::NoSession { .. })
        ));
        assert!(matches!(
            sessions.load("b"),
            Err(CliError::SessionCorrupt { .. })
        ));
    }
}
