//! Helpers shared by the legacy client's test binaries (`e2e`, `messaging`, `baileys_chat`):
//! waiting for a client event, and finding the npm peers.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use wa_client::legacy::{Client, ClientEvent};

/// Waits up to `patience` for the first event `pick` accepts, skipping others; fails with the
/// events it skipped.
pub async fn next_event<T>(
    client: &mut Client,
    patience: Duration,
    mut pick: impl FnMut(&ClientEvent) -> Option<T>,
) -> T {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(patience, async {
        loop {
            let event = client.next_event().await.expect("event stream open");
            if let Some(found) = pick(&event) {
                return found;
            }
            seen.push(format!("{event:?}"));
        }
    })
    .await;
    match found {
        Ok(found) => found,
        Err(_) => panic!("expected event never came; saw {seen:#?}"),
    }
}

/// `interop/`, where `cargo xtask setup` installed the npm peers; fails when Baileys 3.5.3 is
/// not there.
pub fn interop_dir() -> PathBuf {
    wa_testkit::interop_dir(&["@adiwajshing/baileys"])
}
