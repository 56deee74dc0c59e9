//! [`Tx`]: an open transaction that implements every store trait, `wa-signal`'s and MD's.
//! Each method is written once here on top of [`RawTx`], whatever the backend.

use std::cell::RefCell;

use wa_core::md::store::{
    AddressingMode, AppStateStore, AppStateSyncKey, AppStateVersion, Chat, ChatStore,
    CiphertextHash, Contact, ContactStore, DecryptBufferStore, DecryptedMessage, DeviceStore,
    LidStore, MdStoreError, MessageSecretStore, OutboxEntry, OutboxStore, SentMessage,
    SentMessageStore,
};
use wa_crypto::KeyPair;
use wa_signal::{
    IdentityStore, PreKey, PreKeyStore, ProtocolAddress, PublicKey, SenderKeyName, SenderKeyRecord,
    SenderKeyStore, SessionRecord, SessionStore, SignedPreKey, SignedPreKeyStore, StoreError,
};

use crate::codec;
use crate::error::{Error, Result};
use crate::raw::{RawTx, Table};

const LOCAL_IDENTITY: &[u8] = b"local_identity";
const DEVICE: &[u8] = b"device";
const OUTBOX_SEQ: &[u8] = b"outbox_seq";

/// An open transaction on one device's state. Everything done through it becomes visible (and
/// durable) together when the closure given to [`Store::transaction`](crate::Store::transaction)
/// returns `Ok`, and not at all otherwise.
pub struct Tx<'a> {
    raw: RefCell<&'a mut dyn RawTx>,
    /// Set when a backend call failed: the transaction must not commit (PostgreSQL would turn
    /// the COMMIT of an aborted transaction into a silent rollback).
    failed: std::cell::Cell<bool>,
    /// Set when such a failure is one a retry of the whole transaction can cure.
    retryable: std::cell::Cell<bool>,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx").finish_non_exhaustive()
    }
}

fn address_key(a: &ProtocolAddress) -> Vec<u8> {
    codec::composite_key(&[a.name.as_bytes(), &a.device_id.to_be_bytes()])
}

fn sender_key_key(n: &SenderKeyName) -> Vec<u8> {
    codec::composite_key(&[
        n.group_id.as_bytes(),
        n.sender.name.as_bytes(),
        &n.sender.device_id.to_be_bytes(),
    ])
}

impl<'a> Tx<'a> {
    pub(crate) fn new(raw: &'a mut dyn RawTx) -> Tx<'a> {
        Tx {
            raw: RefCell::new(raw),
            failed: std::cell::Cell::new(false),
            retryable: std::cell::Cell::new(false),
        }
    }

    pub(crate) fn saw_retryable(&self) -> bool {
        self.retryable.get()
    }

    pub(crate) fn saw_failure(&self) -> bool {
        self.failed.get()
    }

    fn note<T>(&self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            self.failed.set(true);
            if e.is_retryable() {
                self.retryable.set(true);
            }
        }
        r
    }
    fn get(&self, t: Table, k: &[u8]) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
        let r = self.raw.borrow_mut().get(t, k);
        Ok(self.note(r)?.map(zeroize::Zeroizing::new))
    }
    fn put(&self, t: Table, k: &[u8], v: &[u8]) -> Result<()> {
        let r = self.raw.borrow_mut().put(t, k, v);
        self.note(r)
    }
    fn delete(&self, t: Table, k: &[u8]) -> Result<bool> {
        let r = self.raw.borrow_mut().delete(t, k);
        self.note(r)
    }
    fn scan(&self, t: Table) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let r = self.raw.borrow_mut().scan(t);
        self.note(r)
    }
    fn load<T>(&self, t: Table, k: &[u8], decode: fn(&[u8]) -> Result<T>) -> Result<Option<T>> {
        self.get(t, k)?.map(|v| decode(&v)).transpose()
    }

    /// The keys of every row of the device in `table`. Raw access is for inspection and repair
    /// tools, and for tests that corrupt rows on purpose.
    pub fn raw_keys(&self, table: Table) -> Result<Vec<Vec<u8>>> {
        Ok(self.scan(table)?.into_iter().map(|(k, _)| k).collect())
    }

    /// Deletes every row this device has, in every table: credentials, identities, sessions,
    /// prekeys, sender keys, mappings, app state, the decrypt buffer, the outbox, secrets,
    /// contacts, chats. What a logout must leave behind is nothing: a session or prekey that
    /// outlived its device could only be misused. Returns how many rows went. Other devices'
    /// rows in a shared database are untouched, and so is the lease (it belongs to the running
    /// driver, not to the device's state).
    pub fn erase_device(&mut self) -> Result<u64> {
        let mut gone = 0u64;
        for table in Table::ALL {
            let r = self.raw.borrow_mut().clear(table);
            gone = gone.saturating_add(self.note(r)?);
        }
        Ok(gone)
    }

    /// Writes a row's stored bytes as they are (see [`Tx::raw_keys`]).
    pub fn put_raw(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.put(table, key, value)
    }

    /// Sets our identity key pair and registration id (done once, at pairing).
    pub fn set_local_identity(&mut self, pair: &KeyPair, registration_id: u32) -> Result<()> {
        self.put(
            Table::Meta,
            LOCAL_IDENTITY,
            &codec::encode_local_identity(pair, registration_id),
        )
    }

    /// Our identity key pair and registration id, if set.
    pub fn local_identity_opt(&self) -> Result<Option<(KeyPair, u32)>> {
        self.load(Table::Meta, LOCAL_IDENTITY, codec::decode_local_identity)
    }

    fn local(&self) -> Result<(KeyPair, u32)> {
        self.local_identity_opt()?.ok_or(Error::Corrupt {
            what: "local identity (never set)",
        })
    }
}

