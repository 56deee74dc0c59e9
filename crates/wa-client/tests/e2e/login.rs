//! QR login, restore, takeover and logout over the loopback interface, and a client that
//! cannot reach the server.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use wa_client::legacy::{Client, ClientEvent, ConnectionState};
use wa_core::client::{ClientConfig, CloseReason, Event};
use wa_core::reconnect::Backoff;
use wa_core::session::{MemoryStore, SessionData, SessionStore};
use wa_sim::{Config, LogoutVia, SimConfig, SimEvent, SimHandle, SimServer};

use crate::{
    client, client_for, connected, expect, next_qr, qr_login, sim_event, start_sim, stopped,
};

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
    logged_out(&sim, LogoutVia::Http).await;
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
    logged_out(&sim, LogoutVia::Goodbye).await;
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
    logged_out(&sim, LogoutVia::Http).await;
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

/// Waits for the simulator to record the session's end by `via`.
async fn logged_out(sim: &SimHandle, via: LogoutVia) {
    sim_event(
        sim,
        |e| matches!(e, SimEvent::LoggedOut { via: v, .. } if *v == via),
    )
    .await;
}
