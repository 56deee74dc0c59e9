//! A certificate authority of this machine, kept in a directory, that issues the simulator's
//! server certificates: trust its certificate once (`NODE_EXTRA_CA_CERTS`, `curl --cacert`, the
//! system store) and every later `wss://`/`https://` simulator on 127.0.0.1 or localhost is
//! trusted, whatever its port. Real clients need this for media: Baileys 3.5.3 uploads over
//! `https://` only.
//!
//! The directory holds [`LocalCa::CERT_FILE`] (public) and [`LocalCa::KEY_FILE`] (mode 0600, in
//! a 0700 directory). Server certificates are issued at each start and never written.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use tokio_rustls::rustls::RootCertStore;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::ServerCertVerifier as _;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use zeroize::Zeroizing;

use crate::driver::TlsConfig;
use crate::error::StartError;

/// The CA's name, followed by a fingerprint of its key (see [`ca_params`]).
const CA_COMMON_NAME: &str = "wa-sim local CA";
/// How long a new CA is valid.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long an issued server certificate is valid (browsers refuse more than 398 days).
const SERVER_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Validity starts this much before now, for clocks that differ a little.
const CLOCK_SLACK: Duration = Duration::from_secs(24 * 3600);

/// A local certificate authority: its certificate and signing key, read from (or created in) a
/// directory. See the [module documentation](self).
pub struct LocalCa {
    dir: PathBuf,
    cert_pem: String,
    key: KeyPair,
    created: bool,
}

impl fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCa")
            .field("dir", &self.dir)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

impl LocalCa {
    /// The CA certificate's file name (PEM): the file clients trust.
    pub const CERT_FILE: &'static str = "ca.pem";
    /// The CA key's file name (PEM, PKCS#8, mode 0600).
    pub const KEY_FILE: &'static str = "ca-key.pem";

    /// Reads the CA in `dir`, or creates one there (the directory 0700, the key 0600) when the
    /// directory holds neither file. A key readable by others is refused, as is a directory
    /// holding only one of the two files.
    pub fn open_or_create(dir: &Path) -> Result<LocalCa, StartError> {
        let cert_path = dir.join(Self::CERT_FILE);
        let key_path = dir.join(Self::KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => Self::open(dir, &cert_path, &key_path),
            (false, false) => Self::create(dir, &cert_path, &key_path),
            _ => Err(tls_error(format!(
                "{} holds only one of {} and {}: remove it to make a new CA",
                dir.display(),
                Self::CERT_FILE,
                Self::KEY_FILE
            ))),
        }
    }

    fn open(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<LocalCa, StartError> {
        refuse_open_permissions(key_path)?;
        let cert_pem = std::fs::read_to_string(cert_path)
            .map_err(|e| tls_error(format!("{}: {e}", cert_path.display())))?;
        let key_pem = Zeroizing::new(
            std::fs::read_to_string(key_path)
                .map_err(|e| tls_error(format!("{}: {e}", key_path.display())))?,
        );
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| tls_error(format!("{}: {e}", key_path.display())))?;
        let ca = LocalCa {
            dir: dir.to_path_buf(),
            cert_pem,
            key,
            created: false,
        };
        // A certificate and key that are not one pair would issue certificates nobody trusts.
        ca.issue(&["localhost".to_owned()]).map_err(|e| {
            tls_error(format!(
                "the CA in {} does not check out ({e}): remove the directory to make a new CA",
                dir.display()
            ))
        })?;
        Ok(ca)
    }

    fn create(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<LocalCa, StartError> {
        create_private_dir(dir)?;
        let key = KeyPair::generate().map_err(|e| tls_error(e.to_string()))?;
        let mut params = ca_params(&key);
        let now = SystemTime::now();
        params.not_before = datetime(now - CLOCK_SLACK)?;
        params.not_after = datetime(now + CA_VALIDITY)?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| tls_error(e.to_string()))?;
        let key_pem = Zeroizing::new(key.serialize_pem());
        write_new(key_path, key_pem.as_bytes(), 0o600)?;
        write_new(cert_path, cert.pem().as_bytes(), 0o644)?;
        Ok(LocalCa {
            dir: dir.to_path_buf(),
            cert_pem: cert.pem(),
            key,
            created: true,
        })
    }

