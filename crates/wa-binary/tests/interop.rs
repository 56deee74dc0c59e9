//! Live interop: random nodes encoded by us are decoded by the reference peers (Baileys 7 for the
//! multi-device dictionary, Baileys 3.5.3 for the legacy one), which must read the same node; for
//! multi-device, Baileys 7 re-encoding what it read must give our bytes exactly.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use wa_binary::{Codec, Dictionary, Node, json};

/// Reads `{"dict": "md"|"legacy", "hex": [...]}` on stdin; prints one JSON line per input:
/// `{"decoded": <node JSON>, "reencoded": "<hex>"}` (reencoded only for md).
const SCRIPT: &str = r#"
import { createRequire } from 'node:module';
import path from 'node:path';
const require = createRequire(path.join(process.cwd(), 'package.json'));
const { encodeBinaryNode, decodeBinaryNode } = await import(path.join(process.cwd(), 'node_modules/baileys/lib/index.js'));
const Decoder = require('@adiwajshing/baileys/lib/Binary/Decoder.js').default;
const { WA } = require('@adiwajshing/baileys/lib/Binary/Constants.js');
WA.Message.decode = (b) => Buffer.from(b);
const content = (c, f) => c === undefined || c === null ? null : Array.isArray(c) ? c.map(f)
  : typeof c === 'string' ? c : { bytes: Buffer.from(c).toString('base64') };
const md = (n) => [n.tag, { ...n.attrs }, content(n.content, md)];
const norm = (s) => s === 's.whatsapp.net' ? 'c.us' : s.endsWith('@s.whatsapp.net') ? s.slice(0, -14) + 'c.us' : s;
const legacy = ([t, a, c]) => [norm(t), Object.fromEntries(Object.entries(a || {}).map(([k, v]) => [norm(k), norm(v)])),
  typeof c === 'string' ? norm(c) : content(c, legacy)];
let input = '';
for await (const chunk of process.stdin) input += chunk;
const { dict, hex } = JSON.parse(input);
const out = [];
for (const h of hex) {
  const bytes = Buffer.from(h, 'hex');
  if (dict === 'md') {
    const node = await decodeBinaryNode(Buffer.concat([Buffer.from([0]), bytes]));
    out.push(JSON.stringify({ decoded: md(node), reencoded: encodeBinaryNode(node).subarray(1).toString('hex') }));
  } else {
    out.push(JSON.stringify({ decoded: legacy(new Decoder().read(bytes)) }));
  }
}
process.stdout.write(out.join('\n') + '\n');
"#;

#[derive(serde::Deserialize)]
struct PeerResult {
    decoded: Node,
    reencoded: Option<String>,
}

fn run_peer(dict: &str, encoded: &[Vec<u8>]) -> Vec<PeerResult> {
    let hex: Vec<String> = encoded.iter().map(hex::encode).collect();
    let request = serde_json::json!({ "dict": dict, "hex": hex }).to_string();
    let mut child = Command::new("node")
        .args(["--input-type=module", "-e", SCRIPT])
        .current_dir(wa_testkit::interop_dir(&[
            "baileys",
            "@adiwajshing/baileys",
        ]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed for the interop tests: run `cargo xtask setup`");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn random_nodes(dict: Dictionary, seed: u64, count: usize) -> Vec<Node> {
    let mut rng = common::Rng(seed);
    (0..count)
        .map(|_| common::random_node(&mut rng, dict, 1))
        .collect()
}

#[test]
fn baileys_7_reads_our_multi_device_bytes_and_writes_them_back_identically() {
    let codec = Codec::multi_device();
    let nodes = random_nodes(Dictionary::MultiDeviceV3, 0x5eed_0001, 400);
    let encoded: Vec<Vec<u8>> = nodes.iter().map(|n| codec.encode(n).unwrap()).collect();
    let results = run_peer("md", &encoded);
    assert_eq!(results.len(), nodes.len());
    for ((node, bytes), result) in nodes.iter().zip(&encoded).zip(&results) {
        let ours = codec.decode(bytes).unwrap();
        assert_eq!(
            result.decoded,
            ours,
            "Baileys 7 read {} differently",
            json::to_string(node)
        );
        assert_eq!(
            result.reencoded.as_deref(),
            Some(hex::encode(bytes).as_str()),
            "{}",
            json::to_string(node)
        );
    }
}

#[test]
fn baileys_3_5_3_reads_our_legacy_bytes() {
    let codec = Codec::legacy();
    let mut nodes = random_nodes(Dictionary::Legacy, 0x5eed_0002, 400);
    // The known-answer inputs too (all lists < 256: Baileys 3.5.3 reads LIST_16 correctly, but we
    // also keep to what it writes).
    nodes.extend(
        common::vectors("legacy.json")
            .vectors
            .into_iter()
            .map(|v| v.input),
    );
    let encoded: Vec<Vec<u8>> = nodes.iter().map(|n| codec.encode(n).unwrap()).collect();
    let results = run_peer("legacy", &encoded);
    assert_eq!(results.len(), nodes.len());
    for ((node, bytes), result) in nodes.iter().zip(&encoded).zip(&results) {
        let ours = codec.decode(bytes).unwrap();
        // Baileys 3.5.3 turns LIST_EMPTY attribute sets into null and reads text of bytes; our
        // decode is the reference for what the bytes mean.
        assert_eq!(
            result.decoded,
            ours,
            "Baileys 3.5.3 read {} differently",
            json::to_string(node)
        );
    }
}
