// Drives the real legacy client, @adiwajshing/baileys 3.5.3, through messaging against a wa-sim
// server and prints what it saw as JSON lines on stdout (one object per line, field `event`).
//
//   node legacy-chat.js <wss_url> <control_url> <echo_jid> <group_jid> <friend_jid> <other_jid>
//
// The sim must serve TLS (Baileys uploads media to https://<mediaConn host>); trust its
// certificate with NODE_EXTRA_CA_CERTS=<cert.pem>.
//
// Steps: log in by QR; send a text to the echo contact and wait for its delivered/read acks and
// its echo; send an image (Baileys encrypts it and uploads it to the sim's media host), receive
// the echoed image and decrypt it; expire the sim's media URLs and download it again (Baileys
// re-queries the URL); query history, message info, search, group metadata, presence; archive,
// pin and mute the echo chat; create a group; change the profile, block and unblock <friend>,
// administer the group (subject, description, add and remove <other>, promote and demote
// <friend>, announce-only, invite codes, leave); then the faults: the sim drops the connection
// before acking a relay (Baileys reconnects and resends; the sim must ack without delivering
// twice), and the sim delivers the next message twice (Baileys must keep one).
'use strict'

const crypto = require('crypto')

// Pair mode: two Baileys clients logged into two accounts of the same sim talk to each other.
//
//   node legacy-chat.js pair <wss_url> <control_url> <wid_a> <wid_b>
//
// A sends B a text; B answers quoting it; B reads the chat and A sees its message read; A sends B
// an image, which B downloads and decrypts.
const pairMode = process.argv[2] === 'pair'
const args = process.argv.slice(pairMode ? 3 : 2)
const [wsUrl, controlUrl, echoJidCus, groupJid, friendJidCus, otherJidCus] = args
if (!wsUrl || !controlUrl || !echoJidCus || !groupJid || (!pairMode && !(friendJidCus && otherJidCus))) {
    console.error('usage: node legacy-chat.js <ws_url> <control_url> <echo_jid> <group_jid> <friend_jid> <other_jid>')
    console.error('       node legacy-chat.js pair <ws_url> <control_url> <wid_a> <wid_b>')
    process.exit(2)
}
const toWa = (jid) => jid.replace('@c.us', '@s.whatsapp.net')
const echoJid = toWa(echoJidCus)
const friendJid = pairMode ? null : toWa(friendJidCus)

require('@adiwajshing/baileys/lib/WAConnection/Constants').WS_URL = wsUrl
const { WAConnection, MessageType, ChatModification } = require('@adiwajshing/baileys')

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

// The timer is unref'd so that a pending timeout does not keep the process alive after `done`.
const withTimeout = (promise, ms, what) => Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms).unref()),
])

/// Resolves with the first value `pick` returns for a chat update (checked on every update:
/// `chat-update` for live messages, `chats-update` for the recent messages pushed at login).
function waitForUpdate(conn, pick, ms, what) {
    return withTimeout(new Promise((resolve) => {
        const check = (update) => {
            const value = pick(update)
            if (value !== undefined) {
                conn.removeListener('chat-update', one)
                conn.removeListener('chats-update', many)
                resolve(value)
                return true
            }
            return false
        }
        const one = (update) => { check(update) }
        const many = (updates) => { updates.some(check) }
        conn.on('chat-update', one)
        conn.on('chats-update', many)
    }), ms, what)
}

const messagesOf = (update) => (update.messages ? update.messages.all() : [])

