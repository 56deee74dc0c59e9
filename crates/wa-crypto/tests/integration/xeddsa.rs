//! XEdDSA against the signers WhatsApp clients run: known answers from curve25519-js (the curve
//! under npm `libsignal` 6.0.0, which lets Z be fixed), signatures from npm `libsignal` and
//! whatsapp-rust-bridge (random Z) that must verify here, our signatures judged live by all three
//! verifiers, and the refusals.

use std::io::Write as _;
use std::process::{Command, Stdio};

use rand::RngCore as _;
use serde::Deserialize;
use serde_json::{Value, json};
use wa_crypto::{
    Error, KeyPair, XEDDSA_SIGNATURE_LEN, xeddsa_sign, xeddsa_sign_rng, xeddsa_verify,
};

use crate::{rng, unhex, unhex_array};

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    private: String,
    public: String,
    message: String,
    random: String,
    curve25519js_signature: String,
    libsignal_signature: String,
    bridge_signature: String,
}

fn vectors() -> Vec<Case> {
    let text = include_str!("../vectors/xeddsa.json");
    serde_json::from_str::<Vectors>(text)
        .expect("xeddsa.json parses")
        .cases
}

/// curve25519-js's signing with a fixed Z, rebuilt from what its outputs show: no negation (its
/// `A = kB` keeps its sign bit, stored in bit 255 of `s`) and the nonce hashes the clamped private
/// key bytes (the spec hashes `a = ±k mod q`). Matching it byte for byte pins down the sign-bit
/// rule that `xeddsa_verify` relies on.
fn curve25519_js_sign(private: [u8; 32], message: &[u8], random: &[u8; 64]) -> [u8; 64] {
    use curve25519_dalek::{EdwardsPoint, Scalar, scalar::clamp_integer};
    use sha2::{Digest, Sha512};
    let wide = |hash: Sha512| Scalar::from_bytes_mod_order_wide(&hash.finalize().into());
    let clamped = clamp_integer(private);
    let k = Scalar::from_bytes_mod_order(clamped);
    let public = EdwardsPoint::mul_base(&k).compress().to_bytes();
    let mut prefix = [0xFF; 32];
    prefix[0] = 0xFE;
    let r = wide(
        Sha512::new()
            .chain_update(prefix)
            .chain_update(clamped)
            .chain_update(message)
            .chain_update(random),
    );
    let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
    let h = wide(
        Sha512::new()
            .chain_update(big_r)
            .chain_update(public)
            .chain_update(message),
    );
    let mut s = (r + h * k).to_bytes();
    s[31] |= public[31] & 0x80;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&big_r);
    sig[32..].copy_from_slice(&s);
    sig
}

#[test]
fn fixed_z_signatures_of_curve25519_js_are_understood_byte_for_byte() {
    let cases = vectors();
    assert!(cases.len() >= 16);
    let mut sign_bit_set = 0;
    for (i, case) in cases.iter().enumerate() {
        let key = KeyPair::from_private_bytes(unhex_array(&case.private));
        assert_eq!(
            hex::encode(key.public_bytes()),
            case.public,
            "case {i}: public key"
        );
        let random: [u8; 64] = unhex_array(&case.random);
        let message = unhex(&case.message);
        let theirs = curve25519_js_sign(unhex_array(&case.private), &message, &random);
        assert_eq!(hex::encode(theirs), case.curve25519js_signature, "case {i}");
        sign_bit_set += usize::from(theirs[63] >> 7);
        // Ours with the same Z: a spec signature (bit 255 clear), deterministic, that verifies.
        let ours = xeddsa_sign(&key, &message, &random);
        assert_eq!(ours[63] & 0x80, 0);
        assert_eq!(ours, xeddsa_sign(&key, &message, &random));
        assert_eq!(xeddsa_verify(&key.public_bytes(), &message, &ours), Ok(()));
    }
    assert!(
        sign_bit_set > 0 && sign_bit_set < cases.len(),
        "both sign bits among the vectors"
    );
}

#[test]
fn peer_signatures_verify_here() {
    for (i, case) in vectors().iter().enumerate() {
        let public: [u8; 32] = unhex_array(&case.public);
        let message = unhex(&case.message);
        for (peer, sig) in [
            ("curve25519-js", &case.curve25519js_signature),
            ("libsignal", &case.libsignal_signature),
            ("whatsapp-rust-bridge", &case.bridge_signature),
        ] {
            let sig = unhex(sig);
            assert_eq!(
                xeddsa_verify(&public, &message, &sig),
                Ok(()),
                "case {i}: {peer}"
            );
            // The same signature over another message, or under another key, is refused.
            let mut other = message.clone();
            other.push(0);
            assert_eq!(
                xeddsa_verify(&public, &other, &sig),
                Err(Error::BadSignature),
                "case {i}: {peer}"
            );
            let wrong_key = KeyPair::from_private_bytes([i as u8 + 1; 32]).public_bytes();
            assert_eq!(
                xeddsa_verify(&wrong_key, &message, &sig),
                Err(Error::BadSignature),
                "case {i}: {peer}"
            );
        }
    }
}

