//! Addressing by LID: a WhatsApp user has a phone-number JID (`number@s.whatsapp.net`) and a
//! LID (`lid@lid`, a number that hides the phone number), and most chats today are addressed by
//! the LID. This module reads the attributes that tell one form from the other on incoming
//! stanzas (`addressing_mode`, `sender_pn`/`sender_lid`, `participant_pn`/`participant_lid`,
//! `peer_recipient_pn`/`peer_recipient_lid`, `recipient_pn`), validates them (they are network
//! input: a hostile value is refused with a [`LidError`], never stored), learns the LID ↔
//! phone-number map from them and from usync answers, and picks the Signal address a device's
//! session lives under.
//!
//! # One session per device
//!
//! A device's session is kept under its LID address once the LID is known, whatever form a
//! stanza names the device by. Signal addresses of LIDs carry the LID domain as an agent
//! suffix (`lid_1.device`, as WhatsApp clients name them), so a LID and a phone number that
//! happen to share digits never share a session. When the LID of a phone number with a session
//! becomes known, [`session_address`] moves that session (and its identity) to the LID address
//! through [`LidStore::migrate_session`], one atomic store step, instead of letting a second
//! session start.

use wa_binary::{Jid, Node, Server};
use wa_signal::ProtocolAddress;

use super::store::{AddressingMode, LidStore, StoreResult};
use super::usync::UserDevices;

/// The longest user part accepted in a phone-number or LID JID. Phone numbers have at most 15
/// digits (E.164) and LIDs 15 today; 20 leaves room without letting a hostile server store
/// arbitrary strings in the map.
pub const MAX_USER_DIGITS: usize = 20;

/// The longest attribute value quoted back in an error.
const MAX_QUOTED: usize = 32;

/// Why the addressing attributes of a stanza were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LidError {
    /// The attribute is not a JID.
    #[error("`{attr}` is not a JID")]
    NotAJid {
        /// The attribute.
        attr: &'static str,
    },
    /// The JID is on the wrong server (a `_pn` attribute not naming a phone number, a `_lid`
    /// one not naming a LID).
    #[error("`{attr}` is on server `{server}`, expected {expected}")]
    WrongServer {
        /// The attribute.
        attr: &'static str,
        /// The server found (quoted, cut to 32 bytes).
        server: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The user part is not 1 to [`MAX_USER_DIGITS`] ASCII digits, or the JID carries an agent
    /// or an integrator.
    #[error("`{attr}` has a user part that is not 1..=20 digits")]
    BadUser {
        /// The attribute.
        attr: &'static str,
    },
    /// `addressing_mode` is neither `pn` nor `lid`.
    #[error("addressing_mode `{0}` is neither pn nor lid")]
    BadMode(String),
    /// The attributes contradict each other: the mode names one form and `from` is the other,
    /// or the alternative names another device than the sender.
    #[error("`{attr}` contradicts the sender")]
    Mismatch {
        /// The attribute.
        attr: &'static str,
    },
}

fn quoted(s: &str) -> String {
    let mut end = s.len().min(MAX_QUOTED);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Whether `server` holds phone-number users.
fn is_pn_server(server: &Server) -> bool {
    matches!(server, Server::Whatsapp | Server::Hosted)
}

/// Whether `server` holds LID users.
fn is_lid_server(server: &Server) -> bool {
    matches!(server, Server::Lid | Server::HostedLid)
}

/// Whether `jid` is a LID (`lid` or `hosted.lid`).
pub fn is_lid(jid: &Jid) -> bool {
    is_lid_server(&jid.server)
}

/// Whether `jid` is a phone-number user (`s.whatsapp.net` or `hosted`).
pub fn is_pn(jid: &Jid) -> bool {
    is_pn_server(&jid.server)
}

fn valid_user(jid: &Jid) -> bool {
    (1..=MAX_USER_DIGITS).contains(&jid.user.len())
        && jid.user.bytes().all(|b| b.is_ascii_digit())
        && jid.agent == 0
        && jid.integrator == 0
}

/// Which form an attribute must name.
#[derive(Clone, Copy)]
enum Form {
    Pn,
    Lid,
}

/// Parses and checks one addressing attribute; `Ok(None)` when it is absent.
fn attr_jid(node: &Node, attr: &'static str, form: Form) -> Result<Option<Jid>, LidError> {
    let Some(value) = node.optional_str(attr) else {
        return Ok(None);
    };
    let jid: Jid = value.parse().map_err(|_| LidError::NotAJid { attr })?;
    let (ok, expected) = match form {
        Form::Pn => (is_pn(&jid), "a phone-number JID"),
        Form::Lid => (is_lid(&jid), "a LID"),
    };
    if !ok {
        return Err(LidError::WrongServer {
            attr,
            server: quoted(jid.server.as_str()),
            expected,
        });
    }
    if !valid_user(&jid) {
        return Err(LidError::BadUser { attr });
    }
    Ok(Some(jid))
}

/// The same user in both forms (user parts only, no device or server).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LidPair {
    /// The LID user part.
    pub lid: String,
    /// The phone-number user part.
    pub pn: String,
}

