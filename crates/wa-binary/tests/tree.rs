//! `decode_tree` agrees with `decode`: same nodes for every vector and random node, same errors
//! (kind and offset) for every malformed input we can make.

mod common;

use bytes::Bytes;
use proptest::prelude::*;
use wa_binary::{Blob, Codec, DecodeError, Dictionary, Node, TreeArena, TreeNode};

/// Decodes `bytes` every way and asserts they agree; returns whether it decoded. The nom
/// decoder behind `decode_ref` is the reference: `decode_tree` is a separate walker, and
/// `decode` builds its `Node` from that walker's tree by a separate path from `to_node`.
fn agree(codec: Codec, bytes: &[u8], arena: &mut TreeArena) -> bool {
    let reference: Result<Node, DecodeError> = codec.decode_ref(bytes).map(|n| n.into_owned());
    let owned = codec.decode(bytes);
    // From a frame the caller owns: byte contents are slices of it.
    let from_frame = codec.decode_bytes(Bytes::copy_from_slice(bytes));
    let tree = codec.decode_tree(bytes, arena).map(|t| {
        let root = t.root();
        check_accessors(root);
        root.to_node()
    });
    // A plain arena that has had a raw string read through `str_with` copies raw strings into
    // a text buffer while decoding: same nodes, same errors.
    let copying = codec.decode_tree(bytes, &mut raw_copying_arena()).map(|t| {
        let root = t.root();
        check_accessors(root);
        root.to_node()
    });
    assert_eq!(
        copying,
        reference,
        "raw copies, bytes {}",
        hex::encode(bytes)
    );
    // The owned tree: its own copy of the records and of the bytes, read through both paths.
    let shared = codec
        .decode_owned_tree(Bytes::copy_from_slice(bytes))
        .map(|t| {
            let via_root = t.root().to_node();
            assert_eq!(t.to_node(), via_root);
            assert_eq!(t.bytes().as_ref(), bytes);
            via_root
        });
    // An arena that writes every string while decoding: same nodes, same errors, and every
    // string a `&str` already.
    let text = codec
        .decode_tree(bytes, &mut TreeArena::with_text())
        .map(|t| {
            let root = t.root();
            check_accessors(root);
            check_all_text(root);
            root.to_node()
        });
    assert_eq!(text, reference, "with_text, bytes {}", hex::encode(bytes));
    assert_eq!(tree, reference, "bytes {}", hex::encode(bytes));
    assert_eq!(owned, reference, "bytes {}", hex::encode(bytes));
    assert_eq!(
        from_frame,
        reference,
        "decode_bytes, bytes {}",
        hex::encode(bytes)
    );
    assert_eq!(shared, reference, "bytes {}", hex::encode(bytes));
    reference.is_ok()
}

/// `decode_bytes` slices byte contents longer than `Blob::INLINE` out of the frame it is given
/// (no copy; shorter ones are copied inline), and the `Node` keeps them valid once the
/// caller's handle on the frame is gone; `decode` and
/// `OwnedTree::to_node` give equal nodes.
#[test]
fn decoded_bytes_share_the_frame() {
    let codec = Codec::multi_device();
    let node = Node::new("iq").attr("type", "set").children([
        Node::new("key").children([
            Node::new("id").bytes(vec![0, 0, 1]),
            Node::new("value").bytes(vec![9u8; 32]),
            Node::new("signature").bytes(vec![7u8; 64]),
        ]),
        Node::new("registration").bytes(vec![1, 2, 3, 4]),
    ]);
    let frame = Bytes::from(codec.encode(&node).unwrap());
    let range = frame.as_ptr_range();
    let decoded = codec.decode_bytes(frame.clone()).unwrap();
    let tree = codec.decode_owned_tree(frame.clone()).unwrap();
    drop(frame);
    let mut seen = 0;
    let mut stack = vec![&decoded];
    while let Some(n) = stack.pop() {
        // Longer than a `Blob` holds inline: a slice of the frame; shorter: copied inline.
        if let wa_binary::Content::Bytes(b) = &n.content {
            let shared = range.contains(&b.as_ptr());
            assert_eq!(shared, b.len() > Blob::INLINE, "<{}>", n.tag);
            seen += 1;
        }
        stack.extend(n.child_nodes());
    }
    assert_eq!(seen, 4);
    assert_eq!(decoded, node);
    assert_eq!(tree.to_node(), node);
    assert_eq!(codec.decode(&codec.encode(&node).unwrap()).unwrap(), node);
}

