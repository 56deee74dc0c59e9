// Live media interop peer for wa-media's tests: Baileys 7 encrypts and decrypts files.
//
//   node media-peer.mjs <jobs.json>
//
// jobs.json: [{op: "encrypt", type, plain, out} | {op: "decrypt", type, body, mediaKey, out}]
// (paths absolute, mediaKey base64). Encrypt uses Baileys' encryptedStream and copies the
// body to `out`; decrypt serves `body` from a local HTTP server and downloads it with
// downloadContentFromMessage, writing the plaintext to `out`. Prints one JSON result per job
// as a JSON array on stdout; a failing job reports {error} instead of stopping the run.
import { readFile, writeFile, copyFile, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import { encryptedStream, downloadContentFromMessage } from 'baileys'

const jobs = JSON.parse(await readFile(process.argv[2], 'utf8'))
const bodies = new Map()
const server = createServer(async (req, res) => {
  const path = bodies.get(req.url)
  if (!path) {
    res.writeHead(404).end()
    return
  }
  const data = await readFile(path)
  res.writeHead(200, { 'content-length': data.length }).end(data)
})
await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
const port = server.address().port

const results = []
for (const [index, job] of jobs.entries()) {
  try {
    if (job.op === 'encrypt') {
      const enc = await encryptedStream({ url: job.plain }, job.type)
      await copyFile(enc.encFilePath, job.out)
      await rm(enc.encFilePath, { force: true })
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
      const stream = await downloadContentFromMessage(
        { mediaKey: Buffer.from(job.mediaKey, 'base64'), url: `http://127.0.0.1:${port}${route}` },
        job.type
      )
      const chunks = []
      for await (const chunk of stream) chunks.push(chunk)
      const plain = Buffer.concat(chunks)
      await writeFile(job.out, plain)
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
