// PeerTube fake: validators shared by the resumable, legacy and import routes
// (messages and status codes follow PeerTube's middlewares/validators).
import { channelById, fail, VIDEO_EXTNAMES } from './state.mjs';

const toInt = v => (v === undefined || v === null || v === '' ? null : Number.isInteger(Number(v)) ? Number(v) : NaN);

/** express-validator-like checks of the common video fields; returns a list of { param, value, msg }. */
export function videoFieldErrors(fields, { nameOptional = false } = {}) {
  const errors = [];
  const name = typeof fields.name === 'string' ? fields.name.trim() : fields.name;
  if (!(nameOptional && name === undefined) && (typeof name !== 'string' || name.length < 3 || name.length > 120)) {
    errors.push({ param: 'name', value: fields.name, msg: 'Should have a video name between 3 and 120 characters long' });
  }
  const channelId = toInt(fields.channelId);
  if (!(channelId > 0)) errors.push({ param: 'channelId', value: fields.channelId, msg: 'Invalid value' });
  if (fields.privacy !== undefined) {
    const p = toInt(fields.privacy);
    if (!(p >= 1 && p <= 5)) errors.push({ param: 'privacy', value: fields.privacy, msg: 'Invalid value' });
  }
  if (fields.tags !== undefined) {
    const tags = Array.isArray(fields.tags) ? fields.tags : [fields.tags];
    if (tags.length > 5 || tags.some(t => typeof t !== 'string' || t.length < 2 || t.length > 30)) {
      errors.push({ param: 'tags', value: fields.tags, msg: 'Should have an array of up to 5 tags between 2 and 30 characters each' });
    }
  }
  if (fields.description !== undefined && fields.description !== null && fields.description !== '') {
    const d = String(fields.description);
    if (d.length < 3 || d.length > 10000) errors.push({ param: 'description', value: fields.description, msg: 'Invalid value' });
  }
  return errors;
}

/** doesChannelIdExist({ checkCanManage: true }): 404 unknown channel, 403 channel of another user. */
export function checkChannel(req, res, channelId) {
  const channel = channelById(channelId);
  if (!channel) {
    fail(res, { status: 404, message: 'Video channel not found' });
    return null;
  }
  if (channel.owner.id !== req.pt.user.id) {
    fail(res, { status: 403, message: 'Only a user with sufficient right can access this account resource.' });
    return null;
  }
  return channel;
}

export function isQuotaExceeded(session, size) {
  const quota = session.options.quota;
  return quota !== undefined && quota !== null && quota >= 0 && (session.usedBytes ?? 0) + size > quota;
}

/** commonVideoFileChecks: 415 mimetype, 413 max_file_size_reached, 413 quota_reached. */
export function checkVideoFile(req, res, { mimetype, size }) {
  const { session } = req.pt;
  if (!/^(video|audio)\/[\w.+-]+$/i.test(String(mimetype || ''))) {
    fail(res, {
      status: 415,
      message: `This file is not supported. Please, make sure it is of the following type: ${VIDEO_EXTNAMES.join(', ')}`
    });
    return false;
  }
  const max = session.options.maxFileSize;
  if (max !== undefined && max !== null && size > max) {
    fail(res, { status: 413, message: 'This file is too large. It exceeds the maximum file size authorized.', type: 'max_file_size_reached' });
    return false;
  }
  if (isQuotaExceeded(session, size)) {
    fail(res, { status: 413, message: 'The user video quota is exceeded with this video.', type: 'quota_reached' });
    return false;
  }
  return true;
}
