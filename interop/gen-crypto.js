'use strict';
// Known-answer vectors for crates/wa-crypto, computed by @adiwajshing/baileys@3.5.3's own code.
//
//   node gen-crypto.js            writes ../crates/wa-crypto/tests/vectors/legacy.json (seeded, deterministic)
//   node gen-crypto.js --verify   reads values made by wa-crypto (JSON on stdin) and prints what
//                                 Baileys makes of them (JSON on stdout); used by the live Rust test.
//
// Where Baileys has a code path, it is called as is: `validateNewConnection` (client key derivation
// from `Conn.secret`), `sendBinary` (client frame sealing), `respondToChallenge`, `decryptWA`
// (frame opening). The server side of the `secret` exchange (which Baileys, a client, never does)
// is assembled from Baileys' helpers (`Utils.hkdf`, `Utils.aesEncrypWithIV`, `Utils.hmacSign`) and
// its curve25519-js dependency. Baileys' random IVs come from `crypto.randomBytes`, replaced here
// by a seeded SHA-256 counter stream so the output is reproducible.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const Curve = require('curve25519-js');
const Utils = require('@adiwajshing/baileys/lib/WAConnection/Utils');
const Base = require('@adiwajshing/baileys/lib/WAConnection/0.Base').WAConnection;
const Validation = require('@adiwajshing/baileys/lib/WAConnection/1.Validation').WAConnection;
const Constants = require('@adiwajshing/baileys/lib/WAConnection/Constants');
const BAILEYS_VERSION = require('@adiwajshing/baileys/package.json').version;

const SEED = 'wa-crypto legacy vectors v1';
const SESSIONS = 12;
const OUT = path.join(__dirname, '..', 'crates', 'wa-crypto', 'tests', 'vectors', 'legacy.json');

/** A deterministic byte stream: SHA-256(seed ‖ counter) blocks. */
function seededStream(seed) {
    let counter = 0;
    let pool = Buffer.alloc(0);
    return (n) => {
        while (pool.length < n) {
            const block = Buffer.alloc(4);
            block.writeUInt32BE(counter++);
            pool = Buffer.concat([pool, crypto.createHash('sha256').update(seed).update(block).digest()]);
        }
        const out = Buffer.from(pool.subarray(0, n));
        pool = pool.subarray(n);
        return out;
    };
}

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => Buffer.from(s, 'hex');
const tagPrefix = Buffer.from('tag,');
const identityDecoder = { read: (buffer) => buffer };

/** Baileys' own client derivation: validateNewConnection on a minimal connection object. */
function baileysDeriveKeys(clientPrivate, secret) {
    const conn = { curveKeys: { private: new Uint8Array(clientPrivate) }, authInfo: { clientID: 'client' } };
    const json = { secret: secret.toString('base64'), clientToken: 'ct', serverToken: 'st', wid: '1@c.us' };
    const { auth } = Validation.prototype.validateNewConnection.call(conn, json);
    return { enc_key: hex(auth.encKey), mac_key: hex(auth.macKey) };
}

/** The server's half of the exchange, assembled from Baileys' helpers. */
function baileysBuildSecret(clientPublic, encKey, macKey, serverSeed) {
    const server = Curve.generateKeyPair(serverSeed);
    const shared = Buffer.from(Curve.sharedKey(server.private, clientPublic));
    const expanded = Utils.hkdf(shared, 80);
    const encrypted = Utils.aesEncrypWithIV(Buffer.concat([encKey, macKey]), expanded.slice(0, 32), expanded.slice(64, 80));
    const serverPublic = Buffer.from(server.public);
    const hmac = Utils.hmacSign(Buffer.concat([serverPublic, encrypted]), expanded.slice(32, 64));
    return { server, shared, expanded, secret: Buffer.concat([serverPublic, hmac, encrypted]) };
}

/** Baileys' sendBinary on a minimal connection object; returns the payload after `tag,`. */
async function baileysSealClientFrame(encKey, macKey, plaintext, metric, flags) {
    let sent;
    const conn = {
        encoder: { write: (buffer) => buffer },
        authInfo: { encKey, macKey },
        shouldLogMessages: false,
        send: async (buffer) => { sent = buffer; },
    };
    await Base.prototype.sendBinary.call(conn, plaintext, [metric, flags], 'tag');
    return sent.subarray(tagPrefix.length);
}

