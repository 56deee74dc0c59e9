//! `wa serve` (the built binary, with its in-process simulator) when a message cannot get
//! through: one larger than the server accepts is refused at the API with the limit, one that
//! makes the server drop the link is given up after a few relays while the session says it is
//! not working, and in both cases later sends go through.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

const WA: &str = env!("CARGO_BIN_EXE_wa");
const KEY: &str = "test-key-limits-0123";
const ALICE: &str = "15550100002@c.us";

/// A running `wa serve`, killed on drop.
struct Serve {
    child: Child,
    base: String,
    sim: String,
    http: reqwest::Client,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Serve {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(WA)
        .args(["serve", "--listen", "127.0.0.1:0", "--api-key", KEY])
        .args(["--scan-delay", "0.2"])
        .env("NO_COLOR", "1")
        .env("WA_DATA_DIR", data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("wa serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut base, mut sim) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("wa serve listening on ") {
            base = Some(rest.trim_end_matches('/').to_owned());
        }
        if let Some(rest) = line.strip_prefix("server: built-in simulator at ") {
            sim = Some(
                rest.replace("ws://", "http://")
                    .trim_end_matches("/ws")
                    .to_owned(),
            );
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    std::mem::forget(data);
    Serve {
        child,
        base: base.expect("the listening line"),
        sim: sim.expect("the simulator line"),
        http: reqwest::Client::builder()
            // Old behaviour answered after a minute (504); fail sooner than that.
            .timeout(Duration::from_secs(45))
            .build()
            .unwrap(),
    }
}

impl Serve {
    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Api-Key", KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn status(&self) -> String {
        let (_, session) = self
            .request(reqwest::Method::GET, "/api/sessions/default", Value::Null)
            .await;
        session["status"].as_str().unwrap_or_default().to_owned()
    }

    async fn wait_status(&self, wanted: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let status = self.status().await;
            if status == wanted {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "session stayed {status}, expected {wanted}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn send_text(&self, text: &str) -> (StatusCode, Value) {
        self.request(
            reqwest::Method::POST,
            "/api/sendText",
            json!({"session": "default", "chatId": ALICE, "text": text}),
        )
        .await
    }
}

#[tokio::test]
async fn an_oversized_message_is_refused_with_the_limit_and_a_flapping_session_is_not_working() {
    let serve = start();
    serve
        .wait_status("SCAN_QR_CODE", Duration::from_secs(30))
        .await;
    // Showing the QR code lets the simulated phone scan it.
    serve
        .request(
            reqwest::Method::GET,
            "/api/default/auth/qr?format=raw",
            Value::Null,
        )
        .await;
    serve.wait_status("WORKING", Duration::from_secs(30)).await;

    // 1. Three megabytes can never fit: refused where it enters, with the limit.
    let limit = wa_client::chat::MAX_MESSAGE_LEN;
    let (status, body) = serve.send_text(&"x".repeat(3 * 1024 * 1024)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["statusCode"], 413);
    assert_eq!(body["error"], "Payload Too Large");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(&limit.to_string()), "{message}");
    // Nothing was queued: the session stays working and the next send goes through at once.
    assert_eq!(serve.status().await, "WORKING");
    let (status, sent) = serve.send_text("after the big one").await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");

    // 2. A message under our limit that the server will not read (its WebSocket layer drops
    // the link): given up after a few relays, reported as a failure, never WORKING meanwhile.
    let fault = serve
        .http
        .post(format!("{}/_sim/fault", serve.sim))
        .json(&json!({"close_on_frames_over": 32 * 1024}))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());
    // Statuses as a client polling the API sees them while the send is tried.
    let seen = Arc::new(Mutex::new(vec![serve.status().await]));
    let poller = {
        let seen = Arc::clone(&seen);
        let http = serve.http.clone();
        let url = format!("{}/api/sessions/default", serve.base);
        tokio::spawn(async move {
            loop {
                let response = http.get(&url).header("X-Api-Key", KEY).send().await;
                if let Ok(session) = response.unwrap().json::<Value>().await {
                    let status = session["status"].as_str().unwrap_or_default().to_owned();
                    let mut seen = seen.lock().unwrap();
                    if seen.last() != Some(&status) {
                        seen.push(status);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let (status, body) = serve.send_text(&"y".repeat(64 * 1024)).await;
    let after = serve.status().await;
    poller.abort();
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("undelivered"),
        "{body}"
    );
    // One lost link may be a blip (WORKING again at once); from the second on, the session is
    // not WORKING until it stays connected.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.first().map(String::as_str),
        Some("WORKING"),
        "{seen:?}"
    );
    let drops = seen.iter().filter(|s| *s == "STARTING").count();
    assert!((1..=2).contains(&drops), "{seen:?}");
    assert_eq!(
        seen.last().map(String::as_str),
        Some("STARTING"),
        "{seen:?}"
    );
    assert_eq!(after, "STARTING");
    // Once the link has stayed up for a while the session is WORKING again, and sends go.
    serve.wait_status("WORKING", Duration::from_secs(40)).await;
    let (status, sent) = serve.send_text("after the flapping").await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
}
