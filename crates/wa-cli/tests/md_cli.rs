//! `wa login --md` run as a user would, against wa-sim's multi-device server in this process:
//! pairing by QR (the sim's phone scans what `--show-to-sim` shows it) and by pair code (the
//! test enters the printed code on the sim's phone), the state in a 0600 SQLite file in the data
//! directory, `whoami`/`sessions` listing it, `whoami --check` logging in again from the file,
//! and the lease: a second `wa` on the same device stops with a clear error while the first one
//! lives, and gets the device once the first is killed. With `WA_TEST_POSTGRES_URL` set, the
//! same in PostgreSQL.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use wa_sim::{SimConfig, SimHandle, SimServer};

const WA: &str = env!("CARGO_BIN_EXE_wa");

fn wa(data_dir: &Path) -> Command {
    let mut cmd = Command::new(WA);
    cmd.env("NO_COLOR", "1")
        .env_remove("WA_STORE_URL")
        .arg("--data-dir")
        .arg(data_dir);
    cmd
}

/// `wa login --md` against the sim, trusting its root; more arguments follow.
fn md_login(data_dir: &Path, sim: &SimHandle, session: &str) -> Command {
    let mut cmd = wa(data_dir);
    cmd.args(["login", "--md", "--trust-sim", "--timeout", "60"])
        .args(["--server", &sim.md_ws_url(), "--session", session]);
    cmd
}

/// Runs `cmd` with a deadline (a hung login must fail the test, not stall it).
fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "wa did not finish in {limit:?}:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Reads a child's stdout until a line satisfies `want`; returns that line.
fn read_line_until(child: &mut Child, want: impl Fn(&str) -> bool) -> String {
    let stdout = child.stdout.as_mut().expect("piped stdout");
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if want(&line) {
            return line;
        }
        seen.push(line);
    }
    panic!("stdout ended without the line; got:\n{}", seen.join("\n"));
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn control(
    runtime: &tokio::runtime::Runtime,
    sim: &SimHandle,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("{}/{path}", sim.control_url());
        let request = match body {
            Some(body) => client.post(url).json(&body),
            None => client.get(url),
        };
        let response = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .expect("control answers in time")
            .expect("control reachable");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    })
}

fn start_sim(runtime: &tokio::runtime::Runtime) -> SimHandle {
    runtime
        .block_on(SimServer::start(SimConfig::default()))
        .unwrap()
}

#[test]
fn md_login_by_qr_keeps_a_private_sqlite_store_and_logs_in_again_from_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = start_sim(&runtime);
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("wa");

    let output = output_within(
        md_login(&dir, &sim, "phone").arg("--show-to-sim"),
        Duration::from_secs(90),
    );
    let shown = text(&output);
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("▀"), "no QR drawn:\n{shown}");
    assert!(shown.contains("shown to the simulated phone"), "{shown}");
    assert!(shown.contains("812 prekeys uploaded"), "{shown}");

    let (status, devices) = control(&runtime, &sim, "md/devices", None);
    assert_eq!(status, 200);
    let devices = devices.as_array().expect("a device list").clone();
    assert_eq!(devices.len(), 1, "{devices:?}");
    let jid = devices[0]["jid"].as_str().unwrap().to_owned();
    assert!(shown.contains("Logged in as"), "{shown}");
    assert!(
        shown.contains(&jid),
        "the JID the phone lists is printed:\n{shown}"
    );

    let sqlite = dir.join("phone.md.sqlite");
    let info = dir.join("phone.md.json");
    assert!(sqlite.exists(), "the store is where the docs say");
    #[cfg(unix)]
    {
        assert_eq!(mode(&sqlite), 0o600);
        assert_eq!(mode(&info), 0o600);
        assert_eq!(mode(&dir), 0o700);
    }
    // The identity is in the store, not in the info file.
    let info_text = std::fs::read_to_string(&info).unwrap();
    let saved: Value = serde_json::from_str(&info_text).unwrap();
    assert_eq!(saved["jid"], jid);
    assert_eq!(saved["server"], sim.md_ws_url());
    assert_eq!(saved["store"], sqlite.display().to_string());

    // whoami and sessions show it.
    let output = output_within(
        wa(&dir).args(["whoami", "--session", "phone", "--json"]),
        Duration::from_secs(20),
    );
    assert!(output.status.success(), "{}", text(&output));
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["engine"], "md");
    assert_eq!(value["jid"], jid);
    let output = output_within(wa(&dir).arg("sessions"), Duration::from_secs(20));
    let listed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("phone") && l.contains(&jid) && l.contains("(md)")),
        "{listed}"
    );

    // A second login under that name is refused; the state stays.
    let output = output_within(&mut md_login(&dir, &sim, "phone"), Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("already paired"),
        "{}",
        text(&output)
    );

    // whoami --check logs in from the SQLite file alone.
    let output = output_within(
        wa(&dir).args(["whoami", "--session", "phone", "--check"]),
        Duration::from_secs(60),
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("accepts the device"),
        "{}",
        text(&output)
    );

    // Once the phone unlinks it, the check fails with the MD error.
    let (status, body) = control(&runtime, &sim, "md/unlink", Some(json!({ "jid": jid })));
    assert_eq!(status, 200, "{body}");
    let output = output_within(
        wa(&dir).args(["whoami", "--session", "phone", "--check"]),
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    runtime.block_on(sim.shutdown());
}

