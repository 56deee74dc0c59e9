//! The send side of the [`Messenger`]: a message becomes a device-list query, bundle fetches for
//! devices without a session, and one encrypted copy per device in a `message` stanza, recorded
//! in the store in the same step (so a retry receipt can be answered after a restart). Server
//! acks: a stale-device-list error refreshes the list and sends once more. Retry receipts from
//! devices that could not decrypt are answered from the stored record, once per retry count.

use super::*;

impl Messenger {
    /// Sends `text` to the user `to` (`number@s.whatsapp.net`); returns the message id. The
    /// device-list query goes out now; [`MessengerEvent::Sent`] follows the server's ack.
    ///
    /// # Errors
    /// [`MessengerError`].
    pub fn send_text<R: RngCore + CryptoRng>(
        &mut self,
        to: &str,
        text: &str,
        rng: &mut R,
    ) -> Result<String, MessengerError> {
        let message = Message {
            conversation: Some(text.to_owned()),
            ..Message::default()
        };
        self.send_message(to, message, rng)
    }

    /// Sends any `Message` to the user `to`; returns its id. See [`Messenger::send_text`].
    ///
    /// # Errors
    /// [`MessengerError`].
    pub fn send_message<R: RngCore + CryptoRng>(
        &mut self,
        to: &str,
        message: Message,
        rng: &mut R,
    ) -> Result<String, MessengerError> {
        let to = bare_user(to).ok_or_else(|| MessengerError::BadRecipient(to.to_owned()))?;
        if self.sends.len() >= self.config.max_pending_sends {
            return Err(MessengerError::Busy);
        }
        let id = stanza::new_message_id(rng);
        self.query_devices(PendingSend {
            id: id.clone(),
            to: to.clone(),
            message,
            devices: Vec::new(),
            asked: to,
            error_resends: 0,
        });
        Ok(id)
    }

    /// Asks for the device lists of a send's recipient and of our own account.
    pub(super) fn query_devices(&mut self, pending: PendingSend) {
        let users = self.users_of(&pending.asked);
        let id = pending.id.clone();
        self.sends.insert(id.clone(), pending);
        let sid = format!("{}.sid{}", self.id_prefix, self.next_iq + 1);
        self.iq(
            "usync",
            "get",
            usync::device_query(&sid, &users),
            PendingIq::Devices { send: id },
        );
    }

    /// The users whose devices a message to `to` goes to: `to` and our own account.
    pub(super) fn users_of(&self, to: &str) -> Vec<String> {
        let mut users = vec![to.to_owned()];
        if to != self.own.user {
            users.push(self.own.user.clone());
        }
        users
    }

    pub(super) fn fail_send(&mut self, id: &str, reason: impl Into<String>) {
        self.sends.remove(id);
        self.events.push_back(MessengerEvent::SendFailed {
            id: id.to_owned(),
            reason: reason.into(),
        });
    }

    pub(super) fn handle_answer<S: ReceiveStore, R: RngCore + CryptoRng>(
        &mut self,
        pending: PendingIq,
        node: &Node,
        store: &mut S,
        rng: &mut R,
    ) {
        match pending {
            PendingIq::Devices { send } => {
                let users = match usync::parse_device_answer(node) {
                    Ok(users) => users,
                    Err(e) => return self.fail_send(&send, format!("device list: {e}")),
                };
                for user in &users {
                    match lid::pair_from_usync(user) {
                        Ok(Some(pair)) => {
                            if let Err(e) = lid::learn(store, &pair) {
                                self.events
                                    .push_back(MessengerEvent::StoreFailed(e.to_string()));
                            }
                        }
                        Ok(None) => {}
                        Err(error) => self.events.push_back(MessengerEvent::AddressingRefused {
                            id: send.clone(),
                            error,
                        }),
                    }
                }
                let lists: Vec<(String, Vec<u16>)> = users
                    .into_iter()
                    .filter_map(|u| Some((bare_user(&u.user)?, u.devices)))
                    .collect();
                for (user, devices) in &lists {
                    self.device_lists.insert(user.clone(), devices.clone());
                }
                self.route_to_devices(send, &lists, store, rng);
            }
            PendingIq::Keys { send } => {
                match usync::parse_key_answer(node) {
                    Ok(bundles) => {
                        for (jid, bundle) in bundles {
                            if let FetchedBundle::Bundle(bundle) = bundle {
                                self.start_session(store, &jid, &bundle, rng);
                            }
                        }
                    }
                    Err(e) => return self.fail_send(&send, format!("bundles: {e}")),
                }
                self.encrypt_and_send(&send, store, rng);
            }
        }
    }

