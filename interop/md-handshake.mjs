// Baileys 7 as a new (unpaired) companion against a local multi-device server: it completes the
// Noise handshake (trusting the server's root through the exported, mutable
// WA_CERT_DETAILS.PUBLIC_KEY), sends its registration ClientPayload, and, once the server's
// pair-device iq arrives, produces a QR. Prints one JSON line, then exits:
//   {"qr": "...", "identity": "<hex>", "registrationId": N}    exit 0
//   {"closed": "..."}                                          exit 2 (refused, e.g. bad chain)
// Usage: node md-handshake.mjs <ws url> <root public key hex>
import makeWASocket, { WA_CERT_DETAILS, initAuthCreds } from 'baileys';

const [url, rootHex] = process.argv.slice(2);
if (!url || !rootHex) {
  console.error('usage: node md-handshake.mjs <ws url> <root public key hex>');
  process.exit(64);
}
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

const creds = initAuthCreds();
const keys = {
  async get() {
    return {};
  },
  async set() {},
};
const sock = makeWASocket({
  waWebSocketUrl: url,
  auth: { creds, keys },
  logger: silent,
  browser: ['wa-interop', 'Chrome', '1.0'],
  connectTimeoutMs: 10_000,
});

let finished = false;
const finish = (line, code) => {
  if (finished) return;
  finished = true;
  console.log(JSON.stringify(line));
  // Give Baileys' last writes (the iq ack) a moment to leave before the process ends.
  setTimeout(() => process.exit(code), 200);
};

sock.ev.on('connection.update', (update) => {
  if (update.qr) {
    finish(
      {
        qr: update.qr,
        identity: Buffer.from(creds.signedIdentityKey.public).toString('hex'),
        registrationId: creds.registrationId,
      },
      0,
    );
  }
  if (update.connection === 'close') {
    finish({ closed: String(update.lastDisconnect?.error?.message ?? 'closed') }, 2);
  }
});
// Ending the socket rejects Baileys' pending promises: that is expected here.
process.on('unhandledRejection', () => {});
process.on('uncaughtException', (error) => finish({ closed: String(error?.message ?? error) }, 2));
setTimeout(() => finish({ closed: 'timeout' }, 3), 20_000);
