// wa web: a WhatsApp Web-like client over wa serve's WAHA-style API. No build step.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  key: null,
  session: null,        // current session name
  sessions: [],         // session objects
  chat: null,           // open chat id
  chats: [],            // overview of the current session
  typing: {},           // chatId -> expiry time (ms)
  qrValue: null,        // the QR code shown now
  ws: null,
  typingSent: 0,
  typingTimer: null,
  blobs: new Map(),     // media URL -> object URL
  contacts: {},         // JID -> name, for group message authors and the search
  stick: true,          // the open conversation follows its newest message
  readerScrolledAt: -Infinity, // when the reader last scrolled the message list themselves
};

// ----- API ----------------------------------------------------------------------------------

async function api(path, options = {}) {
  const headers = Object.assign({ 'X-Api-Key': state.key }, options.headers || {});
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    showKeyPage('That key was refused.');
    throw new Error('unauthorized');
  }
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).message || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  const type = response.headers.get('content-type') || '';
  if (type.includes('application/json')) return response.json();
  return response.blob();
}

const enc = encodeURIComponent;

// ----- Pages --------------------------------------------------------------------------------

function show(page) {
  for (const id of ['key-page', 'login-page', 'main-page']) $(id).classList.toggle('hidden', id !== page);
}

function showKeyPage(error) {
  show('key-page');
  $('key-error').textContent = error || '';
}

function readKey() {
  const match = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  if (match) {
    const key = decodeURIComponent(match[1]);
    localStorage.setItem('wa-key', key);
    history.replaceState(null, '', location.pathname + location.search);
    return key;
  }
  return localStorage.getItem('wa-key');
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  state.key = $('key-input').value.trim();
  localStorage.setItem('wa-key', state.key);
  boot();
});

// ----- Sessions -----------------------------------------------------------------------------

async function loadSessions() {
  state.sessions = await api('/api/sessions?all=true');
  if (!state.session || !state.sessions.some((s) => s.name === state.session)) {
    const saved = localStorage.getItem('wa-session');
    const working = state.sessions.find((s) => s.status === 'WORKING');
    state.session = (state.sessions.find((s) => s.name === saved) || working || state.sessions[0] || {}).name || null;
  }
  for (const select of document.querySelectorAll('.session-select')) {
    select.innerHTML = '';
    for (const s of state.sessions) {
      const option = document.createElement('option');
      option.value = s.name;
      option.textContent = `${s.name} · ${statusLabel(s.status)}`;
      option.selected = s.name === state.session;
      select.appendChild(option);
    }
  }
}

function statusLabel(status) {
  return { WORKING: 'online', SCAN_QR_CODE: 'scan QR', STARTING: 'starting', STOPPED: 'stopped', FAILED: 'failed' }[status] || status;
}

function current() {
  return state.sessions.find((s) => s.name === state.session);
}

for (const select of document.querySelectorAll('.session-select')) {
  select.addEventListener('change', () => switchSession(select.value));
}

for (const button of document.querySelectorAll('.new-session')) {
  button.addEventListener('click', async () => {
    const name = prompt('Name of the new session (letters, digits, - and _):');
    if (!name) return;
    try {
      await api('/api/sessions', { method: 'POST', json: { name, start: true } });
      await switchSession(name);
    } catch (error) {
      alert(`Cannot create the session: ${error.message}`);
    }
  });
}

async function switchSession(name) {
  state.session = name;
  closeChat();
  state.qrValue = null;
  localStorage.setItem('wa-session', name);
  await render();
}

// ----- Rendering ----------------------------------------------------------------------------

async function render() {
  await loadSessions();
  const session = current();
  if (!session) {
    show('login-page');
    setLogin('No session yet.', false, true);
    return;
  }
  if (session.status === 'WORKING') {
    show('main-page');
    $('main-page').classList.toggle('chat-open', Boolean(state.chat));
    $('me-name').textContent = (session.me && (session.me.pushName || session.me.id)) || session.name;
    $('me-avatar').textContent = initials($('me-name').textContent);
    await renderChats();
    if (state.chat) await renderMessages();
    return;
  }
  show('login-page');
  if (session.status === 'SCAN_QR_CODE') {
    await refreshQr();
  } else if (session.status === 'STARTING') {
    setLogin('Connecting…', false, false);
  } else {
    setLogin(session.status === 'FAILED' ? 'The session failed. Start it again to get a new QR code.' : 'The session is stopped.', false, true);
  }
}

function setLogin(text, qr, startButton) {
  $('login-status').textContent = text;
  $('qr-image').classList.toggle('hidden', !qr);
  $('start-button').classList.toggle('hidden', !startButton);
}

