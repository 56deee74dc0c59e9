// Drives the real legacy client, @adiwajshing/baileys 3.5.3, against a wa-sim server and prints
// what it saw as JSON lines on stdout (one object per line, field `event`).
//
//   node legacy-login.js <ws_url> <control_url>
//
// For a wss:// sim with a self-signed certificate, trust it with NODE_EXTRA_CA_CERTS=<cert.pem>.
//
// Phases:
//   0. "exhausted": nobody scans; with short-lived refs Baileys asks for new ones (reref) until
//                   the sim refuses with 429 and Baileys gives up. Prints the refs it showed.
//   1. "qr":        new login; on each QR the script asks the simulated phone to scan it
//                   (POST <control_url>/scan). Prints the keys Baileys derived from `secret`.
//   2. "restore":   reconnect with the saved auth info (takeover, no challenge).
//   3. "challenge": the sim is switched to challenge restores (POST <control_url>/config);
//                   reconnect again, answering the challenge.
//   4. "replaced":  a second client takes the session over while phase 3's is open; the first
//                   one must be told it was replaced.
//   5. "logout":    logout() (goodbye); once the sim's events show the session ended, a restore
//                   with the old tokens must be refused.
// After "open" in phases 1-3 it waits for the contacts and chats the sim sends as encrypted
// binary frames and prints them as Baileys decoded them.
'use strict'

const [wsUrl, controlUrl] = process.argv.slice(2)
if (!wsUrl || !controlUrl) {
    console.error('usage: node legacy-login.js <ws_url> <control_url>')
    process.exit(2)
}

// Baileys reads this module constant when it connects.
require('@adiwajshing/baileys/lib/WAConnection/Constants').WS_URL = wsUrl
const { WAConnection } = require('@adiwajshing/baileys')

const print = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

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

// The sim's event log (GET <control_url>/events), polled until `logged_out` for `clientId`.
async function sessionEnded(clientId) {
    for (;;) {
        const res = await fetch(`${controlUrl}/events`)
        if (!res.ok) throw new Error(`/events -> ${res.status}`)
        const ended = (await res.json())
            .find((e) => e.event === 'logged_out' && e.client_id === clientId)
        if (ended) return ended
        await new Promise((resolve) => setTimeout(resolve, 20))
    }
}

function newConnection() {
    const conn = new WAConnection()
    conn.logger.level = 'silent'
    conn.connectOptions.logQR = false
    conn.connectOptions.maxRetries = 1
    // Resolve when the sim's encrypted contacts and chats have been decoded.
    conn.received = {
        contacts: new Promise((resolve) => conn.once('contacts-received', () => resolve())),
        chats: new Promise((resolve) => conn.once('chats-received', () => resolve())),
    }
    return conn
}

const withTimeout = (promise, ms, what) => Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)),
])

async function openAndReport(conn, phase) {
    const result = await withTimeout(conn.connect(), 30000, `${phase} open`)
    const auth = conn.base64EncodedAuthInfo()
    print({
        event: 'open',
        phase,
        newConnection: !!result.newConnection,
        jid: conn.user.jid,
        name: conn.user.name,
        clientID: auth.clientID,
        clientToken: auth.clientToken,
        serverToken: auth.serverToken,
        encKey: auth.encKey,
        macKey: auth.macKey,
    })
    await withTimeout(Promise.all([conn.received.contacts, conn.received.chats]), 15000, `${phase} data`)
    print({
        event: 'data',
        phase,
        contacts: Object.values(conn.contacts).map((c) => ({ jid: c.jid, name: c.name, notify: c.notify, short: c.short })),
        chats: conn.chats.all().map((c) => ({ jid: c.jid, name: c.name, t: c.t, count: c.count, archive: c.archive === 'true' })),
    })
    return auth
}

async function main() {
    // 0. Refs run out: five rerefs, then 429.
    await control('/config', { ref_ttl_ms: 300, reref_min_interval_ms: 0 })
    const unscanned = newConnection()
    const refs = []
    unscanned.on('qr', (qr) => refs.push(qr.split(',')[0]))
    try {
        await withTimeout(unscanned.connect(), 30000, 'refs to run out')
        print({ event: 'error', message: 'connected without a scan' })
    } catch (error) {
        print({ event: 'exhausted', refs, message: String(error.message) })
    }
    await control('/config', { ref_ttl_ms: 20000, reref_min_interval_ms: 1000 })

    // 1. New login by QR.
    const first = newConnection()
    let qrCount = 0
    first.on('qr', (qr) => {
        qrCount += 1
        print({ event: 'qr', ref: qr.split(',')[0] })
        control('/scan', { qr }).catch((e) => print({ event: 'scan_error', message: e.message }))
    })
    let auth = await openAndReport(first, 'qr')
    first.close()

    // 2. Restore by takeover.
    const second = newConnection()
    second.loadAuthInfo(auth)
    auth = await openAndReport(second, 'restore')
    second.close()

    // 3. Restore through a challenge.
    await control('/config', { challenge_on_restore: true })
    const third = newConnection()
    third.loadAuthInfo(auth)
    auth = await openAndReport(third, 'challenge')

    // 4. Another client takes the session over; the open one is told it was replaced.
    const replacedReason = new Promise((resolve) => third.on('close', ({ reason }) => resolve(reason)))
    await control('/config', { challenge_on_restore: false })
    const fourth = newConnection()
    fourth.loadAuthInfo(auth)
    await withTimeout(fourth.connect(), 30000, 'takeover open')
    const reason = await withTimeout(replacedReason, 10000, 'replaced close')
    print({ event: 'replaced', reason })
    auth = fourth.base64EncodedAuthInfo()
    const fourthId = auth.clientID

    // 5. Logout, then the old tokens must be refused. Baileys writes `goodbye` and closes its
    // socket; nothing answers a goodbye, so the restore below waits until the sim has handled it
    // (a new connection's login can otherwise be read before the old socket's last frame).
    await fourth.logout()
    const logout = await withTimeout(sessionEnded(fourthId), 10000, 'the sim to handle goodbye')
    print({ event: 'logged_out', via: logout.via })
    const fifth = newConnection()
    fifth.loadAuthInfo(auth)
    try {
        await withTimeout(fifth.connect(), 30000, 'refused restore')
        print({ event: 'error', message: 'restore after logout succeeded' })
        fifth.close()
    } catch (error) {
        print({ event: 'restore_refused', status: error.status || null, message: String(error.message) })
    }
    print({ event: 'done', qrCount })
}

main().then(
    () => process.exit(0),
    (error) => {
        print({ event: 'error', message: String(error && error.stack || error) })
        process.exit(1)
    },
)
