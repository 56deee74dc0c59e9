//! TLS for the network server: the certificate chain and key it serves ([`TlsConfig`]) and the
//! listener that completes handshakes concurrently before axum sees a stream. Its own file
//! because plain and TLS serving share everything else.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use zeroize::Zeroize as _;

use crate::error::StartError;

/// A server certificate chain and its private key, in PEM.
#[derive(Clone)]
pub struct TlsConfig {
    /// The certificate chain, leaf first (PEM, one or more `CERTIFICATE` blocks).
    pub cert_chain_pem: Vec<u8>,
    /// The leaf's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub private_key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl Drop for TlsConfig {
    fn drop(&mut self) {
        self.private_key_pem.zeroize();
    }
}

impl TlsConfig {
    /// Reads the certificate chain and the key from PEM files.
    pub fn from_pem_files(cert_chain: &Path, private_key: &Path) -> Result<TlsConfig, StartError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| StartError::Tls(format!("{}: {e}", path.display())))
        };
        Ok(TlsConfig {
            cert_chain_pem: read(cert_chain)?,
            private_key_pem: read(private_key)?,
        })
    }

    pub(super) fn acceptor(&self) -> Result<TlsAcceptor, StartError> {
        let certs = CertificateDer::pem_slice_iter(&self.cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StartError::Tls(format!("certificate chain: {e}")))?;
        if certs.is_empty() {
            return Err(StartError::Tls(
                "certificate chain: no CERTIFICATE block".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&self.private_key_pem)
            .map_err(|e| StartError::Tls(format!("private key: {e}")))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StartError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| StartError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// Accepts TCP connections and completes TLS handshakes concurrently (a client that never
/// finishes its handshake holds up nobody), handing finished streams to axum.
pub(super) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
    acceptor_task: JoinHandle<()>,
}

impl TlsListener {
    const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

    pub(super) fn new(tcp: TcpListener, acceptor: TlsAcceptor, addr: SocketAddr) -> TlsListener {
        let (tx, ready) = mpsc::channel(64);
        let acceptor_task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "wa-sim accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Nagle off (see the plain listener above).
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let handshake = acceptor.accept(stream);
                    match tokio::time::timeout(Self::HANDSHAKE_TIMEOUT, handshake).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%error, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener {
            ready,
            addr,
            acceptor_task,
        }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The acceptor task only ends when aborted, which happens on drop.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}
