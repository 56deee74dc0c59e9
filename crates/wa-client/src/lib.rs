#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

pub mod legacy;
pub mod md;

pub use md::{Client, ClientBuilder, ClientError, ClientEvent, StoreConfig};
pub use wa_core::md::MessengerEvent;
pub use wa_core::md::stanza::ReceiptKind;
