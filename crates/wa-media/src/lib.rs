#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

mod decrypt;
mod encrypt;
mod error;
#[cfg(feature = "http")]
pub mod http;
mod io;
mod keys;
mod parallel;
mod range;
pub mod sidecar;
mod staged;
#[cfg(feature = "tokio")]
mod tokio_io;
mod types;
mod verified;

pub use decrypt::{DecryptedInfo, Decryptor, Expected, decrypt_bytes, windows_for_file};
pub use encrypt::{BLOCK, EncryptedInfo, Encryptor, MAC_LEN, encrypt_bytes, encrypted_len};
pub use error::Error;
pub use io::{
    DecryptReader, DecryptWriter, EncryptReader, EncryptWriter, decrypt_stream, encrypt_stream,
};
pub use keys::{MediaKey, MediaKeys};
pub use parallel::{decrypt_stream_parallel, encrypt_stream_parallel};
pub use range::RangePlan;
pub use staged::{
    HoldBack, RESERVE_STEP, StagedFile, decrypt_verified_into, decrypt_verified_to_file,
};
#[cfg(feature = "tokio")]
pub use tokio_io::{
    AsyncDecryptReader, AsyncDecryptWriter, AsyncEncryptReader, AsyncEncryptWriter,
};
pub use types::MediaType;
pub use verified::{
    SPOOL_MEMORY, decrypt_verified, decrypt_verified_parallel, decrypt_verified_via,
};
