// Uploads a file to a Carcosa tus endpoint with the real tus-js-client,
// interrupts the upload once at least 30% is sent, then resumes it from the
// stored upload URL in a fresh tus.Upload and checks that it resumed from an
// offset greater than zero.
//
//   node tus-upload.mjs <endpoint> <file> <route>
//
// On success, prints one JSON line to stdout:
//   {"uploadUrl": "...", "resumedFrom": N}
// Progress and diagnostics go to stderr. Exits 1 on any failure.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tus from 'tus-js-client';

const MiB = 1 << 20;
const ABORT_AT = 0.3;

function log(...args) {
  console.error('[tus-upload]', ...args);
}

function fail(err) {
  const detail = err && err.originalResponse
    ? ` (HTTP ${err.originalResponse.getStatus()}: ${err.originalResponse.getBody()})`
    : '';
  console.error(`[tus-upload] error: ${err && err.message ? err.message : err}${detail}`);
  process.exit(1);
}

const TYPES = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif',
  '.webp': 'image/webp', '.pdf': 'application/pdf', '.txt': 'text/plain',
};

function guessType(file) {
  return TYPES[path.extname(file).toLowerCase()] || 'application/octet-stream';
}

// firstUpload sends the file until ABORT_AT of it is sent, then aborts. It
// resolves with the upload URL the server assigned.
function firstUpload(file, options) {
  return new Promise((resolve, reject) => {
    let aborted = false;
    const upload = new tus.Upload(fs.createReadStream(file), {
      ...options,
      onProgress(sent, total) {
        if (aborted || total === 0 || sent / total < ABORT_AT) return;
        aborted = true;
        log(`interrupting at ${sent}/${total} bytes sent (${Math.round((100 * sent) / total)}%)`);
        upload.abort().then(() => {
          if (!upload.url) reject(new Error('the upload was interrupted before it had a URL'));
          else resolve(upload.url);
        }, reject);
      },
      onChunkComplete(chunk, accepted, total) {
        log(`first upload: chunk of ${chunk} bytes accepted, offset ${accepted}/${total}`);
      },
      onSuccess() {
        reject(new Error(`the upload finished before ${ABORT_AT * 100}% could be interrupted`));
      },
      onError: reject,
    });
    upload.start();
  });
}

// resumeUpload finds the stored upload URL of the file and finishes the
// upload from the server's offset. It resolves with the URL and the offset
// the resumed upload started from.
async function resumeUpload(file, options) {
  let resumedFrom = -1;
  let firstPatchOffset = -1;
  let settle;
  const done = new Promise((resolve, reject) => {
    settle = { resolve, reject };
  });
  const upload = new tus.Upload(fs.createReadStream(file), {
    ...options,
    onBeforeRequest(req) {
      if (req.getMethod() === 'PATCH' && firstPatchOffset < 0) {
        firstPatchOffset = Number(req.getHeader('Upload-Offset'));
        log(`resumed upload: first PATCH at offset ${firstPatchOffset}`);
      }
    },
    onAfterResponse(req, res) {
      if (req.getMethod() === 'HEAD' && resumedFrom < 0 && res.getStatus() === 200) {
        resumedFrom = Number(res.getHeader('Upload-Offset'));
        log(`resumed upload: HEAD reports offset ${resumedFrom}`);
      }
    },
    onChunkComplete(chunk, accepted, total) {
      log(`resumed upload: chunk of ${chunk} bytes accepted, offset ${accepted}/${total}`);
    },
    onSuccess: () => settle.resolve(),
    onError: (err) => settle.reject(err),
  });
  const previous = await upload.findPreviousUploads();
  if (previous.length === 0) {
    throw new Error('no previous upload of this file was stored');
  }
  log(`found ${previous.length} previous upload(s); resuming ${previous[0].uploadUrl}`);
  upload.resumeFromPreviousUpload(previous[0]);
  upload.start();
  await done;
  if (!(resumedFrom > 0)) {
    throw new Error(`the resumed upload started at offset ${resumedFrom}, not after the bytes already sent`);
  }
  if (firstPatchOffset >= 0 && firstPatchOffset !== resumedFrom) {
    throw new Error(`the first PATCH was at offset ${firstPatchOffset}, but HEAD reported ${resumedFrom}`);
  }
  return { uploadUrl: upload.url, resumedFrom };
}

async function main() {
  const [endpoint, file, route] = process.argv.slice(2);
  if (!endpoint || !file || !route) {
    console.error('usage: node tus-upload.mjs <endpoint> <file> <route>');
    process.exit(2);
  }
  const stat = fs.statSync(file);
  log(`uploading ${file} (${stat.size} bytes) to ${endpoint}, route ${route}`);

  // A URL storage on disk, as a Node client would keep across restarts.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carcosa-tus-'));
  const storagePath = path.join(dir, 'urls.json');
  fs.writeFileSync(storagePath, '{}');

  const options = {
    endpoint,
    chunkSize: MiB,
    retryDelays: [0, 500, 1000, 2000, 4000],
    metadata: {
      route,
      filename: path.basename(file),
      filetype: guessType(file),
    },
    urlStorage: new tus.FileUrlStorage(storagePath),
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
  };

  try {
    const url = await firstUpload(file, options);
    log(`interrupted upload: ${url}`);
    const result = await resumeUpload(file, options);
    log(`finished: ${result.uploadUrl}, resumed from ${result.resumedFrom}`);
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    // The URL storage may still be finishing a write of its own; cleaning
    // up a temporary directory must not fail the upload.
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    } catch (err) {
      log(`could not remove ${dir}: ${err.message}`);
    }
  }
}

main().catch(fail);
