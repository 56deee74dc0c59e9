//! Generators for the Signal chapter: a session and a group message made by wa-signal from
//! fixed seeds, dissected byte by byte.

use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_proto::prost::Message as _;
use wa_proto::signal as pb;
use wa_signal::{
    IdentityStore as _, InMemoryStore, KeyPair, MAC_LEN, MAX_FORWARD_JUMP, MAX_PREVIOUS_SESSIONS,
    MAX_RECEIVER_CHAINS, MAX_SENDER_KEY_STATES, MAX_SKIPPED_KEYS, PreKey, PreKeyBundle,
    PreKeyStore as _, ProtocolAddress, PublicKey, SenderKeyName, SignedPreKey,
    SignedPreKeyStore as _, create_sender_key_distribution, decrypt, encrypt, group_encrypt,
    process_pre_key_bundle, process_sender_key_distribution,
};

use super::{Dump, Generator, fenced, table};

pub(crate) const GENERATORS: [(&str, Generator); 4] = [
    ("signal-bounds", bounds),
    ("signal-pkmsg", pkmsg),
    ("signal-msg", msg),
    ("signal-group", group),
];

fn bounds() -> Result<String, String> {
    let rows = [
        (
            "`MAX_FORWARD_JUMP`",
            MAX_FORWARD_JUMP as usize,
            "how far ahead of its chain a message (or group iteration) may be",
        ),
        (
            "`MAX_SKIPPED_KEYS`",
            MAX_SKIPPED_KEYS,
            "skipped message keys kept per session and per sender-key state (oldest dropped)",
        ),
        (
            "`MAX_RECEIVER_CHAINS`",
            MAX_RECEIVER_CHAINS,
            "the peer's ratchet chains kept per session",
        ),
        (
            "`MAX_PREVIOUS_SESSIONS`",
            MAX_PREVIOUS_SESSIONS,
            "previous sessions kept per peer device",
        ),
        (
            "`MAX_SENDER_KEY_STATES`",
            MAX_SENDER_KEY_STATES,
            "sender-key states kept per (group, sender)",
        ),
    ];
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(n, v, m)| vec![n.to_string(), v.to_string(), m.to_string()])
        .collect();
    Ok(table(&["bound", "value", "what"], &rows))
}

struct Device {
    store: InMemoryStore,
    rng: StdRng,
    address: ProtocolAddress,
}

fn device(name: &str, seed: u64) -> Device {
    let mut rng = StdRng::seed_from_u64(seed);
    let identity = KeyPair::generate(&mut rng);
    Device {
        store: InMemoryStore::new(identity, 1000 + seed as u32),
        rng,
        address: ProtocolAddress::new(name, 1),
    }
}

/// Alice's first message to Bob (a `pkmsg`) and Bob's answer (a `msg`), from fixed seeds.
fn conversation() -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut alice = device("alice", 1);
    let mut bob = device("bob", 2);
    let bob_identity = bob.store.local_identity().map_err(|e| e.to_string())?;
    let signed = SignedPreKey::generate(&bob_identity, 7, &mut bob.rng);
    let one_time = PreKey::generate(42, &mut bob.rng);
    bob.store
        .store_signed_pre_key(&signed)
        .map_err(|e| e.to_string())?;
    bob.store
        .store_pre_key(&one_time)
        .map_err(|e| e.to_string())?;
    let bundle = PreKeyBundle {
        registration_id: 1002,
        identity_key: PublicKey::of(&bob_identity),
        signed_pre_key_id: 7,
        signed_pre_key: PublicKey::of(&signed.key_pair),
        signed_pre_key_signature: signed.signature,
        pre_key: Some((42, PublicKey::of(&one_time.key_pair))),
    };
    process_pre_key_bundle(&mut alice.store, &bob.address, &bundle, &mut alice.rng)
        .map_err(|e| e.to_string())?;
    let first =
        encrypt(&mut alice.store, &bob.address, b"hello, bob").map_err(|e| e.to_string())?;
    decrypt(
        &mut bob.store,
        &alice.address,
        first.kind,
        &first.bytes,
        &mut bob.rng,
    )
    .map_err(|e| e.to_string())?;
    let answer = encrypt(&mut bob.store, &alice.address, b"hi").map_err(|e| e.to_string())?;
    Ok((first.bytes, answer.bytes))
}

/// Appends one protobuf field's bytes (the message with only that field, encoded).
fn field(dump: &mut Dump, consumed: &mut Vec<u8>, encoded: Vec<u8>, meaning: String) {
    dump.add(&encoded, meaning);
    consumed.extend_from_slice(&encoded);
}

