//! The client against the wa-sim server: over the loopback interface (the real tokio driver and
//! WebSocket), and stepped deterministically against the simulator's sans-IO core.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use wa_client::legacy::{Client, ClientEvent, ConnectionState};
use wa_core::client::{ClientConfig, CloseReason, ConnInfo, Event, QrCode};
use wa_core::reconnect::Backoff;
use wa_core::session::{MemoryStore, SessionData, SessionStore};
use wa_sim::{Config, LogoutVia, SimConfig, SimEvent, SimHandle, SimServer};

/// Long enough never to fire in a healthy run; only there so a broken test fails, not hangs.
const PATIENCE: Duration = Duration::from_secs(20);

async fn start_sim(config: Config) -> SimHandle {
    SimServer::start(SimConfig {
        server: Config {
            rng_seed: Some(7),
            ..config
        },
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn fast_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(20), Duration::from_millis(100)).with_max_attempts(20)
}

fn client_for(url: &str, http: &str, store: Arc<MemoryStore>, config: ClientConfig) -> Client {
    Client::builder()
        .server_url(url)
        .http_base_url(http)
        .shared_store(store)
        .session_config(config)
        .rng_seed(42)
        .backoff(fast_backoff())
        .build()
        .expect("client builds")
}

fn client(sim: &SimHandle, store: Arc<MemoryStore>) -> Client {
    client_for(
        &sim.ws_url(),
        &sim.http_url(),
        store,
        ClientConfig::default(),
    )
}

/// Waits for the first event `pick` accepts, skipping others; fails with the skipped events.
async fn expect<T>(client: &mut Client, mut pick: impl FnMut(&ClientEvent) -> Option<T>) -> T {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(PATIENCE, async {
        loop {
            let event = client.next_event().await.expect("event stream open");
            if let Some(found) = pick(&event) {
                return found;
            }
            seen.push(format!("{event:?}"));
        }
    })
    .await;
    match found {
        Ok(found) => found,
        Err(_) => panic!("expected event never came; saw {seen:#?}"),
    }
}

async fn next_qr(client: &mut Client) -> QrCode {
    expect(client, |e| match e {
        ClientEvent::Qr(qr) => Some(qr.clone()),
        _ => None,
    })
    .await
}

async fn connected(client: &mut Client) -> ConnInfo {
    expect(client, |e| match e {
        ClientEvent::Connected(info) => Some(info.clone()),
        ClientEvent::Stopped(reason) => panic!("stopped: {reason:?}"),
        _ => None,
    })
    .await
}

async fn stopped(client: &mut Client) -> CloseReason {
    expect(client, |e| match e {
        ClientEvent::Stopped(reason) => Some(reason.clone()),
        _ => None,
    })
    .await
}

/// A full QR login; returns the stored session.
async fn qr_login(sim: &SimHandle, client: &mut Client) -> SessionData {
    client.login().unwrap();
    let qr = next_qr(client).await;
    sim.scan(&qr.qr_string()).expect("the phone scans the QR");
    let info = connected(client).await;
    assert_eq!(info.wid, "15550100001@c.us");
    client.session_data().unwrap().expect("session stored")
}

async fn sim_event(sim: &SimHandle, pred: impl FnMut(&SimEvent) -> bool) -> SimEvent {
    sim.wait_for_event(PATIENCE, pred)
        .await
        .expect("simulator event")
}

#[tokio::test]
async fn qr_login_then_encrypted_traffic() {
    let sim = start_sim(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    let mut client = client(&sim, Arc::clone(&store));
    client.login().unwrap();
    let qr = next_qr(&mut client).await;
    assert!(qr.expires_at > wa_core::Timestamp::from_unix_ms(0));
    assert_eq!(client.state(), ConnectionState::LoggingIn);
    sim.scan(&qr.qr_string()).unwrap();
    let info = connected(&mut client).await;
    assert_eq!(info.pushname.as_deref(), Some("Sim Phone"));
    assert_eq!(info.battery, Some(87));
    assert_eq!(info.phone.device_model.as_deref(), Some("Simulated Phone"));
    assert_eq!(client.state(), ConnectionState::Connected);

    // What the client stored matches the server's session.
    let data = store.load().unwrap().unwrap();
    assert_eq!(data.client_id, qr.client_id);
    assert_eq!(data.wid, "15550100001@c.us");
    let server_keys = sim.session_keys(&data.client_id).unwrap();
    assert_eq!(&data.enc_key, server_keys.enc_key());
    assert_eq!(&data.mac_key, server_keys.mac_key());
    let server_session = sim.with_server(|s, _| s.session(&data.client_id)).unwrap();
    assert_eq!(server_session.client_token, data.client_token);
    assert_eq!(server_session.browser_token, data.browser_token);

    // The server's pushes are encrypted with the session keys: decrypting and decoding them
    // proves the login.
    // (They arrive mapped to typed chat events.)
    let names = expect(&mut client, |e| match e {
        ClientEvent::Chat(wa_client::legacy::chat::ChatEvent::Contacts(contacts)) => Some(
            contacts
                .iter()
                .filter_map(|c| c.name.clone())
                .collect::<Vec<_>>(),
        ),
        _ => None,
    })
    .await;
    assert!(names.iter().any(|n| n == "Alice Example"), "{names:?}");

    // A JSON query gets its reply on its tag.
    let tag = client
        .send_json(serde_json::json!(["query", "exist", "15550100002@c.us"]))
        .await
        .unwrap();
    let reply = expect(&mut client, |e| match e {
        ClientEvent::Protocol(Event::Response { tag: t, body }) if *t == tag => Some(body.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reply["status"], 200);
    client.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn qr_login_and_http_logout_over_tls() {
    // The simulator's own test certificate (self-signed for localhost and 127.0.0.1).
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wa-sim/tests/data");
    let cert = data.join("localhost.crt");
    let tls = wa_sim::TlsConfig::from_pem_files(&cert, &data.join("localhost.key"))
        .expect("the simulator's test certificate");
    let sim = SimServer::start(SimConfig {
        tls: Some(tls),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    assert!(sim.ws_url().starts_with("wss://"));

    // Without trusting the certificate, the TLS handshake fails.
    let mut untrusting = Client::builder()
        .server_url(sim.ws_url())
        .reconnect(false)
        .build()
        .unwrap();
    untrusting.login().unwrap();
    expect(&mut untrusting, |e| match e {
        ClientEvent::Error(wa_client::legacy::ClientError::Transport(
            wa_transport::TransportError::Connect { .. },
        )) => Some(()),
        _ => None,
    })
    .await;

    let store = Arc::new(MemoryStore::new());
    let mut client = Client::builder()
        .server_url(sim.ws_url())
        .http_base_url(sim.http_url())
        .extra_root_pem(std::fs::read(&cert).unwrap())
        .shared_store(Arc::clone(&store) as Arc<dyn SessionStore>)
        .build()
        .unwrap();
    qr_login(&sim, &mut client).await;
    client.shutdown().await;
    client.logout_http().await.unwrap();
    assert_eq!(store.load().unwrap(), None);
    sim_event(&sim, |e| {
        matches!(
            e,
            SimEvent::LoggedOut {
                via: LogoutVia::Http,
                ..
            }
        )
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn qr_codes_refresh_until_the_server_refuses() {
    let sim = start_sim(Config {
        ref_ttl: Duration::from_millis(300),
        max_rerefs: 2,
        reref_min_interval: Duration::ZERO,
        ..Config::default()
    })
    .await;
    let mut client = client(&sim, Arc::new(MemoryStore::new()));
    client.login().unwrap();
    let mut refs = Vec::new();
    let reason = expect(&mut client, |e| match e {
        ClientEvent::Qr(qr) => {
            refs.push(qr.reference.clone());
            None
        }
        ClientEvent::Stopped(reason) => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, CloseReason::QrRefsExhausted);
    assert_eq!(refs.len(), 3, "initial ref + 2 rerefs: {refs:?}");
    refs.dedup();
    assert_eq!(refs.len(), 3, "every ref is new");
    assert_eq!(client.state(), ConnectionState::Stopped);
    sim.shutdown().await;
}

async fn restore_case(challenge: bool) {
    let sim = start_sim(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    let mut first = client(&sim, Arc::clone(&store));
    let paired = qr_login(&sim, &mut first).await;
    first.shutdown().await;
    sim.with_server(|s, _| s.set_challenge_on_restore(challenge));

    let mut again = client(&sim, Arc::clone(&store));
    again.restore().unwrap();
    let mut challenged = false;
    let info = expect(&mut again, |e| match e {
        ClientEvent::ChallengeAnswered => {
            challenged = true;
            None
        }
        ClientEvent::Connected(info) => Some(info.clone()),
        ClientEvent::Stopped(reason) => panic!("{reason:?}"),
        _ => None,
    })
    .await;
    assert_eq!(challenged, challenge);
    assert_eq!(info.wid, paired.wid);
    let event = sim_event(&sim, |e| {
        matches!(e, SimEvent::LoggedIn { restored: true, .. })
    })
    .await;
    assert!(
        matches!(event, SimEvent::LoggedIn { challenged: c, .. } if c == challenge),
        "{event:?}"
    );
    // The rotated tokens were stored; the keys stay.
    let restored = store.load().unwrap().unwrap();
    assert_ne!(restored.client_token, paired.client_token);
    assert_eq!(restored.enc_key, paired.enc_key);
    let server = sim
        .with_server(|s, _| s.session(&paired.client_id))
        .unwrap();
    assert_eq!(server.client_token, restored.client_token);
    again.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn restore_without_challenge() {
    restore_case(false).await;
}

#[tokio::test]
async fn restore_with_challenge() {
    restore_case(true).await;
}

#[tokio::test]
async fn a_second_client_takes_the_session_over() {
    let sim = start_sim(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    let mut first = client(&sim, Arc::clone(&store));
    let paired = qr_login(&sim, &mut first).await;

    let other_store = Arc::new(MemoryStore::new());
    other_store.save(&paired).unwrap();
    let mut second = client(&sim, other_store);
    second.restore().unwrap();
    connected(&mut second).await;
    assert_eq!(stopped(&mut first).await, CloseReason::Replaced);
    assert_eq!(first.state(), ConnectionState::Stopped);
    // Being replaced does not delete the session.
    assert!(store.load().unwrap().is_some());
    sim_event(&sim, |e| matches!(e, SimEvent::Replaced { .. })).await;
    second.shutdown().await;
    sim.shutdown().await;
}

async fn restore_is_refused(sim: &SimHandle, data: &SessionData) {
    let store = Arc::new(MemoryStore::new());
    store.save(data).unwrap();
    let mut late = client(sim, Arc::clone(&store));
    late.restore().unwrap();
    assert_eq!(
        stopped(&mut late).await,
        CloseReason::Unpaired { status: 401 }
    );
    assert_eq!(
        store.load().unwrap(),
        None,
        "an unpaired session is deleted"
    );
}

#[tokio::test]
async fn logout_on_the_socket_then_restore_is_refused() {
    let sim = start_sim(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    let mut client = client(&sim, Arc::clone(&store));
    let paired = qr_login(&sim, &mut client).await;
    client.logout().await.unwrap();
    assert_eq!(store.load().unwrap(), None);
    sim_event(&sim, |e| {
        matches!(
            e,
            SimEvent::LoggedOut {
                via: LogoutVia::Goodbye,
                ..
            }
        )
    })
    .await;
    assert_eq!(stopped(&mut client).await, CloseReason::LoggedOut);
    restore_is_refused(&sim, &paired).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn logout_over_http_then_restore_is_refused() {
    let sim = start_sim(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    let mut client = client(&sim, Arc::clone(&store));
    let paired = qr_login(&sim, &mut client).await;
    client.shutdown().await;
    // Not connected: logout() goes over HTTP.
    client.logout().await.unwrap();
    assert_eq!(store.load().unwrap(), None);
    sim_event(&sim, |e| {
        matches!(
            e,
            SimEvent::LoggedOut {
                via: LogoutVia::Http,
                ..
            }
        )
    })
    .await;
    restore_is_refused(&sim, &paired).await;

    // A second HTTP logout with the same (now unknown) tokens is refused.
    let store = Arc::new(MemoryStore::new());
    store.save(&paired).unwrap();
    let mut stale = client_for(
        &sim.ws_url(),
        &sim.http_url(),
        store,
        ClientConfig::default(),
    );
    match stale.logout_http().await {
        Err(wa_client::legacy::ClientError::HttpStatus(status)) => assert!(status >= 400),
        other => panic!("{other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn unreachable_server_backs_off_then_gives_up() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut client = Client::builder()
        .server_url(format!("ws://{addr}/ws"))
        .rng_seed(1)
        .backoff(
            Backoff::new(Duration::from_millis(10), Duration::from_millis(40)).with_max_attempts(3),
        )
        .build()
        .unwrap();
    client.login().unwrap();
    let mut failures = 0;
    let mut delays = Vec::new();
    let reason = expect(&mut client, |e| match e {
        ClientEvent::Error(wa_client::legacy::ClientError::Transport(_)) => {
            failures += 1;
            None
        }
        ClientEvent::Disconnected { reconnect_in, .. } => {
            delays.push(*reconnect_in);
            None
        }
        ClientEvent::Stopped(reason) => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, CloseReason::TransportClosed);
    assert_eq!(failures, 4, "the first attempt and three retries");
    assert_eq!(delays.len(), 3);
    for (delay, ceiling) in delays.iter().zip([10u64, 20, 40]) {
        let ms = u64::try_from(delay.as_millis()).unwrap();
        assert!(
            (ceiling / 2..=ceiling).contains(&ms),
            "{ms} ms for ceiling {ceiling}"
        );
    }
    assert_eq!(client.state(), ConnectionState::Stopped);
}

#[tokio::test]
async fn shutdown_interrupts_a_hanging_connect() {
    // Accepts TCP but never answers the WebSocket handshake.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let mut client = Client::builder()
        .server_url(format!("ws://{addr}/ws"))
        .build()
        .unwrap();
    client.login().unwrap();
    expect(&mut client, |e| {
        matches!(e, ClientEvent::State(ConnectionState::Connecting)).then_some(())
    })
    .await;
    // The transport's own connect timeout is 20 s; shutdown must not wait for it.
    tokio::time::timeout(Duration::from_secs(10), client.shutdown())
        .await
        .expect("shutdown interrupts the connect");
    assert_eq!(client.state(), ConnectionState::Idle);
    assert!(matches!(
        client.reref().await,
        Err(wa_client::legacy::ClientError::NotRunning)
    ));
}

/// A TCP relay in front of the simulator that can go silent (drop bytes, keep sockets open),
/// cut every connection, or hang up when the client sends a WebSocket message containing a
/// given text (before the server sees it), to play a dead link or a server that hangs up.
struct Relay {
    addr: std::net::SocketAddr,
    silent: Arc<AtomicBool>,
    cut: broadcast::Sender<()>,
    hang_up_on: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
}

impl Relay {
    async fn start(target: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = Arc::new(AtomicBool::new(false));
        let hang_up_on = Arc::new(std::sync::Mutex::new(None));
        let (cut, _) = broadcast::channel(4);
        let relay = Relay {
            addr,
            silent: Arc::clone(&silent),
            cut: cut.clone(),
            hang_up_on: Arc::clone(&hang_up_on),
        };
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    continue;
                };
                let silent = Arc::clone(&silent);
                let hang_up_on = Arc::clone(&hang_up_on);
                let mut cut = cut.subscribe();
                tokio::spawn(async move {
                    let (mut ri, mut wi) = inbound.into_split();
                    let (mut ro, mut wo) = outbound.into_split();
                    let up = pump_client_frames(&mut ri, &mut wo, &silent, &hang_up_on);
                    let down = pump(&mut ro, &mut wi, &silent);
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                        _ = cut.recv() => {}
                    }
                });
            }
        });
        relay
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

async fn pump(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    silent: &AtomicBool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if silent.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Length of the first complete client WebSocket frame in `buf` and its unmasked payload.
fn client_frame(buf: &[u8]) -> Option<(usize, Vec<u8>)> {
    let len7 = usize::from(*buf.get(1)? & 0x7f);
    let (len, mut at) = match len7 {
        126 => (
            usize::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => (
            usize::try_from(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)).ok()?,
            10,
        ),
        n => (n, 2),
    };
    let mask: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
    at += 4;
    let payload = buf.get(at..at + len)?;
    let unmasked = payload
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    Some((at + len, unmasked))
}

/// Relays client → server, frame by frame after the HTTP upgrade, hanging up instead of
/// forwarding a frame that contains the `hang_up_on` needle.
async fn pump_client_frames(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    silent: &AtomicBool,
    hang_up_on: &std::sync::Mutex<Option<Vec<u8>>>,
) {
    let mut pending = Vec::new();
    let mut upgraded = false;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if silent.load(Ordering::SeqCst) {
            continue;
        }
        pending.extend_from_slice(&buf[..n]);
        if !upgraded {
            let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head: Vec<u8> = pending.drain(..end + 4).collect();
            if to.write_all(&head).await.is_err() {
                return;
            }
            upgraded = true;
        }
        while let Some((frame_len, payload)) = client_frame(&pending) {
            let needle = hang_up_on.lock().unwrap().clone();
            if let Some(needle) = needle {
                if payload
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice())
                {
                    return;
                }
            }
            let frame: Vec<u8> = pending.drain(..frame_len).collect();
            if to.write_all(&frame).await.is_err() {
                return;
            }
        }
    }
}

#[tokio::test]
async fn lost_keepalive_reconnects_and_restores() {
    let sim = start_sim(Config::default()).await;
    let relay = Relay::start(sim.local_addr()).await;
    let config = ClientConfig {
        keepalive_interval: Duration::from_millis(100),
        link_timeout: Duration::from_millis(400),
        ..ClientConfig::default()
    };
    let store = Arc::new(MemoryStore::new());
    let mut client = client_for(&relay.url(), &sim.http_url(), Arc::clone(&store), config);
    let paired = qr_login(&sim, &mut client).await;

    relay.silent.store(true, Ordering::SeqCst);
    let reason = expect(&mut client, |e| match e {
        ClientEvent::Disconnected { reason, .. } => Some(reason.clone()),
        ClientEvent::Stopped(reason) => panic!("{reason:?}"),
        _ => None,
    })
    .await;
    assert_eq!(reason, CloseReason::LinkLost);
    relay.silent.store(false, Ordering::SeqCst);

    // Back by takeover with the stored tokens, no QR.
    connected(&mut client).await;
    let restored = store.load().unwrap().unwrap();
    assert_eq!(restored.client_id, paired.client_id);
    sim_event(&sim, |e| {
        matches!(e, SimEvent::LoggedIn { restored: true, .. })
    })
    .await;
    client.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn server_hanging_up_mid_login_is_retried() {
    let sim = start_sim(Config::default()).await;
    let relay = Relay::start(sim.local_addr()).await;
    let store = Arc::new(MemoryStore::new());
    let mut client = client_for(
        &relay.url(),
        &sim.http_url(),
        Arc::clone(&store),
        ClientConfig::default(),
    );

    // QR login: the connection drops while the QR is shown; a new login starts.
    client.login().unwrap();
    let first = next_qr(&mut client).await;
    relay.cut.send(()).unwrap();
    let reason = expect(&mut client, |e| match e {
        ClientEvent::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, CloseReason::TransportClosed);
    let second = next_qr(&mut client).await;
    assert_ne!(second.reference, first.reference);
    sim.scan(&second.qr_string()).unwrap();
    connected(&mut client).await;
    client.shutdown().await;

    // Restore: the server hangs up when the challenge answer arrives (before handling it, so
    // the stored tokens stay valid); the retry is challenged again and gets through.
    sim.with_server(|s, _| s.set_challenge_on_restore(true));
    *relay.hang_up_on.lock().unwrap() = Some(b"\"challenge\",\"".to_vec());
    let mut client = client_for(
        &relay.url(),
        &sim.http_url(),
        Arc::clone(&store),
        ClientConfig::default(),
    );
    client.restore().unwrap();
    expect(&mut client, |e| {
        matches!(e, ClientEvent::ChallengeAnswered).then_some(())
    })
    .await;
    let reason = expect(&mut client, |e| match e {
        ClientEvent::Disconnected { reason, .. } => Some(reason.clone()),
        ClientEvent::Connected(_) => panic!("connected through a hung-up link"),
        _ => None,
    })
    .await;
    assert_eq!(reason, CloseReason::TransportClosed);
    *relay.hang_up_on.lock().unwrap() = None;
    let mut answered_again = false;
    let info = expect(&mut client, |e| match e {
        ClientEvent::ChallengeAnswered => {
            answered_again = true;
            None
        }
        ClientEvent::Connected(info) => Some(info.clone()),
        ClientEvent::Stopped(reason) => panic!("{reason:?}"),
        _ => None,
    })
    .await;
    assert!(answered_again);
    assert_eq!(info.wid, "15550100001@c.us");
    client.shutdown().await;
    sim.shutdown().await;
}

/// The client's sans-IO core stepped against the simulator's sans-IO core on one simulated
/// clock: no sockets, no tasks, fully deterministic.
mod harness {
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
}

/// Live interop with the real legacy client, `@adiwajshing/baileys@3.5.3`: a session paired by
/// our client is restored by Baileys (same keys, it decrypts the server's pushes), and the
/// tokens Baileys ends up with log our client back in, replacing Baileys.
mod baileys {
    use std::path::PathBuf;
    use std::process::Stdio;
    use std::sync::Arc;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use serde_json::{Value, json};
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
    use tokio::process::Command;
    use wa_core::client::{ClientConfig, CloseReason};
    use wa_core::session::{MemoryStore, SessionStore};
    use wa_sim::{Config, SimEvent};

    use super::{PATIENCE, client, client_for, connected, qr_login, sim_event, start_sim, stopped};

    fn interop_dir() -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop");
        assert!(
            dir.join("node_modules/@adiwajshing/baileys").is_dir(),
            "interop/node_modules is missing: run `cargo xtask setup` (npm ci in interop/)"
        );
        dir
    }

    async fn next_line(
        lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    ) -> Value {
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("Baileys answers in time")
            .expect("stdout readable")
            .expect("Baileys printed a line");
        let value: Value = serde_json::from_str(&line).expect("a JSON line");
        assert_ne!(value["event"], "error", "Baileys failed: {value}");
        value
    }

    #[tokio::test]
    async fn session_hands_over_to_baileys_and_back() {
        let interop = interop_dir();
        let sim = start_sim(Config::default()).await;
        let store = Arc::new(MemoryStore::new());
        let mut ours = client(&sim, Arc::clone(&store));
        let paired = qr_login(&sim, &mut ours).await;

        let mut child = Command::new("node")
            .arg("legacy-handoff.js")
            .arg(sim.ws_url())
            .current_dir(&interop)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let auth = json!({
            "clientID": paired.client_id,
            "clientToken": paired.client_token,
            "serverToken": paired.server_token,
            "encKey": BASE64.encode(paired.enc_key),
            "macKey": BASE64.encode(paired.mac_key),
        });
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("{auth}\n").as_bytes())
            .await
            .unwrap();
        drop(stdin);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

        // Baileys takes over the session our client paired: same keys, same account.
        let open = next_line(&mut lines).await;
        assert_eq!(open["event"], "open");
        assert_eq!(open["clientID"], paired.client_id.as_str());
        assert_eq!(open["encKey"], BASE64.encode(paired.enc_key));
        assert_eq!(open["macKey"], BASE64.encode(paired.mac_key));
        assert_eq!(open["jid"], "15550100001@s.whatsapp.net");
        assert_eq!(stopped(&mut ours).await, CloseReason::Replaced);
        // It decrypted the server's pushes: every contact and chat of the account is there.
        let data = next_line(&mut lines).await;
        assert_eq!(data["event"], "data");
        let seed = sim.with_server(|s, _| s.accounts()[0].clone());
        let listed = |field: &str| -> Vec<String> {
            data[field]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j.as_str().unwrap().replace("@s.whatsapp.net", "@c.us"))
                .collect()
        };
        let (contacts, chats) = (listed("contacts"), listed("chats"));
        for contact in &seed.contacts {
            assert!(
                contacts.contains(&contact.jid),
                "{} not in {contacts:?}",
                contact.jid
            );
        }
        for chat in &seed.chats {
            assert!(chats.contains(&chat.jid), "{} not in {chats:?}", chat.jid);
        }

        // Our client takes it back with the tokens Baileys now holds (the server rotated them).
        let mut handed_back = paired.clone();
        handed_back.client_token = open["clientToken"].as_str().unwrap().to_owned();
        handed_back.server_token = open["serverToken"].as_str().unwrap().to_owned();
        assert_ne!(handed_back.client_token, paired.client_token);
        let back_store = Arc::new(MemoryStore::new());
        back_store.save(&handed_back).unwrap();
        let mut again = client_for(
            &sim.ws_url(),
            &sim.http_url(),
            Arc::clone(&back_store),
            ClientConfig::default(),
        );
        again.restore().unwrap();
        let info = connected(&mut again).await;
        assert_eq!(info.wid, paired.wid);
        let close = next_line(&mut lines).await;
        assert_eq!(close, json!({"event": "close", "reason": "replaced"}));
        sim_event(&sim, |e| matches!(e, SimEvent::Replaced { .. })).await;
        let status = tokio::time::timeout(PATIENCE, child.wait())
            .await
            .expect("Baileys exits")
            .unwrap();
        assert!(status.success());
        again.shutdown().await;
        sim.shutdown().await;
    }
}
