//! Untrusted input: every malformed shape is a typed error with its offset, never a panic or an
//! allocation sized by a length field.

use wa_binary::{Codec, DecodeErrorKind as K, EncodeError, Limits, Node, TreeArena};

/// The error `decode` gives, after checking that `decode_ref` and `decode_tree` give it too.
fn error_of(codec: Codec, bytes: &[u8]) -> (usize, K) {
    let e = codec.decode(bytes).unwrap_err();
    assert_eq!(codec.decode_ref(bytes).unwrap_err(), e);
    let mut arena = TreeArena::new();
    assert_eq!(codec.decode_tree(bytes, &mut arena).unwrap_err(), e);
    (e.offset, e.kind)
}

fn md(bytes: &[u8]) -> (usize, K) {
    error_of(Codec::multi_device(), bytes)
}

fn legacy(bytes: &[u8]) -> (usize, K) {
    error_of(Codec::legacy(), bytes)
}

// Token 8 is `id` in dictionary v3; 9 is `action` in the legacy table.
const ID: u8 = 8;

#[test]
fn bad_tags_name_the_offset_and_what_was_expected() {
    assert!(matches!(md(&[5]), (0, K::UnexpectedTag { tag: 5, .. })));
    assert_eq!(md(&[0]), (0, K::EmptyNode));
    assert_eq!(md(&[0xf8, 0]), (0, K::EmptyNode));
    assert!(matches!(
        md(&[0xf8, 1, 240]),
        (2, K::UnexpectedTag { tag: 240, .. })
    ));
    assert_eq!(md(&[0xf8, 1, 0]), (2, K::EmptyTag));
    assert_eq!(legacy(&[0xf8, 1, 200]), (2, K::UnknownToken { byte: 200 }));
    assert_eq!(legacy(&[0xf8, 1, 1]), (2, K::UnknownToken { byte: 1 }));
    assert_eq!(
        legacy(&[0xf8, 1, 236, 0]),
        (2, K::UnknownDoubleToken { dict: 0, index: 0 })
    );
    assert_eq!(legacy(&[0xf8, 1, 2]), (2, K::StreamEnd));
    // AD_JID is not a legacy tag.
    assert!(matches!(
        legacy(&[0xf8, 1, 247, 0, 0, 3]),
        (2, K::UnexpectedTag { tag: 247, .. })
    ));
    // A nibble of 12 is neither digit, `-`, `.` nor padding.
    assert_eq!(
        md(&[0xf8, 1, 0xff, 0x01, 0x1c]),
        (4, K::BadNibble { value: 12 })
    );
    // JID pair with an empty server.
    assert_eq!(md(&[0xf8, 1, 0xfa, 0, 0]), (4, K::JidWithoutServer));
    // Invalid UTF-8 in an attribute value.
    assert!(matches!(
        md(&[0xf8, 3, ID, ID, 0xfc, 1, 0xff]),
        (6, K::InvalidUtf8 { .. })
    ));
    assert_eq!(md(&[0xf8, 1, ID, 0]), (3, K::TrailingBytes { count: 1 }));
}

#[test]
fn lengths_past_the_end_are_refused_before_any_allocation() {
    assert_eq!(
        md(&[0xf8, 2, ID, 0xfc, 10, 1, 2]),
        (
            5,
            K::LengthPastEnd {
                expected: "binary content",
                claimed: 10,
                available: 2
            }
        )
    );
    assert_eq!(
        md(&[0xf8, 2, ID, 0xfe, 0xff, 0xff, 0xff, 0xff]),
        (
            8,
            K::LengthPastEnd {
                expected: "binary content",
                claimed: u64::from(u32::MAX),
                available: 0
            }
        )
    );
    assert!(matches!(
        md(&[0xf8, 2, ID, 0xfd, 0x0f, 0xff, 0xff]),
        (
            7,
            K::LengthPastEnd {
                claimed: 0xfffff,
                ..
            }
        )
    ));
    // A LIST_16 of 65535 children with none present fails at the first child.
    assert!(matches!(
        md(&[0xf8, 2, ID, 0xf9, 0xff, 0xff]),
        (6, K::UnexpectedEnd { .. })
    ));
    // A node claiming 65535 list items (32767 attributes) with none present.
    assert!(matches!(
        md(&[0xf9, 0xff, 0xff, ID]),
        (4, K::UnexpectedEnd { .. })
    ));
    // A packed string claiming 127 pairs.
    assert!(matches!(
        md(&[0xf8, 1, 0xff, 0x7f, 0x12]),
        (4, K::LengthPastEnd { claimed: 127, .. })
    ));
}

