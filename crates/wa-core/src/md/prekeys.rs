//! The companion's side of the server's prekey store (`xmlns=encrypt` iqs): asking how many
//! one-time prekeys are left, uploading a batch, checking the server's digest of what it holds,
//! and rotating the signed prekey. Node builders and parsers only; the session decides when.

use sha1::{Digest as _, Sha1};
use wa_binary::Node;
use wa_crypto::{CryptoRng, RngCore};
use wa_signal::{PreKey, SignedPreKey};

use super::credentials::Credentials;

/// How many prekeys a fresh device uploads.
pub const INITIAL_UPLOAD: u32 = 812;
/// How many a refill tops the server up with.
pub const WANTED_COUNT: u32 = 50;
/// Below this many on the server, the client refills.
pub const MIN_COUNT: u32 = 5;
/// Prekey ids are 3 bytes on the wire.
pub const MAX_PREKEY_ID: u32 = 0x00FF_FFFF;

/// Why a prekey answer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PreKeyError {
    /// A child or attribute is missing or malformed.
    #[error("malformed prekey answer ({0})")]
    Malformed(&'static str),
}

/// `<count/>`: ask how many one-time prekeys the server still holds.
pub fn count_query() -> Node {
    Node::new("count")
}

/// Reads `<count value=N/>` from a result iq.
///
/// # Errors
/// [`PreKeyError::Malformed`].
pub fn parse_count(result: &Node) -> Result<u32, PreKeyError> {
    result
        .child("count")
        .and_then(|c| c.optional_u64("value").ok().flatten())
        .and_then(|v| u32::try_from(v).ok())
        .ok_or(PreKeyError::Malformed("count value"))
}

/// Generates `count` new prekeys with consecutive ids from `creds.next_prekey_id` (wrapping
/// within 1..2^24) and advances the counter.
pub fn generate<R: RngCore + CryptoRng>(
    creds: &mut Credentials,
    count: u32,
    rng: &mut R,
) -> Vec<PreKey> {
    (0..count)
        .map(|_| {
            let id = creds.next_prekey_id;
            creds.next_prekey_id = if id >= MAX_PREKEY_ID { 1 } else { id + 1 };
            PreKey::generate(id, rng)
        })
        .collect()
}

fn id3(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

/// `<skey><id/><value/><signature/></skey>`.
pub fn signed_prekey_node(key: &SignedPreKey) -> Node {
    Node::new("skey").children([
        Node::new("id").bytes(id3(key.id)),
        Node::new("value").bytes(key.key_pair.public_bytes().to_vec()),
        Node::new("signature").bytes(key.signature.to_vec()),
    ])
}

/// The children of the upload iq: registration id, key type, identity, the keys, the signed
/// prekey.
pub fn upload_content(creds: &Credentials, keys: &[PreKey]) -> Vec<Node> {
    vec![
        Node::new("registration").bytes(creds.registration_id.to_be_bytes().to_vec()),
        Node::new("type").bytes(vec![wa_signal::DJB_TYPE]),
        Node::new("identity").bytes(creds.identity.public_bytes().to_vec()),
        Node::new("list").children(keys.iter().map(|k| {
            Node::new("key").children([
                Node::new("id").bytes(id3(k.id)),
                Node::new("value").bytes(k.key_pair.public_bytes().to_vec()),
            ])
        })),
        signed_prekey_node(&creds.signed_prekey),
    ]
}

/// `<digest/>`: ask for the server's digest of our key bundle.
pub fn digest_query() -> Node {
    Node::new("digest")
}

/// The digest WhatsApp computes over a key bundle: SHA-1 of the identity key, the signed
/// prekey, its signature and each listed one-time prekey's public key, in the listed order.
pub fn bundle_digest(
    identity: &[u8; 32],
    signed_prekey: &[u8; 32],
    signature: &[u8; 64],
    prekeys: &[[u8; 32]],
) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(identity);
    h.update(signed_prekey);
    h.update(signature);
    for key in prekeys {
        h.update(key);
    }
    h.finalize().into()
}

