//! `wa serve` (the built binary, with its in-process simulator) when a message cannot get
//! through: one larger than the server accepts is refused at the API with the limit, one that
//! makes the server drop the link is given up after a few relays while the session says it is
//! not working, and in both cases later sends go through.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Serve;
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "test-key-limits-0123";
const ALICE: &str = "15550100002@c.us";

fn start() -> Serve {
    let mut serve = Serve::start(KEY, &[]);
    // Old behaviour answered after a minute (504); fail sooner than that.
    serve.http = reqwest::Client::builder()
        .timeout(Duration::from_secs(45))
        .build()
        .unwrap();
    serve
}

impl Serve {
    async fn send_text(&self, text: &str) -> (StatusCode, Value) {
        self.post(
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
        .wait_status("default", "SCAN_QR_CODE", Duration::from_secs(30))
        .await;
    // Showing the QR code lets the simulated phone scan it.
    serve.get("/api/default/auth/qr?format=raw").await;
    serve
        .wait_status("default", "WORKING", Duration::from_secs(30))
        .await;

    // 1. Three megabytes can never fit: refused where it enters, with the limit.
    let limit = wa_client::legacy::chat::MAX_MESSAGE_LEN;
    let (status, body) = serve.send_text(&"x".repeat(3 * 1024 * 1024)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["statusCode"], 413);
    assert_eq!(body["error"], "Payload Too Large");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(&limit.to_string()), "{message}");
    // Nothing was queued: the session stays working and the next send goes through at once.
    assert_eq!(serve.status("default").await, "WORKING");
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
    let seen = Arc::new(Mutex::new(vec![serve.status("default").await]));
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
    let after = serve.status("default").await;
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
    serve
        .wait_status("default", "WORKING", Duration::from_secs(40))
        .await;
    let (status, sent) = serve.send_text("after the flapping").await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
}
