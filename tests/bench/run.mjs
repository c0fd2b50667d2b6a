// chunkup benchmark: `npm run bench` (builds, then runs this). Headless Chromium against fake
// servers on 127.0.0.1; every figure is printed next to its peer from the same run.
//
//   1. ceiling: uploadx init + one plain fetch PUT of the whole Blob, vs chunkup PeerTube defaults
//   2. official @api.video/video-uploader vs chunkup on the api.video fake (HTTPS), 64 and 256 MiB
//   3. per-chunk overhead: response end → next request start, over ~1000 small chunks
//   4. memory: a 5 GiB sparse file picked through <input type=file>, wasm memory and JS heap
//   5. main thread: long tasks (> 50 ms) seen during all of the above
//   6. size: chunkup's .wasm + JS glue vs tus-js-client, the official api.video uploader and
//      @uppy/core + @uppy/tus, bundled and minified with esbuild
//   7. progress granularity: a 16 MiB chunk over an uplink throttled to 10 Mbit/s
//
// Env: BENCH_MIB (default 256), BENCH_RUNS (best of, default 3), BENCH_BIG_GIB (default 5; 0 skips 4),
// BENCH_SKIP (comma list of section numbers to skip).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { REPO_ROOT } from '../servers/common.mjs';
import { WWW, control, ensureFake, launch, pageServer } from '../e2e/harness.mjs';
import { openApiVideoPage } from './apivideo-page.mjs';

const FAKE = process.env.CHUNKUP_PEERTUBE_URL || 'http://127.0.0.1:18081';
const MIB = 1024 * 1024;
const SIZE_MIB = Number(process.env.BENCH_MIB || 256);
const RUNS = Number(process.env.BENCH_RUNS || 3);
const BIG_GIB = Number(process.env.BENCH_BIG_GIB ?? 5);
const SKIP = new Set((process.env.BENCH_SKIP || '').split(',').filter(Boolean).map(Number));
const results = []; // [section, name, figure, target, met]

const out = (...a) => process.stdout.write(`${a.join(' ')}\n`);
const rate = (bytes, ms) => `${(bytes / MIB / (ms / 1000)).toFixed(1)} MiB/s`;
const median = a => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * p))] : NaN; };
function record(section, name, figure, target, met) {
  results.push([section, name, figure, target, met]);
  out(`  ${name}: ${figure}${target ? `   (target ${target}: ${met ? 'met' : 'NOT met'})` : ''}`);
}

const stopFake = await ensureFake('peertube', FAKE);
const pages = await pageServer();
const browser = await launch();
const page = await browser.newPage();
await page.goto(`${pages.origin}/bench.html`);
await page.evaluate(() => window.ready);
const session = () => control(FAKE, 'POST', '/session', {});

/**
 * Chromium's own uplink emulation (DevTools) on `page`: `latency` ms per request, `mbit` Mbit/s
 * shared by all requests. Returns the function that lifts it.
 */
async function emulateUplink(page, { latency, mbit }) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency, downloadThroughput: -1, uploadThroughput: mbit * 1e6 / 8 });
  return async () => {
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
  };
}

async function bestOf(fn) {
  let best = Infinity;
  for (let i = 0; i < RUNS; i++) best = Math.min(best, await fn());
  return best;
}

