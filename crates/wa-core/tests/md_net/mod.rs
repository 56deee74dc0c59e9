//! The test network shared by the messenger tests: devices of two accounts, each a
//! [`Messenger`] over an in-memory store (Signal state, a decrypt buffer, the sent messages), and
//! a small router (device lists, bundles, per-device delivery, acks, receipts; optionally the
//! server's refusal of a stale device list) standing in for the server.

#![allow(dead_code, unreachable_pub, unused_imports)]

pub use std::collections::{BTreeMap, HashMap};

pub use rand::SeedableRng;
pub use rand::rngs::StdRng;
pub use sha2::{Digest as _, Sha256};
pub use wa_binary::{Jid, Node};
pub use wa_core::md::stanza::{self, ReceiptKind};
pub use wa_core::md::store::{
    AddressingMode, CiphertextHash, LidStore, MdStoreError, SentMessage, SentMessageStore,
};
pub use wa_core::md::usync;
pub use wa_core::md::{
    Account, Credentials, Messenger, MessengerConfig, MessengerEvent, ReceiveOutcome, ReceiveStore,
};
pub use wa_crypto::{CryptoRng, KeyPair, RngCore};
pub use wa_signal::{
    IdentityStore, InMemoryStore, MessageKind, PreKey, PreKeyBundle, PreKeyStore, ProtocolAddress,
    PublicKey, SessionRecord, SessionStore, SignedPreKey, SignedPreKeyStore, StoreError,
};
pub use zeroize::Zeroizing;

/// Signal state in memory plus a decrypt buffer: the hash of every ciphertext decrypted.
pub struct Mem {
    pub signal: InMemoryStore,
    pub buffer: HashMap<CiphertextHash, bool>,
    /// Ciphertexts actually decrypted (to prove redeliveries are not).
    pub decrypts: usize,
    /// The sent messages kept for retry receipts, by id.
    pub sent: HashMap<String, SentMessage>,
    /// Sent-message records written (each send and each resend writes one).
    pub sent_writes: usize,
}

impl SentMessageStore for Mem {
    fn store_sent_message(&mut self, id: &str, m: &SentMessage) -> Result<(), MdStoreError> {
        self.sent_writes += 1;
        self.sent.insert(id.to_owned(), m.clone());
        Ok(())
    }
    fn sent_message(&self, id: &str) -> Result<Option<SentMessage>, MdStoreError> {
        Ok(self.sent.get(id).cloned())
    }
    fn prune_sent_messages(&mut self, before: u64, keep: usize) -> Result<usize, MdStoreError> {
        let mut by_age: Vec<(u64, String)> = self
            .sent
            .iter()
            .map(|(id, m)| (m.sent_at, id.clone()))
            .collect();
        by_age.sort_by(|a, b| b.cmp(a));
        let mut pruned = 0;
        for (i, (at, id)) in by_age.into_iter().enumerate() {
            if at < before || i >= keep {
                self.sent.remove(&id);
                pruned += 1;
            }
        }
        Ok(pruned)
    }
}

