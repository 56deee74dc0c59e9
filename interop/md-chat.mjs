// A Baileys 7 chat peer for wa-sim, driven line by line: it links to the simulated phone
// <phone> by QR (or logs in with the credentials already in <auth dir>), then reports what
// happens and does what it is told.
//
// Usage: node md-chat.mjs <ws url> <root public key hex> <control url> <auth dir> <phone>
// stdout, one JSON object per line:
//   {"ready": {"id": "<our jid>"}}                     logged in
//   {"msg": {"id", "from", "fromMe", "text"}}          a message arrived (or our own, sent)
//   {"content": {"id", "from", "fromMe", "kind", ...}}  a reaction, revoke, quote, location or
//                                                      contact arrived (see `contentOf`)
//   {"receipt": {"id", "status", "fromMe"}}            a message's status changed (3 delivered,
//                                                      4 read, 5 played; fromMe false: a message
//                                                      we received, read on another of our devices)
//   {"sent": {"seq", "id"}}                            answer to a send command
//   {"error": "..."}                                   a command failed
//   {"closed": <status>, "reason": "..."}             the connection ended (then exit 2)
// stdin, one JSON object per line:
//   {"send": {"seq": N, "to": "<jid>", "text": "..."}}
//   {"sendContent": {"seq": N, "to": "<jid>", "content": {...}, "quoted": {"key", "text"}?}}
//                                                      any Baileys message content (react,
//                                                      delete, location, contacts, text), quoting
//                                                      `quoted` (a key and its text) if given
//   {"read": {"id": "<message id>"}}                   mark a received message read
//   {"sendReceipt": {"id", "type"}}                    send a receipt of `type` (played,
//                                                      read-self, ...) for a received message
//   {"quit": true}                                     close the socket and exit 0
import readline from 'node:readline';
import { useMultiFileAuthState } from 'baileys';
import { DisconnectReason, closeStatus, controlPost, simSocket, trustSimRoot } from './md-peer.mjs';

const [url, rootHex, control, authDir, phone] = process.argv.slice(2);
if (!url || !rootHex || !control || !authDir || !phone) {
  console.error('usage: node md-chat.mjs <ws url> <root hex> <control url> <auth dir> <phone>');
  process.exit(64);
}
trustSimRoot(rootHex);

const emit = (line) => console.log(JSON.stringify(line));

const post = (path, body) => controlPost(control, path, body);

const { state, saveCreds } = await useMultiFileAuthState(authDir);
// What we sent, for Baileys' retry handling (it asks for a message by key to resend it).
const sent = new Map();
// What we received, by id, so that it can be marked read.
const received = new Map();
let sock;
let sockets = 0;
let quitting = false;

const textOf = (message) =>
  message?.conversation ?? message?.extendedTextMessage?.text ?? null;

// What a non-plain message says, as the fields a test compares (null for plain text and others).
const contentOf = (message) => {
  if (message?.reactionMessage) {
    const r = message.reactionMessage;
    return { kind: 'reaction', target: r.key?.id, targetFromMe: !!r.key?.fromMe, emoji: r.text ?? '' };
  }
  if (message?.protocolMessage?.type === 0 || message?.protocolMessage?.type === 'REVOKE') {
    return { kind: 'revoke', target: message.protocolMessage.key?.id };
  }
  const context = message?.extendedTextMessage?.contextInfo;
  if (context?.stanzaId) {
    return {
      kind: 'quote',
      text: message.extendedTextMessage.text,
      quoted: context.stanzaId,
      quotedText: textOf(context.quotedMessage),
      mentions: context.mentionedJid ?? [],
    };
  }
  if (message?.locationMessage) {
    const l = message.locationMessage;
    return { kind: 'location', lat: l.degreesLatitude, lon: l.degreesLongitude, name: l.name };
  }
  if (message?.contactMessage) {
    return { kind: 'contact', name: message.contactMessage.displayName, vcard: message.contactMessage.vcard };
  }
  return null;
};

