//! The version-3 wire formats WhatsApp uses, its message kinds and its plaintext padding.
//!
//! Every message starts with one version byte, `(3 << 4) | 3` = 0x33 (current and minimum
//! version 3); the protobuf (package `signal` in `wa-proto`) follows. A SignalMessage ends with
//! an 8-byte truncated HMAC-SHA256, a SenderKeyMessage with a 64-byte XEdDSA signature.

use prost::Message as _;
use wa_crypto::{
    CryptoRng, HmacSha256, RngCore, XEDDSA_SIGNATURE_LEN, aes256_cbc_decrypt_authenticated,
    xeddsa_verify,
};

use crate::pbscan::SignalMessageFields;
pub(crate) use crate::seal::{PreKeyHeader, SealHeader, seal};
use wa_proto::prost;
use wa_proto::signal as pb;
use zeroize::Zeroizing;

use crate::error::{Error, Result, malformed};
use crate::keys::PublicKey;
use crate::session::MessageKeys;

/// The version byte of every message: version 3, minimum version 3.
pub const VERSION_BYTE: u8 = 0x33;
/// Length of a SignalMessage's truncated MAC.
pub const MAC_LEN: usize = 8;

/// The three kinds of encrypted payload in WhatsApp's `<enc type=…>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `pkmsg`: a PreKeySignalMessage (sets up a session).
    PreKey,
    /// `msg`: a SignalMessage in an existing session.
    Whisper,
    /// `skmsg`: a SenderKeyMessage (groups).
    SenderKey,
}

impl MessageKind {
    /// The `type` attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::PreKey => "pkmsg",
            MessageKind::Whisper => "msg",
            MessageKind::SenderKey => "skmsg",
        }
    }

    /// Parses the `type` attribute's value.
    pub fn from_attr(value: &str) -> Option<MessageKind> {
        match value {
            "pkmsg" => Some(MessageKind::PreKey),
            "msg" => Some(MessageKind::Whisper),
            "skmsg" => Some(MessageKind::SenderKey),
            _ => None,
        }
    }
}

fn check_version(bytes: &[u8], what: &'static str, min_len: usize) -> Result<()> {
    let Some(&version) = bytes.first() else {
        return Err(malformed(what, "empty"));
    };
    // The high nibble is the message's version; only 3 is spoken (2 is long gone, 4 is PQ Signal).
    if version >> 4 != 3 {
        return Err(Error::UnsupportedVersion { what, version });
    }
    if bytes.len() < min_len {
        return Err(malformed(what, "too short"));
    }
    Ok(())
}

fn required<T>(field: Option<T>, what: &'static str, reason: &'static str) -> Result<T> {
    field.ok_or_else(|| Error::Malformed { what, reason })
}

/// A parsed SignalMessage (`msg`). Its MAC is checked by the session, which knows the keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalMessage {
    /// The sender's ratchet key.
    pub ratchet_key: PublicKey,
    /// Index in the sender's chain.
    pub counter: u32,
    /// Length of the sender's previous chain.
    pub previous_counter: u32,
    /// AES-256-CBC ciphertext.
    pub ciphertext: Vec<u8>,
    /// The whole message as received (version byte, protobuf, MAC).
    pub serialized: Vec<u8>,
}

impl SignalMessage {
    /// Parses a framed SignalMessage.
    pub fn parse(bytes: &[u8]) -> Result<SignalMessage> {
        let view = SignalMessageRef::parse(bytes)?;
        Ok(SignalMessage {
            ratchet_key: view.ratchet_key,
            counter: view.counter,
            previous_counter: view.previous_counter,
            ciphertext: view.ciphertext.to_vec(),
            serialized: bytes.to_vec(),
        })
    }

    /// The message as decryption reads it: read again from `serialized`, the bytes the MAC
    /// covers, so the ciphertext decrypted is the one authenticated, in place.
    pub(crate) fn view(&self) -> Result<SignalMessageRef<'_>> {
        SignalMessageRef::parse(&self.serialized)
    }
}