impl LidPair {
    /// The pair of two JIDs of the same user, one a LID and the other a phone number (in either
    /// order); `None` otherwise.
    pub fn of(a: &Jid, b: &Jid) -> Option<LidPair> {
        let (lid, pn) = match (is_lid(a), is_lid(b)) {
            (true, false) if is_pn(b) => (a, b),
            (false, true) if is_pn(a) => (b, a),
            _ => return None,
        };
        (valid_user(lid) && valid_user(pn)).then(|| LidPair {
            lid: lid.user.clone(),
            pn: pn.user.clone(),
        })
    }
}

/// Who sent an incoming stanza and who it was for, in both forms when the server gave both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addressing {
    /// `addressing_mode`, when present.
    pub mode: Option<AddressingMode>,
    /// The sending device: `participant` in a group or broadcast, `from` otherwise.
    pub sender: Jid,
    /// The sender in the other form, on the sender's device (`sender_pn`/`sender_lid`, or
    /// `participant_pn`/`participant_lid`).
    pub sender_alt: Option<Jid>,
    /// `recipient` (our own other device's message: the chat it wrote to).
    pub recipient: Option<Jid>,
    /// The recipient in the other form (`peer_recipient_pn`/`recipient_pn`, or
    /// `peer_recipient_lid`).
    pub recipient_alt: Option<Jid>,
}

impl Addressing {
    /// Reads the addressing attributes of an incoming `message` (or `receipt`).
    ///
    /// # Errors
    /// [`LidError`] when `from` (or `participant`) is missing or not a JID, or when an addressing
    /// attribute is malformed, on the wrong server, or contradicts the sender.
    pub fn parse(node: &Node) -> Result<Addressing, LidError> {
        let mode = match node.optional_str("addressing_mode") {
            None => None,
            Some(value) => {
                Some(AddressingMode::parse(value).ok_or_else(|| LidError::BadMode(quoted(value)))?)
            }
        };
        let from: Jid = node
            .optional_str("from")
            .and_then(|f| f.parse().ok())
            .ok_or(LidError::NotAJid { attr: "from" })?;
        let in_group = from.is_group() || from.is_broadcast();
        let (sender, sender_attr) = if in_group {
            let participant: Jid = node
                .optional_str("participant")
                .and_then(|p| p.parse().ok())
                .ok_or(LidError::NotAJid {
                    attr: "participant",
                })?;
            (participant, "participant")
        } else {
            (from, "from")
        };
        // The alternative is the other form of the sender: which attribute carries it follows
        // the sender's own form, and a mode that names the other form is a contradiction.
        let sender_is_lid = is_lid(&sender);
        if matches!(
            (mode, sender_is_lid),
            (Some(AddressingMode::Lid), false) | (Some(AddressingMode::Pn), true)
        ) {
            return Err(LidError::Mismatch {
                attr: "addressing_mode",
            });
        }
        // A sender that is neither (a bot, a newsletter) has no alternative form.
        let alt_attr = match (in_group, sender_is_lid, is_pn(&sender)) {
            (true, true, _) => Some(("participant_pn", Form::Pn)),
            (true, false, true) => Some(("participant_lid", Form::Lid)),
            (false, true, _) => Some(("sender_pn", Form::Pn)),
            (false, false, true) => Some(("sender_lid", Form::Lid)),
            (_, false, false) => None,
        };
        let sender_alt = match alt_attr {
            Some((attr, form)) => match attr_jid(node, attr, form)? {
                Some(alt) => {
                    if !valid_user(&sender) {
                        return Err(LidError::BadUser { attr: sender_attr });
                    }
                    Some(on_device(alt, &sender, attr)?)
                }
                None => None,
            },
            None => None,
        };
        let recipient = match node.optional_str("recipient") {
            None => None,
            Some(r) => Some(
                r.parse::<Jid>()
                    .map_err(|_| LidError::NotAJid { attr: "recipient" })?,
            ),
        };
        let recipient_alt = match &recipient {
            Some(r) if is_lid(r) => match attr_jid(node, "peer_recipient_pn", Form::Pn)? {
                Some(pn) => Some(pn),
                None => attr_jid(node, "recipient_pn", Form::Pn)?,
            },
            Some(r) if is_pn(r) => attr_jid(node, "peer_recipient_lid", Form::Lid)?,
            _ => None,
        };
        if let (Some(r), Some(_)) = (&recipient, &recipient_alt) {
            if !valid_user(r) {
                return Err(LidError::BadUser { attr: "recipient" });
            }
        }
        Ok(Addressing {
            mode,
            sender,
            sender_alt,
            recipient,
            recipient_alt,
        })
    }

