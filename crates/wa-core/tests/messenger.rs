//! The reliable-messaging state ([`Messenger`]) driven with a restored [`ClientSession`] on a
//! simulated clock: relays go under their ids, acks empty the outbox, a new connection resends
//! what was never acked with the same ids, a timeout resends (a bounded number of times),
//! duplicates are dropped; messages that can never fit are refused; a 401 ends the session.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use wa_binary::{Codec, Node};
use wa_core::chat::{
    AckLevel, ChatEvent, FIRST_DEFERRED_RETRY, MAX_DEFERRED_RESENDS, MAX_MESSAGE_LEN,
    MAX_UNANSWERED_RELAYS, MessageBatch, MessageTooLarge, Messenger, Outbox, RelayOutcome, compose,
    map_node,
};
use wa_core::client::{
    ClientConfig, ClientSession, CloseReason, CommandError, Event, MAX_SEND_FRAME_LEN,
    SessionError, SessionState,
};
use wa_core::frame::{Frame, JsonForm, Tag};
use wa_core::session::SessionData;
use wa_core::time::Timestamp;
use wa_crypto::legacy::{SessionKeys, open_client_frame};
use wa_proto::WebMessageInfo;
use wa_proto::prost::Message as _;

const ME: &str = "15550001111@c.us";
const PEER: &str = "15550002222@c.us";

struct Link {
    session: ClientSession,
    keys: SessionKeys,
    now: Timestamp,
    rng: StdRng,
}

/// A session restored from storage and logged in again (`Conn` without a secret).
fn connected(now: Timestamp) -> Link {
    let mut rng = StdRng::seed_from_u64(3);
    let keys = SessionKeys::generate(&mut rng);
    let data = SessionData {
        client_id: "AAECAwQFBgcICQoLDA0ODw==".into(),
        private_key: [9; 32],
        client_token: "ct".into(),
        server_token: "1@st".into(),
        browser_token: "1@bt".into(),
        enc_key: *keys.enc_key(),
        mac_key: *keys.mac_key(),
        wid: ME.into(),
    };
    let mut session = ClientSession::new(ClientConfig::default());
    session.restore(now, data).unwrap();
    let Some(Frame::Json { tag, .. }) = session.poll_transmit() else {
        panic!("admin init first")
    };
    session.handle_frame(
        now,
        Frame::json(tag, JsonForm::OneComma, json!({"status": 200})),
    );
    while session.poll_transmit().is_some() {}
    let conn = json!(["Conn", {"wid": ME, "pushname": "Me", "clientToken": "ct2",
        "serverToken": "1@st2", "browserToken": "1@bt2"}]);
    session.handle_frame(
        now,
        Frame::json(Tag::new("s1").unwrap(), JsonForm::OneComma, conn),
    );
    let events: Vec<Event> = std::iter::from_fn(|| session.poll_event()).collect();
    assert!(
        events.iter().any(|e| matches!(e, Event::Connected(_))),
        "{events:?}"
    );
    Link {
        session,
        keys,
        now,
        rng,
    }
}

impl Link {
    /// The relays sent: (tag, metric, flags, relayed message).
    fn relays(&mut self) -> Vec<(String, u8, u8, WebMessageInfo)> {
        std::iter::from_fn(|| self.session.poll_transmit())
            .filter_map(|frame| match frame {
                Frame::Binary { tag, payload } => Some((tag, payload)),
                _ => None,
            })
            .map(|(tag, payload)| {
                let opened = open_client_frame(&self.keys, &payload).unwrap();
                let node = Codec::legacy().decode(&opened.plaintext).unwrap();
                assert_eq!(node.attrs.get("type"), Some("relay"));
                let bytes = node.child("message").and_then(Node::content_bytes).unwrap();
                (
                    tag.as_str().to_owned(),
                    opened.metric_byte,
                    opened.flags.bits(),
                    WebMessageInfo::decode_bytes(bytes).unwrap(),
                )
            })
            .collect()
    }

    /// The server answers `{"status": status}` on `tag`: the one response event it makes.
    fn reply(&mut self, tag: &str, status: u16) -> (Tag, Value) {
        let frame = Frame::json(
            Tag::new(tag).unwrap(),
            JsonForm::OneComma,
            json!({ "status": status }),
        );
        self.session.handle_frame(self.now, frame);
        let events: Vec<Event> = std::iter::from_fn(|| self.session.poll_event()).collect();
        match <[Event; 1]>::try_from(events) {
            Ok([Event::Response { tag, body }]) => (tag, body),
            Ok(other) => panic!("{other:?}"),
            Err(events) => panic!("{events:?}"),
        }
    }
}

