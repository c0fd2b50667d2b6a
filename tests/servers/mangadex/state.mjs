// MangaDex fake: users, mangas, groups, upload sessions and chapters; the JSON envelopes; image
// sniffing; per-user rate limits; request classification for fault rules and the request log.
import { randomUUID } from 'node:crypto';
import { sendJson } from '../common.mjs';

export const MB = 1000 * 1000; // MangaDex's "20 MB" / "150 MB", read as decimal (OPEN, see the spec notes)
export const LIMITS = {
  filesPerRequest: 10,
  fileBytes: 20 * MB,
  sessionBytes: 150 * MB,
  filesPerSession: 500,
  dimension: 10000, // width and height must be below
  groups: 10,
  beginBody: 4 * 1024,
  // The spec says 4 KB for the commit body, which cannot hold 500 page ids (OPEN): allow 64 KB.
  commitBody: 64 * 1024,
  batchDeleteBody: 20 * 1024,
  approvalBody: 4 * 1024
};

export const mangas = new Map(); // id → { id, title }
export const groups = new Map(); // id → { id, name }
export const chapters = new Map(); // id → chapter record
export const uploads = new Map(); // upload session id → record (across control sessions)

export const PERSONAL_CLIENT = { clientId: 'personal-client-chunkup-test', clientSecret: 'chunkup-test-client-secret' };

/** Everything a control session holds besides the common fields: one MangaDex user. */
export function ensureState(session) {
  if (!session.user) {
    const id = randomUUID();
    session.user = { id, username: `user-${session.id}`, password: 'secret', openUploadId: null };
  }
  if (!session.mangaId) {
    session.mangaId = newManga(`Manga of ${session.id}`);
    session.otherMangaId = newManga(`Other manga of ${session.id}`);
    session.groupId = newGroup(`Group of ${session.id}`);
  }
  session.fileFaults ??= [];
  session.rate ??= new Map();
  return session;
}

export function newManga(title) {
  const id = randomUUID();
  mangas.set(id, { id, title });
  return id;
}

export function newGroup(name) {
  const id = randomUUID();
  groups.set(id, { id, name });
  return id;
}

// ---------------------------------------------------------------------------
// Envelopes

/** `{result:"error", errors:[{id,status,title,detail,context}]}` with the HTTP status. */
export function mdError(res, status, detail, { title, context = null, headers = {} } = {}) {
  sendJson(res, status, { result: 'error', errors: [errorItem(status, detail, { title, context })] }, headers);
}

export function errorItem(status, detail, { title, context = null } = {}) {
  return { id: randomUUID(), status, title: title ?? TITLES[status] ?? 'Error', detail, context };
}

const TITLES = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error'
};

/** `{result:"ok", response:"entity", data}` */
export const entity = (res, data, headers = {}) => sendJson(res, 200, { result: 'ok', response: 'entity', data }, headers);
export const ok = (res, extra = {}) => sendJson(res, 200, { result: 'ok', ...extra });

export const isUuid = s => typeof s === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

// ---------------------------------------------------------------------------
// Upload sessions

/** MangaDex's timestamps: `2018-04-11T20:23:32+00:00` (seconds, explicit offset). */
export const mdTime = (ms = Date.now()) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');

export function newUpload(session, { mangaId, groupIds = [], chapterId = null }) {
  const now = mdTime();
  const up = { id: randomUUID(), session, userId: session.user.id, mangaId, groupIds, chapterId, state: 'open', files: [], createdAt: now, updatedAt: now, version: 1 };
  uploads.set(up.id, up);
  session.user.openUploadId = up.id;
  return up;
}

export function newFile(up, { originalFileName, size, sha256, mimeType, source = 'local', id = randomUUID() }) {
  const f = { id, originalFileName, size, sha256, mimeType, source, version: 1 };
  up.files.push(f);
  up.updatedAt = mdTime();
  return f;
}

// `fileHash` is the SHA-256 (hex) of the stored bytes, in the file's attributes (spec
// UploadSessionFileAttributes {originalFileName, fileHash, fileSize, mimeType, source, version};
// shared/protocols/cloudreve-and-mangadex.md, Corrections 2026-12-07).
export const fileEntity = f => ({
  id: f.id,
  type: 'upload_session_file',
  attributes: { originalFileName: f.originalFileName, fileHash: f.sha256, fileSize: f.size, mimeType: f.mimeType, source: f.source, version: f.version }
});

export function uploadEntity(up, { includeFiles = false } = {}) {
  const rels = [{ id: up.userId, type: 'user' }];
  if (up.mangaId) rels.push({ id: up.mangaId, type: 'manga' });
  for (const g of up.groupIds) rels.push({ id: g, type: 'scanlation_group' });
  if (up.chapterId) rels.push({ id: up.chapterId, type: 'chapter' });
  for (const f of up.files) rels.push(includeFiles ? fileEntity(f) : { id: f.id, type: 'upload_session_file' });
  return {
    id: up.id,
    type: 'upload_session',
    attributes: {
      isCommitted: up.state === 'committed',
      isProcessed: up.state === 'committed',
      isDeleted: up.state === 'deleted',
      version: up.version,
      createdAt: up.createdAt,
      updatedAt: up.updatedAt
    },
    relationships: rels
  };
}

