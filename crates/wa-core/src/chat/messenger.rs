//! [`Messenger`]: the messaging state of one client across connections, driven alongside a
//! [`ClientSession`]: the outbox and its resends, the epoch counter, and de-duplication of
//! incoming messages.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use rand_core::{CryptoRng, RngCore};
use serde_json::Value;
use wa_proto::WebMessageInfo;

use super::{
    AckLevel, ChatEvent, Epoch, MessageBatch, Outbox, PendingMessage, Request, SeenIds,
    message_key_string, request,
};
use crate::client::{ClientSession, CommandError, MAX_SEND_FRAME_LEN};
use crate::frame::Tag;
use crate::session::StoreError;
use crate::time::Timestamp;

/// What became of a relayed message, from the server's reply on its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayOutcome {
    /// `{status:200}`: the server has it.
    Acked(AckLevel),
    /// A 5xx status: the server could not take it now. The message stays in the outbox and is
    /// relayed again, under the same id, at `retry_at` (see [`Messenger::poll_timeout`]); as
    /// WhatsApp Web does, at most [`MAX_DEFERRED_RESENDS`] times, then the 5xx is final
    /// ([`RelayOutcome::Refused`]).
    Deferred {
        /// The status the server answered.
        status: u64,
        /// When it goes again.
        retry_at: Timestamp,
    },
    /// Another status (or none): refused for good; the message left the outbox.
    Refused(Option<u64>),
    /// Relayed [`MAX_UNANSWERED_RELAYS`] times without an answer (request timeouts, or the
    /// link lost while it was in flight, as a server does with a frame it will not take):
    /// given up; the message left the outbox. Reported by [`Messenger::poll_failed`].
    Unanswered {
        /// How many relays went unanswered.
        attempts: u32,
    },
}

/// The largest message (encoded `WebMessageInfo`) that fits in a relay frame the server
/// accepts: [`MAX_SEND_FRAME_LEN`] less [`RELAY_FRAME_OVERHEAD`]. A larger one is refused by
/// [`Messenger::enqueue`] and never queued.
pub const MAX_MESSAGE_LEN: usize = MAX_SEND_FRAME_LEN - RELAY_FRAME_OVERHEAD;

/// What a relay frame adds to its message, at most: the tag (up to 128 bytes) and its comma,
/// metric and flags (2), HMAC (32), IV (16), padding (up to 16) and the `action`/`message`
/// node headers (under 100); rounded up.
pub const RELAY_FRAME_OVERHEAD: usize = 1024;

/// How many relays of one message may go unanswered before it is given up
/// ([`RelayOutcome::Unanswered`]).
pub const MAX_UNANSWERED_RELAYS: u32 = 3;

/// A message refused where it enters: it can never fit in a frame the server accepts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("message of {size} bytes is larger than the limit of {limit} bytes")]
pub struct MessageTooLarge {
    /// The encoded message's size.
    pub size: usize,
    /// [`MAX_MESSAGE_LEN`].
    pub limit: usize,
}

/// The first wait before a message the server deferred (5xx) goes again; it doubles with every
/// deferral of the same message, up to [`MAX_DEFERRED_RETRY`].
pub const FIRST_DEFERRED_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two relays of a message the server keeps deferring.
pub const MAX_DEFERRED_RETRY: Duration = Duration::from_secs(60);
/// How many times a message is relayed again after 5xx answers before the next 5xx refuses it
/// (WhatsApp Web resends a request answered 5xx up to five times).
pub const MAX_DEFERRED_RESENDS: u32 = 5;

/// A message the server deferred: how often, and when it goes again (`None` once resent).
#[derive(Debug, Default)]
struct Deferral {
    count: u32,
    due: Option<Timestamp>,
}

