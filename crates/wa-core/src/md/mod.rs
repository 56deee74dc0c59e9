//! The multi-device protocol beside the legacy one: the frame layer ([`frame`]), the server
//! certificate chain ([`cert`]) and the Noise handshake framed as WhatsApp frames it
//! ([`handshake`]). All sans-IO.

pub mod cert;
pub mod frame;
pub mod handshake;
pub mod payload;
pub mod store;

pub use cert::{CertError, Certificate, ServerCertificates, TrustRoot, VerifiedChain};
pub use frame::{FrameDecoder, MdFrameError};
pub use handshake::{
    ClientHandshake, ClientHandshakeConfig, ClientStep, MdConnection, MdError, ServerDone,
    ServerHandshake, ServerStep,
};
pub use payload::{DeviceDescription, RegistrationKeys, registration_payload};
