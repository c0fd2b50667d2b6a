// Benchmark (npm run bench): headless Chromium against the PeerTube fake on 127.0.0.1, figures
// side by side from the same run. Sizes in MiB via BENCH_MIB (default 256) — needs `bash
// scripts/build.sh` first (www/pkg).
//   1. ceiling: uploadx init + one plain fetch PUT of the whole Blob
//   2. chunkup, PeerTube protocol, default options
//   3. chunkup with 1 MiB chunks (the per-chunk cost shows here)
//   4. 50 MiB with 1 MiB chunks (the figure the PeerTube issue asks for)
//   5. size of the shipped module, raw and gzip -9
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { WWW, control, ensureFake, launch, pageServer } from '../e2e/harness.mjs';

const FAKE = process.env.CHUNKUP_PEERTUBE_URL || 'http://127.0.0.1:18081';
const MIB = Number(process.env.BENCH_MIB || 256);
const RUNS = Number(process.env.BENCH_RUNS || 3);

const stopFake = await ensureFake('peertube', FAKE);
const pages = await pageServer();
const browser = await launch();
const page = await browser.newPage();
await page.goto(`${pages.origin}/`);
await page.waitForSelector('html[data-ready="1"]');

async function run(kind, mib, chunkSize) {
  const s = await control(FAKE, 'POST', '/session', {});
  return page.evaluate(async ({ kind, mib, chunkSize, s, fake }) => {
    const { Upload } = await import('./pkg/chunkup.js');
    const size = mib * 1024 * 1024;
    // One random 64 KiB block repeated: building the Blob costs nothing measurable.
    const block = crypto.getRandomValues(new Uint8Array(65536));
    const blob = new File(Array.from({ length: size / 65536 }, () => block), 'bench.mp4', { type: 'video/mp4' });
    const t0 = performance.now();
    if (kind === 'ceiling') {
      const init = await fetch(`${fake}/api/v1/videos/upload-resumable`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${s.token}`, 'Content-Type': 'application/json', 'X-Upload-Content-Length': String(size), 'X-Upload-Content-Type': 'video/mp4' },
        body: JSON.stringify({ name: 'bench', channelId: s.channelId, filename: 'bench.mp4' })
      });
      const loc = new URL(init.headers.get('Location'), fake).href;
      const put = await fetch(loc, { method: 'PUT', headers: { Authorization: `Bearer ${s.token}`, 'Content-Range': `bytes 0-${size - 1}/${size}` }, body: blob });
      if (!put.ok) throw new Error(`ceiling PUT ${put.status}`);
    } else {
      const o = { provider: 'peertube', endpoint: fake, accessToken: s.token, channelId: s.channelId };
      if (chunkSize) o.chunkSize = chunkSize;
      await new Upload(blob, o).start();
    }
    return performance.now() - t0;
  }, { kind, mib, chunkSize, s, fake: FAKE });
}

async function best(kind, mib, chunkSize) {
  const times = [];
  for (let i = 0; i < RUNS; i++) times.push(await run(kind, mib, chunkSize));
  times.sort((a, b) => a - b);
  return times[0];
}

const mbps = (mib, ms) => (mib / (ms / 1000)).toFixed(1);
const rows = [];
const ceiling = await best('ceiling', MIB);
rows.push(['plain fetch PUT (ceiling)', MIB, ceiling, 1]);
const def = await best('chunkup', MIB);
rows.push(['chunkup PeerTube, defaults (8 MiB chunks)', MIB, def, ceiling / def]);
const small = await best('chunkup', MIB, 1024 * 1024);
rows.push(['chunkup PeerTube, 1 MiB chunks', MIB, small, ceiling / small]);
const fifty = await best('chunkup', 50, 1024 * 1024);
rows.push(['chunkup PeerTube, 50 MiB, 1 MiB chunks', 50, fifty, null]);

console.log(`\nchunkup benchmark — headless Chromium, PeerTube fake (@uploadx/core) on loopback, best of ${RUNS}\n`);
console.log('case'.padEnd(46), 'MiB'.padStart(5), 'ms'.padStart(9), 'MiB/s'.padStart(8), 'vs ceiling'.padStart(11));
for (const [name, mib, ms, ratio] of rows) {
  console.log(name.padEnd(46), String(mib).padStart(5), ms.toFixed(0).padStart(9), mbps(mib, ms).padStart(8), (ratio ? ratio.toFixed(2) : '').padStart(11));
}
const wasm = readFileSync(join(WWW, 'pkg/chunkup_bg.wasm'));
const js = readFileSync(join(WWW, 'pkg/chunkup.js'));
console.log(`\nsize: chunkup_bg.wasm ${wasm.length} B raw, ${gzipSync(wasm, { level: 9 }).length} B gzip -9; ` +
  `chunkup.js ${js.length} B raw, ${gzipSync(js, { level: 9 }).length} B gzip -9`);

await browser.close();
await pages.close();
await stopFake();
