//! The request catalogue (one row per wa-core request builder) and the media transcript.

use wa_binary::Codec;
use wa_core::chat::{ChatOp, Direction, GroupOp, GroupSetting, Presence, Request};
use wa_sim::{Config, Server};

use super::pair::{Pair, display_node};
use super::{send, server_config};
use crate::book::table;

/// One row per request builder of wa-core's `chat::request`, with example arguments.
pub(super) fn request_catalogue() -> Result<String, String> {
    use wa_core::chat::compose;
    use wa_core::chat::request as r;
    // Epochs as a client numbers them: one more per request.
    let mut counter = 0;
    let mut epoch = || {
        counter += 1;
        counter
    };
    let me = "15550100001@c.us";
    let alice = "15550100002@c.us";
    let group = "15550100001-1606147378@g.us";
    let id = "3EB0C431C26A1916E07E";
    let hello = compose::envelope(alice, id, compose::text("Hello"), 1_606_147_375);
    // A message of theirs, as read receipts and history paging name it.
    let theirs = wa_proto::MessageKey::new(alice, false, id);
    let ours = wa_proto::MessageKey::new(alice, true, id);
    let requests: Vec<(&str, Request)> = vec![
        ("relay", r::relay(epoch(), &hello)),
        (
            "relay_from (note to self)",
            r::relay_from(
                epoch(),
                &compose::envelope(me, id, compose::text("Note"), 1_606_147_375),
                Some(me),
            ),
        ),
        ("read", r::read(epoch(), alice, &theirs, 1)),
        ("mark_unread", r::mark_unread(epoch(), alice, &theirs)),
        (
            "received (played)",
            r::received(epoch(), Some("played"), alice, id, None),
        ),
        (
            "received (delivered)",
            r::received(epoch(), None, alice, id, None),
        ),
        ("presence", r::presence(epoch(), Presence::Available, None)),
        (
            "presence",
            r::presence(epoch(), Presence::Unavailable, None),
        ),
        (
            "presence",
            r::presence(epoch(), Presence::Composing, Some(alice)),
        ),
        ("presence_subscribe", r::presence_subscribe(alice)),
        ("chat_op", r::chat_op(epoch(), alice, &ChatOp::Archive)),
        (
            "chat_op",
            r::chat_op(epoch(), alice, &ChatOp::Mute(1_606_233_775)),
        ),
        (
            "chat_op",
            r::chat_op(epoch(), alice, &ChatOp::Unmute(Some(1_606_233_775))),
        ),
        (
            "chat_op",
            r::chat_op(epoch(), alice, &ChatOp::Pin(1_606_147_375)),
        ),
        (
            "chat_op",
            r::chat_op(epoch(), alice, &ChatOp::Unpin(Some(1_606_147_375))),
        ),
        (
            "chat_op",
            r::chat_op(epoch(), alice, &ChatOp::Star(vec![(id.to_owned(), false)])),
        ),
        ("block", r::block(epoch(), alice, true)),
        ("push_name", r::push_name(epoch(), "Book")),
        ("status_text", r::status_text(epoch(), "Reading")),
        (
            "picture (delete)",
            r::picture(epoch(), "1606147375.--15", "15550100001@c.us", None),
        ),
        (
            "group (create)",
            r::group(
                epoch(),
                "1606147375.--16",
                "15550100001@c.us",
                None,
                &GroupOp::Create {
                    subject: "Book club".into(),
                    participants: vec![alice.into()],
                },
            ),
        ),
        (
            "group (promote)",
            r::group(
                epoch(),
                "1606147375.--17",
                "15550100001@c.us",
                Some(group),
                &GroupOp::Promote(vec![alice.into()]),
            ),
        ),
        (
            "group (description)",
            r::group(
                epoch(),
                "1606147375.--18",
                "15550100001@c.us",
                Some(group),
                &GroupOp::Description {
                    text: "Monthly".into(),
                    id: "3EB0D1E5C0A4F00D".into(),
                    prev: None,
                },
            ),
        ),
        (
            "group (prop)",
            r::group(
                epoch(),
                "1606147375.--19",
                "15550100001@c.us",
                Some(group),
                &GroupOp::Setting {
                    setting: GroupSetting::SendMessages,
                    only_admins: true,
                },
            ),
        ),
        (
            "group (leave)",
            r::group(
                epoch(),
                "1606147375.--20",
                "15550100001@c.us",
                Some(group),
                &GroupOp::Leave,
            ),
        ),
        (
            "history",
            r::history(epoch(), alice, Direction::Before, 25, Some(&theirs)),
        ),
        ("message_info", r::message_info(epoch(), &ours)),
        ("media_requery", r::media_requery(epoch(), &ours)),
        ("search", r::search(epoch(), "book", None, 25, 1)),
        ("chats", r::chats(epoch())),
        ("contacts", r::contacts(epoch())),
        ("exists", r::exists(alice)),
        ("profile_picture", r::profile_picture(alice)),
        ("status_of", r::status_of(alice)),
        ("group_metadata", r::group_metadata(group)),
        ("invite_code", r::invite_code(group)),
        ("invite_reset", r::invite_reset(group)),
        ("join_by_code", r::join_by_code("AbCdEfGhIjKlMnOp")),
        ("media_conn", r::media_conn()),
    ];
    let mut rows = Vec::new();
    for (name, request) in requests {
        let row = match request {
            Request::Json(body) => vec![
                format!("`{name}`"),
                "JSON".to_owned(),
                String::new(),
                String::new(),
                format!("`{body}`"),
            ],
            Request::Node {
                node,
                metric,
                flags,
                tag,
            } => {
                Codec::legacy()
                    .encode(&node)
                    .map_err(|e| format!("{name}: {e}"))?;
                let text = display_node(&node);
                vec![
                    format!("`{name}`"),
                    format!("{} `{}`", u8::from(metric), metric.wire_name()),
                    format!("`0x{:02x}`", flags.bits()),
                    tag.map_or_else(String::new, |t| format!("`{t}`")),
                    format!("`{text}`"),
                ]
            }
        };
        rows.push(row);
    }
    Ok(table(
        &[
            "wa-core `chat::request`",
            "metric",
            "flags",
            "fixed tag",
            "sends",
        ],
        &rows,
    ))
}

