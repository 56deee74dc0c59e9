//! Our client's multi-device handshake with wa-sim over a real WebSocket: it verifies the sim's
//! chain, registers as a new device and receives the pair-device iq; with a forged chain it
//! refuses and sends nothing more.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_binary::Node;
use wa_client::md::{MdClient, MdClientError, MdConnectConfig};
use wa_core::md::{
    CertError, Certificate, ClientHandshakeConfig, DeviceDescription, MdError, RegistrationKeys,
    ServerCertificates, TrustRoot, registration_payload,
};
use wa_crypto::KeyPair;
use wa_sim::core::SimEvent;
use wa_sim::md::{MdEvent, MdSim};
use wa_sim::{SimConfig, SimHandle, SimServer};
use wa_transport::TransportConfig;

fn config(handle: &SimHandle, root: TrustRoot) -> MdConnectConfig {
    MdConnectConfig {
        transport: TransportConfig {
            url: handle.md_ws_url(),
            ..TransportConfig::multi_device()
        },
        handshake: ClientHandshakeConfig {
            trust_root: root,
            ..ClientHandshakeConfig::default()
        },
        handshake_timeout: Duration::from_secs(10),
    }
}

fn keys(rng: &mut StdRng) -> RegistrationKeys {
    RegistrationKeys {
        registration_id: 4321,
        identity: KeyPair::generate(rng),
        signed_prekey_id: 1,
        signed_prekey: KeyPair::generate(rng),
    }
}

#[tokio::test]
async fn our_client_handshakes_registers_and_receives_pair_device() {
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let noise = KeyPair::generate(&mut rng);
    let keys = keys(&mut rng);
    let payload = registration_payload(&keys, &DeviceDescription::default(), &mut rng);
    let mut client =
        MdClient::connect(&config(&handle, handle.md().trust_root()), &noise, &payload)
            .await
            .expect("handshake completes");
    assert_eq!(client.chain().leaf_serial, 2);
    let iq = client.next_node().await.unwrap().expect("a node");
    assert_eq!(iq.tag.as_ref() as &str, "iq");
    assert_eq!(iq.attrs.get("xmlns"), Some("md"));
    let refs = iq.child("pair-device").expect("pair-device").child_nodes();
    assert_eq!(refs.len(), 6);
    let id = iq.attrs.get("id").unwrap().to_owned();
    client
        .send_node(
            &Node::new("iq")
                .attr("to", "s.whatsapp.net")
                .attr("type", "result")
                .attr("id", &id),
        )
        .await
        .unwrap();
    handle
        .wait_for_event(Duration::from_secs(5), |e| {
            matches!(
                e,
                SimEvent::Md {
                    md: MdEvent::Received { .. },
                    ..
                }
            )
        })
        .await
        .expect("the sim reads our ack");
    let events = handle.md_events();
    let client_info = events
        .iter()
        .find_map(|e| match e {
            MdEvent::Handshake { client } => Some(client.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(client_info.static_key, hex::encode(noise.public_bytes()));
    let registration = client_info.registration.as_ref().unwrap();
    assert_eq!(registration.registration_id, Some(4321));
    assert_eq!(
        registration.identity_key,
        hex::encode(keys.identity.public_bytes())
    );
    assert_eq!(
        registration.signed_prekey,
        hex::encode(keys.signed_prekey.public_bytes())
    );
    assert_eq!(registration.device_os.as_deref(), Some("wa"));
    // The prekey signature verifies under the identity key, as a server would check it.
    let mut prefixed = vec![5];
    prefixed.extend_from_slice(&keys.signed_prekey.public_bytes());
    let signature: Vec<u8> = (0..64)
        .map(|i| {
            u8::from_str_radix(&registration.signed_prekey_signature[2 * i..2 * i + 2], 16).unwrap()
        })
        .collect();
    wa_crypto::xeddsa_verify(&keys.identity.public_bytes(), &prefixed, &signature).unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MdEvent::Received { id: Some(got), .. } if *got == id))
    );
    client.close().await.unwrap();
    handle.shutdown().await;
}

#[tokio::test]
async fn whatsapps_root_does_not_trust_the_sim() {
    let handle = SimServer::start(SimConfig::default()).await.unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    let payload = registration_payload(&keys(&mut rng), &DeviceDescription::default(), &mut rng);
    let error = MdClient::connect(
        &config(&handle, TrustRoot::WHATSAPP),
        &KeyPair::generate(&mut rng),
        &payload,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        error,
        MdClientError::Protocol(MdError::Cert(CertError::BadSignature {
            cert: Certificate::Intermediate
        }))
    ));
    handle.shutdown().await;
}

#[tokio::test]
async fn nothing_is_sent_after_a_refused_chain() {
    // A valid chain for another key than the one the sim handshakes with.
    let mut rng = StdRng::seed_from_u64(3);
    let honest = ServerCertificates::generate(&mut rng, 1_600_000_000, 4_000_000_000);
    let forged = ServerCertificates {
        server_static: KeyPair::generate(&mut rng),
        ..honest
    };
    let handle = SimServer::start_with_md(SimConfig::default(), MdSim::with_certificates(forged))
        .await
        .unwrap();
    let payload = registration_payload(&keys(&mut rng), &DeviceDescription::default(), &mut rng);
    let error = MdClient::connect(
        &config(&handle, handle.md().trust_root()),
        &KeyPair::generate(&mut rng),
        &payload,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        error,
        MdClientError::Protocol(MdError::Cert(CertError::LeafKeyMismatch))
    ));
    // Any byte after ClientHello would reach the sim's session as a ClientFinish (a Handshake
    // event) or as garbage (a Closed event). Give it time to arrive, then check there was none.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(handle.md_events(), Vec::new());
    handle.shutdown().await;
}