    /// Starts a session from a bundle; a changed identity is trusted and reported.
    pub(super) fn start_session<S: ReceiveStore, R: RngCore + CryptoRng>(
        &mut self,
        store: &mut S,
        device: &str,
        bundle: &wa_signal::PreKeyBundle,
        rng: &mut R,
    ) -> bool {
        let Some(address) = session_addr(store, device) else {
            return false;
        };
        match wa_signal::process_pre_key_bundle(store, &address, bundle, rng) {
            Ok(()) => true,
            Err(wa_signal::Error::UntrustedIdentity { .. }) => {
                if store.save_identity(&address, &bundle.identity_key).is_err() {
                    return false;
                }
                self.events.push_back(MessengerEvent::IdentityChanged {
                    device: device.to_owned(),
                });
                wa_signal::process_pre_key_bundle(store, &address, bundle, rng).is_ok()
            }
            Err(_) => false,
        }
    }

    /// The plaintext for one device: the message itself for the peer, wrapped in a
    /// `DeviceSentMessage` for our own other devices.
    pub(super) fn plaintext_for<R: RngCore + CryptoRng>(
        &self,
        device: &str,
        to: &str,
        message: &Message,
        rng: &mut R,
    ) -> Zeroizing<Vec<u8>> {
        let own = self.is_own(device);
        let body = if own && to != self.own.user {
            Message {
                device_sent_message: Some(Box::new(DeviceSentMessage {
                    destination_jid: Some(to.to_owned()),
                    message: Some(Box::new(message.clone())),
                    phash: None,
                })),
                ..Message::default()
            }
            .encode_to_vec()
        } else {
            message.encode_to_vec()
        };
        let body = Zeroizing::new(body);
        Zeroizing::new(wa_signal::pad(&body, rng))
    }

    pub(super) fn encrypt_and_send<S: ReceiveStore, R: RngCore + CryptoRng>(
        &mut self,
        send: &str,
        store: &mut S,
        rng: &mut R,
    ) {
        let Some(pending) = self.sends.remove(send) else {
            return;
        };
        let mut targets = Vec::new();
        let mut devices = Vec::new();
        for device in &pending.devices {
            let Some(address) = session_addr(store, device) else {
                continue;
            };
            targets.push((
                address,
                self.plaintext_for(device, &pending.to, &pending.message, rng),
            ));
            devices.push(device.clone());
        }
        let record = SentMessage {
            to: pending.to.clone(),
            message: pending.message.encode_to_vec(),
            sent_at: self.now_secs,
            resends: Vec::new(),
        };
        let ciphertexts = match store.encrypt_and_record(&pending.id, &record, &targets) {
            Ok(c) => c,
            Err(e) => {
                // Nothing was committed (no chain advanced): the send fails whole.
                self.events
                    .push_back(MessengerEvent::StoreFailed(e.to_string()));
                return self.fail_send_of(pending.id, format!("store: {e}"));
            }
        };
        let parts: Vec<EncPart> = devices
            .into_iter()
            .zip(ciphertexts)
            .filter_map(|(device, c)| {
                let c = c?;
                Some(EncPart {
                    device,
                    kind: c.kind,
                    ciphertext: c.bytes,
                })
            })
            .collect();
        if !parts.iter().any(|p| !self.is_own(&p.device)) {
            return self.fail_send_of(
                pending.id,
                "no device of the recipient to encrypt for".into(),
            );
        }
        let devices: Vec<&str> = parts.iter().map(|p| p.device.as_str()).collect();
        let hash = stanza::phash(&devices);
        self.out.push_back(stanza::message_node(
            &pending.id,
            &pending.to,
            &parts,
            Some(&self.own.device_identity),
            Some(&hash),
        ));
        if self.awaiting_ack.len() >= self.config.resend_cache {
            // Acks that never came: their entries are no use any more.
            self.awaiting_ack.clear();
        }
        self.awaiting_ack.insert(
            pending.id.clone(),
            AwaitingAck {
                phash: hash,
                users: self.users_of(&pending.asked),
                asked: pending.asked,
                error_resends: pending.error_resends,
            },
        );
        self.remember_sent(pending.id);
        self.prune_sent(store);
    }

