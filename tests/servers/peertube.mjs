#!/usr/bin/env node
// PeerTube-shaped fake server for chunkup's browser tests.
//
//   node tests/servers/peertube.mjs
//
// Env: PEERTUBE_PORT (default 18081, 0 = random), STATIC_PORT (default 18080, "off" = no static
// server, 0 = random), STATIC_ROOT (default <repo>/www), STATIC_COI=1 (COOP/COEP on static files),
// PEERTUBE_KEEPALIVE=1 (do not force `Connection: close`), FAKE_SERVER_PARENT_PID (exit when that
// process is gone).
//
// Wire behaviour follows /work/shared/protocols/peertube-and-apivideo.md §1; the resumable routes are
// served by the real @uploadx/core. Test control API: see README-like notes at the end of this file.
import http from 'node:http';
import { join } from 'node:path';
import express from 'express';
import {
  controlRouter, corsMiddleware, createStaticServer, exitCleanlyOnSignals, faultMiddleware, listen, makeDataDir, REPO_ROOT,
  SessionRegistry, sendJson, sendText, sessionMiddleware
} from './common.mjs';
import { authRoutes } from './peertube/auth.mjs';
import { multipartRoutes } from './peertube/multipart.mjs';
import { resumableRoutes } from './peertube/resumable.mjs';
import { videoListRoutes } from './peertube/videos.mjs';
import { classify, fail, USERS, userByName, videos } from './peertube/state.mjs';

const PORT = Number(process.env.PEERTUBE_PORT ?? 18081);
const STATIC_PORT = process.env.STATIC_PORT ?? '18080';
const STATIC_ROOT = process.env.STATIC_ROOT ?? join(REPO_ROOT, 'www');
const KEEPALIVE = process.env.PEERTUBE_KEEPALIVE === '1';
const CORS = { exposeHeaders: ['Retry-After'] }; // PeerTube: cors({ origin: '*', exposedHeaders: 'Retry-After', credentials: true })
const MB = 1024 * 1024;

const dataDir = makeDataDir('peertube');
const registry = new SessionRegistry();
const uploadIndex = new Map(); // upload id → session (requests without a valid token still land in the right log)

const ensureState = session => {
  session.user ??= USERS[0];
  session.uploads ??= [];
  session.files ??= [];
  session.userImports ??= [];
  session.videoImports ??= [];
  session.usedBytes ??= 0;
  return session;
};

function resolveSession(req) {
  const bearer = /^Bearer\s(\S+)/.exec(req.headers.authorization || '');
  const byToken = bearer && registry.sessionOfToken(bearer[1]);
  if (byToken) return byToken;
  const uploadId = new URL(req.url, 'http://x').searchParams.get('upload_id');
  return (uploadId && uploadIndex.get(uploadId)) || null;
}

/** Session option `nginx: true`: body-size limits of PeerTube's nginx template (413 HTML page, no CORS headers). */
function nginxLimits(req, res, next) {
  const ctx = req.ctx;
  if (!ctx?.session.options.nginx) return next();
  const { path } = ctx;
  let limit = 1 * MB;
  let maxHeader = null;
  if (/^\/api\/v1\/videos\/(upload-resumable|[^/]+\/source\/replace-resumable)$/.test(path) ||
      /^\/api\/v1\/users\/[^/]+\/imports\/import-resumable$/.test(path)) limit = Infinity;
  else if (/^\/api\/v1\/videos\/(upload|[^/]+\/studio\/edit)$/.test(path)) [limit, maxHeader] = [12 * 1024 * MB, '8G'];
  else if (/^\/api\/v1\/(videos|video-playlists|video-channels|users\/me)/.test(path)) [limit, maxHeader] = [6 * MB, '4M'];
  if (maxHeader) res.setHeader('X-File-Maximum-Size', maxHeader);
  if (Number(req.headers['content-length'] || 0) <= limit) return next();
  ctx.entry.fault = 'nginx-413';
  const html = '<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n' +
    '<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';
  sendText(res, 413, html, { 'Content-Type': 'text/html' });
}

// ---- control API ------------------------------------------------------------

const LOCATION_FORMS = ['uploadx', 'absolute', 'protocol-relative', 'path'];
const OPTION_KEYS = ['quota', 'maxFileSize', 'processingMs', 'importCompleteMs', 'nginx', 'tokenTtlSec', 'refreshTtlSec', 'serverVersion', 'maxChunkSize'];

