use wa_proto::prost::Message as _;
use wa_proto::proto::{FutureProofMessage, LocationMessage, Message, ReactionMessage};

use super::*;

fn target() -> MessageRef {
    MessageRef {
        chat: "15550000202@s.whatsapp.net".into(),
        from_me: false,
        id: "3EB0C0FFEE".into(),
        participant: None,
    }
}

/// Every kind goes to a `Message`, through its wire bytes, and back unchanged.
#[test]
fn every_kind_survives_the_wire() {
    let kinds = vec![
        Content::Text("plain".into()),
        Content::reply(
            "a reply",
            Quote {
                id: "3EB0AA".into(),
                sender: "15550000202@s.whatsapp.net".into(),
                message: Box::new(Content::Text("the original".into()).to_message()),
            },
        ),
        Content::ExtendedText {
            text: "hi @15550000303 see https://example.org".into(),
            quote: None,
            mentions: vec!["15550000303@s.whatsapp.net".into()],
            link: Some(LinkPreview {
                matched_text: "https://example.org".into(),
                canonical_url: Some("https://example.org/".into()),
                title: Some("Example".into()),
                description: Some("An example page".into()),
                thumbnail: Some(vec![0xFF, 0xD8, 0xFF]),
            }),
        },
        Content::Contact(ContactCard {
            display_name: "Ada".into(),
            vcard: "BEGIN:VCARD\nVERSION:3.0\nFN:Ada\nEND:VCARD".into(),
        }),
        Content::Contacts {
            display_name: "2 contacts".into(),
            cards: vec![
                ContactCard {
                    display_name: "Ada".into(),
                    vcard: "BEGIN:VCARD\nFN:Ada\nEND:VCARD".into(),
                },
                ContactCard {
                    display_name: "Alan".into(),
                    vcard: "BEGIN:VCARD\nFN:Alan\nEND:VCARD".into(),
                },
            ],
        },
        Content::Location {
            latitude: 48.8584,
            longitude: 2.2945,
            name: Some("Tour Eiffel".into()),
            address: Some("Champ de Mars, Paris".into()),
        },
        Content::reaction(target(), "👍", 1_764_000_000_000),
        Content::reaction(target(), "", 1_764_000_000_001),
        Content::Revoke { target: target() },
        Content::EphemeralSetting { seconds: 604_800 },
        Content::EphemeralSetting { seconds: 0 },
    ];
    for kind in kinds {
        let bytes = kind.to_message().encode_to_vec();
        let decoded = Message::decode(bytes.as_slice()).unwrap();
        assert_eq!(Content::from_message(&decoded), kind);
    }
}

/// The wire form is the one peers read: a reaction is `Message` field 46 (tag 0xF2 0x02) whose
/// key (field 1) names the chat, direction and id; a revoke is `protocolMessage` (field 12)
/// with type 0; a quote puts the id in `contextInfo.stanzaId`.
#[test]
fn wire_layout_matches_the_field_numbers() {
    let reaction = Content::reaction(target(), "❤", 5)
        .to_message()
        .encode_to_vec();
    assert_eq!(&reaction[..2], &[0xF2, 0x02], "field 46, length-delimited");
    let parsed = Message::decode(reaction.as_slice()).unwrap();
    let r = parsed.reaction_message.unwrap();
    assert_eq!(r.key.unwrap().id.as_deref(), Some("3EB0C0FFEE"));
    assert_eq!(r.text.as_deref(), Some("❤"));

    let revoke = Content::Revoke { target: target() }.to_message();
    let p = revoke.protocol_message.as_ref().unwrap();
    assert_eq!(p.r#type, Some(0));
    assert_eq!(revoke.encode_to_vec()[0], 12 << 3 | 2);

    let quote = Content::reply(
        "x",
        Quote {
            id: "Q1".into(),
            sender: "1@s.whatsapp.net".into(),
            message: Box::default(),
        },
    )
    .to_message();
    let context = quote.extended_text_message.unwrap().context_info.unwrap();
    assert_eq!(context.stanza_id.as_deref(), Some("Q1"));
    assert_eq!(context.participant.as_deref(), Some("1@s.whatsapp.net"));
}

/// A disappearing message is read through its wrapper, once.
#[test]
fn ephemeral_wrapper_is_read_through() {
    let inner = Content::Text("gone soon".into()).to_message();
    let wrapped = Message {
        ephemeral_message: Some(Box::new(FutureProofMessage {
            message: Some(Box::new(inner)),
        })),
        ..Message::default()
    };
    assert_eq!(
        Content::from_message(&wrapped),
        Content::Text("gone soon".into())
    );
    let twice = Message {
        ephemeral_message: Some(Box::new(FutureProofMessage {
            message: Some(Box::new(wrapped)),
        })),
        ..Message::default()
    };
    assert_eq!(Content::from_message(&twice), Content::Other);
}

/// Malformed kinds from the network read as `Other`: a reaction or revoke without a target,
/// a location that is not a place, a contact without a card.
#[test]
fn malformed_content_is_other() {
    let no_key = Message {
        reaction_message: Some(ReactionMessage {
            text: Some("👍".into()),
            ..ReactionMessage::default()
        }),
        ..Message::default()
    };
    assert_eq!(Content::from_message(&no_key), Content::Other);
    let empty_id = Content::Revoke {
        target: MessageRef {
            id: String::new(),
            ..target()
        },
    }
    .to_message();
    assert_eq!(Content::from_message(&empty_id), Content::Other);
    for (lat, lon) in [
        (f64::NAN, 0.0),
        (91.0, 0.0),
        (0.0, -180.5),
        (0.0, f64::INFINITY),
    ] {
        let location = Message {
            location_message: Some(Box::new(LocationMessage {
                degrees_latitude: Some(lat),
                degrees_longitude: Some(lon),
                ..LocationMessage::default()
            })),
            ..Message::default()
        };
        assert_eq!(
            Content::from_message(&location),
            Content::Other,
            "{lat},{lon}"
        );
    }
    let no_card = Message {
        contact_message: Some(Box::default()),
        ..Message::default()
    };
    assert_eq!(Content::from_message(&no_card), Content::Other);
    assert_eq!(Content::from_message(&Message::default()), Content::Other);
}

/// Found by the `md_content` fuzz target: a preview whose matched text is present but empty was
/// read as a preview and written back without one.
#[test]
fn a_preview_with_empty_matched_text_survives_the_wire() {
    let bytes = [50u8, 2, 18, 0, 50, 2, 50, 0];
    let message = Message::decode(bytes.as_slice()).unwrap();
    let content = Content::from_message(&message);
    let Content::ExtendedText { link, .. } = &content else {
        panic!("not extended text: {content:?}");
    };
    assert_eq!(link.as_ref().map(|l| l.matched_text.as_str()), Some(""));
    assert_eq!(Content::from_message(&content.to_message()), content);
}
