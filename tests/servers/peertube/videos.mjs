// PeerTube fake: `GET /api/v1/users/me/videos`, the user's own videos (what a client reads to find
// the video an upload created when the last chunk's answer was lost).
//
// Source: PeerTube server/core/controllers/api/users/me.ts (`meRouter.get('/me/videos', authenticate,
// paginationValidator, videosSortValidator, setDefaultVideosSort, setDefaultPagination,
// usersVideosValidator, getUserVideos)`): query `start`, `count` (0–100, default 15), `sort`
// (default `-publishedAt`), `search` (name ILIKE %search%), `channelId` (an unknown channel → 404
// "Video channel not found"), `isLive`; other query parameters are ignored (express-validator only
// checks the ones it names). Answer `{ total, data: [Video] }` (getFormattedObjects), each video in
// its toFormattedJSON form plus `state`, `waitTranscoding`, `scheduledUpdate`, `blacklisted`.
import express from 'express';
import { sendJson } from '../common.mjs';
import { authenticate } from './auth.mjs';
import { channelById, failValidation, fail, videos } from './state.mjs';

// SORTABLE_COLUMNS.VIDEOS (server/core/initializers/constants.ts), each also with a leading '-'.
const VIDEO_SORTS = ['name', 'duration', 'createdAt', 'publishedAt', 'originallyPublishedAt', 'views', 'likes', 'trending', 'hot', 'best', 'localVideoFilesSize'];
const PRIVACY = { 1: 'Public', 2: 'Unlisted', 3: 'Private', 4: 'Internal', 5: 'Password protected' };
const STATE = { 1: 'Published', 2: 'To transcode', 3: 'To import' };

const isInt = (v, min, max = Infinity) => /^[+-]?\d+$/.test(String(v)) && Number(v) >= min && Number(v) <= max;

export function formatVideo(v) {
  const channel = channelById(v.channelId);
  return {
    id: v.id,
    uuid: v.uuid,
    shortUUID: v.shortUUID,
    name: v.name,
    createdAt: v.createdAt,
    updatedAt: v.updatedAt ?? v.createdAt,
    publishedAt: v.publishedAt ?? v.createdAt,
    originallyPublishedAt: null,
    isLocal: true,
    isLive: false,
    duration: 0,
    privacy: { id: v.privacy ?? 3, label: PRIVACY[v.privacy ?? 3] },
    state: { id: v.state ?? 2, label: STATE[v.state ?? 2] },
    waitTranscoding: true,
    scheduledUpdate: null,
    blacklisted: false,
    channel: channel
      ? { id: channel.id, name: channel.name, displayName: channel.displayName, host: 'localhost', url: `http://localhost/video-channels/${channel.name}` }
      : null
  };
}

export function videoListRoutes({ registry }) {
  const router = express.Router();
  router.get('/api/v1/users/me/videos', authenticate(registry), (req, res) => {
    const q = req.query;
    const errors = [];
    if (q.start !== undefined && !isInt(q.start, 0)) errors.push({ param: 'start', location: 'query', value: q.start, msg: 'Should have a number start' });
    if (q.count !== undefined && !isInt(q.count, 0, 100)) errors.push({ param: 'count', location: 'query', value: q.count, msg: 'Should have a number count (max: 100)' });
    if (q.sort !== undefined && !VIDEO_SORTS.includes(String(q.sort).replace(/^-/, ''))) {
      errors.push({ param: 'sort', location: 'query', value: q.sort, msg: `Should have correct sortable column of ${VIDEO_SORTS.join(', ')}` });
    }
    if (q.isLive !== undefined && !['true', 'false', '1', '0'].includes(String(q.isLive))) errors.push({ param: 'isLive', location: 'query', value: q.isLive, msg: 'Should have a valid isLive boolean' });
    if (q.channelId !== undefined && !isInt(q.channelId, 1)) errors.push({ param: 'channelId', location: 'query', value: q.channelId, msg: 'Invalid value' });
    if (errors.length) return failValidation(req, res, errors);
    if (q.channelId !== undefined && !channelById(q.channelId)) return fail(res, { status: 404, message: 'Video channel not found' });
    const { user, session } = req.pt;
    let mine = videos.filter(v => v.userId === user.id && v.sessionId === session.id);
    if (q.channelId !== undefined) mine = mine.filter(v => v.channelId === Number(q.channelId));
    if (q.search !== undefined) mine = mine.filter(v => v.name.toLowerCase().includes(String(q.search).toLowerCase()));
    if (['true', '1'].includes(String(q.isLive))) mine = [];
    const sort = String(q.sort ?? '-publishedAt');
    const key = sort.replace(/^-/, '');
    const dir = sort.startsWith('-') ? -1 : 1;
    const val = v => (key === 'name' ? v.name : key === 'createdAt' || key === 'publishedAt' ? v[key] ?? v.createdAt : v.id);
    // Ties (same millisecond) by id, as the database's insertion order would.
    mine = mine.slice().sort((a, b) => (val(a) < val(b) ? -dir : val(a) > val(b) ? dir : (a.id - b.id) * dir));
    const start = Number(q.start ?? 0);
    const count = Number(q.count ?? 15);
    sendJson(res, 200, { total: mine.length, data: mine.slice(start, start + count).map(formatVideo) });
  });
  return router;
}