impl IdentityStore for Mem {
    fn local_identity(&self) -> Result<KeyPair, StoreError> {
        self.signal.local_identity()
    }
    fn local_registration_id(&self) -> Result<u32, StoreError> {
        self.signal.local_registration_id()
    }
    fn identity(&self, a: &ProtocolAddress) -> Result<Option<PublicKey>, StoreError> {
        self.signal.identity(a)
    }
    fn save_identity(&mut self, a: &ProtocolAddress, k: &PublicKey) -> Result<(), StoreError> {
        self.signal.save_identity(a, k)
    }
}
impl SessionStore for Mem {
    fn load_session(&self, a: &ProtocolAddress) -> Result<Option<SessionRecord>, StoreError> {
        self.signal.load_session(a)
    }
    fn store_session(&mut self, a: &ProtocolAddress, r: &SessionRecord) -> Result<(), StoreError> {
        self.signal.store_session(a, r)
    }
}
impl PreKeyStore for Mem {
    fn load_pre_key(&self, id: u32) -> Result<Option<PreKey>, StoreError> {
        self.signal.load_pre_key(id)
    }
    fn store_pre_key(&mut self, k: &PreKey) -> Result<(), StoreError> {
        self.signal.store_pre_key(k)
    }
    fn remove_pre_key(&mut self, id: u32) -> Result<(), StoreError> {
        self.signal.remove_pre_key(id)
    }
}
impl SignedPreKeyStore for Mem {
    fn load_signed_pre_key(&self, id: u32) -> Result<Option<SignedPreKey>, StoreError> {
        self.signal.load_signed_pre_key(id)
    }
    fn store_signed_pre_key(&mut self, k: &SignedPreKey) -> Result<(), StoreError> {
        self.signal.store_signed_pre_key(k)
    }
}
impl ReceiveStore for Mem {
    fn receive_enc<R: RngCore + CryptoRng>(
        &mut self,
        from: &ProtocolAddress,
        _sender: &str,
        _id: &str,
        kind: MessageKind,
        ciphertext: &[u8],
        rng: &mut R,
    ) -> Result<ReceiveOutcome, wa_signal::Error> {
        let hash: CiphertextHash = Sha256::digest(ciphertext).into();
        if self.buffer.contains_key(&hash) {
            return Ok(ReceiveOutcome::Duplicate { hash });
        }
        let plaintext = wa_signal::decrypt(&mut self.signal, from, kind, ciphertext, rng)?;
        self.decrypts += 1;
        self.buffer.insert(hash, false);
        Ok(ReceiveOutcome::New {
            hash,
            plaintext: Zeroizing::new(plaintext),
        })
    }
    fn mark_delivered(&mut self, hash: &CiphertextHash, _now: u64) -> Result<(), MdStoreError> {
        self.buffer.insert(*hash, true);
        Ok(())
    }
}

/// These tests address every device by phone number (their router gives no LIDs): the map stays
/// empty, so every session stays under its phone-number address. LID addressing is tested in
/// `md_lid.rs` against a store that keeps the map.
impl LidStore for Mem {
    fn store_lid_mapping(&mut self, _lid: &str, _pn: &str) -> Result<(), MdStoreError> {
        Err(MdStoreError::msg("no LID map in the phone-number tests"))
    }
    fn pn_for_lid(&self, _lid: &str) -> Result<Option<String>, MdStoreError> {
        Ok(None)
    }
    fn lid_for_pn(&self, _pn: &str) -> Result<Option<String>, MdStoreError> {
        Ok(None)
    }
    fn store_addressing_mode(&mut self, _: &str, _: AddressingMode) -> Result<(), MdStoreError> {
        Err(MdStoreError::msg(
            "no addressing modes in the phone-number tests",
        ))
    }
    fn addressing_mode(&self, _user: &str) -> Result<Option<AddressingMode>, MdStoreError> {
        Ok(None)
    }
    fn migrate_session(
        &mut self,
        _: &ProtocolAddress,
        _: &ProtocolAddress,
    ) -> Result<bool, MdStoreError> {
        Ok(false)
    }
}

/// One device: its credentials, messenger, store, what it sent out and reported.
pub struct Device {
    pub jid: String,
    pub creds: Credentials,
    pub messenger: Messenger,
    pub store: Mem,
    pub prekeys: Vec<PreKey>,
    pub events: Vec<MessengerEvent>,
}

/// The account's signatures over a companion's identity, made as a phone and a companion make
/// them at pairing (the account key is derived from the number, so each account has one), so
/// that the device identity riding with each `pkmsg` passes the receiver's check.
pub fn vouched_account(
    number: u64,
    creds: &Credentials,
    key_index: u32,
) -> (Vec<u8>, [u8; 32], [u8; 64], [u8; 64]) {
    let mut rng = StdRng::seed_from_u64(number ^ 0xADF);
    let account = KeyPair::generate(&mut StdRng::seed_from_u64(number));
    let secret = [5u8; 32];
    let container = wa_core::md::adv::primary_sign(
        &account,
        &creds.identity.public_bytes(),
        &secret,
        wa_proto::proto::AdvDeviceIdentity {
            raw_id: Some(1),
            timestamp: Some(1_700_000_000),
            key_index: Some(key_index),
            account_type: None,
            device_type: None,
        },
        &mut rng,
    );
    let verified =
        wa_core::md::adv::verify_and_sign(&container, &secret, &creds.identity, &mut rng).unwrap();
    (
        verified.details,
        verified.account_signature_key,
        verified.account_signature,
        verified.device_signature,
    )
}

