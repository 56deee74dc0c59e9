//! The companion's session machine stepped through QR pairing, the 515 restart, login, prekey
//! upload, digest, keepalive, pair-code linking and every refusal, against a small primary
//! (phone + server) written here. No IO: nodes in, nodes and events out.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_binary::Node;
use wa_core::md::adv::{self, AdvError, device_signature_message};
use wa_core::md::pair_code::{self, PairCodeError};
use wa_core::md::prekeys::{self, INITIAL_UPLOAD, WANTED_COUNT};
use wa_core::md::{
    Credentials, MdEvent, MdSession, NextStep, PairError, SessionConfig, StreamError,
};
use wa_crypto::{KeyPair, xeddsa_verify};
use wa_proto::prost::Message as _;
use wa_proto::proto::{AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac};

const PHONE: &str = "15550001111";

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Everything the session queued.
fn drain(session: &mut MdSession) -> (Vec<Node>, Vec<MdEvent>) {
    let mut nodes = Vec::new();
    let mut events = Vec::new();
    while let Some(n) = session.poll_transmit() {
        nodes.push(n);
    }
    while let Some(e) = session.poll_event() {
        events.push(e);
    }
    (nodes, events)
}

fn server_iq(id: &str, kind: &str, child: Node) -> Node {
    Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("id", id)
        .attr("type", kind)
        .attr("xmlns", "md")
        .children([child])
}

fn result_for(request: &Node, children: Vec<Node>) -> Node {
    let node = Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("id", request.optional_str("id").unwrap())
        .attr("type", "result");
    if children.is_empty() {
        node
    } else {
        node.children(children)
    }
}

/// The simulated phone: its account key and what it read from a QR.
struct Primary {
    account: KeyPair,
    identity: KeyPair,
}

struct ScannedQr {
    identity: [u8; 32],
    adv_secret: [u8; 32],
}

impl Primary {
    fn new(seed: u64) -> Primary {
        let mut r = rng(seed);
        Primary {
            account: KeyPair::generate(&mut r),
            identity: KeyPair::generate(&mut r),
        }
    }

    fn scan(qr: &str) -> ScannedQr {
        let body = qr.rsplit('#').next().unwrap();
        let fields: Vec<&str> = body.split(',').collect();
        assert_eq!(fields.len(), 5, "{qr}");
        let decode = |s: &str| -> [u8; 32] { STANDARD.decode(s).unwrap().try_into().unwrap() };
        ScannedQr {
            identity: decode(fields[2]),
            adv_secret: decode(fields[3]),
        }
    }

    fn identity(key_index: u32) -> AdvDeviceIdentity {
        AdvDeviceIdentity {
            raw_id: Some(77),
            timestamp: Some(1_700_000_000),
            key_index: Some(key_index),
            account_type: None,
            device_type: None,
        }
    }

    fn pair_success(&self, id: &str, container: Vec<u8>) -> Node {
        server_iq(
            id,
            "set",
            Node::new("pair-success").children([
                Node::new("device-identity").bytes(container),
                Node::new("device")
                    .attr("jid", format!("{PHONE}:4@s.whatsapp.net"))
                    .attr("lid", "998877:4@lid"),
                Node::new("platform").attr("name", "android"),
            ]),
        )
    }

    fn sign_for(&self, companion: &[u8; 32], adv_secret: &[u8; 32], seed: u64) -> Vec<u8> {
        adv::primary_sign(
            &self.account,
            companion,
            adv_secret,
            Primary::identity(4),
            &mut rng(seed),
        )
    }
}

fn qr_codes(events: &[MdEvent]) -> Vec<(String, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            MdEvent::Qr { code, expires_at } => Some((code.clone(), *expires_at)),
            _ => None,
        })
        .collect()
}

