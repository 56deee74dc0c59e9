//! The example programs run offline against their in-process wa-sim, through the same `run`
//! function their `main` calls, and their outcomes are checked: the echo bot's replies, the
//! downloaded files' hashes, the exported JSON.

// Each example brings its own copy of `examples/common/mod.rs`, as it does when built alone.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "../examples/echo_bot.rs"]
mod echo_bot;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn echo_bot_answers_each_text_with_itself_and_keeps_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("bot.json");
    let session_arg = session.to_str().unwrap();

    let summary = echo_bot::run(&args(&["--session", session_arg]))
        .await
        .unwrap();

    let friend = "15550100002@c.us";
    let expected: Vec<(String, String)> = echo_bot::DEMO_TEXTS
        .iter()
        .map(|t| (friend.to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(summary.replies, expected);
    // The other side really got the echoes, in order.
    assert_eq!(summary.echoes_received, echo_bot::DEMO_TEXTS.to_vec());
    assert_eq!(summary.read_receipts, echo_bot::DEMO_TEXTS.len());
    // The session was stored for the next run.
    let stored = std::fs::read_to_string(&session).unwrap();
    assert!(stored.contains("15550100001@c.us"), "{stored}");
}

#[tokio::test]
async fn echo_bot_stops_after_max_replies() {
    let summary = echo_bot::run(&args(&["--max", "2"])).await.unwrap();
    assert_eq!(summary.replies.len(), 2);
    assert_eq!(summary.replies[1].1, echo_bot::DEMO_TEXTS[1]);
}

#[tokio::test]
async fn echo_bot_refuses_unknown_options() {
    let err = echo_bot::run(&args(&["--bogus", "1"])).await.unwrap_err();
    assert!(err.to_string().contains("--bogus"), "{err}");
}

#[allow(dead_code)]
#[path = "../examples/media_downloader.rs"]
mod media_downloader;

fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).to_vec()
}

#[tokio::test]
async fn media_downloader_saves_history_then_live_media_with_the_original_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("media");
    // A page size of 2 makes the history take two pages.
    let summary = media_downloader::run(&args(&["--dir", out.to_str().unwrap(), "--page", "2"]))
        .await
        .unwrap();

    let originals = media_downloader::demo_media();
    assert_eq!(summary.failed, 0);
    assert_eq!(summary.saved.len(), originals.len());
    for (n, (saved, original)) in summary.saved.iter().zip(&originals).enumerate() {
        assert!(saved.path.starts_with(&out), "{}", saved.path.display());
        let written = std::fs::read(&saved.path).unwrap();
        assert_eq!(sha256(&written), sha256(&original.bytes), "file {n}");
        assert_eq!(saved.bytes, original.bytes.len());
        // All but the last were in the history; the last arrived while it waited.
        assert_eq!(saved.live, n == originals.len() - 1, "file {n}");
    }
    let names: Vec<String> = summary
        .saved
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names[0], format!("{}.jpg", summary.saved[0].id));
    assert_eq!(names[1], format!("{}-report_2026.pdf", summary.saved[1].id));
    assert_eq!(names[2], format!("{}.ogg", summary.saved[2].id));
    assert_eq!(names[3], format!("{}.mp4", summary.saved[3].id));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), originals.len());
}

#[test]
fn media_downloader_keeps_network_file_names_inside_the_directory() {
    let name = media_downloader::file_name_for("3EB0/../X", None, Some("../../etc/passwd"));
    assert_eq!(name, "3EB0X-_.._etc_passwd");
    assert!(!name.contains('/'));
    let name = media_downloader::file_name_for("ID", Some("audio/ogg; codecs=opus"), None);
    assert_eq!(name, "ID.ogg");
}

#[allow(dead_code)]
#[path = "../examples/history_export.rs"]
mod history_export;

