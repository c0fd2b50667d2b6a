// chunkup benchmark: `npm run bench` (builds, then runs this). Chromium, Firefox ESR and WebKit
// (tests/e2e/engines.mjs) against fake servers on 127.0.0.1; each section runs in every engine and
// the figures are printed side by side, one column per engine, every figure next to its peer from
// the same run and engine.
//
//   1. throughput: uploadx init + one plain fetch PUT of the whole Blob (the ceiling), vs chunkup
//   2. official @api.video/video-uploader vs chunkup on the api.video fake (HTTPS), 64 and 256 MiB
//   3. per-chunk overhead: response end → next request start, over ~1000 small chunks
//   4. memory (Chromium only: performance.memory): a 5 GiB sparse file picked through <input type=file>
//   5. main thread: long tasks (> 50 ms; PerformanceObserver 'longtask', Chromium only) and, in every
//      engine, timer stalls (a 20 ms interval firing > 50 ms late) during all of the above
//   6. size: chunkup's .wasm + JS glue vs tus-js-client, the official api.video uploader and
//      @uppy/core + @uppy/tus, bundled and minified with esbuild (no browser)
//   7. progress: onProgress calls for one 32 MiB chunk on loopback, and the longest gap between
//      progress events of one 16 MiB chunk over an uplink throttled to 10 Mbit/s
//
// Chromium's DevTools network emulation (an uplink with latency) has no peer in the other engines:
// the rows that use it say "(Chromium only)".
//
// Env: BENCH_ENGINES (default E2E_ENGINES, else all three), BENCH_MIB (default 256), BENCH_RUNS
// (best of, default 3), BENCH_BIG_GIB (default 5; 0 skips 4), BENCH_SKIP (comma list of sections).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { REPO_ROOT } from '../servers/common.mjs';
import { ALL_ENGINES, ENGINES as E2E_ENGINES, launchEngine } from '../e2e/engines.mjs';
import { WWW, control, ensureFake, pageServer } from '../e2e/harness.mjs';
import { openApiVideoPage } from './apivideo-page.mjs';

const FAKE = process.env.CHUNKUP_PEERTUBE_URL || `http://127.0.0.1:${process.env.PEERTUBE_PORT || 18081}`;
const ENGINES = process.env.BENCH_ENGINES ? process.env.BENCH_ENGINES.split(',').map(s => s.trim()).filter(Boolean) : E2E_ENGINES;
const MIB = 1024 * 1024;
const SIZE_MIB = Number(process.env.BENCH_MIB || 256);
const RUNS = Number(process.env.BENCH_RUNS || 3);
const BIG_GIB = Number(process.env.BENCH_BIG_GIB ?? 5);
const SKIP = new Set((process.env.BENCH_SKIP || '').split(',').filter(Boolean).map(Number));
for (const e of ENGINES) if (!ALL_ENGINES.includes(e)) throw new Error(`BENCH_ENGINES: unknown engine ${e}`);

const out = (...a) => process.stdout.write(`${a.join(' ')}\n`);
const rate = (bytes, ms) => `${(bytes / MIB / (ms / 1000)).toFixed(1)} MiB/s`;
const median = a => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * p))] : NaN; };

/** Rows of the side-by-side table: key → { section, name, target, cells: { engine: [figure, met] } }. */
const rows = new Map();
const notes = new Map(); // section → lines printed under its table
function record(engine, section, name, figure, target = '', met = true) {
  const key = `${section}\u0000${name}`;
  if (!rows.has(key)) rows.set(key, { section, name, target, cells: {} });
  rows.get(key).cells[engine] = [figure, met];
  out(`  [${engine}] ${section}. ${name}: ${figure}${target ? `   (target ${target}: ${met ? 'met' : 'NOT met'})` : ''}`);
}
function note(section, line) {
  if (!notes.has(section)) notes.set(section, []);
  notes.get(section).push(line);
}
const TITLES = {
  1: `Throughput vs a plain fetch PUT, PeerTube fake, ${SIZE_MIB} MiB, best of ${RUNS}`,
  2: `api.video: official @api.video/video-uploader vs chunkup (HTTPS fake on loopback), taking turns, median of ${Math.max(RUNS, 5)} rounds`,
  3: 'Per-chunk overhead: 1000 chunks of 64 KiB (response end → next request start)',
  4: `Memory: a ${BIG_GIB} GiB sparse file from disk, picked through <input type=file> (Chromium only: performance.memory)`,
  5: 'Main thread while chunkup uploaded (sections 1, 3, 4, 7)',
  6: 'Size (raw / gzip -9; no browser)',
  7: 'Progress events'
};

