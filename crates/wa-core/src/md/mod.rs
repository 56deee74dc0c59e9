//! The multi-device protocol beside the legacy one: the frame layer ([`frame`]), the server
//! certificate chain ([`cert`]), the Noise handshake framed as WhatsApp frames it
//! ([`handshake`]), and the companion's life after it: pairing by QR ([`pairing`], [`adv`]) or
//! pair code ([`pair_code`]), its durable [`credentials`], login, prekeys ([`prekeys`]), stream
//! errors ([`stream_error`]), all tied together by the [`session`] machine; then one-to-one
//! messaging: device lists and bundles ([`usync`]), stanzas ([`stanza`]) and the [`messenger`]
//! machine over the stores of [`store`], with LID addressing in [`lid`] and typed message
//! [`content`]. All sans-IO.

pub mod adv;
pub mod cert;
pub mod content;
pub mod credentials;
pub mod frame;
pub mod handshake;
pub mod lid;
pub mod messenger;
pub mod pair_code;
pub mod pairing;
pub mod payload;
pub mod prekeys;
pub mod session;
pub mod stanza;
pub mod store;
pub mod stream_error;
pub mod usync;

pub use cert::{CertError, Certificate, ServerCertificates, TrustRoot, VerifiedChain};
pub use content::{Content, MessageRef, Quote};
pub use credentials::{Account, Credentials, CredentialsError};
pub use frame::{FrameDecoder, MdFrameError};
pub use handshake::{
    ClientHandshake, ClientHandshakeConfig, ClientStep, MdConnection, MdError, ServerDone,
    ServerHandshake, ServerStep,
};
pub use messenger::{
    Messenger, MessengerConfig, MessengerError, MessengerEvent, ReceiveOutcome, ReceiveStore,
    STALE_DEVICE_ERRORS, encrypt_targets,
};
pub use payload::{
    DeviceDescription, RegistrationKeys, login_payload, registration_payload,
    registration_payload_for,
};
pub use session::{MdEvent, MdSession, PairError, SessionConfig};
pub use stream_error::{NextStep, StreamError};
