#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use wa_core::frame::{DEFAULT_MAX_FRAME_LEN, Frame, FrameError, WireMessage};

/// WhatsApp Web's WebSocket endpoint (legacy protocol).
pub const DEFAULT_URL: &str = "wss://web.whatsapp.com/ws";

/// WhatsApp Web's multi-device endpoint. Its binary messages carry the MD frame stream
/// (`wa_core::md::frame`), sent and received with [`Transport::send_bytes`] and
/// [`Transport::recv_bytes`].
pub const MD_URL: &str = "wss://web.whatsapp.com/ws/chat";

/// The `Origin` header WhatsApp Web requires (other origins are rejected).
pub const ORIGIN: &str = "https://web.whatsapp.com";

/// Where and how to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportConfig {
    /// `wss://` (TLS, verified against the webpki roots) or `ws://` (plain, for local servers).
    pub url: String,
    /// The `Origin` header.
    pub origin: String,
    /// Largest message accepted (and sent), in bytes.
    pub max_message_size: usize,
    /// How long the TCP, TLS and WebSocket handshakes may take together.
    pub connect_timeout: Duration,
    /// Extra trust anchors for `wss://`, in PEM (e.g. a test CA or a local server's
    /// self-signed certificate), trusted in addition to the webpki roots.
    pub extra_roots_pem: Vec<Vec<u8>>,
}

impl Default for TransportConfig {
    fn default() -> TransportConfig {
        TransportConfig {
            url: DEFAULT_URL.into(),
            origin: ORIGIN.into(),
            max_message_size: DEFAULT_MAX_FRAME_LEN,
            connect_timeout: Duration::from_secs(20),
            extra_roots_pem: Vec::new(),
        }
    }
}

impl TransportConfig {
    /// The default configuration for the multi-device endpoint, [`MD_URL`]. Its messages may
    /// carry a whole frame of up to 2^24 bytes, so the limit is raised to that plus framing.
    pub fn multi_device() -> TransportConfig {
        TransportConfig {
            url: MD_URL.into(),
            max_message_size: (1 << 24) + 64,
            ..TransportConfig::default()
        }
    }

    /// The default configuration for another URL.
    pub fn with_url(url: impl Into<String>) -> TransportConfig {
        TransportConfig {
            url: url.into(),
            ..TransportConfig::default()
        }
    }
}

/// Why the transport failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL or the origin cannot be used in a WebSocket request.
    #[error("invalid WebSocket request for {url}: {reason}")]
    InvalidRequest {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Connecting (TCP, TLS or the WebSocket handshake) failed.
    #[error("connecting to {url} failed: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// The underlying error.
        #[source]
        source: Box<tungstenite::Error>,
    },
    /// Connecting took longer than the configured timeout.
    #[error("connecting to {url} timed out after {timeout:?}")]
    ConnectTimeout {
        /// The URL.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The WebSocket failed while open (IO error, protocol error, oversized message...).
    #[error("WebSocket error: {0}")]
    WebSocket(#[source] Box<tungstenite::Error>),
    /// A frame to send is larger than the limit.
    #[error("outgoing message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A text message arrived on the binary-only multi-device endpoint.
    #[error("text message on the binary multi-device endpoint")]
    UnexpectedText,
    /// A received message is not a valid frame (only from [`Transport::recv_frame`]).
    #[error("invalid frame: {0}")]
    Frame(#[from] FrameError),
}

/// An open WebSocket to a WhatsApp Web server, carrying [`Frame`]s.
pub struct Transport {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    max_message_size: usize,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("max_message_size", &self.max_message_size)
            .finish_non_exhaustive()
    }
}

fn tls_connector(extra_roots_pem: &[Vec<u8>]) -> Result<Connector, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for pem in extra_roots_pem {
        let mut found = false;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("extra root certificate: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("extra root certificate: {e}"))?;
            found = true;
        }
        if !found {
            return Err("extra root certificate: no CERTIFICATE block in PEM".into());
        }
    }
    // An explicit provider, so TLS works whatever other crates enable in rustls.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth());
    config
        .map(|config| Connector::Rustls(Arc::new(config)))
        .map_err(|e| format!("TLS configuration: {e}"))
}