// ---- 1. ceiling ------------------------------------------------------------------------------------
if (!SKIP.has(1)) {
  out(`\n1. Throughput vs a plain fetch PUT, PeerTube fake, ${SIZE_MIB} MiB, best of ${RUNS}`);
  const size = SIZE_MIB * MIB;
  const ceiling = await bestOf(async () => page.evaluate(a => window.ceiling(a), { fake: FAKE, s: await session(), size }));
  const def = await bestOf(async () => (await page.evaluate(a => window.peertube(a), { endpoint: FAKE, s: await session(), size })).ms);
  const one = await bestOf(async () => (await page.evaluate(a => window.peertube(a), { endpoint: FAKE, s: await session(), size, chunkSize: MIB })).ms);
  const fifty = await bestOf(async () => (await page.evaluate(a => window.peertube(a), { endpoint: FAKE, s: await session(), size: 50 * MIB, chunkSize: MIB })).ms);
  out(`  plain fetch PUT: ${ceiling.toFixed(0)} ms, ${rate(size, ceiling)}`);
  record(1, 'chunkup defaults vs ceiling', `${def.toFixed(0)} ms, ${rate(size, def)}, ratio ${(ceiling / def).toFixed(2)}`, '>= 0.90', ceiling / def >= 0.9);
  out(`  chunkup 1 MiB chunks: ${one.toFixed(0)} ms, ${rate(size, one)}, ratio ${(ceiling / one).toFixed(2)}`);
  out(`  chunkup 50 MiB in 1 MiB chunks: ${fifty.toFixed(0)} ms, ${rate(50 * MIB, fifty)}`);
  // integrity: per-chunk SHA-256 Digest (verified by uploadx) + whole-file sha256, same run, same size.
  const integ = await bestOf(async () => (await page.evaluate(a => window.peertube(a), { endpoint: FAKE, s: await session(), size, integrity: true })).ms);
  out(`  integrity off vs on (defaults): ${def.toFixed(0)} ms, ${rate(size, def)} | ${integ.toFixed(0)} ms, ${rate(size, integ)} (cost ${((integ / def - 1) * 100).toFixed(0)}%)`);
  // On loopback the hashing (main thread) is the bottleneck. On a real uplink the next chunk is
  // hashed while the current one is on the wire: Chromium's own throttling gives such a link.
  const link = { latency: 40, mbit: 200 };
  const lift = await emulateUplink(page, link);
  const small = 64 * MIB;
  const offLink = await bestOf(async () => (await page.evaluate(a => window.peertube(a), { endpoint: FAKE, s: await session(), size: small })).ms);
  const onLink = await bestOf(async () => (await page.evaluate(a => window.peertube(a), { endpoint: FAKE, s: await session(), size: small, integrity: true })).ms);
  await lift();
  out(`  integrity off vs on over an emulated uplink (${link.latency} ms, ${link.mbit} Mbit/s), ${small / MIB} MiB: ${offLink.toFixed(0)} ms, ${rate(small, offLink)} | ${onLink.toFixed(0)} ms, ${rate(small, onLink)} (cost ${((onLink / offLink - 1) * 100).toFixed(0)}%)`);
}

// ---- 2. official api.video client ------------------------------------------------------------------------
if (!SKIP.has(2)) {
  out(`\n2. api.video: official @api.video/video-uploader vs chunkup (HTTPS fake on loopback), taking turns, median of ${Math.max(RUNS, 5)} rounds (link: ${Math.max(RUNS, 3)})`);
  const { apiHost, page: p2, ctl, close } = await openApiVideoPage();
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
  const ROUNDS = Math.max(RUNS, 5);
  for (const mib of [64, 256]) {
    const size = mib * MIB;
    const [offDef, cuDef, offSame, cuSame, cuSeq] = await interleaved([
      ['runOfficial', size], ['runChunkup', size],
      ['runOfficial', size, 32 * MIB], ['runChunkup', size, 32 * MIB], ['runChunkup', size, 32 * MIB, 1]
    ], ROUNDS);
    out(`  ${mib} MiB official default (50 MiB parts): ${offDef.toFixed(0)} ms, ${rate(size, offDef)}`);
    record(2, `${mib} MiB chunkup default (32 MiB parts, 2 at once unless the first part beats 150 MiB/s) vs official default`, `${cuDef.toFixed(0)} ms, ${rate(size, cuDef)}, ratio ${(offDef / cuDef).toFixed(2)}`, '>= 1.0', offDef / cuDef >= 1);
    record(2, `${mib} MiB both with 32 MiB parts`, `official ${offSame.toFixed(0)} ms, chunkup ${cuSame.toFixed(0)} ms, ratio ${(offSame / cuSame).toFixed(2)}`, '>= 1.0', offSame / cuSame >= 1);
    out(`  ${mib} MiB chunkup 32 MiB parts one at a time (concurrency 1, as the official client): ${cuSeq.toFixed(0)} ms, ratio ${(offSame / cuSeq).toFixed(2)}`);
  }
  // Loopback is CPU-bound: both clients reach the same ceiling there. A real uplink has a round
  // trip per request; Chromium's own emulation adds it (and shares the bandwidth among requests).
  const link = { latency: 40, mbit: 200 };
  const lift = await emulateUplink(p2, link);
  out(`  emulated uplink (${link.latency} ms latency, ${link.mbit} Mbit/s), 64 MiB in 8 MiB parts:`);
  const size = 64 * MIB;
  const [offLink, cuLink, cuLinkSeq] = await interleaved([
    ['runOfficial', size, 8 * MIB], ['runChunkup', size, 8 * MIB], ['runChunkup', size, 8 * MIB, 1]
  ], Math.max(RUNS, 3));
  out(`    official: ${offLink.toFixed(0)} ms, ${rate(size, offLink)}; chunkup one at a time: ${cuLinkSeq.toFixed(0)} ms, ${rate(size, cuLinkSeq)}`);
  record(2, 'emulated uplink, both with 8 MiB parts', `official ${offLink.toFixed(0)} ms, chunkup ${cuLink.toFixed(0)} ms, ratio ${(offLink / cuLink).toFixed(2)}`, '>= 1.0', offLink / cuLink >= 1);
  await lift();
  await close();
}

