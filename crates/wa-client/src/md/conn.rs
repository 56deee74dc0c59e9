//! A multi-device connection: WebSocket, then the Noise handshake with the server's certificate
//! chain verified, then nodes both ways. Every protocol decision is `wa_core::md`'s; this only
//! moves bytes and reads the clock. Pairing and login are [`super::MdDevice`]'s.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wa_binary::Node;
use wa_core::md::{
    ClientHandshake, ClientHandshakeConfig, ClientStep, MdConnection, MdError, VerifiedChain,
};
use wa_crypto::KeyPair;
use wa_proto::prost::Message as _;
use wa_proto::proto::ClientPayload;
use wa_transport::{Transport, TransportConfig, TransportError};

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct MdConnectConfig {
    /// The WebSocket (default: WhatsApp's multi-device endpoint).
    pub transport: TransportConfig,
    /// The trust root, routing info and frame limit.
    pub handshake: ClientHandshakeConfig,
    /// How long the Noise handshake may take after the WebSocket opened.
    pub handshake_timeout: Duration,
}

impl Default for MdConnectConfig {
    fn default() -> MdConnectConfig {
        MdConnectConfig {
            transport: TransportConfig::multi_device(),
            handshake: ClientHandshakeConfig::default(),
            handshake_timeout: Duration::from_secs(20),
        }
    }
}

/// Why a multi-device connection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MdClientError {
    /// The WebSocket failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The protocol failed: bad frame, bad tag, refused certificate chain...
    #[error(transparent)]
    Protocol(#[from] MdError),
    /// The server closed the connection during the handshake.
    #[error("the server closed the connection during the handshake")]
    ClosedDuringHandshake,
    /// The handshake took longer than allowed.
    #[error("the handshake timed out")]
    HandshakeTimeout,
}

/// An open multi-device connection.
#[derive(Debug)]
pub struct MdClient {
    transport: Transport,
    connection: MdConnection,
    chain: VerifiedChain,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl MdClient {
    /// Connects and handshakes with `noise_key` as the static key, sending `payload` once the
    /// server's certificate chain verified. If it does not, the connection is closed and
    /// nothing after the first flight is sent.
    ///
    /// # Errors
    /// [`MdClientError`]; a refused chain is `Protocol(MdError::Cert(..))`.
    pub async fn connect(
        config: &MdConnectConfig,
        noise_key: &KeyPair,
        payload: &ClientPayload,
    ) -> Result<MdClient, MdClientError> {
        let mut transport = Transport::connect(&config.transport).await?;
        let ephemeral = KeyPair::generate(&mut rand::rngs::OsRng);
        let handshake = ClientHandshake::start(
            config.handshake.clone(),
            noise_key,
            ephemeral,
            payload.encode_to_vec(),
        )?;
        let result = tokio::time::timeout(
            config.handshake_timeout,
            handshake_io(&mut transport, handshake),
        )
        .await
        .unwrap_or(Err(MdClientError::HandshakeTimeout));
        match result {
            Ok((connection, chain)) => Ok(MdClient {
                transport,
                connection,
                chain,
            }),
            Err(error) => {
                let _ = transport.close().await;
                Err(error)
            }
        }
    }

    /// What the server's verified certificate chain said.
    pub fn chain(&self) -> &VerifiedChain {
        &self.chain
    }

    /// The next node from the server; `Ok(None)` once it closed.
    ///
    /// # Errors
    /// A transport or protocol error (the connection is then unusable).
    pub async fn next_node(&mut self) -> Result<Option<Node>, MdClientError> {
        loop {
            if let Some(node) = self.connection.next_node()? {
                return Ok(Some(node));
            }
            match self.transport.recv_bytes().await? {
                Some(bytes) => self.connection.push(&bytes),
                None => return Ok(None),
            }
        }
    }

    /// Sends one node.
    ///
    /// # Errors
    /// A transport or protocol error.
    pub async fn send_node(&mut self, node: &Node) -> Result<(), MdClientError> {
        let bytes = self.connection.encode_node(node)?;
        Ok(self.transport.send_bytes(bytes).await?)
    }

    /// Closes the WebSocket.
    ///
    /// # Errors
    /// A transport error.
    pub async fn close(self) -> Result<(), MdClientError> {
        Ok(self.transport.close().await?)
    }
}

async fn handshake_io(
    transport: &mut Transport,
    (handshake, first): (Box<ClientHandshake>, Vec<u8>),
) -> Result<(MdConnection, VerifiedChain), MdClientError> {
    transport.send_bytes(first).await?;
    let mut state = handshake;
    loop {
        let Some(bytes) = transport.recv_bytes().await? else {
            return Err(MdClientError::ClosedDuringHandshake);
        };
        match state.receive(&bytes, unix_now())? {
            ClientStep::NeedMore(next) => state = next,
            ClientStep::Done {
                send,
                connection,
                chain,
            } => {
                transport.send_bytes(send).await?;
                return Ok((*connection, chain));
            }
        }
    }
}