/// A fresh session connected unpaired, after `pair-device` with three refs at t=1000.
fn pairing_session(seed: u64) -> (MdSession, String) {
    let mut r = rng(seed);
    let creds = Credentials::generate(&mut r);
    let mut session = MdSession::new(creds, SessionConfig::default(), &mut r);
    assert!(session.client_payload().device_pairing_data.is_some());
    session.connected(1_000);
    let pair_device = server_iq(
        "pd1",
        "set",
        Node::new("pair-device").children([
            Node::new("ref").bytes(b"REF-A".to_vec()),
            Node::new("ref").bytes(b"REF-B".to_vec()),
            Node::new("ref").bytes(b"REF-C".to_vec()),
        ]),
    );
    session.handle_node(&pair_device, 1_000, &mut r);
    let (nodes, events) = drain(&mut session);
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].optional_str("type"), Some("result"));
    assert_eq!(nodes[0].optional_str("id"), Some("pd1"));
    let codes = qr_codes(&events);
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].1, 61_000, "first ref shown 60 s");
    (session, codes[0].0.clone())
}

#[test]
fn qr_refs_rotate_then_run_out() {
    let (mut session, first) = pairing_session(1);
    assert!(first.starts_with("https://wa.me/settings/linked_devices#REF-A,"));
    assert!(first.ends_with(",1"));
    assert_eq!(session.poll_timeout(), Some(61_000));
    session.handle_timeout(60_999);
    assert!(drain(&mut session).1.is_empty());
    session.handle_timeout(61_000);
    let codes = qr_codes(&drain(&mut session).1);
    assert_eq!(codes.len(), 1);
    assert!(codes[0].0.contains("#REF-B,"));
    assert_eq!(codes[0].1, 81_000, "later refs shown 20 s");
    session.handle_timeout(81_000);
    assert!(qr_codes(&drain(&mut session).1)[0].0.contains("#REF-C,"));
    session.handle_timeout(101_000);
    let (_, events) = drain(&mut session);
    assert!(matches!(events[..], [MdEvent::QrExhausted]));
    assert_eq!(session.poll_timeout(), None);
}

/// Pairs `session` (whose QR is `qr`) with `primary`; returns the pair-device-sign reply.
fn pair(session: &mut MdSession, primary: &Primary, qr: &str, seed: u64) -> Node {
    let scanned = Primary::scan(qr);
    let container = primary.sign_for(&scanned.identity, &scanned.adv_secret, seed);
    session.handle_node(
        &primary.pair_success("ps1", container),
        2_000,
        &mut rng(seed),
    );
    let (nodes, events) = drain(session);
    assert!(
        matches!(&events[..], [MdEvent::CredentialsChanged, MdEvent::Paired { jid, lid: Some(_), platform: Some(p) }]
            if jid.to_string() == format!("{PHONE}:4@s.whatsapp.net") && p == "android"),
        "{events:?}"
    );
    assert_eq!(nodes.len(), 1);
    nodes.into_iter().next().unwrap()
}

#[test]
fn qr_pairing_signs_the_device_identity_then_515_then_login_and_prekeys() {
    let (mut session, qr) = pairing_session(2);
    let primary = Primary::new(200);
    let reply = pair(&mut session, &primary, &qr, 3);

    // pair-device-sign: our identity without the account key, signed by our identity key.
    assert_eq!(reply.optional_str("type"), Some("result"));
    assert_eq!(reply.optional_str("id"), Some("ps1"));
    let sign = reply.child("pair-device-sign").unwrap();
    let identity_node = sign.child("device-identity").unwrap();
    assert_eq!(identity_node.optional_str("key-index"), Some("4"));
    let signed = AdvSignedDeviceIdentity::decode(identity_node.content_bytes().unwrap()).unwrap();
    assert_eq!(signed.account_signature_key, None);
    let creds = session.credentials();
    let our_key = creds.identity.public_bytes();
    let details = signed.details.unwrap();
    let message = device_signature_message(&details, &our_key, &primary.account.public_bytes());
    xeddsa_verify(&our_key, &message, &signed.device_signature.unwrap()).unwrap();
    let account = creds.account.as_ref().unwrap();
    assert_eq!(account.key_index, 4);
    assert_eq!(
        account.account_signature_key,
        primary.account.public_bytes()
    );
    assert_eq!(account.lid.as_ref().unwrap().to_string(), "998877:4@lid");

    // The credentials survive a save/load and log in with username and device.
    let saved = Credentials::from_bytes(&creds.to_bytes()).unwrap();
    assert_eq!(saved.account, creds.account);

    // 515: reconnect now; the next payload is a login.
    session.handle_node(
        &Node::new("stream:error").attr("code", "515"),
        3_000,
        &mut rng(4),
    );
    let (_, events) = drain(&mut session);
    assert!(matches!(
        &events[..],
        [MdEvent::StreamEnded {
            error: StreamError::RestartRequired,
            next: NextStep::ReconnectNow
        }]
    ));
    assert!(!session.is_stopped());
    let payload = session.client_payload();
    assert_eq!(payload.username, Some(15_550_001_111));
    assert_eq!(payload.device, Some(4));
    assert_eq!(payload.passive, Some(true));
    assert!(payload.device_pairing_data.is_none());

    login_and_upload(&mut session, 10_000);
}

