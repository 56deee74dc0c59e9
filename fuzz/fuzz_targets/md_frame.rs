//! Arbitrary bytes into the multi-device frame layer: the server's decoder (intro, optional
//! routing pre-header, frames) and the client's, fed in chunks whose sizes come from the input,
//! and each frame's plaintext into the flag-byte/zlib/node decoder. Never panics; every frame
//! handed out respects the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_binary::Codec;
use wa_core::md::frame::{FrameDecoder, payload_node};

const LIMIT: usize = 4096;

fn drain(decoder: &mut FrameDecoder, codec: &Codec) -> bool {
    loop {
        match decoder.next_frame() {
            Ok(Some(frame)) => {
                assert!(frame.len() <= LIMIT);
                let _ = payload_node(codec, &frame);
            }
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let codec = Codec::multi_device();
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    for mut decoder in [FrameDecoder::server(LIMIT), FrameDecoder::client(LIMIT)] {
        for piece in rest.chunks(chunk) {
            decoder.push(piece);
            if !drain(&mut decoder, &codec) {
                break;
            }
        }
    }
});
