// Baileys 7's side of `cargo xtask bench-compare messaging`: a measured chat device against a
// running wa-sim, driven by the bench example (crates/wa-client/examples/md_messaging_bench.rs)
// over stdin/stdout, one JSON object per line.
//
// 1. Links to the simulated phone <phone> by QR (in-memory credentials), prints {"ready": jid}.
// 2. Sends texts to <to> (a contact with several devices) for <seconds>, one `sendMessage` after
//    the other (it resolves once the stanza is written; the server ack comes later and is timed
//    from the raw `ack class=message`), waits for every ack, then closes the socket and prints
//    {"offline": N}.
// 3. Waits for {"reconnect": N} on stdin (the contact has queued N texts meanwhile), reconnects
//    and counts texts until N arrived.
// 4. Prints {"result": {...}}: counts, wall seconds, ack latencies, CPU seconds of this process
//    per phase (process.cpuUsage) and its peak RSS (resourceUsage().maxRSS), then exits.
//
// Usage: node bench-messaging.mjs <ws url> <root hex> <control url> <phone> <to> <seconds>
import readline from 'node:readline';
import { closeStatus, controlPost, memoryAuth, simSocket, trustSimRoot } from './md-peer.mjs';

const [url, rootHex, control, phone, to, secondsArg] = process.argv.slice(2);
if (!url || !rootHex || !control || !phone || !to || !secondsArg) {
  console.error('usage: node bench-messaging.mjs <ws url> <root hex> <control url> <phone> <to> <seconds>');
  process.exit(64);
}
const seconds = Number(secondsArg);
trustSimRoot(rootHex);
const emit = (line) => console.log(JSON.stringify(line));

// In memory, as our client in the same benchmark keeps its state.
const auth = memoryAuth();
const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

// Send start times by message id, and the ack latencies measured so far.
const started = new Map();
const latencies = [];
let lastAck = 0;
let onAck = () => {};
// Received texts from the contact, and who waits for the count.
let received = 0;
let onReceived = () => {};

const open = (sockets) =>
  new Promise((resolve, reject) => {
    let sock;
    const start = () => {
      sockets.count += 1;
      sock = simSocket(url, auth, {
        browser: ['wa-bench', 'Chrome', '1.0'],
        fireInitQueries: false,
        syncFullHistory: false,
      });
      sock.ws.on('CB:ack,class:message', (node) => {
        const at = started.get(node.attrs.id);
        if (at !== undefined) {
          started.delete(node.attrs.id);
          lastAck = nowMs();
          latencies.push(lastAck - at);
          onAck();
        }
      });
      sock.ev.on('messages.upsert', ({ messages }) => {
        for (const m of messages) {
          if (m.key.fromMe) continue;
          if (m.message?.conversation ?? m.message?.extendedTextMessage?.text) {
            received += 1;
            onReceived();
          }
        }
      });
      sock.ev.on('connection.update', async (update) => {
        if (update.qr) {
          const answer = await controlPost(control, '/md/scan', { qr: update.qr, phone });
          if (answer.status !== 200) reject(new Error(`scan: ${answer.status}`));
        }
        if (update.connection === 'open') resolve(sock);
        if (update.connection === 'close' && !sockets.closing) {
          const status = closeStatus(update);
          if (status === 515 && sockets.count < 3) start();
          else reject(new Error(`closed: ${status}`));
        }
      });
    };
    start();
  });

const percentile = (sorted, p) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];

process.on('unhandledRejection', () => {});
const lines = readline.createInterface({ input: process.stdin });
const commands = lines[Symbol.asyncIterator]();

const first = { count: 0, closing: false };
let sock = await open(first);
emit({ ready: auth.creds.me?.id });

// Send phase: one send after another for `seconds`, then every ack.
const cpuSend0 = cpuSeconds();
const send0 = nowMs();
let sent = 0;
while (nowMs() - send0 < seconds * 1000) {
  const id = `BENCH${process.pid}X${sent}`;
  started.set(id, nowMs());
  await sock.sendMessage(to, { text: `bench ${sent}` }, { messageId: id });
  sent += 1;
}
await new Promise((resolve) => {
  const check = () => {
    if (started.size === 0) resolve();
  };
  onAck = check;
  check();
  setTimeout(resolve, 30_000);
});
const sendSeconds = (lastAck - send0) / 1000;
const sendCpu = cpuSeconds() - cpuSend0;
first.closing = true;
sock.end(undefined);
emit({ offline: sent });

// Receive phase: the contact queued N texts while we were away.
const { value: line } = await commands.next();
const want = JSON.parse(line).reconnect;
const cpuRecv0 = cpuSeconds();
const recv0 = nowMs();
received = 0;
const second = { count: 0, closing: false };
await new Promise((resolve) => {
  onReceived = () => {
    if (received >= want) resolve();
  };
  open(second).then((s) => {
    sock = s;
  });
  setTimeout(resolve, 120_000);
});
const recvSeconds = (nowMs() - recv0) / 1000;
const recvCpu = cpuSeconds() - cpuRecv0;
const sorted = latencies.slice().sort((a, b) => a - b);
emit({
  result: {
    sent,
    acked: latencies.length,
    send_s: sendSeconds,
    send_cpu_s: sendCpu,
    ack_p50_ms: percentile(sorted, 50),
    ack_p99_ms: percentile(sorted, 99),
    received,
    recv_s: recvSeconds,
    recv_cpu_s: recvCpu,
    peak_rss_kb: process.resourceUsage().maxRSS,
  },
});
second.closing = true;
sock?.end(undefined);
setTimeout(() => process.exit(0), 100);
