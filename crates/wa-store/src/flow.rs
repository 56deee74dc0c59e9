//! The two protocol steps whose durability matters most, each one transaction:
//!
//! - [`receive`]: decrypt an incoming 1:1 message; the new session state, the plaintext in the
//!   decrypt buffer (keyed by SHA-256 of the ciphertext) and the receipt to send are committed
//!   together, and a one-time prekey used by a `pkmsg` is removed in that same transaction. A
//!   redelivered ciphertext is found in the buffer and never decrypted twice (its message key
//!   is gone anyway); the receipt is queued again, since the server redelivers what it did not
//!   see acknowledged.
//!   A client that transmits the receipt together with the stanza's ack right after the
//!   commit ([`receive_with`] and [`ReceiptQueue::WithAck`]) queues none: the ack is what ends
//!   the server's redelivery, so a crash before it makes the server redeliver, and the
//!   redelivery produces the receipt again. The receipt's whole life is then this one
//!   transaction, with no second one to remove an outbox entry.
//! - [`send`]: encrypt an outgoing message; the advanced sending chain and the ciphertext in the
//!   outbox are committed together before the caller transmits anything. After a crash the
//!   outbox holds the same bytes, which are re-sent as they are: no message key is used for two
//!   different ciphertexts.
//! - [`send_recorded`]: encrypt one message for each of its devices and record it (recipient,
//!   plaintext, retry counts answered) among the sent messages, in one transaction: every
//!   message that leaves can be resent from the record when a device's retry receipt comes,
//!   after a restart too, and a resend's recorded retry count commits with the session it used,
//!   so the same retry is never answered twice.

use sha2::{Digest as _, Sha256};
use wa_core::md::store::{
    CiphertextHash, DecryptBufferStore as _, DecryptedMessage, OutboxEntry, OutboxKind,
    OutboxStore as _, SentMessage, SentMessageStore as _,
};
use wa_crypto::{CryptoRng, RngCore};
use wa_signal::{Ciphertext, MessageKind, ProtocolAddress};
use zeroize::Zeroizing;

use crate::Store;
use crate::error::Error;

/// An incoming 1:1 message as it came off the wire.
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a> {
    /// The sending device.
    pub from: &'a ProtocolAddress,
    /// The sender's JID (for the buffer entry and the receipt).
    pub sender_jid: &'a str,
    /// The message id (the receipt's payload).
    pub id: &'a str,
    /// `pkmsg` or `msg`.
    pub kind: MessageKind,
    /// The ciphertext.
    pub ciphertext: &'a [u8],
}

/// What [`receive`] did.
#[derive(Debug)]
pub enum Received {
    /// Decrypted now; the plaintext is in the buffer (and here).
    New {
        /// The buffer key.
        hash: CiphertextHash,
        /// The plaintext.
        plaintext: Zeroizing<Vec<u8>>,
        /// The outbox entry of the receipt (0 with [`ReceiptQueue::WithAck`]: none was queued).
        receipt: u64,
    },
    /// Already decrypted before (a redelivery); nothing was decrypted, a receipt was queued
    /// (with [`ReceiptQueue::Outbox`]).
    Duplicate {
        /// The buffer key.
        hash: CiphertextHash,
        /// The outbox entry of the receipt (0 with [`ReceiptQueue::WithAck`]).
        receipt: u64,
    },
}

/// Where the delivery receipt of a received message lives until it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptQueue {
    /// In the outbox, committed with the decryption; the caller removes it once sent.
    Outbox,
    /// Nowhere: the caller sends it with the stanza's ack right after the commit (a crash
    /// before that leaves the stanza unacked, and its redelivery yields the receipt again).
    WithAck,
}

/// Why [`receive`] or [`send`] failed. Nothing was committed.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// Signal refused the message (bad MAC, no session, untrusted identity, ...).
    #[error("signal: {0}")]
    Signal(wa_signal::Error),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] Error),
}

impl From<wa_signal::Error> for ReceiveError {
    fn from(e: wa_signal::Error) -> ReceiveError {
        match e {
            // A backend failure that went through wa-signal stays a store failure.
            wa_signal::Error::Store(s) => ReceiveError::Store(s.into()),
            other => ReceiveError::Signal(other),
        }
    }
}

impl From<wa_core::md::store::MdStoreError> for ReceiveError {
    fn from(e: wa_core::md::store::MdStoreError) -> ReceiveError {
        ReceiveError::Store(e.into())
    }
}

/// The decrypt buffer's key for a ciphertext.
pub fn ciphertext_hash(ciphertext: &[u8]) -> CiphertextHash {
    Sha256::digest(ciphertext).into()
}

/// Decrypts `incoming` in one transaction, its receipt queued in the outbox (see the module
/// docs).
pub fn receive<R: RngCore + CryptoRng>(
    store: &Store,
    incoming: &Incoming<'_>,
    rng: &mut R,
) -> Result<Received, ReceiveError> {
    receive_with(store, incoming, ReceiptQueue::Outbox, rng)
}

