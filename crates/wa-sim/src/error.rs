//! The simulator's typed errors, one enum per concern.

/// A seed account file could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeedError {
    /// The file could not be read.
    #[error("cannot read seed file {path}: {message}")]
    Io {
        /// The file's path.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The text is not JSON of the expected shape.
    #[error("seed account is not valid JSON of the expected shape: {message}")]
    Json {
        /// serde_json's description.
        message: String,
    },
    /// A field has a value the server cannot use.
    #[error("seed account field {field}: {reason}")]
    Invalid {
        /// The field's path, e.g. `chats[2].jid`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The simulated phone could not scan a QR code.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum ScanError {
    /// The QR text is not `ref,base64(public key),clientId`.
    #[error("QR text is not `ref,public key,client id`: {0}")]
    MalformedQr(String),
    /// No connection is waiting for a scan of this ref.
    #[error("no connection waits for a scan of ref {0:?}")]
    UnknownRef(String),
    /// The ref was issued, but its time to live has passed or a newer ref replaced it.
    #[error("ref {0:?} has expired")]
    ExpiredRef(String),
    /// The QR's client id differs from the one the connection announced in `admin init`.
    #[error("QR client id does not match the connection's admin init")]
    ClientIdMismatch,
    /// No account with this JID exists on the server.
    #[error("no simulated account {0:?}")]
    UnknownAccount(String),
}

/// An HTTP `POST /logout` request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
#[non_exhaustive]
pub enum LogoutError {
    /// The `t` or `m` query parameter is missing.
    #[error("logout request lacks the t or m parameter")]
    MissingParameter,
    /// No paired session has this browser token.
    #[error("no paired session has this browser token")]
    UnknownToken,
    /// `m` is not the HMAC of the session's encryption key under its MAC key.
    #[error("logout MAC does not match the session's keys")]
    BadMac,
}

impl LogoutError {
    /// The HTTP status the server answers with.
    pub fn http_status(self) -> u16 {
        match self {
            LogoutError::MissingParameter => 400,
            LogoutError::UnknownToken | LogoutError::BadMac => 401,
        }
    }
}

/// Why the server refused one client frame (it answers with a 4xx status where the frame has a
/// tag, and keeps the connection open).
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum RequestError {
    /// The WebSocket message is not a legacy frame (no tag, bad JSON, too long, ...).
    #[error("malformed frame: {0}")]
    Frame(#[from] wa_core::FrameError),
    /// The JSON is valid but not a request of a known shape.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The request is well formed but names a command this server does not know.
    #[error("unknown command {0}")]
    UnknownCommand(String),
    /// The request needs a logged-in connection.
    #[error("connection is not logged in")]
    NotLoggedIn,
    /// A binary frame failed its HMAC check or did not decrypt.
    #[error("binary frame rejected: {0}")]
    Crypto(String),
    /// A decrypted binary frame is not a valid node.
    #[error("binary node rejected: {0}")]
    Node(String),
    /// The connection was replaced by another one of the same session.
    #[error("connection was replaced by another session")]
    Replaced,
}

impl RequestError {
    /// The status code the server answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::Frame(wa_core::FrameError::TooLong { .. }) => 413,
            RequestError::Frame(_) | RequestError::Malformed(_) | RequestError::Node(_) => 400,
            RequestError::UnknownCommand(_) => 404,
            RequestError::NotLoggedIn | RequestError::Crypto(_) => 401,
            RequestError::Replaced => 409,
        }
    }
}

/// The network server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A seed account is invalid.
    #[error("seed account: {0}")]
    Seed(#[from] SeedError),
    /// The TLS certificate or key could not be used.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The multi-device state file could not be read or written.
    #[error("multi-device state: {0}")]
    MdState(String),
}
