//! The receive side of the [`Messenger`]: an incoming `message` is decrypted per `enc` child
//! through the store (a companion's `pkmsg` only once its `device-identity` checks out),
//! handed over as events and acknowledged with a delivery (or `inactive`) receipt; receipts we
//! get are typed and reported, and `read`/`played` (and their `-self` forms) go out on request;
//! retry receipts are sent when a message cannot be decrypted and answered when a peer could
//! not decrypt ours.

use super::*;
use crate::md::adv::{self, PeerIdentityError};
use crate::md::stanza::StatusKind;

impl Messenger {
    pub(super) fn handle_message<S: ReceiveStore, R: RngCore + CryptoRng>(
        &mut self,
        node: &Node,
        store: &mut S,
        now_secs: u64,
        rng: &mut R,
    ) {
        let mut incoming = match IncomingMessage::parse(node) {
            Ok(m) => m,
            Err(e) => {
                // Nothing in it we can use: ack so the server stops redelivering it.
                self.events.push_back(MessengerEvent::DecryptFailed {
                    id: node.optional_str("id").unwrap_or_default().to_owned(),
                    sender: node.optional_str("from").unwrap_or_default().to_owned(),
                    reason: e.to_string(),
                    retry_sent: false,
                });
                self.out.push_back(stanza::ack_for(node));
                return;
            }
        };
        let addressing = match Addressing::parse(node) {
            Ok(a) => Some(a),
            Err(error) => {
                self.events.push_back(MessengerEvent::AddressingRefused {
                    id: incoming.id.clone(),
                    error,
                });
                None
            }
        };
        let Ok(sender) = incoming.sender.parse::<Jid>() else {
            self.out.push_back(stanza::ack_for(node));
            return;
        };
        let learned = match &addressing {
            Some(a) => lid::learn_addressing(store, a, self.is_own(&a.sender.to_string())),
            None => Ok(()),
        };
        // The session of the sending device, under its LID address when known.
        let address = learned.and_then(|()| lid::session_address(store, &sender));
        let address = match address {
            Ok(Some(address)) => address,
            Ok(None) => {
                self.out.push_back(stanza::ack_for(node));
                return;
            }
            Err(e) => {
                // Left unacked: the server delivers it again.
                self.events
                    .push_back(MessengerEvent::StoreFailed(e.to_string()));
                return;
            }
        };
        incoming.sender_alt = addressing
            .and_then(|a| a.sender_alt)
            .or_else(|| lid::alternative(store, &sender).ok().flatten())
            .map(|j| j.to_string());
        self.check_known_device(&incoming.sender);
        let mut received = false;
        let mut failure = None;
        let mut refused = false;
        for enc in &incoming.encs {
            if let Err(error) = self.check_device_identity(store, node, &sender, enc) {
                // Not decrypted: the account does not vouch for the key opening this session.
                self.events
                    .push_back(MessengerEvent::DeviceIdentityRefused {
                        id: incoming.id.clone(),
                        sender: incoming.sender.clone(),
                        error,
                    });
                refused = true;
                continue;
            }
            match self.receive_one(store, &address, &incoming, enc, rng) {
                Ok(Some(outcome)) => {
                    received = true;
                    if let ReceiveOutcome::New { hash, plaintext } = outcome {
                        self.deliver(&incoming, hash, &plaintext, false);
                    }
                }
                Ok(None) => return, // the store failed: leave it unacked for redelivery
                Err(reason) => failure = Some(reason),
            }
        }
        if let (false, false, Some(reason)) = (received, refused, failure) {
            let retry_sent = self.send_retry(&incoming, now_secs);
            self.events.push_back(MessengerEvent::DecryptFailed {
                id: incoming.id.clone(),
                sender: incoming.sender.clone(),
                reason,
                retry_sent,
            });
        }
        if received {
            let participant = node.optional_str("participant");
            let receipt = if self.is_own(&incoming.sender) {
                stanza::delivery_receipt(&incoming.id, &incoming.from, participant)
                    .attr("type", "sender")
            } else if self.active {
                stanza::delivery_receipt(&incoming.id, &incoming.from, participant)
            } else {
                stanza::inactive_receipt(&incoming.id, &incoming.from, participant)
            };
            self.out.push_back(receipt);
        }
        self.out.push_back(stanza::ack_for(node));
    }