/** A server → client payload the way Baileys seals (aesEncrypt, then hmacSign of IV ‖ CT). */
function baileysSealServerFrame(encKey, macKey, plaintext) {
    const encrypted = Utils.aesEncrypt(plaintext, encKey);
    return Buffer.concat([Utils.hmacSign(encrypted, macKey), encrypted]);
}

/** Baileys' decryptWA on `tag,` + payload; fromMe = client frame (metric and flag bytes first). */
function baileysOpen(encKey, macKey, payload, fromMe) {
    try {
        const [, plaintext, tags] = Utils.decryptWA(Buffer.concat([tagPrefix, payload]), macKey, encKey, identityDecoder, fromMe);
        const out = { plaintext: hex(plaintext) };
        if (fromMe) {
            out.metric = tags[0];
            out.flags = tags[1];
        }
        return out;
    } catch (error) {
        return { error: String(error.message) };
    }
}

async function baileysChallengeResponse(macKey, challengeB64) {
    let sent;
    const conn = {
        authInfo: { macKey, serverToken: 'st', clientID: 'client' },
        logger: { info: () => {} },
        query: async ({ json }) => { sent = json; },
    };
    await Validation.prototype.respondToChallenge.call(conn, challengeB64);
    return sent[2];
}

/** Baileys has no HTTP logout; the token is its hmacSign(encKey, macKey) in base64. */
const baileysLogoutToken = (encKey, macKey) => Utils.hmacSign(encKey, macKey).toString('base64');

function flip(buffer, index) {
    const out = Buffer.from(buffer);
    out[index] ^= 0x01;
    return out;
}

function expectThrow(fn) {
    try {
        fn();
    } catch (error) {
        return String(error.message);
    }
    throw new Error('Baileys accepted an input it should reject');
}

