//! Events out of the server: webhooks signed with HMAC, filtered and retried, and the event
//! WebSocket.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use super::{KEY, STEP, hmac_hex, receiver, start};

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
