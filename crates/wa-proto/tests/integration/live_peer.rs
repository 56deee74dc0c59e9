//! Our encodings, decoded live by the legacy peer (`node gen-proto.js --decode` in `interop/`).

use std::io::Write as _;
use std::process::{Command, Stdio};

use prost::Message as _;
use serde_json::Value;
use wa_proto::proto::{ContextInfo, ProtocolMessage, protocol_message};
use wa_proto::{
    ExtendedTextMessage, FutureProofMessage, ImageMessage, LocationMessage, Message, MessageKey,
    Status, WebMessageInfo,
};

use crate::common::{assert_json_eq, b64, json_of, vectors};

/// The peer's reading of each encoding.
fn peer_decode(encodings: &[Vec<u8>]) -> Vec<Value> {
    let interop = wa_testkit::interop_dir(&["@adiwajshing/baileys"]);
    let mut child = Command::new("node")
        .args(["gen-proto.js", "--decode"])
        .current_dir(&interop)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("could not start node ({e}): install Node.js and run `cargo xtask setup`")
        });
    let hexes: Vec<String> = encodings.iter().map(hex::encode).collect();
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(
            serde_json::to_string(&hexes)
                .expect("serializes")
                .as_bytes(),
        )
        .expect("writes to node");
    let output = child.wait_with_output().expect("node runs");
    assert!(
        output.status.success(),
        "node gen-proto.js --decode failed: {}",
        output.status
    );
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).expect("node prints JSON");
    assert_eq!(results.len(), encodings.len());
    for (i, r) in results.iter().enumerate() {
        assert!(
            r.get("error").is_none(),
            "the peer could not decode encoding {i}: {r}"
        );
    }
    results
}

#[test]
fn our_reencodings_of_the_vectors_read_the_same_in_the_peer() {
    let all = vectors();
    let encodings: Vec<Vec<u8>> = all
        .iter()
        .map(|v| {
            WebMessageInfo::decode_bytes(&v.bytes)
                .expect("decodes")
                .encode_to_vec()
        })
        .collect();
    for (v, peer) in all.iter().zip(peer_decode(&encodings)) {
        assert_json_eq(&v.json, &peer, &v.name);
    }
}

#[test]
fn messages_built_here_read_in_the_peer() {
    let group = "491701234567-1600000000@g.us";
    let member = "447700900123@s.whatsapp.net";
    let text = WebMessageInfo {
        key: MessageKey::new(group, false, "3EB0FFFF0001").with_participant(member),
        message: Some(Message::text("héllo ✓")),
        message_timestamp: Some(u64::MAX - 1),
        status: Some(Status::from_ack(3).expect("read") as i32),
        push_name: Some("Carol".into()),
        ..Default::default()
    };
    let media_key: Vec<u8> = (0u8..32).collect();
    let image = WebMessageInfo {
        key: MessageKey::new("15551234567@s.whatsapp.net", true, "3EB0FFFF0002"),
        message: Some(Message {
            image_message: Some(Box::new(ImageMessage {
                mimetype: Some("image/jpeg".into()),
                media_key: Some(media_key.clone()),
                file_length: Some(1 << 60),
                scan_lengths: vec![1, 300, 70_000],
                context_info: Some(Box::new(ContextInfo {
                    mentioned_jid: vec![member.into()],
                    quoted_message: Some(Box::new(Message::text("quoted"))),
                    ..Default::default()
                })),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let revoke = WebMessageInfo {
        key: MessageKey::new("15551234567@s.whatsapp.net", true, "3EB0FFFF0003"),
        message: Some(Message {
            protocol_message: Some(ProtocolMessage {
                key: Some(MessageKey::new(
                    "15551234567@s.whatsapp.net",
                    true,
                    "3EB0FFFF0002",
                )),
                r#type: Some(protocol_message::Type::Revoke as i32),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let ephemeral = WebMessageInfo {
        key: MessageKey::new("15551234567@s.whatsapp.net", false, "3EB0FFFF0004"),
        message: Some(Message {
            ephemeral_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(Message {
                    extended_text_message: Some(Box::new(ExtendedTextMessage {
                        text: Some("gone soon".into()),
                        background_argb: Some(0xff00_ff00),
                        ..Default::default()
                    })),
                    location_message: Some(Box::new(LocationMessage {
                        degrees_latitude: Some(-12.5),
                        speed_in_mps: Some(2.75),
                        ..Default::default()
                    })),
                    ..Default::default()
                })),
            })),
            ..Default::default()
        }),
        ephemeral_duration: Some(86_400),
        ..Default::default()
    };
    let built = [text, image, revoke, ephemeral];
    let encodings: Vec<Vec<u8>> = built.iter().map(|m| m.encode_to_vec()).collect();
    let peer = peer_decode(&encodings);
    for (i, (bytes, reading)) in encodings.iter().zip(&peer).enumerate() {
        assert_json_eq(&json_of(bytes), reading, &format!("built message {i}"));
    }

    assert_eq!(peer[0]["key"]["remoteJid"], group);
    assert_eq!(peer[0]["key"]["participant"], member);
    assert_eq!(peer[0]["message"]["conversation"], "héllo ✓");
    assert_eq!(peer[0]["messageTimestamp"], (u64::MAX - 1).to_string());
    assert_eq!(peer[0]["status"], "READ");
    let image = &peer[1]["message"]["imageMessage"];
    assert_eq!(image["mediaKey"], b64(&media_key));
    assert_eq!(image["fileLength"], (1u64 << 60).to_string());
    assert_eq!(image["scanLengths"], serde_json::json!([1, 300, 70_000]));
    assert_eq!(
        image["contextInfo"]["quotedMessage"]["conversation"],
        "quoted"
    );
    assert_eq!(peer[2]["message"]["protocolMessage"]["type"], "REVOKE");
    let inner = &peer[3]["message"]["ephemeralMessage"]["message"];
    assert_eq!(
        inner["extendedTextMessage"]["backgroundArgb"],
        0xff00_ff00_u32
    );
    assert_eq!(inner["locationMessage"]["speedInMps"], 2.75);
    assert_eq!(peer[3]["ephemeralDuration"], 86_400);
}