    /// The directory holding the CA.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate's path: what clients are told to trust.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(Self::CERT_FILE)
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Whether [`open_or_create`](Self::open_or_create) made this CA now (clients do not trust
    /// it yet) rather than reading one made before.
    pub fn created(&self) -> bool {
        self.created
    }

    /// A server certificate for `hosts` (DNS names or IP addresses), signed by this CA, valid
    /// for a year from now, with the CA certificate after it in the chain. It is checked
    /// against the CA certificate before it is returned.
    pub fn issue(&self, hosts: &[String]) -> Result<TlsConfig, StartError> {
        let Some(first) = hosts.first() else {
            return Err(tls_error("a server certificate needs a host name".into()));
        };
        let mut params =
            CertificateParams::new(hosts.to_vec()).map_err(|e| tls_error(e.to_string()))?;
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = SystemTime::now();
        params.not_before = datetime(now - CLOCK_SLACK)?;
        params.not_after = datetime(now + SERVER_VALIDITY)?;
        let key = KeyPair::generate().map_err(|e| tls_error(e.to_string()))?;
        let ca_params = ca_params(&self.key);
        let issuer = Issuer::from_params(&ca_params, &self.key);
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|e| tls_error(e.to_string()))?;
        self.verify(cert.der(), &params.subject_alt_names)?;
        Ok(TlsConfig {
            cert_chain_pem: format!("{}{}", cert.pem(), self.cert_pem).into_bytes(),
            private_key_pem: Zeroizing::new(key.serialize_pem()).as_bytes().to_vec(),
        })
    }

    /// Checks `leaf` the way a client trusting only this CA would, for its first name.
    fn verify(&self, leaf: &CertificateDer<'_>, names: &[SanType]) -> Result<(), StartError> {
        let ca = CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .map_err(|e| tls_error(format!("CA certificate: {e}")))?;
        let mut roots = RootCertStore::empty();
        roots
            .add(ca)
            .map_err(|e| tls_error(format!("CA certificate: {e}")))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| tls_error(e.to_string()))?;
        let name = match names.first() {
            Some(SanType::IpAddress(ip)) => ServerName::IpAddress((*ip).into()),
            Some(SanType::DnsName(dns)) => ServerName::try_from(dns.as_str().to_owned())
                .map_err(|e| tls_error(e.to_string()))?,
            _ => return Err(tls_error("a server certificate needs a host name".into())),
        };
        verifier
            .verify_server_cert(leaf, &[], &name, &[], UnixTime::now())
            .map_err(|e| tls_error(format!("issued certificate: {e}")))?;
        Ok(())
    }
}

/// The CA's parameters: its name and what it may do. The name carries a fingerprint of the key,
/// so that CAs made on different machines (or in different directories) have different names
/// (a client holding several finds the right one) and the name is rebuilt from the key alone
/// when the CA is read back: an issued certificate must name its issuer exactly.
fn ca_params(key: &KeyPair) -> CertificateParams {
    let digest = Sha256::digest(key.public_key_raw());
    let fingerprint: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(
        DnType::CommonName,
        format!("{CA_COMMON_NAME} {fingerprint}"),
    );
    params
        .distinguished_name
        .push(DnType::OrganizationName, "wa");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn tls_error(message: String) -> StartError {
    StartError::Tls(message)
}

fn datetime(time: SystemTime) -> Result<OffsetDateTime, StartError> {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| tls_error("the clock is before 1970".into()))?
        .as_secs();
    i64::try_from(secs)
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .ok_or_else(|| tls_error("the clock is out of range".into()))
}

fn create_private_dir(dir: &Path) -> Result<(), StartError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| tls_error(format!("{}: {e}", dir.display())))
}

/// Writes a new file (never an existing one, nor through a symlink) with `mode` on Unix.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StartError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .map_err(|e| tls_error(format!("{}: {e}", path.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| tls_error(format!("{}: {e}", path.display())))
}

#[cfg(unix)]
fn refuse_open_permissions(key_path: &Path) -> Result<(), StartError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(key_path)
        .map_err(|e| tls_error(format!("{}: {e}", key_path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(tls_error(format!(
            "{} is readable by others (mode {:o}): chmod 600 it",
            key_path.display(),
            mode & 0o777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_open_permissions(_key_path: &Path) -> Result<(), StartError> {
    Ok(())
}
