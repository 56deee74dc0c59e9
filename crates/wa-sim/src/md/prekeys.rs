//! The server's side of Signal prekeys (`xmlns="encrypt"` iqs): how many one-time prekeys the
//! device has left (`count`), the upload of identity, registration id, signed prekey and
//! one-time prekeys (the signed prekey's XEdDSA signature is checked), signed prekey rotation
//! (`rotate`), and the `digest` a client compares with its own keys.

use sha1::{Digest as _, Sha1};
use wa_binary::Node;
use wa_crypto::xeddsa_verify;

use super::registry::{Bundle, Device, PublicKey, SignedPreKey};

/// The key type byte of Curve25519 keys (`<type>`, and the prefix of a serialized public key).
pub const KEY_TYPE: u8 = 5;
/// Most one-time prekeys one upload may carry (Baileys uploads 812 at first).
pub const MAX_UPLOAD: usize = 2_000;
/// Below this many one-time prekeys the server tells the device to upload more (the
/// clients' own floor: Baileys' and whatsmeow's minimum is 5).
pub const PREKEY_LOW: usize = 5;
/// Most devices one key fetch may name.
pub const MAX_FETCH: usize = 500;
/// Most one-time prekeys a device may hold.
pub const MAX_STORED: usize = 10_000;

/// Why an `encrypt` iq is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrekeyError {
    /// A child is missing or has the wrong size.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The identity differs from the one the device registered with.
    #[error("identity key differs from the device's")]
    IdentityChanged,
    /// The signed prekey's signature does not verify under the identity key.
    #[error("signed prekey signature does not verify")]
    BadSignature,
    /// Too many keys.
    #[error("too many prekeys ({0})")]
    TooMany(usize),
}

/// What an upload carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// The registration id.
    pub registration_id: u32,
    /// The identity key.
    pub identity: [u8; 32],
    /// One-time prekeys, by id.
    pub prekeys: Vec<(u32, [u8; 32])>,
    /// The signed prekey.
    pub signed_prekey: SignedPreKey,
}

fn bytes_of<'n>(node: &'n Node, tag: &'static str) -> Result<&'n [u8], PrekeyError> {
    node.child(tag)
        .and_then(Node::content_bytes)
        .ok_or(PrekeyError::Malformed(tag))
}

fn key_of(node: &Node, tag: &'static str) -> Result<[u8; 32], PrekeyError> {
    let bytes = bytes_of(node, tag)?;
    // Some clients send the serialized form (0x05 ‖ key).
    let bytes = match bytes {
        [KEY_TYPE, rest @ ..] if rest.len() == 32 => rest,
        other => other,
    };
    bytes.try_into().map_err(|_| PrekeyError::Malformed(tag))
}

