//! Unit tests of `tree`.

use super::*;
use crate::decode::has_bad_nibble;

#[test]
fn an_arena_without_nodes_gives_an_empty_root() {
    let arena = TreeArena::new();
    let tree = Tree {
        bytes: &[],
        arena: &arena,
        text: "",
    };
    let root = tree.root();
    assert_eq!(root.tag(), "");
    assert_eq!(root.attrs().len(), 0);
    assert_eq!(root.children().count(), 0);
    assert!(root.text().is_none() && root.bytes().is_none() && !root.has_node_list());
}

#[test]
fn str_with_reads_every_form_as_the_decoder_builds_it() {
    use crate::Codec;
    // Values the encoder writes as NIBBLE_8 (even, odd, short, long), HEX_8, raw UTF-8,
    // tokens, AD_JID (with and without a device) and JID_PAIR JIDs.
    let values = [
        "0",
        "12",
        "12345",
        "1712636456",
        "1234567890123456",
        "12345678901234567",
        "1754181417-1648703442",
        "123-456.789",
        "12345678901234567890123456789012345678901234567890",
        "0123456789ABCDEF",
        "3EB0ABCDEF0123456789ABCDEF0123456789",
        "Chat 182",
        "h\u{e9}llo, a longer raw string than sixteen bytes",
        "",
        "123456789012@s.whatsapp.net",
        "123456789012:7@s.whatsapp.net",
        "17541814172-1648703442@g.us",
        "user@broadcast",
    ];
    for codec in [Codec::legacy(), Codec::multi_device()] {
        let mut node = Node::new("iq").attr("id", "1").attr("type", "get");
        for (i, value) in values.iter().enumerate() {
            node = node.attr(format!("k{i}"), value);
        }
        let node = node.text("1712636456");
        let bytes = codec.encode(&node).unwrap();
        let mut arena = TreeArena::new();
        let tree = codec.decode_tree(&bytes, &mut arena).unwrap();
        let root = tree.root();
        // A scratch that holds something already: `str_with` must clear it.
        let mut scratch = String::from("stale");
        assert_eq!(root.tag().str_with(&mut scratch), "iq");
        let attrs: Vec<(String, String)> = root
            .attrs()
            .map(|(k, v)| {
                let key = k.str_with(&mut scratch).to_owned();
                (key, v.str_with(&mut scratch).to_owned())
            })
            .collect();
        // What the owned decoder builds (legacy reads `s.whatsapp.net` back as `c.us`).
        let decoded = codec.decode(&bytes).unwrap();
        let expected: Vec<(String, String)> = decoded
            .attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(attrs, expected);
        assert_eq!(expected.len(), values.len() + 2);
        let text = root.text().expect("a text content");
        assert_eq!(text.str_with(&mut scratch), "1712636456");
        assert_eq!(text.to_cow(), "1712636456");
    }
}

/// Every string of a tree read every way there is, in order, and the raw ones among them.
fn read_all(tree: Tree<'_>) -> (Vec<String>, String) {
    read_strings(tree, true)
}

/// [`read_all`] without `str_with` (which the arena takes note of).
fn read_all_but_str_with(tree: Tree<'_>) -> (Vec<String>, String) {
    read_strings(tree, false)
}

fn read_strings(tree: Tree<'_>, with: bool) -> (Vec<String>, String) {
    fn visit(node: TreeNode<'_>, out: &mut (Vec<String>, String), with: bool) {
        let mut strings = vec![node.tag()];
        for (k, v) in node.attrs() {
            strings.extend([k, v]);
        }
        strings.extend(node.text());
        for s in strings {
            let shown = s.to_string();
            assert_eq!(s.to_cow(), shown);
            assert!(s == shown.as_str() && s.len() == shown.len());
            if let Some(borrowed) = s.as_str() {
                assert_eq!(borrowed, shown);
            }
            let mut written = String::from("x");
            s.write_to(&mut written);
            assert_eq!(written[1..], shown);
            if s.raw.kind() == RAW {
                out.1.push_str(&shown);
            }
            if with {
                // A scratch holding something already: `str_with` clears it.
                let mut scratch = String::from("stale");
                assert_eq!(s.str_with(&mut scratch), shown);
            }
            out.0.push(shown);
        }
        for child in node.children() {
            visit(child, out, with);
        }
    }
    let mut out = (Vec::new(), String::new());
    visit(tree.root(), &mut out, with);
    out
}

