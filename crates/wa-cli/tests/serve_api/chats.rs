//! What a logged-in session reads (chats, contacts, existence checks, groups) and sends: texts
//! to the echo contact, two sessions exchanging replies, media, locations, cards, receipts and
//! typing, and groups created, changed and shared.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use super::{KEY, STEP, receiver, start, wait_event};

const ECHO: &str = "15550109999@c.us";
const SIM_PHONE: &str = "15550100001@c.us";
const ALICE: &str = "15550100002@c.us";

#[tokio::test]
async fn chats_contacts_existence_and_groups_come_from_the_account() {
    let serve = start(&[]);
    serve.scan("default").await;
    // The chat list arrives shortly after login.
    let deadline = tokio::time::Instant::now() + STEP;
    let chats = loop {
        let (_, chats) = serve.get("/api/default/chats").await;
        if chats.as_array().is_some_and(|c| c.len() >= 3) {
            break chats;
        }
        assert!(tokio::time::Instant::now() < deadline, "no chats: {chats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ids: Vec<_> = chats
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "15550100002@c.us",
            "15550100003@c.us",
            "15550100002-1600000000@g.us"
        ]
    );
    assert_eq!(chats[0]["name"], "Alice Example");
    assert_eq!(chats[0]["unreadCount"], 2);
    assert_eq!(chats[2]["isGroup"], true);
    let (_, overview) = serve.get("/api/default/chats/overview?limit=2").await;
    assert_eq!(overview.as_array().unwrap().len(), 2);
    assert_eq!(overview[0]["unreadCount"], 2);
    assert_eq!(overview[0]["lastMessage"]["body"], "I'll bring the slides");
    // The seeded history, newest first, in WAHA's shape.
    let (_, messages) = serve
        .get("/api/default/chats/15550100003@c.us/messages?limit=10")
        .await;
    let summary: Vec<(bool, &str, &str)> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["fromMe"].as_bool().unwrap(),
                m["body"].as_str().unwrap(),
                m["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (true, "All green", "true_15550100003@c.us_3EB0SEED0B2"),
            (
                false,
                "Did the build pass?",
                "false_15550100003@c.us_SEED0B1"
            ),
        ]
    );
    let (_, page) = serve
        .get("/api/default/chats/15550100002@c.us/messages?limit=1&offset=1")
        .await;
    assert_eq!(page[0]["body"], "Yes! 12:30 at the usual place");
    assert_eq!(page.as_array().unwrap().len(), 1);

    let (_, contacts) = serve.get("/api/contacts/all?session=default").await;
    let alice = contacts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "15550100002@c.us")
        .unwrap();
    assert_eq!(alice["name"], "Alice Example");
    assert_eq!(alice["pushname"], "alice");
    assert_eq!(alice["number"], "15550100002");
    let (status, bob) = serve
        .get("/api/contacts?session=default&contactId=15550100003")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bob["name"], "Bob Example");

    let (_, exists) = serve
        .get("/api/contacts/check-exists?session=default&phone=%2B1%20555%200100003")
        .await;
    assert_eq!(
        exists,
        json!({"numberExists": true, "chatId": "15550100003@c.us"})
    );
    let (_, missing) = serve
        .get("/api/contacts/check-exists?session=default&phone=19999999999")
        .await;
    assert_eq!(missing["numberExists"], false);

    let group = "15550100002-1600000000@g.us";
    let (status, metadata) = serve.get(&format!("/api/default/groups/{group}")).await;
    assert_eq!(status, StatusCode::OK, "{metadata}");
    assert_eq!(metadata["subject"], "Sim Group");
    let (_, participants) = serve
        .get(&format!("/api/default/groups/{group}/participants"))
        .await;
    let roles: Vec<_> = participants
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["role"].as_str().unwrap()))
        .collect();
    assert!(roles.contains(&("15550100002@c.us", "superadmin")));
    assert!(roles.contains(&("15550100001@c.us", "participant")));
    // Only admins see the invite code.
    let (status, _) = serve
        .get(&format!("/api/default/groups/{group}/invite-code"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = serve
        .get("/api/default/groups/15550100009-1600000000@g.us")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn texts_to_the_echo_contact_get_a_reply_read_ticks_and_webhook_events() {
    let serve = start(&[]);
    let (hook, received) = receiver(0).await;
    let config = json!({"webhooks": [{
        "url": hook,
        "events": ["message", "message.any", "message.ack", "presence.update"],
        "hmac": {"key": "k2"},
    }]});
    let (status, _) = serve
        .send(
            reqwest::Method::PUT,
            "/api/sessions/default",
            json!({ "config": config }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    serve.scan("default").await;
    serve
        .post("/api/sessions", json!({"name": "idle", "start": false}))
        .await;

    let (status, sent) = serve
        .post(
            "/api/sendText",
            json!({"session": "default", "chatId": ECHO, "text": "ping"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let id = sent["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with(&format!("true_{ECHO}_")), "{id}");
    assert_eq!(sent["fromMe"], true);
    assert_eq!(sent["from"], SIM_PHONE);
    assert_eq!(sent["to"], ECHO);
    assert_eq!(sent["body"], "ping");
    assert!(sent["ack"].as_i64().unwrap() >= 1, "{sent}");

    // The echo contact reads it (READ ack) and answers with the same text.
    let reply = wait_event(&received, "k2", "message", |e| e["event"] == "message").await;
    assert_eq!(reply["session"], "default");
    assert_eq!(reply["me"]["id"], SIM_PHONE);
    assert_eq!(reply["payload"]["from"], ECHO);
    assert_eq!(reply["payload"]["fromMe"], false);
    assert_eq!(reply["payload"]["body"], "ping");
    assert!(
        reply["payload"]["id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("false_{ECHO}_"))
    );
    let read = wait_event(&received, "k2", "message.ack READ", |e| {
        e["event"] == "message.ack" && e["payload"]["ack"] == 3
    })
    .await;
    assert_eq!(read["payload"]["id"], id.as_str());
    assert_eq!(read["payload"]["ackName"], "READ");
    // message.any saw both ours and theirs (each delivery is its own request: they may land
    // in any order, after the READ ack too).
    for from_me in [true, false] {
        wait_event(&received, "k2", "message.any", |e| {
            e["event"] == "message.any" && e["payload"]["fromMe"] == from_me
        })
        .await;
    }
    // It typed before answering.
    let typing = wait_event(&received, "k2", "presence.update", |e| {
        e["event"] == "presence.update"
    })
    .await;
    assert_eq!(typing["payload"]["id"], ECHO);

    // Reading: the chat holds both, newest first, ours with its READ ack.
    let messages = serve.messages("default", ECHO).await;
    let list = messages.as_array().unwrap();
    assert_eq!(list.len(), 2, "{messages}");
    let ours = list.iter().find(|m| m["id"] == id.as_str()).unwrap();
    assert_eq!(ours["ack"], 3);
    assert_eq!(ours["ackName"], "READ");
    let (_, overview) = serve.get("/api/default/chats/overview").await;
    let echo = overview
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == ECHO)
        .unwrap();
    assert_eq!(echo["name"], "Echo");
    assert_eq!(echo["lastMessage"]["body"], "ping");
    assert_eq!(echo["unreadCount"], 1);
    let (status, _) = serve
        .post(
            "/api/sendSeen",
            json!({"session": "default", "chatId": ECHO}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, overview) = serve.get("/api/default/chats/overview").await;
    assert!(
        overview
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == ECHO && c["unreadCount"] == 0)
    );

    // Sending needs a WORKING session and a text.
    let (status, _) = serve
        .post(
            "/api/sendText",
            json!({"session": "idle", "chatId": ECHO, "text": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = serve
        .post(
            "/api/sendText",
            json!({"session": "default", "chatId": ECHO}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn two_sessions_exchange_replies_media_locations_cards_receipts_and_typing() {
    let serve = start(&["--session", "default", "--session", "alice"]);
    serve.scan("default").await;
    serve.scan("alice").await;
    let (_, me) = serve.get("/api/sessions/alice/me").await;
    assert_eq!(me["id"], ALICE);

    // A text, read by Alice: blue ticks at the sender.
    let (_, sent) = serve
        .post(
            "/api/sendText",
            json!({"chatId": ALICE, "text": "hi alice"}),
        )
        .await;
    let sent_id = sent["id"].as_str().unwrap().to_owned();
    let inbox = serve
        .wait_for(
            &format!("/api/alice/chats/{SIM_PHONE}/messages"),
            "Alice gets the text",
            |m| m[0]["body"] == "hi alice",
        )
        .await;
    let received = &inbox[0];
    assert_eq!(received["fromMe"], false);
    assert_eq!(received["from"], SIM_PHONE);
    assert_eq!(received["to"], ALICE);
    serve
        .post(
            "/api/sendSeen",
            json!({"session": "alice", "chatId": SIM_PHONE}),
        )
        .await;
    serve
        .wait_for(
            &format!("/api/default/chats/{ALICE}/messages"),
            "the READ ack",
            |m| {
                m.as_array().is_some_and(|l| {
                    l.iter()
                        .any(|x| x["id"] == sent_id.as_str() && x["ack"] == 3)
                })
            },
        )
        .await;

    // A reply quotes the message.
    let (status, reply) = serve
        .post(
            "/api/sendText",
            json!({"session": "alice", "chatId": SIM_PHONE, "text": "hi back", "reply_to": received["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let bare_id = sent_id.rsplit('_').next().unwrap().to_owned();
    serve
        .wait_for(
            &format!("/api/default/chats/{ALICE}/messages"),
            "the reply",
            |m| m[0]["body"] == "hi back" && m[0]["replyTo"]["id"] == bare_id.as_str(),
        )
        .await;

    // An image as base64 arrives with media served decrypted by the receiver's server.
    let image: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (status, sent) = serve
        .post(
            "/api/sendImage",
            json!({"chatId": ALICE, "caption": "a picture", "file": {
                "mimetype": "image/png", "filename": "p.png",
                "data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &image),
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["hasMedia"], true);
    let inbox = serve
        .wait_for(
            &format!("/api/alice/chats/{SIM_PHONE}/messages"),
            "the image",
            |m| m[0]["hasMedia"] == true,
        )
        .await;
    assert_eq!(inbox[0]["body"], "a picture");
    assert_eq!(inbox[0]["type"], "image");
    assert_eq!(inbox[0]["media"]["mimetype"], "image/png");
    let url = inbox[0]["media"]["url"].as_str().unwrap();
    let downloaded = serve
        .http
        .get(serve.url(url))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.headers()["content-type"], "image/png");
    assert_eq!(downloaded.bytes().await.unwrap().as_ref(), image.as_slice());
    // The sender serves its own copy too.
    let own = serve
        .http
        .get(serve.url(sent["media"]["url"].as_str().unwrap()))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(own.bytes().await.unwrap().as_ref(), image.as_slice());

    // A document by URL: the server fetches it.
    let document = b"%PDF-1.4 not really a pdf".to_vec();
    let served = document.clone();
    let files = Router::new().route(
        "/doc.pdf",
        axum::routing::get(move || {
            let served = served.clone();
            async move { served }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let files_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, files).await });
    let (status, sent) = serve
        .post(
            "/api/sendFile",
            json!({"chatId": ALICE, "file": {
                "mimetype": "application/pdf", "filename": "doc.pdf",
                "url": format!("http://{files_addr}/doc.pdf"),
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let inbox = serve
        .wait_for(
            &format!("/api/alice/chats/{SIM_PHONE}/messages"),
            "the document",
            |m| m[0]["type"] == "document",
        )
        .await;
    assert_eq!(inbox[0]["media"]["filename"], "doc.pdf");
    let got = serve
        .http
        .get(serve.url(inbox[0]["media"]["url"].as_str().unwrap()))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), document.as_slice());
    let (status, _) = serve
        .post(
            "/api/sendFile",
            json!({"chatId": ALICE, "file": {"url": format!("http://{files_addr}/missing")}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A voice note and a video, also by base64.
    for (route, mimetype, kind) in [
        ("sendVoice", "audio/ogg; codecs=opus", "ptt"),
        ("sendVideo", "video/mp4", "video"),
    ] {
        let bytes: Vec<u8> = route.bytes().cycle().take(4000).collect();
        let (status, sent) = serve
            .post(
                &format!("/api/{route}"),
                json!({"chatId": ALICE, "file": {"mimetype": mimetype,
                    "data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes)}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{route}: {sent}");
        let inbox = serve
            .wait_for(
                &format!("/api/alice/chats/{SIM_PHONE}/messages"),
                route,
                |m| m[0]["type"] == kind,
            )
            .await;
        assert_eq!(inbox[0]["media"]["mimetype"], mimetype);
        let got = serve
            .http
            .get(serve.url(inbox[0]["media"]["url"].as_str().unwrap()))
            .header("X-Api-Key", KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.bytes().await.unwrap().as_ref(),
            bytes.as_slice(),
            "{route}"
        );
    }

    // Bigger than axum's default 2 MB body limit once in base64.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let (status, sent) = serve
        .post(
            "/api/sendFile",
            json!({"chatId": ALICE, "file": {
                "mimetype": "application/octet-stream", "filename": "big.bin",
                "data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &big),
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let inbox = serve
        .wait_for(
            &format!("/api/alice/chats/{SIM_PHONE}/messages"),
            "the big file",
            |m| m[0]["media"]["filename"] == "big.bin",
        )
        .await;
    let got = serve
        .http
        .get(serve.url(inbox[0]["media"]["url"].as_str().unwrap()))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().len(), big.len());

    // A location and a contact card.
    let (status, _) = serve
        .post(
            "/api/sendLocation",
            json!({"chatId": ALICE, "latitude": 52.37, "longitude": 4.89, "title": "Dam"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let inbox = serve
        .wait_for(
            &format!("/api/alice/chats/{SIM_PHONE}/messages"),
            "the location",
            |m| m[0]["type"] == "location",
        )
        .await;
    assert_eq!(inbox[0]["location"]["latitude"], 52.37);
    assert_eq!(inbox[0]["location"]["name"], "Dam");
    let (status, _) = serve
        .post(
            "/api/sendContactVcard",
            json!({"chatId": ALICE, "contacts": [{"fullName": "Bob Example", "phoneNumber": "+1 555 0100003"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let inbox = serve
        .wait_for(
            &format!("/api/alice/chats/{SIM_PHONE}/messages"),
            "the card",
            |m| m[0]["type"] == "vcard",
        )
        .await;
    let card = inbox[0]["vCards"][0].as_str().unwrap();
    assert!(
        card.contains("FN:Bob Example") && card.contains("waid=15550100003"),
        "{card}"
    );

    // Typing shows at the other side.
    let ws = serve.url("/ws").replace("http://", "ws://");
    let (mut stream, _) = tokio_tungstenite::connect_async(format!(
        "{ws}?x-api-key={KEY}&session=alice&events=presence.update"
    ))
    .await
    .unwrap();
    let (status, _) = serve
        .post("/api/startTyping", json!({"chatId": ALICE}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let event = tokio::time::timeout(STEP, stream.next())
        .await
        .expect("a presence event")
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_str(event.to_text().unwrap()).unwrap();
    assert_eq!(event["payload"]["id"], SIM_PHONE);
    assert_eq!(
        event["payload"]["presences"][0]["lastKnownPresence"],
        "typing"
    );
    let (status, _) = serve
        .post("/api/stopTyping", json!({"chatId": ALICE}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn groups_are_created_changed_and_shared() {
    let serve = start(&["--session", "default", "--session", "alice"]);
    let (hook, received) = receiver(0).await;
    let config = json!({"webhooks": [{"url": hook, "events": ["*"], "hmac": {"key": "g"}}]});
    serve
        .send(
            reqwest::Method::PUT,
            "/api/sessions/alice",
            json!({ "config": config }),
        )
        .await;
    serve.scan("default").await;
    serve.scan("alice").await;
    let (status, group) = serve
        .post(
            "/api/default/groups",
            json!({"name": "Test group", "participants": [{"id": ALICE}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let gid = group["id"].as_str().unwrap().to_owned();
    assert!(gid.ends_with("@g.us"));
    assert_eq!(group["subject"], "Test group");
    let ids: Vec<_> = group["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&SIM_PHONE) && ids.contains(&ALICE), "{ids:?}");

    // The creator is an admin: invite codes work for them, not for Alice.
    let (status, code) = serve
        .get(&format!("/api/default/groups/{gid}/invite-code"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!code.as_str().unwrap().is_empty());
    let (_, new_code) = serve
        .post(
            &format!("/api/default/groups/{gid}/invite-code/revoke"),
            json!({}),
        )
        .await;
    assert_ne!(new_code, code);
    let (status, _) = serve
        .get(&format!("/api/alice/groups/{gid}/invite-code"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Subject, promotion, removal.
    let (status, _) = serve
        .send(
            reqwest::Method::PUT,
            &format!("/api/default/groups/{gid}/subject"),
            json!({"subject": "Renamed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, group) = serve.get(&format!("/api/alice/groups/{gid}")).await;
    assert_eq!(group["subject"], "Renamed");
    serve
        .post(
            &format!("/api/default/groups/{gid}/admin/promote"),
            json!({"participants": [{"id": ALICE}]}),
        )
        .await;
    let (_, participants) = serve
        .get(&format!("/api/default/groups/{gid}/participants"))
        .await;
    assert!(
        participants
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == ALICE && p["isAdmin"] == true)
    );
    let (status, _) = serve
        .post(
            &format!("/api/default/groups/{gid}/participants/remove"),
            json!({"participants": [{"id": ALICE}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, participants) = serve
        .get(&format!("/api/default/groups/{gid}/participants"))
        .await;
    assert!(
        !participants
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == ALICE)
    );
    let (status, _) = serve
        .post(
            &format!("/api/default/groups/{gid}/participants/add"),
            json!({"participants": [{"id": ALICE}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Alice's webhook heard about all of it.
    let join = wait_event(&received, "g", "group.v2.join", |e| {
        e["event"] == "group.v2.join"
    })
    .await;
    assert_eq!(join["payload"]["group"]["id"], gid.as_str());
    assert_eq!(join["payload"]["group"]["subject"], "Test group");
    let update = wait_event(&received, "g", "group.v2.update", |e| {
        e["event"] == "group.v2.update"
    })
    .await;
    assert_eq!(update["payload"]["group"]["subject"], "Renamed");
    for kind in ["promote", "remove", "add"] {
        let change = wait_event(&received, "g", kind, |e| {
            e["event"] == "group.v2.participants" && e["payload"]["type"] == kind
        })
        .await;
        assert_eq!(change["payload"]["participants"][0]["id"], ALICE);
        assert_eq!(change["payload"]["group"]["id"], gid.as_str());
    }
    let (_, groups) = serve.get("/api/default/groups").await;
    assert!(
        groups
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == gid.as_str())
    );
    let (status, _) = serve
        .post(&format!("/api/alice/groups/{gid}/leave"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
}
