//! The server's certificate chain (the `ServerHello` payload): verification for clients, at
//! least as strict as whatsmeow's, and issuing for servers such as `wa-sim`.
//!
//! A chain is an intermediate certificate signed by a root key and a leaf signed by the
//! intermediate; the leaf certifies the server's static Noise key. Signatures are XEdDSA over
//! the serialized `Details` bytes exactly as sent.

use wa_crypto::{KeyPair, RngCore, XEDDSA_SIGNATURE_LEN, xeddsa_sign_rng, xeddsa_verify};
use wa_proto::prost::Message as _;
use wa_proto::proto::CertChain;
use wa_proto::proto::cert_chain::NoiseCertificate;
use wa_proto::proto::cert_chain::noise_certificate::Details;

/// WhatsApp's root public key (Curve25519), which signs the intermediate certificates of
/// `web.whatsapp.com`.
pub const WHATSAPP_ROOT_KEY: [u8; 32] = [
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
];

/// The serial WhatsApp's root gives itself (an intermediate's `issuerSerial`).
pub const WHATSAPP_ROOT_SERIAL: u32 = 0;

/// The key a client trusts at the top of the chain, and its serial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustRoot {
    /// The root's Curve25519 public key.
    pub key: [u8; 32],
    /// The root's serial: an intermediate's `issuerSerial` must equal it.
    pub serial: u32,
}

impl TrustRoot {
    /// WhatsApp's real root.
    pub const WHATSAPP: TrustRoot = TrustRoot {
        key: WHATSAPP_ROOT_KEY,
        serial: WHATSAPP_ROOT_SERIAL,
    };
}

impl Default for TrustRoot {
    fn default() -> TrustRoot {
        TrustRoot::WHATSAPP
    }
}

/// Which certificate of the chain an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Certificate {
    /// The intermediate (signed by the root).
    Intermediate,
    /// The leaf (signed by the intermediate, certifying the server's static key).
    Leaf,
}

impl std::fmt::Display for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Certificate::Intermediate => "intermediate certificate",
            Certificate::Leaf => "leaf certificate",
        })
    }
}

/// Why a certificate chain was refused. The handshake stops: nothing more is sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The payload or a certificate's details are not valid protobuf.
    #[error("malformed certificate chain ({what})")]
    Malformed {
        /// What failed to decode.
        what: &'static str,
    },
    /// A certificate, its details or its signature is absent.
    #[error("{cert} is missing or incomplete")]
    Missing {
        /// Which one.
        cert: Certificate,
    },
    /// A signature is not 64 bytes.
    #[error("{cert}: signature of {len} bytes (expected 64)")]
    SignatureLength {
        /// Which certificate.
        cert: Certificate,
        /// Its signature's length.
        len: usize,
    },
    /// A signature does not verify: the intermediate's against the trusted root, the leaf's
    /// against the intermediate's key.
    #[error("{cert}: signature does not verify")]
    BadSignature {
        /// Which certificate.
        cert: Certificate,
    },
    /// A certificate names another issuer than the one that signed it.
    #[error("{cert}: issuer serial {actual} (expected {expected})")]
    IssuerSerial {
        /// Which certificate.
        cert: Certificate,
        /// The serial of its signer.
        expected: u32,
        /// The serial it names.
        actual: u32,
    },
    /// A certified key is not 32 bytes.
    #[error("{cert}: key of {len} bytes (expected 32)")]
    KeyLength {
        /// Which certificate.
        cert: Certificate,
        /// The key's length.
        len: usize,
    },
    /// `now` is before the certificate's `notBefore`.
    #[error("{cert} not valid before {not_before} (now {now})")]
    NotYetValid {
        /// Which certificate.
        cert: Certificate,
        /// Its start, unix seconds.
        not_before: u64,
        /// The time checked, unix seconds.
        now: u64,
    },
    /// `now` is after the certificate's `notAfter` (absent counts as 0: expired).
    #[error("{cert} expired at {not_after} (now {now})")]
    Expired {
        /// Which certificate.
        cert: Certificate,
        /// Its end, unix seconds.
        not_after: u64,
        /// The time checked, unix seconds.
        now: u64,
    },
    /// The leaf certifies another key than the static key the server used in the handshake.
    #[error("leaf certificate's key is not the server's static key")]
    LeafKeyMismatch,
}

