//! Live interop: the real legacy client, `@adiwajshing/baileys@3.5.3`, logs into wa-sim.
//!
//! `interop/legacy-login.js` logs in by QR (the simulated phone scans it through the control API),
//! restores by takeover, restores through a challenge, is replaced by a second client, logs out,
//! and is refused afterwards. It prints what Baileys saw as JSON lines; this test reads them as
//! they come and checks them against the server's own state: the keys Baileys derived from
//! `secret` are the session's keys, and the contacts and chats it decrypted from wa-sim's binary
//! frames are the seed account's. It runs once over `ws://` and once over `wss://`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use wa_sim::core::{Config, LogoutVia, SimEvent};
use wa_sim::{SeedAccount, SimConfig, SimHandle, SimServer, TlsConfig};

fn whatsapp_id(jid: &str) -> String {
    jid.replace("@c.us", "@s.whatsapp.net")
}

/// Checks an `open` line against the server: same keys, same tokens, the seed's identity.
fn check_open(handle: &SimHandle, line: &Value, seed: &SeedAccount) -> String {
    let client_id = line["clientID"].as_str().expect("clientID").to_owned();
    let keys = handle
        .session_keys(&client_id)
        .expect("the session Baileys opened exists on the server");
    assert_eq!(line["encKey"], BASE64.encode(keys.enc_key()), "encKey");
    assert_eq!(line["macKey"], BASE64.encode(keys.mac_key()), "macKey");
    let session = handle.state().sessions;
    let session = session
        .iter()
        .find(|s| s.client_id == client_id)
        .expect("session listed");
    assert_eq!(line["clientToken"], session.client_token.as_str());
    assert_eq!(line["serverToken"], session.server_token.as_str());
    assert_eq!(line["jid"], whatsapp_id(&seed.wid));
    assert_eq!(line["name"], seed.pushname.as_str());
    client_id
}

