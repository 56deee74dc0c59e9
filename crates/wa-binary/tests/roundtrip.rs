//! Property tests: random nodes round-trip through both dictionaries.

mod common;

use proptest::prelude::*;
use wa_binary::{Codec, Dictionary, Node, json};

fn check(seed: u64, dict: Dictionary) {
    let codec = Codec::new(dict);
    let mut rng = common::Rng(seed | 1);
    let node = common::random_node(&mut rng, dict, 1);
    let bytes = codec.encode(&node).unwrap();
    let decoded = codec.decode(&bytes).unwrap();
    assert!(
        common::equivalent(&node, &decoded, dict),
        "{node:?}\n{decoded:?}"
    );
    // Re-encoding what was decoded gives the same bytes, and so does the JSON form.
    assert_eq!(codec.encode(&decoded).unwrap(), bytes);
    let via_json = json::from_str(&json::to_string(&decoded)).unwrap();
    assert_eq!(via_json, decoded);
    // Every strict prefix fails cleanly.
    for cut in 0..bytes.len().min(512) {
        assert!(codec.decode_ref(&bytes[..cut]).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn multi_device_round_trips(seed in any::<u64>()) {
        check(seed, Dictionary::MultiDeviceV3);
    }

    #[test]
    fn legacy_round_trips(seed in any::<u64>()) {
        check(seed, Dictionary::Legacy);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for codec in [Codec::multi_device(), Codec::legacy()] {
            if let Ok(node) = codec.decode(&bytes) {
                let again = codec.encode(&node).unwrap();
                let decoded = codec.decode(&again).unwrap();
                // Text stays text (JIDs the encoder writes raw excepted, as documented).
                prop_assert!(common::same_after_reencoding(&node, &decoded, codec.dictionary));
                // One pass normalises (such JIDs read back as bytes); from there on, encoding is
                // a fixpoint.
                prop_assert_eq!(codec.encode(&decoded).unwrap(), again);
            }
        }
    }

    #[test]
    fn jids_display_what_they_parse(user in "[0-9]{1,15}", agent in 0u8..3, device in 0u16..100,
                                    server in prop::sample::select(vec!["s.whatsapp.net", "lid", "hosted", "g.us", "c.us"])) {
        let mut text = user;
        if agent != 0 { text.push_str(&format!("_{agent}")); }
        if device != 0 { text.push_str(&format!(":{device}")); }
        text.push('@');
        text.push_str(server);
        let jid: wa_binary::Jid = text.parse().unwrap();
        prop_assert_eq!(jid.to_string(), text);
    }
}

/// A value with many `@` (found by the roundtrip fuzz target): written as one nested JID pair
/// per `@` it went past the decoder's depth limit, so our own bytes did not decode. Past the
/// limit such a string is now written raw; below it, nested as Baileys 7 writes it.
#[test]
fn strings_with_many_at_signs_round_trip() {
    for codec in [Codec::legacy(), Codec::multi_device()] {
        for value in [
            format!("x{}", "@".repeat(200)),
            format!("a{}b", "@x".repeat(63)),
            format!("a{}b", "@x".repeat(64)),
            format!("{}x", "@".repeat(200)),
            "user@host@g.us".to_owned(),
            "a@b@c".to_owned(),
        ] {
            let node = Node::new("n").attr("v", value.as_str());
            let bytes = codec.encode(&node).expect("encodes");
            let back = codec.decode(&bytes).expect("our bytes decode");
            assert_eq!(back.attrs.get("v"), Some(value.as_str()), "{value}");
        }
    }
}
