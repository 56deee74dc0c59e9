//! The send side of the [`Messenger`]: a message becomes a device-list query, bundle fetches for
//! devices without a session, and one encrypted copy per device in a `message` stanza.

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
        let mut users = vec![to.clone()];
        if to != self.own.user {
            users.push(self.own.user.clone());
        }
        self.sends.insert(
            id.clone(),
            PendingSend {
                id: id.clone(),
                to,
                message,
                devices: Vec::new(),
            },
        );
        let sid = format!("{}.sid{}", self.id_prefix, self.next_iq + 1);
        self.iq(
            "usync",
            "get",
            usync::device_query(&sid, &users),
            PendingIq::Devices { send: id.clone() },
        );
        Ok(id)
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
        let mut parts = Vec::new();
        for device in &pending.devices {
            let Some(address) = session_addr(store, device) else {
                continue;
            };
            let plaintext = self.plaintext_for(device, &pending.to, &pending.message, rng);
            if let Ok(ciphertext) = wa_signal::encrypt(store, &address, &plaintext) {
                parts.push(EncPart {
                    device: device.clone(),
                    kind: ciphertext.kind,
                    ciphertext: ciphertext.bytes,
                });
            }
        }
        if !parts.iter().any(|p| !self.is_own(&p.device)) {
            self.events.push_back(MessengerEvent::SendFailed {
                id: pending.id,
                reason: "no device of the recipient to encrypt for".into(),
            });
            return;
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
        let mut users = vec![pending.to.clone()];
        if pending.to != self.own.user {
            users.push(self.own.user.clone());
        }
        self.awaiting_ack.insert(pending.id.clone(), (hash, users));
        self.remember_sent(pending.id, pending.to, pending.message);
    }

    /// Whether `device` is one of our own devices, by phone number or by LID.
    pub(super) fn is_own(&self, device: &str) -> bool {
        device.parse::<Jid>().is_ok_and(|jid| {
            (lid::is_pn(&jid) && jid.user == self.own.user_part)
                || (lid::is_lid(&jid) && self.own.lid_part.as_deref() == Some(jid.user.as_str()))
        })
    }

    pub(super) fn remember_sent(&mut self, id: String, to: String, message: Message) {
        if self.sent.len() >= self.config.resend_cache {
            if let Some((old, _, _)) = self.sent.pop_front() {
                self.resends.retain(|(id, _), _| *id != old);
            }
        }
        self.sent.push_back((id, to, message));
    }
}
