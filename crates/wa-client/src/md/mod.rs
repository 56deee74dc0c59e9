//! The multi-device client: the connection ([`MdClient`]), the credential store
//! ([`CredentialStore`], [`FileCredentialStore`]) and the device that pairs, logs in and keeps
//! its prekeys topped up ([`MdDevice`]), all driving `wa_core::md`'s sans-IO machines.

mod conn;
mod device;
mod store;

pub use conn::{MdClient, MdClientError, MdConnectConfig};
pub use device::{DeviceEvent, MdDevice, MdDeviceConfig, MdDeviceError};
pub use store::{CredentialStore, FileCredentialStore, MemoryCredentialStore};