fn message(id: &str, text: &str) -> WebMessageInfo {
    compose::envelope(PEER, id, compose::text(text), 1_600_000_000)
}

/// A fresh link and messenger that has relayed one text message; returns its id.
fn relayed_one(id: &str, text: &str) -> (Link, Messenger, String) {
    let mut link = connected(Timestamp::from_unix_ms(1_600_000_000_000));
    let mut messenger = Messenger::new(Outbox::default());
    let id = messenger.enqueue(&message(id, text)).expect("fits");
    messenger
        .relay(&mut link.session, link.now, &id, &mut link.rng)
        .unwrap();
    (link, messenger, id)
}

#[test]
fn relay_under_its_id_and_ack_empties_the_outbox() {
    let (mut link, mut messenger, id) = relayed_one("3EB0AAAA00000001", "hi");
    let relays = link.relays();
    assert_eq!(relays.len(), 1);
    let (tag, metric, flags, info) = &relays[0];
    assert_eq!((tag.as_str(), *metric, *flags), (id.as_str(), 16, 0x80));
    assert_eq!(
        info.message.as_ref().unwrap().conversation.as_deref(),
        Some("hi")
    );

    let (tag, body) = link.reply(&id, 200);
    assert_eq!(
        messenger.on_response(link.now, &tag, &body),
        Some((id.clone(), RelayOutcome::Acked(AckLevel::ServerAck)))
    );
    assert!(messenger.outbox().is_empty());
    // A second reply on the same tag is not about a pending message any more.
    assert_eq!(messenger.on_response(link.now, &tag, &body), None);
}

#[test]
fn unacked_messages_go_again_with_the_same_ids_after_a_new_login() {
    let t0 = Timestamp::from_unix_ms(1_600_000_000_000);
    let mut link = connected(t0);
    let mut messenger = Messenger::new(Outbox::default());
    let a = messenger
        .enqueue(&message("3EB0AAAA00000001", "one"))
        .expect("fits");
    let b = messenger
        .enqueue(&message("3EB0AAAA00000002", "two"))
        .expect("fits");
    for id in [&a, &b] {
        messenger
            .relay(&mut link.session, link.now, id, &mut link.rng)
            .unwrap();
    }
    assert_eq!(link.relays().len(), 2);
    // The link drops before either ack; the stored outbox feeds a new client.
    link.session.handle_transport_closed(link.now);
    let stored = messenger.outbox().clone();
    let mut messenger = Messenger::new(stored);
    let mut link = connected(t0 + Duration::from_secs(5));
    assert!(
        messenger
            .resend_pending(&mut link.session, link.now, &mut link.rng)
            .is_empty()
    );
    let tags: Vec<String> = link.relays().into_iter().map(|r| r.0).collect();
    assert_eq!(tags, [a.clone(), b.clone()]);

    // One is acked; the other's ack never comes: it is relayed again when its request times
    // out, under the same id.
    let (tag, body) = link.reply(&a, 200);
    assert!(matches!(
        messenger.on_response(link.now, &tag, &body),
        Some((_, RelayOutcome::Acked(_)))
    ));
    link.now = link.now + Duration::from_secs(21);
    link.session.handle_timeout(link.now);
    let timed_out: Vec<Tag> = std::iter::from_fn(|| link.session.poll_event())
        .filter_map(|e| match e {
            Event::Error(SessionError::RequestTimedOut { tag }) => Some(tag),
            _ => None,
        })
        .collect();
    assert_eq!(timed_out.len(), 1);
    assert!(messenger.on_timeout(&mut link.session, link.now, &timed_out[0], &mut link.rng));
    let again: Vec<String> = link
        .relays()
        .into_iter()
        .filter(|r| r.0 == b)
        .map(|r| r.3.key.id.unwrap())
        .collect();
    assert_eq!(again, std::slice::from_ref(&b));
    // Refused: it leaves the outbox with the status.
    let (tag, body) = link.reply(&b, 400);
    assert_eq!(
        messenger.on_response(link.now, &tag, &body),
        Some((b, RelayOutcome::Refused(Some(400))))
    );
    assert!(messenger.outbox().is_empty());
}

