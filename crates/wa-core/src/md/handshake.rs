//! The Noise XX handshake as WhatsApp frames it, both roles, sans-IO: bytes in, bytes out.
//! The cryptography is `wa_crypto::noise`; this module adds the `HandshakeMessage` protobufs,
//! the frame layer, the certificate check and the decoded `ClientPayload`.
//!
//! The client's machine consumes itself on every step, so once a step fails there is no state
//! left to send anything with: a refused certificate chain ends the handshake before
//! `ClientFinish` exists.

use wa_binary::{Codec, EncodeError, Node};
use wa_crypto::KeyPair;
use wa_crypto::noise::{
    Initiator, InitiatorAwaitingServerHello, NoiseTransport, Responder, ResponderAwaitingFinish,
    ResponderAwaitingHello, WA_NOISE_PROLOGUE,
};
use wa_proto::prost::Message as _;
use wa_proto::proto::ClientPayload;
use wa_proto::proto::HandshakeMessage;
use wa_proto::proto::handshake_message::{ClientFinish, ClientHello, ServerHello};

use super::cert::{CertError, TrustRoot, VerifiedChain, verify_cert_chain};
use super::frame::{
    FrameDecoder, MAX_FRAME_LEN, MdFrameError, encode_frame, intro, node_payload, payload_node,
};

/// The default largest frame accepted and sent (WhatsApp's limit is the 3-byte length's).
pub const DEFAULT_MAX_FRAME_LEN: usize = MAX_FRAME_LEN;

/// Everything that ends a multi-device connection or handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MdError {
    /// The frame stream is malformed or a frame is too large.
    #[error(transparent)]
    Frame(#[from] MdFrameError),
    /// A Noise step failed (bad AEAD tag, wrong key length, low-order key, counter exhausted).
    #[error("noise: {0}")]
    Noise(#[from] wa_crypto::Error),
    /// The server's certificate chain was refused.
    #[error("server certificate: {0}")]
    Cert(#[from] CertError),
    /// A handshake message is not valid protobuf or lacks a field.
    #[error("malformed handshake message: {what}")]
    Malformed {
        /// What was wrong.
        what: &'static str,
    },
    /// A node could not be encoded.
    #[error("encoding a node: {0}")]
    Encode(#[from] EncodeError),
}

/// How a client handshakes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHandshakeConfig {
    /// The root the server's chain must lead to ([`TrustRoot::WHATSAPP`] by default).
    pub trust_root: TrustRoot,
    /// Edge-routing info from an earlier connection, sent in the `ED 00 01` pre-header.
    pub routing_info: Option<Vec<u8>>,
    /// The largest frame accepted or sent.
    pub max_frame_len: usize,
}

impl Default for ClientHandshakeConfig {
    fn default() -> ClientHandshakeConfig {
        ClientHandshakeConfig {
            trust_root: TrustRoot::WHATSAPP,
            routing_info: None,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
        }
    }
}

/// A client waiting for `ServerHello`.
#[derive(Debug)]
pub struct ClientHandshake {
    decoder: FrameDecoder,
    awaiting: InitiatorAwaitingServerHello,
    client_payload: Vec<u8>,
    config: ClientHandshakeConfig,
}

/// What a client's handshake step produced.
#[derive(Debug)]
pub enum ClientStep {
    /// `ServerHello` is not complete yet: feed more bytes to this state.
    NeedMore(Box<ClientHandshake>),
    /// The chain verified: send `send` (the `ClientFinish` frame); the connection is open.
    Done {
        /// The `ClientFinish` frame.
        send: Vec<u8>,
        /// The encrypted connection.
        connection: Box<MdConnection>,
        /// What the verified chain said.
        chain: VerifiedChain,
    },
}

impl ClientHandshake {
    /// Starts a handshake: returns the state and the first bytes to send (the intro, then the
    /// `ClientHello` frame). `static_key` is the client's Noise key; `ephemeral` must be
    /// fresh; `client_payload` is the encoded `ClientPayload` sent once the server is trusted.
    ///
    /// # Errors
    /// [`MdError::Frame`] when the routing info is too long.
    pub fn start(
        config: ClientHandshakeConfig,
        static_key: &KeyPair,
        ephemeral: KeyPair,
        client_payload: Vec<u8>,
    ) -> Result<(Box<ClientHandshake>, Vec<u8>), MdError> {
        let (ephemeral_public, awaiting) =
            Initiator::start(&WA_NOISE_PROLOGUE, static_key, ephemeral);
        let hello = HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(ephemeral_public.to_vec()),
                ..ClientHello::default()
            }),
            ..HandshakeMessage::default()
        };
        let mut out = intro(config.routing_info.as_deref())?;
        encode_frame(&hello.encode_to_vec(), config.max_frame_len, &mut out)?;
        let handshake = ClientHandshake {
            decoder: FrameDecoder::client(config.max_frame_len),
            awaiting,
            client_payload,
            config,
        };
        Ok((Box::new(handshake), out))
    }

    /// Feeds received bytes; on a whole `ServerHello`, decrypts it, verifies the certificate
    /// chain at `now_unix` (seconds) and writes `ClientFinish`.
    ///
    /// # Errors
    /// Any [`MdError`]; the handshake is over and nothing must be sent.
    pub fn receive(
        mut self: Box<Self>,
        bytes: &[u8],
        now_unix: u64,
    ) -> Result<ClientStep, MdError> {
        self.decoder.push(bytes);
        let Some(frame) = self.decoder.next_frame()? else {
            return Ok(ClientStep::NeedMore(self));
        };
        let message =
            HandshakeMessage::decode(frame.as_slice()).map_err(|_| MdError::Malformed {
                what: "server handshake message",
            })?;
        let hello = message.server_hello.ok_or(MdError::Malformed {
            what: "handshake message without serverHello",
        })?;
        let (Some(ephemeral), Some(static_ct), Some(payload_ct)) =
            (&hello.ephemeral, &hello.r#static, &hello.payload)
        else {
            return Err(MdError::Malformed {
                what: "serverHello without ephemeral, static or payload",
            });
        };
        let (server, finishing) = self
            .awaiting
            .read_server_hello(ephemeral, static_ct, payload_ct)?;
        // The check comes before `finish`: on failure `finishing` is dropped unused.
        let chain = verify_cert_chain(
            &server.payload,
            &server.server_static,
            &self.config.trust_root,
            now_unix,
        )?;
        let (finish, transport) = finishing.finish(&self.client_payload);
        let message = HandshakeMessage {
            client_finish: Some(ClientFinish {
                r#static: Some(finish.static_ciphertext),
                payload: Some(finish.payload_ciphertext),
            }),
            ..HandshakeMessage::default()
        };
        let mut send = Vec::new();
        encode_frame(
            &message.encode_to_vec(),
            self.config.max_frame_len,
            &mut send,
        )?;
        let ClientHandshake {
            decoder, config, ..
        } = *self;
        let connection = MdConnection {
            transport,
            decoder,
            codec: Codec::multi_device(),
            max_frame_len: config.max_frame_len,
        };
        Ok(ClientStep::Done {
            send,
            connection: Box::new(connection),
            chain,
        })
    }
}