export const uploadView = up => ({
  id: up.id,
  state: up.state,
  mangaId: up.mangaId,
  groupIds: up.groupIds,
  chapterId: up.chapterId,
  createdAt: up.createdAt,
  updatedAt: up.updatedAt,
  committedChapterId: up.committedChapterId ?? null,
  files: up.files.map(f => ({ id: f.id, originalFileName: f.originalFileName, size: f.size, sha256: f.sha256, mimeType: f.mimeType, source: f.source }))
});

export const chapterView = ch => ({
  id: ch.id,
  mangaId: ch.mangaId,
  groupIds: ch.groupIds,
  ...ch.attributes,
  version: ch.version,
  termsAccepted: ch.termsAccepted,
  pages: ch.pages.map(p => ({ id: p.id, originalFileName: p.originalFileName, size: p.size, sha256: p.sha256, mimeType: p.mimeType }))
});

export function chapterEntity(ch) {
  return {
    id: ch.id,
    type: 'chapter',
    attributes: { ...ch.attributes, pages: ch.pages.length, version: ch.version, createdAt: ch.createdAt, updatedAt: ch.updatedAt, isUnavailable: false },
    relationships: [
      { id: ch.mangaId, type: 'manga' },
      ...ch.groupIds.map(g => ({ id: g, type: 'scanlation_group' })),
      { id: ch.userId, type: 'user' }
    ]
  };
}

// ---------------------------------------------------------------------------
// Images

/** JPEG / PNG / GIF by magic bytes, else null. */
export function sniffImage(head) {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (head.length >= 6 && /^GIF8[79]a$/.test(head.subarray(0, 6).toString('latin1'))) return 'image/gif';
  return null;
}

/** [width, height] from a PNG IHDR or a GIF screen descriptor, when present. */
export function imageSize(mime, head) {
  if (mime === 'image/png' && head.length >= 24 && head.subarray(12, 16).toString('latin1') === 'IHDR') {
    return [head.readUInt32BE(16), head.readUInt32BE(20)];
  }
  if (mime === 'image/gif' && head.length >= 10) return [head.readUInt16LE(6), head.readUInt16LE(8)];
  if (mime === 'image/jpeg') return jpegSize(head);
  return null;
}

/** [width, height] from the first SOFn segment of a JPEG head, or null when it is not in `head`. */
function jpegSize(head) {
  let i = 2;
  while (i + 3 < head.length) {
    if (head[i] !== 0xff) return null;
    let marker = head[i + 1];
    while (marker === 0xff && i + 2 < head.length) marker = head[++i + 1];
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue; }
    if (marker >= 0xd8 && marker <= 0xda) return null;
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      return i + 8 < head.length ? [head.readUInt16BE(i + 7), head.readUInt16BE(i + 5)] : null;
    }
    const len = head.readUInt16BE(i + 2);
    if (len < 2) return null;
    i += 2 + len;
  }
  return null;
}

// ---------------------------------------------------------------------------
// Rate limits (per user and bucket, fixed windows), after the 2022 spec table

export const RATE_BUCKETS = {
  session: 'get-session',
  begin: 'begin',
  'begin-edit': 'begin',
  commit: 'commit',
  abandon: 'abandon',
  upload: 'files',
  'delete-file': 'files',
  'delete-batch': 'files',
  'check-approval': 'approval'
};

export const DEFAULT_RATE_LIMITS = {
  'get-session': [30, 60],
  begin: [20, 60],
  commit: [10, 60],
  abandon: [30, 60],
  files: [250, 60],
  approval: [60, 60]
};

/**
 * Counts this request; returns the X-RateLimit-* headers and whether it is over the limit.
 * X-RateLimit-Retry-After is a Unix timestamp in seconds (when the window ends).
 */
export function rateLimit(session, route) {
  const bucket = RATE_BUCKETS[route];
  if (!bucket) return { headers: {}, limited: false };
  const [limit, windowSec] = session.options.rateLimits?.[bucket] ?? DEFAULT_RATE_LIMITS[bucket];
  const now = Date.now();
  let w = session.rate.get(bucket);
  if (!w || now >= w.start + windowSec * 1000) {
    w = { start: now, count: 0 };
    session.rate.set(bucket, w);
  }
  w.count++;
  const headers = {
    'X-RateLimit-Limit': String(limit),
    'X-RateLimit-Remaining': String(Math.max(0, limit - w.count)),
    'X-RateLimit-Retry-After': String(Math.ceil((w.start + windowSec * 1000) / 1000))
  };
  return { headers, limited: w.count > limit };
}

// ---------------------------------------------------------------------------
// Routes (for fault rules and the request log)

export const TOKEN_PATH = '/realms/mangadex/protocol/openid-connect/token';

export function classify(method, path) {
  if (path === TOKEN_PATH) return 'token';
  if (path === '/upload') return method === 'GET' ? 'session' : 'other';
  if (path === '/upload/begin') return 'begin';
  if (path === '/upload/check-approval-required') return 'check-approval';
  if (path === '/chapter') return method === 'GET' ? 'chapter-list' : 'other';
  if (/^\/upload\/begin\/[^/]+$/.test(path)) return 'begin-edit';
  if (/^\/upload\/[^/]+\/commit$/.test(path)) return 'commit';
  if (/^\/upload\/[^/]+\/batch$/.test(path) && method === 'DELETE') return 'delete-batch';
  if (/^\/upload\/[^/]+\/[^/]+$/.test(path) && method === 'DELETE') return 'delete-file';
  if (/^\/upload\/[^/]+$/.test(path)) return method === 'POST' ? 'upload' : method === 'DELETE' ? 'abandon' : 'other';
  return 'other';
}
