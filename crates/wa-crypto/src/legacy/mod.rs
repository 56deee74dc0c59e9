//! Legacy (2017–2021, pre-multi-device) WhatsApp Web session cryptography.
//!
//! - [`SessionKeys`]: the `encKey`/`macKey` pair, derived by the client from the 144-byte `secret`
//!   of the `Conn` message ([`SessionKeys::from_secret`]) and built by a server
//!   ([`SessionKeys::build_secret`]).
//! - Binary frames: [`seal_client_frame`]/[`open_client_frame`] (client → server, with
//!   [`Metric`] and [`Flags`] bytes in front) and [`seal_server_frame`]/[`open_server_frame`]
//!   (server → client).
//! - Login helpers: [`challenge_response`] and [`logout_token`].

mod frame;
mod session_keys;

pub use frame::{
    CLIENT_FRAME_MIN_LEN, ClientFrame, Flags, Metric, SERVER_FRAME_MIN_LEN, open_client_frame,
    open_server_frame, seal_client_frame, seal_server_frame,
};
pub use session_keys::{SECRET_LEN, SessionKeys, challenge_response, logout_token};
