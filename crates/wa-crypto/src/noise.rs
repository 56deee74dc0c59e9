//! `Noise_XX_25519_AESGCM_SHA256` as WhatsApp's multi-device protocol uses it: a sans-IO state
//! machine for both roles, one type per handshake state (a message can only be read or written
//! in the state that expects it), keys passed in so transcripts are reproducible.
//!
//! ```text
//! initiator (client)                                  responder (server)
//!   -> e                                    ClientHello.ephemeral
//!   <- e, ee, s, es                         ServerHello.{ephemeral, static, payload}
//!   -> s, se                                ClientFinish.{static, payload}
//!   split: client→server key, server→client key, each with its own counter from 0
//! ```
//!
//! WhatsApp's variations on the Noise specification: the 32-byte protocol name is used as the
//! initial `h` and `ck` without hashing (it is exactly `HASHLEN` long, as the spec allows), the
//! prologue is the connection header `WA 06 03`, and the AES-GCM nonce is 8 zero bytes followed
//! by the counter as a big-endian `u32` (the spec's 64-bit counter, capped at 2^32 here because
//! only 4 bytes go on the wire: a counter that would wrap is [`Error::CounterExhausted`]).
//!
//! The `HandshakeMessage` protobuf is not this crate's business: every step takes and returns its
//! raw fields. The caller checks the server's certificate chain (in [`ServerHello::payload`])
//! against [`ServerHello::server_static`] before calling [`InitiatorFinishing::finish`].

use core::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::symmetric::{GCM_NONCE_LEN, GCM_TAG_LEN, gcm_open, gcm_seal};
use crate::{Error, KeyPair, is_all_zero};

/// The Noise protocol name, exactly 32 bytes (NUL-padded), used directly as the initial `h`/`ck`.
pub const NOISE_PROTOCOL_NAME: &[u8; 32] = b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0";
/// WhatsApp's prologue, also the connection header sent before the first frame: `W A 6 3`
/// (protocol 6, binary dictionary version 3).
pub const WA_NOISE_PROLOGUE: [u8; 4] = *b"WA\x06\x03";
/// Length of a Curve25519 public key in handshake messages.
pub const NOISE_PUBLIC_KEY_LEN: usize = 32;
/// Length of an encrypted static key (32-byte key ‖ 16-byte tag).
pub const NOISE_STATIC_CIPHERTEXT_LEN: usize = NOISE_PUBLIC_KEY_LEN + GCM_TAG_LEN;

/// Noise's `SymmetricState` with its `CipherState`: chaining key, handshake hash, current key
/// and nonce.
struct SymmetricState {
    ck: Zeroizing<[u8; 32]>,
    h: [u8; 32],
    /// Until the first `mix_key` this is keyed with the protocol name (as Baileys and
    /// whatsapp-rust do); XX never encrypts before `ee`, so that key is never used.
    cipher: Aes256Gcm,
    /// At most 2 messages per handshake key, so it cannot overflow.
    nonce: u32,
}

impl SymmetricState {
    fn new(prologue: &[u8]) -> SymmetricState {
        let mut state = SymmetricState {
            ck: Zeroizing::new(*NOISE_PROTOCOL_NAME),
            h: *NOISE_PROTOCOL_NAME,
            cipher: Aes256Gcm::new(NOISE_PROTOCOL_NAME.into()),
            nonce: 0,
        };
        state.mix_hash(prologue);
        state
    }