const start = () => {
  sockets += 1;
  sock = simSocket(
    url,
    state,
    {
      browser: ['wa-interop', 'Chrome', '1.0'],
      connectTimeoutMs: 10_000,
      syncFullHistory: false,
      getMessage: async (key) => sent.get(key.id),
    },
    saveCreds,
  );
  sock.ev.on('connection.update', async (update) => {
    if (update.qr) {
      const answer = await post('/md/scan', { qr: update.qr, phone });
      if (answer.status !== 200) emit({ error: `scan: ${JSON.stringify(answer.body)}` });
    }
    if (update.connection === 'open') {
      await saveCreds();
      emit({ ready: { id: state.creds.me?.id, lid: state.creds.me?.lid } });
    }
    if (update.connection === 'close' && !quitting) {
      const status = closeStatus(update);
      if (status === DisconnectReason.restartRequired && sockets < 3) {
        start();
      } else {
        emit({ closed: status ?? -1, reason: String(update.lastDisconnect?.error?.message) });
        setTimeout(() => process.exit(2), 100);
      }
    }
  });
  sock.ev.on('messages.upsert', ({ messages }) => {
    for (const m of messages) {
      const content = contentOf(m.message);
      if (content) {
        emit({ content: { id: m.key.id, from: m.key.remoteJid, fromMe: !!m.key.fromMe, ...content } });
      }
      const text = textOf(m.message);
      if (text === null) continue;
      if (!m.key.fromMe) received.set(m.key.id, m.key);
      emit({ msg: { id: m.key.id, from: m.key.remoteJid, fromMe: !!m.key.fromMe, text } });
    }
  });
  sock.ev.on('messages.update', (updates) => {
    for (const { key, update } of updates) {
      if (update.status !== undefined) {
        emit({ receipt: { id: key.id, status: update.status, fromMe: !!key.fromMe } });
      }
    }
  });
};

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  let command;
  try {
    command = JSON.parse(line);
  } catch {
    emit({ error: `not JSON: ${line}` });
    return;
  }
  if (command.quit) {
    quitting = true;
    await saveCreds();
    sock?.end(undefined);
    setTimeout(() => process.exit(0), 300);
    return;
  }
  if (command.read) {
    const key = received.get(command.read.id);
    if (!key) {
      emit({ error: `read: unknown message ${command.read.id}` });
      return;
    }
    await sock.readMessages([key]);
    emit({ read: { id: command.read.id } });
    return;
  }
  if (command.sendReceipt) {
    const { id, type } = command.sendReceipt;
    const key = received.get(id);
    if (!key) {
      emit({ error: `sendReceipt: unknown message ${id}` });
      return;
    }
    await sock.sendReceipt(key.remoteJid, key.participant, [id], type);
    emit({ receiptSent: { id, type } });
    return;
  }
  if (command.sendContent) {
    const { seq, to, content, quoted } = command.sendContent;
    try {
      const options = quoted
        ? { quoted: { key: { remoteJid: to, ...quoted.key }, message: { conversation: quoted.text } } }
        : {};
      const message = await sock.sendMessage(to, content, options);
      sent.set(message.key.id, message.message);
      emit({ sent: { seq, id: message.key.id } });
    } catch (error) {
      emit({ error: `send ${seq}: ${String(error?.message ?? error)}` });
    }
    return;
  }
  if (command.send) {
    const { seq, to, text } = command.send;
    try {
      const message = await sock.sendMessage(to, { text });
      sent.set(message.key.id, message.message);
      emit({ sent: { seq, id: message.key.id } });
    } catch (error) {
      emit({ error: `send ${seq}: ${String(error?.message ?? error)}` });
    }
  }
});

process.on('unhandledRejection', (error) => emit({ error: `unhandled: ${String(error?.message ?? error)}` }));
start();
