//! The device's durable state in one `wa-store` database (SQLite in the data dir, or memory for
//! tests): the credentials blob and one-time prekeys ([`WaStoreCredentials`], a
//! [`CredentialStore`]) and the Signal state the messenger works on ([`SignalState`]), with the
//! decrypt step going through `wa_store::receive` so that decrypting, the new session state and
//! the buffered plaintext commit together.

use std::io;
use std::sync::Arc;

use wa_core::md::store::{
    AddressingMode, CiphertextHash, DecryptBufferStore as _, DeviceStore as _, LidStore,
    MdStoreError, SentMessage, SentMessageStore,
};
use wa_core::md::{Credentials, ReceiveOutcome, ReceiveStore};
use wa_crypto::{CryptoRng, KeyPair, RngCore};
use wa_signal::{
    IdentityStore, MessageKind, PreKey, PreKeyStore, ProtocolAddress, PublicKey, SessionRecord,
    SessionStore, SignedPreKey, SignedPreKeyStore, StoreError,
};
use wa_store::{Incoming, ReceiptQueue, ReceiveError, Received, Store, Table};
use zeroize::Zeroizing;

use super::store::CredentialStore;

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Credentials and prekeys in a `wa-store` database. Saving credentials also records the Signal
/// identity, registration id and signed prekey the messenger needs, in the same transaction.
#[derive(Clone, Debug)]
pub struct WaStoreCredentials(pub Arc<Store>);

impl CredentialStore for WaStoreCredentials {
    fn load(&self) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
        let blob = self.0.transaction(|tx| tx.load_device()).map_err(io_err)?;
        // An empty blob is what older builds' `clear` left: no device.
        Ok(blob.filter(|b| !b.is_empty()).map(Zeroizing::new))
    }

    fn save(&self, blob: &[u8]) -> io::Result<()> {
        let creds = Credentials::from_bytes(blob).map_err(io_err)?;
        self.0
            .transaction(|tx| -> Result<(), wa_store::Error> {
                tx.save_device(blob)
                    .map_err(|e| wa_store::Error::Inner(e.to_string()))?;
                tx.set_local_identity(&creds.identity, creds.registration_id)?;
                tx.store_signed_pre_key(&creds.signed_prekey)
                    .map_err(|e| wa_store::Error::Inner(e.to_string()))?;
                Ok(())
            })
            .map_err(io_err)
    }

    fn add_prekeys(&self, keys: &[PreKey]) -> io::Result<()> {
        self.0
            .transaction(|tx| -> Result<(), StoreError> {
                for key in keys {
                    tx.store_pre_key(key)?;
                }
                Ok(())
            })
            .map_err(io_err)
    }

    fn prekeys(&self) -> io::Result<Vec<PreKey>> {
        self.0
            .transaction(|tx| -> Result<Vec<PreKey>, StoreError> {
                let mut out = Vec::new();
                for key in tx.raw_keys(Table::PreKeys)? {
                    let Ok(id) = <[u8; 4]>::try_from(key.as_slice()) else {
                        continue;
                    };
                    if let Some(k) = tx.load_pre_key(u32::from_be_bytes(id))? {
                        out.push(k);
                    }
                }
                Ok(out)
            })
            .map_err(io_err)
    }

    /// Erases every row of the device (credentials, identities, sessions, prekeys, sender
    /// keys, the decrypt buffer, ...) in one transaction: after a logout nothing of the old
    /// device stays in the database, and a later open pairs a fresh one.
    fn clear(&self) -> io::Result<()> {
        self.0.erase_device().map(|_| ()).map_err(io_err)
    }
}

/// The Signal state of the device, each call one transaction of the shared store, and the
/// atomic receive step of `wa_store::receive`.
#[derive(Clone, Debug)]
pub struct SignalState(pub Arc<Store>);

/// A message decrypted and buffered but not handed to the application (the process stopped in
/// between).
#[derive(Debug)]
pub struct Undelivered {
    /// The decrypt buffer's key.
    pub hash: CiphertextHash,
    /// The sending device.
    pub sender: String,
    /// The message id.
    pub id: String,
    /// The padded plaintext.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// Whether it was handed to the application before (its next hand-over is a redelivery).
    pub handed: bool,
}

impl SignalState {
    /// What the decrypt buffer holds undelivered.
    ///
    /// # Errors
    /// A store failure.
    pub fn undelivered(&self) -> Result<Vec<Undelivered>, MdStoreError> {
        let entries = self.0.transaction(|tx| tx.undelivered())?;
        Ok(entries
            .into_iter()
            .map(|(hash, m)| Undelivered {
                hash,
                sender: m.sender.clone(),
                id: m.id.clone(),
                plaintext: Zeroizing::new(m.plaintext.clone()),
                handed: m.handed,
            })
            .collect())
    }

    /// Records, in one transaction, that these entries are about to be handed to the
    /// application: from then on a hand-over after a restart is flagged `redelivered`.
    ///
    /// # Errors
    /// A store failure (then nothing may be handed over).
    pub fn mark_handed(&self, hashes: &[CiphertextHash]) -> Result<(), MdStoreError> {
        if hashes.is_empty() {
            return Ok(());
        }
        self.0.transaction(|tx| {
            for hash in hashes {
                tx.mark_handed(hash)?;
            }
            Ok(())
        })
    }

    /// Removes delivered entries acknowledged before `before_secs`; how many went.
    ///
    /// # Errors
    /// A store failure.
    pub fn prune_delivered(&self, before_secs: u64) -> Result<usize, MdStoreError> {
        self.0.transaction(|tx| tx.prune_delivered(before_secs))
    }
}

