#!/usr/bin/env node
// The demo pages' own server: serves www/ (GET/HEAD) and stands in for a site's back end behind
// the HTML form example: POST /submit records the submitted fields and answers with a page that
// lists them (GET /submissions returns what was recorded, as JSON).
//
//   STATIC_PORT=18080 node scripts/demo-server.mjs          (scripts/demo.sh starts it)
//
// Also imported by tests/e2e/form.test.mjs: startDemoServer({ port: 0 }) → { origin, submissions, close }.
import { createReadStream, existsSync, statSync } from 'node:fs';
import http from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const WWW = resolve(fileURLToPath(new URL('../www', import.meta.url)));
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json', '.ts': 'text/plain' };
const escape = s => String(s).replace(/[&<>"]/g, c => `&#${c.charCodeAt(0)};`);

async function readBody(req, limit = 1024 * 1024) {
  const chunks = [];
  let n = 0;
  for await (const c of req) {
    n += c.length;
    if (n > limit) throw new Error('body too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startDemoServer({ port = 0, host = '127.0.0.1', root = WWW } = {}) {
  const submissions = [];
  const handler = async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'POST' && url.pathname === '/submit') {
      const type = String(req.headers['content-type'] || '');
      if (!type.startsWith('application/x-www-form-urlencoded')) {
        res.writeHead(415, { 'Content-Type': 'text/plain' }).end('this endpoint takes application/x-www-form-urlencoded (no file bytes)');
        return;
      }
      const fields = [...new URLSearchParams(await readBody(req))];
      submissions.push({ at: new Date().toISOString(), contentType: type, fields });
      const rows = fields.map(([k, v]) => `<tr><th>${escape(k)}</th><td><code>${escape(v)}</code></td></tr>`).join('');
      res.writeHead(200, { 'Content-Type': TYPES['.html'], 'Cache-Control': 'no-store' });
      res.end(`<!doctype html><meta charset="utf-8"><title>Form received</title><link rel="stylesheet" href="/demo.css">
<h1>The form arrived</h1><p>What the site's back end received (no file bytes: they went to the provider):</p>
<table id="received">${rows}</table><p><a href="/form.html">Back to the form</a> · <a href="/">Demo</a></p>`);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/submissions') {
      res.writeHead(200, { 'Content-Type': TYPES['.json'], 'Cache-Control': 'no-store' }).end(JSON.stringify(submissions));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return res.writeHead(405).end();
    let path;
    try { path = normalize(join(root, decodeURIComponent(url.pathname))); } catch { return res.writeHead(400).end(); }
    if (path !== root && !path.startsWith(root + sep)) return res.writeHead(403).end();
    const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'index.html') : path;
    if (!existsSync(file)) return res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  };
  const servers = [];
  const listen = (h, p) => new Promise((ok, fail) => {
    const s = http.createServer((req, res) => handler(req, res).catch(() => res.destroy()));
    s.once('error', fail);
    s.listen(p, h, () => { servers.push(s); ok(s.address().port); });
  });
  const actual = await listen(host, port);
  if (host === '127.0.0.1') await listen('::1', actual).catch(() => {}); // "localhost" may be ::1
  return {
    origin: `http://127.0.0.1:${actual}`,
    port: actual,
    submissions,
    close: () => Promise.all(servers.map(s => new Promise(r => { s.closeAllConnections(); s.close(r); })))
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { port } = await startDemoServer({ port: Number(process.env.STATIC_PORT ?? 18080) });
  console.log(`demo pages on http://localhost:${port}/ (form example: http://localhost:${port}/form.html)`);
  const stop = () => process.exit(0);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
