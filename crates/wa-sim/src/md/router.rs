//! The message router, as WhatsApp's server is one: it never decrypts. It answers device-list
//! queries (`usync`) from the device registry (bundle fetches are the server's `key_fetch`),
//! takes a `message` with one `enc` per device and hands each device its copy
//! (with `from` the sending device, and `recipient` for the sender's own other devices), acks
//! the sender (`ack class=message`, with the server's own participant hash `phash`, which tells a
//! sender with a stale device list), and forwards receipts (retry receipts with their keys) to
//! every device of the account they are for.
//!
//! Addressing follows the chat, as WhatsApp's does: a message sent `to` a LID is delivered
//! LID-addressed (`from` the sender's LID device, `sender_pn` its phone number,
//! `addressing_mode="lid"`), one sent to a phone number phone-number-addressed (`from` the
//! phone-number device, `sender_lid`, `addressing_mode="pn"`). The sender's own other devices get
//! `recipient` in the chat's form and the other form in `peer_recipient_pn`/`peer_recipient_lid`.
//! Receipts to a LID come from the LID form of the device that sent them.
//!
//! Every stanza for a device waits in that device's queue until the device acks it: sent at once
//! when the device is online, again after its next login (then the `ib offline` marker), so a
//! client killed between receiving and acking gets it again. Queues are bounded
//! ([`MAX_QUEUE`]); past the bound the oldest stanza is dropped and counted.

use std::collections::{HashMap, VecDeque};

use wa_binary::Node;
use wa_core::md::usync::{self, UserDevices};

use super::iq::{self, SERVER};
use super::server::{Action, MdServer, Out};

/// Stanzas kept per device until it acks them.
pub const MAX_QUEUE: usize = 10_000;

/// One stanza waiting for a device's ack.
#[derive(Clone, Debug)]
struct Queued {
    /// The ack that releases it: its tag (the ack's `class`), id and `from` (the ack's `to`).
    class: String,
    id: String,
    from: String,
    node: Node,
}

/// Per-device queues (not persisted: a simulator restart empties them).
#[derive(Debug, Default)]
pub struct Router {
    queues: HashMap<(u64, u32), VecDeque<Queued>>,
    /// Stanzas dropped because a queue was full.
    pub dropped: u64,
    /// Refuse a message whose participants lack a linked device of the recipient or of the
    /// sender's account (but the sending one) with error 479 (`smax-invalid`, which WhatsApp
    /// returns for a stale device list), delivering nothing. Off: such a message is delivered
    /// to the devices it names and the ack's `phash` tells the sender (the default).
    pub strict_device_lists: bool,
}

impl Router {
    /// Stanzas waiting for `(number, device)`.
    pub fn queued(&self, number: u64, device: u32) -> usize {
        self.queues.get(&(number, device)).map_or(0, VecDeque::len)
    }

    fn push(&mut self, to: (u64, u32), node: Node) {
        let queue = self.queues.entry(to).or_default();
        if queue.len() >= MAX_QUEUE {
            queue.pop_front();
            self.dropped += 1;
        }
        queue.push_back(Queued {
            class: node.tag.to_string(),
            id: node.attrs.get("id").unwrap_or_default().to_owned(),
            from: node.attrs.get("from").unwrap_or_default().to_owned(),
            node,
        });
    }

    fn ack(&mut self, device: (u64, u32), ack: &Node) {
        let Some(queue) = self.queues.get_mut(&device) else {
            return;
        };
        let class = ack.attrs.get("class").unwrap_or_default();
        let id = ack.attrs.get("id").unwrap_or_default();
        let to = ack.attrs.get("to").unwrap_or_default();
        if let Some(pos) = queue
            .iter()
            .position(|q| q.class == class && q.id == id && q.from == to)
        {
            queue.remove(pos);
        }
    }

    fn pending(&self, device: (u64, u32)) -> Vec<Node> {
        self.queues
            .get(&device)
            .map(|q| q.iter().map(|e| e.node.clone()).collect())
            .unwrap_or_default()
    }
}

fn device_jid(number: u64, device: u32) -> String {
    super::phone::device_jid(number, device, SERVER)
}

impl MdServer {
    /// The LID (user part) of the account `number`.
    fn lid_of(&self, number: u64) -> Option<u64> {
        self.kept
            .phones
            .iter()
            .find(|p| p.number == number)
            .map(|p| p.lid)
    }

    /// `(number, device)` in the phone-number form, or the LID form when `by_lid` (falling back
    /// to the phone number for an account without a LID).
    fn addressed(&self, who: (u64, u32), by_lid: bool) -> String {
        match self.lid_of(who.0).filter(|_| by_lid) {
            Some(lid) => super::phone::device_jid(lid, who.1, "lid"),
            None => device_jid(who.0, who.1),
        }
    }