/// The server side of a handshake.
#[derive(Debug)]
pub struct ServerHandshake {
    decoder: FrameDecoder,
    state: ServerState,
    cert_chain: Vec<u8>,
    max_frame_len: usize,
}

#[derive(Debug)]
enum ServerState {
    AwaitingHello(ResponderAwaitingHello),
    AwaitingFinish(ResponderAwaitingFinish),
    Finished,
}

/// What a server's handshake step produced.
#[derive(Debug)]
pub enum ServerStep {
    /// Nothing to do until more bytes arrive.
    NeedMore,
    /// Send these bytes (the `ServerHello` frame), then keep feeding.
    Send(Vec<u8>),
    /// The client finished: who it is and the open connection.
    Done(Box<ServerDone>),
}

/// A finished server handshake.
#[derive(Debug)]
pub struct ServerDone {
    /// The client's static Noise public key.
    pub client_static: [u8; 32],
    /// Its decoded `ClientPayload`.
    pub payload: ClientPayload,
    /// The routing info of its pre-header, if it sent one.
    pub routing_info: Option<Vec<u8>>,
    /// The encrypted connection.
    pub connection: MdConnection,
}

impl ServerHandshake {
    /// Prepares to answer one client with `static_key` and its certificate chain `cert_chain`
    /// (an encoded `CertChain` whose leaf certifies `static_key`).
    pub fn new(
        static_key: &KeyPair,
        ephemeral: KeyPair,
        cert_chain: Vec<u8>,
        max_frame_len: usize,
    ) -> ServerHandshake {
        ServerHandshake {
            decoder: FrameDecoder::server(max_frame_len),
            state: ServerState::AwaitingHello(Responder::start(
                &WA_NOISE_PROLOGUE,
                static_key,
                ephemeral,
            )),
            cert_chain,
            max_frame_len,
        }
    }

