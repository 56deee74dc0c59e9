//! Our sans-IO client core and its outbox (`ClientSession` + `Messenger`) against the sans-IO
//! server, on one simulated clock, where the server will not take a message: the limits both
//! sides agree on, and a message that makes the server drop the link, which must be given up
//! after a bounded number of relays without holding up the messages around it.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_core::chat::{
    AckLevel, MAX_MESSAGE_LEN, MAX_UNANSWERED_RELAYS, Messenger, RelayOutcome, compose,
};
use wa_core::client::{ClientConfig, ClientSession, Event, MAX_SEND_FRAME_LEN};
use wa_core::{SessionData, Timestamp};
use wa_proto::prost::Message as _;
use wa_sim::SeedAccount;
use wa_sim::core::{Config, ConnId, Output, Server};

/// The other account, never online here: our messages are stored for it.
const PEER: &str = "15550100002@c.us";

/// One client (session core and outbox) reconnecting to the server as often as it must.
struct Harness {
    server: Server,
    now: Timestamp,
    rng: StdRng,
    client: ClientSession,
    conn: ConnId,
    messenger: Messenger,
    session: Option<SessionData>,
    /// Connections opened so far.
    connections: u32,
    /// What became of each message, in order.
    outcomes: Vec<(String, RelayOutcome)>,
    /// Binary frames (relays, here) the client put on the wire.
    relays_sent: u32,
    /// The QR code shown last, until scanned.
    last_qr: Option<String>,
}

impl Harness {
    /// A client logged in by QR code.
    fn logged_in() -> Harness {
        let peer = SeedAccount {
            wid: PEER.to_owned(),
            chats: Vec::new(),
            contacts: Vec::new(),
            ..SeedAccount::default()
        };
        // No echo contact: its acks would be pushes on the links this test drops.
        let mut server = Server::new(Config {
            rng_seed: Some(21),
            recent_messages_per_chat: 0,
            echo_jid: None,
            accounts: vec![SeedAccount::default(), peer],
            ..Config::default()
        });
        let now = Timestamp::from_unix_ms(1_600_000_000_000);
        let conn = server.handle_connect(now);
        let mut h = Harness {
            server,
            now,
            rng: StdRng::seed_from_u64(22),
            client: ClientSession::new(ClientConfig::default()),
            conn,
            messenger: Messenger::default(),
            session: None,
            connections: 1,
            outcomes: Vec::new(),
            relays_sent: 0,
            last_qr: None,
        };
        h.client.start_login(h.now, &mut h.rng).unwrap();
        h.flush();
        let mut scanned = false;
        for _ in 0..100 {
            if h.client.state() == wa_core::client::SessionState::Connected {
                break;
            }
            if !scanned {
                if let Some(qr) = h.last_qr.take() {
                    h.server.scan(h.now, &qr).unwrap();
                    scanned = true;
                }
            }
            h.step(Duration::from_secs(1));
        }
        assert_eq!(h.client.state(), wa_core::client::SessionState::Connected);
        h
    }