#[test]
fn every_flipped_bit_is_refused() {
    let case = &vectors()[3];
    let public: [u8; 32] = unhex_array(&case.public);
    let message = unhex(&case.message);
    let sig = unhex(&case.libsignal_signature);
    for bit in 0..XEDDSA_SIGNATURE_LEN * 8 {
        let mut bad = sig.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            xeddsa_verify(&public, &message, &bad),
            Err(Error::BadSignature),
            "bit {bit}"
        );
    }
    for bit in 0..message.len() * 8 {
        let mut bad = message.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            xeddsa_verify(&public, &bad, &sig),
            Err(Error::BadSignature),
            "message bit {bit}"
        );
    }
}

#[test]
fn wrong_lengths_are_typed_errors() {
    let case = &vectors()[0];
    let public: [u8; 32] = unhex_array(&case.public);
    let sig = unhex(&case.curve25519js_signature);
    for len in [0, 1, 63, 65, 128] {
        let mut bytes = sig.clone();
        bytes.resize(len, 0);
        assert_eq!(
            xeddsa_verify(&public, b"", &bytes),
            Err(Error::SignatureLength {
                expected: 64,
                actual: len
            })
        );
    }
}

#[test]
fn non_canonical_inputs_are_refused() {
    let mut rng = rng(7);
    let key = KeyPair::generate(&mut rng);
    let sig = xeddsa_sign_rng(&key, b"hello", &mut rng);
    // s + q: same value mod q, not canonical (the malleable form).
    let q: [u8; 32] =
        unhex_array("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    let mut s_plus_q = sig;
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(s_plus_q[32 + i]) + u16::from(q[i]) + carry;
        s_plus_q[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(
        xeddsa_verify(&key.public_bytes(), b"hello", &s_plus_q),
        Err(Error::BadSignature)
    );
    // u ≥ p (p itself, and the all-ones encoding) is refused before any point arithmetic.
    let p: [u8; 32] =
        unhex_array("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    assert_eq!(xeddsa_verify(&p, b"hello", &sig), Err(Error::BadSignature));
    assert_eq!(
        xeddsa_verify(&[0xFF; 32], b"hello", &sig),
        Err(Error::BadSignature)
    );
    // u = p − 1 = −1 has no Edwards point.
    let mut minus_one = p;
    minus_one[0] -= 1;
    assert_eq!(
        xeddsa_verify(&minus_one, b"hello", &sig),
        Err(Error::BadSignature)
    );
}

#[test]
fn rng_signatures_differ_and_verify() {
    let mut rng = rng(11);
    let key = KeyPair::generate(&mut rng);
    let a = xeddsa_sign_rng(&key, b"prekey", &mut rng);
    let b = xeddsa_sign_rng(&key, b"prekey", &mut rng);
    assert_ne!(a, b, "fresh Z each time");
    xeddsa_verify(&key.public_bytes(), b"prekey", &a).unwrap();
    xeddsa_verify(&key.public_bytes(), b"prekey", &b).unwrap();
}

#[test]
fn peers_verify_our_signatures() {
    let mut rng = rng(0x5157);
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for case in 0..24 {
        let key = KeyPair::generate(&mut rng);
        let mut message = vec![0u8; case * 7];
        rng.fill_bytes(&mut message);
        let mut sig = xeddsa_sign_rng(&key, &message, &mut rng).to_vec();
        // Every third case is tampered with: all peers must refuse it.
        let valid = case % 3 != 2;
        if !valid {
            sig[case % 64] ^= 0x10;
        }
        input.push(json!({
            "public": hex::encode(key.public_bytes()),
            "message": hex::encode(&message),
            "signature": hex::encode(&sig),
        }));
        expected.push(json!({ "curve25519js": valid, "libsignal": valid, "bridge": valid }));
    }
    let mut child = Command::new("node")
        .arg("gen-xeddsa.mjs")
        .arg("--verify")
        .current_dir(wa_testkit::interop_dir(&[
            "libsignal",
            "whatsapp-rust-bridge",
        ]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed to run the interop tests (see `cargo xtask setup`)");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(Value::Array(input).to_string().as_bytes())
        .expect("write to node");
    let output = child.wait_with_output().expect("node runs");
    assert!(
        output.status.success(),
        "gen-xeddsa.mjs --verify failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Value = serde_json::from_slice(&output.stdout).expect("node prints JSON");
    assert_eq!(verdicts, Value::Array(expected));
}