async function bestOf(fn) {
  let best = Infinity;
  for (let i = 0; i < RUNS; i++) best = Math.min(best, await fn());
  return best;
}

/**
 * Chromium's own uplink emulation (DevTools) on an engines.mjs page: `latency` ms per request,
 * `mbit` Mbit/s shared by all requests. Returns the function that lifts it.
 */
async function emulateUplink(page, { latency, mbit }) {
  const cdp = await page.raw.context().newCDPSession(page.raw);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency, downloadThroughput: -1, uploadThroughput: mbit * 1e6 / 8 });
  return async () => {
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
  };
}

const stopFake = await ensureFake('peertube', FAKE);
const pages = await pageServer();
// A same-origin proxy to the fake that lets 10 Mbit/s through (section 7, every engine).
const slow = await pageServer({ proxies: { '/peertube-api': FAKE }, throttleBps: 10e6 / 8 });
const session = () => control(FAKE, 'POST', '/session', {});

async function benchEngine(engine) {
  const chromium = engine === 'chromium';
  out(`\n=== ${engine}`);
  const browser = await launchEngine(engine);
  const page = await browser.newPage();
  await page.goto(`${pages.origin}/bench.html`);
  await page.evaluate(() => window.ready);
  const peertube = a => page.evaluate(x => window.peertube(x), a);
  let throttled = null; // main-thread figures of section 7's pages

  // ---- 1. throughput ---------------------------------------------------------------------------------
  if (!SKIP.has(1)) {
    const size = SIZE_MIB * MIB;
    const ceiling = await bestOf(async () => page.evaluate(a => window.ceiling(a), { fake: FAKE, s: await session(), size }));
    const def = await bestOf(async () => (await peertube({ endpoint: FAKE, s: await session(), size })).ms);
    const one = await bestOf(async () => (await peertube({ endpoint: FAKE, s: await session(), size, chunkSize: MIB })).ms);
    const fifty = await bestOf(async () => (await peertube({ endpoint: FAKE, s: await session(), size: 50 * MIB, chunkSize: MIB })).ms);
    record(engine, 1, 'plain fetch PUT (ceiling)', `${ceiling.toFixed(0)} ms, ${rate(size, ceiling)}`);
    record(engine, 1, 'chunkup defaults: ratio to ceiling', `${(ceiling / def).toFixed(2)} (${rate(size, def)})`, '>= 0.90', ceiling / def >= 0.9);
    record(engine, 1, 'chunkup 1 MiB chunks: ratio to ceiling', `${(ceiling / one).toFixed(2)} (${rate(size, one)})`);
    record(engine, 1, 'chunkup 50 MiB in 1 MiB chunks', `${fifty.toFixed(0)} ms, ${rate(50 * MIB, fifty)}`);
    // integrity: per-chunk SHA-256 Digest (verified by uploadx) + whole-file sha256, same run, same size.
    const integ = await bestOf(async () => (await peertube({ endpoint: FAKE, s: await session(), size, integrity: true })).ms);
    record(engine, 1, 'integrity on (defaults): cost', `${((integ / def - 1) * 100).toFixed(0)}% (${rate(size, integ)})`);
    // On loopback the hashing (main thread) is the bottleneck. On a real uplink the next chunk is
    // hashed while the current one is on the wire: Chromium's own throttling gives such a link.
    if (chromium) {
      const link = { latency: 40, mbit: 200 };
      const lift = await emulateUplink(page, link);
      const small = 64 * MIB;
      const offLink = await bestOf(async () => (await peertube({ endpoint: FAKE, s: await session(), size: small })).ms);
      const onLink = await bestOf(async () => (await peertube({ endpoint: FAKE, s: await session(), size: small, integrity: true })).ms);
      await lift();
      record(engine, 1, `integrity cost over an emulated uplink (${link.latency} ms, ${link.mbit} Mbit/s), ${small / MIB} MiB (Chromium only)`,
        `${((onLink / offLink - 1) * 100).toFixed(0)}% (${rate(small, offLink)} → ${rate(small, onLink)})`);
    }
  }

  // ---- 3. per-chunk overhead ---------------------------------------------------------------------------
  if (!SKIP.has(3)) {
    const size = 1000 * 65536;
    // With and without resume records in the order A B B A (then the gaps of both runs of each
    // pooled), so that neither gets the cold first run nor a drift of the machine to itself.
    const r1 = await peertube({ endpoint: FAKE, s: await session(), size, chunkSize: 65536 });
    const n1 = await peertube({ endpoint: FAKE, s: await session(), size, chunkSize: 65536, storage: false });
    const raw = await page.evaluate(a => window.rawLoop(a), { fake: FAKE, s: await session(), size, chunkSize: 65536 });
    const rawF = await page.evaluate(a => window.rawLoop(a), { fake: FAKE, s: await session(), size, chunkSize: 65536, useFetch: true });
    const n2 = await peertube({ endpoint: FAKE, s: await session(), size, chunkSize: 65536, storage: false });
    const r2 = await peertube({ endpoint: FAKE, s: await session(), size, chunkSize: 65536 });
    const pool = (a, b) => ({ gaps: [...a.gaps, ...b.gaps], ms: (a.ms + b.ms) / 2, requests: a.requests });
    const r = pool(r1, r2);
    const noStore = pool(n1, n2);
    const fig = x => `median ${median(x.gaps).toFixed(3)} ms, p99 ${pct(x.gaps, 0.99).toFixed(2)} ms, ${x.ms.toFixed(0)} ms total`;
    record(engine, 3, 'bare JS loop of fetch, same chunks', fig(rawF));
    record(engine, 3, 'bare JS loop of XHRs, same chunks', fig(raw));
    record(engine, 3, 'chunkup without resume records (storage: false), 2 runs', fig(noStore));
    record(engine, 3, 'chunkup: gap between chunks (resume records on), 2 runs', `${fig(r)}, ${r.requests} requests`, 'median < 1 ms', median(r.gaps) < 1);
    const d = median(r.gaps) - median(noStore.gaps);
    record(engine, 3, 'resume records: cost per chunk (median gap, on − off)', `${d.toFixed(3)} ms`, '<= 0.2 ms', d <= 0.2);
  }

  // ---- 4. memory (Chromium only) ---------------------------------------------------------------------------
  if (!SKIP.has(4) && BIG_GIB > 0 && chromium) {
    const size = BIG_GIB * 1024 * MIB;
    const path = join(tmpdir(), `chunkup-bench-${process.pid}.mp4`);
    const fd = openSync(path, 'w');
    ftruncateSync(fd, size);
    closeSync(fd);
    try {
      await page.raw.setInputFiles('#file', path);
      const s = await session();
      await page.evaluate(() => window.startSampling());
      const r = await peertube({ endpoint: FAKE, s, fromInput: true });
      const samples = await page.evaluate(() => window.stopSampling());
      const up = (await control(FAKE, 'GET', `/session/${s.id}/uploads`)).find(u => u.state === 'complete');
      const zeros = Buffer.alloc(64 * MIB);
      const h = createHash('sha256');
      for (let left = size; left > 0; left -= zeros.length) h.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
      const identical = up && up.received === size && up.sha256 === h.digest('hex');
      const log = await control(FAKE, 'GET', `/session/${s.id}/log`);
      const past4g = log.some(e => /^bytes (\d+)-/.test(e.contentRange || '') && Number(/^bytes (\d+)-/.exec(e.contentRange)[1]) > 2 ** 32);
      const wasmGrowth = Math.max(...samples.map(x => x.wasm)) - samples[0].wasm;
      const heapGrowth = Math.max(...samples.map(x => x.heap)) - samples[0].heap;
      record(engine, 4, 'throughput', `${rate(size, r.ms)}, ${(r.ms / 1000).toFixed(1)} s, ${samples.length} samples`);
      record(engine, 4, 'identical bytes, offsets past 4 GiB', `${identical ? 'yes' : 'NO'}, ${past4g ? 'yes' : 'NO'}`, 'yes', identical && past4g);
      record(engine, 4, 'wasm memory growth', `${(wasmGrowth / MIB).toFixed(2)} MiB (start ${(samples[0].wasm / MIB).toFixed(2)} MiB)`, '<= 2 MiB', wasmGrowth <= 2 * MIB);
      record(engine, 4, 'JS heap growth', `${(heapGrowth / MIB).toFixed(2)} MiB`, '< 32 MiB', heapGrowth < 32 * MIB);
    } finally {
      rmSync(path, { force: true });
    }
  }

  // ---- 7. progress --------------------------------------------------------------------------------------------
  if (!SKIP.has(7)) {
    // How often onProgress fires on loopback: the engine's XHR upload events, as chunkup passes them on.
    const r32 = await peertube({ endpoint: FAKE, s: await session(), size: 32 * MIB, chunkSize: 32 * MIB, progress: true });
    record(engine, 7, 'onProgress calls, one 32 MiB chunk on loopback', `${r32.events.length} (${(r32.events.length / (r32.ms / 1000)).toFixed(0)}/s over ${r32.ms.toFixed(0)} ms)`);
    // A throttle in the server on loopback shows the first ~4 MB at once (the kernel's socket
    // buffers swallow them; no client sees progress inside that window), then the link's pace.
    const gaps = async (p, endpoint) => {
      const r = await p.evaluate(a => window.peertube(a), { endpoint, s: await session(), size: 16 * MIB, chunkSize: 16 * MIB, progress: true });
      const times = r.events.filter(([, loaded]) => loaded < 16 * MIB).map(([t]) => t);
      const g = times.slice(1).map((t, i) => t - times[i]);
      return { maxGap: Math.max(0, ...g), events: times.length, s: r.ms / 1000 };
    };
    const p7 = await browser.newPage();
    await p7.goto(`${slow.origin}/bench.html`);
    await p7.evaluate(() => window.ready);
    const viaProxy = await gaps(p7, '/peertube-api');
    record(engine, 7, 'longest gap between progress events, 16 MiB chunk, proxy throttled to 10 Mbit/s',
      `${viaProxy.maxGap.toFixed(0)} ms over ${viaProxy.events} events, ${viaProxy.s.toFixed(1)} s`);
    throttled = [await p7.evaluate(() => window.longTasks())];
    await p7.close();
    if (chromium) {
      // Chromium's DevTools throttling sits inside the browser: no socket buffer hides the pace.
      const p3 = await browser.newPage();
      await p3.goto(`${pages.origin}/bench.html`);
      await p3.evaluate(() => window.ready);
      await emulateUplink(p3, { latency: 0, mbit: 10 }); // lifted with the page
      const emu = await gaps(p3, FAKE);
      record(engine, 7, 'longest gap between progress events, 16 MiB chunk, DevTools uplink 10 Mbit/s (Chromium only)',
        `${emu.maxGap.toFixed(0)} ms over ${emu.events} events, ${emu.s.toFixed(1)} s`, '<= 250 ms', emu.maxGap <= 250);
      throttled.push(await p3.evaluate(() => window.longTasks()));
      await p3.close();
    }
  }

  // ---- 5. main thread -------------------------------------------------------------------------------------------
  {
    const all = [await page.evaluate(() => window.longTasks()), ...(throttled ?? [])];
    const merge = kind => {
      if (all.some(x => !x[kind])) return null;
      const parts = all.map(x => x[kind]);
      return {
        count: parts.reduce((n, x) => n + x.count, 0), max: Math.max(0, ...parts.map(x => x.max)), runs: parts.flatMap(x => x.runs),
        outside: parts.reduce((n, x) => n + x.outside, 0), outsideMax: Math.max(0, ...parts.map(x => x.outsideMax))
      };
    };
    const lt = merge('longtask');
    const st = merge('stalls');
    if (lt) record(engine, 5, "long tasks > 50 ms while uploading (PerformanceObserver 'longtask')", `${lt.count} (longest ${lt.max.toFixed(0)} ms)`, '0', lt.count === 0);
    else record(engine, 5, "long tasks > 50 ms while uploading (PerformanceObserver 'longtask')", 'n/a (no longtask entries)');
    record(engine, 5, 'timer stalls > 50 ms while uploading (20 ms interval)', `${st.count} (longest ${st.max.toFixed(0)} ms)`);
    record(engine, 5, 'outside the uploads (the bench building its files): long tasks | stalls',
      `${lt ? `${lt.outside} (≤ ${lt.outsideMax.toFixed(0)} ms)` : 'n/a'} | ${st.outside} (≤ ${st.outsideMax.toFixed(0)} ms)`);
    for (const r of lt?.runs ?? []) note(5, `[${engine}] long task: ${r}`);
    for (const r of st.runs) note(5, `[${engine}] stall: ${r}`);
  }
  await browser.close();

  // ---- 2. official api.video client -------------------------------------------------------------------------
  if (!SKIP.has(2)) {
    const { apiHost, page: p2, ctl, close } = await openApiVideoPage(engine);
    try {
      const once = async (fn, size, chunkSize, concurrency) => {
        const s = await ctl('POST', '/session', {});
        const args = { apiHost, endpoint: `https://${apiHost}`, uploadToken: s.uploadToken, size, seed: 42, name: 'b.mp4', ...(chunkSize ? { chunkSize } : {}), ...(concurrency ? { concurrency } : {}) };
        const r = await p2.evaluate(([f, a]) => window[f](a), [fn, args]);
        if (!r.ok) throw new Error(`${fn}: ${JSON.stringify(r.error)}`);
        return r.ms;
      };
      // The clients take turns, round after round: on a shared 2-core machine the load drifts during
      // a section, and back-to-back runs of one client would carry the drift into the ratio. Each
      // keeps its median over the rounds: on loopback both sit at the same CPU ceiling and a single
      // best run is noise (one client's best can be 10 % off either way from run to run).
      const interleaved = async (specs, rounds) => {
        const times = specs.map(() => []);
        for (let i = 0; i < rounds; i++) {
          for (const [j, spec] of specs.entries()) times[j].push(await once(...spec));
        }
        return times.map(t => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]);
      };
      for (const mib of [64, 256]) {
        const size = mib * MIB;
        const [offDef, cuDef, offSame, cuSame, cuSeq] = await interleaved([
          ['runOfficial', size], ['runChunkup', size],
          ['runOfficial', size, 32 * MIB], ['runChunkup', size, 32 * MIB], ['runChunkup', size, 32 * MIB, 1]
        ], Math.max(RUNS, 5));
        record(engine, 2, `${mib} MiB official default (50 MiB parts)`, `${offDef.toFixed(0)} ms, ${rate(size, offDef)}`);
        record(engine, 2, `${mib} MiB chunkup default vs official default: ratio`, `${(offDef / cuDef).toFixed(2)} (${cuDef.toFixed(0)} ms)`, '>= 1.0', offDef / cuDef >= 1);
        record(engine, 2, `${mib} MiB both with 32 MiB parts: ratio`, `${(offSame / cuSame).toFixed(2)} (${offSame.toFixed(0)} | ${cuSame.toFixed(0)} ms)`, '>= 1.0', offSame / cuSame >= 1);
        record(engine, 2, `${mib} MiB chunkup 32 MiB parts one at a time: ratio`, `${(offSame / cuSeq).toFixed(2)} (${cuSeq.toFixed(0)} ms)`);
      }
      if (chromium) {
        // Loopback is CPU-bound: both clients reach the same ceiling there. A real uplink has a round
        // trip per request; Chromium's own emulation adds it (and shares the bandwidth among requests).
        const link = { latency: 40, mbit: 200 };
        const lift = await emulateUplink(p2, link);
        const size = 64 * MIB;
        const [offLink, cuLink, cuLinkSeq] = await interleaved([
          ['runOfficial', size, 8 * MIB], ['runChunkup', size, 8 * MIB], ['runChunkup', size, 8 * MIB, 1]
        ], Math.max(RUNS, 3));
        await lift();
        record(engine, 2, `emulated uplink (${link.latency} ms, ${link.mbit} Mbit/s), 64 MiB, 8 MiB parts: ratio (Chromium only)`,
          `${(offLink / cuLink).toFixed(2)} (official ${offLink.toFixed(0)}, chunkup ${cuLink.toFixed(0)}, one at a time ${cuLinkSeq.toFixed(0)} ms)`, '>= 1.0', offLink / cuLink >= 1);
      }
    } finally {
      await close();
    }
  }
}

