// Cloudreve fake: the master API (`/api/v4/…`): login and refresh, upload sessions (create,
// local chunks, delete), storage callbacks and file info. Behaviour follows
// /work/shared/protocols/cloudreve-and-mangadex.md §1 and Cloudreve v4's source.
import express from 'express';
import { randomHex, readRawBody } from '../common.mjs';
import {
  completeUpload, dropPlaceholder, envelope, fileInfo, holdsLock, liveUpload, MB, newUploadId, ok, S3_LIKE, sign, uploadsById
} from './state.mjs';

/** Reads the whole body; resolves `{ buf, complete }` even when the client goes away mid-body. */
export function readBody(req, limit = 512 * MB) {
  return new Promise(resolve => {
    const chunks = [];
    let size = 0;
    let done = false;
    const finish = complete => {
      if (done) return;
      done = true;
      resolve({ buf: Buffer.concat(chunks), complete });
    };
    req.on('data', c => {
      size += c.length;
      if (size <= limit) chunks.push(c);
    });
    req.once('end', () => finish(true));
    req.once('close', () => finish(req.complete));
    req.once('error', () => finish(false));
  });
}

async function jsonBody(req) {
  try {
    const raw = await readRawBody(req);
    if (!raw.length) return {};
    const v = JSON.parse(raw.toString('utf8'));
    return v && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
}

/** `Authorization: Bearer <jwt>`; Cloudreve runs a bad token as anonymous, and `my` then says 401. */
export function userAuth(registry) {
  return (req, res, next) => {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization || '');
    const { pair, error } = m ? registry.checkAccessToken(m[1]) : { error: 'missing' };
    if (error) return envelope(res, 401, 'Login required');
    req.cr = { session: pair.session, user: pair.user, pair };
    next();
  };
}

const tokenOf = pair => ({
  access_token: pair.accessToken,
  refresh_token: pair.refreshToken,
  access_expires: new Date(pair.accessExpiresAt).toISOString(),
  refresh_expires: new Date(pair.refreshExpiresAt).toISOString()
});

const chunkCount = (size, cs) => (size === 0 || cs === 0 ? 1 : Math.ceil(size / cs));

/** [start, end) of chunk `index`. */
export function chunkRange(up, index) {
  if (up.chunkSize === 0) return [0, up.size];
  const start = Math.min(index * up.chunkSize, up.size);
  return [start, Math.min(start + up.chunkSize, up.size)];
}

/**
 * One chunk for a local (or relayed) policy, or a slave node: the checks of Cloudreve's
 * ConfirmUploadSession / processChunkUpload and the local driver's offset rule.
 * Returns after answering.
 */
export async function storeChunk(req, res, up, index) {
  if (!Number.isInteger(index) || index < 0) return envelope(res, 40001, 'Invalid parameters.');
  const cs = up.chunkSize;
  if (cs === 0 && index > 0) return envelope(res, 40012, 'Chunk index cannot be greater than 0');
  if (index > 0 && index * cs >= up.size) return envelope(res, 40012, 'Chunk offset cannot be greater than file size');
  const isLast = cs === 0 || (index + 1) * cs >= up.size;
  const expected = isLast ? up.size - index * cs : cs;
  const declared = req.headers['content-length'] ?? req.headers['x-expected-entity-length'];
  if (declared === undefined || Number(declared) !== expected) {
    return envelope(res, 40013, `Invalid Content-Length (expected: ${expected})`);
  }
  const offset = index * cs;
  if (!up.session.options.preAllocate && offset > up.written) {
    // The local driver opens the file and seeks: a gap before the offset is an I/O failure.
    return envelope(res, 50004, 'Failed to upload file', undefined, { error: `offset ${offset} is beyond the current file size ${up.written}` });
  }
  const { buf, complete } = await readBody(req);
  if (buf.length) {
    buf.copy(up.buf, offset, 0, Math.min(buf.length, up.size - offset));
    up.written = Math.max(up.written, offset + buf.length);
  }
  if (!complete) return; // the client went away mid-chunk: nothing to answer
  if (up.state !== 'active') return envelope(res, 40011, 'Upload session expired or not exist');
  up.received.add(index);
  up.chunks.push({ index, length: buf.length, storedAt: Date.now() });
  if (up.received.size >= chunkCount(up.size, cs)) {
    completeUpload(up, up.buf.subarray(0, up.size));
    up.buf = null;
  }
  ok(res);
}