    /// Feeds received bytes and handles at most one frame; call again with no bytes while it
    /// returns something other than [`ServerStep::NeedMore`].
    ///
    /// # Errors
    /// Any [`MdError`]; the connection must be closed.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<ServerStep, MdError> {
        self.decoder.push(bytes);
        if matches!(self.state, ServerState::Finished) {
            return Ok(ServerStep::NeedMore);
        }
        let Some(frame) = self.decoder.next_frame()? else {
            return Ok(ServerStep::NeedMore);
        };
        let message =
            HandshakeMessage::decode(frame.as_slice()).map_err(|_| MdError::Malformed {
                what: "client handshake message",
            })?;
        match std::mem::replace(&mut self.state, ServerState::Finished) {
            ServerState::AwaitingHello(awaiting) => {
                let ephemeral = message
                    .client_hello
                    .and_then(|hello| hello.ephemeral)
                    .ok_or(MdError::Malformed {
                        what: "first message without clientHello.ephemeral",
                    })?;
                let (hello, awaiting_finish) = awaiting
                    .read_client_hello(&ephemeral)?
                    .server_hello(&self.cert_chain);
                let reply = HandshakeMessage {
                    server_hello: Some(ServerHello {
                        ephemeral: Some(hello.ephemeral.to_vec()),
                        r#static: Some(hello.static_ciphertext),
                        payload: Some(hello.payload_ciphertext),
                    }),
                    ..HandshakeMessage::default()
                };
                let mut out = Vec::new();
                encode_frame(&reply.encode_to_vec(), self.max_frame_len, &mut out)?;
                self.state = ServerState::AwaitingFinish(awaiting_finish);
                Ok(ServerStep::Send(out))
            }
            ServerState::AwaitingFinish(awaiting) => {
                let finish = message.client_finish.ok_or(MdError::Malformed {
                    what: "second message without clientFinish",
                })?;
                let (Some(static_ct), Some(payload_ct)) = (finish.r#static, finish.payload) else {
                    return Err(MdError::Malformed {
                        what: "clientFinish without static or payload",
                    });
                };
                let (client, transport) = awaiting.read_client_finish(&static_ct, &payload_ct)?;
                let payload = ClientPayload::decode(client.payload.as_slice()).map_err(|_| {
                    MdError::Malformed {
                        what: "client payload",
                    }
                })?;
                let decoder = std::mem::replace(&mut self.decoder, FrameDecoder::client(0));
                let routing_info = decoder.routing_info().map(<[u8]>::to_vec);
                Ok(ServerStep::Done(Box::new(ServerDone {
                    client_static: client.client_static,
                    payload,
                    routing_info,
                    connection: MdConnection {
                        transport,
                        decoder,
                        codec: Codec::multi_device(),
                        max_frame_len: self.max_frame_len,
                    },
                })))
            }
            ServerState::Finished => Ok(ServerStep::NeedMore),
        }
    }
}

/// An open multi-device connection after the handshake (either side): frames of Noise
/// ciphertext whose plaintexts are flag-prefixed binary nodes.
#[derive(Debug)]
pub struct MdConnection {
    transport: NoiseTransport,
    decoder: FrameDecoder,
    codec: Codec,
    max_frame_len: usize,
}

impl MdConnection {
    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.decoder.push(bytes);
    }

    /// The next received node, `Ok(None)` until a whole frame arrived.
    ///
    /// # Errors
    /// [`MdError::Frame`] for a malformed or oversized frame or an invalid node,
    /// [`MdError::Noise`] for a bad tag; the connection must be closed.
    pub fn next_node(&mut self) -> Result<Option<Node>, MdError> {
        let Some(frame) = self.decoder.next_frame()? else {
            return Ok(None);
        };
        let plaintext = self.transport.decrypt(&frame)?;
        Ok(Some(payload_node(&self.codec, &plaintext)?))
    }

    /// The bytes that carry `node` (encoded, flag byte 0, encrypted, framed).
    ///
    /// # Errors
    /// [`MdError::Encode`] for a node the codec refuses, [`MdError::Frame`] when the frame
    /// would be too large, [`MdError::Noise`] when the send counter is exhausted.
    pub fn encode_node(&mut self, node: &Node) -> Result<Vec<u8>, MdError> {
        let plaintext = node_payload(&self.codec, node)?;
        self.encode_plaintext(&plaintext)
    }

    /// The bytes that carry one already flag-prefixed plaintext.
    ///
    /// # Errors
    /// As [`MdConnection::encode_node`], without the encoding step.
    pub fn encode_plaintext(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, MdError> {
        // Encrypting advances the counter: refuse an oversized frame before that.
        if plaintext.len() + 16 > self.max_frame_len {
            return Err(MdFrameError::TooLarge {
                len: plaintext.len() + 16,
                max: self.max_frame_len,
            }
            .into());
        }
        let ciphertext = self.transport.encrypt(plaintext)?;
        let mut out = Vec::with_capacity(3 + ciphertext.len());
        encode_frame(&ciphertext, self.max_frame_len, &mut out)?;
        Ok(out)
    }
}
