//! The crate's error type.

use crate::store::StoreError;

/// Everything that can go wrong in `wa-signal`.
///
/// No variant carries secret material; addresses and ids are public.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes that do not parse as the message or key they should be.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A message of a protocol version other than 3.
    #[error("{what}: unsupported version byte {version:#04x}")]
    UnsupportedVersion {
        /// What was being parsed.
        what: &'static str,
        /// The version byte received.
        version: u8,
    },
    /// A SignalMessage whose MAC did not verify under any session (checked in constant time).
    #[error("message authentication failed")]
    BadMac,
    /// An XEdDSA signature (signed prekey, sender-key message) that does not verify.
    #[error("{what}: bad signature")]
    BadSignature {
        /// What was signed.
        what: &'static str,
    },
    /// A low-level primitive failed (e.g. AES-CBC padding after a MAC that verified).
    #[error("crypto: {0}")]
    Crypto(#[from] wa_crypto::Error),
    /// No session with this address.
    #[error("no session with {address}")]
    NoSession {
        /// The peer.
        address: String,
    },
    /// The peer's identity key differs from the one stored for it. Nothing was changed: the
    /// caller decides (e.g. tells the user, then calls `IdentityStore::save_identity` and retries).
    #[error("identity key of {address} changed")]
    UntrustedIdentity {
        /// The peer.
        address: String,
    },
    /// A PreKeySignalMessage names a one-time prekey we do not have (used up, or never ours).
    #[error("no prekey with id {id}")]
    MissingPreKey {
        /// The prekey id.
        id: u32,
    },
    /// A PreKeySignalMessage names a signed prekey we do not have.
    #[error("no signed prekey with id {id}")]
    MissingSignedPreKey {
        /// The signed prekey id.
        id: u32,
    },
    /// A message whose key was already used (a replay or a duplicate delivery).
    #[error("duplicate message (counter {counter})")]
    DuplicateMessage {
        /// The message's counter or iteration.
        counter: u32,
    },
    /// A message further ahead of its chain than the bound on skipped keys allows.
    #[error("message {counter} is more than {limit} ahead of its chain at {current}")]
    TooFarAhead {
        /// The message's counter or iteration.
        counter: u32,
        /// Where the chain is.
        current: u32,
        /// The bound.
        limit: u32,
    },
    /// A sender-key message for a (group, sender, key id) we hold no state for.
    #[error("no sender key {key_id} for {name}")]
    NoSenderKey {
        /// The group and sender.
        name: String,
        /// The key id in the message.
        key_id: u32,
    },
    /// WhatsApp's random padding is missing or invalid.
    #[error("invalid message padding")]
    BadPadding,
    /// A stored record that does not decode (or has a format this version does not know).
    #[error("corrupt stored {what}")]
    CorruptRecord {
        /// Which record.
        what: &'static str,
    },
    /// The store failed; nothing was committed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

pub(crate) fn malformed(what: &'static str, reason: &'static str) -> Error {
    Error::Malformed { what, reason }
}
