//! The multi-device server, sans-IO, against a companion written here from the protocol's facts
//! (it verifies what the phone signs and signs back): QR and pair-code pairing, refusals, login,
//! prekeys, unlinking, and the state file.

use rand::rngs::StdRng;
use rand::{RngCore as _, SeedableRng as _};
use sha1::{Digest as _, Sha1};
use wa_binary::Node;
use wa_crypto::{
    KeyPair, aes256_ctr_apply, aes256_gcm_encrypt, hkdf_sha256, hmac_sha256, pbkdf2_sha256,
    xeddsa_sign_rng, xeddsa_verify,
};
use wa_proto::prost::Message as _;
use wa_proto::proto::client_payload::DevicePairingRegistrationData;
use wa_proto::proto::{
    AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac, ClientPayload,
};
use wa_sim::md::{Action, MdEvent, MdServer, Out};

const NOW: u64 = 1_800_000_000;
const CONN: u64 = 1;

/// A companion device: the keys a new Baileys or wa-client device has.
struct Companion {
    identity: KeyPair,
    noise: KeyPair,
    adv: [u8; 32],
    registration_id: u32,
    signed_prekey: KeyPair,
    signed_prekey_signature: [u8; 64],
    rng: StdRng,
}

fn serialized(public: [u8; 32]) -> Vec<u8> {
    [&[5u8][..], &public].concat()
}

impl Companion {
    fn new(seed: u64) -> Companion {
        let mut rng = StdRng::seed_from_u64(seed);
        let identity = KeyPair::generate(&mut rng);
        let signed_prekey = KeyPair::generate(&mut rng);
        let signed_prekey_signature = xeddsa_sign_rng(
            &identity,
            &serialized(signed_prekey.public_bytes()),
            &mut rng,
        );
        let mut adv = [0u8; 32];
        rng.fill_bytes(&mut adv);
        Companion {
            identity,
            noise: KeyPair::generate(&mut rng),
            adv,
            registration_id: rng.next_u32() & 0x3fff,
            signed_prekey,
            signed_prekey_signature,
            rng,
        }
    }

    fn registration(&self) -> ClientPayload {
        ClientPayload {
            device_pairing_data: Some(DevicePairingRegistrationData {
                e_regid: Some(self.registration_id.to_be_bytes().to_vec()),
                e_keytype: Some(vec![5]),
                e_ident: Some(self.identity.public_bytes().to_vec()),
                e_skey_id: Some(vec![0, 0, 1]),
                e_skey_val: Some(self.signed_prekey.public_bytes().to_vec()),
                e_skey_sig: Some(self.signed_prekey_signature.to_vec()),
                ..Default::default()
            }),
            ..ClientPayload::default()
        }
    }

    fn login(number: u64, device: u32) -> ClientPayload {
        ClientPayload {
            username: Some(number),
            device: Some(device),
            ..ClientPayload::default()
        }
    }

    fn qr(&self, reference: &str) -> String {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        format!(
            "https://wa.me/settings/linked_devices#{reference},{},{},{},1",
            b64(&self.noise.public_bytes()),
            b64(&self.identity.public_bytes()),
            b64(&self.adv)
        )
    }

