//! The JSON form at its depth limits: every tree the codec accepts round-trips through JSON, and
//! deep or malformed JSON is an error, never a stack overflow.

use wa_binary::{Codec, Node, json};

/// A chain of `depth` nodes, the innermost holding bytes.
fn chain(depth: usize) -> Node {
    let mut node = Node::new("b").bytes(vec![0x61]);
    for level in 1..depth {
        node = Node::new(if level % 2 == 0 { "a" } else { "b" }).children(vec![node]);
    }
    node
}

#[test]
fn the_deepest_tree_the_codec_accepts_round_trips_through_json() {
    // Found by the roundtrip fuzz target: serde_json's own limit of 128 nested arrays and
    // objects stopped a tree of 64 nodes (two arrays a level).
    let codec = Codec::multi_device();
    let node = chain(64);
    let bytes = codec.encode(&node).unwrap();
    let decoded = codec.decode(&bytes).unwrap();
    let via_json = json::from_str(&json::to_string(&decoded)).unwrap();
    assert_eq!(via_json, decoded);
    assert_eq!(codec.encode(&via_json).unwrap(), bytes);
}

#[test]
fn nodes_up_to_the_json_depth_limit_parse_and_one_more_does_not() {
    let deepest = chain(json::MAX_DEPTH);
    assert_eq!(json::from_str(&json::to_string(&deepest)).unwrap(), deepest);
    let error = json::from_str(&json::to_string(&chain(json::MAX_DEPTH + 1))).unwrap_err();
    assert!(
        error.to_string().contains("nested deeper than 128"),
        "{error}"
    );
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let deep =
        |open: &str, close: &str| format!("{}{}", open.repeat(200_000), close.repeat(200_000));
    let cases = [
        // Node arrays all the way down.
        deep("[\"a\",{},[", "]]"),
        // Nesting after a node's three elements.
        format!("[\"a\",{{}},null,{}]", deep("[", "]")),
        // Nesting where an attribute value or the tag goes.
        format!("[\"a\",{{\"k\":{}}},null]", deep("[", "]")),
        format!("[{},{{}},null]", deep("{\"x\":", "}")),
        // Nesting inside a bytes object.
        format!("[\"a\",{{}},{{\"bytes\":{}}}]", deep("[", "]")),
        // Plain arrays.
        deep("[", "]"),
    ];
    for text in cases {
        assert!(json::from_str(&text).is_err(), "{}", &text[..40]);
    }
}

#[test]
fn a_fourth_element_and_trailing_text_are_refused() {
    assert!(json::from_str(r#"["a",{},null,1]"#).is_err());
    assert!(json::from_str(r#"["a",{},null] x"#).is_err());
    assert!(json::from_str(r#"["a",{},null] "#).is_ok());
}