fn check(consumed: &[u8], actual: &[u8], what: &str) -> Result<(), String> {
    if consumed == actual {
        Ok(())
    } else {
        Err(format!(
            "{what}: field-by-field dissection does not add up to the message"
        ))
    }
}

fn signal_message_dump(dump: &mut Dump, bytes: &[u8]) -> Result<(), String> {
    let body = &bytes[1..bytes.len() - MAC_LEN];
    let m = pb::SignalMessage::decode(body).map_err(|e| e.to_string())?;
    let mut consumed = vec![bytes[0]];
    dump.add(&bytes[..1], "version byte 0x33: version 3, minimum 3");
    let one = |f: pb::SignalMessage| f.encode_to_vec();
    field(
        dump,
        &mut consumed,
        one(pb::SignalMessage {
            ratchet_key: m.ratchet_key.clone(),
            ..Default::default()
        }),
        "field 1 ratchet_key: 0x05 ‖ the sender's ratchet public key".into(),
    );
    field(
        dump,
        &mut consumed,
        one(pb::SignalMessage {
            counter: m.counter,
            ..Default::default()
        }),
        format!("field 2 counter = {}", m.counter.unwrap_or(0)),
    );
    field(
        dump,
        &mut consumed,
        one(pb::SignalMessage {
            previous_counter: m.previous_counter,
            ..Default::default()
        }),
        format!(
            "field 3 previous_counter = {}",
            m.previous_counter.unwrap_or(0)
        ),
    );
    field(
        dump,
        &mut consumed,
        one(pb::SignalMessage {
            ciphertext: m.ciphertext.clone(),
            ..Default::default()
        }),
        "field 4 ciphertext: AES-256-CBC, PKCS#7".into(),
    );
    dump.add(
        &bytes[bytes.len() - MAC_LEN..],
        "MAC: HMAC-SHA256(mac key, sender id ‖ receiver id ‖ above)[..8]",
    );
    consumed.extend_from_slice(&bytes[bytes.len() - MAC_LEN..]);
    check(&consumed, bytes, "SignalMessage")
}

fn pkmsg() -> Result<String, String> {
    let (first, _) = conversation()?;
    let m = pb::PreKeySignalMessage::decode(&first[1..]).map_err(|e| e.to_string())?;
    let mut dump = Dump::new();
    let mut consumed = vec![first[0]];
    dump.add(&first[..1], "version byte 0x33");
    let one = |f: pb::PreKeySignalMessage| f.encode_to_vec();
    // prost writes fields in tag order.
    field(
        &mut dump,
        &mut consumed,
        one(pb::PreKeySignalMessage {
            pre_key_id: m.pre_key_id,
            ..Default::default()
        }),
        format!("field 1 pre_key_id = {}", m.pre_key_id.unwrap_or(0)),
    );
    field(
        &mut dump,
        &mut consumed,
        one(pb::PreKeySignalMessage {
            base_key: m.base_key.clone(),
            ..Default::default()
        }),
        "field 2 base_key: 0x05 ‖ Alice's ephemeral key".into(),
    );
    field(
        &mut dump,
        &mut consumed,
        one(pb::PreKeySignalMessage {
            identity_key: m.identity_key.clone(),
            ..Default::default()
        }),
        "field 3 identity_key: 0x05 ‖ Alice's identity key".into(),
    );
    let inner = m.message.clone().unwrap_or_default();
    let whole = one(pb::PreKeySignalMessage {
        message: Some(inner.clone()),
        ..Default::default()
    });
    let header = &whole[..whole.len() - inner.len()];
    dump.add(
        header,
        format!(
            "field 4 message: tag and length ({} bytes follow)",
            inner.len()
        ),
    );
    dump.add(&inner, "the SignalMessage (below)");
    consumed.extend_from_slice(&whole);
    field(
        &mut dump,
        &mut consumed,
        one(pb::PreKeySignalMessage {
            registration_id: m.registration_id,
            ..Default::default()
        }),
        format!(
            "field 5 registration_id = {}",
            m.registration_id.unwrap_or(0)
        ),
    );
    field(
        &mut dump,
        &mut consumed,
        one(pb::PreKeySignalMessage {
            signed_pre_key_id: m.signed_pre_key_id,
            ..Default::default()
        }),
        format!(
            "field 6 signed_pre_key_id = {}",
            m.signed_pre_key_id.unwrap_or(0)
        ),
    );
    check(&consumed, &first, "PreKeySignalMessage")?;
    let mut inner_dump = Dump::new();
    signal_message_dump(&mut inner_dump, &inner)?;
    Ok(format!(
        "{}\n\nThe SignalMessage inside (field 4):\n\n{}",
        fenced("text", &dump.render()),
        fenced("text", &inner_dump.render())
    ))
}

