// The HTML form helper (chunkup/form, `enhanceForm`) on a plain page without a bundler
// in each engine of E2E_ENGINES (www/form.html: <script type="module"> importing ./pkg/chunkup.js and ./pkg/form.js). The page
// posts to the demo server's /submit, which records the fields: the test checks the hidden fields
// with each provider's ids, that no file bytes reached the form endpoint, and the bytes on the fake.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDemoServer } from '../../scripts/demo-server.mjs';
import { forEachEngine } from './engines.mjs';
import { WWW, bytes, control, ensureFake, sha256 } from './harness.mjs';

const fakeUrl = (name, port) =>
  process.env[`CHUNKUP_${name.toUpperCase()}_URL`] || `http://127.0.0.1:${process.env[`${name.toUpperCase()}_PORT`] || port}`;
const FAKES = { peertube: fakeUrl('peertube', 18081), apivideo: fakeUrl('apivideo', 18082), cloudreve: fakeUrl('cloudreve', 18083), mangadex: fakeUrl('mangadex', 18084) };
const MB = 1024 * 1024;

let site;
const stops = [];

before(async () => {
  assert.ok(existsSync(join(WWW, 'pkg/form.js')), 'www/pkg/form.js is there (bash scripts/build.sh)');
  for (const [name, url] of Object.entries(FAKES)) stops.push(await ensureFake(name, url));
  site = await startDemoServer({ port: 0 });
});

after(async () => {
  await site?.close();
  for (const stop of stops) await stop();
});

/** A fresh account on the provider's fake → [session, the page's query for it]. */
async function account(provider) {
  const url = FAKES[provider];
  const s = await control(url, 'POST', '/session', {});
  const q = {
    peertube: { 'peertube-endpoint': `${url}/s/${s.id}` },
    apivideo: { 'apivideo-endpoint': url, 'apivideo-apikey': s.apiKey },
    cloudreve: { 'cloudreve-endpoint': url, 'cloudreve-email': s.email, 'cloudreve-password': s.password },
    mangadex: {
      'mangadex-endpoint': url, 'mangadex-auth': url, 'mangadex-username': s.username, 'mangadex-password': s.password,
      'mangadex-client-id': s.clientId, 'mangadex-client-secret': s.clientSecret, 'mangadex-manga': s.mangaId, 'mangadex-group': s.groupId
    }
  }[provider];
  return [s, new URLSearchParams({ provider, ...q })];
}

async function openForm(browser, query) {
  const page = await (await browser()).newPage();
  await page.goto(`${site.origin}/form.html?${query}`);
  await page.waitForSelector('html[data-ready="1"]');
  return { page };
}

function png(len, seed) {
  const head = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 2, 0, 0, 0, 3, 0, 8, 6, 0, 0, 0]);
  return Buffer.concat([head, bytes(len - head.length, seed)]);
}

/** Fills the form, submits, waits for the endpoint's answer → the recorded fields. */
async function submit(page, files, type) {
  const before = site.submissions.length;
  await page.fill('input[name=title]', 'Summer trip');
  await page.setFiles('input[name=media]', files.map(([name, buffer]) => ({ name, type, buffer })));
  await page.click('button[type=submit]');
  await page.waitForSelector('#received', { timeout: 60_000 });
  assert.equal(site.submissions.length, before + 1, 'one submission');
  const { fields, contentType } = site.submissions.at(-1);
  assert.match(contentType, /^application\/x-www-form-urlencoded/, 'no multipart body: the bytes went to the provider');
  assert.equal(fields.some(([k]) => k === 'media'), false, 'the file input is not submitted');
  return fields;
}
const values = (fields, key) => fields.filter(([k]) => k === key).map(([, v]) => v);

