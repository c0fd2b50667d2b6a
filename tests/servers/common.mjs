// Shared building blocks for the fake upload servers used by browser tests
// (PeerTube today; api.video, Cloudreve, MangaDex later).
//
// What lives here is protocol-agnostic:
//   - control *sessions* (isolation between tests): registry, tokens, request log
//   - fault rules (match by method + route name, nth occurrence) and their actions
//   - connection handling (Connection: close + read the whole body before answering,
//     dropping a socket for real)
//   - small response helpers (JSON, RFC 7807 problem), sha256, multipart/JSON/form parsing
//   - a static file server, a per-process data directory, clean shutdown
//   - an Express router for the generic part of the /__control API
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import multiparty from 'multiparty';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export const randomHex = (bytes = 16) => randomBytes(bytes).toString('hex');

// ---------------------------------------------------------------------------
// Hashing

export function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

export function sha256File(path) {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256');
    let size = 0;
    createReadStream(path)
      .on('data', d => { hash.update(d); size += d.length; })
      .on('error', reject)
      .on('end', () => resolvePromise({ sha256: hash.digest('hex'), size }));
  });
}

export function fileSize(path) {
  try { return statSync(path).size; } catch { return 0; }
}

// ---------------------------------------------------------------------------
// Responses

export function sendJson(res, status, body, headers = {}) {
  if (res.headersSent || res.destroyed) return;
  const data = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(data ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
    'Content-Length': Buffer.byteLength(data),
    ...headers
  });
  res.end(data);
}

export function sendText(res, status, text = http.STATUS_CODES[status] || '', headers = {}) {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * RFC 7807 body, built like the `http-problem-details` package (used by PeerTube): without a `type`,
 * type is about:blank and title the reason phrase; with a `type` URL, title is only what you pass.
 * Key order: type, title, detail, instance, status, then `extensions` (undefined values dropped).
 */
export function sendProblem(res, { status = 400, detail, title, type, instance, extensions = {}, headers = {} }) {
  const body = {
    type: type ?? 'about:blank',
    title: title ?? (type ? undefined : http.STATUS_CODES[status]),
    detail,
    instance,
    status,
    ...extensions
  };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  if (res.headersSent || res.destroyed) return;
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/problem+json; charset=utf-8',
    'Content-Length': Buffer.byteLength(data),
    ...headers
  });
  res.end(data);
}

// ---------------------------------------------------------------------------
// Connection handling

/**
 * Answer only once the request body has been read to its end, and close the connection afterwards.
 *
 * Why: (1) with `Connection: close`, every request is on a fresh socket, so a dropped socket always
 * surfaces as a network error in the browser (Chromium silently re-sends a request that fails on a
 * *reused* keep-alive socket); (2) closing a socket with unread request bytes makes the kernel send a
 * RST, and the browser may then lose the response (e.g. an early 401/403/404 on a chunk PUT). Reading
 * (and discarding) the rest of the body first avoids that.
 */
export function answerAfterBody(req, res, { keepAlive = false, timeoutMs = 60_000 } = {}) {
  if (!keepAlive) res.setHeader('Connection', 'close');
  const end = res.end;
  res.end = function (...args) {
    res.end = end;
    if (req.complete || req.readableEnded || req.destroyed) return end.apply(res, args);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      end.apply(res, args);
    };
    const timer = setTimeout(finish, timeoutMs);
    req.once('end', finish);
    req.once('close', finish);
    req.once('error', finish);
    req.resume();
    return res;
  };
}

/** Read `afterBytes` bytes of the body (default 0), then destroy the socket. No response is written. */
export function dropConnection(req, { afterBytes = 0 } = {}) {
  const kill = () => req.socket.destroy();
  if (!afterBytes || afterBytes <= 0) return void setImmediate(kill);
  let seen = 0;
  req.on('data', chunk => {
    seen += chunk.length;
    if (seen >= afterBytes) kill();
  });
  req.once('end', kill);
}

/**
 * Let the real handler see only the first `afterBytes` bytes of the body, then destroy the socket
 * (the handler sees an aborted request, like a real network failure mid-chunk).
 */