impl Transport {
    /// Connects to `config.url` with the `Origin` header.
    pub async fn connect(config: &TransportConfig) -> Result<Transport, TransportError> {
        let invalid = |reason: String| TransportError::InvalidRequest {
            url: config.url.clone(),
            reason,
        };
        let mut request = config
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| invalid(e.to_string()))?;
        let origin = HeaderValue::from_str(&config.origin).map_err(|e| invalid(e.to_string()))?;
        request.headers_mut().insert("Origin", origin);
        let tls = request.uri().scheme_str() == Some("wss");
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(config.max_message_size))
            .max_frame_size(Some(config.max_message_size));
        let connector = if tls {
            Some(tls_connector(&config.extra_roots_pem).map_err(invalid)?)
        } else {
            None
        };
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(ws_config),
            true,
            connector,
        );
        let (ws, _response) = tokio::time::timeout(config.connect_timeout, connecting)
            .await
            .map_err(|_| TransportError::ConnectTimeout {
                url: config.url.clone(),
                timeout: config.connect_timeout,
            })?
            .map_err(|e| TransportError::Connect {
                url: config.url.clone(),
                source: Box::new(e),
            })?;
        tracing::debug!(url = %config.url, "WebSocket connected");
        Ok(Transport {
            ws,
            max_message_size: config.max_message_size,
        })
    }

    /// Sends one frame.
    pub async fn send(&mut self, frame: &Frame) -> Result<(), TransportError> {
        self.send_wire(frame.to_wire()).await
    }

    /// Sends one raw WebSocket message.
    pub async fn send_wire(&mut self, message: WireMessage) -> Result<(), TransportError> {
        let message = match message {
            WireMessage::Text(text) => {
                self.check_len(text.len())?;
                Message::text(text)
            }
            WireMessage::Binary(bytes) => {
                self.check_len(bytes.len())?;
                Message::binary(bytes)
            }
        };
        self.ws
            .send(message)
            .await
            .map_err(|e| TransportError::WebSocket(Box::new(e)))
    }

    fn check_len(&self, len: usize) -> Result<(), TransportError> {
        if len > self.max_message_size {
            return Err(TransportError::TooLarge {
                len,
                max: self.max_message_size,
            });
        }
        Ok(())
    }

    /// The next text or binary message; `Ok(None)` once the server closed the connection.
    /// WebSocket pings are answered automatically and never returned.
    ///
    /// Cancel-safe: it can be used in `tokio::select!`.
    pub async fn recv(&mut self) -> Result<Option<WireMessage>, TransportError> {
        loop {
            let Some(message) = self.ws.next().await else {
                return Ok(None);
            };
            match message {
                Ok(Message::Text(text)) => return Ok(Some(WireMessage::Text(text.to_string()))),
                Ok(Message::Binary(bytes)) => return Ok(Some(WireMessage::Binary(bytes.to_vec()))),
                Ok(Message::Close(_)) => return Ok(None),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok(None);
                }
                Err(e) => return Err(TransportError::WebSocket(Box::new(e))),
            }
        }
    }

    /// Sends bytes of the multi-device frame stream as one binary message.
    pub async fn send_bytes(&mut self, bytes: Vec<u8>) -> Result<(), TransportError> {
        self.send_wire(WireMessage::Binary(bytes)).await
    }

    /// The next binary message's bytes (multi-device: part of the frame stream); `Ok(None)`
    /// once the server closed. A text message is an error on this binary-only protocol.
    pub async fn recv_bytes(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
        match self.recv().await? {
            Some(WireMessage::Binary(bytes)) => Ok(Some(bytes)),
            Some(WireMessage::Text(_)) => Err(TransportError::UnexpectedText),
            None => Ok(None),
        }
    }

    /// The next message parsed as a frame (with the same size limit).
    pub async fn recv_frame(&mut self) -> Result<Option<Frame>, TransportError> {
        match self.recv().await? {
            Some(message) => Ok(Some(Frame::parse_with_limit(
                &message,
                self.max_message_size,
            )?)),
            None => Ok(None),
        }
    }

    /// Closes the connection cleanly (WebSocket close handshake).
    pub async fn close(mut self) -> Result<(), TransportError> {
        match self.ws.close(None).await {
            // Already closed by the peer (the close handshake answered inside `recv`).
            Ok(())
            | Err(
                tungstenite::Error::ConnectionClosed
                | tungstenite::Error::AlreadyClosed
                | tungstenite::Error::Protocol(ProtocolError::SendAfterClosing),
            ) => Ok(()),
            Err(e) => Err(TransportError::WebSocket(Box::new(e))),
        }
    }
}
