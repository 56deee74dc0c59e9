//! Incoming message stanzas against a live session: a receiver that already decrypted one
//! message from the sender gets (a) arbitrary bytes decoded as a node, and (b) a well-formed
//! `message` whose `enc` carries the sender's next real ciphertext with the input spliced in.
//! Decryption goes through wa-store's atomic receive step on the in-memory backend. Never
//! panics; when no message came out, the session with the sender is byte for byte what it was;
//! retry receipts never exceed the bound. The sender is a companion, so its pkmsgs carry a
//! genuine `device-identity` (and arbitrary stanzas may carry any), which is checked first.
#![no_main]

mod common;

use common::Counter;
use libfuzzer_sys::fuzz_target;
use wa_binary::{Codec, Node};
use wa_core::md::store::{AddressingMode, CiphertextHash, LidStore, MdStoreError};
use wa_core::md::{
    Account, Credentials, Messenger, MessengerConfig, MessengerEvent, ReceiveOutcome, ReceiveStore,
};
use wa_core::md::{adv, stanza};
use wa_crypto::{CryptoRng, KeyPair, RngCore};
use wa_proto::prost::Message as _;
use wa_proto::proto::{AdvDeviceIdentity, AdvSignedDeviceIdentity};
use wa_signal::{
    IdentityStore, InMemoryStore, MessageKind, PreKey, PreKeyBundle, PreKeyStore, ProtocolAddress,
    PublicKey, SessionRecord, SessionStore, SignedPreKey, SignedPreKeyStore, StoreError,
};

/// The receiver's state: wa-store's memory backend, through its atomic receive step.
struct St(wa_store::Store);

impl IdentityStore for St {
    fn local_identity(&self) -> Result<KeyPair, StoreError> {
        self.0.local_identity()
    }
    fn local_registration_id(&self) -> Result<u32, StoreError> {
        self.0.local_registration_id()
    }
    fn identity(&self, a: &ProtocolAddress) -> Result<Option<PublicKey>, StoreError> {
        self.0.identity(a)
    }
    fn save_identity(&mut self, a: &ProtocolAddress, k: &PublicKey) -> Result<(), StoreError> {
        self.0.save_identity(a, k)
    }
}
impl SessionStore for St {
    fn load_session(&self, a: &ProtocolAddress) -> Result<Option<SessionRecord>, StoreError> {
        self.0.load_session(a)
    }
    fn store_session(&mut self, a: &ProtocolAddress, r: &SessionRecord) -> Result<(), StoreError> {
        self.0.store_session(a, r)
    }
}
impl PreKeyStore for St {
    fn load_pre_key(&self, id: u32) -> Result<Option<PreKey>, StoreError> {
        self.0.load_pre_key(id)
    }
    fn store_pre_key(&mut self, k: &PreKey) -> Result<(), StoreError> {
        self.0.store_pre_key(k)
    }
    fn remove_pre_key(&mut self, id: u32) -> Result<(), StoreError> {
        self.0.remove_pre_key(id)
    }
}
impl SignedPreKeyStore for St {
    fn load_signed_pre_key(&self, id: u32) -> Result<Option<SignedPreKey>, StoreError> {
        self.0.load_signed_pre_key(id)
    }
    fn store_signed_pre_key(&mut self, k: &SignedPreKey) -> Result<(), StoreError> {
        self.0.store_signed_pre_key(k)
    }
}
impl LidStore for St {
    fn store_lid_mapping(&mut self, lid: &str, pn: &str) -> Result<(), MdStoreError> {
        self.0.store_lid_mapping(lid, pn)
    }
    fn pn_for_lid(&self, lid: &str) -> Result<Option<String>, MdStoreError> {
        self.0.pn_for_lid(lid)
    }
    fn lid_for_pn(&self, pn: &str) -> Result<Option<String>, MdStoreError> {
        self.0.lid_for_pn(pn)
    }
    fn store_addressing_mode(
        &mut self,
        user: &str,
        mode: AddressingMode,
    ) -> Result<(), MdStoreError> {
        self.0.store_addressing_mode(user, mode)
    }
    fn addressing_mode(&self, user: &str) -> Result<Option<AddressingMode>, MdStoreError> {
        self.0.addressing_mode(user)
    }
    fn migrate_session(
        &mut self,
        from: &ProtocolAddress,
        to: &ProtocolAddress,
    ) -> Result<bool, MdStoreError> {
        self.0.migrate_session(from, to)
    }
}
impl wa_core::md::store::SentMessageStore for St {
    fn store_sent_message(
        &mut self,
        id: &str,
        m: &wa_core::md::store::SentMessage,
    ) -> Result<(), MdStoreError> {
        self.0.store_sent_message(id, m)
    }
    fn sent_message(
        &self,
        id: &str,
    ) -> Result<Option<wa_core::md::store::SentMessage>, MdStoreError> {
        self.0.sent_message(id)
    }
    fn prune_sent_messages(&mut self, before: u64, keep: usize) -> Result<usize, MdStoreError> {
        self.0.prune_sent_messages(before, keep)
    }
}
impl ReceiveStore for St {
    fn receive_enc<R: RngCore + CryptoRng>(
        &mut self,
        from: &ProtocolAddress,
        sender_jid: &str,
        id: &str,
        kind: MessageKind,
        ciphertext: &[u8],
        rng: &mut R,
    ) -> Result<ReceiveOutcome, wa_signal::Error> {
        let incoming = wa_store::Incoming {
            from,
            sender_jid,
            id,
            kind,
            ciphertext,
        };
        match wa_store::receive(&self.0, &incoming, rng) {
            Ok(wa_store::Received::New {
                hash, plaintext, ..
            }) => Ok(ReceiveOutcome::New { hash, plaintext }),
            Ok(wa_store::Received::Duplicate { hash, .. }) => {
                Ok(ReceiveOutcome::Duplicate { hash })
            }
            Err(wa_store::ReceiveError::Signal(e)) => Err(e),
            Err(wa_store::ReceiveError::Store(e)) => {
                Err(wa_signal::Error::Store(StoreError::msg(e.to_string())))
            }
        }
    }
    fn mark_delivered(&mut self, hash: &CiphertextHash, now: u64) -> Result<(), MdStoreError> {
        wa_core::md::store::DecryptBufferStore::mark_delivered(&mut self.0, hash, now).map(|_| ())
    }
}

