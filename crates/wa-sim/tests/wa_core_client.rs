//! Our own sans-IO client (`wa_core::ClientSession`) against the sans-IO server, stepped on one
//! simulated clock: no sockets, no sleeps, the same bytes every run.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_core::client::SessionState;
use wa_core::{ClientConfig, ClientSession, CloseReason, Event, SessionData, Timestamp};
use wa_sim::SeedAccount;
use wa_sim::core::{Config, ConnId, LogoutVia, Output, Server, SimEvent};

/// One client connection and the server, exchanging messages until both are idle.
struct Pair<'s> {
    server: &'s mut Server,
    client: ClientSession,
    conn: ConnId,
    now: &'s mut Timestamp,
    events: Vec<Event>,
    closed_by_server: bool,
    /// Outputs for other connections, kept for the test to deliver.
    others: Vec<Output>,
}

impl<'s> Pair<'s> {
    fn connect(server: &'s mut Server, now: &'s mut Timestamp) -> Pair<'s> {
        let conn = server.handle_connect(*now);
        Pair {
            server,
            client: ClientSession::new(ClientConfig::default()),
            conn,
            now,
            events: Vec::new(),
            closed_by_server: false,
            others: Vec::new(),
        }
    }

    /// Delivers everything queued on both sides, repeatedly.
    fn flush(&mut self) {
        loop {
            let mut moved = false;
            while let Some(frame) = self.client.poll_transmit() {
                // Refusals are answered on the wire; the client sees them there.
                let _ = self.server.handle_frame(self.conn, *self.now, &frame);
                moved = true;
            }
            while let Some(output) = self.server.poll_output() {
                match output {
                    Output::Send { conn, message } if conn == self.conn => {
                        self.client.handle_wire(*self.now, &message);
                    }
                    Output::Close { conn } if conn == self.conn => {
                        self.closed_by_server = true;
                        self.client.handle_transport_closed(*self.now);
                        self.server.handle_disconnect(self.conn, *self.now);
                    }
                    other => self.others.push(other),
                }
                moved = true;
            }
            self.events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            if !moved {
                return;
            }
        }
    }

    /// Advances the clock to the next timeout of either side, at most to `limit`.
    fn step_time(&mut self, limit: Timestamp) -> bool {
        let next = [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next.filter(|t| *t <= limit) else {
            return false;
        };
        *self.now = (*self.now).max(next);
        self.server.handle_timeout(*self.now);
        self.client.handle_timeout(*self.now);
        self.flush();
        true
    }

    /// Runs until `done` holds for an event, or `within` of simulated time has passed.
    fn run_until(&mut self, within: Duration, mut done: impl FnMut(&Event) -> bool) -> Event {
        let limit = *self.now + within;
        loop {
            self.flush();
            if let Some(i) = self.events.iter().position(&mut done) {
                return self.events.remove(i);
            }
            assert!(
                self.step_time(limit),
                "nothing more happens before the limit; events: {:?}",
                self.events
            );
        }
    }
}

fn session_of(event: &Event) -> Option<SessionData> {
    match event {
        Event::SessionUpdated(data) => Some((**data).clone()),
        _ => None,
    }
}

