// The four providers as the demo pages use them against the local fakes: default credentials,
// a fresh test account from a fake's control API, and log-in → Upload options. A real site gets
// its tokens from its own back end; only the helpers called here are chunkup's.
import { apiVideoAuthenticate, apiVideoCreateUploadToken, cloudreveLogin, mangadexLogin, peertubeLogin } from './pkg/chunkup.js';

const MiB = 1024 * 1024;

/** Field values per provider (the demo's inputs are named `<provider>-<key>`). */
export const DEFAULTS = {
  peertube: { endpoint: 'http://127.0.0.1:18081', username: 'alice', password: 'secret', channel: '1' },
  apivideo: { endpoint: 'http://127.0.0.1:18082', apikey: '' },
  cloudreve: { endpoint: 'http://127.0.0.1:18083', email: 'user-default@example.test', password: 'secret', folder: 'cloudreve://my/', overwrite: false },
  mangadex: { endpoint: 'http://127.0.0.1:18084', auth: 'http://127.0.0.1:18084', username: '', password: '', 'client-id': '', 'client-secret': '', manga: '', group: '', language: 'en' }
};

/** Opens an isolated account on the fake (its control API) → { id, values: fields to set }. */
export async function newAccount(provider, endpoint) {
  const base = endpoint.replace(/\/s\/[^/]+$/, '');
  const r = await fetch(`${base}/__control/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  if (!r.ok) throw new Error(`the ${provider} fake at ${base} did not open a test account (HTTP ${r.status})`);
  const s = await r.json();
  const values = {
    peertube: { endpoint: `${base}/s/${s.id}`, username: s.username, password: 'secret', channel: String(s.channelId) },
    apivideo: { apikey: s.apiKey },
    cloudreve: { email: s.email, password: s.password },
    mangadex: { username: s.username, password: s.password, 'client-id': s.clientId, 'client-secret': s.clientSecret, manga: s.mangaId, group: s.groupId }
  }[provider];
  return { id: s.id, values };
}

/**
 * Logs in with `v` (field values) → { options: shared Upload options, perFile(input): options of
 * one upload, concurrency?: a limit the provider imposes }. `fill(values)` is called when a test
 * account had to be opened first (api.video and MangaDex have no fixed default account).
 */
export async function connect(provider, v, { chunkSize = 8 * MiB, fill = () => {} } = {}) {
  const ensure = async key => {
    if (v[key]) return;
    const account = await newAccount(provider, v.endpoint);
    Object.assign(v, account.values);
    fill(account);
  };
  if (provider === 'peertube') {
    const token = await peertubeLogin({ endpoint: v.endpoint, username: v.username, password: v.password });
    return {
      options: { provider, endpoint: v.endpoint, accessToken: token.access_token, channelId: Number(v.channel), chunkSize },
      perFile: file => ({ name: file.name.padEnd(3, '_') })
    };
  }
  if (provider === 'apivideo') {
    await ensure('apikey');
    // Back-office flow: API key → access token → a delegated upload token (what a browser may hold).
    const auth = await apiVideoAuthenticate({ endpoint: v.endpoint, apiKey: v.apikey });
    const { token } = await apiVideoCreateUploadToken({ endpoint: v.endpoint, accessToken: auth.access_token, ttl: 3600 });
    return {
      options: { provider, endpoint: v.endpoint, uploadToken: token, chunkSize: Math.min(128 * MiB, Math.max(5 * MiB, chunkSize)) },
      perFile: file => ({ videoName: file.name })
    };
  }
  if (provider === 'cloudreve') {
    const token = await cloudreveLogin({ endpoint: v.endpoint, email: v.email, password: v.password });
    return {
      // A folder uri (ending in '/'): each file keeps its name.
      options: { provider, endpoint: v.endpoint, accessToken: token.accessToken, uri: v.folder.replace(/\/?$/, '/'), overwrite: !!v.overwrite },
      perFile: () => ({})
    };
  }
  if (provider === 'mangadex') {
    await ensure('username');
    const token = await mangadexLogin({
      authEndpoint: v.auth || v.endpoint, username: v.username, password: v.password, clientId: v['client-id'], clientSecret: v['client-secret']
    });
    let chapter = 0;
    return {
      concurrency: 1, // one open upload session per MangaDex account: chapters go one after the other
      options: { provider, endpoint: v.endpoint, accessToken: token.access_token, manga: v.manga, groups: [v.group].filter(Boolean) },
      perFile: () => ({ chapter: { volume: null, chapter: String(++chapter), title: `Chapter ${chapter}`, translatedLanguage: v.language || 'en' } })
    };
  }
  throw new Error(`unknown provider ${provider}`);
}
