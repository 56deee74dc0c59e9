//! The conformance suite every backend runs: each trait method, transactions (commit,
//! rollback, read-your-writes), the `receive`/`send` helpers' atomicity, and concurrent writers.
//! Generate one `#[test]` per check with [`store_suite!`](crate::store_suite), given an
//! expression that makes a fresh, empty store (a new device). `wa-signal`'s own suite runs
//! beside it (see `tests/`).

use std::sync::Arc;

use wa_core::md::store::{
    AddressingMode, AppStateStore, AppStateSyncKey, AppStateVersion, Chat, ChatStore, Contact,
    ContactStore, DELIVERED_KEEP_SECS, DecryptBufferStore, DecryptedMessage, DeviceStore, LidStore,
    MessageSecretStore, OutboxEntry, OutboxKind, OutboxStore, SentMessage, SentMessageStore,
};
use wa_signal::conformance::TestRng;
use wa_signal::{
    IdentityStore as _, InMemoryStore, KeyPair, MessageKind, PreKey, PreKeyBundle, PreKeyStore,
    ProtocolAddress, PublicKey, SessionStore, SignedPreKey, SignedPreKeyStore,
};

use crate::{
    Error, Incoming, ReceiptQueue, ReceiveError, Received, Store, Table, ciphertext_hash, codec,
    receive, receive_with, send, send_recorded,
};

/// Device credentials: absent, saved, replaced.
pub fn check_device(store: &mut Store) {
    assert_eq!(store.load_device().unwrap(), None, "fresh device");
    store.save_device(b"v1 credentials").unwrap();
    assert_eq!(
        store.load_device().unwrap().as_deref(),
        Some(&b"v1 credentials"[..])
    );
    store.save_device(b"").unwrap();
    assert_eq!(
        store.load_device().unwrap().as_deref(),
        Some(&b""[..]),
        "empty blob kept"
    );
}

/// LID ↔ PN both ways; a new mapping replaces older ones of either side.
pub fn check_lid(store: &mut Store) {
    assert_eq!(store.pn_for_lid("100").unwrap(), None);
    store.store_lid_mapping("100", "4915").unwrap();
    assert_eq!(store.pn_for_lid("100").unwrap().as_deref(), Some("4915"));
    assert_eq!(store.lid_for_pn("4915").unwrap().as_deref(), Some("100"));
    store.store_lid_mapping("200", "4915").unwrap();
    assert_eq!(store.lid_for_pn("4915").unwrap().as_deref(), Some("200"));
    assert_eq!(store.pn_for_lid("100").unwrap(), None, "old LID unmapped");
    // The chat's addressing mode (v3): absent, set, replaced; per user.
    assert_eq!(store.addressing_mode("4915").unwrap(), None);
    store
        .store_addressing_mode("4915", AddressingMode::Lid)
        .unwrap();
    assert_eq!(
        store.addressing_mode("4915").unwrap(),
        Some(AddressingMode::Lid)
    );
    assert_eq!(store.addressing_mode("4916").unwrap(), None);
    store
        .store_addressing_mode("4915", AddressingMode::Pn)
        .unwrap();
    assert_eq!(
        store.addressing_mode("4915").unwrap(),
        Some(AddressingMode::Pn)
    );
}

