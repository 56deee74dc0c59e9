//! The durability rules with the in-memory store: an outbound key is never used twice, even
//! across a crash between encrypting and sending; a failed decrypt leaves the state whole.

use wa_signal::{
    Error, IdentityStore, InMemoryStore, KeyPair, PreKey, PreKeyStore, ProtocolAddress, PublicKey,
    SessionRecord, SessionStore, SignalMessage, SignedPreKey, SignedPreKeyStore, StoreError,
    decrypt, encrypt,
};

use crate::{Party, connect};

#[test]
fn crash_between_encrypt_and_send_never_reuses_a_key() {
    let mut a = Party::new("a", 1);
    let mut b = Party::new("b", 2);
    connect(&mut a, &mut b);
    let reply = encrypt(&mut b.store, &a.address, b"ack").unwrap();
    decrypt(
        &mut a.store,
        &b.address,
        reply.kind,
        &reply.bytes,
        &mut a.rng,
    )
    .unwrap();
    let sent = encrypt(&mut a.store, &b.address, b"sent").unwrap();
    // Encrypted, then the process dies before sending: the ciphertext is gone. The store is
    // all that survives (the in-memory store holds records in their persisted form).
    let lost = encrypt(&mut a.store, &b.address, b"lost in the crash").unwrap();
    drop(lost);
    let after = encrypt(&mut a.store, &b.address, b"after restart").unwrap();
    let counters: Vec<u32> = [&sent, &after]
        .iter()
        .map(|m| SignalMessage::parse(&m.bytes).unwrap().counter)
        .collect();
    assert_eq!(
        counters[1],
        counters[0] + 2,
        "the lost message's key is skipped, never reused"
    );
    assert_eq!(
        decrypt(
            &mut b.store,
            &a.address,
            after.kind,
            &after.bytes,
            &mut b.rng
        )
        .unwrap(),
        b"after restart"
    );
    assert_eq!(
        decrypt(&mut b.store, &a.address, sent.kind, &sent.bytes, &mut b.rng).unwrap(),
        b"sent"
    );
}

/// A store whose session writes fail on demand.
struct FailingStore {
    inner: InMemoryStore,
    fail_writes: bool,
}

impl IdentityStore for FailingStore {
    fn local_identity(&self) -> Result<KeyPair, StoreError> {
        self.inner.local_identity()
    }
    fn local_registration_id(&self) -> Result<u32, StoreError> {
        self.inner.local_registration_id()
    }
    fn identity(&self, address: &ProtocolAddress) -> Result<Option<PublicKey>, StoreError> {
        self.inner.identity(address)
    }
    fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        key: &PublicKey,
    ) -> Result<(), StoreError> {
        self.inner.save_identity(address, key)
    }
}

impl SessionStore for FailingStore {
    fn load_session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.load_session(address)
    }
    fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> Result<(), StoreError> {
        if self.fail_writes {
            return Err(StoreError::msg("disk full"));
        }
        self.inner.store_session(address, record)
    }
}

impl PreKeyStore for FailingStore {
    fn load_pre_key(&self, id: u32) -> Result<Option<PreKey>, StoreError> {
        self.inner.load_pre_key(id)
    }
    fn store_pre_key(&mut self, pre_key: &PreKey) -> Result<(), StoreError> {
        self.inner.store_pre_key(pre_key)
    }
    fn remove_pre_key(&mut self, id: u32) -> Result<(), StoreError> {
        self.inner.remove_pre_key(id)
    }
}

impl SignedPreKeyStore for FailingStore {
    fn load_signed_pre_key(&self, id: u32) -> Result<Option<SignedPreKey>, StoreError> {
        self.inner.load_signed_pre_key(id)
    }
    fn store_signed_pre_key(&mut self, key: &SignedPreKey) -> Result<(), StoreError> {
        self.inner.store_signed_pre_key(key)
    }
}

#[test]
fn failed_write_means_no_ciphertext_and_no_key_used() {
    let mut a = Party::new("a", 3);
    let mut b = Party::new("b", 4);
    connect(&mut a, &mut b);
    let b_address = b.address.clone();
    let mut failing = FailingStore {
        inner: std::mem::replace(
            &mut a.store,
            InMemoryStore::new(KeyPair::from_private_bytes([1; 32]), 1),
        ),
        fail_writes: true,
    };
    let before = failing.inner.session_record_len(&b_address);
    let err = encrypt(&mut failing, &b_address, b"never sent").unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err:?}");
    assert_eq!(failing.inner.session_record_len(&b_address), before);
    failing.fail_writes = false;
    let m = encrypt(&mut failing, &b_address, b"sent").unwrap();
    assert_eq!(
        decrypt(&mut b.store, &a.address, m.kind, &m.bytes, &mut b.rng).unwrap(),
        b"sent"
    );
}

#[test]
fn failed_decrypt_leaves_the_record_byte_for_byte() {
    let mut a = Party::new("a", 5);
    let mut b = Party::new("b", 6);
    connect(&mut a, &mut b);
    // A `msg` (the peer answered): every byte is under the MAC. (A `pkmsg`'s outer fields are
    // not: its registration and prekey ids can be changed without effect once the session is
    // set up, which the fuzz target covers.)
    let reply = encrypt(&mut b.store, &a.address, b"ack").unwrap();
    decrypt(
        &mut a.store,
        &b.address,
        reply.kind,
        &reply.bytes,
        &mut a.rng,
    )
    .unwrap();
    let m = encrypt(&mut a.store, &b.address, b"payload").unwrap();
    assert_eq!(m.kind, wa_signal::MessageKind::Whisper);
    let before = b
        .store
        .load_session(&a.address)
        .unwrap()
        .unwrap()
        .to_bytes();
    for i in 0..m.bytes.len() {
        let mut bad = m.bytes.clone();
        bad[i] ^= 0x40;
        assert!(
            decrypt(&mut b.store, &a.address, m.kind, &bad, &mut b.rng).is_err(),
            "byte {i}"
        );
        let now = b
            .store
            .load_session(&a.address)
            .unwrap()
            .unwrap()
            .to_bytes();
        assert_eq!(*now, *before, "byte {i}: state unchanged");
    }
    assert_eq!(
        decrypt(&mut b.store, &a.address, m.kind, &m.bytes, &mut b.rng).unwrap(),
        b"payload"
    );
}
