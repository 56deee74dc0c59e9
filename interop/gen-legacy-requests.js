// What the real legacy client, @adiwajshing/baileys 3.5.3, sends for each messaging operation:
// the node (as Baileys' JSON form [tag, attrs, content]), the metric and flag bytes and the tag.
// Nothing connects: the connection's send functions are replaced by recorders. Writes
// crates/wa-core/tests/vectors/legacy-requests.json, which crates/wa-core/tests/requests.rs
// compares with wa-core's request builders.
//
//   node gen-legacy-requests.js      (from interop/)
'use strict'

// Fixed time: tags, pin and mute stamps derive from it. `new Date()` without arguments and
// `Date.now()` both give NOW_MS.
const NOW_MS = 1600000000000
const RealDate = Date
global.Date = class extends RealDate {
    constructor(...args) {
        super(...(args.length ? args : [NOW_MS]))
    }
    static now() {
        return NOW_MS
    }
}

const fs = require('fs')
// Fixed message ids too (the description node carries one).
require('@adiwajshing/baileys/lib/WAConnection/Utils').generateMessageID = () => '3EB0DE5C00000001'
const path = require('path')
const { WAConnection, Presence, ChatModification, GroupSettingChange } = require('@adiwajshing/baileys')

const ME = '15550100001@s.whatsapp.net'
const PEER = '15550100002@s.whatsapp.net'
const GROUP = '15550100001-1600000000@g.us'
const ID_MEDIA = '3EB0000000000004'

const conn = new WAConnection()
conn.logger.level = 'silent'
conn.state = 'open'
conn.phoneConnected = true
conn.user = { jid: ME, name: 'me' }
conn.chats.insert({ jid: PEER, t: 1600000000, count: 0 })

let recorded = []
const record = (json, binaryTags, tag) => {
    recorded.push({
        json: JSON.parse(JSON.stringify(json, (k, v) => (v && v.type === 'Buffer' ? { bytes: v.data.length } : v))),
        metric: binaryTags ? binaryTags[0] : null,
        flags: binaryTags ? binaryTags[1] : null,
        tag: tag || null,
    })
}
conn.query = async (q) => {
    record(q.json, q.binaryTags, q.tag)
    return { status: 200, gid: GROUP, code: 'CODE', participants: [] }
}
conn.sendBinary = async (json, binaryTags, tag) => {
    record(json, binaryTags, tag)
    return tag || 'tag'
}
conn.sendJSON = async (json, tag) => {
    record(json, null, tag)
    return tag || 'tag'
}

async function capture(name, run) {
    recorded = []
    try {
        await run()
    } catch (e) {
        // Some calls post-process the fake answer and fail afterwards; what was sent counts.
    }
    if (recorded.length === 0) throw new Error(`${name}: nothing was sent`)
    // The operation's own request comes first (some calls query more afterwards).
    return { op: name, ...recorded[0] }
}

async function main() {
    const key = { remoteJid: PEER, fromMe: false, id: '3EB0000000000001' }
    const ops = []
    const add = async (name, run) => ops.push(await capture(name, run))

    await add('relay', () => conn.relayWAMessage({
        key: { remoteJid: PEER, fromMe: true, id: '3EB0000000000002' },
        message: { conversation: 'hi' },
        messageTimestamp: 1600000000,
    }))
    await add('relay_self', () => conn.relayWAMessage({
        key: { remoteJid: ME, fromMe: true, id: '3EB0000000000003' },
        message: { conversation: 'note to self' },
        messageTimestamp: 1600000000,
    }))
    await add('read', () => conn.sendReadReceipt(PEER, key, 1))
    await add('mark_unread', () => conn.sendReadReceipt(PEER, key, -2))
    await add('read_group', () => conn.sendReadReceipt(GROUP, { remoteJid: GROUP, fromMe: false, id: '3EB0000000000005', participant: PEER }, 1))
    await add('presence_available', () => conn.updatePresence(undefined, Presence.available))
    await add('presence_unavailable', () => conn.updatePresence(undefined, Presence.unavailable))
    await add('presence_composing', () => conn.updatePresence(PEER, Presence.composing))
    await add('presence_recording', () => conn.updatePresence(PEER, Presence.recording))
    await add('presence_paused', () => conn.updatePresence(PEER, Presence.paused))
    await add('presence_subscribe', () => conn.requestPresenceUpdate(PEER))
    await add('pin', () => conn.modifyChat(PEER, ChatModification.pin))
    await add('mute', () => conn.modifyChat(PEER, ChatModification.mute, 8 * 60 * 60 * 1000))
    await add('star', () => conn.starMessage({ ...key, fromMe: true }, 'star'))
    await add('block', () => conn.blockUser(PEER, 'add'))
    await add('unblock', () => conn.blockUser(PEER, 'remove'))
    await add('push_name', () => conn.updateProfileName('Anna'))
    await add('status_text', () => conn.setStatus('busy'))
    await add('group_create', () => conn.groupCreate('Plans', [PEER]))
    await add('group_subject', () => conn.groupUpdateSubject(GROUP, 'New plans'))
    await add('group_add', () => conn.groupAdd(GROUP, [PEER]))
    await add('group_remove', () => conn.groupRemove(GROUP, [PEER]))
    await add('group_promote', () => conn.groupMakeAdmin(GROUP, [PEER]))
    await add('group_demote', () => conn.groupDemoteAdmin(GROUP, [PEER]))
    await add('group_setting', () => conn.groupSettingChange(GROUP, GroupSettingChange.messageSend, true))
    await add('group_description', () => conn.groupUpdateDescription(GROUP, 'about us'))
    await add('group_leave', () => conn.groupLeave(GROUP))
    await add('message_info', () => conn.messageInfo(PEER, '3EB0000000000002'))
    await add('history', () => conn.fetchMessagesFromWA(PEER, 25, { id: '3EB0000000000001', fromMe: false }))
    await add('search', () => conn.searchMessages('hello', PEER, 10, 1))
    await add('media_requery', () => conn.updateMediaMessage({
        key: { remoteJid: PEER, fromMe: false, id: ID_MEDIA },
        message: { imageMessage: { url: 'https://mmg.whatsapp.net/d/f/x.enc' } },
    }))
    await add('exists', () => conn.isOnWhatsApp(PEER))
    await add('status_of', () => conn.getStatus(PEER))
    await add('invite_code', () => conn.groupInviteCode(GROUP))
    await add('invite_reset', () => conn.revokeInvite(GROUP))
    await add('join_by_code', () => conn.acceptInvite('CODE'))

    const out = path.join(__dirname, '../crates/wa-core/tests/vectors/legacy-requests.json')
    fs.mkdirSync(path.dirname(out), { recursive: true })
    fs.writeFileSync(out, JSON.stringify({ generator: 'interop/gen-legacy-requests.js', baileys: '3.5.3', ops }, null, 1) + '\n')
    console.log(`wrote ${ops.length} operations to ${out}`)
}

main().catch((e) => {
    console.error(e)
    process.exit(1)
})
