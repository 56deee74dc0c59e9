//! The local CA behind `wa sim --tls`: made once in a private directory, read back on the next
//! start, and its server certificates trusted by a client that trusts only the CA's file.

use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use wa_sim::{LocalCa, SimConfig, SimServer, StartError};

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A TLS client that trusts only the certificates in `ca_file`.
fn client_trusting(ca_file: &Path) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// `GET /_sim/state` over TLS to `addr`, naming the server `name`; the response's status line.
async fn get_state(
    connector: &TlsConnector,
    addr: std::net::SocketAddr,
    name: ServerName<'static>,
) -> std::io::Result<String> {
    let tcp = TcpStream::connect(addr).await?;
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(b"GET /_sim/state HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

#[test]
fn a_new_ca_is_private_and_read_back_on_the_next_start() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("nested/ca");
    let ca = LocalCa::open_or_create(&dir).unwrap();
    assert!(ca.created());
    assert_eq!(ca.cert_path(), dir.join("ca.pem"));
    assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(
        std::fs::read_to_string(dir.join("ca-key.pem"))
            .unwrap()
            .contains("PRIVATE KEY")
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir.join("ca-key.pem")), 0o600);
        assert_eq!(mode(&dir), 0o700);
    }
    // Its Debug shows no key.
    assert!(!format!("{ca:?}").contains("PRIVATE"), "{ca:?}");

    let again = LocalCa::open_or_create(&dir).unwrap();
    assert!(!again.created());
    assert_eq!(again.cert_pem(), ca.cert_pem());
    // Every start issues a new server certificate from the same CA.
    let hosts = ["localhost".to_owned(), "127.0.0.1".to_owned()];
    let first = ca.issue(&hosts).unwrap();
    let second = again.issue(&hosts).unwrap();
    assert_ne!(first.cert_chain_pem, second.cert_chain_pem);
    assert!(String::from_utf8_lossy(&first.cert_chain_pem).ends_with(ca.cert_pem()));
}

#[test]
fn a_half_ca_an_open_key_or_a_foreign_key_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("ca");
    LocalCa::open_or_create(&dir).unwrap();
    let other = scratch.path().join("other");
    LocalCa::open_or_create(&other).unwrap();

    // The key of another CA beside this certificate: nothing it issues would be trusted.
    std::fs::copy(other.join("ca-key.pem"), dir.join("ca-key.pem")).unwrap();
    let error = LocalCa::open_or_create(&dir).unwrap_err();
    assert!(error.to_string().contains("does not check out"), "{error}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = other.join("ca-key.pem");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = LocalCa::open_or_create(&other).unwrap_err();
        assert!(error.to_string().contains("readable by others"), "{error}");
    }

    std::fs::remove_file(dir.join("ca.pem")).unwrap();
    let error = LocalCa::open_or_create(&dir).unwrap_err();
    assert!(matches!(error, StartError::Tls(_)), "{error:?}");
    assert!(error.to_string().contains("only one of"), "{error}");
}

#[tokio::test]
async fn a_client_trusting_the_ca_file_reaches_the_sim_by_ip_and_name_and_others_do_not() {
    let scratch = tempfile::tempdir().unwrap();
    let ca = LocalCa::open_or_create(&scratch.path().join("ca")).unwrap();
    let tls = ca
        .issue(&["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap();
    let handle = SimServer::start(SimConfig {
        tls: Some(tls),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let addr = handle.local_addr();

    let trusting = client_trusting(&ca.cert_path());
    let ip = ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into());
    let status = get_state(&trusting, addr, ip.clone()).await.unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    let name = ServerName::try_from("localhost").unwrap();
    let status = get_state(&trusting, addr, name).await.unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    // A name the certificate does not carry is refused.
    let wrong = ServerName::try_from("example.com").unwrap();
    assert!(get_state(&trusting, addr, wrong).await.is_err());

    // A client trusting another CA refuses the sim's certificate.
    let other = LocalCa::open_or_create(&scratch.path().join("other")).unwrap();
    let stranger = client_trusting(&other.cert_path());
    let error = get_state(&stranger, addr, ip).await.unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    handle.shutdown().await;
}
