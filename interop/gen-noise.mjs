// Known-answer Noise_XX_25519_AESGCM_SHA256 transcripts for wa-crypto, with fixed keys:
//   - initiator (client) bytes from Baileys 7's noise handler (lib/Utils/noise-handler.js) AND from
//     whatsapp-rust-bridge's NoiseSession (processHandshakeInit/Finish), which must agree;
//   - responder (server) bytes from a responder built on Baileys' exported helpers AND from the
//     bridge's NoiseSession driven through its symmetric-state methods, which must agree;
//   - transport frames both ways: client frames from both initiators (equal), server frames
//     decrypted by both initiators.
// The server payload is a certificate chain under a test root that Baileys' handler verifies (its
// WA_CERT_DETAILS.PUBLIC_KEY is swapped for the test root's key), so md-transport can test the
// chain check on it too. Writes crates/wa-crypto/tests/vectors/noise.json. Deterministic.
// Run from interop/: node gen-noise.mjs
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { aesEncryptCTR, aesEncryptGCM, derivePairingCodeKey } from 'baileys';
import {
  BridgeResponder,
  HelperResponder,
  NOISE_WA_HEADER,
  NoiseSession,
  baileysInitiator,
  certChain,
  hex,
  keyPair,
  proto,
  trustTestRoot,
} from './noise-common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '../crates/wa-crypto/tests/vectors/noise.json');

/** `length` deterministic bytes from a label. */
function bytes(label, length) {
  const chunks = [];
  for (let i = 0; chunks.length * 32 < length; i++) {
    chunks.push(createHash('sha256').update(`${label}/${i}`).digest());
  }
  return Buffer.concat(chunks).subarray(0, length);
}

const root = keyPair('test root');
const intermediate = keyPair('test intermediate');
trustTestRoot(root);

const loginPayload = Buffer.from(
  proto.ClientPayload.encode({
    username: 15551234567,
    device: 3,
    passive: false,
    pull: true,
    userAgent: { platform: proto.ClientPayload.UserAgent.Platform.WEB, appVersion: { primary: 2, secondary: 3000, tertiary: 1 } },
    connectType: proto.ClientPayload.ConnectType.WIFI_UNKNOWN,
    connectReason: proto.ClientPayload.ConnectReason.USER_ACTIVATED,
  }).finish(),
);

const caseSpecs = [
  { name: 'login payload', clientPayload: loginPayload, clientFrames: [0, 5, 300], serverFrames: [10, 0, 4096] },
  { name: 'empty client payload', clientPayload: Buffer.alloc(0), clientFrames: [1], serverFrames: [1, 2] },
  { name: 'large payload, many frames', clientPayload: bytes('payload', 1000), clientFrames: [16, 17, 31, 32, 33, 2000], serverFrames: [15, 16, 100, 1000] },
];

