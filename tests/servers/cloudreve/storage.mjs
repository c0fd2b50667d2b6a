// Cloudreve fake: the storage side on other origins. The slave node (remote policy) on its own
// port, and a "bucket" origin serving presigned S3-like part/complete URLs and OneDrive-like
// upload URLs.
import express from 'express';
import { sendJson } from '../common.mjs';
import { chunkRange, readBody, storeChunk } from './master.mjs';
import { completeUpload, envelope, liveUpload, md5, ok, sign, uploadsById, xmlError } from './state.mjs';

// ---- slave node -----------------------------------------------------------------------------

export function nodeRoutes() {
  const router = express.Router();
  router.post('/api/v4/slave/upload/:sid', async (req, res) => {
    const up = uploadsById.get(req.params.sid);
    // SignRequired: the credential signs the path and every X-Cr-* header but X-Cr-Filename.
    // A refusal keeps the inner error's code (`middleware/auth.go` `SignRequired` →
    // `pkg/serializer/error.go` `ErrWithDetails`): 403 "authorization header is missing"
    // (`pkg/auth/auth.go`), 40071 "invalid sign" / "sign expired" (`pkg/auth/hmac.go`; the
    // credential expires with the session). HTTP 200 as always.
    const extraSigned = Object.keys(req.headers).filter(h => h.startsWith('x-cr-') && h !== 'x-cr-filename');
    if (!req.headers.authorization) return envelope(res, 403, 'authorization header is missing');
    if (!up || !up.credential || req.headers.authorization !== up.credential || extraSigned.length) {
      return envelope(res, 40071, 'invalid sign', undefined, { error: extraSigned.length ? `unsigned headers ${extraSigned}` : 'signature mismatch' });
    }
    if (Date.now() > up.expiresAt) return envelope(res, 40071, 'sign expired');
    const live = liveUpload(up.id);
    if (!live) return envelope(res, 40011, 'Slave upload session expired or not exist');
    const chunk = Number.parseInt(String(req.query.chunk ?? '0'), 10);
    await storeChunk(req, res, live, Number.isNaN(chunk) ? 0 : chunk);
  });
  router.delete('/api/v4/slave/upload/:sid', (req, res) => ok(res));
  return router;
}

// ---- bucket (S3-like) -------------------------------------------------------------------------

