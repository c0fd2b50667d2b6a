// The per-provider entries of the npm package (`chunkup/peertube`, `chunkup/apivideo`,
// `chunkup/cloudreve`, `chunkup/mangadex`, each also `/web`, `/queue`, `/form`): each ships a wasm
// with only its provider's code (checked by a string only that provider's protocol has) and a
// chunkup.d.ts with only its provider's types. Then, like package.test.mjs: `npm pack ./pkg`, the
// tarball installed into a copy of the Vite app in tests/consumer, `tsc --noEmit` on the typed
// single-provider examples, one `vite build` per single-provider page (`chunkup/peertube` through
// vite-plugin-wasm, `chunkup/peertube/web` as an asset): its dist/ must hold exactly one wasm, that
// entry's. Those tests inspect files only and carry no engine tag. Then each built page uploads a
// file to the PeerTube fake through its entry's UploadQueue, in each engine of E2E_ENGINES
// (tests/e2e/engines.mjs; names end in ` [engine]`); the server must hold the same bytes.
// Needs `bash scripts/build.sh` first.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { forEachEngine } from './engines.mjs';
import { ROOT, ensureFake, pageServer, sha256, uploadThroughConsumerPage } from './harness.mjs';

const FAKE = process.env.CHUNKUP_PEERTUBE_URL || `http://127.0.0.1:${process.env.PEERTUBE_PORT || 18081}`;
const PKG = join(ROOT, 'pkg');
const BIN = join(ROOT, 'node_modules');
// Inside the repository (tests/.data is git-ignored) so that vite, vite-plugin-wasm and typescript
// resolve from the repository's node_modules: only the tarball is installed into the app.
const WORK = join(ROOT, 'tests/.data', `entries-test-${process.pid}`);
const APP = join(WORK, 'consumer');
const MB = 1024 * 1024;
const PROVIDERS = ['peertube', 'apivideo', 'cloudreve', 'mangadex'];
/** A request path only that provider's protocol sends (src/protocols/<provider>.rs): in its wasm, in no other. */
const MARKER = {
  peertube: '/api/v1/videos/upload-resumable',
  apivideo: '/upload-tokens',
  cloudreve: '/api/v4/file/upload',
  mangadex: '/upload/check-approval-required'
};
/** Each provider's Upload options type: declared by its own chunkup.d.ts only. */
const OPTIONS_TYPE = {
  peertube: 'PeerTubeUploadOptions',
  apivideo: 'ApiVideoUploadOptions',
  cloudreve: 'CloudreveUploadOptions',
  mangadex: 'MangaDexUploadOptions'
};
/** The JS API each provider adds to `Upload` and `UploadError` (README "JS API"): nothing else is
 *  exported (e.g. no `on_load`, the module's start function). */
const EXPORTS = {
  peertube: ['peertubeImportStatus', 'peertubeImportVideo', 'peertubeLegacyUpload', 'peertubeListImports', 'peertubeLogin',
    'peertubeRefreshToken', 'peertubeUpdateAvatar', 'peertubeUpdateBanner', 'peertubeUploadCaption'],
  apivideo: ['ProgressiveUpload', 'apiVideoAuthenticate', 'apiVideoCreateUploadToken', 'apiVideoDeleteUploadToken',
    'apiVideoGetUploadToken', 'apiVideoListUploadTokens', 'apiVideoRefreshToken'],
  cloudreve: ['cloudreveDeleteUploadSession', 'cloudreveLogin', 'cloudreveRefreshToken'],
  mangadex: ['mangadexCheckApprovalRequired', 'mangadexLogin', 'mangadexRefreshToken']
};
/** The names a chunkup.d.ts exports (functions and classes), sorted. */
const exportedNames = dts => [...dts.matchAll(/^export (?:default )?(?:declare )?(?:function|class) (\w+)/gm)].map(m => m[1]).sort();
/** The single-provider pages of tests/consumer: page, entry, where its wasm comes from in pkg/. */
const PAGES = [
  ['peertube.html', 'chunkup/peertube', 'peertube/chunkup_bg.wasm'],
  ['peertube-web.html', 'chunkup/peertube/web', 'peertube/web/chunkup_bg.wasm']
];

