//! LID addressing, sans-IO: two accounts' messengers through a router written here that gives
//! LIDs in usync answers and LID attributes on delivered messages when told to. A contact first
//! known by phone number moves to its LID keeping one session per device; a message from the LID
//! form of a known contact decrypts; the map is learned from usync and from attributes; a chat
//! addressed by LID is answered by LID; hostile attribute values are refused with typed errors.

use std::collections::{BTreeSet, HashMap, HashSet};

use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest as _, Sha256};
use wa_binary::{Jid, Node, Server};
use wa_core::md::lid::{self, Addressing, LidError, LidPair};
use wa_core::md::store::{AddressingMode, CiphertextHash, LidStore, MdStoreError};
use wa_core::md::usync;
use wa_core::md::{
    Account, Credentials, Messenger, MessengerConfig, MessengerEvent, ReceiveOutcome, ReceiveStore,
};
use wa_crypto::{CryptoRng, KeyPair, RngCore};
use wa_signal::{
    IdentityStore, InMemoryStore, MessageKind, PreKey, PreKeyBundle, PreKeyStore, ProtocolAddress,
    PublicKey, SessionRecord, SessionStore, SignedPreKey, SignedPreKeyStore, StoreError,
};
use zeroize::Zeroizing;

/// Signal state in memory, a decrypt buffer, and a LID map; sessions and identities a
/// migration moved away are hidden (`InMemoryStore` has no delete).
struct Mem {
    signal: InMemoryStore,
    buffer: HashSet<CiphertextHash>,
    lid_to_pn: HashMap<String, String>,
    pn_to_lid: HashMap<String, String>,
    modes: HashMap<String, AddressingMode>,
    /// Every address a session was stored under, and those deleted since.
    stored: BTreeSet<ProtocolAddress>,
    gone: HashSet<ProtocolAddress>,
    /// The sent messages kept for retry receipts.
    sent: HashMap<String, wa_core::md::store::SentMessage>,
}

impl wa_core::md::store::SentMessageStore for Mem {
    fn store_sent_message(
        &mut self,
        id: &str,
        m: &wa_core::md::store::SentMessage,
    ) -> Result<(), MdStoreError> {
        self.sent.insert(id.to_owned(), m.clone());
        Ok(())
    }
    fn sent_message(
        &self,
        id: &str,
    ) -> Result<Option<wa_core::md::store::SentMessage>, MdStoreError> {
        Ok(self.sent.get(id).cloned())
    }
    fn prune_sent_messages(&mut self, _before: u64, _keep: usize) -> Result<usize, MdStoreError> {
        // These tests send a handful of messages: nothing to bound.
        Ok(0)
    }
}

