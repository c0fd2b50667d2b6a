// Where time goes in one api.video upload, official client vs chunkup (HTTPS fake, 64 MiB by
// default): per run, the total and each part request's start/end (ms from the start). Diagnostic:
//   node tests/bench/avprobe.mjs     (ROUNDS=10 MIB=256 CHUNK=32 to vary; needs www/pkg built)
import https from 'node:https';
import { createStaticServer, REPO_ROOT } from '../servers/common.mjs';
import { createApiVideoApp } from '../servers/apivideo/app.mjs';
import { selfSignedCert } from '../servers/apivideo/tls.mjs';
import { chromium } from 'playwright-core';

const MIB = 1024 * 1024;
const fake = createApiVideoApp();
const tls = https.createServer(selfSignedCert(), fake.app);
await new Promise(r => tls.listen(0, '127.0.0.1', r));
const apiHost = `127.0.0.1:${tls.address().port}`;
const stat = createStaticServer({ root: REPO_ROOT });
await new Promise(r => stat.listen(0, '127.0.0.1', r));
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--ignore-certificate-errors'] });
const ctx = await b.newContext({ ignoreHTTPSErrors: true });
const p = await ctx.newPage();
await p.goto(`http://127.0.0.1:${stat.address().port}/tests/e2e/apivideo/index.html`);
await p.evaluate(() => window.ready);
const ctl = (method, path, body) => new Promise((resolve, reject) => {
  const req = https.request({ host: '127.0.0.1', port: tls.address().port, method, path: `/__control${path}`, rejectUnauthorized: false, headers: { 'Content-Type': 'application/json' } }, res => {
    let d = ''; res.on('data', c => { d += c; }); res.on('end', () => resolve(d ? JSON.parse(d) : null));
  });
  req.on('error', reject); req.end(body ? JSON.stringify(body) : undefined);
});
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
await b.close(); tls.close(); stat.close();