    /// The mappings this stanza teaches: the sender's and the recipient's.
    pub fn pairs(&self) -> Vec<LidPair> {
        let sender = self
            .sender_alt
            .as_ref()
            .and_then(|alt| LidPair::of(&self.sender, alt));
        let recipient = match (&self.recipient, &self.recipient_alt) {
            (Some(r), Some(alt)) => LidPair::of(r, alt),
            _ => None,
        };
        sender.into_iter().chain(recipient).collect()
    }

    /// The sender's phone-number form, if known from the stanza.
    pub fn sender_pn(&self) -> Option<&Jid> {
        std::iter::once(&self.sender)
            .chain(&self.sender_alt)
            .find(|j| is_pn(j))
    }
}

/// `alt` on the sender's device: a bare alternative takes the sender's device; one naming
/// another device contradicts the sender.
fn on_device(mut alt: Jid, sender: &Jid, attr: &'static str) -> Result<Jid, LidError> {
    if alt.device == 0 {
        alt.device = sender.device;
    } else if alt.device != sender.device {
        return Err(LidError::Mismatch { attr });
    }
    Ok(alt)
}

/// The mapping a usync answer gives for one user (`<lid val>` beside a phone-number user).
///
/// # Errors
/// [`LidError`] when the `lid` is not a valid LID or the user is not a valid phone number.
pub fn pair_from_usync(user: &UserDevices) -> Result<Option<LidPair>, LidError> {
    let Some(lid) = &user.lid else {
        return Ok(None);
    };
    let lid: Jid = lid.parse().map_err(|_| LidError::NotAJid { attr: "lid" })?;
    if !is_lid(&lid) {
        return Err(LidError::WrongServer {
            attr: "lid",
            server: quoted(lid.server.as_str()),
            expected: "a LID",
        });
    }
    let jid: Jid = user
        .user
        .parse()
        .map_err(|_| LidError::NotAJid { attr: "jid" })?;
    if is_lid(&jid) {
        // Asked by LID: the answer names no phone number.
        return Ok(None);
    }
    if !valid_user(&lid) {
        return Err(LidError::BadUser { attr: "lid" });
    }
    LidPair::of(&lid, &jid)
        .map(Some)
        .ok_or(LidError::BadUser { attr: "jid" })
}

/// The Signal address of a device JID: the user part, with the domain as an agent suffix for
/// servers other than `s.whatsapp.net` (`_1` for `lid`, `_128` for `hosted`, `_129` for
/// `hosted.lid`), and the device. `None` for a JID without a user.
pub fn signal_address(jid: &Jid) -> Option<ProtocolAddress> {
    if jid.user.is_empty() {
        return None;
    }
    let agent = match jid.server.domain_type() {
        Some(0) | None => jid.agent,
        Some(domain) => domain,
    };
    let name = if agent == 0 {
        jid.user.clone()
    } else {
        format!("{}_{agent}", jid.user)
    };
    Some(ProtocolAddress::new(name, u32::from(jid.device)))
}

