// Fault soak: 100 uploads (SOAK_UPLOADS) across every provider — PeerTube video, api.video,
// Cloudreve (local, relay, remote node, S3-like presigned parts, OneDrive) and MangaDex — 8 at a
// time (SOAK_CONCURRENCY), in one headless Chromium page running the built module (www/pkg), with
// random faults injected through the fakes' control APIs: 5xx, 429 + Retry-After, connections
// dropped mid-body / with the answer lost, delays, expired upload sessions, expired access tokens
// (refreshed through getAccessToken), and a few fatal ones (403, an expired api.video upload token).
//
// Every upload must either complete with identical bytes (sha256 recorded by the fake) or fail with
// a typed UploadError whose code is in the contract's list; no upload may fail without a fault having
// fired; afterwards no request may still be running on any fake (their in-flight counters). The
// counts are printed on one line starting with `SOAK` (scripts/test.sh shows it).
//
//   SOAK_SEED=1234 node --test tests/e2e/soak.test.mjs     (needs www/pkg from `bash scripts/build.sh`)
//
// The seed is random unless SOAK_SEED is set, and always printed: rerun a failure with its seed.
import assert from 'node:assert/strict';
import { createReadStream, existsSync } from 'node:fs';
import http from 'node:http';
import { basename, extname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { control, ensureFake, launch, WWW } from './harness.mjs';

const SEED = Number(process.env.SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
const UPLOADS = Number(process.env.SOAK_UPLOADS ?? 100);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 8);
// The module under test: www/pkg (scripts/build.sh), or SOAK_PKG=<dir> (e.g. a wasm-pack --target web build elsewhere).
const PKG = process.env.SOAK_PKG ?? join(WWW, 'pkg');
const HAVE_PKG = existsSync(join(PKG, 'chunkup.js'));
const CODES = ['invalid-input', 'network', 'http', 'auth', 'quota', 'too-large', 'unsupported-type', 'session-expired', 'protocol', 'aborted'];
const KIB = 1024;
const MIB = 1024 * KIB;
const RETRY = [50, 100, 200, 400, 800, 1600];

const url = (name, def) => `http://127.0.0.1:${process.env[`${name}_PORT`] ?? def}`;
const FAKES = {
  peertube: url('PEERTUBE', 18081),
  apivideo: url('APIVIDEO', 18082),
  cloudreve: url('CLOUDREVE', 18083),
  mangadex: url('MANGADEX', 18084)
};

/** xorshift32: the same sequence for the same seed. */
function rng(seed) {
  let x = (seed >>> 0) || 0x9e3779b9;
  const next = () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
  return {
    below: n => (n <= 0 ? 0 : next() % n),
    chance: pct => next() % 100 < pct,
    pick: a => a[next() % a.length],
    int: (lo, hi) => lo + (next() % (hi - lo + 1))
  };
}

/** A blank page and www/pkg on 127.0.0.1 (a real loopback response, so that Chromium lets the page
 *  call the fakes on other loopback ports). */
async function soakSite() {
  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/soak.html') return res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>soak</title>');
    const file = join(PKG, basename(path));
    if (!path.startsWith('/pkg/') || !existsSync(file)) return res.writeHead(404).end();
    const type = { '.js': 'text/javascript', '.wasm': 'application/wasm' }[extname(file)] ?? 'application/octet-stream';
    res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    createReadStream(file).pipe(res);
  });
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise(r => { server.closeAllConnections(); server.close(r); }) };
}

let browser;
let page;
let site;
const stops = [];

