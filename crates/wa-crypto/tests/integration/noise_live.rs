//! Live Noise handshakes with fresh random keys against Node peers (`interop/noise-peer.mjs`):
//! our responder with Baileys 7's noise handler and with whatsapp-rust-bridge's NoiseSession as
//! initiators (both verify the certificate chain we send), and our initiator with the responder
//! built from Baileys' helpers; then frames both ways.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};
use wa_crypto::KeyPair;
use wa_crypto::noise::{Initiator, Responder, WA_NOISE_PROLOGUE};

use crate::{rng, unhex, unhex_array};

struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn start(role: &str) -> Peer {
        let dir = wa_testkit::interop_dir(&["baileys"]);
        let mut child = Command::new("node")
            .args(["noise-peer.mjs", role])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node must be installed to run the interop tests (see `cargo xtask setup`)");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Peer {
            child,
            stdin,
            stdout,
        }
    }

    fn send(&mut self, message: &Value) {
        writeln!(self.stdin, "{message}").expect("write to node");
        self.stdin.flush().expect("flush to node");
    }

    fn receive(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from node");
        assert!(
            !line.is_empty(),
            "the node peer exited early (see its stderr)"
        );
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("node printed {line:?}: {e}"))
    }

    fn field(message: &Value, key: &str) -> Vec<u8> {
        unhex(
            message[key]
                .as_str()
                .unwrap_or_else(|| panic!("no {key} in {message}")),
        )
    }

    fn finish(mut self) {
        let status = self.child.wait().expect("node exits");
        assert!(status.success(), "node peer failed: {status}");
    }
}

const PINGS: [&str; 3] = ["ping 0", "ping 1", "ping 2 "];

fn our_responder_with(initiator: &str) {
    // The server static key and chain the vectors' test root signed (Baileys checks it).
    let vectors: Value =
        serde_json::from_str(include_str!("../vectors/noise.json")).expect("noise.json");
    let case = &vectors["cases"][0];
    let server_static =
        KeyPair::from_private_bytes(unhex_array(case["server_static_private"].as_str().unwrap()));
    let chain = unhex(case["cert_chain"].as_str().unwrap());

    let mut peer = Peer::start(initiator);
    let hello = peer.receive();
    let (server_hello, awaiting_finish) = Responder::start(
        &WA_NOISE_PROLOGUE,
        &server_static,
        KeyPair::generate(&mut rng(0x5E5)),
    )
    .read_client_hello(&Peer::field(&hello, "client_hello"))
    .expect("client hello")
    .server_hello(&chain);
    peer.send(&json!({
        "ephemeral": hex::encode(server_hello.ephemeral),
        "static": hex::encode(&server_hello.static_ciphertext),
        "payload": hex::encode(&server_hello.payload_ciphertext),
    }));
    let finish = peer.receive();
    let (client, mut transport) = awaiting_finish
        .read_client_finish(
            &Peer::field(&finish, "static"),
            &Peer::field(&finish, "payload"),
        )
        .expect("client finish authenticates");
    assert_eq!(
        client.client_static.to_vec(),
        Peer::field(&finish, "client_static")
    );
    assert_eq!(
        client.payload,
        format!("client payload from {initiator}").as_bytes()
    );

    let frames = peer.receive();
    let frames = frames["frames"].as_array().expect("frames");
    assert_eq!(frames.len(), 3);
    let mut pongs = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let ping = transport
            .decrypt(&unhex(frame.as_str().unwrap()))
            .expect("ping frame");
        let ping = String::from_utf8(ping).unwrap();
        assert!(ping.starts_with(PINGS[i]), "frame {i}: {ping}");
        let pong = ping.replace("ping", "pong");
        pongs.push(hex::encode(transport.encrypt(pong.as_bytes()).unwrap()));
    }
    peer.send(&json!({ "frames": pongs }));
    assert_eq!(peer.receive()["ok"], json!(true));
    peer.finish();
}

#[test]
fn baileys_initiator_completes_a_handshake_with_our_responder() {
    our_responder_with("baileys");
}

#[test]
fn bridge_initiator_completes_a_handshake_with_our_responder() {
    our_responder_with("bridge");
}

#[test]
fn our_initiator_completes_a_handshake_with_a_baileys_helper_responder() {
    let mut rng = rng(0x1417);
    let client_static = KeyPair::generate(&mut rng);
    let mut peer = Peer::start("responder");
    let (e, awaiting) = Initiator::start(
        &WA_NOISE_PROLOGUE,
        &client_static,
        KeyPair::generate(&mut rng),
    );
    peer.send(&json!({ "client_hello": hex::encode(e) }));
    let hello = peer.receive();
    let (server, finishing) = awaiting
        .read_server_hello(
            &Peer::field(&hello, "ephemeral"),
            &Peer::field(&hello, "static"),
            &Peer::field(&hello, "payload"),
        )
        .expect("server hello authenticates");
    assert_eq!(
        server.server_static.to_vec(),
        Peer::field(&hello, "server_static")
    );
    assert!(!server.payload.is_empty(), "the certificate chain arrives");
    let (finish, mut transport) = finishing.finish(b"client payload from wa-crypto");
    peer.send(&json!({
        "static": hex::encode(&finish.static_ciphertext),
        "payload": hex::encode(&finish.payload_ciphertext),
    }));
    let pings: Vec<String> = PINGS
        .iter()
        .map(|ping| hex::encode(transport.encrypt(ping.as_bytes()).unwrap()))
        .collect();
    peer.send(&json!({ "frames": pings }));
    let pongs = peer.receive();
    for (i, frame) in pongs["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .enumerate()
    {
        let pong = transport
            .decrypt(&unhex(frame.as_str().unwrap()))
            .expect("pong frame");
        assert_eq!(pong, PINGS[i].replace("ping", "pong").as_bytes());
    }
    let done = peer.receive();
    assert_eq!(done["ok"], json!(true));
    assert_eq!(
        unhex(done["client_static"].as_str().unwrap()),
        client_static.public_bytes()
    );
    assert_eq!(
        unhex(done["client_payload"].as_str().unwrap()),
        b"client payload from wa-crypto"
    );
    peer.finish();
}
