// Pairings per second of Baileys 7 against a running wa-sim: each pairing is a new device
// (fresh in-memory credentials) that connects, shows a QR the phone scans (POST
// /_sim/md/scan), gets 515, reconnects, logs in and uploads its 812 prekeys; `connection:
// open` (emitted after the prekey upload, passive/active and the digest) ends it. One pairing
// at a time, for <seconds>.
//
// Usage: node bench-pairing.mjs <ws url> <root public key hex> <control url> <seconds>
// Prints one JSON line: {"peer":"baileys","measure":"pairing","per_s":N,"count":N}
import makeWASocket, { DisconnectReason, WA_CERT_DETAILS, initAuthCreds } from 'baileys';

const [url, rootHex, control, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? 5);
if (!url || !rootHex || !control || !(seconds > 0)) {
  console.error('usage: node bench-pairing.mjs <ws url> <root hex> <control url> <seconds>');
  process.exit(64);
}
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(rootHex, 'hex');

const silent = { level: 'silent', child() { return silent; }, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** An in-memory key store, as Baileys' `auth.keys` expects. */
function memoryKeys() {
  const data = {};
  return {
    get: async (type, ids) => Object.fromEntries(ids.map((id) => [id, data[`${type}-${id}`]]).filter(([, v]) => v !== undefined)),
    set: async (entries) => {
      for (const [type, values] of Object.entries(entries)) {
        for (const [id, value] of Object.entries(values)) {
          if (value) data[`${type}-${id}`] = value; else delete data[`${type}-${id}`];
        }
      }
    },
  };
}

function pairOnce() {
  return new Promise((resolve, reject) => {
    const state = { creds: initAuthCreds(), keys: memoryKeys() };
    let sockets = 0;
    const timer = setTimeout(() => reject(new Error('pairing timed out')), 30_000);
    const start = () => {
      sockets += 1;
      const sock = makeWASocket({
        waWebSocketUrl: url, auth: state, logger: silent, browser: ['wa-bench', 'Chrome', '1.0'],
        connectTimeoutMs: 10_000, markOnlineOnConnect: false, syncFullHistory: false, fireInitQueries: false,
      });
      sock.ev.on('creds.update', (update) => Object.assign(state.creds, update));
      sock.ev.on('connection.update', async (update) => {
        if (update.qr) {
          const response = await fetch(`${control}/md/scan`, {
            method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ qr: update.qr }),
          });
          if (response.status !== 200) reject(new Error(`scan: ${response.status}`));
        }
        if (update.connection === 'open') {
          clearTimeout(timer);
          sock.end(undefined);
          resolve();
        }
        if (update.connection === 'close') {
          const status = update.lastDisconnect?.error?.output?.statusCode;
          if (status === DisconnectReason.restartRequired && sockets < 3) start();
        }
      });
    };
    start();
  });
}

process.on('unhandledRejection', () => {});
await pairOnce(); // warm-up: JIT, module loading
const started = performance.now();
let count = 0;
while (performance.now() - started < seconds * 1000) {
  await pairOnce();
  count += 1;
}
const elapsed = (performance.now() - started) / 1000;
console.log(JSON.stringify({ peer: 'baileys', measure: 'pairing', per_s: count / elapsed, count }));
process.exit(0);
