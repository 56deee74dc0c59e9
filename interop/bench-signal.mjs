// Signal protocol speed of the JavaScript peers, for `cargo xtask bench-compare signal` (which
// runs wa-signal's `signal_measure` example the same way and with the same measures). One JSON
// object per line: {"peer", "measure", "per_s"} or {"peer", "measure", "bytes"}.
//   libsignal:   npm `libsignal` 6.0.0 (SessionBuilder, SessionCipher) for 1:1, Baileys 7's own
//                group cipher (lib/Signal/Group) for sender keys, libsignal's curve for XEdDSA;
//   rust-bridge: whatsapp-rust-bridge (WASM: SessionBuilder, SessionCipher, GroupSessionBuilder,
//                GroupCipher, calculateSignature/verifySignature);
//   libsignal-client (XEdDSA only): @signalapp/libsignal-client, Signal's own Rust library as a
//                native Node module (PrivateKey.sign, PublicKey.verify). It speaks no WhatsApp
//                session, so it has only the two XEdDSA rows; skipped when not installed.
// Every operation goes through a store that keeps the serialised record, as a client's does:
// npm libsignal's records as the JSON text of SessionRecord.serialize() (Baileys keeps that
// object in its JSON auth state), Baileys' sender keys as it stores them (JSON of serialize()),
// the bridge's records as the bytes it hands over.
// Clocks: `per_s` divides by CPU time, process.cpuUsage() (user + system, microseconds), which is
// process-wide: it also counts V8's helper threads (garbage collection, compilation) while an
// operation runs. The peers run on this one thread as they are. `per_s_wall` divides the same
// operations by wall-clock time (performance.now()).
// Usage (from interop/): node bench-signal.mjs [SECONDS per measure] [--sizes]
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

for (const level of ['log', 'info', 'warn', 'debug', 'trace']) {
  console[level] = (...args) => process.stderr.write(args.map(String).join(' ') + '\n');
}
const out = (line) => process.stdout.write(JSON.stringify(line) + '\n');

const require = createRequire(import.meta.url);
const libsignal = require('libsignal');
const Group = await import('baileys/lib/Signal/Group/index.js');
const bridge = await import('whatsapp-rust-bridge');
/** Signal's native library, or null when `npm ci` has not installed it (a devDependency). */
const native = (() => {
  try {
    return require('@signalapp/libsignal-client');
  } catch (e) {
    process.stderr.write(`@signalapp/libsignal-client not loaded, no native XEdDSA figure: ${e.message}\n`);
    return null;
  }
})();

const args = process.argv.slice(2);
const seconds = Number(args.find((a) => !a.startsWith('--')) ?? 1);
const withSizes = args.includes('--sizes');
const SIZES = [100, 10 * 1024];
// Messages encrypted before they are decrypted (burst, group): as in signal_measure.rs (8, so
// that 10-KiB messages and their plaintexts stay in the second-level cache).
const BATCH = 8;
const djb = (pub) => (pub.length === 33 ? Buffer.from(pub) : Buffer.concat([Buffer.from([5]), Buffer.from(pub)]));

function keyPair() {
  const { pubKey, privKey } = libsignal.curve.generateKeyPair();
  return { pubKey: djb(pubKey), privKey: Buffer.from(privKey) };
}

/** One device with its own store, driving one implementation. */
class Party {
  constructor(impl) {
    this.impl = impl;
    this.identity = keyPair();
    this.registrationId = crypto.randomInt(1, 16380);
    const spk = keyPair();
    this.signedPreKey = {
      keyId: 1,
      keyPair: spk,
      signature: Buffer.from(libsignal.curve.calculateSignature(this.identity.privKey, spk.pubKey)),
    };
    this.preKeys = new Map();
    this.nextPreKeyId = 1;
    this.sessions = new Map();
    this.senderKeys = new Map();
    this.storage = impl === 'bridge' ? this.bridgeStorage() : this.libsignalStorage();
  }

