//! The client's sans-IO core stepped against the simulator's sans-IO core on one simulated
//! clock: no sockets, no tasks, fully deterministic.

use std::time::Duration;

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use wa_core::client::{ClientConfig, ClientSession, CloseReason, Event, QrCode};
use wa_core::time::Timestamp;
use wa_sim::{Config, ConnId, Output, Server};

struct Pair {
    now: Timestamp,
    server: Server,
    conn: ConnId,
    client: ClientSession,
    events: Vec<Event>,
    closed_by_server: bool,
}

impl Pair {
    fn new(config: Config, client: ClientConfig) -> Pair {
        let now = Timestamp::from_unix_ms(1_606_147_375_000);
        let mut server = Server::new(Config {
            rng_seed: Some(3),
            ..config
        });
        let conn = server.handle_connect(now);
        Pair {
            now,
            server,
            conn,
            client: ClientSession::new(client),
            events: Vec::new(),
            closed_by_server: false,
        }
    }

    /// Moves messages both ways until neither side has anything to say.
    fn drive(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(frame) = self.client.poll_transmit() {
                progressed = true;
                let _ = self.server.handle_frame(self.conn, self.now, &frame);
            }
            while let Some(output) = self.server.poll_output() {
                progressed = true;
                match output {
                    Output::Send { conn, message } if conn == self.conn => {
                        self.client.handle_wire(self.now, &message);
                    }
                    Output::Close { conn } if conn == self.conn => {
                        self.closed_by_server = true;
                        self.client.handle_transport_closed(self.now);
                    }
                    _ => {}
                }
            }
            while let Some(event) = self.client.poll_event() {
                progressed = true;
                self.events.push(event);
            }
            if !progressed {
                return;
            }
        }
    }

    /// Advances the clock to the earlier of both sides' deadlines (at most `limit`).
    fn step(&mut self, limit: Timestamp) -> bool {
        let next = [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next.filter(|t| *t <= limit) else {
            self.now = limit;
            return false;
        };
        self.now = next.max(self.now);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.drive();
        true
    }

    fn run_until(&mut self, limit: Timestamp) {
        while self.step(limit) {}
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.drive();
    }

    fn qrs(&self) -> Vec<QrCode> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Qr(qr) => Some(qr.clone()),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn qr_login_keepalive_and_rerefs_on_a_simulated_clock() {
    let mut pair = Pair::new(
        Config {
            auto_scan_delay: Some(Duration::from_secs(50)),
            ..Config::default()
        },
        ClientConfig::default(),
    );
    let start = pair.now;
    pair.client
        .start_login(start, &mut StdRng::seed_from_u64(1))
        .unwrap();
    pair.drive();
    // Two minutes of keepalives and QR refreshes: the server limit (5 rerefs) ends it.
    pair.run_until(start + Duration::from_secs(200));
    let qrs = pair.qrs();
    assert_eq!(qrs.len(), 6, "first ref + 5 rerefs");
    for (i, qr) in qrs.iter().enumerate() {
        let issued = start + Duration::from_secs(20 * i as u64);
        assert_eq!(qr.expires_at, issued + Duration::from_secs(20));
    }
    assert_eq!(
        pair.events.last(),
        Some(&Event::Closed(CloseReason::QrRefsExhausted))
    );
    assert!(!pair.closed_by_server);
}

#[test]
fn presented_qr_is_scanned_and_the_link_stays_up() {
    let mut pair = Pair::new(
        Config {
            auto_scan_delay: Some(Duration::from_secs(5)),
            ..Config::default()
        },
        ClientConfig::default(),
    );
    let start = pair.now;
    pair.client
        .start_login(start, &mut StdRng::seed_from_u64(2))
        .unwrap();
    pair.drive();
    let qr = pair.qrs().pop().expect("a QR code");
    let at = pair
        .server
        .present_qr(pair.now, &qr.qr_string())
        .unwrap()
        .unwrap();
    assert_eq!(at, start + Duration::from_secs(5));
    pair.run_until(start + Duration::from_secs(120));
    let connected = pair
        .events
        .iter()
        .position(|e| matches!(e, Event::Connected(_)))
        .expect("connected");
    let pushed: Vec<&str> = pair.events[connected..]
        .iter()
        .filter_map(|e| match e {
            Event::Node { node, .. } if node.tag == "response" => node.attrs.get("type"),
            _ => None,
        })
        .collect();
    assert!(
        pushed.contains(&"contacts") && pushed.contains(&"chat"),
        "contacts and chats, decrypted: {:?}",
        pair.events
    );
    // Keepalives were answered for two minutes: still up, no errors.
    assert!(!pair.client.is_closed(), "{:?}", pair.events.last());
    assert!(
        !pair.events.iter().any(|e| matches!(e, Event::Error(_))),
        "{:?}",
        pair.events
    );
    let data = pair.client.session_data().unwrap();
    let keys = pair.server.session_keys(&data.client_id).unwrap();
    assert_eq!(&data.mac_key, keys.mac_key());
}