/// Logs a newly paired session in and checks the 812-key upload it sends at once (no count
/// query first: a new device uploads whatever the count) and the digest that follows; returns
/// the uploaded public keys.
fn login_and_upload(session: &mut MdSession, now: u64) -> Vec<(u32, [u8; 32])> {
    let mut r = rng(now);
    session.connected(now);
    session.handle_node(&Node::new("success").attr("t", "1700000000"), now, &mut r);
    let (nodes, events) = drain(session);
    assert!(matches!(events[0], MdEvent::LoggedIn), "{events:?}");
    assert!(session.is_online());
    let xmlns: Vec<_> = nodes
        .iter()
        .map(|n| n.optional_str("xmlns").unwrap())
        .collect();
    assert_eq!(xmlns, ["encrypt", "passive"]);
    assert!(nodes[0].child("count").is_none(), "no count query");
    assert!(nodes[0].child("list").is_some(), "the upload");
    assert!(nodes[1].child("active").is_some());
    let generated = events
        .iter()
        .find_map(|e| match e {
            MdEvent::PreKeysGenerated(keys) => Some(keys.len()),
            _ => None,
        })
        .unwrap();
    assert_eq!(generated, INITIAL_UPLOAD as usize);
    let upload = &nodes[0];
    assert_eq!(upload.optional_str("xmlns"), Some("encrypt"));
    assert_eq!(upload.optional_str("type"), Some("set"));
    let creds = session.credentials();
    assert_eq!(
        upload
            .child("registration")
            .unwrap()
            .content_bytes()
            .unwrap(),
        creds.registration_id.to_be_bytes()
    );
    assert_eq!(upload.child("type").unwrap().content_bytes().unwrap(), [5]);
    let list = upload.child("list").unwrap().child_nodes();
    assert_eq!(list.len(), 812);
    let keys: Vec<(u32, [u8; 32])> = list
        .iter()
        .map(|k| {
            let id = k.child("id").unwrap().content_bytes().unwrap();
            let value = k.child("value").unwrap().content_bytes().unwrap();
            (
                u32::from_be_bytes([0, id[0], id[1], id[2]]),
                value.try_into().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys[0].0, 1);
    assert_eq!(keys[811].0, 812);
    let skey = upload.child("skey").unwrap();
    assert_eq!(
        skey.child("signature")
            .unwrap()
            .content_bytes()
            .unwrap()
            .len(),
        64
    );

    session.handle_node(&result_for(upload, vec![]), now, &mut r);
    let (nodes, events) = drain(session);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MdEvent::PreKeysUploaded { count: 812 }))
    );
    assert!(session.credentials().prekeys_uploaded);
    let digest_query = &nodes[0];
    assert!(digest_query.child("digest").is_some());

    // The server's digest over what it holds (minus one consumed key) matches.
    let held: Vec<_> = keys[1..].to_vec();
    let answer = result_for(
        digest_query,
        vec![server_digest(session.credentials(), &held)],
    );
    session.handle_node(&answer, now, &mut r);
    let (_, events) = drain(session);
    assert!(
        matches!(events[..], [MdEvent::DigestVerified]),
        "{events:?}"
    );
    keys
}

fn server_digest(creds: &Credentials, held: &[(u32, [u8; 32])]) -> Node {
    let publics: Vec<[u8; 32]> = held.iter().map(|k| k.1).collect();
    let hash = prekeys::bundle_digest(
        &creds.identity.public_bytes(),
        &creds.signed_prekey.key_pair.public_bytes(),
        &creds.signed_prekey.signature,
        &publics,
    );
    Node::new("digest").children([
        Node::new("registration").bytes(creds.registration_id.to_be_bytes().to_vec()),
        Node::new("type").bytes(vec![5]),
        Node::new("identity").bytes(creds.identity.public_bytes().to_vec()),
        prekeys::signed_prekey_node(&creds.signed_prekey),
        Node::new("list").children(
            held.iter()
                .map(|k| Node::new("id").bytes(k.0.to_be_bytes()[1..].to_vec())),
        ),
        Node::new("hash").bytes(hash.to_vec()),
    ])
}

