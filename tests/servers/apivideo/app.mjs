// The api.video fake as a factory, so that the CLI (tests/servers/apivideo.mjs), the self-test and the
// Playwright check can each start it (over HTTP and/or HTTPS) on the ports they want.
//
// Wire behaviour follows /work/shared/protocols/peertube-and-apivideo.md §2 and api.video's error
// reference pages. What it does, in short:
//   POST /upload?token=…            delegated upload (multipart `file` + optional `videoId`), with
//                                   Content-Range `part k/N|*` or `bytes a-b/N`, or none (one request)
//   POST /videos/{id}/source        the same with Bearer or Basic(apiKey:) auth
//   POST /videos, GET /videos/{id}, GET /videos/{id}/status
//   POST|GET /upload-tokens, GET|DELETE /upload-tokens/{token}
//   POST /auth/api-key, POST /auth/refresh
// Control API under /__control (see the end of tests/servers/apivideo.mjs).
import { createHash, randomBytes } from 'node:crypto';
import express from 'express';
import multiparty from 'multiparty';
import {
  applyFault, controlRouter, corsMiddleware, readRawBody, SessionRegistry, sendJson, sendText, sessionMiddleware, setCorsHeaders
} from '../common.mjs';
import { ApiError, apiError, sendError } from './errors.mjs';

export const MIB = 1024 * 1024;
export const DEFAULTS = {
  minChunk: 5 * MIB, // every part/range but the last
  maxChunk: 128 * MIB, // part mode (the SDKs' limit and what the brief asks for)
  maxRange: 200 * MIB, // bytes mode and single-request uploads (API error reference)
  maxParts: 10_000,
  maxTotalBytes: 52_428_800_000,
  rateLimits: { upload: 100, write: 200, read: 500 }, // production, per minute
  exposeRateLimitHeaders: true
};
export const RATE_HEADERS = ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Retry-After'];
const OPTION_KEYS = ['minChunk', 'maxChunk', 'maxRange', 'maxParts', 'rateLimits', 'exposeRateLimitHeaders', 'tokenTtlSec', 'refreshTtlSec'];

const alnum = n => {
  const abc = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const b = randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += abc[b[i] % abc.length];
  return s;
};
const atom = ms => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');