type SResult<T> = core::result::Result<T, StoreError>;
type MResult<T> = core::result::Result<T, MdStoreError>;

impl IdentityStore for Tx<'_> {
    fn local_identity(&self) -> SResult<KeyPair> {
        Ok(self.local()?.0)
    }
    fn local_registration_id(&self) -> SResult<u32> {
        Ok(self.local()?.1)
    }
    fn identity(&self, address: &ProtocolAddress) -> SResult<Option<PublicKey>> {
        Ok(self.load(
            Table::Identities,
            &address_key(address),
            codec::decode_public_key,
        )?)
    }
    fn save_identity(&mut self, address: &ProtocolAddress, key: &PublicKey) -> SResult<()> {
        Ok(self.put(
            Table::Identities,
            &address_key(address),
            &codec::encode_public_key(key),
        )?)
    }
}

fn decode_session(b: &[u8]) -> Result<SessionRecord> {
    SessionRecord::from_bytes(b).map_err(|_| Error::Corrupt {
        what: "session record",
    })
}

fn decode_sender_key(b: &[u8]) -> Result<SenderKeyRecord> {
    SenderKeyRecord::from_bytes(b).map_err(|_| Error::Corrupt {
        what: "sender-key record",
    })
}

impl SessionStore for Tx<'_> {
    fn load_session(&self, address: &ProtocolAddress) -> SResult<Option<SessionRecord>> {
        Ok(self.load(Table::Sessions, &address_key(address), decode_session)?)
    }
    fn store_session(&mut self, address: &ProtocolAddress, record: &SessionRecord) -> SResult<()> {
        Ok(self.put(Table::Sessions, &address_key(address), &record.to_bytes())?)
    }
}

impl PreKeyStore for Tx<'_> {
    fn load_pre_key(&self, id: u32) -> SResult<Option<PreKey>> {
        Ok(self.load(Table::PreKeys, &id.to_be_bytes(), codec::decode_pre_key)?)
    }
    fn store_pre_key(&mut self, pre_key: &PreKey) -> SResult<()> {
        Ok(self.put(
            Table::PreKeys,
            &pre_key.id.to_be_bytes(),
            &codec::encode_pre_key(pre_key),
        )?)
    }
    fn remove_pre_key(&mut self, id: u32) -> SResult<()> {
        self.delete(Table::PreKeys, &id.to_be_bytes())?;
        Ok(())
    }
}

impl SignedPreKeyStore for Tx<'_> {
    fn load_signed_pre_key(&self, id: u32) -> SResult<Option<SignedPreKey>> {
        Ok(self.load(
            Table::SignedPreKeys,
            &id.to_be_bytes(),
            codec::decode_signed_pre_key,
        )?)
    }
    fn store_signed_pre_key(&mut self, key: &SignedPreKey) -> SResult<()> {
        Ok(self.put(
            Table::SignedPreKeys,
            &key.id.to_be_bytes(),
            &codec::encode_signed_pre_key(key),
        )?)
    }
}