/// A session under a phone-number address moves to the LID address whole (the next message of
/// the same session decrypts there), with its identity; the old rows are gone; a second move
/// finds nothing; a LID session that already exists is kept over a stale phone-number one.
pub fn check_lid_session_migration(store: &mut Store) {
    let mut rng = TestRng::new(23);
    let (mut alice, bob_addr, _) = pair(store, &mut rng);
    let pn = ProtocolAddress::new("4915", 2);
    let lid = ProtocolAddress::new("100_1", 2);
    let first = wa_signal::encrypt(&mut alice, &bob_addr, b"one").unwrap();
    let plain = wa_signal::decrypt(store, &pn, first.kind, &first.bytes, &mut rng).unwrap();
    assert_eq!(plain, b"one");
    let identity = store.identity(&pn).unwrap().expect("identity saved");
    assert!(store.migrate_session(&pn, &lid).unwrap(), "moved");
    assert!(
        store.load_session(&pn).unwrap().is_none(),
        "no PN session left"
    );
    assert!(
        store.identity(&pn).unwrap().is_none(),
        "no PN identity left"
    );
    assert_eq!(store.identity(&lid).unwrap(), Some(identity));
    let second = wa_signal::encrypt(&mut alice, &bob_addr, b"two").unwrap();
    // Still a pkmsg (alice has heard nothing back) on the same base key, whose one-time prekey
    // the first message used up: only the moved session can open it.
    assert!(store.load_pre_key(100).unwrap().is_none());
    let plain = wa_signal::decrypt(store, &lid, second.kind, &second.bytes, &mut rng).unwrap();
    assert_eq!(plain, b"two", "the moved session decrypts its next message");
    assert!(
        !store.migrate_session(&pn, &lid).unwrap(),
        "nothing left to move"
    );
    // A stale PN copy beside a live LID session: the LID one stays, the PN one goes.
    let record = store.load_session(&lid).unwrap().unwrap();
    let stale = ProtocolAddress::new("4915", 3);
    let live = ProtocolAddress::new("100_1", 3);
    store.store_session(&live, &record).unwrap();
    let third = wa_signal::encrypt(&mut alice, &bob_addr, b"three").unwrap();
    wa_signal::decrypt(store, &lid, third.kind, &third.bytes, &mut rng).unwrap();
    let newer = store.load_session(&lid).unwrap().unwrap();
    store.store_session(&stale, &newer).unwrap();
    assert!(
        !store.migrate_session(&stale, &live).unwrap(),
        "kept the LID session"
    );
    assert!(store.load_session(&stale).unwrap().is_none());
    assert_eq!(
        store.load_session(&live).unwrap().unwrap().to_bytes(),
        record.to_bytes()
    );
}

/// App-state sync keys and versions.
pub fn check_app_state(store: &mut Store) {
    let key = AppStateSyncKey {
        data: vec![7; 32],
        fingerprint: vec![1, 2, 3],
        timestamp: 1_700_000_000_000,
    };
    assert!(store.sync_key(b"k1").unwrap().is_none());
    store.store_sync_key(b"k1", &key).unwrap();
    assert_eq!(store.sync_key(b"k1").unwrap(), Some(key));
    assert!(store.sync_key(b"k2").unwrap().is_none(), "per key id");
    let v = AppStateVersion {
        version: 5,
        hash: [9; 128],
    };
    assert!(store.app_state_version("regular").unwrap().is_none());
    store.store_app_state_version("regular", &v).unwrap();
    assert_eq!(store.app_state_version("regular").unwrap(), Some(v));
    let v6 = AppStateVersion {
        version: 6,
        hash: [1; 128],
    };
    store.store_app_state_version("regular", &v6).unwrap();
    assert_eq!(store.app_state_version("regular").unwrap(), Some(v6));
}

fn message(id: &str, plaintext: &[u8]) -> DecryptedMessage {
    DecryptedMessage {
        sender: "alice@s.whatsapp.net".into(),
        id: id.into(),
        plaintext: plaintext.to_vec(),
        delivered: false,
        handed: false,
        delivered_at: 0,
    }
}

/// The decrypt buffer: buffered, listed while undelivered, wiped but remembered once delivered.
pub fn check_decrypt_buffer(store: &mut Store) {
    let (h1, h2) = (ciphertext_hash(b"one"), ciphertext_hash(b"two"));
    assert!(store.decrypted(&h1).unwrap().is_none());
    assert!(!store.mark_delivered(&h1, 1).unwrap(), "nothing to deliver");
    assert!(!store.mark_handed(&h1).unwrap(), "nothing to hand over");
    store
        .buffer_decrypted(&h1, &message("A", b"hello"))
        .unwrap();
    store
        .buffer_decrypted(&h2, &message("B", b"world"))
        .unwrap();
    let mut pending = store.undelivered().unwrap();
    pending.sort_by(|a, b| a.1.id.cmp(&b.1.id));
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].0, h1);
    assert_eq!(pending[0].1.plaintext, b"hello");
    assert!(!pending[0].1.handed, "not handed over yet");
    // Handed over: still pending (the application has not acknowledged it), now flagged.
    assert!(store.mark_handed(&h1).unwrap());
    let handed = store.decrypted(&h1).unwrap().unwrap();
    assert!(handed.handed && !handed.delivered && handed.plaintext == b"hello");
    assert_eq!(
        store.undelivered().unwrap().len(),
        2,
        "handed is not delivered"
    );
    assert!(store.mark_delivered(&h1, 1_000).unwrap());
    let delivered = store
        .decrypted(&h1)
        .unwrap()
        .expect("entry kept after delivery");
    assert!(
        delivered.delivered && delivered.plaintext.is_empty(),
        "plaintext wiped"
    );
    assert_eq!(delivered.delivered_at, 1_000);
    // A second acknowledgement keeps the first time.
    assert!(store.mark_delivered(&h1, 5_000).unwrap());
    assert_eq!(store.decrypted(&h1).unwrap().unwrap().delivered_at, 1_000);
    let pending = store.undelivered().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].1.id, "B");
}