async function refreshQr() {
  try {
    const raw = await api(`/api/${enc(state.session)}/auth/qr?format=raw`);
    if (raw.value !== state.qrValue) {
      const blob = await api(`/api/${enc(state.session)}/auth/qr`, { headers: { Accept: 'image/png' } });
      const old = $('qr-image').src;
      $('qr-image').src = URL.createObjectURL(blob);
      if (old.startsWith('blob:')) URL.revokeObjectURL(old);
      $('qr-image').dataset.value = raw.value;
      state.qrValue = raw.value;
    }
    setLogin('Scan the code with your phone. It refreshes on its own.', true, false);
  } catch (error) {
    setLogin(`Waiting for a QR code… (${error.message})`, false, false);
  }
}

$('start-button').addEventListener('click', async () => {
  const session = current();
  try {
    if (session) await api(`/api/sessions/${enc(session.name)}/start`, { method: 'POST' });
    else await api('/api/sessions', { method: 'POST', json: { name: 'default', start: true } });
  } catch (error) {
    setLogin(`Cannot start: ${error.message}`, false, true);
  }
  await render();
});

function initials(name) {
  return (name || '?').split(/\s+/).map((w) => w[0]).join('').slice(0, 2).toUpperCase();
}

function avatarColor(id) {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h}, 45%, 60%)`;
}

function timeLabel(seconds) {
  if (!seconds) return '';
  const date = new Date(seconds * 1000);
  const today = new Date();
  if (date.toDateString() === today.toDateString()) {
    return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  return date.toLocaleDateString();
}

function ticks(message) {
  if (!message.fromMe) return null;
  const span = document.createElement('span');
  span.className = 'ticks';
  const ack = message.ack || 0;
  span.textContent = ack < 0 ? '!' : ack === 0 ? '◷' : ack === 1 ? '✓' : '✓✓';
  if (ack >= 3) span.classList.add('read');
  span.dataset.ack = String(ack);
  span.title = message.ackName || '';
  return span;
}

function preview(message) {
  if (!message) return '';
  if (message.hasMedia) {
    const kind = message.type === 'image' ? 'Photo' : message.type === 'video' ? 'Video' : message.type === 'ptt' || message.type === 'audio' ? 'Audio' : 'File';
    return message.body ? `${kind} ${message.body}` : kind;
  }
  if (message.location) return 'Location';
  return message.body || '';
}

async function loadContacts() {
  const list = await api(`/api/contacts/all?session=${enc(state.session)}`);
  state.contacts = Object.fromEntries(list.map((c) => [c.id, c.name || c.pushname || c.number]));
  state.contactsOf = state.session;
}

// The chats whose name or number contains `filter`, then (when searching) the contacts that have
// no chat yet, as WhatsApp's search lists them.
function searchResults(filter) {
  const f = filter.trim().toLowerCase();
  const matches = (name, id) => !f || (name || '').toLowerCase().includes(f) || id.includes(f);
  const chats = state.chats.filter((c) => matches(c.name, c.id));
  if (!f) return { chats, contacts: [] };
  const inChats = new Set(state.chats.map((c) => c.id));
  const contacts = Object.entries(state.contacts)
    .filter(([id, name]) => id.endsWith('@c.us') && !inChats.has(id) && matches(name, id))
    .map(([id, name]) => ({ id, name: name || id.split('@')[0] }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return { chats, contacts };
}

function listItem(id, name, onTop, onBottom) {
  const item = document.createElement('li');
  item.className = 'chat-item';
  item.dataset.chatId = id;
  item.dataset.testid = 'chat-item';
  if (id === state.chat) item.classList.add('active');
  const avatar = document.createElement('div');
  avatar.className = 'avatar';
  avatar.style.background = avatarColor(id);
  avatar.textContent = initials(name);
  const text = document.createElement('div');
  text.className = 'text';
  const top = document.createElement('div');
  top.className = 'row';
  const nameSpan = document.createElement('span');
  nameSpan.className = 'name';
  nameSpan.textContent = name;
  top.append(nameSpan);
  const bottom = document.createElement('div');
  bottom.className = 'row';
  onTop(top);
  onBottom(bottom);
  text.append(top, bottom);
  item.append(avatar, text);
  item.addEventListener('click', () => openChat(id));
  return item;
}

async function renderChats() {
  if (state.contactsOf !== state.session || Object.keys(state.contacts).length === 0) {
    await loadContacts().catch(() => {});
  }
  state.chats = await api(`/api/${enc(state.session)}/chats/overview`);
  const { chats, contacts } = searchResults($('search').value);
  const list = $('chat-list');
  list.innerHTML = '';
  for (const chat of chats) {
    const item = listItem(chat.id, chat.name, (top) => {
      const time = document.createElement('span');
      time.className = 'time';
      time.textContent = timeLabel(chat.lastMessage ? chat.lastMessage.timestamp : chat.timestamp);
      top.append(time);
    }, (bottom) => {
      const last = document.createElement('span');
      last.className = 'preview';
      if (isTyping(chat.id)) {
        last.textContent = 'typing…';
        last.classList.add('typing');
      } else {
        const t = chat.lastMessage && ticks(chat.lastMessage);
        if (t) last.append(t, ' ');
        last.append(preview(chat.lastMessage));
      }
      bottom.append(last);
      if (chat.unreadCount > 0) {
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.dataset.testid = 'unread-badge';
        badge.textContent = String(chat.unreadCount);
        bottom.append(badge);
      }
    });
    if (chat.unreadCount > 0) item.classList.add('unread');
    list.appendChild(item);
  }
  if (contacts.length > 0) {
    const heading = document.createElement('li');
    heading.className = 'list-heading';
    heading.textContent = 'Contacts';
    list.appendChild(heading);
  }
  for (const contact of contacts) {
    list.appendChild(listItem(contact.id, contact.name, () => {}, (bottom) => {
      const number = document.createElement('span');
      number.className = 'preview';
      number.textContent = `+${contact.id.split('@')[0]}`;
      bottom.append(number);
    }));
  }
}

$('search').addEventListener('input', () => renderChats());
// Enter opens the first chat or contact the search finds; a phone number (or chat id) that
// finds none starts that chat, as "new chat" does.
$('search').addEventListener('keydown', (event) => {
  if (event.key !== 'Enter') return;
  event.preventDefault();
  const value = $('search').value.trim();
  if (!value) return;
  const { chats, contacts } = searchResults(value);
  let id = (chats[0] || contacts[0] || {}).id;
  if (!id && /^[+\d][\d\s-]*$/.test(value)) id = `${value.replace(/\D/g, '')}@c.us`;
  else if (!id && value.includes('@')) id = value;
  if (!id) return;
  $('search').value = '';
  openChat(id);
});

function chatName(id) {
  const chat = state.chats.find((c) => c.id === id);
  return (chat && chat.name) || state.contacts[id] || id.split('@')[0];
}

// Back to the list (on a narrow screen the only way out of a conversation).
function closeChat() {
  state.chat = null;
  $('main-page').classList.remove('chat-open');
  $('chat').classList.add('hidden');
  $('no-chat').classList.remove('hidden');
  $('messages').replaceChildren();
  delete $('messages').dataset.chat;
}

$('back-button').addEventListener('click', () => {
  closeChat();
  renderChats().catch(() => {});
});

async function openChat(id) {
  if (id !== state.chat) state.stick = true;
  state.chat = id;
  $('main-page').classList.add('chat-open');
  $('no-chat').classList.add('hidden');
  $('chat').classList.remove('hidden');
  const chat = state.chats.find((c) => c.id === id) || {};
  $('chat-name').textContent = chatName(id);
  $('chat-avatar').textContent = initials(chatName(id));
  $('chat-avatar').style.background = avatarColor(id);
  await renderMessages();
  if (chat.unreadCount > 0) {
    api('/api/sendSeen', { method: 'POST', json: { session: state.session, chatId: id } }).catch(() => {});
  }
  await renderChats();
  // The cursor goes to the text field once the chat is shown, unless another chat was opened
  // meanwhile or the reader has begun a new search (the keys meant for it would go astray).
  const searching = document.activeElement === $('search') && $('search').value !== '';
  if (state.chat === id && !searching) $('text-input').focus();
}

async function mediaUrl(url) {
  if (state.blobs.has(url)) return state.blobs.get(url);
  const blob = await api(url);
  const objectUrl = URL.createObjectURL(blob);
  state.blobs.set(url, objectUrl);
  return objectUrl;
}

// What a bubble shows besides its ticks: a bubble is rebuilt only when this changes.
function bubbleKey(message, author) {
  const media = message.media || {};
  return JSON.stringify([message.body, message.timestamp, message.hasMedia, media.url, media.mimetype,
    media.filename, message.location, author]);
}

function buildBubble(message, author, key) {
  const bubble = document.createElement('div');
  bubble.className = `msg ${message.fromMe ? 'out' : 'in'}`;
  bubble.dataset.id = message.id;
  bubble.dataset.key = key;
  bubble.dataset.testid = 'message';
  if (author) {
    const line = document.createElement('div');
    line.className = 'author';
    line.textContent = author;
    bubble.append(line);
  }
  if (message.hasMedia && message.media && message.media.url) {
    if ((message.media.mimetype || '').startsWith('image/')) {
      const img = document.createElement('img');
      img.alt = message.media.filename || 'image';
      img.dataset.testid = 'message-image';
      // An image grows the list when it arrives: keep the newest message in view.
      img.addEventListener('load', () => {
        if (state.stick && img.isConnected) scrollToNewest();
      });
      bubble.append(img);
      mediaUrl(message.media.url).then((src) => { img.src = src; }).catch(() => { img.alt = 'image unavailable'; });
    } else {
      const file = document.createElement('a');
      file.className = 'file';
      file.textContent = `⎙ ${message.media.filename || message.media.mimetype || 'file'}`;
      file.href = '#';
      file.addEventListener('click', async (event) => {
        event.preventDefault();
        const a = document.createElement('a');
        a.href = await mediaUrl(message.media.url);
        a.download = message.media.filename || 'file';
        a.click();
      });
      bubble.append(file);
    }
  }
  if (message.location) {
    bubble.append(`Location: ${message.location.name || ''} ${message.location.latitude}, ${message.location.longitude}`);
  }
  const body = document.createElement('span');
  body.className = 'body';
  body.textContent = message.body || '';
  bubble.append(body);
  const meta = document.createElement('span');
  meta.className = 'meta';
  meta.append(timeLabel(message.timestamp));
  bubble.append(meta);
  return bubble;
}

function setAck(bubble, message) {
  const ack = String(message.ack);
  if (bubble.dataset.ack === ack) return;
  bubble.dataset.ack = ack;
  const meta = bubble.querySelector('.meta');
  const old = meta.querySelector('.ticks');
  if (old) old.remove();
  const t = ticks(message);
  if (t) meta.append(t);
}

function scrollToNewest() {
  const box = $('messages');
  box.scrollTop = box.scrollHeight;
}

// The list follows the newest message until the reader scrolls away from it, and again once they
// scroll back down to it. Only the reader's own scrolling (wheel, touch, keys, the scroll bar)
// stops it: the list also scrolls when its content changes under it (an image's placeholder
// shrinks while it loads, then the image grows it), and such a scroll says nothing.
const readerScrolls = () => { state.readerScrolledAt = performance.now(); };
for (const type of ['wheel', 'touchmove', 'pointerdown']) {
  $('messages').addEventListener(type, readerScrolls, { passive: true });
}
document.addEventListener('keydown', (event) => {
  if (['PageUp', 'PageDown', 'ArrowUp', 'ArrowDown', 'Home', 'End', ' '].includes(event.key)
    && event.target.tagName !== 'INPUT') readerScrolls();
});
$('messages').addEventListener('scroll', () => {
  const box = $('messages');
  if (box.scrollHeight - box.scrollTop - box.clientHeight < 40) state.stick = true;
  else if (performance.now() - state.readerScrolledAt < 1000) state.stick = false;
});
// A resize (the window, or the composer) moves the bottom edge: follow it.
new ResizeObserver(() => {
  if (state.stick && state.chat) scrollToNewest();
}).observe($('messages'));

async function renderMessages() {
  const id = state.chat;
  const messages = (await api(`/api/${enc(state.session)}/chats/${enc(id)}/messages?limit=100`)).reverse();
  if (id !== state.chat) return;
  const name = chatName(id);
  if ($('chat-name').textContent !== name) {
    $('chat-name').textContent = name;
    $('chat-avatar').textContent = initials(name);
  }
  const box = $('messages');
  if (box.dataset.chat !== id) {
    box.replaceChildren();
    box.dataset.chat = id;
    state.stick = true;
  }
  // Unchanged bubbles stay in place (with their loaded images), so the list keeps its height
  // and its scroll position; only new or changed messages are built.
  const old = new Map([...box.children].map((bubble) => [bubble.dataset.id, bubble]));
  const bubbles = messages.map((message) => {
    const author = id.endsWith('@g.us') && !message.fromMe && message.participant
      ? state.contacts[message.participant] || message.participant.split('@')[0]
      : '';
    const key = bubbleKey(message, author);
    const existing = old.get(message.id);
    old.delete(message.id);
    const bubble = existing && existing.dataset.key === key ? existing : buildBubble(message, author, key);
    setAck(bubble, message);
    return bubble;
  });
  bubbles.forEach((bubble, i) => {
    if (box.children[i] !== bubble) box.insertBefore(bubble, box.children[i] || null);
  });
  while (box.children.length > bubbles.length) box.lastElementChild.remove();
  if (state.stick) scrollToNewest();
  renderTyping();
}

function isTyping(chatId) {
  return (state.typing[chatId] || 0) > Date.now();
}

function renderTyping() {
  const sub = $('chat-sub');
  const typing = state.chat && isTyping(state.chat);
  sub.textContent = typing ? 'typing…' : (state.chat && state.chat.endsWith('@g.us') ? 'group' : 'click here for contact info');
  sub.classList.toggle('typing', Boolean(typing));
}

// ----- Sending ------------------------------------------------------------------------------

async function sendText() {
  const input = $('text-input');
  const text = input.value;
  if (!text.trim() || !state.chat) return;
  input.value = '';
  stopTyping();
  try {
    await api('/api/sendText', { method: 'POST', json: { session: state.session, chatId: state.chat, text } });
  } catch (error) {
    alert(`Not sent: ${error.message}`);
    input.value = text;
  }
  await renderMessages();
  await renderChats();
}

$('send-button').addEventListener('click', sendText);
$('text-input').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    sendText();
  }
});

$('text-input').addEventListener('input', () => {
  if (!state.chat) return;
  const now = Date.now();
  if (now - state.typingSent > 5000) {
    state.typingSent = now;
    api('/api/startTyping', { method: 'POST', json: { session: state.session, chatId: state.chat } }).catch(() => {});
  }
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(stopTyping, 3000);
});

function stopTyping() {
  clearTimeout(state.typingTimer);
  if (state.typingSent && state.chat) {
    state.typingSent = 0;
    api('/api/stopTyping', { method: 'POST', json: { session: state.session, chatId: state.chat } }).catch(() => {});
  }
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(',')[1] || '');
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

$('file-input').addEventListener('change', async () => {
  const input = $('file-input');
  const file = input.files && input.files[0];
  input.value = '';
  if (!file || !state.chat) return;
  const data = await readBase64(file);
  const mimetype = file.type || 'application/octet-stream';
  const route = mimetype.startsWith('image/') ? 'sendImage' : mimetype.startsWith('video/') ? 'sendVideo' : 'sendFile';
  const caption = $('text-input').value;
  $('text-input').value = '';
  try {
    await api(`/api/${route}`, {
      method: 'POST',
      json: { session: state.session, chatId: state.chat, caption, file: { mimetype, filename: file.name, data } },
    });
  } catch (error) {
    alert(`Not sent: ${error.message}`);
  }
  await renderMessages();
  await renderChats();
});

// ----- Events -------------------------------------------------------------------------------

let refreshQueued = false;
function queueRefresh() {
  if (refreshQueued) return;
  refreshQueued = true;
  setTimeout(async () => {
    refreshQueued = false;
    try { await render(); } catch (_) { /* shown on the next event */ }
  }, 100);
}

function connectEvents() {
  if (state.ws) state.ws.close();
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/ws?x-api-key=${enc(state.key)}&session=*&events=*`);
  state.ws = ws;
  ws.onmessage = (event) => {
    let data;
    try { data = JSON.parse(event.data); } catch (_) { return; }
    if (data.session !== state.session && data.event !== 'session.status') return;
    if (data.event === 'presence.update') {
      for (const p of data.payload.presences || []) {
        if (p.lastKnownPresence === 'typing' || p.lastKnownPresence === 'recording') state.typing[data.payload.id] = Date.now() + 25000;
        else delete state.typing[data.payload.id];
      }
      renderTyping();
      renderChats().catch(() => {});
      return;
    }
    if (data.event === 'message' && data.payload) {
      delete state.typing[data.payload.from];
      // A message into the open chat is seen at once, as on WhatsApp Web.
      if (data.payload.from === state.chat && !document.hidden) {
        api('/api/sendSeen', { method: 'POST', json: { session: state.session, chatId: state.chat } })
          .then(() => renderChats()).catch(() => {});
      }
    }
    queueRefresh();
  };
  ws.onclose = () => {
    if (state.ws === ws) setTimeout(connectEvents, 2000);
  };
}

// A slow poll covers missed events (and the QR code's refresh).
setInterval(() => {
  if (!state.key || document.hidden) return;
  const session = current();
  if (session && session.status !== 'WORKING') {
    queueRefresh();
    return;
  }
  renderChats().catch(() => {});
  if (state.chat && !isTyping(state.chat)) renderTyping();
}, 2000);

async function boot() {
  state.key = state.key || readKey();
  if (!state.key) {
    showKeyPage();
    return;
  }
  try {
    await render();
    connectEvents();
  } catch (error) {
    if (error.message !== 'unauthorized') showKeyPage(error.message);
  }
}

boot();
