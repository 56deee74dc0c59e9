//! The example programs run offline against their in-process wa-sim, through the same `run`
//! function their `main` calls, and their outcomes are checked: the echo bot's replies, the
//! downloaded files' hashes, the exported JSON.

// Each example brings its own copy of `examples/common/mod.rs`, as it does when built alone.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "../examples/echo_bot.rs"]
mod echo_bot;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn echo_bot_answers_each_text_with_itself_and_keeps_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("bot.json");
    let session_arg = session.to_str().unwrap();

    let summary = echo_bot::run(&args(&["--session", session_arg]))
        .await
        .unwrap();

    let friend = "15550100002@c.us";
    let expected: Vec<(String, String)> = echo_bot::DEMO_TEXTS
        .iter()
        .map(|t| (friend.to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(summary.replies, expected);
    // The other side really got the echoes, in order.
    assert_eq!(summary.echoes_received, echo_bot::DEMO_TEXTS.to_vec());
    assert_eq!(summary.read_receipts, echo_bot::DEMO_TEXTS.len());
    // The session was stored for the next run.
    let stored = std::fs::read_to_string(&session).unwrap();
    assert!(stored.contains("15550100001@c.us"), "{stored}");
}

#[tokio::test]
async fn echo_bot_stops_after_max_replies() {
    let summary = echo_bot::run(&args(&["--max", "2"])).await.unwrap();
    assert_eq!(summary.replies.len(), 2);
    assert_eq!(summary.replies[1].1, echo_bot::DEMO_TEXTS[1]);
}

#[tokio::test]
async fn echo_bot_refuses_unknown_options() {
    let err = echo_bot::run(&args(&["--bogus", "1"])).await.unwrap_err();
    assert!(err.to_string().contains("--bogus"), "{err}");
}

#[allow(dead_code)]
#[path = "../examples/media_downloader.rs"]
mod media_downloader;

fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).to_vec()
}

#[tokio::test]
async fn media_downloader_saves_history_then_live_media_with_the_original_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("media");
    // A page size of 2 makes the history take two pages.
    let summary = media_downloader::run(&args(&["--dir", out.to_str().unwrap(), "--page", "2"]))
        .await
        .unwrap();

    let originals = media_downloader::demo_media();
    assert_eq!(summary.failed, 0);
    assert_eq!(summary.saved.len(), originals.len());
    for (n, (saved, original)) in summary.saved.iter().zip(&originals).enumerate() {
        assert!(saved.path.starts_with(&out), "{}", saved.path.display());
        let written = std::fs::read(&saved.path).unwrap();
        assert_eq!(sha256(&written), sha256(&original.bytes), "file {n}");
        assert_eq!(saved.bytes, original.bytes.len());
        // All but the last were in the history; the last arrived while it waited.
        assert_eq!(saved.live, n == originals.len() - 1, "file {n}");
    }
    let names: Vec<String> = summary
        .saved
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names[0], format!("{}.jpg", summary.saved[0].id));
    assert_eq!(names[1], format!("{}-report_2026.pdf", summary.saved[1].id));
    assert_eq!(names[2], format!("{}.ogg", summary.saved[2].id));
    assert_eq!(names[3], format!("{}.mp4", summary.saved[3].id));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), originals.len());
}

#[test]
fn media_downloader_keeps_network_file_names_inside_the_directory() {
    let name = media_downloader::file_name_for("3EB0/../X", None, Some("../../etc/passwd"));
    assert_eq!(name, "3EB0X-_.._etc_passwd");
    assert!(!name.contains('/'));
    let name = media_downloader::file_name_for("ID", Some("audio/ogg; codecs=opus"), None);
    assert_eq!(name, "ID.ogg");
}
