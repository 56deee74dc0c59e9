//! Injected faults and hostile input: garbage and truncated frames sent to a client, malformed
//! relays, and random messaging nodes; none of them panics the server.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_binary::Node;
use wa_proto::prost::Message as _;
use wa_proto::{MessageKey, WebMessageInfo};
use wa_sim::RequestError;
use wa_sim::store::{ECHO_JID, wire_jid};

use crate::{A, B, Got, Sim, text_message};

#[test]
fn garbage_and_truncated_frames_can_be_sent_to_a_client() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    assert!(sim.server.fault_send_garbage(a.conn, false));
    assert!(sim.server.fault_send_garbage(a.conn, true));
    let got = sim.take(&a);
    let bad: Vec<&str> = got
        .iter()
        .filter_map(|g| match g {
            Got::Undecryptable(tag) => Some(tag.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(bad.len(), 2, "{got:?}");
    assert!(bad[0].starts_with("sim-garbage") && bad[1].starts_with("sim-truncated"));
    // The connection still works afterwards.
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0GA01", "still here")),
        Some(200)
    );
}

#[test]
fn malformed_relays_are_refused_and_never_panic() {
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let no_message = Node::new("action").attr("type", "relay");
    assert!(matches!(
        sim.send_node(&a, "r1", &no_message),
        Err(RequestError::Malformed(_))
    ));
    let garbage = Node::new("action")
        .attr("type", "relay")
        .children([Node::new("message").bytes(vec![0xff, 0xff, 0xff])]);
    assert!(sim.send_node(&a, "r2", &garbage).is_err());
    let no_id = WebMessageInfo {
        key: MessageKey {
            remote_jid: Some(wire_jid(B)),
            ..MessageKey::default()
        },
        ..WebMessageInfo::default()
    };
    let node = Node::new("action")
        .attr("type", "relay")
        .children([Node::new("message").bytes(no_id.encode_to_vec())]);
    assert!(sim.send_node(&a, "r3", &node).is_err());
    let got = sim.take(&a);
    for tag in ["r1", "r2", "r3"] {
        assert!(
            got.iter()
                .any(|g| matches!(g, Got::Json(t, v) if t == tag && v["status"] == 400)),
            "{tag}: {got:?}"
        );
    }
}

#[test]
fn random_messaging_nodes_never_panic() {
    use rand::{Rng, RngCore};
    let mut sim = Sim::new();
    let a = sim.login(A, "client-a");
    let _b = sim.login(B, "client-b");
    let mut rng = StdRng::seed_from_u64(77);
    let queries = [
        "message",
        "message_info",
        "media",
        "search",
        "group",
        "chat",
        "contacts",
        "nope",
    ];
    let children = [
        "read", "received", "presence", "chat", "block", "profile", "status", "picture", "group",
        "user", "x",
    ];
    let keys = [
        "jid",
        "index",
        "owner",
        "count",
        "kind",
        "type",
        "to",
        "pin",
        "mute",
        "name",
        "subject",
        "id",
        "page",
        "search",
        "from",
        "participant",
    ];
    let values = [
        A,
        B,
        ECHO_JID,
        "15550100002-1600000000@g.us",
        "",
        "-2",
        "0",
        "999999999999999999999",
        "before",
        "after",
        "create",
        "add",
        "remove",
        "promote",
        "leave",
        "prop",
        "subject",
        "description",
        "archive",
        "pin",
        "mute",
        "star",
        "clear",
        "delete",
        "played",
        "set",
        "relay",
        "3EB0AA01",
    ];
    let pick = |rng: &mut StdRng, list: &[&'static str]| list[rng.gen_range(0..list.len())];
    let random_attrs = |rng: &mut StdRng, mut node: Node| {
        for _ in 0..rng.gen_range(0..6) {
            node = node.attr(pick(rng, &keys), pick(rng, &values));
        }
        node
    };
    for round in 0..2000 {
        let node = match rng.gen_range(0..3) {
            0 => {
                let kind = pick(&mut rng, &queries);
                random_attrs(&mut rng, Node::new("query").attr("type", kind))
            }
            1 => {
                let tag = pick(&mut rng, &children);
                let mut child = random_attrs(&mut rng, Node::new(tag));
                if rng.gen_bool(0.3) {
                    let inner = pick(&mut rng, &["participant", "item", "user", "description"]);
                    child = child.children([random_attrs(&mut rng, Node::new(inner))]);
                } else if rng.gen_bool(0.3) {
                    let mut bytes = vec![0u8; rng.gen_range(0..40)];
                    rng.fill_bytes(&mut bytes);
                    child = child.bytes(bytes);
                }
                Node::new("action").attr("type", "set").children([child])
            }
            _ => {
                let mut bytes = vec![0u8; rng.gen_range(0..80)];
                rng.fill_bytes(&mut bytes);
                if rng.gen_bool(0.5) {
                    let to = pick(&mut rng, &values);
                    let mut info = text_message(to, "3EB0RND", "r");
                    info.key.id = Some(format!("3EB0RND{round}"));
                    bytes = info.encode_to_vec();
                }
                Node::new("action")
                    .attr("type", "relay")
                    .children([Node::new("message").bytes(bytes)])
            }
        };
        let _ = sim.send_node(&a, &format!("r{round}"), &node);
        sim.advance(Duration::from_millis(50));
    }
    // Still serving.
    sim.take(&a);
    assert_eq!(
        sim.relay(&a, &text_message(B, "3EB0ALIVE", "still here")),
        Some(200)
    );
}
