// Uploads several files at once to a Carcosa tus endpoint with the real
// tus-js-client and keeps retrying through server restarts, for the chaos
// tests: the server may be killed at any moment and comes back on the same
// address.
//
//   node tus-chaos.mjs <endpoint> <route> <chunkSize> <file>...
//
// stdout carries one JSON object per line:
//   {"event":"progress","file":I,"sent":N}     (every 256 KiB or so)
//   {"event":"success","file":I,"url":"...","state":"ready"}
//   {"event":"done"}
// Exits 1 if any upload fails for good.

import fs from 'node:fs';
import path from 'node:path';
import * as tus from 'tus-js-client';

const STEP = 256 * 1024;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function upload(endpoint, route, chunkSize, file, i) {
  return new Promise((resolve, reject) => {
    let lastSent = -STEP;
    const up = new tus.Upload(fs.createReadStream(file), {
      endpoint,
      chunkSize,
      // The server is down for a moment after each kill: keep retrying.
      retryDelays: Array(120).fill(250),
      metadata: { route, filename: path.basename(file), filetype: 'application/octet-stream' },
      onProgress(sent) {
        if (sent - lastSent >= STEP || sent < lastSent) {
          lastSent = sent;
          emit({ event: 'progress', file: i, sent });
        }
      },
      onSuccess(payload) {
        const res = payload && payload.lastResponse;
        emit({ event: 'success', file: i, url: up.url, state: res ? res.getHeader('Upload-State') : null });
        resolve();
      },
      onError(err) {
        const res = err && err.originalResponse;
        const detail = res ? ` (HTTP ${res.getStatus()}: ${res.getBody()})` : '';
        reject(new Error(`file ${i}: ${err && err.message ? err.message : err}${detail}`));
      },
    });
    up.start();
  });
}

async function main() {
  const [endpoint, route, chunk, ...files] = process.argv.slice(2);
  if (!endpoint || !route || !chunk || files.length === 0) {
    console.error('usage: node tus-chaos.mjs <endpoint> <route> <chunkSize> <file>...');
    process.exit(2);
  }
  const chunkSize = chunk === 'Infinity' ? Infinity : Number(chunk);
  await Promise.all(files.map((f, i) => upload(endpoint, route, chunkSize, f, i)));
  emit({ event: 'done' });
}

main().catch((err) => {
  console.error(`[tus-chaos] ${err && err.message ? err.message : err}`);
  process.exit(1);
});