/// What the server's digest says it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerDigest {
    /// Registration id.
    pub registration_id: u32,
    /// Identity key.
    pub identity: [u8; 32],
    /// Signed prekey id.
    pub signed_prekey_id: u32,
    /// The one-time prekey ids it holds.
    pub prekey_ids: Vec<u32>,
    /// Its SHA-1 over the bundle.
    pub hash: [u8; 20],
}

/// Most one-time prekey ids a digest may list (the server holds at most a few thousand).
const MAX_DIGEST_IDS: usize = 20_000;

/// Parses the `<digest>` answer. A result without `<digest>` is an error: the server has no
/// bundle for us and the caller re-uploads.
///
/// # Errors
/// [`PreKeyError::Malformed`].
pub fn parse_digest(result: &Node) -> Result<ServerDigest, PreKeyError> {
    let digest = result
        .child("digest")
        .ok_or(PreKeyError::Malformed("no digest"))?;
    let bytes = |tag: &'static str| {
        digest
            .child(tag)
            .and_then(Node::content_bytes)
            .ok_or(PreKeyError::Malformed(tag))
    };
    let registration: [u8; 4] = bytes("registration")?
        .try_into()
        .map_err(|_| PreKeyError::Malformed("registration"))?;
    let identity: [u8; 32] = bytes("identity")?
        .try_into()
        .map_err(|_| PreKeyError::Malformed("identity"))?;
    let hash: [u8; 20] = bytes("hash")?
        .try_into()
        .map_err(|_| PreKeyError::Malformed("hash"))?;
    let signed_prekey_id = digest
        .child("skey")
        .and_then(|s| s.child("id"))
        .and_then(Node::content_bytes)
        .and_then(parse_id3)
        .ok_or(PreKeyError::Malformed("skey id"))?;
    let list = digest.child("list").map(Node::child_nodes).unwrap_or(&[]);
    if list.len() > MAX_DIGEST_IDS {
        return Err(PreKeyError::Malformed("too many ids"));
    }
    let prekey_ids = list
        .iter()
        .map(|n| n.content_bytes().and_then(parse_id3))
        .collect::<Option<Vec<_>>>()
        .ok_or(PreKeyError::Malformed("prekey id"))?;
    Ok(ServerDigest {
        registration_id: u32::from_be_bytes(registration),
        identity,
        signed_prekey_id,
        prekey_ids,
        hash,
    })
}

fn parse_id3(b: &[u8]) -> Option<u32> {
    match b {
        [a, b, c] => Some(u32::from_be_bytes([0, *a, *b, *c])),
        _ => None,
    }
}

/// Checks a server digest against our credentials and the public keys of the prekeys it lists
/// (`lookup` returns `None` for an id we do not have). `false` means: re-upload.
pub fn digest_matches(
    digest: &ServerDigest,
    creds: &Credentials,
    lookup: impl Fn(u32) -> Option<[u8; 32]>,
) -> bool {
    if digest.registration_id != creds.registration_id
        || digest.identity != creds.identity.public_bytes()
        || digest.signed_prekey_id != creds.signed_prekey.id
    {
        return false;
    }
    let Some(keys) = digest
        .prekey_ids
        .iter()
        .map(|&id| lookup(id))
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    bundle_digest(
        &creds.identity.public_bytes(),
        &creds.signed_prekey.key_pair.public_bytes(),
        &creds.signed_prekey.signature,
        &keys,
    ) == digest.hash
}

/// A new signed prekey (next id) and the `<rotate>` node announcing it. The caller replaces
/// `creds.signed_prekey` once the server acknowledged (keeping the old one until then so
/// sessions started against it still open).
pub fn rotate_signed_prekey<R: RngCore + CryptoRng>(
    creds: &Credentials,
    rng: &mut R,
) -> (SignedPreKey, Node) {
    let next_id = if creds.signed_prekey.id >= MAX_PREKEY_ID {
        1
    } else {
        creds.signed_prekey.id + 1
    };
    let key = SignedPreKey::generate(&creds.identity, next_id, rng);
    let node = Node::new("rotate").children([signed_prekey_node(&key)]);
    (key, node)
}