#[test]
fn md_login_by_pair_code_prints_the_code_the_phone_enters() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = start_sim(&runtime);
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("wa");
    let phone = "15557654321";

    let mut child = md_login(&dir, &sim, "coded")
        .args(["--pair-code", &format!("+{phone}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = read_line_until(&mut child, |l| l.starts_with("code: "));
    let code = line["code: ".len()..].trim().to_owned();
    assert_eq!(code.len(), 8, "{line}");
    let (status, body) = control(
        &runtime,
        &sim,
        "md/pair-code",
        Some(json!({ "phone": phone, "code": code })),
    );
    assert_eq!(status, 200, "{body}");
    let output = child.wait_with_output().unwrap();
    let shown = text(&output);
    assert!(output.status.success(), "{shown}");
    let (_, devices) = control(&runtime, &sim, &format!("md/devices?phone={phone}"), None);
    let jid = devices[0]["jid"].as_str().expect("paired").to_owned();
    assert!(jid.starts_with(phone), "{jid}");
    assert!(shown.contains(&jid), "{shown}");
    runtime.block_on(sim.shutdown());
}

/// While one `wa` drives the device (here: waiting for its QR to be scanned), another on the same
/// store gets the lease error naming the holder's process; once the first dies (SIGKILL: no
/// clean-up ran), the next one gets the device.
fn second_process_gets_the_lease_error(store_url: Option<&str>, session: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = start_sim(&runtime);
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("wa");
    let with_store = |cmd: &mut Command| {
        if let Some(url) = store_url {
            cmd.env("WA_STORE_URL", url);
        }
    };

    let mut first = md_login(&dir, &sim, session);
    with_store(&mut first);
    let mut first = first
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    read_line_until(&mut first, |l| l.starts_with("qr: "));

    let mut second = md_login(&dir, &sim, session);
    with_store(&mut second);
    let output = output_within(&mut second, Duration::from_secs(60));
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("is in use by another process"), "{shown}");
    assert!(
        shown.contains(&format!("pid {}", first.id())) || shown.contains(&first.id().to_string()),
        "the holder is named:\n{shown}"
    );
    assert!(shown.contains("stop the other `wa`"), "{shown}");
    if let Some(url) = store_url {
        let password = url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .and_then(|(user_info, _)| user_info.split_once(':'))
            .map(|(_, password)| password);
        if let Some(password) = password.filter(|p| !p.is_empty()) {
            assert!(!shown.contains(password), "the password leaked:\n{shown}");
        }
    }

    first.kill().unwrap();
    first.wait().unwrap();
    let mut third = md_login(&dir, &sim, session);
    with_store(&mut third);
    let output = output_within(third.arg("--show-to-sim"), Duration::from_secs(90));
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("Logged in as"), "{}", text(&output));
    runtime.block_on(sim.shutdown());
}

#[test]
fn a_second_wa_on_the_same_sqlite_store_gets_the_lease_error() {
    second_process_gets_the_lease_error(None, "leased");
}

#[test]
fn postgres_store_pairs_and_is_leased_when_a_server_is_given() {
    let Ok(url) = std::env::var("WA_TEST_POSTGRES_URL") else {
        eprintln!("skipped: WA_TEST_POSTGRES_URL is not set (cargo xtask ci provides one)");
        return;
    };
    // A device name of its own: the database is shared with other tests and runs.
    let session = format!("cli-{}-{}", std::process::id(), rand_suffix());
    second_process_gets_the_lease_error(Some(&url), &session);
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            u64::try_from(d.as_nanos() % 1_000_000_007).unwrap_or(0)
        })
}
