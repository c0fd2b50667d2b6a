// Self-test of the PeerTube fake: node --test tests/servers/peertube.selftest.mjs
// Starts the server as a child process on random ports, drives it with Node's fetch, kills it at the end.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('./peertube.mjs', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));
let child;
let BASE;
let STATIC;
let staticRoot;

const sha = buf => createHash('sha256').update(buf).digest('hex');
const sleep = ms => new Promise(r => setTimeout(r, ms));

before(async () => {
  staticRoot = mkdtempSync(join(tmpdir(), 'pt-static-'));
  writeFileSync(join(staticRoot, 'x.wasm'), Buffer.from([0, 97, 115, 109, 1, 0, 0, 0]));
  writeFileSync(join(staticRoot, 'index.html'), '<!doctype html><title>t</title>');
  child = spawn(process.execPath, [SERVER], {
    env: { ...process.env, PEERTUBE_PORT: '0', STATIC_PORT: '0', STATIC_ROOT: staticRoot, FAKE_SERVER_PARENT_PID: String(process.pid) },
    stdio: ['ignore', 'pipe', 'pipe']
  });
  let err = '';
  child.stderr.on('data', d => {
    err += d;
    const m = /on (http:\/\/localhost:\d+)/.exec(err);
    if (m) STATIC = m[1].replace('localhost', '127.0.0.1');
  });
  BASE = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}${err}`)), 15000);
    child.stdout.on('data', d => {
      out += d;
      const m = /peertube fake listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', code => reject(new Error(`server exited ${code}: ${out}${err}`)));
  });
});

after(async () => {
  const pid = child.pid;
  const exited = new Promise(r => child.once('exit', (code, signal) => r({ code, signal })));
  child.kill('SIGTERM');
  const { code } = await exited;
  rmSync(staticRoot, { recursive: true, force: true });
  assert.equal(code, 0, 'server exits 0 on SIGTERM');
  assert.equal(existsSync(join(REPO, 'tests', '.data', `peertube-${pid}`)), false, 'data dir removed on exit');
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
const faults = (s, rules) => ctl(`/session/${s.id}/faults`, { method: 'POST', body: rules });

const VIDEO_INIT = () => `${BASE}/api/v1/videos/upload-resumable`;

async function init(s, { size, url = VIDEO_INIT(), body, type = 'video/mp4', headers = {}, token = s.token } = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      ...(size === undefined ? {} : { 'x-upload-content-length': String(size) }),
      ...(type === undefined ? {} : { 'x-upload-content-type': type }),
      ...headers
    },
    body: JSON.stringify(body ?? { name: 'My test video', channelId: s.channelId, filename: 'clip.mp4', lastModified: Date.now() })
  });
  const location = res.headers.get('location');
  return { res, location, uploadUrl: location && new URL(location, url).href };
}

function put(url, token, { start, data, total }) {
  const headers = { authorization: `Bearer ${token}` };
  if (data === undefined) {
    headers['content-range'] = `bytes */${total}`;
  } else {
    headers['content-type'] = 'application/octet-stream';
    headers['content-range'] = `bytes ${start}-${start + data.length - 1}/${total}`;
  }
  return fetch(url, { method: 'PUT', headers, body: data ?? '' });
}

async function problem(res, status, code) {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type'), /^application\/problem\+json/);
  const body = await res.json();
  assert.equal(body.status, status);
  if (code) assert.equal(body.code, code);
  assert.equal(body.error, body.detail);
  return body;
}

const exposed = res => (res.headers.get('access-control-expose-headers') || '').split(',').map(h => h.trim().toLowerCase());

/** Upload `data` in `parts` chunks; returns the final response. */
async function uploadAll(s, data, parts = 3) {
  const { res, uploadUrl } = await init(s, { size: data.length });
  assert.equal(res.status, 201);
  const step = Math.ceil(data.length / parts);
  let last;
  for (let start = 0; start < data.length; start += step) {
    last = await put(uploadUrl, s.token, { start, data: data.subarray(start, start + step), total: data.length });
  }
  return { last, uploadUrl };
}

// ---- tests ----------------------------------------------------------------------

describe('resumable video upload', () => {
  test('init → offset → 3 chunks → 200, sha256 recorded, re-sent last chunk → 404', async () => {
    const s = await newSession();
    const data = randomBytes(300_001);
    const { res, location, uploadUrl } = await init(s, { size: data.length });
    assert.equal(res.status, 201);
    assert.match(location, /^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/videos\/upload-resumable\?upload_id=[0-9a-f-]+$/);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.ok(exposed(res).includes('location') && exposed(res).includes('retry-after'), exposed(res).join());
    assert.equal(res.headers.get('cross-origin-resource-policy'), 'cross-origin');

    const off = await put(uploadUrl, s.token, { total: data.length });
    assert.equal(off.status, 308);
    assert.equal(off.headers.get('range'), 'bytes=0--1');
    assert.ok(exposed(off).includes('range'));

    const ranges = [];
    let r;
    for (const [a, b] of [[0, 100_000], [100_000, 200_000], [200_000, data.length]]) {
      r = await put(uploadUrl, s.token, { start: a, data: data.subarray(a, b), total: data.length });
      ranges.push([r.status, r.headers.get('range')]);
      if (r.status === 308) assert.ok(exposed(r).includes('range'));
    }
    assert.deepEqual(ranges.slice(0, 2), [[308, 'bytes=0-99999'], [308, 'bytes=0-199999']]);
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.ok(Number.isInteger(body.video.id));
    assert.match(body.video.uuid, /^[0-9a-f-]{36}$/);
    assert.ok(body.video.shortUUID.length > 10);
    assert.ok(!exposed(r).some(h => h.startsWith('x-ratelimit')));

    const [up] = await ctl(`/session/${s.id}/uploads`);
    assert.equal(up.state, 'complete');
    assert.equal(up.kind, 'video');
    assert.equal(up.size, data.length);
    assert.equal(up.received, data.length);
    assert.equal(up.sha256, sha(data));
    assert.equal(up.metadata.channelId, s.channelId);

    const again = await put(uploadUrl, s.token, { start: 200_000, data: data.subarray(200_000), total: data.length });
    assert.equal(again.status, 404);
    assert.equal((await again.json()).error.code, 'FileNotFound');

    const log = await ctl(`/session/${s.id}/log`);
    assert.deepEqual(log.map(e => [e.route, e.status]),
      [['init', 201], ['offset', 308], ['chunk', 308], ['chunk', 308], ['chunk', 200], ['chunk', 404]]);
    assert.equal(log[0].xUploadContentLength, String(data.length));
    assert.equal(log[2].contentRange, 'bytes 0-99999/300001');
    assert.ok(log.every(e => e.hasAuth));
  });

  test('Location forms: protocol-relative, absolute, path, and /s/<id> prefix kept', async () => {
    const rel = await newSession({ absoluteLocation: false });
    assert.match((await init(rel, { size: 10 })).location, /^\/\/127\.0\.0\.1:\d+\/api\/v1\/videos\/upload-resumable\?upload_id=/);
    const abs = await newSession({ absoluteLocation: true });
    assert.match((await init(abs, { size: 10 })).location, /^http:\/\/127\.0\.0\.1:\d+\/api/);
    const path = await newSession({ locationForm: 'path' });
    assert.match((await init(path, { size: 10 })).location, /^\/api\/v1\/videos\/upload-resumable\?upload_id=/);
    const pre = await newSession();
    const { res, location } = await init(pre, { size: 10, url: `${pre.baseUrl}/api/v1/videos/upload-resumable` });
    assert.equal(res.status, 201);
    assert.ok(location.startsWith(`${pre.baseUrl}/api/v1/videos/upload-resumable?upload_id=`), location);
  });

  test('DELETE → 204, state deleted, later PUT → 404', async () => {
    const s = await newSession();
    const { uploadUrl } = await init(s, { size: 1000 });
    await put(uploadUrl, s.token, { start: 0, data: randomBytes(400), total: 1000 });
    const del = await fetch(uploadUrl, { method: 'DELETE', headers: { authorization: `Bearer ${s.token}` } });
    assert.equal(del.status, 204);
    const [up] = await ctl(`/session/${s.id}/uploads`);
    assert.equal(up.state, 'deleted');
    assert.equal(up.received, 0);
    assert.equal((await put(uploadUrl, s.token, { total: 1000 })).status, 404);
  });

  test('validation: 400 headers/fields, 403/404 channel, 415, 413 quota and max file size', async () => {
    const s = await newSession({ quota: 5000, maxFileSize: 3000 });
    let b = await problem((await init(s, { size: undefined })).res, 400);
    assert.ok('x-upload-content-length' in b['invalid-params']);
    b = await problem((await init(s, { size: 10, body: { name: 'ab', channelId: 1, filename: 'a.mp4' } })).res, 400);
    assert.deepEqual(Object.keys(b['invalid-params']), ['name']);
    await problem((await init(s, { size: 10, body: { name: 'abc', channelId: 2, filename: 'a.mp4' } })).res, 403);
    await problem((await init(s, { size: 10, body: { name: 'abc', channelId: 99, filename: 'a.mp4' } })).res, 404);
    await problem((await init(s, { size: 10, type: 'application/pdf' })).res, 415);
    await problem((await init(s, { size: 4000 })).res, 413, 'max_file_size_reached');
    const q = await newSession({ quota: 5000 });
    await problem((await init(q, { size: 6000 })).res, 413, 'quota_reached');
    // quota counts completed uploads
    assert.equal((await uploadAll(q, randomBytes(3000), 1)).last.status, 200);
    await problem((await init(q, { size: 2500 })).res, 413, 'quota_reached');
    assert.equal((await init(q, { size: 2000 })).res.status, 201);
  });

  test('auth: 401 missing/expired token, new-token works, 403 for another user', async () => {
    const s = await newSession();
    const { uploadUrl } = await init(s, { size: 1000 });
    const noAuth = await fetch(uploadUrl, { method: 'PUT', headers: { 'content-range': 'bytes */1000' } });
    await problem(noAuth, 401, 'unauthorized_request');
    await ctl(`/session/${s.id}/expire-token`, { method: 'POST' });
    const b = await problem(await put(uploadUrl, s.token, { start: 0, data: randomBytes(100), total: 1000 }), 401, 'invalid_token');
    assert.equal(b.detail, 'Token is invalid');
    assert.match(b.type, /#section\/Errors\/invalid_token$/);
    const { token } = await ctl(`/session/${s.id}/new-token`, { method: 'POST' });
    const ok = await put(uploadUrl, token, { start: 0, data: randomBytes(100), total: 1000 });
    assert.equal(ok.status, 308);
    assert.equal(ok.headers.get('range'), 'bytes=0-99');

    const bob = await newSession({ user: 'bob' });
    const forbidden = await put(uploadUrl, bob.token, { total: 1000 });
    assert.equal(forbidden.status, 403);
    assert.equal((await forbidden.json()).error.code, 'Forbidden');
    // the expired-token request was still logged in the right session
    const log = await ctl(`/session/${s.id}/log`);
    assert.deepEqual(log.map(e => e.status), [201, 401, 401, 308]);
  });

  test('CORS preflight', async () => {
    const res = await fetch(VIDEO_INIT(), {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:18080', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization,content-range' }
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal(res.headers.get('access-control-allow-headers'), 'authorization,content-range');
    assert.equal(res.headers.get('access-control-allow-methods'), 'GET,HEAD,PUT,PATCH,POST,DELETE');
  });
});

describe('faults', () => {
  test('status 500 / 503 + Retry-After / 429 answered instead of uploadx, nothing written', async () => {
    const s = await newSession();
    await faults(s, [
      { method: 'PUT', route: 'chunk', nth: 1, status: 500 },
      { route: 'chunk', nth: 2, status: 503, headers: { 'Retry-After': '1' }, body: { error: 'busy' } },
      { route: 'offset', nth: 1, status: 429, headers: { 'Retry-After': '2' }, body: 'Too many requests' }
    ]);
    const data = randomBytes(2000);
    const { uploadUrl } = await init(s, { size: 2000 });
    const chunk = { start: 0, data: data.subarray(0, 1000), total: 2000 };
    assert.equal((await put(uploadUrl, s.token, chunk)).status, 500);
    const r503 = await put(uploadUrl, s.token, chunk);
    assert.equal(r503.status, 503);
    assert.equal(r503.headers.get('retry-after'), '1');
    assert.ok(exposed(r503).includes('retry-after'));
    assert.deepEqual(await r503.json(), { error: 'busy' });
    const r429 = await put(uploadUrl, s.token, { total: 2000 });
    assert.equal(r429.status, 429);
    assert.equal(await r429.text(), 'Too many requests');
    const off = await put(uploadUrl, s.token, { total: 2000 });
    assert.equal(off.headers.get('range'), 'bytes=0--1', 'faulted chunks never reached uploadx');
    assert.equal((await put(uploadUrl, s.token, chunk)).status, 308);
    assert.equal((await put(uploadUrl, s.token, { start: 1000, data: data.subarray(1000), total: 2000 })).status, 200);
    const [up] = await ctl(`/session/${s.id}/uploads`);
    assert.equal(up.sha256, sha(data));
    const log = await ctl(`/session/${s.id}/log`);
    assert.deepEqual(log.map(e => [e.route, e.status, e.fault ?? null]), [
      ['init', 201, null], ['chunk', 500, 'status:500'], ['chunk', 503, 'status:503'], ['offset', 429, 'status:429'],
      ['offset', 308, null], ['chunk', 308, null], ['chunk', 200, null]
    ]);
    const rules = await ctl(`/session/${s.id}/faults`);
    assert.deepEqual(rules.map(r => r.fired), [1, 1, 1]);
  });

  test('drop after n bytes: network error, nothing stored', async () => {
    const s = await newSession();
    await faults(s, [{ route: 'chunk', nth: 1, drop: true, afterBytes: 20_000 }]);
    const { uploadUrl } = await init(s, { size: 100_000 });
    await assert.rejects(put(uploadUrl, s.token, { start: 0, data: randomBytes(100_000), total: 100_000 }), TypeError);
    const off = await put(uploadUrl, s.token, { total: 100_000 });
    assert.equal(off.headers.get('range'), 'bytes=0--1');
    const log = await ctl(`/session/${s.id}/log`);
    assert.deepEqual(log.map(e => [e.route, e.status, e.fault ?? null]), [['init', 201, null], ['chunk', 0, 'drop'], ['offset', 308, null]]);
  });

  test('drop with keepPartial: uploadx keeps the bytes it got, offset query tells', async () => {
    const s = await newSession();
    await faults(s, [{ route: 'chunk', nth: 1, drop: true, afterBytes: 30_000, keepPartial: true }]);
    const data = randomBytes(100_000);
    const { uploadUrl } = await init(s, { size: data.length });
    await assert.rejects(put(uploadUrl, s.token, { start: 0, data, total: data.length }), TypeError);
    await sleep(50);
    const off = await put(uploadUrl, s.token, { total: data.length });
    assert.equal(off.status, 308);
    const end = Number(/^bytes=0-(-?\d+)$/.exec(off.headers.get('range'))[1]);
    assert.ok(end >= 0 && end < 30_000, `partial end ${end}`);
    const r = await put(uploadUrl, s.token, { start: end + 1, data: data.subarray(end + 1), total: data.length });
    assert.equal(r.status, 200);
    assert.equal((await ctl(`/session/${s.id}/uploads`))[0].sha256, sha(data));
  });

  test('drop after response on the last chunk: upload completed, client sees a network error, retry → 404', async () => {
    const s = await newSession();
    await faults(s, [{ route: 'chunk', nth: 2, drop: true, afterResponse: true }]);
    const data = randomBytes(5000);
    const { uploadUrl } = await init(s, { size: 5000 });
    assert.equal((await put(uploadUrl, s.token, { start: 0, data: data.subarray(0, 2500), total: 5000 })).status, 308);
    await assert.rejects(put(uploadUrl, s.token, { start: 2500, data: data.subarray(2500), total: 5000 }), TypeError);
    const [up] = await ctl(`/session/${s.id}/uploads`);
    assert.equal(up.state, 'complete');
    assert.equal(up.sha256, sha(data));
    assert.equal((await put(uploadUrl, s.token, { total: 5000 })).status, 404);
    const log = await ctl(`/session/${s.id}/log`);
    assert.equal(log[2].fault, 'drop-after-response');
    assert.equal(log[2].swallowedStatus, 200);
  });

  test('GET /api/v1/users/me/videos lists the videos uploads created: search, channelId, sort, paging, validation', async () => {
    const s = await newSession();
    const since = Date.now();
    const mk = async name => {
      const { res, uploadUrl } = await init(s, { size: 10, body: { name, channelId: s.channelId, filename: 'clip.mp4', lastModified: Date.now() } });
      assert.equal(res.status, 201);
      const done = await put(uploadUrl, s.token, { start: 0, data: randomBytes(10), total: 10 });
      assert.equal(done.status, 200);
      return (await done.json()).video;
    };
    const a = await mk('Soak video one');
    const b = await mk('Another title');
    const c = await mk('Soak video one');
    const list = async (query, token = s.token) => fetch(`${BASE}/api/v1/users/me/videos?${query}`, { headers: { authorization: `Bearer ${token}` } });
    const res = await list(`channelId=${s.channelId}&search=${encodeURIComponent('video ONE')}&sort=-createdAt&start=0&count=100`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.total, 2);
    assert.deepEqual(body.data.map(v => v.id), [c.id, a.id], 'newest first, name ILIKE %search%');
    const v = body.data[0];
    assert.deepEqual([v.uuid, v.shortUUID, v.name, v.channel.id, v.privacy.id, v.state.id], [c.uuid, c.shortUUID, 'Soak video one', s.channelId, 3, 2]);
    assert.ok(Date.parse(v.createdAt) >= since - 1000 && Date.parse(v.createdAt) <= Date.now());
    // Default sort -publishedAt, default count 15, paging.
    const all = await (await list('')).json();
    assert.deepEqual(all.data.map(x => x.id), [c.id, b.id, a.id]);
    const page = await (await list('sort=createdAt&start=1&count=1')).json();
    assert.deepEqual([page.total, page.data.map(x => x.id)], [3, [b.id]]);
    // Unknown query parameters are ignored; bad ones refused; an unknown channel is 404.
    assert.equal((await list('bogus=1')).status, 200);
    await problem(await list('count=101'), 400);
    await problem(await list('sort=-nope'), 400);
    await problem(await list('channelId=99999'), 404);
    assert.equal((await list('', 'not-a-token')).status, 401);
    // Another user's videos are not listed.
    const bob = await newSession({ user: 'bob' });
    assert.equal((await (await list('', bob.token)).json()).total, 0);
  });

  test('delay then handle normally', async () => {
    const s = await newSession();
    await faults(s, [{ method: 'POST', route: 'init', delayMs: 600 }]);
    const t0 = Date.now();
    const { res } = await init(s, { size: 10 });
    assert.equal(res.status, 201);
    assert.ok(Date.now() - t0 >= 580, `took ${Date.now() - t0} ms`);
    assert.equal((await ctl(`/session/${s.id}/log`))[0].fault, 'delay:600');
  });
});

describe('user import', () => {
  test('zip check, 403 other user, upload → 200 userImport, one pending import, latest Pending → Completed', async () => {
    const s = await newSession({ importCompleteMs: 700 });
    const url = `${BASE}/api/v1/users/${s.userId}/imports/import-resumable`;
    assert.equal((await fetch(`${BASE}/api/v1/users/${s.userId}/imports/latest`, { headers: { authorization: `Bearer ${s.token}` } })).status, 404);
    await problem((await init(s, { url, size: 10, type: 'application/zip', body: { filename: 'archive.tar' } })).res, 400);
    await problem((await init(s, { url: `${BASE}/api/v1/users/2/imports/import-resumable`, size: 10, type: 'application/zip', body: { filename: 'a.zip' } })).res, 403);
    const data = randomBytes(50_000);
    const { res, uploadUrl } = await init(s, { url, size: data.length, type: 'application/zip', body: { filename: 'archive.zip' } });
    assert.equal(res.status, 201);
    assert.match(uploadUrl, /\/api\/v1\/users\/1\/imports\/import-resumable\?upload_id=/);
    assert.equal((await put(uploadUrl, s.token, { start: 0, data: data.subarray(0, 25_000), total: data.length })).status, 308);
    const last = await put(uploadUrl, s.token, { start: 25_000, data: data.subarray(25_000), total: data.length });
    assert.equal(last.status, 200);
    const { userImport } = await last.json();
    assert.ok(Number.isInteger(userImport.id));
    const latest = () => fetch(`${BASE}/api/v1/users/${s.userId}/imports/latest`, { headers: { authorization: `Bearer ${s.token}` } }).then(r => r.json());
    let l = await latest();
    assert.equal(l.id, userImport.id);
    assert.deepEqual(l.state, { id: 1, label: 'Pending' });
    const b = await problem((await init(s, { url, size: 10, type: 'application/zip', body: { filename: 'b.zip' } })).res, 400);
    assert.equal(b.detail, 'An import is already being processed');
    await sleep(900);
    l = await latest();
    assert.deepEqual(l.state, { id: 3, label: 'Completed' });
    const ups = await ctl(`/session/${s.id}/uploads`);
    assert.equal(ups[0].kind, 'import');
    assert.equal(ups[0].sha256, sha(data));
  });
});

describe('multipart routes', () => {
  test('legacy upload, then caption (204, bytes recorded), unknown video 404, bad file 400', async () => {
    const s = await newSession();
    const video = randomBytes(4000);
    const form = new FormData();
    form.append('channelId', String(s.channelId));
    form.append('name', 'Legacy video');
    form.append('videofile', new Blob([video], { type: 'video/mp4' }), 'legacy.mp4');
    const up = await fetch(`${BASE}/api/v1/videos/upload`, { method: 'POST', headers: { authorization: `Bearer ${s.token}` }, body: form });
    assert.equal(up.status, 200);
    const { video: v } = await up.json();

    const vtt = Buffer.from('WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n');
    const cap = new FormData();
    cap.append('captionfile', new Blob([vtt], { type: 'text/vtt' }), 'hello.vtt');
    const auth = { authorization: `Bearer ${s.token}` };
    const r = await fetch(`${BASE}/api/v1/videos/${v.uuid}/captions/en`, { method: 'PUT', headers: auth, body: cap });
    assert.equal(r.status, 204);
    const files = await ctl(`/session/${s.id}/files`);
    assert.deepEqual(files.map(f => [f.route, f.fieldname, f.filename, f.size, f.sha256]), [
      ['legacy-upload', 'videofile', 'legacy.mp4', video.length, sha(video)],
      ['caption', 'captionfile', 'hello.vtt', vtt.length, sha(vtt)]
    ]);
    assert.equal(files[0].fields.name, 'Legacy video');

    const cap2 = new FormData();
    cap2.append('captionfile', new Blob([vtt], { type: 'text/vtt' }), 'hello.vtt');
    await problem(await fetch(`${BASE}/api/v1/videos/999999/captions/en`, { method: 'PUT', headers: auth, body: cap2 }), 404);
    const bad = new FormData();
    bad.append('captionfile', new Blob([vtt], { type: 'application/pdf' }), 'hello.pdf');
    await problem(await fetch(`${BASE}/api/v1/videos/${v.id}/captions/en`, { method: 'PUT', headers: auth, body: bad }), 400);
  });
});

describe('oauth', () => {
  test('client, form-only token endpoint, password + refresh grants', async () => {
    const client = await (await fetch(`${BASE}/api/v1/oauth-clients/local`)).json();
    assert.equal(client.client_id.length, 32);
    const form = fields => new URLSearchParams({ client_id: client.client_id, client_secret: client.client_secret, ...fields });
    const token = body => fetch(`${BASE}/api/v1/users/token`, { method: 'POST', body });

    const json = await fetch(`${BASE}/api/v1/users/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...client, grant_type: 'password', username: 'alice', password: 'secret' })
    });
    await problem(json, 400, 'invalid_request');
    await problem(await token(form({ grant_type: 'password', username: 'alice', password: 'nope' })), 400, 'invalid_grant');

    const ok = await token(form({ grant_type: 'password', username: 'alice', password: 'secret' }));
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('cache-control'), 'no-store');
    const t = await ok.json();
    assert.equal(t.token_type, 'Bearer');
    assert.equal(t.expires_in, 86400);
    assert.equal(t.refresh_token_expires_in, 1209600);
    const me = await fetch(`${BASE}/api/v1/users/me`, { headers: { authorization: `Bearer ${t.access_token}` } });
    assert.equal((await me.json()).username, 'alice');

    const refreshed = await token(form({ grant_type: 'refresh_token', refresh_token: t.refresh_token }));
    assert.equal(refreshed.status, 200);
    const t2 = await refreshed.json();
    assert.notEqual(t2.access_token, t.access_token);
    await problem(await fetch(`${BASE}/api/v1/users/me`, { headers: { authorization: `Bearer ${t.access_token}` } }), 401, 'invalid_token');
    assert.equal((await fetch(`${BASE}/api/v1/users/me`, { headers: { authorization: `Bearer ${t2.access_token}` } })).status, 200);
    await problem(await token(form({ grant_type: 'refresh_token', refresh_token: t.refresh_token })), 400, 'invalid_grant');
  });
});

describe('misc', () => {
  test('health and static files', async () => {
    assert.equal(await (await fetch(`${BASE}/health`)).text(), 'ok');
    assert.ok(STATIC, 'static server address printed on stderr');
    const wasm = await fetch(`${STATIC}/x.wasm`);
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    assert.equal(wasm.headers.get('cache-control'), 'no-store');
    const html = await fetch(`${STATIC}/`);
    assert.match(html.headers.get('content-type'), /^text\/html/);
    assert.equal((await fetch(`${STATIC}/../package.json`)).status, 404);
  });
});
