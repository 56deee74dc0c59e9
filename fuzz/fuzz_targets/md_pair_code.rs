//! The pair-code path of the companion's session machine: after `request_pair_code`, the
//! server's answer to `companion_hello` and the phone's `link_code_companion_reg` notification
//! are built from the input (pairing refs, the wrapped primary ephemeral key, the primary
//! identity), either raw or wrapped under the real code so the input reaches the key exchange;
//! a mode also feeds the input decoded as a node. Fuzz builds derive the code key with 2 PBKDF2
//! rounds instead of 131,072 (`cfg(fuzzing)` in wa-core), so each input costs microseconds.
//! Never panics; a notification for another ref never changes the ADV secret; nothing pairs
//! without a `pair-success`.
#![no_main]

mod common;

use common::Counter;
use libfuzzer_sys::fuzz_target;
use wa_binary::{Codec, Node};
use wa_core::md::pair_code;
use wa_core::md::{Credentials, MdEvent, MdSession, SessionConfig};

/// Splits the input into length-prefixed fields (a missing field is empty).
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, max: usize) -> &'a [u8] {
        let Some((&len, rest)) = self.0.split_first() else {
            return &[];
        };
        let len = usize::from(len).min(max).min(rest.len());
        let (field, rest) = rest.split_at(len);
        self.0 = rest;
        field
    }
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = bytes.len().min(N);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

fuzz_target!(|data: &[u8]| {
    let mut rng = Counter(13);
    let mut session = MdSession::new(
        Credentials::generate(&mut rng),
        SessionConfig::default(),
        &mut rng,
    );
    session.connected(0);
    let code = session
        .request_pair_code("+15550001111", &mut rng)
        .expect("an unpaired connected session asks for a code");
    let mut hello_id = String::new();
    while let Some(sent) = session.poll_transmit() {
        if let Some(id) = sent.optional_str("id") {
            hello_id = id.to_owned();
        }
    }
    while session.poll_event().is_some() {}
    let secret_before = *session.credentials().adv_secret;

    let mut fields = Fields(data);
    let flags = fields.byte();
    if flags & 0x80 != 0 {
        // Raw: the input as a node, as the hello's answer and as a notification.
        let rest = fields.0;
        if let Ok(mut node) = Codec::multi_device().decode(rest) {
            session.handle_node(&node, 1, &mut rng);
            node.attrs.set("id", hello_id.clone());
            session.handle_node(&node, 2, &mut rng);
        }
    } else {
        let hello_ref = fields.take(64).to_vec();
        let other_ref = fields.take(64).to_vec();
        let wrapped_raw = fields.take(160).to_vec();
        let identity = fields.take(40).to_vec();
        let primary_eph = array::<32>(fields.take(32));
        // The server's answer to companion_hello, with its ref (or none).
        let mut reg = Node::new("link_code_companion_reg");
        if flags & 1 != 0 {
            reg = reg.children([Node::new("link_code_pairing_ref").bytes(hello_ref.clone())]);
        }
        let answer = Node::new("iq")
            .attr("id", hello_id.as_str())
            .attr("type", "result")
            .children([reg]);
        session.handle_node(&answer, 1, &mut rng);
        assert!(session.pair_code_answered());

        let notification_ref = if flags & 2 != 0 {
            hello_ref.clone()
        } else {
            other_ref
        };
        let wrapped = if flags & 4 != 0 {
            // Wrapped under the real code: the fuzzed key reaches the X25519 exchange.
            let salt = array::<32>(&wrapped_raw);
            let iv = array::<16>(wrapped_raw.get(32..).unwrap_or_default());
            pair_code::wrap_public(&code, &salt, &iv, &primary_eph)
        } else {
            wrapped_raw
        };
        let mut children = Vec::new();
        if flags & 8 == 0 {
            children.push(Node::new("link_code_pairing_ref").bytes(notification_ref.clone()));
        }
        if flags & 16 == 0 {
            children
                .push(Node::new("link_code_pairing_wrapped_primary_ephemeral_pub").bytes(wrapped));
        }
        if flags & 32 == 0 {
            children.push(Node::new("primary_identity_pub").bytes(identity));
        }
        let notification = Node::new("notification")
            .attr("id", "n1")
            .attr("type", "link_code_companion_reg")
            .attr("from", "s.whatsapp.net")
            .children([Node::new("link_code_companion_reg").children(children)]);
        session.handle_node(&notification, 2, &mut rng);
        // The same notification twice must not derive a second secret either way.
        let changed = *session.credentials().adv_secret != secret_before;
        let refs_differ = flags & 1 != 0 && flags & 8 == 0 && notification_ref != hello_ref;
        if refs_differ {
            assert!(
                !changed,
                "a notification for another ref changed the ADV secret"
            );
        }
        let mut credentials_changed = false;
        while let Some(event) = session.poll_event() {
            credentials_changed |= matches!(event, MdEvent::CredentialsChanged);
        }
        assert_eq!(
            changed, credentials_changed,
            "the secret changed without telling the store"
        );
    }
    assert!(
        !session.credentials().is_paired(),
        "paired without a pair-success"
    );
    while session.poll_transmit().is_some() {}
    while session.poll_event().is_some() {}
    session.handle_timeout(u64::MAX);
});
