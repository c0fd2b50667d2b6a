// Demo page: log in to the local PeerTube-shaped server, upload a file with progress, pause,
// resume and cancel, in the page or in a dedicated Web Worker.
import init, { Upload, UploadError, peertubeLogin } from './pkg/chunkup.js';

const $ = id => document.getElementById(id);
const ui = {
  start: $('start'), pause: $('pause'), resume: $('resume'), cancel: $('cancel'),
  bar: $('bar'), figures: $('figures'), status: $('status'), log: $('log'), file: $('file')
};

const fmt = n => {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
};
const log = line => { ui.log.textContent += `${new Date().toLocaleTimeString()}  ${line}\n`; ui.log.scrollTop = 1e9; };
const status = (text, state = 'busy') => { ui.status.textContent = text; ui.status.dataset.state = state; };
const buttons = ({ start, pause, resume, cancel }) => {
  ui.start.disabled = !start; ui.pause.disabled = !pause; ui.resume.disabled = !resume; ui.cancel.disabled = !cancel;
};

function onProgress({ loaded, total, bytesPerSecond }) {
  ui.bar.max = total || 1;
  ui.bar.value = loaded;
  const pct = total ? ((loaded / total) * 100).toFixed(1) : '0.0';
  ui.figures.textContent = `${fmt(loaded)} / ${fmt(total)} (${pct} %) — ${fmt(bytesPerSecond)}/s`;
}

// One controller shape for both modes: { start() → Promise, pause(), resume(), abort() }.
function inPage(file, options) {
  const upload = new Upload(file, { ...options, onProgress });
  return { start: () => upload.start(), pause: () => upload.pause(), resume: () => upload.resume(), abort: () => upload.abort() };
}

function inWorker(file, options) {
  const worker = new Worker(new URL('./demo-worker.js', import.meta.url), { type: 'module' });
  const done = new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.type === 'progress') onProgress(data.p);
      else if (data.type === 'done') { resolve(data.result); worker.terminate(); }
      else if (data.type === 'error') { reject(Object.assign(new Error(data.error.message), data.error)); worker.terminate(); }
    };
    worker.onerror = e => { reject(new Error(e.message)); worker.terminate(); };
  });
  return {
    start: () => { worker.postMessage({ type: 'start', file, options }); return done; },
    pause: () => worker.postMessage({ type: 'pause' }),
    resume: () => worker.postMessage({ type: 'resume' }),
    abort: async () => worker.postMessage({ type: 'abort' })
  };
}

let current = null;

async function startUpload() {
  const file = ui.file.files[0];
  if (!file) return;
  const endpoint = $('endpoint').value.trim();
  buttons({ cancel: true });
  try {
    status('Logging in…');
    const token = await peertubeLogin({ endpoint, username: $('username').value, password: $('password').value });
    log(`logged in as ${$('username').value}`);
    const options = {
      provider: 'peertube',
      endpoint,
      accessToken: token.access_token,
      channelId: Number($('channelId').value),
      chunkSize: Math.round(Number($('chunkMiB').value) * 1024 * 1024),
      name: file.name
    };
    const worker = $('inWorker').checked;
    current = worker ? inWorker(file, options) : inPage(file, options);
    onProgress({ loaded: 0, total: file.size, bytesPerSecond: 0 });
    status(`Uploading ${file.name}${worker ? ' (in a Web Worker)' : ''}…`);
    log(`start: ${file.name}, ${fmt(file.size)}, chunks of ${fmt(options.chunkSize)}`);
    buttons({ pause: true, cancel: true });
    const t0 = performance.now();
    const result = await current.start();
    const secs = (performance.now() - t0) / 1000;
    status(`Done in ${secs.toFixed(2)} s — video ${result.video.uuid}`, 'done');
    log(`done: ${JSON.stringify(result)}`);
    await showServerCopy(endpoint);
  } catch (e) {
    const kind = e instanceof UploadError || e.code ? `${e.code}${e.status ? ` (HTTP ${e.status})` : ''}` : 'error';
    status(`${e.code === 'aborted' ? 'Cancelled' : 'Failed'}: ${kind} — ${e.message}`, e.code === 'aborted' ? 'idle' : 'error');
    log(`${kind}: ${e.message}${e.retryable ? ' (retryable)' : ''}`);
  } finally {
    current = null;
    buttons({ start: !!ui.file.files[0] });
  }
}

// The fake server can tell what it holds; a real PeerTube cannot (the request just fails quietly).
async function showServerCopy(endpoint) {
  try {
    const r = await fetch(`${endpoint}/__control/session/default/uploads`);
    if (!r.ok) return;
    const last = (await r.json()).filter(u => u.state === 'complete').at(-1);
    if (last) log(`server holds ${last.received} bytes, sha256 ${last.sha256}`);
  } catch { /* not the fake */ }
}

ui.file.addEventListener('change', () => buttons({ start: !!ui.file.files[0] && !current }));
ui.start.addEventListener('click', startUpload);
ui.pause.addEventListener('click', () => { current?.pause(); buttons({ resume: true, cancel: true }); status('Paused (the in-flight chunk settles first).', 'idle'); log('pause'); });
ui.resume.addEventListener('click', () => { current?.resume(); buttons({ pause: true, cancel: true }); status('Uploading…'); log('resume'); });
ui.cancel.addEventListener('click', async () => { log('cancel'); buttons({}); await current?.abort(); });

try {
  await init();
  status('Ready: pick a file.', 'idle');
  buttons({ start: !!ui.file.files[0] });
  document.documentElement.dataset.ready = '1';
} catch (e) {
  status(`Could not load chunkup: ${e.message}`, 'error');
}
