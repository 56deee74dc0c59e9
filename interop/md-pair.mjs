// Baileys 7 links to wa-sim's simulated phone and logs in, keeping its credentials in a
// directory (useMultiFileAuthState), as a real Baileys app does.
//
// Usage: node md-pair.mjs <mode> <ws url> <root public key hex> <control url> <auth dir> [phone]
//   mode qr     pair by QR: each QR Baileys shows is scanned by the phone (POST /_sim/md/scan)
//   mode code   pair by code: Baileys asks for a code for <phone>, the phone enters it
//               (POST /_sim/md/pair-code)
//   mode login  log in with the saved credentials; showing a QR is a failure
//   mode logout log in with the saved credentials, then log out (remove-companion-device)
// After pairing, the server's stream:error 515 ends the socket; like an app, this script opens a
// new one with the same credentials, which logs in. Prints one JSON line, then exits:
//   {"open": true, "me": {...}, "sockets": N, "qrs": N, "code"?: "..."}      exit 0
//   {"closed": <status>, "reason": "..."}                                    exit 2
import { useMultiFileAuthState } from 'baileys';
import { DisconnectReason, closeStatus, controlPost, simSocket, trustSimRoot } from './md-peer.mjs';

const [mode, url, rootHex, control, authDir, phone] = process.argv.slice(2);
if (!['qr', 'code', 'login', 'logout'].includes(mode) || !url || !rootHex || !control || !authDir) {
  console.error('usage: node md-pair.mjs qr|code|login|logout <ws url> <root hex> <control url> <auth dir> [phone]');
  process.exit(64);
}
trustSimRoot(rootHex);

let finished = false;
const finish = (line, code) => {
  if (finished) return;
  finished = true;
  console.log(JSON.stringify(line));
  setTimeout(() => process.exit(code), 200);
};

const post = (path, body) => controlPost(control, path, body);

const { state, saveCreds } = await useMultiFileAuthState(authDir);
let sockets = 0;
let qrs = 0;
let code;
let loggingOut = false;

const start = () => {
  sockets += 1;
  const sock = simSocket(
    url,
    state,
    { browser: ['wa-interop', 'Chrome', '1.0'], connectTimeoutMs: 10_000, syncFullHistory: false },
    saveCreds,
  );
  sock.ev.on('connection.update', async (update) => {
    if (update.qr) {
      qrs += 1;
      if (mode === 'login' || mode === 'logout') {
        finish({ closed: 0, reason: 'asked to pair again' }, 2);
        return;
      }
      if (mode === 'qr') {
        const answer = await post('/md/scan', { qr: update.qr, phone });
        if (answer.status !== 200) finish({ closed: 0, reason: `scan: ${JSON.stringify(answer.body)}` }, 2);
      } else if (mode === 'code' && qrs === 1) {
        code = await sock.requestPairingCode(phone);
        const answer = await post('/md/pair-code', { phone, code });
        if (answer.status !== 200) finish({ closed: 0, reason: `pair-code: ${JSON.stringify(answer.body)}` }, 2);
      }
    }
    if (update.connection === 'open') {
      // Let the last creds and keys writes land before the process ends.
      await saveCreds();
      const me = state.creds.me;
      if (mode === 'logout') {
        loggingOut = true;
        await sock.logout();
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      finish({ open: true, me, sockets, qrs, code, loggedOut: loggingOut }, 0);
    }
    if (update.connection === 'close' && !loggingOut) {
      const status = closeStatus(update);
      if (status === DisconnectReason.restartRequired && sockets < 3) {
        start();
      } else {
        finish({ closed: status ?? -1, reason: String(update.lastDisconnect?.error?.message) }, 2);
      }
    }
  });
};

process.on('unhandledRejection', () => {});
process.on('uncaughtException', (error) => finish({ closed: -1, reason: String(error?.message ?? error) }, 2));
setTimeout(() => finish({ closed: -1, reason: 'timeout' }, 3), 40_000);
start();
