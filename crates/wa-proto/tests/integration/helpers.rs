//! The conveniences over the generated types.

use wa_proto::{FutureProofMessage, ImageMessage, Message, MessageKey, Status, WebMessageInfo};

#[test]
fn status_is_ack_plus_one() {
    let expected = [
        (-1, Status::Error),
        (0, Status::Pending),
        (1, Status::ServerAck),
        (2, Status::DeliveryAck),
        (3, Status::Read),
        (4, Status::Played),
    ];
    for (ack, status) in expected {
        assert_eq!(Status::from_ack(ack), Some(status), "ack {ack}");
        assert_eq!(status.ack(), ack);
        assert_eq!(status as i32, i32::from(ack) + 1);
    }
    assert_eq!(Status::from_ack(-2), None);
    assert_eq!(Status::from_ack(5), None);
    assert_eq!(Status::from_ack(i8::MAX), None);
    assert_eq!(Status::from_ack(i8::MIN), None);
}

#[test]
fn web_message_info_ack() {
    let mut info = WebMessageInfo::default();
    assert_eq!(info.ack(), None);
    info.status = Some(Status::Read as i32);
    assert_eq!(info.ack(), Some(3));
    info.status = Some(42);
    assert_eq!(
        info.ack(),
        None,
        "a status this schema does not know has no ack"
    );
}

#[test]
fn key_builders() {
    let key = MessageKey::new("g@g.us", false, "ID").with_participant("p@s.whatsapp.net");
    assert_eq!(key.remote_jid(), "g@g.us");
    assert_eq!(key.from_me, Some(false));
    assert_eq!(key.id(), "ID");
    assert_eq!(key.participant(), "p@s.whatsapp.net");
}

#[test]
fn content_unwraps_nested_wrappers() {
    let image = Message {
        image_message: Some(Box::new(ImageMessage {
            caption: Some("inside".into()),
            ..Default::default()
        })),
        ..Default::default()
    };
    let wrap = |m: Message, ephemeral: bool| {
        let wrapper = Some(Box::new(FutureProofMessage {
            message: Some(Box::new(m)),
        }));
        if ephemeral {
            Message {
                ephemeral_message: wrapper,
                ..Default::default()
            }
        } else {
            Message {
                view_once_message: wrapper,
                ..Default::default()
            }
        }
    };
    let wrapped = wrap(wrap(image.clone(), false), true);
    assert_eq!(wrapped.content(), &image);
    assert_eq!(wrapped.text_content(), Some("inside"));
    assert_eq!(image.content(), &image);
    let empty_wrapper = Message {
        ephemeral_message: Some(Box::default()),
        ..Default::default()
    };
    assert_eq!(empty_wrapper.content(), &empty_wrapper);
    assert_eq!(Message::text("hi").text_content(), Some("hi"));
    assert_eq!(Message::default().text_content(), None);
}
