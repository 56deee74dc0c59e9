//! The web client in a real browser: `interop/browser/webclient.mjs` drives Debian's Chromium
//! (playwright-core, headless, offline) against the built `wa serve` with its in-process
//! simulator. It checks the QR page, the scan, the seeded chats, opening a contact found by
//! name with Enter, an echo conversation with read ticks and the contact's typing indicator,
//! inline image uploads after which the conversation still shows the newest message, the
//! layout at a phone's width (420 px: the list or the conversation, no sideways scrolling) and
//! switching between two sessions, and takes screenshots (the web client, and `wa demo` rendered as a
//! terminal) into `$WA_SCREENSHOT_DIR`, or a scratch directory under the target dir when unset,
//! so a test run leaves the tree clean. Refresh the README's pictures with
//! `WA_SCREENSHOT_DIR=docs/img cargo test -p wa-cli --test serve_browser`. Failure screenshots
//! land in the same directory (`failure-<step>.png`).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const WA: &str = env!("CARGO_BIN_EXE_wa");
const KEY: &str = "browser-test-key";

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

#[test]
fn the_web_client_logs_in_lists_chats_chats_with_the_echo_contact_and_shows_images() {
    let root = workspace();
    let interop = wa_testkit::interop_dir(&["playwright-core"]);
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        chromium.exists(),
        "{} is missing: run `cargo xtask setup` (installs Debian's chromium with apt-get)",
        chromium.display()
    );
    let shots = match std::env::var_os("WA_SCREENSHOT_DIR") {
        Some(dir) => root.join(dir),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
    };
    std::fs::create_dir_all(&shots).unwrap();

    // `wa demo` in colour, for its screenshot.
    let demo = Command::new(WA)
        .args(["--color", "always", "demo", "--scan-delay", "0.1"])
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(demo.status.success(), "wa demo failed");
    let terminal = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(terminal.path(), &demo.stdout).unwrap();

    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(WA)
        .args(["serve", "--listen", "127.0.0.1:0", "--api-key", KEY])
        .args(["--scan-delay", "1.5"])
        .env("NO_COLOR", "1")
        .env("WA_DATA_DIR", data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let serve = Serve(child);
    let mut lines = BufReader::new(stdout).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("wa serve listening on ") {
            base = Some(rest.trim_end_matches('/').to_owned());
        }
        if line.starts_with("api key: ") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let base = base.expect("wa serve prints its URL");

    let mut node = Command::new("node")
        .arg("browser/webclient.mjs")
        .arg(&base)
        .arg(KEY)
        .arg(&shots)
        .arg(terminal.path())
        .env("CHROMIUM", &chromium)
        .current_dir(&interop)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (is Node.js installed?)");
    let deadline = Instant::now() + Duration::from_secs(240);
    while node.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = node.kill();
            panic!("the browser test did not finish in 4 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let output = node.wait_with_output().unwrap();
    drop(serve);
    let text = String::from_utf8_lossy(&output.stdout);
    let result: Value = text
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON result from webclient.mjs: {text}"));
    assert_eq!(
        result["ok"],
        true,
        "browser test failed at step {} ({}); screenshot in {}; result {result}",
        result["step"],
        result["error"],
        shots.display()
    );
    assert_eq!(
        result["steps"],
        serde_json::json!([
            "qr", "scan", "chats", "search", "echo", "image", "scroll", "narrow", "sessions",
            "demo"
        ])
    );
    assert_eq!(result["searchOpened"], "Carol Example", "{result}");
    check_layout(&result);
    assert_eq!(result["me"], "Sim Phone");
    let chats: Vec<(String, u64)> = result["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["unread"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        chats,
        [
            ("Alice Example".to_owned(), 2),
            ("Bob Example".to_owned(), 0),
            ("Sim Group".to_owned(), 0)
        ]
    );
    assert!(!result["echoReply"].as_str().unwrap_or_default().is_empty());
    assert_eq!(result["readTicks"], true);
    assert_eq!(result["typingSeen"], true, "the header never said typing…");
    assert_eq!(result["secondSession"]["me"], "Alice Example");
    assert!(
        result["secondSession"]["chats"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("Sim Group")),
        "{result}"
    );
    for shot in [
        "web-login.png",
        "web-chats.png",
        "web-conversation.png",
        "web-image.png",
        "web-scroll.png",
        "web-narrow-chat.png",
        "web-narrow-list.png",
        "web-narrow-login.png",
        "demo.png",
    ] {
        let bytes = std::fs::read(shots.join(shot)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{shot}");
    }
}

/// The newest message is in view (the list scrolled to its end, the message above the
/// composer) after images loaded, on a list long enough to scroll.
fn check_at_newest(scroll: &Value, what: &str) {
    assert_eq!(
        scroll["overflows"], true,
        "{what}: too few messages to scroll: {scroll}"
    );
    assert!(
        scroll["gap"].as_i64().unwrap() <= 2,
        "{what}: not at the end: {scroll}"
    );
    assert!(
        scroll["lastBelowList"].as_i64().unwrap() <= 1,
        "{what}: the newest message is cut off: {scroll}"
    );
    assert!(
        scroll["lastBelowComposerTop"].as_i64().unwrap() <= 0,
        "{what}: the newest message is under the composer: {scroll}"
    );
}

/// The scroll position after images, and the layout at 420 px and back at 1280 px.
fn check_layout(result: &Value) {
    check_at_newest(&result["scroll"], "desktop");
    // Scrolled up by the reader, the list stays put while messages arrive; back at the end, it
    // follows them again.
    let reader = &result["readerScroll"];
    assert_eq!(reader["after"]["top"], reader["before"]["top"], "{reader}");
    assert!(reader["after"]["gap"].as_i64().unwrap() > 400, "{reader}");
    check_at_newest(&reader["back"], "back at the end");
    let narrow = &result["narrow"];
    check_at_newest(&narrow["chatScroll"], "420 px");
    for (view, layout) in [
        ("conversation", &narrow["chat"]),
        ("list", &narrow["list"]),
        ("search", &narrow["search"]),
    ] {
        assert_eq!(layout["viewport"], 420, "{view}: {layout}");
        assert!(
            layout["scrollWidth"].as_i64().unwrap() <= 420,
            "{view}: the page scrolls sideways: {layout}"
        );
    }
    // An open conversation fills the screen, with its header and composer whole, and text
    // wraps at the bubble's width, not at every word.
    for layout in [&narrow["chat"], &narrow["search"]] {
        assert_eq!(layout["sidebar"], 0, "{layout}");
        assert_eq!(layout["conversation"], 420, "{layout}");
        for part in ["header", "chatName", "composer", "sendButton"] {
            assert_eq!(
                layout[part], true,
                "{part} is not whole on screen: {layout}"
            );
        }
    }
    assert!(
        narrow["chat"]["textLines"].as_i64().unwrap() <= 2,
        "{}",
        narrow["chat"]
    );
    // The list alone fills the screen; a chat's name stays on one line.
    assert_eq!(narrow["list"]["sidebar"], 420, "{}", narrow["list"]);
    assert_eq!(narrow["list"]["conversation"], 0, "{}", narrow["list"]);
    assert_eq!(narrow["list"]["chatNameLines"], 1, "{}", narrow["list"]);
    // At a desktop's width both panes show side by side.
    let desktop = &result["desktop"];
    let (sidebar, conversation) = (
        desktop["sidebar"].as_i64().unwrap(),
        desktop["conversation"].as_i64().unwrap(),
    );
    assert!(sidebar >= 300 && conversation >= 600, "{desktop}");
    assert!(
        desktop["scrollWidth"].as_i64().unwrap() <= 1280,
        "{desktop}"
    );
    // The QR page at 420 px: the code fits, nothing scrolls sideways.
    let login = &result["narrowLogin"];
    assert!(login["scrollWidth"].as_i64().unwrap() <= 420, "{login}");
    assert!(login["qr"]["left"].as_i64().unwrap() >= 0, "{login}");
    assert!(login["qr"]["right"].as_i64().unwrap() <= 420, "{login}");
}