  libsignalStorage() {
    return {
      loadSession: async (id) =>
        this.sessions.has(id) ? libsignal.SessionRecord.deserialize(JSON.parse(this.sessions.get(id))) : undefined,
      storeSession: async (id, record) => {
        this.sessions.set(id, JSON.stringify(record.serialize()));
      },
      isTrustedIdentity: () => true,
      saveIdentity: async () => false,
      loadPreKey: async (id) => this.preKeys.get(Number(id)),
      removePreKey: (id) => {
        this.preKeys.delete(Number(id));
      },
      loadSignedPreKey: () => this.signedPreKey.keyPair,
      getOurRegistrationId: () => this.registrationId,
      getOurIdentity: () => this.identity,
      // Baileys 7's sender-key storage (lib/Signal/libsignal.js).
      loadSenderKey: async (name) => {
        const stored = this.senderKeys.get(name.toString());
        return stored ? Group.SenderKeyRecord.deserialize(stored) : new Group.SenderKeyRecord();
      },
      storeSenderKey: async (name, record) => {
        this.senderKeys.set(name.toString(), Buffer.from(JSON.stringify(record.serialize()), 'utf-8'));
      },
    };
  }

  bridgeStorage() {
    return {
      loadSession: (address) => this.sessions.get(address) || null,
      storeSession: (address, record) => {
        this.sessions.set(address, Buffer.from(record.serialize()));
      },
      getOurIdentity: () => this.identity,
      getOurRegistrationId: () => this.registrationId,
      isTrustedIdentity: () => true,
      loadPreKey: (id) => this.preKeys.get(Number(id)) || null,
      removePreKey: (id) => {
        this.preKeys.delete(Number(id));
      },
      loadSignedPreKey: (id) => (Number(id) === this.signedPreKey.keyId ? this.signedPreKey : null),
      loadSenderKey: (name) => this.senderKeys.get(name) || null,
      storeSenderKey: (name, record) => {
        this.senderKeys.set(name, Buffer.from(record));
      },
    };
  }

  bundle() {
    const id = this.nextPreKeyId++;
    const preKey = keyPair();
    this.preKeys.set(id, preKey);
    return {
      registrationId: this.registrationId,
      identityKey: this.identity.pubKey,
      signedPreKey: {
        keyId: this.signedPreKey.keyId,
        publicKey: this.signedPreKey.keyPair.pubKey,
        signature: this.signedPreKey.signature,
      },
      preKey: { keyId: id, publicKey: preKey.pubKey },
    };
  }

  address(name) {
    return this.impl === 'bridge' ? new bridge.ProtocolAddress(name, 1) : new libsignal.ProtocolAddress(name, 1);
  }

  async processBundle(name, bundle) {
    if (this.impl === 'bridge') {
      await new bridge.SessionBuilder(this.storage, this.address(name)).processPreKeyBundle(bundle);
    } else {
      await new libsignal.SessionBuilder(this.storage, this.address(name)).initOutgoing(bundle);
    }
  }

  cipher(name) {
    return this.impl === 'bridge'
      ? new bridge.SessionCipher(this.storage, this.address(name))
      : new libsignal.SessionCipher(this.storage, this.address(name));
  }

  async encrypt(name, plaintext) {
    const { type, body } = await this.cipher(name).encrypt(plaintext);
    return { type, body: typeof body === 'string' ? Buffer.from(body, 'binary') : body };
  }

  async decrypt(name, message) {
    const cipher = this.cipher(name);
    return message.type === 3
      ? cipher.decryptPreKeyWhisperMessage(message.body)
      : cipher.decryptWhisperMessage(message.body);
  }

  recordSize(name) {
    const record = this.sessions.get(`${name}.1`);
    return typeof record === 'string' ? Buffer.byteLength(record) : record.length;
  }

  senderKeyName(group, sender) {
    if (this.impl === 'bridge') return new bridge.SenderKeyName(group, new bridge.ProtocolAddress(sender, 1));
    return new Group.SenderKeyName(group, { id: sender, deviceId: 1, toString: () => `${sender}.1` });
  }

  async groupCreate(group, sender) {
    const builder =
      this.impl === 'bridge' ? new bridge.GroupSessionBuilder(this.storage) : new Group.GroupSessionBuilder(this.storage);
    return builder.create(this.senderKeyName(group, sender));
  }