fn msg() -> Result<String, String> {
    let (_, answer) = conversation()?;
    let mut dump = Dump::new();
    signal_message_dump(&mut dump, &answer)?;
    Ok(fenced("text", &dump.render()))
}

fn group() -> Result<String, String> {
    let mut alice = device("alice", 3);
    let mut bob = device("bob", 4);
    let name = SenderKeyName {
        group_id: "120363000000000001@g.us".into(),
        sender: alice.address.clone(),
    };
    let skdm = create_sender_key_distribution(&mut alice.store, &name, &mut alice.rng)
        .map_err(|e| e.to_string())?;
    process_sender_key_distribution(&mut bob.store, &name, &skdm).map_err(|e| e.to_string())?;
    let skmsg = group_encrypt(&mut alice.store, &name, b"hello, group", &mut alice.rng)
        .map_err(|e| e.to_string())?;
    let skdm_bytes = skdm.serialize();

    let d =
        pb::SenderKeyDistributionMessage::decode(&skdm_bytes[1..]).map_err(|e| e.to_string())?;
    let mut dump = Dump::new();
    let mut consumed = vec![skdm_bytes[0]];
    dump.add(&skdm_bytes[..1], "version byte 0x33");
    let one = |f: pb::SenderKeyDistributionMessage| f.encode_to_vec();
    field(
        &mut dump,
        &mut consumed,
        one(pb::SenderKeyDistributionMessage {
            id: d.id,
            ..Default::default()
        }),
        format!("field 1 id = {} (random, 31 bits)", d.id.unwrap_or(0)),
    );
    field(
        &mut dump,
        &mut consumed,
        one(pb::SenderKeyDistributionMessage {
            iteration: d.iteration,
            ..Default::default()
        }),
        format!("field 2 iteration = {}", d.iteration.unwrap_or(0)),
    );
    field(
        &mut dump,
        &mut consumed,
        one(pb::SenderKeyDistributionMessage {
            chain_key: d.chain_key.clone(),
            ..Default::default()
        }),
        "field 3 chain_key (secret: travels only inside 1:1 Signal messages)".into(),
    );
    field(
        &mut dump,
        &mut consumed,
        one(pb::SenderKeyDistributionMessage {
            signing_key: d.signing_key.clone(),
            ..Default::default()
        }),
        "field 4 signing_key: 0x05 ‖ the sender's signing public key".into(),
    );
    check(&consumed, &skdm_bytes, "SenderKeyDistributionMessage")?;

    let sig_at = skmsg.len() - 64;
    let s = pb::SenderKeyMessage::decode(&skmsg[1..sig_at]).map_err(|e| e.to_string())?;
    let mut dump2 = Dump::new();
    let mut consumed = vec![skmsg[0]];
    dump2.add(&skmsg[..1], "version byte 0x33");
    let one = |f: pb::SenderKeyMessage| f.encode_to_vec();
    field(
        &mut dump2,
        &mut consumed,
        one(pb::SenderKeyMessage {
            id: s.id,
            ..Default::default()
        }),
        format!("field 1 id = {}", s.id.unwrap_or(0)),
    );
    field(
        &mut dump2,
        &mut consumed,
        one(pb::SenderKeyMessage {
            iteration: s.iteration,
            ..Default::default()
        }),
        format!("field 2 iteration = {}", s.iteration.unwrap_or(0)),
    );
    field(
        &mut dump2,
        &mut consumed,
        one(pb::SenderKeyMessage {
            ciphertext: s.ciphertext.clone(),
            ..Default::default()
        }),
        "field 3 ciphertext: AES-256-CBC, PKCS#7".into(),
    );
    dump2.add(
        &skmsg[sig_at..],
        "XEdDSA signature by the signing key over all of the above",
    );
    consumed.extend_from_slice(&skmsg[sig_at..]);
    check(&consumed, &skmsg, "SenderKeyMessage")?;
    Ok(format!(
        "The distribution message:\n\n{}\n\nThe first group message (`skmsg`):\n\n{}",
        fenced("text", &dump.render()),
        fenced("text", &dump2.render())
    ))
}