/// Reliable messaging state, kept by the driver for the client's lifetime (not per connection):
///
/// - [`enqueue`](Self::enqueue) puts a message in the [`Outbox`]; persist
///   [`outbox`](Self::outbox) before relaying, so an accepted message survives a crash;
/// - [`relay`](Self::relay) sends it under its id; after every login
///   [`resend_pending`](Self::resend_pending) relays whatever is still unacked, with the same
///   ids (the server de-duplicates); a request timeout resends too
///   ([`on_timeout`](Self::on_timeout));
/// - [`on_response`](Self::on_response) recognises a relay's reply and drops it from the outbox
///   (persist again); a 5xx reply keeps it and schedules a resend: call
///   [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout);
/// - [`accept`](Self::accept) drops live messages already handed over once.
///
/// A message the server never answers is not relayed forever: every relay that times out, or
/// is in flight when the link is lost ([`on_link_lost`](Self::on_link_lost)), counts against
/// it, and after [`MAX_UNANSWERED_RELAYS`] it leaves the outbox ([`poll_failed`](Self::poll_failed)).
/// While any message has such a mark, relays go one at a time, each waiting for the answer
/// to the previous one, so a message that makes the server drop the link is the only one
/// blamed for it and the others keep moving; call [`pump`](Self::pump) after every answer.
#[derive(Debug, Default)]
pub struct Messenger {
    outbox: Outbox,
    epoch: Epoch,
    seen: SeenIds,
    deferred: BTreeMap<String, Deferral>,
    /// Relayed on the current link and not answered yet.
    in_flight: BTreeSet<String>,
    /// Unanswered relays per pending message (only messages with at least one).
    unanswered: BTreeMap<String, u32>,
    /// Messages given up, for [`poll_failed`](Self::poll_failed).
    failed: VecDeque<(String, RelayOutcome)>,
}

impl Messenger {
    /// Starts from a stored outbox.
    pub fn new(outbox: Outbox) -> Messenger {
        Messenger {
            outbox,
            ..Messenger::default()
        }
    }

    /// The unacked messages (persist this whenever [`enqueue`](Self::enqueue) or
    /// [`on_response`](Self::on_response) changed it).
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Adds `info` to the outbox; its id. The caller persists the outbox, then relays. A
    /// message larger than [`MAX_MESSAGE_LEN`] is refused and not queued.
    pub fn enqueue(&mut self, info: &WebMessageInfo) -> Result<String, MessageTooLarge> {
        check_message_len(info)?;
        let entry = PendingMessage::new(info);
        let id = entry.id.clone();
        self.outbox.push(entry);
        Ok(id)
    }

    /// Undoes an [`enqueue`](Self::enqueue) whose persistence failed.
    pub fn forget(&mut self, id: &str) {
        self.outbox.acked(id);
        self.deferred.remove(id);
        self.in_flight.remove(id);
        self.unanswered.remove(id);
    }

    /// The next message given up since the last call, with why: [`RelayOutcome::Unanswered`],
    /// or `Refused(Some(413))` for a stored message too large for any frame (as the server
    /// would answer it). It already left the outbox (persist it).
    pub fn poll_failed(&mut self) -> Option<(String, RelayOutcome)> {
        self.failed.pop_front()
    }

    /// Whether relays go one at a time (some pending message went unanswered before).
    pub fn is_cautious(&self) -> bool {
        !self.unanswered.is_empty()
    }

    /// Counts one unanswered relay against `id`; gives it up at the limit. True if given up.
    fn strike(&mut self, id: &str) -> bool {
        let count = self.unanswered.entry(id.to_owned()).or_default();
        *count = count.saturating_add(1);
        let attempts = *count;
        if attempts < MAX_UNANSWERED_RELAYS {
            return false;
        }
        self.forget(id);
        self.failed
            .push_back((id.to_owned(), RelayOutcome::Unanswered { attempts }));
        true
    }

    /// The link went down: every relay in flight on it counts as unanswered (a server drops
    /// the link on a frame it will not take). Call it when a connection ends, before the next
    /// login's [`resend_pending`](Self::resend_pending).
    pub fn on_link_lost(&mut self) {
        let in_flight = std::mem::take(&mut self.in_flight);
        for id in in_flight {
            self.strike(&id);
        }
    }

