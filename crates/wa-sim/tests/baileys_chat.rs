//! Live interop: the real legacy client, `@adiwajshing/baileys@3.5.3`, messages through wa-sim.
//!
//! `interop/legacy-chat.js` logs in, talks to the echo contact (text and an image that Baileys
//! encrypts, uploads to the sim's media host, gets back and decrypts), re-downloads the image
//! after the sim expired its URL, queries history, message info, search and group metadata,
//! changes chats, creates a group, and goes through two faults: a connection dropped before the
//! ack of a relay, and a delivery made twice. This test checks what Baileys printed against the
//! server's own store.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use wa_sim::core::{Config, SimEvent};
use wa_sim::seed::SeedContact;
use wa_sim::store::ECHO_JID;
use wa_sim::{SeedAccount, SimConfig, SimServer, TlsConfig};

fn wa(jid: &str) -> String {
    jid.replace("@c.us", "@s.whatsapp.net")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_3_5_3_messages_the_echo_contact_through_faults() {
    let seed = SeedAccount::default();
    let group = seed
        .chats
        .iter()
        .find(|c| c.jid.ends_with("@g.us"))
        .expect("the default seed has a group")
        .jid
        .clone();
    let friend = seed.contacts[0].jid.clone();
    let other = seed.contacts[2].jid.clone();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let cert = data.join("localhost.crt");
    let tls = TlsConfig::from_pem_files(&cert, &data.join("localhost.key")).expect("certificate");
    let handle = SimServer::start(SimConfig {
        server: Config {
            rng_seed: Some(66),
            ..Config::default()
        },
        tls: Some(tls),
        ..SimConfig::default()
    })
    .await
    .expect("sim starts");

    let seen = run_script(&[
        &handle.ws_url(),
        &handle.control_url(),
        ECHO_JID,
        &group,
        &friend,
        &other,
    ])
    .await;
    let find = |name: &str| {
        seen.iter()
            .find(|l| l["event"] == name)
            .unwrap_or_else(|| panic!("no {name} line in {seen:#?}"))
            .clone()
    };
    let me = seed.wid.clone();
    let store = handle
        .with_server(|s, _| s.store(&me).cloned())
        .expect("store");
    let echo_chat = store.chats.get(ECHO_JID).expect("echo chat stored");

    // The contacts Baileys got include the echo contact.
    let open = find("open");
    assert!(
        open["contacts"]
            .as_array()
            .unwrap()
            .contains(&Value::String(wa(ECHO_JID)))
    );

    // Text: server ack, then delivered and read acks from the echo contact, then its echo.
    let sent_id = find("text_sent")["id"].as_str().unwrap().to_owned();
    let statuses: Vec<i64> = seen
        .iter()
        .filter(|l| l["event"] == "status" && l["id"] == sent_id.as_str())
        .filter_map(|l| l["status"].as_i64())
        .collect();
    assert!(
        statuses.contains(&3) && statuses.contains(&4),
        "{statuses:?}"
    );
    let echo = find("text_echo");
    assert_eq!(echo["text"], "hello echo");
    assert_eq!(echo["remoteJid"], wa(ECHO_JID));
    let stored = echo_chat.message(&sent_id).expect("sent text stored");
    assert!(stored.from_me());
    assert_eq!(stored.receipts.get(ECHO_JID).map(|r| r.0), Some(3));
    assert!(
        seen.iter()
            .any(|l| l["event"] == "presence" && l["presence"] == "composing"),
        "the echo contact was composing"
    );

    // Image: uploaded to the sim, echoed, decrypted to the same bytes, and again after the
    // URL expired.
    let image = find("image_echo");
    assert_eq!(image["sha256"], image["original"]);
    assert_eq!(image["caption"], "a picture");
    assert!(
        find("image_sent")["url"]
            .as_str()
            .unwrap()
            .starts_with(&handle.http_url())
    );
    let requery = find("image_requery");
    assert_eq!(requery["sha256"], image["original"]);
    assert_eq!(requery["url_changed"], true);
    assert_eq!(requery["expired_status"], 404);
    assert_eq!(handle.with_server(|s, _| s.media().len()), 1);

    // History: the newest ten, oldest first, exactly the store's; paging before the oldest.
    let history: Vec<String> = find("history")["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    // Fetched right after the image: text, its echo, image, its echo.
    let first_four: Vec<String> = echo_chat.messages[..4]
        .iter()
        .map(|m| m.id().to_owned())
        .collect();
    assert_eq!(history, first_four);
    // Two before the newest.
    assert_eq!(
        find("history_before")["ids"],
        serde_json::json!(history[1..3])
    );
    let info = find("message_info");
    assert_eq!(info["reads"], serde_json::json!([wa(ECHO_JID)]));
    let search = find("search");
    assert_eq!(search["ids"].as_array().unwrap().len(), 2, "{search}");
    let meta = find("group_metadata");
    assert_eq!(meta["id"], group.as_str());
    assert_eq!(meta["subject"], "Sim Group");
    assert!(
        meta["participants"]
            .as_array()
            .unwrap()
            .contains(&Value::String(me.clone()))
    );
    assert_eq!(find("exists")["exists"], true);

    // Chat operations reached the store.
    assert!(
        echo_chat.archive || echo_chat.messages.len() > 4,
        "archived (until the next message)"
    );
    assert!(echo_chat.pin.is_some());
    assert_eq!(echo_chat.mute, None);
    let created = find("group_created");
    let gid = created["gid"].as_str().unwrap();
    assert_eq!(created["subject"], "Sim Created");
    assert_eq!(created["participants"], serde_json::json!([me, friend]));

    // Profile, blocklist and group administration as Baileys sends them.
    let profile = find("profile");
    assert_eq!(profile["pushname"], "Renamed Phone");
    assert_eq!(profile["status"], "busy with the sim");
    assert!(
        profile["eurl"]
            .as_str()
            .unwrap()
            .starts_with(&handle.http_url())
    );
    assert_eq!(profile["picture_url"], profile["eurl"]);
    // Baileys takes the sim's `Blocklist` push (`@c.us`, as JSON pushes carry JIDs) and then
    // appends the JID it asked for in its own form.
    let blocked = profile["blocked"].as_array().unwrap();
    assert!(blocked.contains(&Value::String(wa(&friend))), "{blocked:?}");
    assert!(
        blocked
            .iter()
            .all(|j| wa(j.as_str().unwrap()) == wa(&friend))
    );
    assert_eq!(profile["blocked_after"], serde_json::json!([]));
    assert_eq!(store.pushname, "Renamed Phone");
    assert_eq!(store.status, "busy with the sim");
    assert!(
        store
            .picture
            .as_ref()
            .is_some_and(|p| p.starts_with(&[0xff, 0xd8]))
    );
    assert!(store.blocked.is_empty());
    let admin = find("group_admin");
    assert_eq!(admin["subject"], "Renamed Group");
    assert_eq!(admin["desc"], "what we do");
    assert_eq!(admin["announce"], "true");
    assert_ne!(admin["code"], admin["reset_code"]);
    assert_eq!(
        admin["participants"],
        serde_json::json!([{ "id": me, "admin": true }, { "id": friend, "admin": false }])
    );
    let g = handle
        .with_server(|s, _| s.group(gid).cloned())
        .expect("group");
    assert_eq!(g.subject, "Renamed Group");
    assert!(!g.is_member(&me), "left");
    assert!(!g.is_member(&other), "removed");
    assert_eq!(g.invite_code, admin["reset_code"].as_str().unwrap());

    // Faults: the dropped relay was resent with the same id, acked and not delivered twice;
    // the duplicated delivery left one copy in Baileys.
    let resent = find("resent");
    let resent_id = resent["id"].as_str().unwrap();
    let events = handle.events();
    assert!(
        events.iter().any(
            |e| matches!(e, SimEvent::FaultInjected { fault, .. } if fault == "drop_before_ack")
        )
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SimEvent::DuplicateRelay { id, .. } if id == resent_id)),
        "Baileys resent {resent_id}"
    );
    let relayed = events
        .iter()
        .filter(|e| matches!(e, SimEvent::Relayed { id, .. } if id == resent_id))
        .count();
    assert_eq!(relayed, 1);
    let dedupe = find("dedupe");
    assert_eq!(dedupe["copies"], 1);
    assert_eq!(dedupe["resendCopies"], 1);
    assert!(events.iter().any(
        |e| matches!(e, SimEvent::FaultInjected { fault, .. } if fault == "duplicate_delivery")
    ));
    let rejected: Vec<&SimEvent> = events
        .iter()
        .filter(|e| matches!(e, SimEvent::Rejected { .. }))
        .collect();
    assert!(rejected.is_empty(), "{rejected:?}");
    find("done");
    handle.shutdown().await;
}

