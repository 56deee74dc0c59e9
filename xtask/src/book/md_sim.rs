//! Generators for the simulator chapter's multi-device section: wa-sim's `MdServer` (sans-IO,
//! fixed seeds) pairs a companion by QR, refuses nothing, logs it in and lists it, the same
//! steps `crates/wa-sim/tests/md_pairing.rs` asserts.

use base64::Engine as _;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use wa_binary::{Content, Node};
use wa_crypto::{KeyPair, xeddsa_sign_rng};
use wa_proto::prost::Message as _;
use wa_proto::proto::{
    AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac, ClientPayload,
};
use wa_sim::md::{Action, MdServer, Out};

use super::{Generator, fenced};

pub(crate) const GENERATORS: [(&str, Generator); 1] = [("md-sim-pairing", md_sim_pairing)];

/// The book's fixed clock: 2025-01-01 00:00:00 UTC.
const NOW: u64 = 1_735_689_600;

/// A node as indented pseudo-XML; byte contents as their length and first bytes in hex.
fn render(node: &Node, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let attrs: String = node
        .attrs
        .iter()
        .map(|(k, v)| format!(" {k}=\"{v}\""))
        .collect();
    match &node.content {
        Content::Nodes(children) if !children.is_empty() => {
            out.push_str(&format!("{pad}<{}{attrs}>\n", node.tag));
            for child in children {
                render(child, depth + 1, out);
            }
            out.push_str(&format!("{pad}</{}>\n", node.tag));
        }
        Content::Bytes(bytes) if !bytes.is_empty() => {
            let shown: String = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            let text = std::str::from_utf8(bytes)
                .ok()
                .filter(|t| t.chars().all(|c| c.is_ascii_graphic()));
            match text {
                Some(text) => out.push_str(&format!(
                    "{pad}<{}{attrs}>{text}</{}>\n",
                    node.tag, node.tag
                )),
                None => out.push_str(&format!(
                    "{pad}<{}{attrs}>[{} bytes: {shown}…]</{}>\n",
                    node.tag,
                    bytes.len(),
                    node.tag
                )),
            }
        }
        Content::Text(text) => {
            out.push_str(&format!(
                "{pad}<{}{attrs}>{text}</{}>\n",
                node.tag, node.tag
            ));
        }
        _ => out.push_str(&format!("{pad}<{}{attrs}/>\n", node.tag)),
    }
}

fn sent_to(outs: &[Out], conn: u64) -> Vec<Node> {
    outs.iter()
        .filter_map(|o| match &o.action {
            Action::Send(node) if o.conn == conn => Some(node.clone()),
            _ => None,
        })
        .collect()
}

fn md_sim_pairing() -> Result<String, String> {
    let mut rng = StdRng::seed_from_u64(11);
    let identity = KeyPair::generate(&mut rng);
    let noise = KeyPair::generate(&mut rng);
    let adv = [0x42u8; 32];
    let mut server = MdServer::new(12);
    let mut transcript = String::new();
    let mut show = |title: &str, nodes: &[Node]| {
        transcript.push_str(&format!("<!-- {title} -->\n"));
        for node in nodes {
            render(node, 0, &mut transcript);
        }
    };

    let outs = server.connected(1, &ClientPayload::default(), &noise.public_bytes(), NOW);
    let pair_device = sent_to(&outs, 1);
    let reference = pair_device
        .first()
        .and_then(|iq| iq.child("pair-device"))
        .and_then(|p| p.child("ref"))
        .and_then(Node::content_bytes)
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .ok_or("no pair-device ref")?;
    show("server → new companion", &pair_device);

    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let qr = format!(
        "{reference},{},{},{},1",
        b64(&noise.public_bytes()),
        b64(&identity.public_bytes()),
        b64(&adv)
    );
    let outs = server
        .scan(&qr, Some(15_551_234_567), NOW)
        .map_err(|e| e.to_string())?;
    let success = sent_to(&outs, 1);
    show(
        "POST /_sim/md/scan: the phone signs, server → companion",
        &success,
    );

    let iq = success.first().ok_or("no pair-success")?;
    let wrapped = iq
        .child("pair-success")
        .and_then(|p| p.child("device-identity"))
        .and_then(Node::content_bytes)
        .ok_or("no device-identity")?;
    let hmac = AdvSignedDeviceIdentityHmac::decode(wrapped).map_err(|e| e.to_string())?;
    let mut signed = AdvSignedDeviceIdentity::decode(hmac.details()).map_err(|e| e.to_string())?;
    let key_index = AdvDeviceIdentity::decode(signed.details())
        .map_err(|e| e.to_string())?
        .key_index();
    let message = [
        &[6u8, 1][..],
        signed.details(),
        &identity.public_bytes(),
        signed.account_signature_key(),
    ]
    .concat();
    signed.device_signature = Some(xeddsa_sign_rng(&identity, &message, &mut rng).to_vec());
    signed.account_signature_key = None;
    let reply = Node::new("iq")
        .attr("to", "s.whatsapp.net")
        .attr("type", "result")
        .attr("id", iq.attrs.get("id").unwrap_or_default())
        .children([
            Node::new("pair-device-sign").children([Node::new("device-identity")
                .attr("key-index", key_index)
                .bytes(signed.encode_to_vec())]),
        ]);
    show("companion → server", std::slice::from_ref(&reply));
    let outs = server.node(1, &reply, NOW);
    show("server → companion (restart)", &sent_to(&outs, 1));
    server.disconnected(1);

    let login = ClientPayload {
        username: Some(15_551_234_567),
        device: Some(1),
        ..ClientPayload::default()
    };
    let outs = server.connected(2, &login, &noise.public_bytes(), NOW + 1);
    show("login: server → companion", &sent_to(&outs, 2));

    let devices = serde_json::to_string_pretty(&server.devices(None)).map_err(|e| e.to_string())?;
    Ok(format!(
        "{}\n`GET /_sim/md/devices` then answers:\n\n{}",
        fenced("xml", transcript.trim_end()),
        fenced("json", &devices)
    ))
}
