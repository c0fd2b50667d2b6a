// The api.video fake checked against the official browser client, @api.video/video-uploader, and
// chunkup side by side, in each engine of E2E_ENGINES: both upload the same 64 MiB to the fake
// served over HTTPS (the official client only speaks https://<apiHost>; a throwaway self-signed
// certificate the browsers are told to accept), and the fake's sha256 must match. Timings of the
// same runs are in `npm run bench` (section 2).
//
//   node --test tests/e2e/apivideo-official.test.mjs      (needs www/pkg from `bash scripts/build.sh`)
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createStaticServer, REPO_ROOT } from '../servers/common.mjs';
import { createApiVideoApp } from '../servers/apivideo/app.mjs';
import { selfSignedCert } from '../servers/apivideo/tls.mjs';
import { forEachEngine } from './engines.mjs';

const MIB = 1024 * 1024;
const SIZE = 64 * MIB;
const HAVE_PKG = existsSync(join(REPO_ROOT, 'www', 'pkg', 'chunkup.js'));
const HAVE_OFFICIAL = existsSync(join(REPO_ROOT, 'node_modules', '@api.video', 'video-uploader', 'dist', 'index.js'));

let tls;
let stat;
let apiHost;
let fake;

/** Same generator as the page (xorshift32 words, little-endian). */
function makeBytes(size, seed) {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, size);
}
const sha = buf => createHash('sha256').update(buf).digest('hex');

async function control(method, path, body) {
  const port = tls.address().port;
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path: `/__control${path}`, rejectUnauthorized: false, headers: { 'Content-Type': 'application/json' } }, res => {
      let d = '';
      res.on('data', c => { d += c; });
      res.on('end', () => (res.statusCode === 200 ? resolve(d ? JSON.parse(d) : null) : reject(new Error(`${path}: ${res.statusCode} ${d}`))));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

before(async () => {
  assert.ok(HAVE_PKG, 'www/pkg is built (bash scripts/build.sh)');
  assert.ok(HAVE_OFFICIAL, '@api.video/video-uploader is installed (npm ci)');
  fake = createApiVideoApp();
  tls = https.createServer(selfSignedCert(), fake.app);
  tls.requestTimeout = 0;
  await new Promise(r => tls.listen(0, '127.0.0.1', r));
  apiHost = `127.0.0.1:${tls.address().port}`;
  stat = createStaticServer({ root: REPO_ROOT });
  await new Promise(r => stat.listen(0, '127.0.0.1', r));
});

after(async () => {
  stat?.close();
  tls?.close();
  tls?.closeAllConnections();
});

forEachEngine(({ browser, name }) => {
  let opened;
  /** The comparison page, once per engine. */
  const comparison = () => (opened ??= (async () => {
    const page = await (await browser()).newPage();
    await page.goto(`http://127.0.0.1:${stat.address().port}/tests/e2e/apivideo/index.html`);
    await page.evaluate(() => window.ready);
    return page;
  })());

  test(name('64 MiB: the official uploader and chunkup store identical bytes on the fake'), { timeout: 300_000 }, async () => {
    const page = await comparison();
    const expected = sha(makeBytes(SIZE, 42));
    const runs = [
      ['official @api.video/video-uploader 1.1.6 (default 50 MiB parts)', 'runOfficial', {}],
      ['chunkup (default 32 MiB parts)', 'runChunkup', {}],
      ['chunkup (50 MiB parts, like the official default)', 'runChunkup', { chunkSize: 50 * MIB }]
    ];
    for (const [label, fn, extra] of runs) {
      const s = await control('POST', '/session', {});
      const args = { apiHost, endpoint: `https://${apiHost}`, uploadToken: s.uploadToken, size: SIZE, seed: 42, name: 'big.mp4', ...extra };
      const r = await page.evaluate(([f, a]) => window[f](a), [fn, args]);
      assert.ok(r.ok, `${label}: ${JSON.stringify(r.error)}`);
      const v = await control('GET', `/session/${s.id}/videos/${r.videoId}`);
      assert.equal(v.complete, true, label);
      assert.equal(v.size, SIZE, label);
      assert.equal(v.sha256, expected, `${label}: identical bytes`);
      const log = (await control('GET', `/session/${s.id}/log`)).filter(e => e.route === 'upload');
      assert.ok(log.every(e => /^part \d+\/\d+$/.test(e.contentRange)), `${label}: part ranges ${log.map(e => e.contentRange)}`);
      assert.equal(log.length, Math.ceil(SIZE / (extra.chunkSize ?? (fn === 'runOfficial' ? 50 * MIB : 32 * MIB))), `${label}: one request per part`);
    }
  });

  test(name('official uploader: a 5xx is retried by it; a lost answer ends in the 400 collision'), { timeout: 120_000 }, async () => {
    const page = await comparison();
    // 5xx on part 2: retried after 200 ms, upload completes.
    let s = await control('POST', '/session', {});
    await control('POST', `/session/${s.id}/faults`, [{ route: 'upload', nth: 2, status: 503 }]);
    const args = { apiHost, uploadToken: s.uploadToken, size: 11 * MIB, seed: 7, chunkSize: 5 * MIB, name: 'r.mp4' };
    let r = await page.evaluate(a => window.runOfficial(a), args);
    assert.ok(r.ok, JSON.stringify(r.error));
    assert.equal((await control('GET', `/session/${s.id}/videos/${r.videoId}`)).sha256, sha(makeBytes(11 * MIB, 7)));

    // Answer of part 2 lost after it was stored: the official client resends it and gets "collides".
    s = await control('POST', '/session', {});
    await control('POST', `/session/${s.id}/faults`, [{ route: 'upload', nth: 2, drop: true, afterResponse: true }]);
    r = await page.evaluate(a => window.runOfficial(a), { ...args, uploadToken: s.uploadToken });
    assert.equal(r.ok, false, 'the official client fails');
    assert.equal(r.error.status, 400);
    assert.match(r.error.title, /collides/);

    // chunkup in the same situation completes.
    s = await control('POST', '/session', {});
    await control('POST', `/session/${s.id}/faults`, [{ route: 'upload', nth: 2, drop: true, afterResponse: true }]);
    r = await page.evaluate(a => window.runChunkup(a), { ...args, endpoint: `https://${apiHost}`, uploadToken: s.uploadToken });
    assert.ok(r.ok, JSON.stringify(r.error));
    assert.equal((await control('GET', `/session/${s.id}/videos/${r.videoId}`)).sha256, sha(makeBytes(11 * MIB, 7)));
  });
}, { insecureCerts: true }); // the fake's self-signed certificate