#[test]
fn a_5xx_keeps_the_message_and_relays_it_again_later_with_backoff() {
    let (mut link, mut messenger, id) = relayed_one("3EB0AAAA00000003", "later");
    assert_eq!(link.relays().len(), 1);
    assert_eq!(messenger.poll_timeout(), None);

    // Two deferrals in a row: 1 s, then 2 s; nothing goes before it is due.
    for wait in [FIRST_DEFERRED_RETRY, FIRST_DEFERRED_RETRY * 2] {
        let (tag, body) = link.reply(&id, 503);
        let retry_at = link.now + wait;
        assert_eq!(
            messenger.on_response(link.now, &tag, &body),
            Some((
                id.clone(),
                RelayOutcome::Deferred {
                    status: 503,
                    retry_at
                }
            ))
        );
        assert_eq!(messenger.outbox().entries().len(), 1, "still pending");
        assert_eq!(messenger.poll_timeout(), Some(retry_at));
        let early = retry_at - Duration::from_millis(1);
        assert!(
            messenger
                .handle_timeout(&mut link.session, early, &mut link.rng)
                .is_empty()
        );
        assert!(link.relays().is_empty(), "resent before it was due");
        link.now = retry_at;
        assert!(
            messenger
                .handle_timeout(&mut link.session, link.now, &mut link.rng)
                .is_empty()
        );
        let again: Vec<String> = link.relays().into_iter().map(|r| r.0).collect();
        assert_eq!(again, std::slice::from_ref(&id), "same id");
        assert_eq!(messenger.poll_timeout(), None);
    }
    let (tag, body) = link.reply(&id, 200);
    assert_eq!(
        messenger.on_response(link.now, &tag, &body),
        Some((id, RelayOutcome::Acked(AckLevel::ServerAck)))
    );
    assert!(messenger.outbox().is_empty());
    assert_eq!(messenger.poll_timeout(), None);
}

