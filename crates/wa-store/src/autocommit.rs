//! Every store trait on [`Store`] itself: each call is its own transaction (what `wa-signal`'s
//! conformance suite and simple callers use). Atomic multi-step changes go through
//! [`Store::transaction`] instead.

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

use crate::Store;

type SResult<T> = Result<T, StoreError>;
type MResult<T> = Result<T, MdStoreError>;

impl Store {
    /// Sets our identity key pair and registration id (once, at pairing).
    pub fn set_local_identity(&self, pair: &KeyPair, registration_id: u32) -> crate::Result<()> {
        self.transaction(|tx| tx.set_local_identity(pair, registration_id))
    }
}

impl IdentityStore for Store {
    fn local_identity(&self) -> SResult<KeyPair> {
        self.transaction(|tx| tx.local_identity())
    }
    fn local_registration_id(&self) -> SResult<u32> {
        self.transaction(|tx| tx.local_registration_id())
    }
    fn identity(&self, address: &ProtocolAddress) -> SResult<Option<PublicKey>> {
        self.transaction(|tx| tx.identity(address))
    }
    fn save_identity(&mut self, address: &ProtocolAddress, key: &PublicKey) -> SResult<()> {
        self.transaction(|tx| tx.save_identity(address, key))
    }
}

impl SessionStore for Store {
    fn load_session(&self, address: &ProtocolAddress) -> SResult<Option<SessionRecord>> {
        self.transaction(|tx| tx.load_session(address))
    }
    fn store_session(&mut self, address: &ProtocolAddress, record: &SessionRecord) -> SResult<()> {
        self.transaction(|tx| tx.store_session(address, record))
    }
}

impl PreKeyStore for Store {
    fn load_pre_key(&self, id: u32) -> SResult<Option<PreKey>> {
        self.transaction(|tx| tx.load_pre_key(id))
    }
    fn store_pre_key(&mut self, pre_key: &PreKey) -> SResult<()> {
        self.transaction(|tx| tx.store_pre_key(pre_key))
    }
    fn remove_pre_key(&mut self, id: u32) -> SResult<()> {
        self.transaction(|tx| tx.remove_pre_key(id))
    }
}

impl SignedPreKeyStore for Store {
    fn load_signed_pre_key(&self, id: u32) -> SResult<Option<SignedPreKey>> {
        self.transaction(|tx| tx.load_signed_pre_key(id))
    }
    fn store_signed_pre_key(&mut self, key: &SignedPreKey) -> SResult<()> {
        self.transaction(|tx| tx.store_signed_pre_key(key))
    }
}

impl SenderKeyStore for Store {
    fn load_sender_key(&self, name: &SenderKeyName) -> SResult<Option<SenderKeyRecord>> {
        self.transaction(|tx| tx.load_sender_key(name))
    }
    fn store_sender_key(&mut self, name: &SenderKeyName, record: &SenderKeyRecord) -> SResult<()> {
        self.transaction(|tx| tx.store_sender_key(name, record))
    }
}

impl DeviceStore for Store {
    fn save_device(&mut self, blob: &[u8]) -> MResult<()> {
        self.transaction(|tx| tx.save_device(blob))
    }
    fn load_device(&self) -> MResult<Option<Vec<u8>>> {
        self.transaction(|tx| tx.load_device())
    }
}

impl LidStore for Store {
    fn store_lid_mapping(&mut self, lid: &str, pn: &str) -> MResult<()> {
        self.transaction(|tx| tx.store_lid_mapping(lid, pn))
    }
    fn pn_for_lid(&self, lid: &str) -> MResult<Option<String>> {
        self.transaction(|tx| tx.pn_for_lid(lid))
    }
    fn lid_for_pn(&self, pn: &str) -> MResult<Option<String>> {
        self.transaction(|tx| tx.lid_for_pn(pn))
    }
    fn store_addressing_mode(&mut self, user: &str, mode: AddressingMode) -> MResult<()> {
        self.transaction(|tx| tx.store_addressing_mode(user, mode))
    }
    fn addressing_mode(&self, user: &str) -> MResult<Option<AddressingMode>> {
        self.transaction(|tx| tx.addressing_mode(user))
    }
    fn migrate_session(&mut self, from: &ProtocolAddress, to: &ProtocolAddress) -> MResult<bool> {
        self.transaction(|tx| tx.migrate_session(from, to))
    }
}