fn paired_online_session(seed: u64) -> (MdSession, Vec<(u32, [u8; 32])>) {
    let (mut session, qr) = pairing_session(seed);
    pair(&mut session, &Primary::new(seed + 100), &qr, seed + 1);
    session.handle_node(
        &Node::new("stream:error").attr("code", "515"),
        3_000,
        &mut rng(seed),
    );
    drain(&mut session);
    let keys = login_and_upload(&mut session, 10_000);
    (session, keys)
}

#[test]
fn wrong_digest_triggers_one_reupload_and_restart_refills_without_reseeding() {
    let (mut session, keys) = paired_online_session(10);
    let mut r = rng(11);
    // Restart from saved credentials: login, count 3 (< 5) → refill 50 with fresh ids.
    let saved = Credentials::from_bytes(&session.credentials().to_bytes()).unwrap();
    session = MdSession::new(saved, SessionConfig::default(), &mut r);
    session.remember_prekeys(keys.clone());
    session.connected(0);
    session.handle_node(&Node::new("success"), 0, &mut r);
    let (nodes, _) = drain(&mut session);
    session.handle_node(
        &result_for(&nodes[0], vec![Node::new("count").attr("value", "3")]),
        0,
        &mut r,
    );
    let (nodes, _) = drain(&mut session);
    let list = nodes[0].child("list").unwrap().child_nodes();
    assert_eq!(list.len(), WANTED_COUNT as usize);
    assert_eq!(
        list[0].child("id").unwrap().content_bytes().unwrap(),
        [0, 3, 45],
        "id 813"
    );
    session.handle_node(&result_for(&nodes[0], vec![]), 0, &mut r);
    let (nodes, _) = drain(&mut session);

    // A digest whose hash is off by one byte → mismatch → one re-upload of 50.
    let mut digest = server_digest(session.credentials(), &keys);
    if let wa_binary::Content::Nodes(children) = &mut digest.content {
        let hash = children.last_mut().unwrap();
        if let wa_binary::Content::Bytes(b) = &mut hash.content {
            let mut flipped = b.to_vec();
            flipped[0] ^= 1;
            *b = flipped.into();
        }
    }
    session.handle_node(&result_for(&nodes[0], vec![digest.clone()]), 0, &mut r);
    let (nodes, events) = drain(&mut session);
    assert!(matches!(events[0], MdEvent::DigestMismatch));
    assert_eq!(nodes[0].child("list").unwrap().child_nodes().len(), 50);
    session.handle_node(&result_for(&nodes[0], vec![]), 0, &mut r);
    let (nodes, _) = drain(&mut session);
    // A second mismatch on the same connection is reported, not looped on.
    session.handle_node(&result_for(&nodes[0], vec![digest]), 0, &mut r);
    let (nodes, events) = drain(&mut session);
    assert!(matches!(events[..], [MdEvent::DigestMismatch]));
    assert!(nodes.is_empty());
}

#[test]
fn unanswered_ping_is_link_loss_and_answered_ping_is_not() {
    let (mut session, _) = paired_online_session(20);
    let start = 10_000;
    assert_eq!(session.poll_timeout(), Some(start + 25_000));
    session.handle_timeout(start + 25_000);
    let (nodes, _) = drain(&mut session);
    assert_eq!(nodes[0].optional_str("xmlns"), Some("w:p"));
    assert!(nodes[0].child("ping").is_some());
    session.handle_node(&result_for(&nodes[0], vec![]), start + 25_100, &mut rng(1));
    session.handle_timeout(start + 35_000);
    assert!(drain(&mut session).1.is_empty(), "answered ping: no loss");
    session.handle_timeout(start + 50_000);
    let (nodes, _) = drain(&mut session);
    assert!(nodes[0].child("ping").is_some());
    session.handle_timeout(start + 60_000);
    let (_, events) = drain(&mut session);
    assert!(matches!(events[..], [MdEvent::LinkLost]));
    assert!(!session.is_online());
    assert!(!session.is_stopped(), "link loss reconnects");
}