    /// The companion's checks of `pair-success` (HMAC with its ADV secret, the account
    /// signature), and its `pair-device-sign` answer; `forge` spoils the device signature.
    fn answer_pair_success(&mut self, iq: &Node, adv: &[u8; 32], forge: bool) -> (Node, String) {
        let success = iq.child("pair-success").expect("pair-success");
        let wrapped = success
            .child("device-identity")
            .and_then(Node::content_bytes)
            .unwrap();
        let hmac = AdvSignedDeviceIdentityHmac::decode(wrapped).unwrap();
        let details = hmac.details.clone().unwrap();
        assert_eq!(
            hmac.hmac.as_deref(),
            Some(&hmac_sha256(adv, &[&details])[..])
        );
        let mut signed = AdvSignedDeviceIdentity::decode(&details[..]).unwrap();
        let account_key: [u8; 32] = signed
            .account_signature_key
            .as_deref()
            .unwrap()
            .try_into()
            .unwrap();
        let device_details = signed.details.clone().unwrap();
        let identity = self.identity.public_bytes();
        xeddsa_verify(
            &account_key,
            &[&[6u8, 0][..], &device_details, &identity].concat(),
            signed.account_signature.as_deref().unwrap(),
        )
        .expect("the account signature verifies");
        let key_index = AdvDeviceIdentity::decode(&device_details[..])
            .unwrap()
            .key_index
            .unwrap();
        let message = [&[6u8, 1][..], &device_details, &identity, &account_key].concat();
        let mut signature = xeddsa_sign_rng(&self.identity, &message, &mut self.rng);
        if forge {
            signature[5] ^= 1;
        }
        signed.device_signature = Some(signature.to_vec());
        // As Baileys does: the account key is left out of the answer.
        signed.account_signature_key = None;
        let jid = success.child("device").unwrap().attrs.get("jid").unwrap();
        let reply = Node::new("iq")
            .attr("to", "s.whatsapp.net")
            .attr("type", "result")
            .attr("id", iq.attrs.get("id").unwrap())
            .children([
                Node::new("pair-device-sign").children([Node::new("device-identity")
                    .attr("key-index", key_index)
                    .bytes(signed.encode_to_vec())]),
            ]);
        (reply, jid.to_owned())
    }
}

fn sent(outs: &[Out], conn: u64) -> Vec<Node> {
    outs.iter()
        .filter_map(|o| match &o.action {
            Action::Send(node) if o.conn == conn => Some(node.clone()),
            _ => None,
        })
        .collect()
}

