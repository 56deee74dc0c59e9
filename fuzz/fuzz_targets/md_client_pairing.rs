//! Pairing and login stanzas fed to the companion's session machine: arbitrary bytes decoded as
//! nodes (multi-device dictionary) and handed to sessions waiting for a pairing, waiting for a
//! login, and logged in with every request pending; plus the ADV container, digest, count and
//! stream-error parsers directly. Never panics; an unauthenticated pair-success never pairs.
#![no_main]

mod common;

use common::Counter;
use libfuzzer_sys::fuzz_target;
use wa_binary::{Codec, Node};
use wa_core::md::adv;
use wa_core::md::prekeys;
use wa_core::md::{Credentials, MdSession, SessionConfig, StreamError};

fn paired_creds(rng: &mut Counter) -> Credentials {
    let mut creds = common::paired_credentials(rng, "15550001111:2@s.whatsapp.net");
    creds.prekeys_uploaded = true;
    creds
}

fuzz_target!(|data: &[u8]| {
    let mut rng = Counter(7);
    let _ = adv::verify_and_sign(
        data,
        &[9; 32],
        &wa_crypto::KeyPair::from_private_bytes([4; 32]),
        &mut rng,
    );
    let _ = Credentials::from_bytes(data);

    let Ok(node) = Codec::multi_device().decode(data) else {
        return;
    };
    let _ = StreamError::parse(&node);
    let _ = prekeys::parse_count(&node);
    let _ = prekeys::parse_digest(&node);

    // Waiting for a pairing, after a pair-device.
    let mut pairing = MdSession::new(
        Credentials::generate(&mut rng),
        SessionConfig::default(),
        &mut rng,
    );
    pairing.connected(0);
    let pair_device = Node::new("iq")
        .attr("id", "1")
        .attr("type", "set")
        .children([Node::new("pair-device").children([Node::new("ref").bytes(b"r".to_vec())])]);
    pairing.handle_node(&pair_device, 0, &mut rng);
    pairing.handle_node(&node, 1, &mut rng);
    assert!(
        !pairing.credentials().is_paired(),
        "paired without the ADV secret"
    );
    while pairing.poll_transmit().is_some() {}
    while pairing.poll_event().is_some() {}
    pairing.handle_timeout(u64::MAX);

    // Logging in, then online with count, passive, digest and ping pending; the node is also
    // re-sent with each pending id so it lands as their answers.
    let mut online = MdSession::new(paired_creds(&mut rng), SessionConfig::default(), &mut rng);
    online.connected(0);
    online.handle_node(&node, 0, &mut rng);
    online.handle_node(&Node::new("success"), 0, &mut rng);
    online.handle_timeout(30_000);
    let mut ids = Vec::new();
    while let Some(sent) = online.poll_transmit() {
        if let Some(id) = sent.optional_str("id") {
            ids.push(id.to_owned());
        }
    }
    for id in ids {
        let mut answer = node.clone();
        answer.attrs.set("id", id);
        online.handle_node(&answer, 30_001, &mut rng);
        while online.poll_transmit().is_some() {}
    }
    while online.poll_event().is_some() {}
    online.handle_timeout(u64::MAX);
});
