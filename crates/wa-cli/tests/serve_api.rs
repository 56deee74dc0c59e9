//! `wa serve` run as a user would (the built binary, with its in-process simulator): the API
//! key, every session route, QR codes, chats, contacts, groups, webhooks with HMAC and
//! retries, the event WebSocket, and the OpenAPI file checked against the running server.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use futures_util::StreamExt as _;
use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};
use sha2::Sha512;

const WA: &str = env!("CARGO_BIN_EXE_wa");
const KEY: &str = "test-key-0123456789";
const STEP: Duration = Duration::from_secs(30);

/// A running `wa serve`, killed on drop.
struct Serve {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Serve {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(WA)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            KEY,
            "--scan-delay",
            "0.2",
        ])
        .args(extra)
        .env("NO_COLOR", "1")
        .env("WA_DATA_DIR", data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("wa serve starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("wa serve listening on ") {
            base = Some(rest.trim_end_matches('/').to_owned());
        }
        if line.starts_with("api key: ") {
            assert_eq!(line, format!("api key: {KEY}"));
            break;
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    std::mem::forget(data);
    Serve {
        child,
        base: base.expect("the listening line"),
        http: reqwest::Client::new(),
    }
}

impl Serve {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(path))
            .header("X-Api-Key", KEY)
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method, self.url(path))
            .header("X-Api-Key", KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }

    async fn status(&self, name: &str) -> String {
        let (_, session) = self.get(&format!("/api/sessions/{name}")).await;
        session["status"].as_str().unwrap_or_default().to_owned()
    }

    async fn wait_status(&self, name: &str, wanted: &str) {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let status = self.status(name).await;
            if status == wanted {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "session {name} stayed {status}, expected {wanted}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the QR code and shows it (the simulated phone then scans it).
    async fn scan(&self, name: &str) -> String {
        self.wait_status(name, "SCAN_QR_CODE").await;
        let (status, qr) = self.get(&format!("/api/{name}/auth/qr?format=raw")).await;
        assert_eq!(status, StatusCode::OK, "{qr}");
        let value = qr["value"].as_str().unwrap().to_owned();
        self.wait_status(name, "WORKING").await;
        value
    }
}

#[tokio::test]
async fn every_api_request_needs_the_key_and_a_refusal_leaks_nothing() {
    let serve = start(&[]);
    let client = reqwest::Client::new();
    for path in [
        "/api/sessions",
        "/api/sessions/default",
        "/api/default/auth/qr",
        "/api/default/chats",
        "/api/contacts/check-exists?phone=1&session=default",
        "/api/docs/openapi.yaml",
    ] {
        for key in [None, Some("wrong"), Some(&KEY[..KEY.len() - 1]), Some("")] {
            let mut request = client.get(serve.url(path));
            if let Some(key) = key {
                request = request.header("X-Api-Key", key);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{path} with {key:?}");
            let body = response.text().await.unwrap();
            assert!(!body.contains(KEY) && !body.contains("default") && !body.contains("@c.us"));
            assert_eq!(
                serde_json::from_str::<Value>(&body).unwrap()["statusCode"],
                401
            );
        }
    }
    // POSTs too, and the body is not acted on.
    let response = client
        .post(serve.url("/api/sessions"))
        .json(&json!({"name": "intruder"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (_, sessions) = serve.get("/api/sessions?all=true").await;
    assert!(!sessions.to_string().contains("intruder"));
    // The WebSocket: the key in the query (browsers cannot set headers there), or refused.
    let ws = serve.url("/ws").replace("http://", "ws://");
    assert!(tokio_tungstenite::connect_async(&ws).await.is_err());
    assert!(
        tokio_tungstenite::connect_async(format!("{ws}?x-api-key=nope"))
            .await
            .is_err()
    );
    assert!(
        tokio_tungstenite::connect_async(format!("{ws}?x-api-key={KEY}"))
            .await
            .is_ok()
    );
    // The web client's page is public and holds no key.
    let page = client.get(serve.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(!page.text().await.unwrap().contains(KEY));
}

#[tokio::test]
async fn sessions_start_scan_stop_restart_log_out_and_delete() {
    let serve = start(&[]);
    // The default session starts at launch and waits for a scan.
    serve.wait_status("default", "SCAN_QR_CODE").await;
    let (status, me) = serve.get("/api/sessions/default/me").await;
    assert_eq!((status, me), (StatusCode::OK, Value::Null));
    // The QR code as PNG, as JSON with base64, and raw; showing it lets the phone scan it.
    let png = serve
        .http
        .get(serve.url("/api/default/auth/qr"))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    let (_, as_json) = serve.get("/api/default/auth/qr?format=raw").await;
    let qr = as_json["value"].as_str().unwrap();
    assert_eq!(qr.split(',').count(), 3, "ref,publicKey,clientId: {qr}");
    serve.wait_status("default", "WORKING").await;
    let (_, me) = serve.get("/api/sessions/default/me").await;
    assert_eq!(me["id"], "15550100001@c.us");
    assert_eq!(me["pushName"], "Sim Phone");
    let (status, body) = serve.get("/api/default/auth/qr").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // A second session, created stopped: listed only with all=true.
    let (status, created) = serve
        .post("/api/sessions", json!({"name": "second", "start": false}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["status"], "STOPPED");
    assert_eq!(created["name"], "second");
    let (_, running) = serve.get("/api/sessions").await;
    let names: Vec<_> = running
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("default")]);
    let (_, all) = serve.get("/api/sessions?all=true").await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (status, _) = serve.post("/api/sessions", json!({"name": "second"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = serve.post("/api/sessions", json!({"name": "../x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Start it: it logs in as the simulator's second phone.
    let (status, _) = serve.post("/api/sessions/second/start", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    serve.scan("second").await;
    let (_, me) = serve.get("/api/sessions/second/me").await;
    assert_eq!(me["id"], "15550100002@c.us");

    // PUT replaces the config.
    let (status, updated) = serve
        .send(
            reqwest::Method::PUT,
            "/api/sessions/second",
            json!({"config": {"metadata": {"team": "qa"}, "webhooks": []}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["config"]["metadata"]["team"], "qa");

    // Stop keeps nothing running; restart comes back (in-memory login: a new QR).
    let (_, stopped) = serve.post("/api/sessions/second/stop", json!({})).await;
    assert_eq!(stopped["status"], "STOPPED");
    let (_, _) = serve.post("/api/sessions/second/restart", json!({})).await;
    serve.scan("second").await;

    // Log out: STOPPED, no account.
    let (status, out) = serve.post("/api/sessions/second/logout", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "STOPPED");
    assert_eq!(out["me"], Value::Null);
    let (status, _) = serve.post("/api/sessions/second/logout", json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Delete: gone.
    let response = serve
        .http
        .delete(serve.url("/api/sessions/second"))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _) = serve.get("/api/sessions/second").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = serve.post("/api/sessions/nope/start", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn chats_contacts_existence_and_groups_come_from_the_account() {
    let serve = start(&[]);
    serve.scan("default").await;
    // The chat list arrives shortly after login.
    let deadline = tokio::time::Instant::now() + STEP;
    let chats = loop {
        let (_, chats) = serve.get("/api/default/chats").await;
        if chats.as_array().is_some_and(|c| c.len() >= 3) {
            break chats;
        }
        assert!(tokio::time::Instant::now() < deadline, "no chats: {chats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ids: Vec<_> = chats
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "15550100002@c.us",
            "15550100003@c.us",
            "15550100002-1600000000@g.us"
        ]
    );
    assert_eq!(chats[0]["name"], "Alice Example");
    assert_eq!(chats[0]["unreadCount"], 2);
    assert_eq!(chats[2]["isGroup"], true);
    let (_, overview) = serve.get("/api/default/chats/overview?limit=2").await;
    assert_eq!(overview.as_array().unwrap().len(), 2);
    assert_eq!(overview[0]["unreadCount"], 2);

    let (_, contacts) = serve.get("/api/contacts/all?session=default").await;
    let alice = contacts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "15550100002@c.us")
        .unwrap();
    assert_eq!(alice["name"], "Alice Example");
    assert_eq!(alice["pushname"], "alice");
    assert_eq!(alice["number"], "15550100002");
    let (status, bob) = serve
        .get("/api/contacts?session=default&contactId=15550100003")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bob["name"], "Bob Example");

    let (_, exists) = serve
        .get("/api/contacts/check-exists?session=default&phone=%2B1%20555%200100003")
        .await;
    assert_eq!(
        exists,
        json!({"numberExists": true, "chatId": "15550100003@c.us"})
    );
    let (_, missing) = serve
        .get("/api/contacts/check-exists?session=default&phone=19999999999")
        .await;
    assert_eq!(missing["numberExists"], false);

    let group = "15550100002-1600000000@g.us";
    let (status, metadata) = serve.get(&format!("/api/default/groups/{group}")).await;
    assert_eq!(status, StatusCode::OK, "{metadata}");
    assert_eq!(metadata["subject"], "Sim Group");
    let (_, participants) = serve
        .get(&format!("/api/default/groups/{group}/participants"))
        .await;
    let roles: Vec<_> = participants
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["role"].as_str().unwrap()))
        .collect();
    assert!(roles.contains(&("15550100002@c.us", "superadmin")));
    assert!(roles.contains(&("15550100001@c.us", "participant")));
    // Only admins see the invite code.
    let (status, _) = serve
        .get(&format!("/api/default/groups/{group}/invite-code"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = serve.get("/api/default/groups/nope@g.us").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
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

#[tokio::test]
async fn webhooks_are_signed_filtered_and_retried() {
    let serve = start(&["--session", "idle"]);
    let (signed_url, signed) = receiver(0).await;
    let (flaky_url, flaky) = receiver(2).await;
    let (down_url, down) = receiver(u32::MAX).await;
    let config = json!({"webhooks": [
        {"url": signed_url, "events": ["session.status"], "hmac": {"key": "hook-secret"}},
        {"url": flaky_url, "events": ["*"], "retries": {"delaySeconds": 0.05, "attempts": 3}},
        {"url": down_url, "events": ["session.status"], "retries": {"delaySeconds": 0.05, "attempts": 2}},
    ]});
    let (status, _) = serve
        .post("/api/sessions", json!({"name": "hooked", "config": config}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    serve.scan("hooked").await;

    // Every status change reached the signed receiver, in order, with a valid HMAC.
    let deadline = tokio::time::Instant::now() + STEP;
    let statuses = loop {
        let statuses: Vec<String> = signed
            .lock()
            .unwrap()
            .requests
            .iter()
            .map(|(headers, body)| {
                assert_eq!(headers["x-webhook-hmac-algorithm"], "sha512");
                assert_eq!(
                    headers["x-webhook-hmac"].to_str().unwrap(),
                    hmac_hex("hook-secret", body)
                );
                assert_eq!(headers["content-type"], "application/json");
                let event: Value = serde_json::from_slice(body).unwrap();
                assert_eq!(event["event"], "session.status");
                assert_eq!(event["session"], "hooked");
                event["payload"]["status"].as_str().unwrap().to_owned()
            })
            .collect();
        if statuses.len() >= 3 {
            break statuses;
        }
        assert!(tokio::time::Instant::now() < deadline, "{statuses:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["SCAN_QR_CODE", "STARTING", "WORKING"],
        "{statuses:?}"
    );

    // Deliveries settle (retries 50 ms apart).
    tokio::time::sleep(Duration::from_millis(800)).await;
    // The flaky receiver answered 500 twice: two extra tries, each a copy of an earlier
    // request (same request id, same body); no event was lost.
    {
        let flaky = flaky.lock().unwrap();
        let mut by_id: std::collections::BTreeMap<String, Vec<&Bytes>> = Default::default();
        for (headers, body) in &flaky.requests {
            assert!(headers.get("x-webhook-hmac").is_none());
            let id = headers["x-webhook-request-id"].to_str().unwrap().to_owned();
            by_id.entry(id).or_default().push(body);
        }
        for copies in by_id.values() {
            assert!(copies.iter().all(|b| b == &copies[0]));
        }
        assert_eq!(flaky.requests.len(), by_id.len() + 2);
        let events: Vec<Value> = by_id
            .values()
            .map(|c| serde_json::from_slice(c[0]).unwrap())
            .collect();
        let statuses = events
            .iter()
            .filter(|e| e["event"] == "session.status")
            .count();
        assert_eq!(statuses, 3);
    }
    // A receiver that always fails gets 1 + attempts tries per event, then no more.
    assert_eq!(down.lock().unwrap().requests.len(), 3 * 3);
}

#[tokio::test]
async fn the_websocket_streams_filtered_events() {
    let serve = start(&["--session", "idle"]);
    let ws = serve.url("/ws").replace("http://", "ws://");
    let (mut stream, _) = tokio_tungstenite::connect_async(format!(
        "{ws}?x-api-key={KEY}&session=live&events=session.status"
    ))
    .await
    .unwrap();
    // Events of another session are filtered out.
    serve.post("/api/sessions", json!({"name": "other"})).await;
    serve.post("/api/sessions", json!({"name": "live"})).await;
    serve.scan("live").await;
    let mut statuses = Vec::new();
    while statuses.len() < 3 {
        let message = tokio::time::timeout(STEP, stream.next())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        let event: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        assert_eq!(event["session"], "live");
        assert_eq!(event["event"], "session.status");
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
        assert!(event["timestamp"].as_u64().unwrap() > 1_600_000_000_000);
        statuses.push(event["payload"]["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses, ["STARTING", "SCAN_QR_CODE", "WORKING"]);
}

/// The `paths:` of the OpenAPI file with their methods.
fn openapi_operations(yaml: &str) -> Vec<(String, String)> {
    let mut operations = Vec::new();
    let mut in_paths = false;
    let mut path = None;
    for line in yaml.lines() {
        if line == "paths:" {
            in_paths = true;
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line
            .strip_prefix("  /")
            .and_then(|rest| rest.strip_suffix(':'))
        {
            path = Some(format!("/{p}"));
        } else if let Some(method) = line
            .strip_prefix("    ")
            .and_then(|rest| rest.strip_suffix(':'))
            .filter(|m| ["get", "post", "put", "delete"].contains(m))
        {
            operations.push((method.to_owned(), path.clone().unwrap()));
        }
    }
    operations
}

#[tokio::test]
async fn the_openapi_file_describes_the_running_server() {
    let serve = start(&[]);
    let response = serve
        .http
        .get(serve.url("/api/docs/openapi.yaml"))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let yaml = response.text().await.unwrap();
    assert!(yaml.starts_with("openapi: 3."));
    let operations = openapi_operations(&yaml);
    // The WAHA routes the issue names are all described...
    for (method, path) in [
        ("get", "/api/sessions"),
        ("post", "/api/sessions"),
        ("get", "/api/sessions/{name}"),
        ("put", "/api/sessions/{name}"),
        ("delete", "/api/sessions/{name}"),
        ("post", "/api/sessions/{name}/start"),
        ("post", "/api/sessions/{name}/stop"),
        ("post", "/api/sessions/{name}/restart"),
        ("post", "/api/sessions/{name}/logout"),
        ("get", "/api/sessions/{name}/me"),
        ("get", "/api/{session}/auth/qr"),
        ("get", "/api/{session}/chats"),
        ("get", "/api/{session}/chats/{chatId}/messages"),
        ("get", "/api/contacts/check-exists"),
    ] {
        assert!(
            operations.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path} is not in the OpenAPI file"
        );
    }
    // ...and every described operation exists on the server: with the key it never hits the
    // fallback ("no such route"), without it is refused.
    for (method, path) in &operations {
        let concrete = path
            .replace("{name}", "nobody")
            .replace("{session}", "nobody")
            .replace("{chatId}", "1@c.us")
            .replace("{id}", "1@g.us");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        if concrete == "/ws" {
            continue;
        }
        let response = serve
            .http
            .request(method.clone(), serve.url(&concrete))
            .header("X-Api-Key", KEY)
            .json(&json!({"name": "from-openapi-check", "start": false, "session": "nobody", "chatId": "1@c.us"}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("no such route") && status != 405,
            "{method} {concrete}: {status} {body}"
        );
        let refused = serve
            .http
            .request(method, serve.url(&concrete))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{concrete}");
    }
}
