//! The legacy peer's WebMessageInfo encodings decode to the same values in our types.

use prost::Message as _;
use serde_json::Value;
use wa_proto::{Message, Status, WebMessageInfo};

use crate::common::{assert_json_eq, at, b64, json_of, text_at, vectors};

fn find<'a>(all: &'a [crate::common::Vector], name: &str) -> &'a crate::common::Vector {
    all.iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no vector named {name}"))
}

fn decode(v: &crate::common::Vector) -> WebMessageInfo {
    WebMessageInfo::decode_bytes(&v.bytes).unwrap_or_else(|e| panic!("{}: {e}", v.name))
}

/// Every vector decodes, re-encodes to the peer's exact bytes (when it has no unknown fields), and
/// the re-encoding reads, field by field, as the peer read the original.
#[test]
fn every_vector_round_trips_field_by_field() {
    for v in vectors() {
        let ours = decode(&v);
        let reencoded = ours.encode_to_vec();
        if !v.unknown_fields {
            assert_eq!(
                hex::encode(&reencoded),
                hex::encode(&v.bytes),
                "{}: re-encoding differs",
                v.name
            );
        }
        assert_json_eq(&v.json, &json_of(&reencoded), &v.name);
    }
}

#[test]
fn text_and_key_fields() {
    let all = vectors();
    let v = find(&all, "text");
    let ours = decode(v);
    assert_eq!(
        ours.key.remote_jid.as_deref(),
        text_at(&v.json, &["key", "remoteJid"])
    );
    assert_eq!(ours.key.id.as_deref(), text_at(&v.json, &["key", "id"]));
    assert_eq!(ours.key.from_me, at(&v.json, &["key", "fromMe"]).as_bool());
    assert_eq!(ours.push_name.as_deref(), text_at(&v.json, &["pushName"]));
    let message = ours.message.as_ref().expect("message");
    assert_eq!(
        message.conversation.as_deref(),
        text_at(&v.json, &["message", "conversation"])
    );
    assert_eq!(
        Some(ours.status()),
        text_at(&v.json, &["status"]).and_then(Status::from_str_name)
    );
    assert_eq!(
        ours.message_timestamp.map(|t| t.to_string()).as_deref(),
        text_at(&v.json, &["messageTimestamp"])
    );

    let v = find(&all, "text_from_me_pending");
    let ours = decode(v);
    assert_eq!(ours.key.from_me, Some(true));
    assert_eq!(ours.status(), Status::Pending);
    assert_eq!(ours.ack(), Some(0), "PENDING is the clock ack");
    assert_eq!(
        ours.message.as_ref().and_then(Message::text_content),
        text_at(&v.json, &["message", "conversation"])
    );
}

