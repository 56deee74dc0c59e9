//! What the server reports: [`Output`]s for the driver, [`SimEvent`]s for tests and logs, and the
//! outside views of sessions and connections. Its own file because these are the core's public
//! vocabulary, apart from the state machine that produces them.

use serde::Serialize;
use wa_core::WireMessage;

use super::ConnId;
use crate::nodes::ClientNode;

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send `message` on connection `conn`.
    Send {
        /// The connection.
        conn: ConnId,
        /// The WebSocket message.
        message: WireMessage,
    },
    /// Close connection `conn` (after sending everything queued before this).
    Close {
        /// The connection.
        conn: ConnId,
    },
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogoutVia {
    /// The client sent `goodbye` (`["admin","Conn","disconnect"]`).
    Goodbye,
    /// `POST /logout?t=..&m=..`.
    Http,
    /// The simulated phone removed the session ([`Server::unpair`]).
    ///
    /// [`Server::unpair`]: super::Server::unpair
    Phone,
}

/// Something that happened on the server, for tests and logs (no secrets inside).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SimEvent {
    /// Something happened on a multi-device (`/ws/chat`) connection.
    Md {
        /// The connection's number (counted apart from the legacy [`ConnId`]s).
        conn: u64,
        /// What happened.
        md: crate::md::MdEvent,
    },
    /// A connection opened.
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// A connection closed (either side).
    Disconnected {
        /// The connection.
        conn: ConnId,
    },
    /// The phone scanned a QR: a new session exists.
    Paired {
        /// The connection that showed the QR.
        conn: ConnId,
        /// The client's id.
        client_id: String,
        /// The account that scanned.
        wid: String,
    },
    /// A connection logged in (after a scan or a restore).
    LoggedIn {
        /// The connection.
        conn: ConnId,
        /// The session's client id.
        client_id: String,
        /// Whether this was a restore with stored tokens (`admin login`).
        restored: bool,
        /// Whether the restore went through a challenge.
        challenged: bool,
    },
    /// A takeover disconnected the session's previous connection.
    Replaced {
        /// The connection that was replaced (and closed).
        old: ConnId,
        /// The connection that took over.
        new: ConnId,
    },
    /// A login or challenge was refused with `status`.
    LoginRefused {
        /// The connection.
        conn: ConnId,
        /// The status sent (401, 403, 405, 409).
        status: u16,
    },
    /// A session was unpaired; its tokens are refused from now on.
    LoggedOut {
        /// The session's client id.
        client_id: String,
        /// What ended it.
        via: LogoutVia,
    },
    /// A logged-in client sent a binary node (decrypted and decoded).
    ClientNode {
        /// The connection.
        conn: ConnId,
        /// The frame's tag.
        tag: String,
        /// The frame's metric byte.
        metric: u8,
        /// The frame's flag byte.
        flags: u8,
        /// A summary of the node.
        node: ClientNode,
    },
    /// A frame was refused; the connection stays open.
    Rejected {
        /// The connection.
        conn: ConnId,
        /// The status answered (0 when the frame had no tag to answer on).
        status: u16,
        /// The error, as text.
        error: String,
    },
    /// A presented QR could not be scanned when its auto-scan time came.
    ScanFailed {
        /// Why.
        error: String,
    },
    /// A client relayed a new message (stored, acked and routed).
    Relayed {
        /// The connection.
        conn: ConnId,
        /// The sending account.
        from: String,
        /// The chat it was sent to.
        to: String,
        /// The message id.
        id: String,
    },
    /// A client relayed a message id it had relayed before: acked again, not delivered again.
    DuplicateRelay {
        /// The connection.
        conn: ConnId,
        /// The message id.
        id: String,
    },
    /// An armed fault fired (`drop_before_ack`, `duplicate_delivery`, `garbage`, `truncated`).
    FaultInjected {
        /// The connection it hit (0 when it hit an account's connections).
        conn: ConnId,
        /// Which fault.
        fault: String,
    },
}

/// A paired session as seen from outside (tokens are public test data; keys are not included,
/// see [`Server::session_keys`]).
///
/// [`Server::session_keys`]: super::Server::session_keys
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// The client id announced in `admin init`.
    pub client_id: String,
    /// The account's JID.
    pub wid: String,
    /// The current client token.
    pub client_token: String,
    /// The current server token.
    pub server_token: String,
    /// The browser token (for `POST /logout?t=`).
    pub browser_token: String,
    /// The connection currently logged in to this session, if any.
    pub conn: Option<ConnId>,
}

/// A connection as seen from outside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectionInfo {
    /// The connection.
    pub conn: ConnId,
    /// The client id announced in `admin init`, if any.
    pub client_id: Option<String>,
    /// The stage: `new`, `awaiting_scan`, `challenged`, `logged_in`, `closed`.
    pub stage: &'static str,
    /// The QR ref the connection currently shows, if it awaits a scan.
    pub qr_ref: Option<String>,
}

/// A snapshot of the server for the control API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StateSnapshot {
    /// Open connections.
    pub connections: Vec<ConnectionInfo>,
    /// Paired sessions.
    pub sessions: Vec<SessionInfo>,
    /// The accounts' JIDs.
    pub accounts: Vec<String>,
}