impl SenderKeyStore for Tx<'_> {
    fn load_sender_key(&self, name: &SenderKeyName) -> SResult<Option<SenderKeyRecord>> {
        Ok(self.load(Table::SenderKeys, &sender_key_key(name), decode_sender_key)?)
    }
    fn store_sender_key(&mut self, name: &SenderKeyName, record: &SenderKeyRecord) -> SResult<()> {
        Ok(self.put(Table::SenderKeys, &sender_key_key(name), &record.to_bytes())?)
    }
}

impl DeviceStore for Tx<'_> {
    fn save_device(&mut self, blob: &[u8]) -> MResult<()> {
        Ok(self.put(Table::Meta, DEVICE, &codec::encode_blob(blob))?)
    }
    fn load_device(&self) -> MResult<Option<Vec<u8>>> {
        Ok(self.load(Table::Meta, DEVICE, codec::decode_blob)?)
    }
}

impl LidStore for Tx<'_> {
    fn store_lid_mapping(&mut self, lid: &str, pn: &str) -> MResult<()> {
        // Drop the reverse rows of older mappings, so both directions stay one-to-one.
        if let Some(old_pn) = self.load(Table::LidToPn, lid.as_bytes(), codec::decode_string)? {
            self.delete(Table::PnToLid, old_pn.as_bytes())?;
        }
        if let Some(old_lid) = self.load(Table::PnToLid, pn.as_bytes(), codec::decode_string)? {
            self.delete(Table::LidToPn, old_lid.as_bytes())?;
        }
        self.put(Table::LidToPn, lid.as_bytes(), &codec::encode_string(pn))?;
        self.put(Table::PnToLid, pn.as_bytes(), &codec::encode_string(lid))?;
        Ok(())
    }
    fn pn_for_lid(&self, lid: &str) -> MResult<Option<String>> {
        Ok(self.load(Table::LidToPn, lid.as_bytes(), codec::decode_string)?)
    }
    fn lid_for_pn(&self, pn: &str) -> MResult<Option<String>> {
        Ok(self.load(Table::PnToLid, pn.as_bytes(), codec::decode_string)?)
    }
    fn store_addressing_mode(&mut self, user: &str, mode: AddressingMode) -> MResult<()> {
        Ok(self.put(
            Table::Addressing,
            user.as_bytes(),
            &codec::encode_string(mode.as_str()),
        )?)
    }
    fn addressing_mode(&self, user: &str) -> MResult<Option<AddressingMode>> {
        let Some(value) = self.load(Table::Addressing, user.as_bytes(), codec::decode_string)?
        else {
            return Ok(None);
        };
        AddressingMode::parse(&value)
            .map(Some)
            .ok_or_else(|| MdStoreError::msg(format!("stored addressing mode {value:?}")))
    }
    fn migrate_session(&mut self, from: &ProtocolAddress, to: &ProtocolAddress) -> MResult<bool> {
        let (from_key, to_key) = (address_key(from), address_key(to));
        let Some(session) = self.get(Table::Sessions, &from_key)? else {
            return Ok(false);
        };
        let moved = self.get(Table::Sessions, &to_key)?.is_none();
        if moved {
            self.put(Table::Sessions, &to_key, &session)?;
        }
        if let Some(identity) = self.get(Table::Identities, &from_key)? {
            if self.get(Table::Identities, &to_key)?.is_none() {
                self.put(Table::Identities, &to_key, &identity)?;
            }
            self.delete(Table::Identities, &from_key)?;
        }
        self.delete(Table::Sessions, &from_key)?;
        Ok(moved)
    }
}

impl AppStateStore for Tx<'_> {
    fn store_sync_key(&mut self, key_id: &[u8], key: &AppStateSyncKey) -> MResult<()> {
        Ok(self.put(Table::AppStateKeys, key_id, &codec::encode_sync_key(key))?)
    }
    fn sync_key(&self, key_id: &[u8]) -> MResult<Option<AppStateSyncKey>> {
        Ok(self.load(Table::AppStateKeys, key_id, codec::decode_sync_key)?)
    }
    fn store_app_state_version(&mut self, name: &str, version: &AppStateVersion) -> MResult<()> {
        Ok(self.put(
            Table::AppStateVersions,
            name.as_bytes(),
            &codec::encode_app_state_version(version),
        )?)
    }
    fn app_state_version(&self, name: &str) -> MResult<Option<AppStateVersion>> {
        Ok(self.load(
            Table::AppStateVersions,
            name.as_bytes(),
            codec::decode_app_state_version,
        )?)
    }
}

fn hash_of(key: &[u8]) -> Result<CiphertextHash> {
    key.try_into().map_err(|_| Error::Corrupt {
        what: "decrypt-buffer key",
    })
}

