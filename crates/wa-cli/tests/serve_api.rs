//! `wa serve` run as a user would (the built binary, with its in-process simulator): the API
//! key, every session route, QR codes, chats, contacts, groups, webhooks with HMAC and
//! retries, the event WebSocket, and the OpenAPI file checked against the running server.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::Serve;
use futures_util::StreamExt as _;
use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};
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
    serve.wait_until("default", "SCAN_QR_CODE").await;
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
    serve.wait_until("default", "WORKING").await;
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
    assert_eq!(overview[0]["lastMessage"]["body"], "I'll bring the slides");
    // The seeded history, newest first, in WAHA's shape.
    let (_, messages) = serve
        .get("/api/default/chats/15550100003@c.us/messages?limit=10")
        .await;
    let summary: Vec<(bool, &str, &str)> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["fromMe"].as_bool().unwrap(),
                m["body"].as_str().unwrap(),
                m["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (true, "All green", "true_15550100003@c.us_3EB0SEED0B2"),
            (
                false,
                "Did the build pass?",
                "false_15550100003@c.us_SEED0B1"
            ),
        ]
    );
    let (_, page) = serve
        .get("/api/default/chats/15550100002@c.us/messages?limit=1&offset=1")
        .await;
    assert_eq!(page[0]["body"], "Yes! 12:30 at the usual place");
    assert_eq!(page.as_array().unwrap().len(), 1);

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
    let (status, _) = serve
        .get("/api/default/groups/15550100009-1600000000@g.us")
        .await;
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

    // Deliveries settle (retries 50 ms apart): the always-failing receiver reaches its
    // 3 tries × 3 events, and nothing more comes after that.
    let deadline = tokio::time::Instant::now() + STEP;
    while down.lock().unwrap().requests.len() < 9 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "retries stopped early"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
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
            .replace("{chatId}", "15550100009@c.us")
            .replace("{id}", "1@g.us")
            .replace("{messageId}", "true_1@c.us_X");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        // The Swagger UI page holds no secrets: a browser opens it without the key (the spec
        // and every request it makes need the key).
        if concrete == "/ws" || concrete == "/api/docs" {
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

const ECHO: &str = "15550109999@c.us";
const SIM_PHONE: &str = "15550100001@c.us";
const ALICE: &str = "15550100002@c.us";

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

#[tokio::test]
async fn texts_to_the_echo_contact_get_a_reply_read_ticks_and_webhook_events() {
    let serve = start(&[]);
    let (hook, received) = receiver(0).await;
    let config = json!({"webhooks": [{
        "url": hook,
        "events": ["message", "message.any", "message.ack", "presence.update"],
        "hmac": {"key": "k2"},
    }]});
    let (status, _) = serve
        .send(
            reqwest::Method::PUT,
            "/api/sessions/default",
            json!({ "config": config }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    serve.scan("default").await;
    serve
        .post("/api/sessions", json!({"name": "idle", "start": false}))
        .await;

    let (status, sent) = serve
        .post(
            "/api/sendText",
            json!({"session": "default", "chatId": ECHO, "text": "ping"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let id = sent["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with(&format!("true_{ECHO}_")), "{id}");
    assert_eq!(sent["fromMe"], true);
    assert_eq!(sent["from"], SIM_PHONE);
    assert_eq!(sent["to"], ECHO);
    assert_eq!(sent["body"], "ping");
    assert!(sent["ack"].as_i64().unwrap() >= 1, "{sent}");

    // The echo contact reads it (READ ack) and answers with the same text.
    let reply = wait_event(&received, "k2", "message", |e| e["event"] == "message").await;
    assert_eq!(reply["session"], "default");
    assert_eq!(reply["me"]["id"], SIM_PHONE);
    assert_eq!(reply["payload"]["from"], ECHO);
    assert_eq!(reply["payload"]["fromMe"], false);
    assert_eq!(reply["payload"]["body"], "ping");
    assert!(
        reply["payload"]["id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("false_{ECHO}_"))
    );
    let read = wait_event(&received, "k2", "message.ack READ", |e| {
        e["event"] == "message.ack" && e["payload"]["ack"] == 3
    })
    .await;
    assert_eq!(read["payload"]["id"], id.as_str());
    assert_eq!(read["payload"]["ackName"], "READ");
    // message.any saw both ours and theirs (each delivery is its own request: they may land
    // in any order, after the READ ack too).
    for from_me in [true, false] {
        wait_event(&received, "k2", "message.any", |e| {
            e["event"] == "message.any" && e["payload"]["fromMe"] == from_me
        })
        .await;
    }
    // It typed before answering.
    let typing = wait_event(&received, "k2", "presence.update", |e| {
        e["event"] == "presence.update"
    })
    .await;
    assert_eq!(typing["payload"]["id"], ECHO);

    // Reading: the chat holds both, newest first, ours with its READ ack.
    let messages = serve.messages("default", ECHO).await;
    let list = messages.as_array().unwrap();
    assert_eq!(list.len(), 2, "{messages}");
    let ours = list.iter().find(|m| m["id"] == id.as_str()).unwrap();
    assert_eq!(ours["ack"], 3);
    assert_eq!(ours["ackName"], "READ");
    let (_, overview) = serve.get("/api/default/chats/overview").await;
    let echo = overview
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == ECHO)
        .unwrap();
    assert_eq!(echo["name"], "Echo");
    assert_eq!(echo["lastMessage"]["body"], "ping");
    assert_eq!(echo["unreadCount"], 1);
    let (status, _) = serve
        .post(
            "/api/sendSeen",
            json!({"session": "default", "chatId": ECHO}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, overview) = serve.get("/api/default/chats/overview").await;
    assert!(
        overview
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == ECHO && c["unreadCount"] == 0)
    );

    // Sending needs a WORKING session and a text.
    let (status, _) = serve
        .post(
            "/api/sendText",
            json!({"session": "idle", "chatId": ECHO, "text": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = serve
        .post(
            "/api/sendText",
            json!({"session": "default", "chatId": ECHO}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn two_sessions_exchange_replies_media_locations_cards_receipts_and_typing() {
    let serve = start(&["--session", "default", "--session", "alice"]);
    serve.scan("default").await;
    serve.scan("alice").await;
    let (_, me) = serve.get("/api/sessions/alice/me").await;
    assert_eq!(me["id"], ALICE);

    // A text, read by Alice: blue ticks at the sender.
    let (_, sent) = serve
        .post(
            "/api/sendText",
            json!({"chatId": ALICE, "text": "hi alice"}),
        )
        .await;
    let sent_id = sent["id"].as_str().unwrap().to_owned();
    let inbox = serve
        .wait_for(
            &format!("/api/alice/chats/{SIM_PHONE}/messages"),
            "Alice gets the text",
            |m| m[0]["body"] == "hi alice",
        )
        .await;
    let received = &inbox[0];
    assert_eq!(received["fromMe"], false);
    assert_eq!(received["from"], SIM_PHONE);
    assert_eq!(received["to"], ALICE);
    serve
        .post(
            "/api/sendSeen",
            json!({"session": "alice", "chatId": SIM_PHONE}),
        )
        .await;
    serve
        .wait_for(
            &format!("/api/default/chats/{ALICE}/messages"),
            "the READ ack",
            |m| {
                m.as_array().is_some_and(|l| {
                    l.iter()
                        .any(|x| x["id"] == sent_id.as_str() && x["ack"] == 3)
                })
            },
        )
        .await;

    // A reply quotes the message.
    let (status, reply) = serve
        .post(
            "/api/sendText",
            json!({"session": "alice", "chatId": SIM_PHONE, "text": "hi back", "reply_to": received["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let bare_id = sent_id.rsplit('_').next().unwrap().to_owned();
    serve
        .wait_for(
            &format!("/api/default/chats/{ALICE}/messages"),
            "the reply",
            |m| m[0]["body"] == "hi back" && m[0]["replyTo"]["id"] == bare_id.as_str(),
        )
        .await;

    // An image as base64 arrives with media served decrypted by the receiver's server.
    let image: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (status, sent) = serve
        .post(
            "/api/sendImage",
            json!({"chatId": ALICE, "caption": "a picture", "file": {
                "mimetype": "image/png", "filename": "p.png",
                "data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &image),
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["hasMedia"], true);
    let inbox = serve
        .wait_for(
            &format!("/api/alice/chats/{SIM_PHONE}/messages"),
            "the image",
            |m| m[0]["hasMedia"] == true,
        )
        .await;
    assert_eq!(inbox[0]["body"], "a picture");
    assert_eq!(inbox[0]["type"], "image");
    assert_eq!(inbox[0]["media"]["mimetype"], "image/png");
    let url = inbox[0]["media"]["url"].as_str().unwrap();
    let downloaded = serve
        .http
        .get(serve.url(url))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.headers()["content-type"], "image/png");
    assert_eq!(downloaded.bytes().await.unwrap().as_ref(), image.as_slice());
    // The sender serves its own copy too.
    let own = serve
        .http
        .get(serve.url(sent["media"]["url"].as_str().unwrap()))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(own.bytes().await.unwrap().as_ref(), image.as_slice());

    // A document by URL: the server fetches it.
    let document = b"%PDF-1.4 not really a pdf".to_vec();
    let served = document.clone();
    let files = Router::new().route(
        "/doc.pdf",
        axum::routing::get(move || {
            let served = served.clone();
            async move { served }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let files_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, files).await });
    let (status, sent) = serve
        .post(
            "/api/sendFile",
            json!({"chatId": ALICE, "file": {
                "mimetype": "application/pdf", "filename": "doc.pdf",
                "url": format!("http://{files_addr}/doc.pdf"),
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let inbox = serve
        .wait_for(
            &format!("/api/alice/chats/{SIM_PHONE}/messages"),
            "the document",
            |m| m[0]["type"] == "document",
        )
        .await;
    assert_eq!(inbox[0]["media"]["filename"], "doc.pdf");
    let got = serve
        .http
        .get(serve.url(inbox[0]["media"]["url"].as_str().unwrap()))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), document.as_slice());
    let (status, _) = serve
        .post(
            "/api/sendFile",
            json!({"chatId": ALICE, "file": {"url": format!("http://{files_addr}/missing")}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A voice note and a video, also by base64.
    for (route, mimetype, kind) in [
        ("sendVoice", "audio/ogg; codecs=opus", "ptt"),
        ("sendVideo", "video/mp4", "video"),
    ] {
        let bytes: Vec<u8> = route.bytes().cycle().take(4000).collect();
        let (status, sent) = serve
            .post(
                &format!("/api/{route}"),
                json!({"chatId": ALICE, "file": {"mimetype": mimetype,
                    "data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes)}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{route}: {sent}");
        let inbox = serve
            .wait_for(
                &format!("/api/alice/chats/{SIM_PHONE}/messages"),
                route,
                |m| m[0]["type"] == kind,
            )
            .await;
        assert_eq!(inbox[0]["media"]["mimetype"], mimetype);
        let got = serve
            .http
            .get(serve.url(inbox[0]["media"]["url"].as_str().unwrap()))
            .header("X-Api-Key", KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.bytes().await.unwrap().as_ref(),
            bytes.as_slice(),
            "{route}"
        );
    }

    // Bigger than axum's default 2 MB body limit once in base64.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let (status, sent) = serve
        .post(
            "/api/sendFile",
            json!({"chatId": ALICE, "file": {
                "mimetype": "application/octet-stream", "filename": "big.bin",
                "data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &big),
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let inbox = serve
        .wait_for(
            &format!("/api/alice/chats/{SIM_PHONE}/messages"),
            "the big file",
            |m| m[0]["media"]["filename"] == "big.bin",
        )
        .await;
    let got = serve
        .http
        .get(serve.url(inbox[0]["media"]["url"].as_str().unwrap()))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().len(), big.len());

    // A location and a contact card.
    let (status, _) = serve
        .post(
            "/api/sendLocation",
            json!({"chatId": ALICE, "latitude": 52.37, "longitude": 4.89, "title": "Dam"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let inbox = serve
        .wait_for(
            &format!("/api/alice/chats/{SIM_PHONE}/messages"),
            "the location",
            |m| m[0]["type"] == "location",
        )
        .await;
    assert_eq!(inbox[0]["location"]["latitude"], 52.37);
    assert_eq!(inbox[0]["location"]["name"], "Dam");
    let (status, _) = serve
        .post(
            "/api/sendContactVcard",
            json!({"chatId": ALICE, "contacts": [{"fullName": "Bob Example", "phoneNumber": "+1 555 0100003"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let inbox = serve
        .wait_for(
            &format!("/api/alice/chats/{SIM_PHONE}/messages"),
            "the card",
            |m| m[0]["type"] == "vcard",
        )
        .await;
    let card = inbox[0]["vCards"][0].as_str().unwrap();
    assert!(
        card.contains("FN:Bob Example") && card.contains("waid=15550100003"),
        "{card}"
    );

    // Typing shows at the other side.
    let ws = serve.url("/ws").replace("http://", "ws://");
    let (mut stream, _) = tokio_tungstenite::connect_async(format!(
        "{ws}?x-api-key={KEY}&session=alice&events=presence.update"
    ))
    .await
    .unwrap();
    let (status, _) = serve
        .post("/api/startTyping", json!({"chatId": ALICE}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let event = tokio::time::timeout(STEP, stream.next())
        .await
        .expect("a presence event")
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_str(event.to_text().unwrap()).unwrap();
    assert_eq!(event["payload"]["id"], SIM_PHONE);
    assert_eq!(
        event["payload"]["presences"][0]["lastKnownPresence"],
        "typing"
    );
    let (status, _) = serve
        .post("/api/stopTyping", json!({"chatId": ALICE}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn groups_are_created_changed_and_shared() {
    let serve = start(&["--session", "default", "--session", "alice"]);
    let (hook, received) = receiver(0).await;
    let config = json!({"webhooks": [{"url": hook, "events": ["*"], "hmac": {"key": "g"}}]});
    serve
        .send(
            reqwest::Method::PUT,
            "/api/sessions/alice",
            json!({ "config": config }),
        )
        .await;
    serve.scan("default").await;
    serve.scan("alice").await;
    let (status, group) = serve
        .post(
            "/api/default/groups",
            json!({"name": "Test group", "participants": [{"id": ALICE}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let gid = group["id"].as_str().unwrap().to_owned();
    assert!(gid.ends_with("@g.us"));
    assert_eq!(group["subject"], "Test group");
    let ids: Vec<_> = group["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&SIM_PHONE) && ids.contains(&ALICE), "{ids:?}");

    // The creator is an admin: invite codes work for them, not for Alice.
    let (status, code) = serve
        .get(&format!("/api/default/groups/{gid}/invite-code"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!code.as_str().unwrap().is_empty());
    let (_, new_code) = serve
        .post(
            &format!("/api/default/groups/{gid}/invite-code/revoke"),
            json!({}),
        )
        .await;
    assert_ne!(new_code, code);
    let (status, _) = serve
        .get(&format!("/api/alice/groups/{gid}/invite-code"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Subject, promotion, removal.
    let (status, _) = serve
        .send(
            reqwest::Method::PUT,
            &format!("/api/default/groups/{gid}/subject"),
            json!({"subject": "Renamed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, group) = serve.get(&format!("/api/alice/groups/{gid}")).await;
    assert_eq!(group["subject"], "Renamed");
    serve
        .post(
            &format!("/api/default/groups/{gid}/admin/promote"),
            json!({"participants": [{"id": ALICE}]}),
        )
        .await;
    let (_, participants) = serve
        .get(&format!("/api/default/groups/{gid}/participants"))
        .await;
    assert!(
        participants
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == ALICE && p["isAdmin"] == true)
    );
    let (status, _) = serve
        .post(
            &format!("/api/default/groups/{gid}/participants/remove"),
            json!({"participants": [{"id": ALICE}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, participants) = serve
        .get(&format!("/api/default/groups/{gid}/participants"))
        .await;
    assert!(
        !participants
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == ALICE)
    );
    let (status, _) = serve
        .post(
            &format!("/api/default/groups/{gid}/participants/add"),
            json!({"participants": [{"id": ALICE}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Alice's webhook heard about all of it.
    let join = wait_event(&received, "g", "group.v2.join", |e| {
        e["event"] == "group.v2.join"
    })
    .await;
    assert_eq!(join["payload"]["group"]["id"], gid.as_str());
    assert_eq!(join["payload"]["group"]["subject"], "Test group");
    let update = wait_event(&received, "g", "group.v2.update", |e| {
        e["event"] == "group.v2.update"
    })
    .await;
    assert_eq!(update["payload"]["group"]["subject"], "Renamed");
    for kind in ["promote", "remove", "add"] {
        let change = wait_event(&received, "g", kind, |e| {
            e["event"] == "group.v2.participants" && e["payload"]["type"] == kind
        })
        .await;
        assert_eq!(change["payload"]["participants"][0]["id"], ALICE);
        assert_eq!(change["payload"]["group"]["id"], gid.as_str());
    }
    let (_, groups) = serve.get("/api/default/groups").await;
    assert!(
        groups
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == gid.as_str())
    );
    let (status, _) = serve
        .post(&format!("/api/alice/groups/{gid}/leave"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn qr_codes_refresh_until_scanned_and_an_unpaired_session_fails_then_starts_again() {
    // The phone waits a minute before scanning: the codes expire and are replaced meanwhile.
    let serve = start(&["--session", "idle", "--scan-delay", "60"]);
    let sim = reqwest::Client::new();
    let set = sim
        .post(format!("{}/_sim/config", serve.sim))
        .json(&json!({"ref_ttl_ms": 600, "reref_min_interval_ms": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    serve.post("/api/sessions", json!({"name": "slow"})).await;
    serve.wait_until("slow", "SCAN_QR_CODE").await;
    let (_, first) = serve.get("/api/slow/auth/qr?format=raw").await;
    let first = first["value"].as_str().unwrap().to_owned();
    let second = serve
        .wait_for("/api/slow/auth/qr?format=raw", "a new QR code", |qr| {
            qr["value"].as_str().is_some_and(|v| v != first)
        })
        .await;
    // Same client id and key, a new ref.
    let (old_ref, old_rest) = first.split_once(',').unwrap();
    let new = second["value"].as_str().unwrap();
    let (new_ref, new_rest) = new.split_once(',').unwrap();
    assert_ne!(old_ref, new_ref);
    assert_eq!(old_rest, new_rest);
    assert_eq!(serve.status("slow").await, "SCAN_QR_CODE");

    // The phone unlinks a working session: FAILED, and a start logs in again by QR.
    serve.post("/api/sessions", json!({"name": "quick"})).await;
    let scan_now = sim
        .post(format!("{}/_sim/config", serve.sim))
        .json(&json!({"ref_ttl_ms": 20000}))
        .send()
        .await
        .unwrap();
    assert_eq!(scan_now.status(), 200);
    serve.wait_until("quick", "SCAN_QR_CODE").await;
    let (_, qr) = serve.get("/api/quick/auth/qr?format=raw").await;
    let client_id = qr["value"]
        .as_str()
        .unwrap()
        .rsplit(',')
        .next()
        .unwrap()
        .to_owned();
    let scanned = sim
        .post(format!("{}/_sim/scan", serve.sim))
        .json(&json!({"qr": qr["value"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(scanned.status(), 200, "{}", scanned.text().await.unwrap());
    serve.wait_until("quick", "WORKING").await;
    let unpaired = sim
        .post(format!("{}/_sim/unpair", serve.sim))
        .json(&json!({ "client_id": client_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(unpaired.status(), 200);
    serve.wait_until("quick", "FAILED").await;
    let (_, restarted) = serve.post("/api/sessions/quick/start", json!({})).await;
    assert_ne!(restarted["status"], "FAILED");
    serve.wait_until("quick", "SCAN_QR_CODE").await;
}
