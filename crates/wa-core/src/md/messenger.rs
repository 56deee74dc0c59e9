//! One-to-one messaging, sans-IO: the [`Messenger`] turns "send this message to that user" into
//! a device-list query, bundle fetches for devices without a session, one encrypted copy per
//! device (our own other devices get the `DeviceSentMessage` form) and the `message` stanza; and
//! an incoming `message` into the device-identity check of a companion's `pkmsg`, decryption,
//! events, the ack and the delivery receipt; read, played and their `-self` receipts on
//! request. It answers retry receipts (a fresh session from the keys the receipt carries, then
//! the message again, bounded) and sends them when it cannot decrypt.
//!
//! Nodes go in through [`Messenger::handle_node`]; nodes to send come out of
//! [`Messenger::poll_transmit`] and events out of [`Messenger::poll_event`]. The Signal state
//! is the caller's [`ReceiveStore`]: decryption and the buffering of its plaintext are one atomic
//! step of that store, so a crash between decrypting and acking never loses a message and never
//! decrypts one twice (the server redelivers; the store recognises the ciphertext).

use std::collections::{HashMap, VecDeque};

use wa_binary::{Jid, Node};
use wa_crypto::{CryptoRng, RngCore};
use wa_proto::prost::Message as _;
use wa_proto::proto::{AdvSignedDeviceIdentity, DeviceSentMessage, Message};
use wa_signal::{MessageKind, PreKeySignalMessage, ProtocolAddress, PublicKey, SessionStores};
use zeroize::Zeroizing;

use super::adv::PeerIdentityError;
use super::credentials::Credentials;
use super::lid::{self, Addressing, LidError};
use super::stanza::{self, EncPart, IncomingMessage, Receipt, ReceiptKind, RetryKeys, ServerAck};
use super::store::{
    CiphertextHash, LidStore, MdStoreError, SENT_KEEP_COUNT, SENT_KEEP_SECS, SentMessage,
    SentMessageStore,
};
use super::usync::{self, FetchedBundle};

mod devices;
mod receive;
mod send;

const SERVER: &str = "s.whatsapp.net";

/// What the store did with one incoming ciphertext.
#[derive(Debug)]
pub enum ReceiveOutcome {
    /// Decrypted now; the plaintext is buffered (undelivered) under `hash`.
    New {
        /// The decrypt buffer's key.
        hash: CiphertextHash,
        /// The padded plaintext.
        plaintext: Zeroizing<Vec<u8>>,
    },
    /// Seen before: not decrypted again (it was delivered, or is waiting in the buffer).
    Duplicate {
        /// The decrypt buffer's key.
        hash: CiphertextHash,
    },
}

/// The Signal stores, the LID map (sessions live under LID addresses once known), the sent
/// messages kept for retry receipts, and the atomic receive and send steps.
pub trait ReceiveStore: SessionStores + LidStore + SentMessageStore {
    /// Decrypts `ciphertext` from `from` and buffers the plaintext in the same atomic step as the
    /// session update; a ciphertext buffered before is [`ReceiveOutcome::Duplicate`].
    ///
    /// # Errors
    /// What `wa-signal` refused (nothing was committed).
    fn receive_enc<R: RngCore + CryptoRng>(
        &mut self,
        from: &ProtocolAddress,
        sender_jid: &str,
        id: &str,
        kind: MessageKind,
        ciphertext: &[u8],
        rng: &mut R,
    ) -> Result<ReceiveOutcome, wa_signal::Error>;

    /// The application acknowledged the message (it processed it, at `now_secs`): forget its
    /// plaintext (the hash stays, to refuse redeliveries). Until then the message is pending
    /// and is handed over again after a restart.
    ///
    /// # Errors
    /// A store failure.
    fn mark_delivered(&mut self, hash: &CiphertextHash, now_secs: u64) -> Result<(), MdStoreError>;