/// Pruning: delivered entries acknowledged before the bound go, younger ones and pending ones
/// (however old) stay; a pruned entry's hash is unknown again.
pub fn check_prune_delivered(store: &mut Store) {
    let [old, young, pending] = [&b"old"[..], b"young", b"pending"].map(ciphertext_hash);
    for (h, id) in [(&old, "old"), (&young, "young"), (&pending, "pending")] {
        store.buffer_decrypted(h, &message(id, b"text")).unwrap();
    }
    let now = 100 * DELIVERED_KEEP_SECS;
    store
        .mark_delivered(&old, now - DELIVERED_KEEP_SECS - 1)
        .unwrap();
    store.mark_delivered(&young, now - 60).unwrap();
    store.mark_handed(&pending).unwrap();
    assert_eq!(store.prune_delivered(now - DELIVERED_KEEP_SECS).unwrap(), 1);
    assert!(
        store.decrypted(&old).unwrap().is_none(),
        "old tombstone pruned"
    );
    assert!(
        store.decrypted(&young).unwrap().unwrap().delivered,
        "a tombstone inside the window refuses a replay"
    );
    let left = store.undelivered().unwrap();
    assert_eq!(left.len(), 1, "pending entries are never pruned");
    assert!(left[0].1.handed && left[0].1.plaintext == b"text");
    assert_eq!(store.prune_delivered(now - DELIVERED_KEEP_SECS).unwrap(), 0);
    let record = store.transaction(|tx| tx.decrypt_record()).unwrap();
    assert_eq!(record.len(), 2);
}

/// The outbox: increasing sequence numbers, never reused after removal.
pub fn check_outbox(store: &mut Store) {
    let entry = |n: u8| OutboxEntry {
        kind: if n % 2 == 0 {
            OutboxKind::Message
        } else {
            OutboxKind::Receipt
        },
        to: format!("{n}@s.whatsapp.net"),
        payload: vec![n; 3],
    };
    assert!(store.outbox().unwrap().is_empty());
    let a = store.enqueue_outbox(&entry(0)).unwrap();
    let b = store.enqueue_outbox(&entry(1)).unwrap();
    assert!(b > a);
    assert_eq!(store.outbox().unwrap(), vec![(a, entry(0)), (b, entry(1))]);
    assert!(store.remove_outbox(b).unwrap());
    assert!(!store.remove_outbox(b).unwrap(), "already removed");
    let c = store.enqueue_outbox(&entry(2)).unwrap();
    assert!(c > b, "sequence not reused after removal");
    assert_eq!(store.outbox().unwrap(), vec![(a, entry(0)), (c, entry(2))]);
}

