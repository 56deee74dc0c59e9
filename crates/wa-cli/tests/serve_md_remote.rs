//! `wa serve` MD sessions against a wa-sim server of the test's own (`--server`, so the server
//! outlives `wa serve` and `wa serve` outlives the server): a session pairs by QR, receives and
//! sends (the peer is a `wa_client::Client`); when the server restarts, the session logs in
//! again with backoff without pairing; with `--store postgres://...` a restarted `wa serve`
//! resumes the session from PostgreSQL (a message sent while it was down arrives); a logout
//! unlinks the device on the phone and leaves no row of it in the store.

mod common;

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wa_client::{Client, ClientEvent, MessengerEvent};
use wa_sim::{SimConfig, SimHandle, SimServer};
use wa_store::{OpenOptions, Store, Table};

use common::Serve;

const KEY: &str = "md-remote-key-0123456789";
const STEP: Duration = Duration::from_secs(40);
const PHONE_BOB: u64 = 15_550_000_707;

/// A session name no other run uses (PostgreSQL rows outlive a test run).
fn fresh_name(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{tag}{}x{nanos}", std::process::id())
}

/// `wa serve` on `sim` with `name` as an MD session, state in `data` (and `store` when given).
fn serve_on(sim: &SimHandle, data: &Path, name: &str, store: Option<&str>) -> Serve {
    let root = sim.md().trust_root();
    let root = format!("{}:{}", hex::encode(root.key), root.serial);
    let (ws, md_ws) = (sim.ws_url(), sim.md_ws_url());
    let mut args = vec![
        "--server",
        ws.as_str(),
        "--md-server",
        md_ws.as_str(),
        "--md-root",
        root.as_str(),
        "--md-session",
        name,
    ];
    if let Some(url) = store {
        args.extend(["--store", url]);
    }
    Serve::start_in(data, KEY, &args)
}

async fn control(sim: &SimHandle, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}/{path}", sim.control_url());
    let request = match body {
        Some(body) => reqwest::Client::new().post(url).json(&body),
        None => reqwest::Client::new().get(url),
    };
    let response = tokio::time::timeout(Duration::from_secs(10), request.send())
        .await
        .expect("control answers in time")
        .expect("control reachable");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// The devices the sim lists for `phone`.