    /// Sends any request on `session`, numbering actions and queries with the epoch counter and
    /// using the request's fixed tag if it has one; the tag of its reply.
    pub fn send_request<R: RngCore + CryptoRng>(
        &mut self,
        session: &mut ClientSession,
        now: Timestamp,
        request: Request,
        rng: &mut R,
    ) -> Result<Tag, CommandError> {
        match request {
            Request::Json(body) => session.send_json(now, body),
            Request::Node {
                mut node,
                metric,
                flags,
                tag,
            } => {
                if node.attrs.get("epoch").is_some() {
                    node.attrs.set("epoch", self.epoch.bump().to_string());
                }
                match tag {
                    Some(tag) => {
                        let tag = Tag::new(tag)?;
                        session.send_node_tagged(now, tag, &node, Some(metric), flags, rng)
                    }
                    None => session.send_node(now, &node, Some(metric), flags, rng),
                }
            }
        }
    }

    /// Relays outbox entry `id` on `session` (flags 0x40 when it is addressed to ourselves).
    /// While [cautious](Self::is_cautious), it waits (Ok, nothing sent) if another message is
    /// in flight; [`pump`](Self::pump) sends it once that one is answered.
    pub fn relay<R: RngCore + CryptoRng>(
        &mut self,
        session: &mut ClientSession,
        now: Timestamp,
        id: &str,
        rng: &mut R,
    ) -> Result<(), RelayError> {
        if self.is_cautious() && self.in_flight.iter().any(|other| other != id) {
            return Ok(());
        }
        let entry = self
            .outbox
            .entries()
            .iter()
            .find(|e| e.id == id)
            .ok_or_else(|| RelayError::NotPending(id.to_owned()))?;
        let info = entry.decode()?;
        let own = session.session_data().map(|d| d.wid.clone());
        let request = request::relay_from(0, &info, own.as_deref());
        match self.send_request(session, now, request, rng) {
            Ok(_) => {
                self.in_flight.insert(id.to_owned());
                Ok(())
            }
            Err(CommandError::FrameTooLarge { len, max }) => {
                // It can never go (an entry stored before the limit was checked): refused
                // for good rather than retried.
                self.forget(id);
                self.failed
                    .push_back((id.to_owned(), RelayOutcome::Refused(Some(413))));
                Err(CommandError::FrameTooLarge { len, max }.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Relays whatever may go now and is not in flight: every pending message, oldest first,
    /// except those waiting for a deferred resend; while [cautious](Self::is_cautious), only
    /// the oldest, and only when nothing is in flight. Call it after each relay answer.
    pub fn pump<R: RngCore + CryptoRng>(
        &mut self,
        session: &mut ClientSession,
        now: Timestamp,
        rng: &mut R,
    ) -> Vec<RelayError> {
        let ready: Vec<String> = self
            .outbox
            .entries()
            .iter()
            .map(|e| e.id.clone())
            .filter(|id| !self.in_flight.contains(id))
            .filter(|id| self.deferred.get(id).is_none_or(|d| d.due.is_none()))
            .collect();
        let mut errors = Vec::new();
        for id in ready {
            if self.is_cautious() && !self.in_flight.is_empty() {
                break;
            }
            if let Err(e) = self.relay(session, now, &id, rng) {
                errors.push(e);
            }
        }
        errors
    }

    /// After a login: relays every unacked message again, oldest first, with its id.
    pub fn resend_pending<R: RngCore + CryptoRng>(
        &mut self,
        session: &mut ClientSession,
        now: Timestamp,
        rng: &mut R,
    ) -> Vec<RelayError> {
        // A new link: nothing is in flight on it (what was in flight on the old one is
        // counted by `on_link_lost`).
        self.in_flight.clear();
        // Everything goes now, deferred ones included (they keep their count).
        for deferral in self.deferred.values_mut() {
            deferral.due = None;
        }
        self.pump(session, now, rng)
    }

    /// A reply on `tag` received at `now`: if it answers a relay, the outcome with the
    /// message's id. Acked and refused messages leave the outbox (persist it); a deferred one
    /// (5xx) stays and goes again later.
    pub fn on_response(
        &mut self,
        now: Timestamp,
        tag: &Tag,
        body: &Value,
    ) -> Option<(String, RelayOutcome)> {
        let id = tag.as_str();
        if !self.outbox.contains(id) {
            return None;
        }
        // Answered: whatever it was, the server took the frame.
        self.in_flight.remove(id);
        self.unanswered.remove(id);
        let outcome = match body.get("status").and_then(Value::as_u64) {
            Some(200) => RelayOutcome::Acked(AckLevel::ServerAck),
            Some(status @ 500..=599)
                if self
                    .deferred
                    .get(id)
                    .is_none_or(|d| d.count < MAX_DEFERRED_RESENDS) =>
            {
                let deferral = self.deferred.entry(id.to_owned()).or_default();
                let wait = FIRST_DEFERRED_RETRY
                    .saturating_mul(1 << deferral.count.min(16))
                    .min(MAX_DEFERRED_RETRY);
                deferral.count = deferral.count.saturating_add(1);
                let retry_at = now.saturating_add(wait);
                deferral.due = Some(retry_at);
                return Some((id.to_owned(), RelayOutcome::Deferred { status, retry_at }));
            }
            other => RelayOutcome::Refused(other),
        };
        self.outbox.acked(id);
        self.deferred.remove(id);
        Some((id.to_owned(), outcome))
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called: the earliest resend
    /// of a deferred message.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.deferred.values().filter_map(|d| d.due).min()
    }

    /// Relays again, with their ids, the deferred messages due at `now`. A relay that cannot be
    /// sent now stays pending for the next login.
    pub fn handle_timeout<R: RngCore + CryptoRng>(
        &mut self,
        session: &mut ClientSession,
        now: Timestamp,
        rng: &mut R,
    ) -> Vec<RelayError> {
        let due: Vec<String> = self
            .deferred
            .iter_mut()
            .filter(|(_, d)| d.due.is_some_and(|at| at <= now))
            .map(|(id, d)| {
                d.due = None;
                id.clone()
            })
            .collect();
        due.iter()
            .filter_map(|id| self.relay(session, now, id, rng).err())
            .collect()
    }

    /// A request on `tag` timed out: a relay counts as unanswered and is sent again, or given
    /// up at the limit (true); anything else is the caller's (false).
    pub fn on_timeout<R: RngCore + CryptoRng>(
        &mut self,
        session: &mut ClientSession,
        now: Timestamp,
        tag: &Tag,
        rng: &mut R,
    ) -> bool {
        let id = tag.as_str();
        if !self.outbox.contains(id) {
            return false;
        }
        self.in_flight.remove(id);
        if !self.strike(id) {
            // A failure here leaves it pending for the next login.
            let _ = self.relay(session, now, id, rng);
        }
        true
    }

    /// Filters a chat event: new live messages already handed over once are dropped (`None`
    /// when nothing is left).
    pub fn accept(&mut self, event: ChatEvent) -> Option<ChatEvent> {
        match event {
            ChatEvent::Messages {
                batch: batch @ (MessageBatch::Relay | MessageBatch::Unread),
                last,
                messages,
            } => {
                let fresh: Vec<_> = messages
                    .into_iter()
                    .filter(|m| self.seen.insert(&message_key_string(m)))
                    .collect();
                (!fresh.is_empty()).then_some(ChatEvent::Messages {
                    batch,
                    last,
                    messages: fresh,
                })
            }
            other => Some(other),
        }
    }
}

/// Refuses a message that can never fit in a relay frame the server accepts.
pub fn check_message_len(info: &WebMessageInfo) -> Result<(), MessageTooLarge> {
    use wa_proto::prost::Message as _;
    let size = info.encoded_len();
    if size > MAX_MESSAGE_LEN {
        return Err(MessageTooLarge {
            size,
            limit: MAX_MESSAGE_LEN,
        });
    }
    Ok(())
}

/// Why a relay could not be sent now (it stays in the outbox unless not pending).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// No such message in the outbox.
    #[error("message {0} is not pending")]
    NotPending(String),
    /// The stored entry cannot be decoded.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session refused (not logged in, closed...).
    #[error(transparent)]
    Command(#[from] CommandError),
}