/// What a verified chain said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedChain {
    /// The intermediate's serial.
    pub intermediate_serial: u32,
    /// The leaf's serial.
    pub leaf_serial: u32,
    /// When the leaf stops being valid, unix seconds.
    pub leaf_not_after: u64,
}

/// Verifies the `ServerHello` payload `payload` (a `CertChain`) for `server_static`, the static
/// key decrypted in the same handshake, against `root` at `now_unix` (seconds).
///
/// Checks, in order: both certificates present with details and signatures; both signatures 64
/// bytes; the intermediate's signature by the root; its issuer serial is the root's; its key 32
/// bytes; the leaf's signature by the intermediate's key; the intermediate's validity window;
/// the leaf's issuer serial is the intermediate's serial; the leaf's key is `server_static`
/// (constant-time); the leaf's validity window.
///
/// # Errors
/// The first failed check as a [`CertError`].
pub fn verify_cert_chain(
    payload: &[u8],
    server_static: &[u8; 32],
    root: &TrustRoot,
    now_unix: u64,
) -> Result<VerifiedChain, CertError> {
    let chain = CertChain::decode(payload).map_err(|_| CertError::Malformed {
        what: "certificate chain",
    })?;
    let (intermediate_raw, intermediate_sig) =
        parts(chain.intermediate.as_ref(), Certificate::Intermediate)?;
    let (leaf_raw, leaf_sig) = parts(chain.leaf.as_ref(), Certificate::Leaf)?;
    signature_length(intermediate_sig, Certificate::Intermediate)?;
    signature_length(leaf_sig, Certificate::Leaf)?;
    xeddsa_verify(&root.key, intermediate_raw, intermediate_sig).map_err(|_| {
        CertError::BadSignature {
            cert: Certificate::Intermediate,
        }
    })?;
    let intermediate = Details::decode(intermediate_raw).map_err(|_| CertError::Malformed {
        what: "intermediate certificate details",
    })?;
    if intermediate.issuer_serial() != root.serial {
        return Err(CertError::IssuerSerial {
            cert: Certificate::Intermediate,
            expected: root.serial,
            actual: intermediate.issuer_serial(),
        });
    }
    let intermediate_key: [u8; 32] =
        intermediate
            .key()
            .try_into()
            .map_err(|_| CertError::KeyLength {
                cert: Certificate::Intermediate,
                len: intermediate.key().len(),
            })?;
    xeddsa_verify(&intermediate_key, leaf_raw, leaf_sig).map_err(|_| CertError::BadSignature {
        cert: Certificate::Leaf,
    })?;
    validity(&intermediate, Certificate::Intermediate, now_unix)?;
    let leaf = Details::decode(leaf_raw).map_err(|_| CertError::Malformed {
        what: "leaf certificate details",
    })?;
    if leaf.issuer_serial() != intermediate.serial() {
        return Err(CertError::IssuerSerial {
            cert: Certificate::Leaf,
            expected: intermediate.serial(),
            actual: leaf.issuer_serial(),
        });
    }
    if !constant_time_eq(leaf.key(), server_static) {
        return Err(CertError::LeafKeyMismatch);
    }
    validity(&leaf, Certificate::Leaf, now_unix)?;
    Ok(VerifiedChain {
        intermediate_serial: intermediate.serial(),
        leaf_serial: leaf.serial(),
        leaf_not_after: leaf.not_after(),
    })
}

fn parts(cert: Option<&NoiseCertificate>, which: Certificate) -> Result<(&[u8], &[u8]), CertError> {
    match cert {
        Some(NoiseCertificate {
            details: Some(details),
            signature: Some(signature),
        }) => Ok((details, signature)),
        _ => Err(CertError::Missing { cert: which }),
    }
}

fn signature_length(signature: &[u8], cert: Certificate) -> Result<(), CertError> {
    if signature.len() == XEDDSA_SIGNATURE_LEN {
        Ok(())
    } else {
        Err(CertError::SignatureLength {
            cert,
            len: signature.len(),
        })
    }
}