/// The sent messages kept for retry receipts (v4): absent, stored, replaced with a recorded
/// resend; pruning by age, then by count (the oldest go first, whatever the id order); and a
/// record written in a rolled-back transaction is not there.
pub fn check_sent_messages(store: &mut Store) {
    let sent = |to: &str, at: u64| SentMessage {
        to: to.to_owned(),
        message: vec![10, 2, b'h', b'i'],
        sent_at: at,
        resends: Vec::new(),
    };
    assert_eq!(store.sent_message("A").unwrap(), None, "fresh device");
    store.store_sent_message("A", &sent("b@lid", 100)).unwrap();
    assert_eq!(store.sent_message("A").unwrap(), Some(sent("b@lid", 100)));
    let mut resent = sent("b@lid", 100);
    assert!(resent.record_resend("b:2@lid", 1));
    assert!(resent.record_resend("b:2@lid", 2));
    assert!(resent.record_resend("b@lid", 1));
    store.store_sent_message("A", &resent).unwrap();
    let back = store.sent_message("A").unwrap().unwrap();
    assert_eq!(
        (
            back.resent_to("b:2@lid"),
            back.resent_to("b@lid"),
            back.resent_to("c@lid")
        ),
        (2, 1, 0)
    );
    // Ids in the reverse order of their times: count pruning must go by time, not by id.
    store.store_sent_message("B", &sent("c@lid", 300)).unwrap();
    store.store_sent_message("C", &sent("c@lid", 200)).unwrap();
    store.store_sent_message("D", &sent("c@lid", 50)).unwrap();
    assert_eq!(
        store.prune_sent_messages(60, 100).unwrap(),
        1,
        "D is too old"
    );
    assert_eq!(store.sent_message("D").unwrap(), None);
    assert_eq!(
        store.prune_sent_messages(0, 2).unwrap(),
        1,
        "A is the oldest"
    );
    assert_eq!(store.sent_message("A").unwrap(), None);
    assert!(store.sent_message("B").unwrap().is_some());
    assert!(store.sent_message("C").unwrap().is_some());
    assert_eq!(store.prune_sent_messages(0, 2).unwrap(), 0, "within bounds");
    let rolled_back: Result<(), Error> = store.transaction(|tx| {
        tx.store_sent_message("E", &sent("e@lid", 400))?;
        Err(Error::Inner("abandoned".into()))
    });
    assert!(rolled_back.is_err());
    assert_eq!(store.sent_message("E").unwrap(), None, "rolled back");
}

/// Message secrets per (chat, sender, id), with no ambiguity between the parts.
pub fn check_message_secrets(store: &mut Store) {
    store
        .store_message_secret("c", "s", "id", &[5; 32])
        .unwrap();
    assert_eq!(store.message_secret("c", "s", "id").unwrap(), Some([5; 32]));
    assert_eq!(
        store.message_secret("cs", "", "id").unwrap(),
        None,
        "parts not concatenated"
    );
    assert_eq!(store.message_secret("c", "s", "other").unwrap(), None);
}

/// Contacts and chats.
pub fn check_contacts_and_chats(store: &mut Store) {
    let c = Contact {
        name: Some("Alice".into()),
        notify: None,
    };
    assert!(store.contact("a@s").unwrap().is_none());
    store.store_contact("a@s", &c).unwrap();
    store.store_contact("b@s", &Contact::default()).unwrap();
    assert_eq!(store.contact("a@s").unwrap(), Some(c.clone()));
    assert_eq!(
        store.contacts().unwrap(),
        vec![("a@s".into(), c), ("b@s".into(), Contact::default())]
    );
    let chat = Chat {
        name: Some("group".into()),
        unread: 2,
        archived: true,
        muted_until: 99,
        last_message_at: 42,
    };
    store.store_chat("g@g.us", &chat).unwrap();
    assert_eq!(store.chat("g@g.us").unwrap(), Some(chat.clone()));
    assert_eq!(store.chats().unwrap(), vec![("g@g.us".into(), chat)]);
    assert!(store.remove_chat("g@g.us").unwrap());
    assert!(!store.remove_chat("g@g.us").unwrap());
    assert!(store.chat("g@g.us").unwrap().is_none());
}

/// Transactions: reads see the transaction's own writes; `Err` rolls everything back; `Ok`
/// commits everything.
pub fn check_transactions(store: &mut Store) {
    let failed: Result<(), Error> = store.transaction(|tx| {
        tx.save_device(b"never")?;
        tx.store_chat("x@s", &Chat::default())?;
        assert_eq!(
            tx.load_device()?.as_deref(),
            Some(&b"never"[..]),
            "read own write"
        );
        Err(Error::Inner("abort".into()))
    });
    assert!(failed.is_err());
    assert_eq!(store.load_device().unwrap(), None, "rolled back");
    assert!(store.chat("x@s").unwrap().is_none(), "rolled back");
    store
        .transaction(|tx| -> Result<(), Error> {
            tx.save_device(b"yes")?;
            tx.store_chat("x@s", &Chat::default())?;
            Ok(())
        })
        .unwrap();
    assert_eq!(store.load_device().unwrap().as_deref(), Some(&b"yes"[..]));
    assert!(store.chat("x@s").unwrap().is_some());
}

