// Self-test of the api.video fake: node --test tests/servers/apivideo.selftest.mjs
// Starts the app in-process on a random port (HTTP) and drives it with Node's fetch.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { after, before, describe, test } from 'node:test';
import { createApiVideoApp } from './apivideo/app.mjs';
import { selfSignedCert } from './apivideo/tls.mjs';

let server;
let BASE;
const sha = buf => createHash('sha256').update(buf).digest('hex');

before(async () => {
  const { app } = createApiVideoApp();
  server = http.createServer(app);
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  BASE = `http://127.0.0.1:${server.address().port}`;
});
after(() => {
  server.close();
  server.closeAllConnections();
});

async function control(method, path, body) {
  const r = await fetch(`${BASE}/__control${path}`, {
    method,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined
  });
  assert.equal(r.status, 200, `control ${method} ${path}`);
  return r.json();
}

/** A session with a tiny minimum part so these checks stay fast. */
const session = (opts = {}) => control('POST', '/session', { minChunk: 10, ...opts });

async function part(token, buf, range, { videoId, filename = 'clip.mp4', field = 'file' } = {}) {
  const fd = new FormData();
  if (videoId) fd.append('videoId', videoId);
  fd.append(field, new Blob([buf]), filename);
  const r = await fetch(`${BASE}/upload?token=${token}`, { method: 'POST', body: fd, headers: range ? { 'Content-Range': range } : {} });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null };
}

