//! The crate's error type.

/// What went wrong while encrypting, decrypting or verifying media.
///
/// Every variant means "do not use the plaintext": none of them is returned after a whole,
/// verified plaintext has been handed over.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A media key must be exactly 32 bytes.
    #[error("media key must be 32 bytes, got {0}")]
    MediaKeyLength(usize),
    /// The encrypted body is shorter than one AES block plus the 10-byte MAC.
    #[error("encrypted media is too short: {0} bytes, at least 26 needed")]
    TooShort(u64),
    /// The encrypted body's length is not `16·k + 10` (a truncated or padded download).
    #[error("encrypted media length {0} is not a whole number of AES blocks plus a 10-byte MAC")]
    BadLength(u64),
    /// The 10-byte HMAC over `iv ‖ enc` does not match.
    #[error("media MAC mismatch: the file is corrupt, truncated or was encrypted with another key")]
    MacMismatch,
    /// The decrypted last block does not end with valid PKCS#7 padding.
    #[error("invalid PKCS#7 padding in the last block")]
    BadPadding,
    /// SHA-256 of the plaintext differs from the message's `fileSha256`.
    #[error("fileSha256 mismatch")]
    FileSha256Mismatch,
    /// SHA-256 of `enc ‖ mac` differs from the message's `fileEncSha256`.
    #[error("fileEncSha256 mismatch")]
    FileEncSha256Mismatch,
    /// The plaintext length differs from the message's `fileLength`.
    #[error("file length mismatch: the message says {expected} bytes, decrypted {actual}")]
    FileLengthMismatch {
        /// Length the message announced.
        expected: u64,
        /// Length actually decrypted.
        actual: u64,
    },
    /// One 64 KiB window of the streaming sidecar does not match.
    #[error("streaming sidecar window {index} does not match")]
    SidecarMismatch {
        /// Index of the failing window.
        index: u64,
    },
    /// The sidecar has fewer 10-byte entries than the file needs.
    #[error("streaming sidecar has {have} bytes, {need} needed")]
    SidecarTooShort {
        /// Bytes in the sidecar given.
        have: usize,
        /// Bytes the file needs (10 per window).
        need: u64,
    },
    /// A requested plaintext range lies outside the file.
    #[error("range {start}..{end} is outside a file of {len} bytes")]
    RangeOutOfBounds {
        /// Start of the requested range.
        start: u64,
        /// End (exclusive) of the requested range.
        end: u64,
        /// Plaintext length of the file.
        len: u64,
    },
    /// A `fileLength` too large to plan a ranged download for (over 2^63 bytes; only a
    /// corrupt or hostile message claims that).
    #[error("file length {0} is too large for a ranged download")]
    FileLengthTooLarge(u64),
    /// The bytes given for a ranged decryption are not the length the plan asked for.
    #[error("ranged decryption got {got} bytes of ciphertext, the plan needs {expected}")]
    RangeDataLength {
        /// Bytes expected (the plan's fetch range).
        expected: u64,
        /// Bytes given.
        got: u64,
    },
    /// Reading or writing failed (std and tokio adapters only).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<Error> for std::io::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Io(io) => io,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }
}
