// A Signal peer for wa-signal's interop tests, driven over JSON lines (one request per line on
// stdin, one answer per line on stdout). Runs one device of one of the implementations
// WhatsApp clients use:
//
//   node signal-peer.mjs libsignal   npm `libsignal` 6.0.0 (1:1) + Baileys 7's group cipher
//   node signal-peer.mjs bridge      whatsapp-rust-bridge (WASM: SessionCipher, GroupCipher)
//
// Driven only through their public APIs (SessionBuilder, SessionCipher, SessionRecord,
// GroupSessionBuilder, GroupCipher) with an in-memory store here. Bytes are hex; keys are
// given and returned bare (32 bytes). Requests: {"cmd": ...}
//   identity {seed?}                 new identity (and registration id, signed prekey)
//   bundle                           → a bundle with a fresh one-time prekey
//   process_bundle {address, bundle} start a session from our bundle (initiator)
//   encrypt {address, plaintext}     → {kind: "pkmsg"|"msg", body}
//   decrypt {address, kind, body}    → {plaintext} | {error}
//   record_size {address}            → {bytes} of the serialized session record
//   group_create {group, sender}     → {skdm} (our own chain; sender = our address)
//   group_process {group, sender, skdm}
//   group_encrypt {group, sender, plaintext} → {body}
//   group_decrypt {group, sender, body}      → {plaintext} | {error}
//   pad {plaintext}                  → {padded}: Baileys 7's writeRandomPadMax16
//   unpad {padded}                   → {plaintext} | {error}: Baileys 7's unpadRandomMax16
import crypto from 'node:crypto';
import readline from 'node:readline';
import { createRequire } from 'node:module';

// stdout carries the answers only: the implementations' own logging goes to stderr.
for (const level of ['log', 'info', 'warn', 'debug', 'trace']) {
    console[level] = (...args) => process.stderr.write(args.map(String).join(' ') + '\n');
}

const require = createRequire(import.meta.url);
const IMPL = process.argv[2] || 'libsignal';
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => Buffer.from(s, 'hex');
const djb = (pub) => (pub.length === 33 ? Buffer.from(pub) : Buffer.concat([Buffer.from([5]), Buffer.from(pub)]));
const bare = (pub) => (pub.length === 33 ? Buffer.from(pub).subarray(1) : Buffer.from(pub));

const libsignal = require('libsignal');
const Group = await import('baileys/lib/Signal/Group/index.js');
const { writeRandomPadMax16, unpadRandomMax16 } = await import('baileys/lib/Utils/generics.js');
const bridge = IMPL === 'bridge' ? await import('whatsapp-rust-bridge') : null;

const state = {
    identity: null, // {pubKey (33), privKey}
    registrationId: 0,
    signedPreKey: null, // {keyId, keyPair, signature}
    preKeys: new Map(), // id → {pubKey, privKey}
    nextPreKeyId: 1,
    sessions: new Map(), // address → serialized record
    identities: new Map(), // address → 33-byte key
    senderKeys: new Map(), // name → record (Baileys: SenderKeyRecord, bridge: bytes)
};

function keyPair() {
    const { pubKey, privKey } = libsignal.curve.generateKeyPair();
    return { pubKey: djb(pubKey), privKey: Buffer.from(privKey) };
}

function newIdentity() {
    state.identity = keyPair();
    state.registrationId = crypto.randomInt(1, 16380);
    const spk = keyPair();
    state.signedPreKey = {
        keyId: crypto.randomInt(1, 1 << 24),
        keyPair: spk,
        signature: Buffer.from(libsignal.curve.calculateSignature(state.identity.privKey, spk.pubKey)),
    };
    state.preKeys.clear();
    state.sessions.clear();
    state.identities.clear();
}

function parseAddress(text) {
    const dot = text.lastIndexOf('.');
    return { name: text.slice(0, dot), device: Number(text.slice(dot + 1)) };
}

