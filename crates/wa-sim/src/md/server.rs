//! The multi-device server behind every `/ws/chat` connection, sans-IO: the simulated phones,
//! the device registry, and what each connection is doing (waiting to pair, pairing by QR or by
//! code, logged in). Nodes and control commands go in; nodes to send, closes and events come out,
//! each addressed to a connection.

use std::collections::HashMap;

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use wa_binary::Node;
use wa_proto::proto::ClientPayload;
use zeroize::Zeroizing;

use super::MdEvent;
use super::iq::{self, IqEffect, SERVER};
use super::keys::{SecretKey, hex};
pub use super::out::{Action, ControlError, DeviceInfo, Out};
use super::pair_code::{self, CompanionHello};
use super::pairing::{self, Qr};
use super::phone::{Phone, SignedCompanion};
use super::prekeys;
use super::registry::{Bundle, Device, PublicKey, Registry, SignedPreKey};

/// The phone number of the phone made when a control command names none.
pub const DEFAULT_NUMBER: u64 = 15_550_000_001;

/// A new device's registration data from its `ClientPayload`.
#[derive(Clone, Debug)]
struct Registration {
    identity: [u8; 32],
    registration_id: u32,
    signed_prekey: Option<SignedPreKey>,
}

/// A `pair-success` sent and not yet counter-signed.
#[derive(Clone, Debug)]
struct PendingSign {
    iq_id: String,
    number: u64,
    signed: SignedCompanion,
    identity: [u8; 32],
    platform: String,
}

/// Pair-code linking in progress on one connection.
#[derive(Debug)]
struct CodeLink {
    hello: CompanionHello,
    reference: String,
    /// After the code was entered: the phone's ephemeral and the companion's (as unwrapped).
    primary: Option<(SecretKey, [u8; 32])>,
}

#[derive(Debug)]
enum Conn {
    Unpaired {
        refs: Vec<String>,
        noise_key: [u8; 32],
        registration: Option<Registration>,
        pending: Option<Box<PendingSign>>,
        code: Option<Box<CodeLink>>,
    },
    LoggedIn {
        number: u64,
        device: u32,
    },
}

/// The state kept across restarts (see [`super::state`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Persistent {
    /// The phones.
    pub phones: Vec<Phone>,
    /// The linked devices.
    pub registry: Registry,
}

/// The multi-device server state.
#[derive(Debug)]
pub struct MdServer {
    pub(super) kept: Persistent,
    conns: HashMap<u64, Conn>,
    rng: StdRng,
    pub(super) dirty: bool,
    /// Per-device queues of routed stanzas.
    pub(super) router: super::router::Router,
}

fn send(conn: u64, node: Node) -> Out {
    Out {
        conn,
        action: Action::Send(node),
    }
}

fn event(conn: u64, event: MdEvent) -> Out {
    Out {
        conn,
        action: Action::Event(event),
    }
}

fn close(conn: u64) -> Out {
    Out {
        conn,
        action: Action::Close,
    }
}

/// Splits `user[:device]@server` into its user and device.
pub fn parse_device_jid(jid: &str) -> Option<(u64, u32)> {
    let (user, server) = jid.split_once('@')?;
    if server != SERVER {
        return None;
    }
    match user.split_once(':') {
        Some((number, device)) => Some((number.parse().ok()?, device.parse().ok()?)),
        None => Some((user.parse().ok()?, 0)),
    }
}

impl MdServer {
    /// A server with no phones; `seed` drives its randomness.
    pub fn new(seed: u64) -> MdServer {
        MdServer::restore(Persistent::default(), seed)
    }

    /// A server with the given phones and devices (read back from disk).
    pub fn restore(kept: Persistent, seed: u64) -> MdServer {
        MdServer {
            kept,
            conns: HashMap::new(),
            rng: StdRng::seed_from_u64(seed),
            dirty: false,
            router: super::router::Router::default(),
        }
    }

    /// What must survive a restart.
    pub fn persistent(&self) -> &Persistent {
        &self.kept
    }

    /// Whether the persistent state changed since the last call (then it should be saved).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The registry (bundles for key fetches come from it).
    pub fn registry_mut(&mut self) -> &mut Registry {
        self.dirty = true;
        &mut self.kept.registry
    }

