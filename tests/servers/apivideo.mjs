#!/usr/bin/env node
// api.video-shaped fake server for chunkup's tests.
//
//   node tests/servers/apivideo.mjs
//
// Env: APIVIDEO_PORT (default 18082, 0 = random), APIVIDEO_TLS_PORT (unset = no HTTPS listener; 0 =
// random; serves the same app over HTTPS with a throwaway self-signed certificate, for the official
// uploader which only speaks https), APIVIDEO_KEEPALIVE=1 (do not force `Connection: close`),
// FAKE_SERVER_PARENT_PID (exit when that process is gone).
//
// The app itself is in tests/servers/apivideo/app.mjs (also started in-process by the self-test and
// the official-client check). Defaults are the real service's: 5 MiB minimum part, 128 MiB maximum
// part (part mode), 200 MiB maximum range (bytes mode), 10,000 parts, per-minute rate limits.
import http from 'node:http';
import https from 'node:https';
import { exitCleanlyOnSignals, listen } from './common.mjs';
import { createApiVideoApp } from './apivideo/app.mjs';
import { selfSignedCert } from './apivideo/tls.mjs';

const PORT = Number(process.env.APIVIDEO_PORT ?? 18082);
const TLS_PORT = process.env.APIVIDEO_TLS_PORT;

const { app } = createApiVideoApp({ keepAlive: process.env.APIVIDEO_KEEPALIVE === '1' });
const server = http.createServer(app);
server.requestTimeout = 0;
const port = await listen(server, PORT, '127.0.0.1');
const servers = [server];
console.log(`apivideo fake listening on http://127.0.0.1:${port}`);

if (TLS_PORT !== undefined && TLS_PORT !== '') {
  const tls = https.createServer(selfSignedCert(), app);
  tls.requestTimeout = 0;
  const tp = await listen(tls, Number(TLS_PORT), '127.0.0.1');
  servers.push(tls);
  console.log(`apivideo fake listening on https://127.0.0.1:${tp}`);
}

exitCleanlyOnSignals(servers);

// Control API (JSON, CORS-enabled):
//   POST /__control/session {minChunk?, maxChunk?, maxRange?, maxParts?, rateLimits?: {upload, write, read},
//        exposeRateLimitHeaders?, tokenTtlSec?, refreshTtlSec?, uploadTokenTtl?}
//        → {id, apiKey, accessToken, refreshToken, uploadToken, baseUrl, options}
//   POST …/options {same keys}                 change options of a session
//   POST …/faults [rule…]  GET/DELETE …/faults  rules of common.mjs {method, route, path, nth, count, status,
//        retryAfter (429: X-RateLimit-Retry-After, default 1), standardRetryAfter, headers, body, drop,
//        afterBytes, keepPartial, afterResponse, delayMs}; routes: upload, source, videos, status, tokens,
//        auth-api-key, auth-refresh, vod, preflight
//   GET  …/log[?preflight=1]                   request log (contentRange, status, videoId, fault…)
//   GET  …/videos  …/videos/:videoId           {videoId, title, mode, complete, size, sha256, parts, ranges, filenames…}
//   POST …/videos {title?}                     an empty video container (to continue with `videoId`)
//   POST …/upload-tokens {ttl?}  GET …/upload-tokens   POST …/expire-upload-token {token}
//   POST …/expire-token (access tokens)  POST …/new-token            GET /health → ok
