//! Live interop: Baileys 7 (npm `baileys@7.0.0-rc14`) links to wa-sim's simulated phone, by QR
//! and by pairing code, restarts on the 515, logs in, uploads its prekeys (which the sim keeps),
//! logs in again from its saved credentials in a new process, and again after the simulator
//! restarts from its state file; once the phone unlinks it, its login gets 401.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::Command;
use wa_sim::core::SimEvent;
use wa_sim::md::MdEvent;
use wa_sim::{SimConfig, SimHandle, SimServer};

/// Runs interop/md-pair.mjs; returns its JSON line and exit code.
async fn baileys(mode: &str, handle: &SimHandle, auth: &Path, phone: Option<&str>) -> (Value, i32) {
    let mut command = Command::new("node");
    command
        .arg("md-pair.mjs")
        .arg(mode)
        .arg(handle.md_ws_url())
        .arg(hex::encode(handle.md().trust_root().key))
        .arg(handle.control_url())
        .arg(auth);
    if let Some(phone) = phone {
        command.arg(phone);
    }
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        command
            .current_dir(wa_testkit::interop_dir(&["baileys"]))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("node finishes in time")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let value = serde_json::from_str(line).unwrap_or_else(|_| {
        panic!(
            "node printed no JSON line: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (value, output.status.code().unwrap_or(-1))
}

async fn devices(handle: &SimHandle) -> Vec<Value> {
    let url = format!("{}/md/devices", handle.control_url());
    let body = control_get(&url).await;
    serde_json::from_str::<Vec<Value>>(&body).expect("a JSON array")
}

/// A minimal HTTP GET (the control API is plain HTTP on the sim's port).
async fn control_get(url: &str) -> String {
    http("GET", url, None).await
}

async fn http(method: &str, url: &str, body: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let body = body.unwrap_or("");
    let request = format!(
        "{method} /{path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let (_, body) = response.split_once("\r\n\r\n").expect("a body");
    body.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_7_pairs_by_qr_logs_in_again_and_survives_a_sim_restart() {
    if wa_testkit::node_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("md-state.json");
    let auth = dir.path().join("auth");
    let handle = SimServer::start_with_md_state(SimConfig::default(), state.clone())
        .await
        .expect("sim starts");

    let started = Instant::now();
    let (line, code) = baileys("qr", &handle, &auth, None).await;
    let pairing = started.elapsed();
    assert_eq!(code, 0, "{line}; events: {:?}", handle.md_events());
    assert_eq!(line["sockets"], 2, "one socket to pair, one after the 515");
    let me = line["me"]["id"].as_str().expect("me.id").to_owned();
    let listed = devices(&handle).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["jid"], me.as_str());
    assert_eq!(listed[0]["lid"], line["me"]["lid"]);
    assert_eq!(
        listed[0]["prekeys"], 812,
        "Baileys' initial upload is stored"
    );
    assert!(listed[0]["signed_prekey_id"].is_number());
    let events = handle.md_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MdEvent::Paired { jid, .. } if *jid == me))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MdEvent::PrekeysUploaded { count: 812, .. }))
    );
    eprintln!("QR pairing, 515, login and 812-prekey upload took {pairing:?}");

    // A new process from the saved credentials logs in without a QR, and uploads nothing more.
    let (line, code) = baileys("login", &handle, &auth, None).await;
    assert_eq!(code, 0, "{line}");
    assert_eq!(line["qrs"], 0);
    assert_eq!(line["me"]["id"], me.as_str());
    assert_eq!(devices(&handle).await[0]["prekeys"], 812);

    // The state file is private and the simulator comes back from it with the same root.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let root = handle.md().trust_root().key;
    handle.shutdown().await;
    let handle = SimServer::start_with_md_state(SimConfig::default(), state.clone())
        .await
        .expect("sim restarts");
    assert_eq!(handle.md().trust_root().key, root);
    let (line, code) = baileys("login", &handle, &auth, None).await;
    assert_eq!(code, 0, "{line}; events: {:?}", handle.md_events());
    assert_eq!(line["me"]["id"], me.as_str());

    // The phone unlinks the device: its next login is refused with 401 (logged out).
    let answer = http(
        "POST",
        &format!("{}/md/unlink", handle.control_url()),
        Some(&format!(r#"{{"jid":"{me}"}}"#)),
    )
    .await;
    assert!(answer.contains("\"ok\":true"), "{answer}");
    assert!(devices(&handle).await.is_empty());
    let (line, code) = baileys("login", &handle, &auth, None).await;
    assert_eq!(code, 2, "{line}");
    assert_eq!(line["closed"], 401, "{line}");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_7_pairs_by_code_and_logs_out() {
    if wa_testkit::node_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth");
    let handle = SimServer::start(SimConfig::default())
        .await
        .expect("sim starts");
    let (line, code) = baileys("code", &handle, &auth, Some("15551234567")).await;
    assert_eq!(code, 0, "{line}; events: {:?}", handle.md_events());
    let pairing_code = line["code"].as_str().expect("the code Baileys made");
    assert_eq!(pairing_code.len(), 8);
    let me = line["me"]["id"].as_str().unwrap().to_owned();
    assert!(me.starts_with("15551234567:"), "{me}");
    let listed = devices(&handle).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["jid"], me);
    assert_eq!(listed[0]["prekeys"], 812);
    assert!(
        handle.md_events().iter().any(
            |e| matches!(e, MdEvent::PairCodeRequested { number } if *number == 15_551_234_567)
        )
    );
    let (line, code) = baileys("login", &handle, &auth, None).await;
    assert_eq!(code, 0, "{line}");

    // An in-process restart (same port, no state file) keeps the linked device.
    let handle = handle.restart().await.expect("sim restarts");
    let (line, code) = baileys("login", &handle, &auth, None).await;
    assert_eq!(code, 0, "{line}");

    // Baileys' own logout removes the companion device.
    let (line, code) = baileys("logout", &handle, &auth, None).await;
    assert_eq!(code, 0, "{line}");
    assert_eq!(line["loggedOut"], true);
    // Baileys does not wait for the answer to its removal request: wait for the sim to act on it.
    let unlinked = handle
        .wait_for_event(
            Duration::from_secs(10),
            |e| matches!(e, SimEvent::Md { md: MdEvent::Unlinked { jid }, .. } if *jid == me),
        )
        .await;
    assert!(unlinked.is_some(), "the sim never unlinked {me}");
    assert!(devices(&handle).await.is_empty());
    handle.shutdown().await;
}

/// A measurement, not a check: Baileys 7 pairings per second against wa-sim (pair, 515, login,
/// 812-prekey upload), printed. Run with `cargo test -p wa-sim --test md_pairing_baileys --
/// --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by hand"]
async fn measure_baileys_7_pairings_per_second() {
    if wa_testkit::node_missing() {
        return;
    }
    let handle = SimServer::start(SimConfig::default())
        .await
        .expect("sim starts");
    let output = Command::new("node")
        .arg("bench-md-pair.mjs")
        .arg(handle.md_ws_url())
        .arg(hex::encode(handle.md().trust_root().key))
        .arg(handle.control_url())
        .arg("20")
        .current_dir(wa_testkit::interop_dir(&["baileys"]))
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!(
        "Baileys 7 against wa-sim: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        devices(&handle).await.len(),
        20,
        "every pairing linked a device"
    );
    handle.shutdown().await;
}