export function truncateBody(req, afterBytes) {
  let seen = 0;
  let cut = false;
  const emit = req.emit;
  req.emit = function (event, ...args) {
    // After the cut, hide every further byte (a flowing stream may emit several buffered chunks in one
    // tick) and the end of the body, until the socket is gone.
    if (cut && (event === 'data' || event === 'end')) return true;
    if (event === 'data') {
      const chunk = args[0];
      if (seen + chunk.length >= afterBytes) {
        const head = chunk.subarray(0, afterBytes - seen);
        seen = afterBytes;
        cut = true;
        if (head.length) emit.call(this, 'data', head);
        setImmediate(() => req.socket.destroy());
        return true;
      }
      seen += chunk.length;
    }
    return emit.call(this, event, ...args);
  };
}

/**
 * Flip one byte of the request body in transit (XOR 0xff) before the real handler sees it: byte
 * `atByte` of the body, default the middle (by Content-Length). Models corruption on the way that
 * TCP's checksum let through; a handler that verifies a digest of the body must notice.
 */
export function corruptBody(req, atByte, onFlip = () => {}) {
  const length = Number(req.headers['content-length'] || 0);
  const at = Number.isInteger(atByte) && atByte >= 0 ? atByte : Math.floor(length / 2);
  let seen = 0;
  const emit = req.emit;
  req.emit = function (event, ...args) {
    if (event === 'data' && seen <= at && at < seen + args[0].length) {
      const chunk = Buffer.from(args[0]);
      chunk[at - seen] ^= 0xff;
      onFlip(at);
      seen += chunk.length;
      return emit.call(this, event, chunk, ...args.slice(1));
    }
    if (event === 'data') seen += args[0].length;
    return emit.call(this, event, ...args);
  };
}

/** Let the request be handled completely, but destroy the socket instead of sending the response. */
export function swallowResponse(req, res, onSwallow = () => {}) {
  const kill = () => {
    onSwallow(res.statusCode);
    req.socket.destroy();
    return res;
  };
  res.write = () => { kill(); return false; };
  res.end = kill;
}

// ---------------------------------------------------------------------------
// Body parsing (multipart, JSON, urlencoded)

/** Turn `tags[0]`, `scheduleUpdate[updateAt]` style keys into nested values (like multer/qs do). */
export function setBracketKey(target, key, value) {
  const parts = key.replace(/\]/g, '').split('[');
  let obj = target;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i];
    if (obj[p] === undefined || typeof obj[p] !== 'object') obj[p] = /^\d*$/.test(parts[i + 1]) ? [] : {};
    obj = obj[p];
  }
  const last = parts[parts.length - 1];
  if (Array.isArray(obj) && last === '') obj.push(value);
  else obj[last] = value;
}

/**
 * Parse a multipart body without keeping file bytes: each file is hashed and measured.
 * Returns { fields, files: [{ fieldname, filename, contentType, size, sha256 }] }.
 */
export function parseMultipart(req, { maxFieldsSize = 10 * 1024 * 1024 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const fields = {};
    const pending = [];
    const form = new multiparty.Form({ maxFieldsSize, autoFiles: false });
    form.on('field', (name, value) => setBracketKey(fields, name, value));
    form.on('part', part => {
      if (part.filename === undefined) return void part.resume();
      pending.push(new Promise(done => {
        const hash = createHash('sha256');
        let size = 0;
        part.on('data', d => { hash.update(d); size += d.length; });
        part.on('error', () => done(null));
        part.on('end', () => done({
          fieldname: part.name,
          filename: part.filename,
          contentType: part.headers['content-type'] || '',
          size,
          sha256: hash.digest('hex')
        }));
      }));
    });
    form.on('error', reject);
    form.on('close', () => Promise.all(pending).then(files => resolvePromise({ fields, files: files.filter(Boolean) })));
    form.parse(req);
  });
}

export function readRawBody(req, limit = 10 * 1024 * 1024) {
  return new Promise((resolvePromise, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', c => {
      size += c.length;
      if (size <= limit) chunks.push(c);
    });
    req.once('end', () => (size > limit ? reject(Object.assign(new Error('body too large'), { status: 413 })) : resolvePromise(Buffer.concat(chunks))));
    req.once('error', reject);
  });
}

export function contentTypeOf(req) {
  return String(req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
}

/**
 * Parse JSON / urlencoded / multipart bodies into { fields, files, kind }.
 * Throws { status: 400 } on malformed JSON.
 */
export async function parseAnyBody(req) {
  const type = contentTypeOf(req);
  if (type.startsWith('multipart/')) return { kind: 'multipart', ...(await parseMultipart(req)) };
  const raw = await readRawBody(req);
  if (!raw.length) return { kind: 'empty', fields: {}, files: [] };
  if (type === 'application/json' || type.endsWith('+json')) {
    try {
      const value = JSON.parse(raw.toString('utf8'));
      return { kind: 'json', fields: value && typeof value === 'object' ? value : {}, files: [] };
    } catch {
      throw Object.assign(new Error('Malformed JSON body'), { status: 400 });
    }
  }
  if (type === 'application/x-www-form-urlencoded') {
    const fields = {};
    for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) setBracketKey(fields, k, v);
    return { kind: 'form', fields, files: [] };
  }
  return { kind: 'raw', fields: {}, files: [], raw };
}

