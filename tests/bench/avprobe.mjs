// Where time goes in one api.video upload, official client vs chunkup (HTTPS fake, 64 MiB by
// default): per run, the total and each part request's start/end (ms from the start). Diagnostic:
//   node tests/bench/avprobe.mjs     (ROUNDS=10 MIB=256 CHUNK=32 ENGINE=firefox to vary; needs www/pkg built)
import { openApiVideoPage } from './apivideo-page.mjs';

const MIB = 1024 * 1024;
const { apiHost, page: p, ctl, close } = await openApiVideoPage(process.env.ENGINE || 'chromium');
const size = Number(process.env.MIB || 64) * MIB;
for (let i = 0; i < Number(process.env.ROUNDS || 4); i++) {
  for (const fn of ['runOfficial', 'runChunkup']) {
    const s = await ctl('POST', '/session', {});
    await p.evaluate(() => performance.clearResourceTimings());
    const r = await p.evaluate(async ([f, a]) => {
      const t = performance.now();
      const out = await window[f](a);
      const res = performance.getEntriesByType('resource').filter(e => e.name.includes('/upload')).map(e => [Math.round(e.startTime - t), Math.round(e.responseEnd - t)]);
      return { ms: Math.round(out.ms), ok: out.ok, res };
    }, [fn, { apiHost, endpoint: `https://${apiHost}`, uploadToken: s.uploadToken, size, seed: 42, name: 'b.mp4', chunkSize: process.env.CHUNK ? Number(process.env.CHUNK) * MIB : undefined }]);
    console.log(fn.padEnd(12), r.ms, r.ok, JSON.stringify(r.res));
  }
}
await close();
