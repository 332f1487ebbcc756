// The Carcosa example page: pick a route, drop files, and watch them upload
// through tus. The tus client below is deliberately small: creation, PATCH in
// chunks with progress, HEAD to resume, and retries with backoff.
'use strict';

(() => {
  const BASE = (document.querySelector('meta[name="carcosa-base"]')?.content || '/api/uploads').replace(/\/+$/, '');
  const TUS_ENDPOINT = `${BASE}/tus/`;
  const CHUNK_SIZE = 8 << 20;
  const RETRY_DELAYS = [1000, 2000, 4000, 8000, 16000]; // up to 5 tries
  const MAX_PARALLEL = 3;
  const STORAGE_PREFIX = 'carcosa:tus:';
  const STORAGE_MAX_AGE = 7 * 24 * 3600 * 1000;

  const $ = (sel, root = document) => root.querySelector(sel);

  // ----- helpers -----------------------------------------------------------

  function formatBytes(n) {
    if (!Number.isFinite(n) || n < 0) return '';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
  }

  function base64(str) {
    const bytes = new TextEncoder().encode(str);
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }

  function encodeMetadata(md) {
    return Object.entries(md)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `${k} ${base64(String(v))}`)
      .join(',');
  }

  const sleep = (ms, signal) => new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError());
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new AbortedError());
    }, { once: true });
  });

  // UploadError is an answer from the server that refuses the upload.
  class UploadError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // NetworkError is a failure to reach the server or a 5xx answer: worth
  // retrying.
  class NetworkError extends Error {}

  class AbortedError extends Error {
    constructor() {
      super('canceled');
    }
  }

  // SETTLED is what HEAD reports for an upload that is no longer receiving
  // bytes and was not completed (rejected or failed): its record tells why.
  const SETTLED = Symbol('settled');

  // errorFrom reads Carcosa's JSON error body {"error":{"code","message"}}.
  function errorFrom(status, text) {
    let code = `http_${status}`;
    let message = `The server answered ${status}.`;
    try {
      const body = JSON.parse(text);
      if (body?.error) {
        code = body.error.code || code;
        message = body.error.message || message;
      }
    } catch {
      if (text && text.length < 300) message = text.trim();
    }
    return new UploadError(status, code, message);
  }

  // request sends one XMLHttpRequest and resolves with it once loaded. It
  // rejects with NetworkError on network failures and AbortedError when
  // signal fires. Requests to the page's own origin, these and fetch's,
  // carry the visitor cookie the page was served with: it makes this
  // browser the owner of its uploads.
  function request(method, url, { headers = {}, body = null, signal, onUploadProgress } = {}) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError());
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      if (onUploadProgress) xhr.upload.addEventListener('progress', onUploadProgress);
      const onAbort = () => xhr.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (fn) => {
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      xhr.addEventListener('load', () => done(() => resolve(xhr)));
      xhr.addEventListener('error', () => done(() => reject(new NetworkError(`${method} failed: network error`))));
      xhr.addEventListener('timeout', () => done(() => reject(new NetworkError(`${method} timed out`))));
      xhr.addEventListener('abort', () => done(() => reject(new AbortedError())));
      xhr.send(body);
    });
  }

  // ----- resumable-upload memory -------------------------------------------

  const resumeStore = {
    key(route, file) {
      return `${STORAGE_PREFIX}${route}:${file.name}:${file.size}:${file.lastModified}`;
    },
    get(key) {
      try {
        const v = JSON.parse(localStorage.getItem(key) || 'null');
        return v && typeof v.url === 'string' ? v : null;
      } catch {
        return null;
      }
    },
    set(key, value) {
      try {
        localStorage.setItem(key, JSON.stringify(value));
      } catch {
        // Storage may be full or disabled; resuming after a reload is then lost.
      }
    },
    remove(key) {
      try {
        localStorage.removeItem(key);
      } catch {
        // ignore
      }
    },
    all() {
      const out = [];
      try {
        for (let i = 0; i < localStorage.length; i++) {
          const k = localStorage.key(i);
          if (!k || !k.startsWith(STORAGE_PREFIX)) continue;
          const v = resumeStore.get(k);
          if (!v || Date.now() - (v.savedAt || 0) > STORAGE_MAX_AGE) {
            out.push({ key: k, stale: true });
          } else {
            out.push({ key: k, ...v });
          }
        }
      } catch {
        // ignore
      }
      return out;
    },
  };

  // ----- tus client --------------------------------------------------------

  // TusUpload uploads one file with tus 1.0. Callbacks: onProgress(sent,
  // total), onStatus(text), onRetry(attempt, delay, err).
  class TusUpload {
    constructor(file, { endpoint, metadata, storageKey, onProgress, onStatus, onRetry }) {
      this.file = file;
      this.endpoint = new URL(endpoint, location.href).href;
      this.metadata = metadata;
      this.storageKey = storageKey;
      this.onProgress = onProgress || (() => {});
      this.onStatus = onStatus || (() => {});
      this.onRetry = onRetry || (() => {});
      this.url = null;
      this.offset = 0;
      this.controller = new AbortController();
    }

    get id() {
      if (!this.url) return null;
      return new URL(this.url).pathname.split('/').filter(Boolean).pop();
    }

    // start uploads the file. It resolves with the final PATCH's
    // Upload-State header once the server has verified the file, and rejects
    // with UploadError, NetworkError (retries exhausted) or AbortedError.
    async start() {
      const signal = this.controller.signal;
      const saved = resumeStore.get(this.storageKey);
      if (saved) {
        this.url = saved.url;
        this.onStatus('Resuming…');
        const offset = await this.withRetries(() => this.head());
        if (offset === null || offset === SETTLED) {
          // Gone (expired, deleted or refused): start over.
          resumeStore.remove(this.storageKey);
          this.url = null;
        } else {
          this.offset = offset;
          this.resumedFrom = offset;
          if (offset >= this.file.size) return 'ready';
          const pct = Math.floor((100 * offset) / this.file.size);
          this.onStatus(`Resuming from ${pct}%…`);
        }
      }
      if (!this.url) {
        this.onStatus('Starting…');
        await this.withRetries(() => this.create());
        resumeStore.set(this.storageKey, {
          url: this.url,
          name: this.file.name,
          size: this.file.size,
          route: this.metadata.route,
          savedAt: Date.now(),
        });
      }
      this.onProgress(this.offset, this.file.size);
      // A zero-byte upload is complete at creation: the server verified it
      // while answering the POST, and the record tells the outcome.
      let state = this.file.size === 0 ? 'created' : null;
      while (this.offset < this.file.size) {
        if (signal.aborted) throw new AbortedError();
        state = await this.withRetries(() => this.patch(), true);
        if (state === SETTLED) break;
      }
      return state || 'ready';
    }

    // withRetries runs fn, retrying on network errors and 5xx answers with
    // backoff. When resync is set, a retry first asks the server for its
    // offset with HEAD.
    async withRetries(fn, resync = false) {
      const signal = this.controller.signal;
      for (let attempt = 0; ; attempt++) {
        try {
          if (attempt > 0 && resync) {
            const offset = await this.head();
            if (offset === null) throw new UploadError(404, 'not_found', 'The upload is gone from the server.');
            if (offset === SETTLED) return SETTLED;
            this.offset = offset;
            this.onProgress(this.offset, this.file.size);
            if (this.offset >= this.file.size) return 'ready';
          }
          return await fn();
        } catch (err) {
          if (!(err instanceof NetworkError) || attempt >= RETRY_DELAYS.length) throw err;
          const delay = RETRY_DELAYS[attempt];
          this.onRetry(attempt + 1, delay, err);
          await sleep(delay, signal);
        }
      }
    }

    // create makes the upload with POST and remembers its URL.
    async create() {
      const xhr = await request('POST', this.endpoint, {
        signal: this.controller.signal,
        headers: {
          'Tus-Resumable': '1.0.0',
          'Upload-Length': String(this.file.size),
          'Upload-Metadata': encodeMetadata(this.metadata),
        },
      });
      if (xhr.status >= 500) throw new NetworkError(`creation answered ${xhr.status}`);
      if (xhr.status !== 201) throw errorFrom(xhr.status, xhr.responseText);
      const location = xhr.getResponseHeader('Location');
      if (!location) throw new UploadError(xhr.status, 'no_location', 'The server did not say where to upload.');
      this.url = new URL(location, this.endpoint).href;
      this.offset = 0;
    }

    // head returns the server's offset, null when the upload is gone, or
    // SETTLED when it stopped without completing. A busy upload (409 while
    // the server verifies it, 423 while another request holds it) is
    // retried.
    async head() {
      const xhr = await request('HEAD', this.url, {
        signal: this.controller.signal,
        headers: { 'Tus-Resumable': '1.0.0' },
      });
      const s = xhr.status;
      if (s >= 500 || s === 423 || s === 409) throw new NetworkError(`HEAD answered ${s}`);
      if (s === 404 || s === 410 || s === 403) return null;
      if (s !== 200 && s !== 204) return SETTLED;
      const offset = Number(xhr.getResponseHeader('Upload-Offset'));
      return Number.isFinite(offset) && offset >= 0 ? offset : null;
    }

    // patch sends the next chunk and returns the Upload-State header when the
    // server reports one (on the request that completed the file).
    async patch() {
      const start = this.offset;
      const end = Math.min(start + CHUNK_SIZE, this.file.size);
      // Keep "Resuming from …" up for the first chunk after a resume.
      if (start !== this.resumedFrom) this.onStatus('Uploading…');
      const xhr = await request('PATCH', this.url, {
        signal: this.controller.signal,
        body: this.file.slice(start, end),
        headers: {
          'Tus-Resumable': '1.0.0',
          'Upload-Offset': String(start),
          'Content-Type': 'application/offset+octet-stream',
        },
        onUploadProgress: (e) => {
          this.onProgress(start + Math.min(e.loaded, end - start), this.file.size);
          if (end === this.file.size && e.loaded >= end - start) this.onStatus('Verifying…');
        },
      });
      if (xhr.status >= 500 || xhr.status === 423) throw new NetworkError(`PATCH answered ${xhr.status}`);
      if (xhr.status === 409) {
        // Our offset disagrees with the server's, or the server already has
        // every byte: ask it with HEAD and go on from there.
        throw new NetworkError('the server reported a conflict');
      }
      if (xhr.status !== 204) throw errorFrom(xhr.status, xhr.responseText);
      const offset = Number(xhr.getResponseHeader('Upload-Offset'));
      this.offset = Number.isFinite(offset) && offset > start ? offset : end;
      this.onProgress(this.offset, this.file.size);
      return xhr.getResponseHeader('Upload-State');
    }

    // abort stops the upload and, when terminate is set, deletes it on the
    // server (tus termination).
    async abort(terminate) {
      this.controller.abort();
      resumeStore.remove(this.storageKey);
      if (terminate && this.url) {
        try {
          await request('DELETE', this.url, { headers: { 'Tus-Resumable': '1.0.0' } });
        } catch {
          // The server will expire it.
        }
      }
    }
  }

  // ----- the page ----------------------------------------------------------

  const els = {
    form: $('#upload-form'),
    select: $('#route-select'),
    info: $('#route-info'),
    inputSet: $('#route-input'),
    inputFields: $('#route-input-fields'),
    drop: $('#drop-zone'),
    fileInput: $('#file-input'),
    list: $('#uploads'),
    empty: $('#uploads-empty'),
    template: $('#upload-row-template'),
    resumeNotice: $('#resume-notice'),
    resumeList: $('#resume-list'),
    resumeForget: $('#resume-forget'),
  };

  let routes = new Map();
  let rowCounter = 0;
  let pendingResumes = [];
  const queue = [];
  let running = 0;

  function describeRoute(r) {
    const accept = (r.accept || []).join(', ') || 'any';
    const access = r.public ? 'public links' : 'private, signed links';
    return `Accepts ${accept} · up to ${formatBytes(r.maxFileSize)} per file · ${access}`;
  }

  // acceptAttribute turns a route's accept list into a hint for the file
  // picker; the server decides from the content anyway.
  function acceptAttribute(list) {
    const out = [];
    for (const a of list || []) {
      if (a === 'any') return '';
      if (a === 'image' || a === 'video' || a === 'audio') out.push(`${a}/*`);
      else if (a === 'pdf') out.push('application/pdf', '.pdf');
      else if (a === 'text') out.push('text/*', '.txt', '.csv', '.json');
      else if (a.includes('/') || a.startsWith('.')) out.push(a);
    }
    return out.join(',');
  }

  function currentRoute() {
    return routes.get(els.select.value) || { name: els.select.value, accept: [], input: [] };
  }

  function renderInputFields(route) {
    els.inputFields.replaceChildren();
    const fields = (route.input || []).filter((f) => ['string', 'number', 'integer', 'boolean'].includes(f.type));
    els.inputSet.hidden = fields.length === 0;
    for (const f of fields) {
      const id = `input-${f.name}`;
      const wrap = document.createElement('div');
      wrap.className = 'field';
      const label = document.createElement('label');
      label.htmlFor = id;
      const title = f.name.charAt(0).toUpperCase() + f.name.slice(1);
      label.textContent = title + (f.required ? ' (required)' : ' (optional)');
      const input = document.createElement('input');
      input.id = id;
      input.name = f.name;
      input.dataset.type = f.type;
      if (f.type === 'boolean') input.type = 'checkbox';
      else if (f.type === 'number' || f.type === 'integer') input.type = 'number';
      else input.type = 'text';
      if (f.type === 'integer') input.step = '1';
      if (f.required) input.required = true;
      const max = /(?:^|,)max=(\d+)/.exec(f.rules || '');
      if (max && input.type === 'text') input.maxLength = Number(max[1]);
      wrap.append(label, input);
      els.inputFields.append(wrap);
    }
  }

  function collectInput() {
    const out = {};
    let any = false;
    for (const input of els.inputFields.querySelectorAll('input')) {
      const t = input.dataset.type;
      if (t === 'boolean') {
        out[input.name] = input.checked;
        any = true;
      } else if (input.value !== '') {
        out[input.name] = t === 'string' ? input.value : Number(input.value);
        any = true;
      }
    }
    return any ? JSON.stringify(out) : undefined;
  }

  function onRouteChange() {
    const r = currentRoute();
    els.info.textContent = routes.has(r.name) ? describeRoute(r) : '';
    els.fileInput.accept = acceptAttribute(r.accept);
    renderInputFields(r);
  }

  async function loadRoutes() {
    try {
      const res = await fetch(`${BASE}/routes`, { headers: { Accept: 'application/json' } });
      const text = await res.text();
      if (!res.ok) throw errorFrom(res.status, text);
      const body = JSON.parse(text);
      routes = new Map((body.routes || []).map((r) => [r.name, r]));
      els.select.replaceChildren();
      for (const r of routes.values()) {
        const opt = document.createElement('option');
        opt.value = r.name;
        opt.textContent = r.name;
        els.select.append(opt);
      }
      els.select.value = routes.has('files') ? 'files' : (routes.keys().next().value ?? '');
      els.select.disabled = routes.size === 0;
      els.select.dataset.loaded = 'true';
      onRouteChange();
    } catch (err) {
      els.info.textContent = `Could not load the routes: ${err.message}`;
      els.info.classList.add('route-info-error');
    }
  }

  // ----- rows --------------------------------------------------------------

  const STATE_TEXT = {
    queued: 'Waiting…',
    uploading: 'Uploading…',
    ready: 'Ready',
    rejected: 'Rejected',
    failed: 'Failed',
    canceled: 'Canceled',
  };

  class Row {
    constructor(file, route) {
      const node = els.template.content.firstElementChild.cloneNode(true);
      this.node = node;
      this.file = file;
      this.route = route;
      node.id = `upload-${++rowCounter}`;
      node.dataset.name = file.name;
      node.dataset.route = route;
      $('.name', node).textContent = file.name;
      $('.name', node).title = file.name;
      $('.size', node).textContent = formatBytes(file.size);
      $('.route-tag', node).textContent = route;
      const bar = $('.bar', node);
      bar.id = `${node.id}-bar`;
      bar.setAttribute('aria-label', `Upload progress of ${file.name}`);
      this.speed = { lastTime: 0, lastBytes: 0, rate: 0 };
      $('.cancel', node).addEventListener('click', () => this.cancel());
      this.setState('queued');
      els.list.prepend(node);
      els.empty.hidden = true;
    }

    setState(state, text) {
      this.node.dataset.state = state;
      $('.state', this.node).textContent = text || STATE_TEXT[state] || state;
      const done = !['queued', 'uploading'].includes(state);
      $('.cancel', this.node).hidden = done;
      if (done) $('.speed', this.node).textContent = '';
    }

    setStatus(text) {
      $('.state', this.node).textContent = text;
    }

    progress(sent, total) {
      const pct = total > 0 ? Math.floor((sent / total) * 100) : 100;
      const bar = $('.bar', this.node);
      bar.value = pct;
      bar.setAttribute('aria-valuetext', `${pct}%`);
      $('.percent', this.node).textContent = `${pct}%`;
      const now = performance.now();
      const s = this.speed;
      if (!s.lastTime || sent < s.lastBytes) {
        s.lastTime = now;
        s.lastBytes = sent;
        return;
      }
      const dt = (now - s.lastTime) / 1000;
      if (dt < 0.25) return;
      const inst = (sent - s.lastBytes) / dt;
      s.rate = s.rate ? s.rate * 0.6 + inst * 0.4 : inst;
      s.lastTime = now;
      s.lastBytes = sent;
      const left = s.rate > 0 ? Math.ceil((total - sent) / s.rate) : 0;
      $('.speed', this.node).textContent = `${formatBytes(s.rate)}/s${left > 0 ? ` · ${left}s left` : ''}`;
    }

    showError(code, message) {
      const p = $('.error', this.node);
      $('.error-message', p).textContent = message;
      $('.error-code', p).textContent = code;
      p.hidden = false;
      this.node.dataset.errorCode = code;
    }

    showRecord(rec) {
      this.node.dataset.uploadId = rec.id || '';
      this.node.dataset.sha256 = rec.sha256 || '';
      if (rec.url) {
        const a = $('.file-link', this.node);
        a.href = rec.url;
        a.textContent = 'Open file';
        a.setAttribute('aria-label', `Open ${rec.name || this.file.name}`);
        a.hidden = false;
      }
      if (rec.url && rec.type && rec.type.startsWith('image/')) {
        const img = $('.thumb', this.node);
        // The route's thumbnail, made by the server, when there is one.
        img.src = (rec.derivatives && rec.derivatives.thumb) || rec.url;
        img.alt = `Preview of ${rec.name || this.file.name}`;
        img.hidden = false;
      }
      if (rec.type) $('.size', this.node).textContent = `${formatBytes(rec.size)} · ${rec.type}`;
      // The caption sent with an image, as the route's OnComplete kept it.
      const caption = $('.caption', this.node);
      caption.textContent = (rec.result && rec.result.caption) || '';
      caption.hidden = !caption.textContent;
      this.showScan(rec.scan, rec.signature);
    }

    // showScan shows the malware scan's outcome; a server without a
    // scanner reports none.
    showScan(scan, signature) {
      const tag = $('.scan-tag', this.node);
      const text = {
        clean: 'Scanned: clean',
        infected: `Malware${signature ? `: ${signature}` : ''}`,
        unscanned: 'Not scanned',
        released: 'Released from quarantine',
      }[scan];
      this.node.dataset.scan = scan || '';
      tag.dataset.scan = scan || '';
      tag.textContent = text || '';
      tag.hidden = !text;
    }

    async cancel() {
      if (this.upload) {
        await this.upload.abort(true);
      } else {
        const i = queue.indexOf(this);
        if (i >= 0) queue.splice(i, 1);
      }
      this.setState('canceled');
    }
  }

  async function fetchRecord(id) {
    const res = await fetch(`${BASE}/uploads/${encodeURIComponent(id)}`, { headers: { Accept: 'application/json' } });
    const text = await res.text();
    if (!res.ok) throw errorFrom(res.status, text);
    return JSON.parse(text);
  }

  const FINAL = new Set(['ready', 'rejected', 'quarantined', 'failed']);

  // poll asks for upload id's record until its state is final.
  async function poll(row, id) {
    let rec = await fetchRecord(id);
    for (let i = 0; i < 150 && !FINAL.has(rec.state); i++) {
      if (rec.state === 'processing') row.setStatus('Processing on the server (malware scan)…');
      await sleep(Math.min(500 + 100 * i, 3000));
      rec = await fetchRecord(id);
    }
    return rec;
  }

  // watch follows upload id on the server's event stream
  // (GET B/uploads/{id}/events) until its state is final, and returns the
  // final record. The server ends the stream after the final state; a
  // stream that breaks before it, or a browser without EventSource, falls
  // back to asking for the record.
  function watch(row, id) {
    if (!window.EventSource) return poll(row, id);
    return new Promise((resolve, reject) => {
      const es = new EventSource(`${BASE}/uploads/${encodeURIComponent(id)}/events`);
      let done = false;
      es.addEventListener('state', (ev) => {
        const rec = JSON.parse(ev.data);
        if (rec.state === 'processing') row.setStatus('Processing on the server (malware scan)…');
        if (FINAL.has(rec.state)) {
          done = true;
          es.close();
          resolve(rec);
        }
      });
      es.onerror = () => {
        if (done) return;
        done = true;
        es.close();
        poll(row, id).then(resolve, reject);
      };
    });
  }

  // show shows a final record on its row.
  function show(row, rec) {
    row.showRecord(rec);
    if (rec.state === 'ready') {
      row.setState('ready');
    } else if (rec.state === 'rejected' || rec.state === 'quarantined') {
      row.setState('rejected', rec.state === 'quarantined' ? 'Quarantined' : 'Rejected');
      if (rec.error) row.showError(rec.error.code, rec.error.message);
    } else if (rec.state === 'failed') {
      row.setState('failed');
      if (rec.error) row.showError(rec.error.code, rec.error.message);
    } else {
      row.setState('failed', `Unexpected state: ${rec.state}`);
      if (rec.error) row.showError(rec.error.code, rec.error.message);
    }
  }

  // settle shows the final record: large files are scanned for malware in
  // the background, and the server says when they are done.
  async function settle(row, id) {
    show(row, await watch(row, id));
  }

  // listOwn shows the visitor's earlier uploads, as GET B/uploads lists
  // them for each route, newest at the top.
  async function listOwn() {
    const recs = [];
    for (const name of routes.keys()) {
      try {
        const res = await fetch(`${BASE}/uploads?route=${encodeURIComponent(name)}&limit=20`, { headers: { Accept: 'application/json' } });
        if (!res.ok) continue;
        const body = await res.json();
        recs.push(...(body.uploads || []));
      } catch {
        // The list is a convenience: the page works without it.
      }
    }
    recs.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    for (const rec of recs) {
      const row = new Row({ name: rec.name, size: rec.size }, rec.route);
      row.node.dataset.listed = 'true';
      row.progress(1, 1);
      if (FINAL.has(rec.state)) {
        show(row, rec);
      } else {
        row.setState('uploading', rec.state === 'processing' ? 'Processing on the server…' : 'Unfinished');
        if (rec.state === 'processing') settle(row, rec.id).catch(() => {});
      }
    }
  }

  async function runUpload(row) {
    const metadata = {
      route: row.route,
      filename: row.file.name,
      filetype: row.file.type || 'application/octet-stream',
    };
    if (row.input !== undefined) metadata.input = row.input;
    const storageKey = resumeStore.key(row.route, row.file);
    const upload = new TusUpload(row.file, {
      endpoint: TUS_ENDPOINT,
      metadata,
      storageKey,
      onProgress: (sent, total) => row.progress(sent, total),
      onStatus: (text) => row.setStatus(text),
      onRetry: (attempt, delay) => {
        row.setStatus(`Connection lost; retry ${attempt} of ${RETRY_DELAYS.length} in ${delay / 1000}s…`);
      },
    });
    row.upload = upload;
    row.setState('uploading');
    try {
      await upload.start();
      resumeStore.remove(storageKey);
      row.progress(row.file.size, row.file.size);
      row.setStatus('Verified; fetching the record…');
      await settle(row, upload.id);
    } catch (err) {
      if (err instanceof AbortedError) {
        row.setState('canceled');
      } else if (err instanceof UploadError) {
        resumeStore.remove(storageKey);
        // 4xx answers other than these are refusals of the file itself.
        const failed = [401, 403, 404, 405, 409, 423, 429].includes(err.status) && !['unknown_route'].includes(err.code);
        if (err.code === 'malware_detected') {
          row.setState('rejected', 'Quarantined');
          row.showScan('infected');
        } else {
          row.setState(failed ? 'failed' : 'rejected');
        }
        row.showError(err.code, err.message);
      } else {
        row.setState('failed');
        row.showError('network_error', err.message || 'The upload could not reach the server.');
      }
    } finally {
      refreshResumeNotice();
    }
  }

  function pump() {
    while (running < MAX_PARALLEL && queue.length > 0) {
      const row = queue.shift();
      running++;
      runUpload(row).finally(() => {
        running--;
        pump();
      });
    }
  }

  function addFiles(fileList) {
    const route = els.select.value || 'files';
    const input = collectInput();
    for (const file of fileList) {
      const row = new Row(file, route);
      row.input = input;
      queue.push(row);
    }
    pump();
    refreshResumeNotice();
  }

  function refreshResumeNotice() {
    const entries = resumeStore.all();
    for (const e of entries.filter((e) => e.stale)) resumeStore.remove(e.key);
    const live = entries.filter((e) => !e.stale);
    const active = new Set([...els.list.querySelectorAll('.upload-row[data-state="uploading"], .upload-row[data-state="queued"]')]
      .map((n) => `${n.dataset.route}:${n.dataset.name}`));
    const pending = live.filter((e) => !active.has(`${e.route}:${e.name}`));
    pendingResumes = pending;
    els.resumeList.replaceChildren(...pending.map((e) => {
      const li = document.createElement('li');
      li.textContent = `${e.name} (${formatBytes(e.size)}, route ${e.route})`;
      return li;
    }));
    els.resumeNotice.hidden = pending.length === 0;
  }

  // ----- events ------------------------------------------------------------

  els.select.addEventListener('change', onRouteChange);
  els.form.addEventListener('submit', (e) => e.preventDefault());

  els.fileInput.addEventListener('change', () => {
    if (els.fileInput.files.length > 0) addFiles(els.fileInput.files);
    els.fileInput.value = '';
  });

  let dragDepth = 0;
  const setDragging = (on) => {
    els.drop.dataset.dragging = String(on);
  };
  els.drop.addEventListener('dragenter', (e) => {
    e.preventDefault();
    dragDepth++;
    setDragging(true);
  });
  els.drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  });
  els.drop.addEventListener('dragleave', () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) setDragging(false);
  });
  els.drop.addEventListener('drop', (e) => {
    e.preventDefault();
    dragDepth = 0;
    setDragging(false);
    const files = e.dataTransfer?.files;
    if (files && files.length > 0) addFiles(files);
  });
  // A file dropped beside the zone must not replace the page.
  for (const type of ['dragover', 'drop']) {
    window.addEventListener(type, (e) => {
      if (!els.drop.contains(e.target)) e.preventDefault();
    });
  }

  // Forgetting unfinished uploads also ends them on the server (tus
  // termination), so their staged bytes go at once.
  els.resumeForget.addEventListener('click', () => {
    for (const e of pendingResumes) {
      resumeStore.remove(e.key);
      if (e.url) request('DELETE', e.url, { headers: { 'Tus-Resumable': '1.0.0' } }).catch(() => {});
    }
    refreshResumeNotice();
  });

  loadRoutes().then(listOwn);
  refreshResumeNotice();
})();
