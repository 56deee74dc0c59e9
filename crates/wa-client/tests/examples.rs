//! The example programs run offline against their in-process wa-sim, through the same `run`
//! function their `main` calls, and their outcomes are checked: the echo bot's replies, the
//! downloaded files' hashes, the exported JSON.

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