    /// The phone with `number`, made (with fresh keys and a LID) if there is none; `None`
    /// means the first phone, or [`DEFAULT_NUMBER`].
    pub fn phone(&mut self, number: Option<u64>) -> &mut Phone {
        let number = number
            .or_else(|| self.kept.phones.first().map(|p| p.number))
            .unwrap_or(DEFAULT_NUMBER);
        let index = match self.kept.phones.iter().position(|p| p.number == number) {
            Some(index) => index,
            None => {
                let lid = 100_000_000_000_000 + u64::from(rand::RngCore::next_u32(&mut self.rng));
                self.kept
                    .phones
                    .push(Phone::generate(number, lid, &mut self.rng));
                self.dirty = true;
                self.kept.phones.len() - 1
            }
        };
        &mut self.kept.phones[index]
    }

    /// A connection finished its handshake with `payload`: an unpaired one is told to pair, a
    /// paired one logs in (or gets `failure 401` if its device is not linked).
    pub fn connected(
        &mut self,
        conn: u64,
        payload: &ClientPayload,
        noise_key: &[u8; 32],
        now: u64,
    ) -> Vec<Out> {
        match payload.username {
            Some(number) => self.login(conn, number, payload.device.unwrap_or(0), noise_key, now),
            None => {
                let registration = payload.device_pairing_data.as_ref().and_then(|reg| {
                    let identity: [u8; 32] = reg.e_ident().try_into().ok()?;
                    let registration_id = reg
                        .e_regid()
                        .iter()
                        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
                    let skey = Node::new("skey").children([
                        Node::new("id").bytes(reg.e_skey_id().to_vec()),
                        Node::new("value").bytes(reg.e_skey_val().to_vec()),
                        Node::new("signature").bytes(reg.e_skey_sig().to_vec()),
                    ]);
                    Some(Registration {
                        identity,
                        registration_id,
                        signed_prekey: prekeys::parse_signed_prekey(&skey, &identity).ok(),
                    })
                });
                let (iq, id, refs) = pairing::pair_device(&mut self.rng);
                self.conns.insert(
                    conn,
                    Conn::Unpaired {
                        refs: refs.clone(),
                        noise_key: *noise_key,
                        registration,
                        pending: None,
                        code: None,
                    },
                );
                vec![
                    send(conn, iq),
                    event(conn, MdEvent::PairDeviceSent { id, refs }),
                ]
            }
        }
    }

