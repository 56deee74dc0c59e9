//! What [`MdServer`](super::MdServer) produces: actions addressed to connections, the control
//! commands' refusals and the control API's device listing.

use serde::Serialize;
use wa_binary::Node;

use super::MdEvent;
use super::pair_code::PairCodeError;
use super::pairing::QrError;

/// What the server asks its driver to do for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this node.
    Send(Node),
    /// Close the connection (after what came before).
    Close,
    /// Record this event.
    Event(MdEvent),
}

/// An [`Action`] for connection `conn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Out {
    /// The connection.
    pub conn: u64,
    /// What to do.
    pub action: Action,
}

/// Why a control command is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The QR string is malformed.
    #[error(transparent)]
    Qr(#[from] QrError),
    /// No connection shows this QR (unknown ref, or the keys differ from the connection's).
    #[error("no connection shows this QR")]
    UnknownQr,
    /// A pair-code step failed.
    #[error(transparent)]
    PairCode(#[from] PairCodeError),
    /// No connection asked to link to this phone by code.
    #[error("no companion is waiting for a code for {0}")]
    NoCodeRequest(u64),
    /// The JID is not a linked companion device.
    #[error("no linked device {0}")]
    UnknownDevice(String),
}

/// One linked device as the control API lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    /// `number:device@s.whatsapp.net`.
    pub jid: String,
    /// `lid:device@lid`.
    pub lid: String,
    /// The platform it named.
    pub platform: String,
    /// Its identity key, hex.
    pub identity: String,
    /// Its registration id.
    pub registration_id: u32,
    /// Its signed prekey id, if any.
    pub signed_prekey_id: Option<u32>,
    /// One-time prekeys stored and not yet served.
    pub prekeys: usize,
    /// Whether a connection is logged in as it now.
    pub online: bool,
}