// ---------------------------------------------------------------------------
// CORS

/** The headers the `cors` package puts on a non-preflight response ({ origin: '*', credentials, exposedHeaders }). */
export function setCorsHeaders(res, { exposeHeaders = [], credentials = true } = {}) {
  res.setHeader('Access-Control-Allow-Origin', '*');
  if (credentials) res.setHeader('Access-Control-Allow-Credentials', 'true');
  if (exposeHeaders.length) res.setHeader('Access-Control-Expose-Headers', exposeHeaders.join(','));
}

/**
 * Behaves like the `cors` npm package configured with { origin: '*', credentials, exposedHeaders }
 * (which is what PeerTube mounts on /api/v1). Preflights are answered 204 here.
 */
export function corsMiddleware({ exposeHeaders = [], credentials = true, methods = 'GET,HEAD,PUT,PATCH,POST,DELETE', maxAge } = {}) {
  return (req, res, next) => {
    if (req.method !== 'OPTIONS') {
      setCorsHeaders(res, { exposeHeaders, credentials });
      return next();
    }
    setCorsHeaders(res, { credentials });
    res.setHeader('Access-Control-Allow-Methods', methods);
    const requested = req.headers['access-control-request-headers'];
    if (requested) {
      res.setHeader('Access-Control-Allow-Headers', requested);
      res.setHeader('Vary', 'Access-Control-Request-Headers');
    }
    if (maxAge !== undefined) res.setHeader('Access-Control-Max-Age', String(maxAge));
    res.writeHead(204, { 'Content-Length': '0' });
    res.end();
  };
}

// ---------------------------------------------------------------------------
// Sessions, tokens, faults, request log

const FAULT_KEYS = ['status', 'drop', 'delayMs', 'corrupt'];

export function validateFaultRule(rule) {
  if (!rule || typeof rule !== 'object') return 'rule must be an object';
  if (!FAULT_KEYS.some(k => rule[k] !== undefined)) return 'rule needs one of status, drop, delayMs, corrupt';
  if (rule.corrupt && (rule.status !== undefined || rule.drop)) return 'corrupt goes with neither status nor drop';
  if (rule.status !== undefined && rule.drop) return 'status and drop are exclusive';
  if (rule.nth !== undefined && !(Number.isInteger(rule.nth) && rule.nth >= 1)) return 'nth must be an integer >= 1';
  if (rule.count !== undefined && !(Number.isInteger(rule.count) && rule.count >= 1)) return 'count must be an integer >= 1';
  return null;
}

/** Does `rule` select this request? (`method`/`route`/`path` are all optional filters) */
export function ruleSelects(rule, { method, route, path }) {
  if (rule.method && rule.method.toUpperCase() !== method) return false;
  if (!rule.method && method === 'OPTIONS') return false;
  if (rule.route && rule.route !== 'any' && rule.route !== route) return false;
  if (rule.path && !path.includes(rule.path)) return false;
  return true;
}

export class SessionRegistry {
  constructor({ accessTtlSec = 86400, refreshTtlSec = 14 * 86400 } = {}) {
    this.sessions = new Map();
    this.accessTokens = new Map();
    this.refreshTokens = new Map();
    this.accessTtlSec = accessTtlSec;
    this.refreshTtlSec = refreshTtlSec;
    this.defaultSession = this.create({ id: 'default' });
  }

  create({ id = randomHex(6), user, options = {}, state = {} } = {}) {
    const session = { id, user, options, createdAt: new Date().toISOString(), faults: [], log: [], seq: 0, ...state };
    this.sessions.set(id, session);
    return session;
  }

  get(id) {
    return this.sessions.get(id);
  }