// npm libsignal's storage (its SignalStorage interface).
const libsignalStorage = {
    loadSession: async (id) => (state.sessions.has(id) ? libsignal.SessionRecord.deserialize(state.sessions.get(id)) : undefined),
    storeSession: async (id, record) => {
        state.sessions.set(id, record.serialize());
    },
    isTrustedIdentity: () => true,
    saveIdentity: async (id, key) => {
        const old = state.identities.get(id);
        state.identities.set(id, Buffer.from(key));
        return !old || !old.equals(Buffer.from(key));
    },
    loadPreKey: async (id) => state.preKeys.get(Number(id)),
    removePreKey: (id) => {
        state.preKeys.delete(Number(id));
    },
    loadSignedPreKey: () => state.signedPreKey.keyPair,
    getOurRegistrationId: () => state.registrationId,
    getOurIdentity: () => state.identity,
    // Baileys' group cipher.
    loadSenderKey: async (name) => state.senderKeys.get(name.toString()) || new Group.SenderKeyRecord(),
    storeSenderKey: async (name, record) => {
        state.senderKeys.set(name.toString(), record);
    },
};

// whatsapp-rust-bridge's storage.
const bridgeStorage = {
    loadSession: (address) => state.sessions.get(address) || null,
    storeSession: (address, record) => {
        state.sessions.set(address, Buffer.from(record.serialize()));
    },
    getOurIdentity: () => state.identity,
    getOurRegistrationId: () => state.registrationId,
    isTrustedIdentity: () => true,
    loadPreKey: (id) => state.preKeys.get(Number(id)) || null,
    removePreKey: (id) => {
        state.preKeys.delete(Number(id));
    },
    loadSignedPreKey: (id) => (Number(id) === state.signedPreKey.keyId ? state.signedPreKey : null),
    loadSenderKey: (name) => state.senderKeys.get(name) || null,
    storeSenderKey: (name, record) => {
        state.senderKeys.set(name, Buffer.from(record));
    },
};

/** npm libsignal serializes a record to a JSON-able object, the bridge to bytes. */
function recordSize(record) {
    if (!record) return 0;
    if (record instanceof Uint8Array) return record.length;
    return Buffer.byteLength(JSON.stringify(record));
}

function bundle() {
    const id = state.nextPreKeyId++;
    state.preKeys.set(id, keyPair());
    return {
        registration_id: state.registrationId,
        identity: hex(bare(state.identity.pubKey)),
        signed_pre_key_id: state.signedPreKey.keyId,
        signed_pre_key: hex(bare(state.signedPreKey.keyPair.pubKey)),
        signature: hex(state.signedPreKey.signature),
        pre_key_id: id,
        pre_key: hex(bare(state.preKeys.get(id).pubKey)),
    };
}

async function processBundle(address, b) {
    const { name, device } = parseAddress(address);
    const signedPreKey = { keyId: b.signed_pre_key_id, publicKey: djb(unhex(b.signed_pre_key)), signature: unhex(b.signature) };
    const preKey = b.pre_key_id == null ? undefined : { keyId: b.pre_key_id, publicKey: djb(unhex(b.pre_key)) };
    if (IMPL === 'bridge') {
        const builder = new bridge.SessionBuilder(bridgeStorage, new bridge.ProtocolAddress(name, device));
        await builder.processPreKeyBundle({ registrationId: b.registration_id, identityKey: djb(unhex(b.identity)), signedPreKey, preKey });
    } else {
        const builder = new libsignal.SessionBuilder(libsignalStorage, new libsignal.ProtocolAddress(name, device));
        await builder.initOutgoing({ registrationId: b.registration_id, identityKey: djb(unhex(b.identity)), signedPreKey, preKey });
    }
}

function sessionCipher(address) {
    const { name, device } = parseAddress(address);
    return IMPL === 'bridge'
        ? new bridge.SessionCipher(bridgeStorage, new bridge.ProtocolAddress(name, device))
        : new libsignal.SessionCipher(libsignalStorage, new libsignal.ProtocolAddress(name, device));
}

