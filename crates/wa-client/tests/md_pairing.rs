//! Our `MdDevice` against wa-sim's simulated phone over real WebSockets: it pairs by QR and by
//! pair code, restarts on the 515, logs in, uploads its prekeys (which the sim's device list
//! shows), logs in again from its files after a process restart and after the sim restarted
//! from its state file; once the phone unlinks it, it gets 401 and stops, and a login with the
//! old credentials is refused and not retried.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use wa_client::md::{
    CredentialStore, DeviceEvent, FileCredentialStore, MdConnectConfig, MdDevice, MdDeviceConfig,
    MdDeviceError,
};
use wa_core::md::{ClientHandshakeConfig, StreamError};
use wa_sim::{SimConfig, SimHandle, SimServer};
use wa_transport::TransportConfig;

fn config(handle: &SimHandle) -> MdDeviceConfig {
    MdDeviceConfig {
        connect: MdConnectConfig {
            transport: TransportConfig {
                url: handle.md_ws_url(),
                ..TransportConfig::multi_device()
            },
            handshake: ClientHandshakeConfig {
                trust_root: handle.md().trust_root(),
                ..ClientHandshakeConfig::default()
            },
            handshake_timeout: Duration::from_secs(10),
        },
        login_timeout: Duration::from_secs(30),
        ..MdDeviceConfig::default()
    }
}

fn open(handle: &SimHandle, dir: &Path) -> MdDevice {
    MdDevice::open(
        config(handle),
        Box::new(FileCredentialStore::new(dir).unwrap()),
    )
    .unwrap()
}

async fn control(
    method: reqwest::Method,
    handle: &SimHandle,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, format!("{}/{path}", handle.control_url()));
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
    let (status, body) = control(reqwest::Method::GET, handle, "md/devices", None).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn collect(rx: &mut mpsc::UnboundedReceiver<DeviceEvent>) -> Vec<DeviceEvent> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

