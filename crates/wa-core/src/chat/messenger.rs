//! [`Messenger`]: the messaging state of one client across connections, driven alongside a
//! [`ClientSession`]: the outbox and its resends, the epoch counter, and de-duplication of
//! incoming messages.

use rand_core::{CryptoRng, RngCore};
use serde_json::Value;
use wa_proto::WebMessageInfo;

use super::{
    AckLevel, ChatEvent, Epoch, MessageBatch, Outbox, PendingMessage, Request, SeenIds,
    message_key_string, request,
};
use crate::client::{ClientSession, CommandError};
use crate::frame::Tag;
use crate::session::StoreError;
use crate::time::Timestamp;

/// What became of a relayed message, from the server's reply on its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayOutcome {
    /// `{status:200}`: the server has it.
    Acked(AckLevel),
    /// Another status (or none): refused.
    Refused(Option<u64>),
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
///   (persist again);
/// - [`accept`](Self::accept) drops live messages already handed over once.
#[derive(Debug, Default)]
pub struct Messenger {
    outbox: Outbox,
    epoch: Epoch,
    seen: SeenIds,
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

    /// Adds `info` to the outbox; its id. The caller persists the outbox, then relays.
    pub fn enqueue(&mut self, info: &WebMessageInfo) -> String {
        let entry = PendingMessage::new(info);
        let id = entry.id.clone();
        self.outbox.push(entry);
        id
    }

    /// Undoes an [`enqueue`](Self::enqueue) whose persistence failed.
    pub fn forget(&mut self, id: &str) {
        self.outbox.acked(id);
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
    pub fn relay<R: RngCore + CryptoRng>(
        &mut self,
        session: &mut ClientSession,
        now: Timestamp,
        id: &str,
        rng: &mut R,
    ) -> Result<(), RelayError> {
        let entry = self
            .outbox
            .entries()
            .iter()
            .find(|e| e.id == id)
            .ok_or_else(|| RelayError::NotPending(id.to_owned()))?;
        let info = entry.decode()?;
        let own = session.session_data().map(|d| d.wid.clone());
        let request = request::relay_from(0, &info, own.as_deref());
        self.send_request(session, now, request, rng)?;
        Ok(())
    }

    /// After a login: relays every unacked message again, oldest first, with its id.
    pub fn resend_pending<R: RngCore + CryptoRng>(
        &mut self,
        session: &mut ClientSession,
        now: Timestamp,
        rng: &mut R,
    ) -> Vec<RelayError> {
        let ids: Vec<String> = self.outbox.entries().iter().map(|e| e.id.clone()).collect();
        ids.iter()
            .filter_map(|id| self.relay(session, now, id, rng).err())
            .collect()
    }

    /// A reply on `tag`: if it answers a relay, the message leaves the outbox and the outcome
    /// is returned with its id.
    pub fn on_response(&mut self, tag: &Tag, body: &Value) -> Option<(String, RelayOutcome)> {
        let id = tag.as_str();
        if !self.outbox.acked(id) {
            return None;
        }
        let outcome = match body.get("status").and_then(Value::as_u64) {
            Some(200) => RelayOutcome::Acked(AckLevel::ServerAck),
            other => RelayOutcome::Refused(other),
        };
        Some((id.to_owned(), outcome))
    }

    /// A request on `tag` timed out: a relay is sent again (true); anything else is the
    /// caller's (false).
    pub fn on_timeout<R: RngCore + CryptoRng>(
        &mut self,
        session: &mut ClientSession,
        now: Timestamp,
        tag: &Tag,
        rng: &mut R,
    ) -> bool {
        if !self.outbox.contains(tag.as_str()) {
            return false;
        }
        // A failure here leaves it pending for the next login.
        let _ = self.relay(session, now, tag.as_str(), rng);
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
