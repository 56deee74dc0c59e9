//! The multi-device endpoint (`/ws/chat`), sans-IO: the simulator's certificate authority
//! (root → intermediate → leaf for its static Noise key), the responder side of the handshake
//! ([`MdSession`], one per connection), and the server behind all connections ([`MdServer`]):
//! simulated phones, the device registry, QR and pair-code pairing, logins, prekeys, unlinking,
//! and the message [`router`] (device lists, bundles, per-device queues, receipts).
//!
//! A framing error, a bad AEAD tag or an oversized frame ends that session only.

pub mod iq;
pub mod keys;
pub mod out;
pub mod pair_code;
pub mod pairing;
pub mod phone;
pub mod prekeys;
pub mod registry;
pub mod router;
pub mod server;
pub mod state;

#[cfg(feature = "net")]
pub(crate) mod control;
#[cfg(feature = "net")]
pub(crate) mod net;

pub use server::{Action, ControlError, DeviceInfo, MdServer, Out};

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde::Serialize;
use wa_binary::Node;
use wa_core::md::{
    MdConnection, MdError, ServerCertificates, ServerHandshake, ServerStep, TrustRoot,
};
use wa_crypto::KeyPair;
use wa_proto::prost::Message as _;
use wa_proto::proto::{ClientPayload, DeviceProps};

/// How long the simulator's certificates are valid around their creation (seconds).
const CERT_VALIDITY_SECS: u64 = 10 * 365 * 24 * 3600;

/// The simulator's multi-device identity: its certificates and limits. Generated once and kept
/// for the simulator's life (a restart keeps it), so a client can trust its root.
#[derive(Clone, Debug)]
pub struct MdSim {
    /// The root, intermediate and leaf for the static key.
    pub certificates: ServerCertificates,
    /// Largest frame accepted or sent; a larger one closes the connection.
    pub max_frame_len: usize,
}

impl MdSim {
    /// New keys and a chain valid from a day before `now_unix` for ten years.
    pub fn generate(seed: u64, now_unix: u64) -> MdSim {
        let mut rng = StdRng::seed_from_u64(seed);
        let not_before = now_unix.saturating_sub(24 * 3600);
        MdSim::with_certificates(ServerCertificates::generate(
            &mut rng,
            not_before,
            not_before + CERT_VALIDITY_SECS,
        ))
    }

    /// The simulator with a given chain (tests use forged ones).
    pub fn with_certificates(certificates: ServerCertificates) -> MdSim {
        MdSim {
            certificates,
            max_frame_len: 1 << 20,
        }
    }

    /// The root a client must trust to connect.
    pub fn trust_root(&self) -> TrustRoot {
        self.certificates.trust_root()
    }
}

/// What a client said about itself in its `ClientPayload` (no secrets: public keys only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MdClientInfo {
    /// The client's static Noise public key, hex.
    pub static_key: String,
    /// Routing info from its `ED 00 01` pre-header, hex.
    pub routing_info: Option<String>,
    /// `username` (the account's number), when it logs in as a paired device.
    pub username: Option<u64>,
    /// `device`, when paired.
    pub device: Option<u32>,
    /// Whether the connection is passive.
    pub passive: Option<bool>,
    /// `pull`.
    pub pull: Option<bool>,
    /// `userAgent.platform` by name.
    pub platform: Option<String>,
    /// `userAgent.appVersion` dotted.
    pub app_version: Option<String>,
    /// `userAgent.releaseChannel` by name.
    pub release_channel: Option<String>,
    /// `webInfo.webSubPlatform` by name.
    pub web_sub_platform: Option<String>,
    /// `connectType` by name.
    pub connect_type: Option<String>,
    /// `connectReason` by name.
    pub connect_reason: Option<String>,
    /// The registration data of a new device.
    pub registration: Option<MdRegistration>,
}

/// A new device's registration (`devicePairingData`), decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MdRegistration {
    /// Registration id (from 4 big-endian bytes).
    pub registration_id: Option<u32>,
    /// Key type byte (5 for Curve25519).
    pub key_type: Option<u8>,
    /// Identity public key, hex.
    pub identity_key: String,
    /// Signed prekey id (from 3 big-endian bytes).
    pub signed_prekey_id: Option<u32>,
    /// Signed prekey public key, hex.
    pub signed_prekey: String,
    /// Its signature, hex.
    pub signed_prekey_signature: String,
    /// The build hash, hex.
    pub build_hash: String,
    /// `DeviceProps.os`.
    pub device_os: Option<String>,
    /// `DeviceProps.platformType` by name.
    pub device_platform: Option<String>,
}

