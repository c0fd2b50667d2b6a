// PeerTube fake: OAuth (client, password/refresh grants, revoke), the `authenticate` middleware,
// and a couple of read-only routes clients commonly call first (users/me, config).
import express from 'express';
import { contentTypeOf, parseAnyBody, sendJson } from '../common.mjs';
import { docsFor, fail, OAUTH_CLIENT, userByName } from './state.mjs';

/**
 * Like PeerTube's `authenticate` (oauth2-server underneath):
 *  - no Authorization header → 401 code unauthorized_request
 *  - header not "Bearer <token>" → 400 code invalid_request
 *  - unknown / revoked / expired token → 401 code invalid_token
 * detail is always "Token is invalid". Sets req.pt = { user, session, pair }.
 */
export function authenticate(registry) {
  return (req, res, next) => {
    const header = req.headers.authorization;
    const failAuth = (status, type) => fail(res, { status, message: 'Token is invalid', type });
    if (!header) return failAuth(401, 'unauthorized_request');
    const m = /^Bearer\s(\S+)/.exec(header);
    if (!m) return failAuth(400, 'invalid_request');
    const { pair, error } = registry.checkAccessToken(m[1]);
    if (error) return failAuth(401, 'invalid_token');
    req.pt = { user: pair.user, session: pair.session, pair };
    next();
  };
}

/** Applies to every route of `router` registered after this call: sets the docs URL used in errors. */
export const withDocs = operationId => (req, res, next) => {
  res.locals.docUrl = docsFor(operationId);
  next();
};

function tokenResponse(res, pair) {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
  sendJson(res, 200, {
    token_type: 'Bearer',
    access_token: pair.accessToken,
    refresh_token: pair.refreshToken,
    expires_in: pair.expiresIn,
    refresh_token_expires_in: pair.refreshExpiresIn
  });
}

export function authRoutes({ registry, ensureState }) {
  const router = express.Router();
  const auth = authenticate(registry);

  router.get('/api/v1/oauth-clients/local', (req, res) => sendJson(res, 200, OAUTH_CLIENT));

  router.post('/api/v1/users/token', withDocs('getOAuthToken'), async (req, res) => {
    const oauthFail = (type, message, status = 400) => fail(res, { status, message, type });
    if (contentTypeOf(req) !== 'application/x-www-form-urlencoded') {
      return oauthFail('invalid_request', 'Invalid request: content must be application/x-www-form-urlencoded');
    }
    const { fields } = await parseAnyBody(req);

    let { client_id: clientId, client_secret: clientSecret } = fields;
    const basic = /^Basic\s+(\S+)/i.exec(req.headers.authorization || '');
    if (basic) [clientId, clientSecret] = Buffer.from(basic[1], 'base64').toString().split(':');
    if (!clientId || !clientSecret) return oauthFail('invalid_client', 'Invalid client: cannot retrieve client credentials');
    if (clientId !== OAUTH_CLIENT.client_id || clientSecret !== OAUTH_CLIENT.client_secret) {
      return oauthFail('invalid_client', 'Invalid client: client is invalid');
    }

    const grant = fields.grant_type;
    if (!grant) return oauthFail('invalid_request', 'Missing parameter: `grant_type`');

    if (grant === 'password') {
      if (!fields.username) return oauthFail('invalid_request', 'Missing parameter: `username`');
      if (!fields.password) return oauthFail('invalid_request', 'Missing parameter: `password`');
      const user = userByName(String(fields.username).toLowerCase());
      if (!user || user.password !== fields.password) return oauthFail('invalid_grant', 'Invalid grant: user credentials are invalid');
      // The token belongs to the session of the request (/s/<id>/ prefix), else the default session.
      const session = req.ctx?.session ?? registry.defaultSession;
      ensureState(session);
      return tokenResponse(res, registry.issueToken(session, user));
    }

    if (grant === 'refresh_token') {
      if (!fields.refresh_token) return oauthFail('invalid_request', 'Missing parameter: `refresh_token`');
      const { pair, error } = registry.checkRefreshToken(fields.refresh_token);
      if (error === 'expired') return oauthFail('invalid_grant', 'Invalid grant: refresh token has expired');
      if (error) return oauthFail('invalid_grant', 'Invalid grant: refresh token is invalid');
      registry.revoke(pair); // PeerTube deletes the token row: the old access token stops working too
      return tokenResponse(res, registry.issueToken(pair.session, pair.user));
    }

    return oauthFail('unsupported_grant_type', 'Unsupported grant type: `grant_type` is invalid');
  });

  router.post('/api/v1/users/revoke-token', auth, (req, res) => {
    registry.revoke(req.pt.pair);
    sendJson(res, 200, {});
  });

  router.get('/api/v1/users/me', auth, (req, res) => {
    const { user, session } = req.pt;
    sendJson(res, 200, {
      id: user.id,
      username: user.username,
      email: `${user.username}@example.test`,
      role: { id: 2, label: 'User' },
      videoQuota: session.options.quota ?? -1,
      videoQuotaDaily: -1,
      account: { id: user.id, name: user.username, displayName: user.username },
      videoChannels: [{ id: user.channel.id, name: user.channel.name, displayName: user.channel.displayName }]
    });
  });

  router.get('/api/v1/users/me/video-quota-used', auth, (req, res) =>
    sendJson(res, 200, { videoQuotaUsed: req.pt.session.usedBytes ?? 0, videoQuotaUsedDaily: req.pt.session.usedBytes ?? 0 }));

  // Minimal server config: what an upload client may read (version, chunk size limits, import switch).
  router.get('/api/v1/config', (req, res) => {
    const opts = (req.ctx?.session ?? registry.defaultSession).options;
    sendJson(res, 200, {
      serverVersion: opts.serverVersion ?? '7.3.0',
      client: { videos: { resumableUpload: { maxChunkSize: opts.maxChunkSize ?? 0 } } },
      import: { users: { enabled: true }, videos: { http: { enabled: true }, torrent: { enabled: true } } },
      user: { videoQuota: opts.quota ?? -1, videoQuotaDaily: -1 }
    });
  });

  return router;
}

