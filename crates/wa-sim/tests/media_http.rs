//! The media host and the messaging control routes over real HTTP, and a restart that keeps the
//! server's state.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wa_sim::core::{Config, SimEvent};
use wa_sim::{SimConfig, SimHandle, SimServer};

async fn start() -> SimHandle {
    SimServer::start(SimConfig {
        server: Config {
            rng_seed: Some(11),
            ..Config::default()
        },
        ..SimConfig::default()
    })
    .await
    .expect("sim starts")
}

/// A minimal HTTP/1.1 request with a binary body; returns the status and the body bytes.
async fn http(
    handle: &SimHandle,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(handle.local_addr()).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    (status, response[split + 4..].to_vec())
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

/// The path part of an absolute URL the sim returned.
fn path_of(handle: &SimHandle, url: &str) -> String {
    url.strip_prefix(&handle.http_url())
        .unwrap_or_else(|| panic!("{url} is not on {}", handle.http_url()))
        .to_owned()
}

#[tokio::test]
async fn media_uploads_downloads_and_expiry_over_http() {
    let handle = start().await;
    let auth = handle.with_server(|s, _| s.media().auth().to_owned());
    let blob: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let token = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&blob));

    // The mediaConn route.
    let (status, _) = http(
        &handle,
        "POST",
        &format!("/mms/image/{token}?auth=wrong&token={token}"),
        "application/octet-stream",
        &blob,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = http(
        &handle,
        "POST",
        &format!("/mms/image/AAAA?auth={auth}&token=AAAA"),
        "application/octet-stream",
        &blob,
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = http(
        &handle,
        "POST",
        &format!("/mms/image/{token}?auth={auth}&token={token}"),
        "application/octet-stream",
        &blob,
    )
    .await;
    assert_eq!(status, 200);
    let url = json(&body)["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("http://"), "plain sim, http URLs: {url}");
    let (status, got) = http(&handle, "GET", &path_of(&handle, &url), "text/plain", b"").await;
    assert_eq!((status, got == blob), (200, true));

    // The encr_upload route: multipart with `hash` and `file`.
    let other: Vec<u8> = b"another encrypted blob".to_vec();
    let other_token = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&other));
    let boundary = "----simboundary";
    let mut form = Vec::new();
    form.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"hash\"\r\n\r\n{other_token}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"blob\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    form.extend_from_slice(&other);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (status, body) = http(
        &handle,
        "POST",
        &format!("/mms/upload/image/{other_token}?auth={auth}&f=j"),
        &format!("multipart/form-data; boundary={boundary}"),
        &form,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let other_url = json(&body)["url"].as_str().unwrap().to_owned();
    let (status, got) = http(
        &handle,
        "GET",
        &path_of(&handle, &other_url),
        "text/plain",
        b"",
    )
    .await;
    assert_eq!((status, got), (200, other));

    // Expired URLs answer 404.
    let (status, _) = http(
        &handle,
        "POST",
        "/_sim/config",
        "application/json",
        br#"{"expire_media_urls":true,"echo_delay_ms":5}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        handle.with_server(|s, _| s.config().echo_delay),
        std::time::Duration::from_millis(5)
    );
    let (status, _) = http(&handle, "GET", &path_of(&handle, &url), "text/plain", b"").await;
    assert_eq!(status, 404);
    let (status, _) = http(&handle, "GET", "/mms/d/u999/nothing", "text/plain", b"").await;
    assert_eq!(status, 404);
    handle.shutdown().await;
}

#[tokio::test]
async fn fault_and_store_routes() {
    let handle = start().await;
    let (status, body) = http(
        &handle,
        "POST",
        "/_sim/fault",
        "application/json",
        br#"{"drop_next_relay_ack":true,"duplicate_next_delivery":true,"garbage":{"wid":"15550100001@c.us"}}"#,
    )
    .await;
    assert_eq!(status, 200);
    // Nobody is logged in: no garbage was sent.
    assert_eq!(json(&body)["garbage_sent"], 0);
    let (status, body) = http(
        &handle,
        "GET",
        "/_sim/store?wid=15550100001@c.us",
        "text/plain",
        b"",
    )
    .await;
    assert_eq!(status, 200);
    let store = json(&body);
    assert_eq!(store["pushname"], "Sim Phone");
    assert!(store["chats"]["15550100002-1600000000@g.us"].is_object());
    let (status, _) = http(&handle, "GET", "/_sim/store?wid=1@c.us", "text/plain", b"").await;
    assert_eq!(status, 404);
    handle.shutdown().await;
}

#[tokio::test]
async fn a_restart_keeps_the_state_and_the_address() {
    let handle = start().await;
    let addr = handle.local_addr();
    let blob = b"kept across the restart".to_vec();
    let token = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&blob));
    let url = handle
        .with_server(|s, now| {
            let auth = s.media().auth().to_owned();
            s.media_upload(now, &auth, &token, blob.clone())
        })
        .unwrap();
    let path = path_of(&handle, &url);
    let handle = handle.restart().await.expect("restarts");
    assert_eq!(handle.local_addr(), addr);
    let (status, got) = http(&handle, "GET", &path, "text/plain", b"").await;
    assert_eq!((status, got), (200, blob));
    // Still serving WebSockets.
    let (mut ws, _) = tokio_tungstenite::connect_async(handle.ws_url())
        .await
        .expect("WebSocket after restart");
    use futures_util::SinkExt as _;
    ws.send(tokio_tungstenite::tungstenite::Message::text("?,,"))
        .await
        .unwrap();
    let connected = handle
        .wait_for_event(std::time::Duration::from_secs(5), |e| {
            matches!(e, SimEvent::Connected { .. })
        })
        .await;
    assert!(connected.is_some());
    handle.shutdown().await;
}