  async groupProcess(group, sender, skdm) {
    if (this.impl === 'bridge') {
      const message = bridge.SenderKeyDistributionMessage.deserialize(skdm.serialize());
      await new bridge.GroupSessionBuilder(this.storage).process(this.senderKeyName(group, sender), message);
    } else {
      const message = new Group.SenderKeyDistributionMessage(null, null, null, null, skdm.serialize());
      await new Group.GroupSessionBuilder(this.storage).process(this.senderKeyName(group, sender), message);
    }
  }

  groupCipher(group, sender) {
    return this.impl === 'bridge'
      ? new bridge.GroupCipher(this.storage, group, new bridge.ProtocolAddress(sender, 1))
      : new Group.GroupCipher(this.storage, this.senderKeyName(group, sender));
  }
}

const PEERS = { libsignal: 'libsignal', bridge: 'rust-bridge', native: 'libsignal-client' };
/** Prints a rate on both clocks from a timer filled by `timed`. */
const rate = (impl, measure, count, timer) =>
  out({
    peer: PEERS[impl],
    measure,
    per_s: Number(((count * 1000) / timer.cpu).toFixed(1)),
    per_s_wall: Number(((count * 1000) / timer.ms).toFixed(1)),
  });

/** A timer: CPU time (`cpu`) and wall-clock time (`ms`) spent in timed operations, in ms. */
const timer = () => ({ ms: 0, cpu: 0 });

/** Awaits `op()` and adds its duration on both clocks to `timer`. */
async function timed(timer, op) {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const result = await op();
  const used = process.cpuUsage(cpu);
  timer.ms += performance.now() - start;
  timer.cpu += (used.user + used.system) / 1000;
  return result;
}

function check(plaintext, expected) {
  if (!Buffer.from(plaintext).equals(Buffer.from(expected))) throw new Error('plaintext differs');
}

async function setup(impl) {
  const alice = new Party(impl);
  const bob = new Party(impl);
  const initiator = timer();
  const responder = timer();
  const messages = [];
  const first = Buffer.from('first message');
  while (initiator.cpu < seconds * 1000) {
    const batch = [];
    for (let i = 0; i < 32; i++) batch.push([`bob${messages.length + i}`, bob.bundle()]);
    for (const [name, bundle] of batch) {
      messages.push(
        await timed(initiator, async () => {
          await alice.processBundle(name, bundle);
          return alice.encrypt(name, first);
        }),
      );
    }
  }
  for (let i = 0; i < messages.length; i++) {
    check(await timed(responder, () => bob.decrypt(`alice${i}`, messages[i])), first);
  }
  rate(impl, 'setup-initiator', messages.length, initiator);
  rate(impl, 'setup-responder', messages.length, responder);
}

/** Two parties with an answered session. */
async function pair(impl) {
  const alice = new Party(impl);
  const bob = new Party(impl);
  await alice.processBundle('bob', bob.bundle());
  const none = timer();
  await send(alice, bob, 'bob', 'alice', Buffer.from('hello'), none, none);
  await send(bob, alice, 'alice', 'bob', Buffer.from('hello back'), none, none);
  return { alice, bob };
}

async function send(sender, receiver, to, from, plaintext, enc, dec) {
  const message = await timed(enc, () => sender.encrypt(to, plaintext));
  check(await timed(dec, () => receiver.decrypt(from, message)), plaintext);
}

async function alternating(impl, size) {
  const { alice, bob } = await pair(impl);
  const plaintext = crypto.randomBytes(size);
  const enc = timer();
  const dec = timer();
  let count = 0;
  while (enc.cpu + dec.cpu < seconds * 2000) {
    if (count % 2 === 0) await send(alice, bob, 'bob', 'alice', plaintext, enc, dec);
    else await send(bob, alice, 'alice', 'bob', plaintext, enc, dec);
    count++;
  }
  rate(impl, `alt-encrypt-${size}`, count, enc);
  rate(impl, `alt-decrypt-${size}`, count, dec);
}

async function burst(impl, size) {
  const { alice, bob } = await pair(impl);
  const plaintext = crypto.randomBytes(size);
  const enc = timer();
  const dec = timer();
  let count = 0;
  while (enc.cpu + dec.cpu < seconds * 2000) {
    // Each batch timed as a whole (two clock reads per batch), the plaintexts checked after it.
    const batch = await timed(enc, async () => {
      const made = [];
      for (let i = 0; i < BATCH; i++) made.push(await alice.encrypt('bob', plaintext));
      return made;
    });
    const opened = await timed(dec, async () => {
      const got = [];
      for (const message of batch) got.push(await bob.decrypt('alice', message));
      return got;
    });
    for (const got of opened) check(got, plaintext);
    count += BATCH;
  }
  rate(impl, `burst-encrypt-${size}`, count, enc);
  rate(impl, `burst-decrypt-${size}`, count, dec);
}