/// What happened on a multi-device connection (recorded as `SimEvent::Md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MdEvent {
    /// The handshake finished; what the client sent.
    Handshake {
        /// The decoded `ClientPayload`.
        client: Box<MdClientInfo>,
    },
    /// The server told an unpaired client to pair.
    PairDeviceSent {
        /// The iq's id.
        id: String,
        /// The refs (QR references).
        refs: Vec<String>,
    },
    /// A paired client's login was refused (its device is not linked, or its Noise key is
    /// not the one it paired with).
    LoginRefused {
        /// The refusal's reason code.
        reason: u16,
    },
    /// A linked device logged in (`success` and `ib/offline` sent).
    LoggedIn {
        /// `number:device@s.whatsapp.net`.
        jid: String,
        /// `lid:device@lid`.
        lid: String,
    },
    /// The phone signed a companion and sent `pair-success`.
    PairSuccessSent {
        /// The JID the companion will have.
        jid: String,
    },
    /// The companion counter-signed; it is linked (then `stream:error 515`).
    Paired {
        /// Its JID.
        jid: String,
        /// The platform it named.
        platform: String,
    },
    /// A pairing step was refused (bad `pair-device-sign`, wrong pair code...).
    PairRefused {
        /// Why.
        reason: String,
    },
    /// A companion asked to link by pair code (`companion_hello`).
    PairCodeRequested {
        /// The phone number it named.
        number: u64,
    },
    /// A device uploaded one-time prekeys.
    PrekeysUploaded {
        /// Its JID.
        jid: String,
        /// How many.
        count: usize,
    },
    /// A device was unlinked (by the phone or by its own logout).
    Unlinked {
        /// Its JID.
        jid: String,
    },
    /// A node arrived after the handshake.
    Received {
        /// Its tag.
        tag: String,
        /// Its `id` attribute.
        id: Option<String>,
        /// Its `type` attribute.
        r#type: Option<String>,
    },
    /// The connection was closed by the server because of `reason`.
    Closed {
        /// Why.
        reason: String,
    },
}

/// What a session asks its driver to do.
#[derive(Clone, Debug, PartialEq)]
pub enum MdOutput {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Record this event.
    Event(MdEvent),
    /// Close the connection (after sending what came before).
    Close,
    /// The handshake finished: the client's payload, for [`MdServer::connected`].
    Connected(Box<Connected>),
    /// A node arrived, for [`MdServer::node`].
    Node(Node),
}

/// A finished handshake.
#[derive(Clone, Debug, PartialEq)]
pub struct Connected {
    /// The client's `ClientPayload`.
    pub payload: ClientPayload,
    /// Its static Noise key.
    pub noise_key: [u8; 32],
}

/// One multi-device connection on the server: the handshake, then framed, encrypted nodes.
#[derive(Debug)]
pub struct MdSession {
    handshake: Option<ServerHandshake>,
    connection: Option<MdConnection>,
    closed: bool,
}

impl MdSession {
    /// A new connection; `seed` drives its ephemeral key.
    pub fn new(sim: &MdSim, seed: u64) -> MdSession {
        let mut rng = StdRng::seed_from_u64(seed);
        let ephemeral = KeyPair::generate(&mut rng);
        MdSession {
            handshake: Some(ServerHandshake::new(
                &sim.certificates.server_static,
                ephemeral,
                sim.certificates.chain.clone(),
                sim.max_frame_len,
            )),
            connection: None,
            closed: false,
        }
    }

    /// Whether the session asked to close.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Handles received bytes.
    pub fn receive(&mut self, bytes: &[u8]) -> Vec<MdOutput> {
        let mut out = Vec::new();
        if self.closed {
            return out;
        }
        if let Err(error) = self.step(bytes, &mut out) {
            self.fail(&error, &mut out);
        }
        out
    }

    fn fail(&mut self, error: &MdError, out: &mut Vec<MdOutput>) {
        out.push(MdOutput::Event(MdEvent::Closed {
            reason: error.to_string(),
        }));
        out.push(MdOutput::Close);
        self.closed = true;
    }

    /// Encodes a node for this connection (`None` before the handshake finished or after a
    /// failure, which closes the session).
    pub fn encode(&mut self, node: &Node) -> Option<Vec<u8>> {
        let connection = self.connection.as_mut()?;
        match connection.encode_node(node) {
            Ok(bytes) => Some(bytes),
            Err(_) => {
                self.closed = true;
                None
            }
        }
    }

