// Page-level tests of the demo page in www/, in each engine of E2E_ENGINES (engines.mjs): for each provider the
// test clicks through it against the provider's fake (a fresh test account, several files dropped
// into the queue), checks the bytes on the fake by SHA-256, pauses / resumes / cancels single
// files, shows errors in words, runs the queue in a Web Worker, and saves screenshots to
// target/test-output/. Also: the ES module API from a plain page, including a relative endpoint
// behind a same-origin proxy.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { forEachEngine } from './engines.mjs';
import { ROOT, WWW, bytes, control, ensureFake, pageServer, sha256 } from './harness.mjs';

const fakeUrl = (name, port) =>
  process.env[`CHUNKUP_${name.toUpperCase()}_URL`] || `http://127.0.0.1:${process.env[`${name.toUpperCase()}_PORT`] || port}`;
const FAKES = { peertube: fakeUrl('peertube', 18081), apivideo: fakeUrl('apivideo', 18082), cloudreve: fakeUrl('cloudreve', 18083), mangadex: fakeUrl('mangadex', 18084) };
const FAKE = FAKES.peertube;
const MB = 1024 * 1024;
const OUT = join(ROOT, 'target/test-output');

let pages;
const stops = [];

before(async () => {
  assert.ok(existsSync(join(WWW, 'pkg/chunkup.js')), 'www/pkg is built (bash scripts/build.sh)');
  assert.ok(existsSync(join(WWW, 'pkg/queue.js')), 'www/pkg/queue.js is there (bash scripts/build.sh copies src/js)');
  for (const [name, url] of Object.entries(FAKES)) stops.push(await ensureFake(name, url));
  pages = await pageServer({ proxies: { '/peertube-api': FAKE } });
  mkdirSync(OUT, { recursive: true });
});

after(async () => {
  await pages?.close();
  for (const stop of stops) await stop();
});

const sleep = ms => new Promise(r => setTimeout(r, ms));

/** The demo, with every fake's address preset through the URL. */
async function openDemo(browser) {
  const page = await (await browser()).newPage({ viewport: { width: 1000, height: 1200 } });
  const q = new URLSearchParams({
    'peertube-endpoint': FAKES.peertube, 'apivideo-endpoint': FAKES.apivideo, 'cloudreve-endpoint': FAKES.cloudreve,
    'mangadex-endpoint': FAKES.mangadex, 'mangadex-auth': FAKES.mangadex
  });
  await page.goto(`${pages.origin}/?${q}`);
  await page.waitForSelector('html[data-ready="1"]');
  return { page };
}

/** Picks the provider and opens a fresh test account on its fake (the page's own button) → session id. */
async function account(page, provider) {
  await page.check(`input[name=provider][value=${provider}]`);
  await page.click('#account');
  await page.waitForSelector(`#session[data-provider=${provider}]`);
  return page.$eval('#session', s => s.dataset.id);
}

const row = name => `#queue li[data-name="${name}"]`;
const rowState = (page, name) => page.$eval(row(name), li => li.dataset.state);
const rowText = (page, name) => page.$eval(`${row(name)} .state`, s => s.textContent);
const barValue = (page, name) => page.$eval(`${row(name)} .bar`, b => b.value);
const shot = (page, name) => page.screenshot(join(OUT, `demo-${name}-${page.engine}.png`));
const pick = (page, sel, files, type) => page.setFiles(sel, files.map(([name, buffer]) => ({ name, type, buffer })));

function png(len, seed) {
  const head = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 3, 0x20, 0, 0, 4, 0xb0, 8, 6, 0, 0, 0]);
  return Buffer.concat([head, bytes(len - head.length, seed)]);
}

