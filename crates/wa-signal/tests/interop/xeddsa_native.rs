//! XEdDSA against Signal's own native library, `@signalapp/libsignal-client` (an interop
//! devDependency): not a WhatsApp peer, but the reference signer and verifier. Our signatures
//! (one-off and from an `XeddsaSigningKey`) must verify there, its signatures here, and a
//! changed signature or message nowhere.

use std::io::Write as _;
use std::process::{Command, Stdio};

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use wa_crypto::{XeddsaSigningKey, xeddsa_sign_rng, xeddsa_verify};
use wa_signal::{KeyPair, PublicKey};

/// For each request `{private, public, message, ours}` (hex): whether `ours` verifies under
/// the native `PublicKey.verify`, whether it still does with one bit flipped, the native
/// library's public key for `private`, and its own signature of `message`.
const SCRIPT: &str = r#"
const native = require('@signalapp/libsignal-client');
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const hex = (s) => Buffer.from(s, 'hex');
  const out = JSON.parse(input).map((r) => {
    const key = native.PrivateKey.deserialize(hex(r.private));
    const pub = native.PublicKey.deserialize(hex(r.public));
    const msg = hex(r.message);
    const ours = hex(r.ours);
    const flipped = Buffer.from(ours);
    flipped[r.flip >> 3] ^= 1 << (r.flip & 7);
    return {
      verifies: pub.verify(msg, ours),
      flipped_verifies: pub.verify(msg, flipped),
      public: Buffer.from(key.getPublicKey().serialize()).toString('hex'),
      theirs: Buffer.from(key.sign(msg)).toString('hex'),
    };
  });
  process.stdout.write(JSON.stringify(out));
});
"#;

#[test]
fn signatures_cross_verify_with_signals_native_library() {
    let package = "@signalapp/libsignal-client";
    if wa_testkit::npm_package_missing(package) || wa_testkit::node_missing() {
        return;
    }
    let dir = wa_testkit::interop_dir(&[package]);
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut requests = Vec::new();
    let mut keys = Vec::new();
    for i in 0..24usize {
        let key = KeyPair::generate(&mut rng);
        let message: Vec<u8> = match i % 3 {
            0 => PublicKey::of(&KeyPair::generate(&mut rng))
                .to_wire()
                .to_vec(),
            1 => Vec::new(),
            _ => (0..1000 + i).map(|b| b as u8).collect(),
        };
        // Half one-off signatures, half from a signing key made once.
        let ours = if i % 2 == 0 {
            xeddsa_sign_rng(&key, &message, &mut rng)
        } else {
            XeddsaSigningKey::new(&key).sign_rng(&message, &mut rng)
        };
        requests.push(json!({
            "private": hex::encode(*key.private_bytes()),
            "public": hex::encode(PublicKey::of(&key).to_wire()),
            "message": hex::encode(&message),
            "ours": hex::encode(ours),
            "flip": (i * 37) % 512,
        }));
        keys.push((key, message));
    }
    let mut child = Command::new("node")
        .args(["-e", SCRIPT])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting node: {e}"));
    let mut stdin = child.stdin.take().expect("piped");
    stdin
        .write_all(Value::Array(requests).to_string().as_bytes())
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "node failed");
    let answers: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answers.len(), keys.len());
    let mut their_sign_bits = [0usize; 2];
    for (i, ((key, message), answer)) in keys.iter().zip(&answers).enumerate() {
        assert_eq!(answer["verifies"], true, "ours #{i} under native verify");
        assert_eq!(answer["flipped_verifies"], false, "flipped #{i}");
        assert_eq!(
            answer["public"].as_str().unwrap(),
            hex::encode(PublicKey::of(key).to_wire()),
            "the same public key #{i}"
        );
        let theirs = hex::decode(answer["theirs"].as_str().unwrap()).unwrap();
        let public = key.public_bytes();
        xeddsa_verify(&public, message, &theirs)
            .unwrap_or_else(|e| panic!("native signature #{i} refused: {e}"));
        their_sign_bits[usize::from(theirs[63] >> 7)] += 1;
        let mut other = message.clone();
        other.push(0);
        assert!(xeddsa_verify(&public, &other, &theirs).is_err(), "#{i}");
        let mut bad = theirs.clone();
        bad[i % 32] ^= 0x10;
        assert!(xeddsa_verify(&public, message, &bad).is_err(), "#{i}");
    }
    eprintln!("native signatures by the sign bit they carry in s: {their_sign_bits:?}");
}
