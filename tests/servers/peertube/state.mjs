// PeerTube fake: fixed users/channels, in-memory videos, problem+json helper, request classification.
import { randomUUID } from 'node:crypto';
import { sendProblem } from '../common.mjs';

export const USERS = [
  { id: 1, username: 'alice', password: 'secret', channel: { id: 1, name: 'alice_channel', displayName: 'Alice channel' } },
  { id: 2, username: 'bob', password: 'secret', channel: { id: 2, name: 'bob_channel', displayName: 'Bob channel' } }
];
export const userById = id => USERS.find(u => u.id === Number(id));
export const userByName = name => USERS.find(u => u.username === name);
export const channelById = id => USERS.map(u => ({ ...u.channel, owner: u })).find(c => c.id === Number(id));
export const channelByHandle = handle => {
  const name = String(handle).split('@')[0];
  return USERS.map(u => ({ ...u.channel, owner: u })).find(c => c.name === name);
};

export const OAUTH_CLIENT = { client_id: 'chunkuptestclient000000000000000', client_secret: 'chunkuptestsecret00000000000000s' };

export const VIDEO_EXTNAMES = ['.mp4', '.ogv', '.webm', '.mkv', '.mov', '.qt', '.mqv', '.m4v', '.flv', '.f4v', '.wmv', '.avi', '.3gp',
  '.3gpp', '.3g2', '.3gpp2', '.nut', '.mts', '.m2ts', '.mpv', '.m2v', '.m1v', '.mpg', '.mpe', '.mpeg', '.vob', '.mxf',
  '.mp3', '.wma', '.wav', '.flac', '.aac', '.m4a', '.ac3'];

// Global (cross-session) video table so ids/uuids are unique and captions can find any video.
export const videos = [];
let nextVideoId = 1;
let nextImportId = 1;

const BASE58 = '123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ';
export function uuidToShort(uuid) {
  let n = BigInt('0x' + uuid.replace(/-/g, ''));
  let out = '';
  while (n > 0n) {
    out = BASE58[Number(n % 58n)] + out;
    n /= 58n;
  }
  return out;
}

export function createVideo({ session, user, channelId, name, extra = {} }) {
  const uuid = randomUUID();
  const createdAt = new Date().toISOString();
  const video = { id: nextVideoId++, uuid, shortUUID: uuidToShort(uuid), name, channelId, userId: user.id, sessionId: session.id, captions: {},
    createdAt, privacy: 3, state: 2, ...extra };
  videos.push(video);
  return video;
}

export const findVideo = idOrUuid =>
  videos.find(v => String(v.id) === String(idOrUuid) || v.uuid === idOrUuid || v.shortUUID === idOrUuid);

export const newImportId = () => nextImportId++;

export const DOCS = 'https://docs.joinpeertube.org/api-rest-reference.html';
const TYPE_BASE = `${DOCS}#section/Errors/`;

/**
 * PeerTube's res.fail() (middlewares/error.ts): RFC 7807 + extensions { ...data, docs, code, error }.
 * `error` is the deprecated copy of the message sent by PeerTube <= 7.x (dropped in the dev branch).
 */
export function fail(res, { status = 400, message, type, docs, instance, data = {}, headers = {} }) {
  sendProblem(res, {
    status,
    detail: message,
    type: type ? TYPE_BASE + type : undefined,
    instance,
    extensions: { ...data, docs: docs ?? res.locals?.docUrl ?? DOCS, code: type, error: message },
    headers
  });
}

/** express-validator style failure: 400 "Incorrect request parameters: a, b" + invalid-params. */
export function failValidation(req, res, errors) {
  const mapped = {};
  for (const e of errors) {
    mapped[e.param] = { type: 'field', value: e.value, msg: e.msg || 'Invalid value', path: e.param, param: e.param, location: e.location || 'body' };
  }
  fail(res, {
    message: 'Incorrect request parameters: ' + Object.keys(mapped).join(', '),
    instance: req.originalUrl,
    data: { 'invalid-params': mapped }
  });
}

export const docsFor = operationId => `${DOCS}#operation/${operationId}`;

// ---------------------------------------------------------------------------
// Route classification, used for fault rules and the request log.

export const RESUMABLE_PATHS = [
  { kind: 'video', re: /^\/api\/v1\/videos\/upload-resumable\/?$/ },
  { kind: 'import', re: /^\/api\/v1\/users\/[^/]+\/imports\/import-resumable\/?$/ }
];

const OTHER_ROUTES = [
  ['token', /^\/api\/v1\/users\/token$/],
  ['oauth-client', /^\/api\/v1\/oauth-clients\/local$/],
  ['legacy-upload', /^\/api\/v1\/videos\/upload$/],
  ['caption', /^\/api\/v1\/videos\/[^/]+\/captions\/[^/]+$/],
  ['avatar', /^\/api\/v1\/(users\/me|video-channels\/[^/]+)\/avatar\/pick$/],
  ['banner', /^\/api\/v1\/video-channels\/[^/]+\/banner\/pick$/],
  ['video-import', /^\/api\/v1\/videos\/imports$/],
  ['video-imports-list', /^\/api\/v1\/users\/me\/videos\/imports$/],
  ['my-videos', /^\/api\/v1\/users\/me\/videos$/],
  ['import-latest', /^\/api\/v1\/users\/[^/]+\/imports\/latest$/]
];

/** Route name: init | chunk | offset | delete for resumable routes, else a name from OTHER_ROUTES or 'other'. */
export function classify(method, path, headers) {
  if (RESUMABLE_PATHS.some(r => r.re.test(path))) {
    if (method === 'POST') return 'init';
    if (method === 'DELETE') return 'delete';
    if (method === 'PUT') {
      const range = String(headers['content-range'] || '');
      const len = Number(headers['content-length'] || 0);
      return /^bytes \*\//.test(range) || (!len && headers['transfer-encoding'] === undefined) ? 'offset' : 'chunk';
    }
    return 'other';
  }
  for (const [name, re] of OTHER_ROUTES) if (re.test(path)) return name;
  return 'other';
}
