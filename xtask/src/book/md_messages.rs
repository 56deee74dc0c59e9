//! Generators for the messaging chapter (md-06): the device-list query and answer, a bundle
//! answer, an outgoing message with two `pkmsg` copies and the device identity, the `phash`, a
//! retry receipt, typed content (`md::content`) as protobuf bytes, computed by wa-core's `md::usync` and `md::stanza` with wa-signal sessions from
//! fixed seeds.

use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_binary::{Codec, Node};
use wa_core::md::Credentials;
use wa_core::md::stanza::{self, EncPart, RetryKeys};
use wa_core::md::usync::{self, UserDevices};
use wa_signal::{InMemoryStore, PreKeyBundle, ProtocolAddress, PublicKey};

use super::{Dump, Generator, fenced, table};

pub(crate) const GENERATORS: [(&str, Generator); 5] = [
    ("md-content", md_content),
    ("md-usync", md_usync),
    ("md-message", md_message),
    ("md-retry-receipt", md_retry_receipt),
    ("md-phash", md_phash),
];

fn encode(node: &Node) -> Result<Vec<u8>, String> {
    Codec::multi_device()
        .encode(node)
        .map_err(|e| e.to_string())
}

fn iq(id: &str, xmlns: &str, kind: &str, child: Node) -> Node {
    Node::new("iq")
        .attr("id", id)
        .attr("to", "s.whatsapp.net")
        .attr("xmlns", xmlns)
        .attr("type", kind)
        .children([child])
}

fn md_usync() -> Result<String, String> {
    let query = iq(
        "1",
        "usync",
        "get",
        usync::device_query("s1", &["15550000002@s.whatsapp.net".into()]),
    );
    let answer = Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("id", "1")
        .attr("type", "result")
        .children([usync::device_answer(
            "s1",
            &[UserDevices {
                user: "15550000002@s.whatsapp.net".into(),
                devices: vec![0, 1, 4],
                lid: Some("100000000000042@lid".into()),
            }],
        )]);
    let mut dump = Dump::new();
    dump.add(&encode(&query)?, "usync get: devices v2 + lid for one user");
    let mut reply = Dump::new();
    reply.add(
        &encode(&answer)?,
        "result: devices 0, 1, 4 (key-index) and the LID",
    );
    let parsed = usync::parse_device_answer(&answer).map_err(|e| e.to_string())?;
    Ok(format!(
        "{}\n{}\nParsed back: devices `{:?}`, LID `{}`.",
        fenced("text", &dump.render()),
        fenced("text", &reply.render()),
        parsed[0].devices,
        parsed[0].lid.as_deref().unwrap_or_default()
    ))
}

fn bundle_of(creds: &Credentials, prekey: (u32, [u8; 32])) -> PreKeyBundle {
    PreKeyBundle {
        registration_id: creds.registration_id,
        identity_key: PublicKey::of(&creds.identity),
        signed_pre_key_id: creds.signed_prekey.id,
        signed_pre_key: PublicKey::of(&creds.signed_prekey.key_pair),
        signed_pre_key_signature: creds.signed_prekey.signature,
        pre_key: Some((prekey.0, PublicKey(prekey.1))),
    }
}

fn md_message() -> Result<String, String> {
    let mut rng = StdRng::seed_from_u64(61);
    let sender = Credentials::generate(&mut rng);
    let peer = Credentials::generate(&mut rng);
    let own = Credentials::generate(&mut rng);
    let mut store = InMemoryStore::new(sender.identity.clone(), sender.registration_id);
    let peer_bundle = bundle_of(&peer, (7, [0x42; 32]));
    let key_answer = Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("id", "2")
        .attr("type", "result")
        .children([Node::new("list").children([usync::bundle_node(
            "15550000002:1@s.whatsapp.net",
            &peer_bundle,
        )])]);
    let mut parts = Vec::new();
    for (jid, creds) in [
        ("15550000001:2@s.whatsapp.net", &own),
        ("15550000002:1@s.whatsapp.net", &peer),
    ] {
        let address = ProtocolAddress::new(jid.split([':', '@']).next().unwrap_or_default(), 1);
        let bundle = bundle_of(creds, (7, creds.signed_prekey.key_pair.public_bytes()));
        wa_signal::process_pre_key_bundle(&mut store, &address, &bundle, &mut rng)
            .map_err(|e| e.to_string())?;
        // `conversation: "hi"`, padded as WhatsApp pads (here 1..16 random bytes).
        let padded = wa_signal::pad(&[0x0A, 0x02, b'h', b'i'], &mut rng);
        let c = wa_signal::encrypt(&mut store, &address, &padded).map_err(|e| e.to_string())?;
        parts.push(EncPart {
            device: jid.to_owned(),
            kind: c.kind,
            ciphertext: c.bytes,
        });
    }
    let devices: Vec<&str> = parts.iter().map(|p| p.device.as_str()).collect();
    let phash = stanza::phash(&devices);
    let node = stanza::message_node(
        "3EB0B00C0FFEE0000000AA",
        "15550000002@s.whatsapp.net",
        &parts,
        Some(&[0x0A, 0x02, 0x08, 0x01]),
        Some(&phash),
    );
    let bytes = encode(&node)?;
    let mut dump = Dump::new();
    dump.add(
        &bytes,
        "message: participants (2 × to/enc v=2 pkmsg), device-identity, phash",
    );
    let mut keys = Dump::new();
    keys.add(
        &encode(&key_answer)?,
        "result: list/user with registration, type, identity, skey, key",
    );
    Ok(format!(
        "A bundle answer for one device:\n\n{}\nThe message to `15550000002@s.whatsapp.net` with \
         a copy for the peer's device 1 and one for our own device 2 encodes to {} bytes (the \
         ciphertexts are {} and {} bytes):\n\n{}",
        fenced("text", &keys.render()),
        bytes.len(),
        parts[0].ciphertext.len(),
        parts[1].ciphertext.len(),
        fenced("text", &dump.render())
    ))
}

