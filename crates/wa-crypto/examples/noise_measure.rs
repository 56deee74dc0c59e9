//! Measures the Noise handshake (whole, and each role alone) and transport throughput for
//! `cargo xtask bench-compare noise`; prints one JSON object per line. Release builds only
//! give meaningful figures. Usage: `noise_measure [SECONDS per measure]`.
//!
//! Every handshake generates both ephemeral keys and checks the server's certificate chain the
//! way a client must: two XEdDSA verifications (root → intermediate, intermediate → leaf).

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_crypto::noise::{
    ClientFinish, Initiator, NoiseTransport, Responder, ServerHelloOut, WA_NOISE_PROLOGUE,
};
use wa_crypto::{KeyPair, xeddsa_sign, xeddsa_verify};

/// A certificate chain's signed parts (the protobuf around them is the caller's).
struct Chain {
    root: [u8; 32],
    intermediate_key: [u8; 32],
    intermediate_details: Vec<u8>,
    intermediate_signature: [u8; 64],
    leaf_details: Vec<u8>,
    leaf_signature: [u8; 64],
    encoded: Vec<u8>,
}

impl Chain {
    fn new(server_static: &KeyPair) -> Chain {
        let root = KeyPair::from_private_bytes([0x51; 32]);
        let intermediate = KeyPair::from_private_bytes([0x52; 32]);
        // Details-sized messages (serial, issuer serial, 32-byte key, two timestamps).
        let mut intermediate_details = vec![0x08, 0x01, 0x10, 0x00, 0x1a, 0x20];
        intermediate_details.extend_from_slice(&intermediate.public_bytes());
        intermediate_details.extend_from_slice(&[0x20, 0x80, 0xe2, 0xcf, 0xaa, 0x06]);
        let mut leaf_details = vec![0x08, 0x02, 0x10, 0x01, 0x1a, 0x20];
        leaf_details.extend_from_slice(&server_static.public_bytes());
        leaf_details.extend_from_slice(&[0x20, 0x80, 0xe2, 0xcf, 0xaa, 0x06]);
        let intermediate_signature = xeddsa_sign(&root, &intermediate_details, &[7; 64]);
        let leaf_signature = xeddsa_sign(&intermediate, &leaf_details, &[8; 64]);
        let mut encoded = intermediate_details.clone();
        encoded.extend_from_slice(&intermediate_signature);
        encoded.extend_from_slice(&leaf_details);
        encoded.extend_from_slice(&leaf_signature);
        Chain {
            root: root.public_bytes(),
            intermediate_key: intermediate.public_bytes(),
            intermediate_details,
            intermediate_signature,
            leaf_details,
            leaf_signature,
            encoded,
        }
    }

    /// What a client checks before finishing (signatures; the rest is field comparisons).
    fn verify(&self) {
        xeddsa_verify(
            &self.root,
            &self.intermediate_details,
            &self.intermediate_signature,
        )
        .expect("intermediate signed by the root");
        xeddsa_verify(
            &self.intermediate_key,
            &self.leaf_details,
            &self.leaf_signature,
        )
        .expect("leaf signed by the intermediate");
    }
}

const CLIENT_PAYLOAD: &[u8] = &[0x42; 120];

struct Fixture {
    client_static: KeyPair,
    server_static: KeyPair,
    chain: Chain,
}

impl Fixture {
    fn client(&self, ephemeral: KeyPair, hello: &ServerHelloOut) -> (ClientFinish, NoiseTransport) {
        let (_, awaiting) = Initiator::start(&WA_NOISE_PROLOGUE, &self.client_static, ephemeral);
        let (_, finishing) = awaiting
            .read_server_hello(
                &hello.ephemeral,
                &hello.static_ciphertext,
                &hello.payload_ciphertext,
            )
            .expect("server hello");
        self.chain.verify();
        finishing.finish(CLIENT_PAYLOAD)
    }

    fn whole(&self, rng: &mut StdRng) -> (NoiseTransport, NoiseTransport) {
        let client_ephemeral = KeyPair::generate(rng);
        let server_ephemeral = KeyPair::generate(rng);
        let (e, awaiting) =
            Initiator::start(&WA_NOISE_PROLOGUE, &self.client_static, client_ephemeral);
        let (hello, awaiting_finish) =
            Responder::start(&WA_NOISE_PROLOGUE, &self.server_static, server_ephemeral)
                .read_client_hello(&e)
                .expect("client hello")
                .server_hello(&self.chain.encoded);
        let (_, finishing) = awaiting
            .read_server_hello(
                &hello.ephemeral,
                &hello.static_ciphertext,
                &hello.payload_ciphertext,
            )
            .expect("server hello");
        self.chain.verify();
        let (finish, client) = finishing.finish(CLIENT_PAYLOAD);
        let (_, server) = awaiting_finish
            .read_client_finish(&finish.static_ciphertext, &finish.payload_ciphertext)
            .expect("client finish");
        (client, server)
    }
}