/// A SignalMessage read in place: its ciphertext and MAC'd bytes borrowed from the input, so
/// decrypting a `msg` copies nothing before the plaintext is written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SignalMessageRef<'a> {
    pub(crate) ratchet_key: PublicKey,
    pub(crate) counter: u32,
    pub(crate) previous_counter: u32,
    pub(crate) ciphertext: &'a [u8],
    /// The whole framed message (version byte, protobuf, MAC).
    pub(crate) serialized: &'a [u8],
}

impl<'a> SignalMessageRef<'a> {
    const WHAT: &'static str = "SignalMessage";

    /// Parses a framed SignalMessage; the same acceptance as [`SignalMessage::parse`] always had
    /// (prost's, see [`crate::pbscan`]).
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<SignalMessageRef<'a>> {
        check_version(bytes, Self::WHAT, 1 + MAC_LEN)?;
        let body = &bytes[1..bytes.len() - MAC_LEN];
        let msg =
            SignalMessageFields::read(body).map_err(|_| malformed(Self::WHAT, "bad protobuf"))?;
        Ok(SignalMessageRef {
            ratchet_key: PublicKey::from_wire(
                required(msg.ratchet_key, Self::WHAT, "no ratchet key")?,
                Self::WHAT,
            )?,
            counter: required(msg.counter, Self::WHAT, "no counter")?,
            previous_counter: msg.previous_counter.unwrap_or(0),
            ciphertext: required(msg.ciphertext, Self::WHAT, "no ciphertext")?,
            serialized: bytes,
        })
    }

    /// Checks the MAC (constant time) over the whole message, then returns the plaintext: the
    /// MAC and the AES-CBC decryption run together over the ciphertext a few blocks at a time
    /// (see [`wa_crypto::aes256_cbc_decrypt_authenticated`]), nothing decrypted being used
    /// before the tag has verified. A wrong MAC is [`Error::BadMac`].
    pub(crate) fn open(
        &self,
        keys: &MessageKeys,
        sender_identity: &PublicKey,
        receiver_identity: &PublicKey,
    ) -> Result<Vec<u8>> {
        let (signed, tag) = self.serialized.split_at(self.serialized.len() - MAC_LEN);
        // The ciphertext is a slice of `signed` (the parser borrows it from there): its place
        // splits the MAC'd bytes into what comes before it, it, and what follows.
        let start = (self.ciphertext.as_ptr() as usize).wrapping_sub(signed.as_ptr() as usize);
        let end = start.wrapping_add(self.ciphertext.len());
        let inside = signed
            .get(start..end)
            .is_some_and(|found| core::ptr::eq(found, self.ciphertext));
        if !inside {
            return Err(malformed(Self::WHAT, "ciphertext outside the message"));
        }
        let (before, after) = (&signed[..start], &signed[end..]);
        let mut mac = HmacSha256::new(&keys.mac);
        mac.update(&sender_identity.to_wire());
        mac.update(&receiver_identity.to_wire());
        mac.update(before);
        aes256_cbc_decrypt_authenticated(
            &keys.cipher,
            &keys.iv,
            self.ciphertext,
            mac,
            after,
            tag,
            "SignalMessage ciphertext",
        )
        .map_err(|e| match e {
            wa_crypto::Error::HmacMismatch { .. } => Error::BadMac,
            e => Error::Crypto(e),
        })
    }
}

/// A parsed PreKeySignalMessage (`pkmsg`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeySignalMessage {
    /// The sender's registration id.
    pub registration_id: u32,
    /// The one-time prekey used, if any.
    pub pre_key_id: Option<u32>,
    /// The signed prekey used.
    pub signed_pre_key_id: u32,
    /// The sender's base (ephemeral) key.
    pub base_key: PublicKey,
    /// The sender's identity key.
    pub identity_key: PublicKey,
    /// The SignalMessage inside.
    pub message: SignalMessage,
}

