//! Live interop: Baileys 3.5.3 (run by node) judges secrets, frames and tokens that we made.

use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::Rng as _;
use serde_json::{Value, json};
use wa_crypto::KeyPair;
use wa_crypto::legacy::{self, Flags, Metric, SessionKeys};

use crate::rng;

/// A payload whose first byte is `,` (0x2C) must not be taken for the `tag,,` JSON prefix: the
/// first case uses metric 44 (0x2C) and a server frame whose HMAC starts with 0x2C.
const COMMA: u8 = b',';

fn run_baileys(input: &Value) -> Value {
    let mut child = Command::new("node")
        .arg("gen-crypto.js")
        .arg("--verify")
        .current_dir(wa_testkit::interop_dir(&["@adiwajshing/baileys"]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed to run the interop tests (see `cargo xtask setup`)");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.to_string().as_bytes())
        .expect("write to node");
    let output = child.wait_with_output().expect("node runs");
    assert!(
        output.status.success(),
        "gen-crypto.js --verify failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("node prints JSON")
}

#[test]
fn baileys_accepts_what_we_make() {
    let mut rng = rng(0xB411E75);
    let mut secrets = Vec::new();
    let mut expected_keys = Vec::new();
    let mut client_frames = Vec::new();
    let mut expected_client = Vec::new();
    let mut server_frames = Vec::new();
    let mut expected_server = Vec::new();
    let mut challenges = Vec::new();
    let mut expected_challenges = Vec::new();
    let mut logout = Vec::new();
    let mut expected_logout = Vec::new();

    for case in 0..8 {
        let client = KeyPair::generate(&mut rng);
        let keys = SessionKeys::generate(&mut rng);
        let secret = keys.build_secret(&client.public_bytes(), &mut rng);
        secrets.push(json!({
            "client_private": hex::encode(*client.private_bytes()),
            "secret": hex::encode(secret),
        }));
        expected_keys.push(json!({
            "enc_key": hex::encode(keys.enc_key()),
            "mac_key": hex::encode(keys.mac_key()),
        }));

        let key_json = |payload: &[u8]| {
            json!({
                "enc_key": hex::encode(keys.enc_key()),
                "mac_key": hex::encode(keys.mac_key()),
                "payload": hex::encode(payload),
            })
        };
        let len = rng.gen_range(0..100);
        let plaintext: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        let metric = if case == 0 {
            *Metric::ALL
                .iter()
                .find(|m| u8::from(**m) == COMMA)
                .expect("metric 44")
        } else {
            Metric::ALL[case * 5]
        };
        let flags = Flags::from_bits(rng.r#gen());
        let payload = legacy::seal_client_frame(&keys, Some(metric), flags, &plaintext, &mut rng);
        client_frames.push(key_json(&payload));
        expected_client.push(json!({
            "plaintext": hex::encode(&plaintext),
            "metric": u8::from(metric),
            "flags": flags.bits(),
        }));

        let payload = loop {
            let payload = legacy::seal_server_frame(&keys, &plaintext, &mut rng);
            if case != 0 || payload.first() == Some(&COMMA) {
                break payload;
            }
        };
        server_frames.push(key_json(&payload));
        expected_server.push(json!({ "plaintext": hex::encode(&plaintext) }));

        let challenge = BASE64.encode(&plaintext);
        challenges.push(json!({ "mac_key": hex::encode(keys.mac_key()), "challenge": challenge }));
        expected_challenges.push(json!(
            BASE64.encode(legacy::challenge_response(&keys, &plaintext))
        ));
        logout.push(json!({
            "enc_key": hex::encode(keys.enc_key()),
            "mac_key": hex::encode(keys.mac_key()),
        }));
        expected_logout.push(json!(legacy::logout_token(&keys)));
    }

    // And one secret made for somebody else, which Baileys must refuse.
    let someone_else = KeyPair::generate(&mut rng);
    let stranger = KeyPair::generate(&mut rng);
    let wrong =
        SessionKeys::generate(&mut rng).build_secret(&someone_else.public_bytes(), &mut rng);
    secrets.push(json!({
        "client_private": hex::encode(*stranger.private_bytes()),
        "secret": hex::encode(wrong),
    }));
    expected_keys.push(json!({ "error": "HMAC validation failed" }));

    let verdict = run_baileys(&json!({
        "secrets": secrets,
        "client_frames": client_frames,
        "server_frames": server_frames,
        "challenges": challenges,
        "logout": logout,
    }));
    assert_eq!(verdict["secrets"], Value::from(expected_keys));
    assert_eq!(verdict["client_frames"], Value::from(expected_client));
    assert_eq!(verdict["server_frames"], Value::from(expected_server));
    assert_eq!(verdict["challenges"], Value::from(expected_challenges));
    assert_eq!(verdict["logout_tokens"], Value::from(expected_logout));
}
