//! Live interop with the real legacy client, `@adiwajshing/baileys@3.5.3`: a session paired by
//! our client is restored by Baileys (same keys, it decrypts the server's pushes), and the
//! tokens Baileys ends up with log our client back in, replacing Baileys.

use std::process::Stdio;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::Command;
use wa_core::client::{ClientConfig, CloseReason};
use wa_core::session::{MemoryStore, SessionStore};
use wa_sim::{Config, SimEvent};

use super::legacy_common::interop_dir;
use super::{PATIENCE, client, client_for, connected, qr_login, sim_event, start_sim, stopped};

async fn next_line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> Value {
    let line = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("Baileys answers in time")
        .expect("stdout readable")
        .expect("Baileys printed a line");
    let value: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_ne!(value["event"], "error", "Baileys failed: {value}");
    value
}

#[tokio::test]
async fn session_hands_over_to_baileys_and_back() {
    let interop = interop_dir();
    let sim = start_sim(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    let mut ours = client(&sim, Arc::clone(&store));
    let paired = qr_login(&sim, &mut ours).await;

    let mut child = Command::new("node")
        .arg("legacy-handoff.js")
        .arg(sim.ws_url())
        .current_dir(&interop)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let auth = json!({
        "clientID": paired.client_id,
        "clientToken": paired.client_token,
        "serverToken": paired.server_token,
        "encKey": BASE64.encode(paired.enc_key),
        "macKey": BASE64.encode(paired.mac_key),
    });
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{auth}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    // Baileys takes over the session our client paired: same keys, same account.
    let open = next_line(&mut lines).await;
    assert_eq!(open["event"], "open");
    assert_eq!(open["clientID"], paired.client_id.as_str());
    assert_eq!(open["encKey"], BASE64.encode(paired.enc_key));
    assert_eq!(open["macKey"], BASE64.encode(paired.mac_key));
    assert_eq!(open["jid"], "15550100001@s.whatsapp.net");
    assert_eq!(stopped(&mut ours).await, CloseReason::Replaced);
    // It decrypted the server's pushes: every contact and chat of the account is there.
    let data = next_line(&mut lines).await;
    assert_eq!(data["event"], "data");
    let seed = sim.with_server(|s, _| s.accounts()[0].clone());
    let listed = |field: &str| -> Vec<String> {
        data[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j.as_str().unwrap().replace("@s.whatsapp.net", "@c.us"))
            .collect()
    };
    let (contacts, chats) = (listed("contacts"), listed("chats"));
    for contact in &seed.contacts {
        assert!(
            contacts.contains(&contact.jid),
            "{} not in {contacts:?}",
            contact.jid
        );
    }
    for chat in &seed.chats {
        assert!(chats.contains(&chat.jid), "{} not in {chats:?}", chat.jid);
    }

    // Our client takes it back with the tokens Baileys now holds (the server rotated them).
    let mut handed_back = paired.clone();
    handed_back.client_token = open["clientToken"].as_str().unwrap().to_owned();
    handed_back.server_token = open["serverToken"].as_str().unwrap().to_owned();
    assert_ne!(handed_back.client_token, paired.client_token);
    let back_store = Arc::new(MemoryStore::new());
    back_store.save(&handed_back).unwrap();
    let mut again = client_for(
        &sim.ws_url(),
        &sim.http_url(),
        Arc::clone(&back_store),
        ClientConfig::default(),
    );
    again.restore().unwrap();
    let info = connected(&mut again).await;
    assert_eq!(info.wid, paired.wid);
    let close = next_line(&mut lines).await;
    assert_eq!(close, json!({"event": "close", "reason": "replaced"}));
    sim_event(&sim, |e| matches!(e, SimEvent::Replaced { .. })).await;
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("Baileys exits")
        .unwrap();
    assert!(status.success());
    again.shutdown().await;
    sim.shutdown().await;
}