function validateName(name, o) {
  if (!name || Buffer.byteLength(name) >= 256) return 'length of name must be between 1 and 255';
  if (/[\\/:*?"<>|]/.test(name)) return 'name contains illegal characters';
  if (name === '.' || name === '..') return 'name cannot be only dot';
  if (Array.isArray(o.allowedSuffix) && o.allowedSuffix.length) {
    const ext = name.includes('.') ? name.split('.').pop().toLowerCase() : '';
    if (!o.allowedSuffix.map(s => String(s).toLowerCase()).includes(ext)) return 'file extension is not allowed';
  }
  return null;
}

function usedBytes(session) {
  let used = 0;
  for (const f of session.files.values()) if (f.state === 'complete') used += f.size;
  for (const up of session.uploads) if (up.state === 'active') used += up.size;
  return used;
}

/** The upload session a file's lock belongs to: its placeholder's, or a pending new version's. */
function lockHolder(f) {
  const id = f.state === 'uploading' ? f.sessionId : f.pendingSessionId;
  return (id && uploadsById.get(id)) || null;
}

export function masterRoutes({ registry, urls }) {
  const router = express.Router();
  const auth = userAuth(registry);

  // ---- login ---------------------------------------------------------------------------
  const issue = (res, session) => {
    const pair = registry.issueToken(session, session.user);
    const u = session.user;
    ok(res, { user: { id: String(u.id), email: u.email, nickname: u.nickname, status: 'active' }, token: tokenOf(pair) });
  };

  router.post('/api/v4/session/token', async (req, res) => {
    const body = await jsonBody(req);
    if (!body || typeof body.email !== 'string' || !body.email.includes('@')) return envelope(res, 40001, 'Invalid parameters.', undefined, { error: 'email' });
    if (typeof body.password !== 'string' || body.password.length < 4 || body.password.length > 128) {
      return envelope(res, 40001, 'Invalid parameters.', undefined, { error: 'password' });
    }
    const session = [...registry.sessions.values()].find(s => s.user?.email === body.email);
    if (!session || session.user.password !== body.password) return envelope(res, 40080, 'Incorrect password or email address');
    if (session.options.twoFactor) {
      const sid = randomHex(12);
      session.pending2fa.set(sid, true);
      return envelope(res, 203, '', sid);
    }
    issue(res, session);
  });

  router.post('/api/v4/session/token/2fa', async (req, res) => {
    const body = await jsonBody(req);
    if (!body || typeof body.otp !== 'string' || typeof body.session_id !== 'string') return envelope(res, 40001, 'Invalid parameters.');
    const session = [...registry.sessions.values()].find(s => s.pending2fa?.has(body.session_id));
    if (!session) return envelope(res, 40023, 'Login session not exist');
    if (body.otp !== '123456') return envelope(res, 40022, 'Incorrect 2FA code');
    session.pending2fa.delete(body.session_id);
    issue(res, session);
  });

  router.post('/api/v4/session/token/refresh', async (req, res) => {
    const body = await jsonBody(req);
    if (!body || typeof body.refresh_token !== 'string') return envelope(res, 40001, 'Invalid parameters.');
    const { pair, error } = registry.checkRefreshToken(body.refresh_token);
    if (error) return envelope(res, 40020, 'Failed to issue token pair', undefined, { error: `refresh token ${error}` });
    registry.revoke(pair);
    ok(res, tokenOf(registry.issueToken(pair.session, pair.user)));
  });

  // ---- upload sessions -----------------------------------------------------------------
  router.put('/api/v4/file/upload', auth, async (req, res) => {
    const session = req.cr.session;
    const o = session.options;
    const body = await jsonBody(req);
    if (!body) return envelope(res, 40001, 'Invalid parameters.', undefined, { error: 'malformed JSON' });
    const { uri, size } = body;
    if (typeof uri !== 'string' || !/^cloudreve:\/\/my\/./.test(uri)) return envelope(res, 40001, 'Invalid parameters.', undefined, { error: 'uri' });
    if (!Number.isInteger(size) || size < 0) return envelope(res, 40001, 'Invalid parameters.', undefined, { error: 'size' });
    if (body.policy_id !== undefined && (typeof body.policy_id !== 'string' || !/^[A-Za-z0-9]*$/.test(body.policy_id))) {
      return envelope(res, 40001, 'Invalid parameters.', undefined, { error: 'policy_id' });
    }
    if (body.entity_type !== undefined && !['', 'live_photo', 'version'].includes(body.entity_type)) {
      return envelope(res, 40001, 'Invalid parameters.', undefined, { error: 'entity_type' });
    }
    if (body.last_modified !== undefined && !Number.isInteger(body.last_modified)) return envelope(res, 40001, 'Invalid parameters.', undefined, { error: 'last_modified' });
    let name;
    try {
      name = decodeURIComponent(uri.replace(/\/+$/, '').split('/').pop());
    } catch {
      return envelope(res, 40001, 'Invalid parameters.', undefined, { error: 'uri encoding' });
    }
    const existing = session.files.get(uri);
    const version = body.entity_type === 'version';
    // `PrepareUpload` (dbfs/upload.go) checks that the target exists before it takes the lock: a
    // plain create meeting any file, an upload's placeholder included, gets 40004; only a
    // `version` create reaches the lock, held by a live upload session → 40073 with the lock's
    // details (`lock/memlock.go`, `dbfs/lock.go`).
    if (existing && !version) return envelope(res, 40004, 'Object existed');
    const holder = existing && lockHolder(existing);
    if (holdsLock(holder)) {
      return envelope(res, 40073, 'Lock conflict', [{ path: uri, token: randomHex(8), owner: { application: { type: 'upload' } }, type: 0 }]);
    }
    if (holder && holder.state === 'active') holder.state = 'expired';
    const nameErr = validateName(name, o);
    if (nameErr) return envelope(res, 40052, 'Invalid object name', undefined, { error: nameErr });
    if (o.maxSize && size > o.maxSize) return envelope(res, 40049, 'File is too large');
    if (size > 512 * MB) return envelope(res, 40049, 'File is too large', undefined, { error: 'the fake keeps uploads in memory' });
    if (usedBytes(session) + size > (o.capacity ?? 1024 * MB)) return envelope(res, 40051, 'Insufficient capacity');

    const policy = o.policy;
    const relay = !!o.relay;
    const s3Like = S3_LIKE.includes(policy);
    let chunkSize = o.chunkSize ?? (s3Like ? 5 * MB : 1 * MB);
    if (relay) chunkSize = 0;
    const id = newUploadId();
    const ttl = (o.sessionTtlSec ?? 86400) * 1000;
    const up = {
      id,
      session,
      uri,
      name,
      size,
      policy,
      relay,
      chunkSize,
      expiresAt: Date.now() + ttl,
      createdAt: new Date().toISOString(),
      state: 'active',
      callbackSecret: randomHex(16),
      mimeType: typeof body.mime_type === 'string' ? body.mime_type : '',
      lastModified: body.last_modified ?? null,
      metadata: body.metadata && typeof body.metadata === 'object' ? body.metadata : {},
      entityType: body.entity_type ?? null,
      policyId: body.policy_id ?? null,
      buf: Buffer.alloc(size),
      written: 0,
      received: new Set(),
      chunks: [],
      parts: new Map(),
      multipart: s3Like ? 'open' : null,
      od: policy === 'onedrive' ? { state: 'open', received: 0 } : null,
      credential: null
    };
    uploadsById.set(id, up);
    session.uploads.push(up);
    // A `version` create over a stale upload replaces its entity (`CreateEntity`,
    // `RemoveStaleEntities`); the file then records the new session.
    if (existing?.state === 'uploading') existing.sessionId = id;
    else if (existing) existing.pendingSessionId = id;
    else session.files.set(uri, { uri, name, size, sha256: null, state: 'uploading', sessionId: id, metadata: {} });

    const count = chunkCount(size, chunkSize);
    const data = {
      session_id: id,
      chunk_size: chunkSize,
      expires: Math.floor(up.expiresAt / 1000),
      storage_policy: {
        id: o.policyId,
        name: `${policy} storage`,
        type: policy,
        max_size: o.maxSize ?? 0,
        ...(relay ? { relay: true } : {}),
        ...(o.concurrency ? { chunk_concurrency: o.concurrency } : {})
      },
      uri,
      callback_secret: up.callbackSecret,
      ...(up.mimeType ? { mime_type: up.mimeType } : {})
    };
    if (o.encryption) data.encrypt_metadata = { algorithm: 'aes-256-ctr', key: null, key_plain_text: 'AAAA', iv: 'AAAA' };
    if (!relay) {
      if (policy === 'remote') {
        up.credential = `Bearer Cr ${Buffer.from(sign(`node:${id}`)).toString('base64')}:${Math.floor(up.expiresAt / 1000)}`;
        data.upload_urls = [`${urls.node}/api/v4/slave/upload/${id}`];
        data.credential = up.credential;
      } else if (s3Like) {
        up.uploadId = randomHex(12);
        const q = n => `uploadId=${up.uploadId}&X-Amz-Expires=${Math.floor(ttl / 1000)}&X-Amz-Signature=${sign(`${id}:${n}`)}`;
        data.upload_id = up.uploadId;
        data.upload_urls = Array.from({ length: count }, (_, i) => `${urls.bucket}/s3/${id}/parts/${i + 1}?${q(i + 1)}`);
        data.completeURL = `${urls.bucket}/s3/${id}/complete?${q('complete')}` +
          (policy === 'oss' || policy === 'obs' ? `&callback=${Buffer.from(`${urls.master}/api/v4/callback/${policy}/${id}/${up.callbackSecret}`).toString('base64url')}` : '');
      } else if (policy === 'onedrive') {
        data.upload_urls = [`${urls.bucket}/onedrive/${id}?tempauth=${sign(`${id}:od`)}`];
      } else if (policy === 'qiniu' || policy === 'upyun') {
        data.upload_urls = [`${urls.bucket}/unsupported/${id}`];
        data.credential = `${policy}-credential-${randomHex(6)}`;
      }
    }
    ok(res, data);
  });

  router.post('/api/v4/file/upload/:sid/:index', async (req, res) => {
    // The upload routes have no LoginRequired: a JWT that fails to parse (expired, revoked) runs
    // the request as the anonymous user (`pkg/auth/jwt.go` `VerifyAndRetrieveUser`, user ID 0),
    // and the session's owner then differs → 40011, never 401 (`service/explorer/upload.go`).
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization || '');
    const { pair, error } = m ? registry.checkAccessToken(m[1]) : { error: 'missing' };
    const up = error ? null : liveUpload(req.params.sid, pair.session);
    if (!up) return envelope(res, 40011, 'Upload session expired or not exist');
    if (up.policy !== 'local' && !up.relay) return envelope(res, 40006, 'Storage policy not supported');
    const index = /^\d+$/.test(req.params.index) ? Number(req.params.index) : NaN;
    await storeChunk(req, res, up, index);
  });

  router.delete('/api/v4/file/upload', auth, async (req, res) => {
    const body = await jsonBody(req);
    if (!body || typeof body.id !== 'string' || typeof body.uri !== 'string' || !body.id || !body.uri) {
      return envelope(res, 40001, 'Invalid parameters.');
    }
    // `CancelUploadSession` (dbfs/upload.go) takes the file's lock first: held by another live
    // session → 40073. An unknown id then answers code 0 and removes nothing; this user's session
    // (live or expired) goes with its lock and placeholder.
    const up = uploadsById.get(body.id);
    const f = req.cr.session.files.get(body.uri);
    const holder = f && lockHolder(f);
    if (holder && holder.id !== body.id && holdsLock(holder)) {
      return envelope(res, 40073, 'Lock conflict', [{ path: body.uri, token: randomHex(8), owner: { application: { type: 'upload' } }, type: 0 }]);
    }
    if (!up || up.session !== req.cr.session) {
      if (!f) return envelope(res, 40016, 'Path not exist');
      return ok(res);
    }
    if (up.uri !== body.uri) return envelope(res, 404, 'Upload session not found');
    if (up.state === 'active' || up.state === 'expired') {
      up.state = 'deleted';
      up.deletedAt = new Date().toISOString();
      dropPlaceholder(up);
      const f = up.session.files.get(up.uri);
      if (f?.pendingSessionId === up.id) delete f.pendingSessionId;
      if (up.multipart === 'open') up.multipart = 'aborted';
      if (up.od) up.od.state = 'deleted';
      up.buf = null;
      up.parts.clear();
    }
    ok(res);
  });

  // ---- storage callbacks ---------------------------------------------------------------
  const CLIENT_METHOD = { s3: 'GET', ks3: 'GET', cos: 'GET', onedrive: 'POST', oss: 'POST', obs: 'POST', remote: 'POST', qiniu: 'POST', upyun: 'POST' };
  router.all('/api/v4/callback/:type/:sid/:key', async (req, res, next) => {
    const { type, sid, key } = req.params;
    if (CLIENT_METHOD[type] !== req.method) return next();
    await readBody(req);
    const up = liveUpload(sid);
    if (!up) return envelope(res, 40011, 'Upload session not exist or expired', undefined, { status: 401 });
    if (up.policy !== type) return envelope(res, 40006, 'Storage policy not supported', undefined, { status: 401 });
    if (key !== up.callbackSecret) return envelope(res, 40020, 'Credential invalid', undefined, { status: 401 });
    if (type === 'onedrive') {
      if (!up.od || up.od.received !== up.size) {
        return envelope(res, 40055, `File size not match, expected: ${up.size}, actual: ${up.od?.received ?? 0}`);
      }
      completeUpload(up, up.buf.subarray(0, up.size));
      up.buf = null;
      return ok(res);
    }
    if (!up.object || up.object.length !== up.size) {
      return envelope(res, 40055, `File size not match, expected: ${up.size}, actual: ${up.object?.length ?? 0}`, undefined, { status: 400 });
    }
    completeUpload(up, up.object);
    up.object = null;
    ok(res);
  });

  router.get('/api/v4/file/info', auth, (req, res) => {
    const f = req.cr.session.files.get(String(req.query.uri ?? ''));
    if (!f) return envelope(res, 40016, 'Path not exist');
    const info = fileInfo(f);
    if (f.pendingSessionId) info.metadata['sys:upload_session_id'] = f.pendingSessionId;
    ok(res, info);
  });

  return router;
}
