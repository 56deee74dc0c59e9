// An unmodified @adiwajshing/baileys 3.5.3 sends an image through `wa sim --tls`, the command
// line's simulator, and gets it back from the echo contact.
//
//   NODE_EXTRA_CA_CERTS=<the CA file wa sim printed> node legacy-sim-image.js <wss_url> <control_url> <echo_jid>
//
// Baileys is pointed at the sim by its WebSocket URL only; its media hosts come from the sim's
// mediaConn answer (127.0.0.1:<port>), where Baileys uploads over https:// (it knows no other
// scheme), so the CA must be trusted. Steps: log in by QR (the sim's phone scans it through the
// control API, also over https), send an image (Baileys encrypts and uploads it), wait for the
// echo's image, download and decrypt it. Prints JSON lines (field `event`): open, image_sent,
// image_echo, done; on failure {event: "error", message}.
'use strict'

const crypto = require('crypto')

const [wsUrl, controlUrl, echoJidCus] = process.argv.slice(2)
if (!wsUrl || !controlUrl || !echoJidCus) {
    console.error('usage: node legacy-sim-image.js <wss_url> <control_url> <echo_jid>')
    process.exit(2)
}
const echoJid = echoJidCus.replace('@c.us', '@s.whatsapp.net')

require('@adiwajshing/baileys/lib/WAConnection/Constants').WS_URL = wsUrl
const { WAConnection, MessageType } = require('@adiwajshing/baileys')

const print = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex')

async function control(path, body) {
    const res = await fetch(`${controlUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
    })
    const json = await res.json().catch(() => ({}))
    if (!res.ok) throw new Error(`${path} -> ${res.status} ${JSON.stringify(json)}`)
    return json
}

const withTimeout = (promise, ms, what) => Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms).unref()),
])

async function main() {
    const conn = new WAConnection()
    conn.logger.level = 'silent'
    conn.connectOptions.logQR = false
    conn.connectOptions.maxRetries = 2
    conn.on('qr', (qr) => {
        control('/scan', { qr }).catch((e) => print({ event: 'error', message: `scan: ${e.message}` }))
    })
    await withTimeout(conn.connect(), 30000, 'open')
    print({ event: 'open', jid: conn.user.jid })

    const image = crypto.randomBytes(60000)
    const echoed = withTimeout(new Promise((resolve) => {
        conn.on('chat-update', (update) => {
            const messages = update.messages ? update.messages.all() : []
            const found = messages.find((m) => !m.key.fromMe && update.jid === echoJid && m.message && m.message.imageMessage)
            if (found) resolve(found)
        })
    }), 15000, 'the echoed image')
    const sent = await conn.sendMessage(echoJid, image, MessageType.image, { thumbnail: '', caption: 'through wa sim' })
    const info = sent.message.imageMessage
    print({
        event: 'image_sent',
        id: sent.key.id,
        url: info.url,
        fileSha256: Buffer.from(info.fileSha256).toString('hex'),
        original: sha256(image),
    })
    const echo = await echoed
    const downloaded = await conn.downloadMediaMessage(echo)
    print({
        event: 'image_echo',
        id: echo.key.id,
        url: echo.message.imageMessage.url,
        caption: echo.message.imageMessage.caption,
        sha256: sha256(downloaded),
    })
    conn.close()
    print({ event: 'done' })
}

main().then(() => process.exit(0)).catch((error) => {
    print({ event: 'error', message: String(error && error.stack || error) })
    process.exit(1)
})
