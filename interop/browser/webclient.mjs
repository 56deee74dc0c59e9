// Drives wa serve's web client in Debian's Chromium (headless, offline) with playwright-core:
// the QR page appears, the simulated phone scans, the seeded chats show, a contact found by name
// opens with Enter, a message to the echo contact gets its reply and read ticks, uploaded images
// show inline and the conversation stays on the newest message once they have loaded (unless the
// reader scrolled up), and at a phone's width (420 px) the page shows the list or the
// conversation, never both, without sideways scrolling.
//
//   node browser/webclient.mjs <base url> <api key> <screenshot dir> [terminal.txt]
//
// Prints one JSON line: {ok, steps, ...}; on failure {ok: false, step, error} and a
// screenshot failure-<step>.png. With terminal.txt (ANSI text, e.g. `wa demo` output) it also
// renders that text as a terminal screenshot (demo.png).
import { mkdtempSync, mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const [base, key, shots, terminal] = process.argv.slice(2);
if (!base || !key || !shots) {
  console.error('usage: node browser/webclient.mjs <base url> <api key> <screenshot dir> [terminal.txt]');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(executablePath)) {
  console.log(JSON.stringify({ ok: false, step: 'launch', error: `${executablePath} is missing: run cargo xtask setup` }));
  process.exit(1);
}
mkdirSync(shots, { recursive: true });

const ECHO = '15550109999@c.us';
const STEP_MS = 30000;
const result = { ok: false, steps: [] };
let step = 'launch';

// A small PNG (a red square with a white cross), made here so the test needs no files.
function testPng(size = 48) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; header[9] = 2; // 8-bit RGB
  const rows = [];
  for (let y = 0; y < size; y++) {
    const row = [0];
    for (let x = 0; x < size; x++) {
      const cross = Math.abs(x - size / 2) < 4 || Math.abs(y - size / 2) < 4;
      row.push(...(cross ? [255, 255, 255] : [220, 40, 40]));
    }
    rows.push(Buffer.from(row));
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function ansiToHtml(text) {
  const colors = { 30: '#2e3436', 31: '#ef2929', 32: '#8ae234', 33: '#fce94f', 34: '#729fcf', 35: '#ad7fa8', 36: '#34e2e2', 37: '#eeeeec', 90: '#888a85', 91: '#ef2929', 92: '#8ae234', 93: '#fce94f', 94: '#729fcf', 95: '#ad7fa8', 96: '#34e2e2', 97: '#ffffff' };
  const escape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  let html = '';
  let open = 0;
  for (const part of text.split(/(\x1b\[[0-9;]*m)/)) {
    const m = /^\x1b\[([0-9;]*)m$/.exec(part);
    if (!m) { html += escape(part); continue; }
    const codes = m[1].split(';').filter(Boolean).map(Number);
    if (codes.length === 0 || codes.includes(0)) { html += '</span>'.repeat(open); open = 0; }
    const style = [];
    for (const c of codes) {
      if (c === 1) style.push('font-weight:bold');
      if (c === 2) style.push('opacity:.6');
      if (colors[c]) style.push(`color:${colors[c]}`);
    }
    if (style.length) { html += `<span style="${style.join(';')}">`; open++; }
  }
  return html + '</span>'.repeat(open);
}

// Waits until the message list has kept one scroll position and size for a while, then
// reports how far its bottom is from the newest message and where that message ends relative to
// the list's visible bottom and the composer's top (positive = hidden under them).
async function settledScroll(page) {
  await page.waitForFunction(() => {
    const box = document.getElementById('messages');
    const now = `${box.scrollTop}/${box.scrollHeight}/${box.clientHeight}`;
    const stable = window.lastScrollState === now && performance.now() - window.lastScrollChange > 500;
    if (window.lastScrollState !== now) {
      window.lastScrollState = now;
      window.lastScrollChange = performance.now();
    }
    return stable;
  }, null, { polling: 100 });
  return page.evaluate(() => {
    const box = document.getElementById('messages');
    const last = [...box.querySelectorAll('.msg')].pop().getBoundingClientRect();
    const composer = document.getElementById('composer').getBoundingClientRect();
    return {
      gap: Math.round(box.scrollHeight - box.scrollTop - box.clientHeight),
      overflows: box.scrollHeight > box.clientHeight + 100,
      lastBelowList: Math.round(last.bottom - box.getBoundingClientRect().bottom),
      lastBelowComposerTop: Math.round(last.bottom - composer.top),
    };
  });
}

// The main page's layout: which panes show and how wide, whether the page scrolls sideways,
// whether the header and composer fit, and how many lines the newest text message takes.
async function layout(page) {
  return page.evaluate(() => {
    const width = (id) => Math.round(document.getElementById(id).getBoundingClientRect().width);
    const inView = (el) => {
      if (!el || el.offsetWidth === 0) return null;
      const r = el.getBoundingClientRect();
      return r.left >= 0 && r.right <= window.innerWidth && r.top >= 0 && r.bottom <= window.innerHeight;
    };
    const lines = (el) => {
      if (!el || el.offsetWidth === 0) return null;
      const range = document.createRange();
      range.selectNodeContents(el);
      return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
    };
    const texts = [...document.querySelectorAll('.msg .body')].filter((b) => b.textContent.split(' ').length >= 4);
    return {
      viewport: window.innerWidth,
      scrollWidth: document.documentElement.scrollWidth,
      sidebar: width('sidebar'),
      conversation: width('conversation'),
      header: inView(document.querySelector('#chat .bar')),
      chatName: inView(document.getElementById('chat-name')),
      composer: inView(document.getElementById('composer')),
      sendButton: inView(document.getElementById('send-button')),
      textLines: lines(texts.pop()),
      chatNameLines: lines(document.querySelector('#chat-list .chat-item .name')),
    };
  });
}

const profile = mkdtempSync(join(tmpdir(), 'wa-chromium-'));
let context;
let page;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage',
    ],
  });
  page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const consoleErrors = [];
  page.on('pageerror', (error) => consoleErrors.push(String(error)));

  step = 'qr';
  await page.goto(`${base}/#key=${encodeURIComponent(key)}`);
  await page.waitForSelector('[data-testid=qr-image]:not(.hidden)');
  await page.waitForFunction(() => {
    const img = document.querySelector('[data-testid=qr-image]');
    return img && img.complete && img.naturalWidth > 100;
  });
  result.qrWidth = await page.$eval('[data-testid=qr-image]', (img) => img.naturalWidth);
  await page.screenshot({ path: join(shots, 'web-login.png') });
  result.steps.push(step);

  step = 'scan';
  // The simulated phone scans the code the page shows; the page turns into the chat view.
  await page.waitForSelector('#main-page:not(.hidden)');
  result.me = await page.textContent('[data-testid=me-name]');
  result.steps.push(step);

  step = 'chats';
  await page.waitForFunction(() => document.querySelectorAll('#chat-list .chat-item').length >= 3);
  result.chats = await page.$$eval('#chat-list .chat-item', (items) => items.map((item) => ({
    id: item.dataset.chatId,
    name: item.querySelector('.name').textContent,
    unread: Number((item.querySelector('.badge') || { textContent: '0' }).textContent),
  })));
  await page.screenshot({ path: join(shots, 'web-chats.png') });
  result.steps.push(step);

  step = 'search';
  // A contact without a chat yet, found by its name: Enter opens it.
  await page.fill('[data-testid=search]', 'Carol');
  await page.press('[data-testid=search]', 'Enter');
  await page.waitForFunction(() => !document.getElementById('chat').classList.contains('hidden')
    && document.getElementById('chat-name').textContent === 'Carol Example', null, { timeout: 5000 });
  // Shown once its messages are listed, with the cursor in its text field.
  await page.waitForFunction(() => document.getElementById('messages').dataset.chat === '15550100004@c.us'
    && document.activeElement === document.querySelector('[data-testid=text-input]'), null, { timeout: 5000 });
  result.searchOpened = await page.textContent('[data-testid=chat-name]');
  result.steps.push(step);

  step = 'echo';
  // Start a chat with the echo contact by its number, as "new chat" does.
  await page.fill('[data-testid=search]', ECHO.split('@')[0]);
  await page.press('[data-testid=search]', 'Enter');
  // The conversation shown must be the echo contact's, not still Carol's.
  await page.waitForFunction((echo) => document.getElementById('messages').dataset.chat === echo, ECHO);
  // The echo contact types before it answers: record whether the header ever said so.
  await page.evaluate(() => {
    window.typingSeen = false;
    const sub = document.getElementById('chat-sub');
    new MutationObserver(() => {
      if (sub.classList.contains('typing')) window.typingSeen = true;
    }).observe(sub, { attributes: true, childList: true, characterData: true, subtree: true });
  });
  const text = `hello from the browser ${Date.now()}`;
  await page.fill('[data-testid=text-input]', text);
  await page.press('[data-testid=text-input]', 'Enter');
  await page.waitForFunction((t) => [...document.querySelectorAll('.msg.out .body')].some((b) => b.textContent === t), text);
  // The echo contact reads it (blue ticks) and answers.
  await page.waitForFunction(() => document.querySelector('.msg.in') !== null);
  result.echoReply = await page.textContent('.msg.in .body');
  await page.waitForFunction((t) => [...document.querySelectorAll('.msg.out')].some(
    (m) => m.querySelector('.body').textContent === t && Number(m.dataset.ack) >= 3
      && m.querySelector('.ticks.read') !== null), text);
  result.readTicks = true;
  result.typingSeen = await page.evaluate(() => window.typingSeen);
  await page.screenshot({ path: join(shots, 'web-conversation.png') });
  result.steps.push(step);

  step = 'image';
  await page.setInputFiles('[data-testid=file-input]', { name: 'cross.png', mimeType: 'image/png', buffer: testPng() });
  await page.waitForFunction(() => [...document.querySelectorAll('.msg.out img')].some((img) => img.complete && img.naturalWidth === 48));
  result.imageWidth = 48;
  await page.screenshot({ path: join(shots, 'web-image.png') });
  result.steps.push(step);

  step = 'scroll';
  // Larger images, each echoed back: the conversation overflows, and once every image has loaded
  // the newest message must still be in view above the composer (not pushed under it).
  const BIG = 3;
  for (let i = 0; i < BIG; i++) {
    await page.setInputFiles('[data-testid=file-input]', { name: `big-${i}.png`, mimeType: 'image/png', buffer: testPng(240) });
  }
  await page.waitForFunction((n) => {
    const big = [...document.querySelectorAll('.msg img')].filter((img) => img.complete && img.naturalWidth === 240);
    return big.length >= 2 * n && [...document.querySelectorAll('.msg.out img')].pop().closest('.msg').dataset.ack >= 3;
  }, BIG);
  result.scroll = await settledScroll(page);
  await page.screenshot({ path: join(shots, 'web-scroll.png') });
  // The reader scrolls up with the wheel: a new message (and its echo) leaves the list where the
  // reader put it; scrolling back to the end follows the newest messages again.
  const gapNow = () => page.evaluate(() => {
    const box = document.getElementById('messages');
    return { gap: Math.round(box.scrollHeight - box.scrollTop - box.clientHeight), top: Math.round(box.scrollTop) };
  });
  const exchange = async (t) => {
    await page.fill('[data-testid=text-input]', t);
    await page.press('[data-testid=text-input]', 'Enter');
    await page.waitForFunction((x) => [...document.querySelectorAll('.msg.in .body')].some((b) => b.textContent === x), t);
    await page.waitForTimeout(300);
  };
  await page.hover('#messages');
  await page.mouse.wheel(0, -600);
  await page.waitForFunction(() => {
    const box = document.getElementById('messages');
    return box.scrollHeight - box.scrollTop - box.clientHeight > 400;
  });
  await page.waitForTimeout(200);
  const before = await gapNow();
  await exchange(`while scrolled up ${Date.now()}`);
  result.readerScroll = { before, after: await gapNow() };
  await page.hover('#messages');
  await page.mouse.wheel(0, 5000);
  await page.waitForFunction(() => {
    const box = document.getElementById('messages');
    return box.scrollHeight - box.scrollTop - box.clientHeight < 2;
  });
  await exchange(`back at the end ${Date.now()}`);
  result.readerScroll.back = await settledScroll(page);
  result.steps.push(step);

  step = 'narrow';
  // A phone's width: the open conversation fills the page, the list is hidden.
  await page.setViewportSize({ width: 420, height: 800 });
  result.narrow = { chat: await layout(page), chatScroll: await settledScroll(page) };
  await page.screenshot({ path: join(shots, 'web-narrow-chat.png') });
  // Back to the list: it fills the page, the conversation is hidden.
  await page.click('[data-testid=back-button]');
  await page.waitForFunction(() => document.getElementById('sidebar').offsetWidth > 0);
  result.narrow.list = await layout(page);
  await page.screenshot({ path: join(shots, 'web-narrow-list.png') });
  // Enter in the search opens the chat found by name, here too.
  await page.fill('[data-testid=search]', 'Bob');
  await page.press('[data-testid=search]', 'Enter');
  await page.waitForFunction(() => document.getElementById('chat-name').textContent === 'Bob Example'
    && document.getElementById('sidebar').offsetWidth === 0, null, { timeout: 5000 });
  result.narrow.search = await layout(page);
  await page.click('[data-testid=back-button]');
  await page.waitForFunction(() => document.getElementById('sidebar').offsetWidth > 0);
  // Back at a desktop's width both panes show again.
  await page.setViewportSize({ width: 1280, height: 800 });
  result.desktop = await layout(page);
  result.steps.push(step);

  step = 'sessions';
  // A second session from the "+" button: its own QR page, scanned by the simulator's second
  // phone, then its own chats; the selector switches back.
  // Its QR page at a phone's width first: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 420, height: 800 });
  page.once('dialog', (dialog) => dialog.accept('alice'));
  await page.click('#main-page .new-session');
  await page.waitForSelector('[data-testid=qr-image]:not(.hidden)');
  await page.waitForFunction(() => {
    const img = document.querySelector('[data-testid=qr-image]');
    return img.complete && img.naturalWidth > 100;
  });
  result.narrowLogin = await page.evaluate(() => {
    const qr = document.querySelector('[data-testid=qr-image]').getBoundingClientRect();
    return {
      scrollWidth: document.documentElement.scrollWidth,
      qr: { left: Math.round(qr.left), right: Math.round(qr.right), width: Math.round(qr.width) },
    };
  });
  await page.screenshot({ path: join(shots, 'web-narrow-login.png') });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.waitForSelector('#main-page:not(.hidden)');
  await page.waitForFunction(() => document.querySelector('[data-testid=me-name]').textContent === 'Alice Example');
  await page.waitForFunction(() => document.querySelectorAll('#chat-list .chat-item').length >= 1);
  result.secondSession = {
    me: await page.textContent('[data-testid=me-name]'),
    chats: await page.$$eval('#chat-list .chat-item .name', (names) => names.map((n) => n.textContent)),
  };
  await page.selectOption('[data-testid=session-select]', 'default');
  await page.waitForFunction(() => document.querySelector('[data-testid=me-name]').textContent === 'Sim Phone');
  result.steps.push(step);

  if (terminal) {
    step = 'demo';
    const html = `<html><body style="margin:0;background:#1e1e1e"><pre style="margin:0;padding:20px;color:#eeeeec;font:14px/1.35 'DejaVu Sans Mono',monospace">${ansiToHtml(readFileSync(terminal, 'utf8'))}</pre></body></html>`;
    const demo = await context.newPage();
    await demo.setViewportSize({ width: 900, height: 600 });
    await demo.setContent(html);
    await demo.screenshot({ path: join(shots, 'demo.png'), fullPage: true });
    result.steps.push(step);
  }

  result.pageErrors = consoleErrors;
  result.ok = consoleErrors.length === 0;
  if (!result.ok) result.error = `page errors: ${consoleErrors.join('; ')}`;
} catch (error) {
  result.ok = false;
  result.step = step;
  result.error = String(error && error.message || error).split('\n')[0];
  if (page) {
    try { await page.screenshot({ path: join(shots, `failure-${step}.png`) }); } catch (_) { /* the page is gone */ }
  }
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