    fn fail_send_of(&mut self, id: String, reason: String) {
        self.events
            .push_back(MessengerEvent::SendFailed { id, reason });
    }

    /// Prunes the stored sent messages every 64 records (by age and count; see
    /// [`MessengerConfig::sent_keep_secs`]). A failure is reported and tried again later.
    fn prune_sent<S: ReceiveStore>(&mut self, store: &mut S) {
        self.recorded_since_prune += 1;
        if self.recorded_since_prune < 64 {
            return;
        }
        self.recorded_since_prune = 0;
        let before = self.now_secs.saturating_sub(self.config.sent_keep_secs);
        if let Err(e) = store.prune_sent_messages(before, self.config.sent_keep_count) {
            self.events
                .push_back(MessengerEvent::StoreFailed(e.to_string()));
        }
    }

    /// A server ack for a message we sent: a `phash` other than ours or an error drops the
    /// device lists the send used; an error that names a stale list ([`STALE_DEVICE_ERRORS`])
    /// sends the message again to a fresh list, at most `max_error_resends` times.
    pub(super) fn handle_ack<S: ReceiveStore, R: RngCore + CryptoRng>(
        &mut self,
        node: &Node,
        ack: ServerAck,
        store: &mut S,
        rng: &mut R,
    ) {
        let Some(awaiting) = self.awaiting_ack.remove(&ack.id) else {
            if self.sent.contains(&ack.id) {
                self.events.push_back(MessengerEvent::Sent {
                    id: ack.id,
                    error: ack.error,
                });
            }
            return;
        };
        let stale = node
            .optional_str("phash")
            .is_some_and(|p| p != awaiting.phash);
        if stale || ack.error.is_some() {
            for user in &awaiting.users {
                self.device_lists.remove(user);
            }
        }
        if let Some(error) = ack.error {
            if STALE_DEVICE_ERRORS.contains(&error)
                && awaiting.error_resends < self.config.max_error_resends
                && self.resend_after_error(&ack.id, &awaiting, error, store, rng)
            {
                return;
            }
        }
        self.events.push_back(MessengerEvent::Sent {
            id: ack.id,
            error: ack.error,
        });
    }

    /// Sends message `id` again after an error ack: its stored record, the device lists asked
    /// anew. False when the record is gone (then the error is final).
    fn resend_after_error<S: ReceiveStore, R: RngCore + CryptoRng>(
        &mut self,
        id: &str,
        awaiting: &AwaitingAck,
        error: u16,
        store: &mut S,
        _rng: &mut R,
    ) -> bool {
        let message = match store.sent_message(id) {
            Ok(Some(record)) => Message::decode(record.message.as_slice()).ok(),
            Ok(None) => None,
            Err(e) => {
                self.events
                    .push_back(MessengerEvent::StoreFailed(e.to_string()));
                None
            }
        };
        let Some(message) = message else {
            return false;
        };
        self.events.push_back(MessengerEvent::ResendAfterError {
            id: id.to_owned(),
            error,
        });
        self.query_devices(PendingSend {
            id: id.to_owned(),
            to: awaiting.asked.clone(),
            message,
            devices: Vec::new(),
            asked: awaiting.asked.clone(),
            error_resends: awaiting.error_resends + 1,
        });
        true
    }

