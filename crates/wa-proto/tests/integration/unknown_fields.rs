//! Fields the schema does not define (from newer peers, e.g. the multi-device era) are skipped
//! without error at any depth; known fields around them are intact. prost does not keep them:
//! re-encoding drops them.

use prost::Message as _;
use prost::encoding::{WireType, encode_key, encode_varint};
use wa_proto::proto::ContextInfo;
use wa_proto::{ImageMessage, Message, MessageKey, WebMessageInfo};

use crate::common::{assert_json_eq, json_of, vectors};

/// One field of each wire type, numbered past anything the schema uses (a group included).
fn unknown_fields() -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(900, WireType::Varint, &mut out);
    encode_varint(12_345_678_901, &mut out);
    encode_key(901, WireType::SixtyFourBit, &mut out);
    out.extend_from_slice(&7u64.to_le_bytes());
    encode_key(902, WireType::LengthDelimited, &mut out);
    encode_varint(3, &mut out);
    out.extend_from_slice(b"abc");
    encode_key(903, WireType::ThirtyTwoBit, &mut out);
    out.extend_from_slice(&0xdead_beef_u32.to_le_bytes());
    encode_key(904, WireType::StartGroup, &mut out);
    encode_key(1, WireType::Varint, &mut out);
    encode_varint(1, &mut out);
    encode_key(904, WireType::EndGroup, &mut out);
    out
}

fn length_delimited(tag: u32, body: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

#[test]
fn peer_vector_with_nested_unknown_fields_decodes() {
    let all = vectors();
    let v = all
        .iter()
        .find(|v| v.unknown_fields)
        .expect("a vector with unknown fields");
    let ours = WebMessageInfo::decode_bytes(&v.bytes).expect("unknown fields are skipped");
    let image = ours
        .message
        .as_ref()
        .and_then(|m| m.image_message.as_deref())
        .expect("image");
    assert_eq!(image.caption(), "with extras");
    let context = image.context_info.as_ref().expect("context info");
    assert_eq!(context.stanza_id(), "quoted-id");
    assert_eq!(context.mentioned_jid.len(), 1);
    assert_json_eq(&v.json, &json_of(&ours.encode_to_vec()), &v.name);
    let reencoded = ours.encode_to_vec();
    assert!(
        reencoded.len() < v.bytes.len(),
        "unknown fields are dropped on re-encode"
    );
    assert_eq!(
        WebMessageInfo::decode_bytes(&reencoded).expect("re-decodes"),
        ours
    );
}

#[test]
fn unknown_fields_appended_to_every_vector_are_ignored() {
    for v in vectors() {
        let plain = WebMessageInfo::decode_bytes(&v.bytes).expect("decodes");
        let mut extended = unknown_fields();
        extended.extend_from_slice(&v.bytes);
        extended.extend_from_slice(&unknown_fields());
        let ours =
            WebMessageInfo::decode_bytes(&extended).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(ours, plain, "{}", v.name);
    }
}

#[test]
fn unknown_fields_at_three_depths_are_ignored() {
    let context = ContextInfo {
        stanza_id: Some("abc".into()),
        ..Default::default()
    };
    let image = ImageMessage {
        caption: Some("nested".into()),
        media_key: Some(vec![7; 32]),
        context_info: Some(Box::new(context.clone())),
        ..Default::default()
    };
    let key = MessageKey::new("15551234567@s.whatsapp.net", true, "ID1");
    let expected = WebMessageInfo {
        key: key.clone(),
        message: Some(Message {
            image_message: Some(Box::new(image.clone())),
            ..Default::default()
        }),
        message_timestamp: Some(1_612_345_678),
        ..Default::default()
    };

    // ContextInfo (depth 3) with unknown fields before and after its own.
    let mut context_bytes = unknown_fields();
    context_bytes.extend(context.encode_to_vec());
    context_bytes.extend(unknown_fields());
    let mut image_bytes = ImageMessage {
        context_info: None,
        ..image
    }
    .encode_to_vec();
    image_bytes.extend(unknown_fields());
    length_delimited(17, &context_bytes, &mut image_bytes);
    let mut message_bytes = unknown_fields();
    length_delimited(3, &image_bytes, &mut message_bytes);
    let mut bytes = Vec::new();
    length_delimited(1, &key.encode_to_vec(), &mut bytes);
    bytes.extend(unknown_fields());
    length_delimited(2, &message_bytes, &mut bytes);
    encode_key(3, WireType::Varint, &mut bytes);
    encode_varint(1_612_345_678, &mut bytes);

    assert_eq!(
        WebMessageInfo::decode_bytes(&bytes).expect("decodes"),
        expected
    );
}
