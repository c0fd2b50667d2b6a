// MangaDex fake: the upload API (/upload/…) and the personal-client token endpoint.
import { createHash, randomUUID } from 'node:crypto';
import express from 'express';
import multiparty from 'multiparty';
import { readRawBody, sendJson } from '../common.mjs';
import {
  chapterEntity, chapters, entity, errorItem, fileEntity, groups, imageSize, isUuid, LIMITS, mangas, mdError, newFile, newUpload, ok,
  mdTime, PERSONAL_CLIENT, rateLimit, sniffImage, TOKEN_PATH, uploadEntity, uploads
} from './state.mjs';

// `GET /chapter` query parameters (spec `GetChapter`; openapi-typescript rendering of the current
// spec): anything else is refused with 400, as MangaDex's validation does.
const CHAPTER_LIST_PARAMS = new Set(['limit', 'offset', 'ids[]', 'title', 'groups[]', 'uploader', 'uploader[]', 'manga', 'volume', 'volume[]',
  'chapter', 'chapter[]', 'translatedLanguage[]', 'originalLanguage[]', 'excludedOriginalLanguage[]', 'contentRating[]', 'excludedGroups[]',
  'excludedUploaders[]', 'includeFutureUpdates', 'includeEmptyPages', 'includeFuturePublishAt', 'includeExternalUrl', 'createdAtSince',
  'updatedAtSince', 'publishAtSince', 'order[createdAt]', 'order[updatedAt]', 'order[publishAt]', 'order[readableAt]', 'order[volume]',
  'order[chapter]', 'includes[]']);
const SINCE = /^\d{4}-[0-1]\d-([0-2]\d|3[0-1])T([0-1]\d|2[0-3]):[0-5]\d:[0-5]\d$/;

/** JSON body within `limit` bytes; answers 400/413 itself and returns undefined on failure. */
async function jsonBody(req, res, limit) {
  let raw;
  try {
    raw = await readRawBody(req, limit);
  } catch (err) {
    mdError(res, err.status === 413 ? 413 : 400, err.status === 413 ? `Request body exceeds ${limit} bytes` : 'Unreadable body');
    return undefined;
  }
  try {
    const value = JSON.parse(raw.toString('utf8'));
    if (req.ctx?.entry) req.ctx.entry.body = value;
    return value;
  } catch {
    mdError(res, 400, 'Malformed JSON body');
    return undefined;
  }
}

const HEAD_BYTES = 64 * 1024; // enough for the magic bytes and, nearly always, the image size

/** Multipart parts with a filename: { field, filename, contentType, size, sha256, head } (head = first 64 KiB). */
function fileParts(req) {
  return new Promise((resolve, reject) => {
    const files = [];
    const pending = [];
    const form = new multiparty.Form({ autoFiles: false, maxFieldsSize: 64 * 1024 });
    form.on('part', part => {
      if (part.filename === undefined) return void part.resume();
      pending.push(new Promise(done => {
        const hash = createHash('sha256');
        const headChunks = [];
        let headLen = 0;
        let size = 0;
        const rec = { field: part.name, filename: part.filename, contentType: part.headers['content-type'] || '' };
        files.push(rec);
        part.on('data', d => {
          hash.update(d);
          size += d.length;
          if (headLen < HEAD_BYTES) {
            headChunks.push(d.subarray(0, HEAD_BYTES - headLen));
            headLen += Math.min(d.length, HEAD_BYTES - headLen);
          }
        });
        part.on('error', () => done());
        part.on('end', () => {
          Object.assign(rec, { size, sha256: hash.digest('hex'), head: Buffer.concat(headChunks) });
          done();
        });
      }));
    });
    form.on('error', reject);
    form.on('close', () => Promise.all(pending).then(() => resolve(files)));
    form.parse(req);
  });
}