/// Calls `op` repeatedly for `budget`, returning operations per second.
fn rate(budget: Duration, mut op: impl FnMut(usize)) -> f64 {
    for i in 0..16 {
        op(i);
    }
    let start = Instant::now();
    let mut count = 0usize;
    while start.elapsed() < budget {
        for _ in 0..8 {
            op(count);
            count += 1;
        }
    }
    count as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let budget = Duration::from_secs_f64(seconds);
    let server_static = KeyPair::from_private_bytes([0x22; 32]);
    let fixture = Fixture {
        client_static: KeyPair::from_private_bytes([0x11; 32]),
        chain: Chain::new(&server_static),
        server_static,
    };
    let print = |measure: &str, value: f64, unit: &str| {
        println!("{{\"peer\": \"wa-crypto\", \"measure\": \"{measure}\", \"{unit}\": {value:.1}}}");
    };

    let mut rng = StdRng::seed_from_u64(1);
    print(
        "handshake",
        rate(budget, |_| drop(black_box(fixture.whole(&mut rng)))),
        "per_s",
    );

    // One role at a time: the other side's messages are recorded beforehand, and the timed
    // side derives its ephemeral key from a stored private key (one scalar multiplication,
    // as generating it would cost).
    const RECORDED: usize = 64;
    let ephemerals: Vec<([u8; 32], [u8; 32])> = (0..RECORDED as u8)
        .map(|i| ([i; 32], [i ^ 0x80; 32]))
        .collect();
    let transcripts: Vec<([u8; 32], ServerHelloOut, ClientFinish)> = ephemerals
        .iter()
        .map(|(client_private, server_private)| {
            let client_ephemeral = KeyPair::from_private_bytes(*client_private);
            let e = client_ephemeral.public_bytes();
            let (hello, _) = Responder::start(
                &WA_NOISE_PROLOGUE,
                &fixture.server_static,
                KeyPair::from_private_bytes(*server_private),
            )
            .read_client_hello(&e)
            .expect("client hello")
            .server_hello(&fixture.chain.encoded);
            let (finish, _) = fixture.client(client_ephemeral, &hello);
            (e, hello, finish)
        })
        .collect();
    print(
        "initiator",
        rate(budget, |i| {
            let i = i % RECORDED;
            let ephemeral = KeyPair::from_private_bytes(ephemerals[i].0);
            drop(black_box(fixture.client(ephemeral, &transcripts[i].1)));
        }),
        "per_s",
    );
    print(
        "responder",
        rate(budget, |i| {
            let i = i % RECORDED;
            let (e, _, finish) = &transcripts[i];
            let ephemeral = KeyPair::from_private_bytes(ephemerals[i].1);
            let (_, awaiting_finish) =
                Responder::start(&WA_NOISE_PROLOGUE, &fixture.server_static, ephemeral)
                    .read_client_hello(e)
                    .expect("client hello")
                    .server_hello(&fixture.chain.encoded);
            drop(black_box(
                awaiting_finish
                    .read_client_finish(&finish.static_ciphertext, &finish.payload_ciphertext)
                    .expect("client finish"),
            ));
        }),
        "per_s",
    );

    for size in [1024usize, 16384] {
        let plaintext = vec![0x5a; size];
        let (mut client, _) = fixture.whole(&mut rng);
        let frames_per_s = rate(budget, |_| {
            black_box(client.encrypt(black_box(&plaintext)).expect("counter"));
        });
        print(
            &format!("encrypt-{size}"),
            frames_per_s * size as f64 / 1e6,
            "mbps",
        );
        // Decrypt streams of real frames, in order, as a receiver does; only the decryption
        // is timed (sealing each batch for a fresh pair is not).
        let mut decrypting = Duration::ZERO;
        let mut bytes = 0usize;
        let frames_per_batch = (4 << 20) / size;
        while decrypting < budget {
            let (mut sender, mut receiver) = fixture.whole(&mut rng);
            let frames: Vec<Vec<u8>> = (0..frames_per_batch)
                .map(|_| sender.encrypt(&plaintext).expect("counter"))
                .collect();
            let start = Instant::now();
            for frame in &frames {
                black_box(receiver.decrypt(black_box(frame)).expect("in-order frame"));
            }
            decrypting += start.elapsed();
            bytes += frames_per_batch * size;
        }
        print(
            &format!("decrypt-{size}"),
            bytes as f64 / decrypting.as_secs_f64() / 1e6,
            "mbps",
        );
    }
}
