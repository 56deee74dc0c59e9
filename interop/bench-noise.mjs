// Noise handshake and transport speed of the JavaScript peers, for `cargo xtask bench-compare
// noise` (which runs wa-crypto's `noise_measure` example the same way). One JSON object per line.
//   baileys: Baileys 7's noise handler as the initiator (it checks the certificate chain itself,
//            two libsignal Curve.verify calls), the responder built from Baileys' helpers, node
//            crypto key generation;
//   rust-bridge: whatsapp-rust-bridge's NoiseSession as the initiator plus two of its
//            verifySignature calls for the chain, the NoiseSession driven as the responder, the
//            bridge's X25519 and key generation.
// Usage (from interop/): node bench-noise.mjs [SECONDS per measure]
import * as bridge from 'whatsapp-rust-bridge';
import {
  BridgeResponder,
  Curve,
  HelperResponder,
  NOISE_WA_HEADER,
  NoiseSession,
  baileysInitiator,
  certChain,
  keyPair,
  proto,
  trustTestRoot,
} from './noise-common.mjs';

const seconds = Number(process.argv[2] ?? 1);
const BASE_POINT = Buffer.concat([Buffer.from([9]), Buffer.alloc(31)]);
const CLIENT_PAYLOAD = Buffer.alloc(120, 0x42);
const RECORDED = 64;

const root = keyPair('bench root');
const intermediate = keyPair('bench intermediate');
trustTestRoot(root);
const clientStatic = keyPair('bench client static');
const serverStatic = keyPair('bench server static');
const chain = certChain(root, intermediate, serverStatic.public);
const decoded = proto.CertChain.decode(chain);
const intermediateKey = proto.CertChain.NoiseCertificate.Details.decode(decoded.intermediate.details).key;

const print = (peer, measure, unit, value) =>
  console.log(JSON.stringify({ peer, measure, [unit]: Number(value.toFixed(1)) }));

/** Operations per second of `op(i)` (awaited when it returns a promise). */
async function rate(op) {
  for (let i = 0; i < 8; i++) await op(i);
  const budget = seconds * 1000;
  const start = performance.now();
  let count = 0;
  while (performance.now() - start < budget) {
    for (let j = 0; j < 4; j++) await op(count++);
  }
  return (count * 1000) / (performance.now() - start);
}

// ---- whole handshakes ----

async function baileysWhole() {
  const clientEphemeral = Curve.generateKeyPair();
  const responder = new HelperResponder(serverStatic, Curve.generateKeyPair());
  const client = baileysInitiator(clientEphemeral);
  const hello = responder.serverHello(clientEphemeral.public, chain);
  const staticCiphertext = client.processHandshake(
    { serverHello: { ephemeral: hello.ephemeral, static: hello.staticCiphertext, payload: hello.payloadCiphertext } },
    clientStatic,
  );
  const payloadCiphertext = client.encrypt(CLIENT_PAYLOAD);
  await client.finishInit();
  responder.readClientFinish(staticCiphertext, payloadCiphertext);
  return { client, responder };
}

function bridgeKeyPair() {
  const { pubKey, privKey } = bridge.generateKeyPair();
  return { public: Buffer.from(pubKey.subarray(pubKey.length - 32)), private: Buffer.from(privKey) };
}

function bridgeVerifyChain() {
  if (
    !bridge.verifySignature(root.public, decoded.intermediate.details, decoded.intermediate.signature) ||
    !bridge.verifySignature(intermediateKey, decoded.leaf.details, decoded.leaf.signature)
  ) {
    throw new Error('certificate chain rejected');
  }
}

function bridgeInitiator(ephemeral, hello) {
  const session = new NoiseSession(ephemeral.public, NOISE_WA_HEADER);
  const payload = session.processHandshakeInit(
    hello.ephemeral, hello.staticCiphertext, hello.payloadCiphertext, ephemeral.private);
  proto.CertChain.decode(payload);
  bridgeVerifyChain();
  const staticCiphertext = session.processHandshakeFinish(clientStatic.public, clientStatic.private, hello.ephemeral);
  const payloadCiphertext = session.encrypt(CLIENT_PAYLOAD);
  session.finishInit();
  return { session, staticCiphertext, payloadCiphertext };
}