fn md_retry_receipt() -> Result<String, String> {
    let creds = Credentials::generate(&mut StdRng::seed_from_u64(62));
    let keys = RetryKeys {
        registration_id: creds.registration_id,
        identity: creds.identity.public_bytes(),
        prekey: None,
        signed_prekey: (
            creds.signed_prekey.id,
            creds.signed_prekey.key_pair.public_bytes(),
            creds.signed_prekey.signature,
        ),
        device_identity: vec![0x0A, 0x02, 0x08, 0x01],
    };
    let node = stanza::retry_receipt(
        "3EB0B00C0FFEE0000000AA",
        "15550000001:1@s.whatsapp.net",
        1,
        1_735_689_600,
        &keys,
    );
    let bytes = encode(&node)?;
    let mut dump = Dump::new();
    dump.add(&bytes, "receipt type=retry: retry, registration, keys");
    let usable = stanza::retry_bundle(&node).is_some();
    Ok(format!(
        "{}\nThe sender reads a bundle back from it (`stanza::retry_bundle`): {}.",
        fenced("text", &dump.render()),
        if usable { "yes" } else { "no" }
    ))
}

fn md_phash() -> Result<String, String> {
    let cases: [&[&str]; 3] = [
        &["15550000002:1@s.whatsapp.net"],
        &[
            "15550000001:2@s.whatsapp.net",
            "15550000002:1@s.whatsapp.net",
        ],
        &[
            "15550000002:1@s.whatsapp.net",
            "15550000001:2@s.whatsapp.net",
        ],
    ];
    let rows: Vec<Vec<String>> = cases
        .iter()
        .map(|c| {
            vec![
                format!("`{}`", c.join("`, `")),
                format!("`{}`", stanza::phash(c)),
            ]
        })
        .collect();
    Ok(table(&["devices", "phash"], &rows))
}

/// Typed content as the protobuf bytes of its `Message` (what is padded and encrypted per device).
fn md_content() -> Result<String, String> {
    use wa_core::md::content::ContactCard;
    use wa_core::md::{Content, MessageRef, Quote};
    use wa_proto::prost::Message as _;
    let target = MessageRef {
        chat: "15550000002@s.whatsapp.net".into(),
        from_me: false,
        id: "3EB0A1".into(),
        participant: None,
    };
    let kinds = [
        ("text", Content::Text("hi".into())),
        (
            "reply (quote)",
            Content::reply(
                "ok",
                Quote {
                    id: "3EB0A1".into(),
                    sender: "15550000002@s.whatsapp.net".into(),
                    message: Box::new(Content::Text("hi".into()).to_message()),
                },
            ),
        ),
        (
            "reaction",
            Content::reaction(target.clone(), "👍", 1_700_000_000_000),
        ),
        (
            "reaction removed",
            Content::reaction(target.clone(), "", 1_700_000_000_001),
        ),
        ("revoke", Content::Revoke { target }),
        (
            "ephemeral on (7 days)",
            Content::EphemeralSetting { seconds: 604_800 },
        ),
        (
            "location",
            Content::Location {
                latitude: 48.8584,
                longitude: 2.2945,
                name: None,
                address: None,
            },
        ),
        (
            "contact",
            Content::Contact(ContactCard {
                display_name: "Ada".into(),
                vcard: "BEGIN:VCARD\nFN:Ada\nEND:VCARD".into(),
            }),
        ),
    ];
    let mut out = String::new();
    for (name, content) in kinds {
        let bytes = content.to_message().encode_to_vec();
        let mut dump = Dump::new();
        dump.add(&bytes, name);
        out.push_str(&dump.render());
        out.push('\n');
    }
    Ok(fenced("text", &out))
}
