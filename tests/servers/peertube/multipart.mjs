// PeerTube fake: the small multipart routes (legacy upload, captions, avatars/banners, video imports).
// Each received file is hashed and recorded in the session (`GET /__control/session/:id/files`).
import { randomUUID } from 'node:crypto';
import { extname } from 'node:path';
import express from 'express';
import { parseAnyBody, sendJson } from '../common.mjs';
import { authenticate } from './auth.mjs';
import { checkChannel, checkVideoFile, videoFieldErrors } from './checks.mjs';
import { channelByHandle, createVideo, docsFor, fail, failValidation, findVideo, newImportId } from './state.mjs';

const MB = 1024 * 1024;
const IMAGE_EXT = ['.png', '.jpeg', '.jpg', '.gif', '.webp'];
const IMAGE_MIME = /^image\/(png|jpe?g|gif|webp)$/;
const CAPTION_EXT = ['.vtt', '.srt'];
const CAPTION_MIME = /^(text\/vtt|application\/x-subrip|text\/plain)$/;
const ACTOR_SIZES = { avatars: [1500, 600, 120, 48], banners: [1920, 600] };
const IMPORT_STATES = { 1: 'Pending', 2: 'Success', 3: 'Failed', 4: 'Rejected', 5: 'Cancelled', 6: 'Processing' };

const okFile = (file, exts, mime, max) =>
  !!file && file.size <= max && (exts.includes(extname(file.filename).toLowerCase()) || mime.test(file.contentType));

/** Unicast check of PeerTube's video import validator (simplified: loopback/private/link-local refused). */
function isNonUnicast(url) {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return /^(localhost|127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|169\.254\.|0\.|::1$|fc|fd|fe80)/i.test(host);
}

