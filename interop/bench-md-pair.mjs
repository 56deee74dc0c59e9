// Pairings per second of Baileys 7 against a running wa-sim: one after another in this process,
// each a new device with in-memory credentials: connect, QR, the phone scans it
// (POST /_sim/md/scan), pair-success, 515, a new socket logs in, uploads its 812 prekeys and
// reaches `connection: open`. Prints one JSON line: {"pairings": N, "seconds": S, "per_second": R}.
// Usage (from interop/): node bench-md-pair.mjs <ws url> <root hex> <control url> [COUNT]
import { DisconnectReason, closeStatus, controlPost, memoryAuth, simSocket, trustSimRoot } from './md-peer.mjs';

const [url, rootHex, control, countArg] = process.argv.slice(2);
if (!url || !rootHex || !control) {
  console.error('usage: node bench-md-pair.mjs <ws url> <root hex> <control url> [COUNT]');
  process.exit(64);
}
const count = Number(countArg ?? 10);
trustSimRoot(rootHex);

const pairOnce = () =>
  new Promise((resolve, reject) => {
    const auth = memoryAuth();
    let sockets = 0;
    const start = () => {
      sockets += 1;
      const sock = simSocket(url, auth, { browser: ['wa-bench', 'Chrome', '1.0'], fireInitQueries: false });
      sock.ev.on('connection.update', async (update) => {
        if (update.qr) {
          const answer = await controlPost(control, '/md/scan', { qr: update.qr });
          if (answer.status !== 200) reject(new Error(`scan: ${answer.status}`));
        }
        if (update.connection === 'open') {
          sock.end(undefined);
          resolve();
        }
        if (update.connection === 'close') {
          const status = closeStatus(update);
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
