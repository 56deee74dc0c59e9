//! Where a device keeps its credentials blob and its one-time prekeys. A small trait so the
//! SQLite store can take over; a file store (owner-only files, atomic replace) and an in-memory
//! one for tests.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use wa_crypto::KeyPair;
use wa_signal::PreKey;
use zeroize::Zeroizing;

/// Durable storage for one device.
pub trait CredentialStore: Send {
    /// The saved credentials blob, if any.
    ///
    /// # Errors
    /// An IO error.
    fn load(&self) -> io::Result<Option<Zeroizing<Vec<u8>>>>;
    /// Replaces the credentials blob (atomically: a crash leaves the old or the new one).
    ///
    /// # Errors
    /// An IO error.
    fn save(&self, blob: &[u8]) -> io::Result<()>;
    /// Adds one-time prekeys (their private halves are needed to open sessions started with them).
    ///
    /// # Errors
    /// An IO error.
    fn add_prekeys(&self, keys: &[PreKey]) -> io::Result<()>;
    /// The stored one-time prekeys.
    ///
    /// # Errors
    /// An IO error or a damaged file.
    fn prekeys(&self) -> io::Result<Vec<PreKey>>;
    /// Forgets everything (after a logout or an unlink).
    ///
    /// # Errors
    /// An IO error.
    fn clear(&self) -> io::Result<()>;
}

/// Two files in a directory: `credentials.bin` and `prekeys.bin`, mode 0600, each replaced by
/// writing a temporary file, syncing it and renaming it over the old one.
#[derive(Debug, Clone)]
pub struct FileCredentialStore {
    dir: PathBuf,
}

const PREKEY_RECORD: usize = 4 + 32;

impl FileCredentialStore {
    /// A store in `dir` (created, mode 0700 on Unix, if missing).
    ///
    /// # Errors
    /// An IO error creating the directory.
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<FileCredentialStore> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        }
        Ok(FileCredentialStore { dir })
    }

    /// The credentials file.
    pub fn credentials_path(&self) -> PathBuf {
        self.dir.join("credentials.bin")
    }

    fn prekeys_path(&self) -> PathBuf {
        self.dir.join("prekeys.bin")
    }

    fn read(path: &Path) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(Zeroizing::new(bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Writes `bytes` to `path` atomically with owner-only permissions.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn encode_prekeys(keys: &[PreKey], out: &mut Vec<u8>) {
    for key in keys {
        out.extend_from_slice(&key.id.to_be_bytes());
        out.extend_from_slice(key.key_pair.private_bytes().as_ref());
    }
}

fn decode_prekeys(bytes: &[u8]) -> io::Result<Vec<PreKey>> {
    if bytes.len() % PREKEY_RECORD != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "damaged prekey file",
        ));
    }
    Ok(bytes
        .chunks_exact(PREKEY_RECORD)
        .map(|r| {
            let mut private = Zeroizing::new([0u8; 32]);
            private.copy_from_slice(&r[4..]);
            PreKey {
                id: u32::from_be_bytes([r[0], r[1], r[2], r[3]]),
                key_pair: KeyPair::from_private_bytes(*private),
            }
        })
        .collect())
}

impl CredentialStore for FileCredentialStore {
    fn load(&self) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
        FileCredentialStore::read(&self.credentials_path())
    }

    fn save(&self, blob: &[u8]) -> io::Result<()> {
        write_atomic(&self.credentials_path(), blob)
    }

    fn add_prekeys(&self, keys: &[PreKey]) -> io::Result<()> {
        let mut all = FileCredentialStore::read(&self.prekeys_path())?
            .unwrap_or_else(|| Zeroizing::new(Vec::new()));
        encode_prekeys(keys, &mut all);
        write_atomic(&self.prekeys_path(), &all)
    }

    fn prekeys(&self) -> io::Result<Vec<PreKey>> {
        match FileCredentialStore::read(&self.prekeys_path())? {
            Some(bytes) => decode_prekeys(&bytes),
            None => Ok(Vec::new()),
        }
    }

    fn clear(&self) -> io::Result<()> {
        for path in [self.credentials_path(), self.prekeys_path()] {
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

/// An in-memory store (lost with the process), for tests and benchmarks.
#[derive(Debug, Default)]
pub struct MemoryCredentialStore {
    blob: Mutex<Option<Zeroizing<Vec<u8>>>>,
    prekeys: Mutex<Zeroizing<Vec<u8>>>,
}

impl CredentialStore for MemoryCredentialStore {
    fn load(&self) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(self.blob.lock().map_err(|_| poisoned())?.clone())
    }

    fn save(&self, blob: &[u8]) -> io::Result<()> {
        *self.blob.lock().map_err(|_| poisoned())? = Some(Zeroizing::new(blob.to_vec()));
        Ok(())
    }

    fn add_prekeys(&self, keys: &[PreKey]) -> io::Result<()> {
        let mut stored = self.prekeys.lock().map_err(|_| poisoned())?;
        encode_prekeys(keys, &mut stored);
        Ok(())
    }

    fn prekeys(&self) -> io::Result<Vec<PreKey>> {
        decode_prekeys(&self.prekeys.lock().map_err(|_| poisoned())?)
    }

    fn clear(&self) -> io::Result<()> {
        *self.blob.lock().map_err(|_| poisoned())? = None;
        self.prekeys.lock().map_err(|_| poisoned())?.clear();
        Ok(())
    }
}

fn poisoned() -> io::Error {
    io::Error::other("store lock poisoned")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_is_owner_only_atomic_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCredentialStore::new(dir.path().join("dev")).unwrap();
        assert!(store.load().unwrap().is_none());
        store.save(b"first").unwrap();
        store.save(b"second").unwrap();
        assert_eq!(store.load().unwrap().unwrap().as_slice(), b"second");
        assert!(!store.credentials_path().with_extension("tmp").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(store.credentials_path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut rng = rand::rngs::OsRng;
        let keys: Vec<PreKey> = (1..=3).map(|id| PreKey::generate(id, &mut rng)).collect();
        store.add_prekeys(&keys[..2]).unwrap();
        store.add_prekeys(&keys[2..]).unwrap();
        let back = store.prekeys().unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(
            back[2].key_pair.public_bytes(),
            keys[2].key_pair.public_bytes()
        );
        store.clear().unwrap();
        assert!(store.load().unwrap().is_none());
        assert!(store.prekeys().unwrap().is_empty());
    }
}
