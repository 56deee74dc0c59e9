// What every Baileys 7 peer script for wa-sim's multi-device server shares (md-chat.mjs,
// md-pair.mjs, bench-md-pair.mjs, bench-messaging.mjs): the silenced logger, trusting the
// simulator's root key instead of WhatsApp's, the control API's POST, in-memory credentials, and
// the socket options every one of them sets. Each script keeps its own flow (what it does on a
// QR, on `open`, on a 515): those differ, and are what the script is about.
import makeWASocket, { DisconnectReason, WA_CERT_DETAILS, initAuthCreds } from 'baileys';

export { DisconnectReason };

/// Baileys' logger, silenced: the scripts speak JSON lines on stdout and nothing else.
export const silent = {
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

/// Trusts wa-sim's root (the hex of its 32-byte public key) for the server's certificate chain.
export const trustSimRoot = (rootHex) => {
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(rootHex, 'hex');
};

/// POSTs `body` as JSON to wa-sim's control API at `control` + `path` (`/md/scan`,
/// `/md/pair-code`); the HTTP status and the parsed answer.
export const controlPost = async (control, path, body) => {
  const response = await fetch(`${control}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
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

/// Fresh credentials and their key store, all in memory (a new, unpaired device); a socket's
/// `creds.update` should be merged into `auth.creds` (see `simSocket`).
export const memoryAuth = () => ({ creds: initAuthCreds(), keys: memoryKeys() });

/// A Baileys socket to wa-sim at `url` with `auth`: silenced, not marked online; `options` adds
/// to these (browser, timeouts, history sync, getMessage...). With `saveCreds` its credential
/// updates are saved there, otherwise merged into the in-memory `auth.creds`.
export const simSocket = (url, auth, options = {}, saveCreds = undefined) => {
  const sock = makeWASocket({
    waWebSocketUrl: url,
    auth,
    logger: silent,
    markOnlineOnConnect: false,
    ...options,
  });
  sock.ev.on('creds.update', saveCreds ?? ((update) => Object.assign(auth.creds, update)));
  return sock;
};

/// The status code a `connection: close` update carries (undefined when it has none).
export const closeStatus = (update) => update.lastDisconnect?.error?.output?.statusCode;
