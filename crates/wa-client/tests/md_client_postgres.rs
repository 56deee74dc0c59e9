//! The default `Client` on a PostgreSQL store (`StoreConfig::Postgres`) against wa-sim, on both
//! tokio runtime flavours: it pairs, sends and receives; dropped and built again on the same
//! database it logs in without pairing, its Signal sessions intact, and a message sent while it
//! was down arrives exactly once. Two clients share one database as two devices; a second
//! client for the same device gets the lease error; a logout erases the device's rows.
//!
//! Needs `WA_TEST_POSTGRES_URL` (`cargo xtask ci` provides a server); skipped with a printed
//! reason without it. Run with `--features postgres`.

#![cfg(feature = "postgres")]

use std::time::Duration;

use serde_json::Value;
use wa_client::md::StoreConfig;
use wa_client::{Client, ClientError, ClientEvent, MessengerEvent};
use wa_sim::{SimConfig, SimHandle, SimServer};
use wa_store::{OpenOptions, Store, Table};

const PHONE_A: u64 = 15_550_000_505;
const PHONE_B: u64 = 15_550_000_606;

fn postgres_url() -> Option<String> {
    match std::env::var("WA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: WA_TEST_POSTGRES_URL is not set (`cargo xtask ci` sets it)");
            None
        }
    }
}

/// A device name no other run uses (the database is shared between runs).
fn fresh_device(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("client-{tag}-{}-{nanos}", std::process::id())
}

fn postgres(url: &str, device: &str) -> StoreConfig {
    StoreConfig::Postgres {
        url: url.to_owned(),
        device: device.to_owned(),
    }
}

fn builder(handle: &SimHandle) -> wa_client::ClientBuilder {
    Client::builder()
        .server_url(handle.md_ws_url())
        .trust_root(handle.md().trust_root())
}

async fn control(handle: &SimHandle, path: &str, body: Option<Value>) -> (u16, String) {
    let url = format!("{}/{path}", handle.control_url());
    let request = match body {
        Some(body) => reqwest::Client::new().post(url).json(&body),
        None => reqwest::Client::new().get(url),
    };
    let response = tokio::time::timeout(Duration::from_secs(10), request.send())
        .await
        .expect("control answers in time")
        .expect("control reachable");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn devices(handle: &SimHandle) -> Vec<Value> {
    let (status, body) = control(handle, "md/devices", None).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Reads events until `pred` matches one (returned with everything seen before it), or fails
/// after 20 s.
async fn until(
    client: &Client,
    what: &str,
    pred: impl Fn(&ClientEvent) -> bool,
) -> (ClientEvent, Vec<ClientEvent>) {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let event = tokio::time::timeout_at(deadline, client.next_event())
            .await
            .unwrap_or_else(|_| panic!("{what}: not seen in {seen:#?}"))
            .unwrap_or_else(|| panic!("{what}: stream ended after {seen:#?}"));
        if pred(&event) {
            return (event, seen);
        }
        seen.push(event);
    }
}

/// Every event that arrives within `window`.
async fn drain(client: &Client, window: Duration) -> Vec<ClientEvent> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, client.next_event()).await {
        seen.push(event);
    }
    seen
}

/// QR login: the first QR the client reports is scanned by `phone`.
async fn qr_login(handle: &SimHandle, client: &mut Client, phone: u64) {
    client.login().expect("login starts");
    let (qr, _) = until(client, "a QR", |e| matches!(e, ClientEvent::Qr(_))).await;
    let ClientEvent::Qr(qr) = qr else {
        unreachable!()
    };
    let body = serde_json::json!({ "qr": qr, "phone": phone.to_string() });
    let (status, text) = control(handle, "md/scan", Some(body)).await;
    assert_eq!(status, 200, "scan: {text}");
    until(client, "connected", |e| matches!(e, ClientEvent::Connected)).await;
}

