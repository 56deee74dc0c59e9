//! Session records: a peer's current session and a bounded list of previous ones, and their
//! persisted form (`SessionRecordData` in package `signal`, format 1), written by the private
//! `record_codec` module and read by `record_decode`.

use wa_proto::signal as pb;
use zeroize::{Zeroize as _, Zeroizing};

use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::session::{MAX_PREVIOUS_SESSIONS, Secret32, SessionState};

/// The record format this version writes and reads.
pub const SESSION_RECORD_FORMAT: u32 = 1;

/// Everything stored about the sessions with one peer device.
#[derive(Clone, Default)]
pub struct SessionRecord {
    pub(crate) current: Option<SessionState>,
    /// Most recent first, at most [`MAX_PREVIOUS_SESSIONS`].
    pub(crate) previous: Vec<SessionState>,
}

impl core::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("current", &self.current.as_ref().map(|s| s.base_key))
            .field("previous", &self.previous.len())
            .finish_non_exhaustive()
    }
}

impl SessionRecord {
    /// Whether there is a current session to encrypt with.
    pub fn has_current_session(&self) -> bool {
        self.current.is_some()
    }

    /// Number of previous sessions kept.
    pub fn previous_sessions(&self) -> usize {
        self.previous.len()
    }

    /// The peer's identity key in the current session.
    pub fn remote_identity(&self) -> Option<PublicKey> {
        self.current.as_ref().map(|s| s.remote_identity)
    }

    /// Skipped message keys held over all sessions.
    pub fn skipped_keys(&self) -> usize {
        self.current
            .iter()
            .chain(&self.previous)
            .map(SessionState::skipped_keys)
            .sum()
    }

    /// Makes `state` current, keeping the old current one as the most recent previous session.
    pub(crate) fn promote(&mut self, state: SessionState) {
        if let Some(old) = self.current.replace(state) {
            self.previous.insert(0, old);
            self.previous.truncate(MAX_PREVIOUS_SESSIONS);
        }
    }

    /// The persisted form. Holds secrets: the buffer is wiped when dropped.
    ///
    /// Written directly (by the private `record_codec` module), into a buffer of the exact size: no
    /// intermediate copies of the secrets, no reallocation leaving one behind.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        crate::record_codec::encode(self)
    }

    /// Reads the persisted form (borrowing its fields: the private `record_decode` module).
    pub fn from_bytes(bytes: &[u8]) -> Result<SessionRecord> {
        crate::record_decode::decode(bytes)
    }
}

pub(crate) fn wipe_skipped(skipped: &mut [pb::SkippedKeyData]) {
    for key in skipped {
        key.seed.zeroize();
    }
}

fn corrupt() -> Error {
    Error::CorruptRecord {
        what: "session record",
    }
}

pub(crate) fn bytes32(field: &Option<Vec<u8>>) -> Result<[u8; 32]> {
    field
        .as_deref()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(corrupt)
}

pub(crate) fn skipped_from_data(skipped: &[pb::SkippedKeyData]) -> Result<Vec<(u32, Secret32)>> {
    skipped
        .iter()
        .map(|k| Ok((k.index.ok_or_else(corrupt)?, Secret32(bytes32(&k.seed)?))))
        .collect()
}
