//! Keys: public keys in their wire form, prekeys, signed prekeys, registration ids, key bundles.

use core::fmt;

use wa_crypto::{
    CryptoRng, KeyPair, RngCore, XEDDSA_SIGNATURE_LEN, xeddsa_sign_rng, xeddsa_verify,
};

use crate::error::{Error, Result, malformed};

/// The type byte Signal puts before a Curve25519 public key ("DJB").
pub const DJB_TYPE: u8 = 0x05;

/// A Curve25519 public key. On the wire it is 33 bytes: [`DJB_TYPE`] then the 32-byte key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The 33-byte wire form.
    pub fn to_wire(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[0] = DJB_TYPE;
        out[1..].copy_from_slice(&self.0);
        out
    }

    /// Parses the 33-byte wire form (type byte 0x05).
    pub fn from_wire(bytes: &[u8], what: &'static str) -> Result<PublicKey> {
        match bytes {
            [DJB_TYPE, key @ ..] if key.len() == 32 => {
                Ok(PublicKey(key.try_into().expect("32 bytes")))
            }
            [_, ..] if bytes.len() == 33 => Err(malformed(what, "unknown key type byte")),
            _ => Err(malformed(what, "public key is not 33 bytes")),
        }
    }

    /// Parses a bare 32-byte key (as WhatsApp's prekey nodes carry it).
    pub fn from_bare(bytes: &[u8], what: &'static str) -> Result<PublicKey> {
        bytes
            .try_into()
            .map(PublicKey)
            .map_err(|_| malformed(what, "public key is not 32 bytes"))
    }

    /// The public half of a key pair.
    pub fn of(pair: &KeyPair) -> PublicKey {
        PublicKey(pair.public_bytes())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// A fresh registration id: 14 random bits, never 0 (as Signal clients make them).
pub fn generate_registration_id<R: RngCore + CryptoRng>(rng: &mut R) -> u32 {
    loop {
        let id = rng.next_u32() & 0x3FFF;
        if id != 0 {
            return id;
        }
    }
}

/// A one-time prekey: an id and a key pair (the private half zeroized on drop, redacted in Debug).
#[derive(Clone, Debug)]
pub struct PreKey {
    /// The id WhatsApp's server hands out with the public key (below 2^24).
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPair,
}

impl PreKey {
    /// A fresh prekey with this id.
    pub fn generate<R: RngCore + CryptoRng>(id: u32, rng: &mut R) -> PreKey {
        PreKey {
            id,
            key_pair: KeyPair::generate(rng),
        }
    }
}

/// A signed prekey: its key pair and the identity key's XEdDSA signature over its wire form.
#[derive(Clone, Debug)]
pub struct SignedPreKey {
    /// Its id (below 2^24).
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPair,
    /// XEdDSA signature by the identity key over the 33-byte public key.
    pub signature: [u8; XEDDSA_SIGNATURE_LEN],
}

impl SignedPreKey {
    /// A fresh signed prekey, signed by `identity`.
    pub fn generate<R: RngCore + CryptoRng>(
        identity: &KeyPair,
        id: u32,
        rng: &mut R,
    ) -> SignedPreKey {
        let key_pair = KeyPair::generate(rng);
        let signature = xeddsa_sign_rng(identity, &PublicKey::of(&key_pair).to_wire(), rng);
        SignedPreKey {
            id,
            key_pair,
            signature,
        }
    }
}

/// What a peer publishes so that others can start sessions with it (the server's prekey bundle).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// The peer's registration id.
    pub registration_id: u32,
    /// The peer's identity key.
    pub identity_key: PublicKey,
    /// The signed prekey's id.
    pub signed_pre_key_id: u32,
    /// The signed prekey.
    pub signed_pre_key: PublicKey,
    /// The identity key's signature over the signed prekey's wire form.
    pub signed_pre_key_signature: [u8; XEDDSA_SIGNATURE_LEN],
    /// A one-time prekey (id, key), when the server had one left.
    pub pre_key: Option<(u32, PublicKey)>,
}

impl PreKeyBundle {
    /// Builds a bundle from the byte fields of WhatsApp's `<key>` node: a 4-byte big-endian
    /// registration id, a 32-byte identity key, the signed prekey's 3-byte big-endian id, 32-byte
    /// key and 64-byte signature, and optionally a one-time prekey's 3-byte id and 32-byte key.
    /// Checks every length; does not verify the signature (see [`PreKeyBundle::verify`]).
    pub fn from_wire_fields(
        registration_id: &[u8],
        identity_key: &[u8],
        signed_pre_key_id: &[u8],
        signed_pre_key: &[u8],
        signature: &[u8],
        pre_key: Option<(&[u8], &[u8])>,
    ) -> Result<PreKeyBundle> {
        const WHAT: &str = "prekey bundle";
        let registration_id: [u8; 4] = registration_id
            .try_into()
            .map_err(|_| malformed(WHAT, "registration id is not 4 bytes"))?;
        let pre_key = match pre_key {
            Some((id, key)) => Some((key_id(id)?, PublicKey::from_bare(key, WHAT)?)),
            None => None,
        };
        Ok(PreKeyBundle {
            registration_id: u32::from_be_bytes(registration_id),
            identity_key: PublicKey::from_bare(identity_key, WHAT)?,
            signed_pre_key_id: key_id(signed_pre_key_id)?,
            signed_pre_key: PublicKey::from_bare(signed_pre_key, WHAT)?,
            signed_pre_key_signature: signature
                .try_into()
                .map_err(|_| malformed(WHAT, "signature is not 64 bytes"))?,
            pre_key,
        })
    }

    /// Checks the identity key's signature over the signed prekey.
    pub fn verify(&self) -> Result<()> {
        xeddsa_verify(
            &self.identity_key.0,
            &self.signed_pre_key.to_wire(),
            &self.signed_pre_key_signature,
        )
        .map_err(|_| Error::BadSignature {
            what: "signed prekey",
        })
    }
}

/// A 3-byte big-endian key id.
fn key_id(bytes: &[u8]) -> Result<u32> {
    match bytes {
        [a, b, c] => Ok(u32::from_be_bytes([0, *a, *b, *c])),
        _ => Err(malformed("prekey bundle", "key id is not 3 bytes")),
    }
}