const SENDER: &str = "15550001111:1@s.whatsapp.net";

/// A paired device whose account identity is signed for real (as at pairing), so that the
/// `device-identity` its pkmsgs carry passes the receiver's check.
fn paired(rng: &mut Counter, user: &str) -> Credentials {
    let mut creds = Credentials::generate(rng);
    let account = KeyPair::generate(rng);
    let secret = [5u8; 32];
    let container = adv::primary_sign(
        &account,
        &creds.identity.public_bytes(),
        &secret,
        AdvDeviceIdentity {
            raw_id: Some(1),
            timestamp: Some(1),
            key_index: Some(1),
            ..AdvDeviceIdentity::default()
        },
        rng,
    );
    let verified = adv::verify_and_sign(&container, &secret, &creds.identity, rng).unwrap();
    creds.account = Some(Account {
        jid: user.parse().unwrap(),
        lid: None,
        details: verified.details,
        account_signature_key: verified.account_signature_key,
        account_signature: verified.account_signature,
        device_signature: verified.device_signature,
        key_index: 1,
        business_name: None,
    });
    creds
}

/// The `device-identity` a companion's pkmsgs carry.
fn device_identity(creds: &Credentials) -> Vec<u8> {
    let account = creds.account.as_ref().unwrap();
    AdvSignedDeviceIdentity {
        details: Some(account.details.clone()),
        account_signature_key: Some(account.account_signature_key.to_vec()),
        account_signature: Some(account.account_signature.to_vec()),
        device_signature: Some(account.device_signature.to_vec()),
    }
    .encode_to_vec()
}

fn message(id: &str, kind: MessageKind, ciphertext: &[u8], identity: &[u8]) -> Node {
    let mut children = vec![stanza::enc_node(kind, ciphertext)];
    if kind == MessageKind::PreKey {
        children.push(Node::new("device-identity").bytes(identity.to_vec()));
    }
    Node::new("message")
        .attr("from", SENDER)
        .attr("id", id)
        .attr("type", "text")
        .children(children)
}

/// Where the sender's session lives now: its LID address once a stanza taught the receiver the
/// sender's LID (the session moves there whole), its phone-number address before.
fn session_address(store: &St) -> ProtocolAddress {
    match store.lid_for_pn("15550001111").unwrap() {
        Some(lid) => ProtocolAddress::new(format!("{lid}_1"), 1),
        None => ProtocolAddress::new("15550001111", 1),
    }
}