/// Fills every table of the device with at least one row (through the typed API, plus a raw
/// row where no typed call writes), as a paired device that talked would have.
pub fn fill_every_table(store: &mut Store) {
    let mut rng = TestRng::new(0xE2A5E);
    let (mut alice, bob_addr, alice_addr) = pair(store, &mut rng);
    let first = wa_signal::encrypt(&mut alice, &bob_addr, b"hello bob").unwrap();
    receive(
        store,
        &Incoming {
            from: &alice_addr,
            sender_jid: "alice@s.whatsapp.net",
            id: "FILL",
            kind: first.kind,
            ciphertext: &first.bytes,
        },
        &mut rng,
    )
    .expect("first message decrypts");
    store.save_device(b"credentials").unwrap();
    store.store_lid_mapping("100", "4915").unwrap();
    store
        .store_addressing_mode("4915", AddressingMode::Lid)
        .unwrap();
    store
        .store_sync_key(
            b"k1",
            &AppStateSyncKey {
                data: vec![7; 32],
                fingerprint: vec![1],
                timestamp: 1,
            },
        )
        .unwrap();
    store
        .store_app_state_version(
            "regular",
            &AppStateVersion {
                version: 1,
                hash: [0; 128],
            },
        )
        .unwrap();
    store
        .enqueue_outbox(&OutboxEntry {
            kind: OutboxKind::Message,
            to: "a@s.whatsapp.net".into(),
            payload: vec![1],
        })
        .unwrap();
    store
        .store_message_secret("c", "s", "id", &[5; 32])
        .unwrap();
    store.store_contact("a@s", &Contact::default()).unwrap();
    store.store_chat("a@s", &Chat::default()).unwrap();
    store
        .buffer_decrypted(&ciphertext_hash(b"pending"), &message("P", b"text"))
        .unwrap();
    // Tables no typed call here writes (sender keys, ...): a raw row each.
    store
        .transaction(|tx| -> Result<(), Error> {
            for table in Table::ALL {
                if tx.raw_keys(table)?.is_empty() {
                    tx.put_raw(table, b"filler", b"row")?;
                }
            }
            Ok(())
        })
        .unwrap();
}

fn rows_per_table(store: &Store) -> Vec<(Table, usize)> {
    store
        .transaction(|tx| -> Result<Vec<(Table, usize)>, Error> {
            Table::ALL
                .iter()
                .map(|&t| Ok((t, tx.raw_keys(t)?.len())))
                .collect()
        })
        .unwrap()
}

/// Erasing the device (what a logout does): every table ends empty, in one transaction (an
/// erase inside a transaction that fails leaves everything), and the store stays usable.
pub fn check_erase_device(store: &mut Store) {
    fill_every_table(store);
    let before = rows_per_table(store);
    assert!(
        before.iter().all(|(_, n)| *n > 0),
        "every table filled: {before:?}"
    );
    let total: usize = before.iter().map(|(_, n)| n).sum();
    // Atomic: an erase whose transaction fails afterwards leaves every row.
    let failed: Result<(), Error> = store.transaction(|tx| {
        let gone = tx.erase_device()?;
        assert_eq!(gone, total as u64, "erase counts every row");
        assert!(tx.load_device()?.is_none(), "erased inside the transaction");
        Err(Error::Inner("abort".into()))
    });
    assert!(failed.is_err());
    assert_eq!(rows_per_table(store), before, "rolled back whole");
    assert_eq!(store.erase_device().unwrap(), total as u64);
    assert!(
        rows_per_table(store).iter().all(|(_, n)| *n == 0),
        "nothing left: {:?}",
        rows_per_table(store)
    );
    assert!(store.load_device().unwrap().is_none());
    assert!(store.local_identity().is_err(), "identity gone");
    assert!(store.undelivered().unwrap().is_empty());
    assert_eq!(store.erase_device().unwrap(), 0, "nothing to erase twice");
    // The device can start again in the same store.
    store.save_device(b"fresh").unwrap();
    assert_eq!(store.load_device().unwrap().as_deref(), Some(&b"fresh"[..]));
}

