// Pairing vectors for crates/wa-core (tests/md_pairing_vectors.rs), produced by Baileys 7
// (npm `baileys@7.0.0-rc14`) itself:
//   - pair-success: a phone's ADVSignedDeviceIdentityHMAC (E2EE and hosted), signed with
//     curve25519-js and a fixed XEdDSA random so the bytes are known answers, run through
//     Baileys' own `configureSuccessfulPairing`; we record what it accepts, the
//     `pair-device-sign` identity it replies with, and its (randomized) device signature;
//     tampered containers are recorded with Baileys' verdict;
//   - a curve25519-js signature (fixed random) over Baileys' device-signature message: it
//     verifies over our message only if both messages are the same bytes;
//   - pair code: Baileys' `bytesToCrockford`, `derivePairingCodeKey` + `aesEncryptCTR` wrap, and
//     the companion's key bundle and ADV secret computed the way Baileys' companion does.
//
//   node gen-pairing.mjs    writes ../crates/wa-core/tests/vectors/md_pairing.json
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
    configureSuccessfulPairing, derivePairingCodeKey, aesEncryptCTR, aesEncryptGCM,
    bytesToCrockford, hkdf, hmacSign, Curve, proto,
    WA_ADV_ACCOUNT_SIG_PREFIX, WA_ADV_DEVICE_SIG_PREFIX, WA_ADV_HOSTED_ACCOUNT_SIG_PREFIX,
} from 'baileys';

const require = createRequire(import.meta.url);
const Curve25519 = require('curve25519-js');

const here = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.join(here, '..', 'crates', 'wa-core', 'tests', 'vectors', 'md_pairing.json');
const SEED = 'wa-core md pairing vectors v1';

const hex = (b) => Buffer.from(b).toString('hex');
function seeded(label, n) {
    const out = [];
    let counter = 0;
    while (Buffer.concat(out).length < n) {
        out.push(crypto.createHash('sha256').update(SEED).update(label).update(String(counter++)).digest());
    }
    return Buffer.concat(out).subarray(0, n);
}
/** A curve25519-js key pair from a seed (private key clamped, as it stores them). */
function keyPair(label) {
    const kp = Curve25519.generateKeyPair(seeded(label, 32));
    return { private: Buffer.from(kp.private), public: Buffer.from(kp.public) };
}

function pairSuccessCase(name, hosted, keyIndex) {
    const identity = keyPair(`${name} identity`);
    const account = keyPair(`${name} account`);
    const advSecret = seeded(`${name} adv`, 32);
    const details = Buffer.from(proto.ADVDeviceIdentity.encode({
        rawId: 1234, timestamp: 1700000000, keyIndex,
        ...(hosted ? { accountType: proto.ADVEncryptionType.HOSTED, deviceType: proto.ADVEncryptionType.HOSTED } : {}),
    }).finish());
    const accountPrefix = hosted ? WA_ADV_HOSTED_ACCOUNT_SIG_PREFIX : WA_ADV_ACCOUNT_SIG_PREFIX;
    const accountMsg = Buffer.concat([accountPrefix, details, identity.public]);
    const accountSignature = Buffer.from(Curve25519.sign(account.private, accountMsg, seeded(`${name} z1`, 64)));
    const signed = Buffer.from(proto.ADVSignedDeviceIdentity.encode({
        details, accountSignatureKey: account.public, accountSignature,
    }).finish());
    const hmacPrefix = hosted ? WA_ADV_HOSTED_ACCOUNT_SIG_PREFIX : Buffer.alloc(0);
    const hmac = hmacSign(Buffer.concat([hmacPrefix, signed]), advSecret);
    const container = (h) => Buffer.from(proto.ADVSignedDeviceIdentityHMAC.encode({
        details: signed, hmac: h, ...(hosted ? { accountType: proto.ADVEncryptionType.HOSTED } : {}),
    }).finish());
    const creds = {
        advSecretKey: advSecret.toString('base64'),
        signedIdentityKey: identity,
        signalIdentities: [],
    };
    const stanza = (content) => ({
        tag: 'iq', attrs: { id: 'ps1', type: 'set', from: 's.whatsapp.net' },
        content: [{
            tag: 'pair-success', attrs: {},
            content: [
                { tag: 'device-identity', attrs: {}, content },
                { tag: 'device', attrs: { jid: '15550001111:7@s.whatsapp.net', lid: '4455:7@lid' } },
                { tag: 'platform', attrs: { name: 'android' } },
            ],
        }],
    });
    const { reply, creds: update } = configureSuccessfulPairing(stanza(container(hmac)), creds);
    const deviceIdentity = reply.content[0].content[0];
    const deviceMsg = Buffer.concat([WA_ADV_DEVICE_SIG_PREFIX, details, identity.public, account.public]);
    const z2 = seeded(`${name} z2`, 64);
    const verdict = (content) => {
        try { configureSuccessfulPairing(stanza(content), creds); return 'accepted'; } catch (e) { return e.message; }
    };
    const badHmac = Buffer.from(hmac); badHmac[0] ^= 1;
    return {
        name, hosted,
        identity_private: hex(identity.private), identity_public: hex(identity.public),
        account_public: hex(account.public), adv_secret: hex(advSecret),
        container: hex(container(hmac)),
        baileys_key_index: deviceIdentity.attrs['key-index'],
        baileys_reply: hex(deviceIdentity.content),
        baileys_device_signature: hex(update.account.deviceSignature),
        device_random: hex(z2),
        device_signature_fixed_random: hex(Curve25519.sign(identity.private, deviceMsg, z2)),
        tampered_hmac: hex(container(badHmac)),
        tampered_hmac_baileys: verdict(container(badHmac)),
    };
}