async function encrypt(address, plaintext) {
    const { type, body } = await sessionCipher(address).encrypt(plaintext);
    const bytes = typeof body === 'string' ? Buffer.from(body, 'binary') : Buffer.from(body);
    return { kind: type === 3 ? 'pkmsg' : 'msg', body: hex(bytes) };
}

async function decrypt(address, kind, body) {
    const cipher = sessionCipher(address);
    const plaintext = kind === 'pkmsg' ? await cipher.decryptPreKeyWhisperMessage(body) : await cipher.decryptWhisperMessage(body);
    return { plaintext: hex(plaintext) };
}

function senderKeyName(group, sender) {
    const { name, device } = parseAddress(sender);
    if (IMPL === 'bridge') return new bridge.SenderKeyName(group, new bridge.ProtocolAddress(name, device));
    return new Group.SenderKeyName(group, { id: name, deviceId: device, toString: () => sender });
}

async function groupCreate(group, sender) {
    if (IMPL === 'bridge') {
        const skdm = await new bridge.GroupSessionBuilder(bridgeStorage).create(senderKeyName(group, sender));
        return { skdm: hex(skdm.serialize()) };
    }
    const skdm = await new Group.GroupSessionBuilder(libsignalStorage).create(senderKeyName(group, sender));
    return { skdm: hex(skdm.serialize()) };
}

async function groupProcess(group, sender, skdm) {
    if (IMPL === 'bridge') {
        const message = bridge.SenderKeyDistributionMessage.deserialize(unhex(skdm));
        await new bridge.GroupSessionBuilder(bridgeStorage).process(senderKeyName(group, sender), message);
        return {};
    }
    const message = new Group.SenderKeyDistributionMessage(null, null, null, null, unhex(skdm));
    await new Group.GroupSessionBuilder(libsignalStorage).process(senderKeyName(group, sender), message);
    return {};
}

function groupCipher(group, sender) {
    if (IMPL === 'bridge') {
        const { name, device } = parseAddress(sender);
        return new bridge.GroupCipher(bridgeStorage, group, new bridge.ProtocolAddress(name, device));
    }
    return new Group.GroupCipher(libsignalStorage, senderKeyName(group, sender));
}

async function handle(req) {
    switch (req.cmd) {
        case 'identity':
            newIdentity();
            return { identity: hex(bare(state.identity.pubKey)), registration_id: state.registrationId };
        case 'bundle':
            return bundle();
        case 'process_bundle':
            await processBundle(req.address, req.bundle);
            return {};
        case 'encrypt':
            return encrypt(req.address, unhex(req.plaintext));
        case 'decrypt':
            return decrypt(req.address, req.kind, unhex(req.body));
        case 'record_size':
            return { bytes: recordSize(state.sessions.get(req.address)) };
        case 'group_create':
            return groupCreate(req.group, req.sender);
        case 'group_process':
            return groupProcess(req.group, req.sender, req.skdm);
        case 'group_encrypt':
            return { body: hex(await groupCipher(req.group, req.sender).encrypt(unhex(req.plaintext))) };
        case 'group_decrypt':
            return { plaintext: hex(await groupCipher(req.group, req.sender).decrypt(unhex(req.body))) };
        case 'pad':
            return { padded: hex(writeRandomPadMax16(unhex(req.plaintext))) };
        case 'unpad':
            return { plaintext: hex(unpadRandomMax16(unhex(req.padded))) };
        default:
            throw new Error(`unknown command ${req.cmd}`);
    }
}

newIdentity();
const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
    if (!line.trim()) continue;
    let answer;
    try {
        answer = { ok: true, ...(await handle(JSON.parse(line))) };
    } catch (e) {
        answer = { ok: false, error: String(e && e.message ? e.message : e) };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
}
