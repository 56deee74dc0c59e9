//! `wa serve` run as a user would (the built binary, with its in-process simulator): the API
//! key, every session route, QR codes, chats, contacts, groups, webhooks with HMAC and
//! retries, the event WebSocket, and the OpenAPI file checked against the running server.
//!
//! The shared set-up (the server, the webhook receiver, waiting helpers) is here; the tests are
//! in `sessions`, `chats`, `events` and `openapi`.

#[path = "../common/mod.rs"]
mod common;

mod chats;
mod events;
mod openapi;
mod sessions;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::Serve;
use hmac::{Hmac, Mac as _};
use serde_json::Value;
use sha2::Sha512;

const KEY: &str = "test-key-0123456789";
const STEP: Duration = Duration::from_secs(30);

fn start(extra: &[&str]) -> Serve {
    let serve = Serve::start(KEY, extra);
    let key_line = serve.banner.iter().find(|l| l.starts_with("api key: "));
    assert!(
        key_line.is_some_and(|line| !line.contains(KEY)),
        "a key given with --api-key is echoed: {key_line:?}"
    );
    serve
}

impl Serve {
    /// Waits (up to [`STEP`]) until the session reports `wanted`.
    async fn wait_until(&self, name: &str, wanted: &str) {
        self.wait_status(name, wanted, STEP).await;
    }

    /// Waits for the QR code and shows it (the simulated phone then scans it).
    async fn scan(&self, name: &str) -> String {
        self.wait_until(name, "SCAN_QR_CODE").await;
        let (status, qr) = self.get(&format!("/api/{name}/auth/qr?format=raw")).await;
        assert_eq!(status, StatusCode::OK, "{qr}");
        let value = qr["value"].as_str().unwrap().to_owned();
        self.wait_until(name, "WORKING").await;
        value
    }
}

/// What the webhook receiver saw.
#[derive(Default)]
struct Received {
    requests: Vec<(HeaderMap, Bytes)>,
    failures_left: u32,
}

async fn receive(
    State(received): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut received = received.lock().unwrap();
    received.requests.push((headers, body));
    if received.failures_left > 0 {
        received.failures_left -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn receiver(failures: u32) -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received {
        requests: Vec::new(),
        failures_left: failures,
    }));
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), received)
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

impl Serve {
    /// Polls `path` until `pred` holds for its JSON.
    async fn wait_for(&self, path: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let (_, value) = self.get(path).await;
            if pred(&value) {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: {path} gave {value}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn messages(&self, session: &str, chat: &str) -> Value {
        self.get(&format!("/api/{session}/chats/{chat}/messages"))
            .await
            .1
    }
}

fn events_of(received: &Arc<Mutex<Received>>, key: &str) -> Vec<Value> {
    received
        .lock()
        .unwrap()
        .requests
        .iter()
        .map(|(headers, body)| {
            assert_eq!(
                headers["x-webhook-hmac"].to_str().unwrap(),
                hmac_hex(key, body)
            );
            serde_json::from_slice(body).unwrap()
        })
        .collect()
}

async fn wait_event(
    received: &Arc<Mutex<Received>>,
    key: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        if let Some(event) = events_of(received, key).into_iter().find(|e| pred(e)) {
            return event;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what} event; got {:?}",
            events_of(received, key)
                .iter()
                .map(|e| e["event"].clone())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