before(async () => {
  if (!HAVE_PKG) return;
  for (const [name, base] of Object.entries(FAKES)) stops.push(await ensureFake(name, base));
  site = await soakSite();
  browser = await launch();
  page = await browser.newPage();
  page.on('pageerror', e => console.log(`# page error: ${e.message}`));
  await page.goto(`${site.origin}/soak.html`);
  await page.evaluate(async () => {
    const m = await import('/pkg/chunkup.js');
    await m.default();
    window.chunkup = m;
    const gen = (len, seed) => {
      const b = new Uint8Array(len);
      let x = (seed >>> 0) || 1;
      for (let i = 0; i < len; i++) {
        x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
        b[i] = x & 0xff;
      }
      return b;
    };
    const hex = buf => [...new Uint8Array(buf)].map(b => b.toString(16).padStart(2, '0')).join('');
    // Runs one upload described by `spec`; never throws: { ok, result | error, sha256s, ms }.
    window.soakRun = async spec => {
      const files = [];
      const sha256s = [];
      for (const f of spec.files) {
        const data = gen(f.size, f.seed);
        if (f.png) {
          // PNG signature + IHDR (w×h) so MangaDex's type and size checks pass.
          const head = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 3, 0x20, 0, 0, 4, 0xb0, 8, 6, 0, 0, 0];
          data.set(head, 0);
        }
        sha256s.push(hex(await crypto.subtle.digest('SHA-256', data)));
        files.push(new File([data], f.name, { type: f.type, lastModified: 1_700_000_000_000 + f.seed }));
      }
      const options = { ...spec.options };
      if (spec.refresh) {
        options.getAccessToken = async () => {
          const r = await fetch(spec.refresh.url, { method: 'POST' });
          return (await r.json())[spec.refresh.field];
        };
      }
      const t0 = performance.now();
      try {
        const up = new m.Upload(spec.array ? files : files[0], options);
        let timer;
        const hung = new Promise((_, reject) => { timer = setTimeout(() => reject(Object.assign(new Error('did not end within 120 s'), { code: 'hung' })), 120_000); });
        const result = await Promise.race([up.start(), hung]);
        clearTimeout(timer);
        return { ok: true, result: JSON.parse(JSON.stringify(result ?? null)), sha256s, ms: performance.now() - t0 };
      } catch (e) {
        return {
          ok: false,
          error: { code: e?.code, status: e?.status, message: String(e?.message), name: e?.name, typed: e instanceof m.UploadError },
          sha256s,
          ms: performance.now() - t0
        };
      }
    };
  });
});

after(async () => {
  await browser?.close();
  await site?.close();
  for (const stop of stops) await stop();
});

// ---- one upload per provider: session, faults, mid-upload events, verification ------------------

/**
 * Common fault rules on `route` (the provider's data route), `n` data requests expected. A rule or
 * event marked `mayFail` may legitimately end the upload with an error (a fatal status, an expired
 * upload token or session, a lost answer to a request that completes the upload: see README
 * Reliability); after any other fault the upload must complete.
 */
function commonFaults(r, route, n, { body429, lostAnswerOk = false } = {}) {
  const nth = () => r.int(1, Math.max(1, n));
  return [
    () => ({ route, nth: nth(), status: r.pick([500, 502, 503, 504]) }),
    () => ({ route, nth: nth(), status: 429, headers: { 'Retry-After': '1' }, ...(body429 ? { body: body429 } : {}) }),
    () => ({ route, nth: nth(), drop: true, afterBytes: r.int(1, 30_000) }),
    () => ({ route, nth: nth(), drop: true, afterResponse: true, ...(lostAnswerOk ? {} : { mayFail: true }) }),
    () => ({ route, nth: nth(), delayMs: r.int(100, 1500) }),
    () => ({ nth: r.int(1, n + 2), status: 503, headers: { 'Retry-After': '0' } }),
    () => ({ nth: r.int(1, n + 2), delayMs: r.int(50, 400), count: r.int(1, 3) })
  ];
}

function pickFaults(r, pool, fatal) {
  const rules = [];
  const k = r.pick([0, 1, 1, 2, 2, 3, 4]);
  for (let i = 0; i < k; i++) rules.push(r.pick(pool)());
  if (fatal && r.chance(4)) rules.push({ ...fatal(), mayFail: true });
  return rules;
}