    fn mix_hash(&mut self, data: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.h);
        hasher.update(data);
        self.h = hasher.finalize().into();
    }

    /// HKDF(salt = ck, ikm) → 64 bytes: the new `ck` and the new key.
    fn expand(&self, input_key_material: &[u8]) -> Zeroizing<[u8; 64]> {
        let mut okm = Zeroizing::new([0u8; 64]);
        Hkdf::<Sha256>::new(Some(self.ck.as_slice()), input_key_material)
            .expand(&[], okm.as_mut_slice())
            .expect("64 bytes is within HKDF-SHA256's output limit");
        okm
    }

    fn mix_key(&mut self, input_key_material: &[u8]) {
        let okm = self.expand(input_key_material);
        self.ck.copy_from_slice(&okm[..32]);
        self.cipher = Aes256Gcm::new(okm[32..].into());
        self.nonce = 0;
    }

    fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let ciphertext = gcm_seal(&self.cipher, &nonce_bytes(self.nonce), &self.h, plaintext);
        self.nonce += 1;
        self.mix_hash(&ciphertext);
        ciphertext
    }

    fn decrypt_and_hash(
        &mut self,
        ciphertext: &[u8],
        what: &'static str,
    ) -> Result<Vec<u8>, Error> {
        let plaintext = gcm_open(
            &self.cipher,
            &nonce_bytes(self.nonce),
            &self.h,
            ciphertext,
            what,
        )?;
        self.nonce += 1;
        self.mix_hash(ciphertext);
        Ok(plaintext)
    }

    /// HKDF(salt = ck, ikm = empty) → (initiator→responder key, responder→initiator key).
    fn split(self, role: Role) -> NoiseTransport {
        let okm = self.expand(&[]);
        let initiator_to_responder = Aes256Gcm::new(okm[..32].into());
        let responder_to_initiator = Aes256Gcm::new(okm[32..].into());
        let (send, receive) = match role {
            Role::Initiator => (initiator_to_responder, responder_to_initiator),
            Role::Responder => (responder_to_initiator, initiator_to_responder),
        };
        NoiseTransport {
            send: Direction::new(send),
            receive: Direction::new(receive),
            handshake_hash: self.h,
        }
    }
}

#[derive(Clone, Copy)]
enum Role {
    Initiator,
    Responder,
}

