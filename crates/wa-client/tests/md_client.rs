//! The default `wa_client::Client` (multi-device) against wa-sim's MD server over real
//! WebSockets: QR login through one event stream (the sim's phone scans the QR the client
//! reported), pair-code login (the code returned by `pair_with_code` typed on the sim's phone),
//! restore from the SQLite store in a new client, logout, and messages both ways between two
//! clients with delivery and read receipts.

use std::time::Duration;

use serde_json::Value;
use wa_client::md::MdDeviceError;
use wa_client::{Client, ClientError, ClientEvent, MessengerEvent, ReceiptKind};
use wa_core::md::StreamError;
use wa_sim::{SimConfig, SimHandle, SimServer};

const PHONE_A: u64 = 15_550_000_303;
const PHONE_B: u64 = 15_550_000_404;

fn builder(handle: &SimHandle) -> wa_client::ClientBuilder {
    Client::builder()
        .server_url(handle.md_ws_url())
        .trust_root(handle.md().trust_root())
}

async fn control(
    handle: &SimHandle,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut request =
        reqwest::Client::new().request(method, format!("{}/{path}", handle.control_url()));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = tokio::time::timeout(Duration::from_secs(10), request.send())
        .await
        .expect("control answers in time")
        .expect("control reachable");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn devices(handle: &SimHandle) -> Vec<Value> {
    let (status, body) = control(handle, reqwest::Method::GET, "md/devices", None).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Reads events until `pred` matches one (returned with everything seen before it), or fails
/// after 20 s.
async fn until(
    client: &Client,
    what: &str,
    pred: impl Fn(&ClientEvent) -> bool,
) -> (ClientEvent, Vec<ClientEvent>) {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let event = tokio::time::timeout_at(deadline, client.next_event())
            .await
            .unwrap_or_else(|_| panic!("{what}: not seen in {seen:#?}"))
            .unwrap_or_else(|| panic!("{what}: stream ended after {seen:#?}"));
        if pred(&event) {
            return (event, seen);
        }
        seen.push(event);
    }
}

/// Logs `client` in by QR: the first QR it reports is scanned by `phone` through the control
/// API. Returns the JID it paired as.
async fn qr_login(handle: &SimHandle, client: &mut Client, phone: u64) -> String {
    client.login().expect("login starts");
    let (qr, _) = until(client, "a QR", |e| matches!(e, ClientEvent::Qr(_))).await;
    let ClientEvent::Qr(qr) = qr else {
        unreachable!()
    };
    // The client is not logged in yet: a send is refused, not queued.
    assert!(matches!(
        client.send_text("1@s.whatsapp.net", "early").await,
        Err(ClientError::NotConnected)
    ));
    let (status, body) = control(
        handle,
        reqwest::Method::POST,
        "md/scan",
        Some(serde_json::json!({ "qr": qr, "phone": phone.to_string() })),
    )
    .await;
    assert_eq!(status, 200, "scan: {body}");
    let (_, seen) = until(client, "connected", |e| matches!(e, ClientEvent::Connected)).await;
    let jid = seen
        .iter()
        .find_map(|e| match e {
            ClientEvent::Paired(jid) => Some(jid.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("not paired: {seen:#?}"));
    assert!(
        seen.iter()
            .any(|e| matches!(e, ClientEvent::PreKeysUploaded(812))),
        "{seen:#?}"
    );
    jid
}

fn user(phone: u64) -> String {
    format!("{phone}@s.whatsapp.net")
}

fn text_of(event: &ClientEvent) -> Option<(&str, &str, &str)> {
    match event {
        ClientEvent::Message(MessengerEvent::Message {
            id, chat, message, ..
        }) => Some((id, chat, message.conversation.as_deref()?)),
        _ => None,
    }
}

fn receipt(event: &ClientEvent, want: &str, kind: &ReceiptKind) -> bool {
    matches!(
        event,
        ClientEvent::Message(MessengerEvent::Receipt { ids, kind: k, .. })
            if k == kind && ids.iter().any(|i| i == want)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_login_then_restore_from_sqlite_then_logout() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("device.db");
    let handle = SimServer::start(SimConfig::default()).await.unwrap();

    let mut client = builder(&handle).sqlite(&db).build().unwrap();
    assert!(
        matches!(client.restore(), Err(ClientError::NotPaired)),
        "nothing to restore yet"
    );
    let jid = qr_login(&handle, &mut client, PHONE_A).await;
    assert!(jid.starts_with(&PHONE_A.to_string()), "{jid}");
    client.shutdown().await;
    assert_eq!(client.jid().map(|j| j.to_string()), Some(jid.clone()));
    drop(client);

    // A new client on the same file logs in without a QR and without a new upload.
    let mut client = builder(&handle).sqlite(&db).build().unwrap();
    client.restore().expect("restore starts");
    let (_, seen) = until(&client, "restored", |e| matches!(e, ClientEvent::Connected)).await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, ClientEvent::Qr(_) | ClientEvent::PreKeysUploaded(_))),
        "{seen:#?}"
    );
    assert_eq!(devices(&handle).await.len(), 1);

    // Logout unlinks it on the phone, stops the client and leaves a fresh unpaired device.
    client.logout().await.expect("logout");
    let (stopped, _) = until(&client, "stopped", |e| matches!(e, ClientEvent::Stopped(_))).await;
    assert!(
        matches!(stopped, ClientEvent::Stopped(MdDeviceError::LoggedOut)),
        "{stopped:?}"
    );
    assert!(
        devices(&handle).await.is_empty(),
        "the phone no longer lists it"
    );
    assert_eq!(client.jid(), None);
    assert!(matches!(client.restore(), Err(ClientError::NotPaired)));
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_code_returns_the_code_and_the_login_follows_in_the_stream() {
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let mut client = builder(&handle).memory_store().build().unwrap();
    let code = tokio::time::timeout(
        Duration::from_secs(20),
        client.pair_with_code(&format!("+{PHONE_B}")),
    )
    .await
    .expect("a code in time")
    .expect("a code");
    assert_eq!(code.len(), 8, "{code}");
    let (first, seen) = until(&client, "the code event", |e| {
        matches!(e, ClientEvent::PairCode(_))
    })
    .await;
    assert!(seen.is_empty(), "nothing before the code: {seen:#?}");
    assert!(matches!(&first, ClientEvent::PairCode(c) if *c == code));
    assert!(matches!(client.login(), Err(ClientError::AlreadyRunning)));

    let (status, body) = control(
        &handle,
        reqwest::Method::POST,
        "md/pair-code",
        Some(serde_json::json!({ "phone": PHONE_B.to_string(), "code": code })),
    )
    .await;
    assert_eq!(status, 200, "pair-code: {body}");
    let (_, seen) = until(&client, "connected", |e| {
        matches!(e, ClientEvent::Connected)
    })
    .await;
    assert!(
        seen.iter()
            .any(|e| matches!(e, ClientEvent::Paired(j) if j.user == PHONE_B.to_string())),
        "{seen:#?}"
    );
    let listed = devices(&handle).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["prekeys"], 812);

    // The phone unlinks it: the client stops (no reconnect) and forgets the credentials.
    let (status, body) = control(
        &handle,
        reqwest::Method::POST,
        "md/unlink",
        Some(serde_json::json!({ "jid": listed[0]["jid"] })),
    )
    .await;
    assert_eq!(status, 200, "unlink: {body}");
    let (stopped, seen) = until(&client, "stopped", |e| matches!(e, ClientEvent::Stopped(_))).await;
    assert!(
        matches!(
            stopped,
            ClientEvent::Stopped(MdDeviceError::Stopped(StreamError::DeviceRemoved))
        ),
        "{stopped:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, ClientEvent::Disconnected { .. })),
        "{seen:#?}"
    );
    client.shutdown().await;
    assert_eq!(client.jid(), None);
    assert!(matches!(client.restore(), Err(ClientError::NotPaired)));
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_exchange_messages_and_receipts_both_ways() {
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let mut a = builder(&handle).memory_store().build().unwrap();
    let mut b = builder(&handle).memory_store().build().unwrap();
    qr_login(&handle, &mut a, PHONE_A).await;
    qr_login(&handle, &mut b, PHONE_B).await;

    // A → B: B gets it from A's chat; A sees the delivery receipt.
    let to_b = a.send_text(&user(PHONE_B), "hello B").await.expect("sent");
    let (got, _) = until(&b, "A's message", |e| text_of(e).is_some()).await;
    assert_eq!(
        text_of(&got),
        Some((to_b.as_str(), user(PHONE_A).as_str(), "hello B"))
    );
    // B processed it: acknowledging finds it pending in B's store; an unknown hash is not there.
    let ClientEvent::Message(MessengerEvent::Message {
        hash, redelivered, ..
    }) = &got
    else {
        unreachable!("text_of matched a message")
    };
    assert!(!redelivered, "a live message is not flagged");
    assert_eq!(
        b.ack(hash).await.ok(),
        Some(true),
        "the message was pending"
    );
    assert_eq!(b.ack(&[7; 32]).await.ok(), Some(false), "no such message");
    until(&a, "delivery to B", |e| {
        receipt(e, &to_b, &ReceiptKind::Delivery)
    })
    .await;

    // B → A, and B marks A's message read: A sees both.
    let to_a = b.send_text(&user(PHONE_A), "hello A").await.expect("sent");
    let (got, _) = until(&a, "B's message", |e| text_of(e).is_some()).await;
    assert_eq!(
        text_of(&got),
        Some((to_a.as_str(), user(PHONE_B).as_str(), "hello A"))
    );
    b.mark_read(&user(PHONE_A), std::slice::from_ref(&to_b))
        .await
        .expect("read receipt sent");
    until(&a, "read by B", |e| receipt(e, &to_b, &ReceiptKind::Read)).await;
    until(&b, "delivery to A", |e| {
        receipt(e, &to_a, &ReceiptKind::Delivery)
    })
    .await;

    a.shutdown().await;
    b.shutdown().await;
    assert!(matches!(
        a.send_text(&user(PHONE_B), "after shutdown").await,
        Err(ClientError::NotRunning)
    ));
    handle.shutdown().await;
}

/// A call wakes the connection task at once: with slices of 30 s, sends, a read receipt and
/// the shutdown each still finish in well under a slice (before the wake-up hook they waited
/// for the slice under way to end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_answered_without_waiting_for_the_serve_slice() {
    const SLICE: Duration = Duration::from_secs(30);
    const PROMPT: Duration = Duration::from_secs(5);
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let mut a = builder(&handle)
        .memory_store()
        .command_latency(SLICE)
        .build()
        .unwrap();
    let mut b = builder(&handle).memory_store().build().unwrap();
    qr_login(&handle, &mut a, PHONE_A).await;
    qr_login(&handle, &mut b, PHONE_B).await;

    let mut ids = Vec::new();
    for i in 0..3 {
        let started = std::time::Instant::now();
        let id = tokio::time::timeout(PROMPT, a.send_text(&user(PHONE_B), &format!("quick {i}")))
            .await
            .unwrap_or_else(|_| panic!("send {i} waited for the slice"))
            .expect("sent");
        assert!(started.elapsed() < PROMPT);
        ids.push(id);
    }
    // B received all three, in order.
    for (i, id) in ids.iter().enumerate() {
        let (got, _) = until(&b, "A's quick texts", |e| text_of(e).is_some()).await;
        let want = format!("quick {i}");
        assert_eq!(
            text_of(&got),
            Some((id.as_str(), user(PHONE_A).as_str(), want.as_str()))
        );
    }
    // B's answer reaches A while A's task serves a slice; A marks it read at once.
    let answer = b.send_text(&user(PHONE_A), "got them").await.expect("sent");
    until(&a, "B's answer", |e| text_of(e).is_some()).await;
    tokio::time::timeout(
        PROMPT,
        a.mark_read(&user(PHONE_B), std::slice::from_ref(&answer)),
    )
    .await
    .expect("the read receipt waited for the slice")
    .expect("read receipt sent");
    until(&b, "read by A", |e| receipt(e, &answer, &ReceiptKind::Read)).await;
    tokio::time::timeout(PROMPT, a.shutdown())
        .await
        .expect("the shutdown waited for the slice");
    b.shutdown().await;
    handle.shutdown().await;
}
