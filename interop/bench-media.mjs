// Node's side of the media throughput comparison (`cargo xtask bench-compare media`): the
// pipeline Baileys runs, with Node's OpenSSL-backed crypto: AES-256-CBC + HMAC-SHA256 over
// iv ‖ enc + SHA-256 of the plaintext + SHA-256 of enc ‖ mac, in 64 KiB pieces.
//
//   node bench-media.mjs [MiB]      prints `RESULT node-encrypt <MB/s>` and `RESULT node-decrypt <MB/s>`
//
// Timed in CPU time (`process.cpuUsage`, user + system), as `openssl speed` and our one-thread
// figures are, so that a busy shared machine does not skew the comparison.
import crypto from 'node:crypto'

const mib = Number(process.argv[2] || 256)
const total = mib * 1024 * 1024
const PIECE = 64 * 1024
const pattern = crypto.randomBytes(1 << 20)
const keys = crypto.hkdfSync('sha256', crypto.randomBytes(32), Buffer.alloc(0), 'WhatsApp Document Keys', 112)
const expanded = Buffer.from(keys)
const iv = expanded.subarray(0, 16)
const cipherKey = expanded.subarray(16, 48)
const macKey = expanded.subarray(48, 80)

function pieces (fn) {
  for (let done = 0; done < total; done += PIECE) {
    const at = done % pattern.length
    fn(pattern.subarray(at, at + Math.min(PIECE, total - done)))
  }
}

// Encrypt, keeping the body so decryption has something real to check.
const body = []
const cpuSecs = since => {
  const used = process.cpuUsage(since)
  return (used.user + used.system) / 1e6
}
let started = process.cpuUsage()
const aes = crypto.createCipheriv('aes-256-cbc', cipherKey, iv)
const hmac = crypto.createHmac('sha256', macKey).update(iv)
const shaPlain = crypto.createHash('sha256')
const shaEnc = crypto.createHash('sha256')
const onEnc = enc => {
  hmac.update(enc)
  shaEnc.update(enc)
  body.push(enc)
}
pieces(piece => {
  shaPlain.update(piece)
  onEnc(aes.update(piece))
})
onEnc(aes.final())
const mac = hmac.digest().subarray(0, 10)
shaEnc.update(mac)
shaPlain.digest()
shaEnc.digest()
let secs = cpuSecs(started)
console.log(`RESULT node-encrypt ${(total / secs / 1e6).toFixed(1)}`)

started = process.cpuUsage()
const dec = crypto.createDecipheriv('aes-256-cbc', cipherKey, iv)
const hmac2 = crypto.createHmac('sha256', macKey).update(iv)
const shaPlain2 = crypto.createHash('sha256')
const shaEnc2 = crypto.createHash('sha256')
for (const enc of body) {
  hmac2.update(enc)
  shaEnc2.update(enc)
  shaPlain2.update(dec.update(enc))
}
shaPlain2.update(dec.final())
shaEnc2.update(mac)
if (!hmac2.digest().subarray(0, 10).equals(mac)) throw new Error('MAC mismatch in the benchmark')
shaPlain2.digest()
shaEnc2.digest()
secs = cpuSecs(started)
console.log(`RESULT node-decrypt ${(total / secs / 1e6).toFixed(1)}`)