async function main() {
    const conn = new WAConnection()
    conn.logger.level = 'silent'
    conn.connectOptions.logQR = false
    conn.connectOptions.maxRetries = 5
    conn.autoReconnect = 1 // ReconnectMode.onConnectionLost
    const chatsReceived = new Promise((resolve) => conn.once('chats-received', resolve))
    const contactsReceived = new Promise((resolve) => conn.once('contacts-received', resolve))
    conn.on('qr', (qr) => {
        control('/scan', { qr }).catch((e) => print({ event: 'error', message: `scan: ${e.message}` }))
    })
    // Every status change and presence Baileys applied, as it applied them.
    conn.on('chat-update', (update) => {
        for (const m of messagesOf(update)) {
            if (m.key.fromMe) print({ event: 'status', id: m.key.id, status: m.status })
        }
        if (update.presences) {
            for (const [jid, p] of Object.entries(update.presences)) {
                print({ event: 'presence', jid, presence: p.lastKnownPresence })
            }
        }
    })
    await withTimeout(conn.connect(), 30000, 'open')
    await withTimeout(Promise.all([chatsReceived, contactsReceived]), 15000, 'chats and contacts')
    print({
        event: 'open',
        jid: conn.user.jid,
        chats: conn.chats.all().map((c) => c.jid),
        contacts: Object.keys(conn.contacts),
    })

    // 1. Text to the echo contact: acks and the echo.
    const echoed = (text, ms = 10000) => waitForUpdate(conn, (u) => messagesOf(u).find((m) =>
        !m.key.fromMe && u.jid === echoJid && m.message &&
        (m.message.conversation || (m.message.extendedTextMessage || {}).text) === text), ms, `echo of ${text}`)
    const readAck = (id) => waitForUpdate(conn, (u) => messagesOf(u).find((m) =>
        m.key.fromMe && m.key.id === id && m.status >= 4), 10000, `read ack of ${id}`)
    const text = 'hello echo'
    const textEcho = echoed(text)
    const sent = await conn.sendMessage(echoJid, text, MessageType.text)
    print({ event: 'text_sent', id: sent.key.id, status: sent.status })
    const textRead = readAck(sent.key.id)
    const echo = await textEcho
    await textRead
    print({ event: 'text_echo', id: echo.key.id, text: echo.message.conversation, remoteJid: echo.key.remoteJid })

    // 2. An image: encrypted and uploaded by Baileys, echoed back, downloaded and decrypted.
    const image = crypto.randomBytes(50000)
    const imageEcho = waitForUpdate(conn, (u) => messagesOf(u).find((m) =>
        !m.key.fromMe && u.jid === echoJid && m.message && m.message.imageMessage), 10000, 'image echo')
    const sentImage = await conn.sendMessage(echoJid, image, MessageType.image, { thumbnail: '', caption: 'a picture' })
    print({ event: 'image_sent', id: sentImage.key.id, url: sentImage.message.imageMessage.url })
    const echoedImage = await imageEcho
    const downloaded = await conn.downloadMediaMessage(echoedImage)
    print({
        event: 'image_echo',
        id: echoedImage.key.id,
        caption: echoedImage.message.imageMessage.caption,
        sha256: sha256(downloaded),
        original: sha256(image),
    })
    // Expired URL: the download gets 404; a `media` query gives a new URL; download again.
    // (Baileys 3.5.3 means to do this itself, but its got stream rejects with got's HTTPError,
    // not the BaileysError{status:404} it checks for, so the script does the re-query.)
    await control('/config', { expire_media_urls: true })
    const oldUrl = echoedImage.message.imageMessage.url
    let expiredStatus = null
    try {
        await conn.downloadMediaMessage(echoedImage)
    } catch (error) {
        expiredStatus = (error.response && error.response.statusCode) || error.status || null
    }
    await conn.updateMediaMessage(echoedImage)
    const again = await conn.downloadMediaMessage(echoedImage)
    print({
        event: 'image_requery',
        expired_status: expiredStatus,
        sha256: sha256(again),
        url_changed: echoedImage.message.imageMessage.url !== oldUrl,
    })

    // 3. Queries.
    const history = await conn.fetchMessagesFromWA(echoJid, 10)
    print({ event: 'history', ids: history.map((m) => m.key.id), fromMe: history.map((m) => !!m.key.fromMe) })
    // The two before the newest (the image's echo).
    const older = await conn.fetchMessagesFromWA(echoJid, 2, { id: history[history.length - 1].key.id, fromMe: false })
    print({ event: 'history_before', ids: older.map((m) => m.key.id) })
    const info = await conn.messageInfo(echoJid, sent.key.id)
    print({ event: 'message_info', reads: info.reads.map((r) => r.jid), deliveries: info.deliveries.map((r) => r.jid) })
    const found = await conn.searchMessages('hello', null, 10, 1)
    print({ event: 'search', ids: found.messages.map((m) => m.key.id), last: found.last })
    const meta = await conn.groupMetadata(groupJid)
    print({ event: 'group_metadata', id: meta.id, subject: meta.subject, owner: meta.owner, participants: meta.participants.map((p) => p.id) })
    const exists = await conn.isOnWhatsApp(echoJid)
    print({ event: 'exists', exists: !!(exists && exists.exists) })
    await conn.requestPresenceUpdate(echoJid)
    await conn.chatRead(echoJid)

    // 4. Chat operations and a group.
    await conn.modifyChat(echoJid, ChatModification.archive)
    await conn.modifyChat(echoJid, ChatModification.pin)
    await conn.modifyChat(echoJid, ChatModification.mute, 8 * 60 * 60 * 1000)
    await conn.modifyChat(echoJid, ChatModification.unmute)
    print({ event: 'chat_ops' })
    const created = await conn.groupCreate('Sim Created', [friendJid])
    const createdMeta = await conn.groupMetadata(created.gid)
    print({ event: 'group_created', gid: created.gid, subject: createdMeta.subject, participants: createdMeta.participants.map((p) => p.id) })

    // 4b. Profile, blocklist and group administration, as Baileys sends them.
    const renamed = await conn.updateProfileName('Renamed Phone')
    await conn.setStatus('busy with the sim')
    const ownStatus = await conn.getStatus()
    // jimp comes with Baileys (it makes the profile picture's preview), in Baileys' own node_modules.
    const Jimp = require(require.resolve('jimp', { paths: [require.resolve('@adiwajshing/baileys')] }))
    const picture = await (await new Jimp(64, 64, 0x3366ccff)).getBufferAsync(Jimp.MIME_JPEG)
    const pictureSet = await conn.updateProfilePicture(conn.user.jid, picture)
    const pictureUrl = await conn.getProfilePicture()
    await conn.blockUser(friendJid, 'add')
    const blockedThen = [...conn.blocklist]
    await conn.blockUser(friendJid, 'remove')
    print({
        event: 'profile',
        pushname: renamed.pushname,
        status: ownStatus.status,
        eurl: pictureSet.eurl,
        picture_url: pictureUrl,
        blocked: blockedThen,
        blocked_after: conn.blocklist,
    })
    const carol = toWa(otherJidCus)
    await conn.groupUpdateSubject(created.gid, 'Renamed Group')
    await conn.groupUpdateDescription(created.gid, 'what we do')
    await conn.groupAdd(created.gid, [carol])
    await conn.groupMakeAdmin(created.gid, [friendJid])
    await conn.groupDemoteAdmin(created.gid, [friendJid])
    await conn.groupRemove(created.gid, [carol])
    await conn.groupSettingChange(created.gid, 'announcement', true)
    const code = await conn.groupInviteCode(created.gid)
    const reset = await conn.revokeInvite(created.gid)
    const adminMeta = await conn.fetchGroupMetadataFromWA(created.gid)
    await conn.groupLeave(created.gid)
    print({
        event: 'group_admin',
        gid: created.gid,
        subject: adminMeta.subject,
        desc: adminMeta.desc,
        announce: adminMeta.announce,
        participants: adminMeta.participants.map((p) => ({ id: p.id, admin: p.isAdmin })),
        code,
        reset_code: reset.code,
        carol,
    })

    // 5. Fault: the connection drops after the relay, before the ack. Baileys reconnects and
    // resends the same id; the sim acks it again and the echo answers once.
    await control('/fault', { drop_next_relay_ack: true })
    const resendText = 'sent through a dropped connection'
    // The echo may come live or, if it arrived while Baileys was reconnecting, with the recent
    // messages pushed after its login.
    const resendEcho = echoed(resendText, 90000)
    const resent = await withTimeout(conn.sendMessage(echoJid, resendText, MessageType.text), 60000, 'resend after drop')
    await resendEcho
    print({ event: 'resent', id: resent.key.id, status: resent.status })

    // 6. Fault: the next delivery comes twice; Baileys keeps one copy.
    await control('/fault', { duplicate_next_delivery: true })
    const dupText = 'delivered twice'
    const dupEcho = echoed(dupText)
    await conn.sendMessage(echoJid, dupText, MessageType.text)
    await dupEcho
    await new Promise((r) => setTimeout(r, 500))
    const chat = conn.chats.get(echoJid)
    const copies = chat.messages.all().filter((m) => !m.key.fromMe && m.message &&
        (m.message.conversation || (m.message.extendedTextMessage || {}).text) === dupText).length
    const resendCopies = chat.messages.all().filter((m) => !m.key.fromMe && m.message &&
        (m.message.conversation || (m.message.extendedTextMessage || {}).text) === resendText).length
    print({ event: 'dedupe', copies, resendCopies })

    conn.close()
    print({ event: 'done' })
}