/// Bob (the store under test) with a signed prekey and one one-time prekey, and Alice (in
/// memory) with a session to him.
pub fn pair(store: &Store, rng: &mut TestRng) -> (InMemoryStore, ProtocolAddress, ProtocolAddress) {
    let (alice_id, bob_id) = (KeyPair::generate(rng), KeyPair::generate(rng));
    let mut alice = InMemoryStore::new(alice_id, 1111);
    store.set_local_identity(&bob_id, 2222).unwrap();
    let signed = SignedPreKey::generate(&bob_id, 1, rng);
    let one_time = PreKey::generate(100, rng);
    store
        .transaction(|tx| -> Result<(), Error> {
            tx.store_signed_pre_key(&signed)?;
            tx.store_pre_key(&one_time)?;
            Ok(())
        })
        .unwrap();
    let bundle = PreKeyBundle {
        registration_id: 2222,
        identity_key: PublicKey::of(&bob_id),
        signed_pre_key_id: 1,
        signed_pre_key: PublicKey::of(&signed.key_pair),
        signed_pre_key_signature: signed.signature,
        pre_key: Some((100, PublicKey::of(&one_time.key_pair))),
    };
    let bob_addr = ProtocolAddress::new("bob", 1);
    wa_signal::process_pre_key_bundle(&mut alice, &bob_addr, &bundle, rng).unwrap();
    (alice, bob_addr, ProtocolAddress::new("alice", 2))
}

/// `send_recorded`: the ciphertexts and the sent-message record commit together; a device
/// without a session is skipped; a store failure on any device commits nothing (no chain
/// advanced, no record).
pub fn check_send_recorded(store: &mut Store) {
    let mut rng = TestRng::new(13);
    let (mut alice, bob_addr, alice_addr) = pair(store, &mut rng);
    let first = wa_signal::encrypt(&mut alice, &bob_addr, b"hi").unwrap();
    let incoming = Incoming {
        from: &alice_addr,
        sender_jid: "alice@s.whatsapp.net",
        id: "IN",
        kind: first.kind,
        ciphertext: &first.bytes,
    };
    receive(store, &incoming, &mut rng).unwrap();
    let record = SentMessage {
        to: "alice@s.whatsapp.net".into(),
        message: b"reply".to_vec(),
        sent_at: 5,
        resends: Vec::new(),
    };
    let padded = |b: &[u8]| zeroize::Zeroizing::new(b.to_vec());
    let carol = ProtocolAddress::new("carol", 1);
    let out = send_recorded(
        store,
        "OUT",
        &record,
        &[
            (alice_addr.clone(), padded(b"reply")),
            (carol.clone(), padded(b"x")),
        ],
    )
    .unwrap();
    assert!(out[1].is_none(), "no session with carol: skipped");
    let c = out[0].clone().expect("encrypted for alice");
    assert_eq!(
        wa_signal::decrypt(&mut alice, &bob_addr, c.kind, &c.bytes, &mut rng).unwrap(),
        b"reply"
    );
    assert_eq!(store.sent_message("OUT").unwrap(), Some(record.clone()));

    // A corrupt session row for carol: the store fails, and alice's chain does not advance.
    let before = store.load_session(&alice_addr).unwrap().unwrap().to_bytes();
    store
        .transaction(|tx| {
            let key = codec::composite_key(&[b"carol", &1u32.to_be_bytes()]);
            tx.put_raw(Table::Sessions, &key, &[1, 2, 3])
        })
        .unwrap();
    let failed = send_recorded(
        store,
        "OUT2",
        &record,
        &[
            (alice_addr.clone(), padded(b"again")),
            (carol, padded(b"x")),
        ],
    );
    assert!(failed.is_err(), "a corrupt row is a store failure");
    assert_eq!(store.sent_message("OUT2").unwrap(), None, "no record");
    assert_eq!(
        store.load_session(&alice_addr).unwrap().unwrap().to_bytes(),
        before,
        "no chain advanced"
    );
}