const PROVIDERS = {
  async peertube(r, i) {
    const base = FAKES.peertube;
    const s = await control(base, 'POST', '/session', {});
    const size = r.int(70 * KIB, 700 * KIB);
    const n = Math.ceil(size / (64 * KIB));
    const pool = [
      // A lost answer to the last chunk is recovered too: the video it created is looked up.
      ...commonFaults(r, 'chunk', n, { lostAnswerOk: true }),
      () => ({ route: 'chunk', nth: r.int(1, n), drop: true, keepPartial: true, afterBytes: r.int(1000, 60_000) }),
      () => ({ route: 'offset', nth: 1, status: 502 }),
      // The upload URL is gone (an expired / purged session): re-created from what is stored.
      () => ({ route: 'chunk', nth: r.int(1, n), status: 404, body: { error: { code: 'FileNotFound', message: 'Not found' } } })
    ];
    const faults = pickFaults(r, pool, () => ({ route: 'chunk', nth: r.int(1, n), status: 403, body: { status: 403, detail: 'forbidden' } }));
    // Each gone upload URL starts the upload anew; three of them with no chunk confirmed between
    // (chunk requests 1, 2 and 3, say) are more than chunkup takes in a row (MAX_REINITS_IN_A_ROW).
    const gone = faults.filter(f => f.status === 404);
    if (gone.length > 2) for (const f of gone) f.mayFail = true;
    const events = r.chance(25) ? [{ at: r.int(30, 400), path: `/session/${s.id}/expire-token`, what: 'token-expired' }] : [];
    return {
      kind: 'peertube',
      base, session: s.id, faults, events,
      spec: {
        files: [{ size, seed: SEED ^ (i * 7919), name: `soak-${i}.mp4`, type: 'video/mp4' }],
        options: { provider: 'peertube', endpoint: base, accessToken: s.token, channelId: s.channelId, name: `soak video ${i}`, chunkSize: 64 * KIB, retryDelays: RETRY, stallTimeout: 10_000 },
        refresh: { url: `${base}/__control/session/${s.id}/new-token`, field: 'token' }
      },
      async verify(result, shas) {
        assert.ok(result?.video?.id, `peertube result has a video: ${JSON.stringify(result)}`);
        const ups = await control(base, 'GET', `/session/${s.id}/uploads`);
        const done = ups.filter(u => u.state === 'complete');
        assert.ok(done.some(u => u.sha256 === shas[0] && u.received === size), `peertube ${i}: identical bytes on the fake: ${JSON.stringify(done)}`);
      }
    };
  },

  async apivideo(r, i) {
    const base = FAKES.apivideo;
    const s = await control(base, 'POST', '/session', {});
    const multi = r.chance(50);
    const size = multi ? r.int(5 * MIB + 1, 11 * MIB) : r.int(10 * KIB, 2 * MIB);
    const n = Math.ceil(size / (5 * MIB));
    const pool = commonFaults(r, 'upload', n, { lostAnswerOk: true });
    const faults = pickFaults(r, pool, null);
    const events = r.chance(3) ? [{ at: r.int(10, 300), path: `/session/${s.id}/expire-upload-token`, body: { token: s.uploadToken }, what: 'upload-token-expired', mayFail: true }] : [];
    return {
      kind: 'apivideo',
      base, session: s.id, faults, events,
      spec: {
        files: [{ size, seed: SEED ^ (i * 7919), name: `soak-${i}.mp4`, type: 'video/mp4' }],
        options: { provider: 'apivideo', endpoint: base, uploadToken: s.uploadToken, chunkSize: 5 * MIB, retryDelays: RETRY, stallTimeout: 10_000 }
      },
      async verify(result, shas) {
        assert.ok(result?.videoId, `api.video result has a videoId: ${JSON.stringify(result)}`);
        const v = await control(base, 'GET', `/session/${s.id}/videos/${result.videoId}`);
        assert.ok(v.complete && v.sha256 === shas[0] && v.size === size, `api.video ${i}: identical bytes on the fake: ${JSON.stringify(v)}`);
      }
    };
  },

  async cloudreve(r, i) {
    const base = FAKES.cloudreve;
    const policy = r.pick(['local', 'relay', 'remote', 's3', 'oss', 'cos', 'obs', 'onedrive']);
    const opts = policy === 'relay' ? { policy: 's3', relay: true, chunkSize: 64 * KIB } : { policy, chunkSize: 64 * KIB, concurrency: 3 };
    const s = await control(base, 'POST', '/session', opts);
    const size = r.int(1, 400 * KIB);
    const n = Math.max(1, Math.ceil(size / (64 * KIB)));
    const route = { local: 'chunk', relay: 'chunk', remote: 'node-chunk', onedrive: 'onedrive-chunk' }[policy] ?? 'part';
    const pool = [
      ...commonFaults(r, route, n),
      () => ({ route: 'create', nth: 1, status: 502 }),
      () => ({ route: 'create', nth: 1, drop: true, afterResponse: true, mayFail: true })
    ];
    const faults = pickFaults(r, pool, () => ({ route, nth: r.int(1, n), status: 403, body: '<Error><Code>AccessDenied</Code></Error>' }));
    const events = [];
    if (r.chance(20)) events.push({ at: r.int(20, 300), path: `/session/${s.id}/expire-token`, what: 'token-expired' });
    if (r.chance(10)) events.push({ at: r.int(20, 300), path: `/session/${s.id}/expire-uploads`, what: 'session-expired', mayFail: true });
    const uri = `cloudreve://my/soak/f-${i}.bin`;
    return {
      kind: `cloudreve-${policy}`,
      base, session: s.id, faults, events,
      spec: {
        files: [{ size, seed: SEED ^ (i * 7919), name: `f-${i}.bin`, type: 'application/octet-stream' }],
        options: { provider: 'cloudreve', endpoint: base, uri, accessToken: s.accessToken, retryDelays: RETRY, stallTimeout: 10_000 },
        refresh: { url: `${base}/__control/session/${s.id}/new-token`, field: 'accessToken' }
      },
      async verify(result, shas) {
        assert.equal(result?.uri, uri);
        const files = await control(base, 'GET', `/session/${s.id}/files`);
        const f = files.find(x => x.uri === uri);
        assert.ok(f && f.state === 'complete' && f.sha256 === shas[0] && f.size === size, `cloudreve ${policy} ${i}: identical bytes on the fake: ${JSON.stringify(files)}`);
      }
    };
  },

  async mangadex(r, i) {
    const base = FAKES.mangadex;
    // A committed chapter is listed a little later (the processing queue): up to 2 s here. (Not
    // drawn from `r`, so that a seed keeps its fault mix.)
    const s = await control(base, 'POST', '/session', { listingDelayMs: (i * 397) % 2000 });
    const pages = r.int(2, 12);
    const batch = r.int(2, 5);
    const n = Math.ceil(pages / batch);
    const md429 = { result: 'error', errors: [{ status: 429, title: 'Too Many Requests', detail: 'You have been rate limited' }] };
    const pool = [
      ...commonFaults(r, 'upload', n, { body429: md429 }),
      () => ({ route: 'session', nth: 1, status: 503 }),
      () => ({ route: 'commit', nth: 1, status: 502 }),
      // A lost commit answer is recovered: the chapter it created is looked up.
      () => ({ route: 'commit', nth: 1, drop: true, afterResponse: true })
    ];
    const faults = pickFaults(r, pool, () => ({ route: 'upload', nth: r.int(1, n), status: 403, body: { result: 'error', errors: [{ status: 403, detail: 'forbidden' }] } }));
    const events = r.chance(25) ? [{ at: r.int(30, 400), path: `/session/${s.id}/expire-token`, what: 'token-expired' }] : [];
    const files = Array.from({ length: pages }, (_, k) => ({ size: r.int(2 * KIB, 24 * KIB), seed: SEED ^ (i * 7919 + k + 1), name: `p${k}.png`, type: 'image/png', png: true }));
    return {
      kind: 'mangadex',
      base, session: s.id, faults, events,
      spec: {
        array: true,
        files,
        options: {
          provider: 'mangadex', endpoint: base, accessToken: s.accessToken, manga: s.mangaId, groups: [s.groupId], termsAccepted: true,
          chapter: { volume: '1', chapter: String(i), title: `Soak ${i}`, translatedLanguage: 'en' }, batchSize: batch, retryDelays: RETRY, stallTimeout: 10_000
        },
        refresh: { url: `${base}/__control/session/${s.id}/new-token`, field: 'accessToken' }
      },
      async verify(result, shas) {
        const chapters = await control(base, 'GET', `/session/${s.id}/chapters`);
        assert.equal(chapters.length, 1, `mangadex ${i}: one chapter`);
        assert.equal(result?.data?.id, chapters[0].id);
        assert.deepEqual(chapters[0].pages.map(p => p.sha256), shas, `mangadex ${i}: every page, in order, identical bytes`);
      }
    };
  }
};