#[test]
fn quote_and_mentions_in_a_group() {
    let all = vectors();
    let v = find(&all, "extended_text_quote_mentions_in_group");
    let ours = decode(v);
    assert_eq!(
        ours.participant.as_deref(),
        text_at(&v.json, &["participant"])
    );
    assert_eq!(
        ours.key.participant.as_deref(),
        text_at(&v.json, &["key", "participant"])
    );
    let text = ours
        .message
        .as_ref()
        .and_then(|m| m.extended_text_message.as_deref())
        .expect("extended text");
    let context = text.context_info.as_ref().expect("context info");
    let peer = at(&v.json, &["message", "extendedTextMessage", "contextInfo"]);
    assert_eq!(context.stanza_id.as_deref(), text_at(peer, &["stanzaId"]));
    assert_eq!(
        context.participant.as_deref(),
        text_at(peer, &["participant"])
    );
    let mentions: Vec<&str> = peer["mentionedJid"]
        .as_array()
        .expect("mentions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(context.mentioned_jid, mentions);
    assert_eq!(
        context.forwarding_score.map(u64::from),
        peer["forwardingScore"].as_u64()
    );
    let quoted = context.quoted_message.as_deref().expect("quoted");
    assert_eq!(
        quoted.conversation.as_deref(),
        text_at(peer, &["quotedMessage", "conversation"])
    );
}

#[test]
fn media_keys_and_hashes() {
    let all = vectors();
    let v = find(&all, "image_caption");
    let image = decode(v)
        .message
        .and_then(|m| m.image_message)
        .expect("image");
    let peer = at(&v.json, &["message", "imageMessage"]);
    assert_eq!(
        b64(image.media_key()),
        peer["mediaKey"].as_str().expect("mediaKey")
    );
    assert_eq!(
        b64(image.file_sha256()),
        peer["fileSha256"].as_str().expect("fileSha256")
    );
    assert_eq!(
        b64(image.file_enc_sha256()),
        peer["fileEncSha256"].as_str().expect("fileEncSha256")
    );
    assert_eq!(image.media_key().len(), 32);
    let lengths: Vec<u64> = peer["scanLengths"]
        .as_array()
        .expect("scanLengths")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(
        image
            .scan_lengths
            .iter()
            .map(|&l| u64::from(l))
            .collect::<Vec<_>>(),
        lengths
    );

    let v = find(&all, "audio_ptt");
    let audio = decode(v)
        .message
        .and_then(|m| m.audio_message)
        .expect("audio");
    assert_eq!(
        audio.ptt,
        at(&v.json, &["message", "audioMessage", "ptt"]).as_bool()
    );
    assert_eq!(audio.ptt, Some(true));

    let v = find(&all, "video_gif");
    let video = decode(v)
        .message
        .and_then(|m| m.video_message)
        .expect("video");
    // Above 2^53: the peer can only carry it as a string, we carry it exactly.
    assert_eq!(
        video.file_length().to_string(),
        text_at(&v.json, &["message", "videoMessage", "fileLength"]).expect("fileLength")
    );
}

#[test]
fn big_numbers_are_exact() {
    let all = vectors();
    let v = find(&all, "big_numbers");
    let ours = decode(v);
    assert_eq!(ours.message_timestamp, Some(u64::MAX));
    assert_eq!(
        ours.message_timestamp().to_string(),
        text_at(&v.json, &["messageTimestamp"]).expect("timestamp")
    );
    assert_eq!(
        ours.ephemeral_start_timestamp().to_string(),
        text_at(&v.json, &["ephemeralStartTimestamp"]).expect("start")
    );
    let document = ours
        .message
        .as_ref()
        .and_then(|m| m.document_message.as_deref())
        .expect("document");
    assert_eq!(document.media_key_timestamp, Some(i64::MIN));
    assert_eq!(
        document.file_length().to_string(),
        text_at(&v.json, &["message", "documentMessage", "fileLength"]).expect("length")
    );
    assert_eq!(ours.status(), Status::Error);
    assert_eq!(ours.ack(), Some(-1));
}

#[test]
fn revoke_ephemeral_and_wrappers() {
    let all = vectors();
    let v = find(&all, "revoke");
    let protocol = decode(v)
        .message
        .and_then(|m| m.protocol_message)
        .expect("protocol message");
    assert_eq!(
        protocol.r#type,
        Some(0),
        "REVOKE is 0 and still present on the wire"
    );
    assert_eq!(
        Some(protocol.r#type().as_str_name()),
        text_at(&v.json, &["message", "protocolMessage", "type"])
    );
    assert_eq!(
        protocol.key.and_then(|k| k.id).as_deref(),
        text_at(&v.json, &["message", "protocolMessage", "key", "id"])
    );

    let v = find(&all, "ephemeral_text");
    let ours = decode(v);
    let message = ours.message.as_ref().expect("message");
    assert!(message.ephemeral_message.is_some());
    assert_eq!(
        message.text_content(),
        text_at(
            &v.json,
            &[
                "message",
                "ephemeralMessage",
                "message",
                "extendedTextMessage",
                "text"
            ]
        )
    );
    assert_eq!(
        ours.ephemeral_duration.map(u64::from),
        v.json["ephemeralDuration"].as_u64()
    );

    let v = find(&all, "view_once_image");
    let ours = decode(v);
    let inner = ours.message.as_ref().expect("message").content();
    assert!(
        inner
            .image_message
            .as_ref()
            .is_some_and(|i| i.view_once == Some(true))
    );
}

#[test]
fn places_people_and_groups() {
    let all = vectors();
    let v = find(&all, "location");
    let location = decode(v)
        .message
        .and_then(|m| m.location_message)
        .expect("location");
    let peer = at(&v.json, &["message", "locationMessage"]);
    assert_eq!(location.degrees_latitude, peer["degreesLatitude"].as_f64());
    assert_eq!(
        location.degrees_longitude,
        peer["degreesLongitude"].as_f64()
    );
    assert_eq!(
        location.speed_in_mps.map(f64::from),
        peer["speedInMps"].as_f64()
    );

    let v = find(&all, "live_location");
    let live = decode(v)
        .message
        .and_then(|m| m.live_location_message)
        .expect("live location");
    assert_eq!(
        live.sequence_number().to_string(),
        text_at(
            &v.json,
            &["message", "liveLocationMessage", "sequenceNumber"]
        )
        .expect("seq")
    );

    let v = find(&all, "contacts_array");
    let contacts = decode(v)
        .message
        .and_then(|m| m.contacts_array_message)
        .expect("contacts");
    let names: Vec<&str> = contacts.contacts.iter().map(|c| c.display_name()).collect();
    let peer: Vec<&str> = at(&v.json, &["message", "contactsArrayMessage", "contacts"])
        .as_array()
        .expect("contacts")
        .iter()
        .filter_map(|c| c["displayName"].as_str())
        .collect();
    assert_eq!(names, peer);

    let v = find(&all, "group_invite");
    let invite = decode(v)
        .message
        .and_then(|m| m.group_invite_message)
        .expect("invite");
    assert_eq!(
        invite.invite_code.as_deref(),
        text_at(&v.json, &["message", "groupInviteMessage", "inviteCode"])
    );
    assert_eq!(
        invite.invite_expiration().to_string(),
        text_at(
            &v.json,
            &["message", "groupInviteMessage", "inviteExpiration"]
        )
        .expect("expiry")
    );

    let v = find(&all, "group_stub");
    let stub = decode(v);
    assert!(stub.message.is_none());
    assert_eq!(
        Some(stub.message_stub_type().as_str_name()),
        text_at(&v.json, &["messageStubType"])
    );
    assert_eq!(stub.message_stub_parameters.len(), 2);
}

/// Truncated input is an error naming the type, never a panic.
#[test]
fn damaged_input_is_an_error() {
    for v in vectors() {
        // Any prefix either decodes (it ends on a field boundary) or reports an error.
        for end in 0..v.bytes.len() {
            let _ = WebMessageInfo::decode_bytes(&v.bytes[..end]);
        }
        // Every vector starts with the key, a length-delimited field: two bytes cut it short.
        assert_eq!(
            v.bytes[0], 0x0a,
            "{}: starts with field 1, length-delimited",
            v.name
        );
        let error = WebMessageInfo::decode_bytes(&v.bytes[..2]).expect_err("key cut short");
        assert_eq!(error.message_type(), "proto.WebMessageInfo");
        assert!(
            error
                .to_string()
                .starts_with("invalid proto.WebMessageInfo protobuf"),
            "{error}"
        );
    }
    let error = Message::decode_bytes(&[0x0a, 0x05, 0x61]).expect_err("length past the end");
    assert_eq!(error.message_type(), "proto.Message");
}
