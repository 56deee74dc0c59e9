//! Typed content from arbitrary protobuf bytes: whatever decodes as a `Message` is read by
//! `Content::from_message` without panicking; what it recognises is within the bounds the type
//! promises (a location within ±90/±180 and finite, a reaction with a target) and survives its
//! own wire form (`to_message` read back gives the same content), and a disappearing wrapper is
//! read through once, never twice.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_core::md::Content;
use wa_proto::prost::Message as _;
use wa_proto::proto::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = Message::decode(data) else {
        return;
    };
    let content = Content::from_message(&message);
    match &content {
        Content::Other => return,
        Content::Location {
            latitude,
            longitude,
            ..
        } => {
            assert!(
                latitude.is_finite() && (-90.0..=90.0).contains(latitude),
                "{latitude}"
            );
            assert!(
                longitude.is_finite() && (-180.0..=180.0).contains(longitude),
                "{longitude}"
            );
        }
        _ => {}
    }
    // A wrapper inside a wrapper is not read through.
    if let Some(inner) = message
        .ephemeral_message
        .as_ref()
        .and_then(|w| w.message.as_deref())
    {
        assert!(
            inner.ephemeral_message.is_none(),
            "read through two wrappers: {content:?}"
        );
    }
    let again = Content::from_message(&content.to_message());
    assert_eq!(
        again, content,
        "the typed content survives its own wire form"
    );
    let bytes = content.to_message().encode_to_vec();
    let decoded = Message::decode(bytes.as_slice()).expect("our own encoding decodes");
    assert_eq!(Content::from_message(&decoded), content);
});
