// api.video's error bodies: {type, title, status, name?, detail?} (OAS `bad-request`, `not-found`,
// `too-many-requests`). `type` is https://docs.api.video/reference/<slug>; the titles below are the
// ones listed in api.video's error reference pages (upload, progressive upload, authentication).
import { sendJson } from '../common.mjs';

export const ERRORS = {
  'authentication-missing-upload-token': [401, 'The upload token is missing.'],
  'authentication-invalid-upload-token': [401, 'The upload token is invalid or expired.'],
  'authentication-missing-authorization-header': [401, 'Missing Authorization header.'],
  'authentication-invalid-authorization-header-value': [401, 'Invalid Authorization header value.'],
  'authentication-invalid-access-token': [401, 'The access token is invalid or expired.'],
  'authentication-invalid-api-key': [401, 'The API key is invalid.'],
  'authentication-invalid-refresh-token': [401, 'The refresh token is invalid or expired.'],
  'resource-not-found': [404, 'The requested resource was not found.'],
  'unrecognized-request-url': [404, 'Unrecognized request URL.'],
  'method-not-allowed': [405, 'Method Not Allowed.'],
  'too-many-requests': [429, 'Too many requests.'],
  'invalid-payload': [400, 'The request payload is invalid.'],
  'invalid-attribute': [400, 'An attribute is invalid.'],
  'invalid-query-parameter': [400, 'A query parameter is invalid.'],
  'uploaded-file-empty': [400, 'The uploaded file is empty.'],
  'uploaded-file-no-file': [400, 'There is no uploaded file in the request.'],
  'uploaded-file-multiple-files': [400, 'There are more than one uploaded file in the request.'],
  'uploaded-file-too-large': [400, 'The uploaded file is too large.'],
  'video-source-already-uploaded': [400, 'This video source has already been uploaded.'],
  'video-content-range-malformed': [400, 'The value of the "Content-Range" header is malformed, the expected format is "bytes <from_byte>-<to_byte>/<total_bytes>" or "part <part>/<total_parts>".'],
  'video-content-range-started-with-part': [400, 'This "Content-Range" upload has been started with "part", you cannot continue it with "bytes".'],
  'video-content-range-started-with-bytes': [400, 'This "Content-Range" upload has been started with "bytes", you cannot continue it with "part".'],
  'video-content-range-already-initiated': [400, 'This video source has already been initiated with a "Content-Range" upload.'],
  'video-content-range-by-part-different-total-parts': [400, 'The "total_parts" value in the "Content-Range" header must be the same than the one you already set for this video.'],
  'video-content-range-by-part-part-already-sent': [400, 'The "part" value in the "Content-Range" header collides with a previous one you already sent for this video.'],
  'video-content-range-by-part-part-too-high-allowed': [400, 'The "part" value in the "Content-Range" header is higher than the maximum number of parts allowed for a video.'],
  'video-content-range-by-part-part-too-high-total': [400, 'The "part" value in the "Content-Range" header is higher than the "total_parts" value.'],
  'video-content-range-by-part-part-zero': [400, 'The "part" value in the "Content-Range" header must be greater than 0.'],
  'video-content-range-by-part-total-parts-too-high': [400, 'The "total_parts" value in the "Content-Range" header is higher than the maximum number of parts allowed for a video.'],
  'video-content-range-by-part-total-parts-too-low': [400, 'The "total_parts" value in the "Content-Range" header is lower than or equal to a part number you already sent for this video.'],
  'video-content-range-by-part-total-parts-zero': [400, 'The "total_parts" value in the "Content-Range" header must be greater than 0.'],
  'video-content-range-by-part-uploaded-file-too-small': [400, 'The uploaded file is too small.'],
  'video-content-range-by-bytes-different-total-bytes': [400, 'The "total_bytes" value in the "Content-Range" header must be the same than the one you already set for this video.'],
  'video-content-range-by-bytes-from-byte-too-high': [400, 'The "from_byte" value in the "Content-Range" header is higher than the "to_byte" value.'],
  'video-content-range-by-bytes-range-mismatch': [400, 'The size of the file you sent is different than the range length you set in the "Content-Range" header.'],
  'video-content-range-by-bytes-range-overlap': [400, 'The range in the "Content-Range" header overlaps with a previous one you already sent for this video.'],
  'video-content-range-by-bytes-range-too-small': [400, 'The range in the "Content-Range" header is too small.'],
  'video-content-range-by-bytes-range-too-large': [400, 'The range in the "Content-Range" header is too large.'],
  'video-content-range-by-bytes-to-byte-too-high-total': [400, 'The "to_byte" value in the "Content-Range" header is higher than the "total_bytes" value you set for this video.'],
  'video-content-range-by-bytes-total-bytes-too-high': [400, 'The "total_bytes" value in the "Content-Range" header is higher than the maximum allowed limit.'],
  'video-content-range-by-bytes-total-bytes-too-low': [400, 'The "total_bytes" value in the "Content-Range" header is lower than or equal to the upper bound of a range you already sent for this video.'],
  'video-content-range-by-bytes-total-bytes-zero': [400, 'The "total_bytes" value in the "Content-Range" header must be greater than 0.'],
  'internal-server-error': [500, 'Internal server error.']
};

export class ApiError extends Error {
  constructor(slug, { name, detail, status } = {}) {
    const [defStatus, title] = ERRORS[slug] ?? [status ?? 400, slug];
    super(title);
    this.slug = slug;
    this.status = status ?? defStatus;
    this.title = title;
    this.field = name;
    this.detail = detail;
  }
  body() {
    const b = { type: `https://docs.api.video/reference/${this.slug}`, title: this.title, name: this.field ?? '', status: this.status };
    if (this.detail !== undefined) b.detail = this.detail;
    return b;
  }
}

export function sendError(res, err, headers = {}) {
  const e = err instanceof ApiError ? err : new ApiError('internal-server-error', { detail: String(err?.message ?? err) });
  sendJson(res, e.status, e.body(), headers);
}

export const apiError = (slug, extra) => new ApiError(slug, extra);