fn events(outs: &[Out]) -> Vec<MdEvent> {
    outs.iter()
        .filter_map(|o| match &o.action {
            Action::Event(event) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn closes(outs: &[Out], conn: u64) -> bool {
    outs.iter()
        .any(|o| o.conn == conn && o.action == Action::Close)
}

fn tag(node: &Node) -> &str {
    node.tag.as_ref()
}

/// Connects `companion` unpaired on `conn`; returns the first ref.
fn connect_unpaired(server: &mut MdServer, companion: &Companion, conn: u64) -> String {
    let outs = server.connected(
        conn,
        &companion.registration(),
        &companion.noise.public_bytes(),
        NOW,
    );
    let iq = &sent(&outs, conn)[0];
    let refs: Vec<String> = iq
        .child("pair-device")
        .unwrap()
        .children_named("ref")
        .map(|r| String::from_utf8(r.content_bytes().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(refs.len(), 6);
    refs[2].clone()
}

/// Pairs `companion` by QR with phone `number`; returns its JID.
fn pair_by_qr(server: &mut MdServer, companion: &mut Companion, number: u64) -> String {
    let reference = connect_unpaired(server, companion, CONN);
    let outs = server
        .scan(&companion.qr(&reference), Some(number), NOW)
        .unwrap();
    let adv = companion.adv;
    let (reply, jid) = companion.answer_pair_success(&sent(&outs, CONN)[0], &adv, false);
    let outs = server.node(CONN, &reply, NOW);
    let stream_error = &sent(&outs, CONN)[0];
    assert_eq!(tag(stream_error), "stream:error");
    assert_eq!(stream_error.attrs.get("code"), Some("515"));
    assert!(closes(&outs, CONN));
    server.disconnected(CONN);
    jid
}

fn device_of(jid: &str) -> u32 {
    jid.split_once(':')
        .unwrap()
        .1
        .split_once('@')
        .unwrap()
        .0
        .parse()
        .unwrap()
}

#[test]
fn qr_pairing_links_a_device_that_then_logs_in() {
    let mut server = MdServer::new(1);
    let mut companion = Companion::new(2);
    let jid = pair_by_qr(&mut server, &mut companion, 15_551_234_567);
    assert_eq!(jid, "15551234567:1@s.whatsapp.net");
    let listed = server.devices(Some(15_551_234_567));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].jid, jid);
    assert_eq!(listed[0].registration_id, companion.registration_id);
    assert_eq!(
        listed[0].signed_prekey_id,
        Some(1),
        "from the registration payload"
    );

    let outs = server.connected(
        9,
        &Companion::login(15_551_234_567, 1),
        &companion.noise.public_bytes(),
        NOW + 5,
    );
    let nodes = sent(&outs, 9);
    assert_eq!(tag(&nodes[0]), "success");
    assert_eq!(nodes[0].attrs.get("t"), Some("1800000005"));
    assert!(nodes[0].attrs.get("lid").unwrap().ends_with(":1@lid"));
    assert_eq!(tag(&nodes[1]), "ib");
    assert_eq!(
        nodes[1].child("offline").unwrap().attrs.get("count"),
        Some("0")
    );
    assert!(server.devices(None)[0].online);

    // A second login of the same device replaces the first (440 conflict replaced).
    let outs = server.connected(
        10,
        &Companion::login(15_551_234_567, 1),
        &companion.noise.public_bytes(),
        NOW + 6,
    );
    let old = sent(&outs, 9);
    assert_eq!(old[0].attrs.get("code"), Some("440"));
    assert_eq!(
        old[0].child("conflict").unwrap().attrs.get("type"),
        Some("replaced")
    );
    assert!(closes(&outs, 9));
    assert_eq!(tag(&sent(&outs, 10)[0]), "success");
}

#[test]
fn refusals_change_nothing() {
    let mut server = MdServer::new(3);
    let mut companion = Companion::new(4);
    let reference = connect_unpaired(&mut server, &companion, CONN);

    // A QR for another connection's keys, an unknown ref, a malformed QR.
    let other = Companion::new(5);
    assert!(server.scan(&other.qr(&reference), None, NOW).is_err());
    assert!(server.scan(&companion.qr("2@nope"), None, NOW).is_err());
    assert!(server.scan("a,b,c", None, NOW).is_err());

    // A pair-device-sign with a bad device signature: refused, nothing linked. (A second scan
    // while the first pair-success waits for its answer finds nothing to scan.)
    let outs = server.scan(&companion.qr(&reference), None, NOW).unwrap();
    assert_eq!(
        server.scan(&companion.qr(&reference), None, NOW),
        Err(wa_sim::md::ControlError::UnknownQr)
    );
    let adv = companion.adv;
    let (reply, jid) = companion.answer_pair_success(&sent(&outs, CONN)[0], &adv, true);
    let outs = server.node(CONN, &reply, NOW);
    assert!(events(&outs).iter().any(|e| matches!(
        e,
        MdEvent::PairRefused { reason } if reason.contains("device signature")
    )));
    assert_eq!(sent(&outs, CONN)[0].attrs.get("code"), Some("401"));
    assert!(closes(&outs, CONN));
    assert!(server.devices(None).is_empty());

    // That device's login, and a linked device's login with another Noise key: 401.
    let mut linked = Companion::new(6);
    let linked_jid = pair_by_qr(&mut server, &mut linked, wa_sim::md::server::DEFAULT_NUMBER);
    assert_eq!(server.devices(None).len(), 1);
    for (device, key) in [
        (device_of(&jid), companion.noise.public_bytes()),
        (device_of(&linked_jid), [7u8; 32]),
    ] {
        let outs = server.connected(
            8,
            &Companion::login(wa_sim::md::server::DEFAULT_NUMBER, device),
            &key,
            NOW,
        );
        assert_eq!(tag(&sent(&outs, 8)[0]), "failure");
        assert_eq!(sent(&outs, 8)[0].attrs.get("reason"), Some("401"));
        assert!(events(&outs).contains(&MdEvent::LoginRefused { reason: 401 }));
    }
}

fn upload(companion: &mut Companion, first_id: u32, count: u32, forge: bool) -> Node {
    let keys: Vec<Node> = (first_id..first_id + count)
        .map(|id| {
            let key = KeyPair::generate(&mut companion.rng);
            Node::new("key").children([
                Node::new("id").bytes(id.to_be_bytes()[1..].to_vec()),
                Node::new("value").bytes(key.public_bytes().to_vec()),
            ])
        })
        .collect();
    let mut signature = companion.signed_prekey_signature;
    if forge {
        signature[0] ^= 1;
    }
    Node::new("iq")
        .attr("id", format!("up{first_id}"))
        .attr("xmlns", "encrypt")
        .attr("type", "set")
        .attr("to", "s.whatsapp.net")
        .children([
            Node::new("registration").bytes(companion.registration_id.to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![5]),
            Node::new("identity").bytes(companion.identity.public_bytes().to_vec()),
            Node::new("list").children(keys),
            Node::new("skey").children([
                Node::new("id").bytes(vec![0, 0, 1]),
                Node::new("value").bytes(companion.signed_prekey.public_bytes().to_vec()),
                Node::new("signature").bytes(signature.to_vec()),
            ]),
        ])
}

fn query(server: &mut MdServer, conn: u64, xmlns: &str, kind: &str, child: &str) -> Node {
    let iq = Node::new("iq")
        .attr("id", "q")
        .attr("xmlns", xmlns)
        .attr("type", kind)
        .children([Node::new(child)]);
    sent(&server.node(conn, &iq, NOW), conn).remove(0)
}

#[test]
fn prekeys_are_counted_stored_digested_and_served_once() {
    let mut server = MdServer::new(5);
    let mut companion = Companion::new(6);
    let jid = pair_by_qr(&mut server, &mut companion, 15_550_000_002);
    server.connected(
        2,
        &Companion::login(15_550_000_002, 1),
        &companion.noise.public_bytes(),
        NOW,
    );
    let count = query(&mut server, 2, "encrypt", "get", "count");
    assert_eq!(count.child("count").unwrap().attrs.get("value"), Some("0"));
    // Before any upload the digest covers the registration's signed prekey and no one-time
    // prekeys.
    let digest = query(&mut server, 2, "encrypt", "get", "digest");
    let list = digest.child("digest").unwrap().child("list").unwrap();
    assert!(list.child_nodes().is_empty());

    // A forged signed prekey is refused and stores nothing.
    let outs = server.node(2, &upload(&mut companion, 1, 5, true), NOW);
    let answer = &sent(&outs, 2)[0];
    assert_eq!(answer.attrs.get("type"), Some("error"));
    assert_eq!(
        answer.child("error").unwrap().attrs.get("code"),
        Some("400")
    );
    assert_eq!(server.devices(None)[0].prekeys, 0);

    let upload_node = upload(&mut companion, 1, 812, false);
    let outs = server.node(2, &upload_node, NOW);
    assert_eq!(sent(&outs, 2)[0].attrs.get("type"), Some("result"));
    assert!(events(&outs).contains(&MdEvent::PrekeysUploaded {
        jid: jid.clone(),
        count: 812
    }));
    let count = query(&mut server, 2, "encrypt", "get", "count");
    assert_eq!(
        count.child("count").unwrap().attrs.get("value"),
        Some("812")
    );

    // The digest: our SHA-1 over identity, signed prekey, signature and the prekeys in order.
    let digest = query(&mut server, 2, "encrypt", "get", "digest");
    let digest = digest.child("digest").unwrap();
    let mut sha = Sha1::new();
    sha.update(companion.identity.public_bytes());
    sha.update(companion.signed_prekey.public_bytes());
    sha.update(companion.signed_prekey_signature);
    for key in upload_node.child("list").unwrap().children_named("key") {
        sha.update(key.child("value").unwrap().content_bytes().unwrap());
    }
    assert_eq!(
        digest.child("hash").unwrap().content_bytes().unwrap(),
        &sha.finalize()[..]
    );
    assert_eq!(digest.child("list").unwrap().child_nodes().len(), 812);

    // Key fetches hand out the lowest one-time prekey once, by phone JID or LID; an unknown
    // device gets a 404 in its <user>.
    let lid = server.devices(None)[0].lid.clone();
    let fetch = Node::new("iq")
        .attr("id", "k")
        .attr("xmlns", "encrypt")
        .attr("type", "get")
        .children([Node::new("key").children([
            Node::new("user").attr("jid", &jid),
            Node::new("user").attr("jid", &lid),
            Node::new("user").attr("jid", "15550000002:7@s.whatsapp.net"),
        ])]);
    let answer = sent(&server.node(2, &fetch, NOW), 2).remove(0);
    let users: Vec<&Node> = answer
        .child("list")
        .unwrap()
        .children_named("user")
        .collect();
    assert_eq!(users.len(), 3);
    let prekey_id = |user: &Node| {
        user.child("key")
            .and_then(|k| k.child("id"))
            .and_then(Node::content_bytes)
            .map(<[u8]>::to_vec)
    };
    assert_eq!(prekey_id(users[0]), Some(vec![0, 0, 1]));
    assert_eq!(prekey_id(users[1]), Some(vec![0, 0, 2]));
    assert_eq!(
        users[0].child("identity").unwrap().content_bytes().unwrap(),
        &companion.identity.public_bytes()[..]
    );
    assert_eq!(
        users[0]
            .child("registration")
            .unwrap()
            .content_bytes()
            .unwrap(),
        &companion.registration_id.to_be_bytes()[..]
    );
    assert_eq!(
        users[2].child("error").unwrap().attrs.get("code"),
        Some("404")
    );
    assert_eq!(server.devices(None)[0].prekeys, 810);
    let third = server
        .registry_mut()
        .take_bundle(15_550_000_002, 1)
        .unwrap();
    assert_eq!(third.prekey.map(|p| p.0), Some(3));

    // Pings and passive/active are answered.
    assert_eq!(
        query(&mut server, 2, "w:p", "get", "ping")
            .attrs
            .get("type"),
        Some("result")
    );
    assert_eq!(
        query(&mut server, 2, "passive", "set", "active")
            .attrs
            .get("type"),
        Some("result")
    );
}

#[test]
fn unlinking_removes_the_device_and_refuses_its_logins() {
    let mut server = MdServer::new(7);
    let mut companion = Companion::new(8);
    let jid = pair_by_qr(&mut server, &mut companion, 15_550_000_003);
    server.connected(
        4,
        &Companion::login(15_550_000_003, 1),
        &companion.noise.public_bytes(),
        NOW,
    );
    assert!(server.unlink("15550000003:9@s.whatsapp.net").is_err());
    let outs = server.unlink(&jid).unwrap();
    let error = &sent(&outs, 4)[0];
    assert_eq!(tag(error), "stream:error");
    assert_eq!(error.attrs.get("code"), Some("401"));
    assert_eq!(
        error.child("conflict").unwrap().attrs.get("type"),
        Some("device_removed")
    );
    assert!(closes(&outs, 4));
    assert!(server.devices(None).is_empty());
    let outs = server.connected(
        5,
        &Companion::login(15_550_000_003, 1),
        &companion.noise.public_bytes(),
        NOW,
    );
    assert_eq!(sent(&outs, 5)[0].attrs.get("reason"), Some("401"));
}

fn code_key(code: &str, salt: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    pbkdf2_sha256(code.as_bytes(), salt, 2 << 16, &mut key).unwrap();
    key
}

/// Pair code from the companion's side; `typed` is what the user types on the phone.
fn pair_by_code(
    server: &mut MdServer,
    companion: &mut Companion,
    code: &str,
    typed: &str,
) -> Vec<Out> {
    let number = 15_557_654_321u64;
    connect_unpaired(server, companion, CONN);
    let ephemeral = KeyPair::generate(&mut companion.rng);
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 16];
    companion.rng.fill_bytes(&mut salt);
    companion.rng.fill_bytes(&mut iv);
    let wrapped = [
        &salt[..],
        &iv,
        &aes256_ctr_apply(&code_key(code, &salt), &iv, &ephemeral.public_bytes()),
    ]
    .concat();
    let hello = Node::new("iq")
        .attr("id", "h")
        .attr("xmlns", "md")
        .attr("type", "set")
        .children([Node::new("link_code_companion_reg")
            .attr("jid", format!("{number}@s.whatsapp.net"))
            .attr("stage", "companion_hello")
            .children([
                Node::new("link_code_pairing_wrapped_companion_ephemeral_pub").bytes(wrapped),
                Node::new("companion_server_auth_key_pub")
                    .bytes(companion.noise.public_bytes().to_vec()),
                Node::new("companion_platform_id").bytes(b"1".to_vec()),
                Node::new("companion_platform_display").bytes(b"Chrome (Linux)".to_vec()),
            ])]);
    let outs = server.node(CONN, &hello, NOW);
    let reference = sent(&outs, CONN)[0]
        .child("link_code_companion_reg")
        .and_then(|r| r.child("link_code_pairing_ref"))
        .and_then(Node::content_bytes)
        .unwrap()
        .to_vec();
    assert!(
        server.enter_code(number + 1, typed, NOW).is_err(),
        "another phone"
    );
    let outs = server.enter_code(number, typed, NOW).unwrap();
    let notification = &sent(&outs, CONN)[0];
    assert_eq!(
        notification.attrs.get("type"),
        Some("link_code_companion_reg")
    );
    let reg = notification.child("link_code_companion_reg").unwrap();
    let bytes = |tag: &str| {
        reg.child(tag)
            .and_then(Node::content_bytes)
            .unwrap()
            .to_vec()
    };
    assert_eq!(bytes("link_code_pairing_ref"), reference);
    let primary_identity: [u8; 32] = bytes("primary_identity_pub").try_into().unwrap();
    let wrapped = bytes("link_code_pairing_wrapped_primary_ephemeral_pub");
    let primary_ephemeral: [u8; 32] = aes256_ctr_apply(
        &code_key(code, &wrapped[..32]),
        wrapped[32..48].try_into().unwrap(),
        &wrapped[48..],
    )
    .try_into()
    .unwrap();
    let shared = ephemeral.shared_secret(&primary_ephemeral);
    let mut random = [0u8; 32];
    let mut bundle_salt = [0u8; 32];
    let mut nonce = [0u8; 12];
    companion.rng.fill_bytes(&mut random);
    companion.rng.fill_bytes(&mut bundle_salt);
    companion.rng.fill_bytes(&mut nonce);
    let mut key = [0u8; 32];
    hkdf_sha256(
        &shared[..],
        Some(&bundle_salt),
        b"link_code_pairing_key_bundle_encryption_key",
        &mut key,
    )
    .unwrap();
    let plain = [
        &companion.identity.public_bytes()[..],
        &primary_identity,
        &random,
    ]
    .concat();
    let bundle = [
        &bundle_salt[..],
        &nonce,
        &aes256_gcm_encrypt(&key, &nonce, &[], &plain),
    ]
    .concat();
    let identity_shared = companion.identity.shared_secret(&primary_identity);
    let mut adv = [0u8; 32];
    hkdf_sha256(
        &[&shared[..], &identity_shared[..], &random].concat(),
        None,
        b"adv_secret",
        &mut adv,
    )
    .unwrap();
    companion.adv = adv;
    let finish = Node::new("iq")
        .attr("id", "f")
        .attr("xmlns", "md")
        .attr("type", "set")
        .children([Node::new("link_code_companion_reg")
            .attr("jid", format!("{number}@s.whatsapp.net"))
            .attr("stage", "companion_finish")
            .children([
                Node::new("link_code_pairing_wrapped_key_bundle").bytes(bundle),
                Node::new("companion_identity_public")
                    .bytes(companion.identity.public_bytes().to_vec()),
                Node::new("link_code_pairing_ref").bytes(reference),
            ])]);
    server.node(CONN, &finish, NOW)
}

#[test]
fn pair_code_links_with_the_right_code_only() {
    let mut server = MdServer::new(9);
    let mut companion = Companion::new(10);
    let outs = pair_by_code(&mut server, &mut companion, "K3Y9ZQ2M", "k3y9-zq2m");
    let nodes = sent(&outs, CONN);
    assert_eq!(
        nodes[0].attrs.get("type"),
        Some("result"),
        "companion_finish answered"
    );
    let adv = companion.adv;
    let (reply, jid) = companion.answer_pair_success(&nodes[1], &adv, false);
    assert_eq!(jid, "15557654321:1@s.whatsapp.net");
    let outs = server.node(CONN, &reply, NOW);
    assert_eq!(sent(&outs, CONN)[0].attrs.get("code"), Some("515"));
    assert_eq!(server.devices(Some(15_557_654_321)).len(), 1);

    // A mistyped code: the key bundle does not decrypt; no pair-success, nothing linked.
    let mut server = MdServer::new(11);
    let mut companion = Companion::new(12);
    let outs = pair_by_code(&mut server, &mut companion, "K3Y9ZQ2M", "K3Y9ZQ2N");
    let nodes = sent(&outs, CONN);
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].attrs.get("type"), Some("error"));
    assert!(events(&outs).iter().any(|e| matches!(
        e,
        MdEvent::PairRefused { reason } if reason.contains("wrong code")
    )));
    assert!(server.devices(None).is_empty());
    assert!(
        server.enter_code(15_557_654_321, "1234567", NOW).is_err(),
        "7 characters"
    );
}

