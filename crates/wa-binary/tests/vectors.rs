//! Known-answer vectors from the reference peers (`interop/gen-binary.mjs`): Baileys 7 for the
//! multi-device dictionary, Baileys 3.5.3 for the legacy one.

mod common;

use sha2::{Digest, Sha256};
use wa_binary::{Codec, Content, DecodeErrorKind, Node, json};

#[test]
fn multi_device_vectors_encode_to_baileys_bytes_and_decode_to_baileys_nodes() {
    let file = common::vectors("md.json");
    let codec = Codec::multi_device();
    assert!(file.vectors.len() >= 30);
    for v in &file.vectors {
        let (name, bytes, input, decoded) = (&v.name, v.bytes(), &v.input, &v.decoded);
        assert_eq!(
            hex::encode(codec.encode(input).unwrap()),
            v.hex,
            "{name}: encode(input)"
        );
        assert_eq!(&codec.decode(&bytes).unwrap(), decoded, "{name}: decode");
        assert_eq!(
            codec.encode(decoded).unwrap(),
            bytes,
            "{name}: encode(decoded)"
        );
        // The borrowed form agrees with the owned one.
        assert_eq!(
            &codec.decode_ref(&bytes).unwrap().into_owned(),
            decoded,
            "{name}: decode_ref"
        );
        // decode -> JSON -> encode reproduces the bytes.
        let text = json::to_string(decoded);
        assert_eq!(
            codec.encode(&json::from_str(&text).unwrap()).unwrap(),
            bytes,
            "{name}: via JSON"
        );
    }
}

#[test]
fn multi_device_binary_32_payload_matches_baileys() {
    let big = common::vectors("md.json").large.unwrap();
    let len = big["len"].as_u64().unwrap() as usize;
    let node = Node::new(big["tag"].as_str().unwrap())
        .attr("v", big["attrs"]["v"].as_str().unwrap())
        .bytes(vec![big["fill"].as_u64().unwrap() as u8; len]);
    let codec = Codec::multi_device();
    let bytes = codec.encode(&node).unwrap();
    assert_eq!(bytes.len() as u64, big["encoded_len"].as_u64().unwrap());
    assert_eq!(
        hex::encode(&bytes[..16]),
        big["prefix_hex"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        big["sha256"].as_str().unwrap()
    );
    assert_eq!(codec.decode(&bytes).unwrap(), node);
}

#[test]
fn worked_examples_from_the_protocol_notes() {
    let codec = Codec::multi_device();
    let to = Node::new("to").attr("jid", "15559998888:2@s.whatsapp.net");
    assert_eq!(
        hex::encode(codec.encode_frame(&to).unwrap()),
        "00f803110cf70002ff861555999888 8f".replace(' ', "")
    );
    let mut out = Vec::new();
    let group = Node::new("x").attr("jid", "120363025@g.us");
    codec.encode_into(&group, &mut out).unwrap();
    assert!(
        hex::encode(&out).ends_with("faff85120363025f1c"),
        "{}",
        hex::encode(&out)
    );
    // The same bytes into a BytesMut.
    let mut buf = bytes::BytesMut::new();
    codec.encode_into(&group, &mut buf).unwrap();
    assert_eq!(&buf[..], &out[..]);
}

#[test]
fn legacy_vectors_from_baileys_3_5_3_decode_to_the_same_nodes() {
    let file = common::vectors("legacy.json");
    let codec = Codec::legacy();
    assert!(file.vectors.len() >= 14);
    for v in &file.vectors {
        let (name, bytes, decoded, input) = (&v.name, v.bytes(), &v.decoded, &v.input);
        assert_eq!(&codec.decode(&bytes).unwrap(), decoded, "{name}: decode");
        // Our own encoding (which packs digits, unlike Baileys 3.5.3) reads back the same.
        let ours = codec.encode(decoded).unwrap();
        assert_eq!(
            &codec.decode(&ours).unwrap(),
            decoded,
            "{name}: our round trip"
        );
        let from_input = codec.decode(&codec.encode(input).unwrap()).unwrap();
        assert!(
            common::equivalent(input, &from_input, wa_binary::Dictionary::Legacy),
            "{name}: input"
        );
    }
}

#[test]
fn legacy_benchmark_corpus_reencodes_byte_identically() {
    // The legacy corpus is written by Baileys 7's encoder driven with the legacy tables, i.e. by
    // the same rules as ours.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/corpus");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    for entry in manifest.as_array().unwrap() {
        let codec = match entry["dict"].as_str().unwrap() {
            "md" => Codec::multi_device(),
            _ => Codec::legacy(),
        };
        let bytes = std::fs::read(dir.join(entry["file"].as_str().unwrap())).unwrap();
        let node = codec.decode(&bytes).unwrap();
        assert_eq!(codec.encode(&node).unwrap(), bytes, "{}", entry["file"]);
    }
}

#[test]
fn every_truncation_of_every_vector_is_a_typed_error() {
    for (file, codec) in [
        ("md.json", Codec::multi_device()),
        ("legacy.json", Codec::legacy()),
    ] {
        for v in common::vectors(file).vectors {
            let bytes = v.bytes();
            // Every offset of small vectors; for the large ones, both ends and a stride between.
            let cuts =
                (0..bytes.len()).filter(|&c| c < 2048 || bytes.len() - c < 2048 || c % 61 == 0);
            for cut in cuts {
                let err = codec
                    .decode_ref(&bytes[..cut])
                    .expect_err("a truncated node must not decode");
                assert!(
                    err.offset <= cut,
                    "{}: offset {} past the cut {cut}",
                    v.name,
                    err.offset
                );
                assert!(
                    matches!(
                        err.kind,
                        DecodeErrorKind::UnexpectedEnd { .. }
                            | DecodeErrorKind::LengthPastEnd { .. }
                    ),
                    "{} cut at {cut}: {err}",
                    v.name
                );
            }
        }
    }
}

#[test]
fn text_and_bytes_are_told_apart_as_documented() {
    let codec = Codec::multi_device();
    let file = common::vectors("md.json");
    let by_name = |n: &str| {
        file.vectors
            .iter()
            .find(|v| v.name == n)
            .map(|v| v.decoded.clone())
            .unwrap()
    };
    assert_eq!(
        by_name("text-content-number").content,
        Content::Text("1700000000".into())
    );
    assert_eq!(
        by_name("text-content-token").content,
        Content::Text("available".into())
    );
    assert_eq!(
        by_name("text-content-free").content,
        Content::Bytes("Hello, wörld! 👋".as_bytes().to_vec().into())
    );
    let n = Node::new("x").text("1700000000");
    assert_eq!(codec.decode(&codec.encode(&n).unwrap()).unwrap(), n);
}
