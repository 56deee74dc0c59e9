//! The messenger, sans-IO, between devices of two accounts through a small router written here
//! (device lists, bundles, per-device delivery, acks, receipts): text both ways, the own-device
//! copy, a redelivered message recognised and not decrypted twice, a lost session repaired by a
//! retry receipt, the retry bound, a changed identity reported, malformed stanzas acked without
//! an event, and the stanza shapes.

use std::collections::{BTreeMap, HashMap};

use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest as _, Sha256};
use wa_binary::{Jid, Node};
use wa_core::md::stanza::{self, ReceiptKind};
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

/// Signal state in memory plus a decrypt buffer: the hash of every ciphertext decrypted.
struct Mem {
    signal: InMemoryStore,
    buffer: HashMap<CiphertextHash, bool>,
    /// Ciphertexts actually decrypted (to prove redeliveries are not).
    decrypts: usize,
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
struct Device {
    jid: String,
    creds: Credentials,
    messenger: Messenger,
    store: Mem,
    prekeys: Vec<PreKey>,
    events: Vec<MessengerEvent>,
}

fn device(number: u64, id: u16, seed: u64) -> Device {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut creds = Credentials::generate(&mut rng);
    creds.account = Some(Account {
        jid: Jid::new(number.to_string(), wa_binary::Server::Whatsapp).with_device(id),
        lid: None,
        details: vec![8, u8::try_from(id).unwrap()],
        account_signature_key: [7; 32],
        account_signature: [8; 64],
        device_signature: [9; 64],
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
        },
        prekeys,
        events: Vec::new(),
    }
}

/// The router: devices by JID, what each device has not acked yet, the log of stanzas.
struct Net {
    devices: BTreeMap<String, Device>,
    rng: StdRng,
    /// Every stanza a device sent, with the sender.
    log: Vec<(String, Node)>,
    /// Devices that receive nothing (offline).
    offline: Vec<String>,
    queued: BTreeMap<String, Vec<Node>>,
}

impl Net {
    fn new(devices: Vec<Device>) -> Net {
        Net {
            devices: devices.into_iter().map(|d| (d.jid.clone(), d)).collect(),
            rng: StdRng::seed_from_u64(99),
            log: Vec::new(),
            offline: Vec::new(),
            queued: BTreeMap::new(),
        }
    }

    fn dev(&mut self, jid: &str) -> &mut Device {
        self.devices.get_mut(jid).unwrap()
    }