/// `receive`: session, buffer entry, receipt and prekey removal commit together; a redelivery
/// is recognised without decrypting; a bad message commits nothing. `send`: the ciphertext is
/// in the outbox when it returns, and decrypts at the peer.
pub fn check_receive_and_send(store: &mut Store) {
    let mut rng = TestRng::new(11);
    let (mut alice, bob_addr, alice_addr) = pair(store, &mut rng);
    let first = wa_signal::encrypt(&mut alice, &bob_addr, b"hello bob").unwrap();
    assert_eq!(first.kind, MessageKind::PreKey);
    let incoming = Incoming {
        from: &alice_addr,
        sender_jid: "alice@s.whatsapp.net",
        id: "M1",
        kind: first.kind,
        ciphertext: &first.bytes,
    };
    // A corrupted copy fails and commits nothing: no session, prekey kept, empty outbox.
    let mut bad = first.bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let err = receive(
        store,
        &Incoming {
            ciphertext: &bad,
            ..incoming
        },
        &mut rng,
    )
    .unwrap_err();
    assert!(matches!(err, ReceiveError::Signal(_)), "{err}");
    assert!(store.load_session(&alice_addr).unwrap().is_none());
    assert!(store.load_pre_key(100).unwrap().is_some());
    assert!(store.outbox().unwrap().is_empty());

    let Received::New {
        hash,
        plaintext,
        receipt,
    } = receive(store, &incoming, &mut rng).unwrap()
    else {
        panic!("first delivery is new");
    };
    assert_eq!(&plaintext[..], b"hello bob");
    assert!(
        store.load_session(&alice_addr).unwrap().is_some(),
        "session stored"
    );
    assert!(
        store.load_pre_key(100).unwrap().is_none(),
        "prekey used in the same commit"
    );
    assert_eq!(
        store.decrypted(&hash).unwrap().unwrap().plaintext,
        b"hello bob"
    );
    let outbox = store.outbox().unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        (outbox[0].0, outbox[0].1.kind),
        (receipt, OutboxKind::Receipt)
    );
    assert_eq!(outbox[0].1.payload, b"M1");
    // Redelivery: recognised by hash, receipt queued again.
    match receive(store, &incoming, &mut rng).unwrap() {
        Received::Duplicate {
            hash: h,
            receipt: r,
        } => assert!(h == hash && r > receipt),
        other => panic!("redelivery decrypted again: {other:?}"),
    }
    // Acknowledged in the same transaction as an application write: both or neither.
    let failed: Result<(), Error> = store.transaction(|tx| {
        tx.store_chat("alice@s.whatsapp.net", &Chat::default())?;
        tx.mark_delivered(&hash, 7)?;
        Err(Error::Inner("the application's write failed".into()))
    });
    assert!(failed.is_err());
    assert!(!store.decrypted(&hash).unwrap().unwrap().delivered);
    assert!(store.chat("alice@s.whatsapp.net").unwrap().is_none());
    store
        .transaction(|tx| -> Result<(), Error> {
            tx.store_chat("alice@s.whatsapp.net", &Chat::default())?;
            tx.mark_delivered(&hash, 7)?;
            Ok(())
        })
        .unwrap();
    assert!(store.decrypted(&hash).unwrap().unwrap().delivered);
    assert!(store.chat("alice@s.whatsapp.net").unwrap().is_some());
    // Send: the reply is in the outbox, framed, and decrypts at Alice.
    let sent = send(store, &alice_addr, "alice@s.whatsapp.net", b"hi alice").unwrap();
    let queued = store.outbox().unwrap();
    let entry = &queued.iter().find(|(s, _)| *s == sent.seq).unwrap().1;
    assert_eq!(entry.kind, OutboxKind::Message);
    assert_eq!(entry.payload, crate::message_payload(&sent.ciphertext));
    let got = wa_signal::decrypt(
        &mut alice,
        &bob_addr,
        sent.ciphertext.kind,
        &sent.ciphertext.bytes,
        &mut rng,
    )
    .unwrap();
    assert_eq!(got, b"hi alice");
}

