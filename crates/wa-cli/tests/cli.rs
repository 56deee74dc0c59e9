//! The `wa` binary, run as a user would: decode known frames (built here with wa-binary and
//! wa-crypto), the offline demo, the simulator, and login/logout against an in-process wa-sim.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use wa_binary::{Codec, Node};
use wa_crypto::legacy::{Flags, Metric, SessionKeys, seal_client_frame, seal_server_frame};

const WA: &str = env!("CARGO_BIN_EXE_wa");

fn wa() -> Command {
    let mut cmd = Command::new(WA);
    cmd.env("NO_COLOR", "1").env_remove("WA_DATA_DIR");
    cmd
}

fn spaced_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn sample_node() -> Node {
    Node::new("action")
        .attr("type", "relay")
        .attr("epoch", "5")
        .children([Node::new("message").bytes(vec![0x0a, 0x05, b'h', b'e', b'l', b'l', b'o'])])
}

fn keys() -> SessionKeys {
    SessionKeys::new([0x42; 32], [0x17; 32])
}

fn stdout_json(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "wa failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn decodes_a_plaintext_legacy_node_given_as_spaced_hex() {
    let node = sample_node();
    let bytes = Codec::legacy().encode(&node).unwrap();
    let output = wa()
        .args(["decode", "--json", &spaced_hex(&bytes)])
        .output()
        .unwrap();
    let value = stdout_json(&output);
    assert_eq!(value["kind"], "binary");
    assert_eq!(value["direction"], Value::Null);
    assert_eq!(value["node"], serde_json::to_value(&node).unwrap());
}