// ---- 6. size (no browser) ------------------------------------------------------------------------------------
async function sizes() {
  out('\n=== size');
  const gz = b => gzipSync(b, { level: 9 }).length;
  const bundle = async contents => {
    const r = await esbuild.build({ stdin: { contents, resolveDir: REPO_ROOT, loader: 'js' }, bundle: true, minify: true, write: false, format: 'esm', platform: 'browser', logLevel: 'silent' });
    return Buffer.from(r.outputFiles[0].contents);
  };
  const wasm = readFileSync(join(WWW, 'pkg/chunkup_bg.wasm'));
  const glue = await bundle(`export * from './www/pkg/chunkup.js';`);
  const mine = gz(wasm) + gz(glue);
  note(6, `chunkup (4 providers): wasm ${wasm.length} / ${gz(wasm)} B + JS glue (minified) ${glue.length} / ${gz(glue)} B = ${mine} B gzip`);
  const peers = [
    ['tus-js-client 4.3.1', `export { Upload } from 'tus-js-client';`],
    ['@api.video/video-uploader 1.1.6', `export { VideoUploader, ProgressiveUploader } from '@api.video/video-uploader';`],
    ['@uppy/core 6.3.1 + @uppy/tus 6.0.0', `import Uppy from '@uppy/core'; import Tus from '@uppy/tus'; export const make = e => new Uppy().use(Tus, { endpoint: e });`]
  ];
  for (const [name, src] of peers) {
    try {
      const b = await bundle(src);
      note(6, `${name}: ${b.length} / ${gz(b)} B gzip`);
    } catch (e) {
      note(6, `${name}: could not bundle (${e.message.split('\n')[0]})`);
    }
  }
  record('any', 6, 'chunkup wasm + glue, gzip -9', `${(mine / 1024).toFixed(1)} KiB`, '<= 50 KB', mine <= 50_000);
  // One build per provider feature (scripts/size.sh, ~1 min in all); BENCH_PROVIDER_SIZES=0 skips it.
  if (process.env.BENCH_PROVIDER_SIZES !== '0') {
    const dir = mkdtempSync(join(tmpdir(), 'chunkup-size-'));
    try {
      execFileSync('bash', ['scripts/size.sh', 'peertube', 'apivideo', 'cloudreve', 'mangadex'], { cwd: REPO_ROOT, env: { ...process.env, SIZE_OUT: dir }, stdio: ['ignore', 'ignore', 'inherit'] });
      for (const p of ['peertube', 'apivideo', 'cloudreve', 'mangadex']) {
        const w = readFileSync(join(dir, p, 'chunkup_bg.wasm'));
        const g = await bundle(`export * from ${JSON.stringify(join(dir, p, 'chunkup.js'))};`);
        note(6, `chunkup ${p} only (--no-default-features --features ${p}): wasm ${w.length} / ${gz(w)} B + JS glue ${g.length} / ${gz(g)} B = ${gz(w) + gz(g)} B gzip`);
      }
    } catch (e) {
      note(6, `single-provider builds failed: ${e.message.split('\n')[0]}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

const failed = [];
try {
  for (const engine of ENGINES) {
    try {
      await benchEngine(engine);
    } catch (e) {
      // One engine failing (not installed, crashed) leaves the others' columns.
      failed.push(engine);
      out(`  [${engine}] FAILED: ${e.stack ?? e}`);
    }
  }
  if (!SKIP.has(6)) await sizes();
} finally {
  await slow.close();
  await pages.close();
  await stopFake();
}

// ---- side by side -----------------------------------------------------------------------------------------------
const WIDTH = 44;
const cut = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n));
const cols = ENGINES;
out(`\nSide by side (${cols.join(', ')}); [MISS] marks a figure under its target`);
for (const section of [1, 2, 3, 4, 5, 6, 7]) {
  const sectionRows = [...rows.values()].filter(r => r.section === section);
  if (!sectionRows.length && !notes.has(section)) continue;
  out(`\n${section}. ${TITLES[section]}`);
  if (sectionRows.length) {
    if (section !== 6) out(`  ${''.padEnd(WIDTH)} ${cols.map(c => cut(c, WIDTH)).join(' ')}`);
    for (const r of sectionRows) {
      const cell = c => {
        const v = r.cells[c];
        if (!v) return failed.includes(c) ? 'failed' : '—';
        return `${v[0]}${r.target && !v[1] ? ' [MISS]' : ''}`;
      };
      out(`  ${r.name}${r.target ? ` (target ${r.target})` : ''}`);
      if (r.cells.any) out(`  ${''.padEnd(WIDTH)} ${cell('any')}`);
      else out(`  ${''.padEnd(WIDTH)} ${cols.map(c => cut(cell(c), WIDTH)).join(' ')}`);
    }
  }
  for (const line of notes.get(section) ?? []) out(`    ${line}`);
}
const misses = [...rows.values()].flatMap(r => Object.entries(r.cells).filter(([, [, met]]) => r.target && !met).map(([e]) => `${r.section}. ${r.name} [${e}]`));
out(`\n${misses.length ? `targets missed: ${misses.join('; ')}` : 'every target met'}${failed.length ? `; engines that failed: ${failed.join(', ')}` : ''}`);
process.exitCode = failed.length ? 1 : 0;
