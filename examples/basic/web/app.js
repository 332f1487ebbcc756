// The Carcosa example page: pick a route, drop files, and watch them upload.
// The uploads go through @carcosa/client (./carcosa-client.js, bundled from
// clients/js by `npm run build:example`): resumable uploads by tus, each
// file its own task that can be paused, resumed, canceled and retried;
// every request to the page's own origin carries the visitor cookie the
// page was served with, which makes this browser the owner of its uploads.

import { createClient, isFinal } from './carcosa-client.js';

const BASE = (document.querySelector('meta[name="carcosa-base"]')?.content || '/api/uploads').replace(/\/+$/, '');
const MAX_PARALLEL = 3;
// tus-js-client keeps unfinished uploads' URLs in localStorage under these keys.
const STORAGE_PREFIX = 'tus::';
const STORAGE_MAX_AGE = 7 * 24 * 3600 * 1000;

const carcosa = createClient({ url: BASE });

const $ = (sel, root = document) => root.querySelector(sel);

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

// ----- unfinished uploads, as tus-js-client remembers them -------------------

const resumeStore = {
  all() {
    const out = [];
    try {
      for (let i = 0; i < localStorage.length; i++) {
        const key = localStorage.key(i);
        if (!key || !key.startsWith(STORAGE_PREFIX)) continue;
        let v = null;
        try {
          v = JSON.parse(localStorage.getItem(key) || 'null');
        } catch {
          // unreadable: stale
        }
        const age = v ? Date.now() - Date.parse(v.creationTime || '') : Infinity;
        if (!v || !(age < STORAGE_MAX_AGE)) {
          out.push({ key, stale: true });
          continue;
        }
        const md = v.metadata || {};
        out.push({ key, url: v.uploadUrl, name: md.filename || '', route: md.route || '', size: v.size });
      }
    } catch {
      // Storage may be disabled: nothing to resume.
    }
    return out;
  },
  remove(key) {
    try {
      localStorage.removeItem(key);
    } catch {
      // ignore
    }
  },
};

// ----- the page ------------------------------------------------------------

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
  total: $('#total'),
  totalBar: $('#total-bar'),
  totalText: $('#total-text'),
  totalCount: $('#total-count'),
  resumeNotice: $('#resume-notice'),
  resumeList: $('#resume-list'),
  resumeForget: $('#resume-forget'),
};

let routes = new Map();
let rowCounter = 0;
let pendingResumes = [];
const queue = [];
let running = 0;
// The rows of files chosen on this page, for the total progress.
const sessionRows = new Set();

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
  return any ? out : undefined;
}


function onRouteChange() {
  const r = currentRoute();
  els.info.textContent = routes.has(r.name) ? describeRoute(r) : '';
  els.fileInput.accept = acceptAttribute(r.accept);
  renderInputFields(r);
}