    /// The `device-identity` check of a `pkmsg` from a companion device (see
    /// [`adv::verify_peer_identity`]); `msg`s and the primary's messages (whose identity key is
    /// the account key itself) have nothing to check.
    pub(super) fn check_device_identity<S: ReceiveStore>(
        &self,
        store: &mut S,
        node: &Node,
        sender: &Jid,
        enc: &stanza::IncomingEnc,
    ) -> Result<(), PeerIdentityError> {
        if enc.kind != MessageKind::PreKey || sender.device == 0 {
            return Ok(());
        }
        let Ok(parsed) = PreKeySignalMessage::parse(&enc.ciphertext) else {
            // Signal refuses it on decryption, with its own error and a retry receipt.
            return Ok(());
        };
        let encoded = node
            .child("device-identity")
            .and_then(Node::content_bytes)
            .ok_or(PeerIdentityError::Missing)?;
        let known = if self.is_own(&sender.to_string()) {
            self.own.account_key
        } else {
            // The account key is the identity key of the sender's primary device: known when
            // we have talked to the phone (a store failure means unknown, not trusted).
            let primary = sender.clone().with_device(0);
            lid::session_address(store, &primary)
                .ok()
                .flatten()
                .and_then(|a| store.identity(&a).ok().flatten())
                .map(|k| k.0)
        };
        adv::verify_peer_identity(
            encoded,
            adv::PeerIdentityCheck {
                device_key: &parsed.identity_key.0,
                known_account_key: known.as_ref(),
                expected_key_index: None,
            },
        )
        .map(|_| ())
    }

