//! The multi-device frame layer, the certificate chain check and the handshake, both roles.

use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_binary::Node;
use wa_core::md::cert::{CertFields, encode_chain, issue_certificate, verify_cert_chain};
use wa_core::md::frame::{FrameDecoder, INTRO_HEADER, MdFrameError, encode_frame, intro};
use wa_core::md::{
    CertError, Certificate, ClientHandshake, ClientHandshakeConfig, ClientStep, MdConnection,
    MdError, ServerCertificates, ServerHandshake, ServerStep, TrustRoot,
};
use wa_crypto::KeyPair;
use wa_proto::prost::Message as _;
use wa_proto::proto::{CertChain, ClientPayload, client_payload};

const NOW: u64 = 1_800_000_000;
const FROM: u64 = 1_700_000_000;
const UNTIL: u64 = 2_000_000_000;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn registration_payload() -> ClientPayload {
    ClientPayload {
        passive: Some(false),
        device_pairing_data: Some(client_payload::DevicePairingRegistrationData {
            e_regid: Some(vec![0, 0, 0x30, 0x39]),
            e_keytype: Some(vec![5]),
            e_ident: Some(vec![7; 32]),
            ..Default::default()
        }),
        ..ClientPayload::default()
    }
}

fn config(root: TrustRoot) -> ClientHandshakeConfig {
    ClientHandshakeConfig {
        trust_root: root,
        ..ClientHandshakeConfig::default()
    }
}

/// Runs the client against a server that answers with `chain` for `server_static`; returns the
/// client's outcome and every byte the client sent after its first flight.
fn handshake_with_chain(
    chain: Vec<u8>,
    server_static: &KeyPair,
    root: TrustRoot,
    now: u64,
) -> Result<(Vec<u8>, MdConnection, MdConnection, ClientPayload), MdError> {
    let mut r = rng(1);
    let client_static = KeyPair::generate(&mut r);
    let payload = registration_payload();
    let (client, first) = ClientHandshake::start(
        config(root),
        &client_static,
        KeyPair::generate(&mut r),
        payload.encode_to_vec(),
    )?;
    let mut server = ServerHandshake::new(server_static, KeyPair::generate(&mut r), chain, 1 << 20);
    let ServerStep::Send(hello) = server.receive(&first).expect("server reads hello") else {
        panic!("server answers the hello");
    };
    // Byte by byte: the client's decoder must wait for a whole frame.
    let mut state = client;
    let (last, rest) = hello.split_last().unwrap();
    for byte in rest {
        state = match state.receive(std::slice::from_ref(byte), now)? {
            ClientStep::NeedMore(next) => next,
            ClientStep::Done { .. } => panic!("done before the whole frame"),
        };
    }
    let ClientStep::Done {
        send, connection, ..
    } = state.receive(std::slice::from_ref(last), now)?
    else {
        panic!("the last byte completes the frame");
    };
    let ServerStep::Done(done) = server.receive(&send).expect("server reads finish") else {
        panic!("server finishes");
    };
    assert_eq!(done.client_static, client_static.public_bytes());
    Ok((send, *connection, done.connection, done.payload))
}

#[test]
fn client_and_server_handshake_and_exchange_nodes() {
    let certs = ServerCertificates::generate(&mut rng(9), FROM, UNTIL);
    let (_, mut client, mut server, payload) = handshake_with_chain(
        certs.chain.clone(),
        &certs.server_static,
        certs.trust_root(),
        NOW,
    )
    .expect("handshake completes");
    assert_eq!(payload, registration_payload());
    let pair = Node::new("iq")
        .attr("type", "set")
        .attr("xmlns", "md")
        .children([Node::new("pair-device").children([Node::new("ref").bytes(b"r1".to_vec())])]);
    let bytes = server.encode_node(&pair).unwrap();
    // Two frames in one push and a split one: all come out, in order.
    let second = server.encode_node(&Node::new("ping")).unwrap();
    let mut all = bytes.clone();
    all.extend_from_slice(&second[..5]);
    client.push(&all);
    assert_eq!(client.next_node().unwrap(), Some(pair));
    assert_eq!(client.next_node().unwrap(), None);
    client.push(&second[5..]);
    assert_eq!(client.next_node().unwrap(), Some(Node::new("ping")));
    let ack = client
        .encode_node(&Node::new("iq").attr("type", "result"))
        .unwrap();
    server.push(&ack);
    assert_eq!(
        server.next_node().unwrap().unwrap().optional_str("type"),
        Some("result")
    );
}

