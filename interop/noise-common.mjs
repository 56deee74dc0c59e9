// Shared by gen-noise.mjs, noise-peer.mjs and bench-noise.mjs: the two reference Noise peers and a
// responder written from Baileys 7's exported helpers (Baileys and whatsapp-rust-bridge only
// implement the initiator; the bridge's NoiseSession exposes its symmetric state, so it can be
// driven as a responder for the handshake messages too).
import { createHash } from 'node:crypto';
import {
  Curve,
  NOISE_MODE,
  NOISE_WA_HEADER,
  WA_CERT_DETAILS,
  aesDecryptGCM,
  aesEncryptGCM,
  hkdf,
  makeNoiseHandler,
  proto,
  sha256,
} from 'baileys';
import { NoiseSession, calculateAgreement } from 'whatsapp-rust-bridge';

export { Curve, NOISE_WA_HEADER, NoiseSession, makeNoiseHandler, proto };

export const hex = (bytes) => Buffer.from(bytes).toString('hex');
export const unhex = (text) => Buffer.from(text, 'hex');

/** A clamped X25519 private key from a label (deterministic test keys). */
export function privateKey(label) {
  const key = createHash('sha256').update(label).digest();
  key[0] &= 248;
  key[31] &= 127;
  key[31] |= 64;
  return key;
}

const BASE_POINT = Buffer.concat([Buffer.from([9]), Buffer.alloc(31)]);

/** { private, public } as Baileys' Curve uses them (32-byte public, no 0x05 prefix). */
export function keyPair(label) {
  const priv = privateKey(label);
  return { private: priv, public: Curve.sharedKey(priv, BASE_POINT) };
}