pub fn device(number: u64, id: u16, seed: u64) -> Device {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut creds = Credentials::generate(&mut rng);
    let (details, account_signature_key, account_signature, device_signature) =
        vouched_account(number, &creds, u32::from(id));
    creds.account = Some(Account {
        jid: Jid::new(number.to_string(), wa_binary::Server::Whatsapp).with_device(id),
        lid: None,
        details,
        account_signature_key,
        account_signature,
        device_signature,
        key_index: u32::from(id),
        business_name: None,
    });
    let mut signal = InMemoryStore::new(creds.identity.clone(), creds.registration_id);
    signal.store_signed_pre_key(&creds.signed_prekey).unwrap();
    let prekeys: Vec<PreKey> = (1..=5).map(|i| PreKey::generate(i, &mut rng)).collect();
    for k in &prekeys {
        signal.store_pre_key(k).unwrap();
    }
    let messenger = Messenger::new(&creds, MessengerConfig::default(), &mut rng).unwrap();
    Device {
        jid: messenger.own_device().to_owned(),
        creds,
        messenger,
        store: Mem {
            signal,
            buffer: HashMap::new(),
            decrypts: 0,
            sent: HashMap::new(),
            sent_writes: 0,
        },
        prekeys,
        events: Vec::new(),
    }
}

/// The router: devices by JID, what each device has not acked yet, the log of stanzas.
pub struct Net {
    pub devices: BTreeMap<String, Device>,
    pub rng: StdRng,
    /// Every stanza a device sent, with the sender.
    pub log: Vec<(String, Node)>,
    /// Devices that receive nothing (offline).
    pub offline: Vec<String>,
    pub queued: BTreeMap<String, Vec<Node>>,
    /// As WhatsApp's server: a message whose participants lack a device of the recipient is
    /// refused whole with error 479 (its sender's device list was stale), nothing delivered.
    pub strict_devices: bool,
    /// Devices registered to an account but left out of usync answers (a list the server
    /// itself gets wrong): with `strict_devices`, every message to that account is refused.
    pub hidden: Vec<String>,
}

impl Net {
    pub fn new(devices: Vec<Device>) -> Net {
        Net {
            devices: devices.into_iter().map(|d| (d.jid.clone(), d)).collect(),
            rng: StdRng::seed_from_u64(99),
            log: Vec::new(),
            offline: Vec::new(),
            queued: BTreeMap::new(),
            strict_devices: false,
            hidden: Vec::new(),
        }
    }

    /// Restarts a device: a new messenger (nothing in memory), the same store.
    pub fn restart(&mut self, jid: &str) {
        let d = self.devices.get_mut(jid).unwrap();
        let mut rng = StdRng::seed_from_u64(4242);
        d.messenger = Messenger::new(&d.creds, MessengerConfig::default(), &mut rng).unwrap();
    }

    pub fn dev(&mut self, jid: &str) -> &mut Device {
        self.devices.get_mut(jid).unwrap()
    }

    pub fn bundle(&mut self, jid: &str) -> Option<PreKeyBundle> {
        let d = self.devices.get_mut(jid)?;
        let pre_key = d.prekeys.pop().map(|k| (k.id, PublicKey::of(&k.key_pair)));
        Some(PreKeyBundle {
            registration_id: d.creds.registration_id,
            identity_key: PublicKey::of(&d.creds.identity),
            signed_pre_key_id: d.creds.signed_prekey.id,
            signed_pre_key: PublicKey::of(&d.creds.signed_prekey.key_pair),
            signed_pre_key_signature: d.creds.signed_prekey.signature,
            pre_key,
        })
    }

