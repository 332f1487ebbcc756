// Drives the example's web page in Chromium: picks the "images" route,
// types a caption, uploads <file> through the file input, then drops a second image (drawn in
// the page) on the drop zone, and waits for both rows to be ready, as the
// uploads' event streams tell; then, with the upload bandwidth throttled,
// drops a larger file on the "files" route, pauses it, resumes it and waits
// for it to be ready; drops another, cancels it and sends it again with
// Retry; pauses a third; then reloads the page, finds the four listed and
// the paused one unfinished, sends that one again to the end, and removes
// one with its Remove button.
//
//   node page.mjs <pageURL> <file> <screenshotPath>
//
// Chromium comes from the system (CHROMIUM, default /usr/bin/chromium); no
// browser is ever downloaded. On success, prints one JSON line to stdout:
//   {"url": "...", "sha256": "...", "caption": "...", "dropUrl": "...", "dropSha256": "..."}
// where url and caption are what the page shows for <file>. On failure it still takes
// the screenshot and exits 1.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const TIMEOUT = 60_000;
const ROUTE = 'images';
const DROP_NAME = 'dropped-gradient.png';
const CAPTION = 'A gradient, captioned';
const BIG_NAME = 'paused-random.bin';
const BIG_SIZE = 6 << 20;
const AGAIN_NAME = 'canceled-random.bin';
const RELOAD_NAME = 'paused-over-reload.bin';

function log(...args) {
  console.error('[page]', ...args);
}

const rowSelector = (name) => `.upload-row[data-name=${JSON.stringify(name)}]`;

// waitSettled waits until the row of name leaves the uploading states and
// returns what the row shows; it throws unless the row is ready.
async function waitSettled(page, name) {
  const sel = rowSelector(name);
  await page.waitForSelector(sel, { timeout: TIMEOUT });
  await page.waitForFunction(
    (s) => ['ready', 'rejected', 'failed', 'canceled'].includes(document.querySelector(s)?.dataset.state),
    sel,
    { timeout: TIMEOUT, polling: 100 },
  );
  const row = await page.$eval(sel, (el) => ({
    state: el.dataset.state,
    text: el.querySelector('.state')?.textContent ?? '',
    error: el.querySelector('.error:not([hidden])')?.textContent.trim() ?? '',
    url: el.querySelector('.file-link:not([hidden])')?.href ?? '',
    sha256: el.dataset.sha256 ?? '',
    caption: el.querySelector('.caption:not([hidden])')?.textContent ?? '',
    percent: el.querySelector('.percent')?.textContent ?? '',
  }));
  if (row.state !== 'ready') {
    throw new Error(`${name}: the row ended ${row.state} (${row.text}) ${row.error}`.trim());
  }
  if (!row.url) throw new Error(`${name}: the ready row shows no link`);
  log(`${name}: ready at ${row.percent}, ${row.url}`);
  return row;
}

// dropFixed drops a file of size bytes that is the same each time (bytes,
// name and modification time), as choosing the same file again would.
async function dropFixed(page, fileName, size) {
  const dt = await page.evaluateHandle(([n, sz]) => {
    const bytes = new Uint8Array(sz);
    for (let i = 0; i < sz; i++) bytes[i] = (i * 31 + (i >> 11)) & 0xff;
    const t = new DataTransfer();
    t.items.add(new File([bytes], n, { type: 'application/octet-stream', lastModified: 1_700_000_000_000 }));
    return t;
  }, [fileName, size]);
  await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: dt });
}