/// `receive_with(.., ReceiptQueue::WithAck, ..)`: the receipt is sent with the ack, so nothing
/// is queued (no second transaction removes it), for a new message and for a redelivery.
pub fn check_receive_receipt_with_ack(store: &mut Store) {
    let mut rng = TestRng::new(12);
    let (mut alice, bob_addr, alice_addr) = pair(store, &mut rng);
    let first = wa_signal::encrypt(&mut alice, &bob_addr, b"hello bob").unwrap();
    let incoming = Incoming {
        from: &alice_addr,
        sender_jid: "alice@s.whatsapp.net",
        id: "M1",
        kind: first.kind,
        ciphertext: &first.bytes,
    };
    let Received::New { hash, receipt, .. } =
        receive_with(store, &incoming, ReceiptQueue::WithAck, &mut rng).unwrap()
    else {
        panic!("first delivery is new");
    };
    assert_eq!(receipt, 0);
    assert!(store.decrypted(&hash).unwrap().is_some(), "buffered");
    assert!(store.outbox().unwrap().is_empty(), "no receipt queued");
    assert!(matches!(
        receive_with(store, &incoming, ReceiptQueue::WithAck, &mut rng).unwrap(),
        Received::Duplicate { receipt: 0, .. }
    ));
    assert!(store.outbox().unwrap().is_empty());
}

/// Concurrent writers: read-modify-write transactions from 8 threads lose no update, and
/// outbox sequence numbers stay unique.
pub fn check_concurrent_writers(store: Store) {
    const THREADS: u32 = 8;
    const EACH: u32 = 25;
    let store = Arc::new(store);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for i in 0..EACH {
                    let seq = store
                        .transaction(|tx| -> Result<u64, Error> {
                            let mut chat = tx.chat("counter@s")?.unwrap_or_default();
                            chat.unread += 1;
                            tx.store_chat("counter@s", &chat)?;
                            Ok(tx.enqueue_outbox(&OutboxEntry {
                                kind: OutboxKind::Receipt,
                                to: format!("{t}"),
                                payload: i.to_be_bytes().to_vec(),
                            })?)
                        })
                        .expect("no error reaches the caller");
                    seqs.push(seq);
                }
                seqs
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("writer thread"))
        .collect();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "outbox sequence numbers unique");
    let chat = store.chat("counter@s").unwrap().unwrap();
    assert_eq!(chat.unread, THREADS * EACH, "no lost update");
    assert_eq!(store.outbox().unwrap().len(), n);
}

/// One `#[test]` per check for a backend, and one running `wa-signal`'s whole conformance suite
/// against it: pass an expression of type `FnMut() -> Option<Store>` making a fresh device's
/// store, or `None` (after printing why) when the backend is not available here.
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        $crate::store_suite!(@one $make, md_device, check_device);
        $crate::store_suite!(@one $make, md_lid, check_lid);
        $crate::store_suite!(@one $make, md_lid_session_migration, check_lid_session_migration);
        $crate::store_suite!(@one $make, md_app_state, check_app_state);
        $crate::store_suite!(@one $make, md_decrypt_buffer, check_decrypt_buffer);
        $crate::store_suite!(@one $make, md_prune_delivered, check_prune_delivered);
        $crate::store_suite!(@one $make, md_receive_receipt_with_ack, check_receive_receipt_with_ack);
        $crate::store_suite!(@one $make, md_outbox, check_outbox);
        $crate::store_suite!(@one $make, md_sent_messages, check_sent_messages);
        $crate::store_suite!(@one $make, md_send_recorded, check_send_recorded);
        $crate::store_suite!(@one $make, md_message_secrets, check_message_secrets);
        $crate::store_suite!(@one $make, md_contacts_and_chats, check_contacts_and_chats);
        $crate::store_suite!(@one $make, md_transactions, check_transactions);
        $crate::store_suite!(@one $make, md_receive_and_send, check_receive_and_send);
        $crate::store_suite!(@one $make, md_erase_device, check_erase_device);
        #[test]
        fn md_concurrent_writers() {
            if let Some(store) = ($make)() {
                $crate::conformance::check_concurrent_writers(store);
            }
        }
        #[test]
        fn signal_conformance() {
            if ($make)().is_none() {
                return;
            }
            wa_signal::conformance::run_all(|pair: wa_signal::KeyPair, reg: u32| {
                let store = ($make)().expect("backend available");
                store.set_local_identity(&pair, reg).unwrap();
                store
            });
        }
    };
    (@one $make:expr, $name:ident, $check:ident) => {
        #[test]
        fn $name() {
            if let Some(mut store) = ($make)() {
                $crate::conformance::$check(&mut store);
            }
        }
    };
}
