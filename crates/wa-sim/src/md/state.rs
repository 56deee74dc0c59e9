//! The multi-device state on disk: the simulator's certificate keys, the phones and the device
//! registry, so that a restarted simulator keeps its root (clients keep trusting it) and its
//! linked devices (they log in again). One JSON file, written whole (temporary file, then
//! rename) with mode 0600 since it holds private keys.

use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use wa_core::md::ServerCertificates;

use super::MdSim;
use super::keys::{SecretKey, b64};
use super::server::Persistent;

/// The file format's version.
pub const STATE_VERSION: u32 = 1;

/// Why the state file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a state file of this version.
    #[error("{path}: not a wa-sim multi-device state file: {reason}")]
    Format {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Certificates {
    root: SecretKey,
    root_serial: u32,
    intermediate: SecretKey,
    server_static: SecretKey,
    #[serde(with = "b64")]
    chain: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    certificates: Certificates,
    max_frame_len: usize,
    // Not flattened: serde's flatten turns the prekeys' integer map keys into strings.
    kept: Persistent,
}

/// Reads the state; `Ok(None)` when the file does not exist yet.
pub fn load(path: &Path) -> Result<Option<(MdSim, Persistent)>, StateError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let file: StateFile = serde_json::from_slice(&text).map_err(|e| StateError::Format {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if file.version != STATE_VERSION {
        return Err(StateError::Format {
            path: path.display().to_string(),
            reason: format!("version {} (expected {STATE_VERSION})", file.version),
        });
    }
    let certs = file.certificates;
    let mut sim = MdSim::with_certificates(ServerCertificates {
        root: certs.root.pair(),
        root_serial: certs.root_serial,
        intermediate: certs.intermediate.pair(),
        server_static: certs.server_static.pair(),
        chain: certs.chain,
    });
    sim.max_frame_len = file.max_frame_len;
    Ok(Some((sim, file.kept)))
}

/// Writes the state (mode 0600 on Unix).
pub fn save(path: &Path, sim: &MdSim, kept: &Persistent) -> Result<(), StateError> {
    let certs = &sim.certificates;
    let file = StateFile {
        version: STATE_VERSION,
        certificates: Certificates {
            root: SecretKey::from_pair(&certs.root),
            root_serial: certs.root_serial,
            intermediate: SecretKey::from_pair(&certs.intermediate),
            server_static: SecretKey::from_pair(&certs.server_static),
            chain: certs.chain.clone(),
        },
        max_frame_len: sim.max_frame_len,
        kept: kept.clone(),
    };
    let text =
        zeroize::Zeroizing::new(serde_json::to_vec(&file).map_err(|e| StateError::Format {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?);
    let io = |source| StateError::Io {
        path: path.display().to_string(),
        source,
    };
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(&temporary).map_err(io)?;
    out.write_all(&text).map_err(io)?;
    out.sync_all().map_err(io)?;
    drop(out);
    std::fs::rename(&temporary, path).map_err(io)
}
