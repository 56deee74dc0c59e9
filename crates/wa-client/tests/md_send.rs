//! The send side through wa-sim over real WebSockets. With Baileys 7: our client sends while
//! Baileys is away, then restarts from its SQLite store (nothing of the send left in memory);
//! Baileys comes back without its session for our device, cannot decrypt, and sends a retry
//! receipt; our restarted client answers it from the sent message kept in SQLite, and the
//! message arrives exactly once. Between our clients: a contact links a device behind our
//! cached device list, wa-sim refuses the message with error 479, and our client asks for the
//! list again and sends once more, so both of the contact's devices get it once.

mod md_peers;

use std::path::Path;
use std::time::Duration;

use md_peers::*;
use tokio::sync::mpsc;
use wa_client::md::MdDevice;
use wa_core::md::MessengerEvent;
use wa_sim::{SimConfig, SimHandle, SimServer};

/// Our device opened from the SQLite file `db` and logged in with its stored credentials.
async fn restored(handle: &SimHandle, db: &Path) -> Peer {
    let store = wa_client::md::open_sqlite(db).unwrap();
    let mut device = MdDevice::open_store(sim_config(handle), store).unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    tokio::time::timeout(Duration::from_secs(20), device.restore(&tx))
        .await
        .expect("restored in time")
        .expect("logged in from SQLite");
    Peer::new(device)
}

/// Removes Baileys' Signal sessions (its `session-*.json` files): it forgets how to decrypt us.
fn forget_sessions(auth: &Path) -> usize {
    let mut removed = 0;
    for entry in std::fs::read_dir(auth).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("session-") {
            std::fs::remove_file(&path).unwrap();
            removed += 1;
        }
    }
    removed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_receipt_from_baileys_is_answered_after_our_restart_from_sqlite() {
    if node_missing() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let auth = tmp.path().join("baileys-auth");
    let db = tmp.path().join("ours.db");
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let mut ours = {
        let store = wa_client::md::open_sqlite(&db).unwrap();
        let mut device = MdDevice::open_store(sim_config(&handle), store).unwrap();
        pair(&handle, &mut device, PHONE_B).await;
        Peer::new(device)
    };
    let mut baileys = Baileys::start(&handle, &auth, PHONE_A).await;

    // Sessions both ways: our next message to Baileys is a `msg` in the established session.
    baileys.send(&user(PHONE_B), "hello").await;
    ours.until("Baileys' hello", |s| has_text(s, "hello")).await;
    ours.send(&user(PHONE_A), "hi").await;
    baileys
        .until("our hi", |s| s.iter().any(|v| v["msg"]["text"] == "hi"))
        .await;

    // Baileys goes away and loses its sessions; we send, then restart from SQLite.
    baileys.quit().await;
    assert!(forget_sessions(&auth) > 0, "Baileys kept sessions on disk");
    let id = ours.send(&user(PHONE_A), "after your reset").await;
    drop(ours);
    let mut ours = restored(&handle, &db).await;

    // Baileys comes back: the queued copy fails, its retry receipt reaches our new process,
    // which answers from the stored record.
    // Both sides at once: Baileys runs on its own; we serve ours and read what Baileys printed
    // (it may ask more than once: its first retry receipt carries no keys).
    let mut baileys = Baileys::start(&handle, &auth, PHONE_A).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while baileys.count_text("after your reset") == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not through: ours {:#?}, Baileys {:#?}",
            ours.seen,
            baileys.seen
        );
        ours.settle(Duration::from_millis(150)).await;
        baileys.take_lines(Duration::from_millis(50)).await;
    }
    assert!(
        ours.seen
            .iter()
            .any(|e| matches!(e, MessengerEvent::Resent { id: i, .. } if *i == id)),
        "answered by a resend: {:#?}",
        ours.seen
    );
    // Late duplicates would arrive meanwhile.
    ours.settle(Duration::from_millis(800)).await;
    let more = baileys.send(&user(PHONE_B), "after the repair").await;
    ours.until("Baileys' message after the repair", |s| {
        has_text(s, "after the repair")
    })
    .await;
    assert!(!more.is_empty());
    assert_eq!(
        baileys.count_text("after your reset"),
        1,
        "exactly once on Baileys' side"
    );
    assert_eq!(count_text(&ours.seen, "after the repair"), 1);
    baileys.quit().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_linked_behind_our_cache_is_reached_after_a_479_and_one_resend() {
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let (status, body) = control(
        &handle,
        "md/strict-device-lists",
        serde_json::json!({ "on": true }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (mut ours, _) = paired_peer(&handle, PHONE_B).await;
    let (mut theirs, _) = paired_peer(&handle, PHONE_A).await;
    ours.send(&user(PHONE_A), "first").await;
    theirs.until("first", |s| has_text(s, "first")).await;
    // A second device of the contact links; nothing tells our client.
    let (mut theirs2, _) = paired_peer(&handle, PHONE_A).await;
    let id = ours.send(&user(PHONE_A), "second").await;
    theirs.until("second", |s| has_text(s, "second")).await;
    theirs2
        .until("second on the new device", |s| has_text(s, "second"))
        .await;
    ours.settle(Duration::from_millis(200)).await;
    let resends: Vec<&MessengerEvent> = ours
        .seen
        .iter()
        .filter(|e| matches!(e, MessengerEvent::ResendAfterError { .. }))
        .collect();
    assert_eq!(
        resends,
        [&MessengerEvent::ResendAfterError { id, error: 479 }],
        "refused once, sent once more"
    );
    theirs.settle(Duration::from_millis(300)).await;
    theirs2.settle(Duration::from_millis(300)).await;
    assert_eq!(count_text(&theirs.seen, "second"), 1);
    assert_eq!(count_text(&theirs2.seen, "second"), 1);
    handle.shutdown().await;
}