  /** Issue an OAuth-like access/refresh token pair for `user`, bound to `session`. */
  issueToken(session, user) {
    const accessTtl = session.options.tokenTtlSec ?? this.accessTtlSec;
    const refreshTtl = session.options.refreshTtlSec ?? this.refreshTtlSec;
    const pair = {
      accessToken: randomHex(20),
      refreshToken: randomHex(20),
      accessExpiresAt: Date.now() + accessTtl * 1000,
      refreshExpiresAt: Date.now() + refreshTtl * 1000,
      expiresIn: accessTtl,
      refreshExpiresIn: refreshTtl,
      session,
      user,
      revoked: false
    };
    this.accessTokens.set(pair.accessToken, pair);
    this.refreshTokens.set(pair.refreshToken, pair);
    return pair;
  }

  /** → { pair, error } where error is null | 'invalid' | 'expired'. `pair` is set even when expired/revoked. */
  checkAccessToken(token) {
    const pair = this.accessTokens.get(token);
    if (!pair || pair.revoked) return { pair, error: 'invalid' };
    if (Date.now() >= pair.accessExpiresAt) return { pair, error: 'expired' };
    return { pair, error: null };
  }

  checkRefreshToken(token) {
    const pair = this.refreshTokens.get(token);
    if (!pair || pair.revoked) return { pair, error: 'invalid' };
    if (Date.now() >= pair.refreshExpiresAt) return { pair, error: 'expired' };
    return { pair, error: null };
  }

  revoke(pair) {
    pair.revoked = true;
  }

  /** Make every access token of the session expired (refresh tokens keep working). */
  expireAccessTokens(session) {
    let n = 0;
    for (const pair of this.accessTokens.values()) {
      if (pair.session === session && !pair.revoked && pair.accessExpiresAt > Date.now()) {
        pair.accessExpiresAt = Date.now() - 1;
        n++;
      }
    }
    return n;
  }

  /** Session owning a bearer token, even an expired one (so its requests land in the right log). */
  sessionOfToken(token) {
    return this.accessTokens.get(token)?.session;
  }

  addFaults(session, rules) {
    for (const rule of rules) {
      session.faults.push({ nth: 1, count: 1, ...rule, seen: 0, fired: 0 });
    }
    return session.faults.length;
  }

  /**
   * Count this request against every rule that selects it (counting starts when the rule is added)
   * and return the first rule whose window [nth, nth+count-1] includes it, or null.
   */
  pickFault(session, info) {
    let chosen = null;
    for (const rule of session.faults) {
      if (!ruleSelects(rule, info)) continue;
      rule.seen++;
      if (!chosen && rule.seen >= rule.nth && rule.seen < rule.nth + rule.count) chosen = rule;
    }
    if (chosen) chosen.fired++;
    return chosen;
  }
}

function pickHeader(req, name) {
  const v = req.headers[name];
  return v === undefined ? null : String(v);
}

/** Append a log entry for `req`; its `status` is filled in when the response ends (0 = no response). */
export function logRequest(session, req, res, { path, route }) {
  const entry = {
    seq: ++session.seq,
    time: new Date().toISOString(),
    method: req.method,
    path,
    route,
    query: Object.fromEntries(new URL(req.url, 'http://x').searchParams),
    contentRange: pickHeader(req, 'content-range'),
    contentLength: req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']),
    contentType: pickHeader(req, 'content-type'),
    xUploadContentLength: pickHeader(req, 'x-upload-content-length'),
    xUploadContentType: pickHeader(req, 'x-upload-content-type'),
    digest: pickHeader(req, 'digest'),
    contentMd5: pickHeader(req, 'content-md5'),
    hasAuth: !!req.headers.authorization,
    status: null
  };
  session.log.push(entry);
  res.once('finish', () => { if (entry.status === null) entry.status = res.statusCode; });
  res.once('close', () => { if (entry.status === null) entry.status = 0; });
  return entry;
}

/**
 * Apply a fault rule. Returns true when the request is fully handled by the fault (status or drop),
 * false when the caller should continue with the normal handler (delay only, or keepPartial /
 * afterResponse drops, which need the real handler to run).
 */
