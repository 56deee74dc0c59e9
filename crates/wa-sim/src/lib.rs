#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

pub mod core;
#[cfg(feature = "net")]
mod driver;
mod error;
#[cfg(feature = "net")]
pub mod local_ca;
pub mod md;
pub mod media;
mod nodes;
pub mod seed;
pub mod store;

pub use crate::core::{Config, ConnId, LogoutVia, Output, Server, SimEvent};
#[cfg(feature = "net")]
pub use driver::{MAX_EVENTS, SimConfig, SimHandle, SimServer, TlsConfig};
pub use error::{LogoutError, RequestError, ScanError, SeedError, StartError};
#[cfg(feature = "net")]
pub use local_ca::LocalCa;
pub use nodes::ClientNode;
pub use seed::SeedAccount;