    /// Encrypts each plaintext for its device and records the sent message `id` (`sent`), in
    /// one atomic step: the advanced sending chains and the record commit together, so a message
    /// that leaves can always be answered with a resend after a restart, and a resend's recorded
    /// retry count commits with the session it used. A device Signal refuses (no session, a
    /// changed identity) is `None` in the answer and the others go on.
    ///
    /// The default runs the steps one by one, which is right for a store that does not outlive
    /// the process (tests, memory); a durable store overrides it with one transaction.
    ///
    /// # Errors
    /// A store failure: nothing was committed.
    fn encrypt_and_record(
        &mut self,
        id: &str,
        sent: &SentMessage,
        targets: &[(ProtocolAddress, Zeroizing<Vec<u8>>)],
    ) -> Result<Vec<Option<wa_signal::Ciphertext>>, MdStoreError>
    where
        Self: Sized,
    {
        encrypt_targets(self, targets).and_then(|out| {
            self.store_sent_message(id, sent)?;
            Ok(out)
        })
    }
}

/// Encrypts each target in turn through `store` (the body of
/// [`ReceiveStore::encrypt_and_record`], for a backend to call inside its transaction): `None`
/// for a device Signal refuses, a store failure stops everything.
///
/// # Errors
/// A store failure.
pub fn encrypt_targets<S: SessionStores>(
    store: &mut S,
    targets: &[(ProtocolAddress, Zeroizing<Vec<u8>>)],
) -> Result<Vec<Option<wa_signal::Ciphertext>>, MdStoreError> {
    let mut out = Vec::with_capacity(targets.len());
    for (address, plaintext) in targets {
        match wa_signal::encrypt(store, address, plaintext) {
            Ok(c) => out.push(Some(c)),
            Err(wa_signal::Error::Store(e)) => return Err(MdStoreError::msg(e.to_string())),
            Err(_) => out.push(None),
        }
    }
    Ok(out)
}

/// The messenger's tunables.
#[derive(Clone, Debug)]
pub struct MessengerConfig {
    /// Retry receipts sent per message we cannot decrypt, and resends per (message, device)
    /// answered. WhatsApp clients stop around 5; more only loops on a broken session.
    pub max_retries: u32,
    /// The bound of the in-memory bookkeeping per message: ids awaiting their server ack,
    /// retry receipts we sent. (The messages themselves, for answering retry receipts, are in
    /// the store, bounded by `sent_keep_secs` and `sent_keep_count`.)
    pub resend_cache: usize,
    /// How long a sent message is kept in the store for retry receipts (seconds).
    pub sent_keep_secs: u64,
    /// How many sent messages are kept in the store at most.
    pub sent_keep_count: usize,
    /// Resends after a server error ack that names a stale device list (see
    /// [`STALE_DEVICE_ERRORS`]) per message: one; 0 turns them off.
    pub max_error_resends: u32,
    /// Sends waiting for their device list or bundles.
    pub max_pending_sends: usize,
}

impl Default for MessengerConfig {
    fn default() -> MessengerConfig {
        MessengerConfig {
            max_retries: 3,
            resend_cache: 512,
            sent_keep_secs: SENT_KEEP_SECS,
            sent_keep_count: SENT_KEEP_COUNT,
            max_error_resends: 1,
            max_pending_sends: 1024,
        }
    }
}

