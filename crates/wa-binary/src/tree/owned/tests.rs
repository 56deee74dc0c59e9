//! Unit tests of `tree::owned`.

use super::{decode_direct, tree_to_node};
use crate::tree::TreeArena;
use crate::{Blob, Codec, Content, Node};
use bytes::Bytes;

/// Every frame of the benchmark corpus takes the one-pass path (none of it falls back to
/// the tree), and gets the same node from both.
#[test]
fn corpus_frames_decode_in_one_pass_as_the_tree_path_builds_them() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/corpus");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("corpus") {
        let path = entry.expect("entry").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let codec = match name.split_once('-') {
            Some(("md", _)) => Codec::multi_device(),
            Some(("legacy", _)) => Codec::legacy(),
            _ => continue,
        };
        let bytes = std::fs::read(&path).expect("frame");
        let direct = decode_direct(&codec.decoder(), &bytes, None).expect(name);
        let mut arena = TreeArena::new();
        let tree = crate::tree::decode_tree(&codec.decoder(), &bytes, &mut arena).expect(name);
        assert_eq!(direct, tree_to_node(&tree, None), "{name}");
        seen += 1;
    }
    assert_eq!(seen, 8);
}

/// Both paths make every content longer than inline a span of one frame: a copy of a
/// borrowed input from the first such content on, or the frame handed over, whose references
/// are counted once the decode is done (one per span) and all given back when the tree is
/// dropped.
#[test]
fn both_paths_make_long_contents_spans_of_one_frame() {
    let codec = Codec::multi_device();
    let lengths = [3, Blob::INLINE, Blob::INLINE + 1, 4096, 70_000];
    let node =
        Node::new("list")
            .children(lengths.map(|len| {
                Node::new("item").bytes((0..len).map(|i| i as u8).collect::<Vec<u8>>())
            }));
    let frame = Bytes::from(codec.encode(&node).expect("encodes"));
    let mut arena = TreeArena::new();
    let tree = crate::tree::decode_tree(&codec.decoder(), &frame, &mut arena).expect("tree");
    let counts = |n: &Node| -> Vec<Option<usize>> {
        let count = |c: &Node| match &c.content {
            Content::Bytes(b) => b.frame_count(),
            _ => None,
        };
        n.child_nodes().iter().map(count).collect()
    };
    for (path, handed) in [(0, false), (1, false), (0, true), (1, true)] {
        // One at a time: a tree of the handed frame holds a reference to it.
        let handed_frame = handed.then_some(&frame);
        let decoded = match path {
            0 => decode_direct(&codec.decoder(), &frame, handed_frame),
            _ => Some(tree_to_node(&tree, handed_frame)),
        };
        let decoded = decoded.expect("in one pass");
        assert_eq!(decoded, node);
        assert_eq!(counts(&decoded), [None, None, Some(3), Some(3), Some(3)]);
        assert_eq!(frame.is_unique(), !handed);
        drop(decoded);
        assert!(frame.is_unique());
    }
}

/// Forms the one-pass path leaves to the tree path (here a JID inside a JID with raw
/// parts) and malformed input: it declines them, and `decode` still gives what the
/// reference decoder gives.
#[test]
fn the_one_pass_path_declines_rare_forms_and_errors() {
    use crate::dict::tags;
    let codec = Codec::multi_device();
    let mut nested = vec![tags::LIST_8, 1, tags::JID_PAIR, tags::JID_PAIR];
    nested.extend([tags::BINARY_8, 1, b'x', tags::BINARY_8, 1, b'y']);
    nested.extend([tags::BINARY_8, 14]);
    nested.extend(b"s.whatsapp.net");
    assert_eq!(decode_direct(&codec.decoder(), &nested, None), None);
    let reference = codec.decode_ref(&nested).expect("decodes").into_owned();
    assert_eq!(codec.decode(&nested), Ok(reference));
    let good = codec
        .encode(&Node::new("iq").attr("id", "1").bytes(vec![1, 2, 3]))
        .expect("encodes");
    assert!(decode_direct(&codec.decoder(), &good, None).is_some());
    for cut in 0..good.len() {
        assert_eq!(decode_direct(&codec.decoder(), &good[..cut], None), None);
    }
    let mut long = good.clone();
    long.push(0);
    assert_eq!(decode_direct(&codec.decoder(), &long, None), None);
}