#[test]
fn a_tampered_frame_fails_the_tag_check() {
    let certs = ServerCertificates::generate(&mut rng(9), FROM, UNTIL);
    let (_, mut client, mut server, _) = handshake_with_chain(
        certs.chain.clone(),
        &certs.server_static,
        certs.trust_root(),
        NOW,
    )
    .unwrap();
    let mut bytes = server.encode_node(&Node::new("ping")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    client.push(&bytes);
    assert!(matches!(client.next_node(), Err(MdError::Noise(_))));
}

#[test]
fn baileys_test_chain_verifies_against_its_root() {
    // The chain gen-noise.mjs built with Baileys' helpers and checked with Baileys' handler.
    let text = include_str!("../../wa-crypto/tests/vectors/noise.json");
    let json: serde_json::Value = serde_json::from_str(text).unwrap();
    let root = TrustRoot {
        key: unhex(json["test_root_public"].as_str().unwrap())
            .try_into()
            .unwrap(),
        serial: 0,
    };
    let case = &json["cases"][0];
    let chain = unhex(case["cert_chain"].as_str().unwrap());
    let server_static: [u8; 32] = unhex(case["server_static_public"].as_str().unwrap())
        .try_into()
        .unwrap();
    let verified = verify_cert_chain(&chain, &server_static, &root, NOW).expect("verifies");
    assert_eq!((verified.intermediate_serial, verified.leaf_serial), (1, 2));
    // Not under WhatsApp's real root.
    assert_eq!(
        verify_cert_chain(&chain, &server_static, &TrustRoot::WHATSAPP, NOW),
        Err(CertError::BadSignature {
            cert: Certificate::Intermediate
        })
    );
}

/// A chain built from parts, to forge one thing at a time.
struct Forge {
    root: KeyPair,
    intermediate: KeyPair,
    server_static: KeyPair,
    intermediate_fields: CertFields,
    leaf_fields: CertFields,
}

impl Forge {
    fn new() -> Forge {
        let mut r = rng(5);
        let root = KeyPair::generate(&mut r);
        let intermediate = KeyPair::generate(&mut r);
        let server_static = KeyPair::generate(&mut r);
        Forge {
            intermediate_fields: CertFields {
                serial: 7,
                issuer_serial: 0,
                key: intermediate.public_bytes().to_vec(),
                not_before: FROM,
                not_after: UNTIL,
            },
            leaf_fields: CertFields {
                serial: 8,
                issuer_serial: 7,
                key: server_static.public_bytes().to_vec(),
                not_before: FROM,
                not_after: UNTIL,
            },
            root,
            intermediate,
            server_static,
        }
    }

    fn root(&self) -> TrustRoot {
        TrustRoot {
            key: self.root.public_bytes(),
            serial: 0,
        }
    }

    fn chain_signed_by(&self, root: &KeyPair, intermediate: &KeyPair) -> Vec<u8> {
        let mut r = rng(6);
        encode_chain(
            issue_certificate(&self.intermediate_fields, root, &mut r),
            issue_certificate(&self.leaf_fields, intermediate, &mut r),
        )
    }

    fn chain(&self) -> Vec<u8> {
        self.chain_signed_by(&self.root, &self.intermediate)
    }

    /// Runs the chain through a real handshake (so the error comes from the client machine).
    fn check(&self, chain: Vec<u8>, now: u64) -> Result<(), MdError> {
        handshake_with_chain(chain, &self.server_static, self.root(), now).map(|_| ())
    }
}

fn edit_chain(chain: &[u8], edit: impl FnOnce(&mut CertChain)) -> Vec<u8> {
    let mut decoded = CertChain::decode(chain).unwrap();
    edit(&mut decoded);
    decoded.encode_to_vec()
}

#[test]
fn the_honest_chain_passes() {
    let forge = Forge::new();
    forge.check(forge.chain(), NOW).expect("valid chain");
}

/// A forge with one field changed, and its chain.
fn forged(change: impl FnOnce(&mut Forge)) -> (Forge, Vec<u8>) {
    let mut forge = Forge::new();
    change(&mut forge);
    let chain = forge.chain();
    (forge, chain)
}

#[test]
fn forged_chains_are_refused_each_with_its_own_error() {
    use Certificate::{Intermediate, Leaf};
    let honest = || forged(|_| {});
    let stranger = KeyPair::generate(&mut rng(77));
    let stranger_key = stranger.public_bytes().to_vec();
    let other_root = {
        let forge = Forge::new();
        let chain = forge.chain_signed_by(&stranger, &forge.intermediate);
        (forge, chain)
    };
    let other_intermediate = {
        let forge = Forge::new();
        let chain = forge.chain_signed_by(&forge.root, &stranger);
        (forge, chain)
    };
    let edited = |edit: fn(&mut CertChain)| {
        let forge = Forge::new();
        let chain = edit_chain(&forge.chain(), edit);
        (forge, chain)
    };
    let cases = vec![
        (
            "signed by another root than the trusted one",
            other_root,
            NOW,
            CertError::BadSignature { cert: Intermediate },
        ),
        (
            "the leaf signed by another key than the intermediate's",
            other_intermediate,
            NOW,
            CertError::BadSignature { cert: Leaf },
        ),
        (
            "a random 64-byte signature on the intermediate",
            edited(|c| {
                c.intermediate.as_mut().unwrap().signature =
                    Some((0..64).map(|i| i * 3 + 1).collect());
            }),
            NOW,
            CertError::BadSignature { cert: Intermediate },
        ),
        (
            "a 63-byte signature",
            edited(|c| {
                c.leaf.as_mut().unwrap().signature.as_mut().unwrap().pop();
            }),
            NOW,
            CertError::SignatureLength {
                cert: Leaf,
                len: 63,
            },
        ),
        (
            "the intermediate's issuer serial",
            forged(|f| f.intermediate_fields.issuer_serial = 3),
            NOW,
            CertError::IssuerSerial {
                cert: Intermediate,
                expected: 0,
                actual: 3,
            },
        ),
        (
            "the leaf's issuer serial",
            forged(|f| f.leaf_fields.issuer_serial = 6),
            NOW,
            CertError::IssuerSerial {
                cert: Leaf,
                expected: 7,
                actual: 6,
            },
        ),
        (
            "checked after the intermediate expired",
            honest(),
            UNTIL + 1,
            CertError::Expired {
                cert: Intermediate,
                not_after: UNTIL,
                now: UNTIL + 1,
            },
        ),
        (
            "checked before the intermediate is valid",
            honest(),
            FROM - 1,
            CertError::NotYetValid {
                cert: Intermediate,
                not_before: FROM,
                now: FROM - 1,
            },
        ),
        (
            "an expired leaf",
            forged(|f| f.leaf_fields.not_after = NOW - 1),
            NOW,
            CertError::Expired {
                cert: Leaf,
                not_after: NOW - 1,
                now: NOW,
            },
        ),
        (
            "a leaf not yet valid",
            forged(|f| f.leaf_fields.not_before = NOW + 1),
            NOW,
            CertError::NotYetValid {
                cert: Leaf,
                not_before: NOW + 1,
                now: NOW,
            },
        ),
        (
            "a valid chain for another static key",
            forged(|f| f.leaf_fields.key = stranger_key.clone()),
            NOW,
            CertError::LeafKeyMismatch,
        ),
        (
            "no leaf",
            edited(|c| c.leaf = None),
            NOW,
            CertError::Missing { cert: Leaf },
        ),
    ];
    for (what, (forge, chain), now, refused) in cases {
        match forge.check(chain, now) {
            Err(MdError::Cert(error)) => assert_eq!(error, refused, "{what}"),
            other => panic!("{what}: expected {refused:?}, got {other:?}"),
        }
    }
    let (forge, _) = honest();
    assert!(
        matches!(
            forge.check(vec![0xff; 9], NOW),
            Err(MdError::Cert(CertError::Malformed { .. }))
        ),
        "garbage is malformed"
    );
}

#[test]
fn frames_split_join_and_are_bounded() {
    let mut out = intro(Some(b"\x08\x02")).unwrap();
    assert_eq!(&out[..7], b"ED\x00\x01\x00\x00\x02");
    assert_eq!(&out[9..], &INTRO_HEADER);
    encode_frame(b"abc", 100, &mut out).unwrap();
    encode_frame(b"", 100, &mut out).unwrap();
    let mut decoder = FrameDecoder::server(100);
    for byte in &out[..out.len() - 1] {
        decoder.push(std::slice::from_ref(byte));
        if let Some(frame) = decoder.next_frame().unwrap() {
            assert_eq!(frame, b"abc");
        }
    }
    assert_eq!(decoder.routing_info(), Some(&b"\x08\x02"[..]));
    decoder.push(&out[out.len() - 1..]);
    assert_eq!(decoder.next_frame().unwrap(), Some(Vec::new()));

    let mut decoder = FrameDecoder::client(100);
    decoder.push(&[0, 0, 101]);
    assert_eq!(
        decoder.next_frame(),
        Err(MdFrameError::TooLarge { len: 101, max: 100 })
    );
    assert!(encode_frame(&[0; 101], 100, &mut Vec::new()).is_err());
    let mut decoder = FrameDecoder::server(100);
    decoder.push(b"GET ");
    assert!(matches!(
        decoder.next_frame(),
        Err(MdFrameError::BadIntro { .. })
    ));
    let mut decoder = FrameDecoder::server(100);
    decoder.push(b"ED\x00\x01\xff\xff\xff");
    assert!(matches!(
        decoder.next_frame(),
        Err(MdFrameError::RoutingTooLarge { .. })
    ));
}

#[test]
fn compressed_frames_inflate() {
    let certs = ServerCertificates::generate(&mut rng(3), FROM, UNTIL);
    let (_, mut client, mut server, _) = handshake_with_chain(
        certs.chain.clone(),
        &certs.server_static,
        certs.trust_root(),
        NOW,
    )
    .unwrap();
    let node = Node::new("notification").attr("type", "devices");
    let raw = wa_binary::Codec::multi_device().encode(&node).unwrap();
    let mut plaintext = vec![2];
    plaintext.extend(miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6));
    client.push(&server.encode_plaintext(&plaintext).unwrap());
    assert_eq!(client.next_node().unwrap(), Some(node));
}
