// Drives wa serve's Swagger UI page (/api/docs) in Debian's Chromium (headless, offline) with
// playwright-core: without a key it asks for one and refuses a wrong one; with the right key
// it loads the OpenAPI file, shows the operations authorized with the key, and "Try it out" on
// GET /api/sessions answers 200; opened as /api/docs#key=KEY it needs no prompt. Every request
// the page makes must go to wa serve itself.
//
//   node browser/apidocs.mjs <base url> <api key> <screenshot dir>
//
// Prints one JSON line: {ok, steps, ...}; on failure {ok: false, step, error} and a
// screenshot apidocs-failure-<step>.png.
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, key, shots] = process.argv.slice(2);
if (!base || !key || !shots) {
  console.error('usage: node browser/apidocs.mjs <base url> <api key> <screenshot dir>');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(executablePath)) {
  console.log(JSON.stringify({ ok: false, step: 'launch', error: `${executablePath} is missing: run cargo xtask setup` }));
  process.exit(1);
}
mkdirSync(shots, { recursive: true });

const STEP_MS = 30000;
const result = { ok: false, steps: [], foreign: [], pageErrors: [] };
let step = 'launch';
const profile = mkdtempSync(join(tmpdir(), 'wa-chromium-'));
let context;
let page;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage',
    ],
  });
  // Anything not served by wa serve is refused and noted (the page must work offline).
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base) || url.startsWith('data:')) return route.continue();
    result.foreign.push(url);
    return route.abort();
  });
  page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on('pageerror', (error) => result.pageErrors.push(String(error)));

  step = 'prompt';
  await page.goto(`${base}/api/docs`);
  await page.waitForSelector('#key-form:not([hidden])');
  await page.fill('#key-input', `${key}-wrong`);
  await page.click('#key-form button');
  await page.waitForFunction(() => document.getElementById('key-error').textContent.includes('refused'));
  result.steps.push(step);

  step = 'spec';
  await page.fill('#key-input', key);
  await page.click('#key-form button');
  await page.waitForSelector('.opblock');
  await page.waitForFunction(() => document.querySelectorAll('.opblock').length >= 30);
  result.operations = await page.locator('.opblock').count();
  result.title = (await page.locator('.info .title').first().textContent()).trim();
  result.keyFormHidden = await page.locator('#key-form').isHidden();
  result.steps.push(step);

  step = 'authorized';
  await page.waitForSelector('.btn.authorize.locked');
  result.steps.push(step);

  step = 'try';
  const block = page.locator('.opblock.opblock-get', {
    has: page.locator('.opblock-summary-path[data-path="/api/sessions"]'),
  }).first();
  await block.locator('.opblock-summary').first().click();
  await block.locator('.try-out__btn').click();
  await block.locator('.btn.execute').click();
  const status = block.locator('.live-responses-table tbody .response-col_status').first();
  await status.waitFor();
  result.tryStatus = (await status.textContent()).trim();
  result.tryBody = (await block.locator('.live-responses-table tbody .response-col_description pre').first().textContent()).trim();
  await page.screenshot({ path: join(shots, 'api-docs.png') });
  result.steps.push(step);

  step = 'hash';
  // A fresh load (a fragment-only change would not reload the page), with nothing saved.
  await page.evaluate(() => localStorage.clear());
  await page.goto('about:blank');
  await page.goto(`${base}/api/docs#key=${encodeURIComponent(key)}`);
  await page.waitForSelector('.btn.authorize.locked');
  result.hashPromptHidden = await page.locator('#key-form').isHidden();
  result.hashLeftInUrl = page.url().includes('key=');
  result.steps.push(step);

  result.ok = true;
} catch (error) {
  result.step = step;
  result.error = String(error && error.message || error);
  if (page) {
    try { await page.screenshot({ path: join(shots, `apidocs-failure-${step}.png`) }); } catch (_) { /* the page is gone */ }
  }
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