async function loadRoutes() {
  try {
    routes = new Map((await carcosa.routes()).map((r) => [r.name, r]));
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

// ----- rows ----------------------------------------------------------------

const STATE_TEXT = {
  queued: 'Waiting…',
  uploading: 'Uploading…',
  paused: 'Paused',
  processing: 'Verifying on the server…',
  ready: 'Ready',
  rejected: 'Rejected',
  quarantined: 'Quarantined',
  failed: 'Failed',
  canceled: 'Canceled',
  unfinished: 'Unfinished: choose the same file again to go on',
};

const RUNNING = new Set(['queued', 'uploading', 'paused']);

class Row {
  // file is a File chosen on this page, or { name, size } of a listed
  // upload, which cannot be sent again.
  constructor(file, route) {
    const node = els.template.content.firstElementChild.cloneNode(true);
    this.node = node;
    this.file = file;
    this.route = route;
    this.loaded = 0;
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
    for (const [cls, label] of [['pause', 'Pause'], ['cancel', 'Cancel'], ['retry', 'Retry'], ['remove', 'Remove']]) {
      $(`.${cls}`, node).setAttribute('aria-label', `${label} ${file.name}`);
    }
    this.speed = { lastTime: 0, lastBytes: 0, rate: 0 };
    $('.pause', node).addEventListener('click', () => this.togglePause());
    $('.cancel', node).addEventListener('click', () => this.cancel());
    $('.retry', node).addEventListener('click', () => this.retry());
    $('.remove', node).addEventListener('click', () => this.remove());
    this.setState('queued');
    els.list.prepend(node);
    els.empty.hidden = true;
  }

  get canResend() {
    return this.file instanceof Blob;
  }

  setState(state, text) {
    this.state = state;
    this.node.dataset.state = state;
    $('.state', this.node).textContent = text || STATE_TEXT[state] || state;
    const running = RUNNING.has(state);
    const pause = $('.pause', this.node);
    pause.hidden = !running || !this.task;
    pause.textContent = state === 'paused' ? 'Resume' : 'Pause';
    pause.setAttribute('aria-label', `${state === 'paused' ? 'Resume' : 'Pause'} ${this.file.name}`);
    $('.cancel', this.node).hidden = !running;
    $('.retry', this.node).hidden = !this.canResend || !['rejected', 'failed', 'canceled'].includes(state);
    $('.remove', this.node).hidden = running || state === 'processing';
    if (state !== 'uploading') $('.speed', this.node).textContent = '';
    if (state === 'paused') this.speed.lastTime = 0;
    updateTotal(true);
  }

  progress(sent, total) {
    this.loaded = sent;
    const pct = total > 0 ? Math.floor((sent / total) * 100) : 100;
    const bar = $('.bar', this.node);
    bar.value = pct;
    bar.setAttribute('aria-valuetext', `${pct}%`);
    $('.percent', this.node).textContent = `${pct}%`;
    updateTotal(false);
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
    if (this.state === 'uploading') {
      $('.speed', this.node).textContent = `${formatBytes(s.rate)}/s${left > 0 ? ` · ${left}s left` : ''}`;
    }
  }

  showError(code, message) {
    const p = $('.error', this.node);
    $('.error-message', p).textContent = message;
    $('.error-code', p).textContent = code;
    p.hidden = false;
    this.node.dataset.errorCode = code;
  }

  clearError() {
    $('.error', this.node).hidden = true;
    delete this.node.dataset.errorCode;
  }

  showRecord(rec) {
    this.id = rec.id;
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

  togglePause() {
    if (!this.task) return;
    if (this.task.paused) this.task.resume();
    else this.task.pause();
  }

  async cancel() {
    if (this.task) {
      await this.task.cancel();
    } else {
      const i = queue.indexOf(this);
      if (i >= 0) queue.splice(i, 1);
    }
    this.setState('canceled');
    refreshResumeNotice();
  }

  retry() {
    if (!this.canResend) return;
    this.task = undefined;
    this.clearError();
    this.progress(0, this.file.size);
    this.setState('queued');
    queue.push(this);
    pump();
  }

  // remove takes the row away, and deletes its file on the server when it
  // has one: the Remove button is the visitor's delete.
  async remove() {
    const btn = $('.remove', this.node);
    btn.disabled = true;
    if (this.id && this.state !== 'canceled') {
      try {
        await carcosa.delete(this.id);
      } catch (err) {
        if (err.status !== 404) {
          btn.disabled = false;
          this.showError(err.code || 'error', `Could not delete it: ${err.message}`);
          return;
        }
      }
    }
    sessionRows.delete(this);
    this.node.remove();
    els.empty.hidden = els.list.children.length > 0;
    updateTotal(true);
  }
}

// updateTotal shows the progress of all the files chosen on this page that
// are not canceled; the count of files done, which is announced, changes
// only with states.
function updateTotal(states) {
  const rows = [...sessionRows].filter((r) => r.state !== 'canceled');
  els.total.hidden = rows.length === 0;
  let loaded = 0;
  let total = 0;
  for (const r of rows) {
    const size = r.file.size || 0;
    total += size;
    loaded += RUNNING.has(r.state) ? Math.min(r.loaded, size) : size;
  }
  const pct = total > 0 ? Math.floor((100 * loaded) / total) : rows.length > 0 ? 100 : 0;
  els.totalBar.value = pct;
  els.totalBar.setAttribute('aria-valuetext', `${pct}%`);
  els.totalText.textContent = `${pct}% · ${formatBytes(loaded)} of ${formatBytes(total)}`;
  if (states) {
    const done = rows.filter((r) => !RUNNING.has(r.state) && r.state !== 'processing').length;
    els.totalCount.textContent = `${done} of ${rows.length} ${rows.length === 1 ? 'file' : 'files'} done`;
  }
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

// listOwn shows the visitor's earlier uploads, as the client lists them for
// each route (GET B/uploads), newest at the top.
async function listOwn() {
  const recs = [];
  for (const name of routes.keys()) {
    try {
      const page = await carcosa.list(name, { limit: 20 });
      recs.push(...page.uploads);
    } catch {
      // The list is a convenience: the page works without it.
    }
  }
  recs.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  for (const rec of recs) {
    const row = new Row({ name: rec.name, size: rec.size }, rec.route);
    row.node.dataset.listed = 'true';
    row.id = rec.id;
    row.node.dataset.uploadId = rec.id;
    row.progress(1, 1);
    if (isFinal(rec.state)) {
      show(row, rec);
    } else if (rec.state === 'processing') {
      row.setState('processing', 'Processing on the server…');
      carcosa.wait(rec.id).then((r) => show(row, r), () => {});
    } else {
      // Sent in part, from this browser: choosing the same file again
      // resumes it; Remove ends it.
      row.setState('unfinished');
    }
  }
}

async function runUpload(row) {
  const task = carcosa.start(row.route, row.file, {
    input: row.input,
    resumable: true,
    onProgress: ({ file }) => row.progress(file.loaded, file.total),
    onFileChange: (f) => {
      if (f.id) {
        row.id = f.id;
        row.node.dataset.uploadId = f.id;
      }
      if (f.state === 'uploading' && f.resumedFrom) {
        row.setState('uploading', `Resuming from ${Math.floor((100 * f.resumedFrom) / (f.total || 1))}%…`);
      } else if (f.state === 'processing') {
        row.setState('processing', 'Processing on the server (malware scan)…');
      } else if (RUNNING.has(f.state)) {
        row.setState(f.state);
      }
    },
  });
  row.task = task;
  row.setState('uploading');
  try {
    const [rec] = await task.promise;
    row.progress(row.file.size, row.file.size);
    show(row, rec);
  } catch (err) {
    const f = task.files[0];
    if (err.code === 'canceled') {
      row.setState('canceled');
    } else if (err.upload || f?.record) {
      show(row, err.upload || f.record);
      if (err.code === 'malware_detected') row.showScan('infected');
    } else if (err.code === 'malware_detected') {
      row.setState('rejected', 'Quarantined');
      row.showScan('infected');
      row.showError(err.code, err.message);
    } else {
      // Unreachable, or the server failed: failed; its refusals: rejected.
      const failed = !err.status || err.status >= 500 || [401, 403, 404, 405, 409, 423, 429].includes(err.status);
      row.setState(failed && err.code !== 'unknown_route' ? 'failed' : 'rejected');
      row.showError(err.code || 'network_error', err.message || 'The upload could not reach the server.');
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
    sessionRows.add(row);
    queue.push(row);
  }
  updateTotal(true);
  pump();
  refreshResumeNotice();
}

function refreshResumeNotice() {
  const entries = resumeStore.all();
  for (const e of entries.filter((e) => e.stale)) resumeStore.remove(e.key);
  const live = entries.filter((e) => !e.stale);
  const active = new Set([...els.list.querySelectorAll('.upload-row[data-state="uploading"], .upload-row[data-state="queued"], .upload-row[data-state="paused"]')]
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

// ----- events --------------------------------------------------------------

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
    if (e.url) fetch(e.url, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0' } }).catch(() => {});
  }
  refreshResumeNotice();
});

loadRoutes().then(listOwn);
refreshResumeNotice();