export function createApiVideoApp({ keepAlive = false } = {}) {
  const registry = new SessionRegistry({ accessTtlSec: 3600, refreshTtlSec: 30 * 86400 });
  const uploadTokens = new Map(); // token → {token, ttl, createdAt, expiresAt, session}
  const apiKeys = new Map(); // apiKey → session
  const videosById = new Map(); // videoId → video

  const ensureState = session => {
    session.videos ??= new Map();
    session.rate ??= {};
    session.options = { ...DEFAULTS, ...session.options, rateLimits: { ...DEFAULTS.rateLimits, ...(session.options?.rateLimits || {}) } };
    if (!session.apiKey) {
      session.apiKey = alnum(43);
      apiKeys.set(session.apiKey, session);
    }
    return session;
  };
  ensureState(registry.defaultSession);

  // ---- tokens ---------------------------------------------------------------------------

  let tokenSeq = 0;
  function createUploadToken(session, ttl = 0) {
    const now = Date.now();
    const t = { seq: ++tokenSeq, token: `to${alnum(22)}`, ttl, createdAt: now, expiresAt: ttl > 0 ? now + ttl * 1000 : null, session };
    uploadTokens.set(t.token, t);
    return t;
  }
  const tokenJson = t => ({ token: t.token, ttl: t.ttl, createdAt: atom(t.createdAt), ...(t.expiresAt ? { expiresAt: atom(t.expiresAt) } : {}) });
  const tokenActive = t => !t.deleted && (t.expiresAt === null || Date.now() < t.expiresAt);

  /** Access-token or API-key auth for the management API → session, or throws a 401. */
  function authenticate(req) {
    const h = req.headers.authorization;
    if (!h) throw apiError('authentication-missing-authorization-header');
    let m = /^Bearer\s+(\S+)$/i.exec(h);
    if (m) {
      const { pair, error } = registry.checkAccessToken(m[1]);
      if (error) throw apiError('authentication-invalid-access-token');
      return ensureState(pair.session);
    }
    m = /^Basic\s+(\S+)$/i.exec(h);
    if (m) {
      const key = Buffer.from(m[1], 'base64').toString('utf8').replace(/:$/, '');
      const s = apiKeys.get(key);
      if (!s) throw apiError('authentication-invalid-api-key');
      return ensureState(s);
    }
    throw apiError('authentication-invalid-authorization-header-value');
  }

  // ---- videos ---------------------------------------------------------------------------

  function createVideo(session, title, via) {
    const now = Date.now();
    const v = {
      videoId: `vi${alnum(22)}`,
      title: title || 'file',
      session,
      via,
      createdAt: now,
      updatedAt: now,
      mode: null, // null | 'single' | 'part' | 'bytes'
      totalParts: null, // number once a numeric total_parts was given
      parts: new Map(), // part number → {size, buf, filename}
      totalBytes: null,
      ranges: [], // {from, to, buf}
      complete: false,
      size: 0,
      sha256: null,
      filenames: new Set(),
      requests: 0
    };
    session.videos.set(v.videoId, v);
    videosById.set(v.videoId, v);
    return v;
  }

  function videoJson(v, origin) {
    const base = `${origin}/vod/${v.videoId}`;
    return {
      videoId: v.videoId,
      title: v.title,
      description: '',
      public: true,
      panoramic: false,
      mp4Support: true,
      playerId: null,
      tags: [],
      metadata: [],
      language: null,
      languageOrigin: null,
      publishedAt: atom(v.createdAt),
      createdAt: atom(v.createdAt),
      updatedAt: atom(v.updatedAt),
      discarded: false,
      discardedAt: null,
      deletesAt: null,
      source: { type: 'upload', uri: `/videos/${v.videoId}/source` },
      assets: {
        iframe: `<iframe src="${base}/player" width="100%" height="100%" frameborder="0" scrolling="no" allowfullscreen=""></iframe>`,
        player: `${base}/player`,
        hls: `${base}/hls/manifest.m3u8`,
        thumbnail: `${base}/thumbnail.jpg`,
        mp4: `${base}/mp4/source.mp4`
      }
    };
  }

  function statusJson(v) {
    const receivedBytes = v.mode === 'bytes'
      ? [...v.ranges].sort((a, b) => a.from - b.from).map(r => ({ from: r.from, to: r.to, total: v.totalBytes }))
      : [];
    return {
      ingest: {
        status: v.complete ? 'uploaded' : (v.mode ? 'uploading' : 'missing'),
        filesize: v.complete ? v.size : null,
        receivedBytes,
        receivedParts: v.mode === 'part' ? { parts: [...v.parts.keys()].sort((a, b) => a - b), total: v.totalParts ?? '*' } : null
      },
      encoding: { playable: v.complete, qualities: [], metadata: null }
    };
  }

  function finish(v, buffers) {
    const hash = createHash('sha256');
    let size = 0;
    for (const b of buffers) {
      hash.update(b);
      size += b.length;
    }
    v.complete = true;
    v.size = size;
    v.sha256 = hash.digest('hex');
    v.completedAt = Date.now();
    // Free the bytes, keep the layout.
    for (const p of v.parts.values()) delete p.buf;
    for (const r of v.ranges) delete r.buf;
  }

  /** Parses `part k/N|*` and `bytes a-b/N|*`; throws the malformed error otherwise. */
  function parseContentRange(value) {
    const v = String(value).trim();
    let m = /^part (\d+)\/(\d+|\*)$/.exec(v);
    if (m) return { kind: 'part', part: Number(m[1]), total: m[2] === '*' ? null : Number(m[2]) };
    m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v);
    if (m) return { kind: 'bytes', from: Number(m[1]), to: Number(m[2]), total: m[3] === '*' ? null : Number(m[3]) };
    throw apiError('video-content-range-malformed', { name: 'Content-Range' });
  }

  /** Multipart body with file bytes kept: {fields, files: [{fieldname, filename, buf}]}. */
  function readForm(req) {
    return new Promise((resolve, reject) => {
      const fields = {};
      const files = [];
      const pending = [];
      const form = new multiparty.Form({ autoFiles: false, maxFieldsSize: 1024 * 1024 });
      form.on('part', part => {
        // With a 'part' listener, multiparty hands fields over as parts without a filename.
        if (part.filename === undefined) {
          let text = '';
          part.setEncoding('utf8');
          part.on('data', d => { if (text.length < 4096) text += d; });
          part.on('end', () => { fields[part.name] = text; });
          return;
        }
        pending.push(new Promise(done => {
          const chunks = [];
          part.on('data', d => chunks.push(d));
          part.on('error', () => done());
          part.on('end', () => {
            files.push({ fieldname: part.name, filename: part.filename, buf: Buffer.concat(chunks) });
            done();
          });
        }));
      });
      form.on('error', err => reject(Object.assign(err, { aborted: true })));
      form.on('close', () => Promise.all(pending).then(() => resolve({ fields, files })));
      form.parse(req);
    });
  }

  /**
   * One upload request into `video` (or a new video when null). Validates everything before any
   * state changes, so a refused request leaves no trace (a new container is only made for a valid one).
   */
  function acceptUpload(session, video, range, form, via) {
    const o = session.options;
    if (!String(form.contentType || '').startsWith('multipart/form-data')) throw apiError('invalid-payload', { detail: 'multipart/form-data expected' });
    const fileParts = form.files;
    if (fileParts.length > 1) throw apiError('uploaded-file-multiple-files');
    if (fileParts.length === 0 || fileParts[0].fieldname !== 'file') throw apiError('uploaded-file-no-file', { name: 'file' });
    const { buf, filename } = fileParts[0];
    const size = buf.length;
    if (size === 0) throw apiError('uploaded-file-empty', { name: 'file' });
    if (video?.complete) throw apiError('video-source-already-uploaded');
    const v = video;

    if (!range) {
      if (v?.mode) throw apiError('video-content-range-already-initiated');
      if (size > o.maxRange) throw apiError('uploaded-file-too-large', { name: 'file', detail: `The maximum size of a single upload is ${o.maxRange} bytes.` });
      const target = v ?? createVideo(session, filename, via);
      target.mode = 'single';
      target.filenames.add(filename);
      finish(target, [buf]);
      return target;
    }

    if (range.kind === 'part') {
      const { part, total } = range;
      if (v?.mode === 'bytes') throw apiError('video-content-range-started-with-bytes');
      if (v?.mode === 'single') throw apiError('video-source-already-uploaded');
      if (part === 0) throw apiError('video-content-range-by-part-part-zero');
      if (total === 0) throw apiError('video-content-range-by-part-total-parts-zero');
      if (part > o.maxParts) throw apiError('video-content-range-by-part-part-too-high-allowed', { detail: `The maximum number of parts allowed for a video is ${o.maxParts}.` });
      if (total !== null && total > o.maxParts) throw apiError('video-content-range-by-part-total-parts-too-high');
      if (total !== null && part > total) throw apiError('video-content-range-by-part-part-too-high-total', { detail: `The "total_parts" value is ${total}.` });
      if (v?.totalParts != null && total !== null && total !== v.totalParts) {
        throw apiError('video-content-range-by-part-different-total-parts', { detail: `The "total_parts" you already set for this video is ${v.totalParts}.` });
      }
      if (v?.parts.has(part)) throw apiError('video-content-range-by-part-part-already-sent', { detail: `The part number ${part} has already been sent.` });
      const maxSent = v ? Math.max(0, ...v.parts.keys()) : 0;
      if (total !== null && total < maxSent) throw apiError('video-content-range-by-part-total-parts-too-low', { detail: `The part ${maxSent} was already sent.` });
      const last = total !== null && part === total;
      if (!last && size < o.minChunk) {
        throw apiError('video-content-range-by-part-uploaded-file-too-small', { name: 'file', detail: `It must be greater than or equal to ${o.minChunk} bytes, except if it is the last part.` });
      }
      if (size > o.maxChunk) throw apiError('uploaded-file-too-large', { name: 'file', detail: `A part must be at most ${o.maxChunk} bytes.` });
      const target = v ?? createVideo(session, filename, via);
      target.mode = 'part';
      if (total !== null) target.totalParts = total;
      target.parts.set(part, { size, buf, filename, at: Date.now() });
      target.filenames.add(filename);
      target.updatedAt = Date.now();
      if (target.totalParts !== null && target.parts.size === target.totalParts) {
        const order = [...target.parts.keys()].sort((a, b) => a - b);
        finish(target, order.map(k => target.parts.get(k).buf));
      }
      return target;
    }

    // bytes a-b/N
    const { from, to, total } = range;
    if (v?.mode === 'part') throw apiError('video-content-range-started-with-part');
    if (v?.mode === 'single') throw apiError('video-source-already-uploaded');
    if (total === 0) throw apiError('video-content-range-by-bytes-total-bytes-zero');
    if (total !== null && total > o.maxTotalBytes) throw apiError('video-content-range-by-bytes-total-bytes-too-high');
    if (from > to) throw apiError('video-content-range-by-bytes-from-byte-too-high');
    if (to - from + 1 !== size) {
      throw apiError('video-content-range-by-bytes-range-mismatch', { detail: `The size of the file you sent is ${size} bytes but the range length you set is ${to - from + 1}.` });
    }
    if (v?.totalBytes != null && total !== null && total !== v.totalBytes) {
      throw apiError('video-content-range-by-bytes-different-total-bytes', { detail: `The "total_bytes" you already set for this video is ${v.totalBytes}.` });
    }
    const known = total ?? v?.totalBytes ?? null;
    if (known !== null && to > known - 1) throw apiError('video-content-range-by-bytes-to-byte-too-high-total', { detail: `The total is ${known}.` });
    const upper = v ? Math.max(-1, ...v.ranges.map(r => r.to)) : -1;
    if (total !== null && total - 1 < upper) throw apiError('video-content-range-by-bytes-total-bytes-too-low', { detail: `A range up to ${upper} was already sent.` });
    const hit = v?.ranges.find(r => from <= r.to && r.from <= to);
    if (hit) throw apiError('video-content-range-by-bytes-range-overlap', { detail: `The range ${from}-${to} overlaps ${hit.from}-${hit.to}.` });
    const last = known !== null && to === known - 1;
    if (!last && size < o.minChunk) throw apiError('video-content-range-by-bytes-range-too-small', { detail: `It must be greater than or equal to ${o.minChunk} bytes, except if it is the last chunk.` });
    if (size > o.maxRange) throw apiError('video-content-range-by-bytes-range-too-large');
    const target = v ?? createVideo(session, filename, via);
    target.mode = 'bytes';
    if (total !== null) target.totalBytes = total;
    target.ranges.push({ from, to, buf, at: Date.now() });
    target.filenames.add(filename);
    target.updatedAt = Date.now();
    if (target.totalBytes !== null) {
      const sorted = [...target.ranges].sort((a, b) => a.from - b.from);
      let next = 0;
      for (const r of sorted) if (r.from === next) next = r.to + 1;
      if (next === target.totalBytes) finish(target, sorted.map(r => r.buf));
    }
    return target;
  }

  const originOf = req => `${req.socket.encrypted ? 'https' : 'http'}://${req.headers.host}`;

  async function uploadRoute(req, res, { session, video, via }) {
    let range = null;
    if (req.headers['content-range'] !== undefined) range = parseContentRange(req.headers['content-range']);
    let form;
    try {
      form = await readForm(req);
    } catch (err) {
      if (!req.complete || req.socket.destroyed) return; // connection gone: nothing stored
      throw apiError('invalid-payload', { detail: `Malformed multipart body: ${err.message}` });
    }
    if (!req.complete) return; // the client went away mid-body: a real server stores nothing
    form.contentType = req.headers['content-type'];
    let target = video;
    if (via === 'token' && form.fields.videoId) {
      target = videosById.get(form.fields.videoId);
      if (!target || target.session !== session) throw apiError('resource-not-found', { name: 'videoId', detail: `Video ${form.fields.videoId} not found.` });
    }
    const v = acceptUpload(session, target, range, form, via);
    v.requests++;
    req.ctx.entry.videoId = v.videoId;
    sendJson(res, 201, videoJson(v, originOf(req)));
  }

  // ---- rate limits (per session, per class, fixed one-minute windows) --------------------

  const rateClass = (method, route) => {
    if (!route || route.startsWith('auth') || route === 'vod' || method === 'OPTIONS') return null;
    if (route === 'upload' || route === 'source') return 'upload';
    return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
  };

  function rateLimit(req, res, next) {
    const ctx = req.ctx;
    if (!ctx) return next();
    const cls = rateClass(req.method, ctx.route);
    if (!cls) return next();
    const limit = ctx.session.options.rateLimits[cls];
    const now = Date.now();
    let w = ctx.session.rate[cls];
    if (!w || now >= w.start + 60_000) w = ctx.session.rate[cls] = { start: now, count: 0 };
    w.count++;
    const retryAfter = Math.max(1, Math.ceil((w.start + 60_000 - now) / 1000));
    res.setHeader('X-RateLimit-Limit', String(limit));
    res.setHeader('X-RateLimit-Remaining', String(Math.max(0, limit - w.count)));
    res.setHeader('X-RateLimit-Retry-After', String(retryAfter));
    if (w.count > limit) {
      ctx.entry.fault = 'rate-limit';
      return sendError(res, apiError('too-many-requests'));
    }
    next();
  }

  /** common.mjs fault rules, dressed as api.video answers (error JSON; 429 with rate-limit headers). */
  async function faults(req, res, next) {
    const ctx = req.ctx;
    if (!ctx) return next();
    const rule = registry.pickFault(ctx.session, { method: req.method, route: ctx.route, path: ctx.path });
    if (!rule) return next();
    if (rule.status !== undefined && rule.body === undefined) {
      const r = { ...rule, headers: { ...(rule.headers || {}) } };
      if (rule.status === 429) {
        const after = String(rule.retryAfter ?? 1);
        r.headers['X-RateLimit-Retry-After'] = after;
        r.headers['X-RateLimit-Remaining'] = '0';
        if (rule.standardRetryAfter) r.headers['Retry-After'] = after;
        r.body = apiError('too-many-requests').body();
      } else if (rule.status >= 400) {
        r.body = { type: 'https://docs.api.video/reference/general-errors', title: rule.title ?? `Fault ${rule.status}`, name: '', status: rule.status };
      }
      if (await applyFault(r, req, res, ctx.entry)) return;
      return next();
    }
    if (await applyFault(rule, req, res, ctx.entry)) return;
    next();
  }

  // ---- routes -----------------------------------------------------------------------------

  const wrap = fn => (req, res) => Promise.resolve(fn(req, res)).catch(err => {
    if (err instanceof ApiError) return sendError(res, err);
    sendError(res, err);
  });

  async function jsonBody(req) {
    const raw = await readRawBody(req, 1024 * 1024);
    if (!raw.length) return {};
    try {
      const v = JSON.parse(raw.toString('utf8'));
      return v && typeof v === 'object' ? v : {};
    } catch {
      throw apiError('invalid-payload', { detail: 'The body is not valid JSON.' });
    }
  }

  const api = express.Router();

  api.post('/upload', wrap(async (req, res) => {
    const token = new URL(req.url, 'http://x').searchParams.get('token');
    if (!token) throw apiError('authentication-missing-upload-token', { name: 'token' });
    const t = uploadTokens.get(token);
    if (!t || !tokenActive(t)) throw apiError('authentication-invalid-upload-token', { name: 'token' });
    await uploadRoute(req, res, { session: ensureState(t.session), video: null, via: "token" });
  }));

  api.post('/videos/:videoId/source', wrap(async (req, res) => {
    const session = authenticate(req);
    const v = videosById.get(req.params.videoId);
    if (!v || v.session !== session) throw apiError('resource-not-found', { name: 'videoId' });
    await uploadRoute(req, res, { session, video: v, via: 'auth' });
  }));

  api.post('/videos', wrap(async (req, res) => {
    const session = authenticate(req);
    const body = await jsonBody(req);
    if (typeof body.title !== 'string' || !body.title) throw apiError('invalid-attribute', { name: 'title', detail: 'This attribute is required.' });
    sendJson(res, 201, videoJson(createVideo(session, body.title, 'container'), originOf(req)));
  }));

  api.get('/videos/:videoId', wrap((req, res) => {
    const session = authenticate(req);
    const v = videosById.get(req.params.videoId);
    if (!v || v.session !== session) throw apiError('resource-not-found', { name: 'videoId' });
    sendJson(res, 200, videoJson(v, originOf(req)));
  }));

  api.get('/videos/:videoId/status', wrap((req, res) => {
    const session = authenticate(req);
    const v = videosById.get(req.params.videoId);
    if (!v || v.session !== session) throw apiError('resource-not-found', { name: 'videoId' });
    sendJson(res, 200, statusJson(v));
  }));

  api.post('/upload-tokens', wrap(async (req, res) => {
    const session = authenticate(req);
    const body = await jsonBody(req);
    const ttl = body.ttl ?? 0;
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 2147483647) {
      throw apiError('invalid-attribute', { name: 'ttl', detail: 'This value should be between 0 and 2147483647.' });
    }
    sendJson(res, 200, tokenJson(createUploadToken(session, ttl)));
  }));

  api.get('/upload-tokens', wrap((req, res) => {
    const session = authenticate(req);
    const q = new URL(req.url, 'http://x').searchParams;
    const sortBy = q.get('sortBy') ?? 'createdAt';
    const sortOrder = q.get('sortOrder') ?? 'asc';
    if (!['createdAt', 'ttl'].includes(sortBy)) throw apiError('invalid-query-parameter', { name: 'sortBy', detail: 'This field must contain one of the following values: createdAt, ttl.' });
    if (!['asc', 'desc'].includes(sortOrder)) throw apiError('invalid-query-parameter', { name: 'sortOrder', detail: 'This field must contain one of the following values: asc, desc.' });
    const int = (name, def, min, max) => {
      const raw = q.get(name);
      if (raw === null) return def;
      const n = Number(raw);
      if (!/^\d+$/.test(raw) || n < min || n > max) throw apiError('invalid-query-parameter', { name, detail: `This value should be between ${min} and ${max}.` });
      return n;
    };
    const currentPage = int('currentPage', 1, 1, Number.MAX_SAFE_INTEGER);
    const pageSize = int('pageSize', 25, 1, 100);
    const all = [...uploadTokens.values()].filter(t => t.session === session && tokenActive(t));
    const key = t => (sortBy === 'ttl' ? t.ttl : t.createdAt);
    all.sort((a, b) => (key(a) - key(b) || a.seq - b.seq) * (sortOrder === 'desc' ? -1 : 1));
    const itemsTotal = all.length;
    const pagesTotal = Math.max(1, Math.ceil(itemsTotal / pageSize));
    const data = all.slice((currentPage - 1) * pageSize, currentPage * pageSize).map(tokenJson);
    const uri = p => `/upload-tokens?sortBy=${sortBy}&sortOrder=${sortOrder}&currentPage=${p}&pageSize=${pageSize}`;
    const links = [{ rel: 'self', uri: uri(currentPage) }, { rel: 'first', uri: uri(1) }];
    if (currentPage > 1) links.push({ rel: 'previous', uri: uri(currentPage - 1) });
    if (currentPage < pagesTotal) links.push({ rel: 'next', uri: uri(currentPage + 1) });
    links.push({ rel: 'last', uri: uri(pagesTotal) });
    sendJson(res, 200, { data, pagination: { currentPage, currentPageItems: data.length, pageSize, pagesTotal, itemsTotal, links } });
  }));

  const tokenOf = (req, session) => {
    const t = uploadTokens.get(req.params.token);
    if (!t || t.session !== session || !tokenActive(t)) throw apiError('resource-not-found', { name: 'uploadToken' });
    return t;
  };
  api.get('/upload-tokens/:token', wrap((req, res) => sendJson(res, 200, tokenJson(tokenOf(req, authenticate(req))))));
  api.delete('/upload-tokens/:token', wrap((req, res) => {
    const t = tokenOf(req, authenticate(req));
    t.deleted = true;
    uploadTokens.delete(t.token);
    sendJson(res, 204);
  }));

  const tokenResponse = pair => ({ token_type: 'Bearer', expires_in: pair.expiresIn, access_token: pair.accessToken, refresh_token: pair.refreshToken });

  api.post('/auth/api-key', wrap(async (req, res) => {
    const body = await jsonBody(req);
    if (typeof body.apiKey !== 'string' || !body.apiKey) throw apiError('invalid-attribute', { name: 'apiKey', detail: 'This attribute is required.' });
    const s = apiKeys.get(body.apiKey);
    if (!s) throw apiError('authentication-invalid-api-key');
    sendJson(res, 200, tokenResponse(registry.issueToken(ensureState(s), 'apikey')), { 'Cache-Control': 'no-store' });
  }));

  api.post('/auth/refresh', wrap(async (req, res) => {
    const body = await jsonBody(req);
    if (typeof body.refreshToken !== 'string' || !body.refreshToken) throw apiError('invalid-attribute', { name: 'refreshToken', detail: 'This attribute is required.' });
    const { pair, error } = registry.checkRefreshToken(body.refreshToken);
    if (error) throw apiError('authentication-invalid-refresh-token');
    registry.revoke(pair); // refresh tokens are single-use
    sendJson(res, 200, tokenResponse(registry.issueToken(pair.session, pair.user)), { 'Cache-Control': 'no-store' });
  }));

  // Player assets, only so that an `onPlayable` poll of the official client ends.
  api.get('/vod/:videoId/hls/manifest.m3u8', (req, res) => {
    const v = videosById.get(req.params.videoId);
    if (!v?.complete) return sendText(res, v ? 202 : 404, '');
    sendText(res, 200, '#EXTM3U\n#EXT-X-ENDLIST\n', { 'Content-Type': 'application/vnd.apple.mpegurl' });
  });

  // ---- control API --------------------------------------------------------------------------

  function createSession(body, req) {
    const options = {};
    for (const k of OPTION_KEYS) if (body[k] !== undefined) options[k] = body[k];
    for (const k of ['minChunk', 'maxChunk', 'maxRange', 'maxParts']) {
      if (options[k] !== undefined && !(Number.isInteger(options[k]) && options[k] >= 1)) {
        throw Object.assign(new Error(`${k} must be an integer >= 1`), { status: 400 });
      }
    }
    const session = ensureState(registry.create({ options }));
    const pair = registry.issueToken(session, 'apikey');
    const upload = createUploadToken(session, body.uploadTokenTtl ?? 0);
    return {
      session,
      response: {
        id: session.id,
        apiKey: session.apiKey,
        accessToken: pair.accessToken,
        refreshToken: pair.refreshToken,
        uploadToken: upload.token,
        baseUrl: `${originOf(req)}/s/${session.id}`,
        options: session.options
      }
    };
  }

  const newToken = session => {
    const pair = registry.issueToken(session, 'apikey');
    return { accessToken: pair.accessToken, refreshToken: pair.refreshToken };
  };

  const videoView = v => ({
    videoId: v.videoId,
    title: v.title,
    via: v.via,
    mode: v.mode,
    complete: v.complete,
    size: v.complete ? v.size : null,
    sha256: v.sha256,
    totalParts: v.totalParts,
    parts: [...v.parts.entries()].sort((a, b) => a[0] - b[0]).map(([k, p]) => ({ part: k, size: p.size })),
    totalBytes: v.totalBytes,
    ranges: [...v.ranges].sort((a, b) => a.from - b.from).map(r => ({ from: r.from, to: r.to })),
    filenames: [...v.filenames],
    requests: v.requests,
    createdAt: atom(v.createdAt),
    completedAt: v.completedAt ? atom(v.completedAt) : null
  });

  const control = controlRouter(registry, { createSession, newToken });
  const withSession = handler => (req, res) => {
    const s = registry.get(req.params.id);
    return s ? handler(ensureState(s), req, res) : sendJson(res, 404, { error: `unknown session ${req.params.id}` });
  };
  control.get('/session/:id/videos', withSession((s, req, res) => sendJson(res, 200, [...s.videos.values()].map(videoView))));
  control.get('/session/:id/videos/:videoId', withSession((s, req, res) => {
    const v = s.videos.get(req.params.videoId);
    return v ? sendJson(res, 200, videoView(v)) : sendJson(res, 404, { error: 'unknown video' });
  }));
  control.post('/session/:id/videos', withSession((s, req, res) =>
    sendJson(res, 200, videoView(createVideo(s, req.body?.title ?? 'container', 'container')))));
  control.post('/session/:id/upload-tokens', withSession((s, req, res) => sendJson(res, 200, tokenJson(createUploadToken(s, req.body?.ttl ?? 0)))));
  control.get('/session/:id/upload-tokens', withSession((s, req, res) =>
    sendJson(res, 200, [...uploadTokens.values()].filter(t => t.session === s).map(t => ({ ...tokenJson(t), active: tokenActive(t) })))));
  control.post('/session/:id/expire-upload-token', withSession((s, req, res) => {
    const t = uploadTokens.get(req.body?.token);
    if (!t || t.session !== s) return sendJson(res, 404, { error: 'unknown token' });
    t.expiresAt = Date.now() - 1;
    sendJson(res, 200, tokenJson(t));
  }));
  control.post('/session/:id/options', withSession((s, req, res) => {
    for (const k of OPTION_KEYS) if (req.body?.[k] !== undefined) s.options[k] = req.body[k];
    ensureState(s);
    sendJson(res, 200, s.options);
  }));

  // ---- app ----------------------------------------------------------------------------------

  function classify(method, path) {
    if (method === 'OPTIONS') return 'preflight';
    if (path === '/upload') return 'upload';
    if (/^\/videos\/[^/]+\/source$/.test(path)) return 'source';
    if (/^\/videos\/[^/]+\/status$/.test(path)) return 'status';
    if (path === '/videos' || /^\/videos\/[^/]+$/.test(path)) return 'videos';
    if (path === '/upload-tokens' || path.startsWith('/upload-tokens/')) return 'tokens';
    if (path === '/auth/api-key') return 'auth-api-key';
    if (path === '/auth/refresh') return 'auth-refresh';
    if (path.startsWith('/vod/')) return 'vod';
    return 'other';
  }

  function resolveSession(req, path) {
    const h = req.headers.authorization || '';
    let m = /^Bearer\s+(\S+)/i.exec(h);
    if (m) return registry.sessionOfToken(m[1]) || null;
    m = /^Basic\s+(\S+)/i.exec(h);
    if (m) return apiKeys.get(Buffer.from(m[1], 'base64').toString('utf8').replace(/:$/, '')) || null;
    const token = new URL(req.url, 'http://x').searchParams.get('token');
    if (token) return uploadTokens.get(token)?.session || null;
    m = /^\/(?:videos|vod)\/([^/]+)/.exec(path);
    if (m) return videosById.get(m[1])?.session || null;
    return null;
  }

  /** Non-preflight CORS: any origin, rate-limit headers exposed unless the session turns that off. */
  function cors(req, res, next) {
    if (req.method === 'OPTIONS') return next();
    const expose = req.ctx?.session.options.exposeRateLimitHeaders === false ? [] : RATE_HEADERS;
    setCorsHeaders(res, { exposeHeaders: expose, credentials: false });
    next();
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(sessionMiddleware({
    registry,
    classify,
    resolveSession,
    onSession: ensureState,
    keepAlive,
    skip: path => path === '/health' || path.startsWith('/__control')
  }));
  app.use(cors);
  // Preflight: what the official browser uploader needs (Content-Range, AV-Origin-*, Authorization).
  app.use(corsMiddleware({ credentials: false, methods: 'GET,HEAD,POST,PUT,PATCH,DELETE', maxAge: 600 }));
  app.get('/health', (req, res) => sendText(res, 200, 'ok'));
  app.use('/__control', control);
  app.use(rateLimit);
  app.use(faults);
  app.use(api);
  app.use((req, res) => sendError(res, apiError('unrecognized-request-url', { detail: `${req.method} ${req.path}` })));
  // eslint-disable-next-line no-unused-vars
  app.use((err, req, res, next) => sendError(res, err instanceof ApiError ? err : apiError('internal-server-error', { detail: err.message })));

  return { app, registry, uploadTokens, videosById, apiKeys, createUploadToken, ensureState };
}