/// An `OwnedTree` owns what it reads: it outlives the buffer it was decoded from, crosses
/// threads, and later decodes on the same thread (which reuse the thread's arena) leave it as
/// it was.
#[test]
fn owned_tree_is_independent_of_its_input_and_of_later_decodes() {
    fn assert_send_sync_static<T: Send + Sync + 'static>(_: &T) {}
    let codec = Codec::multi_device();
    let first = Node::new("message")
        .attr("to", "15559998888:2@s.whatsapp.net")
        .attr("id", "3EB0C0FFEE")
        .children([Node::new("enc").attr("v", "2").bytes(vec![1, 2, 3])]);
    let second = Node::new("iq").attr("type", "result").children([
        Node::new("a"),
        Node::new("b"),
        Node::new("c"),
    ]);
    let mut frame = codec.encode(&first).unwrap();
    let tree = codec.decode_owned_tree(frame.clone()).unwrap();
    // The caller's buffer is overwritten and freed: the tree kept its own `Bytes`.
    frame.iter_mut().for_each(|b| *b = 0);
    drop(frame);
    let other = codec
        .decode_owned_tree(codec.encode(&second).unwrap())
        .unwrap();
    assert_eq!(
        codec.decode(&codec.encode(&second).unwrap()).unwrap(),
        second
    );
    assert_send_sync_static(&tree);
    let back = std::thread::spawn(move || tree.to_node()).join().unwrap();
    assert_eq!(back, first);
    assert_eq!(other.root().children().count(), 3);
    assert_eq!(other.tree().node_count(), 4);
    // Errors are the decoder's, offsets included.
    let err = codec.decode_owned_tree(vec![248u8, 1]).unwrap_err();
    assert_eq!(Err(err), codec.decode(&[248, 1]));
}

/// A plain arena after one raw string of a tree of five attributes was read through `str_with`
/// (from then on it copies raw strings while decoding; a quarter of them would make it write
/// every string, as `TreeArena::with_text` does).
fn raw_copying_arena() -> TreeArena {
    let codec = Codec::multi_device();
    let node = Node::new("iq")
        .attr("id", "a raw string")
        .attr("type", "get")
        .attr("xmlns", "w:p")
        .attr("to", "s.whatsapp.net")
        .attr("t", "1712636456");
    let bytes = codec.encode(&node).unwrap();
    let mut arena = TreeArena::new();
    let tree = codec.decode_tree(&bytes, &mut arena).unwrap();
    let id = tree.root().attr("id").unwrap();
    assert_eq!(id.str_with(&mut String::new()), "a raw string");
    arena
}

/// In a tree from [`TreeArena::with_text`], every string is a `&str` without work, equal to
/// what the other accessors give.
fn check_all_text(node: TreeNode<'_>) {
    let strings = std::iter::once(node.tag())
        .chain(node.attrs().flat_map(|(k, v)| [k, v]))
        .chain(node.text());
    for s in strings {
        let text = s.as_str().expect("with_text: every string is text");
        assert_eq!(text, s.to_cow());
        assert_eq!(text.len(), s.len());
    }
    node.children().for_each(check_all_text);
}

/// The non-allocating accessors agree with the owned strings.
fn check_accessors(node: TreeNode<'_>) {
    let tag = node.tag().to_string();
    assert!(node.tag() == tag.as_str());
    assert_eq!(node.tag().len(), tag.len());
    for (key, value) in node.attrs() {
        let v = value.to_cow();
        assert_eq!(value.len(), v.len(), "{key}={v}");
        assert!(value == *v);
        assert_eq!(format!("{value}"), v);
        let mut written = String::from(">");
        value.write_to(&mut written);
        assert_eq!(written[1..], *v);
        if let Some(s) = value.as_str() {
            assert_eq!(s, v);
        }
        assert!(node.attr(&key.to_cow()).is_some());
    }
    if let Some(text) = node.text() {
        assert_eq!(text.len(), text.to_cow().len());
    }
    for child in node.children() {
        check_accessors(child);
    }
}

#[test]
fn every_vector_and_every_truncation_and_byte_flip_agrees() {
    let mut arena = TreeArena::new();
    let mut rng = common::Rng(0x5eed);
    for (file, codec) in [
        ("md.json", Codec::multi_device()),
        ("legacy.json", Codec::legacy()),
    ] {
        let vectors = common::vectors(file).vectors;
        assert!(!vectors.is_empty());
        for vector in vectors {
            let bytes = vector.bytes();
            assert!(agree(codec, &bytes, &mut arena), "{}", vector.name);
            for cut in 0..bytes.len() {
                assert!(!agree(codec, &bytes[..cut], &mut arena));
            }
            // Mutations reach every error path (bad tags, nibbles, UTF-8, lengths, depth).
            let mut mutated = bytes.clone();
            for _ in 0..64 {
                mutated.clone_from(&bytes);
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(mutated.len());
                    mutated[at] = rng.next() as u8;
                }
                agree(codec, &mutated, &mut arena);
            }
        }
    }
}

