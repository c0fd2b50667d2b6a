#!/usr/bin/env node
// Cloudreve-v4-shaped fake server for chunkup's browser tests.
//
//   node tests/servers/cloudreve.mjs
//
// Three origins in one process:
//   - Cloudreve itself on CLOUDREVE_PORT (default 18083): /api/v4/…, /health, /__control
//   - a slave node on CLOUDREVE_NODE_PORT (default 18085): /api/v4/slave/upload/:sessionId
//   - a "bucket" on CLOUDREVE_BUCKET_PORT (default 18086): presigned S3-like part and complete
//     URLs (/s3/…) and OneDrive-like upload URLs (/onedrive/…)
// Port 0 = random. FAKE_SERVER_PARENT_PID: exit when that process is gone.
//
// The storage policy is chosen per control session (see the notes at the end of this file).
// Wire behaviour follows /work/shared/protocols/cloudreve-and-mangadex.md §1.
import http from 'node:http';
import express from 'express';
import {
  controlRouter, exitCleanlyOnSignals, faultMiddleware, listen, randomHex, SessionRegistry, sendJson, sendText, sessionMiddleware
} from './common.mjs';
import { masterRoutes } from './cloudreve/master.mjs';
import { bucketRoutes, nodeRoutes } from './cloudreve/storage.mjs';
import {
  annotate, bucketCors, classify, ensureState, envelope, POLICIES, S3_LIKE, strictCors, uploadIdOfPath, uploadsById
} from './cloudreve/state.mjs';

const PORT = Number(process.env.CLOUDREVE_PORT ?? 18083);
const NODE_PORT = Number(process.env.CLOUDREVE_NODE_PORT ?? 18085);
const BUCKET_PORT = Number(process.env.CLOUDREVE_BUCKET_PORT ?? 18086);

const registry = new SessionRegistry({ accessTtlSec: 3600 });
ensureState(registry.defaultSession);
registry.defaultSession.options = { policy: 'local', policyId: 'default' };
const urls = { master: '', node: '', bucket: '' };

function resolveSession(req, path) {
  const bearer = /^Bearer\s(\S+)/.exec(req.headers.authorization || '');
  const byToken = bearer && registry.sessionOfToken(bearer[1]);
  if (byToken) return byToken;
  const id = uploadIdOfPath(path);
  return (id && uploadsById.get(id)?.session) || null;
}

function baseApp(server, cors) {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(sessionMiddleware({
    registry,
    classify: classify(server),
    resolveSession,
    onSession: ensureState,
    skip: path => path === '/health' || path.startsWith('/__control')
  }));
  app.use(annotate(server, registry));
  app.use(faultMiddleware(registry, { cors: { credentials: false, exposeHeaders: server === 'bucket' ? ['ETag'] : [] } }));
  app.use(cors);
  app.get('/health', (req, res) => sendText(res, 200, 'ok'));
  return app;
}

// ---- control API --------------------------------------------------------------------------

const OPTION_KEYS = ['chunkSize', 'concurrency', 'capacity', 'maxSize', 'relay', 'preAllocate', 'allowedSuffix', 'exposeEtag',
  'sessionTtlSec', 'tokenTtlSec', 'refreshTtlSec', 'twoFactor', 'encryption'];

function createSession(body) {
  const policy = body.policy ?? 'local';
  if (!POLICIES.includes(policy)) throw Object.assign(new Error(`policy must be one of ${POLICIES.join(', ')}`), { status: 400 });
  const options = { policy, policyId: `pol${randomHex(3)}` };
  for (const k of OPTION_KEYS) if (body[k] !== undefined) options[k] = body[k];
  if (options.chunkSize !== undefined && !(Number.isInteger(options.chunkSize) && options.chunkSize >= 0)) {
    throw Object.assign(new Error('chunkSize must be an integer >= 0'), { status: 400 });
  }
  const session = ensureState(registry.create({ options }));
  for (const f of body.existing ?? []) {
    const uri = typeof f === 'string' ? f : f.uri;
    session.files.set(uri, { uri, name: decodeURIComponent(uri.split('/').pop()), size: f.size ?? 3, sha256: null, state: 'complete', versions: 1, metadata: {} });
  }
  const pair = registry.issueToken(session, session.user);
  return {
    session,
    response: {
      id: session.id,
      accessToken: pair.accessToken,
      refreshToken: pair.refreshToken,
      email: session.user.email,
      password: session.user.password,
      policyId: options.policyId,
      options,
      nodeUrl: urls.node,
      bucketUrl: urls.bucket
    }
  };
}

function newToken(session) {
  const pair = registry.issueToken(session, session.user);
  return { accessToken: pair.accessToken, refreshToken: pair.refreshToken };
}