/// Runs `legacy-chat.js` with `args` (beginning with the sim's URLs) and returns its lines.
async fn run_script(args: &[&str]) -> Vec<Value> {
    let interop = wa_testkit::interop_dir(&["@adiwajshing/baileys"]);
    let cert = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/localhost.crt");
    let mut child = Command::new("node")
        .env("NODE_EXTRA_CA_CERTS", &cert)
        .arg("legacy-chat.js")
        .args(args)
        .current_dir(&interop)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (is Node.js 20 installed?)");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut seen = Vec::new();
    let started = std::time::Instant::now();
    let run = async {
        while let Some(line) = lines.next_line().await.expect("stdout readable") {
            let line: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            eprintln!("legacy-chat.js +{:?}: {line}", started.elapsed());
            assert_ne!(line["event"], "error", "legacy-chat.js failed: {line}");
            seen.push(line);
        }
    };
    tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("legacy-chat.js finishes");
    let status = child.wait().await.expect("node exits");
    assert!(status.success(), "legacy-chat.js exited with {status}");
    seen
}

/// Two Baileys clients logged into two accounts of one sim talk to each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_baileys_clients_on_two_accounts_talk_through_the_sim() {
    let a = SeedAccount::default();
    let b = SeedAccount {
        wid: "15550100002@c.us".to_owned(),
        pushname: "Alice".to_owned(),
        contacts: vec![SeedContact {
            jid: a.wid.clone(),
            name: Some("Sim Phone".to_owned()),
            notify: None,
            short: None,
        }],
        chats: Vec::new(),
        ..SeedAccount::default()
    };
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let tls = TlsConfig::from_pem_files(&data.join("localhost.crt"), &data.join("localhost.key"))
        .expect("certificate");
    let handle = SimServer::start(SimConfig {
        server: Config {
            rng_seed: Some(67),
            accounts: vec![a.clone(), b.clone()],
            ..Config::default()
        },
        tls: Some(tls),
        ..SimConfig::default()
    })
    .await
    .expect("sim starts");
    let seen = run_script(&[
        "pair",
        &handle.ws_url(),
        &handle.control_url(),
        &a.wid,
        &b.wid,
    ])
    .await;
    let find = |name: &str| {
        seen.iter()
            .find(|l| l["event"] == name)
            .unwrap_or_else(|| panic!("no {name} line in {seen:#?}"))
            .clone()
    };
    let open = find("pair_open");
    assert_eq!(open["a"], wa(&a.wid));
    assert_eq!(open["b"], wa(&b.wid));
    let received = find("b_received");
    assert_eq!(received["id"], received["sent_id"]);
    assert_eq!(received["text"], "hello from A");
    assert_eq!(received["pushName"], "Sim Phone");
    let back = find("a_received");
    assert_eq!(back["text"], "hello back from B");
    assert_eq!(back["quoted_id"], received["id"]);
    assert_eq!(find("a_read")["status"], 4);
    let image = find("b_image");
    assert_eq!(image["sha256"], image["original"]);
    find("done");
    // The server's stores agree: A's message is READ by B.
    let id = received["id"].as_str().unwrap().to_owned();
    let stored = handle
        .with_server(|s, _| s.store(&a.wid).unwrap().chats[&b.wid].message(&id).cloned())
        .expect("stored");
    assert_eq!(stored.info.status, Some(4));
    assert_eq!(stored.receipts.get(&b.wid).map(|r| r.0), Some(3));
    handle.shutdown().await;
}