async fn devices(sim: &SimHandle, phone: &str) -> Vec<Value> {
    let (status, body) = control(sim, &format!("md/devices?phone={phone}"), None).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

/// Pairs the serve session by QR: the test shows the code to the sim's phone itself (with
/// `--server` nobody else does). Returns the session's phone number.
async fn pair(serve: &Serve, sim: &SimHandle, name: &str, phone: u64) -> String {
    serve.wait_status(name, "SCAN_QR_CODE", STEP).await;
    let (status, qr) = serve.get(&format!("/api/{name}/auth/qr?format=raw")).await;
    assert_eq!(status, StatusCode::OK, "{qr}");
    let body = json!({ "qr": qr["value"], "phone": phone.to_string() });
    let (status, answer) = control(sim, "md/scan", Some(body)).await;
    assert_eq!(status, 200, "scan: {answer}");
    serve.wait_status(name, "WORKING", STEP).await;
    phone.to_string()
}

/// The peer: a client on the same sim, paired by QR as `PHONE_BOB`.
async fn peer(sim: &SimHandle) -> Client {
    let mut bob = Client::builder()
        .server_url(sim.md_ws_url())
        .trust_root(sim.md().trust_root())
        .memory_store()
        .build()
        .unwrap();
    bob.login().unwrap();
    let qr = loop {
        match next(&bob, "bob's QR").await {
            ClientEvent::Qr(qr) => break qr,
            _ => continue,
        }
    };
    let body = json!({ "qr": qr, "phone": PHONE_BOB.to_string() });
    let (status, answer) = control(sim, "md/scan", Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    while !matches!(next(&bob, "bob connected").await, ClientEvent::Connected) {}
    bob
}

async fn next(client: &Client, what: &str) -> ClientEvent {
    tokio::time::timeout(STEP, client.next_event())
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing in time"))
        .unwrap_or_else(|| panic!("{what}: stream ended"))
}

/// Waits until the peer receives `text`.
async fn peer_receives(bob: &Client, text: &str) {
    loop {
        if let ClientEvent::Message(MessengerEvent::Message { message, hash, .. }) =
            next(bob, text).await
        {
            if message.conversation.as_deref() == Some(text) {
                let _ = bob.ack(&hash).await;
                return;
            }
        }
    }
}

/// The bodies of the chat's messages the session recorded.
async fn session_texts(serve: &Serve, name: &str, chat: &str) -> Vec<String> {
    let (status, list) = serve
        .get(&format!("/api/{name}/chats/{chat}/messages?limit=100"))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array()
        .map(|l| {
            l.iter()
                .filter_map(|m| m["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the session recorded `text` from the peer; returns how many copies it holds.
async fn session_receives(serve: &Serve, name: &str, text: &str) -> usize {
    let chat = format!("{PHONE_BOB}@c.us");
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let texts = session_texts(serve, name, &chat).await;
        let copies = texts.iter().filter(|t| *t == text).count();
        if copies > 0 {
            return copies;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{text:?} never arrived; the chat holds {texts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn send_to_peer(serve: &Serve, name: &str, text: &str) {
    let body = json!({"session": name, "chatId": format!("{PHONE_BOB}@c.us"), "text": text});
    let (status, sent) = serve.post("/api/sendText", body).await;
    assert!(status.is_success(), "{status} {sent}");
}

/// A round trip both ways between the session and the peer.
async fn talk(serve: &Serve, name: &str, bob: &Client, phone: &str, tag: &str) {
    bob.send_text(
        &format!("{phone}@s.whatsapp.net"),
        &format!("to serve {tag}"),
    )
    .await
    .expect("bob sends");
    assert_eq!(
        session_receives(serve, name, &format!("to serve {tag}")).await,
        1
    );
    send_to_peer(serve, name, &format!("from serve {tag}")).await;
    peer_receives(bob, &format!("from serve {tag}")).await;
}

/// Rows per table of a device in `store`, without taking its lease.
fn rows_of(store: &Store) -> Vec<(Table, usize)> {
    store
        .transaction(|tx| -> wa_store::Result<Vec<(Table, usize)>> {
            Table::ALL
                .iter()
                .map(|&t| Ok((t, tx.raw_keys(t)?.len())))
                .collect()
        })
        .unwrap()
}

fn no_lease() -> OpenOptions {
    OpenOptions {
        lease: false,
        ..OpenOptions::default()
    }
}

/// Restarts the sim (its state kept, every connection cut) and waits for the session to come
/// back to `WORKING` by itself, never asking for a QR.
async fn restart_sim(sim: SimHandle, serve: &Serve, name: &str) -> SimHandle {
    let sim = sim.restart().await.expect("sim restarts");
    let started = tokio::time::Instant::now();
    let deadline = started + STEP;
    let mut left_working = false;
    loop {
        let status = serve.status(name).await;
        assert!(
            status != "SCAN_QR_CODE" && status != "FAILED" && status != "STOPPED",
            "{name} went {status} after the server restart"
        );
        left_working |= status != "WORKING";
        // The reconnect is quick; seeing STARTING is not guaranteed, a live link again is.
        if status == "WORKING" && (left_working || started.elapsed() > Duration::from_secs(3)) {
            return sim;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} stayed {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn md_session_reconnects_after_a_server_restart_and_logout_erases_its_sqlite_rows() {
    let sim = SimServer::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let name = "alice";
    let serve = serve_on(&sim, data.path(), name, None);
    let phone = pair(&serve, &sim, name, 15_550_000_808).await;
    let bob = peer(&sim).await;
    talk(&serve, name, &bob, &phone, "before").await;

    let sim = restart_sim(sim, &serve, name).await;
    // The peer reconnects by itself too; wait until it is back before talking.
    while !matches!(next(&bob, "bob back").await, ClientEvent::Connected) {}
    talk(&serve, name, &bob, &phone, "after the restart").await;
    assert_eq!(devices(&sim, &phone).await.len(), 1, "paired once");

    // Logout: the phone no longer lists the device, and its file holds no row of it.
    let (status, answer) = serve
        .post(&format!("/api/sessions/{name}/logout"), json!({}))
        .await;
    assert!(status.is_success(), "{status} {answer}");
    assert!(devices(&sim, &phone).await.is_empty(), "unlinked");
    serve.wait_status(name, "STOPPED", STEP).await;
    let file = data.path().join(format!("{name}.md.sqlite"));
    let store = Store::open_sqlite_with(&file, &no_lease()).unwrap();
    let left = rows_of(&store);
    assert!(left.iter().all(|(_, n)| *n == 0), "rows left: {left:?}");
    drop(serve);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn md_session_on_postgres_resumes_after_wa_serve_restarts() {
    let Ok(url) = std::env::var("WA_TEST_POSTGRES_URL") else {
        eprintln!("skipped: WA_TEST_POSTGRES_URL is not set (`cargo xtask ci` sets it)");
        return;
    };
    let sim = SimServer::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let name = fresh_name("pg");
    let device = format!("wa-cli/{name}");
    let serve = serve_on(&sim, data.path(), &name, Some(&url));
    let phone = pair(&serve, &sim, &name, 15_550_000_909).await;
    let bob = peer(&sim).await;
    talk(&serve, &name, &bob, &phone, "one").await;
    // Nothing in the data directory but the info file: the device is in PostgreSQL.
    assert!(!data.path().join(format!("{name}.md.sqlite")).exists());
    let pg = Store::open_postgres_with(&url, &device, &no_lease()).unwrap();
    let stored = rows_of(&pg);
    let count =
        |rows: &[(Table, usize)], t: Table| rows.iter().find(|r| r.0 == t).map_or(0, |r| r.1);
    assert!(count(&stored, Table::Sessions) >= 1, "{stored:?}");

    // The server restarts under it: the session comes back by itself.
    let sim = restart_sim(sim, &serve, &name).await;
    while !matches!(next(&bob, "bob back").await, ClientEvent::Connected) {}
    talk(&serve, &name, &bob, &phone, "two").await;

    // `wa serve` goes down (killed); the peer writes meanwhile; a new `wa serve` on the same
    // database resumes the session without a QR, and the message arrives once.
    drop(serve);
    bob.send_text(&format!("{phone}@s.whatsapp.net"), "while serve was down")
        .await
        .expect("bob sends");
    let serve = serve_on(&sim, data.path(), &name, Some(&url));
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let status = serve.status(&name).await;
        assert!(
            status != "SCAN_QR_CODE" && status != "FAILED",
            "restarted session went {status}"
        );
        if status == "WORKING" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "stayed {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        session_receives(&serve, &name, "while serve was down").await,
        1
    );
    talk(&serve, &name, &bob, &phone, "three").await;
    assert_eq!(devices(&sim, &phone).await.len(), 1, "paired once");

    // Logout: unlinked, and no row of the device is left in PostgreSQL.
    let (status, answer) = serve
        .post(&format!("/api/sessions/{name}/logout"), json!({}))
        .await;
    assert!(status.is_success(), "{status} {answer}");
    assert!(devices(&sim, &phone).await.is_empty(), "unlinked");
    let left = rows_of(&pg);
    assert!(left.iter().all(|(_, n)| *n == 0), "rows left: {left:?}");
    drop(serve);
    sim.shutdown().await;
}