impl PreKeySignalMessage {
    const WHAT: &'static str = "PreKeySignalMessage";

    /// Parses a framed PreKeySignalMessage (and the SignalMessage inside it).
    pub fn parse(bytes: &[u8]) -> Result<PreKeySignalMessage> {
        check_version(bytes, Self::WHAT, 1)?;
        let msg = pb::PreKeySignalMessage::decode(&bytes[1..])
            .map_err(|_| malformed(Self::WHAT, "bad protobuf"))?;
        Ok(PreKeySignalMessage {
            registration_id: msg.registration_id.unwrap_or(0),
            pre_key_id: msg.pre_key_id,
            signed_pre_key_id: required(msg.signed_pre_key_id, Self::WHAT, "no signed prekey id")?,
            base_key: PublicKey::from_wire(
                &required(msg.base_key, Self::WHAT, "no base key")?,
                Self::WHAT,
            )?,
            identity_key: PublicKey::from_wire(
                &required(msg.identity_key, Self::WHAT, "no identity key")?,
                Self::WHAT,
            )?,
            message: SignalMessage::parse(&required(msg.message, Self::WHAT, "no message")?)?,
        })
    }
}

/// A parsed SenderKeyMessage (`skmsg`). Its signature is checked against the sender's signing
/// key from the sender-key state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderKeyMessage {
    /// The sender key's id.
    pub key_id: u32,
    /// The message's iteration in the sender's chain.
    pub iteration: u32,
    /// AES-256-CBC ciphertext.
    pub ciphertext: Vec<u8>,
    /// The whole message as received.
    pub serialized: Vec<u8>,
}

impl SenderKeyMessage {
    const WHAT: &'static str = "SenderKeyMessage";

    /// Parses a framed SenderKeyMessage.
    pub fn parse(bytes: &[u8]) -> Result<SenderKeyMessage> {
        check_version(bytes, Self::WHAT, 1 + XEDDSA_SIGNATURE_LEN)?;
        let body = &bytes[1..bytes.len() - XEDDSA_SIGNATURE_LEN];
        let msg = pb::SenderKeyMessage::decode(body)
            .map_err(|_| malformed(Self::WHAT, "bad protobuf"))?;
        Ok(SenderKeyMessage {
            key_id: required(msg.id, Self::WHAT, "no key id")?,
            iteration: required(msg.iteration, Self::WHAT, "no iteration")?,
            ciphertext: required(msg.ciphertext, Self::WHAT, "no ciphertext")?,
            serialized: bytes.to_vec(),
        })
    }

    /// Checks the XEdDSA signature over everything before it.
    pub(crate) fn verify_signature(&self, signing_key: &PublicKey) -> Result<()> {
        let (signed, signature) = self
            .serialized
            .split_at(self.serialized.len() - XEDDSA_SIGNATURE_LEN);
        xeddsa_verify(&signing_key.0, signed, signature)
            .map_err(|_| Error::BadSignature { what: Self::WHAT })
    }

    /// The framed message before its signature.
    pub(crate) fn unsigned(key_id: u32, iteration: u32, ciphertext: Vec<u8>) -> Vec<u8> {
        let body = pb::SenderKeyMessage {
            id: Some(key_id),
            iteration: Some(iteration),
            ciphertext: Some(ciphertext),
        };
        let mut out = Vec::with_capacity(body.encoded_len() + 1 + XEDDSA_SIGNATURE_LEN);
        out.push(VERSION_BYTE);
        body.encode(&mut out).expect("a Vec grows");
        out
    }
}

/// A SenderKeyDistributionMessage: what a group sender sends each member (inside a 1:1 message)
/// so they can decrypt its `skmsg`s.
#[derive(Clone, PartialEq, Eq)]
pub struct SenderKeyDistributionMessage {
    /// The sender key's id.
    pub key_id: u32,
    /// The chain's iteration at `chain_key`.
    pub iteration: u32,
    /// The chain key at `iteration` (secret).
    pub chain_key: Zeroizing<[u8; 32]>,
    /// The sender's signing public key.
    pub signing_key: PublicKey,
}

