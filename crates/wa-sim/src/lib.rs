#![doc = include_str!("../README.md")]

pub mod core;
mod driver;
mod error;
mod nodes;
pub mod seed;

pub use crate::core::{Config, ConnId, LogoutVia, Output, Server, SimEvent};
pub use driver::{MAX_EVENTS, SimConfig, SimHandle, SimServer};
pub use error::{LogoutError, RequestError, ScanError, SeedError, StartError};
pub use nodes::ClientNode;
pub use seed::SeedAccount;
