//! The client against the wa-sim server: over the loopback interface (the real tokio driver and
//! WebSocket), and stepped deterministically against the simulator's sans-IO core.

#[path = "../legacy_common/mod.rs"]
mod legacy_common;

mod baileys;
mod harness;
mod login;
mod relay;

use std::sync::Arc;
use std::time::Duration;

use wa_client::legacy::{Client, ClientEvent};
use wa_core::client::{ClientConfig, CloseReason, ConnInfo, QrCode};
use wa_core::reconnect::Backoff;
use wa_core::session::{MemoryStore, SessionData};
use wa_sim::{Config, SimConfig, SimEvent, SimHandle, SimServer};

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
async fn expect<T>(client: &mut Client, pick: impl FnMut(&ClientEvent) -> Option<T>) -> T {
    legacy_common::next_event(client, PATIENCE, pick).await
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