async function main() {
  const [pageURL, file, shotPath] = process.argv.slice(2);
  if (!pageURL || !file || !shotPath) {
    console.error('usage: node page.mjs <pageURL> <file> <screenshotPath>');
    process.exit(2);
  }
  fs.mkdirSync(path.dirname(path.resolve(shotPath)), { recursive: true });

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  let page;
  let ok = false;
  try {
    const context = await browser.newContext({ viewport: { width: 1000, height: 760 }, colorScheme: 'light' });
    page = await context.newPage();
    const requested = [];
    page.on('request', (req) => requested.push(req.url()));
    page.on('console', (m) => log(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    page.on('requestfailed', (r) => log(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));

    log(`opening ${pageURL}`);
    await page.goto(pageURL, { waitUntil: 'load', timeout: TIMEOUT });
    await page.waitForSelector('#route-select[data-loaded="true"]', { timeout: TIMEOUT });
    const initial = await page.inputValue('#route-select');
    if (initial !== 'files') throw new Error(`the route selector starts at ${JSON.stringify(initial)}, not "files"`);
    await page.selectOption('#route-select', ROUTE);
    // The route's input, a caption, is a field of the form.
    await page.fill('#input-caption', CAPTION);

    // 1. The file input.
    const name = path.basename(file);
    log(`choosing ${file}`);
    await page.setInputFiles('#file-input', file);
    const picked = await waitSettled(page, name);

    // 2. A real drop of a second image, made in the page.
    log(`dropping ${DROP_NAME}`);
    const dataTransfer = await page.evaluateHandle(async (dropName) => {
      const w = 320;
      const h = 200;
      const canvas = new OffscreenCanvas(w, h);
      const ctx = canvas.getContext('2d');
      const g = ctx.createLinearGradient(0, 0, w, h);
      g.addColorStop(0, '#3b5bdb');
      g.addColorStop(1, '#f59f00');
      ctx.fillStyle = g;
      ctx.fillRect(0, 0, w, h);
      ctx.fillStyle = '#fff';
      ctx.font = 'bold 28px sans-serif';
      ctx.fillText('dropped', 20, 110);
      const blob = await canvas.convertToBlob({ type: 'image/png' });
      const dt = new DataTransfer();
      dt.items.add(new File([blob], dropName, { type: 'image/png', lastModified: Date.now() }));
      return dt;
    }, DROP_NAME);
    await page.dispatchEvent('#drop-zone', 'dragenter', { dataTransfer });
    await page.dispatchEvent('#drop-zone', 'dragover', { dataTransfer });
    const dragging = await page.getAttribute('#drop-zone', 'data-dragging');
    if (dragging !== 'true') throw new Error('the drop zone did not react to dragenter');
    await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer });
    const dropped = await waitSettled(page, DROP_NAME);
    const rowRoutes = await page.$$eval('.upload-row', (rows) => rows.map((r) => r.dataset.route));
    if (rowRoutes.some((r) => r !== ROUTE)) throw new Error(`rows went to routes ${rowRoutes.join(', ')}`);

    // The page learned the outcome from the server's event stream.
    if (!requested.some((u) => /\/uploads\/[0-9a-f]{32}\/events$/.test(u))) {
      throw new Error('the page never opened an upload\'s event stream');
    }

    // 3. Pause and resume: a larger file, sent slowly (2 MiB/s up), is
    // paused mid-way, stays where it is, then resumes and ends ready. The
    // total progress follows.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 2 << 20,
    });
    await page.selectOption('#route-select', 'files');
    const bigTransfer = await page.evaluateHandle(async ([bigName, size]) => {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(i + 65536, size)));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], bigName, { type: 'application/octet-stream', lastModified: Date.now() }));
      return dt;
    }, [BIG_NAME, BIG_SIZE]);
    await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: bigTransfer });
    const big = rowSelector(BIG_NAME);
    await page.waitForFunction(
      (s) => { const el = document.querySelector(s); return el?.dataset.state === 'uploading' && el.querySelector('.bar').value >= 5; },
      big, { timeout: TIMEOUT, polling: 50 },
    );
    await page.click(`${big} .pause`);
    await page.waitForSelector(`${big}[data-state="paused"]`, { timeout: TIMEOUT });
    const pauseLabel = await page.textContent(`${big} .pause`);
    if (pauseLabel.trim() !== 'Resume') throw new Error(`the paused row's button says ${JSON.stringify(pauseLabel)}, not "Resume"`);
    const at = await page.$eval(`${big} .bar`, (b) => b.value);
    await page.waitForTimeout(1000);
    const still = await page.$eval(big, (el) => ({ state: el.dataset.state, value: el.querySelector('.bar').value }));
    if (still.state !== 'paused' || still.value > at + 1) {
      throw new Error(`the paused upload went on: ${at}% then ${still.value}% (${still.state})`);
    }
    const total = await page.$eval('#total', (el) => ({ hidden: el.hidden, value: el.querySelector('progress').value }));
    if (total.hidden || !(total.value > 0 && total.value < 100)) {
      throw new Error(`the total progress shows ${total.value}% (hidden: ${total.hidden}) while a file is paused`);
    }
    log(`${BIG_NAME}: paused at ${at}%, resuming`);
    await page.click(`${big} .pause`);
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1,
    });
    await waitSettled(page, BIG_NAME);
    const totalDone = await page.$eval('#total progress', (b) => b.value);
    if (totalDone !== 100) throw new Error(`the total progress ends at ${totalDone}%, not 100%`);

    // 4. Cancel, then Retry: a canceled row offers Retry, which sends the
    // file again, to the end.
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 2 << 20,
    });
    const againTransfer = await page.evaluateHandle(async ([againName, size]) => {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(i + 65536, size)));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], againName, { type: 'application/octet-stream', lastModified: Date.now() }));
      return dt;
    }, [AGAIN_NAME, BIG_SIZE]);
    await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: againTransfer });
    const again = rowSelector(AGAIN_NAME);
    await page.waitForFunction(
      (s) => { const el = document.querySelector(s); return el?.dataset.state === 'uploading' && el.querySelector('.bar').value >= 5; },
      again, { timeout: TIMEOUT, polling: 50 },
    );
    await page.click(`${again} .cancel`);
    await page.waitForSelector(`${again}[data-state="canceled"] .retry:not([hidden])`, { timeout: TIMEOUT });
    log(`${AGAIN_NAME}: canceled, retrying`);
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1,
    });
    await page.click(`${again} .retry`);
    await waitSettled(page, AGAIN_NAME);

    // 5. A file paused before a reload: the reloaded page lists it as
    // unfinished and names it in the resume notice; chosen again, it goes on.
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 2 << 20,
    });
    await dropFixed(page, RELOAD_NAME, BIG_SIZE);
    const reloaded = rowSelector(RELOAD_NAME);
    await page.waitForFunction(
      (s) => { const el = document.querySelector(s); return el?.dataset.state === 'uploading' && el.querySelector('.bar').value >= 20; },
      reloaded, { timeout: TIMEOUT, polling: 50 },
    );
    await page.click(`${reloaded} .pause`);
    await page.waitForSelector(`${reloaded}[data-state="paused"]`, { timeout: TIMEOUT });
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1,
    });

    // After a reload, the page lists the visitor's uploads from GET B/uploads.
    log('reloading');
    await page.reload({ waitUntil: 'load', timeout: TIMEOUT });
    for (const n of [name, DROP_NAME, BIG_NAME, AGAIN_NAME]) {
      const sel = `${rowSelector(n)}[data-listed="true"][data-state="ready"]`;
      await page.waitForSelector(sel, { timeout: TIMEOUT });
    }
    await page.waitForSelector(`${reloaded}[data-listed="true"][data-state="unfinished"]`, { timeout: TIMEOUT });
    const notice = await page.$eval('#resume-notice', (el) => ({ hidden: el.hidden, text: el.textContent }));
    if (notice.hidden || !notice.text.includes(RELOAD_NAME)) {
      throw new Error(`the resume notice does not name ${RELOAD_NAME}: ${JSON.stringify(notice)}`);
    }
    log(`${RELOAD_NAME}: listed as unfinished; choosing it again`);
    const unfinishedId = await page.$eval(`${reloaded}[data-listed="true"]`, (el) => el.dataset.uploadId);
    await dropFixed(page, RELOAD_NAME, BIG_SIZE);
    await waitSettled(page, RELOAD_NAME);
    const resumedId = await page.$eval(`${reloaded}:not([data-listed])`, (el) => el.dataset.uploadId);
    if (!unfinishedId || resumedId !== unfinishedId) {
      throw new Error(`${RELOAD_NAME} was sent as upload ${resumedId}, not resumed as ${unfinishedId}`);
    }

    // Remove deletes the upload on the server: a second reload no longer lists it.
    await page.click(`${rowSelector(BIG_NAME)} .remove`);
    await page.waitForSelector(rowSelector(BIG_NAME), { state: 'detached', timeout: TIMEOUT });
    await page.reload({ waitUntil: 'load', timeout: TIMEOUT });
    await page.waitForSelector(`${rowSelector(DROP_NAME)}[data-listed="true"]`, { timeout: TIMEOUT });
    if (await page.$(rowSelector(BIG_NAME))) throw new Error(`${BIG_NAME} is listed again after Remove`);
    const listedSha = await page.$eval(`${rowSelector(name)}[data-listed="true"]`, (el) => el.dataset.sha256);
    if (listedSha !== picked.sha256) throw new Error(`the listed row shows sha256 ${listedSha}, not ${picked.sha256}`);

    // Let the thumbnails load before the screenshot.
    await page.waitForFunction(() => [...document.querySelectorAll('.thumb:not([hidden])')].every((i) => i.complete), null, { timeout: 10_000 }).catch(() => {});
    await page.screenshot({ path: shotPath, fullPage: true });
    log(`screenshot: ${shotPath}`);
    process.stdout.write(JSON.stringify({
      url: picked.url,
      sha256: picked.sha256,
      caption: picked.caption,
      dropUrl: dropped.url,
      dropSha256: dropped.sha256,
    }) + '\n');
    ok = true;
  } catch (err) {
    console.error(`[page] error: ${err && err.stack ? err.stack : err}`);
    if (page) {
      await page.screenshot({ path: shotPath, fullPage: true }).then(
        () => log(`screenshot of the failure: ${shotPath}`),
        (e) => log(`no screenshot: ${e.message}`),
      );
    }
  } finally {
    await browser.close().catch(() => {});
  }
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  console.error(`[page] error: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