#[test]
fn every_three_byte_node_header_agrees() {
    // LIST_8, a size and any tag byte (the decoder reads these three bytes at once when the tag
    // is a non-empty single-byte token), alone, with a value, with content, and nested too deep.
    let mut arena = TreeArena::new();
    for codec in [Codec::multi_device(), Codec::legacy()] {
        let small = codec.with_limits(wa_binary::Limits {
            max_depth: 3,
            max_size: 1 << 20,
        });
        let mut decoded = 0;
        for tag in 0..=255u8 {
            for size in 0..4u8 {
                let header = [248, size, tag];
                for tail in [&[][..], &[252, 1, b'v'], &[248, 1, 248, 1, 3]] {
                    for cut in 0..=header.len() {
                        let mut frame = header[..cut].to_vec();
                        if cut == header.len() {
                            frame.extend(tail);
                        }
                        decoded += usize::from(agree(codec, &frame, &mut arena));
                    }
                }
                let mut nested = vec![];
                for _ in 0..4 {
                    nested.extend([248, 2, tag, 248, 1]);
                }
                nested.extend([248, 1, tag]);
                assert!(!agree(small, &nested, &mut arena));
                agree(codec, &nested, &mut arena);
            }
        }
        assert!(decoded > 200, "{decoded}");
    }
}

#[test]
fn nested_jids_and_limits_agree() {
    let mut arena = TreeArena::new();
    for codec in [Codec::multi_device(), Codec::legacy()] {
        let mut frame = vec![248, 1];
        frame.extend(std::iter::repeat_n(250, 100_000));
        assert!(!agree(codec, &frame, &mut arena));
        // <"x@y@s.whatsapp.net"/>
        let mut frame = vec![248, 1, 250, 250, 252, 1, b'x', 252, 1, b'y', 252, 14];
        frame.extend(b"s.whatsapp.net");
        assert!(agree(codec, &frame, &mut arena));
        let mut nested = vec![];
        for _ in 0..70 {
            nested.extend([248, 2, 252, 1, b'a', 248, 1]);
        }
        nested.extend([248, 1, 252, 1, b'b']);
        assert!(!agree(codec, &nested, &mut arena));
        let small = codec.with_limits(wa_binary::Limits {
            max_depth: 64,
            max_size: 4,
        });
        assert!(!agree(small, &[248, 1, 252, 1, b'b'], &mut arena));
    }
}

#[test]
fn packed_values_compare_without_unpacking_mistakes() {
    let codec = Codec::multi_device();
    let node = Node::new("iq")
        .attr("id", "12345")
        .attr("t", "ABCDEF0")
        .attr("to", "123456789012:7@s.whatsapp.net");
    let bytes = codec.encode(&node).unwrap();
    let mut arena = TreeArena::new();
    let tree = codec.decode_tree(&bytes, &mut arena).unwrap();
    let root = tree.root();
    assert!(root.attr("id").unwrap() == "12345");
    assert!(root.attr("id").unwrap() != "12346");
    assert!(
        root.attr("id").unwrap().as_str().is_none(),
        "packed stays packed"
    );
    assert!(root.attr("t").unwrap() == "ABCDEF0");
    assert!(root.attr("to").unwrap() == "123456789012:7@s.whatsapp.net");
    assert!(root.attr("missing").is_none());
    assert_eq!(root.to_node(), node);
    assert_eq!(tree.node_count(), 1);
}

fn check(seed: u64, dict: Dictionary) {
    let codec = Codec::new(dict);
    let mut rng = common::Rng(seed | 1);
    let node = common::random_node(&mut rng, dict, 1);
    let bytes = codec.encode(&node).unwrap();
    let mut arena = TreeArena::new();
    assert!(agree(codec, &bytes, &mut arena));
    for cut in 0..bytes.len().min(512) {
        assert!(!agree(codec, &bytes[..cut], &mut arena));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_nodes_agree_multi_device(seed in any::<u64>()) {
        check(seed, Dictionary::MultiDeviceV3);
    }

    #[test]
    fn random_nodes_agree_legacy(seed in any::<u64>()) {
        check(seed, Dictionary::Legacy);
    }

    #[test]
    fn arbitrary_bytes_agree(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut arena = TreeArena::new();
        for codec in [Codec::multi_device(), Codec::legacy()] {
            agree(codec, &bytes, &mut arena);
        }
    }
}