impl core::fmt::Debug for SenderKeyDistributionMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SenderKeyDistributionMessage")
            .field("key_id", &self.key_id)
            .field("iteration", &self.iteration)
            .field("chain_key", &"<redacted>")
            .field("signing_key", &self.signing_key)
            .finish()
    }
}

impl SenderKeyDistributionMessage {
    const WHAT: &'static str = "SenderKeyDistributionMessage";

    /// Parses a framed SenderKeyDistributionMessage. The signing key may come with its type byte
    /// (33 bytes) or bare (32).
    pub fn parse(bytes: &[u8]) -> Result<SenderKeyDistributionMessage> {
        check_version(bytes, Self::WHAT, 1)?;
        let mut msg = pb::SenderKeyDistributionMessage::decode(&bytes[1..])
            .map_err(|_| malformed(Self::WHAT, "bad protobuf"))?;
        let chain = Zeroizing::new(required(msg.chain_key.take(), Self::WHAT, "no chain key")?);
        let signing = required(msg.signing_key, Self::WHAT, "no signing key")?;
        let signing_key = if signing.len() == 32 {
            PublicKey::from_bare(&signing, Self::WHAT)?
        } else {
            PublicKey::from_wire(&signing, Self::WHAT)?
        };
        Ok(SenderKeyDistributionMessage {
            key_id: required(msg.id, Self::WHAT, "no key id")?,
            iteration: required(msg.iteration, Self::WHAT, "no iteration")?,
            chain_key: Zeroizing::new(
                chain
                    .as_slice()
                    .try_into()
                    .map_err(|_| malformed(Self::WHAT, "chain key is not 32 bytes"))?,
            ),
            signing_key,
        })
    }

    /// The framed message (signing key in its 33-byte form).
    pub fn serialize(&self) -> Vec<u8> {
        let body = pb::SenderKeyDistributionMessage {
            id: Some(self.key_id),
            iteration: Some(self.iteration),
            chain_key: Some(self.chain_key.to_vec()),
            signing_key: Some(self.signing_key.to_wire().to_vec()),
        };
        let mut out = Vec::with_capacity(body.encoded_len() + 1);
        out.push(VERSION_BYTE);
        body.encode(&mut out).expect("a Vec grows");
        out
    }
}

/// The most padding bytes a message carries.
pub const MAX_PADDING: usize = 16;

/// WhatsApp's padding of a plaintext before encryption: 1 to [`MAX_PADDING`] bytes (a random
/// count, uniform), each holding the count, as Baileys 7 and WhatsApp Web write it.
pub fn pad<R: RngCore + CryptoRng>(plaintext: &[u8], rng: &mut R) -> Vec<u8> {
    let count = (rng.next_u32() & 0x0F) as u8 + 1;
    let mut out = Vec::with_capacity(plaintext.len() + usize::from(count));
    out.extend_from_slice(plaintext);
    out.resize(plaintext.len() + usize::from(count), count);
    out
}

/// Removes WhatsApp's padding, strictly: the last byte is the count, from 1 to [`MAX_PADDING`],
/// there are that many bytes, and every one of them holds the count. Anything else is
/// [`Error::BadPadding`]: no sender writes it, so a plaintext that has it was not made by a
/// WhatsApp client (Baileys only checks the count against the length; refusing more costs
/// nothing and leaves no room for a second reading of the same bytes).
pub fn unpad(padded: &[u8]) -> Result<&[u8]> {
    let Some(&count) = padded.last() else {
        return Err(Error::BadPadding);
    };
    let count = usize::from(count);
    if count == 0 || count > MAX_PADDING || count > padded.len() {
        return Err(Error::BadPadding);
    }
    let (message, padding) = padded.split_at(padded.len() - count);
    if padding.iter().any(|&b| usize::from(b) != count) {
        return Err(Error::BadPadding);
    }
    Ok(message)
}