#[test]
fn refused_pair_success_changes_nothing_and_a_good_one_still_pairs() {
    let (mut session, qr) = pairing_session(30);
    let primary = Primary::new(300);
    let scanned = Primary::scan(&qr);
    let before = session.credentials().to_bytes();

    // 1. HMAC under another ADV secret.
    let wrong_hmac = primary.sign_for(&scanned.identity, &[9; 32], 1);
    // 2. A device identity the account signed for another device's key.
    let other_key = primary.sign_for(
        &KeyPair::generate(&mut rng(5)).public_bytes(),
        &scanned.adv_secret,
        2,
    );
    // 3. A valid HMAC over an account signature with one bit flipped.
    let bad_signature = {
        let container = AdvSignedDeviceIdentityHmac::decode(
            primary
                .sign_for(&scanned.identity, &scanned.adv_secret, 3)
                .as_slice(),
        )
        .unwrap();
        let mut signed =
            AdvSignedDeviceIdentity::decode(container.details.unwrap().as_slice()).unwrap();
        signed.account_signature.as_mut().unwrap()[10] ^= 1;
        let details = signed.encode_to_vec();
        AdvSignedDeviceIdentityHmac {
            hmac: Some(wa_crypto::hmac_sha256(&scanned.adv_secret, &[&details]).to_vec()),
            details: Some(details),
            account_type: None,
        }
        .encode_to_vec()
    };
    // 4. Not a protobuf at all.
    let garbage = vec![0xff; 7];
    let cases = [
        (wrong_hmac, AdvError::HmacMismatch, "401", "hmac-mismatch"),
        (
            other_key,
            AdvError::AccountSignature,
            "401",
            "signature-mismatch",
        ),
        (
            bad_signature,
            AdvError::AccountSignature,
            "401",
            "signature-mismatch",
        ),
        (
            garbage,
            AdvError::Malformed("ADVSignedDeviceIdentityHMAC"),
            "500",
            "internal-error",
        ),
    ];
    for (container, error, code, text) in cases {
        session.handle_node(&primary.pair_success("bad", container), 2_000, &mut rng(6));
        let (nodes, events) = drain(&mut session);
        assert!(
            matches!(&events[..], [MdEvent::PairFailed(PairError::Adv(e))] if *e == error),
            "{events:?}"
        );
        let err = nodes[0].child("error").unwrap();
        assert_eq!(nodes[0].optional_str("type"), Some("error"));
        assert_eq!(
            (err.optional_str("code"), err.optional_str("text")),
            (Some(code), Some(text))
        );
        assert_eq!(session.credentials().to_bytes(), before, "no state change");
        assert!(!session.credentials().is_paired());
    }
    // pair-success without a device node.
    session.handle_node(
        &server_iq("bad", "set", Node::new("pair-success")),
        2_000,
        &mut rng(7),
    );
    assert!(matches!(
        drain(&mut session).1[..],
        [MdEvent::PairFailed(PairError::MalformedPairSuccess)]
    ));
    // After every refusal, the genuine identity still pairs.
    pair(&mut session, &primary, &qr, 8);
    assert!(session.credentials().is_paired());
}

#[test]
fn hosted_accounts_use_the_hosted_prefixes() {
    let (mut session, qr) = pairing_session(35);
    let primary = Primary::new(350);
    let scanned = Primary::scan(&qr);
    let mut identity = Primary::identity(2);
    identity.account_type = Some(1);
    identity.device_type = Some(1);
    let container = adv::primary_sign(
        &primary.account,
        &scanned.identity,
        &scanned.adv_secret,
        identity,
        &mut rng(1),
    );
    let decoded = AdvSignedDeviceIdentityHmac::decode(container.as_slice()).unwrap();
    assert_eq!(decoded.account_type, Some(1));
    session.handle_node(&primary.pair_success("h", container), 2_000, &mut rng(2));
    let (_, events) = drain(&mut session);
    assert!(
        events.iter().any(|e| matches!(e, MdEvent::Paired { .. })),
        "{events:?}"
    );
}

/// What the phone got from the key bundle: the companion's identity and the ADV secret.
type Opened = Result<([u8; 32], [u8; 32]), PairCodeError>;

