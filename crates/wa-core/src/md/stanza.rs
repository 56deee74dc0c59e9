//! The stanzas of one-to-one messaging, as nodes: the outgoing `message` with one `enc` per
//! device, the incoming `message` (one `enc` for this device), the server's `ack`, receipts
//! (delivery, inactive, sender, read, read-self, played, played-self, retry) and the acks a
//! client owes for what it received. Builders and parsers only; [`super::messenger`] decides
//! when.
//!
//! Every parser takes untrusted nodes: a missing or malformed part is a [`StanzaError`], never a
//! panic.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use wa_binary::Node;
use wa_crypto::{CryptoRng, RngCore};
use wa_signal::MessageKind;

/// The version of the `enc` payload format (`v="2"`).
pub const ENC_VERSION: &str = "2";

/// Incoming `enc` children accepted per message: WhatsApp sends one for 1:1 (two when a
/// sender-key distribution rides along in groups). More is refused before anything is decrypted.
pub const MAX_ENC_PER_MESSAGE: usize = 4;

/// Why an incoming stanza was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StanzaError {
    /// A required attribute or child is missing or malformed.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which stanza.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

fn malformed(what: &'static str, reason: &'static str) -> StanzaError {
    StanzaError::Malformed { what, reason }
}

/// A new message id: `3EB0` and 18 upper-case hex digits from `rng` (the form WhatsApp Web
/// uses; the server only needs ids unique per sender).
pub fn new_message_id<R: RngCore + CryptoRng>(rng: &mut R) -> String {
    let mut bytes = [0u8; 9];
    rng.fill_bytes(&mut bytes);
    let mut id = String::with_capacity(22);
    id.push_str("3EB0");
    for b in bytes {
        id.push_str(&format!("{b:02X}"));
    }
    id
}

/// The participant-list hash (`phash`) of the devices a message went to: `2:` and the standard
/// base64 of the first 6 bytes of SHA-256 over the sorted device JIDs concatenated. The server
/// compares it with its own list and answers a mismatch, so the sender learns its list is stale.
pub fn phash<S: AsRef<str>>(devices: &[S]) -> String {
    let mut sorted: Vec<&str> = devices.iter().map(AsRef::as_ref).collect();
    sorted.sort_unstable();
    let mut hasher = Sha256::new();
    for jid in sorted {
        hasher.update(jid.as_bytes());
    }
    let digest = hasher.finalize();
    format!(
        "2:{}",
        base64::engine::general_purpose::STANDARD.encode(&digest[..6])
    )
}

/// One encrypted copy of a message for one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncPart {
    /// The device JID (`user:device@server`).
    pub device: String,
    /// `pkmsg` or `msg`.
    pub kind: MessageKind,
    /// The Signal ciphertext.
    pub ciphertext: Vec<u8>,
}

/// `<enc v="2" type="pkmsg|msg">ciphertext</enc>`.
pub fn enc_node(kind: MessageKind, ciphertext: &[u8]) -> Node {
    Node::new("enc")
        .attr("v", ENC_VERSION)
        .attr("type", kind.as_str())
        .bytes(ciphertext.to_vec())
}

/// An outgoing message to `to` (a user JID): one `<to jid><enc/></to>` per device under
/// `<participants>`, and `<device-identity>` (our account-signed identity) when any copy is a
/// `pkmsg`, so the receiver can check which account the new session belongs to.
pub fn message_node(
    id: &str,
    to: &str,
    parts: &[EncPart],
    device_identity: Option<&[u8]>,
    phash: Option<&str>,
) -> Node {
    let participants = Node::new("participants").children(parts.iter().map(|p| {
        Node::new("to")
            .attr("jid", &p.device)
            .children([enc_node(p.kind, &p.ciphertext)])
    }));
    let any_pkmsg = parts.iter().any(|p| p.kind == MessageKind::PreKey);
    let mut children = vec![participants];
    if let (true, Some(identity)) = (any_pkmsg, device_identity) {
        children.push(Node::new("device-identity").bytes(identity.to_vec()));
    }
    Node::new("message")
        .attr("id", id)
        .attr("to", to)
        .attr("type", "text")
        .attr_opt("phash", phash)
        .children(children)
}

/// One `enc` of an incoming message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingEnc {
    /// `pkmsg` or `msg` (`skmsg` is a group message and refused here).
    pub kind: MessageKind,
    /// The ciphertext.
    pub ciphertext: Vec<u8>,
}