fn nested(depth: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..depth - 1 {
        bytes.extend_from_slice(&[0xf8, 2, ID, 0xf8, 1]);
    }
    bytes.extend_from_slice(&[0xf8, 1, ID]);
    bytes
}

#[test]
fn nesting_is_limited() {
    let codec = Codec::multi_device();
    assert_eq!(codec.decode(&nested(64)).map(|_| ()), Ok(()));
    let err = codec.decode(&nested(65)).unwrap_err();
    assert_eq!(err.kind, K::TooDeep { limit: 64 });
    assert_eq!(err.offset, 64 * 5);
    // Far deeper input stops at the limit, without exhausting the stack.
    assert!(matches!(
        codec.decode(&nested(100_000)).unwrap_err().kind,
        K::TooDeep { .. }
    ));
    let deep = codec.with_limits(Limits {
        max_depth: 200,
        ..Limits::default()
    });
    assert!(deep.decode(&nested(150)).is_ok());
    // The encoder keeps to the same limit, so it never writes what a peer would refuse.
    let mut node = Node::new("id");
    for _ in 0..64 {
        node = Node::new("id").children([node]);
    }
    assert_eq!(codec.encode(&node), Err(EncodeError::TooDeep { limit: 64 }));
}

#[test]
fn size_limit_applies_to_input_and_inflated_frames() {
    let small = Codec::multi_device().with_limits(Limits {
        max_size: 16,
        ..Limits::default()
    });
    let err = small.decode(&[0; 17]).unwrap_err();
    assert_eq!(
        err.kind,
        K::TooLarge {
            size: 17,
            limit: 16
        }
    );

    let codec = Codec::multi_device().with_limits(Limits {
        max_size: 1 << 20,
        ..Limits::default()
    });
    let bomb = miniz_oxide::deflate::compress_to_vec_zlib(&vec![0u8; 8 << 20], 9);
    let mut frame = vec![2u8];
    frame.extend_from_slice(&bomb);
    assert_eq!(
        codec.unpack_frame(&frame).unwrap_err().kind,
        K::InflatedTooLarge { limit: 1 << 20 }
    );
    assert_eq!(
        codec.unpack_frame(&[2, 1, 2, 3]).unwrap_err().kind,
        K::Inflate
    );
    assert_eq!(codec.unpack_frame(&[]).unwrap_err().kind, K::EmptyFrame);
}

#[test]
fn frames_strip_the_flag_byte_and_inflate() {
    let codec = Codec::multi_device();
    let node = Node::new("iq").attr("id", "1").attr("type", "result");
    let frame = codec.encode_frame(&node).unwrap();
    assert_eq!(frame[0], 0);
    assert_eq!(codec.decode_frame(&frame).unwrap(), node);
    let mut compressed = vec![2u8];
    compressed.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(&frame[1..], 6));
    assert_eq!(codec.decode_frame(&compressed).unwrap(), node);
    // Offsets in errors of an uncompressed frame count the flag byte.
    assert_eq!(codec.decode_frame(&[0, 0xf8, 0]).unwrap_err().offset, 1);
}

#[test]
fn other_jid_forms_decode_like_baileys() {
    let codec = Codec::multi_device();
    // AD_JID, domain 1 (lid), device 3, user "12".
    let n = codec
        .decode(&[0xf8, 3, ID, ID, 0xf7, 1, 3, 0xff, 0x01, 0x12])
        .unwrap();
    assert_eq!(n.get_str("id").unwrap(), "12:3@lid");
    // Unknown domain types read as s.whatsapp.net; device 0 is not written.
    let n = codec
        .decode(&[0xf8, 3, ID, ID, 0xf7, 77, 0, 0xff, 0x01, 0x12])
        .unwrap();
    assert_eq!(n.get_str("id").unwrap(), "12@s.whatsapp.net");
    // FB_JID: user "12", device 513, server token 3 (s.whatsapp.net).
    let n = codec
        .decode(&[0xf8, 3, ID, ID, 0xf6, 0xff, 0x01, 0x12, 2, 1, 3])
        .unwrap();
    assert_eq!(n.get_str("id").unwrap(), "12:513@s.whatsapp.net");
    // INTEROP_JID: user "12", device 1, integrator 7, server raw "interop".
    let mut bytes = vec![0xf8, 3, ID, ID, 0xf5, 0xff, 0x01, 0x12, 0, 1, 0, 7, 0xfc, 7];
    bytes.extend_from_slice(b"interop");
    let n = codec.decode(&bytes).unwrap();
    assert_eq!(n.get_str("id").unwrap(), "7-12:1@interop");
    let jid = n.get_jid("id").unwrap();
    assert_eq!(
        (jid.integrator, jid.user.as_str(), jid.device),
        (7, "12", 1)
    );
}

