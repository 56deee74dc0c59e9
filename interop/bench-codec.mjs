// Measures the JavaScript peers' binary node codecs on wa-binary's benchmark corpus and prints one
// JSON line per case, direction and peer (MB/s of encoded bytes; `decode-walk` is a decode
// followed by a visit of every node and attribute; `decode-owned` is a decode into the peer's
// JavaScript objects, every string made, which for the Baileys codecs is their decode). Run
// from interop/:
//   node bench-codec.mjs [CORPUS_DIR] [SECONDS_PER_CASE]
// Peers: Baileys 7's TypeScript codec (multi-device), whatsapp-rust-bridge's WASM codec when it is
// installed (multi-device), Baileys 3.5.3's Encoder/Decoder (legacy).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const corpusDir = process.argv[2] || path.join(here, '../crates/wa-binary/benches/corpus');
const seconds = Number(process.argv[3] || 0.5);

const { encodeBinaryNode, decodeDecompressedBinaryNode } = await import('baileys');
const constants = await import('baileys/lib/WABinary/constants.js');
const LegacyEncoder = require('@adiwajshing/baileys/lib/Binary/Encoder.js').default;
const LegacyDecoder = require('@adiwajshing/baileys/lib/Binary/Decoder.js').default;
const { WA } = require('@adiwajshing/baileys/lib/Binary/Constants.js');
// Keep <message> payloads as bytes (Baileys 3.5.3 would protobuf-decode them, which is not codec work).
WA.Message.decode = (b) => b;
let bridge = null;
try {
  bridge = await import('whatsapp-rust-bridge');
} catch {
  bridge = null;
}

function throughput(len, fn) {
  const budget = BigInt(Math.round(seconds * 1e9));
  const warmEnd = process.hrtime.bigint() + budget / 5n;
  while (process.hrtime.bigint() < warmEnd) fn();
  const start = process.hrtime.bigint();
  let calls = 0;
  let now = start;
  while (now - start < budget) {
    for (let i = 0; i < 8; i++) fn();
    calls += 8;
    now = process.hrtime.bigint();
  }
  return (len * calls) / (Number(now - start) / 1e9) / 1e6;
}

// Visits every node and attribute of a decoded node as wa-binary's `decode-tree-walk` does:
// counts nodes and sums tag, key and value lengths plus byte-content lengths. Works on Baileys 7
// nodes ({tag, attrs, content}) and on whatsapp-rust-bridge's InternalBinaryNode, whose getters
// hand its attributes and children over to JavaScript.
function walk(node) {
  let sum = 1 + node.tag.length;
  const attrs = node.attrs;
  for (const key in attrs) sum += key.length + String(attrs[key]).length;
  const content = node.content;
  if (Array.isArray(content)) for (const child of content) sum += walk(child);
  else if (content instanceof Uint8Array) sum += content.length;
  return sum;
}

// The same over Baileys 3.5.3's legacy nodes ([tag, attrs, content]).
function walkLegacy(node) {
  let sum = 1 + node[0].length;
  const attrs = node[1];
  if (attrs) for (const key in attrs) sum += key.length + String(attrs[key]).length;
  const content = node[2];
  if (Array.isArray(content)) for (const child of content) sum += walkLegacy(child);
  else if (content instanceof Uint8Array) sum += content.length;
  return sum;
}

const manifest = JSON.parse(readFileSync(path.join(corpusDir, 'manifest.json'), 'utf8'));
const out = (dict, name, direction, peer, mbps) => console.log(JSON.stringify({ dict, case: name, direction, peer, mbps }));
for (const { dict, name, file } of manifest) {
  const bytes = readFileSync(path.join(corpusDir, file));
  if (dict === 'md') {
    const node = decodeDecompressedBinaryNode(bytes, constants);
    const baileysDecode = throughput(bytes.length, () => decodeDecompressedBinaryNode(bytes, constants));
    out(dict, name, 'decode', 'baileys7', baileysDecode);
    // Baileys's decode already builds the whole node as JavaScript objects, every string made:
    // its owned form is its decode.
    out(dict, name, 'decode-owned', 'baileys7', baileysDecode);
    out(dict, name, 'decode-walk', 'baileys7', throughput(bytes.length, () => walk(decodeDecompressedBinaryNode(bytes, constants))));
    out(dict, name, 'encode', 'baileys7', throughput(bytes.length, () => encodeBinaryNode(node)));
    if (bridge) {
      const framed = Buffer.concat([Buffer.from([0]), bytes]);
      // decodeNode copies the frame into WASM memory (and again when it strips the flag byte),
      // decodes a borrowed tree over that copy (its strings left in the copy where they can
      // be) and hands back a handle; nothing reaches JavaScript until a getter is called. We
      // free it each time. Like for like: our OwnedTree over a copy of the bytes.
      out(dict, name, 'decode', 'rust-bridge', throughput(bytes.length, () => bridge.decodeNode(framed).free()));
      // Its owned form: the same, then toJSON(), which builds the whole node as JavaScript
      // objects ({tag, attrs, content}, every string made), as Baileys's decode does. Like for
      // like: our owned Node.
      out(dict, name, 'decode-owned', 'rust-bridge', throughput(bytes.length, () => {
        const decoded = bridge.decodeNode(framed);
        const owned = decoded.toJSON();
        decoded.free();
        return owned;
      }));
      // Its getters build JavaScript objects from the WASM node; this slows down as it runs
      // (its memory grows), so its figure depends on the time per case.
      out(dict, name, 'decode-walk', 'rust-bridge', throughput(bytes.length, () => {
        const decoded = bridge.decodeNode(framed);
        const sum = walk(decoded);
        decoded.free();
        return sum;
      }));
      out(dict, name, 'encode', 'rust-bridge', throughput(bytes.length, () => bridge.encodeNode(node)));
    }
  } else {
    const node = new LegacyDecoder().read(bytes);
    const legacyDecode = throughput(bytes.length, () => new LegacyDecoder().read(bytes));
    out(dict, name, 'decode', 'baileys3', legacyDecode);
    out(dict, name, 'decode-owned', 'baileys3', legacyDecode);
    out(dict, name, 'decode-walk', 'baileys3', throughput(bytes.length, () => walkLegacy(new LegacyDecoder().read(bytes))));
    // Baileys 3.5.3 writes LIST_16 sizes with one byte, so its output for 256+ item lists is
    // shorter and wrong; the work is the same.
    out(dict, name, 'encode', 'baileys3', throughput(bytes.length, () => new LegacyEncoder().write(node)));
  }
}