fn big_endian(node: &Node, tag: &'static str, len: usize) -> Result<u32, PrekeyError> {
    let bytes = bytes_of(node, tag)?;
    if bytes.len() != len {
        return Err(PrekeyError::Malformed(tag));
    }
    Ok(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

/// Reads and checks a `<skey>` (id, value, signature by `identity`).
pub fn parse_signed_prekey(skey: &Node, identity: &[u8; 32]) -> Result<SignedPreKey, PrekeyError> {
    let id = big_endian(skey, "id", 3)?;
    let public = key_of(skey, "value")?;
    let signature = bytes_of(skey, "signature")?;
    if signature.len() != 64 {
        return Err(PrekeyError::Malformed("signature"));
    }
    let mut serialized = [0u8; 33];
    serialized[0] = KEY_TYPE;
    serialized[1..].copy_from_slice(&public);
    xeddsa_verify(identity, &serialized, signature).map_err(|_| PrekeyError::BadSignature)?;
    Ok(SignedPreKey {
        id,
        public: PublicKey(public),
        signature: signature.to_vec(),
    })
}

/// Reads an upload iq's children.
pub fn parse_upload(iq: &Node) -> Result<Upload, PrekeyError> {
    let registration_id = big_endian(iq, "registration", 4)?;
    if bytes_of(iq, "type")? != [KEY_TYPE] {
        return Err(PrekeyError::Malformed("type"));
    }
    let identity = key_of(iq, "identity")?;
    let list = iq.child("list").ok_or(PrekeyError::Malformed("list"))?;
    let count = list.child_nodes().len();
    if count > MAX_UPLOAD {
        return Err(PrekeyError::TooMany(count));
    }
    let prekeys = list
        .children_named("key")
        .map(|key| Ok((big_endian(key, "id", 3)?, key_of(key, "value")?)))
        .collect::<Result<Vec<_>, PrekeyError>>()?;
    let skey = iq.child("skey").ok_or(PrekeyError::Malformed("skey"))?;
    let signed_prekey = parse_signed_prekey(skey, &identity)?;
    Ok(Upload {
        registration_id,
        identity,
        prekeys,
        signed_prekey,
    })
}

/// Applies an upload to the device's entry.
pub fn apply_upload(device: &mut Device, upload: Upload) -> Result<(), PrekeyError> {
    if upload.identity != device.identity.0 {
        return Err(PrekeyError::IdentityChanged);
    }
    let total = device.prekeys.len() + upload.prekeys.len();
    if total > MAX_STORED {
        return Err(PrekeyError::TooMany(total));
    }
    device.registration_id = upload.registration_id;
    device.signed_prekey = Some(upload.signed_prekey);
    for (id, key) in upload.prekeys {
        device.prekeys.insert(id, PublicKey(key));
    }
    Ok(())
}

/// The digest hash: SHA-1 over identity ‖ signed prekey ‖ its signature ‖ every stored one-time
/// prekey in id order. A client recomputes it from its own keys; a mismatch means re-upload.
pub fn digest_hash(device: &Device) -> Option<[u8; 20]> {
    let signed = device.signed_prekey.as_ref()?;
    let mut sha = Sha1::new();
    sha.update(device.identity.0);
    sha.update(signed.public.0);
    sha.update(&signed.signature);
    for key in device.prekeys.values() {
        sha.update(key.0);
    }
    Some(sha.finalize().into())
}

fn three_bytes(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

/// The `<skey>` node of a signed prekey.
pub fn skey_node(signed: &SignedPreKey) -> Node {
    Node::new("skey").children([
        Node::new("id").bytes(three_bytes(signed.id)),
        Node::new("value").bytes(signed.public.0.to_vec()),
        Node::new("signature").bytes(signed.signature.clone()),
    ])
}

/// The `<digest>` answer, or `None` when the device uploaded nothing yet (the server then
/// answers with an error and the client uploads again).
pub fn digest_node(device: &Device) -> Option<Node> {
    let hash = digest_hash(device)?;
    let signed = device.signed_prekey.as_ref()?;
    Some(
        Node::new("digest").children([
            Node::new("registration").bytes(device.registration_id.to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![KEY_TYPE]),
            Node::new("identity").bytes(device.identity.0.to_vec()),
            skey_node(signed),
            Node::new("list").children(
                device
                    .prekeys
                    .keys()
                    .map(|id| Node::new("id").bytes(three_bytes(*id))),
            ),
            Node::new("hash").bytes(hash.to_vec()),
        ]),
    )
}

/// Answers a key fetch (`<iq xmlns="encrypt" type="get"><key><user jid=../>..</key></iq>`):
/// a `<list>` with one `<user>` per JID asked, carrying its bundle (registration id, type,
/// identity, signed prekey and, while any is left, one one-time prekey, now spent) or a 404
/// error. `bundle` resolves a JID and spends the prekey. `None` for more than [`MAX_FETCH`]
/// users.
pub fn key_fetch(iq: &Node, mut bundle: impl FnMut(&str) -> Option<Bundle>) -> Option<Node> {
    let users: Vec<&str> = iq
        .child("key")?
        .children_named("user")
        .filter_map(|u| u.attrs.get("jid"))
        .collect();
    if users.len() > MAX_FETCH {
        return None;
    }
    let list = users.into_iter().map(|jid| {
        let user = Node::new("user").attr("jid", jid);
        match bundle(jid) {
            Some(found) => {
                let mut children = vec![
                    Node::new("registration").bytes(found.registration_id.to_be_bytes().to_vec()),
                    Node::new("type").bytes(vec![KEY_TYPE]),
                    Node::new("identity").bytes(found.identity.to_vec()),
                    skey_node(&found.signed_prekey),
                ];
                if let Some((id, key)) = found.prekey {
                    children.push(Node::new("key").children([
                        Node::new("id").bytes(three_bytes(id)),
                        Node::new("value").bytes(key.to_vec()),
                    ]));
                }
                user.children(children)
            }
            None => user.children([Node::new("error")
                .attr("code", 404)
                .attr("text", "item-not-found")]),
        }
    });
    Some(Node::new("list").children(list.collect::<Vec<_>>()))
}
