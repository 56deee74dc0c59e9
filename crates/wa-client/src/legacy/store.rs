//! [`FileStore`]: the session kept in a JSON file.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wa_core::chat::{Outbox, OutboxStore};
use wa_core::session::{SessionData, SessionStore, StoreError};
use zeroize::Zeroizing;

/// A [`SessionStore`] in one JSON file.
///
/// The file is created readable and writable by its owner only (mode 0600 on Unix) and replaced
/// atomically: the new content goes to a temporary file in the same directory, is flushed to
/// disk, then renamed over the old one, so a crash never leaves a half-written session.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FileStore {
    /// A store at `path` (the file need not exist; its directory must).
    pub fn new(path: impl Into<PathBuf>) -> FileStore {
        FileStore { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn temp_path(&self) -> PathBuf {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "session".into());
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        self.path
            .with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
    }

    fn write_atomically(&self, bytes: &[u8]) -> io::Result<()> {
        let temp = self.temp_path();
        let result = (|| {
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let mut file = options.open(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&temp, &self.path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }
}

fn backend(e: io::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

impl SessionStore for FileStore {
    fn load(&self) -> Result<Option<SessionData>, StoreError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", self.path.display())))
    }

    fn save(&self, data: &SessionData) -> Result<(), StoreError> {
        let json = Zeroizing::new(
            serde_json::to_vec_pretty(data).map_err(|e| StoreError::Backend(Box::new(e)))?,
        );
        self.write_atomically(&json).map_err(backend)
    }

    fn clear(&self) -> Result<(), StoreError> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }
}

impl FileStore {
    /// The file the outbox is kept in: the session file's path with `.outbox` appended.
    pub fn outbox_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".outbox");
        PathBuf::from(name)
    }
}

impl OutboxStore for FileStore {
    fn load_outbox(&self) -> Result<Outbox, StoreError> {
        let path = self.outbox_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Outbox::default()),
            Err(e) => return Err(backend(e)),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))
    }

    fn save_outbox(&self, outbox: &Outbox) -> Result<(), StoreError> {
        let json = serde_json::to_vec(outbox).map_err(|e| StoreError::Backend(Box::new(e)))?;
        let outbox_store = FileStore::new(self.outbox_path());
        outbox_store.write_atomically(&json).map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_core::session::conformance::sample_a;

    /// A fresh store in its own temporary directory (kept alive by leaking the guard into the
    /// store's lifetime through the returned tuple's first element).
    struct TempStore {
        _dir: tempfile::TempDir,
        store: FileStore,
    }

    impl SessionStore for TempStore {
        fn load(&self) -> Result<Option<SessionData>, StoreError> {
            self.store.load()
        }
        fn save(&self, data: &SessionData) -> Result<(), StoreError> {
            self.store.save(data)
        }
        fn clear(&self) -> Result<(), StoreError> {
            self.store.clear()
        }
    }

    fn temp_store() -> TempStore {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("session.json"));
        TempStore { _dir: dir, store }
    }

    mod conformance {
        wa_core::session_store_conformance!(super::temp_store());
    }

    impl OutboxStore for TempStore {
        fn load_outbox(&self) -> Result<Outbox, StoreError> {
            self.store.load_outbox()
        }
        fn save_outbox(&self, outbox: &Outbox) -> Result<(), StoreError> {
            self.store.save_outbox(outbox)
        }
    }

    mod outbox_conformance {
        wa_core::outbox_store_conformance!(super::temp_store());
    }

    #[test]
    fn outbox_survives_a_new_store_and_corruption_is_typed() {
        let t = temp_store();
        let info = wa_core::chat::compose::envelope(
            "1@c.us",
            "3EB0FF",
            wa_core::chat::compose::text("kept"),
            1,
        );
        let outbox = Outbox::from_entries(vec![wa_core::chat::PendingMessage::new(&info)]);
        t.save_outbox(&outbox).unwrap();
        let again = FileStore::new(t.store.path());
        assert_eq!(again.load_outbox().unwrap(), outbox);
        assert_eq!(again.load().unwrap(), None, "the session file is separate");
        fs::write(again.outbox_path(), b"[").unwrap();
        assert!(matches!(again.load_outbox(), Err(StoreError::Corrupt(_))));
    }

    #[cfg(unix)]
    #[test]
    fn file_is_private_and_no_temp_files_remain() {
        use std::os::unix::fs::PermissionsExt as _;
        let t = temp_store();
        t.save(&sample_a()).unwrap();
        t.save(&sample_a()).unwrap();
        let mode = fs::metadata(t.store.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(t._dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["session.json".to_owned()]);
    }

    #[test]
    fn corrupt_file_is_a_typed_error() {
        let t = temp_store();
        fs::write(t.store.path(), b"{not json").unwrap();
        match t.load() {
            Err(StoreError::Corrupt(message)) => assert!(message.contains("session.json")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unwritable_directory_is_a_backend_error() {
        let store = FileStore::new("/nonexistent-dir-for-wa-tests/session.json");
        assert!(matches!(
            store.save(&sample_a()),
            Err(StoreError::Backend(_))
        ));
        assert_eq!(store.load().unwrap(), None);
    }
}
