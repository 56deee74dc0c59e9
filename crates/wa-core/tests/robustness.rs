//! Property tests: whatever a server sends, in whatever state, the client session never panics,
//! ends at most once, and stays silent after it ended.

use std::time::Duration;

use proptest::prelude::*;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use wa_core::client::{ClientConfig, ClientSession, Event};
use wa_core::frame::{Frame, JsonForm, Tag, WireMessage};
use wa_core::session::conformance::sample_a;
use wa_core::time::Timestamp;

/// JSON values shaped like server messages, with hostile field types mixed in.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u16>().prop_map(|s| json!({ "status": s })),
        prop_oneof![
            Just("Conn"),
            Just("Cmd"),
            Just("Stream"),
            Just("Props"),
            Just("challenge"),
            Just("disconnect"),
            Just("replaced"),
            Just("AAAA"),
            Just("not base64!"),
        ]
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("secret".to_owned()),
                        Just("type".to_owned()),
                        Just("challenge".to_owned()),
                        Just("kind".to_owned()),
                        Just("status".to_owned()),
                        Just("ref".to_owned()),
                        Just("ttl".to_owned()),
                        Just("clientToken".to_owned()),
                        Just("serverToken".to_owned()),
                        Just("wid".to_owned()),
                        Just("battery".to_owned()),
                        Just("phone".to_owned()),
                        "[a-z]{1,6}",
                    ],
                    inner,
                ),
                0..5,
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Input {
    /// A JSON frame on one of the tags the client used, or on s1/s2/another tag.
    Json {
        tag: usize,
        body: Value,
    },
    Binary {
        tag: usize,
        payload: Vec<u8>,
    },
    Raw(Vec<u8>),
    Wait(u64),
    Closed,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => (0..6usize, json_value()).prop_map(|(tag, body)| Input::Json { tag, body }),
        1 => (0..6usize, prop::collection::vec(any::<u8>(), 0..128))
            .prop_map(|(tag, payload)| Input::Binary { tag, payload }),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Input::Raw),
        2 => (0..30_000u64).prop_map(Input::Wait),
        1 => Just(Input::Closed),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_panics_and_closes_at_most_once(
        restore in any::<bool>(),
        inputs in prop::collection::vec(input(), 0..40),
    ) {
        let mut now = Timestamp::from_unix_ms(1_606_147_375_000);
        let mut session = ClientSession::new(ClientConfig::default());
        if restore {
            session.restore(now, sample_a()).unwrap();
        } else {
            session.start_login(now, &mut StdRng::seed_from_u64(1)).unwrap();
        }
        let mut tags: Vec<Tag> = vec![Tag::new("s1").unwrap(), Tag::new("s2").unwrap()];
        let mut closed = 0;
        for input in inputs {
            while let Some(frame) = session.poll_transmit() {
                if let Some(tag) = frame.tag() {
                    tags.push(tag.clone());
                }
            }
            match input {
                Input::Json { tag, body } => {
                    let tag = tags[tag % tags.len()].clone();
                    session.handle_frame(now, Frame::json(tag, JsonForm::OneComma, body));
                }
                Input::Binary { tag, payload } => {
                    let tag = tags[tag % tags.len()].clone();
                    session.handle_frame(now, Frame::binary(tag, payload));
                }
                Input::Raw(bytes) => {
                    session.handle_wire(now, &WireMessage::Binary(bytes.clone()));
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    session.handle_wire(now, &WireMessage::Text(text));
                }
                Input::Wait(ms) => {
                    now = now + Duration::from_millis(ms);
                    session.handle_timeout(now);
                }
                Input::Closed => session.handle_transport_closed(now),
            }
            let was_closed = closed > 0;
            while let Some(event) = session.poll_event() {
                prop_assert!(!was_closed, "event after Closed: {:?}", event);
                if matches!(event, Event::Closed(_)) {
                    closed += 1;
                }
            }
            prop_assert!(closed <= 1);
            prop_assert_eq!(closed == 1, session.is_closed());
            if let Some(deadline) = session.poll_timeout() {
                prop_assert!(!session.is_closed());
                // A deadline in the past is acted on at once, never left behind.
                if deadline <= now {
                    session.handle_timeout(now);
                    prop_assert!(session.is_closed() || session.poll_timeout().is_none_or(|d| d > now));
                }
            }
        }
    }
}