/// An incoming `message` stanza, parsed (nothing decrypted yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingMessage {
    /// The message id.
    pub id: String,
    /// The sending device (`from`, or `participant` when `from` is a chat).
    pub sender: String,
    /// The chat (`from`), which for our own other devices' messages is our own JID.
    pub from: String,
    /// Where our own other device sent it (`recipient`), when it is one of ours.
    pub recipient: Option<String>,
    /// The server timestamp (`t`, seconds), 0 when absent.
    pub timestamp: u64,
    /// The sender's push name (`notify`).
    pub notify: Option<String>,
    /// The sender's phone-number JID when `from` is a LID (`sender_pn`).
    pub sender_pn: Option<String>,
    /// The sender in its other form (LID or phone number), filled by the messenger from the
    /// checked addressing attributes or the stored map; `None` from [`IncomingMessage::parse`].
    pub sender_alt: Option<String>,
    /// The encrypted copies for this device.
    pub encs: Vec<IncomingEnc>,
}

impl IncomingMessage {
    /// Parses an incoming `<message>`.
    ///
    /// # Errors
    /// [`StanzaError::Malformed`] when the id, sender or every usable `enc` is missing, when an
    /// `enc` has another version or kind, or when there are more than [`MAX_ENC_PER_MESSAGE`].
    pub fn parse(node: &Node) -> Result<IncomingMessage, StanzaError> {
        const WHAT: &str = "message";
        if &*node.tag != "message" {
            return Err(malformed(WHAT, "not a message"));
        }
        let id = node.optional_str("id").ok_or(malformed(WHAT, "no id"))?;
        let from = node
            .optional_str("from")
            .ok_or(malformed(WHAT, "no from"))?;
        let sender = node.optional_str("participant").unwrap_or(from);
        let count = node.children_named("enc").count();
        if count == 0 {
            return Err(malformed(WHAT, "no enc"));
        }
        if count > MAX_ENC_PER_MESSAGE {
            return Err(malformed(WHAT, "too many enc children"));
        }
        let mut encs = Vec::with_capacity(count);
        for enc in node.children_named("enc") {
            if enc.optional_str("v") != Some(ENC_VERSION) {
                return Err(malformed(WHAT, "enc version is not 2"));
            }
            let kind = match enc.optional_str("type").and_then(MessageKind::from_attr) {
                Some(k @ (MessageKind::PreKey | MessageKind::Whisper)) => k,
                Some(MessageKind::SenderKey) => return Err(malformed(WHAT, "skmsg in a 1:1")),
                None => return Err(malformed(WHAT, "unknown enc type")),
            };
            let ciphertext = enc
                .content_bytes()
                .ok_or(malformed(WHAT, "enc without bytes"))?;
            encs.push(IncomingEnc {
                kind,
                ciphertext: ciphertext.to_vec(),
            });
        }
        Ok(IncomingMessage {
            id: id.to_owned(),
            sender: sender.to_owned(),
            from: from.to_owned(),
            recipient: node.optional_str("recipient").map(str::to_owned),
            timestamp: node.optional_u64("t").ok().flatten().unwrap_or(0),
            notify: node.optional_str("notify").map(str::to_owned),
            sender_pn: node.optional_str("sender_pn").map(str::to_owned),
            sender_alt: None,
            encs,
        })
    }
}

/// `<ack class=tag id to=from [participant] [type]>`: what a client owes the server for every
/// `message`, `receipt` and `notification` it took, so the server stops redelivering it.
pub fn ack_for(node: &Node) -> Node {
    let ack = Node::new("ack")
        .attr("class", &*node.tag)
        .attr("id", node.optional_str("id").unwrap_or_default())
        .attr("to", node.optional_str("from").unwrap_or_default());
    let ack = ack.attr_opt("participant", node.optional_str("participant"));
    match node.optional_str("type") {
        // A message's type is its content type; the ack names only a receipt's or a
        // notification's type.
        Some(kind) if &*node.tag != "message" => ack.attr("type", kind),
        _ => ack,
    }
}

/// A delivery receipt for message `id` from `to` (no `type`: delivery is the default).
pub fn delivery_receipt(id: &str, to: &str, participant: Option<&str>) -> Node {
    Node::new("receipt")
        .attr("id", id)
        .attr("to", to)
        .attr_opt("participant", participant)
}

/// The delivery receipt of a device that is not in the foreground: `type="inactive"` (the
/// sender sees the message delivered, but not that we are online).
pub fn inactive_receipt(id: &str, to: &str, participant: Option<&str>) -> Node {
    delivery_receipt(id, to, participant).attr("type", "inactive")
}

/// A read receipt to `to` (the chat) for messages `ids`; `None` for no ids. See
/// [`status_receipt`].
pub fn read_receipt(ids: &[String], to: &str, now_secs: u64) -> Option<Node> {
    status_receipt(StatusKind::Read, ids, to, now_secs)
}

/// What the receiver of a message tells its sender (and its own other devices) after the
/// delivery receipt: the message was read or played. The `-self` forms go to our own devices
/// only; a client whose read receipts are off in its privacy settings sends them instead, so the
/// sender learns nothing while our other devices still clear the chat's unread mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKind {
    /// `read`: seen by the user.
    Read,
    /// `read-self`: read, told to our own devices only.
    ReadSelf,
    /// `played`: a voice note or video message was played (it is read too).
    Played,
    /// `played-self`: played, told to our own devices only.
    PlayedSelf,
}

