// Page-level tests (Playwright + Debian Chromium): the demo page in www/ uploads to the PeerTube
// fake through its buttons, in the page and in a Web Worker; the npm-facing API works from a plain
// ES module, including a relative endpoint behind a same-origin proxy.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WWW, bytes, control, ensureFake, launch, pageServer, sha256 } from './harness.mjs';

const FAKE = process.env.CHUNKUP_PEERTUBE_URL || 'http://127.0.0.1:18081';
const MB = 1024 * 1024;

let browser, pages, stopFake;

before(async () => {
  assert.ok(existsSync(join(WWW, 'pkg/chunkup.js')), 'www/pkg is built (bash scripts/build.sh)');
  stopFake = await ensureFake('peertube', FAKE);
  pages = await pageServer({ proxies: { '/peertube-api': FAKE } });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await pages?.close();
  await stopFake?.();
});

async function newSession(body = {}) {
  return control(FAKE, 'POST', '/session', body);
}

async function openDemo(session) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', e => errors.push(e));
  await page.goto(`${pages.origin}/`);
  await page.waitForSelector('html[data-ready="1"]');
  // /s/<id> routes every request (login included) into this test's session on the fake.
  await page.fill('#endpoint', `${FAKE}/s/${session.id}`);
  return { page, errors };
}

async function pickFile(page, data, name = 'clip.mp4') {
  await page.setInputFiles('#file', { name, mimeType: 'video/mp4', buffer: data });
}

const completed = async session => (await control(FAKE, 'GET', `/session/${session.id}/uploads`)).filter(u => u.state === 'complete');

describe('demo page', () => {
  test('uploads a picked file with a progress bar; the server holds the same bytes', async () => {
    const s = await newSession();
    const { page, errors } = await openDemo(s);
    const data = bytes(6 * MB + 123, 7);
    await pickFile(page, data);
    await page.fill('#chunkMiB', '1');
    await page.click('#start');
    await page.waitForSelector('#status[data-state="done"]', { timeout: 60_000 });
    assert.equal(await page.$eval('#bar', b => b.value === b.max && b.max > 0), true, 'progress bar full');
    const done = await completed(s);
    assert.equal(done.length, 1);
    assert.equal(done[0].received, data.length);
    assert.equal(done[0].sha256, sha256(data));
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('the same upload runs in a Web Worker', async () => {
    const s = await newSession();
    const { page } = await openDemo(s);
    const data = bytes(3 * MB + 5, 8);
    await pickFile(page, data);
    await page.fill('#chunkMiB', '0.5');
    await page.check('#inWorker');
    await page.click('#start');
    await page.waitForSelector('#status[data-state="done"]', { timeout: 60_000 });
    assert.match(await page.textContent('#log'), /start: clip\.mp4/);
    const done = await completed(s);
    assert.equal(done[0].sha256, sha256(data));
    await page.close();
  });

  test('pause holds the upload, resume finishes it, cancel deletes the session', async () => {
    const s = await newSession();
    await control(FAKE, 'POST', `/session/${s.id}/faults`, [{ route: 'chunk', delayMs: 120, count: 1000 }]);
    const { page } = await openDemo(s);
    const data = bytes(4 * MB, 9);
    await pickFile(page, data);
    await page.fill('#chunkMiB', '0.25');
    await page.click('#start');
    await page.waitForFunction(() => document.getElementById('bar').value > 0);
    await page.click('#pause');
    await page.waitForTimeout(400); // the in-flight chunk settles
    const held = await page.$eval('#bar', b => b.value);
    const requests = (await control(FAKE, 'GET', `/session/${s.id}/log`)).length;
    await page.waitForTimeout(700);
    assert.equal(await page.$eval('#bar', b => b.value), held, 'no progress while paused');
    assert.equal((await control(FAKE, 'GET', `/session/${s.id}/log`)).length, requests, 'no request while paused');
    assert.ok(held < data.length);
    await page.click('#resume');
    await page.waitForSelector('#status[data-state="done"]', { timeout: 60_000 });
    assert.equal((await completed(s))[0].sha256, sha256(data));

    // Cancel a second upload mid-way.
    await pickFile(page, bytes(4 * MB, 10), 'second.mp4');
    await page.click('#start');
    await page.waitForFunction(() => document.getElementById('bar').value > 0);
    await page.click('#cancel');
    await page.waitForFunction(() => /Cancelled/.test(document.getElementById('status').textContent));
    await page.waitForTimeout(300);
    const uploads = await control(FAKE, 'GET', `/session/${s.id}/uploads`);
    assert.equal(uploads.find(u => u.filename === 'second.mp4').state, 'deleted');
    const log = await control(FAKE, 'GET', `/session/${s.id}/log`);
    assert.equal(log.at(-1).method, 'DELETE');
    await page.close();
  });
});

describe('the ES module API in a page', () => {
  test('UploadError is an Error; validation is synchronous', async () => {
    const page = await browser.newPage();
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

  test('a relative endpoint goes through a same-origin proxy', async () => {
    const s = await newSession();
    const page = await browser.newPage();
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
    assert.equal((await completed(s))[0].sha256, sha256(data));
    const log = await control(FAKE, 'GET', `/session/${s.id}/log?preflight=1`);
    assert.equal(log.filter(e => e.method === 'OPTIONS').length, 0, 'same-origin: no CORS preflight');
    await page.close();
  });
});
