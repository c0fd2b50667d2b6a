// The npm package as a user gets it: `npm pack ./pkg`, install the tarball into a copy of the Vite
// app in tests/consumer, type-check its typed example with `tsc --noEmit`, `vite build` it, serve the
// build and upload a file to the PeerTube fake in each engine of E2E_ENGINES, through both entries
// ('chunkup' = the bundler build via vite-plugin-wasm, 'chunkup/web' = the web build). The server
// must hold the same bytes. Needs `bash scripts/build.sh` first (it writes pkg/package.json).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { forEachEngine } from './engines.mjs';
import { ROOT, ensureFake, pageServer, uploadThroughConsumerPage } from './harness.mjs';

const FAKE = process.env.CHUNKUP_PEERTUBE_URL || `http://127.0.0.1:${process.env.PEERTUBE_PORT || 18081}`;
const PKG = join(ROOT, 'pkg');
const BIN = join(ROOT, 'node_modules');
// Inside the repository (tests/.data is git-ignored) so that vite, vite-plugin-wasm and typescript
// resolve from the repository's node_modules: only the tarball is installed into the app.
const WORK = join(ROOT, 'tests/.data', `package-test-${process.pid}`);
const APP = join(WORK, 'consumer');
const MB = 1024 * 1024;

let tarball, pages, stopFake;

const run = (cmd, args, cwd) => {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${e.status}):\n${e.stdout}\n${e.stderr}`);
  }
};

before(async () => {
  assert.ok(existsSync(join(PKG, 'package.json')), 'pkg/package.json exists (bash scripts/build.sh)');
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  stopFake = await ensureFake('peertube', FAKE);
});

after(async () => {
  await pages?.close();
  await stopFake?.();
  rmSync(WORK, { recursive: true, force: true });
});

describe('npm package', () => {
  test('package.json resolves for bundlers and TypeScript', () => {
    const pkg = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8'));
    const cargo = readFileSync(join(ROOT, 'Cargo.toml'), 'utf8').match(/^version\s*=\s*"([^"]+)"/m)[1];
    assert.equal(pkg.name, 'chunkup');
    assert.equal(pkg.version, cargo, 'version comes from Cargo.toml');
    assert.equal(pkg.type, 'module');
    assert.equal(pkg.private, undefined);
    for (const entry of ['.', './web', './queue', './form', './web/queue', './web/form']) {
      const e = pkg.exports[entry];
      assert.deepEqual(Object.keys(e), ['types', 'import', 'default'], `${entry}: types first`);
      for (const f of Object.values(e)) assert.ok(existsSync(join(PKG, f)), `${entry} → ${f} exists`);
    }
    assert.ok(pkg.sideEffects.includes('./chunkup.js') && pkg.sideEffects.includes('./web/chunkup.js'));
    assert.ok(existsSync(join(PKG, pkg.types)) && existsSync(join(PKG, pkg.module)));
  });

  test('npm pack makes a tarball with both builds and nothing else', t => {
    const [info] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', WORK], PKG));
    tarball = join(WORK, info.filename);
    const files = info.files.map(f => f.path).sort();
    for (const f of ['package.json', 'index.js', 'index.d.ts', 'chunkup.js', 'chunkup_bg.js', 'chunkup_bg.wasm', 'chunkup.d.ts',
      'web/chunkup.js', 'web/chunkup_bg.wasm', 'web/chunkup.d.ts', 'README.md',
      'queue.js', 'queue.d.ts', 'form.js', 'form.d.ts', 'web/queue.js', 'web/queue.d.ts', 'web/form.js', 'web/form.d.ts']) {
      assert.ok(files.includes(f), `tarball has ${f}: ${files.join(', ')}`);
    }
    assert.deepEqual(files.filter(f => /\.gitignore|\.tgz$|^src\/|^target\//.test(f)), []);
    t.diagnostic(`${info.filename}: ${(info.size / 1024).toFixed(0)} KiB packed, ${info.entryCount} files`);
  });

  test('installs into a Vite app; tsc --noEmit passes on the typed examples (chunkup, chunkup/queue, chunkup/form); vite build succeeds', () => {
    assert.ok(tarball, 'packed');
    cpSync(join(ROOT, 'tests/consumer'), APP, { recursive: true, filter: src => !/node_modules|dist$/.test(src) });
    run('npm', ['install', '--no-audit', '--no-fund', '--offline', '--no-package-lock', '--no-save', tarball], APP);
    assert.ok(existsSync(join(APP, 'node_modules/chunkup/package.json')), 'installed from the tarball');
    run(process.execPath, [join(BIN, 'typescript/bin/tsc'), '--noEmit', '-p', '.'], APP);
    const log = run(process.execPath, [join(BIN, 'vite/bin/vite.js'), 'build', '--logLevel', 'info'], APP);
    const assets = readdirSync(join(APP, 'dist/assets'));
    assert.ok(assets.some(f => f.endsWith('.wasm')), `the .wasm is emitted: ${assets.join(', ')}\n${log}`);
  });
});

forEachEngine(({ browser, name }) => {
  for (const [page, entry] of [['index.html', 'chunkup'], ['web.html', 'chunkup/web']]) {
    test(name(`the built app uploads through '${entry}'; the server holds identical bytes`), async () => {
      assert.ok(existsSync(join(APP, 'dist', page)), 'built (the npm package tests above ran first)');
      pages ??= await pageServer({ root: join(APP, 'dist') });
      await uploadThroughConsumerPage({ browser: await browser(), origin: pages.origin, page, entry, fake: FAKE, size: 3 * MB + 4321, mb: MB });
    });
  }
});
