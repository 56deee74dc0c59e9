//! Arbitrary bytes into every wa-signal parser: the four message kinds, prekey bundles (the
//! input split into the bundle's byte fields) and the persisted records. Never panics; a
//! distribution message that parses serializes back to bytes that parse the same, and so does a
//! session record (which prost must also accept).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_proto::prost::Message as _;
use wa_proto::signal::SessionRecordData;
use wa_signal::{
    PreKeyBundle, PreKeySignalMessage, SenderKeyDistributionMessage, SenderKeyMessage,
    SenderKeyRecord, SessionRecord, SignalMessage, unpad,
};

fuzz_target!(|data: &[u8]| {
    let _ = SignalMessage::parse(data);
    let _ = PreKeySignalMessage::parse(data);
    let _ = SenderKeyMessage::parse(data);
    if let Ok(skdm) = SenderKeyDistributionMessage::parse(data) {
        let again =
            SenderKeyDistributionMessage::parse(&skdm.serialize()).expect("own output parses");
        assert_eq!(again, skdm);
    }
    // Session records are read by a borrowing decoder with prost's acceptance: what it reads,
    // prost reads too, and it writes back bytes that read to the same record.
    if let Ok(record) = SessionRecord::from_bytes(data) {
        assert!(
            SessionRecordData::decode(data).is_ok(),
            "prost refuses a record we read"
        );
        let bytes = record.to_bytes();
        let again = SessionRecord::from_bytes(&bytes).expect("own output reads");
        assert_eq!(*again.to_bytes(), *bytes);
    }
    let _ = SenderKeyRecord::from_bytes(data);
    // Strict unpadding: what it accepts is 1 to 16 bytes, each holding the count.
    if let Ok(message) = unpad(data) {
        let count = data.len() - message.len();
        assert!((1..=16).contains(&count));
        assert!(
            data[message.len()..]
                .iter()
                .all(|&b| usize::from(b) == count)
        );
    }
    // The bundle's fields, cut at lengths taken from the first bytes.
    if let [a, b, c, d, e, f, g, rest @ ..] = data {
        let mut rest = rest;
        let mut take = |n: u8| {
            let n = usize::from(n % 80).min(rest.len());
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head
        };
        let fields = [
            take(*a),
            take(*b),
            take(*c),
            take(*d),
            take(*e),
            take(*f),
            take(*g),
        ];
        let pre_key = (!fields[6].is_empty()).then_some((fields[5], fields[6]));
        if let Ok(bundle) = PreKeyBundle::from_wire_fields(
            fields[0], fields[1], fields[2], fields[3], fields[4], pre_key,
        ) {
            let _ = bundle.verify();
        }
    }
});