    /// Re-establishes the session with the device that could not decrypt message `id` (from
    /// the keys its retry receipt carries: a one-time prekey when given, else the signed prekey
    /// alone) and sends it the message again, from the stored record, so a restart in between
    /// does not matter. A retry whose `count` was answered before for that device is a duplicate
    /// (not answered twice); counts past `max_retries` are not answered. The record's answered
    /// count and the session advance in one atomic step.
    pub(super) fn answer_retry<S: ReceiveStore, R: RngCore + CryptoRng>(
        &mut self,
        node: &Node,
        receipt: &Receipt,
        id: &str,
        store: &mut S,
        rng: &mut R,
    ) {
        let device = receipt.sender.clone();
        let ignored = |reason: &str| MessengerEvent::RetryIgnored {
            id: id.to_owned(),
            device: device.clone(),
            reason: reason.to_owned(),
        };
        let mut record = match store.sent_message(id) {
            Ok(Some(record)) => record,
            Ok(None) => return self.events.push_back(ignored("message not kept")),
            Err(e) => {
                return self
                    .events
                    .push_back(MessengerEvent::StoreFailed(e.to_string()));
            }
        };
        let answered = record.resent_to(&device);
        let count = match receipt.kind {
            ReceiptKind::Retry { count, .. } if count > 0 => count,
            _ => answered.saturating_add(1),
        };
        if count <= answered {
            return self
                .events
                .push_back(ignored("retry count answered before"));
        }
        if count > self.config.max_retries {
            return self.events.push_back(ignored("past the retry bound"));
        }
        let Ok(message) = Message::decode(record.message.as_slice()) else {
            return self.events.push_back(ignored("stored message unreadable"));
        };
        match stanza::retry_bundle(node) {
            Some(bundle) => {
                if !self.start_session(store, &device, &bundle, rng) {
                    return self.events.push_back(ignored("no session from its keys"));
                }
            }
            // No keys: the session we have is used again, if there is one.
            None if has_session(store, &device) => {}
            None => return self.events.push_back(ignored("no keys and no session")),
        }
        let Some(address) = session_addr(store, &device) else {
            return;
        };
        if !record.record_resend(&device, count) {
            return self.events.push_back(ignored("too many devices asked"));
        }
        let plaintext = self.plaintext_for(&device, &record.to, &message, rng);
        let ciphertext = match store.encrypt_and_record(id, &record, &[(address, plaintext)]) {
            Ok(mut c) => c.pop().flatten(),
            Err(e) => {
                return self
                    .events
                    .push_back(MessengerEvent::StoreFailed(e.to_string()));
            }
        };
        let Some(ciphertext) = ciphertext else {
            return self.events.push_back(ignored("encryption refused"));
        };
        let part = EncPart {
            device: device.clone(),
            kind: ciphertext.kind,
            ciphertext: ciphertext.bytes,
        };
        self.out.push_back(stanza::message_node(
            id,
            &record.to,
            &[part],
            Some(&self.own.device_identity),
            None,
        ));
        self.events.push_back(MessengerEvent::Resent {
            id: id.to_owned(),
            device,
        });
    }

    /// Whether `device` is one of our own devices, by phone number or by LID.
    pub(super) fn is_own(&self, device: &str) -> bool {
        device.parse::<Jid>().is_ok_and(|jid| {
            (lid::is_pn(&jid) && jid.user == self.own.user_part)
                || (lid::is_lid(&jid) && self.own.lid_part.as_deref() == Some(jid.user.as_str()))
        })
    }

    pub(super) fn remember_sent(&mut self, id: String) {
        if self.sent.contains(&id) {
            return;
        }
        if self.sent.len() >= self.config.resend_cache {
            self.sent.pop_front();
        }
        self.sent.push_back(id);
    }
}