    /// Delivers everything queued on both sides until neither moves.
    fn flush(&mut self) {
        loop {
            let mut moved = false;
            while let Some(frame) = self.client.poll_transmit() {
                if matches!(frame, wa_core::Frame::Binary { .. }) {
                    self.relays_sent += 1;
                }
                let _ = self.server.handle_frame(self.conn, self.now, &frame);
                moved = true;
            }
            while let Some(output) = self.server.poll_output() {
                match output {
                    Output::Send { conn, message } if conn == self.conn => {
                        self.client.handle_wire(self.now, &message);
                    }
                    Output::Close { conn } if conn == self.conn => {
                        self.client.handle_transport_closed(self.now);
                        self.server.handle_disconnect(conn, self.now);
                    }
                    _ => {}
                }
                moved = true;
            }
            while let Some(event) = self.client.poll_event() {
                moved = true;
                self.on_event(event);
            }
            while let Some(failed) = self.messenger.poll_failed() {
                self.outcomes.push(failed);
            }
            if !moved {
                return;
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Qr(qr) => self.last_qr = Some(qr.qr_string()),
            Event::SessionUpdated(data) => self.session = Some(*data),
            Event::Connected(_) => {
                let errors =
                    self.messenger
                        .resend_pending(&mut self.client, self.now, &mut self.rng);
                assert!(errors.is_empty(), "{errors:?}");
            }
            Event::Response { tag, body } => {
                if let Some(outcome) = self.messenger.on_response(self.now, &tag, &body) {
                    self.outcomes.push(outcome);
                    self.messenger
                        .pump(&mut self.client, self.now, &mut self.rng);
                }
            }
            Event::Closed(_) => {
                // The link is gone: relays in flight count as unanswered; then reconnect and
                // restore, as the driver does after its backoff.
                self.messenger.on_link_lost();
                self.now = self.now + Duration::from_secs(1);
                self.conn = self.server.handle_connect(self.now);
                self.connections += 1;
                self.client = ClientSession::new(ClientConfig::default());
                let data = self.session.clone().expect("logged in once");
                self.client.restore(self.now, data).unwrap();
            }
            _ => {}
        }
    }

    /// Advances the clock to the next timeout of either side (at most `by`), then flushes.
    fn step(&mut self, by: Duration) {
        let limit = self.now + by;
        let next = [
            self.client.poll_timeout(),
            self.server.poll_timeout(),
            self.messenger.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
        .filter(|t| *t <= limit)
        .unwrap_or(limit);
        self.now = self.now.max(next);
        self.server.handle_timeout(self.now);
        self.client.handle_timeout(self.now);
        self.messenger
            .handle_timeout(&mut self.client, self.now, &mut self.rng);
        self.flush();
    }

    /// Queues a text to the peer and relays it if logged in (else the next login
    /// does, as the driver); its id.
    fn send(&mut self, id: &str, text: &str) -> String {
        let info = compose::envelope(PEER, id, compose::text(text), 1_600_000_000);
        let id = self.messenger.enqueue(&info).expect("fits");
        if self.client.state() == wa_core::client::SessionState::Connected {
            self.messenger
                .relay(&mut self.client, self.now, &id, &mut self.rng)
                .unwrap();
        }
        self.flush();
        id
    }

    fn outcome(&self, id: &str) -> Option<&RelayOutcome> {
        self.outcomes.iter().find(|(i, _)| i == id).map(|(_, o)| o)
    }
}

#[test]
fn client_and_server_agree_on_the_largest_message() {
    assert_eq!(Config::default().max_frame_len, MAX_SEND_FRAME_LEN);
    let mut h = Harness::logged_in();
    // The largest message that may enter: its relay frame is taken (200), not refused (413).
    let mut info = compose::envelope(PEER, "3EB0FULL", compose::text(""), 1_600_000_000);
    let empty = info.encoded_len();
    // Two bytes of length prefix grow to three past 16 KiB; trim until it is exactly the limit.
    let mut text = "x".repeat(MAX_MESSAGE_LEN - empty - 2);
    info.message = Some(compose::text(&text));
    while info.encoded_len() > MAX_MESSAGE_LEN {
        text.pop();
        info.message = Some(compose::text(&text));
    }
    assert!(MAX_MESSAGE_LEN - info.encoded_len() < 4);
    let id = h.messenger.enqueue(&info).expect("the limit itself fits");
    h.messenger
        .relay(&mut h.client, h.now, &id, &mut h.rng)
        .unwrap();
    h.flush();
    assert_eq!(
        h.outcome(&id),
        Some(&RelayOutcome::Acked(AckLevel::ServerAck))
    );

    // One byte more can never fit: refused where it enters, never queued.
    text.push_str("yz");
    info.message = Some(compose::text(&text));
    info.key.id = Some("3EB0OVER".into());
    let refused = h.messenger.enqueue(&info).unwrap_err();
    assert_eq!(refused.limit, MAX_MESSAGE_LEN);
    assert!(refused.size > MAX_MESSAGE_LEN);
    assert!(h.messenger.outbox().is_empty());
    assert_eq!(h.connections, 1, "the link never dropped");
}

#[test]
fn a_message_that_drops_the_link_is_given_up_and_the_outbox_moves_on() {
    let mut h = Harness::logged_in();
    // The server's WebSocket layer drops the link on any message over 32 KiB, unanswered.
    h.server.fault_close_on_frames_over(Some(32 * 1024));
    let before = h.send("3EB0BEFORE", "before");
    let big = h.send("3EB0BIG", &"x".repeat(64 * 1024));
    let after = h.send("3EB0AFTER", "after");
    for _ in 0..200 {
        if h.messenger.outbox().is_empty() {
            break;
        }
        h.step(Duration::from_secs(1));
    }
    assert!(
        h.messenger.outbox().is_empty(),
        "still pending after {} connections; outcomes {:?}, state {:?}",
        h.connections,
        h.outcomes,
        h.client.state()
    );
    assert_eq!(
        h.outcome(&big),
        Some(&RelayOutcome::Unanswered {
            attempts: MAX_UNANSWERED_RELAYS
        })
    );
    for id in [&before, &after] {
        assert_eq!(
            h.outcome(id),
            Some(&RelayOutcome::Acked(AckLevel::ServerAck)),
            "{id}: {:?}",
            h.outcomes
        );
    }
    // Bounded: the first connection and one per unanswered relay of the big message, which
    // went alone on each new link.
    assert_eq!(h.connections, 1 + MAX_UNANSWERED_RELAYS);
    // The server has both small messages, once each.
    let store = h.server.store(PEER).unwrap();
    let me = SeedAccount::default().wid;
    let chat = store.chats.get(&me).expect("the chat with us");
    for id in [&before, &after] {
        assert!(chat.message(id).is_some(), "{id} stored");
    }
    assert!(chat.message(&big).is_none());
    // Nothing more goes: the session stays up and idle.
    let sent = h.relays_sent;
    let connections = h.connections;
    for _ in 0..30 {
        h.step(Duration::from_secs(1));
    }
    assert_eq!(h.connections, connections);
    assert_eq!(h.relays_sent, sent, "nothing relayed once it was given up");
}