function createSession(body, req) {
  const user = userByName(body.user ?? 'alice');
  if (!user) throw Object.assign(new Error(`unknown user ${body.user} (alice or bob)`), { status: 400 });
  const locationForm = body.locationForm ??
    (body.absoluteLocation === true ? 'absolute' : body.absoluteLocation === false ? 'protocol-relative' : 'uploadx');
  if (!LOCATION_FORMS.includes(locationForm)) throw Object.assign(new Error(`locationForm must be one of ${LOCATION_FORMS}`), { status: 400 });
  const options = { locationForm };
  for (const k of OPTION_KEYS) if (body[k] !== undefined) options[k] = body[k];
  const session = ensureState(registry.create({ user, options }));
  const pair = registry.issueToken(session, user);
  return {
    session,
    response: {
      id: session.id,
      token: pair.accessToken,
      refreshToken: pair.refreshToken,
      userId: user.id,
      username: user.username,
      channelId: user.channel.id,
      channelHandle: user.channel.name,
      baseUrl: `http://${req.headers.host}/s/${session.id}`,
      options
    }
  };
}

function newToken(session) {
  const pair = registry.issueToken(session, session.user);
  return { token: pair.accessToken, refreshToken: pair.refreshToken };
}

// ---- app --------------------------------------------------------------------

const resumable = resumableRoutes({ registry, dataDir, uploadIndex });

const control = controlRouter(registry, { createSession, newToken });
const sessionOr404 = handler => (req, res) => {
  const s = registry.get(req.params.id);
  return s ? handler(ensureState(s), req, res) : sendJson(res, 404, { error: `unknown session ${req.params.id}` });
};
control.get('/session/:id/uploads', sessionOr404((s, req, res) => sendJson(res, 200, resumable.listUploads(s))));
control.get('/session/:id/files', sessionOr404((s, req, res) => sendJson(res, 200, s.files)));
control.get('/session/:id/videos', sessionOr404((s, req, res) => sendJson(res, 200, videos.filter(v => v.sessionId === s.id))));
control.get('/session/:id/imports', sessionOr404((s, req, res) =>
  sendJson(res, 200, { userImports: s.userImports, videoImports: s.videoImports })));

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.use(sessionMiddleware({
  registry,
  classify,
  resolveSession,
  onSession: ensureState,
  keepAlive: KEEPALIVE,
  skip: path => path === '/health' || path.startsWith('/__control')
}));
app.use(nginxLimits);
app.use(faultMiddleware(registry, { cors: CORS }));
app.use(corsMiddleware(CORS));
app.get('/health', (req, res) => sendText(res, 200, 'ok'));
app.use('/__control', control);
app.use(authRoutes({ registry, ensureState }));
app.use(resumable.router);
app.use(multipartRoutes({ registry }));
app.use(videoListRoutes({ registry }));
app.use((req, res) => fail(res, { status: 404, message: `Unknown route ${req.method} ${req.path}` }));
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => fail(res, { status: err.status || err.statusCode || 500, message: err.message }));

// ---- start ------------------------------------------------------------------

const server = http.createServer(app);
server.requestTimeout = 0; // slow uploads in tests must not hit Node's 5 min default
const port = await listen(server, PORT, '127.0.0.1');
const servers = [server];

if (STATIC_PORT !== 'off') {
  const coi = process.env.STATIC_COI === '1';
  const staticV4 = createStaticServer({ root: STATIC_ROOT, crossOriginIsolated: coi });
  try {
    const sp = await listen(staticV4, Number(STATIC_PORT), '127.0.0.1');
    servers.push(staticV4);
    const staticV6 = createStaticServer({ root: STATIC_ROOT, crossOriginIsolated: coi });
    await listen(staticV6, sp, '::1').then(() => servers.push(staticV6), () => {}); // best effort: "localhost" may be ::1
    process.stderr.write(`static files (${STATIC_ROOT}) on http://localhost:${sp}\n`);
  } catch (err) {
    process.stderr.write(`static server not started on port ${STATIC_PORT}: ${err.code || err.message}\n`);
  }
}

exitCleanlyOnSignals(servers);
console.log(`peertube fake listening on http://127.0.0.1:${port}`);

// Control API (all CORS-enabled, JSON):
//   POST /__control/session {user?, quota?, maxFileSize?, absoluteLocation?, locationForm?, processingMs?,
//        importCompleteMs?, nginx?, tokenTtlSec?, refreshTtlSec?, serverVersion?, maxChunkSize?}
//        → {id, token, refreshToken, userId, username, channelId, channelHandle, baseUrl, options}
//   POST /__control/session/:id/faults [rule…]   GET/DELETE …/faults
//   POST …/expire-token → {expired}   POST …/new-token → {token, refreshToken}
//   GET  …/log[?preflight=1]  …/uploads  …/files  …/videos  …/imports      GET /health
