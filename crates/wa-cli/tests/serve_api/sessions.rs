//! The API key on every route, a session's life (start, scan, stop, restart, log out, delete),
//! and QR codes that refresh until scanned, with a session the phone unlinks.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{KEY, start};

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