/// The 12-byte AES-GCM nonce: 8 zero bytes, then the counter big-endian.
fn nonce_bytes(counter: u32) -> [u8; GCM_NONCE_LEN] {
    let mut nonce = [0u8; GCM_NONCE_LEN];
    nonce[8..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

/// Reads a 32-byte public key, refusing any other length.
fn public_key(bytes: &[u8], what: &'static str) -> Result<[u8; 32], Error> {
    bytes.try_into().map_err(|_| Error::WrongLength {
        what,
        expected: NOISE_PUBLIC_KEY_LEN,
        actual: bytes.len(),
    })
}

/// X25519, refusing a low-order peer key (an all-zero shared secret known to anyone).
fn dh(own: &KeyPair, theirs: &[u8; 32], what: &'static str) -> Result<Zeroizing<[u8; 32]>, Error> {
    let shared = own.shared_secret(theirs);
    if is_all_zero(shared.as_slice()) {
        return Err(Error::NonContributoryKey { what });
    }
    Ok(shared)
}

fn check_static_ciphertext(bytes: &[u8], what: &'static str) -> Result<(), Error> {
    if bytes.len() != NOISE_STATIC_CIPHERTEXT_LEN {
        return Err(Error::WrongLength {
            what,
            expected: NOISE_STATIC_CIPHERTEXT_LEN,
            actual: bytes.len(),
        });
    }
    Ok(())
}

/// Namespace for starting a handshake as the initiator (the client).
#[derive(Debug)]
#[non_exhaustive]
pub struct Initiator;

impl Initiator {
    /// Starts a handshake: mixes `prologue` (normally [`WA_NOISE_PROLOGUE`]) and the ephemeral
    /// public key into the transcript. Returns that public key, for `ClientHello.ephemeral`,
    /// and the state that reads the server's reply.
    ///
    /// `static_key` is the client's long-term Noise key (its public half is sent encrypted in
    /// the last message); `ephemeral` must be fresh for every handshake.
    pub fn start(
        prologue: &[u8],
        static_key: &KeyPair,
        ephemeral: KeyPair,
    ) -> ([u8; 32], InitiatorAwaitingServerHello) {
        let mut state = SymmetricState::new(prologue);
        let ephemeral_public = ephemeral.public_bytes();
        state.mix_hash(&ephemeral_public);
        let awaiting = InitiatorAwaitingServerHello {
            state,
            static_key: static_key.clone(),
            ephemeral,
        };
        (ephemeral_public, awaiting)
    }
}

/// Initiator after sending `e`: reads `ServerHello`.
pub struct InitiatorAwaitingServerHello {
    state: SymmetricState,
    static_key: KeyPair,
    ephemeral: KeyPair,
}

/// What the initiator learnt from `ServerHello`, both authenticated by the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The server's static public key (decrypted).
    pub server_static: [u8; 32],
    /// The decrypted payload: WhatsApp's certificate chain (a `CertChain` protobuf) for
    /// `server_static`, which the caller must verify before finishing.
    pub payload: Vec<u8>,
}

impl InitiatorAwaitingServerHello {
    /// Reads `ServerHello`'s three fields (`e, ee, s, es` and the payload).
    ///
    /// # Errors
    /// [`Error::WrongLength`] for an ephemeral key other than 32 bytes or an encrypted static
    /// other than 48, [`Error::TooShort`] for a payload under 16 bytes,
    /// [`Error::NonContributoryKey`] for a low-order key, [`Error::AeadTagMismatch`] if either
    /// ciphertext does not authenticate. The handshake cannot continue after an error.
    pub fn read_server_hello(
        mut self,
        ephemeral: &[u8],
        static_ciphertext: &[u8],
        payload_ciphertext: &[u8],
    ) -> Result<(ServerHello, InitiatorFinishing), Error> {
        let server_ephemeral = public_key(ephemeral, "server ephemeral key")?;
        check_static_ciphertext(static_ciphertext, "server encrypted static key")?;
        self.state.mix_hash(&server_ephemeral);
        self.state
            .mix_key(dh(&self.ephemeral, &server_ephemeral, "server ephemeral key")?.as_slice());
        let server_static = self
            .state
            .decrypt_and_hash(static_ciphertext, "server static key")?;
        let server_static = public_key(&server_static, "server static key")?;
        self.state
            .mix_key(dh(&self.ephemeral, &server_static, "server static key")?.as_slice());
        let payload = self
            .state
            .decrypt_and_hash(payload_ciphertext, "server hello payload")?;
        let finishing = InitiatorFinishing {
            state: self.state,
            static_key: self.static_key,
            server_ephemeral,
        };
        Ok((
            ServerHello {
                server_static,
                payload,
            },
            finishing,
        ))
    }
}

/// Initiator after a `ServerHello` authenticated: writes `ClientFinish` once the caller has
/// accepted the server's certificate chain (drop it to abandon the handshake).
pub struct InitiatorFinishing {
    state: SymmetricState,
    static_key: KeyPair,
    server_ephemeral: [u8; 32],
}

/// The two encrypted fields of `ClientFinish`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinish {
    /// The client's static public key, encrypted (48 bytes).
    pub static_ciphertext: Vec<u8>,
    /// The encrypted `ClientPayload`.
    pub payload_ciphertext: Vec<u8>,
}

impl InitiatorFinishing {
    /// Writes `ClientFinish` (`s, se` and `client_payload`) and splits into the transport.
    pub fn finish(mut self, client_payload: &[u8]) -> (ClientFinish, NoiseTransport) {
        let static_ciphertext = self.state.encrypt_and_hash(&self.static_key.public_bytes());
        // The server ephemeral passed the low-order check in `ee`; whether a DH output is zero
        // depends only on the peer's point, so `se` cannot be zero either.
        let shared = self.static_key.shared_secret(&self.server_ephemeral);
        self.state.mix_key(shared.as_slice());
        let payload_ciphertext = self.state.encrypt_and_hash(client_payload);
        let finish = ClientFinish {
            static_ciphertext,
            payload_ciphertext,
        };
        (finish, self.state.split(Role::Initiator))
    }
}

/// Namespace for answering a handshake as the responder (the server, e.g. `wa-sim`).
#[derive(Debug)]
#[non_exhaustive]
pub struct Responder;

