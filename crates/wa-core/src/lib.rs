#![doc = include_str!("../README.md")]

pub mod frame;
pub mod time;

pub use frame::{Frame, FrameError, JsonForm, Tag, TagGenerator, WireMessage};
pub use time::Timestamp;