/// Checks a `data` line: what Baileys decrypted and decoded is the seed's address book and chats.
fn check_data(line: &Value, seed: &SeedAccount) {
    let contacts = line["contacts"].as_array().expect("contacts");
    assert_eq!(contacts.len(), seed.contacts.len());
    for expected in &seed.contacts {
        let got = contacts
            .iter()
            .find(|c| c["jid"] == whatsapp_id(&expected.jid))
            .unwrap_or_else(|| panic!("contact {} missing: {contacts:?}", expected.jid));
        assert_eq!(got["name"].as_str(), expected.name.as_deref());
        assert_eq!(got["notify"].as_str(), expected.notify.as_deref());
        assert_eq!(got["short"].as_str(), expected.short.as_deref());
    }
    let chats = line["chats"].as_array().expect("chats");
    assert_eq!(chats.len(), seed.chats.len());
    for expected in &seed.chats {
        let got = chats
            .iter()
            .find(|c| c["jid"] == whatsapp_id(&expected.jid))
            .unwrap_or_else(|| panic!("chat {} missing: {chats:?}", expected.jid));
        assert_eq!(got["t"], expected.t);
        assert_eq!(got["count"], expected.count);
        assert_eq!(got["archive"], expected.archive);
        // Baileys names a chat after its contact when it has one.
        let contact_name = seed
            .contacts
            .iter()
            .find(|c| c.jid == expected.jid)
            .and_then(|c| c.name.clone());
        assert_eq!(
            got["name"].as_str(),
            contact_name.or(expected.name.clone()).as_deref()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_3_5_3_logs_in_restores_and_logs_out() {
    run_baileys(false).await;
}

/// The same over `wss://`, with the test certificate trusted through `NODE_EXTRA_CA_CERTS`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_3_5_3_logs_in_over_tls() {
    run_baileys(true).await;
}

async fn run_baileys(tls: bool) {
    let interop = wa_testkit::interop_dir(&["@adiwajshing/baileys"]);
    let seed = SeedAccount::default();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let cert = data.join("localhost.crt");
    let tls_config = tls.then(|| {
        TlsConfig::from_pem_files(&cert, &data.join("localhost.key")).expect("test certificate")
    });
    let handle = SimServer::start(SimConfig {
        server: Config {
            rng_seed: Some(2021),
            ..Config::default()
        },
        tls: tls_config,
        ..SimConfig::default()
    })
    .await
    .expect("sim starts");
    assert_eq!(handle.ws_url().starts_with("wss://"), tls);

    let mut command = Command::new("node");
    if tls {
        command.env("NODE_EXTRA_CA_CERTS", &cert);
    }
    let mut child = command
        .arg("legacy-login.js")
        .arg(handle.ws_url())
        .arg(handle.control_url())
        .current_dir(&interop)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (is Node.js 20 installed?)");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();

    let mut seen = Vec::new();
    let mut client_id = String::new();
    let mut enc_key = Value::Null;
    let mut tokens = Vec::new();
    let run = async {
        while let Some(line) = lines.next_line().await.expect("stdout readable") {
            let line: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            let event = line["event"].as_str().unwrap_or_default().to_owned();
            let phase = line["phase"].as_str().unwrap_or_default().to_owned();
            match event.as_str() {
                "open" => {
                    // Checked while the session is live (it is logged out at the end).
                    client_id = check_open(&handle, &line, &seed);
                    assert_eq!(line["newConnection"], phase == "qr");
                    if phase != "qr" {
                        assert_eq!(line["encKey"], enc_key, "a restore keeps the keys");
                    }
                    enc_key = line["encKey"].clone();
                    tokens.push(line["serverToken"].clone());
                }
                "data" => check_data(&line, &seed),
                "error" | "scan_error" => panic!("legacy-login.js failed: {line}"),
                _ => {}
            }
            seen.push((event, phase, line));
        }
    };
    tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("legacy-login.js finishes");
    let status = child.wait().await.expect("node exits");
    assert!(status.success(), "legacy-login.js exited with {status}");

    let order: Vec<(&str, &str)> = seen
        .iter()
        .filter(|(e, _, _)| e != "qr")
        .map(|(e, p, _)| (e.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("exhausted", ""),
            ("open", "qr"),
            ("data", "qr"),
            ("open", "restore"),
            ("data", "restore"),
            ("open", "challenge"),
            ("data", "challenge"),
            ("replaced", ""),
            ("logged_out", ""),
            ("restore_refused", ""),
            ("done", ""),
        ]
    );
    // Every restore got new tokens.
    assert_eq!(tokens.len(), 3);
    assert!(tokens[0] != tokens[1] && tokens[1] != tokens[2]);
    let find = |name: &str| &seen.iter().find(|(e, _, _)| e == name).expect(name).2;
    // Unscanned: the first ref and five rerefs, each new, then 429 ended the attempt.
    let refs: Vec<&str> = find("exhausted")["refs"]
        .as_array()
        .expect("refs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(refs.len(), 6, "{refs:?}");
    let distinct: std::collections::HashSet<&str> = refs.iter().copied().collect();
    assert_eq!(distinct.len(), 6, "{refs:?}");
    let why = find("exhausted")["message"].as_str().unwrap_or_default();
    assert!(why.contains("429"), "{why}");
    assert_eq!(find("replaced")["reason"], "replaced");
    // The sim handled Baileys' goodbye before the restore was tried.
    assert_eq!(find("logged_out")["via"], "goodbye");
    assert_eq!(find("restore_refused")["status"], 401);

    // The server saw the same story.
    let events = handle.events();
    let logins: Vec<(bool, bool)> = events
        .iter()
        .filter_map(|e| match e {
            SimEvent::LoggedIn {
                client_id: id,
                restored,
                challenged,
                ..
            } if *id == client_id => Some((*restored, *challenged)),
            _ => None,
        })
        .collect();
    assert_eq!(
        logins,
        [(false, false), (true, false), (true, true), (true, false)]
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SimEvent::Replaced { .. }))
    );
    assert!(events.contains(&SimEvent::LoggedOut {
        client_id: client_id.clone(),
        via: LogoutVia::Goodbye
    }));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SimEvent::LoginRefused { status: 401, .. }))
    );
    // Baileys' post-login queries reached the server encrypted with the session keys.
    let queried: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            SimEvent::ClientNode { node, .. } if node.description == "query" => node.attr("type"),
            _ => None,
        })
        .collect();
    for kind in ["contacts", "status", "quick_reply", "label", "emoji"] {
        assert!(queried.contains(&kind), "no {kind} query in {queried:?}");
    }
    // Nothing Baileys sent was refused.
    let rejected: Vec<&SimEvent> = events
        .iter()
        .filter(|e| matches!(e, SimEvent::Rejected { .. }))
        .collect();
    assert!(rejected.is_empty(), "{rejected:?}");
    handle.shutdown().await;
}
