//! Generators for the multi-device chapters: the intro and handshake frames, a transport frame
//! and the certificate chain, computed by wa-core's `md` module with fixed seeds and keys.

use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_binary::Node;
use wa_core::md::cert::verify_cert_chain;
use wa_core::md::frame::intro;
use wa_core::md::{
    ClientHandshake, ClientHandshakeConfig, ClientStep, MdConnection, ServerCertificates,
    ServerHandshake, ServerStep,
};
use wa_crypto::KeyPair;
use wa_proto::prost::Message as _;
use wa_proto::proto::CertChain;
use wa_proto::proto::cert_chain::noise_certificate::Details;

use super::{Dump, Generator, fenced, hex, table};

pub(crate) const GENERATORS: [(&str, Generator); 5] = [
    ("md-intro", md_intro),
    ("md-client-hello", md_client_hello),
    ("md-server-hello", md_server_hello),
    ("md-transport-frame", md_transport_frame),
    ("md-cert-chain", md_cert_chain),
];

/// The book's fixed clock for certificates: 2025-01-01 00:00:00 UTC.
const NOW: u64 = 1_735_689_600;

struct Run {
    certs: ServerCertificates,
    first: Vec<u8>,
    server_hello: Vec<u8>,
    client_finish: Vec<u8>,
    client: MdConnection,
    server: MdConnection,
}

fn run() -> Result<Run, String> {
    let mut rng = StdRng::seed_from_u64(7);
    let certs = ServerCertificates::generate(&mut rng, NOW - 86_400, NOW + 365 * 86_400);
    let config = ClientHandshakeConfig {
        trust_root: certs.trust_root(),
        ..ClientHandshakeConfig::default()
    };
    let (handshake, first) = ClientHandshake::start(
        config,
        &KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
        wa_proto::proto::ClientPayload {
            username: Some(15_551_234_567),
            device: Some(3),
            passive: Some(false),
            pull: Some(true),
            ..Default::default()
        }
        .encode_to_vec(),
    )
    .map_err(|e| e.to_string())?;
    let mut server = ServerHandshake::new(
        &certs.server_static,
        KeyPair::generate(&mut rng),
        certs.chain.clone(),
        1 << 20,
    );
    let ServerStep::Send(server_hello) = server.receive(&first).map_err(|e| e.to_string())? else {
        return Err("the server did not answer the hello".into());
    };
    let ClientStep::Done {
        send, connection, ..
    } = handshake
        .receive(&server_hello, NOW)
        .map_err(|e| e.to_string())?
    else {
        return Err("the client did not finish".into());
    };
    let ServerStep::Done(done) = server.receive(&send).map_err(|e| e.to_string())? else {
        return Err("the server did not finish".into());
    };
    Ok(Run {
        certs,
        first,
        server_hello,
        client_finish: send,
        client: *connection,
        server: done.connection,
    })
}

fn md_intro() -> Result<String, String> {
    let plain = intro(None).map_err(|e| e.to_string())?;
    let routed = intro(Some(&[0x08, 0x08, 0x02])).map_err(|e| e.to_string())?;
    let mut dump = Dump::new();
    dump.add(&plain, "intro: 'W' 'A', magic 6, dictionary version 3");
    let mut routed_dump = Dump::new();
    routed_dump.add(&routed[..4], "routing pre-header: 'E' 'D' 0 1");
    routed_dump.add(
        &routed[4..7],
        "length of the routing info (3 bytes, big-endian)",
    );
    routed_dump.add(&routed[7..10], "routing info (as a server handed it out)");
    routed_dump.add(&routed[10..], "intro");
    Ok(format!(
        "Without routing info:\n\n{}\n\nWith routing info `08 08 02`:\n\n{}",
        fenced("text", &dump.render()),
        fenced("text", &routed_dump.render())
    ))
}

fn md_client_hello() -> Result<String, String> {
    let run = run()?;
    let bytes = &run.first;
    let mut dump = Dump::new();
    dump.add(&bytes[..4], "intro");
    dump.add(&bytes[4..7], "frame length");
    dump.add(
        &bytes[7..9],
        "HandshakeMessage field 2 (clientHello), length",
    );
    dump.add(&bytes[9..11], "ClientHello field 1 (ephemeral), length 32");
    dump.add(&bytes[11..], "the client's ephemeral public key");
    Ok(fenced("text", &dump.render()))
}

