//! The transport against a local tungstenite server on the loopback interface.

use std::sync::{Arc, Mutex};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use wa_core::frame::{Frame, JsonForm, Tag, WireMessage};
use wa_transport::{Transport, TransportConfig, TransportError};

/// Accepts one WebSocket connection and runs `serve` on it; returns the URL and the request's
/// `Origin` and path as seen by the server.
async fn server<F, Fut>(serve: F) -> (String, Arc<Mutex<Option<(String, String)>>>)
where
    F: FnOnce(tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(None));
    let seen_in_server = Arc::clone(&seen);
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        // The error type is tungstenite's, fixed by `accept_hdr_async`.
        #[allow(clippy::result_large_err)]
        let callback = move |request: &Request, response: Response| {
            let origin = request
                .headers()
                .get("Origin")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            *seen_in_server.lock().unwrap() = Some((origin, request.uri().path().to_owned()));
            Ok(response)
        };
        let ws = tokio_tungstenite::accept_hdr_async(tcp, callback)
            .await
            .unwrap();
        serve(ws).await;
    });
    (format!("ws://{addr}/ws"), seen)
}

#[tokio::test]
async fn exchanges_frames_with_origin_and_closes_cleanly() {
    let (url, seen) = server(|mut ws| async move {
        let Some(Ok(Message::Text(init))) = ws.next().await else {
            panic!("no init");
        };
        let tag = init.as_str().split(',').next().unwrap().to_owned();
        ws.send(Message::text(format!(
            "{tag},{{\"status\":200,\"ref\":\"1@x\"}}"
        )))
        .await
        .unwrap();
        ws.send(Message::Ping(vec![1, 2].into())).await.unwrap();
        ws.send(Message::binary(b"preempt-1,\x01\x02".to_vec()))
            .await
            .unwrap();
        // The client answers the ping first.
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Pong(vec![1, 2].into())
        );
        let Some(Ok(Message::Text(keepalive))) = ws.next().await else {
            panic!("no keepalive");
        };
        assert_eq!(keepalive.as_str(), "?,,");
        ws.send(Message::text("!1606147375151")).await.unwrap();
        ws.close(None).await.unwrap();
    })
    .await;

    let mut transport = Transport::connect(&TransportConfig::with_url(&url))
        .await
        .unwrap();
    let init = Frame::json(
        Tag::new("1606147375.--0").unwrap(),
        JsonForm::OneComma,
        json!(["admin", "init"]),
    );
    transport.send(&init).await.unwrap();
    assert_eq!(
        transport.recv_frame().await.unwrap(),
        Some(Frame::json(
            Tag::new("1606147375.--0").unwrap(),
            JsonForm::OneComma,
            json!({"status": 200, "ref": "1@x"})
        ))
    );
    // The ping is answered underneath and not returned.
    assert_eq!(
        transport.recv().await.unwrap(),
        Some(WireMessage::Binary(b"preempt-1,\x01\x02".to_vec()))
    );
    transport.send(&Frame::Keepalive).await.unwrap();
    assert_eq!(
        transport.recv_frame().await.unwrap(),
        Some(Frame::Pong {
            unix_ms: 1_606_147_375_151
        })
    );
    assert_eq!(transport.recv().await.unwrap(), None);
    transport.close().await.unwrap();

    let (origin, path) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(origin, "https://web.whatsapp.com");
    assert_eq!(path, "/ws");
}

#[tokio::test]
async fn enforces_the_message_size_limit_both_ways() {
    let (url, _) = server(|mut ws| async move {
        ws.send(Message::binary(vec![b'x'; 2048])).await.unwrap();
        // Keep the socket open until the client gives up.
        let _ = ws.next().await;
    })
    .await;
    let config = TransportConfig {
        max_message_size: 1024,
        ..TransportConfig::with_url(&url)
    };
    let mut transport = Transport::connect(&config).await.unwrap();
    match transport
        .send_wire(WireMessage::Text("a".repeat(1025)))
        .await
    {
        Err(TransportError::TooLarge {
            len: 1025,
            max: 1024,
        }) => {}
        other => panic!("{other:?}"),
    }
    match transport.recv().await {
        Err(TransportError::WebSocket(_)) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn malformed_frames_are_typed_errors() {
    let (url, _) = server(|mut ws| async move {
        ws.send(Message::text("no comma")).await.unwrap();
        let _ = ws.next().await;
    })
    .await;
    let mut transport = Transport::connect(&TransportConfig::with_url(&url))
        .await
        .unwrap();
    match transport.recv_frame().await {
        Err(TransportError::Frame(wa_core::frame::FrameError::MissingComma)) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn connect_errors_are_typed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    match Transport::connect(&TransportConfig::with_url(format!("ws://{addr}/ws"))).await {
        Err(TransportError::Connect { url, .. }) => assert!(url.contains(&addr.to_string())),
        other => panic!("{other:?}"),
    }
    match Transport::connect(&TransportConfig::with_url("not a url")).await {
        Err(TransportError::InvalidRequest { .. }) => {}
        other => panic!("{other:?}"),
    }
    let bad_root = TransportConfig {
        extra_roots_pem: vec![b"not a certificate".to_vec()],
        ..TransportConfig::with_url("wss://127.0.0.1:1/ws")
    };
    match Transport::connect(&bad_root).await {
        Err(TransportError::InvalidRequest { reason, .. }) => {
            assert!(reason.contains("no CERTIFICATE block"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    // wss:// goes through rustls: a server that is not TLS fails the handshake (no panic
    // from a missing crypto provider).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        let (mut tcp, _) = listener.accept().await.unwrap();
        let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    });
    match Transport::connect(&TransportConfig::with_url(format!("wss://{addr}/ws"))).await {
        Err(TransportError::Connect { .. }) => {}
        other => panic!("{other:?}"),
    }
}