impl StatusKind {
    /// The receipt's `type` attribute.
    pub fn as_attr(self) -> &'static str {
        match self {
            StatusKind::Read => "read",
            StatusKind::ReadSelf => "read-self",
            StatusKind::Played => "played",
            StatusKind::PlayedSelf => "played-self",
        }
    }
}

/// A `read`/`played` receipt (or its `-self` form) to `to` (the chat) for messages `ids` (the
/// first in `id`, the others in `<list><item id/></list>`), at `now_secs`; `None` for no ids.
pub fn status_receipt(kind: StatusKind, ids: &[String], to: &str, now_secs: u64) -> Option<Node> {
    let (first, rest) = ids.split_first()?;
    let receipt = Node::new("receipt")
        .attr("id", first)
        .attr("to", to)
        .attr("type", kind.as_attr())
        .attr("t", now_secs);
    Some(if rest.is_empty() {
        receipt
    } else {
        receipt.children([
            Node::new("list").children(rest.iter().map(|id| Node::new("item").attr("id", id)))
        ])
    })
}

/// What a retry receipt carries besides the message id: our registration id and, so that the
/// sender can start a fresh session without another fetch, our keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryKeys {
    /// Our registration id.
    pub registration_id: u32,
    /// Our identity public key.
    pub identity: [u8; 32],
    /// A one-time prekey (id, public), if we have one to give.
    pub prekey: Option<(u32, [u8; 32])>,
    /// The signed prekey (id, public, signature).
    pub signed_prekey: (u32, [u8; 32], [u8; 64]),
    /// Our account-signed device identity (`ADVSignedDeviceIdentity`).
    pub device_identity: Vec<u8>,
}

fn three_bytes(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

/// `<receipt type="retry" id to>` with `<retry count id t v="1"/>`, `<registration>` and
/// `<keys>`: we could not decrypt message `id` from `to`; this is attempt `count` (1-based).
pub fn retry_receipt(id: &str, to: &str, count: u32, now_secs: u64, keys: &RetryKeys) -> Node {
    let mut key_children = vec![
        Node::new("type").bytes(vec![wa_signal::DJB_TYPE]),
        Node::new("identity").bytes(keys.identity.to_vec()),
    ];
    if let Some((pid, public)) = keys.prekey {
        key_children.push(Node::new("key").children([
            Node::new("id").bytes(three_bytes(pid)),
            Node::new("value").bytes(public.to_vec()),
        ]));
    }
    let (sid, spublic, signature) = &keys.signed_prekey;
    key_children.push(Node::new("skey").children([
        Node::new("id").bytes(three_bytes(*sid)),
        Node::new("value").bytes(spublic.to_vec()),
        Node::new("signature").bytes(signature.to_vec()),
    ]));
    key_children.push(Node::new("device-identity").bytes(keys.device_identity.clone()));
    Node::new("receipt")
        .attr("id", id)
        .attr("to", to)
        .attr("type", "retry")
        .children([
            Node::new("retry")
                .attr("count", count)
                .attr("id", id)
                .attr("t", now_secs)
                .attr("v", "1"),
            Node::new("registration").bytes(keys.registration_id.to_be_bytes().to_vec()),
            Node::new("keys").children(key_children),
        ])
}

/// A receipt's kind.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiptKind {
    /// Delivered to a device that is in the foreground (no `type`).
    Delivery,
    /// Delivered to a device that is not in the foreground (`inactive`): what Baileys sends
    /// unless it is marked online, and what a phone sends while the app is closed. Still a
    /// delivery ([`ReceiptKind::is_delivery`]); kept apart because WhatsApp shows no "online"
    /// for it.
    Inactive,
    /// One of our own other devices got a message we sent (`sender`).
    Sender,
    /// Read (`read`).
    Read,
    /// Read on one of our own devices whose read receipts are off (`read-self`): only our own
    /// devices get it, `from` names our device and the chat is the receipt's `recipient`.
    ReadSelf,
    /// A voice note or video message was played (`played`; it is read as well).
    Played,
    /// Played on one of our own devices whose read receipts are off (`played-self`).
    PlayedSelf,
    /// The receiver could not decrypt and asks again (`retry`).
    Retry {
        /// Attempt number from `<retry count>`.
        count: u32,
        /// The receiver's registration id, when given.
        registration_id: Option<u32>,
    },
    /// Any other type, as given.
    Other(String),
}

impl ReceiptKind {
    /// The message reached a device: a plain or an `inactive` delivery receipt.
    pub fn is_delivery(&self) -> bool {
        matches!(self, ReceiptKind::Delivery | ReceiptKind::Inactive)
    }

