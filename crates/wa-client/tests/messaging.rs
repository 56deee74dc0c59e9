//! Two wa-client sessions chat through wa-sim over loopback: every message type both ways with
//! receipts, media round trips, groups, history, queries, and faults injected by the simulator.

mod legacy_common;

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use wa_client::legacy::chat::compose::{self, MediaKind, MediaOptions};
use wa_client::legacy::chat::request::{ChatOp, Direction, GroupOp, GroupSetting, Presence};
use wa_client::legacy::chat::{
    AckLevel, ChatEvent, MessageBatch, MessageKind, OutboxStore, PendingMessage,
};
use wa_client::legacy::{Client, ClientEvent, MediaClient};
use wa_core::reconnect::Backoff;
use wa_core::session::MemoryStore;
use wa_proto::{Message, WebMessageInfo};
use wa_sim::{Config, SeedAccount, SimConfig, SimHandle, SimServer};

const PATIENCE: Duration = Duration::from_secs(20);
const A: &str = "15550100001@c.us";
const B: &str = "15550100002@c.us";
const ECHO: &str = "15550109999@c.us";

async fn start_sim() -> SimHandle {
    let bob = SeedAccount {
        wid: B.to_owned(),
        pushname: "Alice".to_owned(),
        contacts: Vec::new(),
        chats: Vec::new(),
        ..SeedAccount::default()
    };
    SimServer::start(SimConfig {
        server: Config {
            rng_seed: Some(11),
            accounts: vec![SeedAccount::default(), bob],
            echo_delay: Duration::from_millis(20),
            ..Config::default()
        },
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn build(sim: &SimHandle, store: Arc<MemoryStore>, seed: u64) -> Client {
    Client::builder()
        .server_url(sim.ws_url())
        .http_base_url(sim.http_url())
        .durable_store(store)
        .media_client(MediaClient::new().insecure_http())
        .rng_seed(seed)
        .backoff(
            Backoff::new(Duration::from_millis(20), Duration::from_millis(100))
                .with_max_attempts(50),
        )
        .build()
        .expect("client builds")
}

async fn next<T>(client: &mut Client, pick: impl FnMut(&ClientEvent) -> Option<T>) -> T {
    legacy_common::next_event(client, PATIENCE, pick).await
}

async fn login(sim: &SimHandle, client: &mut Client, wid: &str) {
    client.login().unwrap();
    let qr = next(client, |e| match e {
        ClientEvent::Qr(qr) => Some(qr.qr_string()),
        _ => None,
    })
    .await;
    sim.with_server(|s, now| s.scan_as(now, &qr, Some(wid)))
        .expect("phone scans");
    let info = next(client, |e| match e {
        ClientEvent::Connected(info) => Some(info.clone()),
        _ => None,
    })
    .await;
    assert_eq!(info.wid, wid);
}

async fn two_clients() -> (SimHandle, Client, Client) {
    let sim = start_sim().await;
    let mut a = build(&sim, Arc::new(MemoryStore::new()), 1);
    let mut b = build(&sim, Arc::new(MemoryStore::new()), 2);
    login(&sim, &mut a, A).await;
    login(&sim, &mut b, B).await;
    (sim, a, b)
}

/// The next incoming live message on `client`.
async fn incoming(client: &mut Client) -> WebMessageInfo {
    next(client, |e| match e {
        ClientEvent::Chat(ChatEvent::Messages {
            batch: MessageBatch::Relay,
            messages,
            ..
        }) => messages
            .iter()
            .find(|m| m.key.from_me != Some(true))
            .cloned(),
        _ => None,
    })
    .await
}

async fn ack(client: &mut Client, id: &str, level: AckLevel) {
    next(client, |e| match e {
        ClientEvent::Chat(ChatEvent::Ack(a))
            if a.ids.iter().any(|i| i == id) && a.level == level =>
        {
            Some(())
        }
        _ => None,
    })
    .await
}

fn text_of(info: &WebMessageInfo) -> Option<&str> {
    info.message.as_ref().and_then(Message::text_content)
}

fn sha(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

#[tokio::test]
async fn text_reply_mentions_and_receipts_both_ways() {
    let (_sim, mut a, mut b) = two_clients().await;

    let sent = a.send_text(B, "hello bob").await.unwrap();
    assert_eq!(sent.status, AckLevel::ServerAck);
    assert!(
        sent.id.starts_with("3EB0") && sent.id.len() == 20,
        "{}",
        sent.id
    );
    let got = incoming(&mut b).await;
    assert_eq!(got.key.id.as_deref(), Some(sent.id.as_str()));
    assert_eq!(text_of(&got), Some("hello bob"));
    ack(&mut a, &sent.id, AckLevel::Delivered).await;

    b.read(A, &got.key).await.unwrap();
    ack(&mut a, &sent.id, AckLevel::Read).await;
    let info = a.message_info(sent.key()).await.unwrap();
    assert_eq!(info.read, vec![B.to_owned()]);

    // B answers with a quote and a mention; A sees both.
    let reply = b.send_reply(A, "hi back", &got).await.unwrap();
    let got = incoming(&mut a).await;
    assert_eq!(got.key.id, Some(reply.id.clone()));
    let ext = got
        .message
        .as_ref()
        .and_then(|m| m.extended_text_message.as_ref())
        .expect("extended text");
    let ctx = ext.context_info.as_ref().expect("context");
    assert_eq!(ctx.stanza_id.as_deref(), Some(sent.id.as_str()));
    assert_eq!(
        ctx.quoted_message
            .as_ref()
            .and_then(|m| m.conversation.as_deref()),
        Some("hello bob")
    );
    let m = b
        .send_mentions(A, "@15550100001 look", &[A.to_owned()])
        .await
        .unwrap();
    let got = incoming(&mut a).await;
    assert_eq!(got.key.id, Some(m.id));
    let ctx = got
        .message
        .and_then(|m| m.extended_text_message)
        .and_then(|x| x.context_info)
        .expect("context");
    assert_eq!(
        ctx.mentioned_jid,
        vec!["15550100001@s.whatsapp.net".to_owned()]
    );
}

/// `from` sends `to` (account `to_jid`) one message of every non-media kind; `to` receives
/// each, classified as sent.
async fn every_kind(from: &Client, to: &mut Client, to_jid: &str) {
    let vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Carol\nEND:VCARD";
    let cards = [
        ("X".to_owned(), vcard.to_owned()),
        ("Y".to_owned(), vcard.to_owned()),
    ];
    let cases = [
        (compose::text("plain"), MessageKind::Text),
        (
            compose::extended_text("@15550100003 hi", None, &["15550100003@c.us".to_owned()]),
            MessageKind::ExtendedText,
        ),
        (
            compose::location(52.5, 13.4, Some("Berlin")),
            MessageKind::Location,
        ),
        (
            compose::live_location(52.5, 13.4, Some("moving"), 1),
            MessageKind::LiveLocation,
        ),
        (compose::contact("Carol", vcard), MessageKind::Contact),
        (
            compose::contacts("2 contacts", &cards),
            MessageKind::Contacts,
        ),
        (
            compose::group_invite("1-2@g.us", "CODE", "Plans", 1_900_000_000),
            MessageKind::GroupInvite,
        ),
        (
            compose::ephemeral_setting(604_800),
            MessageKind::EphemeralSetting,
        ),
    ];
    for (message, kind) in cases {
        let sent = from.send(to_jid, message.clone()).await.unwrap();
        assert_eq!(sent.status, AckLevel::ServerAck);
        let got = incoming(to).await;
        assert_eq!(got.key.id, Some(sent.id), "{kind:?}");
        let received = got.message.expect("content");
        assert_eq!(MessageKind::of(&received), kind);
        assert_eq!(received, message, "{kind:?} arrives as sent");
    }
    // Forward what arrived last time round: marked as forwarded.
    let original = from
        .send(to_jid, compose::text("pass it on"))
        .await
        .unwrap();
    let got = incoming(to).await;
    assert_eq!(got.key.id, Some(original.id));
    let from_jid = got.key.remote_jid.clone().unwrap();
    to.forward(&wa_client::legacy::chat::normalize_jid(&from_jid), &got)
        .await
        .unwrap();
}

#[tokio::test]
async fn every_message_type_and_media_round_trips() {
    let (_sim, mut a, mut b) = two_clients().await;
    every_kind(&a, &mut b, B).await;
    let fwd = incoming(&mut a).await;
    let ctx = fwd
        .message
        .and_then(|m| m.extended_text_message)
        .and_then(|x| x.context_info)
        .expect("forward context");
    assert_eq!(
        (ctx.is_forwarded, ctx.forwarding_score),
        (Some(true), Some(1))
    );
    every_kind(&b, &mut a, A).await;
    let fwd = incoming(&mut b).await;
    assert_eq!(text_of(&fwd), Some("pass it on"));

    // Media of every kind, both directions; the receiver decrypts the same bytes.
    let kinds = [
        MediaKind::Image,
        MediaKind::Video,
        MediaKind::Audio,
        MediaKind::VoiceNote,
        MediaKind::Document,
        MediaKind::Sticker,
    ];
    for (i, kind) in kinds.into_iter().chain(kinds).enumerate() {
        let data: Vec<u8> = (0..(70_000 + i * 1000))
            .map(|n| (n * 7 + i) as u8)
            .collect();
        let options = MediaOptions {
            caption: Some(format!("kind {i}")),
            jpeg_thumbnail: Some(vec![0xff, 0xd8, 0xff, 0xd9]),
            file_name: Some("f.bin".into()),
            ..MediaOptions::default()
        };
        // Each kind once in each direction.
        let a_sends = (i + i / kinds.len()) % 2 == 0;
        let (from, to) = if a_sends { (&a, &mut b) } else { (&b, &mut a) };
        let sent = from
            .send_media(if a_sends { B } else { A }, kind, &data, options)
            .await
            .unwrap();
        let got = incoming(to).await;
        assert_eq!(got.key.id, Some(sent.id));
        let media = compose::media_ref(got.message.as_ref().unwrap()).expect("media");
        assert_eq!(media.kind, kind);
        if matches!(
            kind,
            MediaKind::Image | MediaKind::Video | MediaKind::Document
        ) {
            let caption = format!("kind {i}");
            assert_eq!(text_of(&got), Some(caption.as_str()));
        }
        let plain = to.download_media(&got).await.unwrap();
        assert_eq!(sha(&plain), sha(&data));
    }

    // Voice note played: the sender hears about it.
    let data = vec![9u8; 5000];
    let sent = a
        .send_media(B, MediaKind::VoiceNote, &data, MediaOptions::default())
        .await
        .unwrap();
    let got = incoming(&mut b).await;
    b.played(&got).await.unwrap();
    ack(&mut a, &sent.id, AckLevel::Played).await;

    // Delete for everyone.
    let oops = a.send_text(B, "oops").await.unwrap();
    let _ = incoming(&mut b).await;
    a.revoke(oops.key()).await.unwrap();
    let got = incoming(&mut b).await;
    let revoked = wa_client::legacy::chat::incoming::revoked_key(got.message.as_ref().unwrap());
    assert_eq!(
        revoked.and_then(|k| k.id.as_deref()),
        Some(oops.id.as_str())
    );
}

/// An image sent without a thumbnail reaches the receiver with a generated JPEG one that fits
/// `THUMBNAIL_MAX_SIDE`, and with the image's dimensions.
#[cfg(feature = "thumbnails")]
#[tokio::test]
async fn image_without_thumbnail_gets_a_generated_one() {
    let (_sim, a, mut b) = two_clients().await;
    let photo = image::RgbImage::from_fn(400, 200, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut png = std::io::Cursor::new(Vec::new());
    photo
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    let png = png.into_inner();
    a.send_media(B, MediaKind::Image, &png, MediaOptions::default())
        .await
        .unwrap();
    let got = incoming(&mut b).await;
    let image_message = got
        .message
        .as_ref()
        .and_then(|m| m.image_message.as_ref())
        .expect("image message");
    assert_eq!(
        (image_message.width, image_message.height),
        (Some(400), Some(200))
    );
    let thumb = image_message.jpeg_thumbnail.as_deref().expect("thumbnail");
    assert_eq!(
        image::guess_format(thumb).ok(),
        Some(image::ImageFormat::Jpeg)
    );
    let decoded = image::load_from_memory_with_format(thumb, image::ImageFormat::Jpeg)
        .expect("thumbnail decodes as JPEG");
    let side = wa_client::legacy::THUMBNAIL_MAX_SIDE;
    assert_eq!((decoded.width(), decoded.height()), (side, side / 2));
    assert_eq!(b.download_media(&got).await.unwrap(), png);
}

/// A new or deleted profile picture reaches the clients of accounts that have it as a contact
/// as `ChatEvent::ProfilePicture`.
#[tokio::test]
async fn profile_picture_change_is_pushed_to_contacts() {
    // A's seed has B among its contacts.
    let (_sim, mut a, b) = two_clients().await;
    let picture_of = |e: &ClientEvent| match e {
        ClientEvent::Chat(ChatEvent::ProfilePicture { jid }) => Some(jid.clone()),
        _ => None,
    };
    let url = b
        .set_profile_picture(
            B,
            Some((&[0xff, 0xd8, 7, 0xff, 0xd9], &[0xff, 0xd8, 0xff, 0xd9])),
        )
        .await
        .unwrap();
    assert!(url.is_some());
    assert_eq!(next(&mut a, picture_of).await, B);
    assert_eq!(a.profile_picture_url(B).await.unwrap(), url);
    b.set_profile_picture(B, None).await.unwrap();
    assert_eq!(next(&mut a, picture_of).await, B);
    assert_eq!(a.profile_picture_url(B).await.unwrap(), None);
}

#[tokio::test]
async fn expired_media_url_is_requeried() {
    let (sim, a, mut b) = two_clients().await;
    let data = vec![3u8; 20_000];
    a.send_media(B, MediaKind::Image, &data, MediaOptions::default())
        .await
        .unwrap();
    let got = incoming(&mut b).await;
    sim.with_server(|s, now| s.expire_media_urls(now));
    let plain = b.download_media(&got).await.unwrap();
    assert_eq!(plain, data);
}

#[tokio::test]
async fn presence_chat_ops_profile_and_queries() {
    let (sim, mut a, mut b) = two_clients().await;
    a.subscribe_presence(B).await.unwrap();
    next(&mut a, |e| match e {
        ClientEvent::Chat(ChatEvent::Presence(p)) if p.jid == B => Some(()),
        _ => None,
    })
    .await;
    a.set_presence(Presence::Available, None).await.unwrap();
    a.set_presence(Presence::Composing, Some(B)).await.unwrap();
    next(&mut b, |e| match e {
        ClientEvent::Chat(ChatEvent::Presence(p)) if p.jid == A && p.kind == "composing" => {
            Some(())
        }
        _ => None,
    })
    .await;

    let sent = a.send_text(B, "to star").await.unwrap();
    for op in [
        ChatOp::Archive,
        ChatOp::Unarchive,
        ChatOp::Pin(1_700_000_000),
        ChatOp::Unpin(Some(1_700_000_000)),
        ChatOp::Mute(1_800_000_000),
        ChatOp::Unmute(None),
        ChatOp::Star(vec![(sent.id.clone(), true)]),
    ] {
        a.chat_op(B, op).await.unwrap();
    }
    a.chat_op(B, ChatOp::Archive).await.unwrap();
    let chats = a.chats().await.unwrap();
    let with_b = chats
        .iter()
        .find(|c| c.jid == B)
        .expect("chat with B listed");
    assert!(with_b.archive);
    a.chat_op(B, ChatOp::Unarchive).await.unwrap();
    let contacts = a.contacts().await.unwrap();
    assert!(contacts.iter().any(|c| c.jid == ECHO));
    let chat_state = sim.with_server(|s, _| {
        s.store(A)
            .and_then(|st| st.chats.get(B))
            .map(|c| (c.archive, c.pin, c.mute))
    });
    assert_eq!(chat_state, Some((false, None, None)));
    let starred = sim.with_server(|s, _| {
        s.store(A)
            .and_then(|st| st.chats.get(B))
            .map(|c| c.starred.contains(&sent.id))
    });
    assert_eq!(starred, Some(true));
    a.chat_op(B, ChatOp::Unstar(vec![(sent.id.clone(), true)]))
        .await
        .unwrap();

    a.set_push_name("Anna").await.unwrap();
    a.set_status_text("busy").await.unwrap();
    assert_eq!(b.status_text(A).await.unwrap().as_deref(), Some("busy"));
    let url = a
        .set_profile_picture(
            A,
            Some((&[0xff, 0xd8, 1, 0xff, 0xd9], &[0xff, 0xd8, 0xff, 0xd9])),
        )
        .await
        .unwrap();
    assert!(url.is_some());
    assert_eq!(b.profile_picture_url(A).await.unwrap(), url);
    assert!(a.exists(B).await.unwrap());

    b.block(A, true).await.unwrap();
    next(&mut b, |e| match e {
        ClientEvent::Chat(ChatEvent::Blocklist(list)) if list == &[A.to_owned()] => Some(()),
        _ => None,
    })
    .await;
    b.block(A, false).await.unwrap();

    let (hits, _) = a.search("star", None, 10, 1).await.unwrap();
    assert!(
        hits.iter()
            .any(|m| m.key.id.as_deref() == Some(sent.id.as_str()))
    );
    let last = a.history(B, Direction::Before, 1, None).await.unwrap().0;
    a.mark_unread(B, &last[0].key).await.unwrap();
    let count = sim.with_server(|s, _| s.store(A).and_then(|st| st.chats.get(B)).map(|c| c.count));
    assert_eq!(count, Some(-1));
    a.chat_op(B, ChatOp::Clear).await.unwrap();
    let (left, _) = a.history(B, Direction::Before, 10, None).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    a.chat_op(B, ChatOp::Delete).await.unwrap();
    let gone = sim.with_server(|s, _| s.store(A).map(|st| !st.chats.contains_key(B)));
    assert_eq!(gone, Some(true));
}

/// The server hears `received` for an incoming message only once the application took it
/// from `next_event`.
#[tokio::test]
async fn incoming_is_acknowledged_only_after_the_app_took_it() {
    let (sim, a, mut b) = two_clients().await;
    let sent = a.send_text(B, "ack me later").await.unwrap();
    let receipt = || {
        sim.with_server(|s, _| {
            s.store(B)
                .and_then(|st| st.chats.get(A))
                .and_then(|c| c.message(&sent.id))
                .map(|m| m.receipts.contains_key(B))
        })
    };
    // Stored for B, pushed to B's client, and not yet handed over: no receipt.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receipt(), Some(false));
    let got = incoming(&mut b).await;
    assert_eq!(got.key.id, Some(sent.id.clone()));
    tokio::time::timeout(PATIENCE, async {
        while receipt() != Some(true) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the receipt follows the hand-over");
}

#[tokio::test]
async fn groups_and_history_paging() {
    let (sim, mut a, mut b) = two_clients().await;
    let gid = a.group_create("Plans", &[B.to_owned()]).await.unwrap();
    assert!(gid.ends_with("@g.us"), "{gid}");
    // The group's creation arrives first, as a notification stub (no content).
    let stub = incoming(&mut b).await;
    assert!(
        stub.message.is_none() && stub.message_stub_type.is_some(),
        "{stub:?}"
    );
    let hello = a.send_text(&gid, "hello group").await.unwrap();
    let got = incoming(&mut b).await;
    assert_eq!(got.key.id, Some(hello.id.clone()));
    assert_eq!(got.key.remote_jid.as_deref(), Some(gid.as_str()));
    // A member's read receipt names the member.
    b.read(&gid, &got.key).await.unwrap();
    let read = next(&mut a, |e| match e {
        ClientEvent::Chat(ChatEvent::Ack(ack))
            if ack.ids.contains(&hello.id) && ack.level == AckLevel::Read =>
        {
            Some(ack.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(read.chat, gid);
    assert_eq!(read.participant.as_deref(), Some(B));

    a.group_op(&gid, GroupOp::Subject("New plans".into()))
        .await
        .unwrap();
    a.group_op(
        &gid,
        GroupOp::Description {
            text: "about".into(),
            id: "d1".into(),
            prev: None,
        },
    )
    .await
    .unwrap();
    a.group_op(&gid, GroupOp::Promote(vec![B.to_owned()]))
        .await
        .unwrap();
    a.group_op(&gid, GroupOp::Demote(vec![B.to_owned()]))
        .await
        .unwrap();
    a.group_op(
        &gid,
        GroupOp::Setting {
            setting: GroupSetting::SendMessages,
            only_admins: true,
        },
    )
    .await
    .unwrap();
    let announce = sim.with_server(|s, _| s.group(&gid).map(|g| g.announce));
    assert_eq!(announce, Some(true));
    // Announce-only: the member's message is refused (403), the admin's goes through.
    match b.send_text(&gid, "may I?").await {
        Err(wa_client::legacy::ClientError::Refused(why)) => assert!(why.contains("403"), "{why}"),
        other => panic!("a non-admin's message to an announce-only group: {other:?}"),
    }
    let announcement = a.send_text(&gid, "admins only now").await.unwrap();
    let got = next(&mut b, |e| match e {
        ClientEvent::Chat(ChatEvent::Messages {
            batch: MessageBatch::Relay,
            messages,
            ..
        }) => messages
            .iter()
            .find(|m| m.key.id.as_deref() == Some(announcement.id.as_str()))
            .cloned(),
        _ => None,
    })
    .await;
    assert_eq!(text_of(&got), Some("admins only now"));
    let meta = b.group_metadata(&gid).await.unwrap();
    assert_eq!(meta["desc"], "about");
    assert_eq!(meta["subject"], "New plans");
    let code = a.group_invite_code(&gid).await.unwrap();
    let code2 = a.group_invite_reset(&gid).await.unwrap();
    assert_ne!(code, code2);
    let members = || sim.with_server(|s, _| s.group(&gid).map(|g| g.participants.len()));
    let remove = || GroupOp::Remove(vec![B.to_owned()]);
    a.group_op(&gid, remove()).await.unwrap();
    assert_eq!(members(), Some(1));
    a.group_op(&gid, GroupOp::Add(vec![B.to_owned()]))
        .await
        .unwrap();
    assert_eq!(members(), Some(2));
    a.group_op(&gid, remove()).await.unwrap();
    assert_eq!(b.group_join(&code2).await.unwrap(), gid);
    assert_eq!(members(), Some(2));
    b.group_op(&gid, GroupOp::Leave).await.unwrap();
    assert_eq!(members(), Some(1));

    // History: ten messages, paged backwards three at a time.
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(a.send_text(B, &format!("m{i}")).await.unwrap().id);
    }
    let mut collected = Vec::new();
    let mut cursor = None;
    loop {
        let (page, last) = a
            .history(B, Direction::Before, 3, cursor.as_ref())
            .await
            .unwrap();
        let Some(first) = page.first() else { break };
        cursor = Some(first.key.clone());
        for m in page.iter().rev() {
            collected.push(m.key.id.clone().unwrap());
        }
        if last {
            break;
        }
    }
    collected.reverse();
    assert_eq!(collected, ids);
    let (after, _) = a
        .history(
            B,
            Direction::After,
            2,
            Some(&wa_proto::MessageKey::new(B, true, ids[3].clone())),
        )
        .await
        .unwrap();
    let after: Vec<_> = after.into_iter().filter_map(|m| m.key.id).collect();
    assert_eq!(after, ids[4..6].to_vec());
}

#[tokio::test]
async fn note_to_self_is_acked() {
    let (_sim, a, _b) = two_clients().await;
    let sent = a.send_text(A, "note to self").await.unwrap();
    assert_eq!(sent.status, AckLevel::ServerAck);
}

#[tokio::test]
async fn echo_contact_answers() {
    let (_sim, mut a, _b) = two_clients().await;
    let sent = a.send_text(ECHO, "ping").await.unwrap();
    ack(&mut a, &sent.id, AckLevel::Delivered).await;
    let reply = incoming(&mut a).await;
    assert_eq!(text_of(&reply), Some("ping"));
    assert!(matches!(
        a.download_media(&reply).await,
        Err(wa_client::legacy::ClientError::NoMedia(_))
    ));
}

/// The simulator drops the connection after storing a relay and before acking it: the client
/// resends with the same id, the server de-duplicates, and the recipient gets it once.
#[tokio::test]
async fn dropped_before_ack_is_resent_and_delivered_once() {
    let (sim, a, mut b) = two_clients().await;
    sim.with_server(|s, _| s.fault_drop_next_relay_ack());
    let sent = a.send_text(B, "exactly once").await.unwrap();
    assert_eq!(sent.status, AckLevel::ServerAck);
    let got = incoming(&mut b).await;
    assert_eq!(got.key.id, Some(sent.id.clone()));
    // Another message after it arrives next: nothing duplicated in between.
    let second = a.send_text(B, "after").await.unwrap();
    let got = incoming(&mut b).await;
    assert_eq!(got.key.id, Some(second.id));
    let stored = sim.with_server(|s, _| {
        s.store(B)
            .and_then(|st| st.chats.get(A))
            .map(|c| c.messages.iter().filter(|m| m.id() == sent.id).count())
    });
    assert_eq!(stored, Some(1));
}

/// The server answers two relays in a row with 503 (busy): the message stays in the outbox,
/// goes again with the same id after a backoff, and arrives once; `send` returns its ack.
#[tokio::test]
async fn a_busy_server_defers_a_relay_and_it_still_arrives_once() {
    let (sim, a, mut b) = two_clients().await;
    sim.with_server(|s, _| s.fault_defer_next_relays(2));
    let sent = a.send_text(B, "despite 503").await.unwrap();
    assert_eq!(sent.status, AckLevel::ServerAck);
    let got = incoming(&mut b).await;
    assert_eq!(got.key.id, Some(sent.id.clone()));
    assert_eq!(text_of(&got), Some("despite 503"));
    let stored = sim.with_server(|s, _| {
        s.store(B)
            .and_then(|st| st.chats.get(A))
            .map(|c| c.messages.iter().filter(|m| m.id() == sent.id).count())
    });
    assert_eq!(stored, Some(1));
}

#[tokio::test]
async fn duplicate_delivery_and_garbage_frames_are_survived() {
    let (sim, a, mut b) = two_clients().await;
    sim.with_server(|s, _| s.fault_duplicate_next_delivery());
    let first = a.send_text(B, "once").await.unwrap();
    let got = incoming(&mut b).await;
    assert_eq!(got.key.id, Some(first.id));
    for conn in sim.with_server(|s, _| s.account_connections(B)) {
        assert!(sim.with_server(|s, _| s.fault_send_garbage(conn, false)));
        assert!(sim.with_server(|s, _| s.fault_send_garbage(conn, true)));
    }
    // The bad frames were reported and skipped; the stream goes on.
    next(&mut b, |e| {
        matches!(
            e,
            ClientEvent::Protocol(wa_core::client::Event::Error(
                wa_core::client::SessionError::Decrypt { .. }
            ))
        )
        .then_some(())
    })
    .await;
    let second = a.send_text(B, "twice?").await.unwrap();
    let got = incoming(&mut b).await;
    assert_eq!(
        got.key.id,
        Some(second.id),
        "the duplicate was not handed on"
    );
}

#[tokio::test]
async fn server_restart_and_client_restart_lose_nothing() {
    let (sim, a, mut b) = two_clients().await;
    let sim = sim.restart().await.expect("restarts");
    let sent = a.send_text(B, "after server restart").await.unwrap();
    let got = incoming(&mut b).await;
    assert_eq!(got.key.id, Some(sent.id));

    // A message accepted by a client that then stopped before the ack: the next client
    // on the same store relays it with the same id.
    let store = Arc::new(MemoryStore::new());
    let mut c = build(&sim, Arc::clone(&store), 3);
    login(&sim, &mut c, A).await;
    c.shutdown().await;
    let pending = compose::envelope(
        B,
        "3EB0AAAABBBBCCCCDDDD",
        compose::text("from the outbox"),
        1,
    );
    store
        .save_outbox(&wa_client::legacy::chat::Outbox::from_entries(vec![
            PendingMessage::new(&pending),
        ]))
        .unwrap();
    let mut c = build(&sim, Arc::clone(&store), 4);
    c.restore().unwrap();
    let got = incoming(&mut b).await;
    assert_eq!(got.key.id.as_deref(), Some("3EB0AAAABBBBCCCCDDDD"));
    assert_eq!(text_of(&got), Some("from the outbox"));
    // Once acked it leaves the outbox.
    tokio::time::timeout(PATIENCE, async {
        while !store.load_outbox().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("outbox drained");
}