    fn login(
        &mut self,
        conn: u64,
        number: u64,
        device: u32,
        noise_key: &[u8; 32],
        now: u64,
    ) -> Vec<Out> {
        let known = self
            .kept
            .registry
            .get(number, device)
            .filter(|d| d.noise_key.0 == *noise_key)
            .map(|d| d.linked_at);
        let (Some(linked_at), Some(lid)) = (
            known,
            self.kept
                .phones
                .iter()
                .find(|p| p.number == number)
                .map(|p| p.lid_jid(device)),
        ) else {
            return vec![
                send(conn, iq::failure(401)),
                event(conn, MdEvent::LoginRefused { reason: 401 }),
                close(conn),
            ];
        };
        let mut out = Vec::new();
        // One connection per device: an older one is replaced.
        let older: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c, Conn::LoggedIn { number: n, device: d } if *n == number && *d == device))
            .map(|(id, _)| *id)
            .collect();
        for old in older {
            self.conns.remove(&old);
            out.push(send(old, iq::stream_error(440, Some("replaced"))));
            out.push(close(old));
        }
        self.conns.insert(conn, Conn::LoggedIn { number, device });
        out.push(send(
            conn,
            Node::new("success")
                .attr("t", now)
                .attr("lid", &lid)
                .attr("props", "1")
                .attr("abprops", "1")
                .attr("location", "sim")
                .attr("creation", linked_at),
        ));
        out.extend(self.offline_delivery(conn, (number, device)));
        out.push(event(
            conn,
            MdEvent::LoggedIn {
                jid: super::phone::device_jid(number, device, SERVER),
                lid,
            },
        ));
        out
    }

    /// Every logged-in connection: `(conn, number, device)`.
    pub(super) fn logged_in(&self) -> impl Iterator<Item = (u64, u64, u32)> + '_ {
        self.conns.iter().filter_map(|(id, c)| match c {
            Conn::LoggedIn { number, device } => Some((*id, *number, *device)),
            Conn::Unpaired { .. } => None,
        })
    }

    /// Stanzas waiting for a device's ack (delivered or not).
    pub fn queued(&self, number: u64, device: u32) -> usize {
        self.router.queued(number, device)
    }

    /// The connection closed.
    pub fn disconnected(&mut self, conn: u64) {
        self.conns.remove(&conn);
    }

    /// A node from connection `conn` (after its handshake).
    pub fn node(&mut self, conn: u64, node: &Node, now: u64) -> Vec<Out> {
        let mut out = vec![event(
            conn,
            MdEvent::Received {
                tag: node.tag.to_string(),
                id: node.attrs.get("id").map(str::to_owned),
                r#type: node.attrs.get("type").map(str::to_owned),
            },
        )];
        if let Some(Conn::LoggedIn { number, device }) = self.conns.get(&conn) {
            let who = (*number, *device);
            if let Some(routed) = self.route(conn, who, node, now) {
                out.extend(routed);
                return out;
            }
        }
        if node.tag.as_ref() as &str != "iq" {
            return out;
        }
        match self.conns.get(&conn) {
            Some(Conn::LoggedIn { number, device }) => {
                let (number, device) = (*number, *device);
                out.extend(self.logged_in_iq(conn, number, device, node, now));
            }
            Some(Conn::Unpaired { .. }) => out.extend(self.unpaired_iq(conn, node, now)),
            None => {}
        }
        out
    }

    /// The account number and device of `jid` (`number:device@s.whatsapp.net` or
    /// `lid:device@lid`).
    pub(super) fn resolve(&self, jid: &str) -> Option<(u64, u32)> {
        let (user, server) = jid.split_once('@')?;
        let (user, device) = match user.split_once(':') {
            Some((user, device)) => (user.parse::<u64>().ok()?, device.parse().ok()?),
            None => (user.parse().ok()?, 0),
        };
        match server {
            SERVER => Some((user, device)),
            "lid" => Some((
                self.kept.phones.iter().find(|p| p.lid == user)?.number,
                device,
            )),
            _ => None,
        }
    }

    /// A bundle for `jid` (phone JID or LID), spending one one-time prekey.
    pub fn take_bundle(&mut self, jid: &str) -> Option<Bundle> {
        let (number, device) = self.resolve(jid)?;
        let bundle = self.kept.registry.take_bundle(number, device)?;
        self.dirty = true;
        Some(bundle)
    }

    /// Answers a key fetch; a device left with fewer than [`prekeys::PREKEY_LOW`] one-time
    /// prekeys is told so on its connections (`<notification type="encrypt"><count/>`), as the
    /// server's "prekey low" push, so it uploads more.
    fn key_fetch(&mut self, conn: u64, node: &Node, now: u64) -> Vec<Out> {
        let mut spent = Vec::new();
        let list = prekeys::key_fetch(node, |jid| {
            let bundle = self.take_bundle(jid)?;
            spent.extend(self.resolve(jid));
            Some(bundle)
        });
        let reply = match list {
            Some(list) => iq::result(node).children([list]),
            None => iq::error(node, 406, "not-acceptable"),
        };
        let mut out = vec![send(conn, reply)];
        for (number, device) in spent {
            let left = self
                .kept
                .registry
                .get(number, device)
                .map(|d| d.prekeys.len());
            let Some(left) = left.filter(|left| *left < prekeys::PREKEY_LOW) else {
                continue;
            };
            for (id, c) in &self.conns {
                if matches!(c, Conn::LoggedIn { number: n, device: d } if *n == number && *d == device)
                {
                    let id_attr = pairing::new_id(&mut self.rng);
                    out.push(send(
                        *id,
                        Node::new("notification")
                            .attr("from", SERVER)
                            .attr("type", "encrypt")
                            .attr("id", id_attr)
                            .attr("t", now)
                            .children([Node::new("count").attr("value", left)]),
                    ));
                }
            }
        }
        out
    }

    fn logged_in_iq(
        &mut self,
        conn: u64,
        number: u64,
        device: u32,
        node: &Node,
        now: u64,
    ) -> Vec<Out> {
        let jid = super::phone::device_jid(number, device, SERVER);
        if node.attrs.get("xmlns") == Some("encrypt")
            && node.attrs.get("type") == Some("get")
            && node.child("key").is_some()
        {
            return self.key_fetch(conn, node, now);
        }
        let Some(entry) = self.kept.registry.get_mut(number, device) else {
            return vec![
                send(conn, iq::stream_error(401, Some("device_removed"))),
                close(conn),
            ];
        };
        let (reply, effect) = iq::logged_in_iq(node, entry);
        let mut out = vec![send(conn, reply)];
        match effect {
            IqEffect::None => {}
            IqEffect::Uploaded(count) => {
                self.dirty = true;
                out.push(event(conn, MdEvent::PrekeysUploaded { jid, count }));
            }
            IqEffect::Rotated => self.dirty = true,
            IqEffect::Logout => {
                self.kept.registry.remove(number, device);
                self.conns.remove(&conn);
                self.dirty = true;
                out.push(event(conn, MdEvent::Unlinked { jid }));
                out.push(send(conn, iq::stream_error(401, Some("device_removed"))));
                out.push(close(conn));
            }
        }
        out
    }

    fn unpaired_iq(&mut self, conn: u64, node: &Node, now: u64) -> Vec<Out> {
        let kind = node.attrs.get("type").unwrap_or_default();
        let id = node.attrs.get("id").unwrap_or_default();
        if kind == "result" {
            let Some(Conn::Unpaired { pending, .. }) = self.conns.get_mut(&conn) else {
                return Vec::new();
            };
            if pending.as_ref().is_some_and(|p| p.iq_id == id) {
                let sign = pending.take();
                return sign.map_or_else(Vec::new, |p| self.device_signed(conn, *p, node, now));
            }
            return Vec::new();
        }
        if node.attrs.get("xmlns") == Some("w:p") {
            return vec![send(conn, iq::result(node))];
        }
        let Some(reg) = node.child("link_code_companion_reg") else {
            return vec![send(conn, iq::error(node, 501, "feature-not-implemented"))];
        };
        match reg.attrs.get("stage") {
            Some("companion_hello") => self.code_hello(conn, node, reg),
            Some("companion_finish") => self.code_finish(conn, node, reg, now),
            _ => vec![send(conn, iq::error(node, 400, "bad-request"))],
        }
    }

    fn device_signed(
        &mut self,
        conn: u64,
        pending: PendingSign,
        node: &Node,
        now: u64,
    ) -> Vec<Out> {
        let reply = node
            .child("pair-device-sign")
            .and_then(|s| s.child("device-identity"))
            .and_then(Node::content_bytes)
            .unwrap_or_default();
        let phone = self.phone(Some(pending.number));
        let checked = phone.verify_device_sign(&pending.signed, &pending.identity, reply);
        let jid = phone.jid(pending.signed.device);
        let signed_identity = match checked {
            Ok(signed) => signed,
            Err(error) => {
                self.conns.remove(&conn);
                return vec![
                    event(
                        conn,
                        MdEvent::PairRefused {
                            reason: error.to_string(),
                        },
                    ),
                    send(conn, iq::stream_error(401, None)),
                    close(conn),
                ];
            }
        };
        let Some(Conn::Unpaired {
            noise_key,
            registration,
            ..
        }) = self.conns.remove(&conn)
        else {
            return Vec::new();
        };
        let registration = registration.filter(|r| r.identity == pending.identity);
        self.kept.registry.insert(Device {
            number: pending.number,
            device: pending.signed.device,
            key_index: pending.signed.key_index,
            noise_key: PublicKey(noise_key),
            identity: PublicKey(pending.identity),
            registration_id: registration.as_ref().map_or(0, |r| r.registration_id),
            signed_prekey: registration.and_then(|r| r.signed_prekey),
            prekeys: Default::default(),
            platform: pending.platform.clone(),
            signed_identity,
            linked_at: now,
        });
        self.dirty = true;
        vec![
            event(
                conn,
                MdEvent::Paired {
                    jid,
                    platform: pending.platform,
                },
            ),
            send(conn, iq::stream_error(515, None)),
            close(conn),
        ]
    }

    /// Sends `pair-success` to `conn`: the phone signs the companion `identity`.
    fn send_pair_success(
        &mut self,
        conn: u64,
        number: u64,
        identity: [u8; 32],
        adv_secret: &[u8],
        platform: String,
        now: u64,
    ) -> Vec<Out> {
        let mut rng = StdRng::seed_from_u64(rand::RngCore::next_u64(&mut self.rng));
        let phone = self.phone(Some(number));
        let signed = phone.sign_companion(&identity, adv_secret, now, &mut rng);
        let jid = phone.jid(signed.device);
        let lid = phone.lid_jid(signed.device);
        let iq_id = pairing::new_id(&mut rng);
        let node = pairing::pair_success(&iq_id, &signed.hmac_wrapped, &jid, &lid, now);
        self.dirty = true;
        if let Some(Conn::Unpaired { pending, .. }) = self.conns.get_mut(&conn) {
            *pending = Some(Box::new(PendingSign {
                iq_id,
                number,
                signed,
                identity,
                platform,
            }));
        }
        vec![
            send(conn, node),
            event(conn, MdEvent::PairSuccessSent { jid }),
        ]
    }

    /// The phone scans a QR: finds the connection showing it and sends it `pair-success`.
    pub fn scan(
        &mut self,
        qr: &str,
        number: Option<u64>,
        now: u64,
    ) -> Result<Vec<Out>, ControlError> {
        let qr = Qr::parse(qr)?;
        let conn = self
            .conns
            .iter()
            .find_map(|(id, c)| match c {
                Conn::Unpaired {
                    refs,
                    noise_key,
                    registration,
                    pending: None,
                    ..
                } if refs.contains(&qr.reference)
                    && *noise_key == qr.noise_key
                    && registration
                        .as_ref()
                        .is_none_or(|r| r.identity == qr.identity) =>
                {
                    Some(*id)
                }
                _ => None,
            })
            .ok_or(ControlError::UnknownQr)?;
        let number = self.phone(number).number;
        Ok(self.send_pair_success(
            conn,
            number,
            qr.identity,
            &qr.adv_secret,
            qr.platform.clone(),
            now,
        ))
    }

    fn code_hello(&mut self, conn: u64, node: &Node, reg: &Node) -> Vec<Out> {
        let hello = match pair_code::parse_hello(reg) {
            Ok(hello) => hello,
            Err(_) => return vec![send(conn, iq::error(node, 400, "bad-request"))],
        };
        let reference = pairing::new_id(&mut self.rng);
        let number = hello.number;
        if let Some(Conn::Unpaired { code, .. }) = self.conns.get_mut(&conn) {
            *code = Some(Box::new(CodeLink {
                hello,
                reference: reference.clone(),
                primary: None,
            }));
        }
        vec![
            send(
                conn,
                iq::result(node).children([Node::new("link_code_companion_reg")
                    .children([Node::new("link_code_pairing_ref").bytes(reference.into_bytes())])]),
            ),
            event(conn, MdEvent::PairCodeRequested { number }),
        ]
    }

    /// The user types `code` on phone `number`: the phone answers the waiting companion with
    /// its wrapped ephemeral key.
    pub fn enter_code(
        &mut self,
        number: u64,
        code: &str,
        now: u64,
    ) -> Result<Vec<Out>, ControlError> {
        let code = pair_code::normalize_code(code)?;
        let conn = self
            .conns
            .iter()
            .find_map(|(id, c)| match c {
                Conn::Unpaired {
                    code: Some(link), ..
                } if link.hello.number == number && link.primary.is_none() => Some(*id),
                _ => None,
            })
            .ok_or(ControlError::NoCodeRequest(number))?;
        let mut rng = StdRng::seed_from_u64(rand::RngCore::next_u64(&mut self.rng));
        let identity = self.phone(Some(number)).identity.public();
        let Some(Conn::Unpaired {
            code: Some(link), ..
        }) = self.conns.get_mut(&conn)
        else {
            return Err(ControlError::NoCodeRequest(number));
        };
        let companion = pair_code::unwrap_ephemeral(&code, &link.hello.wrapped)?;
        let ephemeral = SecretKey::generate(&mut rng);
        let wrapped = pair_code::wrap_ephemeral(&code, &ephemeral.public(), &mut rng);
        link.primary = Some((ephemeral, companion));
        let notification = Node::new("notification")
            .attr("from", SERVER)
            .attr("type", "link_code_companion_reg")
            .attr("id", pairing::new_id(&mut rng))
            .attr("t", now)
            .children([Node::new("link_code_companion_reg")
                .attr("stage", "primary_hello")
                .children([
                    Node::new("link_code_pairing_ref").bytes(link.reference.as_bytes().to_vec()),
                    Node::new("primary_identity_pub").bytes(identity.to_vec()),
                    Node::new("link_code_pairing_wrapped_primary_ephemeral_pub").bytes(wrapped),
                ])]);
        Ok(vec![send(conn, notification)])
    }

    fn code_finish(&mut self, conn: u64, node: &Node, reg: &Node, now: u64) -> Vec<Out> {
        let refuse = |reason: String| {
            vec![
                send(conn, iq::error(node, 400, "bad-request")),
                event(conn, MdEvent::PairRefused { reason }),
            ]
        };
        let Some(Conn::Unpaired {
            code: Some(link),
            registration,
            ..
        }) = self.conns.get(&conn)
        else {
            return refuse("companion_finish before companion_hello".into());
        };
        let Some((ephemeral, companion_ephemeral)) = link.primary.as_ref() else {
            return refuse("companion_finish before the code was entered".into());
        };
        let reference = reg
            .child("link_code_pairing_ref")
            .and_then(Node::content_bytes)
            .unwrap_or_default();
        if reference != link.reference.as_bytes() {
            return refuse("unknown link_code_pairing_ref".into());
        }
        let Some(identity) = reg
            .child("companion_identity_public")
            .and_then(Node::content_bytes)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        else {
            return refuse("malformed companion_identity_public".into());
        };
        if registration
            .as_ref()
            .is_some_and(|r| r.identity != identity)
        {
            return refuse("companion identity differs from its registration".into());
        }
        let bundle = reg
            .child("link_code_pairing_wrapped_key_bundle")
            .and_then(Node::content_bytes)
            .unwrap_or_default();
        let number = link.hello.number;
        let platform = if link.hello.platform_display.is_empty() {
            link.hello.platform_id.clone()
        } else {
            link.hello.platform_display.clone()
        };
        let phone_identity = self
            .kept
            .phones
            .iter()
            .find(|p| p.number == number)
            .map(|p| p.identity_pair());
        let Some(phone_identity) = phone_identity else {
            return refuse("no such phone".into());
        };
        let adv: Zeroizing<[u8; 32]> = match pair_code::finish(
            &ephemeral.pair(),
            companion_ephemeral,
            &phone_identity,
            &identity,
            bundle,
        ) {
            Ok(adv) => adv,
            Err(error) => {
                // The companion may try again with a new hello; this attempt is over.
                if let Some(Conn::Unpaired { code, .. }) = self.conns.get_mut(&conn) {
                    *code = None;
                }
                return refuse(error.to_string());
            }
        };
        let mut out = vec![send(conn, iq::result(node))];
        out.extend(self.send_pair_success(conn, number, identity, &adv[..], platform, now));
        out
    }

    /// The phone removes a linked device: it is forgotten and, if online, gets
    /// `stream:error 401 <conflict type="device_removed"/>`; later logins get `failure 401`.
    pub fn unlink(&mut self, jid: &str) -> Result<Vec<Out>, ControlError> {
        let (number, device) = parse_device_jid(jid)
            .filter(|(_, d)| *d != 0)
            .ok_or_else(|| ControlError::UnknownDevice(jid.to_owned()))?;
        self.kept
            .registry
            .remove(number, device)
            .ok_or_else(|| ControlError::UnknownDevice(jid.to_owned()))?;
        self.dirty = true;
        let online: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c, Conn::LoggedIn { number: n, device: d } if *n == number && *d == device))
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        for conn in online {
            self.conns.remove(&conn);
            out.push(event(
                conn,
                MdEvent::Unlinked {
                    jid: jid.to_owned(),
                },
            ));
            out.push(send(conn, iq::stream_error(401, Some("device_removed"))));
            out.push(close(conn));
        }
        Ok(out)
    }

    /// The linked devices of phone `number` (every phone's when `None`).
    pub fn devices(&self, number: Option<u64>) -> Vec<DeviceInfo> {
        let phones = self
            .kept
            .phones
            .iter()
            .filter(|p| number.is_none_or(|n| n == p.number));
        let mut out = Vec::new();
        for phone in phones {
            for device in self.kept.registry.devices_of(phone.number) {
                let online = self.conns.values().any(|c| {
                    matches!(c, Conn::LoggedIn { number: n, device: d } if *n == device.number && *d == device.device)
                });
                out.push(DeviceInfo {
                    jid: phone.jid(device.device),
                    lid: phone.lid_jid(device.device),
                    platform: device.platform.clone(),
                    identity: hex(&device.identity.0),
                    registration_id: device.registration_id,
                    signed_prekey_id: device.signed_prekey.as_ref().map(|s| s.id),
                    prekeys: device.prekeys.len(),
                    online,
                });
            }
        }
        out
    }
}