impl IdentityStore for SignalState {
    fn local_identity(&self) -> Result<KeyPair, StoreError> {
        self.0.local_identity()
    }
    fn local_registration_id(&self) -> Result<u32, StoreError> {
        self.0.local_registration_id()
    }
    fn identity(&self, address: &ProtocolAddress) -> Result<Option<PublicKey>, StoreError> {
        self.0.identity(address)
    }
    fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        key: &PublicKey,
    ) -> Result<(), StoreError> {
        self.0.transaction(|tx| tx.save_identity(address, key))
    }
}

impl SessionStore for SignalState {
    fn load_session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>, StoreError> {
        self.0.load_session(address)
    }
    fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> Result<(), StoreError> {
        self.0.transaction(|tx| tx.store_session(address, record))
    }
}

impl PreKeyStore for SignalState {
    fn load_pre_key(&self, id: u32) -> Result<Option<PreKey>, StoreError> {
        self.0.load_pre_key(id)
    }
    fn store_pre_key(&mut self, pre_key: &PreKey) -> Result<(), StoreError> {
        self.0.transaction(|tx| tx.store_pre_key(pre_key))
    }
    fn remove_pre_key(&mut self, id: u32) -> Result<(), StoreError> {
        self.0.transaction(|tx| tx.remove_pre_key(id))
    }
}

impl SignedPreKeyStore for SignalState {
    fn load_signed_pre_key(&self, id: u32) -> Result<Option<SignedPreKey>, StoreError> {
        self.0.load_signed_pre_key(id)
    }
    fn store_signed_pre_key(&mut self, key: &SignedPreKey) -> Result<(), StoreError> {
        self.0.transaction(|tx| tx.store_signed_pre_key(key))
    }
}

impl LidStore for SignalState {
    fn store_lid_mapping(&mut self, lid: &str, pn: &str) -> Result<(), MdStoreError> {
        self.0.transaction(|tx| tx.store_lid_mapping(lid, pn))
    }
    fn pn_for_lid(&self, lid: &str) -> Result<Option<String>, MdStoreError> {
        self.0.transaction(|tx| tx.pn_for_lid(lid))
    }
    fn lid_for_pn(&self, pn: &str) -> Result<Option<String>, MdStoreError> {
        self.0.transaction(|tx| tx.lid_for_pn(pn))
    }
    fn store_addressing_mode(
        &mut self,
        user: &str,
        mode: AddressingMode,
    ) -> Result<(), MdStoreError> {
        self.0
            .transaction(|tx| tx.store_addressing_mode(user, mode))
    }
    fn addressing_mode(&self, user: &str) -> Result<Option<AddressingMode>, MdStoreError> {
        self.0.transaction(|tx| tx.addressing_mode(user))
    }
    fn migrate_session(
        &mut self,
        from: &ProtocolAddress,
        to: &ProtocolAddress,
    ) -> Result<bool, MdStoreError> {
        // One transaction: the session and identity move together or not at all.
        self.0.transaction(|tx| tx.migrate_session(from, to))
    }
}

impl SentMessageStore for SignalState {
    fn store_sent_message(&mut self, id: &str, message: &SentMessage) -> Result<(), MdStoreError> {
        self.0.transaction(|tx| tx.store_sent_message(id, message))
    }
    fn sent_message(&self, id: &str) -> Result<Option<SentMessage>, MdStoreError> {
        self.0.transaction(|tx| tx.sent_message(id))
    }
    fn prune_sent_messages(
        &mut self,
        before_secs: u64,
        keep: usize,
    ) -> Result<usize, MdStoreError> {
        self.0
            .transaction(|tx| tx.prune_sent_messages(before_secs, keep))
    }
}

impl ReceiveStore for SignalState {
    fn encrypt_and_record(
        &mut self,
        id: &str,
        sent: &SentMessage,
        targets: &[(ProtocolAddress, Zeroizing<Vec<u8>>)],
    ) -> Result<Vec<Option<wa_signal::Ciphertext>>, MdStoreError> {
        // One transaction: the advanced chains and the record commit together.
        wa_store::send_recorded(&self.0, id, sent, targets)
    }

    fn receive_enc<R: RngCore + CryptoRng>(
        &mut self,
        from: &ProtocolAddress,
        sender_jid: &str,
        id: &str,
        kind: MessageKind,
        ciphertext: &[u8],
        rng: &mut R,
    ) -> Result<ReceiveOutcome, wa_signal::Error> {
        let incoming = Incoming {
            from,
            sender_jid,
            id,
            kind,
            ciphertext,
        };
        // The messenger sends the receipt with the stanza's ack right after this commit, so
        // none is queued: a crash before the ack makes the server redeliver, and the
        // redelivery (a duplicate here) yields the receipt again.
        let received = wa_store::receive_with(&self.0, &incoming, ReceiptQueue::WithAck, rng)
            .map_err(|e| match e {
                ReceiveError::Signal(s) => s,
                ReceiveError::Store(s) => wa_signal::Error::Store(StoreError::msg(s.to_string())),
            })?;
        Ok(match received {
            Received::New {
                hash, plaintext, ..
            } => ReceiveOutcome::New { hash, plaintext },
            Received::Duplicate { hash, .. } => ReceiveOutcome::Duplicate { hash },
        })
    }

    fn mark_delivered(&mut self, hash: &CiphertextHash, now_secs: u64) -> Result<(), MdStoreError> {
        self.0
            .transaction(|tx| tx.mark_delivered(hash, now_secs).map(|_| ()))
    }
}

/// Opens the device's SQLite database (created with mode 0600 if missing).
///
/// # Errors
/// The store's error (another process holds its lease, a damaged file...).
pub fn open_sqlite(path: &std::path::Path) -> Result<Arc<Store>, wa_store::Error> {
    Ok(Arc::new(Store::open_sqlite(path)?))
}
