//! Any bytes through both dictionaries' decoders (and the frame unpacker): errors, never panics;
//! `decode_tree` (into a plain arena and into one that keeps text), `decode` (built from that
//! tree) and `decode_owned_tree` agree with the nom decoder behind `decode_ref`, and every string
//! of the tree reads the same through each accessor (in a text arena, `as_str` gives it). Byte
//! contents (spans of a shared frame) read the same once taken out of their tree, cloned, and
//! dropped after it, one at a time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_binary::{Blob, Codec, Content, Limits, Node, TreeArena, TreeNode};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_size: 1 << 20,
        ..Limits::default()
    };
    for codec in [Codec::multi_device(), Codec::legacy()] {
        let codec = codec.with_limits(limits);
        let reference = codec.decode_ref(data).map(|node| node.into_owned());
        // The arena decoder accepts and refuses exactly what the nom decoder does, and so does
        // the owned decoder built on it.
        let mut arena = TreeArena::new();
        let tree = codec.decode_tree(data, &mut arena).map(|t| {
            let mut scratch = String::new();
            check_strings(t.root(), &mut scratch);
            t.root().to_node()
        });
        assert_eq!(tree, reference);
        // Once strings were read through `str_with` (above), the arena copies raw strings or
        // writes every string while decoding: the same tree, the same errors.
        let again = codec.decode_tree(data, &mut arena).map(|t| {
            let mut scratch = String::new();
            check_strings(t.root(), &mut scratch);
            t.root().to_node()
        });
        assert_eq!(again, reference);
        let mut text_arena = TreeArena::with_text();
        let text = codec.decode_tree(data, &mut text_arena).map(|t| {
            let mut scratch = String::new();
            check_strings(t.root(), &mut scratch);
            check_text(t.root());
            t.root().to_node()
        });
        assert_eq!(text, reference);
        let decoded = codec.decode(data);
        assert_eq!(decoded, reference);
        let handed = codec.decode_bytes(data.to_vec());
        assert_eq!(handed, reference);
        for node in [decoded, handed].into_iter().flatten() {
            check_contents_outlive(node);
        }
        let owned = codec.decode_owned_tree(data.to_vec()).map(|t| t.to_node());
        assert_eq!(owned, reference);
        let _ = codec.decode_frame(data);
    }
});

/// In a tree decoded into `TreeArena::with_text`, every string is already a `&str`.
fn check_text(node: TreeNode<'_>) {
    let strings = std::iter::once(node.tag())
        .chain(node.attrs().flat_map(|(k, v)| [k, v]))
        .chain(node.text());
    for s in strings {
        assert_eq!(s.as_str().map(str::len), Some(s.len()));
    }
    node.children().for_each(check_text);
}

/// `str_with`, `write_to` and `to_cow` give the same string for every tag, key and value.
fn check_strings(node: TreeNode<'_>, scratch: &mut String) {
    let strings = std::iter::once(node.tag())
        .chain(node.attrs().flat_map(|(k, v)| [k, v]))
        .chain(node.text());
    for s in strings {
        let cow = s.to_cow();
        assert_eq!(s.str_with(scratch), cow);
        let mut written = String::new();
        s.write_to(&mut written);
        assert_eq!(written, cow);
        assert_eq!(s.len(), cow.len());
    }
    for child in node.children() {
        check_strings(child, scratch);
    }
}

/// Takes every byte content out of `node`, clones every other one, drops the tree, and checks
/// that each reads as it did; they are then dropped one at a time, clones after originals.
fn check_contents_outlive(mut node: Node) {
    let mut expected = Vec::new();
    collect(&node, &mut expected);
    let mut taken = Vec::new();
    take(&mut node, &mut taken);
    let clones: Vec<Blob> = taken.iter().step_by(2).cloned().collect();
    drop(node);
    let read: Vec<Vec<u8>> = taken.iter().map(|b| b.to_vec()).collect();
    assert_eq!(read, expected);
    drop(taken);
    for (clone, original) in clones.iter().zip(expected.iter().step_by(2)) {
        assert_eq!(clone.as_slice(), &original[..]);
        assert_eq!(clone.to_bytes(), &original[..]);
    }
}

/// The byte contents of `node` and its descendants, in order.
fn collect(node: &Node, out: &mut Vec<Vec<u8>>) {
    match &node.content {
        Content::Bytes(blob) => out.push(blob.to_vec()),
        Content::Nodes(children) => children.iter().for_each(|c| collect(c, out)),
        _ => {}
    }
}

/// Takes the byte contents of `node` and its descendants out, in order.
fn take(node: &mut Node, out: &mut Vec<Blob>) {
    match &mut node.content {
        Content::Bytes(blob) => out.push(std::mem::take(blob)),
        Content::Nodes(children) => children.iter_mut().for_each(|c| take(c, out)),
        _ => {}
    }
}
