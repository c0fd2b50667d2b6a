// Cloudreve fake: shared state (users, upload sessions, files), the JSON envelope, request
// classification for fault rules and the request log, and CORS variants of the three origins.
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { randomHex, sendJson, sendText, setCorsHeaders } from '../common.mjs';

export const MB = 1024 * 1024;
export const SIGNING_KEY = randomHex(16);
export const POLICIES = ['local', 'remote', 's3', 'ks3', 'cos', 'oss', 'obs', 'onedrive', 'qiniu', 'upyun'];
export const S3_LIKE = ['s3', 'ks3', 'cos', 'oss', 'obs'];

/** Cloudreve answers almost everything with HTTP 200 and `{code, msg, data?}`. */
export function envelope(res, code, msg = '', data, { status = 200, error } = {}) {
  const entry = res.req?.ctx?.entry;
  if (entry) entry.code = code; // the request log shows the envelope's code
  const body = { code, msg };
  if (data !== undefined) body.data = data;
  if (error) body.error = error;
  sendJson(res, status, body);
}
export const ok = (res, data) => envelope(res, 0, '', data);

/** S3-style XML error document. */
export function xmlError(res, status, code, message, headers = {}) {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>${randomHex(8)}</RequestId></Error>`;
  sendText(res, status, xml, { 'Content-Type': 'application/xml', ...headers });
}

export const sha256 = buf => createHash('sha256').update(buf).digest('hex');
export const md5 = buf => createHash('md5').update(buf).digest('hex');
export const sign = text => createHmac('sha256', SIGNING_KEY).update(text).digest('hex').slice(0, 32);

/** Everything a control session holds besides the common fields. */
export function ensureState(session) {
  session.user ??= { id: Number.parseInt(session.id, 16) % 100000 || 1, email: `user-${session.id}@example.test`, password: 'secret', nickname: `user ${session.id}` };
  session.files ??= new Map(); // uri → file record
  session.uploads ??= []; // upload sessions (also indexed in `uploadsById`)
  session.pending2fa ??= new Map();
  return session;
}

/** Upload sessions by id, across control sessions. */
export const uploadsById = new Map();

export function newUploadId() {
  return randomUUID();
}

/** The upload session, or null when missing, expired or not owned by `session`. */
export function liveUpload(id, session) {
  const up = uploadsById.get(id);
  if (!up || up.state !== 'active') return null;
  if (Date.now() > up.expiresAt) {
    // The session (and with it the file's lock, which lives `time.Until(ExpireAt)`) is gone from
    // the KV store, but the placeholder, its upload entity, the bytes written and
    // `sys:upload_session_id` stay: the sentinel task exists only for S3/COS/KS3/OneDrive and
    // deletes stored data, never the placeholder (Cloudreve `manager/upload.go`,
    // `driver/local/local.go`; shared/protocols Corrections "Session expiry").
    up.state = 'expired';
    return null;
  }
  if (session && up.session !== session) return null;
  return up;
}

/** Whether upload `up` still holds its file's lock (the lock expires with the session). */
export function holdsLock(up) {
  return !!up && up.state === 'active' && Date.now() <= up.expiresAt;
}

/** A cancelled session's placeholder goes with it (`CancelUploadSession` deletes the file when its only entity is the upload's). */
export function dropPlaceholder(up) {
  const f = up.session.files.get(up.uri);
  if (f && f.state === 'uploading' && f.sessionId === up.id) up.session.files.delete(up.uri);
}

/** Stores the uploaded bytes as the file at `up.uri` and closes the session. */
export function completeUpload(up, data) {
  up.state = 'complete';
  up.completedAt = new Date().toISOString();
  const name = decodeURIComponent(up.uri.split('/').pop() || '');
  const prev = up.session.files.get(up.uri);
  const metadata = { ...(up.metadata || {}) };
  up.session.files.set(up.uri, {
    uri: up.uri,
    name,
    size: data.length,
    sha256: sha256(data),
    mimeType: up.mimeType || '',
    lastModified: up.lastModified ?? null,
    state: 'complete',
    sessionId: null,
    versions: (prev?.versions ?? 0) + 1,
    metadata
  });
  up.result = { size: data.length, sha256: sha256(data) };
}

export function fileInfo(f) {
  const metadata = { ...(f.metadata || {}) };
  if (f.state === 'uploading' && f.sessionId) metadata['sys:upload_session_id'] = f.sessionId;
  return {
    type: 0,
    id: sign(f.uri).slice(0, 8),
    name: f.name,
    size: f.size,
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
    path: f.uri,
    metadata,
    owned: true
  };
}

// ---------------------------------------------------------------------------------------------
// Request classification (fault rules and the log)

export function classify(server) {
  return (method, path) => {
    if (server === 'node') {
      if (/^\/api\/v4\/slave\/upload\/[^/]+$/.test(path)) return method === 'DELETE' ? 'node-delete' : 'node-chunk';
      return 'other';
    }
    if (server === 'bucket') {
      if (/^\/s3\/[^/]+\/complete$/.test(path)) return 'complete';
      if (/^\/s3\/[^/]+\/parts\/\d+$/.test(path)) return 'part';
      if (/^\/onedrive\/[^/]+$/.test(path)) return method === 'GET' ? 'onedrive-status' : method === 'DELETE' ? 'onedrive-delete' : 'onedrive-chunk';
      return 'other';
    }
    if (path === '/api/v4/file/upload') return method === 'PUT' ? 'create' : method === 'DELETE' ? 'delete' : 'other';
    if (/^\/api\/v4\/file\/upload\/[^/]+\/[^/]+$/.test(path)) return 'chunk';
    if (path.startsWith('/api/v4/callback/')) return 'callback';
    if (path === '/api/v4/file/info') return 'file-info';
    if (path === '/api/v4/session/token') return 'login';
    if (path === '/api/v4/session/token/2fa') return 'login-2fa';
    if (path === '/api/v4/session/token/refresh') return 'refresh';
    return 'other';
  };
}

/** The upload session id a node/bucket path names (to log the request in the right session). */
export function uploadIdOfPath(path) {
  const m = /^\/(?:api\/v4\/slave\/upload|s3|onedrive)\/([^/]+)/.exec(path) || /^\/api\/v4\/(?:file\/upload|callback\/[^/]+)\/([^/]+)/.exec(path);
  return m ? m[1] : null;
}

/** Which credential a request carried: the user's token, a node credential, nothing, or something else. */
export function authKind(registry, req) {
  const h = req.headers.authorization;
  if (!h) return 'none';
  const m = /^Bearer (\S+)$/.exec(h);
  if (m && registry.accessTokens.has(m[1])) return 'user-token';
  for (const up of uploadsById.values()) if (up.credential && up.credential === h) return 'node-credential';
  return 'other';
}

/** Adds `server`, `auth` and the X-Cr-* header names to the log entry. */
export function annotate(server, registry) {
  return (req, res, next) => {
    const e = req.ctx?.entry;
    if (e) {
      e.server = server;
      e.auth = authKind(registry, req);
      e.xCr = Object.keys(req.headers).filter(h => h.startsWith('x-cr-'));
    }
    next();
  };
}

// ---------------------------------------------------------------------------------------------
// CORS

/**
 * CORS for Cloudreve itself, as a same-origin proxy (or a `[CORS]` section listing them) would
 * allow: Authorization, Content-Type, X-Cr-* request headers; GET, POST, PUT, DELETE, OPTIONS.
 * A preflight asking for anything else gets no Allow-Headers for it (the browser then fails).
 */
export function strictCors({ allow = h => h === 'authorization' || h === 'content-type' || h.startsWith('x-cr-'), expose = [] } = {}) {
  return (req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (expose.length) res.setHeader('Access-Control-Expose-Headers', expose.join(', '));
    if (req.method !== 'OPTIONS') return next();
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE, OPTIONS');
    const requested = String(req.headers['access-control-request-headers'] || '')
      .split(',').map(s => s.trim().toLowerCase()).filter(Boolean);
    const granted = requested.filter(allow);
    if (granted.length) res.setHeader('Access-Control-Allow-Headers', granted.join(', '));
    res.setHeader('Access-Control-Max-Age', '600');
    res.writeHead(204, { 'Content-Length': '0' });
    res.end();
  };
}

/** Bucket CORS as Cloudreve's "add CORS" action sets it: any origin and header; ETag exposed unless the session says otherwise. */
export function bucketCors(exposeEtagFor) {
  return (req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (exposeEtagFor(req)) res.setHeader('Access-Control-Expose-Headers', 'ETag');
    if (req.method !== 'OPTIONS') return next();
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE, HEAD');
    const requested = req.headers['access-control-request-headers'];
    if (requested) res.setHeader('Access-Control-Allow-Headers', requested);
    res.setHeader('Access-Control-Max-Age', '3600');
    res.writeHead(204, { 'Content-Length': '0' });
    res.end();
  };
}

export { setCorsHeaders };