async function generate() {
    const random = seededStream(SEED);
    // Baileys' aesEncrypt draws its IV from crypto.randomBytes (through a live binding).
    crypto.randomBytes = (n, callback) => {
        if (callback) throw new Error('unexpected async randomBytes');
        return random(n);
    };
    const below = (n) => random(4).readUInt32BE() % n;
    const metrics = Object.entries(Constants.WAMetric).filter(([, v]) => typeof v === 'number');
    const flags = Object.entries(Constants.WAFlag).filter(([, v]) => typeof v === 'number');

    const sessions = [];
    for (let i = 0; i < SESSIONS; i++) {
        const clientSeed = random(32);
        const client = Curve.generateKeyPair(clientSeed);
        const encKey = random(32);
        const macKey = random(32);
        const built = baileysBuildSecret(client.public, encKey, macKey, random(32));
        const derived = baileysDeriveKeys(client.private, built.secret);
        if (derived.enc_key !== hex(encKey) || derived.mac_key !== hex(macKey)) {
            throw new Error('Baileys did not derive the keys its own secret delivers');
        }

        const clientFrames = [];
        for (let j = 0; j < 3; j++) {
            const plaintext = random(below(70));
            const [metricName, metric] = metrics[below(metrics.length)];
            const [flagName, flag] = flags[below(flags.length)];
            const payload = await baileysSealClientFrame(encKey, macKey, plaintext, metric, flag);
            clientFrames.push({
                metric, metric_name: metricName, flags: flag, flags_name: flagName,
                plaintext: hex(plaintext), payload: hex(payload),
                baileys_open: baileysOpen(encKey, macKey, payload, true),
            });
        }
        const serverFrames = [];
        for (let j = 0; j < 3; j++) {
            const plaintext = random(below(70));
            const payload = baileysSealServerFrame(encKey, macKey, plaintext);
            serverFrames.push({
                plaintext: hex(plaintext), payload: hex(payload),
                baileys_open: baileysOpen(encKey, macKey, payload, false),
            });
        }
        const challenge = random(16 + below(48)).toString('base64');
        sessions.push({
            client_seed: hex(clientSeed),
            client_private: hex(client.private),
            client_public: hex(client.public),
            server_private: hex(built.server.private),
            server_public: hex(built.server.public),
            shared_secret: hex(built.shared),
            expanded: hex(built.expanded),
            enc_key: hex(encKey),
            mac_key: hex(macKey),
            secret: hex(built.secret),
            baileys_derived: derived,
            challenge,
            challenge_response: await baileysChallengeResponse(macKey, challenge),
            logout_token: baileysLogoutToken(encKey, macKey),
            client_frames: clientFrames,
            server_frames: serverFrames,
        });
    }

    const infos = ['', 'WhatsApp Image Keys', 'WhatsApp Video Keys', 'WhatsApp Audio Keys', 'WhatsApp Document Keys'];
    const hkdf = [];
    for (let i = 0; i < 10; i++) {
        const ikm = random(below(80));
        const info = infos[i % infos.length];
        const length = [32, 80, 112, 1, 255][below(5)];
        hkdf.push({ ikm: hex(ikm), info, length, okm: hex(Utils.hkdf(ikm, length, info === '' ? null : info)) });
    }

    const aes = [];
    for (let length = 0; length <= 48; length += 3) {
        const key = random(32);
        const plaintext = random(length);
        aes.push({ key: hex(key), plaintext: hex(plaintext), iv_and_ciphertext: hex(Utils.aesEncrypt(plaintext, key)) });
    }

    // Rejections, each confirmed against Baileys.
    const s = sessions[0];
    const secret = unhex(s.secret);
    const clientPrivate = unhex(s.client_private);
    const otherClient = Curve.generateKeyPair(random(32));
    const badSecrets = [
        { what: 'server public key flipped', secret: flip(secret, 3) },
        { what: 'HMAC flipped', secret: flip(secret, 40) },
        { what: 'encrypted keys flipped', secret: flip(secret, 100) },
        { what: 'made for another client', secret: baileysBuildSecret(otherClient.public, random(32), random(32), random(32)).secret },
        { what: 'one byte short', secret: secret.subarray(0, 143) },
    ].map(({ what, secret: bad }) => ({
        what, client_private: s.client_private, secret: hex(bad),
        baileys_error: expectThrow(() => baileysDeriveKeys(clientPrivate, bad)),
    }));

    const frame = s.server_frames.find((f) => unhex(f.payload)[0] !== 0x2c);
    const payload = unhex(frame.payload);
    const encKey = unhex(s.enc_key);
    const macKey = unhex(s.mac_key);
    const badFrames = [
        { what: 'HMAC flipped', index: 5 },
        { what: 'IV flipped', index: 32 + 3 },
        { what: 'ciphertext flipped', index: payload.length - 1 },
    ].map(({ what, index }) => {
        const bad = flip(payload, index);
        const opened = baileysOpen(encKey, macKey, bad, false);
        if (!opened.error) throw new Error('Baileys opened a tampered frame');
        return { what, enc_key: s.enc_key, mac_key: s.mac_key, payload: hex(bad), baileys_error: opened.error };
    });

    const vectors = {
        generator: 'interop/gen-crypto.js',
        baileys_version: BAILEYS_VERSION,
        seed: SEED,
        sessions,
        hkdf,
        aes,
        bad_secrets: badSecrets,
        bad_frames: badFrames,
    };
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    fs.writeFileSync(OUT, JSON.stringify(vectors, null, 1) + '\n');
    console.log(`wrote ${path.relative(process.cwd(), OUT)}: ${sessions.length} sessions, ${hkdf.length} HKDF, ${aes.length} AES, ${badSecrets.length + badFrames.length} negative cases`);
}

/** Live check of wa-crypto's outputs: stdin JSON in, Baileys' verdicts out. */
async function verify() {
    const input = JSON.parse(fs.readFileSync(0, 'utf8'));
    const output = {
        secrets: input.secrets.map(({ client_private, secret }) => {
            try {
                return baileysDeriveKeys(unhex(client_private), unhex(secret));
            } catch (error) {
                return { error: String(error.message) };
            }
        }),
        client_frames: input.client_frames.map(({ enc_key, mac_key, payload }) =>
            baileysOpen(unhex(enc_key), unhex(mac_key), unhex(payload), true)),
        server_frames: input.server_frames.map(({ enc_key, mac_key, payload }) =>
            baileysOpen(unhex(enc_key), unhex(mac_key), unhex(payload), false)),
        challenges: [],
        logout_tokens: input.logout.map(({ enc_key, mac_key }) => baileysLogoutToken(unhex(enc_key), unhex(mac_key))),
    };
    for (const { mac_key, challenge } of input.challenges) {
        output.challenges.push(await baileysChallengeResponse(unhex(mac_key), challenge));
    }
    process.stdout.write(JSON.stringify(output));
}

(process.argv.includes('--verify') ? verify() : generate()).catch((error) => {
    console.error(error);
    process.exit(1);
});
