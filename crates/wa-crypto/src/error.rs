//! The crate's single error type.

/// Everything that can go wrong in `wa-crypto`.
///
/// Every variant names what failed (`what`, e.g. `"login secret"` or `"server frame"`), so a caller
/// can log it without the bytes involved: no variant carries secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input that must have one exact length had another.
    #[error("{what}: expected {expected} bytes, got {actual}")]
    WrongLength {
        /// What was being read.
        what: &'static str,
        /// The only accepted length.
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// An input was shorter than the smallest valid one.
    #[error("{what}: at least {min} bytes needed, got {actual}")]
    TooShort {
        /// What was being read.
        what: &'static str,
        /// The smallest accepted length.
        min: usize,
        /// The length received.
        actual: usize,
    },
    /// AES-CBC ciphertext whose length is not a whole number of 16-byte blocks.
    #[error("{what}: ciphertext of {len} bytes is not a multiple of the 16-byte AES block")]
    UnalignedCiphertext {
        /// What was being decrypted.
        what: &'static str,
        /// The ciphertext length (IV excluded).
        len: usize,
    },
    /// The PKCS#7 padding was invalid after decryption (wrong key or corrupted data).
    #[error("{what}: invalid PKCS#7 padding after AES-CBC decryption")]
    BadPadding {
        /// What was being decrypted.
        what: &'static str,
    },
    /// An HMAC-SHA256 tag did not match (checked in constant time).
    #[error("{what}: HMAC-SHA256 verification failed")]
    HmacMismatch {
        /// What was being authenticated.
        what: &'static str,
    },
    /// HKDF-SHA256 cannot produce more than 255 × 32 = 8160 bytes.
    #[error("HKDF-SHA256 output of {requested} bytes exceeds the 8160-byte maximum")]
    HkdfOutputTooLong {
        /// The requested output length.
        requested: usize,
    },
    /// The peer's Curve25519 public key is a low-order point: the shared secret would be all
    /// zeros, known to anyone.
    #[error("{what}: peer public key gives a non-contributory (all-zero) shared secret")]
    NonContributoryKey {
        /// Whose key it was.
        what: &'static str,
    },
    /// An AES-GCM authentication tag did not verify (checked by `aes-gcm`, in constant time):
    /// wrong key, wrong nonce, wrong associated data or altered bytes.
    #[error("{what}: AES-GCM authentication tag mismatch")]
    AeadTagMismatch {
        /// What was being decrypted.
        what: &'static str,
    },
    /// A nonce counter reached its last value: encrypting or decrypting once more would reuse
    /// a nonce, so the session must end (reconnect for fresh keys).
    #[error("{what}: nonce counter exhausted")]
    CounterExhausted {
        /// Which direction's counter.
        what: &'static str,
    },
    /// A parameter outside the accepted range (e.g. zero PBKDF2 rounds).
    #[error("invalid parameter: {what}")]
    InvalidParameter {
        /// What was wrong.
        what: &'static str,
    },
    /// A signature whose length is not the one its scheme has (64 bytes for XEdDSA).
    #[error("signature: expected {expected} bytes, got {actual}")]
    SignatureLength {
        /// The signature length of the scheme.
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// A signature that does not verify against the key and message.
    #[error("signature verification failed")]
    BadSignature,
    /// A byte that is not one of the known legacy metrics.
    #[error("unknown legacy binary metric {0}")]
    UnknownMetric(u8),
}