/// Logs `device` in by QR: the first QR shown is scanned through the control API.
async fn qr_login(handle: &SimHandle, device: &mut MdDevice) -> Vec<DeviceEvent> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (scan_tx, mut scan_rx) = mpsc::unbounded_channel();
    let login = async {
        let (forward_tx, mut forward_rx) = mpsc::unbounded_channel::<DeviceEvent>();
        let relay = async {
            while let Some(e) = forward_rx.recv().await {
                if let DeviceEvent::Qr(code) = &e {
                    let _ = scan_tx.send(code.clone());
                }
                let _ = tx.send(e);
            }
        };
        let result = async {
            let r = device.login(&forward_tx).await;
            drop(forward_tx);
            r
        };
        let (r, ()) = tokio::join!(result, relay);
        r
    };
    let scanner = async {
        let qr = scan_rx.recv().await.expect("a QR");
        let (status, body) = control(
            reqwest::Method::POST,
            handle,
            "md/scan",
            Some(serde_json::json!({ "qr": qr })),
        )
        .await;
        assert_eq!(status, 200, "scan: {body}");
    };
    let (result, ()) = tokio::join!(login, scanner);
    result.expect("QR login");
    collect(&mut rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_by_qr_restores_after_restarts_and_stops_when_unlinked() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("md-state.json");
    let dir = tmp.path().join("device");
    let mut handle = SimServer::start_with_md_state(SimConfig::default(), state.clone())
        .await
        .unwrap();

    let mut device = open(&handle, &dir);
    let events = qr_login(&handle, &mut device).await;
    let jid = match events.iter().find(|e| matches!(e, DeviceEvent::Paired(_))) {
        Some(DeviceEvent::Paired(jid)) => jid.clone(),
        other => panic!("not paired: {other:?} in {events:?}"),
    };
    assert!(events.contains(&DeviceEvent::LoggedIn), "{events:?}");
    assert!(
        events.contains(&DeviceEvent::PreKeysUploaded(812)),
        "{events:?}"
    );
    let listed = devices(&handle).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["jid"], jid.to_string());
    assert_eq!(listed[0]["prekeys"], 812, "the sim stores our upload");
    assert_eq!(device.credentials().account.as_ref().unwrap().jid, jid);
    device.close().await;
    drop(device);

    // A new process: the same files, a login without pairing, no new upload.
    let mut device = open(&handle, &dir);
    assert!(device.credentials().is_paired());
    let (tx, mut rx) = mpsc::unbounded_channel();
    device
        .restore(&tx)
        .await
        .expect("restore after a process restart");
    let events = collect(&mut rx);
    assert_eq!(
        events,
        vec![DeviceEvent::LoggedIn, DeviceEvent::KeyBundleChecked(true)],
        "no re-upload after a restart"
    );
    device.close().await;

    // The sim restarts from its state file on a new port; the device logs in again.
    handle.shutdown().await;
    handle = SimServer::start_with_md_state(SimConfig::default(), state.clone())
        .await
        .unwrap();
    let mut device = open(&handle, &dir);
    device
        .restore(&tx)
        .await
        .expect("restore after a sim restart");
    assert_eq!(devices(&handle).await.len(), 1);
    let saved = FileCredentialStore::new(&dir)
        .unwrap()
        .load()
        .unwrap()
        .unwrap();

    // The phone unlinks the device: 401 device_removed, the device stops and forgets.
    let serve = async { device.run(&tx).await };
    let unlink = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, body) = control(
            reqwest::Method::POST,
            &handle,
            "md/unlink",
            Some(serde_json::json!({ "jid": jid.to_string() })),
        )
        .await;
        assert_eq!(status, 200, "unlink: {body}");
    };
    let (served, ()) = tokio::join!(
        async {
            tokio::time::timeout(Duration::from_secs(20), serve)
                .await
                .expect("401 in time")
        },
        unlink
    );
    assert!(
        matches!(
            served,
            Err(MdDeviceError::Stopped(StreamError::DeviceRemoved))
        ),
        "{served:?}"
    );
    assert!(
        FileCredentialStore::new(&dir)
            .unwrap()
            .load()
            .unwrap()
            .is_none(),
        "store cleared"
    );
    assert!(devices(&handle).await.is_empty());

    // The old credentials (kept elsewhere) are refused at login, and not retried.
    let old = tmp.path().join("old");
    FileCredentialStore::new(&old)
        .unwrap()
        .save(&saved)
        .unwrap();
    let mut stale = open(&handle, &old);
    let refused = stale.restore(&tx).await;
    assert!(
        matches!(
            &refused,
            Err(MdDeviceError::Stopped(
                StreamError::LoggedOut { .. } | StreamError::DeviceRemoved
            ))
        ),
        "{refused:?}"
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_by_code_and_a_mistyped_code_does_not_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let phone = "15557654321";

    // Typed wrong: the phone cannot open the key bundle; nothing pairs.
    let mut wrong = open(&handle, &tmp.path().join("wrong"));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let code = wrong.pair_with_code(phone, &tx).await.expect("a code");
    let typo = if code.starts_with('A') { "B" } else { "A" }.to_owned() + &code[1..];
    let (status, _) = control(
        reqwest::Method::POST,
        &handle,
        "md/pair-code",
        Some(serde_json::json!({ "phone": phone, "code": typo })),
    )
    .await;
    let waited = tokio::time::timeout(Duration::from_secs(8), wrong.finish_login(&tx)).await;
    assert!(
        !matches!(waited, Ok(Ok(()))),
        "a mistyped code paired (control status {status})"
    );
    assert!(!wrong.credentials().is_paired());
    assert!(devices(&handle).await.is_empty());
    wrong.close().await;
    collect(&mut rx);

    // The right code pairs, restarts on 515, logs in and uploads.
    let mut device = open(&handle, &tmp.path().join("right"));
    let code = device
        .pair_with_code(&format!("+{phone}"), &tx)
        .await
        .expect("a code");
    assert_eq!(code.len(), 8);
    let enter = async {
        let (status, body) = control(
            reqwest::Method::POST,
            &handle,
            "md/pair-code",
            Some(serde_json::json!({ "phone": phone, "code": code })),
        )
        .await;
        assert_eq!(status, 200, "pair-code: {body}");
    };
    let (done, ()) = tokio::join!(device.finish_login(&tx), enter);
    done.expect("pair-code login");
    let events = collect(&mut rx);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, DeviceEvent::Paired(j) if j.user == phone)),
        "{events:?}"
    );
    assert!(
        events.contains(&DeviceEvent::PreKeysUploaded(812)),
        "{events:?}"
    );
    let listed = devices(&handle).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["prekeys"], 812);

    // Logout unlinks it on the phone and clears the store.
    device.logout(&tx).await.expect("logout");
    assert!(
        FileCredentialStore::new(tmp.path().join("right"))
            .unwrap()
            .load()
            .unwrap()
            .is_none()
    );
    assert!(
        devices(&handle).await.is_empty(),
        "the phone no longer lists it"
    );
    handle.shutdown().await;
}