fn session_bytes(store: &St, address: &ProtocolAddress) -> Vec<u8> {
    store
        .load_session(address)
        .unwrap()
        .map(|r| r.to_bytes().to_vec())
        .unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let mut rng = Counter(11);
    // The sender (plain wa-signal in memory) and the receiver (wa-store, messenger).
    let sender_creds = paired(&mut rng, SENDER);
    let mut sender =
        InMemoryStore::new(sender_creds.identity.clone(), sender_creds.registration_id);
    let receiver_creds = paired(&mut rng, "15550002222:1@s.whatsapp.net");
    let mut receiver = St(wa_store::Store::memory());
    receiver
        .0
        .set_local_identity(&receiver_creds.identity, receiver_creds.registration_id)
        .unwrap();
    receiver
        .store_signed_pre_key(&receiver_creds.signed_prekey)
        .unwrap();
    let mut messenger =
        Messenger::new(&receiver_creds, MessengerConfig::default(), &mut rng).unwrap();

    // A live session: one pkmsg decrypted by the receiver.
    let bundle = PreKeyBundle {
        registration_id: receiver_creds.registration_id,
        identity_key: PublicKey::of(&receiver_creds.identity),
        signed_pre_key_id: receiver_creds.signed_prekey.id,
        signed_pre_key: PublicKey::of(&receiver_creds.signed_prekey.key_pair),
        signed_pre_key_signature: receiver_creds.signed_prekey.signature,
        pre_key: None,
    };
    let to_receiver = ProtocolAddress::new("15550002222", 1);
    wa_signal::process_pre_key_bundle(&mut sender, &to_receiver, &bundle, &mut rng).unwrap();
    let body = wa_signal::pad(&[0x0A, 0x02, b'h', b'i'], &mut rng);
    let first = wa_signal::encrypt(&mut sender, &to_receiver, &body).unwrap();
    let identity = device_identity(&sender_creds);
    messenger.handle_node(
        &message("FIRST", first.kind, &first.bytes, &identity),
        &mut receiver,
        1,
        &mut rng,
    );
    let mut ok = 0;
    while let Some(event) = messenger.poll_event() {
        if let MessengerEvent::Message { hash, .. } = event {
            receiver.mark_delivered(&hash, 1).unwrap();
            ok += 1;
        }
    }
    assert_eq!(ok, 1, "the seed message decrypts");
    while messenger.poll_transmit().is_some() {}

    // (a) arbitrary bytes as a node; (b) the next real ciphertext with the input spliced in.
    let next = wa_signal::encrypt(&mut sender, &to_receiver, &body).unwrap();
    let mut spliced = next.bytes.clone();
    if let Some((&at, rest)) = data.split_first() {
        let at = usize::from(at) % spliced.len().max(1);
        spliced.truncate(at);
        spliced.extend_from_slice(rest);
    }
    let mut nodes = vec![message("NEXT", next.kind, &spliced, &identity)];
    if let Ok(node) = Codec::multi_device().decode(data) {
        nodes.insert(0, node);
    }
    for node in nodes {
        let before_at = session_address(&receiver);
        let before = session_bytes(&receiver, &before_at);
        for _ in 0..5 {
            messenger.handle_node(&node, &mut receiver, 2, &mut rng);
        }
        let mut messages = 0;
        while let Some(event) = messenger.poll_event() {
            if let MessengerEvent::Message { hash, .. } = event {
                receiver.mark_delivered(&hash, 1).unwrap();
                messages += 1;
            }
        }
        assert!(
            messages <= 1,
            "a stanza delivers at most once, however often it comes"
        );
        let retries = std::iter::from_fn(|| messenger.poll_transmit())
            .filter(|n| n.optional_str("type") == Some("retry"))
            .count();
        assert!(
            retries <= MessengerConfig::default().max_retries as usize,
            "retry receipts are bounded"
        );
        if messages == 0 {
            // The session is byte for byte what it was: where it was, or where LID attributes
            // of the stanza moved it.
            let now_at = session_address(&receiver);
            assert!(
                session_bytes(&receiver, &before_at) == before
                    || session_bytes(&receiver, &now_at) == before,
                "a refused stanza changes no session"
            );
        }
    }
});