#[test]
fn a_5xx_after_the_last_resend_is_final() {
    let (mut link, mut messenger, id) = relayed_one("3EB0AAAA00000004", "never");
    assert_eq!(link.relays().len(), 1);
    let mut resends = 0;
    let mut waits = Vec::new();
    loop {
        let (tag, body) = link.reply(&id, 500);
        match messenger.on_response(link.now, &tag, &body) {
            Some((
                _,
                RelayOutcome::Deferred {
                    status: 500,
                    retry_at,
                },
            )) => {
                waits.push(retry_at.saturating_duration_since(link.now).as_secs());
                link.now = retry_at;
                messenger.handle_timeout(&mut link.session, link.now, &mut link.rng);
                assert_eq!(link.relays().len(), 1);
                resends += 1;
            }
            Some((refused, RelayOutcome::Refused(Some(500)))) => {
                assert_eq!(refused, id);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(resends, MAX_DEFERRED_RESENDS);
    assert_eq!(waits, [1, 2, 4, 8, 16]);
    assert!(messenger.outbox().is_empty());
    assert_eq!(messenger.poll_timeout(), None);
}

#[test]
fn epochs_count_every_request_and_duplicates_are_dropped() {
    let mut link = connected(Timestamp::from_unix_ms(1_600_000_000_000));
    let mut messenger = Messenger::default();
    for _ in 0..3 {
        let req = wa_core::chat::request::chats(0);
        messenger
            .send_request(&mut link.session, link.now, req, &mut link.rng)
            .unwrap();
    }
    let epochs: Vec<String> = std::iter::from_fn(|| link.session.poll_transmit())
        .filter_map(|f| match f {
            Frame::Binary { payload, .. } => Some(payload),
            _ => None,
        })
        .map(|p| {
            let opened = open_client_frame(&link.keys, &p).unwrap();
            let node = Codec::legacy().decode(&opened.plaintext).unwrap();
            node.attrs.get("epoch").unwrap().to_owned()
        })
        .collect();
    assert_eq!(epochs, ["1", "2", "3"]);

    let incoming = WebMessageInfo {
        key: wa_proto::MessageKey::new("15550002222@s.whatsapp.net", false, "X1"),
        message: Some(compose::text("once")),
        ..WebMessageInfo::default()
    };
    let push = Node::new("action")
        .attr("add", "relay")
        .children([Node::new("message").bytes(incoming.encode_to_vec())]);
    let mut handed = 0;
    for _ in 0..2 {
        for event in map_node(&push) {
            if let Some(ChatEvent::Messages {
                batch: MessageBatch::Relay,
                messages,
                ..
            }) = messenger.accept(event)
            {
                handed += messages.len();
            }
        }
    }
    assert_eq!(handed, 1);
    // History pages are not filtered: they legitimately repeat messages.
    let page = ChatEvent::Messages {
        batch: MessageBatch::History,
        last: true,
        messages: vec![incoming],
    };
    assert!(messenger.accept(page).is_some());
}

#[test]
fn a_message_too_large_for_any_frame_is_refused_where_it_enters() {
    let mut link = connected(Timestamp::from_unix_ms(1_600_000_000_000));
    let mut messenger = Messenger::default();
    let huge = message("3EB0AAAA00000005", &"x".repeat(3 * 1024 * 1024));
    let refused = messenger.enqueue(&huge).unwrap_err();
    assert_eq!(
        refused,
        MessageTooLarge {
            size: huge.encoded_len(),
            limit: MAX_MESSAGE_LEN
        }
    );
    assert!(messenger.outbox().is_empty(), "never queued");
    // Any request over the frame limit is refused by the session before it reaches the wire.
    let body = json!(["action", "x".repeat(MAX_SEND_FRAME_LEN)]);
    assert!(matches!(
        link.session.send_json(link.now, body),
        Err(CommandError::FrameTooLarge {
            max: MAX_SEND_FRAME_LEN,
            ..
        })
    ));
    assert!(link.session.poll_transmit().is_none());
}

#[test]
fn a_stored_message_that_cannot_fit_is_refused_not_relayed_forever() {
    // An outbox written before the limit was checked may hold one.
    let stored = Outbox::from_entries(vec![wa_core::chat::PendingMessage::new(&message(
        "3EB0AAAA00000006",
        &"x".repeat(2 * 1024 * 1024),
    ))]);
    let mut messenger = Messenger::new(stored);
    let mut link = connected(Timestamp::from_unix_ms(1_600_000_000_000));
    let errors = messenger.resend_pending(&mut link.session, link.now, &mut link.rng);
    assert_eq!(errors.len(), 1);
    assert!(link.relays().is_empty());
    assert_eq!(
        messenger.poll_failed(),
        Some((
            "3EB0AAAA00000006".to_owned(),
            RelayOutcome::Refused(Some(413))
        ))
    );
    assert!(messenger.outbox().is_empty());
}

#[test]
fn relays_that_time_out_are_given_up_after_the_limit() {
    let (mut link, mut messenger, id) = relayed_one("3EB0AAAA00000007", "lost");
    let mut relays = link.relays().len();
    let mut timeouts = 0;
    for _ in 0..10 {
        if messenger.outbox().is_empty() {
            break;
        }
        link.now = link.now + Duration::from_secs(21);
        // The link itself stays alive (the server answers keepalives); only the relay's
        // answer never comes.
        link.session.handle_frame(link.now, Frame::pong(link.now));
        link.session.handle_timeout(link.now);
        let events: Vec<Event> = std::iter::from_fn(|| link.session.poll_event()).collect();
        for event in events {
            if let Event::Error(SessionError::RequestTimedOut { tag }) = event {
                timeouts += 1;
                assert!(messenger.on_timeout(&mut link.session, link.now, &tag, &mut link.rng));
            }
        }
        relays += link.relays().len();
        assert!(timeouts <= MAX_UNANSWERED_RELAYS, "relayed forever");
    }
    assert_eq!(timeouts, MAX_UNANSWERED_RELAYS);
    assert_eq!(relays as u32, MAX_UNANSWERED_RELAYS);
    assert_eq!(
        messenger.poll_failed(),
        Some((
            id,
            RelayOutcome::Unanswered {
                attempts: MAX_UNANSWERED_RELAYS
            }
        ))
    );
}

#[test]
fn a_401_to_a_query_ends_the_session_as_logged_out() {
    let mut link = connected(Timestamp::from_unix_ms(1_600_000_000_000));
    let mut messenger = Messenger::default();
    // A 401 that refuses one item (a picture hidden from us) is only an answer.
    let tag = messenger
        .send_request(
            &mut link.session,
            link.now,
            wa_core::chat::request::profile_picture(PEER),
            &mut link.rng,
        )
        .unwrap();
    link.reply(tag.as_str(), 401);
    assert_eq!(link.session.state(), SessionState::Connected);
    // A 401 to a query: the server no longer knows this session. The caller gets the answer,
    // then the session ends as unpaired (the stored session is useless).
    let tag = messenger
        .send_request(
            &mut link.session,
            link.now,
            wa_core::chat::request::chats(0),
            &mut link.rng,
        )
        .unwrap();
    link.session.handle_frame(
        link.now,
        Frame::json(tag.clone(), JsonForm::OneComma, json!({"status": 401})),
    );
    let events: Vec<Event> = std::iter::from_fn(|| link.session.poll_event()).collect();
    assert!(
        matches!(&events[..], [Event::Response { tag: t, .. }, Event::Closed(reason)]
            if *t == tag && *reason == CloseReason::Unpaired { status: 401 } && reason.invalidates_session()),
        "{events:?}"
    );
    assert!(link.session.is_closed());
}