fn user(phone: u64) -> String {
    format!("{phone}@s.whatsapp.net")
}

/// A text message event: (id, text, hash).
fn text_of(event: &ClientEvent) -> Option<(String, String, [u8; 32])> {
    match event {
        ClientEvent::Message(MessengerEvent::Message {
            id, message, hash, ..
        }) => Some((id.clone(), message.conversation.clone()?, *hash)),
        _ => None,
    }
}

/// Waits for the text `want` at `client`, acknowledges it and returns its id.
async fn receive_text(client: &Client, want: &str) -> String {
    let (event, _) = until(client, want, |e| {
        text_of(e).is_some_and(|(_, text, _)| text == want)
    })
    .await;
    let (id, _, hash) = text_of(&event).unwrap();
    assert_eq!(
        client.ack(&hash).await.ok(),
        Some(true),
        "{want} was pending"
    );
    id
}

/// Rows per table of `device`, read without taking its lease.
fn rows(url: &str, device: &str) -> Vec<(Table, usize)> {
    let options = OpenOptions {
        lease: false,
        ..OpenOptions::default()
    };
    let store = Store::open_postgres_with(url, device, &options).unwrap();
    store
        .transaction(|tx| -> wa_store::Result<Vec<(Table, usize)>> {
            Table::ALL
                .iter()
                .map(|&t| Ok((t, tx.raw_keys(t)?.len())))
                .collect()
        })
        .unwrap()
}

/// The public half of the identity in the client's store.
fn identity(client: &Client) -> Vec<u8> {
    use wa_signal::IdentityStore as _;
    client
        .store()
        .local_identity()
        .unwrap()
        .public_bytes()
        .to_vec()
}

fn count(rows: &[(Table, usize)], table: Table) -> usize {
    rows.iter()
        .find(|(t, _)| *t == table)
        .map_or(0, |(_, n)| *n)
}