let tarball, stopFake;
const servers = {};

const run = (cmd, args, cwd, env = {}) => {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${e.status}):\n${e.stdout}\n${e.stderr}`);
  }
};
const has = (buf, text) => buf.includes(Buffer.from(text));
/** The Vite outDir of a single-provider page. */
const distOf = page => `dist-${page.replace('.html', '')}`;
const wasmFiles = dir => readdirSync(dir, { recursive: true }).filter(f => f.endsWith('.wasm'));

before(async () => {
  assert.ok(existsSync(join(PKG, 'package.json')), 'pkg/package.json exists (bash scripts/build.sh)');
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  stopFake = await ensureFake('peertube', FAKE);
});

after(async () => {
  for (const s of Object.values(servers)) await s.close();
  await stopFake?.();
  rmSync(WORK, { recursive: true, force: true });
});

describe('per-provider entries', () => {
  test('package.json exports chunkup/<provider> with /web, /queue and /form for each provider', () => {
    const pkg = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8'));
    for (const p of PROVIDERS) {
      for (const sub of ['', '/web', '/queue', '/form', '/web/queue', '/web/form']) {
        const e = pkg.exports[`./${p}${sub}`];
        assert.ok(e, `exports ./${p}${sub}`);
        assert.deepEqual(Object.keys(e), ['types', 'import', 'default'], `./${p}${sub}: types first`);
        for (const f of Object.values(e)) assert.ok(existsSync(join(PKG, f)), `./${p}${sub} → ${f} exists`);
      }
      for (const f of [`${p}/chunkup.js`, `${p}/web/chunkup.js`]) assert.ok(pkg.sideEffects.includes(`./${f}`), `sideEffects has ${f}`);
      // The helpers import `./chunkup.js`: the one next to them, this entry's.
      for (const dir of [p, `${p}/web`]) {
        assert.match(readFileSync(join(PKG, dir, 'queue.js'), 'utf8'), /from '\.\/chunkup\.js'/);
        assert.ok(existsSync(join(PKG, dir, 'chunkup.js')), `${dir}/chunkup.js next to ${dir}/queue.js`);
      }
    }
  });

  test("each single-provider wasm holds its provider's code and no other's; chunkup's holds all four", () => {
    for (const dir of ['', 'web/']) {
      const all = readFileSync(join(PKG, `${dir}chunkup_bg.wasm`));
      for (const p of PROVIDERS) assert.ok(has(all, MARKER[p]), `${dir}chunkup_bg.wasm (all) has ${p}'s ${MARKER[p]}`);
      for (const p of PROVIDERS) {
        const wasm = readFileSync(join(PKG, p, `${dir}chunkup_bg.wasm`));
        assert.ok(wasm.length < all.length, `${p}/${dir}chunkup_bg.wasm (${wasm.length} B) is smaller than all four (${all.length} B)`);
        for (const q of PROVIDERS) {
          assert.equal(has(wasm, MARKER[q]), p === q, `${p}/${dir}chunkup_bg.wasm ${p === q ? 'has' : 'lacks'} ${q}'s ${MARKER[q]}`);
        }
      }
    }
  });

  test('each entry exports Upload, UploadError and its providers\' helpers, nothing more', () => {
    for (const dir of ['', 'web/']) {
      const init = dir ? ['__wbg_init', 'initSync'] : [];
      const expect = ps => ['Upload', 'UploadError', ...init, ...ps.flatMap(p => EXPORTS[p])].sort();
      assert.deepEqual(exportedNames(readFileSync(join(PKG, `${dir}chunkup.d.ts`), 'utf8')), expect(PROVIDERS), `${dir}chunkup.d.ts (all)`);
      for (const p of PROVIDERS) {
        assert.deepEqual(exportedNames(readFileSync(join(PKG, p, `${dir}chunkup.d.ts`), 'utf8')), expect([p]), `${p}/${dir}chunkup.d.ts`);
      }
    }
  });

  test("each single-provider chunkup.d.ts declares its provider's options only", () => {
    for (const dir of ['', 'web/']) {
      const all = readFileSync(join(PKG, `${dir}chunkup.d.ts`), 'utf8');
      for (const p of PROVIDERS) assert.match(all, new RegExp(`export interface ${OPTIONS_TYPE[p]}\\b`));
      for (const p of PROVIDERS) {
        const dts = readFileSync(join(PKG, p, `${dir}chunkup.d.ts`), 'utf8');
        for (const q of PROVIDERS) {
          assert.equal(dts.includes(OPTIONS_TYPE[q]), p === q, `${p}/${dir}chunkup.d.ts ${p === q ? 'declares' : 'does not mention'} ${OPTIONS_TYPE[q]}`);
        }
        assert.match(dts, /export class Upload<O extends UploadOptions = UploadOptions>/, 'Upload typed by its options');
      }
    }
  });

  test('npm pack; installed into the Vite app, tsc --noEmit passes on the typed single-provider examples', t => {
    const [info] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', WORK], PKG));
    tarball = join(WORK, info.filename);
    const files = info.files.map(f => f.path);
    for (const p of PROVIDERS) {
      for (const f of ['index.js', 'index.d.ts', 'chunkup.js', 'chunkup_bg.js', 'chunkup_bg.wasm', 'chunkup.d.ts', 'queue.js', 'form.d.ts',
        'web/chunkup.js', 'web/chunkup_bg.wasm', 'web/chunkup.d.ts', 'web/queue.d.ts', 'web/form.js']) {
        assert.ok(files.includes(`${p}/${f}`), `tarball has ${p}/${f}`);
      }
    }
    t.diagnostic(`${info.filename}: ${(info.size / 1024).toFixed(0)} KiB packed, ${(info.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${info.entryCount} files`);
    cpSync(join(ROOT, 'tests/consumer'), APP, { recursive: true, filter: src => !/node_modules|dist$/.test(src) });
    run('npm', ['install', '--no-audit', '--no-fund', '--offline', '--no-package-lock', '--no-save', tarball], APP);
    // Only the single-provider files: tests/e2e/package.test.mjs checks the whole app.
    const config = { extends: './tsconfig.json', include: ['src/typed-entries.ts', 'src/peertube.ts', 'src/peertube-web.ts'] };
    writeFileSync(join(APP, 'tsconfig.entries.json'), JSON.stringify(config));
    run(process.execPath, [join(BIN, 'typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.entries.json'], APP);
  });

  for (const [page, entry, wasmPath] of PAGES) {
    test(`vite build of a page importing only '${entry}': dist/ holds one wasm, that entry's`, () => {
      assert.ok(tarball, 'packed and installed');
      const out = distOf(page);
      const log = run(process.execPath, [join(BIN, 'vite/bin/vite.js'), 'build', '--outDir', out, '--logLevel', 'info'], APP, { CONSUMER_PAGES: page });
      const wasm = wasmFiles(join(APP, out));
      assert.equal(wasm.length, 1, `exactly one .wasm in ${out}: ${wasm.join(', ')}\n${log}`);
      const built = readFileSync(join(APP, out, wasm[0]));
      assert.equal(sha256(built), sha256(readFileSync(join(PKG, wasmPath))), `${wasm[0]} is pkg/${wasmPath}`);
      for (const p of PROVIDERS) assert.equal(has(built, MARKER[p]), p === 'peertube', `${p}'s code ${p === 'peertube' ? 'in' : 'not in'} the app's wasm`);
    });
  }
});

// The built single-provider pages in each engine of E2E_ENGINES (tests/e2e/engines.mjs).
forEachEngine(({ browser, name }) => {
  for (const [page, entry] of PAGES) {
    test(name(`the built page uploads through '${entry}' and its UploadQueue; the server holds identical bytes`), async () => {
      const out = distOf(page);
      assert.ok(existsSync(join(APP, out, page)), 'built (the vite build tests above ran first)');
      servers[out] ??= await pageServer({ root: join(APP, out) });
      await uploadThroughConsumerPage({ browser: await browser(), origin: servers[out].origin, page, entry, fake: FAKE, size: 2 * MB + 777, mb: MB });
    });
  }
});
