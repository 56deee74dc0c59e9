//! One-to-one messaging through wa-sim over real WebSockets: our `MdDevice`s, each paired to its
//! own simulated phone, exchange text both ways; a second device of the sender's account sees
//! what the first sends (own-device fan-out); a receiver that was offline gets what queued, then
//! the end-of-offline marker; a session deleted on the receiving side is repaired by a retry
//! receipt; a client process killed with SIGKILL mid-stream restarts from its SQLite store:
//! every message is handed over at least once, a second hand-over is flagged `redelivered`, the
//! store decrypted each once and records each acknowledged once; delivery receipts reach the
//! sender.

mod md_peers;

use std::collections::BTreeMap;

use md_peers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_clients_chat_with_fan_out_offline_queue_and_retry() {
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let (mut a1, _) = paired_peer(&handle, PHONE_A).await;
    let (mut b, b_store) = paired_peer(&handle, PHONE_B).await;
    let (mut a2, _) = paired_peer(&handle, PHONE_A).await;
    let a1_jid = own_jid(&a1.device);

    // A → B: B gets it once, A's second device sees it as sent by us, A sees the delivery.
    let id1 = a1.send(&user(PHONE_B), "hello from a1").await;
    b.until("first message", |s| has_text(s, "hello from a1"))
        .await;
    a2.until("own-device copy", |s| has_text(s, "hello from a1"))
        .await;
    let copy = a2
        .texts()
        .into_iter()
        .find(|t| t.3 == "hello from a1")
        .unwrap();
    assert_eq!(copy.0, id1);
    assert_eq!(copy.1, user(PHONE_B), "the copy names the chat it went to");
    assert!(copy.2, "the copy is from us");
    let got = b
        .texts()
        .into_iter()
        .find(|t| t.3 == "hello from a1")
        .unwrap();
    assert_eq!(
        (got.0.as_str(), got.1.as_str(), got.2),
        (id1.as_str(), user(PHONE_A).as_str(), false)
    );
    a1.until("delivery receipt", |s| delivered(s, &id1)).await;

    // B → A: both of A's devices get it.
    let id2 = b.send(&user(PHONE_A), "hello back").await;
    a1.until("reply on a1", |s| has_text(s, "hello back")).await;
    a2.until("reply on a2", |s| has_text(s, "hello back")).await;
    b.until("reply delivered", |s| delivered(s, &id2)).await;

    // B goes offline; A sends three; B comes back and gets them before the offline marker.
    b.device.close().await;
    drop(b);
    for i in 0..3 {
        a1.send(&user(PHONE_B), &format!("while away {i}")).await;
    }
    let mut b = Peer::new(MdDevice::open_store(sim_config(&handle), Arc::clone(&b_store)).unwrap());
    b.device.restore(&b.tx).await.expect("b back");
    b.until("offline queue", |s| {
        s.iter()
            .any(|e| matches!(e, MessengerEvent::OfflineDone { .. }))
            && (0..3).all(|i| has_text(s, &format!("while away {i}")))
    })
    .await;
    let marker = b
        .seen
        .iter()
        .position(|e| matches!(e, MessengerEvent::OfflineDone { .. }))
        .unwrap();
    for i in 0..3 {
        let text = format!("while away {i}");
        let at = b
            .seen
            .iter()
            .position(|e| matches!(e, MessengerEvent::Message { message, .. } if text_of(message) == Some(text.as_str())))
            .unwrap();
        assert!(at < marker, "queued message {i} before the offline marker");
        assert_eq!(count_text(&b.seen, &text), 1);
    }

    // B loses its session with a1: a1's next message fails, the retry receipt repairs it.
    b.device.reset_session(&a1_jid).unwrap();
    let id3 = a1.send(&user(PHONE_B), "after reset").await;
    b.until("decrypt failure", |s| {
        s.iter().any(|e| matches!(e, MessengerEvent::DecryptFailed { id, retry_sent: true, .. } if *id == id3))
    })
    .await;
    a1.until("resent", |s| {
        s.iter()
            .any(|e| matches!(e, MessengerEvent::Resent { id, .. } if *id == id3))
    })
    .await;
    b.until("retried message", |s| has_text(s, "after reset"))
        .await;
    b.settle(Duration::from_millis(300)).await;
    assert_eq!(count_text(&b.seen, "after reset"), 1, "exactly once");
    handle.shutdown().await;
}

