#!/usr/bin/env node
// MangaDex-shaped fake server for chunkup's browser tests (the chapter upload API).
//
//   node tests/servers/mangadex.mjs
//
// Env: MANGADEX_PORT (default 18084, 0 = random), FAKE_SERVER_PARENT_PID (exit when that process
// is gone).
//
// Wire behaviour follows /work/shared/protocols/cloudreve-and-mangadex.md §2: one open upload
// session per user, at most 10 files per upload request, JPEG/PNG/GIF by magic bytes, 20 MB per
// file, 150 MB and 500 files per session, partial success inside HTTP 200, the error and entity
// envelopes, per-user rate limits answered 429 with X-RateLimit-Retry-After (a Unix timestamp),
// commit into a chapter whose pages follow pageOrder (files missing from it are dropped).
// MangaDex itself sends no CORS headers for other sites: this fake answers like the CORS proxy a
// browser app needs (any origin, every header readable). Control API: see the end of this file.
import http from 'node:http';
import express from 'express';
import {
  controlRouter, corsMiddleware, exitCleanlyOnSignals, faultMiddleware, listen, SessionRegistry, sendJson, sendText, sessionMiddleware
} from './common.mjs';
import { apiRoutes } from './mangadex/api.mjs';
import {
  chapters, chapterView, classify, DEFAULT_RATE_LIMITS, ensureState, mdError, newFile, newUpload, PERSONAL_CLIENT, uploads, uploadView
} from './mangadex/state.mjs';

const PORT = Number(process.env.MANGADEX_PORT ?? 18084);
const CORS = {
  credentials: false,
  exposeHeaders: ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Retry-After', 'Retry-After', 'X-Request-ID']
};

const registry = new SessionRegistry({ accessTtlSec: 900 }); // MangaDex access tokens last 15 minutes
ensureState(registry.defaultSession);

function resolveSession(req) {
  const bearer = /^Bearer\s+(\S+)/.exec(req.headers.authorization || '');
  return (bearer && registry.sessionOfToken(bearer[1])) || null;
}

// ---- control API --------------------------------------------------------------------------

const OPTION_KEYS = ['approvalRequired', 'requireTerms', 'rateLimits', 'tokenTtlSec', 'refreshTtlSec', 'listingDelayMs'];
const bad = message => Object.assign(new Error(message), { status: 400 });

function createSession(body) {
  const options = {};
  for (const k of OPTION_KEYS) if (body[k] !== undefined) options[k] = body[k];
  for (const [bucket, v] of Object.entries(options.rateLimits ?? {})) {
    if (!(bucket in DEFAULT_RATE_LIMITS)) throw bad(`rateLimits: unknown bucket ${bucket} (${Object.keys(DEFAULT_RATE_LIMITS).join(', ')})`);
    if (!Array.isArray(v) || v.length !== 2 || !v.every(n => Number.isInteger(n) && n >= 1)) throw bad(`rateLimits.${bucket} must be [limit, windowSec]`);
  }
  const session = ensureState(registry.create({ options }));
  const pair = registry.issueToken(session, session.user);
  return {
    session,
    response: {
      id: session.id,
      accessToken: pair.accessToken,
      refreshToken: pair.refreshToken,
      mangaId: session.mangaId,
      otherMangaId: session.otherMangaId,
      groupId: session.groupId,
      userId: session.user.id,
      username: session.user.username,
      password: session.user.password,
      clientId: PERSONAL_CLIENT.clientId,
      clientSecret: PERSONAL_CLIENT.clientSecret,
      options
    }
  };
}

function newToken(session) {
  const pair = registry.issueToken(session, session.user);
  return { accessToken: pair.accessToken, refreshToken: pair.refreshToken };
}

const control = controlRouter(registry, { createSession, newToken });
const withSession = handler => (req, res) => {
  const s = registry.get(req.params.id);
  return s ? handler(ensureState(s), req, res) : sendJson(res, 404, { error: `unknown session ${req.params.id}` });
};
control.get('/session/:id/uploads', withSession((s, req, res) =>
  sendJson(res, 200, [...uploads.values()].filter(u => u.session === s).map(uploadView))));
control.get('/session/:id/chapters', withSession((s, req, res) =>
  sendJson(res, 200, [...chapters.values()].filter(c => c.sessionId === s.id).map(chapterView))));
