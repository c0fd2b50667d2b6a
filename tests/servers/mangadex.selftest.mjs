// Self-test of the MangaDex fake: node --test tests/servers/mangadex.selftest.mjs
// Starts the server as a child process on a random port, drives it with Node's fetch, stops it at the end.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('./mangadex.mjs', import.meta.url));
let child;
let BASE;

const sha = buf => createHash('sha256').update(buf).digest('hex');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

before(async () => {
  child = spawn(process.execPath, [SERVER], {
    env: { ...process.env, MANGADEX_PORT: '0', FAKE_SERVER_PARENT_PID: String(process.pid) },
    stdio: ['ignore', 'pipe', 'pipe']
  });
  let err = '';
  child.stderr.on('data', d => { err += d; });
  BASE = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}${err}`)), 15000);
    child.stdout.on('data', d => {
      out += d;
      const m = /mangadex fake listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', code => reject(new Error(`server exited ${code}: ${out}${err}`)));
  });
});

after(async () => {
  const exited = new Promise(r => child.once('exit', code => r(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, 'server exits 0 on SIGTERM');
});

// ---- helpers ------------------------------------------------------------------

async function ctl(path, { method = 'GET', body } = {}) {
  const res = await fetch(`${BASE}/__control${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  });
  assert.equal(res.status, 200, `control ${method} ${path}`);
  return res.json();
}
const newSession = (opts = {}) => ctl('/session', { method: 'POST', body: opts });

async function api(s, method, path, { json, form, headers = {}, token = s.accessToken } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) {
    h['content-type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  const res = await fetch(`${BASE}${path}`, { method, headers: h, body });
  const text = await res.text();
  let parsed = null;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

function png(w = 800, h = 1200, extra = 2000) {
  const head = Buffer.alloc(24);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]).copy(head, 0);
  head.write('IHDR', 12, 'latin1');
  head.writeUInt32BE(w, 16);
  head.writeUInt32BE(h, 20);
  return Buffer.concat([head, randomBytes(extra)]);
}
/** SOI, APP0 (JFIF), SOF0 with the size, then noise. */
function jpeg(extra = 1500, w = 768, h = 1024) {
  const app0 = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, ...Buffer.from('JFIF\0'), 1, 1, 0, 0, 1, 0, 1, 0, 0]);
  const sof = Buffer.from([0xff, 0xc0, 0, 0x11, 8, h >> 8, h & 255, w >> 8, w & 255, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  return Buffer.concat([app0, sof, randomBytes(extra)]);
}

function files(list) {
  const fd = new FormData();
  list.forEach(([name, buf, type = 'image/png'], i) => fd.append(`file${i}`, new Blob([buf], { type }), name));
  return fd;
}

function assertMdError(r, status, detailPart) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body.result, 'error');
  assert.equal(r.body.errors.length, 1);
  const e = r.body.errors[0];
  assert.match(e.id, UUID);
  assert.equal(e.status, status);
  assert.equal(typeof e.title, 'string');
  assert.ok(e.detail.includes(detailPart), `${e.detail} includes ${detailPart}`);
  assert.ok('context' in e);
}

async function begin(s, groups = [s.groupId]) {
  const r = await api(s, 'POST', '/upload/begin', { json: { manga: s.mangaId, groups } });
  assert.equal(r.status, 200, r.text);
  return r.body.data.id;
}

// ---- tests --------------------------------------------------------------------

