// Benchmark page: loaded by tests/bench/run.mjs in Chromium, Firefox and WebKit. Exposes the runs
// as window functions; watches the main thread for the whole life of the page in two ways:
// long tasks (PerformanceObserver 'longtask', where the engine has it: Chromium) and, in every
// engine, a timer that should fire every 20 ms: a firing more than 50 ms late means the main
// thread was busy for that long (a "stall").
import init, { Upload } from './pkg/chunkup.js';

const HAS_LONGTASK = !!globalThis.PerformanceObserver?.supportedEntryTypes?.includes('longtask');
const longTasks = [];
if (HAS_LONGTASK) {
  new PerformanceObserver(list => { for (const e of list.getEntries()) longTasks.push({ start: e.startTime, duration: e.duration }); })
    .observe({ type: 'longtask', buffered: true });
}
const stalls = [];
const TICK = 20;
let lastTick = performance.now();
setInterval(() => {
  const now = performance.now();
  const late = now - lastTick - TICK;
  if (late > 50) stalls.push({ start: lastTick + TICK, duration: late });
  lastTick = now;
}, TICK);
/** Time windows in which chunkup was uploading (`window.peertube` runs). */
const uploading = [];
performance.setResourceTimingBufferSize(100000);

let wasm;
window.ready = init().then(exports => { wasm = exports; });

const MIB = 1024 * 1024;

/** A File of `size` bytes built from one random 4 MiB block (no time spent generating data). */
const files = new Map();
function makeFile(size, name = 'bench.mp4') {
  // One Blob per size for the whole run, built from 4 MiB parts. A 256 MiB Blob made of 4096 parts
  // of 64 KiB, or a fresh one per run, makes Chromium fail slices with ERR_BLOB_OUT_OF_MEMORY even
  // for a bare XHR loop: a property of generated in-memory Blobs, not of uploading (files picked
  // from disk, as in section 4, do not hit it).
  if (files.has(size)) return files.get(size);
  files.set(size, makeFresh(size, name));
  return files.get(size);
}
function makeFresh(size, name) {
  const block = new Uint8Array(4 * MIB);
  for (let i = 0; i < block.length; i += 65536) crypto.getRandomValues(block.subarray(i, i + 65536));
  const parts = [];
  for (let left = size; left > 0; left -= block.length) parts.push(left >= block.length ? block : block.subarray(0, left));
  return new File(parts, name, { type: 'video/mp4' });
}

/**
 * Main-thread blocking while chunkup uploaded, and outside the uploads (the bench building its
 * files): `longtask` (null where the engine has no long-task entries) and `stalls` (timer gaps).
 */
window.longTasks = () => ({ longtask: HAS_LONGTASK ? summary(longTasks) : null, stalls: summary(stalls) });

/** Entries over 50 ms: those overlapping an upload window, and the others. */
function summary(entries) {
  const long = entries.filter(t => t.duration > 50);
  /** The upload window [start, end, label] a task overlaps, if any. */
  const runOf = t => uploading.find(([a, b]) => t.start < b && t.start + t.duration > a);
  const during = long.filter(runOf);
  return {
    /** Each long task while uploading: its duration, ms into the run, and which run. */
    runs: during.map(t => {
      const [a, , label] = runOf(t);
      return `${t.duration.toFixed(0)} ms at +${(t.start - a).toFixed(0)} ms in ${label}`;
    }),
    count: during.length,
    max: Math.max(0, ...during.map(t => t.duration)),
    outside: long.length - during.length,
    outsideMax: Math.max(0, ...long.filter(t => !during.includes(t)).map(t => t.duration)),
  };
}