const sleep = ms => new Promise(r => setTimeout(r, ms));

/** A credential the server refused: a 403 (a token, a storage node's or bucket's credential, a
 *  OneDrive upload URL), an invalid or expired api.video upload token, or a 401 with no
 *  `getAccessToken` to renew it (code `auth`, status 401). */
const isCredentialRefusal = e => e.status === 403 || (e.code === 'auth' && e.status === 401);

/** Why an upload failed, for the summary: `<provider>/<code>[-<status>][-<what>]`. */
function reasonOf(kind, e) {
  const provider = kind.startsWith('cloudreve') ? 'cloudreve' : kind;
  const m = String(e.message ?? '').toLowerCase();
  let what = '';
  if (isCredentialRefusal(e)) what = m.includes('upload token') ? '-upload-token' : e.status === 403 ? '-refused' : '-no-new-token';
  else if (e.code === 'session-expired') what = m.includes('last chunk') || m.includes('commit') ? '-after-final-request' : m.includes('expired') ? '-expired' : '';
  else if (m.includes('lock')) what = '-lock-conflict';
  return `${provider}/${e.code}${e.status ? `-${e.status}` : ''}${what}`;
}

/** Waits until the fake has no request of `session` running (at most 5 s); returns the count left. */
async function settle(base, session) {
  let s;
  for (let k = 0; k < 50; k++) {
    s = await control(base, 'GET', `/session/${session}`);
    if (!s.inFlight) return { left: 0, requests: s.requests, faultsFired: s.faultsFired };
    await sleep(100);
  }
  return { left: s.inFlight, requests: s.requests, faultsFired: s.faultsFired };
}