fn validity(details: &Details, cert: Certificate, now: u64) -> Result<(), CertError> {
    if now < details.not_before() {
        return Err(CertError::NotYetValid {
            cert,
            not_before: details.not_before(),
            now,
        });
    }
    if now > details.not_after() {
        return Err(CertError::Expired {
            cert,
            not_after: details.not_after(),
            now,
        });
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A certificate's fields, for issuing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFields {
    /// Its serial.
    pub serial: u32,
    /// Its signer's serial.
    pub issuer_serial: u32,
    /// The certified key.
    pub key: Vec<u8>,
    /// Start of validity, unix seconds.
    pub not_before: u64,
    /// End of validity, unix seconds.
    pub not_after: u64,
}

impl CertFields {
    /// The serialized `Details` (what the signature covers).
    pub fn details_bytes(&self) -> Vec<u8> {
        Details {
            serial: Some(self.serial),
            issuer_serial: Some(self.issuer_serial),
            key: Some(self.key.clone()),
            not_before: Some(self.not_before),
            not_after: Some(self.not_after),
        }
        .encode_to_vec()
    }
}

/// Signs `fields` with `signer`: one certificate of a chain.
pub fn issue_certificate<R: RngCore + wa_crypto::CryptoRng>(
    fields: &CertFields,
    signer: &KeyPair,
    rng: &mut R,
) -> NoiseCertificate {
    let details = fields.details_bytes();
    let signature = xeddsa_sign_rng(signer, &details, rng).to_vec();
    NoiseCertificate {
        details: Some(details),
        signature: Some(signature),
    }
}

/// The encoded `CertChain` of `intermediate` and `leaf`.
pub fn encode_chain(intermediate: NoiseCertificate, leaf: NoiseCertificate) -> Vec<u8> {
    CertChain {
        leaf: Some(leaf),
        intermediate: Some(intermediate),
    }
    .encode_to_vec()
}

/// A server's certificate authority: a root, an intermediate signed by it, and the chain that
/// certifies one static key (what `wa-sim` generates and keeps, and tests use).
#[derive(Clone, Debug)]
pub struct ServerCertificates {
    /// The root key pair (its public half is what clients trust).
    pub root: KeyPair,
    /// The root's serial.
    pub root_serial: u32,
    /// The intermediate key pair.
    pub intermediate: KeyPair,
    /// The server's static Noise key, certified by the leaf.
    pub server_static: KeyPair,
    /// The encoded chain, the `ServerHello` payload.
    pub chain: Vec<u8>,
}

impl ServerCertificates {
    /// Generates a root, an intermediate (serial 1) and a leaf (serial 2) for a new static key,
    /// valid from `not_before` to `not_after` (unix seconds).
    pub fn generate<R: RngCore + wa_crypto::CryptoRng>(
        rng: &mut R,
        not_before: u64,
        not_after: u64,
    ) -> ServerCertificates {
        let root = KeyPair::generate(rng);
        let intermediate = KeyPair::generate(rng);
        let server_static = KeyPair::generate(rng);
        ServerCertificates::from_keys(
            root,
            0,
            intermediate,
            server_static,
            not_before,
            not_after,
            rng,
        )
    }

    /// The chain for given keys (intermediate serial 1 issued by `root_serial`, leaf serial 2).
    pub fn from_keys<R: RngCore + wa_crypto::CryptoRng>(
        root: KeyPair,
        root_serial: u32,
        intermediate: KeyPair,
        server_static: KeyPair,
        not_before: u64,
        not_after: u64,
        rng: &mut R,
    ) -> ServerCertificates {
        let intermediate_cert = issue_certificate(
            &CertFields {
                serial: 1,
                issuer_serial: root_serial,
                key: intermediate.public_bytes().to_vec(),
                not_before,
                not_after,
            },
            &root,
            rng,
        );
        let leaf_cert = issue_certificate(
            &CertFields {
                serial: 2,
                issuer_serial: 1,
                key: server_static.public_bytes().to_vec(),
                not_before,
                not_after,
            },
            &intermediate,
            rng,
        );
        ServerCertificates {
            root,
            root_serial,
            intermediate,
            server_static,
            chain: encode_chain(intermediate_cert, leaf_cert),
        }
    }

    /// The root clients must trust for this chain.
    pub fn trust_root(&self) -> TrustRoot {
        TrustRoot {
            key: self.root.public_bytes(),
            serial: self.root_serial,
        }
    }
}
