//! What a client is pushed after login and what it reads back: offline messages (as recent
//! messages or as relays), the echo contact with history paging and search, and seeded
//! messages and group members.

use base64::Engine as _;
use wa_binary::Node;
use wa_crypto::KeyPair;
use wa_crypto::legacy::SessionKeys;
use wa_sim::SeedAccount;
use wa_sim::core::Config;
use wa_sim::store::ECHO_JID;

use crate::{A, B, BASE64, Got, Sim, acks, messages_of, relayed, text_message, two_accounts};

#[test]
fn offline_messages_are_pushed_after_login() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0OF09", "queued")),
        Some(200)
    );
    let conn = sim.server.handle_connect(sim.now);
    sim.text(
        conn,
        r#"1.--0,["admin","init",[2,2142,12],["Baileys","Chrome","3.0"],"client-b",true]"#,
    )
    .unwrap();
    let got = sim.inbox.remove(&conn).unwrap();
    let Some(Got::Json(_, init)) = got.first() else {
        panic!()
    };
    let pair = KeyPair::generate(&mut sim.rng);
    let qr = format!(
        "{},{},client-b",
        init["ref"].as_str().unwrap(),
        BASE64.encode(pair.public_bytes())
    );
    sim.server.scan_as(sim.now, &qr, Some(B)).unwrap();
    sim.pump();
    let got = sim.inbox.remove(&conn).unwrap();
    let Some(Got::Json(_, conn_msg)) = got.first() else {
        panic!()
    };
    let secret = BASE64
        .decode(conn_msg[1]["secret"].as_str().unwrap())
        .unwrap();
    sim.keys
        .insert(conn, SessionKeys::from_secret(&pair, &secret).unwrap());
    sim.advance(sim.server.config().initial_push_delay);
    let got = sim.inbox.remove(&conn).unwrap();
    // After the chats, the recent messages (`add:last`), which include the queued one, so it is
    // not pushed again as a relay.
    assert!(relayed(&got).is_empty());
    let last = got
        .iter()
        .find_map(|g| match g {
            Got::Node(_, n) if n.attrs.get("add") == Some("last") => {
                Some(Got::Node(String::new(), n.clone()))
            }
            _ => None,
        })
        .expect("recent messages pushed");
    let pushed = messages_of(&last);
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].key.id.as_deref(), Some("3EB0OF09"));
    assert_eq!(pushed[0].key.from_me, Some(false));
    // The chat list names the new chat.
    let chats = got
        .iter()
        .find_map(|g| match g {
            Got::Node(_, n) if n.attrs.get("type") == Some("chat") => Some(n.clone()),
            _ => None,
        })
        .unwrap();
    assert!(chats.child_nodes().iter().any(
        |c| c.attrs.get("jid") == Some("15550100001@c.us") && c.attrs.get("count") == Some("1")
    ));
}

#[test]
fn without_recent_message_pushes_queued_messages_come_as_relays() {
    let mut sim = Sim::with(Config {
        accounts: two_accounts(),
        recent_messages_per_chat: 0,
        ..Config::default()
    });
    let a = sim.login(A, "client-a");
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0Q001", "one")),
        Some(200)
    );
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0Q002", "two")),
        Some(200)
    );
    let (b, pushes) = sim.login_with_pushes(B, "client-b");
    assert!(
        !pushes
            .iter()
            .any(|g| matches!(g, Got::Node(_, n) if n.attrs.get("add") == Some("last")))
    );
    let ids: Vec<String> = relayed(&pushes)
        .into_iter()
        .filter_map(|m| m.key.id)
        .collect();
    assert_eq!(ids, ["3EB0Q001", "3EB0Q002"]);
    // Nothing stays queued: the next message goes straight to B.
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0Q003", "three")),
        Some(200)
    );
    assert_eq!(relayed(&sim.take(&b)).len(), 1);
}