impl Mem {
    /// The addresses holding a session now.
    fn sessions(&self) -> Vec<String> {
        self.stored
            .iter()
            .filter(|a| !self.gone.contains(a))
            .map(ToString::to_string)
            .collect()
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
        match self.gone.contains(a) {
            true => Ok(None),
            false => self.signal.identity(a),
        }
    }
    fn save_identity(&mut self, a: &ProtocolAddress, k: &PublicKey) -> Result<(), StoreError> {
        self.signal.save_identity(a, k)
    }
}
impl SessionStore for Mem {
    fn load_session(&self, a: &ProtocolAddress) -> Result<Option<SessionRecord>, StoreError> {
        match self.gone.contains(a) {
            true => Ok(None),
            false => self.signal.load_session(a),
        }
    }
    fn store_session(&mut self, a: &ProtocolAddress, r: &SessionRecord) -> Result<(), StoreError> {
        self.gone.remove(a);
        self.stored.insert(a.clone());
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
impl LidStore for Mem {
    fn store_lid_mapping(&mut self, lid: &str, pn: &str) -> Result<(), MdStoreError> {
        if let Some(old) = self.lid_to_pn.insert(lid.to_owned(), pn.to_owned()) {
            self.pn_to_lid.remove(&old);
        }
        if let Some(old) = self.pn_to_lid.insert(pn.to_owned(), lid.to_owned()) {
            if old != lid {
                self.lid_to_pn.remove(&old);
            }
        }
        Ok(())
    }
    fn pn_for_lid(&self, lid: &str) -> Result<Option<String>, MdStoreError> {
        Ok(self.lid_to_pn.get(lid).cloned())
    }
    fn lid_for_pn(&self, pn: &str) -> Result<Option<String>, MdStoreError> {
        Ok(self.pn_to_lid.get(pn).cloned())
    }
    fn store_addressing_mode(
        &mut self,
        user: &str,
        mode: AddressingMode,
    ) -> Result<(), MdStoreError> {
        self.modes.insert(user.to_owned(), mode);
        Ok(())
    }
    fn addressing_mode(&self, user: &str) -> Result<Option<AddressingMode>, MdStoreError> {
        Ok(self.modes.get(user).copied())
    }
    fn migrate_session(
        &mut self,
        from: &ProtocolAddress,
        to: &ProtocolAddress,
    ) -> Result<bool, MdStoreError> {
        let err = |e: StoreError| MdStoreError::msg(e.to_string());
        let Some(record) = self.load_session(from).map_err(err)? else {
            return Ok(false);
        };
        let moved = self.load_session(to).map_err(err)?.is_none();
        if moved {
            self.store_session(to, &record).map_err(err)?;
        }
        if let Some(key) = self.identity(from).map_err(err)? {
            if self.identity(to).map_err(err)?.is_none() {
                self.save_identity(to, &key).map_err(err)?;
            }
        }
        self.gone.insert(from.clone());
        Ok(moved)
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
        if self.buffer.contains(&hash) {
            return Ok(ReceiveOutcome::Duplicate { hash });
        }
        let plaintext = wa_signal::decrypt(self, from, kind, ciphertext, rng)?;
        self.buffer.insert(hash);
        Ok(ReceiveOutcome::New {
            hash,
            plaintext: Zeroizing::new(plaintext),
        })
    }
    fn mark_delivered(&mut self, _hash: &CiphertextHash, _now: u64) -> Result<(), MdStoreError> {
        Ok(())
    }
}

/// One account with one device.
struct Device {
    pn: String,
    lid: String,
    device: u16,
    creds: Credentials,
    messenger: Messenger,
    store: Mem,
    prekeys: Vec<PreKey>,
    events: Vec<MessengerEvent>,
}

impl Device {
    fn pn_device(&self) -> String {
        format!("{}:{}@s.whatsapp.net", self.pn, self.device)
    }
    fn lid_device(&self) -> String {
        format!("{}:{}@lid", self.lid, self.device)
    }
}

/// The account's signatures over a companion's identity, made as a phone and a companion make
/// them at pairing (the account key is derived from the number, so each account has one), so
/// that the device identity riding with each `pkmsg` passes the receiver's check.
fn vouched_account(
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

fn device(pn: &str, lid: &str, id: u16, seed: u64) -> Device {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut creds = Credentials::generate(&mut rng);
    let (details, account_signature_key, account_signature, device_signature) =
        vouched_account(pn.parse::<u64>().unwrap(), &creds, u32::from(id));
    creds.account = Some(Account {
        jid: Jid::new(pn, Server::Whatsapp).with_device(id),
        lid: Some(Jid::new(lid, Server::Lid).with_device(id)),
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
        pn: pn.to_owned(),
        lid: lid.to_owned(),
        device: id,
        creds,
        messenger,
        store: Mem {
            signal,
            buffer: HashSet::new(),
            lid_to_pn: HashMap::new(),
            pn_to_lid: HashMap::new(),
            modes: HashMap::new(),
            stored: BTreeSet::new(),
            gone: HashSet::new(),
            sent: HashMap::new(),
        },
        prekeys,
        events: Vec::new(),
    }
}

/// Alice (index 0) and Bob (index 1), and what the router does.
struct World {
    devices: [Device; 2],
    rng: StdRng,
    /// Whether usync answers and delivered messages carry LIDs.
    lids: bool,
    /// Every message stanza a device sent (index of the sender, the stanza).
    sent: Vec<(usize, Node)>,
}

const ALICE: usize = 0;
const BOB: usize = 1;
const ALICE_PN: &str = "15550000001";
const ALICE_LID: &str = "900000000000001";
const BOB_PN: &str = "4915000002";
const BOB_LID: &str = "100000000000042";

fn world() -> World {
    World {
        devices: [
            device(ALICE_PN, ALICE_LID, 1, 1),
            device(BOB_PN, BOB_LID, 2, 2),
        ],
        rng: StdRng::seed_from_u64(7),
        lids: false,
        sent: Vec::new(),
    }
}

impl World {
    /// The account a JID names (by phone number or LID).
    fn who(&self, jid: &str) -> Option<usize> {
        let jid: Jid = jid.parse().ok()?;
        self.devices
            .iter()
            .position(|d| d.pn == jid.user || d.lid == jid.user)
    }

    fn give(&mut self, to: usize, node: &Node) {
        let d = &mut self.devices[to];
        d.messenger
            .handle_node(node, &mut d.store, 1_700_000_000, &mut self.rng);
    }

    fn bundle(&mut self, who: usize) -> PreKeyBundle {
        let d = &mut self.devices[who];
        let pre_key = d.prekeys.pop().map(|k| (k.id, PublicKey::of(&k.key_pair)));
        PreKeyBundle {
            registration_id: d.creds.registration_id,
            identity_key: PublicKey::of(&d.creds.identity),
            signed_pre_key_id: d.creds.signed_prekey.id,
            signed_pre_key: PublicKey::of(&d.creds.signed_prekey.key_pair),
            signed_pre_key_signature: d.creds.signed_prekey.signature,
            pre_key,
        }
    }

    /// Moves stanzas until nobody has anything left to send.
    fn run(&mut self) {
        loop {
            let mut moved = false;
            for i in [ALICE, BOB] {
                let d = &mut self.devices[i];
                while let Some(e) = d.messenger.poll_event() {
                    d.events.push(e);
                }
                let out: Vec<Node> = std::iter::from_fn(|| d.messenger.poll_transmit()).collect();
                for node in out {
                    moved = true;
                    self.route(i, &node);
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn route(&mut self, from: usize, node: &Node) {
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
                    .map(|u| {
                        let who = self.who(u).unwrap();
                        let by_pn = lid::is_pn(&u.parse().unwrap());
                        usync::UserDevices {
                            user: u.clone(),
                            devices: vec![self.devices[who].device],
                            lid: (self.lids && by_pn)
                                .then(|| format!("{}@lid", self.devices[who].lid)),
                        }
                    })
                    .collect();
                let answer = result(node).children([usync::device_answer("s", &answers)]);
                self.give(from, &answer);
            }
            "iq" if node.optional_str("xmlns") == Some("encrypt") => {
                let jids = usync::parse_key_query(node).unwrap();
                let users: Vec<Node> = jids
                    .iter()
                    .map(|j| {
                        let who = self.who(j).unwrap();
                        usync::bundle_node(j, &self.bundle(who))
                    })
                    .collect();
                let answer = result(node).children([Node::new("list").children(users)]);
                self.give(from, &answer);
            }
            "message" => {
                self.sent.push((from, node.clone()));
                let id = node.optional_str("id").unwrap().to_owned();
                let to = node.optional_str("to").unwrap().to_owned();
                let by_lid = lid::is_lid(&to.parse().unwrap());
                for target in node.child("participants").unwrap().children_named("to") {
                    let dest = self.who(target.optional_str("jid").unwrap()).unwrap();
                    if dest == from {
                        continue;
                    }
                    let s = &self.devices[from];
                    // As WhatsApp does: the form of `from` follows the chat's addressing, and
                    // the other form rides along when the server gives LIDs.
                    let stanza = match (by_lid, self.lids) {
                        (true, _) => Node::new("message")
                            .attr("from", s.lid_device())
                            .attr("sender_pn", format!("{}@s.whatsapp.net", s.pn))
                            .attr("addressing_mode", "lid"),
                        (false, true) => Node::new("message")
                            .attr("from", s.pn_device())
                            .attr("sender_lid", format!("{}@lid", s.lid))
                            .attr("addressing_mode", "pn"),
                        (false, false) => Node::new("message").attr("from", s.pn_device()),
                    };
                    let mut children: Vec<Node> = target.child_nodes().to_vec();
                    if let Some(identity) = node.child("device-identity") {
                        children.push(identity.clone());
                    }
                    let stanza = stanza
                        .attr("id", &id)
                        .attr("t", 1_700_000_000u64)
                        .attr("type", "text")
                        .children(children);
                    self.give(dest, &stanza);
                }
                let ack = Node::new("ack")
                    .attr("class", "message")
                    .attr("id", &id)
                    .attr("from", &to);
                self.give(from, &ack);
            }
            _ => {}
        }
    }

    fn send(&mut self, from: usize, to: &str, text: &str) -> Node {
        let mut rng = StdRng::seed_from_u64(self.sent.len() as u64 + 100);
        self.devices[from]
            .messenger
            .send_text(to, text, &mut rng)
            .unwrap();
        self.run();
        self.sent.last().expect("a message went out").1.clone()
    }

    /// (sender, sender_alt, text) of every message a device received.
    fn received(&self, who: usize) -> Vec<(String, Option<String>, String)> {
        self.devices[who]
            .events
            .iter()
            .filter_map(|e| match e {
                MessengerEvent::Message {
                    sender,
                    sender_alt,
                    message,
                    ..
                } => Some((
                    sender.clone(),
                    sender_alt.clone(),
                    message.conversation.clone().unwrap_or_default(),
                )),
                _ => None,
            })
            .collect()
    }
}

fn enc_types(message: &Node) -> Vec<String> {
    message
        .child("participants")
        .unwrap()
        .children_named("to")
        .map(|t| {
            t.child("enc")
                .unwrap()
                .optional_str("type")
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn contact_moves_from_pn_to_lid_with_one_session_and_lid_chats_answer_by_lid() {
    let mut w = world();
    let alice_pn_user = format!("{ALICE_PN}@s.whatsapp.net");
    let bob_pn_user = format!("{BOB_PN}@s.whatsapp.net");
    let bob_pn_addr = format!("{BOB_PN}.2");
    let bob_lid_addr = format!("{BOB_LID}_1.2");
    let alice_lid_addr = format!("{ALICE_LID}_1.1");

    // 1. No LIDs yet: Bob writes to Alice by phone number; sessions under PN addresses.
    let one = w.send(BOB, &alice_pn_user, "one");
    assert_eq!(enc_types(&one), ["pkmsg"]);
    assert_eq!(
        w.devices[ALICE].store.sessions(),
        std::slice::from_ref(&bob_pn_addr)
    );
    assert_eq!(w.devices[BOB].store.sessions(), [format!("{ALICE_PN}.1")]);

    // 2. The server now gives LIDs. Bob's usync answer teaches him Alice's LID (and his own),
    //    and his session with Alice's device moves to her LID address instead of a second one
    //    starting: the message is still a pkmsg of the same session (Alice never answered).
    w.lids = true;
    let two = w.send(BOB, &alice_pn_user, "two");
    assert_eq!(enc_types(&two), ["pkmsg"]);
    assert_eq!(
        w.devices[BOB]
            .store
            .lid_for_pn(ALICE_PN)
            .unwrap()
            .as_deref(),
        Some(ALICE_LID),
        "map from usync"
    );
    assert_eq!(
        w.devices[BOB].store.sessions(),
        std::slice::from_ref(&alice_lid_addr)
    );
    // Alice learns Bob's LID from `sender_lid`, moves his session, and decrypts with it: the
    // one-time prekey of Bob's first pkmsg is spent, so only the moved session can open it.
    assert_eq!(
        w.devices[ALICE]
            .store
            .pn_for_lid(BOB_LID)
            .unwrap()
            .as_deref(),
        Some(BOB_PN),
        "map from attributes"
    );
    assert_eq!(
        w.devices[ALICE].store.sessions(),
        std::slice::from_ref(&bob_lid_addr)
    );
    assert_eq!(
        w.received(ALICE),
        [
            (format!("{BOB_PN}:2@s.whatsapp.net"), None, "one".to_owned()),
            (
                format!("{BOB_PN}:2@s.whatsapp.net"),
                Some(format!("{BOB_LID}:2@lid")),
                "two".to_owned()
            ),
        ]
    );

    // 3. Alice answers Bob's LID: the established session (a `msg`, no new pkmsg), delivered
    //    LID-addressed; Bob decrypts the LID form of a contact he knew by phone number.
    let three = w.send(ALICE, &format!("{BOB_LID}@lid"), "three");
    assert_eq!(three.optional_str("to"), Some(&*format!("{BOB_LID}@lid")));
    assert_eq!(enc_types(&three), ["msg"]);
    assert_eq!(
        w.received(BOB),
        [(
            format!("{ALICE_LID}:1@lid"),
            Some(format!("{ALICE_PN}:1@s.whatsapp.net")),
            "three".to_owned()
        )]
    );
    assert_eq!(w.devices[BOB].store.sessions(), [alice_lid_addr]);
    assert_eq!(
        w.devices[BOB].store.addressing_mode(ALICE_PN).unwrap(),
        Some(AddressingMode::Lid)
    );

    // 4. Bob answers Alice's phone number: the chat is LID-addressed now, so it goes by LID.
    let four = w.send(BOB, &alice_pn_user, "four");
    assert_eq!(four.optional_str("to"), Some(&*format!("{ALICE_LID}@lid")));
    let targets: Vec<&str> = four
        .child("participants")
        .unwrap()
        .children_named("to")
        .map(|t| t.optional_str("jid").unwrap())
        .collect();
    assert_eq!(targets, [format!("{ALICE_LID}:1@lid")]);
    assert_eq!(enc_types(&four), ["msg"]);
    assert_eq!(w.received(ALICE).last().unwrap().2, "four");
    assert_eq!(w.devices[ALICE].store.sessions(), [bob_lid_addr]);
    // Nothing failed on the way.
    for d in &w.devices {
        assert!(
            !d.events.iter().any(|e| matches!(
                e,
                MessengerEvent::DecryptFailed { .. }
                    | MessengerEvent::SendFailed { .. }
                    | MessengerEvent::StoreFailed(_)
                    | MessengerEvent::AddressingRefused { .. }
            )),
            "{:?}",
            d.events
        );
    }
    let _ = bob_pn_user;
}

#[test]
fn known_pn_contact_writing_from_its_lid_decrypts_with_the_same_session() {
    let mut w = world();
    w.lids = true;
    // Alice writes first by phone number: her usync answer gives Bob's LID, so her session is
    // under the LID address from the start.
    let first = w.send(ALICE, &format!("{BOB_PN}@s.whatsapp.net"), "hi");
    assert_eq!(enc_types(&first), ["pkmsg"]);
    assert_eq!(
        w.devices[ALICE].store.sessions(),
        [format!("{BOB_LID}_1.2")]
    );
    // Bob answers Alice's LID: Alice gets it from Bob's LID device and decrypts it with the
    // session she made for his phone number (a `msg`: no new session).
    let reply = w.send(BOB, &format!("{ALICE_LID}@lid"), "hello from my LID");
    assert_eq!(enc_types(&reply), ["msg"]);
    assert_eq!(
        w.received(ALICE),
        [(
            format!("{BOB_LID}:2@lid"),
            Some(format!("{BOB_PN}:2@s.whatsapp.net")),
            "hello from my LID".to_owned()
        )]
    );
    assert_eq!(
        w.devices[ALICE].store.sessions(),
        [format!("{BOB_LID}_1.2")]
    );
}

fn message(attrs: &[(&str, &str)]) -> Node {
    let mut node = Node::new("message").attr("id", "X1");
    for (k, v) in attrs {
        node = node.attr(*k, *v);
    }
    node
}

#[test]
fn attributes_give_both_forms_and_the_map() {
    // 1:1, LID-addressed: `sender_pn` without a device takes the sender's.
    let a = Addressing::parse(&message(&[
        ("from", "100000000000042:3@lid"),
        ("sender_pn", "4915000002@s.whatsapp.net"),
        ("addressing_mode", "lid"),
    ]))
    .unwrap();
    assert_eq!(a.mode, Some(AddressingMode::Lid));
    assert_eq!(a.sender.to_string(), "100000000000042:3@lid");
    assert_eq!(
        a.sender_alt.as_ref().unwrap().to_string(),
        "4915000002:3@s.whatsapp.net"
    );
    let pair = LidPair {
        lid: "100000000000042".into(),
        pn: "4915000002".into(),
    };
    assert_eq!(a.pairs(), std::slice::from_ref(&pair));
    // 1:1, PN-addressed with `sender_lid`.
    let a = Addressing::parse(&message(&[
        ("from", "4915000002@s.whatsapp.net"),
        ("sender_lid", "100000000000042@lid"),
        ("addressing_mode", "pn"),
    ]))
    .unwrap();
    assert_eq!(a.pairs(), std::slice::from_ref(&pair));
    // A group: `participant` and `participant_pn`.
    let a = Addressing::parse(&message(&[
        ("from", "120363000000000001@g.us"),
        ("participant", "100000000000042:1@lid"),
        ("participant_pn", "4915000002@s.whatsapp.net"),
        ("addressing_mode", "lid"),
    ]))
    .unwrap();
    assert_eq!(a.sender.to_string(), "100000000000042:1@lid");
    assert_eq!(a.pairs(), [pair]);
    // Our own other device's message: `recipient` and `peer_recipient_pn`.
    let a = Addressing::parse(&message(&[
        ("from", "900000000000001:2@lid"),
        ("sender_pn", "15550000001@s.whatsapp.net"),
        ("recipient", "100000000000042@lid"),
        ("peer_recipient_pn", "4915000002@s.whatsapp.net"),
        ("addressing_mode", "lid"),
    ]))
    .unwrap();
    assert_eq!(a.pairs().len(), 2);
    assert_eq!(
        a.recipient_alt.unwrap().to_string(),
        "4915000002@s.whatsapp.net"
    );
    // No attributes: nothing learned, no error.
    let a = Addressing::parse(&message(&[("from", "4915000002:2@s.whatsapp.net")])).unwrap();
    assert!(a.pairs().is_empty());
    assert_eq!(a.mode, None);
    // usync: a `lid` beside a phone-number user.
    let user = usync::UserDevices {
        user: "4915000002@s.whatsapp.net".into(),
        devices: vec![0],
        lid: Some("100000000000042@lid".into()),
    };
    assert_eq!(
        lid::pair_from_usync(&user).unwrap().unwrap().lid,
        "100000000000042"
    );
    // Signal addresses keep the two forms apart, even with the same digits.
    let pn: Jid = "123:4@s.whatsapp.net".parse().unwrap();
    let l: Jid = "123:4@lid".parse().unwrap();
    assert_eq!(lid::signal_address(&pn).unwrap().to_string(), "123.4");
    assert_eq!(lid::signal_address(&l).unwrap().to_string(), "123_1.4");
}

#[test]
fn hostile_attributes_are_refused_with_typed_errors() {
    let long_mode = "x".repeat(10_000);
    let long_user = format!("{}@s.whatsapp.net", "9".repeat(21));
    let cases: Vec<(Vec<(&str, &str)>, LidError)> = vec![
        (
            vec![("from", "1@lid"), ("sender_pn", "")],
            LidError::NotAJid { attr: "sender_pn" },
        ),
        (
            vec![("from", "1@lid"), ("sender_pn", "2@lid")],
            LidError::WrongServer {
                attr: "sender_pn",
                server: "lid".into(),
                expected: "a phone-number JID",
            },
        ),
        (
            vec![("from", "1@lid"), ("sender_pn", "12a@s.whatsapp.net")],
            LidError::BadUser { attr: "sender_pn" },
        ),
        (
            vec![("from", "1@lid"), ("sender_pn", &long_user)],
            LidError::BadUser { attr: "sender_pn" },
        ),
        (
            vec![("from", "1@lid"), ("sender_pn", "2_3@s.whatsapp.net")],
            LidError::BadUser { attr: "sender_pn" },
        ),
        (
            vec![("from", "1:2@lid"), ("sender_pn", "2:5@s.whatsapp.net")],
            LidError::Mismatch { attr: "sender_pn" },
        ),
        (
            vec![("from", "1@s.whatsapp.net"), ("addressing_mode", "lid")],
            LidError::Mismatch {
                attr: "addressing_mode",
            },
        ),
        (
            vec![("from", "1@lid"), ("addressing_mode", &long_mode)],
            LidError::BadMode("x".repeat(32)),
        ),
        (
            vec![("from", "x@lid"), ("sender_pn", "2@s.whatsapp.net")],
            LidError::BadUser { attr: "from" },
        ),
        (
            vec![
                ("from", "1@s.whatsapp.net"),
                ("sender_lid", "2@evil.example"),
            ],
            LidError::WrongServer {
                attr: "sender_lid",
                server: "evil.example".into(),
                expected: "a LID",
            },
        ),
        (
            vec![("from", "1@g.us")],
            LidError::NotAJid {
                attr: "participant",
            },
        ),
        (vec![("id", "only")], LidError::NotAJid { attr: "from" }),
    ];
    for (attrs, expected) in cases {
        assert_eq!(
            Addressing::parse(&message(&attrs)),
            Err(expected.clone()),
            "{attrs:?}"
        );
    }

    // Through the messenger: the refusal is an event, nothing is learned, and the message
    // itself is still handled by its `from` (here: acked, since it carries no usable enc).
    let mut w = world();
    let node = message(&[
        ("from", "4915000002:2@s.whatsapp.net"),
        ("sender_lid", "4915000002@s.whatsapp.net"),
        ("t", "1"),
    ])
    .children([Node::new("enc")
        .attr("v", "2")
        .attr("type", "msg")
        .bytes(vec![1, 2, 3])]);
    w.give(ALICE, &node);
    w.run();
    let events = &w.devices[ALICE].events;
    assert!(events.iter().any(|e| matches!(
        e,
        MessengerEvent::AddressingRefused {
            error: LidError::WrongServer {
                attr: "sender_lid",
                ..
            },
            ..
        }
    )));
    assert!(w.devices[ALICE].store.lid_to_pn.is_empty());
    assert!(w.devices[ALICE].store.pn_to_lid.is_empty());
}

/// Answers an iq with `children` as the server would.
fn iq_result(iq: &Node, children: Vec<Node>) -> Node {
    Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "result")
        .attr("id", iq.optional_str("id").unwrap())
        .children(children)
}

#[test]
fn own_devices_get_their_copies_by_lid_in_a_lid_chat() {
    let mut w = world();
    // Alice's chat with Bob is LID-addressed; Alice has a second device (3).
    let mut alice3 = device(ALICE_PN, ALICE_LID, 3, 9);
    let a = &mut w.devices[ALICE];
    a.store.store_lid_mapping(BOB_LID, BOB_PN).unwrap();
    a.store
        .store_addressing_mode(BOB_PN, AddressingMode::Lid)
        .unwrap();
    let id = a
        .messenger
        .send_text(&format!("{BOB_PN}@s.whatsapp.net"), "by lid", &mut w.rng)
        .unwrap();
    let query = a.messenger.poll_transmit().unwrap();
    let answers = [
        usync::UserDevices {
            user: format!("{BOB_PN}@s.whatsapp.net"),
            devices: vec![2],
            lid: Some(format!("{BOB_LID}@lid")),
        },
        usync::UserDevices {
            user: format!("{ALICE_PN}@s.whatsapp.net"),
            devices: vec![1, 3],
            lid: Some(format!("{ALICE_LID}@lid")),
        },
    ];
    let answer = iq_result(&query, vec![usync::device_answer("s", &answers)]);
    w.give(ALICE, &answer);
    let keys = w.devices[ALICE].messenger.poll_transmit().unwrap();
    let mut asked = usync::parse_key_query(&keys).unwrap();
    asked.sort();
    let bob2 = format!("{BOB_LID}:2@lid");
    let alice3_lid = format!("{ALICE_LID}:3@lid");
    assert_eq!(
        asked,
        [bob2.clone(), alice3_lid.clone()],
        "our other device by our LID, not by phone number; this device not at all"
    );
    let alice3_bundle = {
        let pre_key = alice3
            .prekeys
            .pop()
            .map(|k| (k.id, PublicKey::of(&k.key_pair)));
        PreKeyBundle {
            registration_id: alice3.creds.registration_id,
            identity_key: PublicKey::of(&alice3.creds.identity),
            signed_pre_key_id: alice3.creds.signed_prekey.id,
            signed_pre_key: PublicKey::of(&alice3.creds.signed_prekey.key_pair),
            signed_pre_key_signature: alice3.creds.signed_prekey.signature,
            pre_key,
        }
    };
    let bob_bundle = w.bundle(BOB);
    let list = Node::new("list").children([
        usync::bundle_node(&bob2, &bob_bundle),
        usync::bundle_node(&alice3_lid, &alice3_bundle),
    ]);
    w.give(ALICE, &iq_result(&keys, vec![list]));
    let message = w.devices[ALICE].messenger.poll_transmit().unwrap();
    assert_eq!(message.optional_str("to"), Some(&*format!("{BOB_LID}@lid")));
    let own_copy = message
        .child("participants")
        .unwrap()
        .children_named("to")
        .find(|t| t.optional_str("jid") == Some(&alice3_lid))
        .expect("a copy for our device 3 by LID")
        .clone();
    // Device 3 gets it as the server delivers a LID chat's copy: from our LID device.
    let mut children = own_copy.child_nodes().to_vec();
    children.push(message.child("device-identity").unwrap().clone());
    let delivered = Node::new("message")
        .attr("from", format!("{ALICE_LID}:1@lid"))
        .attr("recipient", format!("{BOB_LID}@lid"))
        .attr("sender_pn", format!("{ALICE_PN}@s.whatsapp.net"))
        .attr("addressing_mode", "lid")
        .attr("id", &id)
        .attr("t", 1_700_000_000u64)
        .attr("type", "text")
        .children(children);
    alice3
        .messenger
        .handle_node(&delivered, &mut alice3.store, 1_700_000_000, &mut w.rng);
    let events: Vec<MessengerEvent> =
        std::iter::from_fn(|| alice3.messenger.poll_event()).collect();
    assert!(
        events.iter().any(|e| matches!(
            e,
            MessengerEvent::Message { id: i, from_me: true, chat, message, .. }
                if *i == id
                    && *chat == format!("{BOB_LID}@lid")
                    && message.conversation.as_deref() == Some("by lid")
        )),
        "{events:?}"
    );
}