/// The whole life of a PostgreSQL-backed client, on whatever runtime runs it.
async fn pair_talk_restart(url: &str) {
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let device = fresh_device("restart");
    let mut a = builder(&handle)
        .store(postgres(url, &device))
        .build()
        .unwrap();
    let mut b = builder(&handle).memory_store().build().unwrap();
    qr_login(&handle, &mut a, PHONE_A).await;
    qr_login(&handle, &mut b, PHONE_B).await;

    a.send_text(&user(PHONE_B), "a to b").await.expect("sent");
    receive_text(&b, "a to b").await;
    b.send_text(&user(PHONE_A), "b to a").await.expect("sent");
    receive_text(&a, "b to a").await;
    let stored = rows(url, &device);
    assert!(count(&stored, Table::Sessions) >= 1, "{stored:?}");

    // A goes down; B writes meanwhile (the server keeps it for A).
    a.shutdown().await;
    drop(a);
    let while_down = b
        .send_text(&user(PHONE_A), "while you were down")
        .await
        .expect("sent while A is down");

    // A new client on the same database and device: no pairing, no new prekey upload.
    let mut a = builder(&handle)
        .store(postgres(url, &device))
        .build()
        .unwrap();
    a.restore().expect("restore from PostgreSQL");
    let (_, seen) = until(&a, "restored", |e| matches!(e, ClientEvent::Connected)).await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, ClientEvent::Qr(_) | ClientEvent::PreKeysUploaded(_))),
        "{seen:#?}"
    );
    assert_eq!(devices(&handle).await.len(), 2, "nobody paired again");
    let mut texts: Vec<(String, String, [u8; 32])> = seen.iter().filter_map(text_of).collect();
    texts.extend(
        drain(&a, Duration::from_millis(1500))
            .await
            .iter()
            .filter_map(text_of),
    );
    let copies: Vec<_> = texts
        .iter()
        .filter(|(id, _, _)| *id == while_down)
        .collect();
    assert_eq!(copies.len(), 1, "exactly once: {texts:?}");
    assert_eq!(copies[0].1, "while you were down");
    assert_eq!(a.ack(&copies[0].2).await.ok(), Some(true));

    // The sessions survived: both directions still decrypt without a new pairing.
    a.send_text(&user(PHONE_B), "back again")
        .await
        .expect("sent");
    receive_text(&b, "back again").await;
    b.send_text(&user(PHONE_A), "welcome back")
        .await
        .expect("sent");
    receive_text(&a, "welcome back").await;
    let later = drain(&a, Duration::from_millis(500)).await;
    assert!(
        !later
            .iter()
            .filter_map(text_of)
            .any(|(id, _, _)| id == while_down),
        "not handed over twice: {later:#?}"
    );

    a.shutdown().await;
    b.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn postgres_client_restarts_on_a_current_thread_runtime() {
    let Some(url) = postgres_url() else {
        return;
    };
    pair_talk_restart(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_client_restarts_on_a_multi_thread_runtime() {
    let Some(url) = postgres_url() else {
        return;
    };
    pair_talk_restart(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_share_one_database_and_a_logout_erases_only_its_own() {
    let Some(url) = postgres_url() else {
        return;
    };
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let (dev_a, dev_b) = (fresh_device("shared-a"), fresh_device("shared-b"));
    let mut a = builder(&handle)
        .store(postgres(&url, &dev_a))
        .build()
        .unwrap();
    let mut b = builder(&handle)
        .store(postgres(&url, &dev_b))
        .build()
        .unwrap();
    qr_login(&handle, &mut a, PHONE_A).await;
    qr_login(&handle, &mut b, PHONE_B).await;
    a.send_text(&user(PHONE_B), "same database")
        .await
        .expect("sent");
    receive_text(&b, "same database").await;
    b.send_text(&user(PHONE_A), "other device")
        .await
        .expect("sent");
    receive_text(&a, "other device").await;
    let (rows_a, rows_b) = (rows(&url, &dev_a), rows(&url, &dev_b));
    for stored in [&rows_a, &rows_b] {
        assert!(count(stored, Table::Sessions) >= 1, "{stored:?}");
        assert!(count(stored, Table::PreKeys) > 700, "{stored:?}");
    }
    let identity_before = identity(&a);

    // A logs out: the phone no longer lists it, and none of its old rows are left (the
    // fresh unpaired device the client holds afterwards has a new identity and no prekeys).
    a.logout().await.expect("logout");
    let listed = devices(&handle).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let after = rows(&url, &dev_a);
    for table in [
        Table::Sessions,
        Table::PreKeys,
        Table::Identities,
        Table::DecryptBuffer,
        Table::DecryptPending,
        Table::LidToPn,
        Table::PnToLid,
    ] {
        assert_eq!(count(&after, table), 0, "{table:?} left: {after:?}");
    }
    assert_ne!(identity(&a), identity_before, "the old identity is gone");
    assert_eq!(rows(&url, &dev_b), rows_b, "B's rows untouched");
    b.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_second_client_for_the_same_device_gets_the_lease_error() {
    let Some(url) = postgres_url() else {
        return;
    };
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let device = fresh_device("lease");
    let first = builder(&handle)
        .store(postgres(&url, &device))
        .build()
        .unwrap();
    match builder(&handle).store(postgres(&url, &device)).build() {
        Err(ClientError::Store(wa_store::Error::LeaseHeld { device: d, holder })) => {
            assert_eq!(d, device);
            assert!(holder.contains(&std::process::id().to_string()), "{holder}");
        }
        other => panic!("second client: {other:?}"),
    }
    // Another device in the same database is free; the first one's lease ends with it.
    builder(&handle)
        .store(postgres(&url, &fresh_device("lease-other")))
        .build()
        .expect("another device");
    drop(first);
    builder(&handle)
        .store(postgres(&url, &device))
        .build()
        .expect("the lease ended with the first client");
    handle.shutdown().await;
}
