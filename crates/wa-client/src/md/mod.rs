//! The multi-device client: the connection ([`MdClient`]), the credential store
//! ([`CredentialStore`], [`FileCredentialStore`]) and the device that pairs, logs in and keeps
//! its prekeys topped up ([`MdDevice`]), all driving `wa_core::md`'s sans-IO machines. Opened on
//! a `wa-store` database ([`MdDevice::open_store`]), the device also sends and receives
//! one-to-one messages ([`MdDevice::send_text`], [`MdDevice::messages`]).

mod client;
mod client_driver;
mod conn;
mod device;
mod signal;
mod store;

pub use client::{Client, ClientBuilder, ClientError, ClientEvent, StoreConfig};
pub use conn::{MdClient, MdClientError, MdConnectConfig};
pub use device::{DeviceEvent, MdDevice, MdDeviceConfig, MdDeviceError, MessageAcker};
pub use signal::{SignalState, Undelivered, WaStoreCredentials, open_sqlite};
pub use store::{CredentialStore, FileCredentialStore, MemoryCredentialStore};