function checkDraft(d) {
  if (!d || typeof d !== 'object' || Array.isArray(d)) return 'chapterDraft must be an object';
  const allowed = ['volume', 'chapter', 'title', 'translatedLanguage', 'externalUrl', 'publishAt'];
  for (const k of Object.keys(d)) if (!allowed.includes(k)) return `chapterDraft: the property ${k} is not defined and the definition does not allow additional properties`;
  for (const k of ['volume', 'chapter', 'title', 'translatedLanguage']) if (!(k in d)) return `chapterDraft: the property ${k} is required`;
  const label = /^((0|[1-9]\d*)(\.\d+)?[a-z]?)?$/;
  for (const k of ['volume', 'chapter']) {
    const v = d[k];
    if (v !== null && (typeof v !== 'string' || v.length > 8 || !label.test(v))) return `chapterDraft.${k}: does not match the pattern`;
  }
  if (d.title !== null && (typeof d.title !== 'string' || d.title.length > 255)) return 'chapterDraft.title: must be a string of at most 255 characters or null';
  if (typeof d.translatedLanguage !== 'string' || !/^[a-z]{2}(-[a-z]{2})?$/.test(d.translatedLanguage)) return 'chapterDraft.translatedLanguage: does not match the pattern';
  if (d.externalUrl != null && (typeof d.externalUrl !== 'string' || d.externalUrl.length > 512 || !/^https?:\/\//.test(d.externalUrl))) return 'chapterDraft.externalUrl: invalid';
  if (d.publishAt != null && (typeof d.publishAt !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(d.publishAt))) return 'chapterDraft.publishAt: does not match the pattern';
  return null;
}

/** Per-file failure rules: the k-th file of the n-th upload request (or files by name) fail inside a 200. */
function pickFileFaults(session, files) {
  const failing = new Map(); // index in `files` → rule
  for (const rule of session.fileFaults) {
    if (rule.name !== undefined) {
      files.forEach((f, i) => {
        if (rule.fired < rule.times && f.filename.includes(rule.name) && !failing.has(i)) {
          rule.fired++;
          failing.set(i, rule);
        }
      });
      continue;
    }
    rule.seen++;
    if (rule.seen >= rule.nth && rule.seen < rule.nth + rule.count) {
      const i = rule.file - 1;
      if (i < files.length && !failing.has(i)) {
        rule.fired++;
        failing.set(i, rule);
      }
    }
  }
  return failing;
}

export function apiRoutes({ registry }) {
  const r = express.Router();

  const userOf = req => {
    const bearer = /^Bearer\s+(\S+)$/.exec(req.headers.authorization || '');
    if (!bearer) return { error: 'Authorization is required' };
    const { pair, error } = registry.checkAccessToken(bearer[1]);
    if (error === 'expired') return { error: 'Token expired' };
    if (error) return { error: 'User not found' };
    return { session: pair.session };
  };

  /** Auth + rate limit. Calls handler(session, req, res) with X-RateLimit-* headers set. */
  const api = handler => async (req, res, next) => {
    const who = userOf(req);
    if (who.error) return mdError(res, 401, who.error);
    const { session } = who;
    const { headers, limited } = rateLimit(session, req.ctx?.route);
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (limited) {
      if (req.ctx?.entry) req.ctx.entry.fault = 'rate-limit';
      return mdError(res, 429, 'You have been rate limited. Please wait before retrying.');
    }
    try {
      await handler(session, req, res);
    } catch (err) {
      next(err);
    }
  };

  /** The caller's upload session `id`, open; answers 404/403 itself otherwise. */
  const ownOpen = (session, res, id) => {
    const up = uploads.get(id);
    if (!up || up.state !== 'open') {
      mdError(res, 404, `Upload session ${id} not found`);
      return null;
    }
    if (up.userId !== session.user.id) {
      mdError(res, 403, 'You are not the owner of this upload session');
      return null;
    }
    return up;
  };

  r.get('/upload', api((session, req, res) => {
    const up = uploads.get(session.user.openUploadId ?? '');
    if (!up || up.state !== 'open') return mdError(res, 404, 'No upload session found');
    const includes = new URL(req.url, 'http://x').searchParams.getAll('includes[]');
    entity(res, uploadEntity(up, { includeFiles: includes.includes('upload_session_file') }));
  }));

  const alreadyOpen = (session, res) => {
    const open = uploads.get(session.user.openUploadId ?? '');
    if (open?.state !== 'open') return false;
    // OPEN question: the real status for "a session is already open" is not documented; 409 here.
    mdError(res, 409, 'You already have an open upload session. Commit or abandon it before beginning another one.', {
      context: { uploadSessionId: open.id }
    });
    return true;
  };

  // The chapter list. A committed chapter is listed only once it is through MangaDex's processing
  // queue (docs `04-chapter/upload`): session option `listingDelayMs` delays its appearance.
  r.get('/chapter', api((session, req, res) => {
    const q = new URL(req.url, 'http://x').searchParams;
    for (const k of q.keys()) if (!CHAPTER_LIST_PARAMS.has(k)) return mdError(res, 400, `Unknown query parameter: ${k}`);
    const all = k => q.getAll(k);
    const limit = q.has('limit') ? Number(q.get('limit')) : 10;
    const offset = q.has('offset') ? Number(q.get('offset')) : 0;
    if (!Number.isInteger(limit) || limit < 0 || limit > 100) return mdError(res, 400, 'limit: must be an integer from 0 to 100');
    if (!Number.isInteger(offset) || offset < 0) return mdError(res, 400, 'offset: must be a non-negative integer');
    for (const k of ['createdAtSince', 'updatedAtSince', 'publishAtSince']) {
      if (q.has(k) && !SINCE.test(q.get(k))) return mdError(res, 400, `${k}: does not match the pattern YYYY-MM-DDTHH:MM:SS`);
    }
    for (const k of ['includeFuturePublishAt', 'includeEmptyPages', 'includeExternalUrl', 'includeFutureUpdates']) {
      if (q.has(k) && !['0', '1'].includes(q.get(k))) return mdError(res, 400, `${k}: must be 0 or 1`);
    }
    for (const [k, v] of q.entries()) {
      if (k.startsWith('order[') && !['asc', 'desc'].includes(v)) return mdError(res, 400, `${k}: must be asc or desc`);
    }
    const ratings = all('contentRating[]').length ? all('contentRating[]') : ['safe', 'suggestive', 'erotica'];
    const since = q.has('createdAtSince') ? Date.parse(`${q.get('createdAtSince')}Z`) : -Infinity;
    const now = Date.now();
    const nowText = mdTime(now).slice(0, 19);
    let list = [...chapters.values()].filter(ch =>
      (ch.listedAt ?? 0) <= now &&
      (!q.has('manga') || ch.mangaId === q.get('manga').toLowerCase()) &&
      (!all('groups[]').length || ch.groupIds.some(g => all('groups[]').map(x => x.toLowerCase()).includes(g))) &&
      (!all('translatedLanguage[]').length || all('translatedLanguage[]').includes(ch.attributes.translatedLanguage)) &&
      (!q.has('chapter') || ch.attributes.chapter === q.get('chapter')) &&
      (!(q.has('uploader') || q.has('uploader[]')) || [...all('uploader'), ...all('uploader[]')].includes(ch.userId)) &&
      ratings.includes(mangas.get(ch.mangaId)?.contentRating ?? 'safe') &&
      Date.parse(ch.createdAt) >= since &&
      (q.get('includeFuturePublishAt') !== '0' || ch.attributes.publishAt <= nowText) &&
      (q.get('includeExternalUrl') !== '0' || !ch.attributes.externalUrl) &&
      (q.get('includeEmptyPages') !== '0' || ch.pages.length > 0));
    const order = [...q.entries()].find(([k]) => k.startsWith('order['));
    if (order) {
      const key = order[0].slice(6, -1);
      const val = ch => (key === 'createdAt' || key === 'updatedAt' ? ch[key] : ch.attributes[key] ?? '');
      const dir = order[1] === 'desc' ? -1 : 1;
      list.sort((a, b) => (val(a) < val(b) ? -dir : val(a) > val(b) ? dir : 0));
    }
    sendJson(res, 200, { result: 'ok', response: 'collection', data: list.slice(offset, offset + limit).map(chapterEntity), limit, offset, total: list.length });
  }));

  r.post('/upload/begin', api(async (session, req, res) => {
    const body = await jsonBody(req, res, LIMITS.beginBody);
    if (body === undefined) return;
    if (!body || typeof body !== 'object' || Array.isArray(body)) return mdError(res, 400, 'Body must be an object');
    if (!isUuid(body.manga)) return mdError(res, 400, 'manga: must be a UUID');
    if (!Array.isArray(body.groups) || body.groups.some(g => !isUuid(g))) return mdError(res, 400, 'groups: must be an array of UUIDs');
    if (body.groups.length > LIMITS.groups) return mdError(res, 400, `groups: at most ${LIMITS.groups} items`);
    if (!mangas.has(body.manga.toLowerCase())) return mdError(res, 404, `Manga ${body.manga} not found`);
    const unknown = body.groups.find(g => !groups.has(g.toLowerCase()));
    if (unknown) return mdError(res, 400, `Scanlation group ${unknown} not found`);
    if (alreadyOpen(session, res)) return;
    const up = newUpload(session, { mangaId: body.manga.toLowerCase(), groupIds: body.groups.map(g => g.toLowerCase()) });
    entity(res, uploadEntity(up));
  }));

  r.post('/upload/begin/:chapterId', api(async (session, req, res) => {
    const body = await jsonBody(req, res, 1024);
    if (body === undefined) return;
    const ch = chapters.get(req.params.chapterId.toLowerCase());
    if (!ch) return mdError(res, 404, `Chapter ${req.params.chapterId} not found`);
    if (ch.userId !== session.user.id) return mdError(res, 403, 'You may not edit this chapter');
    if (!Number.isInteger(body?.version) || body.version < 1) return mdError(res, 400, 'version: must be an integer >= 1');
    if (body.version !== ch.version) return mdError(res, 400, `version: the chapter is at version ${ch.version}, not ${body.version}`);
    if (alreadyOpen(session, res)) return;
    const up = newUpload(session, { mangaId: ch.mangaId, groupIds: ch.groupIds, chapterId: ch.id });
    for (const p of ch.pages) newFile(up, { ...p, source: 'remote', id: p.id });
    entity(res, uploadEntity(up, { includeFiles: true }));
  }));

  r.post('/upload/check-approval-required', api(async (session, req, res) => {
    const body = await jsonBody(req, res, LIMITS.approvalBody);
    if (body === undefined) return;
    if (!isUuid(body?.manga) || typeof body.locale !== 'string') return mdError(res, 400, 'manga (UUID) and locale are required');
    const manga = body.manga.toLowerCase();
    // Newer API: 404 with {result:"ok"} and no requiresApproval when the manga does not exist.
    if (!mangas.has(manga)) return sendJson(res, 404, { result: 'ok' });
    const forced = session.options.approvalRequired;
    const hasLocale = [...chapters.values()].some(c => c.mangaId === manga && c.attributes.translatedLanguage === body.locale);
    ok(res, { requiresApproval: typeof forced === 'boolean' ? forced : !hasLocale });
  }));

  r.post('/upload/:id', api(async (session, req, res) => {
    const up = ownOpen(session, res, req.params.id);
    if (!up) return void req.resume();
    if (!String(req.headers['content-type'] || '').toLowerCase().startsWith('multipart/form-data')) {
      req.resume();
      return mdError(res, 400, 'Expected multipart/form-data');
    }
    let files;
    try {
      files = await fileParts(req);
    } catch {
      return mdError(res, 400, 'Malformed multipart body');
    }
    if (req.ctx?.entry) req.ctx.entry.files = files.map(f => ({ field: f.field, filename: f.filename, size: f.size, sha256: f.sha256 }));
    if (files.length === 0) return mdError(res, 400, 'No file in the request');
    if (files.length > LIMITS.filesPerRequest) return mdError(res, 400, `At most ${LIMITS.filesPerRequest} files per request (got ${files.length})`);
    const faults = pickFileFaults(session, files);
    const data = [];
    const errors = [];
    let bytes = up.files.filter(f => f.source === 'local').reduce((s, f) => s + f.size, 0);
    files.forEach((f, i) => {
      const fail = (status, detail) => errors.push(errorItem(status, `File "${f.filename}": ${detail}`));
      const rule = faults.get(i);
      if (rule) return fail(rule.status ?? 500, rule.detail ?? 'Failed to store the file, please try again');
      const mime = sniffImage(f.head);
      if (!mime) return fail(400, 'Invalid file type: only JPEG, PNG and GIF images are accepted');
      if (f.size > LIMITS.fileBytes) return fail(400, `File exceeds the ${LIMITS.fileBytes / 1e6} MB limit`);
      const dims = imageSize(mime, f.head);
      if (dims && (dims[0] >= LIMITS.dimension || dims[1] >= LIMITS.dimension)) return fail(400, `Image dimensions ${dims[0]}x${dims[1]} exceed ${LIMITS.dimension}px`);
      if (up.files.length >= LIMITS.filesPerSession) return fail(400, `An upload session holds at most ${LIMITS.filesPerSession} files`);
      if (bytes + f.size > LIMITS.sessionBytes) return fail(400, `An upload session holds at most ${LIMITS.sessionBytes / 1e6} MB`);
      bytes += f.size;
      data.push(fileEntity(newFile(up, { originalFileName: f.filename, size: f.size, sha256: f.sha256, mimeType: mime })));
    });
    // Partial success is HTTP 200: failed files are in `errors`, stored ones in `data`.
    sendJson(res, 200, { result: data.length ? 'ok' : 'error', errors, data });
  }));

  r.post('/upload/:id/commit', api(async (session, req, res) => {
    const body = await jsonBody(req, res, LIMITS.commitBody);
    if (body === undefined) return;
    const up = ownOpen(session, res, req.params.id);
    if (!up) return;
    const bad = checkDraft(body?.chapterDraft);
    if (bad) return mdError(res, 400, bad);
    const order = body.pageOrder;
    if (!Array.isArray(order) || order.length < 1 || order.length > LIMITS.filesPerSession) return mdError(res, 400, 'pageOrder: 1 to 500 file ids');
    if (new Set(order).size !== order.length) return mdError(res, 400, 'pageOrder: duplicate file ids');
    const byId = new Map(up.files.map(f => [f.id, f]));
    const missing = order.find(id => !byId.has(id));
    if (missing !== undefined) return mdError(res, 400, `pageOrder: ${missing} is not a file of this upload session`);
    if ('termsAccepted' in body && typeof body.termsAccepted !== 'boolean') return mdError(res, 400, 'termsAccepted: must be a boolean');
    if (session.options.requireTerms && body.termsAccepted !== true) {
      return mdError(res, 400, 'You must accept the terms of service (termsAccepted) to upload chapters');
    }
    const now = mdTime();
    const pages = order.map(id => byId.get(id));
    const d = body.chapterDraft;
    const attributes = {
      volume: d.volume,
      chapter: d.chapter,
      title: d.title,
      translatedLanguage: d.translatedLanguage,
      externalUrl: d.externalUrl ?? null,
      publishAt: d.publishAt ?? now.slice(0, 19),
      readableAt: d.publishAt ?? now.slice(0, 19)
    };
    let ch;
    if (up.chapterId) {
      ch = chapters.get(up.chapterId);
      Object.assign(ch, { attributes, pages, version: ch.version + 1, updatedAt: now, termsAccepted: body.termsAccepted ?? null });
    } else {
      ch = { id: randomUUID(), sessionId: session.id, userId: session.user.id, mangaId: up.mangaId, groupIds: up.groupIds, attributes, pages, version: 1, createdAt: now, updatedAt: now, termsAccepted: body.termsAccepted ?? null,
        listedAt: Date.now() + (session.options.listingDelayMs ?? 0) };
      chapters.set(ch.id, ch);
    }
    // Files missing from pageOrder are deleted.
    up.files = pages.slice();
    up.state = 'committed';
    up.committedChapterId = ch.id;
    session.user.openUploadId = null;
    entity(res, chapterEntity(ch));
  }));

  r.delete('/upload/:id/batch', api(async (session, req, res) => {
    const body = await jsonBody(req, res, LIMITS.batchDeleteBody);
    if (body === undefined) return;
    const up = ownOpen(session, res, req.params.id);
    if (!up) return;
    if (!Array.isArray(body) || body.length < 1 || body.some(id => typeof id !== 'string')) return mdError(res, 400, 'Body must be a non-empty array of file ids');
    const ids = new Set(body);
    up.files = up.files.filter(f => !ids.has(f.id));
    ok(res);
  }));

  r.delete('/upload/:id/:fileId', api((session, req, res) => {
    const up = ownOpen(session, res, req.params.id);
    if (!up) return;
    const i = up.files.findIndex(f => f.id === req.params.fileId);
    if (i < 0) return mdError(res, 404, `File ${req.params.fileId} not found in this upload session`);
    up.files.splice(i, 1);
    ok(res);
  }));

  r.delete('/upload/:id', api((session, req, res) => {
    const up = ownOpen(session, res, req.params.id);
    if (!up) return;
    up.state = 'deleted';
    up.deletedAt = new Date().toISOString();
    session.user.openUploadId = null;
    ok(res);
  }));

  // Keycloak's token endpoint for personal clients (form-encoded).
  r.post(TOKEN_PATH, async (req, res) => {
    const raw = await readRawBody(req, 16 * 1024).catch(() => Buffer.alloc(0));
    const form = Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
    const oauthError = (status, error, description) => sendJson(res, status, { error, error_description: description });
    if (!String(req.headers['content-type'] || '').startsWith('application/x-www-form-urlencoded')) {
      return oauthError(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
    }
    if (form.client_id !== PERSONAL_CLIENT.clientId || form.client_secret !== PERSONAL_CLIENT.clientSecret) {
      return oauthError(401, 'invalid_client', 'Invalid client or Invalid client credentials');
    }
    let pair;
    if (form.grant_type === 'password') {
      const session = [...registry.sessions.values()].find(s => s.user && s.user.username === form.username);
      if (!session || session.user.password !== form.password) return oauthError(401, 'invalid_grant', 'Invalid user credentials');
      pair = registry.issueToken(session, session.user);
    } else if (form.grant_type === 'refresh_token') {
      const { pair: old, error } = registry.checkRefreshToken(form.refresh_token || '');
      if (error) return oauthError(400, 'invalid_grant', error === 'expired' ? 'Token is not active' : 'Invalid refresh token');
      registry.revoke(old);
      pair = registry.issueToken(old.session, old.user);
    } else {
      return oauthError(400, 'unsupported_grant_type', 'Unsupported grant_type');
    }
    sendJson(res, 200, {
      access_token: pair.accessToken,
      expires_in: pair.expiresIn,
      refresh_expires_in: pair.refreshExpiresIn,
      refresh_token: pair.refreshToken,
      token_type: 'Bearer',
      'not-before-policy': 0,
      session_state: randomUUID(),
      scope: 'email profile groups'
    });
  });

  return r;
}