const silent = {
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

/**
 * WhatsApp's certificate chain for `serverStatic` under a test root: intermediate (serial 1,
 * issuer 0) signed by the root, leaf (serial 2, issuer 1) signed by the intermediate. Baileys'
 * handler checks it against WA_CERT_DETAILS.PUBLIC_KEY, which trustTestRoot() replaces.
 */
export function certChain(root, intermediate, serverStaticPublic) {
  const Details = proto.CertChain.NoiseCertificate.Details;
  const intermediateDetails = Details.encode({
    serial: 1,
    issuerSerial: 0,
    key: intermediate.public,
    notBefore: 1_700_000_000,
    notAfter: 2_000_000_000,
  }).finish();
  const leafDetails = Details.encode({
    serial: 2,
    issuerSerial: 1,
    key: serverStaticPublic,
    notBefore: 1_700_000_000,
    notAfter: 2_000_000_000,
  }).finish();
  return Buffer.from(
    proto.CertChain.encode({
      intermediate: { details: intermediateDetails, signature: Curve.sign(root.private, intermediateDetails) },
      leaf: { details: leafDetails, signature: Curve.sign(intermediate.private, leafDetails) },
    }).finish(),
  );
}

export function trustTestRoot(root) {
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(root.public);
}

/** Baileys 7's noise handler (the initiator) for one handshake. */
export function baileysInitiator(ephemeral) {
  return makeNoiseHandler({ keyPair: ephemeral, NOISE_HEADER: NOISE_WA_HEADER, logger: silent });
}

const iv = (counter) => {
  const bytes = Buffer.alloc(12);
  bytes.writeUInt32BE(counter, 8);
  return bytes;
};

/** The Noise symmetric state from Baileys' exported sha256, hkdf and AES-GCM helpers. */
class Symmetric {
  constructor(prologue) {
    this.h = Buffer.from(NOISE_MODE);
    this.ck = this.h;
    this.key = this.h;
    this.counter = 0;
    this.mixHash(prologue);
  }
  mixHash(data) {
    this.h = sha256(Buffer.concat([this.h, data]));
  }
  mixKey(inputKeyMaterial) {
    const okm = hkdf(Buffer.from(inputKeyMaterial), 64, { salt: this.ck, info: '' });
    this.ck = Buffer.from(okm.subarray(0, 32));
    this.key = Buffer.from(okm.subarray(32));
    this.counter = 0;
  }
  encrypt(plaintext) {
    const ciphertext = aesEncryptGCM(plaintext, this.key, iv(this.counter++), this.h);
    this.mixHash(ciphertext);
    return ciphertext;
  }
  decrypt(ciphertext) {
    const plaintext = aesDecryptGCM(ciphertext, this.key, iv(this.counter++), this.h);
    this.mixHash(ciphertext);
    return plaintext;
  }
  split() {
    const okm = hkdf(Buffer.alloc(0), 64, { salt: this.ck, info: '' });
    return [Buffer.from(okm.subarray(0, 32)), Buffer.from(okm.subarray(32))];
  }
}

/** One direction of a transport: AES-256-GCM, empty AD, counter from 0. */
class Direction {
  constructor(key) {
    this.key = key;
    this.counter = 0;
  }
  encrypt(plaintext) {
    return aesEncryptGCM(plaintext, this.key, iv(this.counter++), Buffer.alloc(0));
  }
  decrypt(ciphertext) {
    return aesDecryptGCM(ciphertext, this.key, iv(this.counter++), Buffer.alloc(0));
  }
}

/** The responder (server) side, from Baileys' helpers. */
export class HelperResponder {
  constructor(staticKey, ephemeral) {
    this.state = new Symmetric(NOISE_WA_HEADER);
    this.staticKey = staticKey;
    this.ephemeral = ephemeral;
  }
  serverHello(clientEphemeral, certChainPayload) {
    const s = this.state;
    s.mixHash(clientEphemeral);
    s.mixHash(this.ephemeral.public);
    s.mixKey(Curve.sharedKey(this.ephemeral.private, clientEphemeral));
    const staticCiphertext = s.encrypt(this.staticKey.public);
    s.mixKey(Curve.sharedKey(this.staticKey.private, clientEphemeral));
    const payloadCiphertext = s.encrypt(certChainPayload);
    return { ephemeral: Buffer.from(this.ephemeral.public), staticCiphertext, payloadCiphertext };
  }
  readClientFinish(staticCiphertext, payloadCiphertext) {
    const s = this.state;
    const clientStatic = s.decrypt(staticCiphertext);
    s.mixKey(Curve.sharedKey(this.ephemeral.private, clientStatic));
    const payload = s.decrypt(payloadCiphertext);
    const [clientToServer, serverToClient] = s.split();
    this.send = new Direction(serverToClient);
    this.receive = new Direction(clientToServer);
    this.handshakeHash = s.h;
    return { clientStatic, payload };
  }
}

/** whatsapp-rust-bridge's NoiseSession driven as a responder through its symmetric-state
 * methods and its X25519 (handshake messages only: its transport keys are oriented for the
 * initiator). */
export class BridgeResponder {
  constructor(staticKey, ephemeral) {
    this.staticKey = staticKey;
    this.ephemeral = ephemeral;
  }
  serverHello(clientEphemeral, certChainPayload) {
    // The constructor mixes the prologue, then the given key: here the client's ephemeral.
    this.session = new NoiseSession(clientEphemeral, NOISE_WA_HEADER);
    const s = this.session;
    s.authenticate(this.ephemeral.public);
    s.mixIntoKey(calculateAgreement(clientEphemeral, this.ephemeral.private));
    const staticCiphertext = Buffer.from(s.encrypt(this.staticKey.public));
    s.mixIntoKey(calculateAgreement(clientEphemeral, this.staticKey.private));
    const payloadCiphertext = Buffer.from(s.encrypt(certChainPayload));
    return { ephemeral: Buffer.from(this.ephemeral.public), staticCiphertext, payloadCiphertext };
  }
  readClientFinish(staticCiphertext, payloadCiphertext) {
    const s = this.session;
    const clientStatic = Buffer.from(s.decrypt(staticCiphertext));
    s.mixIntoKey(calculateAgreement(clientStatic, this.ephemeral.private));
    const payload = Buffer.from(s.decrypt(payloadCiphertext));
    this.handshakeHash = Buffer.from(s.getHash());
    s.free();
    return { clientStatic, payload };
  }
}
