#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

mod helpers;

pub use helpers::DecodeError;
/// Re-exported so that users can call `encode_to_vec`/`decode` without naming prost themselves.
pub use prost;

/// Every type of the protobuf package `proto`, as generated from `proto/wa/*.proto` by
/// `cargo xtask codegen`.
///
/// Type names match the package's message names (`proto.ImageMessage` is
/// [`proto::ImageMessage`]); nested enums and oneofs live in a module named after their message
/// in snake case ([`proto::web_message_info::Status`]). Fields are snake case and, because the
/// schema is proto2, optional fields are `Option`s; prost adds a getter of the same name that
/// returns the default when the field is absent.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    include!("generated/proto.rs");
}

/// Signal's wire messages and wa-signal's records (package `signal`, `proto/signal/wire.proto`).
#[allow(missing_docs, clippy::all)]
pub mod signal {
    include!("generated/signal.rs");
}

pub use proto::web_message_info::Status;
pub use proto::{
    AudioMessage, ContactMessage, ContactsArrayMessage, ContextInfo, DocumentMessage,
    ExtendedTextMessage, FutureProofMessage, GroupInviteMessage, ImageMessage, LiveLocationMessage,
    LocationMessage, Message, MessageKey, ProtocolMessage, StickerMessage, VideoMessage,
    WebFeatures, WebMessageInfo,
};