#[tokio::test]
async fn history_export_writes_the_whole_conversation_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("chat.json");
    let summary = history_export::run(&args(&["--out", out.to_str().unwrap(), "--page", "3"]))
        .await
        .unwrap();

    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let messages = written.as_array().expect("a JSON array");
    assert_eq!(messages, &summary.messages);
    // 8 messages, 3 per request: 3 + 3 + 2, the last page reaching the start.
    assert_eq!(summary.pages, 3);
    let conversation = history_export::DEMO_CONVERSATION;
    assert_eq!(messages.len(), conversation.len());
    assert_eq!(summary.demo_ids.len(), conversation.len());

    let me = "15550100001@c.us";
    let friend = "15550100002@c.us";
    let mut last_timestamp = 0;
    for (n, (m, (ours, text))) in messages.iter().zip(conversation).enumerate() {
        assert_eq!(
            m["id"],
            summary.demo_ids[n].as_str(),
            "message {n} in order"
        );
        assert_eq!(m["chat"], friend);
        assert_eq!(m["fromMe"], ours, "message {n}");
        assert_eq!(m["from"], if ours { me } else { friend }, "message {n}");
        let timestamp = m["timestamp"].as_u64().expect("timestamp");
        assert!(timestamp >= last_timestamp && timestamp > 1_600_000_000);
        last_timestamp = timestamp;
        if n == history_export::DEMO_IMAGE_AT {
            assert_eq!(m["type"], "image");
            assert_eq!(m["caption"], text);
            assert_eq!(m["text"], serde_json::Value::Null);
            let photo = history_export::demo_photo();
            assert_eq!(m["media"]["mimetype"], "image/jpeg");
            assert_eq!(m["media"]["fileLength"], photo.len());
            let hex: String = sha256(&photo).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(m["media"]["fileSha256"], hex.as_str());
        } else {
            assert_eq!(m["type"], "text");
            assert_eq!(m["text"], text, "message {n}");
            assert_eq!(m["media"], serde_json::Value::Null);
        }
        // The friend read everything we sent; what it sent is stored as delivered to us.
        assert_eq!(
            m["status"],
            if ours { "READ" } else { "DELIVERY_ACK" },
            "message {n}"
        );
    }
}

#[tokio::test]
async fn history_export_limit_keeps_the_newest_messages_across_pages() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tail.json");
    let summary = history_export::run(&args(&[
        "--out",
        out.to_str().unwrap(),
        "--page",
        "2",
        "--limit",
        "5",
    ]))
    .await
    .unwrap();

    // 2 + 2 + 1: the last request asks only for what the limit leaves.
    assert_eq!(summary.pages, 3);
    let ids: Vec<&str> = summary
        .messages
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = summary.demo_ids[3..].iter().map(String::as_str).collect();
    assert_eq!(ids, expected);
}

/// A standalone server (as `--server` expects) with the two demo accounts.
async fn standalone_sim() -> wa_sim::SimHandle {
    let friend = wa_sim::SeedAccount {
        wid: "15550100002@c.us".to_owned(),
        contacts: Vec::new(),
        chats: Vec::new(),
        ..wa_sim::SeedAccount::default()
    };
    wa_sim::SimServer::start(wa_sim::SimConfig {
        server: wa_sim::Config {
            accounts: vec![wa_sim::SeedAccount::default(), friend],
            ..wa_sim::Config::default()
        },
        ..wa_sim::SimConfig::default()
    })
    .await
    .unwrap()
}

/// Logs a client into `wid` on `sim` (the phone scans on command).
async fn logged_in(
    sim: &wa_sim::SimHandle,
    store: wa_client::legacy::FileStore,
    wid: &str,
) -> wa_client::legacy::Client {
    let mut client = wa_client::legacy::Client::builder()
        .server_url(sim.ws_url())
        .store(store)
        .build()
        .unwrap();
    client.login().unwrap();
    loop {
        match client.next_event().await.unwrap() {
            wa_client::legacy::ClientEvent::Qr(qr) => {
                sim.with_server(|s, now| s.scan_as(now, &qr.qr_string(), Some(wid)))
                    .unwrap();
            }
            wa_client::legacy::ClientEvent::Connected(info) => {
                assert_eq!(info.wid, wid);
                return client;
            }
            other => assert!(
                !matches!(other, wa_client::legacy::ClientEvent::Stopped(_)),
                "{other:?}"
            ),
        }
    }
}