// Opens an upload session for the user, as if another tab had begun one: {mangaId?, groupIds?,
// files?: [{originalFileName, size, sha256?}]} → the session as /uploads lists it.
control.post('/session/:id/upload-session', withSession((s, req, res) => {
  const b = req.body || {};
  const open = uploads.get(s.user.openUploadId ?? '');
  if (open?.state === 'open') return sendJson(res, 409, { error: `upload session ${open.id} is already open` });
  const up = newUpload(s, { mangaId: b.mangaId ?? s.mangaId, groupIds: b.groupIds ?? [s.groupId] });
  for (const f of b.files ?? []) {
    newFile(up, { originalFileName: f.originalFileName, size: f.size, sha256: f.sha256 ?? null, mimeType: f.mimeType ?? 'image/png' });
  }
  sendJson(res, 200, uploadView(up));
}));
// Per-file failures inside a 200 answer: [{nth?: n-th upload request from now (1), file?: 1-based
// position in it (1), count?: requests (1)} | {name: substring of the file name, times?: (1)},
// with status? (500), detail?].
control.post('/session/:id/file-faults', withSession((s, req, res) => {
  const rules = Array.isArray(req.body) ? req.body : [req.body];
  for (const r of rules) {
    if (!r || typeof r !== 'object') return sendJson(res, 400, { error: 'rule must be an object' });
    for (const k of ['nth', 'file', 'count', 'times']) {
      if (r[k] !== undefined && !(Number.isInteger(r[k]) && r[k] >= 1)) return sendJson(res, 400, { error: `${k} must be an integer >= 1` });
    }
    if (r.name !== undefined && typeof r.name !== 'string') return sendJson(res, 400, { error: 'name must be a string' });
  }
  for (const r of rules) s.fileFaults.push({ nth: 1, file: 1, count: 1, times: 1, ...r, seen: 0, fired: 0 });
  sendJson(res, 200, { total: s.fileFaults.length });
}));
control.get('/session/:id/file-faults', withSession((s, req, res) => sendJson(res, 200, s.fileFaults)));

// ---- app ----------------------------------------------------------------------------------

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.use(sessionMiddleware({
  registry,
  classify,
  resolveSession,
  onSession: ensureState,
  skip: path => path === '/health' || path.startsWith('/__control')
}));
app.use(faultMiddleware(registry, { cors: CORS }));
app.use(corsMiddleware(CORS));
app.get('/health', (req, res) => sendText(res, 200, 'ok'));
app.use('/__control', control);
app.use(apiRoutes({ registry }));
app.use((req, res) => mdError(res, 404, `No route for ${req.method} ${req.path}`));
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => mdError(res, err.status || 500, String(err?.message ?? err)));

const server = http.createServer(app);
server.requestTimeout = 0;
const port = await listen(server, PORT, '127.0.0.1');
exitCleanlyOnSignals([server]);
console.log(`mangadex fake listening on http://127.0.0.1:${port}`);

// Control API (CORS-enabled, JSON):
//   POST /__control/session {approvalRequired?: bool, requireTerms?: bool, tokenTtlSec?, refreshTtlSec?,
//        listingDelayMs?: a committed chapter appears in GET /chapter only this long after the commit,
//        rateLimits?: {'get-session'|'begin'|'commit'|'abandon'|'files'|'approval': [limit, windowSec]}}
//        → {id, accessToken, refreshToken, mangaId, otherMangaId, groupId, userId, username, password, clientId, clientSecret}
//   GET  /__control/session/:id/uploads   → [{id, state: open|committed|deleted, mangaId, groupIds, chapterId, files: [{id, originalFileName, size, sha256, source}]}]
//   GET  /__control/session/:id/chapters  → [{id, mangaId, groupIds, volume, chapter, title, translatedLanguage, version, termsAccepted,
//                                            pages: [{id, originalFileName, size, sha256}] in pageOrder}]
//   POST /__control/session/:id/upload-session {mangaId?, groupIds?, files?}   (seed an open session)
//   POST /__control/session/:id/file-faults [rule…]   GET …/file-faults
//   POST /__control/session/:id/faults [rule…] (common.mjs format; routes: session, begin, begin-edit, upload, delete-file,
//        delete-batch, commit, abandon, check-approval, token)   GET/DELETE …/faults
//   POST …/expire-token   POST …/new-token → {accessToken, refreshToken}
//   GET  …/log[?preflight=1] (upload entries carry files: [{field, filename, size, sha256}]; JSON requests carry body)
//   GET  /health