    /// Connections logged in as `(number, device)`.
    fn conns_of(&self, who: (u64, u32)) -> Vec<u64> {
        self.logged_in()
            .filter(|(_, n, d)| (*n, *d) == who)
            .map(|(c, _, _)| c)
            .collect()
    }

    /// Queues `node` for a device and sends it now if the device is online.
    fn deliver(&mut self, to: (u64, u32), node: Node, out: &mut Vec<Out>) {
        for conn in self.conns_of(to) {
            out.push(Out {
                conn,
                action: Action::Send(node.clone()),
            });
        }
        self.router.push(to, node);
    }

    /// What a logged-in device gets right after `success`: everything still queued for it,
    /// then `<ib><offline count/></ib>`.
    pub(super) fn offline_delivery(&mut self, conn: u64, who: (u64, u32)) -> Vec<Out> {
        let pending = self.router.pending(who);
        let count = pending.len();
        let mut out: Vec<Out> = pending
            .into_iter()
            .map(|node| Out {
                conn,
                action: Action::Send(node),
            })
            .collect();
        out.push(Out {
            conn,
            action: Action::Send(
                Node::new("ib")
                    .attr("from", SERVER)
                    .children([Node::new("offline").attr("count", count)]),
            ),
        });
        out
    }

    /// Routes a node of a logged-in device that is not a plain iq of the registry: `message`,
    /// `receipt`, `ack`, and the `usync` iq. `None` when it is none of these.
    pub(super) fn route(
        &mut self,
        conn: u64,
        who: (u64, u32),
        node: &Node,
        now: u64,
    ) -> Option<Vec<Out>> {
        let mut out = Vec::new();
        match &*node.tag {
            "message" => self.route_message(conn, who, node, now, &mut out),
            "receipt" => self.route_receipt(who, node, now, &mut out),
            "ack" => self.router.ack(who, node),
            "iq" => match (node.attrs.get("xmlns"), node.attrs.get("type")) {
                (Some("usync"), Some("get")) => out.push(Out {
                    conn,
                    action: Action::Send(self.usync_answer(node)),
                }),
                _ => return None,
            },
            _ => return None,
        }
        Some(out)
    }

    fn usync_answer(&self, iq: &Node) -> Node {
        let Ok(users) = usync::parse_device_query(iq) else {
            return iq::error(iq, 400, "bad-request");
        };
        let sid = iq
            .child("usync")
            .and_then(|u| u.attrs.get("sid"))
            .unwrap_or_default();
        let answers: Vec<UserDevices> = users
            .iter()
            .map(|jid| {
                let who = self.resolve(jid);
                let devices = who
                    .map(|(number, _)| {
                        self.kept
                            .registry
                            .devices_of(number)
                            .iter()
                            .filter_map(|d| u16::try_from(d.device).ok())
                            .collect()
                    })
                    .unwrap_or_default();
                let lid = who.and_then(|(number, _)| {
                    self.kept
                        .phones
                        .iter()
                        .find(|p| p.number == number)
                        .map(|p| format!("{}@lid", p.lid))
                });
                UserDevices {
                    user: jid.clone(),
                    devices,
                    lid,
                }
            })
            .collect();
        iq::result(iq).children([usync::device_answer(sid, &answers)])
    }

