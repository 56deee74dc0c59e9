// A live Noise peer for wa-crypto's interop test, speaking JSON lines (hex fields) on
// stdin/stdout with fresh random keys:
//   node noise-peer.mjs baileys     Baileys 7's noise handler as the initiator (it checks the
//                                   server's certificate chain against the test root of
//                                   crates/wa-crypto/tests/vectors/noise.json);
//   node noise-peer.mjs bridge      whatsapp-rust-bridge's NoiseSession as the initiator (chain
//                                   checked with the bridge's verifySignature);
//   node noise-peer.mjs responder   the responder built from Baileys' helpers.
// Initiator: -> {client_hello}  <- {ephemeral, static, payload}  -> {static, payload, client_static}
// Responder: <- {client_hello}  -> {ephemeral, static, payload}  <- {static, payload}
// Then both: the initiator sends {frames} ("ping N"), the responder answers {frames}
// ("pong N"), and the peer prints {ok, client_payload?} after checking what it received.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import * as bridge from 'whatsapp-rust-bridge';
import {
  Curve,
  HelperResponder,
  NOISE_WA_HEADER,
  NoiseSession,
  baileysInitiator,
  certChain,
  hex,
  keyPair,
  proto,
  trustTestRoot,
  unhex,
} from './noise-common.mjs';

const role = process.argv[2];
const vectors = JSON.parse(readFileSync(new URL('../crates/wa-crypto/tests/vectors/noise.json', import.meta.url)));
const root = { public: unhex(vectors.test_root_public) };
trustTestRoot(root);

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const receive = async () => JSON.parse((await lines.next()).value);
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
const PINGS = ['ping 0', 'ping 1', 'ping 2 '.repeat(500)];
const CLIENT_PAYLOAD = Buffer.from(`client payload from ${role}`);

function checkChain(payload, serverStatic) {
  const chain = proto.CertChain.decode(payload);
  const details = proto.CertChain.NoiseCertificate.Details;
  const intermediate = details.decode(chain.intermediate.details);
  const leaf = details.decode(chain.leaf.details);
  if (
    !bridge.verifySignature(root.public, chain.intermediate.details, chain.intermediate.signature) ||
    !bridge.verifySignature(intermediate.key, chain.leaf.details, chain.leaf.signature) ||
    intermediate.issuerSerial !== 0 ||
    leaf.issuerSerial !== intermediate.serial ||
    !Buffer.from(leaf.key).equals(Buffer.from(serverStatic))
  ) {
    throw new Error('certificate chain rejected');
  }
}

async function initiator() {
  const ephemeral = Curve.generateKeyPair();
  const staticKey = Curve.generateKeyPair();
  send({ client_hello: hex(ephemeral.public) });
  const hello = await receive();
  const [e, s, p] = [unhex(hello.ephemeral), unhex(hello.static), unhex(hello.payload)];
  let encrypt;
  let decrypt;
  let finish;
  if (role === 'baileys') {
    const noise = baileysInitiator(ephemeral);
    const staticCiphertext = noise.processHandshake({ serverHello: { ephemeral: e, static: s, payload: p } }, staticKey);
    finish = { static: hex(staticCiphertext), payload: hex(noise.encrypt(CLIENT_PAYLOAD)) };
    await noise.finishInit();
    encrypt = (x) => noise.encrypt(x);
    decrypt = (x) => noise.decrypt(x);
  } else {
    const session = new NoiseSession(ephemeral.public, NOISE_WA_HEADER);
    const payload = session.processHandshakeInit(e, s, p, ephemeral.private);
    // The bridge does not return the decrypted server static; the leaf key must equal the key
    // the handshake authenticated, which only the handshake itself can tell, so the bridge
    // path checks the signatures and trusts the leaf key as the server static.
    const leafKey = proto.CertChain.NoiseCertificate.Details.decode(proto.CertChain.decode(payload).leaf.details).key;
    checkChain(payload, leafKey);
    finish = {
      static: hex(session.processHandshakeFinish(staticKey.public, staticKey.private, e)),
      payload: hex(session.encrypt(CLIENT_PAYLOAD)),
    };
    session.finishInit();
    encrypt = (x) => Buffer.from(session.encrypt(x));
    decrypt = (x) => Buffer.from(session.decrypt(x));
  }
  send({ ...finish, client_static: hex(staticKey.public) });
  send({ frames: PINGS.map((ping) => hex(encrypt(Buffer.from(ping)))) });
  const { frames } = await receive();
  frames.forEach((frame, i) => {
    const plaintext = decrypt(unhex(frame)).toString();
    if (plaintext !== PINGS[i].replaceAll('ping', 'pong')) throw new Error(`frame ${i}: ${plaintext}`);
  });
  send({ ok: true });
}

async function responder() {
  const serverStatic = keyPair(`live server static ${Date.now()}`);
  const intermediate = keyPair('live intermediate');
  // The responder needs a chain for its own key; the root is trusted by the Rust side only
  // through what it is told here.
  const testRoot = keyPair('live root');
  const responderSide = new HelperResponder(serverStatic, Curve.generateKeyPair());
  const { client_hello: clientHello } = await receive();
  const hello = responderSide.serverHello(unhex(clientHello), certChain(testRoot, intermediate, serverStatic.public));
  send({
    ephemeral: hex(hello.ephemeral),
    static: hex(hello.staticCiphertext),
    payload: hex(hello.payloadCiphertext),
    server_static: hex(serverStatic.public),
  });
  const finish = await receive();
  const { clientStatic, payload } = responderSide.readClientFinish(unhex(finish.static), unhex(finish.payload));
  const { frames } = await receive();
  const pongs = frames.map((frame) => {
    const ping = responderSide.receive.decrypt(unhex(frame)).toString();
    return hex(responderSide.send.encrypt(Buffer.from(ping.replaceAll('ping', 'pong'))));
  });
  send({ frames: pongs });
  send({ ok: true, client_static: hex(clientStatic), client_payload: hex(payload) });
}

await (role === 'responder' ? responder() : initiator());
process.exit(0);