async function pairCodeCase(name) {
    const codeBytes = seeded(`${name} code`, 5);
    const code = bytesToCrockford(codeBytes);
    const salt = seeded(`${name} salt`, 32);
    const iv = seeded(`${name} iv`, 16);
    const companionEphemeral = keyPair(`${name} companion eph`);
    const key = await derivePairingCodeKey(code, salt);
    const wrapped = Buffer.concat([salt, iv, aesEncryptCTR(companionEphemeral.public, key, iv)]);

    // The companion's half after the phone answered, as Baileys' companion computes it.
    const companionIdentity = keyPair(`${name} companion identity`);
    const primaryEphemeral = keyPair(`${name} primary eph`);
    const primaryIdentity = keyPair(`${name} primary identity`);
    const shared = Buffer.from(Curve.sharedKey(companionEphemeral.private, primaryEphemeral.public));
    const random = seeded(`${name} random`, 32);
    const bundleSalt = seeded(`${name} bundle salt`, 32);
    const bundleKey = hkdf(shared, 32, { salt: bundleSalt, info: 'link_code_pairing_key_bundle_encryption_key' });
    const nonce = seeded(`${name} nonce`, 12);
    const sealed = aesEncryptGCM(Buffer.concat([companionIdentity.public, primaryIdentity.public, random]),
        Buffer.from(bundleKey), nonce, Buffer.alloc(0));
    const identityShared = Buffer.from(Curve.sharedKey(companionIdentity.private, primaryIdentity.public));
    const adv = hkdf(Buffer.concat([shared, identityShared, random]), 32, { info: 'adv_secret' });
    return {
        name, code_bytes: hex(codeBytes), code,
        salt: hex(salt), iv: hex(iv),
        companion_ephemeral_public: hex(companionEphemeral.public),
        wrapped: hex(wrapped),
        companion_identity_public: hex(companionIdentity.public),
        primary_ephemeral_private: hex(primaryEphemeral.private),
        primary_identity_private: hex(primaryIdentity.private),
        key_bundle: hex(Buffer.concat([bundleSalt, nonce, sealed])),
        adv_secret: hex(adv),
    };
}

const vectors = {
    generator: 'interop/gen-pairing.mjs (baileys 7.0.0-rc14)',
    pair_success: [pairSuccessCase('e2ee', false, 3), pairSuccessCase('hosted', true, 9)],
    pair_code: [await pairCodeCase('a'), await pairCodeCase('b')],
};
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, JSON.stringify(vectors, null, 1) + '\n');
console.log(`wrote ${OUT}`);