impl Responder {
    /// Prepares to answer a client: `static_key` is the server's key (its certificate chain is
    /// the payload of `ServerHello`), `ephemeral` must be fresh for every handshake.
    pub fn start(
        prologue: &[u8],
        static_key: &KeyPair,
        ephemeral: KeyPair,
    ) -> ResponderAwaitingHello {
        ResponderAwaitingHello {
            state: SymmetricState::new(prologue),
            static_key: static_key.clone(),
            ephemeral,
        }
    }
}

/// Responder waiting for `ClientHello`.
pub struct ResponderAwaitingHello {
    state: SymmetricState,
    static_key: KeyPair,
    ephemeral: KeyPair,
}

impl ResponderAwaitingHello {
    /// Reads `ClientHello.ephemeral`.
    ///
    /// # Errors
    /// [`Error::WrongLength`] unless it is 32 bytes, [`Error::NonContributoryKey`] for a
    /// low-order key.
    pub fn read_client_hello(
        mut self,
        client_ephemeral: &[u8],
    ) -> Result<ResponderHelloReceived, Error> {
        let client_ephemeral = public_key(client_ephemeral, "client ephemeral key")?;
        // `ee` is computed now so a low-order key fails here, leaving `server_hello` infallible.
        let ephemeral_shared = dh(&self.ephemeral, &client_ephemeral, "client ephemeral key")?;
        self.state.mix_hash(&client_ephemeral);
        Ok(ResponderHelloReceived {
            state: self.state,
            static_key: self.static_key,
            ephemeral: self.ephemeral,
            client_ephemeral,
            ephemeral_shared,
        })
    }
}

/// Responder after `ClientHello`: writes `ServerHello`.
pub struct ResponderHelloReceived {
    state: SymmetricState,
    static_key: KeyPair,
    ephemeral: KeyPair,
    client_ephemeral: [u8; 32],
    ephemeral_shared: Zeroizing<[u8; 32]>,
}

/// The three fields of `ServerHello` as the responder writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHelloOut {
    /// The server's ephemeral public key.
    pub ephemeral: [u8; 32],
    /// The server's static public key, encrypted (48 bytes).
    pub static_ciphertext: Vec<u8>,
    /// The encrypted certificate chain.
    pub payload_ciphertext: Vec<u8>,
}

impl ResponderHelloReceived {
    /// Writes `ServerHello` (`e, ee, s, es`) with `cert_chain_payload` (an encoded `CertChain`
    /// for this static key) as its payload.
    pub fn server_hello(
        mut self,
        cert_chain_payload: &[u8],
    ) -> (ServerHelloOut, ResponderAwaitingFinish) {
        let ephemeral = self.ephemeral.public_bytes();
        self.state.mix_hash(&ephemeral);
        self.state.mix_key(self.ephemeral_shared.as_slice());
        let static_ciphertext = self.state.encrypt_and_hash(&self.static_key.public_bytes());
        // Zero only for a low-order client ephemeral, which `read_client_hello` refused.
        let static_shared = self.static_key.shared_secret(&self.client_ephemeral);
        self.state.mix_key(static_shared.as_slice());
        let payload_ciphertext = self.state.encrypt_and_hash(cert_chain_payload);
        let hello = ServerHelloOut {
            ephemeral,
            static_ciphertext,
            payload_ciphertext,
        };
        let awaiting = ResponderAwaitingFinish {
            state: self.state,
            ephemeral: self.ephemeral,
        };
        (hello, awaiting)
    }
}

/// Responder after `ServerHello`: reads `ClientFinish`.
pub struct ResponderAwaitingFinish {
    state: SymmetricState,
    ephemeral: KeyPair,
}

/// What the responder learnt from `ClientFinish`, both authenticated by the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinishIn {
    /// The client's static public key (its Noise key, which identifies a paired device).
    pub client_static: [u8; 32],
    /// The decrypted `ClientPayload`.
    pub payload: Vec<u8>,
}