#[test]
fn a_plain_arena_adapts_to_the_strings_read_from_it() {
    use crate::Codec;
    for codec in [Codec::legacy(), Codec::multi_device()] {
        let node = Node::new("iq")
            .attr("id", "Chat 182")
            .attr("t", "1712636456")
            .attr("jid", "123456789012@s.whatsapp.net")
            .attr(
                "notify",
                "h\u{e9}llo, a raw string longer than sixteen bytes",
            )
            .attr("short", "x")
            .children([Node::new("item").attr("name", "").text("caf\u{e9}")]);
        let bytes = codec.encode(&node).unwrap();
        let mut arena = TreeArena::new();
        let state = |arena: &TreeArena| (arena.with_text, arena.reads.raw.load(Ordering::Relaxed));
        // Reading strings any way but `str_with` leaves the arena as it is.
        let tree = codec.decode_tree(&bytes, &mut arena).unwrap();
        let (first, raw) = read_all_but_str_with(tree);
        assert!(tree.text.is_empty());
        assert!(raw.contains("Chat 182") && raw.contains("h\u{e9}llo, a raw"));
        let tree = codec.decode_tree(&bytes, &mut arena).unwrap();
        assert!(tree.text.is_empty());
        assert_eq!(state(tree.arena), (false, false));
        // One raw string read through `str_with`: raw strings are copied from then on.
        let id = tree.root().attr("id").unwrap();
        assert_eq!(id.str_with(&mut String::new()), "Chat 182");
        assert_eq!(state(tree.arena), (false, true));
        let tree = codec.decode_tree(&bytes, &mut arena).unwrap();
        // Raw strings now in the text buffer, in order, and nothing else.
        assert_eq!(tree.text, raw);
        assert_eq!(state(tree.arena), (false, true));
        let (second, none) = read_all(tree);
        assert_eq!(second, first);
        assert!(none.is_empty());
        assert_eq!(tree.root().to_node(), codec.decode(&bytes).unwrap());
        // Every string just read through `str_with`: every string is written from then on.
        let tree = codec.decode_tree(&bytes, &mut arena).unwrap();
        assert_eq!(state(tree.arena), (true, true));
        let root = tree.root();
        let strings = root.attrs().flat_map(|(k, v)| [k, v]).chain([root.tag()]);
        for s in strings {
            assert_eq!(s.as_str().map(str::len), Some(s.len()));
        }
        assert_eq!(root.to_node(), codec.decode(&bytes).unwrap());
        assert_eq!(read_all(tree), (first.clone(), String::new()));
        // Trees copied out (`OwnedTree`) keep no text buffer: strings stay in the frame.
        let owned = codec
            .decode_owned_tree(bytes::Bytes::from(bytes.clone()))
            .unwrap();
        assert_eq!(read_all(owned.tree()), (first, raw));
        // Errors are the same whatever the arena does.
        for cut in 0..bytes.len() {
            let plain = codec
                .decode_tree(&bytes[..cut], &mut TreeArena::new())
                .err();
            assert_eq!(codec.decode_tree(&bytes[..cut], &mut arena).err(), plain);
        }
    }
}

#[test]
fn node_records_are_forty_eight_bytes() {
    assert_eq!(std::mem::size_of::<RawNode>(), 48);
}

#[test]
fn bad_nibbles_are_found_at_every_position() {
    for len in 0..20 {
        let good: Vec<u8> = (0..len).map(|i| [0x01, 0xab, 0xb9, 0x5a][i % 4]).collect();
        assert!(!has_bad_nibble(&good, 0, len, false), "{good:?}");
        let mut framed = vec![0xcc; 9];
        framed.extend(&good);
        framed.extend([0xdd; 9]);
        for (before, after) in [(9, 9), (0, 9), (9, 0), (1, 1)] {
            let window = &framed[9 - before..9 + len + after];
            assert!(!has_bad_nibble(window, before, before + len, false));
        }
        for at in 0..len {
            for bad in [0xc0, 0x0d, 0xe5, 0x7e, 0xcf, 0xf1, 0x1f] {
                let mut bytes = good.clone();
                bytes[at] = bad;
                assert!(has_bad_nibble(&bytes, 0, len, false), "{bytes:?}");
                assert_eq!(first_bad_nibble(&bytes, false).map(|b| b.0), Some(at));
                let mut framed = vec![0x11; 3];
                framed.extend(&bytes);
                assert!(has_bad_nibble(&framed, 3, 3 + len, false), "{bytes:?}");
            }
        }
    }
    for byte in 0..=255u8 {
        let (high, low) = (byte >> 4, byte & 0x0f);
        // Inside a string, 12..=15 are not digits.
        let inside = high >= 12 || low >= 12;
        assert_eq!(has_bad_nibble(&[byte], 0, 1, false), inside, "{byte:#x}");
        assert_eq!(first_bad_nibble(&[byte], false).is_some(), inside);
        // As the last byte of an odd string, the low nibble is padding: 15 (or a digit).
        let last = high >= 12 || (12..=14).contains(&low);
        for prefix in [&[][..], &[0x12; 9][..]] {
            let mut bytes = prefix.to_vec();
            bytes.push(byte);
            let n = bytes.len();
            assert_eq!(has_bad_nibble(&bytes, 0, n, true), last, "{byte:#x}");
            assert_eq!(first_bad_nibble(&bytes, true).is_some(), last);
        }
    }
}

#[test]
fn utf8_check_matches_std() {
    for bytes in [
        &b""[..],
        b"plain ascii, longer than eight",
        "h\u{e9}llo w\u{f6}rld, f\u{fc}nf".as_bytes(),
        b"abcdefgh\xff",
        b"\xc3",
        b"abcdefghijklmno\xe2\x82",
    ] {
        let valid = std::str::from_utf8(bytes).is_ok();
        assert_eq!(is_utf8(bytes, 0, bytes.len()), valid, "{bytes:?}");
        let mut framed = vec![0xff; 8];
        framed.extend(bytes);
        framed.extend([0xff; 8]);
        assert_eq!(is_utf8(&framed, 8, 8 + bytes.len()), valid, "{bytes:?}");
    }
}