#[tokio::test]
async fn echo_bot_restores_a_saved_session_on_a_server() {
    let sim = standalone_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("bot.json");
    // An earlier run paired the bot's account and left its session in the file.
    let mut first = logged_in(
        &sim,
        wa_client::legacy::FileStore::new(&session),
        "15550100001@c.us",
    )
    .await;
    first.shutdown().await;

    let bot_args = args(&[
        "--server",
        &sim.ws_url(),
        "--session",
        session.to_str().unwrap(),
        "--max",
        "1",
    ]);
    let bot =
        tokio::spawn(async move { echo_bot::run(&bot_args).await.map_err(|e| e.to_string()) });
    // No QR this time: the stored tokens log it in.
    let restored = sim
        .wait_for_event(std::time::Duration::from_secs(20), |e| {
            matches!(e, wa_sim::SimEvent::LoggedIn { restored: true, .. })
        })
        .await;
    assert!(restored.is_some(), "the bot never restored its session");

    let friend_store = wa_client::legacy::FileStore::new(dir.path().join("friend.json"));
    let mut friend = logged_in(&sim, friend_store, "15550100002@c.us").await;
    friend
        .send_text("15550100001@c.us", "still there?")
        .await
        .unwrap();
    let summary = tokio::time::timeout(std::time::Duration::from_secs(20), bot)
        .await
        .expect("the bot answers")
        .unwrap()
        .unwrap();
    assert_eq!(
        summary.replies,
        vec![("15550100002@c.us".to_owned(), "still there?".to_owned())]
    );
    friend.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn history_export_starts_before_a_given_message_on_a_server() {
    let sim = standalone_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("me.json");
    let me = "15550100001@c.us";
    let friend_jid = "15550100002@c.us";
    let mut mine = logged_in(&sim, wa_client::legacy::FileStore::new(&session), me).await;
    let friend_store = wa_client::legacy::FileStore::new(dir.path().join("friend.json"));
    let mut friend = logged_in(&sim, friend_store, friend_jid).await;
    // m0 m1 f0 m2 f1 m3 (m: ours, f: the friend's).
    let mut ids = Vec::new();
    for (ours, text) in [
        (true, "m0"),
        (true, "m1"),
        (false, "f0"),
        (true, "m2"),
        (false, "f1"),
        (true, "m3"),
    ] {
        let sent = if ours {
            mine.send_text(friend_jid, text).await.unwrap()
        } else {
            friend.send_text(me, text).await.unwrap()
        };
        ids.push(sent.id);
    }
    mine.shutdown().await;
    friend.shutdown().await;

    let export = |before_flag: &'static str, before: String, out: &str| {
        let out = dir.path().join(out);
        let args = args(&[
            "--server",
            &sim.ws_url(),
            "--session",
            session.to_str().unwrap(),
            "--chat",
            friend_jid,
            "--page",
            "2",
            before_flag,
            &before,
            "--out",
            out.to_str().unwrap(),
        ]);
        async move { history_export::run(&args).await.unwrap() }
    };
    let texts = |summary: &history_export::Summary| -> Vec<String> {
        summary
            .messages
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    };

    // Before our m3: five messages, in pages of 2 + 2 + 1.
    let summary = export("--before-mine", ids[5].clone(), "a.json").await;
    assert_eq!(texts(&summary), ["m0", "m1", "f0", "m2", "f1"]);
    assert_eq!(summary.pages, 3);
    let exported: Vec<&str> = summary
        .messages
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        exported,
        ids[..5].iter().map(String::as_str).collect::<Vec<_>>()
    );

    // Before the friend's f1: four, in two full pages (the second reaching the start).
    let summary = export("--before", ids[4].clone(), "b.json").await;
    assert_eq!(texts(&summary), ["m0", "m1", "f0", "m2"]);
    assert_eq!(summary.pages, 2);
    let from_me: Vec<bool> = summary
        .messages
        .iter()
        .map(|m| m["fromMe"].as_bool().unwrap())
        .collect();
    assert_eq!(from_me, [true, true, false, true]);
    sim.shutdown().await;
}
