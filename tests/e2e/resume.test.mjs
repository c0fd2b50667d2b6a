// Resume after a real page reload (tests/e2e/resume/index.html), in each engine of E2E_ENGINES:
// a file is picked through <input type=file> (same name, size, type and lastModified both times,
// as a file on disk), its PeerTube upload starts, the page is
// reloaded while a chunk is on the wire, the same file is picked again, Upload.findPrevious lists
// the unfinished upload and upload.resumeFrom continues it. The fake must hold identical bytes
// (SHA-256) and have been sent fewer than file size + 2 chunks in all; localStorage never holds
// the token and is empty afterwards.
//
//   node --test tests/e2e/resume.test.mjs      (needs www/pkg from `bash scripts/build.sh`)
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { forEachEngine } from './engines.mjs';
import { ROOT, bytes, control, ensureFake, pageServer, sha256 } from './harness.mjs';

const FAKE = process.env.CHUNKUP_PEERTUBE_URL || `http://127.0.0.1:${process.env.PEERTUBE_PORT || 18081}`;
const KIB = 1024;
const CHUNK = 256 * KIB;
// CHUNKUP_E2E_PKG: another web build of the module (a path under the repository), e.g. a private one.
const PKG = process.env.CHUNKUP_E2E_PKG || '/www/pkg/chunkup.js';
const SIZE = 12 * CHUNK + 4321;

let pages, stopFake;

before(async () => {
  assert.ok(existsSync(join(ROOT, PKG)), `${PKG} is built (bash scripts/build.sh)`);
  stopFake = await ensureFake('peertube', FAKE);
  pages = await pageServer({ root: ROOT });
});

after(async () => {
  await pages?.close();
  await stopFake?.();
});

const sleep = ms => new Promise(r => setTimeout(r, ms));

async function waitFor(what, check, ms = 60_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

forEachEngine(({ browser, name }) => test(name('PeerTube: reload mid-way, pick the same file, resume: identical bytes, < size + 2 chunks sent'), { timeout: 180_000 }, async () => {
  const data = bytes(SIZE, 7);
  const file = { name: 'holiday.mp4', type: 'video/mp4', buffer: data, lastModified: 1_700_000_000_000 };
  const s = await control(FAKE, 'POST', '/session', { user: 'alice' });
  // The 5th chunk hangs on the server for a while: the reload happens with it on the wire.
  await control(FAKE, 'POST', `/session/${s.id}/faults`, [{ route: 'chunk', nth: 5, delayMs: 2500 }]);
  const opts = { provider: 'peertube', endpoint: FAKE, accessToken: s.token, channelId: s.channelId, user: 'alice', chunkSize: CHUNK, retryDelays: [50, 100, 200] };
  const log = () => control(FAKE, 'GET', `/session/${s.id}/log`);

  const page = await (await browser()).newPage();
  await page.goto(`${pages.origin}/tests/e2e/resume/index.html?pkg=${encodeURIComponent(PKG)}`);
  await page.evaluate(() => window.ready);
  await page.evaluate(() => localStorage.clear());
  await page.setFiles('#file', file);
  assert.deepEqual(await page.evaluate(o => window.list(o), opts), [], 'nothing to resume before the first upload');
  await page.evaluate(o => window.begin(o), opts);
  await waitFor('the 5th chunk to reach the server', async () => (await log()).filter(e => e.route === 'chunk').length >= 5);
  const before = await page.evaluate(() => window.records());
  assert.equal(before.length, 1, 'one record while the upload runs');
  assert.ok(!before[0][1].includes(s.token), 'the record holds no token');

  // Reload: the upload in this page is gone, its 5th chunk with it.
  await page.reload();
  await page.evaluate(() => window.ready);
  await page.setFiles('#file', file);
  const listed = await page.evaluate(o => window.list(o), opts);
  assert.equal(listed.length, 1, `one previous upload: ${JSON.stringify(listed)}`);
  const prev = listed[0];
  assert.equal(prev.provider, 'peertube');
  assert.equal(prev.name, 'holiday.mp4');
  assert.equal(prev.total, SIZE);
  assert.equal(prev.offset, 4 * CHUNK, 'four chunks were confirmed before the reload');
  assert.ok(prev.expiresAt > Date.now());
  assert.ok(prev.session.uploadUrl.includes('upload_id='));
  assert.ok(!JSON.stringify(prev).includes(s.token));
  // Listing with another user finds nothing.
  assert.deepEqual(await page.evaluate(o => window.list({ ...o, user: 'bob' }), opts), []);

  // The fake still hands the held 5th chunk (its client gone) to uploadx when the hold ends,
  // which keeps what arrived of it: a server writing a dead request concurrently with the
  // resumed one is a race of the server's own, so the resume starts after that.
  const held = (await log()).filter(e => e.route === 'chunk')[4];
  const heldUntil = Date.parse(held.time) + (held.delayedMs ?? 0) + 500;
  if (Date.now() < heldUntil) await sleep(heldUntil - Date.now());

  const seen = (await log()).length;
  const r = await page.evaluate(o => window.resumeFirst(o), opts);
  assert.ok(r.ok, `resumed upload: ${JSON.stringify(r.error)}`);
  assert.ok(r.result.video?.uuid, 'the PeerTube video');

  const uploads = await control(FAKE, 'GET', `/session/${s.id}/uploads`);
  const done = uploads.filter(u => u.state === 'complete');
  assert.equal(done.length, 1, JSON.stringify(uploads));
  assert.equal(done[0].received, SIZE);
  assert.equal(done[0].sha256, sha256(data), 'identical bytes on the server');

  const all = await log();
  const after = all.slice(seen);
  assert.equal(after[0].route, 'offset', 'the resumed page asks the offset first');
  assert.equal(all.filter(e => e.route === 'init').length, 1, 'one upload session: no second init');
  const sent = all.filter(e => e.route === 'chunk').reduce((n, e) => n + (e.contentLength || 0), 0);
  assert.ok(sent < SIZE + 2 * CHUNK, `${sent} bytes sent for ${SIZE}`);
  // The resumed page's progress starts where the server was and ends at the size.
  const progress = await page.evaluate(() => window.progress);
  assert.ok(progress.every((v, i) => i === 0 || v >= progress[i - 1]));
  assert.equal(progress.at(-1), SIZE);
  assert.deepEqual(await page.evaluate(() => window.records()), [], 'the record is removed after success');
  assert.deepEqual(await page.evaluate(o => window.list(o), opts), []);
  assert.deepEqual(await page.errors(), []);
  await page.close();
}));
