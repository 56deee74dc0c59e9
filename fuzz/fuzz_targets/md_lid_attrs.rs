//! LID addressing attributes: arbitrary values in `from`, `participant`, `sender_pn`,
//! `sender_lid`, `participant_pn`, `participant_lid`, `recipient`, `peer_recipient_pn`,
//! `peer_recipient_lid`, `recipient_pn` and `addressing_mode` of a `message` (and arbitrary bytes
//! decoded as a node). Never panics; whatever is accepted teaches only pairs of 1..=20-digit user
//! parts, and the map learned into wa-store stays one-to-one both ways.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_binary::{Codec, Jid, Node};
use wa_core::md::lid::{self, Addressing};
use wa_core::md::store::LidStore as _;

const ATTRS: [&str; 11] = [
    "from",
    "participant",
    "sender_pn",
    "sender_lid",
    "participant_pn",
    "participant_lid",
    "recipient",
    "peer_recipient_pn",
    "peer_recipient_lid",
    "recipient_pn",
    "addressing_mode",
];

fn digits(s: &str) -> bool {
    (1..=lid::MAX_USER_DIGITS).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn check(node: &Node, store: &mut wa_store::Store) {
    let Ok(addressing) = Addressing::parse(node) else {
        return;
    };
    for pair in addressing.pairs() {
        assert!(digits(&pair.lid) && digits(&pair.pn), "{pair:?}");
        lid::learn(store, &pair).unwrap();
        assert_eq!(
            store.pn_for_lid(&pair.lid).unwrap().as_deref(),
            Some(pair.pn.as_str())
        );
        assert_eq!(
            store.lid_for_pn(&pair.pn).unwrap().as_deref(),
            Some(pair.lid.as_str())
        );
    }
    // The session address of whatever sent it resolves without panicking.
    let _ = lid::session_address(store, &addressing.sender).unwrap();
    if let Some(alt) = &addressing.sender_alt {
        assert_eq!(
            alt.device, addressing.sender.device,
            "the alternative is the same device"
        );
        let _: Option<Jid> = lid::alternative(store, alt).unwrap();
    }
}

fuzz_target!(|data: &[u8]| {
    let mut store = wa_store::Store::memory();
    // Chunks separated by 0xFF: the first byte of each picks the attribute, the rest is its value.
    let mut node = Node::new("message")
        .attr("id", "F1")
        .attr("from", "100000000000042:2@lid");
    for chunk in data.split(|&b| b == 0xFF) {
        if let Some((&pick, value)) = chunk.split_first() {
            let attr = ATTRS[usize::from(pick) % ATTRS.len()];
            node = node.attr(attr, String::from_utf8_lossy(value).into_owned());
        }
    }
    check(&node, &mut store);
    if let Ok(decoded) = Codec::multi_device().decode(data) {
        check(&decoded, &mut store);
    }
});