    /// One `enc`: `Ok(Some)` decrypted or duplicate, `Ok(None)` the store failed, `Err` Signal
    /// refused it. A changed identity on a `pkmsg` is trusted, reported, and decrypted again.
    pub(super) fn receive_one<S: ReceiveStore, R: RngCore + CryptoRng>(
        &mut self,
        store: &mut S,
        address: &ProtocolAddress,
        incoming: &IncomingMessage,
        enc: &stanza::IncomingEnc,
        rng: &mut R,
    ) -> Result<Option<ReceiveOutcome>, String> {
        let attempt = |store: &mut S, rng: &mut R| {
            store.receive_enc(
                address,
                &incoming.sender,
                &incoming.id,
                enc.kind,
                &enc.ciphertext,
                rng,
            )
        };
        match attempt(store, rng) {
            Ok(outcome) => Ok(Some(outcome)),
            Err(wa_signal::Error::UntrustedIdentity { .. }) if enc.kind == MessageKind::PreKey => {
                let Ok(parsed) = PreKeySignalMessage::parse(&enc.ciphertext) else {
                    return Err("untrusted identity".into());
                };
                // The new key is trusted only if the message decrypts with it: an unauthenticated
                // stanza must not replace a peer's identity.
                let key: PublicKey = parsed.identity_key;
                let old = store.identity(address).ok().flatten();
                if store.save_identity(address, &key).is_err() {
                    self.events
                        .push_back(MessengerEvent::StoreFailed("saving an identity".into()));
                    return Ok(None);
                }
                match attempt(store, rng) {
                    Ok(outcome) => {
                        self.events.push_back(MessengerEvent::IdentityChanged {
                            device: incoming.sender.clone(),
                        });
                        Ok(Some(outcome))
                    }
                    Err(e) => {
                        if let Some(old) = old {
                            let _ = store.save_identity(address, &old);
                        }
                        Err(e.to_string())
                    }
                }
            }
            Err(wa_signal::Error::Store(e)) => {
                self.events
                    .push_back(MessengerEvent::StoreFailed(e.to_string()));
                Ok(None)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    pub(super) fn deliver(
        &mut self,
        incoming: &IncomingMessage,
        hash: CiphertextHash,
        padded: &[u8],
        redelivered: bool,
    ) {
        let parsed = wa_signal::unpad(padded)
            .ok()
            .and_then(|body| Message::decode(body).ok());
        let Some(mut message) = parsed else {
            self.events.push_back(MessengerEvent::DecryptFailed {
                id: incoming.id.clone(),
                sender: incoming.sender.clone(),
                reason: "plaintext is not a Message".into(),
                retry_sent: false,
            });
            return;
        };
        let from_me = self.is_own(&incoming.sender);
        let mut chat = bare_user(&incoming.from).unwrap_or_else(|| incoming.from.clone());
        if from_me {
            if let Some(sent) = message.device_sent_message.take() {
                chat = sent
                    .destination_jid
                    .clone()
                    .or_else(|| incoming.recipient.clone())
                    .unwrap_or(chat);
                message = sent.message.map(|m| *m).unwrap_or_default();
            } else if let Some(recipient) = &incoming.recipient {
                chat = recipient.clone();
            }
        }
        self.events.push_back(MessengerEvent::Message {
            id: incoming.id.clone(),
            sender: incoming.sender.clone(),
            sender_alt: incoming.sender_alt.clone(),
            chat,
            from_me,
            timestamp: incoming.timestamp,
            message: Box::new(message),
            hash,
            redelivered,
        });
    }

    /// Sends a retry receipt for `incoming` unless the bound is reached; true if one went out.
    pub(super) fn send_retry(&mut self, incoming: &IncomingMessage, now_secs: u64) -> bool {
        let count = match self
            .retries_sent
            .iter_mut()
            .find(|(id, _)| *id == incoming.id)
        {
            Some((_, count)) => {
                *count += 1;
                *count
            }
            None => {
                if self.retries_sent.len() >= self.config.resend_cache {
                    self.retries_sent.pop_front();
                }
                self.retries_sent.push_back((incoming.id.clone(), 1));
                1
            }
        };
        if count > self.config.max_retries {
            return false;
        }
        let receipt = stanza::retry_receipt(
            &incoming.id,
            &incoming.from,
            count,
            now_secs,
            &self.own.retry_keys,
        );
        let receipt = match incoming.from != incoming.sender {
            true => receipt.attr("participant", &incoming.sender),
            false => receipt,
        };
        self.out.push_back(receipt);
        true
    }

    pub(super) fn handle_receipt<S: ReceiveStore, R: RngCore + CryptoRng>(
        &mut self,
        node: &Node,
        store: &mut S,
        rng: &mut R,
    ) {
        self.out.push_back(stanza::ack_for(node));
        let Ok(receipt) = Receipt::parse(node) else {
            return;
        };
        if let ReceiptKind::Retry { .. } = receipt.kind {
            self.check_known_device(&receipt.sender);
            for id in &receipt.ids {
                self.answer_retry(node, &receipt, id, store, rng);
            }
        }
        // A receipt one of our own devices sent names the peer's chat in `recipient`.
        let from_me = self.is_own(&receipt.sender);
        let chat = match (from_me, receipt.recipient) {
            (true, Some(recipient)) => recipient,
            _ => receipt.from,
        };
        let from = bare_user(&chat).unwrap_or(chat);
        self.events.push_back(MessengerEvent::Receipt {
            ids: receipt.ids,
            from,
            sender: receipt.sender,
            from_me,
            kind: receipt.kind,
        });
    }

    /// Tells the sender of messages `ids` in chat `chat` (a user JID) that we read or played
    /// them (`read`, `played`), or tells only our own other devices (`read-self`,
    /// `played-self`, for an account whose read receipts are off). At most
    /// [`stanza::MAX_RECEIPT_IDS`] ids go out in one receipt; the rest in further ones.
    pub fn mark_status(&mut self, kind: StatusKind, chat: &str, ids: &[String], now_secs: u64) {
        for chunk in ids.chunks(stanza::MAX_RECEIPT_IDS) {
            if let Some(receipt) = stanza::status_receipt(kind, chunk, chat, now_secs) {
                self.out.push_back(receipt);
            }
        }
    }

    /// [`Messenger::mark_status`] with `read`.
    pub fn mark_read(&mut self, chat: &str, ids: &[String], now_secs: u64) {
        self.mark_status(StatusKind::Read, chat, ids, now_secs);
    }

    /// Whether this device is in the foreground: its delivery receipts are plain when it is
    /// (the default), `inactive` when it is not (the sender then does not see it online).
    pub fn set_active(&mut self, active: bool) {
        self.active = active;
    }
}