/** What each fake holds for a session: name → sha256 of the completed files. */
const HELD = {
  async peertube(id) {
    const ups = await control(FAKES.peertube, 'GET', `/session/${id}/uploads`);
    return Object.fromEntries(ups.filter(u => u.state === 'complete').map(u => [u.filename, u.sha256]));
  },
  async apivideo(id) {
    const vids = await control(FAKES.apivideo, 'GET', `/session/${id}/videos`);
    return Object.fromEntries(vids.filter(v => v.complete).map(v => [v.title, v.sha256]));
  },
  async cloudreve(id) {
    const files = await control(FAKES.cloudreve, 'GET', `/session/${id}/files`);
    return Object.fromEntries(files.filter(f => f.state === 'complete').map(f => [f.name, f.sha256]));
  },
  async mangadex(id) {
    const chapters = await control(FAKES.mangadex, 'GET', `/session/${id}/chapters`);
    // chunkup names each page `<position>_<name>` (MangaDex keeps the pages in pageOrder anyway).
    return Object.fromEntries(chapters.flatMap(c => c.pages.map((p, i) => [`${c.chapter}/${i}/${p.originalFileName.replace(/^\d+_/, '')}`, p.sha256])));
  }
};

forEachEngine(({ browser, name }) => {
  describe('demo page: every provider against its fake', () => {
    const cases = {
      peertube: { chunk: '1', type: 'video/mp4', files: [['holiday.mp4', bytes(3 * MB + 17, 1)], ['talk.mp4', bytes(2 * MB, 2)], ['short.mp4', bytes(300_000, 3)]] },
      apivideo: { chunk: '5', type: 'video/mp4', files: [['launch.mp4', bytes(6 * MB + 5, 4)], ['teaser.mp4', bytes(MB, 5)]] },
      cloudreve: { files: [['report.pdf', bytes(2 * MB + 3, 6)], ['photo.jpg', bytes(700_000, 7)], ['notes.txt', bytes(1234, 8)]] },
      mangadex: { type: 'image/png', files: [['page-01.png', png(200_000, 9)], ['page-02.png', png(150_000, 10)], ['page-03.png', png(90_000, 11)]] }
    };
    for (const [provider, c] of Object.entries(cases)) {
      test(name(`${provider}: several files through the queue; the fake holds the same bytes`), async () => {
        const { page } = await openDemo(browser);
        const id = await account(page, provider);
        if (c.chunk) await page.fill('#chunkMiB', c.chunk);
        await pick(page, '#files', c.files, c.type ?? 'application/octet-stream');
        await page.click('#start');
        await page.waitForSelector('#status[data-state=done]', { timeout: 90_000 });
        const held = await HELD[provider](id);
        if (provider === 'mangadex') {
          // The files dropped together are one chapter, pages in name order.
          const name = `${c.files.length} pages (page-01.png …)`;
          assert.equal(await rowState(page, name), 'done');
          assert.match(await rowText(page, name), /Done — chapter [0-9a-f-]{36}/);
          assert.deepEqual(held, Object.fromEntries(c.files.map(([n, b], i) => [`1/${i}/${n}`, sha256(b)])));
        } else {
          for (const [name, data] of c.files) {
            assert.equal(await rowState(page, name), 'done', name);
            assert.equal(await barValue(page, name), data.length, `${name}: bar full`);
            assert.equal(held[name], sha256(data), `${name}: same bytes on the fake`);
          }
          assert.match(await rowText(page, c.files[0][0]), { peertube: /uuid [0-9a-f-]{36}/, apivideo: /videoId vi\w+/, cloudreve: /cloudreve:\/\/my\// }[provider]);
        }
        const total = c.files.reduce((n, [, b]) => n + b.length, 0);
        assert.equal(await page.$eval('#bar', b => [b.value, b.max].join()), `${total},${total}`, 'overall bar full');
        await shot(page, provider);
        assert.deepEqual(await page.errors(), []);
        await page.close();
      });
    }
  });

  describe('demo page: pause, resume, cancel, errors, worker', () => {
    test(name('pause holds one file while the next one takes its slot; resume finishes it; cancel deletes its session'), async () => {
      const { page } = await openDemo(browser);
      const id = await account(page, 'peertube');
      await control(FAKE, 'POST', `/session/${id}/faults`, [{ route: 'chunk', delayMs: 250, count: 10_000 }]);
      await page.fill('#chunkMiB', '0.25');
      await page.fill('#concurrency', '2');
      const files = [['a.mp4', bytes(3 * MB, 21)], ['b.mp4', bytes(3 * MB, 22)], ['c.mp4', bytes(MB, 23)]];
      await pick(page, '#files', files, 'video/mp4');
      await page.click('#start');
      await page.waitFor(() => document.querySelector('#queue li[data-name="a.mp4"] .bar').value > 0);
      assert.equal(await rowState(page, 'c.mp4'), 'queued', 'two at once');

      // Pause a: its slot goes to c. Cancel b while it runs.
      await page.click(`${row('a.mp4')} .pause`);
      assert.equal(await rowState(page, 'a.mp4'), 'paused');
      await page.waitFor(() => document.querySelector('#queue li[data-name="c.mp4"]').dataset.state === 'uploading');
      assert.equal(await rowState(page, 'b.mp4'), 'uploading');
      await page.click(`${row('b.mp4')} .cancel`);
      await page.waitFor(() => document.querySelector('#queue li[data-name="b.mp4"]').dataset.state === 'cancelled');
      assert.equal(await rowText(page, 'b.mp4'), 'Cancelled');

      await sleep(400); // a's request in flight settles
      const held = await barValue(page, 'a.mp4');
      const uploadIdOf = async name => (await control(FAKE, 'GET', `/session/${id}/uploads`)).find(u => u.filename === name)?.uploadId;
      const aId = await uploadIdOf('a.mp4');
      const requestsOfA = async () => (await control(FAKE, 'GET', `/session/${id}/log`)).filter(e => e.query.upload_id === aId).length;
      const before = await requestsOfA();
      await sleep(700);
      assert.equal(await barValue(page, 'a.mp4'), held, 'no progress while paused');
      assert.equal(await requestsOfA(), before, 'no request for a.mp4 while paused');
      assert.ok(held < 3 * MB);

      await page.click(`${row('a.mp4')} .resume`);
      await page.waitForSelector('#status[data-state=done]', { timeout: 60_000 });
      assert.equal(await page.textContent('#status'), '2 done, 0 failed, 1 cancelled.');
      const ups = await control(FAKE, 'GET', `/session/${id}/uploads`);
      assert.equal(ups.find(u => u.filename === 'b.mp4').state, 'deleted', 'cancel deleted the server-side session');
      const done = await HELD.peertube(id);
      assert.equal(done['a.mp4'], sha256(files[0][1]));
      assert.equal(done['c.mp4'], sha256(files[2][1]));
      assert.equal(done['b.mp4'], undefined);
      await shot(page, 'pause-resume-cancel');
      await page.close();
    });

    test(name('pause all / resume all / cancel all'), async () => {
      const { page } = await openDemo(browser);
      const id = await account(page, 'peertube');
      await control(FAKE, 'POST', `/session/${id}/faults`, [{ route: 'chunk', delayMs: 100, count: 10_000 }]);
      await page.fill('#chunkMiB', '0.25');
      const files = [['x.mp4', bytes(MB, 31)], ['y.mp4', bytes(MB, 32)], ['z.mp4', bytes(MB, 33)]];
      await pick(page, '#files', files, 'video/mp4');
      await page.click('#start');
      await page.waitFor(() => document.querySelector('#queue li[data-name="x.mp4"] .bar').value > 0);
      await page.click('#pauseAll');
      for (const [name] of files) assert.equal(await rowState(page, name), 'paused', name);
      await page.click('#resumeAll');
      await page.waitFor(() => document.querySelector('#queue li[data-name="x.mp4"]').dataset.state === 'done');
      await page.click('#cancelAll');
      await page.waitForSelector('#status[data-state=done]', { timeout: 30_000 });
      assert.match(await page.textContent('#status'), /^\d done, 0 failed, \d cancelled\.$/);
      assert.equal(await rowState(page, 'z.mp4'), 'cancelled');
      await page.close();
    });

    test(name('errors are shown in words: a failed log-in, and a file over the quota'), async () => {
      const { page } = await openDemo(browser);
      await account(page, 'peertube');
      await page.fill('#peertube-password', 'wrong');
      await pick(page, '#files', [['v.mp4', bytes(1000, 41)]], 'video/mp4');
      await page.click('#start');
      await page.waitForSelector('#status[data-state=error]');
      assert.match(await page.textContent('#status'), /^Could not start: http \(HTTP 400\): .*credentials are invalid/);

      // A user with 1 MiB of quota: the small file passes, the big one is refused by the server.
      const s = await control(FAKE, 'POST', '/session', { quota: MB });
      await page.fill('#peertube-endpoint', `${FAKE}/s/${s.id}`);
      await page.fill('#peertube-password', 'secret');
      await pick(page, '#files', [['big.mp4', bytes(2 * MB, 42)]], 'video/mp4');
      await page.click('#start');
      await page.waitFor(() => /done/.test(document.getElementById('status').textContent));
      assert.equal(await rowState(page, 'v.mp4'), 'done');
      assert.equal(await rowState(page, 'big.mp4'), 'error');
      assert.match(await rowText(page, 'big.mp4'), /^Failed — quota \(HTTP 413\): .*quota is exceeded/);
      assert.equal(await page.textContent('#status'), '1 done, 1 failed, 0 cancelled.');
      await shot(page, 'errors');
      await page.close();
    });

    test(name('the queue runs in a Web Worker'), async () => {
      const { page } = await openDemo(browser);
      const id = await account(page, 'peertube');
      await page.check('#inWorker');
      await page.fill('#chunkMiB', '0.5');
      const files = [['w1.mp4', bytes(2 * MB + 1, 51)], ['w2.mp4', bytes(MB + 7, 52)]];
      await pick(page, '#files', files, 'video/mp4');
      await page.click('#start');
      await page.waitForSelector('#status[data-state=done]', { timeout: 60_000 });
      assert.match(await page.textContent('#log'), /start: w1\.mp4 \(in a Web Worker\)/);
      const held = await HELD.peertube(id);
      for (const [name, data] of files) assert.equal(held[name], sha256(data), name);
      await page.close();
    });
  });

  describe('the ES module API in a page', () => {
    test(name('UploadError is an Error; validation is synchronous'), async () => {
      const page = await (await browser()).newPage();
      await page.goto(`${pages.origin}/`);
      await page.waitForSelector('html[data-ready="1"]');
      const r = await page.evaluate(async () => {
        const { Upload, UploadError } = await import('./pkg/chunkup.js');
        try {
          new Upload(new Blob(['x']), { provider: 'nope', endpoint: 'http://x' });
          return 'no throw';
        } catch (e) {
          return { isUploadError: e instanceof UploadError, isError: e instanceof Error, name: e.name, code: e.code, message: e.message };
        }
      });
      assert.equal(r.isUploadError, true);
      assert.equal(r.isError, true);
      assert.equal(r.name, 'UploadError');
      assert.equal(r.code, 'invalid-input');
      assert.match(r.message, /provider/);
      await page.close();
    });

    test(name('a relative endpoint goes through a same-origin proxy'), async () => {
      const s = await control(FAKE, 'POST', '/session', {});
      const page = await (await browser()).newPage();
      await page.goto(`${pages.origin}/`);
      await page.waitForSelector('html[data-ready="1"]');
      const data = bytes(2 * MB + 1, 11);
      const result = await page.evaluate(async ({ session, b64 }) => {
        const { Upload } = await import('./pkg/chunkup.js');
        const buf = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const file = new File([buf], 'proxied.mp4', { type: 'video/mp4' });
        const upload = new Upload(file, {
          provider: 'peertube', endpoint: `/peertube-api/s/${session.id}`, accessToken: session.token,
          channelId: session.channelId, chunkSize: 512 * 1024
        });
        return upload.start();
      }, { session: s, b64: data.toString('base64') });
      assert.ok(result.video.uuid);
      assert.equal((await HELD.peertube(s.id))['proxied.mp4'], sha256(data));
      const log = await control(FAKE, 'GET', `/session/${s.id}/log?preflight=1`);
      assert.equal(log.filter(e => e.method === 'OPTIONS').length, 0, 'same-origin: no CORS preflight');
      await page.close();
    });
  });
});