    pub fn give(&mut self, to: &str, node: Node) {
        if self.offline.iter().any(|o| o == to) {
            self.queued.entry(to.to_owned()).or_default().push(node);
            return;
        }
        let rng = &mut self.rng;
        let d = self.devices.get_mut(to).unwrap();
        d.messenger
            .handle_node(&node, &mut d.store, 1_700_000_000, rng);
    }

    /// Moves stanzas until nothing is left to send.
    pub fn run(&mut self) {
        loop {
            let mut moved = false;
            let jids: Vec<String> = self.devices.keys().cloned().collect();
            for jid in jids {
                let d = self.devices.get_mut(&jid).unwrap();
                while let Some(e) = d.messenger.poll_event() {
                    if let MessengerEvent::Message {
                        hash, redelivered, ..
                    } = &e
                    {
                        assert!(!redelivered, "a live message is never a redelivery");
                        d.store.mark_delivered(hash, 0).unwrap();
                    }
                    d.events.push(e);
                }
                let out: Vec<Node> = std::iter::from_fn(|| d.messenger.poll_transmit()).collect();
                for node in out {
                    moved = true;
                    self.log.push((jid.clone(), node.clone()));
                    self.route(&jid, &node);
                }
            }
            if !moved {
                return;
            }
        }
    }

