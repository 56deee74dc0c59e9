//! Live interop with the reference peers: files we encrypt are decrypted by Baileys 7 and
//! legacy Baileys 3.5.3 (through their download paths, over a local HTTP server), and files
//! they encrypt are decrypted and re-derived byte for byte by us.

use rand::{RngCore, SeedableRng, rngs::StdRng};
use std::path::Path;
use std::process::Command;
use wa_media::{Expected, MediaKey, MediaType, decrypt_bytes, encrypt_bytes};

/// Sizes the issue names: empty, 1, 15/16/17, 64 KiB ± 1, and a few MiB.
const SIZES: &[usize] = &[0, 1, 15, 16, 17, 65535, 65536, 65537, 3 * 1024 * 1024 + 5];

fn encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("peer sends base64")
}

fn plaintext(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

fn field<'a>(json: &'a str, name: &str) -> Option<&'a str> {
    let at = json.find(&format!("\"{name}\":"))? + name.len() + 3;
    let rest = &json[at..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    let end = rest.find(['"', ',', '}']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Splits the peer's JSON array of flat objects into one string per object.
fn objects(json: &str) -> Vec<String> {
    json.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split("},{")
        .map(|s| s.trim_matches(['{', '}']).to_owned())
        .filter(|s| !s.is_empty() || json.trim() != "[]")
        .collect()
}

fn run_peer(script: &str, jobs: &[String], dir: &Path) -> Vec<String> {
    let jobs_path = dir.join(format!("{script}.jobs.json"));
    std::fs::write(&jobs_path, format!("[{}]", jobs.join(","))).unwrap();
    let output = Command::new("node")
        .arg(script)
        .arg(&jobs_path)
        .current_dir(wa_testkit::interop_dir(&[
            "baileys",
            "@adiwajshing/baileys",
        ]))
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results = objects(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(results.len(), jobs.len(), "{results:?}");
    results
}

fn exchange(script: &str, types: &[(&str, MediaType)]) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut jobs = Vec::new();
    // (size, peer type, our type, plaintext path) for theirs → ours.
    let mut theirs = Vec::new();
    // (size, our type, plaintext, their output path) for ours → theirs.
    let mut ours = Vec::new();
    let mut cases: Vec<(usize, usize)> = SIZES
        .iter()
        .enumerate()
        .map(|(i, &s)| (s, i % types.len()))
        .collect();
    // Every type at least once at an awkward size.
    cases.extend((0..types.len()).map(|t| (17 + t, t)));
    for (n, &(size, t)) in cases.iter().enumerate() {
        let (peer_type, ty) = types[t];
        let plain = plaintext(size, n as u64 + 1);
        let plain_path = dir.join(format!("plain{n}"));
        std::fs::write(&plain_path, &plain).unwrap();
        let their_body = dir.join(format!("theirs{n}.enc"));
        jobs.push(format!(
            r#"{{"op":"encrypt","type":"{peer_type}","plain":"{}","out":"{}"}}"#,
            plain_path.display(),
            their_body.display()
        ));
        theirs.push((size, ty, plain.clone(), their_body));
        let key = MediaKey::generate(&mut StdRng::seed_from_u64(1000 + n as u64));
        let (body, _) = encrypt_bytes(&key, ty, &plain);
        let body_path = dir.join(format!("ours{n}.enc"));
        std::fs::write(&body_path, &body).unwrap();
        let out = dir.join(format!("ours{n}.dec"));
        jobs.push(format!(
            r#"{{"op":"decrypt","type":"{peer_type}","body":"{}","mediaKey":"{}","out":"{}"}}"#,
            body_path.display(),
            encode(key.as_bytes()),
            out.display()
        ));
        ours.push((size, peer_type, plain, out));
    }
    let results = run_peer(script, &jobs, dir);
    for (i, ((size, ty, plain, body_path), result)) in
        theirs.iter().zip(results.iter().step_by(2)).enumerate()
    {
        assert!(
            field(result, "error").is_none(),
            "{script} encrypt #{i} ({size} bytes): {result}"
        );
        let key = MediaKey::from_slice(&decode(field(result, "mediaKey").unwrap())).unwrap();
        let body = std::fs::read(body_path).unwrap();
        let expected = Expected {
            file_sha256: Some(
                decode(field(result, "fileSha256").unwrap())
                    .try_into()
                    .unwrap(),
            ),
            file_enc_sha256: Some(
                decode(field(result, "fileEncSha256").unwrap())
                    .try_into()
                    .unwrap(),
            ),
            file_length: Some(field(result, "fileLength").unwrap().parse().unwrap()),
            streaming_sidecar: None,
        };
        let got = decrypt_bytes(&key, *ty, &body, expected.clone())
            .unwrap_or_else(|e| panic!("{script} body #{i} ({size} bytes, {ty:?}): {e}"));
        assert_eq!(&got, plain, "{script} #{i}");
        // Encrypting their plaintext under their key gives their body and fields exactly.
        let (again, info) = encrypt_bytes(&key, *ty, plain);
        assert_eq!(again, body, "{script} #{i}: re-encryption differs");
        assert_eq!(Some(info.file_sha256), expected.file_sha256);
        assert_eq!(Some(info.file_enc_sha256), expected.file_enc_sha256);
        assert_eq!(info.mac.to_vec(), decode(field(result, "mac").unwrap()));
    }
    for (i, ((size, peer_type, plain, out), result)) in ours
        .iter()
        .zip(results.iter().skip(1).step_by(2))
        .enumerate()
    {
        assert!(
            field(result, "error").is_none(),
            "{script} could not decrypt our #{i} ({size} bytes, {peer_type}): {result}"
        );
        assert_eq!(
            &std::fs::read(out).unwrap(),
            plain,
            "{script} decrypted our #{i} wrongly"
        );
    }
}

#[test]
fn baileys_7_decrypts_ours_and_we_decrypt_theirs() {
    exchange(
        "media-peer.mjs",
        &[
            ("document", MediaType::Document),
            ("image", MediaType::Image),
            ("video", MediaType::Video),
            ("audio", MediaType::Audio),
            ("ptt", MediaType::Ptt),
            ("gif", MediaType::Gif),
            ("sticker", MediaType::Sticker),
            ("md-msg-hist", MediaType::History),
            ("md-app-state", MediaType::AppState),
            ("thumbnail-link", MediaType::LinkThumbnail),
        ],
    );
}

#[test]
fn baileys_3_5_3_decrypts_ours_and_we_decrypt_theirs() {
    exchange(
        "media-peer-legacy.js",
        &[
            ("documentMessage", MediaType::Document),
            ("imageMessage", MediaType::Image),
            ("videoMessage", MediaType::Video),
            ("audioMessage", MediaType::Audio),
            ("stickerMessage", MediaType::Sticker),
        ],
    );
}
