//! The network server: a WebSocket client (tokio-tungstenite) and raw HTTP requests against a
//! running `SimServer`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt, StreamExt};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wa_binary::Codec;
use wa_core::{Frame, WireMessage};
use wa_crypto::KeyPair;
use wa_crypto::legacy::{SessionKeys, logout_token, open_server_frame};
use wa_sim::core::{Config, SimEvent};
use wa_sim::{SimConfig, SimHandle, SimServer, StartError, TlsConfig};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const CLIENT_ID: &str = "c2ltLWRyaXZlci10ZXN0IQ==";

async fn start(config: Config) -> SimHandle {
    SimServer::start(SimConfig {
        server: Config {
            rng_seed: Some(5),
            ..config
        },
        ..SimConfig::default()
    })
    .await
    .expect("sim starts")
}

async fn connect(handle: &SimHandle, origin: &str) -> Ws {
    let mut request = handle.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", origin.parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket upgrade");
    ws
}

/// The next WhatsApp frame (skipping WebSocket pings), or `None` once the server closed.
async fn next_frame(ws: &mut Ws) -> Option<Frame> {
    let read = async {
        loop {
            match ws.next().await? {
                Ok(Message::Text(text)) => return Some(WireMessage::Text(text.as_str().into())),
                Ok(Message::Binary(bytes)) => return Some(WireMessage::Binary(bytes.to_vec())),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    };
    let message = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the server answers")?;
    Some(Frame::parse(&message).expect("server frames parse"))
}

async fn next_json(ws: &mut Ws) -> (String, Value) {
    match next_frame(ws).await {
        Some(Frame::Json { tag, body, .. }) => (tag.into_string(), body),
        other => panic!("expected a JSON frame, got {other:?}"),
    }
}

async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
}

async fn init(ws: &mut Ws) -> String {
    send_text(
        ws,
        &format!(
            r#"1.--0,["admin","init",[2,2142,12],["Baileys","Chrome","3.0"],"{CLIENT_ID}",true]"#
        ),
    )
    .await;
    let (tag, body) = next_json(ws).await;
    assert_eq!(tag, "1.--0");
    assert_eq!(body["status"], 200);
    body["ref"].as_str().unwrap().to_owned()
}

/// Reads `s1 Conn`, `Stream` and `Props` and derives the keys from `secret`.
async fn read_login(ws: &mut Ws, client: &KeyPair) -> (SessionKeys, Value) {
    let (tag, conn) = next_json(ws).await;
    assert_eq!(tag, "s1");
    assert_eq!(conn[0], "Conn");
    let secret = BASE64.decode(conn[1]["secret"].as_str().unwrap()).unwrap();
    let keys = SessionKeys::from_secret(client, &secret).expect("HMAC check passes");
    assert_eq!(next_json(ws).await.1[0], "Stream");
    assert_eq!(next_json(ws).await.1[0], "Props");
    (keys, conn[1].clone())
}

/// A minimal HTTP/1.1 request; returns the status and the body.
async fn http(handle: &SimHandle, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(handle.local_addr()).await.unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: web.whatsapp.com\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn websocket_login_encrypted_push_and_http_logout() {
    let handle = start(Config::default()).await;
    // Any origin is accepted.
    let mut ws = connect(&handle, "https://example.invalid").await;
    let qr_ref = init(&mut ws).await;
    let client = KeyPair::generate(&mut StdRng::seed_from_u64(3));
    let qr = format!(
        "{qr_ref},{},{CLIENT_ID}",
        BASE64.encode(client.public_bytes())
    );
    handle.scan(&qr).expect("scan");
    let (keys, conn) = read_login(&mut ws, &client).await;
    assert_eq!(handle.session_keys(CLIENT_ID), Some(keys.clone()));

    // The contacts arrive as a binary frame sealed with the session keys.
    let Some(Frame::Binary { tag, payload }) = next_frame(&mut ws).await else {
        panic!("expected a binary push")
    };
    assert!(tag.as_str().starts_with("preempt"));
    let node = Codec::legacy()
        .decode(&open_server_frame(&keys, &payload).unwrap())
        .unwrap();
    assert_eq!(node.attrs.get("type"), Some("contacts"));
    assert!(matches!(
        next_frame(&mut ws).await,
        Some(Frame::Binary { .. })
    ));

    // Keepalive, and bad input answered without dropping the connection.
    send_text(&mut ws, "?,,").await;
    assert!(matches!(
        next_frame(&mut ws).await,
        Some(Frame::Pong { .. })
    ));
    send_text(&mut ws, "t1,,[not json").await;
    assert_eq!(
        next_json(&mut ws).await,
        ("t1".into(), json!({"status": 400}))
    );
    ws.send(Message::binary([b"t2,".as_slice(), &[0u8; 66]].concat()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut ws).await,
        ("t2".into(), json!({"status": 401}))
    );
    send_text(&mut ws, r#"t3,,["admin","test"]"#).await;
    assert_eq!(
        next_json(&mut ws).await,
        ("t3".into(), json!(["Pong", true]))
    );

    // HTTP logout: a wrong MAC is refused, the right one unpairs and closes the socket.
    let t = percent_encode(conn["browserToken"].as_str().unwrap());
    let wrong = percent_encode(&logout_token(&SessionKeys::new([0; 32], [0; 32])));
    let (status, _) = http(&handle, "POST", &format!("/logout?t={t}&m={wrong}"), None).await;
    assert_eq!(status, 401);
    let m = percent_encode(&logout_token(&keys));
    let (status, _) = http(&handle, "POST", &format!("/logout?t={t}&m={m}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        next_json(&mut ws).await.1,
        json!(["Cmd", {"type": "disconnect"}])
    );
    assert!(next_frame(&mut ws).await.is_none(), "socket closed");
    let (status, _) = http(&handle, "POST", &format!("/logout?t={t}&m={m}"), None).await;
    assert_eq!(status, 401);
    let (status, body) = http(&handle, "GET", "/_sim/state", None).await;
    assert_eq!(status, 200);
    let state: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["sessions"], json!([]));
    handle.shutdown().await;
}

#[tokio::test]
async fn control_api_presents_scans_and_configures() {
    let handle = start(Config::default()).await;
    let mut ws = connect(&handle, "https://web.whatsapp.com").await;
    let qr_ref = init(&mut ws).await;
    let client = KeyPair::generate(&mut StdRng::seed_from_u64(4));
    let qr = format!(
        "{qr_ref},{},{CLIENT_ID}",
        BASE64.encode(client.public_bytes())
    );

    let (status, _) = http(&handle, "POST", "/_sim/scan", Some(r#"{"qr":"x,AAAA,y"}"#)).await;
    assert_eq!(status, 400);
    let unknown = json!({ "qr": format!("nope,{},{CLIENT_ID}", BASE64.encode([1u8; 32])) });
    let (status, _) = http(&handle, "POST", "/_sim/scan", Some(&unknown.to_string())).await;
    assert_eq!(status, 404);
    let (status, _) = http(&handle, "POST", "/_sim/scan", Some("{bad json")).await;
    assert!((400..500).contains(&status));

    // With auto-scan on, presenting the QR is enough.
    let (status, _) = http(
        &handle,
        "POST",
        "/_sim/config",
        Some(r#"{"auto_scan_delay_ms":50}"#),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = http(
        &handle,
        "POST",
        "/_sim/qr",
        Some(&json!({ "qr": qr }).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (keys, _) = read_login(&mut ws, &client).await;
    assert_eq!(handle.session_keys(CLIENT_ID), Some(keys));

    let (status, body) = http(&handle, "GET", "/_sim/events", None).await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""event":"paired""#), "{body}");
    let (status, _) = http(
        &handle,
        "POST",
        "/_sim/config",
        Some(r#"{"tos":{"wid":"nobody@c.us","tos":2}}"#),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = http(
        &handle,
        "POST",
        "/_sim/unpair",
        Some(&json!({ "client_id": CLIENT_ID }).to_string()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        next_json(&mut ws).await.1,
        json!(["Cmd", {"type": "disconnect"}])
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn oversized_frames_are_refused_and_the_server_stays_up() {
    let handle = start(Config {
        max_frame_len: 64 * 1024,
        ..Config::default()
    })
    .await;
    let mut ws = connect(&handle, "https://web.whatsapp.com").await;
    // Over the protocol limit but within the WebSocket limit: answered with 413.
    send_text(&mut ws, &format!("big,\"{}\"", "x".repeat(100 * 1024))).await;
    assert_eq!(
        next_json(&mut ws).await,
        ("big".into(), json!({"status": 413}))
    );
    send_text(&mut ws, "?,,").await;
    assert!(matches!(
        next_frame(&mut ws).await,
        Some(Frame::Pong { .. })
    ));
    // Over the WebSocket limit: this connection is dropped...
    let _ = ws.send(Message::binary(vec![b'x'; 1024 * 1024])).await;
    assert!(next_frame(&mut ws).await.is_none());
    assert!(
        handle
            .wait_for_event(Duration::from_secs(10), |e| matches!(
                e,
                SimEvent::Disconnected { .. }
            ))
            .await
            .is_some()
    );
    // ...and the server serves the next one.
    let mut ws = connect(&handle, "https://web.whatsapp.com").await;
    init(&mut ws).await;
    handle.shutdown().await;
}

#[tokio::test]
async fn serves_the_same_over_tls_when_given_a_certificate() {
    use std::sync::Arc;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    use tokio_tungstenite::Connector;

    // A self-signed P-256 certificate for localhost and 127.0.0.1, valid until 2126, made with
    // `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500
    // -subj "/CN=wa-sim test" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1"
    // -addext "basicConstraints=critical,CA:FALSE" -keyout localhost.key -out localhost.crt`.
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let tls = TlsConfig::from_pem_files(&data.join("localhost.crt"), &data.join("localhost.key"))
        .expect("test certificate readable");
    let handle = SimServer::start(SimConfig {
        server: Config {
            rng_seed: Some(6),
            ..Config::default()
        },
        tls: Some(tls.clone()),
        ..SimConfig::default()
    })
    .await
    .expect("sim starts with TLS");
    assert!(handle.ws_url().starts_with("wss://127.0.0.1:"));
    assert!(handle.control_url().starts_with("https://127.0.0.1:"));

    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&tls.cert_chain_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut request = handle.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", "https://web.whatsapp.com".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        None,
        false,
        Some(Connector::Rustls(Arc::new(client))),
    )
    .await
    .expect("TLS WebSocket upgrade");
    let qr_ref = init(&mut ws).await;
    let client = KeyPair::generate(&mut StdRng::seed_from_u64(7));
    handle
        .scan(&format!(
            "{qr_ref},{},{CLIENT_ID}",
            BASE64.encode(client.public_bytes())
        ))
        .expect("scan");
    let (keys, _) = read_login(&mut ws, &client).await;
    assert_eq!(handle.session_keys(CLIENT_ID), Some(keys));

    // A plain-TCP client that never speaks TLS does not hold up the next one.
    let _idle = TcpStream::connect(handle.local_addr()).await.unwrap();
    send_text(&mut ws, "?,,").await;
    assert!(matches!(
        next_frame(&mut ws).await,
        Some(Frame::Pong { .. })
    ));
    handle.shutdown().await;
}

#[tokio::test]
async fn bad_tls_material_or_seed_is_a_start_error() {
    let result = SimServer::start(SimConfig {
        tls: Some(TlsConfig {
            cert_chain_pem: b"not a certificate".to_vec(),
            private_key_pem: b"not a key".to_vec(),
        }),
        ..SimConfig::default()
    })
    .await;
    assert!(matches!(result, Err(StartError::Tls(_))), "{result:?}");
    let account = wa_sim::SeedAccount {
        wid: "not a jid".into(),
        ..wa_sim::SeedAccount::default()
    };
    let result = SimServer::start(SimConfig {
        server: Config {
            accounts: vec![account],
            ..Config::default()
        },
        ..SimConfig::default()
    })
    .await;
    assert!(matches!(result, Err(StartError::Seed(_))), "{result:?}");
}