/// The same device in the other form, from the stored map (the server follows the form:
/// `lid` ↔ `s.whatsapp.net`).
///
/// # Errors
/// A store failure.
pub fn alternative<S: LidStore + ?Sized>(store: &S, jid: &Jid) -> StoreResult<Option<Jid>> {
    let other = if is_lid(jid) {
        store
            .pn_for_lid(&jid.user)?
            .map(|pn| Jid::new(pn, Server::Whatsapp))
    } else if is_pn(jid) {
        store
            .lid_for_pn(&jid.user)?
            .map(|lid| Jid::new(lid, Server::Lid))
    } else {
        None
    };
    Ok(other.map(|o| o.with_device(jid.device)))
}

/// Records a mapping unless the store already has exactly it (a message carries the same pair
/// every time: no write then). Returns whether it was new.
///
/// # Errors
/// A store failure.
pub fn learn<S: LidStore + ?Sized>(store: &mut S, pair: &LidPair) -> StoreResult<bool> {
    if store.pn_for_lid(&pair.lid)?.as_deref() == Some(pair.pn.as_str()) {
        return Ok(false);
    }
    store.store_lid_mapping(&pair.lid, &pair.pn)?;
    Ok(true)
}

/// The address the session of `device` lives under: its LID address when the LID is known (from
/// the JID itself or the map). A session still under the phone-number address is moved there
/// first, in one store step, so the device keeps one session.
///
/// # Errors
/// A store failure.
pub fn session_address<S: LidStore + ?Sized>(
    store: &mut S,
    device: &Jid,
) -> StoreResult<Option<ProtocolAddress>> {
    let (pn, lid) = if is_lid(device) {
        let pn = store
            .pn_for_lid(&device.user)?
            .map(|pn| Jid::new(pn, Server::Whatsapp).with_device(device.device));
        (pn, Some(device.clone()))
    } else if is_pn(device) {
        let lid = store
            .lid_for_pn(&device.user)?
            .map(|lid| Jid::new(lid, Server::Lid).with_device(device.device));
        (Some(device.clone()), lid)
    } else {
        return Ok(signal_address(device));
    };
    let Some(lid) = lid.as_ref().and_then(signal_address) else {
        return Ok(pn.as_ref().and_then(signal_address));
    };
    if let Some(pn) = pn.as_ref().and_then(signal_address) {
        store.migrate_session(&pn, &lid)?;
    }
    Ok(Some(lid))
}

/// [`session_address`] of a device JID given as a string; `None` for a JID without a user, or
/// when the store fails (the caller then has no session to use).
pub fn session_address_of<S: LidStore + ?Sized>(
    store: &mut S,
    device: &str,
) -> Option<ProtocolAddress> {
    let jid: Jid = device.parse().ok()?;
    session_address(store, &jid).ok().flatten()
}

/// The LID chat to send to instead of the phone-number user `to`, when the chat with `to` is
/// LID-addressed and its LID is known.
pub fn lid_chat<S: LidStore + ?Sized>(store: &S, to: &str) -> Option<String> {
    let jid: Jid = to.parse().ok()?;
    if !is_pn(&jid) || store.addressing_mode(&jid.user).ok()? != Some(AddressingMode::Lid) {
        return None;
    }
    let lid = store.lid_for_pn(&jid.user).ok()??;
    Some(format!("{lid}@lid"))
}

/// Learns what a stanza's addressing attributes say: the LID ↔ phone-number pairs, and how the
/// one-to-one chat is addressed (the peer's chat; for `own` devices' messages, the chat they
/// wrote to).
///
/// # Errors
/// A store failure.
pub fn learn_addressing<S: LidStore + ?Sized>(
    store: &mut S,
    addressing: &Addressing,
    own: bool,
) -> StoreResult<()> {
    for pair in addressing.pairs() {
        learn(store, &pair)?;
    }
    let Some(mode) = addressing.mode else {
        return Ok(());
    };
    let chat_pn = match own {
        false => addressing.sender_pn(),
        true => addressing
            .recipient
            .iter()
            .chain(&addressing.recipient_alt)
            .find(|j| is_pn(j)),
    };
    if let Some(pn) = chat_pn {
        if store.addressing_mode(&pn.user)? != Some(mode) {
            store.store_addressing_mode(&pn.user, mode)?;
        }
    }
    Ok(())
}