impl AppStateStore for Store {
    fn store_sync_key(&mut self, key_id: &[u8], key: &AppStateSyncKey) -> MResult<()> {
        self.transaction(|tx| tx.store_sync_key(key_id, key))
    }
    fn sync_key(&self, key_id: &[u8]) -> MResult<Option<AppStateSyncKey>> {
        self.transaction(|tx| tx.sync_key(key_id))
    }
    fn store_app_state_version(&mut self, name: &str, version: &AppStateVersion) -> MResult<()> {
        self.transaction(|tx| tx.store_app_state_version(name, version))
    }
    fn app_state_version(&self, name: &str) -> MResult<Option<AppStateVersion>> {
        self.transaction(|tx| tx.app_state_version(name))
    }
}

impl DecryptBufferStore for Store {
    fn buffer_decrypted(&mut self, hash: &CiphertextHash, m: &DecryptedMessage) -> MResult<()> {
        self.transaction(|tx| tx.buffer_decrypted(hash, m))
    }
    fn decrypted(&self, hash: &CiphertextHash) -> MResult<Option<DecryptedMessage>> {
        self.transaction(|tx| tx.decrypted(hash))
    }
    fn undelivered(&self) -> MResult<Vec<(CiphertextHash, DecryptedMessage)>> {
        self.transaction(|tx| tx.undelivered())
    }
    fn mark_handed(&mut self, hash: &CiphertextHash) -> MResult<bool> {
        self.transaction(|tx| tx.mark_handed(hash))
    }
    fn mark_delivered(&mut self, hash: &CiphertextHash, now_secs: u64) -> MResult<bool> {
        self.transaction(|tx| tx.mark_delivered(hash, now_secs))
    }
    fn prune_delivered(&mut self, before_secs: u64) -> MResult<usize> {
        self.transaction(|tx| tx.prune_delivered(before_secs))
    }
}

impl OutboxStore for Store {
    fn enqueue_outbox(&mut self, entry: &OutboxEntry) -> MResult<u64> {
        self.transaction(|tx| tx.enqueue_outbox(entry))
    }
    fn outbox(&self) -> MResult<Vec<(u64, OutboxEntry)>> {
        self.transaction(|tx| tx.outbox())
    }
    fn remove_outbox(&mut self, seq: u64) -> MResult<bool> {
        self.transaction(|tx| tx.remove_outbox(seq))
    }
}

impl SentMessageStore for Store {
    fn store_sent_message(&mut self, id: &str, message: &SentMessage) -> MResult<()> {
        self.transaction(|tx| tx.store_sent_message(id, message))
    }
    fn sent_message(&self, id: &str) -> MResult<Option<SentMessage>> {
        self.transaction(|tx| tx.sent_message(id))
    }
    fn prune_sent_messages(&mut self, before_secs: u64, keep: usize) -> MResult<usize> {
        self.transaction(|tx| tx.prune_sent_messages(before_secs, keep))
    }
}

impl MessageSecretStore for Store {
    fn store_message_secret(
        &mut self,
        chat: &str,
        sender: &str,
        id: &str,
        secret: &[u8; 32],
    ) -> MResult<()> {
        self.transaction(|tx| tx.store_message_secret(chat, sender, id, secret))
    }
    fn message_secret(&self, chat: &str, sender: &str, id: &str) -> MResult<Option<[u8; 32]>> {
        self.transaction(|tx| tx.message_secret(chat, sender, id))
    }
}

impl ContactStore for Store {
    fn store_contact(&mut self, jid: &str, contact: &Contact) -> MResult<()> {
        self.transaction(|tx| tx.store_contact(jid, contact))
    }
    fn contact(&self, jid: &str) -> MResult<Option<Contact>> {
        self.transaction(|tx| tx.contact(jid))
    }
    fn contacts(&self) -> MResult<Vec<(String, Contact)>> {
        self.transaction(|tx| tx.contacts())
    }
}

impl ChatStore for Store {
    fn store_chat(&mut self, jid: &str, chat: &Chat) -> MResult<()> {
        self.transaction(|tx| tx.store_chat(jid, chat))
    }
    fn chat(&self, jid: &str) -> MResult<Option<Chat>> {
        self.transaction(|tx| tx.chat(jid))
    }
    fn chats(&self) -> MResult<Vec<(String, Chat)>> {
        self.transaction(|tx| tx.chats())
    }
    fn remove_chat(&mut self, jid: &str) -> MResult<bool> {
        self.transaction(|tx| tx.remove_chat(jid))
    }
}