/// What the messenger reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MessengerEvent {
    /// A message arrived (decrypted and buffered; hand it on, and once the application has
    /// processed it, [`ReceiveStore::mark_delivered`] its `hash`).
    Message {
        /// The message id.
        id: String,
        /// The device that sent it.
        sender: String,
        /// The same device in the other form (its LID when `sender` is a phone number, and the
        /// other way round), when the stanza or the stored map knows it.
        sender_alt: Option<String>,
        /// The chat: the peer for a message from them, the peer we wrote to for a message one
        /// of our own other devices sent.
        chat: String,
        /// Whether one of our own devices sent it.
        from_me: bool,
        /// Server time (seconds).
        timestamp: u64,
        /// The content.
        message: Box<Message>,
        /// The decrypt buffer's key.
        hash: CiphertextHash,
        /// This may be a second hand-over: the message was handed to the application before
        /// the process stopped, without being acknowledged (as AMQP's `redelivered`). An
        /// application whose effects are not idempotent checks its own record of `id` then.
        redelivered: bool,
    },
    /// The server acknowledged a message we sent (`error` when it refused it).
    Sent {
        /// The message id.
        id: String,
        /// The server's error code.
        error: Option<u16>,
    },
    /// A send could not go out (no device list, no device to encrypt for).
    SendFailed {
        /// The message id.
        id: String,
        /// Why.
        reason: String,
    },
    /// A receipt for messages we sent.
    Receipt {
        /// The message ids.
        ids: Vec<String>,
        /// The chat (a user JID): the peer that sent it, or for a receipt from one of our own
        /// devices, the peer whose chat it is about (its `recipient`).
        from: String,
        /// The device that sent it.
        sender: String,
        /// Whether one of our own devices sent it (then `from` is the chat from its
        /// `recipient`).
        from_me: bool,
        /// Delivery, read, ...
        kind: ReceiptKind,
    },
    /// The `device-identity` of a companion's `pkmsg` did not check out: the message was not
    /// decrypted (no session started) and is acked without a receipt.
    DeviceIdentityRefused {
        /// The message id.
        id: String,
        /// The sending device.
        sender: String,
        /// Which check failed.
        error: PeerIdentityError,
    },
    /// A peer device's identity key changed (a reinstall, or someone else): the new one is
    /// trusted and its old sessions are replaced.
    IdentityChanged {
        /// The device.
        device: String,
    },
    /// A message could not be decrypted.
    DecryptFailed {
        /// The message id.
        id: String,
        /// The sending device.
        sender: String,
        /// Why.
        reason: String,
        /// Whether a retry receipt went out (false once the bound is reached).
        retry_sent: bool,
    },
    /// The server refused a message we sent with an error that means our device list was stale
    /// ([`STALE_DEVICE_ERRORS`]): the list is asked again and the message goes out once more,
    /// with the same id, to every device of the new list. A [`MessengerEvent::Sent`] follows
    /// that second attempt's ack (with its error, if it fails too: there is no third).
    ResendAfterError {
        /// The message id.
        id: String,
        /// The server's error code.
        error: u16,
    },
    /// A retry receipt was not answered: a duplicate (its count was answered before), past the
    /// bound, or for a message no longer kept.
    RetryIgnored {
        /// The message id.
        id: String,
        /// The device that asked.
        device: String,
        /// Why.
        reason: String,
    },
    /// We answered a retry receipt by sending the message again in a fresh session.
    Resent {
        /// The message id.
        id: String,
        /// The device it went to.
        device: String,
    },
    /// The server finished delivering what queued while we were offline.
    OfflineDone {
        /// How many it counted.
        count: u64,
    },
    /// The store failed; the message stays unacked, so the server delivers it again.
    StoreFailed(String),
    /// A stanza's addressing attributes (`sender_pn`, `addressing_mode`, ...) were refused: no
    /// mapping was learned from it; the message itself is still handled by its `from`.
    AddressingRefused {
        /// The stanza's id.
        id: String,
        /// Why.
        error: LidError,
    },
}

/// Server error codes on a message ack that mean the stanza was refused as a whole because of
/// its addressing: 479 (`smax-invalid`, which WhatsApp returns for a stale device list or
/// session). Other codes (463: a missing privacy token, an account restriction) are not
/// retried: a resend there only worsens it.
pub const STALE_DEVICE_ERRORS: &[u16] = &[479];

/// An outgoing message waiting for its device list or bundles.
#[derive(Clone, Debug)]
struct PendingSend {
    id: String,
    to: String,
    message: Message,
    devices: Vec<String>,
    /// The user the application asked for (`to` may become its LID).
    asked: String,
    /// Resends after an error ack done so far.
    error_resends: u32,
}

/// A sent message until its server ack.
#[derive(Clone, Debug)]
struct AwaitingAck {
    /// The `phash` we sent.
    phash: String,
    /// The users whose device lists the send used.
    users: Vec<String>,
    /// The user the application asked for.
    asked: String,
    /// Resends after an error ack done so far.
    error_resends: u32,
}

#[derive(Clone, Debug)]
enum PendingIq {
    Devices { send: String },
    Keys { send: String },
}

/// Our own account as the messenger needs it.
#[derive(Clone)]
struct Own {
    /// Our device JID (`number:device@s.whatsapp.net`).
    device: String,
    /// Our bare user JID.
    user: String,
    /// Our user part.
    user_part: String,
    /// Our LID's user part, when the server gave us one.
    lid_part: Option<String>,
    device_identity: Vec<u8>,
    /// Our account's key (the primary's identity key), which signs our companions' identities.
    account_key: Option<[u8; 32]>,
    retry_keys: RetryKeys,
}