/// The child side of the SIGKILL test: a client process on a SQLite file that prints every
/// message handed to it (`MSG <redelivered 0|1> <id> <text>`), then acknowledges it, and serves
/// until killed. Run by the test below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of kill_mid_stream_and_restart_from_sqlite"]
async fn child_client() {
    let (Ok(url), Ok(root), Ok(serial), Ok(db)) = (
        std::env::var("WA_CHILD_URL"),
        std::env::var("WA_CHILD_ROOT"),
        std::env::var("WA_CHILD_SERIAL"),
        std::env::var("WA_CHILD_DB"),
    ) else {
        return;
    };
    let trust = wa_core::md::TrustRoot {
        key: hex::decode(&root).unwrap().try_into().unwrap(),
        serial: serial.parse().unwrap(),
    };
    let store = wa_client::md::open_sqlite(Path::new(&db)).unwrap();
    let mut device = MdDevice::open_store(config(&url, trust), store).unwrap();
    let acker = device.acker().expect("a wa-store device");
    let mut rx = device.messages();
    let printer = tokio::spawn(async move {
        use std::io::Write as _;
        while let Some(e) = rx.recv().await {
            if let MessengerEvent::Message {
                id,
                message,
                hash,
                redelivered,
                ..
            } = e
            {
                {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(
                        out,
                        "MSG {} {id} {}",
                        u8::from(redelivered),
                        message.conversation.unwrap_or_default()
                    );
                    let _ = out.flush();
                }
                // Processed (printed and flushed): only now acknowledged.
                let acker = acker.clone();
                tokio::task::spawn_blocking(move || acker.ack(&hash))
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
    });
    let (tx, _rx) = mpsc::unbounded_channel();
    device.restore(&tx).await.expect("child logged in");
    println!("READY");
    let _ = device.run(&tx).await;
    printer.abort();
}

/// The redelivered flag and `<id> <text>` of a `MSG` line (libtest may print its `test ... `
/// prefix first).
fn msg_line(line: &str) -> Option<(bool, String)> {
    let rest = &line[line.find("MSG ")? + 4..];
    let (flag, rest) = rest.split_once(' ')?;
    Some((flag == "1", rest.to_owned()))
}

fn spawn_child(handle: &SimHandle, db: &Path) -> tokio::process::Child {
    tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_client",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WA_CHILD_URL", handle.md_ws_url())
        .env("WA_CHILD_ROOT", hex::encode(handle.md().trust_root().key))
        .env(
            "WA_CHILD_SERIAL",
            handle.md().trust_root().serial.to_string(),
        )
        .env("WA_CHILD_DB", db)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Every hand-over of one message: the child run it happened in, and its `redelivered` flag.
type HandOvers = BTreeMap<String, Vec<(usize, bool)>>;

fn record(received: &mut HandOvers, run: usize, line: &str) {
    if let Some((redelivered, rest)) = msg_line(line) {
        received.entry(rest).or_default().push((run, redelivered));
    }
}

/// The child is killed twice mid-burst and restarted from its SQLite file. The contract it
/// checks (an application's side effect is outside our transaction, so exactly-once hand-over
/// cannot be promised; this is the strongest form that can): every message is handed over at
/// least once; a second hand-over happens only after a restart, only for a message first handed
/// over in a run that was killed, and is always flagged `redelivered`; the store decrypted each
/// message once (one decrypt-buffer entry per message) and records each acknowledged; the sender
/// sees every delivery receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_mid_stream_and_restart_from_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("b.sqlite");
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let (mut a, _) = paired_peer(&handle, PHONE_A).await;
    {
        // Pair B on its SQLite file in this process, then hand the file to the child.
        let store = wa_client::md::open_sqlite(&db).unwrap();
        let mut device = MdDevice::open_store(sim_config(&handle), store).unwrap();
        pair(&handle, &mut device, PHONE_B).await;
        device.close().await;
    }
    let total = 40usize;
    let mut received = HandOvers::new();
    let mut sent = Vec::new();
    let mut kills = 0;
    let mut next = 0usize;
    while kills < 2 || next < total || received.len() < total {
        let run = kills;
        let mut child = spawn_child(&handle, &db);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Wait for the child to log in.
        loop {
            let line = tokio::time::timeout(Duration::from_secs(45), lines.next_line())
                .await
                .expect("child output in time")
                .unwrap()
                .expect("child alive");
            if line.ends_with("READY") {
                break;
            }
            record(&mut received, run, &line);
        }
        // Send a burst and kill the child in the middle of it (after a third of what is left).
        let kill_at = if kills < 2 {
            next + (total - next) / 3
        } else {
            usize::MAX
        };
        while next < total && next < kill_at {
            let text = format!("burst {next}");
            let id = a.send(&user(PHONE_B), &text).await;
            sent.push(format!("{id} {text}"));
            next += 1;
        }
        if kills < 2 {
            // Let some of it arrive, then SIGKILL (tokio's kill is SIGKILL on Unix).
            tokio::time::sleep(Duration::from_millis(50)).await;
            child.kill().await.unwrap();
            while let Ok(Ok(Some(line))) =
                tokio::time::timeout(Duration::from_millis(200), lines.next_line()).await
            {
                record(&mut received, run, &line);
            }
            kills += 1;
            continue;
        }
        // Last run: read until everything arrived.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while received.len() < total {
            let line = tokio::time::timeout_at(deadline, lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("missing: {} of {total}", total - received.len()))
                .unwrap()
                .expect("child alive");
            record(&mut received, run, &line);
        }
        // The child stays up until the sender saw every delivery receipt.
        let ids: Vec<String> = sent
            .iter()
            .map(|l| l.split(' ').next().unwrap().to_owned())
            .collect();
        let mut waited = 0;
        while !ids.iter().all(|id| delivered(&a.seen, id)) && waited < 100 {
            a.settle(Duration::from_millis(100)).await;
            waited += 1;
        }
        let missing: Vec<&String> = ids.iter().filter(|id| !delivered(&a.seen, id)).collect();
        assert!(
            missing.is_empty(),
            "no delivery receipt for {} of {}: {missing:?}",
            missing.len(),
            ids.len()
        );
        // Anything printed late (a duplicate) still counts.
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await
        {
            record(&mut received, run, &line);
        }
        // The store's record, read beside the live child (no lease: inspection only): one
        // decrypt-buffer entry per message, each acknowledged (the child acks right after
        // printing, so wait for the last acks to commit).
        let inspect = wa_store::Store::open_sqlite_with(
            &db,
            &wa_store::OpenOptions {
                lease: false,
                ..wa_store::OpenOptions::default()
            },
        )
        .unwrap();
        let mut entries = Vec::new();
        for _ in 0..100 {
            entries = inspect.transaction(|tx| tx.decrypt_record()).unwrap();
            if entries.len() >= total && entries.iter().all(|(_, m)| m.delivered) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut decrypts: BTreeMap<String, usize> = BTreeMap::new();
        for (_, m) in &entries {
            assert!(m.delivered, "acknowledged but pending in the store: {m:?}");
            *decrypts.entry(m.id.clone()).or_default() += 1;
        }
        let once: BTreeMap<String, usize> = ids.iter().map(|id| (id.clone(), 1)).collect();
        assert_eq!(
            decrypts, once,
            "each message decrypted (buffered) exactly once"
        );
        child.kill().await.unwrap();
    }
    let final_run = kills;
    let mut redeliveries = 0;
    for line in &sent {
        let hand_overs = received
            .get(line)
            .unwrap_or_else(|| panic!("never handed over: {line}"));
        for pair in hand_overs.windows(2) {
            // A second hand-over only after a restart, and always flagged.
            assert!(pair[1].0 > pair[0].0, "{line} handed over twice in one run");
            assert!(
                pair[1].1,
                "{line}: second hand-over not flagged: {hand_overs:?}"
            );
        }
        if hand_overs.len() > 1 {
            assert!(
                hand_overs[0].0 < final_run,
                "{line} redelivered though first handed over in the run that was not killed"
            );
            redeliveries += hand_overs.len() - 1;
        }
        assert!(
            hand_overs.iter().filter(|(_, r)| !r).count() <= 1,
            "{line}: two unflagged hand-overs: {hand_overs:?}"
        );
    }
    assert_eq!(received.len(), total, "nothing else was handed over");
    eprintln!("{total} messages, {redeliveries} flagged redeliveries across {final_run} SIGKILLs");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_and_our_client_chat_both_ways() {
    if node_missing() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let auth = tmp.path().join("baileys-auth");
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let (mut ours, _) = paired_peer(&handle, PHONE_B).await;
    let (mut ours2, _) = paired_peer(&handle, PHONE_B).await;
    let mut baileys = Baileys::start(&handle, &auth, PHONE_A).await;
    let baileys_device = baileys.me();

    // Baileys → us.
    let from_baileys = baileys.send(&user(PHONE_B), "hi from baileys").await;
    ours.until("Baileys' message", |s| has_text(s, "hi from baileys"))
        .await;
    let got = ours
        .texts()
        .into_iter()
        .find(|t| t.3 == "hi from baileys")
        .unwrap();
    assert_eq!(
        (got.0.as_str(), got.1.as_str()),
        (from_baileys.as_str(), user(PHONE_A).as_str())
    );

    // Us → Baileys; our second device sees it as ours; each side sees the delivery.
    let to_baileys = ours.send(&user(PHONE_A), "hi baileys").await;
    baileys
        .until("our message", |s| {
            s.iter().any(|v| v["msg"]["text"] == "hi baileys")
        })
        .await;
    let msg = baileys
        .seen
        .iter()
        .find(|v| v["msg"]["text"] == "hi baileys")
        .unwrap();
    assert_eq!(msg["msg"]["id"], to_baileys.as_str());
    ours2
        .until("own-device copy of what went to Baileys", |s| {
            s.iter().any(|e| {
                matches!(e, MessengerEvent::Message { message, from_me: true, chat, .. }
                if text_of(message) == Some("hi baileys") && *chat == user(PHONE_A))
            })
        })
        .await;
    ours.until("Baileys' delivery receipt", |s| delivered(s, &to_baileys))
        .await;
    baileys
        .until("our delivery receipt", |s| {
            s.iter().any(|v| {
                v["receipt"]["id"] == from_baileys.as_str()
                    && v["receipt"]["status"].as_u64() >= Some(3)
            })
        })
        .await;

    // Read receipts both ways.
    ours.device
        .mark_read(&user(PHONE_A), std::slice::from_ref(&from_baileys))
        .await
        .unwrap();
    baileys
        .until("our read receipt", |s| {
            s.iter().any(|v| {
                v["receipt"]["id"] == from_baileys.as_str()
                    && v["receipt"]["status"].as_u64() >= Some(4)
            })
        })
        .await;
    baileys
        .command(serde_json::json!({ "read": { "id": to_baileys } }))
        .await;
    ours.until("Baileys' read receipt", |s| {
        s.iter().any(|e| matches!(e, MessengerEvent::Receipt { ids, kind: ReceiptKind::Read, .. } if ids.contains(&to_baileys)))
    })
    .await;

    // Baileys goes offline; we send two; it comes back from its saved credentials.
    baileys.quit().await;
    for text in ["while you were away 1", "while you were away 2"] {
        ours.send(&user(PHONE_A), text).await;
    }
    let mut baileys = Baileys::start(&handle, &auth, PHONE_A).await;
    baileys
        .until("offline messages", |s| {
            ["while you were away 1", "while you were away 2"]
                .iter()
                .all(|t| s.iter().any(|v| v["msg"]["text"] == *t))
        })
        .await;

    // We lose our session with Baileys' device: its next message comes through a retry.
    ours.device.reset_session(&baileys_device).unwrap();
    let retried = baileys.send(&user(PHONE_B), "after our reset").await;
    ours.until("the retried message", |s| has_text(s, "after our reset"))
        .await;
    assert!(
        ours.seen.iter().any(|e| matches!(e, MessengerEvent::DecryptFailed { id, retry_sent: true, .. } if *id == retried)),
        "the first copy failed and a retry receipt went out: {:#?}",
        ours.seen
    );

    // More both ways after the repair; everything exactly once on both sides.
    baileys.send(&user(PHONE_B), "after repair").await;
    ours.send(&user(PHONE_A), "after repair too").await;
    ours.until("after repair", |s| has_text(s, "after repair"))
        .await;
    baileys
        .until("after repair too", |s| {
            s.iter().any(|v| v["msg"]["text"] == "after repair too")
        })
        .await;
    ours.settle(Duration::from_millis(500)).await;
    for text in ["hi from baileys", "after our reset", "after repair"] {
        assert_eq!(
            count_text(&ours.seen, text),
            1,
            "{text} exactly once on our side"
        );
    }
    for text in [
        "while you were away 1",
        "while you were away 2",
        "after repair too",
    ] {
        assert_eq!(
            baileys.count_text(text),
            1,
            "{text} exactly once on Baileys' side"
        );
    }
    baileys.quit().await;
    handle.shutdown().await;
}

/// Our client's LID user (`lid@lid`), as the server gave it at pairing.
fn own_lid_user(device: &MdDevice) -> String {
    let lid = device
        .credentials()
        .account
        .as_ref()
        .and_then(|a| a.lid.as_ref())
        .expect("the server gave us a LID");
    format!("{}@lid", lid.user)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_and_our_client_chat_by_lid_both_ways() {
    if node_missing() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let auth = tmp.path().join("baileys-auth");
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let (mut ours, store) = paired_peer(&handle, PHONE_B).await;
    let mut baileys = Baileys::start(&handle, &auth, PHONE_A).await;
    let our_lid = own_lid_user(&ours.device);
    let baileys_lid = baileys
        .seen
        .iter()
        .find_map(|v| v["ready"]["lid"].as_str())
        .expect("Baileys knows its LID");
    let baileys_lid: wa_binary::Jid = baileys_lid.parse().unwrap();
    let baileys_lid_user = format!("{}@lid", baileys_lid.user);

    // Baileys → our LID: delivered LID-addressed; we decrypt it and see both of its forms.
    let from_baileys = baileys.send(&our_lid, "lid hello from baileys").await;
    ours.until("Baileys' LID-addressed message", |s| {
        has_text(s, "lid hello from baileys")
    })
    .await;
    let event = ours
        .seen
        .iter()
        .find(|e| matches!(e, MessengerEvent::Message { id, .. } if *id == from_baileys))
        .unwrap();
    let MessengerEvent::Message {
        sender, sender_alt, ..
    } = event
    else {
        unreachable!()
    };
    let sender: wa_binary::Jid = sender.parse().unwrap();
    assert_eq!(
        (sender.user.as_str(), sender.server.as_str()),
        (baileys_lid.user.as_str(), "lid"),
        "from Baileys' LID device"
    );
    let alt: wa_binary::Jid = sender_alt.as_deref().expect("sender_pn").parse().unwrap();
    assert_eq!(alt.user, PHONE_A.to_string());
    assert_eq!(alt.device, sender.device);
    {
        use wa_core::md::store::LidStore as _;
        assert_eq!(
            store.lid_for_pn(&PHONE_A.to_string()).unwrap().as_deref(),
            Some(baileys_lid.user.as_str()),
            "the map learned from the attributes, in our store"
        );
    }

    // We answer Baileys' phone number: the chat is LID-addressed, so it goes to the LID.
    let reply = ours.send(&user(PHONE_A), "lid reply from us").await;
    baileys
        .until("our LID-addressed reply", |s| {
            s.iter().any(|v| v["msg"]["text"] == "lid reply from us")
        })
        .await;
    let got = baileys
        .seen
        .iter()
        .find(|v| v["msg"]["text"] == "lid reply from us")
        .unwrap();
    assert_eq!(got["msg"]["id"], reply.as_str());
    assert!(
        got["msg"]["from"].as_str().unwrap().ends_with("@lid"),
        "Baileys got it from our LID: {got}"
    );
    ours.until("Baileys' delivery receipt", |s| delivered(s, &reply))
        .await;

    // And once more each way, straight to the LIDs.
    baileys.send(&our_lid, "lid second from baileys").await;
    ours.send(&baileys_lid_user, "lid second from us").await;
    ours.until("second", |s| has_text(s, "lid second from baileys"))
        .await;
    baileys
        .until("second reply", |s| {
            s.iter().any(|v| v["msg"]["text"] == "lid second from us")
        })
        .await;
    ours.settle(Duration::from_millis(500)).await;
    for text in ["lid hello from baileys", "lid second from baileys"] {
        assert_eq!(count_text(&ours.seen, text), 1, "{text} exactly once");
    }
    for text in ["lid reply from us", "lid second from us"] {
        assert_eq!(baileys.count_text(text), 1, "{text} exactly once");
    }
    assert!(
        !ours.seen.iter().any(|e| matches!(
            e,
            MessengerEvent::DecryptFailed { .. } | MessengerEvent::AddressingRefused { .. }
        )),
        "{:#?}",
        ours.seen
    );
    baileys.quit().await;
    handle.shutdown().await;
}