    /// The message was read (or played, which implies it), by the peer or on one of our own
    /// devices.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            ReceiptKind::Read
                | ReceiptKind::ReadSelf
                | ReceiptKind::Played
                | ReceiptKind::PlayedSelf
        )
    }
}

/// An incoming `receipt`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The message ids (the `id` and any `<list><item id>`).
    pub ids: Vec<String>,
    /// Who sent the receipt (`from`).
    pub from: String,
    /// The device that sent it (`participant`, else `from`).
    pub sender: String,
    /// The chat, when one of our own devices sent the receipt (`recipient`: the peer whose
    /// message it read).
    pub recipient: Option<String>,
    /// What it says.
    pub kind: ReceiptKind,
}

/// Receipts acknowledged in one stanza at most (`<list>` items), a bound on what one untrusted
/// stanza can make us look up.
pub const MAX_RECEIPT_IDS: usize = 256;

impl Receipt {
    /// Parses an incoming `<receipt>`.
    ///
    /// # Errors
    /// [`StanzaError::Malformed`] without id or from, or with too many listed ids.
    pub fn parse(node: &Node) -> Result<Receipt, StanzaError> {
        const WHAT: &str = "receipt";
        if &*node.tag != "receipt" {
            return Err(malformed(WHAT, "not a receipt"));
        }
        let id = node.optional_str("id").ok_or(malformed(WHAT, "no id"))?;
        let from = node
            .optional_str("from")
            .ok_or(malformed(WHAT, "no from"))?;
        let mut ids = vec![id.to_owned()];
        if let Some(list) = node.child("list") {
            for item in list.children_named("item") {
                if ids.len() >= MAX_RECEIPT_IDS {
                    return Err(malformed(WHAT, "too many ids"));
                }
                if let Some(item_id) = item.optional_str("id") {
                    ids.push(item_id.to_owned());
                }
            }
        }
        let kind = match node.optional_str("type") {
            None | Some("") => ReceiptKind::Delivery,
            Some("inactive") => ReceiptKind::Inactive,
            Some("sender") => ReceiptKind::Sender,
            Some("read") => ReceiptKind::Read,
            Some("read-self") => ReceiptKind::ReadSelf,
            Some("played") => ReceiptKind::Played,
            Some("played-self") => ReceiptKind::PlayedSelf,
            Some("retry") => {
                let count = node
                    .child("retry")
                    .and_then(|r| r.optional_u64("count").ok().flatten())
                    .and_then(|c| u32::try_from(c).ok())
                    .unwrap_or(1);
                let registration_id = node
                    .child("registration")
                    .and_then(Node::content_bytes)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_be_bytes);
                ReceiptKind::Retry {
                    count,
                    registration_id,
                }
            }
            Some(other) => ReceiptKind::Other(other.to_owned()),
        };
        Ok(Receipt {
            ids,
            from: from.to_owned(),
            sender: node.optional_str("participant").unwrap_or(from).to_owned(),
            recipient: node.optional_str("recipient").map(str::to_owned),
            kind,
        })
    }
}

/// The server's `<ack class="message" id from [error]>` for a message we sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerAck {
    /// The message id.
    pub id: String,
    /// The error code, when the server refused the message.
    pub error: Option<u16>,
}

impl ServerAck {
    /// Parses an `ack` of class `message`; `None` for any other node.
    pub fn parse(node: &Node) -> Option<ServerAck> {
        if &*node.tag != "ack" || node.optional_str("class") != Some("message") {
            return None;
        }
        Some(ServerAck {
            id: node.optional_str("id")?.to_owned(),
            error: node
                .optional_str("error")
                .and_then(|e| e.parse::<u16>().ok()),
        })
    }
}

fn bytes_of<'n>(node: &'n Node, tag: &str) -> Option<&'n [u8]> {
    node.child(tag).and_then(Node::content_bytes)
}

/// The bundle a retry receipt carries (`<registration>` and `<keys>`), so the sender can start a
/// fresh session without fetching one; `None` when the receipt carries no (usable) keys.
pub fn retry_bundle(receipt: &Node) -> Option<wa_signal::PreKeyBundle> {
    let keys = receipt.child("keys")?;
    if bytes_of(keys, "type")? != [wa_signal::DJB_TYPE] {
        return None;
    }
    let skey = keys.child("skey")?;
    let prekey = match keys.child("key") {
        Some(key) => Some((bytes_of(key, "id")?, bytes_of(key, "value")?)),
        None => None,
    };
    wa_signal::PreKeyBundle::from_wire_fields(
        bytes_of(receipt, "registration")?,
        bytes_of(keys, "identity")?,
        bytes_of(skey, "id")?,
        bytes_of(skey, "value")?,
        bytes_of(skey, "signature")?,
        prekey,
    )
    .ok()
}