/// The messaging state machine. See the module docs.
pub struct Messenger {
    config: MessengerConfig,
    own: Own,
    out: VecDeque<Node>,
    events: VecDeque<MessengerEvent>,
    id_prefix: String,
    next_iq: u64,
    iqs: HashMap<String, PendingIq>,
    sends: HashMap<String, PendingSend>,
    /// Ids of messages sent by this process (oldest first, bounded by `resend_cache`): their
    /// server acks become [`MessengerEvent::Sent`].
    sent: VecDeque<String>,
    /// Retry receipts we sent, per message id (oldest first; bounded by `resend_cache`).
    retries_sent: VecDeque<(String, u32)>,
    /// The time of the latest input (seconds since the epoch): when a sent message is recorded.
    now_secs: u64,
    /// Sent messages recorded since the store was last pruned.
    recorded_since_prune: usize,
    /// Device lists by bare user JID, from usync answers: a send to users all listed here skips
    /// the query. An entry is dropped when the protocol says it changed: a `devices`
    /// notification for the user, a server ack whose `phash` differs from ours or that refused
    /// the message, or a message or retry receipt from a device the list does not have.
    device_lists: HashMap<String, Vec<u16>>,
    /// Each sent message until its server ack (bounded like `sent`).
    awaiting_ack: HashMap<String, AwaitingAck>,
    /// In the foreground: plain delivery receipts, else `inactive` ones.
    active: bool,
}

impl core::fmt::Debug for Messenger {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Messenger")
            .field("device", &self.own.device)
            .field("pending_sends", &self.sends.len())
            .finish_non_exhaustive()
    }
}

/// Why a messenger cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessengerError {
    /// The device is not paired: it has no account to send as.
    #[error("the device is not paired")]
    NotPaired,
    /// Too many sends are waiting for device lists or bundles.
    #[error("too many sends pending")]
    Busy,
    /// The recipient is not a user JID.
    #[error("not a user JID: {0}")]
    BadRecipient(String),
}

/// The Signal address of a device JID (user part and device id).
pub fn address_of(device_jid: &str) -> Option<ProtocolAddress> {
    let jid: Jid = device_jid.parse().ok()?;
    if jid.user.is_empty() {
        return None;
    }
    Some(ProtocolAddress::new(jid.user, u32::from(jid.device)))
}

/// `user[:device]@server` for a device of a user JID (device 0, the phone, without `:0`); the
/// server stays the user's (`s.whatsapp.net` or `lid`).
fn device_jid(user_jid: &str, device: u16) -> String {
    let (user, server) = user_jid.split_once('@').unwrap_or((user_jid, SERVER));
    let user = user.split(':').next().unwrap_or_default();
    if device == 0 {
        format!("{user}@{server}")
    } else {
        format!("{user}:{device}@{server}")
    }
}

fn bare_user(jid: &str) -> Option<String> {
    let parsed: Jid = jid.parse().ok()?;
    if parsed.user.is_empty() || parsed.is_group() || parsed.is_broadcast() {
        return None;
    }
    Some(format!("{}@{}", parsed.user, parsed.server))
}

impl Messenger {
    /// A messenger for a paired device.
    ///
    /// # Errors
    /// [`MessengerError::NotPaired`].
    pub fn new<R: RngCore + CryptoRng>(
        creds: &Credentials,
        config: MessengerConfig,
        rng: &mut R,
    ) -> Result<Messenger, MessengerError> {
        let account = creds.account.as_ref().ok_or(MessengerError::NotPaired)?;
        let device_identity = AdvSignedDeviceIdentity {
            details: Some(account.details.clone()),
            account_signature_key: Some(account.account_signature_key.to_vec()),
            account_signature: Some(account.account_signature.to_vec()),
            device_signature: Some(account.device_signature.to_vec()),
        }
        .encode_to_vec();
        let user_part = account.jid.user.clone();
        let own = Own {
            device: device_jid(&format!("{user_part}@{SERVER}"), account.jid.device),
            user: format!("{user_part}@{SERVER}"),
            user_part,
            lid_part: account.lid.as_ref().map(|l| l.user.clone()),
            retry_keys: RetryKeys {
                registration_id: creds.registration_id,
                identity: creds.identity.public_bytes(),
                prekey: None,
                signed_prekey: (
                    creds.signed_prekey.id,
                    creds.signed_prekey.key_pair.public_bytes(),
                    creds.signed_prekey.signature,
                ),
                device_identity: device_identity.clone(),
            },
            device_identity,
            account_key: Some(account.account_signature_key),
        };
        Ok(Messenger {
            config,
            own,
            out: VecDeque::new(),
            events: VecDeque::new(),
            id_prefix: format!("m{:08X}", rng.next_u32()),
            next_iq: 0,
            iqs: HashMap::new(),
            sends: HashMap::new(),
            sent: VecDeque::new(),
            retries_sent: VecDeque::new(),
            now_secs: 0,
            recorded_since_prune: 0,
            device_lists: HashMap::new(),
            awaiting_ack: HashMap::new(),
            active: true,
        })
    }

