// Live media interop peer for wa-media's tests: legacy Baileys 3.5.3 encrypts and decrypts.
//
//   node media-peer-legacy.js <jobs.json>
//
// Same job format as media-peer.mjs, with Baileys 3.5.3 message types ("documentMessage",
// "videoMessage", ...). Encrypt uses encryptedStream; decrypt serves the body over local HTTP
// and reads it back through decryptMediaMessageBuffer, the path Baileys 3.5.3's
// downloadMediaMessage takes.
const fs = require('fs')
const http = require('http')
const { encryptedStream, decryptMediaMessageBuffer } = require('@adiwajshing/baileys')

async function main () {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
  const bodies = new Map()
  const server = http.createServer((req, res) => {
    const path = bodies.get(req.url)
    if (!path) {
      res.writeHead(404).end()
      return
    }
    const data = fs.readFileSync(path)
    res.writeHead(200, { 'content-length': data.length }).end(data)
  })
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = server.address().port
  const results = []
  for (const [index, job] of jobs.entries()) {
    try {
      if (job.op === 'encrypt') {
        const enc = await encryptedStream({ url: job.plain }, job.type, false)
        // encryptedStream resolves before its write stream has flushed; wait for the whole body.
        const want = (Math.floor(enc.fileLength / 16) + 1) * 16 + 10
        for (let i = 0; i < 500 && (!fs.existsSync(enc.encBodyPath) || fs.statSync(enc.encBodyPath).size < want); i++) {
          await new Promise(resolve => setTimeout(resolve, 10))
        }
        fs.copyFileSync(enc.encBodyPath, job.out)
        fs.rmSync(enc.encBodyPath, { force: true })
        results.push({
          mediaKey: Buffer.from(enc.mediaKey).toString('base64'),
          fileSha256: Buffer.from(enc.fileSha256).toString('base64'),
          fileEncSha256: Buffer.from(enc.fileEncSha256).toString('base64'),
          mac: Buffer.from(enc.mac).toString('base64'),
          fileLength: enc.fileLength
        })
      } else if (job.op === 'decrypt') {
        const route = `/media/${index}.enc`
        bodies.set(route, job.body)
        const message = { [job.type]: { url: `http://127.0.0.1:${port}${route}`, mediaKey: job.mediaKey } }
        const stream = await decryptMediaMessageBuffer(message)
        const chunks = []
        for await (const chunk of stream) chunks.push(chunk)
        const plain = Buffer.concat(chunks)
        fs.writeFileSync(job.out, plain)
        results.push({ length: plain.length })
      } else {
        results.push({ error: `unknown op ${job.op}` })
      }
    } catch (error) {
      results.push({ error: String(error && error.message ? error.message : error) })
    }
  }
  server.close()
  process.stdout.write(JSON.stringify(results))
}

main().catch(error => {
  console.error(error)
  process.exit(1)
})