// ---- 3. per-chunk overhead -----------------------------------------------------------------------------
if (!SKIP.has(3)) {
  out('\n3. Per-chunk overhead: 1000 chunks of 64 KiB (response end → next request start)');
  const r = await page.evaluate(a => window.peertube(a), { endpoint: FAKE, s: await session(), size: 1000 * 65536, chunkSize: 65536 });
  const gaps = r.gaps;
  const raw = await page.evaluate(a => window.rawLoop(a), { fake: FAKE, s: await session(), size: 1000 * 65536, chunkSize: 65536 });
  const rawF = await page.evaluate(a => window.rawLoop(a), { fake: FAKE, s: await session(), size: 1000 * 65536, chunkSize: 65536, useFetch: true });
  out(`  bare JS loop of fetch, same chunks: median ${median(rawF.gaps).toFixed(3)} ms, p99 ${pct(rawF.gaps, 0.99).toFixed(3)} ms, ${rawF.ms.toFixed(0)} ms total`);
  out(`  bare JS loop of XHRs, same chunks: median ${median(raw.gaps).toFixed(3)} ms, p99 ${pct(raw.gaps, 0.99).toFixed(3)} ms, ${raw.ms.toFixed(0)} ms total`);
  const noStore = await page.evaluate(a => window.peertube(a), { endpoint: FAKE, s: await session(), size: 1000 * 65536, chunkSize: 65536, storage: false });
  out(`  chunkup without resume records (storage: false): median ${median(noStore.gaps).toFixed(3)} ms, p99 ${pct(noStore.gaps, 0.99).toFixed(3)} ms, ${noStore.ms.toFixed(0)} ms total`);
  record(3, `median over ${gaps.length} gaps`, `${median(gaps).toFixed(3)} ms (p99 ${pct(gaps, 0.99).toFixed(3)} ms, ${r.requests} requests, ${r.ms.toFixed(0)} ms total)`, '< 1 ms', median(gaps) < 1);
}

// ---- 4. memory -----------------------------------------------------------------------------------------------
if (!SKIP.has(4) && BIG_GIB > 0) {
  const size = BIG_GIB * 1024 * MIB;
  out(`\n4. Memory: a ${BIG_GIB} GiB sparse file from disk, picked through <input type=file>, default (adaptive) chunks`);
  const path = join(tmpdir(), `chunkup-bench-${process.pid}.mp4`);
  const fd = openSync(path, 'w');
  ftruncateSync(fd, size);
  closeSync(fd);
  try {
    await page.setInputFiles('#file', path);
    const s = await session();
    await page.evaluate(() => window.startSampling());
    const r = await page.evaluate(a => window.peertube(a), { endpoint: FAKE, s, fromInput: true });
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
    out(`  ${rate(size, r.ms)}, ${(r.ms / 1000).toFixed(1)} s, ${samples.length} samples`);
    record(4, 'identical bytes, offsets past 4 GiB', `${identical ? 'yes' : 'NO'}, ${past4g ? 'yes' : 'NO'}`, 'yes', identical && past4g);
    record(4, 'wasm memory growth', `${(wasmGrowth / MIB).toFixed(2)} MiB (start ${(samples[0].wasm / MIB).toFixed(2)} MiB)`, '<= 2 MiB', wasmGrowth <= 2 * MIB);
    record(4, 'JS heap growth', `${(heapGrowth / MIB).toFixed(2)} MiB`, '< 32 MiB (4 × 8 MiB × 1; stricter than 4 × the adaptive chunk)', heapGrowth < 32 * MIB);
  } finally {
    rmSync(path, { force: true });
  }
}

// ---- 7. progress granularity ---------------------------------------------------------------------------------
// The uplink is throttled to 10 Mbit/s inside Chromium (DevTools network emulation). A throttle in
// the server on loopback does not show this: the kernel's socket buffers swallow ~4 MB at once, so no
// client, XHR included, sees progress inside that window (measured: one event for the first 3.9 MB).
let throttledLong = { count: 0, max: 0, runs: [] };
if (!SKIP.has(7)) {
  out('\n7. Progress granularity: one 16 MiB chunk over an uplink throttled to 10 Mbit/s');
  const p3 = await browser.newPage();
  await p3.goto(`${pages.origin}/bench.html`);
  await p3.evaluate(() => window.ready);
  await emulateUplink(p3, { latency: 0, mbit: 10 }); // lifted with the page
  const s = await session();
  const r = await p3.evaluate(a => window.peertube(a), { endpoint: FAKE, s, size: 16 * MIB, chunkSize: 16 * MIB, progress: true });
  const times = r.events.filter(([, loaded]) => loaded < 16 * MIB).map(([t]) => t);
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  const maxGap = Math.max(...gaps);
  record(7, 'longest gap between progress events within the chunk', `${maxGap.toFixed(0)} ms over ${times.length} events, ${(r.ms / 1000).toFixed(1)} s`, '<= 250 ms', maxGap <= 250);
  throttledLong = await p3.evaluate(() => window.longTasks());
  await p3.close();
}