export async function applyFault(rule, req, res, entry) {
  if (rule.delayMs) {
    entry.delayedMs = rule.delayMs;
    await new Promise(r => setTimeout(r, rule.delayMs));
  }
  if (rule.drop) {
    entry.fault = 'drop';
    entry.status = 0;
    if (rule.afterResponse) {
      entry.fault = 'drop-after-response';
      swallowResponse(req, res, status => { entry.swallowedStatus = status; });
      return false;
    }
    if (rule.keepPartial) {
      entry.fault = 'drop-partial';
      truncateBody(req, rule.afterBytes ?? 0);
      return false;
    }
    dropConnection(req, { afterBytes: rule.afterBytes });
    return true;
  }
  if (rule.status !== undefined) {
    entry.fault = `status:${rule.status}`;
    const headers = { ...(rule.headers || {}) };
    let body = rule.body ?? '';
    if (typeof body !== 'string') {
      body = JSON.stringify(body);
      if (!Object.keys(headers).some(h => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
    }
    res.writeHead(rule.status, { 'Content-Length': Buffer.byteLength(body), ...headers });
    res.end(body);
    return true;
  }
  if (rule.corrupt) {
    // The real handler runs on a body with one byte flipped.
    entry.fault = 'corrupt';
    corruptBody(req, rule.atByte, at => { entry.corruptedAt = at; });
    return false;
  }
  if (rule.delayMs) entry.fault = `delay:${rule.delayMs}`;
  return false;
}

/**
 * Counts requests being handled (per registry and per session) until their response is finished or
 * their connection closed: after a client says it is done, nothing of it should still be running.
 */
export function trackInFlight(registry, session, res) {
  registry.inFlight = (registry.inFlight ?? 0) + 1;
  registry.requestsSeen = (registry.requestsSeen ?? 0) + 1;
  session.inFlight = (session.inFlight ?? 0) + 1;
  session.maxInFlight = Math.max(session.maxInFlight ?? 0, session.inFlight);
  let done = false;
  const end = () => {
    if (done) return;
    done = true;
    registry.inFlight--;
    session.inFlight--;
  };
  res.once('close', end);
  res.once('finish', end);
}

/**
 * First middleware of a fake server:
 *  - `Cross-Origin-Resource-Policy: cross-origin` on every response, answerAfterBody()
 *  - `/s/<sessionId>/…` prefix: the request belongs to that session; the prefix is stripped for routing
 *    (req.originalUrl keeps it, so generated URLs such as uploadx's Location keep it too)
 *  - otherwise `resolveSession(req, path)` (e.g. by bearer token or upload id), else the default session
 *  - logs the request in its session and sets req.ctx = { session, route, path, entry }
 * Paths for which `skip(path)` is true (control API, health) are neither logged nor faulted.
 */
export function sessionMiddleware({ registry, classify, resolveSession = () => null, skip = () => false, keepAlive = false, onSession = s => s }) {
  return (req, res, next) => {
    res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
    answerAfterBody(req, res, { keepAlive });
    let session = null;
    const m = /^\/s\/([^/?]+)(.*)$/.exec(req.url);
    if (m) {
      session = registry.get(m[1]);
      if (!session) return sendJson(res, 404, { error: `unknown session ${m[1]}` });
      req.url = m[2].startsWith('/') ? m[2] : '/' + m[2];
    }
    const path = new URL(req.url, 'http://x').pathname;
    if (skip(path)) return next();
    session = onSession(session ?? resolveSession(req, path) ?? registry.defaultSession);
    const route = classify(req.method, path, req.headers);
    req.ctx = { session, route, path, entry: logRequest(session, req, res, { path, route }) };
    trackInFlight(registry, session, res);
    next();
  };
}

/** Applies the session's fault rules (needs req.ctx from sessionMiddleware). Status answers get CORS headers. */
export function faultMiddleware(registry, { cors = {} } = {}) {
  return async (req, res, next) => {
    const ctx = req.ctx;
    if (!ctx) return next();
    const rule = registry.pickFault(ctx.session, { method: req.method, route: ctx.route, path: ctx.path });
    if (!rule) return next();
    if (rule.status !== undefined) setCorsHeaders(res, cors);
    if (await applyFault(rule, req, res, ctx.entry)) return;
    next();
  };
}

/**
 * Generic /__control router. Server-specific hooks:
 *   createSession(body, req) → { session, response }   (or throws { status, message })
 *   newToken(session) → response body
 * Extra routes can be added to the returned router by the caller.
 */
export function controlRouter(registry, { createSession, newToken }) {
  const router = express.Router();
  router.use(express.json({ limit: '1mb' }));

  const withSession = handler => (req, res) => {
    const session = registry.get(req.params.id);
    if (!session) return sendJson(res, 404, { error: `unknown session ${req.params.id}` });
    return handler(session, req, res);
  };

  router.post('/session', async (req, res) => {
    try {
      const { response } = await createSession(req.body || {}, req);
      sendJson(res, 200, response);
    } catch (err) {
      sendJson(res, err.status || 400, { error: err.message });
    }
  });
  router.get('/session/:id', withSession((s, req, res) =>
    sendJson(res, 200, {
      id: s.id, options: s.options, createdAt: s.createdAt, faults: s.faults.length, requests: s.log.length,
      faultsFired: s.faults.reduce((n, f) => n + (f.fired ?? 0), 0), inFlight: s.inFlight ?? 0,
      maxInFlight: s.maxInFlight ?? 0
    })));
  // Requests being handled right now, in all sessions and per session (see trackInFlight).
  router.get('/inflight', (req, res) => {
    const sessions = {};
    for (const s of registry.sessions.values()) if (s.inFlight) sessions[s.id] = s.inFlight;
    sendJson(res, 200, { inFlight: registry.inFlight ?? 0, requests: registry.requestsSeen ?? 0, sessions });
  });
  router.post('/session/:id/faults', withSession((s, req, res) => {
    const rules = Array.isArray(req.body) ? req.body : [req.body];
    for (const rule of rules) {
      const err = validateFaultRule(rule);
      if (err) return sendJson(res, 400, { error: err, rule });
    }
    sendJson(res, 200, { total: registry.addFaults(s, rules) });
  }));
  router.get('/session/:id/faults', withSession((s, req, res) => sendJson(res, 200, s.faults)));
  router.delete('/session/:id/faults', withSession((s, req, res) => {
    s.faults.length = 0;
    sendJson(res, 200, { total: 0 });
  }));
  router.post('/session/:id/expire-token', withSession((s, req, res) =>
    sendJson(res, 200, { expired: registry.expireAccessTokens(s) })));
  router.post('/session/:id/new-token', withSession((s, req, res) => sendJson(res, 200, newToken(s))));
  router.get('/session/:id/log', withSession((s, req, res) => {
    const all = req.query.preflight === '1';
    sendJson(res, 200, all ? s.log : s.log.filter(e => e.method !== 'OPTIONS'));
  }));
  return router;
}

// ---------------------------------------------------------------------------
// Static file server (for the test page / demo)

export const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8'
};

/**
 * Serve `root` (index.html for directories) with Cache-Control: no-store. `crossOriginIsolated`
 * adds COOP/COEP so the page gets crossOriginIsolated === true.
 */
export function createStaticServer({ root, crossOriginIsolated = false }) {
  const rootAbs = resolve(root);
  return http.createServer((req, res) => {
    const headers = {
      'Cache-Control': 'no-store',
      'Cross-Origin-Resource-Policy': 'cross-origin',
      ...(crossOriginIsolated ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {})
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'Method Not Allowed', headers);
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      return sendText(res, 400, 'Bad Request', headers);
    }
    let file = normalize(join(rootAbs, pathname));
    if (file !== rootAbs && !file.startsWith(rootAbs + sep)) return sendText(res, 403, 'Forbidden', headers);
    let st;
    try {
      st = statSync(file);
      if (st.isDirectory()) {
        file = join(file, 'index.html');
        st = statSync(file);
      }
    } catch {
      return sendText(res, 404, 'Not Found', headers);
    }
    res.writeHead(200, {
      ...headers,
      'Content-Type': MIME_TYPES[extname(file).toLowerCase()] || 'application/octet-stream',
      'Content-Length': st.size
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  });
}

// ---------------------------------------------------------------------------
// Process lifecycle

/** Create tests/.data/<name>-<pid>/ (gitignored) and remove it when the process exits. */
export function makeDataDir(name) {
  const dir = join(REPO_ROOT, 'tests', '.data', `${name}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  process.once('exit', () => {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      process.stderr.write(`could not remove ${dir}: ${err.message}\n`);
    }
  });
  return dir;
}

export function listen(server, port, host) {
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolvePromise(server.address().port);
    });
  });
}

/**
 * On SIGTERM/SIGINT: close the servers, run cleanups (via the 'exit' handlers), exit 0.
 * With env FAKE_SERVER_PARENT_PID, also exit when that process is gone (no orphan server when a test
 * runner dies without killing its child).
 */
export function exitCleanlyOnSignals(servers) {
  const stop = () => {
    for (const s of servers) {
      s.close();
      s.closeAllConnections?.();
    }
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const parent = Number(process.env.FAKE_SERVER_PARENT_PID);
  if (parent) {
    setInterval(() => {
      try {
        process.kill(parent, 0);
      } catch {
        stop();
      }
    }, 1000).unref();
  }
}
