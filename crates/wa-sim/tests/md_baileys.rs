//! Live interop: Baileys 7 (npm `baileys@7.0.0-rc14`) as a new companion completes the
//! multi-device handshake with wa-sim's `/ws/chat`, trusting the simulator's root; the sim
//! decodes its registration payload and tells it to pair. Also records which forged chains
//! Baileys 7 accepts (our client refuses all of them; see the protocol book).

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use tokio::process::Command;
use wa_core::md::ServerCertificates;
use wa_core::md::cert::{CertFields, encode_chain, issue_certificate};
use wa_crypto::KeyPair;
use wa_sim::core::SimEvent;
use wa_sim::md::{MdEvent, MdSim};
use wa_sim::{SimConfig, SimHandle, SimServer};

/// Runs interop/md-handshake.mjs against `handle` trusting `root`; returns its JSON line and
/// exit code.
async fn run_baileys(handle: &SimHandle, root: &[u8; 32]) -> (Value, i32) {
    let output = Command::new("node")
        .arg("md-handshake.mjs")
        .arg(handle.md_ws_url())
        .arg(hex::encode(root))
        .current_dir(wa_testkit::interop_dir(&["baileys"]))
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let value = serde_json::from_str(line).unwrap_or_else(|_| {
        panic!(
            "node printed no JSON line: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (value, output.status.code().unwrap_or(-1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_7_handshakes_registers_and_is_told_to_pair() {
    let handle = SimServer::start(SimConfig::default())
        .await
        .expect("sim starts");
    let root = handle.md().trust_root().key;
    let (line, code) = run_baileys(&handle, &root).await;
    assert_eq!(
        code,
        0,
        "Baileys did not reach the QR: {line}; sim events: {:?}",
        handle.md_events()
    );
    // The Handshake event carries what the sim decoded from Baileys' ClientPayload.
    let event = handle
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
        .unwrap_or_else(|| panic!("no node from Baileys; events: {:?}", handle.md_events()));
    let SimEvent::Md { conn, .. } = event else {
        unreachable!()
    };
    let events = handle.md_events();
    let client = events
        .iter()
        .find_map(|e| match e {
            MdEvent::Handshake { client } => Some(client.clone()),
            _ => None,
        })
        .expect("handshake event");
    let registration = client
        .registration
        .as_ref()
        .expect("a new device registers");
    assert_eq!(
        registration.identity_key,
        line["identity"].as_str().unwrap()
    );
    assert_eq!(
        u64::from(registration.registration_id.unwrap()),
        line["registrationId"].as_u64().unwrap()
    );
    assert_eq!(registration.key_type, Some(5));
    assert_eq!(registration.signed_prekey.len(), 64);
    assert_eq!(registration.signed_prekey_signature.len(), 128);
    assert_eq!(registration.build_hash.len(), 32, "an MD5");
    assert_eq!(registration.device_os.as_deref(), Some("wa-interop"));
    assert_eq!(client.username, None);
    assert_eq!(client.platform.as_deref(), Some("Web"));
    // The QR starts with the first ref the sim sent, then Baileys' Noise key (its static key
    // in the handshake) and identity key.
    let (id, refs) = events
        .iter()
        .find_map(|e| match e {
            MdEvent::PairDeviceSent { id, refs } => Some((id.clone(), refs.clone())),
            _ => None,
        })
        .expect("pair-device sent");
    let qr = line["qr"].as_str().unwrap();
    let qr = qr
        .strip_prefix("https://wa.me/settings/linked_devices#")
        .unwrap_or(qr);
    let fields: Vec<&str> = qr.split(',').collect();
    assert_eq!(fields[0], refs[0]);
    use base64::Engine as _;
    let noise = base64::engine::general_purpose::STANDARD
        .decode(fields[1])
        .unwrap();
    assert_eq!(hex::encode(&noise), client.static_key);
    assert!(events.iter().any(|e| matches!(
        e,
        MdEvent::Received { tag, id: Some(got), r#type: Some(t) }
            if tag == "iq" && *got == id && t == "result"
    )));
    let _ = conn;
    handle.shutdown().await;
}

/// Keys and fields for one forged chain.
struct Chain {
    root: KeyPair,
    intermediate: KeyPair,
    server_static: KeyPair,
    intermediate_fields: CertFields,
    leaf_fields: CertFields,
}

impl Chain {
    fn new(now: u64) -> Chain {
        let mut rng = StdRng::seed_from_u64(41);
        let root = KeyPair::generate(&mut rng);
        let intermediate = KeyPair::generate(&mut rng);
        let server_static = KeyPair::generate(&mut rng);
        Chain {
            intermediate_fields: CertFields {
                serial: 1,
                issuer_serial: 0,
                key: intermediate.public_bytes().to_vec(),
                not_before: now - 3600,
                not_after: now + 3600,
            },
            leaf_fields: CertFields {
                serial: 2,
                issuer_serial: 1,
                key: server_static.public_bytes().to_vec(),
                not_before: now - 3600,
                not_after: now + 3600,
            },
            root,
            intermediate,
            server_static,
        }
    }

    fn build(self, sign_root: Option<&KeyPair>, edit: impl FnOnce(&mut Vec<u8>)) -> MdSim {
        let mut rng = StdRng::seed_from_u64(42);
        let intermediate = issue_certificate(
            &self.intermediate_fields,
            sign_root.unwrap_or(&self.root),
            &mut rng,
        );
        let mut leaf = issue_certificate(&self.leaf_fields, &self.intermediate, &mut rng);
        edit(leaf.signature.as_mut().unwrap());
        let chain = encode_chain(intermediate, leaf);
        MdSim::with_certificates(ServerCertificates {
            root: self.root,
            root_serial: 0,
            intermediate: self.intermediate,
            server_static: self.server_static,
            chain,
        })
    }
}

/// What Baileys 7 does with each forged chain our client refuses: `true` = it connects anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_7_accepts_some_forged_chains() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stranger = KeyPair::generate(&mut StdRng::seed_from_u64(99));
    let mut cases: Vec<(&str, MdSim, bool)> = Vec::new();
    cases.push((
        "signed by another root",
        Chain::new(now).build(Some(&stranger), |_| {}),
        true,
    ));
    cases.push((
        "random leaf signature",
        Chain::new(now).build(None, |s| {
            s.iter_mut().for_each(|b| *b = b.wrapping_mul(7) ^ 0x5a)
        }),
        true,
    ));
    cases.push((
        "63-byte leaf signature",
        Chain::new(now).build(None, |s| {
            s.pop();
        }),
        false,
    ));
    let mut wrong_issuer = Chain::new(now);
    wrong_issuer.intermediate_fields.issuer_serial = 3;
    cases.push((
        "intermediate issuer serial 3",
        wrong_issuer.build(None, |_| {}),
        false,
    ));
    let mut wrong_leaf_issuer = Chain::new(now);
    wrong_leaf_issuer.leaf_fields.issuer_serial = 9;
    cases.push((
        "leaf issuer serial 9",
        wrong_leaf_issuer.build(None, |_| {}),
        true,
    ));
    let mut expired = Chain::new(now);
    expired.leaf_fields.not_after = now - 60;
    cases.push(("expired leaf", expired.build(None, |_| {}), true));
    let mut early = Chain::new(now);
    early.intermediate_fields.not_before = now + 86_400;
    cases.push((
        "intermediate not yet valid",
        early.build(None, |_| {}),
        true,
    ));
    let mut other_key = Chain::new(now);
    other_key.leaf_fields.key = stranger.public_bytes().to_vec();
    cases.push((
        "leaf key is not the static key",
        other_key.build(None, |_| {}),
        true,
    ));
    let mut observed = Vec::new();
    for (name, md, _) in &cases {
        let root = md.trust_root().key;
        let handle = SimServer::start_with_md(SimConfig::default(), md.clone())
            .await
            .expect("sim starts");
        let (line, code) = run_baileys(&handle, &root).await;
        observed.push((*name, code == 0, line.to_string()));
        handle.shutdown().await;
    }
    for ((name, accepted, line), (_, _, expected)) in observed.iter().zip(&cases) {
        assert_eq!(accepted, expected, "{name}: Baileys answered {line}");
    }
}