forEachEngine(({ browser, name }) => {
  describe('enhanceForm on a plain HTML form', () => {
    test(name('PeerTube: two files, then the form is posted with id, uuid and shortUUID of each video'), async () => {
      const [s, q] = await account('peertube');
      const { page } = await openForm(browser, q);
      const files = [['one.mp4', bytes(2 * MB + 3, 61)], ['two.mp4', bytes(MB, 62)]];
      const fields = await submit(page, files, 'video/mp4');
      assert.deepEqual(values(fields, 'title'), ['Summer trip']);
      assert.deepEqual(values(fields, 'action'), ['publish'], "the submit button's value is kept");
      const ups = (await control(FAKES.peertube, 'GET', `/session/${s.id}/uploads`)).filter(u => u.state === 'complete');
      const byName = Object.fromEntries(ups.map(u => [u.filename, u]));
      const uuids = values(fields, 'media_uuid');
      assert.deepEqual(uuids, files.map(([n]) => byName[n].result.video.uuid), 'uuids in file order');
      assert.deepEqual(values(fields, 'media_id'), files.map(([n]) => String(byName[n].result.video.id)));
      assert.deepEqual(values(fields, 'media_shortUUID'), files.map(([n]) => byName[n].result.video.shortUUID));
      for (const [n, data] of files) assert.equal(byName[n].sha256, sha256(data), n);
      assert.equal(byName['one.mp4'].name, 'Summer trip', 'the title field names the video');
      assert.deepEqual(await page.errors(), []);
      await page.close();
    });

    test(name('api.video: the form carries the videoId'), async () => {
      const [s, q] = await account('apivideo');
      const { page } = await openForm(browser, q);
      const data = bytes(6 * MB + 1, 63);
      const fields = await submit(page, [['clip.mp4', data]], 'video/mp4');
      const videos = (await control(FAKES.apivideo, 'GET', `/session/${s.id}/videos`)).filter(v => v.complete);
      assert.equal(videos.length, 1);
      assert.deepEqual(values(fields, 'media_videoId'), [videos[0].videoId]);
      assert.equal(videos[0].sha256, sha256(data));
      await page.close();
    });

    test(name('Cloudreve: the form carries uri and sessionId'), async () => {
      const [s, q] = await account('cloudreve');
      const { page } = await openForm(browser, q);
      const data = bytes(3 * MB + 5, 64);
      const fields = await submit(page, [['scan.pdf', data]], 'application/pdf');
      const [up] = (await control(FAKES.cloudreve, 'GET', `/session/${s.id}/uploads`)).filter(u => u.state === 'complete');
      assert.deepEqual(values(fields, 'media_uri'), [up.uri]);
      assert.deepEqual(values(fields, 'media_sessionId'), [up.sessionId]);
      const files = await control(FAKES.cloudreve, 'GET', `/session/${s.id}/files`);
      assert.equal(files.find(f => f.uri === up.uri).sha256, sha256(data));
      await page.close();
    });

    test(name('MangaDex: the images of the input are one chapter; the form carries its chapterId'), async () => {
      const [s, q] = await account('mangadex');
      const { page } = await openForm(browser, q);
      const pages = [['p1.png', png(120_000, 65)], ['p2.png', png(80_000, 66)]];
      const fields = await submit(page, pages, 'image/png');
      const [chapter] = await control(FAKES.mangadex, 'GET', `/session/${s.id}/chapters`);
      assert.deepEqual(values(fields, 'media_chapterId'), [chapter.id]);
      assert.deepEqual(chapter.pages.map(p => p.sha256), pages.map(([, b]) => sha256(b)));
      await page.close();
    });

    test(name('a failed upload is shown in words and the form is not posted'), async () => {
      const s = await control(FAKES.peertube, 'POST', '/session', { quota: MB });
      const { page } = await openForm(browser, new URLSearchParams({ provider: 'peertube', 'peertube-endpoint': `${FAKES.peertube}/s/${s.id}` }));
      const before = site.submissions.length;
      await page.setFiles('input[name=media]', { name: 'big.mp4', type: 'video/mp4', buffer: bytes(2 * MB, 67) });
      await page.click('button[type=submit]');
      await page.waitForSelector('form[data-chunkup-state=error]');
      assert.match(await page.textContent('output.chunkup-status'), /^Upload failed — quota \(HTTP 413\): .*quota is exceeded/);
      assert.equal(site.submissions.length, before, 'nothing posted');
      assert.equal(await page.$eval('button[type=submit]', b => b.disabled), false, 'the form can be sent again');
      await page.close();
    });
  });
});