test(`fault soak: ${UPLOADS} uploads, ${CONCURRENCY} at once, every provider (seed ${SEED})`, { skip: !HAVE_PKG && 'www/pkg is not built (bash scripts/build.sh)', timeout: 15 * 60_000 }, async () => {
  console.log(`SOAK seed=${SEED} (rerun with SOAK_SEED=${SEED})`);
  const t0 = Date.now();
  const master = rng(SEED);
  const plan = Array.from({ length: UPLOADS }, (_, i) => ({ i, provider: ['peertube', 'apivideo', 'cloudreve', 'mangadex'][i % 4], seed: master.below(2 ** 31) }));
  const stats = { completed: 0, failed: {}, byReason: {}, notCredential: [], faultsFired: 0, events: 0, requests: 0, byKind: {}, problems: [] };
  let next = 0;

  async function one({ i, provider, seed }) {
    const r = rng(seed);
    const u = await PROVIDERS[provider](r, i);
    if (u.faults.length) await control(u.base, 'POST', `/session/${u.session}/faults`, u.faults);
    const timers = [];
    let fired = 0;
    for (const ev of u.events) {
      timers.push(setTimeout(() => { control(u.base, 'POST', ev.path, ev.body ?? {}).then(() => { fired++; }, () => {}); }, ev.at));
    }
    const out = await page.evaluate(spec => window.soakRun(spec), u.spec);
    for (const t of timers) clearTimeout(t);
    const after = await settle(u.base, u.session);
    stats.requests += after.requests;
    stats.faultsFired += after.faultsFired;
    stats.events += fired;
    const k = (stats.byKind[u.kind] ??= { completed: 0, failed: 0 });
    const tag = `#${i} ${u.kind} faults=${JSON.stringify(u.faults)} events=${JSON.stringify(u.events.map(e => e.what))}`;
    if (after.left) stats.problems.push(`${tag}: ${after.left} request(s) still running on the fake after the upload ended`);
    if (out.ok) {
      try {
        await u.verify(out.result, out.sha256s);
        stats.completed++;
        k.completed++;
      } catch (e) {
        stats.problems.push(`${tag}: completed but ${e.message}`);
      }
      return;
    }
    k.failed++;
    const code = out.error.code;
    if (process.env.SOAK_VERBOSE) console.log(`SOAK failure ${tag}: ${out.error.code} ${out.error.status ?? ''} ${out.error.message}`);
    stats.failed[code] = (stats.failed[code] ?? 0) + 1;
    const why = reasonOf(u.kind, out.error);
    stats.byReason[why] = (stats.byReason[why] ?? 0) + 1;
    if (!isCredentialRefusal(out.error)) stats.notCredential.push(`${tag}: ${out.error.code} ${out.error.status ?? ''} ${out.error.message}`);
    if (!out.error.typed || out.error.name !== 'UploadError' || !CODES.includes(code)) {
      stats.problems.push(`${tag}: failed without a typed UploadError: ${JSON.stringify(out.error)}`);
    } else if (after.faultsFired === 0 && fired === 0) {
      stats.problems.push(`${tag}: failed although no fault fired: ${JSON.stringify(out.error)}`);
    } else if (!u.faults.some(f => f.mayFail) && !u.events.some(e => e.mayFail)) {
      stats.problems.push(`${tag}: failed although every fault was recoverable: ${JSON.stringify(out.error)}`);
    }
  }

  async function lane() {
    while (next < plan.length) {
      const p = plan[next++];
      try {
        await one(p);
      } catch (e) {
        stats.problems.push(`#${p.i} ${p.provider}: soak harness error: ${e.stack ?? e}`);
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));

  const inflight = {};
  for (const [name, base] of Object.entries(FAKES)) inflight[name] = (await control(base, 'GET', '/inflight')).inFlight;
  const failed = Object.entries(stats.failed).map(([c, n]) => `${c}:${n}`).join(',') || 'none';
  const reasons = Object.entries(stats.byReason).sort().map(([c, n]) => `${c}:${n}`).join(',') || 'none';
  const refused = UPLOADS - stats.completed - stats.notCredential.length;
  const kinds = Object.entries(stats.byKind).sort().map(([kk, v]) => `${kk}:${v.completed}/${v.completed + v.failed}`).join(' ');
  console.log(`SOAK seed=${SEED} uploads=${UPLOADS} concurrency=${CONCURRENCY} completed=${stats.completed} failed=${UPLOADS - stats.completed} ` +
    `(credential-refused=${refused} other=${stats.notCredential.length}) by-code=${failed} ` +
    `faults-fired=${stats.faultsFired} events=${stats.events} requests=${stats.requests} in-flight-after=${Object.values(inflight).reduce((a, b) => a + b, 0)} ` +
    `time=${((Date.now() - t0) / 1000).toFixed(1)}s`);
  console.log(`SOAK failures by reason: ${reasons}`);
  console.log(`SOAK per provider (completed/total): ${kinds}`);
  for (const f of stats.notCredential) console.log(`SOAK not a credential refusal: ${f}`);
  for (const p of stats.problems) console.log(`SOAK problem: ${p}`);
  assert.deepEqual(stats.problems, [], `seed ${SEED}: ${stats.problems.length} problem(s)`);
  assert.ok(stats.completed >= UPLOADS * 0.6, `seed ${SEED}: only ${stats.completed} of ${UPLOADS} uploads completed`);
  assert.ok(stats.faultsFired > UPLOADS / 2, `seed ${SEED}: faults fired ${stats.faultsFired}`);
  if (process.env.SOAK_STRICT) {
    // The reliability goal (README Reliability): every failure is a credential the server refused.
    // (How many those are depends on the seed: a fatal 403 is drawn for 4% of the PeerTube,
    // Cloudreve and MangaDex uploads and an expiring upload token for 3% of the api.video ones, so
    // "97 of 100 complete" holds only on seeds that draw at most 3 refusals that fire.)
    assert.deepEqual(stats.notCredential, [], `seed ${SEED}: failures other than refused credentials`);
  }
});