impl DecryptBufferStore for Tx<'_> {
    fn buffer_decrypted(&mut self, hash: &CiphertextHash, m: &DecryptedMessage) -> MResult<()> {
        self.put(Table::DecryptBuffer, hash, &codec::encode_decrypted(m))?;
        if m.delivered {
            self.delete(Table::DecryptPending, hash)?;
        } else {
            self.put(Table::DecryptPending, hash, &[])?;
        }
        Ok(())
    }
    fn decrypted(&self, hash: &CiphertextHash) -> MResult<Option<DecryptedMessage>> {
        Ok(self.load(Table::DecryptBuffer, hash, codec::decode_decrypted)?)
    }
    fn undelivered(&self) -> MResult<Vec<(CiphertextHash, DecryptedMessage)>> {
        // Only the pending index is scanned: delivered entries stay (as tombstones for
        // redeliveries) without slowing this down.
        let mut out = Vec::new();
        for (k, _) in self.scan(Table::DecryptPending)? {
            let hash = hash_of(&k)?;
            let m = self
                .load(Table::DecryptBuffer, &hash, codec::decode_decrypted)?
                .ok_or(Error::Corrupt {
                    what: "decrypt-pending entry without its buffer entry",
                })?;
            if !m.delivered {
                out.push((hash, m));
            }
        }
        Ok(out)
    }
    fn mark_handed(&mut self, hash: &CiphertextHash) -> MResult<bool> {
        let Some(mut m) = self.load(Table::DecryptBuffer, hash, codec::decode_decrypted)? else {
            return Ok(false);
        };
        if !m.handed {
            m.handed = true;
            self.put(Table::DecryptBuffer, hash, &codec::encode_decrypted(&m))?;
        }
        Ok(true)
    }
    fn mark_delivered(&mut self, hash: &CiphertextHash, now_secs: u64) -> MResult<bool> {
        let Some(mut m) = self.load(Table::DecryptBuffer, hash, codec::decode_decrypted)? else {
            return Ok(false);
        };
        if m.delivered {
            // A second acknowledgement keeps the first time: the tombstone's age counts from it.
            return Ok(true);
        }
        m.delivered = true;
        m.handed = true;
        m.delivered_at = now_secs;
        zeroize::Zeroize::zeroize(&mut m.plaintext);
        m.plaintext.clear();
        self.put(Table::DecryptBuffer, hash, &codec::encode_decrypted(&m))?;
        self.delete(Table::DecryptPending, hash)?;
        Ok(true)
    }
    fn prune_delivered(&mut self, before_secs: u64) -> MResult<usize> {
        // A full scan: pruning runs rarely (at start-up), and delivered entries are small
        // (no plaintext). An index by delivery time would need a schema migration.
        let mut pruned = 0;
        for (k, v) in self.scan(Table::DecryptBuffer)? {
            let m = codec::decode_decrypted(&v)?;
            if m.delivered && m.delivered_at < before_secs {
                self.delete(Table::DecryptBuffer, &k)?;
                pruned += 1;
            }
        }
        Ok(pruned)
    }
}

impl Tx<'_> {
    /// Every decrypt-buffer entry, pending or delivered, by hash: the store's record of what
    /// was decrypted (one entry per ciphertext) and what the application acknowledged. For
    /// inspection and tests; the protocol only needs [`DecryptBufferStore`].
    pub fn decrypt_record(&self) -> Result<Vec<(CiphertextHash, DecryptedMessage)>> {
        let mut out = Vec::new();
        for (k, v) in self.scan(Table::DecryptBuffer)? {
            out.push((hash_of(&k)?, codec::decode_decrypted(&v)?));
        }
        Ok(out)
    }
}

impl OutboxStore for Tx<'_> {
    fn enqueue_outbox(&mut self, entry: &OutboxEntry) -> MResult<u64> {
        let seq = self
            .load(Table::Meta, OUTBOX_SEQ, codec::decode_u64)?
            .unwrap_or(0);
        // A stored counter at u64::MAX is a corrupt row (2^64 entries were never sent): refuse
        // it rather than wrap around into sequence numbers already used. Found by the
        // `store_values` fuzz target.
        let next = seq.checked_add(1).ok_or(Error::Corrupt {
            what: "outbox sequence (exhausted)",
        })?;
        self.put(Table::Meta, OUTBOX_SEQ, &codec::encode_u64(next))?;
        self.put(
            Table::Outbox,
            &seq.to_be_bytes(),
            &codec::encode_outbox(entry),
        )?;
        Ok(seq)
    }
    fn outbox(&self) -> MResult<Vec<(u64, OutboxEntry)>> {
        let mut out = Vec::new();
        for (k, v) in self.scan(Table::Outbox)? {
            let seq: [u8; 8] = k
                .as_slice()
                .try_into()
                .map_err(|_| Error::Corrupt { what: "outbox key" })?;
            out.push((u64::from_be_bytes(seq), codec::decode_outbox(&v)?));
        }
        Ok(out)
    }
    fn remove_outbox(&mut self, seq: u64) -> MResult<bool> {
        Ok(self.delete(Table::Outbox, &seq.to_be_bytes())?)
    }
}

