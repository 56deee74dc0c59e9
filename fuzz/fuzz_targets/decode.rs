//! Any bytes through both dictionaries' decoders (and the frame unpacker): errors, never panics;
//! `decode_tree` and `decode` (built from that tree) agree with the nom decoder behind
//! `decode_ref`, and every string of the tree reads the same through each accessor.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_binary::{Codec, Limits, TreeArena, TreeNode};

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
        assert_eq!(codec.decode(data), reference);
        let _ = codec.decode_frame(data);
    }
});

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