    fn step(&mut self, bytes: &[u8], out: &mut Vec<MdOutput>) -> Result<(), MdError> {
        let mut bytes = bytes;
        if let Some(handshake) = self.handshake.as_mut() {
            loop {
                match handshake.receive(bytes)? {
                    ServerStep::NeedMore => return Ok(()),
                    ServerStep::Send(reply) => out.push(MdOutput::Send(reply)),
                    ServerStep::Done(done) => {
                        let info = client_info(
                            &done.payload,
                            &done.client_static,
                            done.routing_info.as_deref(),
                        );
                        out.push(MdOutput::Event(MdEvent::Handshake {
                            client: Box::new(info),
                        }));
                        out.push(MdOutput::Connected(Box::new(Connected {
                            payload: done.payload,
                            noise_key: done.client_static,
                        })));
                        self.handshake = None;
                        self.connection = Some(done.connection);
                        // Bytes after ClientFinish are already in the connection's decoder.
                        bytes = &[];
                        break;
                    }
                }
                bytes = &[];
            }
        }
        if let Some(connection) = self.connection.as_mut() {
            connection.push(bytes);
            while let Some(node) = connection.next_node()? {
                out.push(MdOutput::Node(node));
            }
        }
        Ok(())
    }
}

/// Feeds bytes of connection `conn` through its session into the server; what comes out is
/// addressed to `conn` or to other connections (a login replaces an older one, for example).
/// [`Action::Send`] to `conn` itself is encoded by the caller with [`MdSession::encode`];
/// handshake replies come as [`Wire::Bytes`].
pub fn pump(
    server: &mut MdServer,
    session: &mut MdSession,
    conn: u64,
    bytes: &[u8],
    now: u64,
) -> Vec<Wire> {
    let mut wire = Vec::new();
    for output in session.receive(bytes) {
        match output {
            MdOutput::Send(bytes) => wire.push(Wire::Bytes(bytes)),
            MdOutput::Event(event) => wire.push(Wire::Out(Out {
                conn,
                action: Action::Event(event),
            })),
            MdOutput::Close => wire.push(Wire::Out(Out {
                conn,
                action: Action::Close,
            })),
            MdOutput::Connected(connected) => wire.extend(
                server
                    .connected(conn, &connected.payload, &connected.noise_key, now)
                    .into_iter()
                    .map(Wire::Out),
            ),
            MdOutput::Node(node) => {
                wire.extend(server.node(conn, &node, now).into_iter().map(Wire::Out));
            }
        }
    }
    wire
}

/// What [`pump`] produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wire {
    /// Bytes already framed for the pumped connection (the handshake's).
    Bytes(Vec<u8>),
    /// An action for some connection.
    Out(Out),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn big_endian(bytes: &[u8]) -> Option<u32> {
    (bytes.len() <= 4 && !bytes.is_empty())
        .then(|| bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

/// The event-log form of a `ClientPayload`.
pub fn client_info(
    payload: &ClientPayload,
    client_static: &[u8; 32],
    routing: Option<&[u8]>,
) -> MdClientInfo {
    let agent = payload.user_agent.as_ref();
    let registration = payload.device_pairing_data.as_ref().map(|reg| {
        let props = reg
            .device_props
            .as_deref()
            .and_then(|bytes| DeviceProps::decode(bytes).ok());
        MdRegistration {
            registration_id: reg.e_regid.as_deref().and_then(big_endian),
            key_type: reg.e_keytype.as_deref().and_then(|k| k.first().copied()),
            identity_key: hex(reg.e_ident()),
            signed_prekey_id: reg.e_skey_id.as_deref().and_then(big_endian),
            signed_prekey: hex(reg.e_skey_val()),
            signed_prekey_signature: hex(reg.e_skey_sig()),
            build_hash: hex(reg.build_hash()),
            device_os: props.as_ref().and_then(|p| p.os.clone()),
            device_platform: props
                .as_ref()
                .filter(|p| p.platform_type.is_some())
                .map(|p| format!("{:?}", p.platform_type())),
        }
    });
    MdClientInfo {
        static_key: hex(client_static),
        routing_info: routing.map(hex),
        username: payload.username,
        device: payload.device,
        passive: payload.passive,
        pull: payload.pull,
        platform: agent
            .filter(|a| a.platform.is_some())
            .map(|a| format!("{:?}", a.platform())),
        app_version: agent
            .and_then(|a| a.app_version.as_ref())
            .map(|v| format!("{}.{}.{}", v.primary(), v.secondary(), v.tertiary())),
        release_channel: agent
            .filter(|a| a.release_channel.is_some())
            .map(|a| format!("{:?}", a.release_channel())),
        web_sub_platform: payload
            .web_info
            .as_ref()
            .filter(|w| w.web_sub_platform.is_some())
            .map(|w| format!("{:?}", w.web_sub_platform())),
        connect_type: payload
            .connect_type
            .is_some()
            .then(|| format!("{:?}", payload.connect_type())),
        connect_reason: payload
            .connect_reason
            .is_some()
            .then(|| format!("{:?}", payload.connect_reason())),
        registration,
    }
}
