//! Arbitrary client stanzas into the simulator's multi-device server after pairing: one
//! connection logged in as a linked device (with prekeys), one waiting to pair (QR refs sent),
//! one unknown. Each chunk of the input is decoded as a node and fed to a connection; some
//! chunks are used as QR strings for the phone or as JIDs to unlink. Never panics, and the
//! linked device keeps at most what it uploaded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_binary::{Codec, Node};
use wa_crypto::KeyPair;
use wa_proto::proto::ClientPayload;
use wa_sim::md::MdServer;
use wa_sim::md::registry::{Device, PublicKey, SignedPreKey};

const NOW: u64 = 1_800_000_000;
const NUMBER: u64 = 15_550_000_001;

fn server() -> MdServer {
    let mut server = MdServer::new(1);
    server.phone(Some(NUMBER));
    let identity = KeyPair::from_private_bytes([3; 32]).public_bytes();
    server.registry_mut().insert(Device {
        number: NUMBER,
        device: 1,
        key_index: 1,
        noise_key: PublicKey([4; 32]),
        identity: PublicKey(identity),
        registration_id: 7,
        // Key fetches then serve bundles (and push "prekey low" once under 5 are left).
        signed_prekey: Some(SignedPreKey {
            id: 1,
            public: PublicKey([6; 32]),
            signature: vec![0; 64],
        }),
        prekeys: (1..=20).map(|id| (id, PublicKey([id as u8; 32]))).collect(),
        platform: "fuzz".into(),
        signed_identity: Vec::new(),
        linked_at: NOW,
    });
    let login = ClientPayload {
        username: Some(NUMBER),
        device: Some(1),
        ..ClientPayload::default()
    };
    server.connected(1, &login, &[4; 32], NOW);
    server.connected(2, &ClientPayload::default(), &[5; 32], NOW);
    server
}

fuzz_target!(|data: &[u8]| {
    let mut server = server();
    let codec = Codec::multi_device();
    let mut rest = data;
    while let [selector, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(len);
        rest = next;
        match selector % 8 {
            0..=4 => {
                if let Ok(node) = codec.decode(chunk) {
                    let conn = u64::from(selector % 3) + 1;
                    let _ = server.node(conn, &node, NOW);
                }
            }
            5 => {
                let _ = server.scan(&String::from_utf8_lossy(chunk), None, NOW);
            }
            6 => {
                let _ = server.unlink(&String::from_utf8_lossy(chunk));
            }
            _ => {
                // A node the fuzzer shapes less: an encrypt/md iq around the decoded chunk.
                if let Ok(child) = codec.decode(chunk) {
                    let iq = Node::new("iq")
                        .attr("id", "f")
                        .attr("xmlns", if selector & 8 == 0 { "encrypt" } else { "md" })
                        .attr("type", if selector & 16 == 0 { "set" } else { "get" })
                        .children([child]);
                    let _ = server.node(1 + u64::from(selector & 32 != 0), &iq, NOW);
                }
            }
        }
    }
    for device in server.devices(None) {
        assert!(device.prekeys <= wa_sim::md::prekeys::MAX_STORED);
    }
});