/// The path of an absolute URL (`scheme://host/path` → `/path`).
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map_or("/", |i| &rest[i..])
}

pub(super) fn media_transcript() -> Result<String, String> {
    use base64::Engine as _;
    let config = Config {
        media_host: Some("mmg.wa-sim.test".into()),
        ..server_config(false)
    };
    let mut pair = Pair::new(Server::new(config));
    pair.login()?;
    pair.log.clear();

    send(&mut pair, wa_core::chat::request::media_conn())?;
    let conn = pair.replies.last().cloned().ok_or("no mediaConn reply")?;
    let auth = conn["media_conn"]["auth"]
        .as_str()
        .ok_or("mediaConn without auth")?
        .to_owned();
    let host = conn["media_conn"]["hosts"][0]["hostname"]
        .as_str()
        .ok_or("mediaConn without hosts")?
        .to_owned();

    let key = wa_media::MediaKey::from_array([7; 32]);
    let file: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    let (body, info) = wa_media::encrypt_bytes(&key, wa_media::MediaType::Image, &file);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(info.file_enc_sha256);
    pair.note(format!(
        "the client encrypts a 1000-byte image (wa-media): body enc ‖ mac of {} bytes",
        body.len()
    ));
    pair.log.push(format!(
        "→ POST https://{host}/mms/image/{token}?auth={auth}&token={token}   ({} bytes)",
        body.len()
    ));
    let url = pair
        .server
        .media_upload(pair.now, &auth, &token, body)
        .map_err(|e| e.to_string())?;
    pair.log.push(format!("← {{\"url\":\"{url}\"}}"));

    let uploaded = wa_core::chat::compose::UploadedMedia {
        url: url.clone(),
        direct_path: Some(url_path(&url).to_owned()),
        media_key: *key.as_bytes(),
        info: info.clone(),
    };
    let image = wa_core::chat::compose::media(
        wa_core::chat::compose::MediaKind::Image,
        &uploaded,
        wa_core::chat::compose::MediaOptions::default(),
        pair.now.unix_secs() as i64,
    );
    let message = wa_core::chat::compose::envelope(
        "15550109999@c.us",
        "3EB0D5E1A9F0B0C2A7E4",
        image,
        pair.now.unix_secs(),
    );
    send(&mut pair, wa_core::chat::request::relay(1, &message))?;

    let download = |pair: &mut Pair, url: &str| -> Result<(), String> {
        pair.log.push(format!("→ GET {url}"));
        match pair.server.media_download(pair.now, url_path(url)) {
            Ok(got) => {
                let plain = wa_media::decrypt_bytes(
                    &key,
                    wa_media::MediaType::Image,
                    &got,
                    wa_media::Expected::default(),
                )
                .map_err(|e| e.to_string())?;
                if plain != file {
                    return Err("the download decrypted to other bytes".into());
                }
                pair.log.push(format!(
                    "← 200, {} bytes; MAC checked, decrypted: the 1000-byte image",
                    got.len()
                ));
            }
            Err(e) => pair.log.push(format!("← {} ({e})", e.http_status())),
        }
        Ok(())
    };
    download(&mut pair, &url)?;
    pair.server.expire_media_urls(pair.now);
    pair.note("the URL expires");
    download(&mut pair, &url)?;
    send(
        &mut pair,
        wa_core::chat::request::media_requery(
            2,
            &wa_proto::MessageKey::new("15550109999@c.us", true, "3EB0D5E1A9F0B0C2A7E4"),
        ),
    )?;
    let fresh = pair
        .nodes
        .iter()
        .rev()
        .find(|n| n.tag == "media")
        .and_then(|n| n.attrs.get("url"))
        .map(str::to_owned)
        .ok_or("the media query gave no url")?;
    download(&mut pair, &fresh)?;
    Ok(pair.transcript())
}
