// A chat peer for our client: the real legacy client, @adiwajshing/baileys 3.5.3, logged into a
// wa-sim account, exchanges a text and an image with a wa-client session logged into another
// account. Used by crates/wa-client/tests/baileys_chat.rs.
//
//   NODE_EXTRA_CA_CERTS=<sim cert> node legacy-peer.js <wss_url> <control_url> <own_wid> <peer_wid>
//
// The sim serves TLS: Baileys uploads media to https://<mediaConn host>. Prints JSON lines
// (field `event`):
//   open        - logged in as own_wid;
//   text        - the text the peer sent (id, text);
//   image       - the peer's image, downloaded and decrypted here (id, caption, sha256);
//   read        - we marked the chat read;
//   sent_text   - our answer, quoting the peer's text (id, text);
//   sent_image  - our image (id, sha256 of the plaintext);
//   done        - finished; error - something failed (then exit 1).
'use strict'

const crypto = require('crypto')

const [wsUrl, controlUrl, ownWid, peerWid] = process.argv.slice(2)
if (!wsUrl || !controlUrl || !ownWid || !peerWid) {
    console.error('usage: node legacy-peer.js <wss_url> <control_url> <own_wid> <peer_wid>')
    process.exit(2)
}
const wireJid = (jid) => jid.replace('@c.us', '@s.whatsapp.net')
const peer = wireJid(peerWid)

require('@adiwajshing/baileys/lib/WAConnection/Constants').WS_URL = wsUrl
const { WAConnection, MessageType } = require('@adiwajshing/baileys')

const print = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex')

const deadline = (promise, ms, what) => Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)),
])

/// Resolves with the first incoming message from the peer that `accept` takes, whether it comes
/// live (`chat-update`) or with the chats pushed at login (`chats-update`).
function incoming(conn, accept, what) {
    return deadline(new Promise((resolve) => {
        const look = (update) => {
            if (!update.messages || update.jid !== peer) return false
            const found = update.messages.all().find((m) => !m.key.fromMe && m.message && accept(m))
            if (!found) return false
            conn.removeListener('chat-update', one)
            conn.removeListener('chats-update', many)
            resolve(found)
            return true
        }
        const one = (update) => { look(update) }
        const many = (updates) => { updates.some(look) }
        conn.on('chat-update', one)
        conn.on('chats-update', many)
    }), 20000, what)
}

async function main() {
    const conn = new WAConnection()
    conn.logger.level = 'silent'
    conn.connectOptions.logQR = false
    conn.connectOptions.maxRetries = 5
    conn.on('qr', async (qr) => {
        // The simulated phone of `ownWid` scans the QR code.
        const res = await fetch(`${controlUrl}/scan`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ qr, wid: ownWid }),
        }).catch((e) => ({ ok: false, status: String(e) }))
        if (!res.ok) print({ event: 'error', message: `scan refused: ${res.status}` })
    })
    const chats = new Promise((resolve) => conn.once('chats-received', resolve))
    const textOf = (m) => m.message.conversation || (m.message.extendedTextMessage || {}).text
    // Listen before announcing ourselves: the peer starts sending on `open`.
    const text = incoming(conn, (m) => textOf(m) !== undefined && textOf(m) !== null, 'text')
    const image = incoming(conn, (m) => !!m.message.imageMessage, 'image')
    await deadline(conn.connect(), 30000, 'login')
    await deadline(chats, 15000, 'chat list')
    print({ event: 'open', jid: conn.user.jid })

    const gotText = await text
    print({ event: 'text', id: gotText.key.id, text: textOf(gotText) })
    const gotImage = await image
    const bytes = await conn.downloadMediaMessage(gotImage)
    print({
        event: 'image',
        id: gotImage.key.id,
        caption: gotImage.message.imageMessage.caption,
        sha256: sha256(bytes),
    })

    // Mark the chat read: the peer sees its messages read.
    await conn.chatRead(peer)
    print({ event: 'read' })

    const answer = `baileys read: ${textOf(gotText)}`
    const sent = await conn.sendMessage(peer, answer, MessageType.extendedText, { quoted: gotText })
    print({ event: 'sent_text', id: sent.key.id, text: answer })

    // Deterministic content, so a failure reproduces.
    const picture = crypto.createHash('sha512').update('legacy-peer').digest()
    const plain = Buffer.concat(Array.from({ length: 600 }, () => picture))
    const sentImage = await conn.sendMessage(peer, plain, MessageType.image, {
        thumbnail: '',
        caption: 'from baileys',
    })
    print({ event: 'sent_image', id: sentImage.key.id, sha256: sha256(plain) })
    // Let the acks of the last relay settle before closing.
    await new Promise((resolve) => setTimeout(resolve, 300))
    conn.close()
    print({ event: 'done' })
    // Baileys leaves timers behind after close; do not wait for them.
    process.exit(0)
}

main().catch((error) => {
    print({ event: 'error', message: String((error && error.stack) || error) })
    process.exit(1)
})