/** Init + one plain fetch PUT of the whole Blob: the most a browser can push to this server. */
window.ceiling = async ({ fake, s, size }) => {
  const file = makeFile(size);
  const t0 = performance.now();
  const init = await fetch(`${fake}/api/v1/videos/upload-resumable`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${s.token}`, 'Content-Type': 'application/json', 'X-Upload-Content-Length': String(size), 'X-Upload-Content-Type': 'video/mp4' },
    body: JSON.stringify({ name: 'bench', channelId: s.channelId, filename: 'bench.mp4' })
  });
  const loc = new URL(init.headers.get('Location'), fake).href;
  const put = await fetch(loc, { method: 'PUT', headers: { Authorization: `Bearer ${s.token}`, 'Content-Range': `bytes 0-${size - 1}/${size}` }, body: file });
  if (!put.ok) throw new Error(`ceiling PUT ${put.status}`);
  return performance.now() - t0;
};

/** chunkup PeerTube upload; `file` is a generated size or the picked <input type=file>. */
window.peertube = async ({ endpoint, s, size, chunkSize, fromInput, progress, integrity, storage }) => {
  await window.ready;
  const file = fromInput ? document.getElementById('file').files[0] : makeFile(size);
  const o = { provider: 'peertube', endpoint, accessToken: s.token, channelId: s.channelId };
  if (chunkSize) o.chunkSize = chunkSize;
  if (integrity) o.integrity = true;
  if (storage !== undefined) o.storage = storage;
  const events = [];
  if (progress) o.onProgress = p => events.push([performance.now(), p.loaded]);
  performance.clearResourceTimings();
  // Building a test file is a long task of the bench's own: let it end before the upload starts,
  // so that a long task overlapping the upload is the upload's.
  await new Promise(r => setTimeout(r, 0));
  const t0 = performance.now();
  try {
    await new Upload(file, o).start();
  } catch (e) {
    throw new Error(`${e.code} ${e.status ?? ''}: ${e.message}`);
  } finally {
    const what = fromInput ? 'picked file' : `${(size / 1048576).toFixed(0)} MiB`;
    uploading.push([t0, performance.now(), `${what}, chunkSize ${chunkSize ?? 'default'}${integrity ? ', integrity' : ''}${storage === false ? ', storage off' : ''}`]);
  }
  const ms = performance.now() - t0;
  // Per-chunk overhead: gap between one chunk's response end and the next request's start.
  const reqs = performance.getEntriesByType('resource').filter(e => e.name.includes('upload_id=')).sort((a, b) => a.startTime - b.startTime);
  const gaps = [];
  for (let i = 1; i < reqs.length; i++) gaps.push(reqs[i].startTime - reqs[i - 1].responseEnd);
  return { ms, gaps, requests: reqs.length, events };
};

/** Samples wasm linear memory and the JS heap every second until `stop()`. */
let samples = [];
let timer = null;
window.startSampling = () => {
  samples = [];
  const take = () => samples.push({ t: performance.now(), wasm: wasm.memory.buffer.byteLength, heap: performance.memory?.usedJSHeapSize ?? 0 });
  take();
  timer = setInterval(take, 1000);
};
window.stopSampling = () => { clearInterval(timer); return samples; };
window.MIB = MIB;

/** Baseline for the per-chunk overhead: the same uploadx chunks sent by a bare JS loop of XHRs. */
window.rawLoop = async ({ fake, s, size, chunkSize, useFetch }) => {
  const file = makeFile(size);
  const init = await fetch(`${fake}/api/v1/videos/upload-resumable`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${s.token}`, 'Content-Type': 'application/json', 'X-Upload-Content-Length': String(size), 'X-Upload-Content-Type': 'video/mp4' },
    body: JSON.stringify({ name: 'bench', channelId: s.channelId, filename: 'bench.mp4' })
  });
  const loc = new URL(init.headers.get('Location'), fake).href;
  performance.clearResourceTimings();
  const t0 = performance.now();
  for (let start = 0; start < size; start += chunkSize) {
    const end = Math.min(size, start + chunkSize);
    if (useFetch) {
      const r = await fetch(loc, { method: 'PUT', headers: { Authorization: `Bearer ${s.token}`, 'Content-Range': `bytes ${start}-${end - 1}/${size}` }, body: file.slice(start, end) });
      await r.arrayBuffer();
      continue;
    }
    await new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open('PUT', loc);
      x.setRequestHeader('Authorization', `Bearer ${s.token}`);
      x.setRequestHeader('Content-Range', `bytes ${start}-${end - 1}/${size}`);
      x.upload.onprogress = () => {};
      x.onload = resolve;
      x.onerror = reject;
      x.send(file.slice(start, end));
    });
  }
  const ms = performance.now() - t0;
  const reqs = performance.getEntriesByType('resource').filter(e => e.name.includes('upload_id=')).sort((a, b) => a.startTime - b.startTime);
  const gaps = [];
  for (let i = 1; i < reqs.length; i++) gaps.push(reqs[i].startTime - reqs[i - 1].responseEnd);
  return { ms, gaps, requests: reqs.length };
};