export function multipartRoutes({ registry }) {
  const router = express.Router();
  const auth = authenticate(registry);

  /** Parse the body and record its files in the session under `route`; null (after failing) on a bad body. */
  async function readBody(req, res, route) {
    try {
      const body = await parseAnyBody(req);
      for (const f of body.files) req.pt.session.files.push({ route, ...f, fields: body.fields });
      return body;
    } catch (err) {
      fail(res, { status: err.status || 400, message: err.message });
      return null;
    }
  }
  const fileOf = (body, field) => body.files.find(f => f.fieldname === field);

  router.post('/api/v1/videos/upload', auth, async (req, res) => {
    res.locals.docUrl = docsFor('uploadLegacy');
    const body = await readBody(req, res, 'legacy-upload');
    if (!body) return;
    const videofile = fileOf(body, 'videofile');
    const errors = videoFieldErrors(body.fields);
    if (!videofile) errors.push({ param: 'videofile', value: undefined, msg: 'Should have a file' });
    if (errors.length) return failValidation(req, res, errors);
    if (!checkChannel(req, res, body.fields.channelId)) return;
    const mimetype = /^(video|audio)\//.test(videofile.contentType) ? videofile.contentType : 'application/octet-stream';
    if (!checkVideoFile(req, res, { mimetype, size: videofile.size })) return;
    const { user, session } = req.pt;
    const video = createVideo({ session, user, channelId: Number(body.fields.channelId), name: String(body.fields.name).trim(),
      extra: { source: 'legacy', filename: videofile.filename, size: videofile.size, sha256: videofile.sha256 } });
    session.usedBytes += videofile.size;
    sendJson(res, 200, { video: { id: video.id, shortUUID: video.shortUUID, uuid: video.uuid } });
  });

  router.put('/api/v1/videos/:id/captions/:lang', auth, async (req, res) => {
    res.locals.docUrl = docsFor('addVideoCaption');
    const body = await readBody(req, res, 'caption');
    if (!body) return;
    const errors = [];
    if (!/^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$/.test(req.params.lang)) {
      errors.push({ param: 'captionLanguage', location: 'params', value: req.params.lang, msg: 'Should have a valid caption language' });
    }
    const captionfile = fileOf(body, 'captionfile');
    if (!okFile(captionfile, CAPTION_EXT, CAPTION_MIME, 20 * MB)) {
      errors.push({ param: 'captionfile', value: undefined,
        msg: 'This caption file is not supported or too large. Please, make sure it is of the following type: .vtt, .srt' });
    }
    if (errors.length) return failValidation(req, res, errors);
    const video = findVideo(req.params.id);
    if (!video) return fail(res, { status: 404, message: 'Video not found' });
    if (video.userId !== req.pt.user.id) return fail(res, { status: 403, message: 'Cannot manage a video of another user.' });
    video.captions[req.params.lang] = { filename: captionfile.filename, size: captionfile.size, sha256: captionfile.sha256 };
    res.status(204).end();
  });

  /** Shared by the 3 image routes: field, result key (avatars|banners), optional channel handle. */
  async function pickImage(req, res, { field, key, route, handle }) {
    const body = await readBody(req, res, route);
    if (!body) return;
    const file = fileOf(body, field);
    if (!okFile(file, IMAGE_EXT, IMAGE_MIME, 4 * MB)) {
      return failValidation(req, res, [{ param: field, value: undefined,
        msg: `This file is not supported or too large. Please, make sure it is of the following type: ${IMAGE_EXT.join(', ')}` }]);
    }
    if (handle !== undefined) {
      const channel = channelByHandle(handle);
      if (!channel) return fail(res, { status: 404, message: 'Video channel not found' });
      if (channel.owner.id !== req.pt.user.id) {
        return fail(res, { status: 403, message: 'Only a user with sufficient right can access this account resource.' });
      }
    }
    const now = new Date().toISOString();
    const ext = extname(file.filename).toLowerCase() || '.jpg';
    sendJson(res, 200, {
      [key]: ACTOR_SIZES[key].map(width => {
        const path = `/lazy-static/${key}/${randomUUID()}${ext}`;
        return { path, fileUrl: `http://${req.headers.host}${path}`, width, createdAt: now, updatedAt: now };
      })
    });
  }

  router.post('/api/v1/users/me/avatar/pick', auth, (req, res) => {
    res.locals.docUrl = docsFor('addUserAvatar');
    return pickImage(req, res, { field: 'avatarfile', key: 'avatars', route: 'avatar' });
  });
  router.post('/api/v1/video-channels/:handle/avatar/pick', auth, (req, res) => {
    res.locals.docUrl = docsFor('addVideoChannelAvatar');
    return pickImage(req, res, { field: 'avatarfile', key: 'avatars', route: 'avatar', handle: req.params.handle });
  });
  router.post('/api/v1/video-channels/:handle/banner/pick', auth, (req, res) => {
    res.locals.docUrl = docsFor('addVideoChannelBanner');
    return pickImage(req, res, { field: 'bannerfile', key: 'banners', route: 'banner', handle: req.params.handle });
  });

  router.post('/api/v1/videos/imports', auth, async (req, res) => {
    res.locals.docUrl = docsFor('importVideo');
    const body = await readBody(req, res, 'video-import');
    if (!body) return;
    const { fields } = body;
    const torrentfile = fileOf(body, 'torrentfile');
    const errors = videoFieldErrors(fields, { nameOptional: true });
    let target = null;
    if (fields.targetUrl !== undefined) {
      try {
        target = new URL(String(fields.targetUrl));
        if (!/^https?:$/.test(target.protocol)) throw new Error('bad protocol');
      } catch {
        errors.push({ param: 'targetUrl', value: fields.targetUrl, msg: 'Should have a valid video URL' });
      }
    }
    if (fields.magnetUri !== undefined && !/^magnet:\?xt=urn:/i.test(String(fields.magnetUri))) {
      errors.push({ param: 'magnetUri', value: fields.magnetUri, msg: 'Should have a valid video magnet URI' });
    }
    if (torrentfile && !(extname(torrentfile.filename).toLowerCase() === '.torrent' && torrentfile.size <= 200 * 1024)) {
      errors.push({ param: 'torrentfile', value: undefined,
        msg: 'This torrent file is not supported or too large. Please, make sure it is of the following extensions: .torrent' });
    }
    if (errors.length) return failValidation(req, res, errors);
    if (!fields.targetUrl && !fields.magnetUri && !torrentfile) {
      return fail(res, { message: 'Should have a magnetUri or a targetUrl or a torrent file.' });
    }
    if (!checkChannel(req, res, fields.channelId)) return;
    if (target && isNonUnicast(target)) return fail(res, { status: 403, message: 'Cannot use non unicast IP as targetUrl.' });

    const { user, session } = req.pt;
    const magnetName = fields.magnetUri ? new URLSearchParams(String(fields.magnetUri).slice(8)).get('dn') : null;
    const torrentName = torrentfile ? torrentfile.filename : magnetName;
    const name = fields.name ? String(fields.name).trim() : torrentName || (target ? target.pathname.split('/').pop() || target.hostname : 'Imported video');
    const video = createVideo({ session, user, channelId: Number(fields.channelId), name, extra: { source: 'import' } });
    const now = new Date().toISOString();
    const videoImport = {
      id: newImportId(),
      targetUrl: fields.targetUrl ?? null,
      magnetUri: fields.magnetUri ?? null,
      torrentName: torrentName ?? null,
      state: { id: 1, label: IMPORT_STATES[1] },
      error: null,
      createdAt: now,
      updatedAt: now,
      video: { id: video.id, uuid: video.uuid, shortUUID: video.shortUUID, name: video.name, tags: [], channel: { id: Number(fields.channelId) } },
      videoChannelSync: null,
      userId: user.id
    };
    session.videoImports.push(videoImport);
    const { userId, ...formatted } = videoImport;
    sendJson(res, 200, formatted);
  });

  router.get('/api/v1/users/me/videos/imports', auth, (req, res) => {
    const int = (v, d) => (Number.isNaN(parseInt(v, 10)) ? d : parseInt(v, 10));
    const start = Math.max(0, int(req.query.start, 0));
    const count = Math.min(100, Math.max(0, int(req.query.count, 15)));
    const mine = req.pt.session.videoImports.filter(i => i.userId === req.pt.user.id).slice().reverse();
    sendJson(res, 200, { total: mine.length, data: mine.slice(start, start + count).map(({ userId, ...i }) => i) });
  });

  return router;
}