/// Runs the pair-code exchange; the phone types `typed`. Returns the session, the phone's link
/// state and the companion_finish bundle.
fn pair_code_exchange(
    seed: u64,
    primary: &Primary,
    typed: Option<&str>,
) -> (MdSession, String, Opened) {
    let mut r = rng(seed);
    let creds = Credentials::generate(&mut r);
    let mut session = MdSession::new(creds, SessionConfig::default(), &mut r);
    assert!(matches!(
        session.request_pair_code(PHONE, &mut r),
        Err(PairError::NotPairing)
    ));
    session.connected(0);
    assert!(matches!(
        session.request_pair_code("0123", &mut r),
        Err(PairError::PairCode(PairCodeError::BadPhone { .. }))
    ));
    let code = session
        .request_pair_code(&format!("+{PHONE}"), &mut r)
        .unwrap();
    assert_eq!(code.len(), 8);
    assert!(code.bytes().all(|c| pair_code::ALPHABET.contains(&c)));
    let (nodes, _) = drain(&mut session);
    let hello = nodes[0].child("link_code_companion_reg").unwrap();
    assert_eq!(hello.optional_str("stage"), Some("companion_hello"));
    assert_eq!(
        hello.optional_str("jid"),
        Some(&*format!("{PHONE}@s.whatsapp.net"))
    );
    let wrapped = hello
        .child("link_code_pairing_wrapped_companion_ephemeral_pub")
        .unwrap()
        .content_bytes()
        .unwrap()
        .to_vec();
    assert_eq!(wrapped.len(), 80);
    session.handle_node(
        &result_for(
            &nodes[0],
            vec![
                Node::new("link_code_companion_reg")
                    .children([Node::new("link_code_pairing_ref").bytes(b"LINK-REF".to_vec())]),
            ],
        ),
        0,
        &mut r,
    );

    let typed = typed.unwrap_or(&code).to_owned();
    let (link, primary_wrapped) = pair_code::primary_hello(&typed, &wrapped, &mut r).unwrap();
    let notification = Node::new("notification")
        .attr("from", "s.whatsapp.net")
        .attr("id", "n1")
        .attr("type", "link_code_companion_reg")
        .children([Node::new("link_code_companion_reg")
            .attr("stage", "primary_hello")
            .children([
                Node::new("link_code_pairing_ref").bytes(b"LINK-REF".to_vec()),
                Node::new("link_code_pairing_wrapped_primary_ephemeral_pub").bytes(primary_wrapped),
                Node::new("primary_identity_pub").bytes(primary.identity.public_bytes().to_vec()),
            ])]);
    session.handle_node(&notification, 0, &mut r);
    let (nodes, events) = drain(&mut session);
    assert_eq!(nodes[0].tag, "ack");
    assert!(
        matches!(events[..], [MdEvent::CredentialsChanged]),
        "{events:?}"
    );
    let finish = nodes[1].child("link_code_companion_reg").unwrap();
    assert_eq!(finish.optional_str("stage"), Some("companion_finish"));
    let bundle = finish
        .child("link_code_pairing_wrapped_key_bundle")
        .unwrap()
        .content_bytes()
        .unwrap();
    let opened = link
        .open_bundle(bundle, &primary.identity)
        .map(|(identity, secret)| (identity, *secret));
    (session, code, opened)
}

#[test]
fn pair_code_links_with_the_same_adv_secret_on_both_sides() {
    let primary = Primary::new(400);
    let (mut session, _, opened) = pair_code_exchange(40, &primary, None);
    let (companion_identity, secret) = opened.unwrap();
    assert_eq!(
        companion_identity,
        session.credentials().identity.public_bytes()
    );
    assert_eq!(secret, *session.credentials().adv_secret);
    // The phone then vouches for the device with the derived secret.
    let container = primary.sign_for(&companion_identity, &secret, 1);
    session.handle_node(&primary.pair_success("ps", container), 0, &mut rng(2));
    let (_, events) = drain(&mut session);
    assert!(events.iter().any(|e| matches!(e, MdEvent::Paired { .. })));
}