#[test]
fn wa_core_client_logs_in_by_qr_restores_through_a_challenge_and_logs_out() {
    let mut server = Server::new(Config {
        rng_seed: Some(11),
        ..Config::default()
    });
    let mut now = Timestamp::from_unix_ms(1_600_000_000_000);
    let mut rng = StdRng::seed_from_u64(12);
    let seed = SeedAccount::default();

    // 1. QR login: the phone scans the code the client shows.
    let mut pair = Pair::connect(&mut server, &mut now);
    pair.client.start_login(*pair.now, &mut rng).unwrap();
    let Event::Qr(qr) = pair.run_until(Duration::from_secs(5), |e| matches!(e, Event::Qr(_)))
    else {
        unreachable!()
    };
    pair.server.scan(*pair.now, &qr.qr_string()).unwrap();
    pair.run_until(Duration::from_secs(5), |e| matches!(e, Event::Connected(_)));
    let session = pair
        .events
        .iter()
        .find_map(session_of)
        .expect("session data after the QR login");
    assert_eq!(
        pair.server.session_keys(&session.client_id),
        Some(&session.session_keys())
    );
    assert_eq!(session.wid, seed.wid);
    // The encrypted contacts and chats pushed after login decrypt and decode on our side.
    let Event::Node { node, .. } = pair.run_until(
        Duration::from_secs(5),
        |e| matches!(e, Event::Node { node, .. } if node.attrs.get("type") == Some("contacts")),
    ) else {
        unreachable!()
    };
    assert_eq!(node.child_nodes().len(), seed.contacts.len());
    let Event::Node { node, .. } = pair.run_until(
        Duration::from_secs(5),
        |e| matches!(e, Event::Node { node, .. } if node.attrs.get("type") == Some("chat")),
    ) else {
        unreachable!()
    };
    assert_eq!(node.child_nodes().len(), seed.chats.len());
    // Keepalives flow both ways for a while without dropping the link.
    let limit = *pair.now + Duration::from_secs(60);
    while pair.step_time(limit) {}
    assert_eq!(pair.client.state(), SessionState::Connected);
    let conn = pair.conn;
    pair.client.handle_transport_closed(*pair.now);
    pair.server.handle_disconnect(conn, *pair.now);
    drop(pair);

    // 2. Restore through a challenge: same keys, new tokens.
    server.set_challenge_on_restore(true);
    let mut pair = Pair::connect(&mut server, &mut now);
    pair.client.restore(*pair.now, session.clone()).unwrap();
    pair.run_until(Duration::from_secs(5), |e| matches!(e, Event::Connected(_)));
    assert!(
        pair.events
            .iter()
            .any(|e| matches!(e, Event::ChallengeAnswered))
    );
    let restored = pair
        .events
        .iter()
        .find_map(session_of)
        .expect("new tokens after the restore");
    assert_eq!(restored.session_keys(), session.session_keys());
    assert_ne!(restored.server_token, session.server_token);
    let info = pair.server.session(&session.client_id).unwrap();
    assert_eq!(info.server_token, restored.server_token);
    assert_eq!(info.client_token, restored.client_token);

    // 3. Logout: the server unpairs, and the stored session is refused afterwards.
    pair.client.logout(*pair.now).unwrap();
    pair.flush();
    assert!(pair.server.session(&session.client_id).is_none());
    drop(pair);
    let mut pair = Pair::connect(&mut server, &mut now);
    pair.client.restore(*pair.now, restored).unwrap();
    let Event::Closed(reason) =
        pair.run_until(Duration::from_secs(5), |e| matches!(e, Event::Closed(_)))
    else {
        unreachable!()
    };
    assert_eq!(reason, CloseReason::Unpaired { status: 401 });
    assert!(reason.invalidates_session());
    drop(pair);

    let events: Vec<SimEvent> = std::iter::from_fn(|| server.poll_event()).collect();
    assert!(events.contains(&SimEvent::LoggedOut {
        client_id: session.client_id.clone(),
        via: LogoutVia::Goodbye
    }));
    let rejected: Vec<&SimEvent> = events
        .iter()
        .filter(|e| matches!(e, SimEvent::Rejected { .. }))
        .collect();
    assert!(rejected.is_empty(), "{rejected:?}");
}

#[test]
fn a_takeover_tells_the_old_wa_core_client_it_was_replaced() {
    let mut server = Server::new(Config {
        rng_seed: Some(13),
        ..Config::default()
    });
    let mut now = Timestamp::from_unix_ms(1_600_000_000_000);
    let mut now2 = now;
    let mut rng = StdRng::seed_from_u64(14);

    let mut first = Pair::connect(&mut server, &mut now);
    first.client.start_login(*first.now, &mut rng).unwrap();
    let Event::Qr(qr) = first.run_until(Duration::from_secs(5), |e| matches!(e, Event::Qr(_)))
    else {
        unreachable!()
    };
    first.server.scan(*first.now, &qr.qr_string()).unwrap();
    first.run_until(Duration::from_secs(5), |e| matches!(e, Event::Connected(_)));
    let session = first.events.iter().find_map(session_of).unwrap();
    let mut old_client = std::mem::replace(
        &mut first.client,
        ClientSession::new(ClientConfig::default()),
    );
    let old_conn = first.conn;
    drop(first);

    let mut second = Pair::connect(&mut server, &mut now2);
    second.client.restore(*second.now, session).unwrap();
    second.run_until(Duration::from_secs(5), |e| matches!(e, Event::Connected(_)));
    assert!(!second.closed_by_server);
    let for_old = std::mem::take(&mut second.others);
    drop(second);

    // Deliver what the server queued for the old connection.
    let mut closed = false;
    for output in for_old {
        match output {
            Output::Send { conn, message } if conn == old_conn => {
                old_client.handle_wire(now2, &message);
            }
            Output::Close { conn } if conn == old_conn => closed = true,
            _ => {}
        }
    }
    assert!(closed, "the replaced connection is closed");
    let reasons: Vec<Event> = std::iter::from_fn(|| old_client.poll_event()).collect();
    assert!(
        reasons
            .iter()
            .any(|e| matches!(e, Event::Closed(CloseReason::Replaced))),
        "{reasons:?}"
    );
}
