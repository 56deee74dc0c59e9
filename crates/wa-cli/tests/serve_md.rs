//! `wa serve` with multi-device sessions beside legacy ones, against its in-process wa-sim: one
//! MD session started at launch (`--md-session`) pairs by QR (`auth/qr`, which the simulated
//! phone scans), one created through the API (`config.engine: "MD"`) pairs by pair code
//! (`auth/request-code`, which the simulated phone enters); their state is in the data
//! directory's SQLite files (0600); a text sent with `sendText` reaches the other session's
//! webhook as a `message` event; a restarted session logs in again from its file without a QR;
//! the legacy default session keeps working beside them.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::Serve;

const KEY: &str = "md-test-key-0123456789";
const STEP: Duration = Duration::from_secs(40);

async fn hook(State(seen): State<Arc<Mutex<Vec<Value>>>>, body: Bytes) -> StatusCode {
    if let Ok(value) = serde_json::from_slice(&body) {
        seen.lock().unwrap().push(value);
    }
    StatusCode::OK
}

async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), seen)
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn md_sessions_pair_by_qr_and_code_send_texts_and_deliver_webhooks() {
    let serve = Serve::start(KEY, &["--md-session", "alice"]);

    // Alice (MD, started at launch) pairs by QR: showing the code makes the phone scan it.
    serve.wait_status("alice", "SCAN_QR_CODE", STEP).await;
    let (status, qr) = serve.get("/api/alice/auth/qr?format=raw").await;
    assert_eq!(status, StatusCode::OK, "{qr}");
    assert!(
        qr["value"]
            .as_str()
            .is_some_and(|v| v.split(',').count() >= 4),
        "an MD QR: {qr}"
    );
    serve.wait_status("alice", "WORKING", STEP).await;
    let (_, alice) = serve.get("/api/sessions/alice").await;
    assert_eq!(alice["engine"]["engine"], "MD", "{alice}");
    let alice_id = alice["me"]["id"].as_str().expect("me").to_owned();
    assert!(alice_id.ends_with("@c.us"), "{alice_id}");

    // Bob (MD, created through the API with a webhook) pairs by pair code.
    let (hook_url, seen) = receiver().await;
    let (status, created) = serve
        .post(
            "/api/sessions",
            json!({"name": "bob", "config": {"engine": "MD", "webhooks": [
                {"url": hook_url, "events": ["message"]}
            ]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    serve.wait_status("bob", "SCAN_QR_CODE", STEP).await;
    let (status, code) = serve
        .post(
            "/api/bob/auth/request-code",
            json!({"phoneNumber": "+1 555 765 4321"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{code}");
    let shown = code["code"].as_str().unwrap();
    assert_eq!(shown.len(), 9, "ABCD-EFGH: {shown}");
    assert_eq!(&shown[4..5], "-");
    serve.wait_status("bob", "WORKING", STEP).await;
    let (_, bob) = serve.get("/api/sessions/bob").await;
    assert_eq!(bob["me"]["id"], "15557654321@c.us", "{bob}");

    // A legacy session cannot take a pair code; it keeps its own engine.
    let (status, refused) = serve
        .post(
            "/api/default/auth/request-code",
            json!({"phoneNumber": "15550100001"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (_, legacy) = serve.get("/api/sessions/default").await;
    assert_eq!(legacy["engine"]["engine"], "WA");

    // Their state is in the data directory, one private SQLite file each, with the info file
    // `wa whoami` reads.
    for name in ["alice", "bob"] {
        let file = serve.data_dir().join(format!("{name}.md.sqlite"));
        assert!(file.exists(), "{}", file.display());
        #[cfg(unix)]
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    let output = std::process::Command::new(common::WA)
        .args(["whoami", "--session", "bob", "--json"])
        .env("WA_DATA_DIR", serve.data_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let whoami: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(whoami["engine"], "md");
    assert!(
        whoami["jid"]
            .as_str()
            .is_some_and(|j| j.starts_with("15557654321")),
        "{whoami}"
    );

    // Alice → Bob: sendText answers with the message, Bob's webhook gets `message`.
    let (status, sent) = serve
        .post(
            "/api/sendText",
            json!({"session": "alice", "chatId": "15557654321@c.us", "text": "hello bob"}),
        )
        .await;
    assert!(status.is_success(), "{status} {sent}");
    let sent_id = sent["id"].as_str().expect("an id").to_owned();
    let deadline = tokio::time::Instant::now() + STEP;
    let event = loop {
        let found = seen
            .lock()
            .unwrap()
            .iter()
            .find(|e| e["payload"]["body"] == "hello bob")
            .cloned();
        if let Some(event) = found {
            break event;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no webhook for the text"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(event["event"], "message");
    assert_eq!(event["session"], "bob");
    assert_eq!(event["payload"]["fromMe"], false);
    assert_eq!(event["payload"]["from"], alice_id.as_str(), "{event}");
    // WAHA ids are `fromMe_chat_id`: the message id is the last part, the same on both sides.
    let message_id = |id: &str| id.rsplit('_').next().unwrap_or_default().to_owned();
    assert_eq!(
        message_id(event["payload"]["id"].as_str().unwrap_or_default()),
        message_id(&sent_id),
        "the same message: {event} vs {sent_id}"
    );
    assert!(sent_id.starts_with("true_15557654321@c.us_"), "{sent_id}");

    // What MD sessions cannot do yet is refused before reaching them.
    let (status, refused) = serve
        .post(
            "/api/sendLocation",
            json!({"session": "alice", "chatId": "15557654321@c.us", "latitude": 1.0, "longitude": 2.0}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");

    // A stopped MD session starts again from its file: no QR, straight to WORKING.
    let (status, _) = serve.post("/api/sessions/alice/stop", json!({})).await;
    assert!(status.is_success());
    serve.wait_status("alice", "STOPPED", STEP).await;
    let (status, _) = serve.post("/api/sessions/alice/start", json!({})).await;
    assert!(status.is_success());
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let now = serve.status("alice").await;
        assert_ne!(
            now, "SCAN_QR_CODE",
            "a restarted MD session asked for a new QR"
        );
        assert_ne!(now, "FAILED");
        if now == "WORKING" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "alice stayed {now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, sent) = serve
        .post(
            "/api/sendText",
            json!({"session": "alice", "chatId": "15557654321@c.us", "text": "after restart"}),
        )
        .await;
    assert!(status.is_success(), "{status} {sent}");
}