describe('delegated upload', () => {
  test('parts reassemble into identical bytes; first answer carries videoId, last the Video', async () => {
    const s = await session();
    const data = randomBytes(35);
    const a = await part(s.uploadToken, data.subarray(0, 12), 'part 1/3');
    assert.equal(a.status, 201);
    assert.match(a.body.videoId, /^vi\w{22}$/);
    const b = await part(s.uploadToken, data.subarray(12, 24), 'part 2/3', { videoId: a.body.videoId });
    assert.equal(b.status, 201);
    const c = await part(s.uploadToken, data.subarray(24), 'part 3/3', { videoId: a.body.videoId });
    assert.equal(c.status, 201);
    assert.equal(c.body.title, 'clip.mp4');
    assert.ok(c.body.assets.hls && c.body.source.uri);
    const v = await control('GET', `/session/${s.id}/videos/${a.body.videoId}`);
    assert.equal(v.complete, true);
    assert.equal(v.size, 35);
    assert.equal(v.sha256, sha(data));
    // Resending a part: 400 "collides"; after completion: "already been uploaded".
    const again = await part(s.uploadToken, data.subarray(24), 'part 3/3', { videoId: a.body.videoId });
    assert.equal(again.status, 400);
    assert.match(again.body.title, /already been uploaded/);
  });

  test('strict rules: collision, too small, total changed, mixed forms, malformed', async () => {
    const s = await session({ minChunk: 10 });
    const first = await part(s.uploadToken, randomBytes(10), 'part 1/3');
    const videoId = first.body.videoId;
    let r = await part(s.uploadToken, randomBytes(10), 'part 1/3', { videoId });
    assert.equal(r.status, 400);
    assert.match(r.body.title, /collides/);
    assert.equal(r.body.type, 'https://docs.api.video/reference/video-content-range-by-part-part-already-sent');
    r = await part(s.uploadToken, randomBytes(9), 'part 2/3', { videoId });
    assert.equal(r.status, 400);
    assert.match(r.body.title, /too small/);
    r = await part(s.uploadToken, randomBytes(10), 'part 2/4', { videoId });
    assert.equal(r.status, 400);
    assert.match(r.body.title, /total_parts.*must be the same/);
    r = await part(s.uploadToken, randomBytes(10), 'bytes 10-19/30', { videoId });
    assert.equal(r.status, 400);
    assert.match(r.body.title, /started with "part"/);
    r = await part(s.uploadToken, randomBytes(10), 'chunks 1/2');
    assert.equal(r.status, 400);
    assert.equal(r.body.type, 'https://docs.api.video/reference/video-content-range-malformed');
    r = await part(s.uploadToken, randomBytes(0), 'part 1/1');
    assert.match(r.body.title, /empty/);
    r = await part(s.uploadToken, randomBytes(10), 'part 1/1', { field: 'video' });
    assert.match(r.body.title, /no uploaded file/);
    const vids = await control('GET', `/session/${s.id}/videos`);
    assert.equal(vids.length, 1, 'refused requests make no container');
    assert.deepEqual(vids[0].parts, [{ part: 1, size: 10 }]);
  });

  test('the real 5 MiB minimum is the default', async () => {
    const s = await control('POST', '/session', {});
    assert.equal(s.options.minChunk, 5 * 1024 * 1024);
    const r = await part(s.uploadToken, randomBytes(1024), 'part 1/2');
    assert.equal(r.status, 400);
    assert.match(r.body.title, /too small/);
    const one = await part(s.uploadToken, randomBytes(1024), 'part 1/1');
    assert.equal(one.status, 201, 'a last part may be small');
  });

  test('bytes ranges: overlap, total changed, range mismatch, completion', async () => {
    const s = await session();
    const data = randomBytes(30);
    const a = await part(s.uploadToken, data.subarray(0, 10), 'bytes 0-9/30');
    const videoId = a.body.videoId;
    let r = await part(s.uploadToken, data.subarray(5, 15), 'bytes 5-14/30', { videoId });
    assert.match(r.body.title, /overlaps/);
    r = await part(s.uploadToken, data.subarray(10, 20), 'bytes 10-19/40', { videoId });
    assert.match(r.body.title, /total_bytes.*must be the same/);
    r = await part(s.uploadToken, data.subarray(10, 19), 'bytes 10-19/30', { videoId });
    assert.match(r.body.title, /different than the range length/);
    await part(s.uploadToken, data.subarray(20), 'bytes 20-29/30', { videoId });
    r = await part(s.uploadToken, data.subarray(10, 20), 'bytes 10-19/30', { videoId });
    assert.equal(r.status, 201);
    const v = await control('GET', `/session/${s.id}/videos/${videoId}`);
    assert.equal(v.sha256, sha(data));
  });

  test('progressive part k/* then k/k', async () => {
    const s = await session();
    const data = randomBytes(27);
    const a = await part(s.uploadToken, data.subarray(0, 10), 'part 1/*');
    const b = await part(s.uploadToken, data.subarray(10, 20), 'part 2/*', { videoId: a.body.videoId });
    assert.equal(b.status, 201);
    let v = await control('GET', `/session/${s.id}/videos/${a.body.videoId}`);
    assert.equal(v.complete, false);
    const c = await part(s.uploadToken, data.subarray(20), 'part 3/3', { videoId: a.body.videoId });
    assert.equal(c.status, 201);
    v = await control('GET', `/session/${s.id}/videos/${a.body.videoId}`);
    assert.equal(v.sha256, sha(data));
  });

  test('unknown, missing and expired tokens: 401 with api.video error JSON', async () => {
    const s = await session();
    let r = await part('toNOPE', randomBytes(10), 'part 1/1');
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, {
      type: 'https://docs.api.video/reference/authentication-invalid-upload-token',
      title: 'The upload token is invalid or expired.',
      name: 'token',
      status: 401
    });
    const missing = await fetch(`${BASE}/upload`, { method: 'POST', body: new FormData() });
    assert.equal(missing.status, 401);
    assert.match((await missing.json()).type, /authentication-missing-upload-token/);
    await control('POST', `/session/${s.id}/expire-upload-token`, { token: s.uploadToken });
    r = await part(s.uploadToken, randomBytes(10), 'part 1/1');
    assert.equal(r.status, 401);
  });
});

