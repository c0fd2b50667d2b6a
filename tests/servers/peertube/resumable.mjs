// PeerTube fake: the two resumable routes, backed by the real @uploadx/core handler + DiskStorage,
// wired the way PeerTube wires them (server/core/lib/uploadx.ts, controllers/api/videos/upload.ts,
// controllers/api/users/user-imports.ts).
import { mkdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { DiskStorage, getBaseUrl, Uploadx } from '@uploadx/core';
import express from 'express';
import { fileSize, parseAnyBody, sendJson, sendText, sha256File } from '../common.mjs';
import { authenticate } from './auth.mjs';
import { checkChannel, checkVideoFile, isQuotaExceeded, videoFieldErrors } from './checks.mjs';
import { createVideo, docsFor, fail, failValidation, newImportId, userById } from './state.mjs';

const VIDEO_PATH = '/api/v1/videos/upload-resumable';
const IMPORT_PATH = '/api/v1/users/:userId/imports/import-resumable';

// PT-dev whitelist (resumableInitMetadataFieldsFactory): uploadx keys + video keys.
const UPLOADX_FIELDS = ['name', 'title', 'originalName', 'filename', 'mimeType', 'contentType', 'type', 'filetype', 'size', 'lastModified'];
const VIDEO_FIELDS = ['channelId', 'privacy', 'category', 'licence', 'language', 'description', 'support', 'tags', 'commentsPolicy',
  'downloadEnabled', 'nsfw', 'nsfwSummary', 'nsfwFlags', 'waitTranscoding', 'scheduleUpdate', 'originallyPublishedAt', 'videoPasswords',
  'generateTranscription', 'pluginData'];
const pick = (obj, keys) => Object.fromEntries(keys.filter(k => obj[k] !== undefined).map(k => [k, obj[k]]));

const IMPORT_STATES = { 1: 'Pending', 2: 'Processing', 3: 'Completed', 4: 'Failed' };

/** uploadx user identifier: PeerTube uses the user id; we add the session so sessions never share upload ids. */
const uploadxUserId = pt => `${pt.user.id}@${pt.session.id}`;

/** Location base per session option `locationForm` ('uploadx' = whatever uploadx 7 computes). */
function locationBase(req) {
  const form = req.pt?.session.options.locationForm ?? 'uploadx';
  const host = req.headers.host;
  if (form === 'absolute') return `${req.protocol || 'http'}://${host}`;
  if (form === 'protocol-relative') return `//${host}`;
  if (form === 'path') return '';
  return getBaseUrl(req);
}

const sleep = ms => new Promise(r => setTimeout(r, ms));

export function resumableRoutes({ registry, dataDir, uploadIndex }) {
  const router = express.Router();
  const auth = authenticate(registry);
  const processing = new Set();

  function makeUploadx(kind) {
    const directory = join(dataDir, kind === 'video' ? 'resumable-videos' : 'resumable-imports');
    mkdirSync(directory, { recursive: true });
    const storage = new DiskStorage({
      directory,
      expiration: { maxAge: undefined, rolling: true },
      maxMetadataSize: '10MB',
      namingFunction: file => `${file.userId}-${file.id}${extname(String(file.metadata.filename ?? ''))}`,
      baseUrl: locationBase
    });
    const ux = new Uploadx({ storage, userIdentifier: req => (req.pt ? uploadxUserId(req.pt) : undefined) });

    const sessionOf = file => registry.get(String(file.userId).split('@')[1]);
    const onCreatedOrPart = file => {
      const session = sessionOf(file);
      if (!session) return;
      const existing = session.uploads.find(u => u.uploadId === file.id && u.state === 'partial');
      if (existing) return void (existing.metadata = file.metadata);
      session.uploads.push({
        kind,
        uploadId: file.id,
        name: kind === 'video' ? file.metadata.name : file.metadata.filename,
        filename: file.metadata.filename,
        contentType: file.contentType,
        metadata: file.metadata,
        size: file.size,
        state: 'partial',
        createdAt: new Date().toISOString(),
        path: storage.getFilePath(file.name)
      });
      uploadIndex.set(file.id, session);
    };
    ux.on('created', onCreatedOrPart);
    ux.on('part', onCreatedOrPart);
    ux.on('deleted', file => {
      const rec = sessionOf(file)?.uploads.find(u => u.uploadId === file.id && u.state === 'partial');
      if (rec) Object.assign(rec, { state: 'deleted', deletedAt: new Date().toISOString() });
    });
    return ux;
  }

  const videoUx = makeUploadx('video');
  const importUx = makeUploadx('import');

  const recordOf = (session, id) => session.uploads.find(u => u.uploadId === id && u.state === 'partial');

  /** The completion step shared by both routes; `finish` returns the JSON answer, or null after failing. */
  async function complete(ux, req, res, finish) {
    const file = req.body;
    if (processing.has(file.id)) {
      res.setHeader('Retry-After', '300');
      return fail(res, { status: 503, message: 'The upload is already being processed' });
    }
    processing.add(file.id);
    const session = req.pt.session;
    const rec = recordOf(session, file.id);
    try {
      const { sha256, size } = await sha256File(ux.storage.getFilePath(file.name));
      if (session.options.processingMs) await sleep(session.options.processingMs);
      const answer = await finish(file, { sha256, size });
      // Clean the upload *before* answering: a re-sent last chunk then deterministically gets 404.
      await ux.storage.delete({ id: file.id }).catch(() => {});
      const now = new Date().toISOString();
      if (!answer) return void (rec && Object.assign(rec, { state: 'deleted', deletedAt: now }));
      if (rec) Object.assign(rec, { state: 'complete', sha256, received: size, completedAt: now, result: answer });
      sendJson(res, 200, answer);
    } finally {
      processing.delete(file.id);
    }
  }

  // Every init reads its body first (JSON, urlencoded or multipart with thumbnailfile/previewfile).
  async function readInitBody(req, res, route) {
    try {
      const body = await parseAnyBody(req);
      for (const f of body.files) req.pt.session.files.push({ route, ...f, fields: body.fields });
      return body;
    } catch (err) {
      fail(res, { status: err.status || 400, message: err.message });
      return null;
    }
  }

  function headerErrors(req, fields) {
    const errors = [];
    if (fields.filename === undefined) errors.push({ param: 'filename', value: undefined });
    const len = req.headers['x-upload-content-length'];
    if (len === undefined || !/^[+-]?([0-9]*[.])?[0-9]+$/.test(len)) {
      errors.push({ param: 'x-upload-content-length', location: 'headers', value: len, msg: 'Should specify the file length' });
    }
    if (req.headers['x-upload-content-type'] === undefined) {
      errors.push({ param: 'x-upload-content-type', location: 'headers', value: undefined, msg: 'Should specify the file mimetype' });
    }
    return errors;
  }

  /** PeerTube keeps only whitelisted keys and tells uploadx the metadata is JSON (req.body). */
  function handToUploadx(ux, req, res, metadata) {
    req.body = metadata;
    req.headers['content-type'] = 'application/json; charset=utf-8';
    return ux.upload(req, res);
  }

  // ---- videos --------------------------------------------------------------

  router.post(VIDEO_PATH, auth, async (req, res) => {
    res.locals.docUrl = docsFor('uploadResumableInit');
    const body = await readInitBody(req, res, 'upload-resumable-init');
    if (!body) return;
    const { fields } = body;
    const errors = headerErrors(req, fields);
    if (errors.length) return failValidation(req, res, errors);
    const more = videoFieldErrors(fields);
    const filename = fields.filename;
    if (typeof filename !== 'string' || filename.length < 1 || filename.length > 1000) more.push({ param: 'filename', value: filename });
    if (more.length) return failValidation(req, res, more);
    if (!checkChannel(req, res, fields.channelId)) return;
    const size = Number(req.headers['x-upload-content-length']);
    if (!checkVideoFile(req, res, { mimetype: req.headers['x-upload-content-type'], size })) return;
    const metadata = pick(fields, [...UPLOADX_FIELDS, ...VIDEO_FIELDS]);
    const thumbs = body.files.filter(f => f.fieldname === 'thumbnailfile' || f.fieldname === 'previewfile');
    for (const t of thumbs) metadata[t.fieldname] = { filename: t.filename, size: t.size, sha256: t.sha256 };
    handToUploadx(videoUx, req, res, metadata);
  });

  router.delete(VIDEO_PATH, auth, (req, res) => videoUx.upload(req, res));

  router.put(VIDEO_PATH, auth, (req, res, next) => videoUx.upload(req, res, next), (req, res) =>
    complete(videoUx, req, res, (file, { sha256, size }) => {
      res.locals.docUrl = docsFor('uploadResumable');
      if (!checkChannel(req, res, file.metadata.channelId)) return null;
      const { user, session } = req.pt;
      const video = createVideo({ session, user, channelId: Number(file.metadata.channelId), name: String(file.metadata.name).trim(),
        extra: { source: 'resumable', uploadId: file.id, filename: file.metadata.filename, size, sha256, privacy: Number(file.metadata.privacy ?? 3) } });
      session.usedBytes += size;
      return { video: { id: video.id, shortUUID: video.shortUUID, uuid: video.uuid } };
    }).catch(err => fail(res, { status: 500, message: String(err?.message || err) })));

  // ---- user imports --------------------------------------------------------

  /** checkUserIdRight: 400 bad id, 404 unknown user, 403 another user. */
  function checkUserIdRight(req, res) {
    if (!/^\d+$/.test(req.params.userId)) {
      failValidation(req, res, [{ param: 'userId', location: 'params', value: req.params.userId, msg: 'Should have a valid userId' }]);
      return null;
    }
    const user = userById(req.params.userId);
    if (!user) {
      fail(res, { status: 404, message: 'User not found' });
      return null;
    }
    if (user.id !== req.pt.user.id) {
      fail(res, { status: 403, message: 'Cannot manage imports of another user' });
      return null;
    }
    return user;
  }

  const latestImport = (session, userId) => session.userImports.filter(i => i.userId === userId).at(-1);

  router.post(IMPORT_PATH, auth, async (req, res) => {
    res.locals.docUrl = docsFor('uploadResumableInitUserImport');
    const body = await readInitBody(req, res, 'import-resumable-init');
    if (!body) return;
    const { fields } = body;
    const errors = headerErrors(req, fields);
    if (!/^\d+$/.test(req.params.userId)) errors.unshift({ param: 'userId', location: 'params', value: req.params.userId, msg: 'Should have a valid userId' });
    if (errors.length) return failValidation(req, res, errors);
    if (!String(fields.filename).endsWith('.zip')) return fail(res, { message: 'User import file must be a zip' });
    const user = checkUserIdRight(req, res);
    if (!user) return;
    const { session } = req.pt;
    if (isQuotaExceeded(session, Number(req.headers['x-upload-content-length']))) {
      return fail(res, { status: 413, message: 'User video quota is exceeded with this import', type: 'quota_reached' });
    }
    const latest = latestImport(session, user.id);
    if (latest && latest.state !== 3 && latest.state !== 4) return fail(res, { message: 'An import is already being processed' });
    handToUploadx(importUx, req, res, pick(fields, UPLOADX_FIELDS));
  });

  router.delete(IMPORT_PATH, auth, (req, res) => importUx.upload(req, res));

  router.put(IMPORT_PATH, auth, (req, res, next) => importUx.upload(req, res, next), (req, res) =>
    complete(importUx, req, res, () => {
      const user = checkUserIdRight(req, res);
      if (!user) return null;
      const { session } = req.pt;
      const userImport = { id: newImportId(), userId: user.id, state: 1, createdAt: new Date().toISOString() };
      session.userImports.push(userImport);
      setTimeout(() => { userImport.state = 3; }, session.options.importCompleteMs ?? 1000).unref();
      return { userImport: { id: userImport.id } };
    }).catch(err => fail(res, { status: 500, message: String(err?.message || err) })));

  router.get('/api/v1/users/:userId/imports/latest', auth, (req, res) => {
    const user = checkUserIdRight(req, res);
    if (!user) return;
    const latest = latestImport(req.pt.session, user.id);
    if (!latest) return sendText(res, 404, 'Not Found');
    sendJson(res, 200, { id: latest.id, state: { id: latest.state, label: IMPORT_STATES[latest.state] }, createdAt: latest.createdAt });
  });

  /** Control view: every resumable upload of a session, with bytes currently on disk. */
  function listUploads(session) {
    return session.uploads.map(({ path, ...u }) => ({
      ...u,
      received: u.state === 'partial' ? fileSize(path) : u.state === 'complete' ? u.received : 0
    }));
  }

  return { router, listUploads };
}
