//! `wa serve --server`: sessions against a separate `wa sim` process, logins kept as files and
//! session configs (webhooks) kept across restarts; DELETE forgets both.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const WA: &str = env!("CARGO_BIN_EXE_wa");
const KEY: &str = "remote-key";

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `wa <args>` and returns it with the stdout lines up to the one `until` accepts.
fn spawn(args: &[&str], data: &Path, until: impl Fn(&str) -> bool) -> (Process, Vec<String>) {
    let mut child = Command::new(WA)
        .args(args)
        .env("NO_COLOR", "1")
        .env("WA_DATA_DIR", data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = until(&line);
        seen.push(line);
        if done {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (Process(child), seen)
}

fn serve(server: &str, data: &Path) -> (Process, String) {
    let (process, lines) = spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            KEY,
            "--server",
            server,
            "--session",
            "s1",
        ],
        data,
        |l| l.starts_with("web client: "),
    );
    let base = lines
        .iter()
        .find_map(|l| l.strip_prefix("wa serve listening on "))
        .expect("the listening line")
        .trim_end_matches('/')
        .to_owned();
    (process, base)
}

async fn get(base: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or(Value::Null)
}

async fn wait_status(base: &str, name: &str, wanted: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let session = get(base, &format!("/api/sessions/{name}")).await;
        if session["status"] == wanted {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: {session}, expected {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sessions_restore_with_their_config_after_a_restart_and_delete_forgets_them() {
    let data = tempfile::tempdir().unwrap();
    let (_sim, lines) = spawn(&["sim"], data.path(), |l| l.contains("control"));
    let ws = lines
        .iter()
        .find_map(|l| l.split_whitespace().find(|w| w.starts_with("ws://")))
        .expect("the simulator's WebSocket URL")
        .to_owned();
    let control = ws.replace("ws://", "http://").replace("/ws", "/_sim");

    // First run: a QR login, scanned through the simulator's control API, and a webhook.
    let (first, base) = serve(&ws, data.path());
    wait_status(&base, "s1", "SCAN_QR_CODE").await;
    let qr = get(&base, "/api/s1/auth/qr?format=raw").await;
    let scanned = reqwest::Client::new()
        .post(format!("{control}/scan"))
        .json(&json!({"qr": qr["value"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(scanned.status(), 200);
    wait_status(&base, "s1", "WORKING").await;
    assert_eq!(
        get(&base, "/api/sessions/s1/me").await["id"],
        "15550100001@c.us"
    );
    let config = json!({"webhooks": [{"url": "http://127.0.0.1:9/hook", "events": ["message"],
        "hmac": {"key": "secret"}}], "metadata": {"owner": "test"}});
    let put = reqwest::Client::new()
        .put(format!("{base}/api/sessions/s1"))
        .header("X-Api-Key", KEY)
        .json(&json!({ "config": config }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let login = data.path().join("sessions/s1.json");
    let saved = data.path().join("serve/s1.json");
    assert!(login.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    drop(first);

    // Second run: restored without a QR code, config intact.
    let (second, base) = serve(&ws, data.path());
    wait_status(&base, "s1", "WORKING").await;
    let session = get(&base, "/api/sessions/s1").await;
    assert_eq!(session["config"], config);
    assert_eq!(session["me"]["id"], "15550100001@c.us");

    // DELETE forgets the login and the config.
    let deleted = reqwest::Client::new()
        .delete(format!("{base}/api/sessions/s1"))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert!(!login.exists() && !saved.exists());
    drop(second);
}
