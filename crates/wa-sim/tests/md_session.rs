//! The simulator's multi-device session, sans-IO: our client's handshake against it, and the
//! stream errors that close one connection and leave the others alone.

use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_core::md::frame::{INTRO_HEADER, encode_frame};
use wa_core::md::{ClientHandshake, ClientHandshakeConfig, ClientStep, MdConnection};
use wa_crypto::KeyPair;
use wa_proto::prost::Message as _;
use wa_proto::proto::ClientPayload;
use wa_sim::md::{Action, MdEvent, MdOutput, MdServer, MdSession, MdSim, Out, Wire, pump};

const NOW: u64 = 1_800_000_000;

fn sent(outputs: &[MdOutput]) -> Vec<u8> {
    outputs
        .iter()
        .filter_map(|o| match o {
            MdOutput::Send(bytes) => Some(bytes.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn closed_reason(outputs: &[MdOutput]) -> Option<String> {
    assert_eq!(outputs.last(), Some(&MdOutput::Close), "{outputs:?}");
    outputs.iter().find_map(|o| match o {
        MdOutput::Event(MdEvent::Closed { reason }) => Some(reason.clone()),
        _ => None,
    })
}

/// What a pump sent to connection `conn`, as bytes on its wire.
fn wire_bytes(session: &mut MdSession, conn: u64, wire: Vec<Wire>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for item in wire {
        match item {
            Wire::Bytes(b) => bytes.extend(b),
            Wire::Out(Out {
                conn: to,
                action: Action::Send(node),
            }) if to == conn => bytes.extend(session.encode(&node).unwrap()),
            Wire::Out(_) => {}
        }
    }
    bytes
}

/// Handshakes a client with a fresh session; returns both ends.
fn connect(sim: &MdSim, seed: u64) -> (MdSession, MdConnection) {
    let mut rng = StdRng::seed_from_u64(seed);
    let config = ClientHandshakeConfig {
        trust_root: sim.trust_root(),
        ..ClientHandshakeConfig::default()
    };
    let (client, first) = ClientHandshake::start(
        config,
        &KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
        ClientPayload::default().encode_to_vec(),
    )
    .unwrap();
    let mut session = MdSession::new(sim, seed);
    let hello = sent(&session.receive(&first));
    let ClientStep::Done {
        send,
        mut connection,
        ..
    } = client.receive(&hello, NOW).unwrap()
    else {
        panic!("one ServerHello completes the client");
    };
    let mut server = MdServer::new(seed);
    let wire = pump(&mut server, &mut session, 1, &send, NOW);
    assert!(wire.iter().any(|w| matches!(
        w,
        Wire::Out(Out {
            action: Action::Event(MdEvent::PairDeviceSent { .. }),
            ..
        })
    )));
    connection.push(&wire_bytes(&mut session, 1, wire));
    let iq = connection.next_node().unwrap().expect("pair-device iq");
    assert_eq!(iq.child("pair-device").unwrap().child_nodes().len(), 6);
    (session, *connection)
}

#[test]
fn stream_errors_close_only_their_connection() {
    let sim = MdSim::generate(1, NOW);
    // A stream that does not start with the intro.
    let mut session = MdSession::new(&sim, 2);
    let reason = closed_reason(&session.receive(b"GET / HTTP/1.1")).unwrap();
    assert!(reason.contains("intro"), "{reason}");
    assert!(session.is_closed());
    assert!(
        session.receive(&INTRO_HEADER).is_empty(),
        "nothing after closing"
    );

    // An oversized frame in the handshake.
    let mut session = MdSession::new(&sim, 3);
    let mut bytes = INTRO_HEADER.to_vec();
    bytes.extend_from_slice(&[0xff, 0xff, 0xff]);
    let reason = closed_reason(&session.receive(&bytes)).unwrap();
    assert!(reason.contains("exceeds"), "{reason}");

    // A frame with a bad tag after the handshake, while another connection carries on.
    let (mut broken, mut broken_client) = connect(&sim, 4);
    let (mut healthy, mut healthy_client) = connect(&sim, 5);
    let mut frame = broken_client
        .encode_node(&wa_binary::Node::new("iq"))
        .unwrap();
    let last = frame.len() - 1;
    frame[last] ^= 0x80;
    let reason = closed_reason(&broken.receive(&frame)).unwrap();
    assert!(reason.contains("tag"), "{reason}");
    let outputs = healthy.receive(
        &healthy_client
            .encode_node(&wa_binary::Node::new("iq").attr("type", "result"))
            .unwrap(),
    );
    assert!(matches!(&outputs[..], [MdOutput::Node(node)] if node.tag.as_ref() as &str == "iq"));

    // An oversized frame after the handshake.
    let (mut session, _) = connect(&sim, 6);
    let mut big = Vec::new();
    encode_frame(&vec![0; sim.max_frame_len + 1], usize::MAX, &mut big).unwrap();
    let reason = closed_reason(&session.receive(&big[..3])).unwrap();
    assert!(reason.contains("exceeds"), "{reason}");
}

#[test]
fn a_login_of_an_unlinked_device_gets_failure_401() {
    let sim = MdSim::generate(1, NOW);
    let mut rng = StdRng::seed_from_u64(8);
    let payload = ClientPayload {
        username: Some(15551234567),
        device: Some(2),
        ..ClientPayload::default()
    };
    let (client, first) = ClientHandshake::start(
        ClientHandshakeConfig {
            trust_root: sim.trust_root(),
            ..ClientHandshakeConfig::default()
        },
        &KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
        payload.encode_to_vec(),
    )
    .unwrap();
    let mut session = MdSession::new(&sim, 9);
    let hello = sent(&session.receive(&first));
    let ClientStep::Done {
        send,
        mut connection,
        ..
    } = client.receive(&hello, NOW).unwrap()
    else {
        panic!("done");
    };
    let mut server = MdServer::new(1);
    let wire = pump(&mut server, &mut session, 7, &send, NOW);
    assert!(wire.contains(&Wire::Out(Out {
        conn: 7,
        action: Action::Event(MdEvent::LoginRefused { reason: 401 })
    })));
    assert_eq!(
        wire.last(),
        Some(&Wire::Out(Out {
            conn: 7,
            action: Action::Close
        }))
    );
    connection.push(&wire_bytes(&mut session, 7, wire));
    let failure = connection.next_node().unwrap().unwrap();
    assert_eq!(failure.tag.as_ref() as &str, "failure");
}