    pub fn users_devices(&self, user: &str) -> Vec<u16> {
        let number = user.split('@').next().unwrap();
        self.devices
            .keys()
            .filter(|j| j.starts_with(&format!("{number}:")))
            .map(|j| {
                j.split(':')
                    .nth(1)
                    .unwrap()
                    .split('@')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect()
    }

    pub fn route(&mut self, from: &str, node: &Node) {
        let result = |iq: &Node| {
            Node::new("iq")
                .attr("from", "s.whatsapp.net")
                .attr("type", "result")
                .attr("id", iq.optional_str("id").unwrap())
        };
        match &*node.tag {
            "iq" if node.optional_str("xmlns") == Some("usync") => {
                let users = usync::parse_device_query(node).unwrap();
                let answers: Vec<usync::UserDevices> = users
                    .iter()
                    .map(|u| usync::UserDevices {
                        user: u.clone(),
                        devices: self.users_devices(u),
                        lid: None,
                    })
                    .collect();
                let answer = result(node).children([usync::device_answer("s", &answers)]);
                self.give(from, answer);
            }
            "iq" if node.optional_str("xmlns") == Some("encrypt") => {
                let jids = usync::parse_key_query(node).unwrap();
                let users: Vec<Node> = jids
                    .iter()
                    .map(|j| usync::bundle_node(j, &self.bundle(j).unwrap()))
                    .collect();
                let answer = result(node).children([Node::new("list").children(users)]);
                self.give(from, answer);
            }
            "message" => {
                let id = node.optional_str("id").unwrap().to_owned();
                let to = node.optional_str("to").unwrap().to_owned();
                let sender_user = from.split(':').next().unwrap().to_owned();
                if self.strict_devices && self.misses_a_device(node, &to) {
                    let nack = Node::new("ack")
                        .attr("class", "message")
                        .attr("id", &id)
                        .attr("from", &to)
                        .attr("error", "479");
                    self.give(from, nack);
                    return;
                }
                for target in node.child("participants").unwrap().children_named("to") {
                    let dest = target.optional_str("jid").unwrap().to_owned();
                    let mut stanza = Node::new("message")
                        .attr("from", from)
                        .attr("id", &id)
                        .attr("t", 1_700_000_000u64)
                        .attr("type", "text");
                    if dest.starts_with(&format!("{sender_user}:")) {
                        stanza = stanza.attr("recipient", &to);
                    }
                    let mut children: Vec<Node> = target.child_nodes().to_vec();
                    if let Some(identity) = node.child("device-identity") {
                        children.push(identity.clone());
                    }
                    self.give(&dest, stanza.children(children));
                }
                let ack = Node::new("ack")
                    .attr("class", "message")
                    .attr("id", &id)
                    .attr("from", &to);
                self.give(from, ack);
            }
            "receipt" => {
                let to = node.optional_str("to").unwrap().to_owned();
                let mut forwarded = Node::new("receipt")
                    .attr("from", from)
                    .attr("id", node.optional_str("id").unwrap());
                if let Some(kind) = node.optional_str("type") {
                    forwarded = forwarded.attr("type", kind);
                }
                let forwarded = forwarded.children(node.child_nodes().iter().cloned());
                let kind = node.optional_str("type").unwrap_or_default();
                // As WhatsApp's server: `-self` kinds reach only the reader's other devices,
                // `read`/`played` the sender's devices and the reader's other devices.
                let own_only = matches!(kind, "read-self" | "played-self");
                let to_own = own_only || matches!(kind, "read" | "played");
                let targets: Vec<String> = if own_only {
                    Vec::new()
                } else if self.devices.contains_key(&to) {
                    vec![to.clone()]
                } else {
                    self.devices_of_user(&to)
                };
                for target in targets {
                    self.give(&target, forwarded.clone());
                }
                if to_own {
                    let mine = forwarded.attr("recipient", &to);
                    let reader = from.split(':').next().unwrap_or_default().to_owned();
                    for target in self.devices_of_user(&format!("{reader}@s.whatsapp.net")) {
                        if target != from {
                            self.give(&target, mine.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether a message to `to` lacks one of `to`'s devices.
    fn misses_a_device(&self, node: &Node, to: &str) -> bool {
        let listed: Vec<&str> = node
            .child("participants")
            .map(|p| {
                p.children_named("to")
                    .filter_map(|t| t.optional_str("jid"))
                    .collect()
            })
            .unwrap_or_default();
        let number = to.split('@').next().unwrap();
        let hidden = self
            .hidden
            .iter()
            .any(|h| h.starts_with(&format!("{number}:")) && !listed.contains(&h.as_str()));
        hidden
            || self
                .users_devices(to)
                .into_iter()
                .any(|d| !listed.contains(&format!("{number}:{d}@s.whatsapp.net").as_str()))
    }

    /// The device JIDs of a user JID (`number@s.whatsapp.net`).
    pub fn devices_of_user(&self, user: &str) -> Vec<String> {
        let number = user.split(['@', ':']).next().unwrap_or_default();
        self.devices
            .keys()
            .filter(|j| j.starts_with(&format!("{number}:")))
            .cloned()
            .collect()
    }

    pub fn texts(&self, jid: &str) -> Vec<(String, String, bool, String)> {
        self.devices[jid]
            .events
            .iter()
            .filter_map(|e| match e {
                MessengerEvent::Message {
                    id,
                    chat,
                    from_me,
                    message,
                    ..
                } => Some((
                    id.clone(),
                    chat.clone(),
                    *from_me,
                    message.conversation.clone().unwrap_or_default(),
                )),
                _ => None,
            })
            .collect()
    }

    pub fn send(&mut self, from: &str, to: &str, text: &str) -> String {
        let mut rng = StdRng::seed_from_u64(self.log.len() as u64);
        let id = self
            .dev(from)
            .messenger
            .send_text(to, text, &mut rng)
            .unwrap();
        self.run();
        id
    }
}

pub const A: &str = "15550000001@s.whatsapp.net";
pub const B: &str = "15550000002@s.whatsapp.net";
pub const A1: &str = "15550000001:1@s.whatsapp.net";
pub const A2: &str = "15550000001:2@s.whatsapp.net";
pub const B1: &str = "15550000002:1@s.whatsapp.net";
pub const B2: &str = "15550000002:2@s.whatsapp.net";

pub fn net() -> Net {
    Net::new(vec![
        device(15_550_000_001, 1, 1),
        device(15_550_000_001, 2, 2),
        device(15_550_000_002, 1, 3),
    ])
}