impl ResponderAwaitingFinish {
    /// Reads `ClientFinish` (`s, se` and the payload) and splits into the transport.
    ///
    /// # Errors
    /// [`Error::WrongLength`] for an encrypted static other than 48 bytes, [`Error::TooShort`]
    /// for a payload under 16 bytes, [`Error::AeadTagMismatch`] if either does not
    /// authenticate, [`Error::NonContributoryKey`] for a low-order client static key.
    pub fn read_client_finish(
        mut self,
        static_ciphertext: &[u8],
        payload_ciphertext: &[u8],
    ) -> Result<(ClientFinishIn, NoiseTransport), Error> {
        check_static_ciphertext(static_ciphertext, "client encrypted static key")?;
        let client_static = self
            .state
            .decrypt_and_hash(static_ciphertext, "client static key")?;
        let client_static = public_key(&client_static, "client static key")?;
        self.state
            .mix_key(dh(&self.ephemeral, &client_static, "client static key")?.as_slice());
        let payload = self
            .state
            .decrypt_and_hash(payload_ciphertext, "client finish payload")?;
        let client = ClientFinishIn {
            client_static,
            payload,
        };
        Ok((client, self.state.split(Role::Responder)))
    }
}

/// One direction of the transport: its key and the next counter.
struct Direction {
    cipher: Aes256Gcm,
    /// Next counter; a `u64` so that "all 2^32 values used" is representable.
    next: u64,
}

impl Direction {
    fn new(cipher: Aes256Gcm) -> Direction {
        Direction { cipher, next: 0 }
    }

    fn nonce(&self, what: &'static str) -> Result<[u8; GCM_NONCE_LEN], Error> {
        let counter = u32::try_from(self.next).map_err(|_| Error::CounterExhausted { what })?;
        Ok(nonce_bytes(counter))
    }
}

/// The transport after the handshake: encrypts with this side's key and counter, decrypts with
/// the peer's (AES-256-GCM, no associated data). Frames must be decrypted in the order they
/// were sent; the 3-byte length framing is the caller's.
pub struct NoiseTransport {
    send: Direction,
    receive: Direction,
    handshake_hash: [u8; 32],
}

impl NoiseTransport {
    /// Encrypts one frame payload with the next sending counter.
    ///
    /// # Errors
    /// [`Error::CounterExhausted`] after 2^32 frames (the connection must be replaced).
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let nonce = self.send.nonce("noise send counter")?;
        let ciphertext = gcm_seal(&self.send.cipher, &nonce, &[], plaintext);
        self.send.next += 1;
        Ok(ciphertext)
    }

    /// Decrypts the peer's next frame payload (ciphertext ‖ 16-byte tag).
    ///
    /// The counter advances only on success; after an error the connection should be closed.
    ///
    /// # Errors
    /// [`Error::TooShort`] under 16 bytes, [`Error::AeadTagMismatch`] if it does not
    /// authenticate (forged, reordered, or replayed), [`Error::CounterExhausted`] after 2^32.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, Error> {
        let nonce = self.receive.nonce("noise receive counter")?;
        let plaintext = gcm_open(&self.receive.cipher, &nonce, &[], ciphertext, "noise frame")?;
        self.receive.next += 1;
        Ok(plaintext)
    }

    /// The final handshake hash `h`, the same on both sides (a channel binding).
    pub fn handshake_hash(&self) -> [u8; 32] {
        self.handshake_hash
    }

    /// How many frames have been encrypted.
    pub fn frames_sent(&self) -> u64 {
        self.send.next
    }

    /// How many frames have been decrypted.
    pub fn frames_received(&self) -> u64 {
        self.receive.next
    }
}

macro_rules! redacted_debug {
    ($($name:ident),* $(,)?) => {$(
        /// Shows no key material: only the state's name.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}

redacted_debug!(
    InitiatorAwaitingServerHello,
    InitiatorFinishing,
    ResponderAwaitingHello,
    ResponderHelloReceived,
    ResponderAwaitingFinish,
);

impl fmt::Debug for NoiseTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoiseTransport")
            .field("frames_sent", &self.send.next)
            .field("frames_received", &self.receive.next)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "noise_tests.rs"]
mod tests;
