//! The messenger's device-list cache: sends whose lists are known skip the `usync` query, and
//! the protocol's signals that a list changed drop it (see [`Messenger::send_message_with`]).

use wa_binary::Jid;
use wa_crypto::{CryptoRng, RngCore};
use wa_proto::proto::Message;

use super::{
    Messenger, MessengerError, PendingIq, PendingSend, ReceiveStore, bare_user, device_jid,
    has_session, lid, stanza, usync,
};

impl Messenger {
    /// Sends any `Message` to the user `to` as [`Messenger::send_message`], but without the
    /// device-list query when the device lists of `to` and of our own account are known (from an
    /// earlier answer not invalidated since): then the bundle query, or the message itself when
    /// every device has a session, goes out at once.
    ///
    /// # Errors
    /// [`MessengerError`].
    pub fn send_message_with<S: ReceiveStore, R: RngCore + CryptoRng>(
        &mut self,
        to: &str,
        message: Message,
        store: &mut S,
        rng: &mut R,
    ) -> Result<String, MessengerError> {
        let bare = bare_user(to).ok_or_else(|| MessengerError::BadRecipient(to.to_owned()))?;
        let users = self.users_of(&bare);
        let lists: Option<Vec<(String, Vec<u16>)>> = users
            .iter()
            .map(|u| Some((u.clone(), self.device_lists.get(u)?.clone())))
            .collect();
        let Some(lists) = lists else {
            return self.send_message(to, message, rng);
        };
        if self.sends.len() >= self.config.max_pending_sends {
            return Err(MessengerError::Busy);
        }
        let id = stanza::new_message_id(rng);
        self.sends.insert(
            id.clone(),
            PendingSend {
                id: id.clone(),
                to: bare.clone(),
                message,
                devices: Vec::new(),
                asked: bare,
                error_resends: 0,
            },
        );
        self.route_to_devices(id.clone(), &lists, store, rng);
        Ok(id)
    }

    /// Whether the device lists of `to` and of our account are cached.
    pub fn knows_devices_of(&self, to: &str) -> bool {
        bare_user(to).is_some_and(|u| self.device_lists.contains_key(&u))
            && self.device_lists.contains_key(&self.own.user)
    }

    /// Forgets the cached device list of the user of `jid` (a device or user JID).
    pub(super) fn forget_devices(&mut self, jid: &str) {
        if let Some(user) = bare_user(jid) {
            self.device_lists.remove(&user);
        }
    }

    /// Forgets the cached list of `device`'s user when the list lacks that device.
    pub(super) fn check_known_device(&mut self, device: &str) {
        let Ok(jid) = device.parse::<Jid>() else {
            return;
        };
        let user = format!("{}@{}", jid.user, jid.server);
        if let Some(list) = self.device_lists.get(&user) {
            if !list.contains(&jid.device) {
                self.device_lists.remove(&user);
            }
        }
    }

    /// With the device lists of a send known: asks for the bundles of devices without a
    /// session, or encrypts and sends at once.
    pub(super) fn route_to_devices<S: ReceiveStore, R: RngCore + CryptoRng>(
        &mut self,
        send: String,
        lists: &[(String, Vec<u16>)],
        store: &mut S,
        rng: &mut R,
    ) {
        let Some(pending) = self.sends.get_mut(&send) else {
            return;
        };
        // A chat the peer addresses by LID gets our message by LID too, and so do our own
        // other devices' copies (by our LID, when the server gave us one).
        let asked = pending.asked.clone();
        pending.to = lid::lid_chat(store, &asked).unwrap_or_else(|| asked.clone());
        let by_lid = pending.to.ends_with("@lid");
        let own_lid = self.own.lid_part.as_ref().filter(|_| by_lid);
        let own_base = match own_lid {
            Some(lid) => format!("{lid}@lid"),
            None => self.own.user.clone(),
        };
        let own_device_id = self.own.device.parse::<Jid>().map_or(0, |j| j.device);
        let own_here = device_jid(&own_base, own_device_id);
        let mut devices = Vec::new();
        for (user, ids) in lists {
            let base = if *user == asked {
                pending.to.as_str()
            } else if *user == self.own.user {
                own_base.as_str()
            } else {
                user.as_str()
            };
            for d in ids {
                let jid = device_jid(base, *d);
                if jid != own_here && jid != self.own.device && !devices.contains(&jid) {
                    devices.push(jid);
                }
            }
        }
        pending.devices = devices.clone();
        let missing: Vec<String> = devices
            .into_iter()
            .filter(|d| !has_session(store, d))
            .collect();
        if missing.is_empty() {
            self.encrypt_and_send(&send, store, rng);
        } else {
            self.iq(
                "encrypt",
                "get",
                usync::key_query(&missing),
                PendingIq::Keys { send },
            );
        }
    }
}
