//! `wa sim` over TLS, started from the command line as a user would.
//!
//! With `--tls` it makes a local CA in the data directory (key 0600) and prints its file; an
//! unmodified `@adiwajshing/baileys@3.5.3` that trusts that file (`NODE_EXTRA_CA_CERTS`) logs in
//! over `wss://` and sends an image, which it uploads to the sim's media host over `https://`
//! (the only scheme Baileys 3.5.3 knows), gets back from the echo contact and decrypts
//! (`interop/legacy-sim-image.js`). The next start reuses the CA, so the trust holds. With
//! `--tls-cert`/`--tls-key` it serves a given certificate.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const WA: &str = env!("CARGO_BIN_EXE_wa");
const ECHO: &str = "15550109999@c.us";
const ACCOUNT: &str = "15550100001@c.us";

/// A running `wa sim`, killed when dropped.
struct Sim {
    child: Child,
    lines: Vec<String>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sim {
    /// Starts `wa sim` with `args` and reads its start-up lines.
    fn start(data_dir: &Path, args: &[&str]) -> Sim {
        let mut child = Command::new(WA)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["sim", "--listen", "127.0.0.1:0", "--quiet"])
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.contains("Ctrl-C");
            lines.push(line);
            if done {
                break;
            }
        }
        Sim { child, lines }
    }

    /// The value after a start-up line's label, e.g. `WebSocket`.
    fn field(&self, label: &str) -> String {
        self.lines
            .iter()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {label} line in:\n{}", self.lines.join("\n")))
    }

    fn text(&self) -> String {
        self.lines.join("\n")
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `GET <url>` trusting only the certificates in `ca_file`: the status and the JSON body.
fn get_json(url: &str, ca_file: &Path) -> (u16, Value) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(ca_file).unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .build()
            .unwrap();
        let response = client.get(url).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

/// Runs `legacy-sim-image.js` against the sim, trusting `ca_file` (or nothing), and returns its
/// JSON lines and exit status.
fn run_baileys(sim: &Sim, ca_file: Option<&Path>) -> (Vec<Value>, bool) {
    let mut command = Command::new("node");
    command
        .arg("legacy-sim-image.js")
        .arg(sim.field("WebSocket"))
        .arg(sim.field("control"))
        .arg(ECHO)
        .current_dir(wa_testkit::interop_dir(&["@adiwajshing/baileys"]))
        .env_remove("NODE_EXTRA_CA_CERTS")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(ca) = ca_file {
        command.env("NODE_EXTRA_CA_CERTS", ca);
    }
    let mut child = command
        .spawn()
        .expect("node runs (is Node.js 20 installed?)");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("legacy-sim-image.js did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (lines, output.status.success())
}

fn event<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["event"] == name)
        .unwrap_or_else(|| panic!("no {name} event in {lines:?}"))
}

#[test]
fn baileys_3_5_3_sends_an_image_through_wa_sim_with_its_local_ca() {
    let data = tempfile::tempdir().unwrap();
    let sim = Sim::start(data.path(), &["--tls"]);
    let text = sim.text();
    let ws_url = sim.field("WebSocket");
    assert!(ws_url.starts_with("wss://127.0.0.1:"), "{text}");
    let control = sim.field("control");
    assert!(control.starts_with("https://127.0.0.1:"), "{text}");
    let base = control.trim_end_matches("/_sim").to_owned();

    // The CA is made in the data directory, its key private; the sim says how to trust it.
    let ca_file = PathBuf::from(sim.field("CA file"));
    let ca_dir = data.path().join("sim-ca");
    assert_eq!(ca_file, ca_dir.join("ca.pem"), "{text}");
    assert!(text.contains("made now"), "{text}");
    assert!(
        text.contains(&format!("NODE_EXTRA_CA_CERTS={}", ca_file.display())),
        "{text}"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&ca_dir.join("ca-key.pem")), 0o600);
        assert_eq!(mode(&ca_dir), 0o700);
    }

    // Without the CA, Baileys cannot even connect.
    let (lines, ok) = run_baileys(&sim, None);
    assert!(!ok, "{lines:?}");
    assert!(
        event(&lines, "error")["message"]
            .as_str()
            .unwrap()
            .contains("certificate"),
        "{lines:?}"
    );

    // Trusting it, Baileys logs in, uploads the image to the sim over https and gets it back.
    let (lines, ok) = run_baileys(&sim, Some(&ca_file));
    assert!(ok, "{lines:?}");
    assert_eq!(event(&lines, "open")["jid"], "15550100001@s.whatsapp.net");
    let sent = event(&lines, "image_sent");
    let url = sent["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{base}/mms/")),
        "uploaded to {url}, not to the sim at {base}"
    );
    assert_eq!(sent["fileSha256"], sent["original"], "{sent}");
    let echo = event(&lines, "image_echo");
    assert_eq!(echo["sha256"], sent["original"], "decrypted echo differs");
    assert_eq!(echo["caption"], "through wa sim");
    assert_eq!(
        echo["url"], sent["url"],
        "the echo references the same blob"
    );
    event(&lines, "done");

    // The sim stored the image message, sent by the account to the echo contact.
    let (status, store) = get_json(&format!("{control}/store?wid={ACCOUNT}"), &ca_file);
    assert_eq!(status, 200, "{store}");
    let messages = store["chats"][ECHO]["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no echo chat in {store}"));
    let stored = messages
        .iter()
        .find(|m| m["id"] == sent["id"])
        .unwrap_or_else(|| panic!("{} not stored: {store}", sent["id"]));
    assert_eq!(stored["from_me"], true);
    assert_eq!(stored["media"], true);
    drop(sim);

    // The next start reuses the CA: what was trusted stays trusted.
    let pem = std::fs::read(&ca_file).unwrap();
    let again = Sim::start(data.path(), &["--tls"]);
    assert!(again.text().contains("made before"), "{}", again.text());
    assert_eq!(std::fs::read(&ca_file).unwrap(), pem);
    let (status, state) = get_json(&format!("{}/state", again.field("control")), &ca_file);
    assert_eq!(status, 200, "{state}");
}

#[test]
fn wa_sim_serves_a_given_certificate() {
    let data = tempfile::tempdir().unwrap();
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wa-sim/tests/data");
    let cert = certs.join("localhost.crt");
    let key = certs.join("localhost.key");
    let sim = Sim::start(
        data.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let control = sim.field("control");
    assert!(control.starts_with("https://127.0.0.1:"), "{}", sim.text());
    let (status, state) = get_json(&format!("{control}/state"), &cert);
    assert_eq!(status, 200, "{state}");
    // No CA is made when a certificate is given.
    assert!(!data.path().join("sim-ca").exists());

    // A key without its certificate is a usage error.
    let output = Command::new(WA)
        .args(["sim", "--tls-key"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}
