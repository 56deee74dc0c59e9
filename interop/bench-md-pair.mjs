// Pairings per second of Baileys 7 against a running wa-sim: one after another in this process,
// each a new device with in-memory credentials: connect, QR, the phone scans it
// (POST /_sim/md/scan), pair-success, 515, a new socket logs in, uploads its 812 prekeys and
// reaches `connection: open`. Prints one JSON line: {"pairings": N, "seconds": S, "per_second": R}.
// Usage (from interop/): node bench-md-pair.mjs <ws url> <root hex> <control url> [COUNT]
import makeWASocket, { DisconnectReason, WA_CERT_DETAILS, initAuthCreds } from 'baileys';

const [url, rootHex, control, countArg] = process.argv.slice(2);
if (!url || !rootHex || !control) {
  console.error('usage: node bench-md-pair.mjs <ws url> <root hex> <control url> [COUNT]');
  process.exit(64);
}
const count = Number(countArg ?? 10);
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(rootHex, 'hex');
const silent = {
  level: 'silent',
  child() {
    return silent;
  },
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/// An in-memory signal key store (what useMultiFileAuthState keeps in files).
const memoryKeys = () => {
  const data = {};
  return {
    async get(type, ids) {
      const out = {};
      for (const id of ids) {
        const value = data[`${type}-${id}`];
        if (value !== undefined) out[id] = value;
      }
      return out;
    },
    async set(update) {
      for (const [type, values] of Object.entries(update)) {
        for (const [id, value] of Object.entries(values)) {
          if (value) data[`${type}-${id}`] = value;
          else delete data[`${type}-${id}`];
        }
      }
    },
  };
};

const pairOnce = () =>
  new Promise((resolve, reject) => {
    const auth = { creds: initAuthCreds(), keys: memoryKeys() };
    let sockets = 0;
    const start = () => {
      sockets += 1;
      const sock = makeWASocket({
        waWebSocketUrl: url,
        auth,
        logger: silent,
        browser: ['wa-bench', 'Chrome', '1.0'],
        markOnlineOnConnect: false,
        fireInitQueries: false,
      });
      sock.ev.on('creds.update', (update) => Object.assign(auth.creds, update));
      sock.ev.on('connection.update', async (update) => {
        if (update.qr) {
          const response = await fetch(`${control}/md/scan`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ qr: update.qr }),
          });
          if (response.status !== 200) reject(new Error(`scan: ${response.status}`));
        }
        if (update.connection === 'open') {
          sock.end(undefined);
          resolve();
        }
        if (update.connection === 'close') {
          const status = update.lastDisconnect?.error?.output?.statusCode;
          if (status === DisconnectReason.restartRequired && sockets < 3) start();
          else if (sockets >= 2 && status === DisconnectReason.connectionClosed) {
            // our own end() after open
          } else reject(new Error(`closed: ${status}`));
        }
      });
    };
    start();
  });

process.on('unhandledRejection', () => {});
const started = process.hrtime.bigint();
for (let i = 0; i < count; i += 1) {
  await pairOnce();
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(JSON.stringify({ pairings: count, seconds, per_second: count / seconds }));
setTimeout(() => process.exit(0), 100);
