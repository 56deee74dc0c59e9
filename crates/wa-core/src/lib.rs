#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

pub mod chat;
pub mod client;
pub mod frame;
pub mod md;
pub mod reconnect;
pub mod session;
pub mod time;

pub use client::{ClientConfig, ClientSession, CloseReason, Event};
pub use frame::{Frame, FrameError, JsonForm, Tag, TagGenerator, WireMessage};
pub use reconnect::Backoff;
pub use session::{MemoryStore, SessionData, SessionStore, StoreError};
pub use time::Timestamp;