    fn route_message(
        &mut self,
        conn: u64,
        who: (u64, u32),
        node: &Node,
        now: u64,
        out: &mut Vec<Out>,
    ) {
        let id = node.attrs.get("id").unwrap_or_default().to_owned();
        let to = node.attrs.get("to").unwrap_or_default().to_owned();
        // Our own participant hash (every device of the recipient and of the sender, but the
        // sending one): a sender whose `phash` differs learns that its device list is stale.
        let phash = node.attrs.get("phash").map(|_| {
            let mut devices: Vec<String> = Vec::new();
            if let Some((recipient, _)) = self.resolve(&to) {
                for number in [recipient, who.0] {
                    for d in self.kept.registry.devices_of(number) {
                        let jid = device_jid(d.number, d.device);
                        if (d.number, d.device) != who && !devices.contains(&jid) {
                            devices.push(jid);
                        }
                    }
                }
            }
            wa_core::md::stanza::phash(&devices)
        });
        let ack = |error: Option<u16>| {
            let ack = Node::new("ack")
                .attr("class", "message")
                .attr("id", &id)
                .attr("from", &to)
                .attr("t", now);
            let ack = match &phash {
                Some(p) => ack.attr("phash", p),
                None => ack,
            };
            Out {
                conn,
                action: Action::Send(match error {
                    Some(code) => ack.attr("error", code),
                    None => ack,
                }),
            }
        };
        let Some((recipient, _)) = self.resolve(&to) else {
            out.push(ack(Some(400)));
            return;
        };
        let by_lid = to.ends_with("@lid");
        let sender_jid = self.addressed(who, by_lid);
        let sender_alt = match by_lid {
            true => ("sender_pn", Some(device_jid(who.0, 0))),
            false => (
                "sender_lid",
                self.lid_of(who.0)
                    .map(|l| super::phone::device_jid(l, 0, "lid")),
            ),
        };
        let recipient_forms = (
            self.addressed((recipient, 0), by_lid),
            match by_lid {
                true => ("peer_recipient_pn", Some(device_jid(recipient, 0))),
                false => (
                    "peer_recipient_lid",
                    self.lid_of(recipient)
                        .map(|l| super::phone::device_jid(l, 0, "lid")),
                ),
            },
        );
        let mode = if by_lid { "lid" } else { "pn" };
        let identity = node.child("device-identity").cloned();
        let Some(participants) = node.child("participants") else {
            out.push(ack(Some(400)));
            return;
        };
        if self.router.strict_device_lists && self.misses_a_device(participants, recipient, who) {
            out.push(ack(Some(479)));
            return;
        }
        for target in participants.children_named("to") {
            let Some(dest) = target.attrs.get("jid").and_then(|j| self.resolve(j)) else {
                continue;
            };
            // Only the recipient's and the sender's own devices can be addressed.
            if dest.0 != recipient && dest.0 != who.0 {
                continue;
            }
            if dest == who || self.kept.registry.get(dest.0, dest.1).is_none() {
                continue;
            }
            let encs: Vec<Node> = target.children_named("enc").cloned().collect();
            if encs.is_empty() {
                continue;
            }
            let mut stanza = Node::new("message")
                .attr("from", &sender_jid)
                .attr("id", &id)
                .attr("t", now)
                .attr("type", node.attrs.get("type").unwrap_or("text"))
                .attr("addressing_mode", mode);
            if let (attr, Some(alt)) = &sender_alt {
                stanza = stanza.attr(*attr, alt);
            }
            if dest.0 == who.0 && recipient != who.0 {
                stanza = stanza.attr("recipient", &recipient_forms.0);
                if let (attr, Some(alt)) = &recipient_forms.1 {
                    stanza = stanza.attr(*attr, alt);
                }
            }
            let mut children = encs;
            if let Some(identity) = &identity {
                children.push(identity.clone());
            }
            self.deliver(dest, stanza.children(children), out);
        }
        out.push(ack(None));
    }

    /// Whether `participants` lacks a linked device of `recipient` or of the sender's account
    /// (the sending device `who` aside).
    fn misses_a_device(&self, participants: &Node, recipient: u64, who: (u64, u32)) -> bool {
        let named: Vec<(u64, u32)> = participants
            .children_named("to")
            .filter_map(|t| t.attrs.get("jid").and_then(|j| self.resolve(j)))
            .collect();
        [recipient, who.0].into_iter().any(|number| {
            self.kept
                .registry
                .devices_of(number)
                .into_iter()
                .map(|d| (d.number, d.device))
                .any(|d| d != who && !named.contains(&d))
        })
    }

    fn route_receipt(&mut self, who: (u64, u32), node: &Node, now: u64, out: &mut Vec<Out>) {
        let Some(to) = node.attrs.get("to") else {
            return;
        };
        let Some((number, device)) = self.resolve(to) else {
            return;
        };
        let mut forwarded = Node::new("receipt")
            .attr("from", self.addressed(who, to.ends_with("@lid")))
            .attr("id", node.attrs.get("id").unwrap_or_default())
            .attr("t", now);
        if let Some(kind) = node.attrs.get("type") {
            forwarded = forwarded.attr("type", kind);
        }
        if let Some(recipient) = node.attrs.get("recipient") {
            forwarded = forwarded.attr("recipient", recipient);
        }
        let forwarded = forwarded.children(node.child_nodes().iter().cloned());
        let kind = node.attrs.get("type").unwrap_or_default();
        // `read-self`/`played-self` (the reader's read receipts are off) reach only the reader's
        // own devices; `read`/`played` reach the sender and the reader's own devices too.
        let own_only = matches!(kind, "read-self" | "played-self");
        let to_own = own_only || matches!(kind, "read" | "played");
        // A receipt to a device JID goes to that device; to a user, to all its devices.
        let targets: Vec<(u64, u32)> = if own_only {
            Vec::new()
        } else if to.contains(':') {
            vec![(number, device)]
        } else {
            self.kept
                .registry
                .devices_of(number)
                .iter()
                .map(|d| (d.number, d.device))
                .collect()
        };
        for target in targets {
            if target != who {
                self.deliver(target, forwarded.clone(), out);
            }
        }
        if to_own && number != who.0 {
            // Our other devices learn which chat was read from `recipient` (the peer).
            let mine = forwarded.clone().attr(
                "recipient",
                self.addressed((number, 0), to.ends_with("@lid")),
            );
            let own: Vec<(u64, u32)> = self
                .kept
                .registry
                .devices_of(who.0)
                .iter()
                .map(|d| (d.number, d.device))
                .filter(|d| *d != who)
                .collect();
            for target in own {
                self.deliver(target, mine.clone(), out);
            }
        }
    }
}
