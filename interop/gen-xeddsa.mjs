// XEdDSA vectors for crates/wa-crypto (src/xeddsa.rs), made by the signers WhatsApp clients run:
//   - curve25519-js 0.0.4 (the curve under npm `libsignal` 6.0.0), whose `sign(key, msg, random)`
//     takes the spec's 64 random bytes Z, so its signatures are deterministic known answers;
//   - npm `libsignal` 6.0.0's `curve.calculateSignature` (random Z inside);
//   - whatsapp-rust-bridge's `calculateSignature` (WASM, random Z inside).
//
//   node gen-xeddsa.mjs           writes ../crates/wa-crypto/tests/vectors/xeddsa.json (seeded keys
//                                 and messages; the random-Z signatures differ from run to run)
//   node gen-xeddsa.mjs --verify  reads [{public, message, signature}] (hex) on stdin and prints, for
//                                 each, what every peer's verifier says ({curve25519js, libsignal,
//                                 bridge}: booleans); used by the live Rust test.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const Curve = require('curve25519-js');
const libsignal = require('libsignal');
const bridge = await import('whatsapp-rust-bridge');

const here = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.join(here, '..', 'crates', 'wa-crypto', 'tests', 'vectors', 'xeddsa.json');
const SEED = 'wa-crypto xeddsa vectors v1';
const CASES = 16;

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
/** npm libsignal's public keys carry the 0x05 "DJB" type byte. */
const djb = (pub) => Buffer.concat([Buffer.from([5]), Buffer.from(pub)]);

function seeded(label, n) {
    const out = [];
    let counter = 0;
    while (Buffer.concat(out).length < n) {
        out.push(crypto.createHash('sha256').update(SEED).update(label).update(String(counter++)).digest());
    }
    return new Uint8Array(Buffer.concat(out).subarray(0, n));
}

function verifyAll(pub, message, signature) {
    let bridgeOk;
    try {
        bridgeOk = bridge.verifySignature(djb(pub), message, signature);
    } catch {
        bridgeOk = false;
    }
    let libsignalOk;
    try {
        libsignalOk = libsignal.curve.verifySignature(djb(pub), message, signature);
    } catch {
        libsignalOk = false;
    }
    return {
        curve25519js: signature.length === 64 && Curve.verify(pub, message, signature),
        libsignal: libsignalOk,
        bridge: bridgeOk,
    };
}

if (process.argv.includes('--verify')) {
    const input = JSON.parse(fs.readFileSync(0, 'utf8'));
    const out = input.map((c) => verifyAll(unhex(c.public), unhex(c.message), unhex(c.signature)));
    process.stdout.write(JSON.stringify(out));
} else {
    const cases = [];
    for (let i = 0; i < CASES; i++) {
        const seed = seeded(`key ${i}`, 32);
        const pair = Curve.generateKeyPair(seed);
        // Lengths 0, 1, 31, 32, 33 … up to 200 bytes: empty and block-boundary messages included.
        const len = [0, 1, 31, 32, 33, 64, 111, 112, 127, 128, 200][i % 11];
        const message = seeded(`message ${i}`, len);
        const random = seeded(`random ${i}`, 64);
        const deterministic = Curve.sign(pair.private, message, random);
        const libsignalSig = libsignal.curve.calculateSignature(Buffer.from(pair.private), Buffer.from(message));
        const bridgeSig = bridge.calculateSignature(pair.private, message);
        for (const [name, sig] of [['curve25519-js', deterministic], ['libsignal', libsignalSig], ['bridge', bridgeSig]]) {
            const checks = verifyAll(pair.public, message, sig);
            if (!checks.curve25519js || !checks.libsignal || !checks.bridge) {
                throw new Error(`case ${i}: ${name}'s signature not accepted by all peers: ${JSON.stringify(checks)}`);
            }
        }
        cases.push({
            private: hex(pair.private),
            public: hex(pair.public),
            message: hex(message),
            random: hex(random),
            curve25519js_signature: hex(deterministic),
            libsignal_signature: hex(libsignalSig),
            bridge_signature: hex(bridgeSig),
        });
    }
    const doc = {
        generator: 'interop/gen-xeddsa.mjs',
        peers: {
            'curve25519-js': require('curve25519-js/package.json').version,
            libsignal: require('libsignal/package.json').version,
            'whatsapp-rust-bridge': JSON.parse(fs.readFileSync(path.join(here, 'node_modules/whatsapp-rust-bridge/package.json'), 'utf8')).version,
        },
        cases,
    };
    fs.writeFileSync(OUT, JSON.stringify(doc, null, 1) + '\n');
    console.error(`wrote ${cases.length} cases to ${OUT}`);
}
