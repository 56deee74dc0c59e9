// Hands a legacy session between our client (wa-client) and the real legacy client,
// @adiwajshing/baileys 3.5.3, on a wa-sim server. Used by crates/wa-client/tests/e2e.rs.
//
//   node legacy-handoff.js <ws_url>
//
// Reads one JSON line on stdin: the session as Baileys stores it (`base64EncodedAuthInfo()`:
// clientID, serverToken, clientToken, encKey, macKey), as written by our client. Baileys restores
// it by takeover and prints JSON lines on stdout (field `event`):
//   open  - logged in: its jid and the auth info it now holds (tokens may have been rotated);
//   data  - the jids of the contacts and chats it decrypted from the server's binary frames;
//   close - the server closed the connection (e.g. reason "replaced" when our client takes the
//           session back); then the script exits.
'use strict'

const readline = require('readline')

const [wsUrl] = process.argv.slice(2)
if (!wsUrl) {
    console.error('usage: node legacy-handoff.js <ws_url>  (auth info JSON on stdin)')
    process.exit(2)
}

// Baileys reads this module constant when it connects.
require('@adiwajshing/baileys/lib/WAConnection/Constants').WS_URL = wsUrl
const { WAConnection, ReconnectMode } = require('@adiwajshing/baileys')

const print = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const withTimeout = (promise, ms, what) => Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)),
])

async function firstLine() {
    const rl = readline.createInterface({ input: process.stdin })
    for await (const line of rl) {
        rl.close()
        return line
    }
    throw new Error('no auth info on stdin')
}

async function main() {
    const auth = JSON.parse(await firstLine())
    const conn = new WAConnection()
    conn.logger.level = 'silent'
    conn.connectOptions.logQR = false
    conn.connectOptions.maxRetries = 1
    conn.autoReconnect = ReconnectMode.off
    const contacts = new Promise((resolve) => conn.once('contacts-received', () => resolve()))
    const chats = new Promise((resolve) => conn.once('chats-received', () => resolve()))
    const closed = new Promise((resolve) => conn.on('close', ({ reason }) => resolve(reason)))
    conn.loadAuthInfo(auth)
    await withTimeout(conn.connect(), 30000, 'open')
    print({ event: 'open', jid: conn.user.jid, ...conn.base64EncodedAuthInfo() })
    await withTimeout(Promise.all([contacts, chats]), 15000, 'contacts and chats')
    print({
        event: 'data',
        contacts: Object.keys(conn.contacts).sort(),
        chats: conn.chats.all().map((c) => c.jid).sort(),
    })
    const reason = await withTimeout(closed, 60000, 'close')
    print({ event: 'close', reason })
}

main().then(
    () => process.exit(0),
    (error) => {
        print({ event: 'error', message: String(error && error.stack || error) })
        process.exit(1)
    },
)