    /// Tells the messenger the time (seconds since the epoch) before a send that does not come
    /// with a node: a sent message's record carries it (the age bound of the store).
    pub fn set_time(&mut self, now_secs: u64) {
        self.now_secs = now_secs;
    }

    /// Our device JID.
    pub fn own_device(&self) -> &str {
        &self.own.device
    }

    /// The next node to send.
    pub fn poll_transmit(&mut self) -> Option<Node> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<MessengerEvent> {
        self.events.pop_front()
    }

    /// Re-emits a message that was decrypted and buffered but never acknowledged by the
    /// application (the process stopped in between): `sender`, `id` and the padded plaintext as
    /// the decrypt buffer kept them; `redelivered` when the buffer records an earlier hand-over.
    /// The server time is not kept, so the event's `timestamp` is 0.
    pub fn replay(
        &mut self,
        sender: &str,
        id: &str,
        hash: CiphertextHash,
        padded: &[u8],
        redelivered: bool,
    ) {
        let incoming = IncomingMessage {
            id: id.to_owned(),
            sender: sender.to_owned(),
            from: sender.to_owned(),
            recipient: None,
            timestamp: 0,
            notify: None,
            sender_pn: None,
            sender_alt: None,
            encs: Vec::new(),
        };
        self.deliver(&incoming, hash, padded, redelivered);
    }

    /// Sends still waiting for device lists or bundles.
    pub fn pending_sends(&self) -> usize {
        self.sends.len()
    }

    fn iq(&mut self, xmlns: &str, kind: &str, child: Node, pending: PendingIq) {
        self.next_iq += 1;
        let id = format!("{}.{}", self.id_prefix, self.next_iq);
        self.iqs.insert(id.clone(), pending);
        self.out.push_back(
            Node::new("iq")
                .attr("id", &id)
                .attr("to", SERVER)
                .attr("xmlns", xmlns)
                .attr("type", kind)
                .children([child]),
        );
    }

    /// Handles one node from the server: iq answers to our queries, messages, receipts, acks,
    /// the end of the offline queue. Other nodes are left alone (the session handles them).
    pub fn handle_node<S: ReceiveStore, R: RngCore + CryptoRng>(
        &mut self,
        node: &Node,
        store: &mut S,
        now_secs: u64,
        rng: &mut R,
    ) {
        self.now_secs = now_secs;
        match &*node.tag {
            "iq" => {
                let id = node.optional_str("id").unwrap_or_default();
                if let Some(pending) = self.iqs.remove(id) {
                    self.handle_answer(pending, node, store, rng);
                }
            }
            "message" => self.handle_message(node, store, now_secs, rng),
            "receipt" => self.handle_receipt(node, store, rng),
            "ack" => {
                if let Some(ack) = ServerAck::parse(node) {
                    self.handle_ack(node, ack, store, rng);
                }
            }
            "notification" if node.optional_str("type") == Some("devices") => {
                // Someone's device list changed: the next send to them asks again.
                self.forget_devices(node.optional_str("from").unwrap_or_default());
            }
            "ib" => {
                if let Some(offline) = node.child("offline") {
                    let count = offline.optional_u64("count").ok().flatten().unwrap_or(0);
                    self.events.push_back(MessengerEvent::OfflineDone { count });
                }
            }
            _ => {}
        }
    }
}

fn session_addr<S: ReceiveStore>(store: &mut S, device: &str) -> Option<ProtocolAddress> {
    lid::session_address_of(store, device)
}

fn has_session<S: ReceiveStore>(store: &mut S, device: &str) -> bool {
    session_addr(store, device)
        .and_then(|a| store.load_session(&a).ok().flatten())
        .is_some_and(|r| r.has_current_session())
}
