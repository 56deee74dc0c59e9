//! Any bytes through both dictionaries' decoders (and the frame unpacker): errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_binary::{Codec, Limits};

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
        let _ = codec.decode_frame(data);
    }
});