function bridgeWhole() {
  const clientEphemeral = bridgeKeyPair();
  const responder = new BridgeResponder(serverStatic, bridgeKeyPair());
  const hello = responder.serverHello(clientEphemeral.public, chain);
  const { session, staticCiphertext, payloadCiphertext } = bridgeInitiator(clientEphemeral, hello);
  responder.readClientFinish(staticCiphertext, payloadCiphertext);
  return session;
}

print('baileys', 'handshake', 'per_s', await rate(baileysWhole));
print('rust-bridge', 'handshake', 'per_s', await rate(() => bridgeWhole().free()));

// ---- one role at a time: the other side's messages recorded; the timed side derives its
// ephemeral public key from a stored private key (one X25519, as generating it would cost) ----

const transcripts = [];
for (let i = 0; i < RECORDED; i++) {
  const clientEphemeral = keyPair(`bench client ephemeral ${i}`);
  const serverEphemeral = keyPair(`bench server ephemeral ${i}`);
  const responder = new HelperResponder(serverStatic, serverEphemeral);
  const hello = responder.serverHello(clientEphemeral.public, chain);
  const client = baileysInitiator(clientEphemeral);
  const staticCiphertext = client.processHandshake(
    { serverHello: { ephemeral: hello.ephemeral, static: hello.staticCiphertext, payload: hello.payloadCiphertext } },
    clientStatic,
  );
  const payloadCiphertext = client.encrypt(CLIENT_PAYLOAD);
  transcripts.push({
    clientPrivate: clientEphemeral.private,
    serverPrivate: serverEphemeral.private,
    clientEphemeral: clientEphemeral.public,
    hello,
    staticCiphertext,
    payloadCiphertext,
  });
}

print('baileys', 'initiator', 'per_s', await rate(async (i) => {
  const t = transcripts[i % RECORDED];
  const ephemeral = { private: t.clientPrivate, public: Curve.sharedKey(t.clientPrivate, BASE_POINT) };
  const client = baileysInitiator(ephemeral);
  client.processHandshake(
    { serverHello: { ephemeral: t.hello.ephemeral, static: t.hello.staticCiphertext, payload: t.hello.payloadCiphertext } },
    clientStatic,
  );
  client.encrypt(CLIENT_PAYLOAD);
  await client.finishInit();
}));
print('rust-bridge', 'initiator', 'per_s', await rate((i) => {
  const t = transcripts[i % RECORDED];
  const ephemeral = { private: t.clientPrivate, public: bridge.calculateAgreement(BASE_POINT, t.clientPrivate) };
  bridgeInitiator(ephemeral, t.hello).session.free();
}));
print('baileys', 'responder', 'per_s', await rate((i) => {
  const t = transcripts[i % RECORDED];
  const ephemeral = { private: t.serverPrivate, public: Curve.sharedKey(t.serverPrivate, BASE_POINT) };
  const responder = new HelperResponder(serverStatic, ephemeral);
  responder.serverHello(t.clientEphemeral, chain);
  responder.readClientFinish(t.staticCiphertext, t.payloadCiphertext);
}));
print('rust-bridge', 'responder', 'per_s', await rate((i) => {
  const t = transcripts[i % RECORDED];
  const ephemeral = { private: t.serverPrivate, public: bridge.calculateAgreement(BASE_POINT, t.serverPrivate) };
  const responder = new BridgeResponder(serverStatic, ephemeral);
  responder.serverHello(t.clientEphemeral, chain);
  responder.readClientFinish(t.staticCiphertext, t.payloadCiphertext);
}));

// ---- transport: encrypting frames after the handshake ----

for (const size of [1024, 16384]) {
  const plaintext = Buffer.alloc(size, 0x5a);
  const { client } = await baileysWhole();
  print('baileys', `encrypt-${size}`, 'mbps', ((await rate(() => client.encrypt(plaintext))) * size) / 1e6);
  const session = bridgeWhole();
  print('rust-bridge', `encrypt-${size}`, 'mbps', ((await rate(() => session.encrypt(plaintext))) * size) / 1e6);
  session.free();
}
