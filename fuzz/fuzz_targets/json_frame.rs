//! Arbitrary bytes into the legacy frame parser: never panics, and whatever parses re-serializes
//! into a message that parses back to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_core::frame::{Frame, WireMessage};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    for message in [WireMessage::Binary(data.to_vec()), WireMessage::Text(text)] {
        if let Ok(frame) = Frame::parse_with_limit(&message, 1 << 20) {
            let again = Frame::parse(&frame.to_wire()).expect("a serialized frame parses");
            assert_eq!(frame, again);
        }
    }
});