describe('mangadex fake', () => {
  test('a whole chapter: begin, batches, commit in pageOrder, pages with sha256 in the control API', async () => {
    const s = await newSession();
    assertMdError(await api(s, 'GET', '/upload'), 404, 'No upload session found');
    const sid = await begin(s);
    assert.match(sid, UUID);
    const pages = [png(), jpeg(), png(10, 10, 100), Buffer.concat([Buffer.from('GIF89a'), Buffer.from([1, 0, 1, 0]), randomBytes(50)])];
    const names = ['a.png', 'b.jpg', 'c.png', 'd.gif'];
    const up = await api(s, 'POST', `/upload/${sid}`, { form: files(pages.map((p, i) => [names[i], p])) });
    assert.equal(up.status, 200, up.text);
    assert.equal(up.body.result, 'ok');
    assert.deepEqual(up.body.errors, []);
    assert.equal(up.body.data.length, 4);
    for (const [i, f] of up.body.data.entries()) {
      assert.equal(f.type, 'upload_session_file');
      assert.equal(f.attributes.originalFileName, names[i]);
      assert.equal(f.attributes.fileSize, pages[i].length);
      assert.equal(f.attributes.fileHash, sha(pages[i]), 'per-file hash');
      assert.equal(f.attributes.source, 'local');
    }
    assert.deepEqual(up.body.data.map(f => f.attributes.mimeType), ['image/png', 'image/jpeg', 'image/png', 'image/gif']);
    // The session with its files (for resuming).
    const g = await api(s, 'GET', '/upload?includes[]=upload_session_file');
    assert.equal(g.body.response, 'entity');
    assert.equal(g.body.data.type, 'upload_session');
    const rels = g.body.data.relationships;
    assert.deepEqual(rels.filter(r => r.type === 'manga').map(r => r.id), [s.mangaId]);
    assert.deepEqual(rels.filter(r => r.type === 'scanlation_group').map(r => r.id), [s.groupId]);
    assert.equal(rels.filter(r => r.type === 'upload_session_file' && r.attributes).length, 4);
    const plain = await api(s, 'GET', '/upload');
    assert.ok(plain.body.data.relationships.filter(r => r.type === 'upload_session_file').every(r => !r.attributes));
    // Commit in another order, leaving one file out: it is dropped.
    const ids = up.body.data.map(f => f.id);
    const order = [ids[2], ids[0], ids[3]];
    const draft = { volume: '1', chapter: '2.5', title: null, translatedLanguage: 'pt-br' };
    const c = await api(s, 'POST', `/upload/${sid}/commit`, { json: { chapterDraft: draft, pageOrder: order, termsAccepted: true } });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.body.data.type, 'chapter');
    assert.equal(c.body.data.attributes.pages, 3);
    const [ch] = await ctl(`/session/${s.id}/chapters`);
    assert.equal(ch.id, c.body.data.id);
    assert.deepEqual(ch.pages.map(p => p.originalFileName), ['c.png', 'a.png', 'd.gif']);
    assert.deepEqual(ch.pages.map(p => p.sha256), [sha(pages[2]), sha(pages[0]), sha(pages[3])]);
    assert.equal(ch.termsAccepted, true);
    assert.equal(ch.chapter, '2.5');
    const [u] = await ctl(`/session/${s.id}/uploads`);
    assert.equal(u.state, 'committed');
    assertMdError(await api(s, 'GET', '/upload'), 404, 'No upload session found');
    assertMdError(await api(s, 'POST', `/upload/${sid}`, { form: files([['x.png', png()]]) }), 404, 'not found');
  });

  test('GET /chapter: the real query parameters, newest first, unknown parameters 400, listingDelayMs', async () => {
    const s = await newSession({ listingDelayMs: 1500 });
    const g = await api(s, 'GET', '/upload'); // (none yet)
    assert.equal(g.status, 404);
    const sid = await begin(s);
    const session = (await api(s, 'GET', '/upload')).body.data;
    assert.match(session.attributes.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/, 'MangaDex timestamps');
    const up = await api(s, 'POST', `/upload/${sid}`, { form: files([['a.png', png()]]) });
    const draft = { volume: null, chapter: '7', title: null, translatedLanguage: 'en' };
    const c = await api(s, 'POST', `/upload/${sid}/commit`, { json: { chapterDraft: draft, pageOrder: [up.body.data[0].id] } });
    assert.equal(c.status, 200);
    const since = session.attributes.createdAt.slice(0, 19);
    const query = `manga=${s.mangaId}&groups[]=${s.groupId}&translatedLanguage[]=en&chapter=7&uploader=${s.userId}&createdAtSince=${since}` +
      '&contentRating[]=safe&contentRating[]=pornographic&includeFuturePublishAt=1&includeEmptyPages=1&includeExternalUrl=1&order[createdAt]=desc&limit=20&offset=0';
    const list = () => api(s, 'GET', `/chapter?${query}`);
    const early = await list();
    assert.equal(early.status, 200, early.text);
    assert.deepEqual([early.body.result, early.body.response, early.body.data, early.body.total, early.body.limit, early.body.offset], ['ok', 'collection', [], 0, 20, 0],
      'not listed while in the processing queue');
    await new Promise(r => setTimeout(r, 1600));
    const later = await list();
    assert.equal(later.body.total, 1);
    const [ch] = later.body.data;
    assert.deepEqual([ch.id, ch.type, ch.attributes.chapter, ch.attributes.translatedLanguage], [c.body.data.id, 'chapter', '7', 'en']);
    assert.deepEqual(ch.relationships.map(r => r.type).sort(), ['manga', 'scanlation_group', 'user']);
    assert.ok(Date.parse(ch.attributes.createdAt) >= Date.parse(session.attributes.createdAt));
    // Filters that exclude it.
    assert.equal((await api(s, 'GET', `/chapter?manga=${s.mangaId}&chapter=8`)).body.total, 0);
    assert.equal((await api(s, 'GET', `/chapter?manga=${s.otherMangaId}`)).body.total, 0);
    assert.equal((await api(s, 'GET', `/chapter?manga=${s.mangaId}&translatedLanguage[]=fr`)).body.total, 0);
    assert.equal((await api(s, 'GET', `/chapter?manga=${s.mangaId}&createdAtSince=2999-01-01T00:00:00`)).body.total, 0);
    // Validation.
    assertMdError(await api(s, 'GET', `/chapter?manga=${s.mangaId}&bogus=1`), 400, 'bogus');
    assertMdError(await api(s, 'GET', '/chapter?limit=101'), 400, 'limit');
    assertMdError(await api(s, 'GET', '/chapter?createdAtSince=2024-01-01T00:00:00Z'), 400, 'createdAtSince');
    assertMdError(await api(s, 'GET', '/chapter?order[createdAt]=newest'), 400, 'order');
  });

  test('one session per user; abandon frees it; another user cannot touch it', async () => {
    const s = await newSession();
    const sid = await begin(s);
    const again = await api(s, 'POST', '/upload/begin', { json: { manga: s.mangaId, groups: [] } });
    assertMdError(again, 409, 'already have an open upload session');
    assert.equal(again.body.errors[0].context.uploadSessionId, sid);
    const other = await newSession();
    await begin(other); // another user may have their own
    assertMdError(await api(other, 'DELETE', `/upload/${sid}`), 403, 'not the owner');
    assertMdError(await api(other, 'POST', `/upload/${sid}`, { form: files([['x.png', png()]]) }), 403, 'not the owner');
    assert.equal((await api(s, 'DELETE', `/upload/${sid}`)).body.result, 'ok');
    assertMdError(await api(s, 'DELETE', `/upload/${sid}`), 404, 'not found');
    const [u] = await ctl(`/session/${s.id}/uploads`);
    assert.equal(u.state, 'deleted');
    await begin(s);
    assertMdError(await api(s, 'GET', '/upload', { token: 'nope' }), 401, 'User not found');
    assertMdError(await api(s, 'GET', '/upload', { token: null }), 401, 'Authorization');
  });

  test('limits: 10 files per request, types by magic bytes, dimensions, partial success in a 200', async () => {
    const s = await newSession();
    const sid = await begin(s);
    const eleven = Array.from({ length: 11 }, (_, i) => [`p${i}.png`, png(10, 10, 10)]);
    assertMdError(await api(s, 'POST', `/upload/${sid}`, { form: files(eleven) }), 400, 'At most 10 files');
    assertMdError(await api(s, 'POST', `/upload/${sid}`, { json: {} }), 400, 'multipart');
    const webp = Buffer.concat([Buffer.from('RIFF\x10\0\0\0WEBPVP8 ', 'latin1'), randomBytes(30)]);
    const r = await api(s, 'POST', `/upload/${sid}`, {
      form: files([['ok.png', png()], ['fake.png', webp], ['tall.png', png(800, 10000)], ['text.jpg', Buffer.from('hello')], ['ok2.jpg', jpeg()], ['wide.jpg', jpeg(100, 12000, 50)]])
    });
    assert.equal(r.status, 200, 'partial success is HTTP 200');
    assert.equal(r.body.result, 'ok');
    assert.deepEqual(r.body.data.map(f => f.attributes.originalFileName), ['ok.png', 'ok2.jpg']);
    assert.equal(r.body.errors.length, 4);
    assert.ok(r.body.errors[0].detail.includes('fake.png') && r.body.errors[0].detail.includes('Invalid file type'));
    assert.ok(r.body.errors[1].detail.includes('tall.png') && r.body.errors[1].detail.includes('10000'));
    assert.ok(r.body.errors[2].detail.includes('text.jpg'));
    assert.ok(r.body.errors[3].detail.includes('wide.jpg') && r.body.errors[3].detail.includes('12000x50'), r.body.errors[3].detail);
    for (const e of r.body.errors) assert.equal(e.status, 400);
    const allBad = await api(s, 'POST', `/upload/${sid}`, { form: files([['bad.png', webp]]) });
    assert.equal(allBad.status, 200);
    assert.equal(allBad.body.result, 'error');
    assert.deepEqual(allBad.body.data, []);
  });

  test('file faults, deletes and strict commits', async () => {
    const s = await newSession();
    const sid = await begin(s);
    await ctl(`/session/${s.id}/file-faults`, { method: 'POST', body: [{ name: 'b.png' }, { nth: 2, file: 1, status: 503, detail: 'storage busy' }] });
    const r1 = await api(s, 'POST', `/upload/${sid}`, { form: files([['a.png', png()], ['b.png', png()], ['c.png', png()]]) });
    assert.deepEqual(r1.body.data.map(f => f.attributes.originalFileName), ['a.png', 'c.png']);
    assert.equal(r1.body.errors.length, 1);
    assert.equal(r1.body.errors[0].status, 500);
    assert.ok(r1.body.errors[0].detail.includes('b.png'));
    const r2 = await api(s, 'POST', `/upload/${sid}`, { form: files([['b.png', png()], ['d.png', png()]]) });
    assert.deepEqual(r2.body.data.map(f => f.attributes.originalFileName), ['d.png'], 'the rule fires once by name; the nth rule hits file 1');
    assert.equal(r2.body.errors[0].status, 503);
    assert.ok(r2.body.errors[0].detail.includes('storage busy'));
    const r3 = await api(s, 'POST', `/upload/${sid}`, { form: files([['b.png', png()]]) });
    assert.equal(r3.body.data.length, 1);
    const ids = [...r1.body.data, ...r2.body.data, ...r3.body.data].map(f => f.id);
    // Deletes: one, then a batch; unknown ids are 404.
    assert.equal((await api(s, 'DELETE', `/upload/${sid}/${ids[0]}`)).body.result, 'ok');
    assertMdError(await api(s, 'DELETE', `/upload/${sid}/${ids[0]}`), 404, 'not found');
    assert.equal((await api(s, 'DELETE', `/upload/${sid}/batch`, { json: [ids[1], ids[2]] })).body.result, 'ok');
    assertMdError(await api(s, 'DELETE', `/upload/${sid}/batch`, { json: [] }), 400, 'non-empty array');
    const [u] = await ctl(`/session/${s.id}/uploads`);
    assert.deepEqual(u.files.map(f => f.originalFileName), ['b.png']);
    // Commit validation.
    const draft = { volume: null, chapter: '1', title: 't', translatedLanguage: 'en' };
    const commit = body => api(s, 'POST', `/upload/${sid}/commit`, { json: body });
    assertMdError(await commit({ chapterDraft: draft, pageOrder: [ids[0]] }), 400, 'not a file of this upload session');
    assertMdError(await commit({ chapterDraft: draft, pageOrder: [ids[3], ids[3]] }), 400, 'duplicate');
    assertMdError(await commit({ chapterDraft: draft, pageOrder: [] }), 400, 'pageOrder');
    assertMdError(await commit({ chapterDraft: { ...draft, chapter: '01' }, pageOrder: [ids[3]] }), 400, 'pattern');
    assertMdError(await commit({ chapterDraft: { ...draft, extra: 1 }, pageOrder: [ids[3]] }), 400, 'additional properties');
    assertMdError(await commit({ chapterDraft: { chapter: '1', title: null, translatedLanguage: 'en' }, pageOrder: [ids[3]] }), 400, 'volume');
    assert.equal((await commit({ chapterDraft: draft, pageOrder: [ids[3]] })).status, 200);
  });

  test('rate limits answer 429 with X-RateLimit-* headers, readable cross-origin', async () => {
    const s = await newSession({ rateLimits: { 'get-session': [2, 60] } });
    const a = await api(s, 'GET', '/upload');
    assert.equal(a.headers.get('x-ratelimit-limit'), '2');
    assert.equal(a.headers.get('x-ratelimit-remaining'), '1');
    await api(s, 'GET', '/upload');
    const limited = await api(s, 'GET', '/upload', { headers: { origin: 'http://page.test' } });
    assertMdError(limited, 429, 'rate limited');
    const reset = Number(limited.headers.get('x-ratelimit-retry-after'));
    assert.ok(reset > Date.now() / 1000 && reset <= Date.now() / 1000 + 61, 'a Unix timestamp in seconds');
    assert.equal(limited.headers.get('access-control-allow-origin'), '*');
    assert.ok(limited.headers.get('access-control-expose-headers').includes('X-RateLimit-Retry-After'));
    // Other buckets are not affected.
    assert.equal((await api(s, 'POST', '/upload/begin', { json: { manga: s.mangaId, groups: [] } })).status, 200);
  });

  test('fault rules and the request log', async () => {
    const s = await newSession();
    const sid = await begin(s);
    await ctl(`/session/${s.id}/faults`, { method: 'POST', body: [{ route: 'upload', status: 503, headers: { 'Retry-After': '1' }, body: { result: 'error', errors: [] } }] });
    const r = await api(s, 'POST', `/upload/${sid}`, { form: files([['a.png', png()]]) });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '1');
    const ok = await api(s, 'POST', `/upload/${sid}`, { form: files([['a.png', png()]]) });
    assert.equal(ok.status, 200);
    const log = await ctl(`/session/${s.id}/log`);
    assert.deepEqual(log.map(e => e.route), ['begin', 'upload', 'upload']);
    assert.equal(log[1].fault, 'status:503');
    assert.equal(log[2].files.length, 1);
    assert.equal(log[2].files[0].filename, 'a.png');
    assert.match(log[2].files[0].sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(log[0].body, { manga: s.mangaId, groups: [s.groupId] });
  });

  test('approval check, chapter edits and the personal-client token endpoint', async () => {
    const s = await newSession();
    const check = (manga, locale = 'en') => api(s, 'POST', '/upload/check-approval-required', { json: { manga, locale } });
    assert.deepEqual((await check(s.mangaId)).body, { result: 'ok', requiresApproval: true });
    const missing = await check('00000000-0000-4000-8000-000000000000');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { result: 'ok' });
    const sid = await begin(s);
    const up = await api(s, 'POST', `/upload/${sid}`, { form: files([['a.png', png()]]) });
    const draft = { volume: null, chapter: '1', title: null, translatedLanguage: 'en' };
    const c = await api(s, 'POST', `/upload/${sid}/commit`, { json: { chapterDraft: draft, pageOrder: [up.body.data[0].id] } });
    assert.equal((await check(s.mangaId)).body.requiresApproval, false);
    // Edit: begin with the current version; the session holds the old pages as remote files.
    const chapterId = c.body.data.id;
    assertMdError(await api(s, 'POST', `/upload/begin/${chapterId}`, { json: { version: 7 } }), 400, 'version');
    const e = await api(s, 'POST', `/upload/begin/${chapterId}`, { json: { version: 1 } });
    assert.equal(e.status, 200, e.text);
    const remote = e.body.data.relationships.filter(r => r.type === 'upload_session_file');
    assert.equal(remote.length, 1);
    assert.equal(remote[0].attributes.source, 'remote');
    const up2 = await api(s, 'POST', `/upload/${e.body.data.id}`, { form: files([['new.png', png()]]) });
    await api(s, 'POST', `/upload/${e.body.data.id}/commit`, { json: { chapterDraft: draft, pageOrder: [up2.body.data[0].id] } });
    const [ch] = await ctl(`/session/${s.id}/chapters`);
    assert.equal(ch.version, 2);
    assert.deepEqual(ch.pages.map(p => p.originalFileName), ['new.png']);
    // Token endpoint: form-encoded password grant, then refresh.
    const info = await ctl(`/session/${s.id}`);
    assert.equal(info.id, s.id);
    const tokenUrl = `${BASE}/realms/mangadex/protocol/openid-connect/token`;
    const grant = params => fetch(tokenUrl, { method: 'POST', body: new URLSearchParams(params) });
    const t = await grant({ grant_type: 'password', username: s.username, password: s.password, client_id: s.clientId, client_secret: s.clientSecret });
    assert.equal(t.status, 200);
    const tok = await t.json();
    assert.equal(tok.token_type, 'Bearer');
    assert.equal(tok.expires_in, 900);
    assert.equal((await api({ accessToken: tok.access_token }, 'GET', '/upload')).status, 404, 'the new token works');
    const bad = await grant({ grant_type: 'password', username: s.username, password: 'x', client_id: s.clientId, client_secret: s.clientSecret });
    assert.equal(bad.status, 401);
    const json = await fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(json.status, 400, 'JSON is refused');
    const r = await grant({ grant_type: 'refresh_token', refresh_token: tok.refresh_token, client_id: s.clientId, client_secret: s.clientSecret });
    assert.equal(r.status, 200);
  });
});