#[test]
fn encoder_refuses_what_cannot_be_written() {
    let codec = Codec::multi_device();
    assert_eq!(codec.encode(&Node::new("")), Err(EncodeError::EmptyTag));
    let wide = Node::new("list").children((0..65_536).map(|_| Node::new("i")));
    assert!(matches!(
        codec.encode(&wide),
        Err(EncodeError::ListTooLong { count: 65_536, .. })
    ));
    let ok = Node::new("list").children((0..65_535).map(|_| Node::new("i")));
    let bytes = codec.encode(&ok).unwrap();
    assert_eq!(
        &bytes[3..6],
        &[0xf9, 0xff, 0xff],
        "LIST_16 with a 16-bit size"
    );
    assert_eq!(codec.decode(&bytes).unwrap(), ok);
}

/// Packed strings no writer produces decode to text the encoder writes in another form (a
/// NUL where padding sat, an empty or over-long string written raw), so that content would
/// come back as bytes: both decoders refuse them, at the same offset.
#[test]
fn packed_strings_no_writer_produces_are_refused() {
    for codec in [Codec::multi_device(), Codec::legacy()] {
        let err = |bytes: &[u8]| error_of(codec, bytes);
        // `<id>` with a NIBBLE_8 content: "1", padding, "2", "3" (0xF in the middle).
        assert_eq!(
            err(&[0xf8, 2, ID, 0xff, 0x02, 0x1f, 0x23]),
            (5, K::BadNibble { value: 15 })
        );
        // 0xF as the last digit of an even string, and as an odd string's kept last digit.
        assert_eq!(
            err(&[0xf8, 2, ID, 0xff, 0x01, 0x3f]),
            (5, K::BadNibble { value: 15 })
        );
        assert_eq!(
            err(&[0xf8, 2, ID, 0xff, 0x82, 0x12, 0xff]),
            (6, K::BadNibble { value: 15 })
        );
        // The odd string's dropped padding may still be neither 12, 13 nor 14.
        assert_eq!(
            err(&[0xf8, 2, ID, 0xff, 0x81, 0x1d]),
            (5, K::BadNibble { value: 13 })
        );
        // Empty (no pairs, with or without the odd bit) and longer than 127 characters.
        for tag in [0xff, 0xfb] {
            assert_eq!(
                err(&[0xf8, 2, ID, tag, 0x00]),
                (4, K::PackedLength { chars: 0 })
            );
            assert_eq!(
                err(&[0xf8, 2, ID, tag, 0x80]),
                (4, K::PackedLength { chars: 0 })
            );
            let mut long = vec![0xf8, 2, ID, tag, 64];
            long.extend([0x12; 64]);
            assert_eq!(err(&long), (4, K::PackedLength { chars: 128 }));
            // 127 characters is the longest a writer packs, and decodes.
            long[4] = 0x80 | 64;
            long[5 + 63] = 0x1f;
            let node = codec.decode(&long).unwrap();
            assert_eq!(codec.decode(&codec.encode(&node).unwrap()).unwrap(), node);
        }
        // In an attribute value and as a JID's user, too.
        assert_eq!(
            err(&[0xf8, 3, ID, ID, 0xff, 0x01, 0xf1]),
            (6, K::BadNibble { value: 15 })
        );
        assert_eq!(
            err(&[0xf8, 1, 0xfa, 0xff, 0x01, 0x1f, 3]),
            (5, K::BadNibble { value: 15 })
        );
    }
}