/// Decrypts `incoming` in one transaction, its receipt kept as `queue` says.
pub fn receive_with<R: RngCore + CryptoRng>(
    store: &Store,
    incoming: &Incoming<'_>,
    queue: ReceiptQueue,
    rng: &mut R,
) -> Result<Received, ReceiveError> {
    let hash = ciphertext_hash(incoming.ciphertext);
    let receipt = OutboxEntry {
        kind: OutboxKind::Receipt,
        to: incoming.sender_jid.to_owned(),
        payload: incoming.id.as_bytes().to_vec(),
    };
    let enqueue = |tx: &mut crate::Tx<'_>| -> Result<u64, ReceiveError> {
        match queue {
            ReceiptQueue::Outbox => Ok(tx.enqueue_outbox(&receipt)?),
            ReceiptQueue::WithAck => Ok(0),
        }
    };
    store.transaction(|tx| {
        if tx.decrypted(&hash)?.is_some() {
            let receipt = enqueue(tx)?;
            return Ok(Received::Duplicate { hash, receipt });
        }
        let plaintext = Zeroizing::new(wa_signal::decrypt(
            tx,
            incoming.from,
            incoming.kind,
            incoming.ciphertext,
            rng,
        )?);
        tx.buffer_decrypted(
            &hash,
            &DecryptedMessage::new(incoming.sender_jid, incoming.id, plaintext.to_vec()),
        )?;
        let receipt = enqueue(tx)?;
        Ok(Received::New {
            hash,
            plaintext,
            receipt,
        })
    })
}

/// What [`send`] committed.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The outbox entry holding the ciphertext: remove it once the server acknowledged it.
    pub seq: u64,
    /// The ciphertext to transmit.
    pub ciphertext: Ciphertext,
}

/// The outbox payload of a message: its kind (1 = `pkmsg`, 0 = `msg`) then the ciphertext.
pub fn message_payload(c: &Ciphertext) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + c.bytes.len());
    out.push(u8::from(c.kind == MessageKind::PreKey));
    out.extend_from_slice(&c.bytes);
    out
}

/// Encrypts `plaintext` for `to` in one transaction (see the module docs).
pub fn send(
    store: &Store,
    to: &ProtocolAddress,
    to_jid: &str,
    plaintext: &[u8],
) -> Result<Sent, ReceiveError> {
    store.transaction(|tx| {
        let ciphertext = wa_signal::encrypt(tx, to, plaintext)?;
        let seq = tx.enqueue_outbox(&OutboxEntry {
            kind: OutboxKind::Message,
            to: to_jid.to_owned(),
            payload: message_payload(&ciphertext),
        })?;
        Ok(Sent { seq, ciphertext })
    })
}

/// Encrypts each plaintext for its device and records message `id` among the sent messages, in
/// one transaction (see the module docs): what `wa_core::md::ReceiveStore::encrypt_and_record`
/// asks of a durable store. A device Signal refuses (no session, a changed identity) is `None`;
/// a store failure rolls everything back.
///
/// # Errors
/// The store's error; nothing was committed.
pub fn send_recorded(
    store: &Store,
    id: &str,
    sent: &SentMessage,
    targets: &[(ProtocolAddress, Zeroizing<Vec<u8>>)],
) -> Result<Vec<Option<Ciphertext>>, wa_core::md::store::MdStoreError> {
    store.transaction(|tx| {
        let out = wa_core::md::encrypt_targets(tx, targets)?;
        tx.store_sent_message(id, sent)?;
        Ok(out)
    })
}

/// A store is the messenger's [`ReceiveStore`](wa_core::md::ReceiveStore) directly: every call
/// its own transaction, `receive_enc` through [`receive_with`] (the receipt goes with the ack,
/// [`ReceiptQueue::WithAck`]), `encrypt_and_record` through [`send_recorded`].
impl wa_core::md::ReceiveStore for Store {
    fn receive_enc<R: RngCore + CryptoRng>(
        &mut self,
        from: &ProtocolAddress,
        sender_jid: &str,
        id: &str,
        kind: MessageKind,
        ciphertext: &[u8],
        rng: &mut R,
    ) -> Result<wa_core::md::ReceiveOutcome, wa_signal::Error> {
        let incoming = Incoming {
            from,
            sender_jid,
            id,
            kind,
            ciphertext,
        };
        match receive_with(self, &incoming, ReceiptQueue::WithAck, rng) {
            Ok(Received::New {
                hash, plaintext, ..
            }) => Ok(wa_core::md::ReceiveOutcome::New { hash, plaintext }),
            Ok(Received::Duplicate { hash, .. }) => {
                Ok(wa_core::md::ReceiveOutcome::Duplicate { hash })
            }
            Err(ReceiveError::Signal(e)) => Err(e),
            Err(ReceiveError::Store(e)) => Err(wa_signal::Error::Store(
                wa_signal::StoreError::msg(e.to_string()),
            )),
        }
    }

    fn mark_delivered(
        &mut self,
        hash: &CiphertextHash,
        now_secs: u64,
    ) -> Result<(), wa_core::md::store::MdStoreError> {
        self.transaction(|tx| tx.mark_delivered(hash, now_secs).map(|_| ()))
    }

    fn encrypt_and_record(
        &mut self,
        id: &str,
        sent: &SentMessage,
        targets: &[(ProtocolAddress, Zeroizing<Vec<u8>>)],
    ) -> Result<Vec<Option<Ciphertext>>, wa_core::md::store::MdStoreError> {
        send_recorded(self, id, sent, targets)
    }
}