fn md_server_hello() -> Result<String, String> {
    let run = run()?;
    let bytes = &run.server_hello;
    let mut dump = Dump::new();
    dump.add(&bytes[..3], "frame length");
    // HandshakeMessage field 3 with a two-byte varint length.
    dump.add(
        &bytes[3..6],
        "HandshakeMessage field 3 (serverHello), length (varint)",
    );
    dump.add(&bytes[6..8], "ServerHello field 1 (ephemeral), length 32");
    dump.add(&bytes[8..40], "the server's ephemeral public key");
    dump.add(&bytes[40..42], "field 2 (static), length 48");
    dump.add(
        &bytes[42..90],
        "the server's static key, AES-256-GCM encrypted (32 + 16-byte tag)",
    );
    dump.add(&bytes[90..93], "field 3 (payload), length (varint)");
    dump.add(
        &bytes[93..],
        format!(
            "the CertChain, encrypted ({} bytes + 16-byte tag)",
            run.certs.chain.len()
        ),
    );
    let finish = &run.client_finish;
    let mut finish_dump = Dump::new();
    finish_dump.add(&finish[..3], "frame length");
    finish_dump.add(
        &finish[3..5],
        "HandshakeMessage field 4 (clientFinish), length",
    );
    finish_dump.add(&finish[5..7], "ClientFinish field 1 (static), length 48");
    finish_dump.add(&finish[7..55], "the client's static key, encrypted");
    finish_dump.add(&finish[55..57], "field 2 (payload), length");
    finish_dump.add(
        &finish[57..],
        "a login ClientPayload (username, device, passive, pull), encrypted",
    );
    Ok(format!(
        "`ServerHello` (← server):\n\n{}\n\n`ClientFinish` (→ client), after the chain verified:\n\n{}",
        fenced("text", &dump.render()),
        fenced("text", &finish_dump.render())
    ))
}

fn md_transport_frame() -> Result<String, String> {
    let mut run = run()?;
    let node = Node::new("iq")
        .attr("id", "1")
        .attr("type", "result")
        .attr("to", "s.whatsapp.net");
    let plaintext = wa_binary::Codec::multi_device()
        .encode_frame(&node)
        .map_err(|e| e.to_string())?;
    let frame = run.client.encode_node(&node).map_err(|e| e.to_string())?;
    run.server.push(&frame);
    let back = run.server.next_node().map_err(|e| e.to_string())?;
    if back.as_ref() != Some(&node) {
        return Err("the server did not read the node back".into());
    }
    let mut plain = Dump::new();
    plain.add(&plaintext[..1], "flags: 0 (not compressed)");
    plain.add(&plaintext[1..], "the node, dictionary v3");
    let mut wire = Dump::new();
    wire.add(&frame[..3], "frame length");
    wire.add(
        &frame[3..frame.len() - 16],
        "AES-256-GCM ciphertext (counter 0, no AD)",
    );
    wire.add(&frame[frame.len() - 16..], "GCM tag");
    Ok(format!(
        "The client's first frame after the handshake, `<iq id=\"1\" type=\"result\" to=\"s.whatsapp.net\"/>`.\n\nPlaintext:\n\n{}\n\nOn the wire:\n\n{}",
        fenced("text", &plain.render()),
        fenced("text", &wire.render())
    ))
}

fn md_cert_chain() -> Result<String, String> {
    let run = run()?;
    let chain = CertChain::decode(run.certs.chain.as_slice()).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for (name, cert) in [("intermediate", &chain.intermediate), ("leaf", &chain.leaf)] {
        let cert = cert.as_ref().ok_or("missing certificate")?;
        let details = Details::decode(cert.details.as_deref().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        rows.push(vec![
            name.to_owned(),
            details.serial().to_string(),
            details.issuer_serial().to_string(),
            format!("`{}…`", &hex(details.key())[..16]),
            details.not_before().to_string(),
            details.not_after().to_string(),
            format!("{} bytes", cert.signature().len()),
        ]);
    }
    let verified = verify_cert_chain(
        &run.certs.chain,
        &run.certs.server_static.public_bytes(),
        &run.certs.trust_root(),
        NOW,
    )
    .map_err(|e| e.to_string())?;
    Ok(format!(
        "{}\nRoot key `{}` (serial 0); server static key `{}`. Verified at {NOW}: leaf valid until {}.",
        table(
            &[
                "certificate",
                "serial",
                "issuerSerial",
                "key",
                "notBefore",
                "notAfter",
                "signature"
            ],
            &rows
        ),
        hex(&run.certs.root.public_bytes()),
        hex(&run.certs.server_static.public_bytes()),
        verified.leaf_not_after
    ))
}