    fn bundle(&mut self, jid: &str) -> Option<PreKeyBundle> {
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

    fn give(&mut self, to: &str, node: Node) {
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
    fn run(&mut self) {
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

    fn users_devices(&self, user: &str) -> Vec<u16> {
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

    fn route(&mut self, from: &str, node: &Node) {
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
                if self.devices.contains_key(&to) {
                    self.give(&to, forwarded);
                }
            }
            _ => {}
        }
    }

    fn texts(&self, jid: &str) -> Vec<(String, String, bool, String)> {
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

    fn send(&mut self, from: &str, to: &str, text: &str) -> String {
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

const A: &str = "15550000001@s.whatsapp.net";
const B: &str = "15550000002@s.whatsapp.net";
const A1: &str = "15550000001:1@s.whatsapp.net";
const A2: &str = "15550000001:2@s.whatsapp.net";
const B1: &str = "15550000002:1@s.whatsapp.net";

fn net() -> Net {
    Net::new(vec![
        device(15_550_000_001, 1, 1),
        device(15_550_000_001, 2, 2),
        device(15_550_000_002, 1, 3),
    ])
}

#[test]
fn text_both_ways_with_own_device_copy_and_receipts() {
    let mut net = net();
    let id = net.send(A1, B, "hello");
    assert_eq!(
        net.texts(B1),
        vec![(id.clone(), A.to_owned(), false, "hello".to_owned())]
    );
    assert_eq!(
        net.texts(A2),
        vec![(id.clone(), B.to_owned(), true, "hello".to_owned())],
        "our second device gets the DeviceSentMessage form, for the chat with B"
    );
    assert!(net.texts(A1).is_empty(), "nothing comes back to the sender");
    let a1 = &net.devices[A1].events;
    assert!(a1.contains(&MessengerEvent::Sent {
        id: id.clone(),
        error: None
    }));
    assert!(a1.iter().any(|e| matches!(e, MessengerEvent::Receipt { ids, kind: ReceiptKind::Delivery, sender, .. } if ids == &vec![id.clone()] && sender == B1)));
    assert!(a1.iter().any(|e| matches!(e, MessengerEvent::Receipt { ids, kind: ReceiptKind::Sender, sender, .. } if ids == &vec![id.clone()] && sender == A2)));

    // The first message to each device was a pkmsg with our device identity; the reply in the
    // established session is a msg, to all of A's devices, without device-identity.
    let first = &net
        .log
        .iter()
        .find(|(f, n)| f == A1 && &*n.tag == "message")
        .unwrap()
        .1;
    let kinds: Vec<&str> = first
        .child("participants")
        .unwrap()
        .children_named("to")
        .map(|t| t.child("enc").unwrap().optional_str("type").unwrap())
        .collect();
    assert_eq!(kinds, vec!["pkmsg", "pkmsg"]);
    assert!(first.child("device-identity").is_some());
    assert_eq!(
        first.optional_str("phash"),
        Some(stanza::phash(&[A2, B1]).as_str())
    );

    let reply = net.send(B1, A, "hi back");
    for d in [A1, A2] {
        assert_eq!(
            net.texts(d).iter().filter(|t| t.3 == "hi back").count(),
            1,
            "{d}"
        );
    }
    let back = &net
        .log
        .iter()
        .rev()
        .find(|(f, n)| f == B1 && &*n.tag == "message")
        .unwrap()
        .1;
    assert_eq!(back.optional_str("id"), Some(reply.as_str()));
    let kinds: BTreeMap<&str, &str> = back
        .child("participants")
        .unwrap()
        .children_named("to")
        .map(|t| {
            (
                t.optional_str("jid").unwrap(),
                t.child("enc").unwrap().optional_str("type").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        BTreeMap::from([(A1, "msg"), (A2, "pkmsg")]),
        "A1 answered B1's session; A2 never wrote to B1"
    );

    // A second message: B1 answered, so its copy is a msg; A2 never wrote to A1, so Signal keeps
    // sending it pkmsgs (and the device identity rides along).
    net.send(A1, B, "again");
    let last = &net
        .log
        .iter()
        .rev()
        .find(|(f, n)| f == A1 && &*n.tag == "message")
        .unwrap()
        .1;
    let kinds: BTreeMap<&str, &str> = last
        .child("participants")
        .unwrap()
        .children_named("to")
        .map(|t| {
            (
                t.optional_str("jid").unwrap(),
                t.child("enc").unwrap().optional_str("type").unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, BTreeMap::from([(A2, "pkmsg"), (B1, "msg")]));
    assert!(last.child("device-identity").is_some());
}

#[test]
fn redelivery_is_not_decrypted_twice_but_acked_and_receipted_again() {
    let mut net = net();
    net.send(A1, B, "once");
    let delivered = net
        .log
        .iter()
        .find(|(f, n)| f == A1 && &*n.tag == "message")
        .unwrap()
        .1
        .clone();
    let decrypts = net.devices[B1].store.decrypts;
    // The server redelivers B1's copy (as after a crash before the ack).
    let copy = delivered
        .child("participants")
        .unwrap()
        .children_named("to")
        .find(|t| t.optional_str("jid") == Some(B1))
        .unwrap();
    let again = Node::new("message")
        .attr("from", A1)
        .attr("id", delivered.optional_str("id").unwrap())
        .attr("type", "text")
        .children(copy.child_nodes().to_vec());
    let before = net.log.len();
    net.give(B1, again);
    net.run();
    assert_eq!(
        net.devices[B1].store.decrypts, decrypts,
        "not decrypted again"
    );
    assert_eq!(net.texts(B1).len(), 1, "no second event");
    let sent: Vec<&str> = net.log[before..]
        .iter()
        .filter(|(f, _)| f == B1)
        .map(|(_, n)| &*n.tag)
        .collect();
    assert_eq!(
        sent,
        vec!["receipt", "ack"],
        "the redelivery is receipted and acked again"
    );
}

#[test]
fn lost_session_is_repaired_by_a_retry_receipt_bounded() {
    let mut net = net();
    net.send(A1, B, "first");
    net.send(B1, A, "reply");
    // B1 loses its session with A1.
    let address = ProtocolAddress::new("15550000001", 1);
    net.dev(B1)
        .store
        .signal
        .store_session(&address, &SessionRecord::default())
        .unwrap();
    let id = net.send(A1, B, "after loss");
    let b1 = &net.devices[B1].events;
    assert!(b1.iter().any(
        |e| matches!(e, MessengerEvent::DecryptFailed { id: i, retry_sent: true, .. } if *i == id)
    ));
    assert!(net.devices[A1].events.iter().any(
        |e| matches!(e, MessengerEvent::Resent { id: i, device } if *i == id && device == B1)
    ));
    assert_eq!(
        net.texts(B1).iter().filter(|t| t.3 == "after loss").count(),
        1
    );
    let retry = net
        .log
        .iter()
        .find(|(f, n)| f == B1 && n.optional_str("type") == Some("retry"))
        .unwrap()
        .1
        .clone();
    assert_eq!(
        retry.child("retry").unwrap().optional_str("count"),
        Some("1")
    );
    assert_eq!(
        retry
            .child("registration")
            .unwrap()
            .content_bytes()
            .unwrap(),
        net.devices[B1].creds.registration_id.to_be_bytes()
    );
    assert!(
        stanza::retry_bundle(&retry).is_some(),
        "the retry carries usable keys"
    );

    // A message nobody can ever decrypt: retry receipts stop at the bound.
    let garbage = Node::new("message")
        .attr("from", A1)
        .attr("id", "3EB0BAD")
        .attr("type", "text")
        .children([stanza::enc_node(MessageKind::Whisper, &[0x33; 60])]);
    for _ in 0..6 {
        net.give(B1, garbage.clone());
    }
    let sent_retries = {
        let d = net.dev(B1);
        std::iter::from_fn(|| d.messenger.poll_transmit())
            .filter(|n| n.optional_str("type") == Some("retry"))
            .count()
    };
    assert_eq!(
        sent_retries,
        MessengerConfig::default().max_retries as usize
    );
}

#[test]
fn changed_identity_is_reported_and_trusted() {
    let mut net = net();
    net.send(A1, B, "before");
    // B1 reinstalls: new identity, same JID.
    let fresh = device(15_550_000_002, 1, 77);
    net.devices.insert(B1.to_owned(), fresh);
    // A1's old session still encrypts for the old identity; B1 cannot read it and asks again.
    let id = net.send(A1, B, "after reinstall");
    let a1 = &net.devices[A1].events;
    assert!(
        a1.iter()
            .any(|e| matches!(e, MessengerEvent::IdentityChanged { device } if device == B1)),
        "{a1:#?}"
    );
    assert_eq!(
        net.texts(B1)
            .iter()
            .filter(|t| t.3 == "after reinstall" && t.0 == id)
            .count(),
        1
    );
}

#[test]
fn malformed_messages_are_acked_without_a_message() {
    let mut net = net();
    net.send(A1, B, "hello");
    let cases = [
        Node::new("message").attr("from", A1).attr("id", "x1"),
        Node::new("message")
            .attr("from", A1)
            .attr("id", "x2")
            .children([Node::new("enc")
                .attr("v", "1")
                .attr("type", "msg")
                .bytes(vec![1])]),
        Node::new("message")
            .attr("from", A1)
            .attr("id", "x3")
            .children([Node::new("enc")
                .attr("v", "2")
                .attr("type", "skmsg")
                .bytes(vec![1])]),
        Node::new("message")
            .attr("from", A1)
            .attr("id", "x4")
            .children((0..5).map(|_| stanza::enc_node(MessageKind::Whisper, &[1]))),
    ];
    for node in cases {
        let id = node.optional_str("id").unwrap().to_owned();
        let before = net.log.len();
        net.give(B1, node);
        net.run();
        let sent: Vec<&Node> = net.log[before..]
            .iter()
            .filter(|(f, _)| f == B1)
            .map(|(_, n)| n)
            .collect();
        assert!(
            sent.iter()
                .any(|n| &*n.tag == "ack" && n.optional_str("id") == Some(id.as_str())),
            "{id} acked"
        );
        assert!(
            !sent
                .iter()
                .any(|n| &*n.tag == "receipt" && n.optional_str("type").is_none()),
            "{id}: no delivery receipt"
        );
    }
    assert_eq!(net.texts(B1).len(), 1);
}

#[test]
fn stanza_shapes() {
    let parts = [stanza::EncPart {
        device: B1.to_owned(),
        kind: MessageKind::Whisper,
        ciphertext: vec![0x33, 1, 2],
    }];
    let node = stanza::message_node("3EB0AA", B, &parts, Some(&[1, 2]), Some("2:AAAAAAAA"));
    assert_eq!(node.optional_str("type"), Some("text"));
    assert!(
        node.child("device-identity").is_none(),
        "no device-identity without a pkmsg"
    );
    let enc = node
        .child("participants")
        .unwrap()
        .child("to")
        .unwrap()
        .child("enc")
        .unwrap();
    assert_eq!(
        (enc.optional_str("v"), enc.optional_str("type")),
        (Some("2"), Some("msg"))
    );
    // phash: order-independent, "2:" + 8 base64 characters.
    let h = stanza::phash(&[A1, B1]);
    assert_eq!(h, stanza::phash(&[B1, A1]));
    assert!(h.starts_with("2:") && h.len() == 10, "{h}");
    assert_ne!(h, stanza::phash(&[A1]));
    let id = stanza::new_message_id(&mut StdRng::seed_from_u64(1));
    assert!(
        id.starts_with("3EB0") && id.len() == 22 && id[4..].chars().all(|c| c.is_ascii_hexdigit())
    );
    let ack = stanza::ack_for(
        &Node::new("receipt")
            .attr("from", A1)
            .attr("id", "i")
            .attr("type", "read"),
    );
    assert_eq!(
        (
            ack.optional_str("class"),
            ack.optional_str("to"),
            ack.optional_str("type")
        ),
        (Some("receipt"), Some(A1), Some("read"))
    );
    let _ = A2;
}

/// A replayed message carries the decrypt buffer's record of an earlier hand-over as
/// `redelivered`; a live one is never flagged.
#[test]
fn replay_flags_a_message_handed_over_before() {
    let mut rng = StdRng::seed_from_u64(77);
    let mut d = device(15_550_000_303, 0, 7);
    let body = wa_signal::pad(&[0x0A, 0x02, b'h', b'i'], &mut rng);
    for (id, handed) in [("FIRST", false), ("AGAIN", true)] {
        d.messenger
            .replay("15550000404@s.whatsapp.net", id, [1; 32], &body, handed);
    }
    let flags: Vec<(String, bool, Option<String>)> =
        std::iter::from_fn(|| d.messenger.poll_event())
            .filter_map(|e| match e {
                MessengerEvent::Message {
                    id,
                    redelivered,
                    message,
                    ..
                } => Some((id, redelivered, message.conversation)),
                _ => None,
            })
            .collect();
    assert_eq!(
        flags,
        vec![
            ("FIRST".to_owned(), false, Some("hi".to_owned())),
            ("AGAIN".to_owned(), true, Some("hi".to_owned())),
        ]
    );
}

/// `send_message_with` on A1, run to the end.
fn send_cached(net: &mut Net, text: &str) -> String {
    let mut rng = StdRng::seed_from_u64(net.log.len() as u64 + 1_000);
    let d = net.devices.get_mut(A1).unwrap();
    let message = wa_core::md::Content::Text(text.into()).to_message();
    let id = d
        .messenger
        .send_message_with(B, message, &mut d.store, &mut rng)
        .unwrap();
    net.run();
    id
}

fn usyncs_from_a1(net: &Net) -> usize {
    net.log
        .iter()
        .filter(|(f, n)| f == A1 && n.optional_str("xmlns") == Some("usync"))
        .count()
}

#[test]
fn device_lists_are_cached_until_the_protocol_says_they_changed() {
    let mut net = net();
    send_cached(&mut net, "one");
    assert_eq!(usyncs_from_a1(&net), 1);
    assert!(net.devices[A1].messenger.knows_devices_of(B));
    send_cached(&mut net, "two");
    assert_eq!(usyncs_from_a1(&net), 1, "the second send asks nothing");
    assert_eq!(net.texts(B1).iter().filter(|t| t.3 == "two").count(), 1);
    assert_eq!(net.texts(A2).iter().filter(|t| t.3 == "two").count(), 1);

    // A devices notification for B drops B's list: the next send asks again.
    net.give(
        A1,
        Node::new("notification")
            .attr("type", "devices")
            .attr("from", B),
    );
    assert!(!net.devices[A1].messenger.knows_devices_of(B));
    send_cached(&mut net, "three");
    assert_eq!(usyncs_from_a1(&net), 2);

    // An ack with our own phash keeps the lists; one with another phash drops them.
    for (matching, kept) in [(true, true), (false, false)] {
        let mut rng = StdRng::seed_from_u64(7);
        let d = net.devices.get_mut(A1).unwrap();
        let message = wa_core::md::Content::Text("acked by hand".into()).to_message();
        let id = d
            .messenger
            .send_message_with(B, message, &mut d.store, &mut rng)
            .unwrap();
        let node = std::iter::from_fn(|| d.messenger.poll_transmit())
            .find(|n| &*n.tag == "message")
            .expect("sent at once from the cache");
        let ours = node.optional_str("phash").unwrap().to_owned();
        let phash = if matching {
            ours
        } else {
            "2:AAAAAAAA".to_owned()
        };
        let ack = Node::new("ack")
            .attr("class", "message")
            .attr("id", &id)
            .attr("from", B)
            .attr("phash", phash);
        d.messenger
            .handle_node(&ack, &mut d.store, 1_700_000_000, &mut rng);
        assert_eq!(d.messenger.knows_devices_of(B), kept, "matching {matching}");
    }
    send_cached(&mut net, "four");
    assert_eq!(usyncs_from_a1(&net), 3);

    // B links a new device, which writes to A: a sender missing from the list drops it.
    let b2 = device(15_550_000_002, 2, 4);
    net.devices.insert(b2.jid.clone(), b2);
    assert!(net.devices[A1].messenger.knows_devices_of(B));
    net.send("15550000002:2@s.whatsapp.net", A, "from the new device");
    assert_eq!(
        net.texts(A1)
            .iter()
            .filter(|t| t.3 == "from the new device")
            .count(),
        1
    );
    assert!(!net.devices[A1].messenger.knows_devices_of(B));
    send_cached(&mut net, "five");
    assert_eq!(usyncs_from_a1(&net), 4);
    assert_eq!(
        net.texts("15550000002:2@s.whatsapp.net")
            .iter()
            .filter(|t| t.3 == "five")
            .count(),
        1,
        "the refreshed list reaches the new device"
    );
}