describe('headers, faults, rate limits', () => {
  test('CORS: preflight allows the uploader headers; rate-limit headers exposed', async () => {
    const pre = await fetch(`${BASE}/upload?token=x`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://page.test', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-range,av-origin-client' }
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.match(pre.headers.get('access-control-allow-headers'), /content-range/);
    const s = await session();
    const r = await part(s.uploadToken, randomBytes(10), 'part 1/1');
    assert.match(r.headers.get('access-control-expose-headers'), /X-RateLimit-Retry-After/);
    assert.equal(r.headers.get('x-ratelimit-limit'), '100');
    assert.equal(r.headers.get('x-ratelimit-remaining'), '99');
  });

  test('429 fault carries X-RateLimit-Retry-After; a real limit refuses past the window', async () => {
    const s = await session({ rateLimits: { upload: 1 } });
    await control('POST', `/session/${s.id}/faults`, [{ route: 'upload', nth: 1, status: 429, retryAfter: 7 }]);
    let r = await part(s.uploadToken, randomBytes(10), 'part 1/1');
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('x-ratelimit-retry-after'), '7');
    assert.equal(r.body.type, 'https://docs.api.video/reference/too-many-requests');
    r = await part(s.uploadToken, randomBytes(10), 'part 1/1');
    assert.equal(r.status, 429, 'limit of 1 per minute: the fault already counted');
    assert.ok(Number(r.headers.get('x-ratelimit-retry-after')) > 0);
  });

  test('drop after response: the part is stored though the client sees a network error', async () => {
    const s = await session();
    await control('POST', `/session/${s.id}/faults`, [{ route: 'upload', drop: true, afterResponse: true }]);
    await assert.rejects(part(s.uploadToken, randomBytes(10), 'part 1/2'));
    const [v] = await control('GET', `/session/${s.id}/videos`);
    assert.deepEqual(v.parts, [{ part: 1, size: 10 }]);
    const log = await control('GET', `/session/${s.id}/log`);
    assert.equal(log[0].fault, 'drop-after-response');
    assert.equal(log[0].contentRange, 'part 1/2');
  });
});

describe('token API and auth', () => {
  test('api-key → access token → create/list/get/delete; refresh is single-use', async () => {
    const s = await session();
    const post = (path, body, headers = {}) => fetch(`${BASE}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const auth = await (await post('/auth/api-key', { apiKey: s.apiKey })).json();
    assert.equal(auth.token_type, 'Bearer');
    assert.equal(auth.expires_in, 3600);
    assert.equal((await post('/auth/api-key', { apiKey: 'nope' })).status, 401);
    const refreshed = await post('/auth/refresh', { refreshToken: auth.refresh_token });
    assert.equal(refreshed.status, 200);
    assert.equal((await post('/auth/refresh', { refreshToken: auth.refresh_token })).status, 401, 'used refresh token');
    const bearer = { Authorization: `Bearer ${(await refreshed.json()).access_token}`, 'Content-Type': 'application/json' };
    const t = await (await post('/upload-tokens', { ttl: 60 }, bearer)).json();
    assert.match(t.token, /^to/);
    assert.equal(t.ttl, 60);
    assert.ok(t.expiresAt);
    assert.equal((await post('/upload-tokens', { ttl: -1 }, bearer)).status, 400);
    const basic = { Authorization: `Basic ${Buffer.from(`${s.apiKey}:`).toString('base64')}` };
    const list = await (await fetch(`${BASE}/upload-tokens?sortBy=ttl&sortOrder=desc&pageSize=1`, { headers: basic })).json();
    assert.equal(list.data[0].token, t.token);
    assert.equal(list.pagination.itemsTotal, 2);
    assert.equal(list.pagination.pagesTotal, 2);
    assert.ok(list.pagination.links.some(l => l.rel === 'next'));
    assert.equal((await fetch(`${BASE}/upload-tokens?pageSize=101`, { headers: basic })).status, 400);
    assert.equal((await fetch(`${BASE}/upload-tokens/${t.token}`, { headers: basic })).status, 200);
    assert.equal((await fetch(`${BASE}/upload-tokens/${t.token}`, { method: 'DELETE', headers: basic })).status, 204);
    assert.equal((await fetch(`${BASE}/upload-tokens/${t.token}`, { headers: basic })).status, 404);
    assert.equal((await fetch(`${BASE}/upload-tokens`)).status, 401);
  });
});

test('HTTPS with a self-signed certificate', async () => {
  const { app } = createApiVideoApp();
  const tls = https.createServer(selfSignedCert(), app);
  await new Promise(r => tls.listen(0, '127.0.0.1', r));
  try {
    const body = await new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: tls.address().port, path: '/health', rejectUnauthorized: false }, res => {
        let d = '';
        res.on('data', c => { d += c; });
        res.on('end', () => resolve(d));
      }).on('error', reject);
    });
    assert.equal(body, 'ok');
  } finally {
    tls.close();
    tls.closeAllConnections();
  }
});