#[test]
fn a_mistyped_pair_code_never_pairs() {
    let primary = Primary::new(410);
    let (session, code, opened) = pair_code_exchange(41, &primary, Some("ZZZZZZZZ"));
    assert_ne!(code, "ZZZZZZZZ");
    assert_eq!(opened.unwrap_err(), PairCodeError::WrongCode);
    assert!(!session.credentials().is_paired());
}

#[test]
fn a_notification_for_another_link_ref_is_refused() {
    let mut r = rng(42);
    let creds = Credentials::generate(&mut r);
    let mut session = MdSession::new(creds, SessionConfig::default(), &mut r);
    session.connected(0);
    session.request_pair_code(PHONE, &mut r).unwrap();
    let (nodes, _) = drain(&mut session);
    session.handle_node(
        &result_for(
            &nodes[0],
            vec![
                Node::new("link_code_companion_reg")
                    .children([Node::new("link_code_pairing_ref").bytes(b"OURS".to_vec())]),
            ],
        ),
        0,
        &mut r,
    );
    let before = session.credentials().to_bytes();
    let notification = Node::new("notification")
        .attr("id", "n")
        .attr("type", "link_code_companion_reg")
        .children([Node::new("link_code_companion_reg").children([
            Node::new("link_code_pairing_ref").bytes(b"THEIRS".to_vec()),
            Node::new("link_code_pairing_wrapped_primary_ephemeral_pub").bytes(vec![1; 80]),
            Node::new("primary_identity_pub").bytes(vec![2; 32]),
        ])]);
    session.handle_node(&notification, 0, &mut r);
    let (_, events) = drain(&mut session);
    assert!(matches!(
        events[..],
        [MdEvent::PairFailed(PairError::PairCode(
            PairCodeError::RefMismatch
        ))]
    ));
    assert_eq!(session.credentials().to_bytes(), before);
}

#[test]
fn unlinked_device_gets_401_and_stops_reconnecting() {
    let (mut session, _) = paired_online_session(50);
    let removed = Node::new("stream:error")
        .attr("code", "401")
        .children([Node::new("conflict").attr("type", "device_removed")]);
    session.handle_node(&removed, 0, &mut rng(1));
    let (_, events) = drain(&mut session);
    assert!(matches!(
        events[..],
        [MdEvent::StreamEnded {
            error: StreamError::DeviceRemoved,
            next: NextStep::StopLoggedOut
        }]
    ));
    assert!(session.is_stopped());
    // A reconnect attempt does not revive it, and nothing more is processed.
    session.connected(1);
    session.handle_node(&Node::new("success"), 1, &mut rng(2));
    assert!(drain(&mut session).1.is_empty());
    assert!(!session.is_online());
}

#[test]
fn logout_removes_the_companion_and_rotation_replaces_the_signed_prekey() {
    let (mut session, _) = paired_online_session(60);
    let mut r = rng(61);
    session.rotate_signed_prekey(&mut r);
    let (nodes, _) = drain(&mut session);
    let skey = nodes[0].child("rotate").unwrap().child("skey").unwrap();
    assert_eq!(
        skey.child("id").unwrap().content_bytes().unwrap(),
        [0, 0, 2]
    );
    let new_public: [u8; 32] = skey
        .child("value")
        .unwrap()
        .content_bytes()
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(
        session.credentials().signed_prekey.id,
        1,
        "old key until acknowledged"
    );
    session.handle_node(&result_for(&nodes[0], vec![]), 0, &mut r);
    let (_, events) = drain(&mut session);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MdEvent::SignedPreKeyRotated { id: 2 }))
    );
    let creds = session.credentials();
    assert_eq!(creds.signed_prekey.key_pair.public_bytes(), new_public);
    let wire = wa_signal::PublicKey(new_public).to_wire();
    xeddsa_verify(
        &creds.identity.public_bytes(),
        &wire,
        &creds.signed_prekey.signature,
    )
    .unwrap();

    session.logout();
    let (nodes, _) = drain(&mut session);
    let remove = nodes[0].child("remove-companion-device").unwrap();
    assert_eq!(
        remove.optional_str("jid"),
        Some(&*format!("{PHONE}:4@s.whatsapp.net"))
    );
    session.handle_node(&result_for(&nodes[0], vec![]), 0, &mut r);
    let (_, events) = drain(&mut session);
    assert!(matches!(events[..], [MdEvent::LoggedOut]));
    assert!(session.is_stopped());
}