impl SentMessageStore for Tx<'_> {
    fn store_sent_message(&mut self, id: &str, message: &SentMessage) -> MResult<()> {
        Ok(self.put(
            Table::SentMessages,
            id.as_bytes(),
            &codec::encode_sent(message),
        )?)
    }
    fn sent_message(&self, id: &str) -> MResult<Option<SentMessage>> {
        Ok(self.load(Table::SentMessages, id.as_bytes(), codec::decode_sent)?)
    }
    fn prune_sent_messages(&mut self, before_secs: u64, keep: usize) -> MResult<usize> {
        // A scan, no index by time: the table is bounded by `keep` and pruning runs rarely.
        let mut rows = Vec::new();
        for (k, v) in self.scan(Table::SentMessages)? {
            rows.push((codec::decode_sent(&v)?.sent_at, k));
        }
        // Newest first; ties by id so the outcome does not depend on the scan order.
        rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let mut pruned = 0;
        for (i, (sent_at, k)) in rows.into_iter().enumerate() {
            if sent_at < before_secs || i >= keep {
                self.delete(Table::SentMessages, &k)?;
                pruned += 1;
            }
        }
        Ok(pruned)
    }
}

impl MessageSecretStore for Tx<'_> {
    fn store_message_secret(
        &mut self,
        chat: &str,
        sender: &str,
        id: &str,
        secret: &[u8; 32],
    ) -> MResult<()> {
        let key = codec::composite_key(&[chat.as_bytes(), sender.as_bytes(), id.as_bytes()]);
        Ok(self.put(Table::MessageSecrets, &key, &codec::encode_secret(secret))?)
    }
    fn message_secret(&self, chat: &str, sender: &str, id: &str) -> MResult<Option<[u8; 32]>> {
        let key = codec::composite_key(&[chat.as_bytes(), sender.as_bytes(), id.as_bytes()]);
        Ok(self.load(Table::MessageSecrets, &key, codec::decode_secret)?)
    }
}

fn jid_of(k: Vec<u8>) -> Result<String> {
    String::from_utf8(k).map_err(|_| Error::Corrupt { what: "jid key" })
}

impl ContactStore for Tx<'_> {
    fn store_contact(&mut self, jid: &str, contact: &Contact) -> MResult<()> {
        Ok(self.put(
            Table::Contacts,
            jid.as_bytes(),
            &codec::encode_contact(contact),
        )?)
    }
    fn contact(&self, jid: &str) -> MResult<Option<Contact>> {
        Ok(self.load(Table::Contacts, jid.as_bytes(), codec::decode_contact)?)
    }
    fn contacts(&self) -> MResult<Vec<(String, Contact)>> {
        let mut out = Vec::new();
        for (k, v) in self.scan(Table::Contacts)? {
            out.push((jid_of(k)?, codec::decode_contact(&v)?));
        }
        Ok(out)
    }
}

impl ChatStore for Tx<'_> {
    fn store_chat(&mut self, jid: &str, chat: &Chat) -> MResult<()> {
        Ok(self.put(Table::Chats, jid.as_bytes(), &codec::encode_chat(chat))?)
    }
    fn chat(&self, jid: &str) -> MResult<Option<Chat>> {
        Ok(self.load(Table::Chats, jid.as_bytes(), codec::decode_chat)?)
    }
    fn chats(&self) -> MResult<Vec<(String, Chat)>> {
        let mut out = Vec::new();
        for (k, v) in self.scan(Table::Chats)? {
            out.push((jid_of(k)?, codec::decode_chat(&v)?));
        }
        Ok(out)
    }
    fn remove_chat(&mut self, jid: &str) -> MResult<bool> {
        Ok(self.delete(Table::Chats, jid.as_bytes())?)
    }
}