function parseCompletion(xml) {
  const trimmed = xml.trim();
  if (!/^<CompleteMultipartUpload>[\s\S]*<\/CompleteMultipartUpload>$/.test(trimmed)) return null;
  const inner = trimmed.slice('<CompleteMultipartUpload>'.length, -'</CompleteMultipartUpload>'.length);
  const parts = [];
  const re = /\s*<Part>\s*<PartNumber>(\d+)<\/PartNumber>\s*<ETag>([^<]*)<\/ETag>\s*<\/Part>\s*/gy;
  let m;
  let consumed = 0;
  while ((m = re.exec(inner))) {
    parts.push({ n: Number(m[1]), etag: m[2].replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&') });
    consumed = re.lastIndex;
  }
  if (consumed !== inner.length && inner.trim()) return null;
  return parts;
}

/** Presigned part and complete URLs are signed for the session's lifetime (Cloudreve's S3-like
 *  drivers presign with the session TTL, `X-Amz-Expires` in the URL): afterwards the bucket
 *  answers 403 AccessDenied "Request has expired", before it looks at the upload. */
const presignExpired = sid => {
  const up = uploadsById.get(sid);
  return !!up && Date.now() > up.expiresAt;
};

const partCount = up => (up.size === 0 || up.chunkSize === 0 ? 1 : Math.ceil(up.size / up.chunkSize));

export function bucketRoutes() {
  const router = express.Router();

  router.put('/s3/:sid/parts/:n', async (req, res) => {
    const { sid } = req.params;
    const n = Number(req.params.n);
    if (req.query['X-Amz-Signature'] !== sign(`${sid}:${n}`)) {
      return xmlError(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
    }
    if (req.headers.authorization) {
      return xmlError(res, 400, 'InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified');
    }
    if (presignExpired(sid)) return xmlError(res, 403, 'AccessDenied', 'Request has expired');
    const up = uploadsById.get(sid);
    if (!up || up.multipart !== 'open' || up.state !== 'active' || !liveUpload(sid)) {
      return xmlError(res, 404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.');
    }
    // OSS and OBS sign the Content-Type (and OBS the length); S3 signs the length.
    if ((up.policy === 'oss' || up.policy === 'obs') && req.headers['content-type'] !== 'application/octet-stream') {
      return xmlError(res, 403, 'SignatureDoesNotMatch', 'Content-Type is part of the signature and must be application/octet-stream.');
    }
    if (!(n >= 1 && n <= partCount(up))) return xmlError(res, 400, 'InvalidArgument', 'Part number must be an integer between 1 and the part count.');
    const [start, end] = chunkRange(up, n - 1);
    if (Number(req.headers['content-length']) !== end - start) {
      return xmlError(res, 403, 'SignatureDoesNotMatch', `Content-Length ${req.headers['content-length']} is not the signed ${end - start}.`);
    }
    const { buf, complete } = await readBody(req);
    if (!complete) return;
    const etag = `"${md5(buf)}"`;
    up.parts.set(n, { etag, data: buf, at: Date.now() });
    up.chunks.push({ index: n, length: buf.length, storedAt: Date.now() });
    res.setHeader('ETag', etag);
    res.writeHead(200, { 'Content-Length': '0' });
    res.end();
  });

  router.post('/s3/:sid/complete', async (req, res) => {
    const { sid } = req.params;
    if (req.query['X-Amz-Signature'] !== sign(`${sid}:complete`)) {
      return xmlError(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
    }
    if (req.headers.authorization) return xmlError(res, 400, 'InvalidArgument', 'Only one auth mechanism allowed.');
    if (presignExpired(sid)) return xmlError(res, 403, 'AccessDenied', 'Request has expired');
    const { buf, complete } = await readBody(req, 10 * 1024 * 1024);
    if (!complete) return;
    const up = uploadsById.get(sid);
    if (!up || up.multipart !== 'open' || !liveUpload(sid)) {
      return xmlError(res, 404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.');
    }
    up.completeHeaders = {
      contentType: req.headers['content-type'] ?? null,
      forbidOverwrite: req.headers['x-cos-forbid-overwrite'] ?? req.headers['x-oss-forbid-overwrite'] ?? null,
      completeAll: req.headers['x-oss-complete-all'] ?? null
    };
    const count = partCount(up);
    let order;
    if (up.policy === 'oss') {
      if (req.headers['x-oss-complete-all'] !== 'yes' || buf.length) {
        return xmlError(res, 400, 'InvalidRequest', 'x-oss-complete-all: yes needs an empty body');
      }
      order = Array.from({ length: count }, (_, i) => i + 1);
      for (const n of order) if (!up.parts.has(n)) return xmlError(res, 400, 'InvalidPart', `Part ${n} was not uploaded.`);
    } else {
      const listed = parseCompletion(buf.toString('utf8'));
      if (!listed) return xmlError(res, 400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
      for (let i = 0; i < listed.length; i++) {
        if (i > 0 && listed[i].n <= listed[i - 1].n) return xmlError(res, 400, 'InvalidPartOrder', 'The list of parts was not in ascending order.');
      }
      if (listed.length !== count || listed.some((p, i) => p.n !== i + 1)) {
        return xmlError(res, 400, 'InvalidPart', `The completion lists ${listed.length} parts; the upload has ${count}.`);
      }
      for (const p of listed) {
        const stored = up.parts.get(p.n);
        if (!stored || stored.etag !== p.etag) return xmlError(res, 400, 'InvalidPart', `Part ${p.n}: the ETag ${p.etag} does not match.`);
      }
      order = listed.map(p => p.n);
      up.completedWith = listed;
    }
    up.object = Buffer.concat(order.map(n => up.parts.get(n).data));
    up.parts.clear();
    up.multipart = 'completed';
    if (up.policy === 'oss' || up.policy === 'obs') {
      // The bucket calls Cloudreve back itself and returns the callback's answer.
      if (up.object.length !== up.size) {
        return sendJson(res, 203, { code: 40055, msg: `File size not match, expected: ${up.size}, actual: ${up.object.length}` });
      }
      completeUpload(up, up.object);
      up.object = null;
      up.buf = null;
      return sendJson(res, 200, { code: 0, msg: '' });
    }
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult><Bucket>fake</Bucket><Key>${sid}</Key><ETag>"${md5(up.object)}-${count}"</ETag></CompleteMultipartUploadResult>`;
    res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(xml) });
    res.end(xml);
  });

  // ---- OneDrive-like upload URL -------------------------------------------------------------
  const graphError = (res, status, code, message, inner) =>
    sendJson(res, status, { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } });

  const odStatus = up => ({
    expirationDateTime: new Date(up.expiresAt).toISOString(),
    nextExpectedRanges: up.od.received < up.size ? [`${up.od.received}-${up.size - 1}`] : []
  });

  router.all('/onedrive/:sid', async (req, res, next) => {
    if (!['GET', 'PUT', 'DELETE'].includes(req.method)) return next();
    const { sid } = req.params;
    if (req.query.tempauth !== sign(`${sid}:od`)) return graphError(res, 401, 'unauthenticated', 'The upload URL is not valid.');
    if (req.headers.authorization) {
      return graphError(res, 401, 'invalidRequest', 'Do not send an Authorization header to a pre-authenticated upload URL.');
    }
    const up = uploadsById.get(sid);
    if (!up || !up.od || up.od.state !== 'open' || !liveUpload(sid)) return graphError(res, 404, 'itemNotFound', 'The upload session was not found.');
    if (req.method === 'DELETE') {
      up.od.state = 'deleted';
      res.writeHead(204);
      return res.end();
    }
    if (req.method === 'GET') return sendJson(res, 200, odStatus(up));
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(req.headers['content-range'] || ''));
    if (!m) return graphError(res, 400, 'invalidRequest', 'Content-Range is missing or malformed.');
    const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (total !== up.size) return graphError(res, 400, 'invalidRequest', 'The declared total does not match the upload session.');
    if (end < start || end >= total) return graphError(res, 400, 'invalidRequest', 'The range is invalid.');
    if (Number(req.headers['content-length']) !== end - start + 1) return graphError(res, 400, 'invalidRequest', 'Content-Length does not match Content-Range.');
    if (start !== up.od.received) {
      return start < up.od.received
        ? graphError(res, 416, 'invalidRange', 'The uploaded fragment overlaps with data that has already been received.', 'fragmentOverlap')
        : graphError(res, 416, 'invalidRange', `Expected the fragment to start at ${up.od.received}.`);
    }
    const { buf, complete } = await readBody(req);
    if (!complete || buf.length !== end - start + 1) return;
    buf.copy(up.buf, start);
    up.od.received = end + 1;
    up.chunks.push({ index: start, length: buf.length, storedAt: Date.now() });
    if (up.od.received === up.size) {
      up.od.state = 'closed';
      return sendJson(res, 201, { id: sid, name: up.name, size: up.size, file: {} });
    }
    sendJson(res, 202, odStatus(up));
  });

  return router;
}

export { completeUpload };