#[test]
fn decodes_a_server_frame_file_with_explicit_keys() {
    let node = sample_node();
    let plain = Codec::legacy().encode(&node).unwrap();
    let mut frame = b"1600000000.--7,".to_vec();
    frame.extend(seal_server_frame(
        &keys(),
        &plain,
        &mut StdRng::seed_from_u64(1),
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frame.bin");
    std::fs::write(&path, &frame).unwrap();
    let output = wa()
        .args(["decode", "--json", "--enc-key", &hex::encode([0x42; 32])])
        .args(["--mac-key", &hex::encode([0x17; 32]), "--file"])
        .arg(&path)
        .output()
        .unwrap();
    let value = stdout_json(&output);
    assert_eq!(value["tag"], "1600000000.--7");
    assert_eq!(value["direction"], "from-server");
    assert_eq!(value["metric"], Value::Null);
    assert_eq!(value["node"], serde_json::to_value(&node).unwrap());

    // The human form names the frame and shows the node.
    let output = wa()
        .args(["decode", "--enc-key", &hex::encode([0x42; 32])])
        .args(["--mac-key", &hex::encode([0x17; 32]), "--file"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("server → client, HMAC verified"), "{text}");
    assert!(text.contains("\"relay\""), "{text}");
}

#[test]
fn decodes_a_client_frame_from_stdin_with_metric_and_flags() {
    let node = sample_node();
    let plain = Codec::legacy().encode(&node).unwrap();
    let payload = seal_client_frame(
        &keys(),
        Some(Metric::Message),
        Flags::EXPECTS_RESPONSE | Flags::ACK_REQUEST,
        &plain,
        &mut StdRng::seed_from_u64(2),
    );
    // Payload only (no tag), colon-separated hex on standard input, keys in base64.
    let hex_text = payload
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let output = wa()
        .args(["decode", "--json", "--from-client", "--no-tag"])
        .args(["--enc-key", &b64.encode([0x42; 32])])
        .args(["--mac-key", &b64.encode([0x17; 32])])
        .write_stdin(hex_text)
        .output()
        .unwrap();
    let value = stdout_json(&output);
    assert_eq!(value["direction"], "from-client");
    assert_eq!(value["metric"], 16);
    assert_eq!(value["metric_name"], "MESSAGE");
    assert_eq!(value["flags"], 0xC0);
    assert_eq!(
        value["flag_names"],
        json!(["EXPECTS_RESPONSE", "ACK_REQUEST"])
    );
    assert_eq!(value["node"], serde_json::to_value(&node).unwrap());
}

#[test]
fn decodes_with_the_keys_of_a_saved_session() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sessions")).unwrap();
    let data = wa_core::session::SessionData {
        client_id: "AAECAwQFBgcICQoLDA0ODw==".into(),
        private_key: [9; 32],
        client_token: "c".into(),
        server_token: "s".into(),
        browser_token: "b".into(),
        enc_key: [0x42; 32],
        mac_key: [0x17; 32],
        wid: "15550100001@c.us".into(),
    };
    std::fs::write(
        dir.path().join("sessions/work.json"),
        serde_json::to_vec(&data).unwrap(),
    )
    .unwrap();
    let node = sample_node();
    let plain = Codec::legacy().encode(&node).unwrap();
    let mut frame = b"preempt-1,".to_vec();
    frame.extend(seal_server_frame(
        &keys(),
        &plain,
        &mut StdRng::seed_from_u64(3),
    ));
    let output = wa()
        .env("WA_DATA_DIR", dir.path())
        .args([
            "decode",
            "--json",
            "--session",
            "work",
            &hex::encode(&frame),
        ])
        .output()
        .unwrap();
    let value = stdout_json(&output);
    assert_eq!(value["tag"], "preempt-1");
    assert_eq!(value["node"], serde_json::to_value(&node).unwrap());

    // A session that does not exist says how to get one.
    let output = wa()
        .env("WA_DATA_DIR", dir.path())
        .args(["decode", "--session", "home", &hex::encode(&frame)])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr_of(&output);
    assert!(err.contains("no saved session \"home\""), "{err}");
    assert!(err.contains("wa login --session home"), "{err}");
}

#[test]
fn wrong_keys_are_reported_as_an_hmac_mismatch() {
    let plain = Codec::legacy().encode(&sample_node()).unwrap();
    let mut frame = b"12,".to_vec();
    frame.extend(seal_server_frame(
        &keys(),
        &plain,
        &mut StdRng::seed_from_u64(4),
    ));
    let output = wa()
        .args(["decode", "--enc-key", &hex::encode([0x42; 32])])
        .args(["--mac-key", &hex::encode([0x18; 32]), &hex::encode(&frame)])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let err = stderr_of(&output);
    assert!(
        err.contains("the HMAC does not match: are these the session's keys?"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn garbage_gets_a_clear_error() {
    // Not hex.
    let output = wa().args(["decode", "0xzz12"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr_of(&output);
    assert!(err.contains("not valid hex"), "{err}");
    // Odd number of digits.
    let output = wa().args(["decode", "abc"]).output().unwrap();
    assert!(stderr_of(&output).contains("odd number of hex digits"));
    // Hex, but not a node.
    let output = wa().args(["decode", "de ad be ef"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr_of(&output);
    assert!(
        err.contains("not a binary node in the legacy dictionary"),
        "{err}"
    );
    assert!(err.contains("--enc-key"), "{err}");
    // Random bytes with keys: too short to be a frame.
    let output = wa()
        .args([
            "decode",
            "--from-server",
            "--enc-key",
            &hex::encode([1; 32]),
        ])
        .args(["--mac-key", &hex::encode([2; 32]), "0102030405"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr_of(&output);
    assert!(err.contains("at least 64 bytes needed, got 5"), "{err}");
    assert!(err.contains("is this the whole frame?"), "{err}");
    // No input at all.
    let output = wa().args(["decode"]).write_stdin("").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("no frame to decode"));
}

#[test]
fn usage_errors_exit_with_2() {
    // A direction needs keys.
    let output = wa()
        .args(["decode", "--from-server", "00"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    // One key without the other.
    let output = wa()
        .args(["decode", "--enc-key", &hex::encode([1; 32]), "00"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    // A malformed key.
    let output = wa()
        .args(["decode", "--enc-key", "1234", "--mac-key", "5678", "00"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_of(&output).contains("--enc-key must be 32 bytes"));
    let output = wa().arg("no-such-command").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn decodes_multi_device_frames_plain_and_compressed() {
    let node = Node::new("iq")
        .attr("id", "1")
        .attr("type", "get")
        .attr("to", "s.whatsapp.net")
        .children([Node::new("ping")]);
    let codec = Codec::multi_device();
    let plain = codec.encode_frame(&node).unwrap();
    let output = wa()
        .args(["decode", "--json", "--dict", "md", &hex::encode(&plain)])
        .output()
        .unwrap();
    let value = stdout_json(&output);
    assert_eq!(value["compressed"], false);
    assert_eq!(value["node"], serde_json::to_value(&node).unwrap());

    let body = codec.encode(&node).unwrap();
    let mut compressed = vec![0x02];
    compressed.extend(miniz_oxide::deflate::compress_to_vec_zlib(&body, 6));
    let output = wa()
        .args([
            "decode",
            "--json",
            "--dict",
            "md",
            &hex::encode(&compressed),
        ])
        .output()
        .unwrap();
    let value = stdout_json(&output);
    assert_eq!(value["compressed"], true);
    assert_eq!(value["node"], serde_json::to_value(&node).unwrap());

    // The same bytes in the legacy dictionary are refused, with the way out.
    let output = wa()
        .args(["decode", &hex::encode(&plain)])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_of(&output).contains("--dict md"));
}

#[test]
fn text_frames_are_pretty_printed() {
    let output = wa()
        .args([
            "decode",
            "--json",
            r#"1603.--0,["admin","init",[2,2142,12],["wa","cli"],"abc=",true]"#,
        ])
        .output()
        .unwrap();
    let value = stdout_json(&output);
    assert_eq!(value["kind"], "text");
    assert_eq!(value["tag"], "1603.--0");
    assert_eq!(value["body"][1], "init");
    let frame = r#"s1,["Conn",{"wid":"1@c.us"}]"#;
    let output = wa().args(["decode", &hex::encode(frame)]).output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("text (JSON)") && text.contains("\"wid\": \"1@c.us\""),
        "{text}"
    );
}

#[test]
fn demo_runs_offline_and_shows_every_milestone() {
    let output = wa()
        .arg("demo")
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}\n{}", stderr_of(&output));
    let milestones = [
        "ws://127.0.0.1:",
        "QR code shown",
        "▀",
        "QR scanned by the phone",
        "wid       15550100001@c.us",
        "pushname  Sim Phone",
        "battery   87%",
        "keys derived",
        "the client and the server hold the same keys",
        "decrypted (HMAC-SHA256 verified, AES-256-CBC) and decoded",
        "[\"response\",{\"type\":\"contacts\"},[",
        "session saved to",
        "0600",
        "challenge received and answered",
        "restored as 15550100001@c.us",
        "challenged = true",
        "3 chats",
        "Alice Example  (2 unread)",
        "4 contacts",
        "15550109999@c.us             Echo",
        "sent \"Hello from wa!\" to 15550109999@c.us",
        "delivered to the echo contact's phone",
        "read by the echo contact",
        "reply from the echo contact: \"Hello from wa!\"",
        "image encrypted",
        "delivered to the echo contact's phone",
        "read by the echo contact",
        "the echo sent it back; downloaded, MAC and hashes verified",
        "same sha256",
        "logged out with goodbye",
        "the client deleted the session file",
        "restore refused with 401",
        "Demo complete.",
    ];
    let mut from = 0;
    for milestone in milestones {
        let at = text[from..]
            .find(milestone)
            .unwrap_or_else(|| panic!("{milestone:?} missing (in order) from:\n{text}"));
        from += at + milestone.len();
    }
}

/// Reads lines from a child's stdout until `done` says stop; returns what was read.
fn read_until(child: &mut Child, mut done: impl FnMut(&str) -> bool) -> Vec<String> {
    let stdout = child.stdout.as_mut().expect("piped stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let stop = done(&line);
        lines.push(line);
        if stop {
            break;
        }
    }
    lines
}

#[test]
fn sim_prints_its_urls_and_serves() {
    let mut child = std::process::Command::new(WA)
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--auto-scan",
            "1",
            "--quiet",
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = read_until(&mut child, |l| l.contains("Ctrl-C"));
    child.kill().unwrap();
    child.wait().unwrap();
    let text = lines.join("\n");
    let url = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("WebSocket"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no WebSocket line in:\n{text}"));
    assert!(
        url.starts_with("ws://127.0.0.1:") && url.ends_with("/ws"),
        "{url}"
    );
    let port: u16 = url["ws://127.0.0.1:".len()..url.len() - 3].parse().unwrap();
    assert_ne!(port, 0);
    assert!(
        text.contains(&format!("http://127.0.0.1:{port}/_sim")),
        "{text}"
    );
    assert!(text.contains("scans each QR after 1.0 s"), "{text}");
}

#[test]
fn sim_refuses_a_bad_seed_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.json");
    std::fs::write(&path, "{\"wid\": 5}").unwrap();
    let output = wa().args(["sim", "--seed"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_of(&output).contains("bad seed file"));
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn login_saves_a_private_session_and_logout_ends_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(wa_sim::SimServer::start(wa_sim::SimConfig {
            server: wa_sim::Config {
                auto_scan_delay: Some(Duration::from_millis(200)),
                ..wa_sim::Config::default()
            },
            ..wa_sim::SimConfig::default()
        }))
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("wa");

    // `--show-to-sim` shows each QR code to the simulator's phone, which scans it by itself.
    let output = wa()
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["login", "--server", &sim.ws_url(), "--session", "phone1"])
        .args(["--timeout", "60", "--show-to-sim"])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}\n{}", stderr_of(&output));
    assert!(text.contains("▀"), "no QR drawn:\n{text}");
    assert_eq!(text.matches("qr: ").count(), 1, "{text}");
    assert!(text.contains("shown to the simulated phone"), "{text}");
    assert!(
        text.contains("Logged in as Sim Phone (15550100001@c.us)"),
        "{text}"
    );

    let session = data_dir.join("sessions/phone1.json");
    #[cfg(unix)]
    {
        assert_eq!(mode(&session), 0o600);
        assert_eq!(mode(&data_dir.join("sessions")), 0o700);
        assert_eq!(mode(&data_dir), 0o700);
    }
    let saved: wa_core::session::SessionData =
        serde_json::from_slice(&std::fs::read(&session).unwrap()).unwrap();
    assert_eq!(saved.wid, "15550100001@c.us");
    let server_keys = sim
        .session_keys(&saved.client_id)
        .expect("paired on the server");
    assert_eq!(server_keys.enc_key(), &saved.enc_key);

    // whoami reads it; sessions lists it; a second login under the same name is refused.
    let output = wa()
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["whoami", "--session", "phone1", "--json"])
        .output()
        .unwrap();
    let value = stdout_json(&output);
    assert_eq!(value["wid"], "15550100001@c.us");
    assert_eq!(value["info"]["pushname"], "Sim Phone");
    assert_eq!(value["info"]["server"], sim.ws_url());
    let output = wa()
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("sessions")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("phone1"));
    let output = wa()
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["login", "--server", &sim.ws_url(), "--session", "phone1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("wa logout --session phone1"));

    // Keep a copy to try it after the logout.
    let info = data_dir.join("sessions/phone1.info.json");
    let copy = std::fs::read(&session).unwrap();
    let info_copy = std::fs::read(&info).unwrap();
    let put_back = || {
        std::fs::write(&session, &copy).unwrap();
        std::fs::write(&info, &info_copy).unwrap();
    };
    let run = |args: &[&str]| {
        wa().arg("--data-dir")
            .arg(&data_dir)
            .args(args)
            .output()
            .unwrap()
    };
    let output = run(&["status", "--check", "--session", "phone1"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("accepts the session"));

    let output = run(&["logout", "--session", "phone1"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        out.contains("Logged out 15550100001@c.us on the socket"),
        "{out}"
    );
    assert!(!session.exists() && !info.exists());
    assert!(sim.events().iter().any(|e| matches!(
        e,
        wa_sim::SimEvent::LoggedOut { client_id, via: wa_sim::LogoutVia::Goodbye }
            if *client_id == saved.client_id
    )));

    // The server refuses the old session now: a check says so (and drops the dead copy)...
    put_back();
    let output = run(&["status", "--check", "--session", "phone1"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr_of(&output);
    assert!(
        err.contains("the server refused the session (401)"),
        "{err}"
    );
    assert!(err.contains("wa login"), "{err}");
    assert!(!session.exists());
    // ...and so does a second logout, which still cleans up.
    put_back();
    let output = run(&["logout", "--session", "phone1"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("refused it with 401"), "{out}");
    assert!(!session.exists());
    // Nothing left to log out.
    let output = run(&["logout", "--session", "phone1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_of(&output).contains("no saved session"));
    runtime.block_on(sim.shutdown());
}

#[test]
fn login_redraws_expired_qr_codes_and_logout_works_over_http() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(wa_sim::SimServer::start(wa_sim::SimConfig {
            server: wa_sim::Config {
                auto_scan_delay: Some(Duration::from_millis(100)),
                ref_ttl: Duration::from_millis(1500),
                reref_min_interval: Duration::ZERO,
                ..wa_sim::Config::default()
            },
            ..wa_sim::SimConfig::default()
        }))
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(WA)
        .arg("--data-dir")
        .arg(data.path())
        .args(["login", "--server", &sim.ws_url(), "--timeout", "60"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The phone only looks at the second code shown.
    let mut codes = Vec::new();
    let lines = read_until(&mut child, |line| {
        if let Some(qr) = line.strip_prefix("qr: ") {
            codes.push(qr.to_owned());
            if codes.len() == 2 {
                sim.present_qr(qr).unwrap();
            }
        }
        false
    });
    let status = child.wait().unwrap();
    let text = lines.join("\n");
    assert!(status.success(), "{text}");
    assert_eq!(codes.len(), 2, "{text}");
    assert_ne!(codes[0], codes[1]);
    // Same key and client id, new server ref.
    let tail = |qr: &str| qr.split_once(',').map(|(_, t)| t.to_owned());
    assert_eq!(tail(&codes[0]), tail(&codes[1]));
    assert!(text.contains("(new code)"), "{text}");
    assert!(text.contains("Logged in as Sim Phone"), "{text}");

    // The HTTP logout, without a socket.
    let output = wa()
        .arg("--data-dir")
        .arg(data.path())
        .args(["logout", "--http"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("over HTTP"), "{out}");
    assert!(!data.path().join("sessions/default.json").exists());
    assert!(sim.events().iter().any(|e| matches!(
        e,
        wa_sim::SimEvent::LoggedOut {
            via: wa_sim::LogoutVia::Http,
            ..
        }
    )));
    runtime.block_on(sim.shutdown());
}
