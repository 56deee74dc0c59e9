//! Groups and admin rights, chat operations, blocklist and profile, the media host, and
//! presence subscriptions.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest as _;
use wa_binary::Node;
use wa_proto::{ImageMessage, Message, MessageKey, WebMessageInfo};
use wa_sim::media::MediaError;
use wa_sim::store::wire_jid;

use crate::{A, B, Got, Sim, relayed, text_message};

#[test]
fn groups_route_to_members_and_enforce_admin_rights() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let b = sim.login(B, "client-b");
    let created = sim.set(
        &a,
        Node::new("group")
            .attr("id", "g1")
            .attr("type", "create")
            .attr("author", A)
            .attr("subject", "Team")
            .children([Node::new("participant").attr("jid", B)]),
    );
    assert_eq!(created["status"], 200);
    let gid = created["gid"].as_str().unwrap().to_owned();
    assert!(gid.starts_with("15550100001-") && gid.ends_with("@g.us"));
    let meta = sim.json(&b, &format!(r#"["query","GroupMetadata","{gid}"]"#));
    assert_eq!(meta["subject"], "Team");
    assert_eq!(meta["owner"], A);
    assert_eq!(meta["participants"][0]["isSuperAdmin"], true);
    assert_eq!(meta["participants"][1]["id"], B);

    // A message to the group reaches B with A as participant.
    let mut info = text_message(&gid, "3EB0GR01", "hello team");
    info.key.remote_jid = Some(gid.clone());
    assert_eq!(sim.relay(&a, &info), Some(200));
    let incoming = relayed(&sim.take(&b));
    // First the creation notice (GROUP_CREATE stub with the subject), then the message.
    assert_eq!(incoming.len(), 2);
    assert_eq!(incoming[0].message_stub_type, Some(20));
    assert_eq!(incoming[0].message_stub_parameters, ["Team"]);
    assert_eq!(incoming[0].key.from_me, Some(false));
    assert_eq!(incoming[1].key.remote_jid.as_deref(), Some(gid.as_str()));
    assert_eq!(
        incoming[1].participant.as_deref(),
        Some("15550100001@s.whatsapp.net")
    );
    assert_eq!(sim.server.store(B).unwrap().chats[&gid].messages.len(), 2);

    // B is no admin: cannot add or promote, can change the subject (not restricted).
    let group = |kind: &str| {
        Node::new("group")
            .attr("id", "g2")
            .attr("type", kind)
            .attr("author", B)
            .attr("jid", &gid)
    };
    let refused = sim.set(
        &b,
        group("add").children([Node::new("participant").attr("jid", "15550100003@c.us")]),
    );
    assert_eq!(refused["status"], 401);
    assert_eq!(
        sim.set(&b, group("subject").attr("subject", "Renamed"))["status"],
        200
    );
    assert_eq!(sim.server.group(&gid).unwrap().subject, "Renamed");
    assert_eq!(
        sim.server.store(A).unwrap().chats[&gid].name.as_deref(),
        Some("Renamed")
    );
    let promote = Node::new("group")
        .attr("id", "g3")
        .attr("type", "promote")
        .attr("author", A)
        .attr("jid", &gid)
        .children([Node::new("participant").attr("jid", B)]);
    sim.take(&b);
    assert_eq!(sim.set(&a, promote)["status"], 200);
    assert!(sim.server.group(&gid).unwrap().is_admin(B));
    // B hears of it as a stub and as the `Chat` action Baileys listens to.
    let got = sim.take(&b);
    assert_eq!(relayed(&got)[0].message_stub_type, Some(29));
    assert!(got.iter().any(|g| matches!(g,
        Got::Json(_, v) if v[0] == "Chat" && v[1]["data"][0] == "promote" && v[1]["data"][2]["participants"][0] == B)));
    let description = Node::new("group")
        .attr("id", "g4")
        .attr("type", "description")
        .attr("author", B)
        .attr("jid", &gid)
        .children([Node::new("description")
            .attr("id", "d1")
            .bytes(b"about us".to_vec())]);
    assert_eq!(sim.set(&b, description)["status"], 200);
    assert_eq!(
        sim.server.group(&gid).unwrap().desc.as_deref(),
        Some("about us")
    );

    // Settings: announce-only reaches B as a GROUP_CHANGE_ANNOUNCE stub ("on").
    sim.take(&b);
    let prop = Node::new("group")
        .attr("id", "g5")
        .attr("type", "prop")
        .attr("author", A)
        .attr("jid", &gid)
        .children([Node::new("announcement").attr("value", "true")]);
    assert_eq!(sim.set(&a, prop)["status"], 200);
    assert!(sim.server.group(&gid).unwrap().announce);
    let stubs = relayed(&sim.take(&b));
    assert_eq!(stubs.len(), 1);
    assert_eq!(stubs[0].message_stub_type, Some(26));
    assert_eq!(stubs[0].message_stub_parameters, ["on"]);
    // Announce-only: once B is no admin, B's message is refused and stored nowhere; A's passes.
    let demote = Node::new("group")
        .attr("id", "g6")
        .attr("type", "demote")
        .attr("author", A)
        .attr("jid", &gid)
        .children([Node::new("participant").attr("jid", B)]);
    assert_eq!(sim.set(&a, demote)["status"], 200);
    let stored = |sim: &Sim, wid: &str| sim.server.store(wid).unwrap().chats[&gid].messages.len();
    let before = (stored(&sim, A), stored(&sim, B));
    let mut muted = text_message(&gid, "3EB0GR03", "may I?");
    muted.key.remote_jid = Some(gid.clone());
    assert_eq!(sim.relay(&b, &muted), Some(403));
    assert_eq!((stored(&sim, A), stored(&sim, B)), before);
    let mut news = text_message(&gid, "3EB0GR04", "admins only");
    news.key.remote_jid = Some(gid.clone());
    assert_eq!(sim.relay(&a, &news), Some(200));
    assert_eq!(
        (stored(&sim, A), stored(&sim, B)),
        (before.0 + 1, before.1 + 1)
    );

    // Invite codes: get, reset, join; leave.
    let code = sim.json(&a, &format!(r#"["query","inviteCode","{gid}"]"#));
    let code = code["code"].as_str().unwrap().to_owned();
    let reset = sim.json(&a, &format!(r#"["action","inviteReset","{gid}"]"#));
    assert_ne!(reset["code"].as_str().unwrap(), code);
    assert_eq!(
        sim.json(&b, &format!(r#"["action","invite","{code}"]"#))["status"],
        404
    );
    assert_eq!(sim.set(&b, group("leave"))["status"], 200);
    assert!(!sim.server.group(&gid).unwrap().is_member(B));
    assert!(sim.server.store(B).unwrap().chats[&gid].read_only);
    // A former member cannot send to the group.
    let mut late = text_message(&gid, "3EB0GR02", "let me back");
    late.key.remote_jid = Some(gid.clone());
    assert_eq!(sim.relay(&b, &late), Some(403));
    // Nor read it, with either query; a member can.
    assert_eq!(
        sim.json(&b, &format!(r#"["query","GroupMetadata","{gid}"]"#))["status"],
        401
    );
    let group_query = || Node::new("query").attr("type", "group").attr("jid", &gid);
    match sim.query(&b, group_query()) {
        Got::Json(_, v) => assert_eq!(v["status"], 401),
        other => panic!("{other:?}"),
    }
    match sim.query(&a, group_query()) {
        Got::Node(_, n) => assert_eq!(
            n.child("group").unwrap().attrs.get("subject"),
            Some("Renamed")
        ),
        other => panic!("{other:?}"),
    }
    let new_code = reset["code"].as_str().unwrap();
    let joined = sim.json(&b, &format!(r#"["action","invite","{new_code}"]"#));
    assert_eq!(joined["gid"], gid.as_str());
    assert!(sim.server.group(&gid).unwrap().is_member(B));
    // A non-member cannot read the metadata of an unknown group.
    assert_eq!(
        sim.json(&b, r#"["query","GroupMetadata","1-1@g.us"]"#)["status"],
        404
    );
}

#[test]
fn chat_operations_blocklist_and_profile_are_kept() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let b = sim.login(B, "client-b");
    sim.relay(&a, &text_message(B, "3EB0CH01", "x"));
    let chat = |kind: &str| Node::new("chat").attr("jid", B).attr("type", kind);
    sim.set(&a, chat("archive"));
    sim.set(&a, chat("pin").attr("pin", "1600000100"));
    sim.set(&a, chat("mute").attr("mute", "1600009999"));
    sim.set(
        &a,
        chat("star").children([Node::new("item")
            .attr("owner", "true")
            .attr("index", "3EB0CH01")]),
    );
    let c = sim.server.store(A).unwrap().chats[B].clone();
    assert!(c.archive);
    assert_eq!(c.pin, Some(1_600_000_100));
    assert_eq!(c.mute, Some(1_600_009_999));
    assert!(c.starred.contains("3EB0CH01"));
    // Unpin/unmute as Baileys sends them: type pin/mute with `previous` only.
    sim.set(&a, chat("pin").attr("previous", "1600000100"));
    sim.set(&a, chat("mute").attr("previous", "1600009999"));
    sim.set(&a, chat("unarchive"));
    let c = sim.server.store(A).unwrap().chats[B].clone();
    assert_eq!((c.archive, c.pin, c.mute), (false, None, None));
    sim.set(&a, chat("clear"));
    assert!(sim.server.store(A).unwrap().chats[B].messages.is_empty());
    sim.set(&a, chat("delete"));
    assert!(!sim.server.store(A).unwrap().chats.contains_key(B));

    // B blocks A: the Blocklist push, and A's next message is not delivered.
    sim.take(&b);
    sim.set(
        &b,
        Node::new("block")
            .attr("type", "add")
            .children([Node::new("user").attr("jid", A)]),
    );
    let got = sim.take(&b);
    assert!(
        got.iter().any(
            |g| matches!(g, Got::Json(_, v) if v[0] == "Blocklist" && v[1]["blocklist"][0] == A)
        )
    );
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0BL01", "blocked")),
        Some(200)
    );
    assert!(relayed(&sim.take(&b)).is_empty());
    sim.set(
        &b,
        Node::new("block")
            .attr("type", "remove")
            .children([Node::new("user").attr("jid", A)]),
    );
    assert!(sim.server.store(B).unwrap().blocked.is_empty());

    // Profile: push name, status text, picture.
    sim.take(&a);
    let answer = sim.set(&a, Node::new("profile").attr("name", "New Name"));
    assert_eq!(
        (answer["status"].as_i64(), answer["pushname"].as_str()),
        (Some(200), Some("New Name"))
    );
    assert!(
        sim.take(&a).iter().any(
            |g| matches!(g, Got::Json(_, v) if v[0] == "Conn" && v[1]["pushname"] == "New Name")
        )
    );
    sim.set(&a, Node::new("status").bytes(b"busy".to_vec()));
    assert_eq!(
        sim.json(&b, &format!(r#"["query","Status","{A}"]"#))["status"],
        "busy"
    );
    assert_eq!(
        sim.json(&b, &format!(r#"["query","ProfilePicThumb","{A}"]"#))["status"],
        404
    );
    let picture = sim.set(
        &a,
        Node::new("picture")
            .attr("jid", A)
            .attr("id", "p1")
            .attr("type", "set")
            .children([
                Node::new("image").bytes(vec![0xff, 0xd8, 1, 2]),
                Node::new("preview").bytes(vec![0xff, 0xd8]),
            ]),
    );
    let eurl = picture["eurl"].as_str().unwrap().to_owned();
    // B has a chat with A: told to query the picture again.
    assert!(sim.take(&b).iter().any(|g| matches!(g,
        Got::Json(_, v) if v[0] == "Cmd" && v[1]["type"] == "picture" && v[1]["jid"] == A)));
    assert_eq!(
        sim.json(&b, &format!(r#"["query","ProfilePicThumb","{A}"]"#))["eurl"],
        eurl.as_str()
    );
    let path = eurl.split("127.0.0.1:9").nth(1).unwrap();
    assert_eq!(
        sim.server.media_download(sim.now, path),
        Ok(vec![0xff, 0xd8, 1, 2])
    );
    // Presence to a contact reaches that account.
    sim.take(&b);
    sim.set(
        &a,
        Node::new("presence")
            .attr("type", "composing")
            .attr("to", B),
    );
    assert!(sim.take(&b).iter().any(
        |g| matches!(g, Got::Json(_, v) if v[0] == "Presence" && v[1]["type"] == "composing")
    ));
    assert_eq!(
        sim.json(&a, r#"["query","exist","15550109999@c.us"]"#)["status"],
        200
    );
    assert_eq!(
        sim.json(&a, r#"["query","exist","19999999999@c.us"]"#)["status"],
        404
    );
}

#[test]
fn the_media_host_checks_uploads_and_expires_urls() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let b = sim.login(B, "client-b");
    let conn = sim.json(&a, r#"["query","mediaConn"]"#);
    assert_eq!(conn["status"], 200);
    let auth = conn["media_conn"]["auth"].as_str().unwrap().to_owned();
    assert_eq!(conn["media_conn"]["hosts"][0]["hostname"], "127.0.0.1:9");
    let blob = b"encrypted bytes and a mac".to_vec();
    let token = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&blob));
    assert_eq!(
        sim.server
            .media_upload(sim.now, "wrong", &token, blob.clone()),
        Err(MediaError::BadAuth)
    );
    assert_eq!(
        sim.server
            .media_upload(sim.now, &auth, "AAAA", blob.clone()),
        Err(MediaError::HashMismatch)
    );
    let url = sim
        .server
        .media_upload(sim.now, &auth, &token, blob.clone())
        .unwrap();
    assert!(url.starts_with("https://127.0.0.1:9/mms/d/"), "{url}");
    let path = url.trim_start_matches("https://127.0.0.1:9").to_owned();
    assert_eq!(sim.server.media_download(sim.now, &path), Ok(blob.clone()));

    // The image message goes to B; its URL expires; B re-queries and downloads again.
    let info = WebMessageInfo {
        key: MessageKey::new(wire_jid(B), true, "3EB0ME01"),
        message: Some(Message {
            image_message: Some(Box::new(ImageMessage {
                url: Some(url.clone()),
                media_key: Some(vec![7; 32]),
                ..ImageMessage::default()
            })),
            ..Message::default()
        }),
        ..WebMessageInfo::default()
    };
    assert_eq!(sim.relay(&a, &info), Some(200));
    sim.server.expire_media_urls(sim.now);
    assert_eq!(
        sim.server.media_download(sim.now, &path),
        Err(MediaError::NotFound)
    );
    let fresh = sim.query(
        &b,
        Node::new("query")
            .attr("type", "media")
            .attr("index", "3EB0ME01")
            .attr("owner", "false")
            .attr("jid", A),
    );
    let Got::Node(_, media) = fresh else {
        panic!("{fresh:?}")
    };
    assert_eq!(media.tag, "media");
    // As a real server does, the answer names the media key too.
    assert_eq!(wa_core::chat::reply::media_key(&media), Some([7; 32]));
    let new_url = media.attrs.get("url").unwrap();
    assert_ne!(new_url, url);
    let new_path = new_url.trim_start_matches("https://127.0.0.1:9");
    assert_eq!(sim.server.media_download(sim.now, new_path), Ok(blob));
    // The encr_upload route points at the same host.
    let upload = sim.json(&a, r#"["action","encr_upload","image","q83vEjRWeJA="]"#);
    assert!(
        upload["url"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:9/mms/upload/image/")
    );
}

#[test]
fn presence_subscriptions_follow_the_contact() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let b = sim.login(B, "client-b");
    let answer = sim.json(&a, &format!(r#"["action","presence","subscribe","{B}"]"#));
    assert_eq!(answer["status"], 200);
    let presences = |got: &[Got]| -> Vec<(String, String)> {
        got.iter()
            .filter_map(|g| match g {
                Got::Json(_, v) if v[0] == "Presence" => Some((
                    v[1]["id"].as_str().unwrap().to_owned(),
                    v[1]["type"].as_str().unwrap().to_owned(),
                )),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        presences(&sim.take(&a)),
        [(B.to_owned(), "available".to_owned())]
    );
    sim.set(&b, Node::new("presence").attr("type", "unavailable"));
    sim.set(&b, Node::new("presence").attr("type", "available"));
    assert_eq!(
        presences(&sim.take(&a)),
        [
            (B.to_owned(), "unavailable".to_owned()),
            (B.to_owned(), "available".to_owned())
        ]
    );
}
