//! Receipts with Baileys 7 through wa-sim, both ways: `played`, `read`, `read-self` sent by our
//! client reach Baileys (the sender, or Baileys as another device of our own account, which is
//! the only one a `read-self` reaches); Baileys' `inactive` deliveries, `played`, `read` and
//! `read-self` reach us typed. Baileys' first message to us is a `pkmsg` whose
//! `device-identity` passes our check.

mod md_peers;

use md_peers::*;
use wa_core::md::stanza::StatusKind;

const PHONE_A: u64 = 15_550_000_303;
const PHONE_B: u64 = 15_550_000_404;

/// Whether Baileys reported status `status` for message `id` (`from_me`: a message it sent).
fn baileys_status(seen: &[Value], id: &str, status: u64, from_me: bool) -> bool {
    seen.iter().any(|v| {
        v["receipt"]["id"] == id
            && v["receipt"]["status"].as_u64() == Some(status)
            && v["receipt"]["fromMe"] == from_me
    })
}

/// Whether we saw a receipt of `kind` for `id` in chat `chat`, from one of our own devices or
/// not (`from_me`).
fn our_receipt(
    events: &[MessengerEvent],
    id: &str,
    kind: &ReceiptKind,
    chat: &str,
    from_me: bool,
) -> bool {
    events.iter().any(|e| {
        matches!(e, MessengerEvent::Receipt { ids, kind: k, from, from_me: m, .. }
            if ids.iter().any(|i| i == id) && k == kind && from == chat && *m == from_me)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn played_read_and_read_self_with_baileys_both_ways() {
    if node_missing() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let (mut ours, _) = paired_peer(&handle, PHONE_B).await;
    let mut peer = Baileys::start(&handle, &tmp.path().join("peer"), PHONE_A).await;
    // Baileys as another device of our own account.
    let mut mine = Baileys::start(&handle, &tmp.path().join("mine"), PHONE_B).await;
    let (a, b) = (user(PHONE_A), user(PHONE_B));

    // Baileys → us: its pkmsg's device identity checks out.
    let voice = peer.send(&b, "voice note").await;
    ours.until("Baileys' message", |s| has_text(s, "voice note"))
        .await;
    assert!(
        !ours
            .seen
            .iter()
            .any(|e| matches!(e, MessengerEvent::DeviceIdentityRefused { .. })),
        "{:#?}",
        ours.seen
    );

    // We played it: the sender sees PLAYED (5); our other device (Baileys) too, for a message
    // it received (fromMe false).
    ours.device
        .mark_played(&a, std::slice::from_ref(&voice))
        .await
        .unwrap();
    peer.until("our played receipt", |s| baileys_status(s, &voice, 5, true))
        .await;
    mine.until("our played, on our other device", |s| {
        baileys_status(s, &voice, 5, false)
    })
    .await;

    // read-self: our other device sees it read (4); the sender learns nothing.
    let quiet = peer.send(&b, "read quietly").await;
    ours.until("second message", |s| has_text(s, "read quietly"))
        .await;
    ours.device
        .mark_status(StatusKind::ReadSelf, &a, std::slice::from_ref(&quiet))
        .await
        .unwrap();
    mine.until("read-self on our other device", |s| {
        baileys_status(s, &quiet, 4, false)
    })
    .await;

    // Us → Baileys: it is not marked online, so its delivery receipt is `inactive`, typed as
    // such; then it plays the message.
    let ours_to_peer = ours.send(&a, "for baileys").await;
    peer.until("our message", |s| {
        s.iter().any(|v| v["msg"]["text"] == "for baileys")
    })
    .await;
    let inactive = ReceiptKind::Inactive;
    ours.until("Baileys' inactive delivery", |s| {
        our_receipt(s, &ours_to_peer, &inactive, &a, false)
    })
    .await;
    peer.command(serde_json::json!({ "sendReceipt": { "id": ours_to_peer, "type": "played" } }))
        .await;
    let played = ReceiptKind::Played;
    ours.until("Baileys' played receipt", |s| {
        our_receipt(s, &ours_to_peer, &played, &a, false)
    })
    .await;

    // Baileys as our other device reads A's messages: `read` reaches us (from our own device,
    // for A's chat) and A; `read-self` only us.
    mine.command(serde_json::json!({ "read": { "id": voice } }))
        .await;
    let read = ReceiptKind::Read;
    ours.until("read on our other device", |s| {
        our_receipt(s, &voice, &read, &a, true)
    })
    .await;
    peer.until("read by B's other device", |s| {
        baileys_status(s, &voice, 4, true)
    })
    .await;
    mine.command(serde_json::json!({ "sendReceipt": { "id": quiet, "type": "read-self" } }))
        .await;
    let read_self = ReceiptKind::ReadSelf;
    ours.until("read-self from our other device", |s| {
        our_receipt(s, &quiet, &read_self, &a, true)
    })
    .await;

    // Nothing told the sender that `quiet` was read.
    ours.settle(Duration::from_millis(300)).await;
    peer.command(serde_json::json!({ "read": { "id": ours_to_peer } }))
        .await;
    // Baileys prints this after anything that reached it before, so its output is read up to
    // here.
    peer.until("Baileys read ours", |s| {
        s.iter().any(|v| v["read"]["id"] == ours_to_peer.as_str())
    })
    .await;
    ours.until("Baileys' read receipt", |s| {
        our_receipt(s, &ours_to_peer, &read, &a, false)
    })
    .await;
    assert!(
        !peer
            .seen
            .iter()
            .any(|v| v["receipt"]["id"] == quiet.as_str()
                && v["receipt"]["status"].as_u64() >= Some(4)),
        "a read-self never reaches the sender: {:#?}",
        peer.seen
    );
    peer.quit().await;
    mine.quit().await;
    handle.shutdown().await;
}