const uploadView = up => ({
  sessionId: up.id,
  uri: up.uri,
  policy: up.policy,
  relay: up.relay,
  size: up.size,
  chunkSize: up.chunkSize,
  state: up.state,
  createdAt: up.createdAt,
  completedAt: up.completedAt ?? null,
  deletedAt: up.deletedAt ?? null,
  chunks: up.chunks,
  parts: up.multipart,
  completedWith: up.completedWith ?? null,
  completeHeaders: up.completeHeaders ?? null,
  mimeType: up.mimeType,
  lastModified: up.lastModified,
  entityType: up.entityType,
  policyId: up.policyId,
  metadata: up.metadata,
  result: up.result ?? null
});

const control = controlRouter(registry, { createSession, newToken });
const withSession = handler => (req, res) => {
  const s = registry.get(req.params.id);
  return s ? handler(ensureState(s), req, res) : sendJson(res, 404, { error: `unknown session ${req.params.id}` });
};
control.get('/session/:id/files', withSession((s, req, res) =>
  sendJson(res, 200, [...s.files.values()].map(f => ({ uri: f.uri, name: f.name, size: f.size, sha256: f.sha256, state: f.state, versions: f.versions ?? 0 })))));
control.get('/session/:id/uploads', withSession((s, req, res) => sendJson(res, 200, s.uploads.map(uploadView))));
control.post('/session/:id/expire-uploads', withSession((s, req, res) => {
  let n = 0;
  for (const up of s.uploads) if (up.state === 'active') { up.expiresAt = Date.now() - 1; n++; }
  sendJson(res, 200, { expired: n });
}));

// ---- apps ---------------------------------------------------------------------------------

const masterApp = baseApp('master', strictCors());
masterApp.use('/__control', strictCors({ allow: () => true }), control);
masterApp.use(masterRoutes({ registry, urls }));
masterApp.use((req, res) => sendText(res, 404, '404 page not found'));
// eslint-disable-next-line no-unused-vars
masterApp.use((err, req, res, next) => envelope(res, -1, 'Internal error', undefined, { error: String(err?.message ?? err) }));

// A slave node's [CORS] section: Authorization and Content-Type (X-Cr-* pass CORS but break the signature).
const nodeApp = baseApp('node', strictCors());
nodeApp.use(nodeRoutes());
nodeApp.use((req, res) => sendText(res, 404, '404 page not found'));

const exposeEtag = req => {
  const up = uploadsById.get(uploadIdOfPath(new URL(req.url, 'http://x').pathname) ?? '');
  if (!up) return true;
  const opt = up.session.options.exposeEtag;
  return opt !== undefined ? !!opt : up.policy !== 'oss';
};
const bucketApp = baseApp('bucket', bucketCors(exposeEtag));
bucketApp.use(bucketRoutes());
bucketApp.use((req, res) => sendText(res, 404, 'Not Found'));

// ---- start --------------------------------------------------------------------------------

const servers = [http.createServer(masterApp), http.createServer(nodeApp), http.createServer(bucketApp)];
for (const s of servers) s.requestTimeout = 0;
const [port, nodePort, bucketPort] = [
  await listen(servers[0], PORT, '127.0.0.1'),
  await listen(servers[1], NODE_PORT, '127.0.0.1'),
  await listen(servers[2], BUCKET_PORT, '127.0.0.1')
];
urls.master = `http://127.0.0.1:${port}`;
urls.node = `http://127.0.0.1:${nodePort}`;
urls.bucket = `http://127.0.0.1:${bucketPort}`;
exitCleanlyOnSignals(servers);
console.log(`cloudreve fake listening on ${urls.master}`);
console.log(`cloudreve fake node on ${urls.node}, bucket on ${urls.bucket}`);
void S3_LIKE;

// Control API (CORS-enabled, JSON), on the master port:
//   POST /__control/session {policy: 'local'|'remote'|'s3'|'ks3'|'cos'|'oss'|'obs'|'onedrive'|'qiniu'|'upyun',
//        chunkSize?, concurrency?, capacity?, maxSize?, relay?, preAllocate?, allowedSuffix?: string[],
//        exposeEtag?, sessionTtlSec?, tokenTtlSec?, refreshTtlSec?, twoFactor? (otp 123456), encryption?,
//        existing?: (uri | {uri, size})[]}
//        → {id, accessToken, refreshToken, email, password, policyId, options, nodeUrl, bucketUrl}
//   GET  /__control/session/:id/files    → [{uri, name, size, sha256, state, versions}]
//   GET  /__control/session/:id/uploads  → upload sessions [{sessionId, uri, policy, state: active|complete|deleted|expired, chunks, …}]
//   POST /__control/session/:id/expire-uploads → {expired}
//   POST /__control/session/:id/faults [rule…] (common.mjs format; routes: create, chunk, delete, callback,
//        file-info, login, login-2fa, refresh, node-chunk, part, complete, onedrive-chunk, onedrive-status)
//   GET/DELETE …/faults   POST …/expire-token   POST …/new-token → {accessToken, refreshToken}
//   GET  …/log[?preflight=1]  (entries also carry server: master|node|bucket, auth: user-token|node-credential|none|other, xCr,
//        and code: the envelope code of the answer)
//   GET  /health (each origin)
