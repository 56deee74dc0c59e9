//! Any bytes through both dictionaries' decoders (and the frame unpacker): errors, never panics;
//! `decode_tree` agrees with `decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_binary::{Codec, Limits, TreeArena};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_size: 1 << 20,
        ..Limits::default()
    };
    for codec in [Codec::multi_device(), Codec::legacy()] {
        let codec = codec.with_limits(limits);
        if let Ok(node) = codec.decode_ref(data) {
            // Touch the borrowed form so conversions run too.
            let _ = node.into_owned();
        }
        // The arena decoder accepts and refuses exactly what the owned decoder does.
        let mut arena = TreeArena::new();
        let tree = codec
            .decode_tree(data, &mut arena)
            .map(|t| t.root().to_node());
        assert_eq!(tree, codec.decode(data));
        let _ = codec.decode_frame(data);
    }
});