async function openAs(wid) {
    const conn = new WAConnection()
    conn.logger.level = 'silent'
    conn.connectOptions.logQR = false
    conn.connectOptions.maxRetries = 5
    const chatsReceived = new Promise((resolve) => conn.once('chats-received', resolve))
    conn.on('qr', (qr) => {
        control('/scan', { qr, wid }).catch((e) => print({ event: 'error', message: `scan: ${e.message}` }))
    })
    await withTimeout(conn.connect(), 30000, `open as ${wid}`)
    await withTimeout(chatsReceived, 15000, 'chats')
    return conn
}

const incomingIn = (conn, jid, pick, what) => waitForUpdate(conn, (u) => messagesOf(u).find((m) =>
    !m.key.fromMe && u.jid === jid && m.message && pick(m)), 10000, what)

async function pair() {
    const [accountA, accountB] = args.slice(2)
    const widA = toWa(accountA)
    const widB = toWa(accountB)
    const a = await openAs(accountA)
    const b = await openAs(accountB)
    print({ event: 'pair_open', a: a.user.jid, b: b.user.jid })

    const textOf = (m) => m.message.conversation || (m.message.extendedTextMessage || {}).text
    const hello = 'hello from A'
    const atB = incomingIn(b, widA, (m) => textOf(m) === hello, 'text at B')
    const sent = await a.sendMessage(widB, hello, MessageType.text)
    const got = await atB
    print({ event: 'b_received', id: got.key.id, sent_id: sent.key.id, text: textOf(got), pushName: got.pushName })

    const answer = 'hello back from B'
    const atA = incomingIn(a, widB, (m) => textOf(m) === answer, 'reply at A')
    await b.sendMessage(widA, answer, MessageType.extendedText, { quoted: got })
    const reply = await atA
    const context = reply.message.extendedTextMessage.contextInfo || {}
    print({ event: 'a_received', text: textOf(reply), quoted_id: context.stanzaId })

    const readAtA = waitForUpdate(a, (u) => messagesOf(u).find((m) =>
        m.key.fromMe && m.key.id === sent.key.id && m.status >= 4), 10000, 'read at A')
    await b.chatRead(widA)
    const read = await readAtA
    print({ event: 'a_read', id: read.key.id, status: read.status })

    const image = crypto.randomBytes(30000)
    const imageAtB = incomingIn(b, widA, (m) => !!m.message.imageMessage, 'image at B')
    await a.sendMessage(widB, image, MessageType.image, { thumbnail: '' })
    const gotImage = await imageAtB
    const bytes = await b.downloadMediaMessage(gotImage)
    print({ event: 'b_image', sha256: sha256(bytes), original: sha256(image) })
    a.close()
    b.close()
    print({ event: 'done' })
}

// Exit explicitly: a closed Baileys 3.5.3 connection can leave a timer or socket that keeps
// Node alive, and the test waits for this process to end.
(pairMode ? pair() : main()).then(() => process.exit(0), (error) => {
    print({ event: 'error', message: String(error && error.stack || error) })
    process.exit(1)
})
