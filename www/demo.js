// Demo page: pick a provider (each played by a local fake), drop files, upload them through an
// UploadQueue with per-file progress, speed, time left, pause / resume / cancel, in the page or in
// a dedicated Web Worker. Field values can be preset from the URL: ?peertube-endpoint=…&concurrency=3
import init, { UploadError } from './pkg/chunkup.js';
import { UploadQueue } from './pkg/queue.js';
import { DEFAULTS, connect, newAccount } from './demo-providers.js';

const $ = id => document.getElementById(id);
const val = id => $(id).value.trim();
const MiB = 1024 * 1024;

const fmt = n => {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
};
const eta = s => (!Number.isFinite(s) ? '—' : s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`);
const figures = ({ loaded, total, bytesPerSecond }) => {
  const pct = total ? ((loaded / total) * 100).toFixed(1) : '0.0';
  const speed = bytesPerSecond > 0 ? ` — ${fmt(bytesPerSecond)}/s, ${eta((total - loaded) / bytesPerSecond)} left` : '';
  return `${fmt(loaded)} / ${fmt(total)} (${pct} %)${speed}`;
};
/** An UploadError (or its copy from the worker) in words: code, HTTP status, message. */
const inWords = e => (e?.code ? `${e.code}${e.status ? ` (HTTP ${e.status})` : ''}: ${e.message}` : String(e?.message ?? e));

const log = line => { $('log').textContent += `${new Date().toLocaleTimeString()}  ${line}\n`; };
const status = (text, state = 'busy') => { $('status').textContent = text; $('status').dataset.state = state; };
const provider = () => document.querySelector('input[name=provider]:checked').value;

// ---- credentials: the inputs `<provider>-<key>` hold what demo-providers.js needs ----------------

const fields = p => Object.fromEntries(Object.keys(DEFAULTS[p]).map(k => {
  const el = $(`${p}-${k}`);
  return [k, el.type === 'checkbox' ? el.checked : el.type === 'password' ? el.value : el.value.trim()];
}));
function showAccount(p, { id, values }) {
  for (const [k, v] of Object.entries(values)) $(`${p}-${k}`).value = v;
  Object.assign($('session').dataset, { provider: p, id });
  $('session').textContent = `test account ${id} on the ${p} fake`;
  log(`${p}: new test account ${id}`);
}

// ---- uploads in a Web Worker: the same { start, pause, resume, abort } shape as Upload ---------

let worker = null;
const calls = new Map();
let callSeq = 0;
function workerUpload(input, options) {
  if (!worker) {
    worker = new Worker(new URL('./demo-worker.js', import.meta.url), { type: 'module' });
    worker.onmessage = ({ data }) => {
      const c = calls.get(data.id);
      if (!c) return;
      if (data.type === 'progress') c.onProgress?.(data.p);
      else if (data.type === 'done') { c.resolve(data.result); calls.delete(data.id); }
      else if (data.type === 'error') { c.reject(Object.assign(new Error(data.error.message), data.error)); calls.delete(data.id); }
    };
  }
  const id = ++callSeq;
  const { onProgress, ...plain } = options; // functions do not cross to the worker
  const post = type => worker.postMessage({ type, id });
  return {
    start: () => new Promise((resolve, reject) => {
      calls.set(id, { resolve, reject, onProgress });
      worker.postMessage({ type: 'start', id, input, options: plain });
    }),
    pause: () => post('pause'),
    resume: () => post('resume'),
    abort: async () => post('abort')
  };
}

// ---- the queue and its rows ----------------------------------------------------------------------

let queue = null; // the running UploadQueue (one per provider and log-in)
let perFile = null;
let queueProvider = null;
const entries = []; // { input, name, size, row, item }

function row(entry) {
  const li = document.createElement('li');
  li.dataset.name = entry.name;
  li.dataset.state = 'ready';
  li.innerHTML = `<span class="name"></span><span class="buttons"><button class="pause" disabled>Pause</button><button class="resume" disabled>Resume</button><button class="cancel">Cancel</button></span>
    <progress class="bar" value="0" max="1"></progress><span class="figures"></span><span class="state">Waiting for “Upload”</span>`;
  li.querySelector('.name').textContent = `${entry.name} (${fmt(entry.size)})`;
  li.querySelector('.figures').textContent = figures({ loaded: 0, total: entry.size, bytesPerSecond: 0 });
  li.querySelector('.pause').onclick = () => { log(`pause ${entry.name}`); entry.item?.pause(); };
  li.querySelector('.resume').onclick = () => { log(`resume ${entry.name}`); entry.item?.resume(); };
  li.querySelector('.cancel').onclick = () => {
    log(`cancel ${entry.name}`);
    if (entry.item) entry.item.cancel();
    else { entries.splice(entries.indexOf(entry), 1); li.remove(); buttons(); }
  };
  $('queue').append(li);
  return li;
}

const STATE_TEXT = { queued: 'Queued', uploading: 'Uploading…', paused: 'Paused (the request in flight settles first)', cancelled: 'Cancelled' };
function resultText(p, r) {
  if (p === 'peertube') return `video ${r.video.id}, uuid ${r.video.uuid}`;
  if (p === 'apivideo') return `videoId ${r.videoId}`;
  if (p === 'cloudreve') return `${r.uri}`;
  if (p === 'mangadex') return `chapter ${r.data?.id}`;
  return JSON.stringify(r);
}

function showItem(item) {
  const entry = entries.find(e => e.item === item);
  if (!entry) return;
  const li = entry.row;
  li.dataset.state = item.state;
  li.querySelector('.bar').max = item.total || 1;
  li.querySelector('.bar').value = item.loaded;
  li.querySelector('.figures').textContent = figures(item);
  li.querySelector('.pause').disabled = !['queued', 'uploading'].includes(item.state);
  li.querySelector('.resume').disabled = item.state !== 'paused';
  li.querySelector('.cancel').disabled = ['done', 'error', 'cancelled'].includes(item.state);
  const text = item.state === 'done' ? `Done — ${resultText(queueProvider, item.result)}`
    : item.state === 'error' ? `Failed — ${inWords(item.error)}` : STATE_TEXT[item.state];
  li.querySelector('.state').textContent = text;
}

function showOverall(p) {
  $('bar').max = p.total || 1;
  $('bar').value = p.loaded;
  const counts = ['uploading', 'queued', 'paused', 'done', 'error', 'cancelled'].filter(k => p[k]).map(k => `${p[k]} ${k}`).join(', ');
  $('figures').textContent = `${figures(p)}${counts ? ` — ${counts}` : ''}`;
  buttons();
}

function buttons() {
  const items = queue?.items ?? [];
  $('start').disabled = !entries.some(e => !e.item) || !document.documentElement.dataset.ready;
  $('pauseAll').disabled = !items.some(i => ['queued', 'uploading'].includes(i.state));
  $('resumeAll').disabled = !items.some(i => i.state === 'paused');
  $('cancelAll').disabled = !items.some(i => ['queued', 'uploading', 'paused'].includes(i.state));
}

function addFiles(fileList) {
  const files = [...fileList];
  if (!files.length) return;
  // MangaDex: the files dropped together are one chapter, in name order; elsewhere one upload per file.
  const groups = provider() === 'mangadex'
    ? [files.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }))]
    : files.map(f => [f]);
  for (const g of groups) {
    const entry = { input: g.length === 1 && provider() !== 'mangadex' ? g[0] : g, name: g.length === 1 ? g[0].name : `${g.length} pages (${g[0].name} …)`, size: g.reduce((n, f) => n + f.size, 0) };
    entry.row = row(entry);
    entries.push(entry);
    log(`picked ${entry.name}, ${fmt(entry.size)}`);
  }
  // While a queue is running for this provider, new files join it.
  if (queue && queueProvider === provider() && queue.items.some(i => ['queued', 'uploading', 'paused'].includes(i.state))) enqueue();
  buttons();
}

function enqueue() {
  for (const entry of entries.filter(e => !e.item)) {
    [entry.item] = queue.add([entry.input], perFile);
    showItem(entry.item);
  }
}

async function startUploads() {
  const p = provider();
  $('start').disabled = true;
  try {
    if (!queue || queueProvider !== p || !queue.items.some(i => ['queued', 'uploading', 'paused'].includes(i.state))) {
      status(`Logging in to ${p}…`);
      const chunkSize = Math.round(Number(val('chunkMiB')) * MiB);
      const setup = await connect(p, fields(p), { chunkSize, fill: account => showAccount(p, account) });
      log(`${p}: logged in`);
      perFile = setup.perFile;
      queueProvider = p;
      queue = new UploadQueue({
        ...setup.options,
        concurrency: setup.concurrency ?? Math.max(1, Number(val('concurrency')) || 1),
        createUpload: $('inWorker').checked ? workerUpload : undefined,
        onFileState: showItem,
        onFileProgress: showItem,
        onFileStart: item => log(`start: ${item.name}${$('inWorker').checked ? ' (in a Web Worker)' : ''}`),
        onFileDone: (item, r) => log(`done: ${item.name} → ${resultText(p, r)}`),
        onFileError: (item, e) => log(`failed: ${item.name} → ${inWords(e)}`),
        onFileCancel: item => log(`cancelled: ${item.name}`),
        onProgress: showOverall
      });
    }
    enqueue();
    status(`Uploading to ${p}…`);
    const items = await queue.settled();
    const n = k => items.filter(i => i.state === k).length;
    const failed = n('error');
    status(`${n('done')} done, ${failed} failed, ${n('cancelled')} cancelled.`, failed ? 'error' : 'done');
  } catch (e) {
    status(`Could not start: ${inWords(e)}`, 'error');
    log(`error: ${inWords(e)}${e instanceof UploadError && e.retryable ? ' (retryable)' : ''}`);
  } finally {
    buttons();
  }
}

// ---- wiring ----------------------------------------------------------------------------------------

for (const [k, v] of new URLSearchParams(location.search)) if ($(k) && 'value' in $(k)) $(k).value = v;

function showProvider() {
  const p = provider();
  for (const fs of document.querySelectorAll('fieldset[data-provider]')) fs.hidden = fs.dataset.provider !== p;
  $('chunkMiB').disabled = p === 'cloudreve' || p === 'mangadex'; // the storage policy / whole pages decide
  $('files').accept = p === 'mangadex' ? 'image/jpeg,image/png,image/gif' : '';
}
for (const r of document.querySelectorAll('input[name=provider]')) r.addEventListener('change', showProvider);
showProvider();

$('files').addEventListener('change', () => { addFiles($('files').files); $('files').value = ''; });
const drop = $('drop');
drop.addEventListener('dragover', e => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', e => { e.preventDefault(); drop.classList.remove('over'); addFiles(e.dataTransfer.files); });
$('start').addEventListener('click', startUploads);
$('pauseAll').addEventListener('click', () => { log('pause all'); queue?.pause(); });
$('resumeAll').addEventListener('click', () => { log('resume all'); queue?.resume(); });
$('cancelAll').addEventListener('click', () => { log('cancel all'); queue?.cancel(); });
$('account').addEventListener('click', async () => {
  const p = provider();
  try { showAccount(p, await newAccount(p, val(`${p}-endpoint`))); } catch (e) { status(inWords(e), 'error'); }
});

try {
  await init();
  document.documentElement.dataset.ready = '1';
  status('Ready: pick a provider and some files.', 'idle');
  buttons();
} catch (e) {
  status(`Could not load chunkup: ${e.message}`, 'error');
}
