//! Arbitrary bytes as handshake messages and certificate chains: `HandshakeMessage` and
//! `CertChain` parsing, the chain check, the server's handshake reading a client's stream and
//! the client's reading a server's, under fixed keys. Never panics; a chain under a root nobody
//! holds never verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_core::md::cert::verify_cert_chain;
use wa_core::md::{ClientHandshake, ClientHandshakeConfig, ServerHandshake, TrustRoot};
use wa_crypto::KeyPair;

fn key(byte: u8) -> KeyPair {
    KeyPair::from_private_bytes([byte; 32])
}

fuzz_target!(|data: &[u8]| {
    let root = TrustRoot {
        key: key(1).public_bytes(),
        serial: 0,
    };
    assert!(verify_cert_chain(data, &key(2).public_bytes(), &root, 1_800_000_000).is_err());

    let mut server = ServerHandshake::new(&key(3), key(4), data.to_vec(), 4096);
    for _ in 0..4 {
        if !matches!(server.receive(data), Ok(wa_core::md::ServerStep::Send(_))) {
            break;
        }
    }

    let config = ClientHandshakeConfig {
        trust_root: root,
        max_frame_len: 4096,
        ..ClientHandshakeConfig::default()
    };
    if let Ok((client, _)) = ClientHandshake::start(config, &key(5), key(6), Vec::new()) {
        let _ = client.receive(data, 1_800_000_000);
    }
});