#[test]
fn the_echo_contact_acks_composes_and_echoes() {
    let mut sim = Sim::with(Config::default());
    let a = sim.login(A, "client-a");
    assert_eq!(
        sim.relay(&a, &text_message(ECHO_JID, "3EB0EC01", "ping")),
        Some(200)
    );
    let step = sim.server.config().echo_delay;
    let mut seen = Vec::new();
    for _ in 0..5 {
        sim.advance(step);
        seen.extend(sim.take(&a));
    }
    let acks = acks(&seen);
    assert_eq!(
        acks,
        [("3EB0EC01".to_owned(), 2), ("3EB0EC01".to_owned(), 3)]
    );
    let presences: Vec<&str> = seen
        .iter()
        .filter_map(|g| match g {
            Got::Json(_, v) if v[0] == "Presence" => v[1]["type"].as_str(),
            _ => None,
        })
        .collect();
    assert_eq!(presences, ["composing", "paused"]);
    let echo = relayed(&seen);
    assert_eq!(echo.len(), 1);
    assert_eq!(
        echo[0].message.as_ref().unwrap().conversation.as_deref(),
        Some("ping")
    );
    assert_eq!(
        echo[0].key.remote_jid.as_deref(),
        Some("15550109999@s.whatsapp.net")
    );
    assert_eq!(echo[0].key.from_me, Some(false));

    // History: before/after paging with `last`.
    for i in 0..3 {
        let id = format!("3EB0EC1{i}");
        sim.relay(&a, &text_message(ECHO_JID, &id, &format!("n{i}")));
    }
    sim.advance(step * 5);
    sim.take(&a);
    let ids = |got: &Got| -> Vec<String> {
        messages_of(got)
            .into_iter()
            .map(|m| m.key.id.unwrap())
            .collect()
    };
    let all = sim.server.store(A).unwrap().chats[ECHO_JID]
        .messages
        .iter()
        .map(|m| m.id().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(all.len(), 8);
    let q = |kind: &str, count: &str, index: Option<&str>| {
        Node::new("query")
            .attr("type", "message")
            .attr("jid", ECHO_JID)
            .attr("kind", kind)
            .attr("count", count)
            .attr_opt("index", index)
    };
    let last3 = sim.query(&a, q("before", "3", None));
    assert_eq!(ids(&last3), all[5..]);
    let before = sim.query(&a, q("before", "3", Some(&all[5])));
    assert_eq!(ids(&before), all[2..5]);
    let Got::Node(_, n) = &before else { panic!() };
    assert_eq!(n.attrs.get("last"), None);
    let first = sim.query(&a, q("before", "10", Some(&all[2])));
    assert_eq!(ids(&first), all[..2]);
    let Got::Node(_, n) = &first else { panic!() };
    assert_eq!(n.attrs.get("last"), Some("true"));
    let after = sim.query(&a, q("after", "2", Some(&all[0])));
    assert_eq!(ids(&after), all[1..3]);

    // Search finds the texts.
    let found = sim.query(
        &a,
        Node::new("query")
            .attr("type", "search")
            .attr("search", "PING")
            .attr("count", "10")
            .attr("page", "1"),
    );
    assert_eq!(messages_of(&found).len(), 2);
}

#[test]
fn seeded_messages_and_group_members_are_served() {
    let json = r#"{
        "wid": "15550100001@c.us",
        "chats": [
            { "jid": "15550100002@c.us", "t": 1600000010, "count": 1, "messages": [
                { "id": "SEED1", "from_me": true, "text": "first", "t": 1600000000 },
                { "id": "SEED2", "text": "second", "t": 1600000010 } ] },
            { "jid": "15550100002-1600000000@g.us", "name": "Seeded",
              "participants": ["15550100003@c.us"] }
        ]
    }"#;
    let mut sim = Sim::with(Config {
        accounts: vec![SeedAccount::from_json(json).unwrap()],
        ..Config::default()
    });
    let (a, pushes) = sim.login_with_pushes(A, "client-a");
    let last = pushes
        .iter()
        .find(|g| matches!(g, Got::Node(_, n) if n.attrs.get("add") == Some("last")))
        .expect("recent messages pushed");
    let pushed: Vec<(String, bool)> = messages_of(last)
        .into_iter()
        .map(|m| (m.key.id.unwrap(), m.key.from_me.unwrap()))
        .collect();
    assert_eq!(
        pushed,
        [("SEED1".to_owned(), true), ("SEED2".to_owned(), false)]
    );
    let history = sim.query(
        &a,
        Node::new("query")
            .attr("type", "message")
            .attr("jid", B)
            .attr("kind", "before")
            .attr("count", "1"),
    );
    let texts: Vec<String> = messages_of(&history)
        .into_iter()
        .filter_map(|m| m.message.and_then(|c| c.conversation))
        .collect();
    assert_eq!(texts, ["second"]);
    let meta = sim.json(
        &a,
        r#"["query","GroupMetadata","15550100002-1600000000@g.us"]"#,
    );
    let members: Vec<&str> = meta["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(members, ["15550100002@c.us", "15550100003@c.us", A]);
}