// ---- 5. long tasks -----------------------------------------------------------------------------------------------
{
  // Every upload of sections 1, 3, 4 (this page) and 7 (the throttled page).
  const main = await page.evaluate(() => window.longTasks());
  const lt = { ...main, count: main.count + throttledLong.count, max: Math.max(main.max, throttledLong.max), runs: [...main.runs, ...throttledLong.runs] };
  out('\n5. Main thread');
  record(5, 'long tasks over 50 ms while chunkup uploaded', `${lt.count} (longest ${lt.max.toFixed(0)} ms)`, '0', lt.count === 0);
  for (const r of lt.runs) out(`    ${r}`);
  out(`  (outside the uploads, e.g. the bench building its test files: ${lt.outside}, longest ${lt.outsideMax.toFixed(0)} ms)`);
}

// ---- 6. size -------------------------------------------------------------------------------------------------------
if (!SKIP.has(6)) {
  out('\n6. Size (raw / gzip -9)');
  const gz = b => gzipSync(b, { level: 9 }).length;
  const bundle = async contents => {
    const r = await esbuild.build({ stdin: { contents, resolveDir: REPO_ROOT, loader: 'js' }, bundle: true, minify: true, write: false, format: 'esm', platform: 'browser', logLevel: 'silent' });
    return Buffer.from(r.outputFiles[0].contents);
  };
  const wasm = readFileSync(join(WWW, 'pkg/chunkup_bg.wasm'));
  const glue = await bundle(`export * from './www/pkg/chunkup.js';`);
  const mine = gz(wasm) + gz(glue);
  out(`  chunkup (4 providers): wasm ${wasm.length} / ${gz(wasm)} B + JS glue (minified) ${glue.length} / ${gz(glue)} B = ${mine} B gzip`);
  const peers = [
    ['tus-js-client 4.3.1', `export { Upload } from 'tus-js-client';`],
    ['@api.video/video-uploader 1.1.6', `export { VideoUploader, ProgressiveUploader } from '@api.video/video-uploader';`],
    ['@uppy/core 6.3.1 + @uppy/tus 6.0.0', `import Uppy from '@uppy/core'; import Tus from '@uppy/tus'; export const make = e => new Uppy().use(Tus, { endpoint: e });`]
  ];
  for (const [name, src] of peers) {
    try {
      const b = await bundle(src);
      out(`  ${name}: ${b.length} / ${gz(b)} B gzip`);
    } catch (e) {
      out(`  ${name}: could not bundle (${e.message.split('\n')[0]})`);
    }
  }
  record(6, 'chunkup wasm + glue, gzip -9', `${(mine / 1024).toFixed(1)} KiB`, '<= 50 KB', mine <= 50_000);
  // One build per provider feature (scripts/size.sh, ~1 min in all); BENCH_PROVIDER_SIZES=0 skips it.
  if (process.env.BENCH_PROVIDER_SIZES !== '0') {
    const dir = mkdtempSync(join(tmpdir(), 'chunkup-size-'));
    try {
      execFileSync('bash', ['scripts/size.sh', 'peertube', 'apivideo', 'cloudreve', 'mangadex'], { cwd: REPO_ROOT, env: { ...process.env, SIZE_OUT: dir }, stdio: ['ignore', 'ignore', 'inherit'] });
      for (const p of ['peertube', 'apivideo', 'cloudreve', 'mangadex']) {
        const w = readFileSync(join(dir, p, 'chunkup_bg.wasm'));
        const g = await bundle(`export * from ${JSON.stringify(join(dir, p, 'chunkup.js'))};`);
        out(`  chunkup ${p} only (--no-default-features --features ${p}): wasm ${w.length} / ${gz(w)} B + JS glue ${g.length} / ${gz(g)} B = ${gz(w) + gz(g)} B gzip`);
      }
    } catch (e) {
      out(`  single-provider builds failed: ${e.message.split('\n')[0]}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

out('\nSummary');
for (const [section, name, figure, target, met] of results) {
  if (target) out(`  [${met ? 'met' : 'MISS'}] ${section}. ${name}: ${figure} (target ${target})`);
}

await browser.close();
await pages.close();
await stopFake();