async function group(impl, size) {
  const alice = new Party(impl);
  const bob = new Party(impl);
  const groupId = '120363000000000000@g.us';
  const skdm = await alice.groupCreate(groupId, 'alice');
  await bob.groupProcess(groupId, 'alice', skdm);
  const plaintext = crypto.randomBytes(size);
  const enc = timer();
  const dec = timer();
  let count = 0;
  while (enc.cpu + dec.cpu < seconds * 2000) {
    const batch = await timed(enc, async () => {
      const made = [];
      for (let i = 0; i < BATCH; i++) made.push(await alice.groupCipher(groupId, 'alice').encrypt(plaintext));
      return made;
    });
    const opened = await timed(dec, async () => {
      const got = [];
      for (const message of batch) got.push(await bob.groupCipher(groupId, 'alice').decrypt(message));
      return got;
    });
    for (const got of opened) check(got, plaintext);
    count += BATCH;
  }
  rate(impl, `group-encrypt-${size}`, count, enc);
  rate(impl, `group-decrypt-${size}`, count, dec);
}

/** XEdDSA over a 33-byte public key, as a signed prekey is signed. */
function xeddsa(impl) {
  const key = keyPair();
  const message = keyPair().pubKey;
  // The native library's keys are objects made once from the same bytes, as a client holding its
  // identity key has them; each signature still starts from the private scalar.
  const nativeKey = impl === 'native' ? native.PrivateKey.deserialize(Buffer.from(key.privKey)) : null;
  const nativePublic = nativeKey?.getPublicKey();
  const sign = {
    bridge: () => bridge.calculateSignature(key.privKey, message),
    libsignal: () => libsignal.curve.calculateSignature(key.privKey, message),
    native: () => nativeKey.sign(message),
  }[impl];
  const signature = sign();
  const check = (ok) => {
    if (!ok) throw new Error('bad signature');
  };
  const verify = {
    bridge: () => check(bridge.verifySignature(key.pubKey, message, signature)),
    libsignal: () => libsignal.curve.verifySignature(key.pubKey, message, signature),
    native: () => check(nativePublic.verify(message, signature)),
  }[impl];
  for (const [measure, op] of [
    ['xeddsa-sign', sign],
    ['xeddsa-verify', verify],
  ]) {
    const spent = timer();
    let count = 0;
    while (spent.cpu < seconds * 1000) {
      // Synchronous calls: timed in rounds of 16.
      const start = performance.now();
      const cpu = process.cpuUsage();
      for (let i = 0; i < 16; i++) op();
      const used = process.cpuUsage(cpu);
      spent.ms += performance.now() - start;
      spent.cpu += (used.user + used.system) / 1000;
      count += 16;
    }
    rate(impl, measure, count, spent);
  }
}

async function sizes(impl) {
  const peer = PEERS[impl];
  const none = timer();
  let { alice, bob } = await pair(impl);
  for (let i = 0; i < 200; i++) {
    await send(alice, bob, 'bob', 'alice', Buffer.alloc(100, 0x11), none, none);
    await send(bob, alice, 'alice', 'bob', Buffer.alloc(100, 0x22), none, none);
  }
  out({ peer, measure: 'record-200-round-trips', bytes: alice.recordSize('bob') });
  ({ alice, bob } = await pair(impl));
  for (let i = 0; i < 10000; i++) await send(alice, bob, 'bob', 'alice', Buffer.alloc(100, 0x33), none, none);
  out({ peer, measure: 'record-10000-one-way', bytes: bob.recordSize('alice') });
}

for (const impl of ['libsignal', 'bridge']) {
  await setup(impl);
  for (const size of SIZES) {
    await alternating(impl, size);
    await burst(impl, size);
  }
  await group(impl, 100);
  xeddsa(impl);
  if (withSizes) await sizes(impl);
}
if (native) xeddsa('native');