const cases = [];
for (const [index, spec] of caseSpecs.entries()) {
  const clientStatic = keyPair(`client static ${index}`);
  const clientEphemeral = keyPair(`client ephemeral ${index}`);
  const serverStatic = keyPair(`server static ${index}`);
  const serverEphemeral = keyPair(`server ephemeral ${index}`);
  const chain = certChain(root, intermediate, serverStatic.public);

  // Message 1 (client hello) is the ephemeral public key itself.
  const baileys = baileysInitiator(clientEphemeral);
  const bridge = new NoiseSession(clientEphemeral.public, NOISE_WA_HEADER);

  // Message 2 (server hello) from both responders.
  const responder = new HelperResponder(serverStatic, serverEphemeral);
  const bridgeResponder = new BridgeResponder(serverStatic, serverEphemeral);
  const hello = responder.serverHello(clientEphemeral.public, chain);
  assert.deepEqual(bridgeResponder.serverHello(clientEphemeral.public, chain), hello);

  // Message 3 (client finish) from both initiators; Baileys verifies the chain on the way.
  const staticCiphertext = baileys.processHandshake(
    { serverHello: { ephemeral: hello.ephemeral, static: hello.staticCiphertext, payload: hello.payloadCiphertext } },
    clientStatic,
  );
  const payloadCiphertext = baileys.encrypt(spec.clientPayload);
  await baileys.finishInit();
  const bridgeChain = bridge.processHandshakeInit(
    hello.ephemeral, hello.staticCiphertext, hello.payloadCiphertext, clientEphemeral.private);
  assert.deepEqual(Buffer.from(bridgeChain), chain);
  assert.deepEqual(Buffer.from(bridge.processHandshakeFinish(clientStatic.public, clientStatic.private, hello.ephemeral)), staticCiphertext);
  assert.deepEqual(Buffer.from(bridge.encrypt(spec.clientPayload)), payloadCiphertext);
  const handshakeHash = Buffer.from(bridge.getHash());
  bridge.finishInit();

  const finished = responder.readClientFinish(staticCiphertext, payloadCiphertext);
  assert.deepEqual(finished.clientStatic, clientStatic.public);
  assert.deepEqual(finished.payload, spec.clientPayload);
  assert.deepEqual(bridgeResponder.readClientFinish(staticCiphertext, payloadCiphertext), finished);
  assert.deepEqual(responder.handshakeHash, handshakeHash);
  assert.deepEqual(bridgeResponder.handshakeHash, handshakeHash);

  // Transport: client frames from both initiators, server frames checked by both.
  const clientFrames = spec.clientFrames.map((length, i) => {
    const plaintext = bytes(`case ${index} client frame ${i}`, length);
    const ciphertext = baileys.encrypt(plaintext);
    assert.deepEqual(Buffer.from(bridge.encrypt(plaintext)), ciphertext);
    assert.deepEqual(responder.receive.decrypt(ciphertext), plaintext);
    return { plaintext: hex(plaintext), ciphertext: hex(ciphertext) };
  });
  const serverFrames = spec.serverFrames.map((length, i) => {
    const plaintext = bytes(`case ${index} server frame ${i}`, length);
    const ciphertext = responder.send.encrypt(plaintext);
    assert.deepEqual(baileys.decrypt(ciphertext), plaintext);
    assert.deepEqual(Buffer.from(bridge.decrypt(ciphertext)), plaintext);
    return { plaintext: hex(plaintext), ciphertext: hex(ciphertext) };
  });
  bridge.free();

  cases.push({
    name: spec.name,
    prologue: hex(NOISE_WA_HEADER),
    client_static_private: hex(clientStatic.private),
    client_static_public: hex(clientStatic.public),
    client_ephemeral_private: hex(clientEphemeral.private),
    client_ephemeral_public: hex(clientEphemeral.public),
    server_static_private: hex(serverStatic.private),
    server_static_public: hex(serverStatic.public),
    server_ephemeral_private: hex(serverEphemeral.private),
    cert_chain: hex(chain),
    server_hello: {
      ephemeral: hex(hello.ephemeral),
      static_ciphertext: hex(hello.staticCiphertext),
      payload_ciphertext: hex(hello.payloadCiphertext),
    },
    client_payload: hex(spec.clientPayload),
    client_finish: {
      static_ciphertext: hex(staticCiphertext),
      payload_ciphertext: hex(payloadCiphertext),
    },
    handshake_hash: hex(handshakeHash),
    client_frames: clientFrames,
    server_frames: serverFrames,
  });
}

// The other multi-device primitives, through the Baileys helpers that use them: AES-256-GCM
// (aesEncryptGCM), AES-256-CTR (aesEncryptCTR, pairing-code wrapping) and PBKDF2-SHA256
// (derivePairingCodeKey: 2^17 rounds, 32 bytes).
const gcm = [0, 1, 16, 33, 500].map((length, i) => {
  const key = bytes(`gcm key ${i}`, 32);
  const iv = bytes(`gcm iv ${i}`, 12);
  const aad = bytes(`gcm aad ${i}`, i * 7);
  const plaintext = bytes(`gcm plaintext ${i}`, length);
  return { key: hex(key), iv: hex(iv), aad: hex(aad), plaintext: hex(plaintext), ciphertext: hex(aesEncryptGCM(plaintext, key, iv, aad)) };
});
const ctr = [1, 16, 17, 80].map((length, i) => {
  const key = bytes(`ctr key ${i}`, 32);
  // The last case's IV is all ones, so the 128-bit counter carries into every byte.
  const iv = i === 3 ? Buffer.alloc(16, 0xff) : bytes(`ctr iv ${i}`, 16);
  const plaintext = bytes(`ctr plaintext ${i}`, length);
  return { key: hex(key), iv: hex(iv), plaintext: hex(plaintext), ciphertext: hex(aesEncryptCTR(plaintext, key, iv)) };
});
const pairingCodes = [];
for (const [i, code] of ['ABCD1234', '9ZXY5QRT'].entries()) {
  const salt = bytes(`pairing salt ${i}`, 32);
  pairingCodes.push({ code, salt: hex(salt), rounds: 131072, key: hex(await derivePairingCodeKey(code, salt)) });
}

const vectors = {
  comment:
    'Generated by interop/gen-noise.mjs (cargo xtask vectors). Client bytes: Baileys 7 noise handler = whatsapp-rust-bridge NoiseSession; server bytes: responder from Baileys helpers = NoiseSession driven as responder. Cert chains are under a test root (serial 0) that Baileys verified.',
  test_root_public: hex(root.public),
  test_intermediate_public: hex(intermediate.public),
  cases,
  aes_gcm: gcm,
  aes_ctr: ctr,
  pairing_code_pbkdf2: pairingCodes,
};
writeFileSync(out, `${JSON.stringify(vectors, null, 1)}\n`);
console.log(`wrote ${path.relative(process.cwd(), out)}: ${cases.length} transcripts`);
