// Shared pieces of the page-level tests: the fake servers
// (reused when scripts/test.sh already started them, spawned otherwise), and a same-origin page
// server that can proxy an API prefix (the setup the README recommends for MangaDex/Cloudreve).
// The browsers are in engines.mjs (Chromium, Firefox, WebKit); `launch()` here is Chromium alone,
// for the fault soak.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { ERROR_CAPTURE } from './engines.mjs';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const WWW = join(ROOT, 'www');

export const sha256 = buf => createHash('sha256').update(buf).digest('hex');

/** Deterministic pseudo-random bytes. */
export function bytes(len, seed = 1) {
  const out = Buffer.alloc(len);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Chromium through playwright-core (the fault soak; the page tests use engines.mjs). */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1']
  });
}

async function healthy(url) {
  try {
    return (await fetch(`${url}/health`)).ok;
  } catch {
    return false;
  }
}

/** Makes sure the fake `name` answers at `url`; spawns it (and returns a stop function) if not. */
export async function ensureFake(name, url, env = {}) {
  if (await healthy(url)) return async () => {};
  const port = new URL(url).port;
  const child = spawn(process.execPath, [join(ROOT, 'tests/servers', `${name}.mjs`)], {
    env: { ...process.env, [`${name.toUpperCase()}_PORT`]: port, STATIC_PORT: 'off', ...env },
    stdio: ['ignore', 'ignore', 'inherit']
  });
  for (let i = 0; i < 100 && !(await healthy(url)); i++) await new Promise(r => setTimeout(r, 100));
  if (!(await healthy(url))) throw new Error(`${name} fake did not start at ${url}`);
  return async () => { child.kill(); await new Promise(r => child.once('exit', r)); };
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json' };

/**
 * Serves `www/` on 127.0.0.1 (random port). `proxies` maps a path prefix to an upstream origin:
 * `/peertube-api/x` → `<upstream>/x`, and a `Location` answer pointing at the upstream (or at a bare
 * path) is rewritten back under the prefix, like nginx's `proxy_redirect`. `throttleBps` limits request
 * bodies going through the proxy (a slow uplink).
 */
/** A stream that lets `bps` bytes per second through, in 16 KiB pieces (backpressure does the rest). */
export function throttle(bps) {
  let next = Date.now();
  return new Transform({
    transform(chunk, enc, done) {
      const pieces = [];
      for (let i = 0; i < chunk.length; i += 16384) pieces.push(chunk.subarray(i, i + 16384));
      const step = () => {
        const piece = pieces.shift();
        if (!piece) return done();
        this.push(piece);
        next = Math.max(next, Date.now()) + (piece.length * 1000) / bps;
        setTimeout(step, Math.max(0, next - Date.now()));
      };
      step();
    }
  });
}

/**
 * Puts the error capture first in a page (after its doctype): engines whose driver reports no page
 * errors (WebKit) then see errors thrown while the page loads too.
 */
function withErrorCapture(html) {
  const tag = `<script>${ERROR_CAPTURE}</script>`;
  const m = /^\s*<!doctype[^>]*>/i.exec(html);
  return m ? `${m[0]}${tag}${html.slice(m[0].length)}` : `${tag}${html}`;
}

export async function pageServer({ root = WWW, proxies = {}, throttleBps = 0 } = {}) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    for (const [prefix, upstream] of Object.entries(proxies)) {
      if (url.pathname === prefix || url.pathname.startsWith(`${prefix}/`)) return proxy(req, res, prefix, upstream);
    }
    const path = normalize(join(root, decodeURIComponent(url.pathname)));
    if (!path.startsWith(root)) return res.writeHead(403).end();
    const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'index.html') : path;
    if (!existsSync(file)) return res.writeHead(404).end('not found');
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
    if (extname(file) === '.html') return res.end(withErrorCapture(readFileSync(file, 'utf8')));
    createReadStream(file).pipe(res);
  });
  function proxy(req, res, prefix, upstream) {
    const up = new URL(upstream);
    const headers = { ...req.headers, host: up.host };
    delete headers.origin; // same-origin for the page; the upstream sees a server-to-server call
    const out = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url.slice(prefix.length) || '/', headers }, upRes => {
      const h = { ...upRes.headers };
      if (h.location) {
        const loc = new URL(h.location, upstream);
        if (loc.host === up.host) h.location = `${prefix}${loc.pathname}${loc.search}`;
      }
      res.writeHead(upRes.statusCode, h);
      upRes.pipe(res);
    });
    out.on('error', () => { res.destroy(); });
    req.on('aborted', () => out.destroy());
    (throttleBps ? req.pipe(throttle(throttleBps)) : req).pipe(out);
  }
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, close: () => new Promise(r => { server.closeAllConnections(); server.close(r); }) };
}

export async function control(base, method, path, body) {
  const r = await fetch(`${base}/__control${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  });
  if (!r.ok) throw new Error(`control ${method} ${path} → ${r.status} ${await r.text()}`);
  const text = await r.text();
  return text ? JSON.parse(text) : null;
}

/**
 * Uploads through a built consumer page (tests/consumer: `#file`, `#start`, `#out`) to the
 * PeerTube fake at `fake`, then checks what the page reports and what the fake holds: `entry`
 * named by the page, a video in the result, progress monotonic up to `size`, identical bytes on
 * the fake, no page errors. `browser`: an engine from engines.mjs.
 */
export async function uploadThroughConsumerPage({ browser, origin, page, entry, fake, size, mb }) {
  const s = await control(fake, 'POST', '/session', {});
  const tab = await browser.newPage();
  const q = new URLSearchParams({ endpoint: `${fake}/s/${s.id}`, token: s.token, channelId: String(s.channelId), chunkSize: String(mb) });
  await tab.goto(`${origin}/${page}?${q}`);
  await tab.waitForSelector('html[data-ready="1"]', { timeout: 20_000 });
  const data = bytes(size, entry.length);
  await tab.setFiles('#file', { name: 'clip.mp4', type: 'video/mp4', buffer: data });
  await tab.click('#start');
  await tab.waitForSelector('html[data-state="done"], html[data-state="error"]', { timeout: 60_000 });
  const out = JSON.parse(await tab.textContent('#out'));
  assert.equal(out.error, undefined, JSON.stringify(out.error));
  assert.equal(out.entry, entry);
  assert.ok(out.result.video.uuid, 'PeerTube result');
  assert.equal(out.monotonic, true, 'progress never goes back');
  assert.equal(out.last.loaded, data.length);
  assert.equal(out.last.total, data.length);
  const done = (await control(fake, 'GET', `/session/${s.id}/uploads`)).filter(u => u.state === 'complete');
  assert.equal(done.length, 1);
  assert.equal(done[0].received, data.length);
  assert.equal(done[0].sha256, sha256(data));
  assert.deepEqual(await tab.errors({ console: true }), []);
  await tab.close();
}