#[test]
fn state_file_round_trips_and_is_private() {
    let mut server = MdServer::new(13);
    let mut companion = Companion::new(14);
    let jid = pair_by_qr(&mut server, &mut companion, 15_550_000_004);
    let sim = wa_sim::md::MdSim::generate(15, NOW);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("md.json");
    assert!(wa_sim::md::state::load(&path).unwrap().is_none());
    wa_sim::md::state::save(&path, &sim, server.persistent()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let (loaded, kept) = wa_sim::md::state::load(&path).unwrap().unwrap();
    assert_eq!(loaded.trust_root(), sim.trust_root());
    assert_eq!(loaded.certificates.chain, sim.certificates.chain);
    let mut restored = MdServer::restore(kept, 16);
    assert_eq!(restored.devices(None), server.devices(None));
    let outs = restored.connected(
        3,
        &Companion::login(15_550_000_004, device_of(&jid)),
        &companion.noise.public_bytes(),
        NOW,
    );
    assert_eq!(tag(&sent(&outs, 3)[0]), "success");
    std::fs::write(&path, b"{}").unwrap();
    assert!(wa_sim::md::state::load(&path).is_err());
}

#[test]
fn a_device_low_on_prekeys_is_told_to_upload_more() {
    let mut server = MdServer::new(17);
    let mut owner = Companion::new(18);
    let mut asker = Companion::new(19);
    let owner_jid = pair_by_qr(&mut server, &mut owner, 15_550_000_005);
    pair_by_qr(&mut server, &mut asker, 15_550_000_006);
    server.connected(
        20,
        &Companion::login(15_550_000_005, 1),
        &owner.noise.public_bytes(),
        NOW,
    );
    server.connected(
        21,
        &Companion::login(15_550_000_006, 1),
        &asker.noise.public_bytes(),
        NOW,
    );
    server.node(20, &upload(&mut owner, 1, 6, false), NOW);
    let fetch = Node::new("iq")
        .attr("id", "k")
        .attr("xmlns", "encrypt")
        .attr("type", "get")
        .children([Node::new("key").children([Node::new("user").attr("jid", &owner_jid)])]);
    // 6 → 5 left: nothing pushed; 5 → 4: the owner hears the count.
    let outs = server.node(21, &fetch, NOW);
    assert!(sent(&outs, 20).is_empty());
    let outs = server.node(21, &fetch, NOW);
    let pushed = sent(&outs, 20);
    assert_eq!(pushed.len(), 1, "{outs:?}");
    assert_eq!(pushed[0].attrs.get("type"), Some("encrypt"));
    assert_eq!(
        pushed[0].child("count").unwrap().attrs.get("value"),
        Some("4")
    );
    assert_eq!(sent(&outs, 21)[0].attrs.get("type"), Some("result"));
}