/// The one-pass path takes nesting up to the decoder's limit (an empty child list at the
/// deepest level included) and declines one level more, where `decode` then gives the
/// reference decoder's `TooDeep` error.
#[test]
fn the_one_pass_path_stops_at_the_depth_limit() {
    let nest = |depth: usize, innermost: Node| {
        (1..depth).fold(innermost, |inner, _| Node::new("iq").children([inner]))
    };
    let codec = Codec::multi_device();
    let limit = codec.limits.max_depth;
    for (depth, innermost) in [
        (limit, Node::new("iq")),
        (limit, Node::new("iq").children([])),
        (limit - 1, Node::new("iq").children([Node::new("iq")])),
    ] {
        let bytes = codec.encode(&nest(depth, innermost)).expect("encodes");
        let direct = decode_direct(&codec.decoder(), &bytes, None).expect("in one pass");
        assert_eq!(Ok(direct), codec.decode_ref(&bytes).map(|n| n.into_owned()));
    }
    let mut deep = codec.limits;
    deep.max_depth += 1;
    let wide = Codec {
        limits: deep,
        ..codec
    };
    let bytes = wide
        .encode(&nest(limit + 1, Node::new("iq")))
        .expect("encodes");
    assert_eq!(decode_direct(&codec.decoder(), &bytes, None), None);
    assert_eq!(
        codec.decode(&bytes).map_err(|e| e.kind),
        codec
            .decode_ref(&bytes)
            .map(|n| n.into_owned())
            .map_err(|e| e.kind)
    );
    assert!(codec.decode(&bytes).is_err());
}

/// `decode` builds short raw strings and common JIDs through their own fast paths (a window
/// of the input, a JID written in place): at, below and above the inline limit, and at the
/// very end of the input (where no full window is left), it gives what the nom decoder does.
#[test]
fn inline_strings_and_jids_match_the_reference_decoder() {
    let values = [
        "x",
        "Contact 1885",
        "exactly thirty bytes of text!!",
        "thirty-one bytes of plain text!",
        "1",
        "15551234567@s.whatsapp.net",
        "15551234567:0@s.whatsapp.net",
        "15551234567:9@s.whatsapp.net",
        "15551234567:99@s.whatsapp.net",
        "155512345678:12@s.whatsapp.net",
        "15551234567:123@s.whatsapp.net",
        "1555123456:255@lid",
        "12345678901234567890@g.us",
        "1234567890123456789:1@lid",
        "1234567@broadcast",
        "12345678@temp",
        "15551234567@newsletter",
        "1555123456789012:1@s.whatsapp.net",
        "17541814172-1648703442@g.us",
        "123456789012345@lid",
        "123456789012345:7@lid",
        "1234567890123456789012345678@c.us",
    ];
    for codec in [Codec::multi_device(), Codec::legacy()] {
        for value in values {
            for node in [
                Node::new("iq").attr("jid", value),
                Node::new("iq")
                    .attr("id", "1")
                    .attr("to", value)
                    .text(value),
                Node::new("iq").children([Node::new("item").attr("jid", value)]),
            ] {
                let bytes = codec.encode(&node).expect("encodes");
                let reference = codec.decode_ref(&bytes).expect("decodes").into_owned();
                let decoded = codec.decode(&bytes).expect("decodes");
                assert_eq!(decoded, reference, "{value}");
                // The legacy dictionary writes `s.whatsapp.net` as `c.us`, and device 0
                // is not written: the multi-device strings read back as they were.
                if codec == Codec::multi_device() && !value.contains(":0@") {
                    let jid = decoded
                        .attrs
                        .get("jid")
                        .or_else(|| decoded.attrs.get("to"))
                        .or_else(|| decoded.child_nodes().first()?.attrs.get("jid"));
                    assert_eq!(jid, Some(value));
                    if let Content::Text(text) = &decoded.content {
                        assert_eq!(text, value);
                    }
                }
            }
        }
    }
}
