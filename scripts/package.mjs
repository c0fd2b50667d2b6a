#!/usr/bin/env node
// Assembles the builds of scripts/build.sh (target/entries/<entry>/<target>/, see scripts/entries.sh)
// into the publishable npm package `chunkup` in pkg/, and the pages' module in www/pkg/:
//   pkg/                 `chunkup`: all four providers, --target bundler (wasm imported as an ES
//                        module: webpack 5's asyncWebAssembly, Vite with vite-plugin-wasm, Rollup
//                        with a wasm plugin); pkg/index.js adds a default `init()` that does nothing,
//                        so `import init, { Upload } from 'chunkup'; await init();` (the README's
//                        code, written for the web build) runs unchanged with a bundler
//   pkg/web/             `chunkup/web`: all four, --target web (init() fetches the .wasm via
//                        `new URL(..., import.meta.url)`: plain <script type="module">, Vite without plugins)
//   pkg/<provider>/      `chunkup/<provider>` (peertube, apivideo, cloudreve, mangadex): the same two
//   pkg/<provider>/web/  builds with only that provider in the wasm and in chunkup.d.ts
//   queue.js, form.js (+ .d.ts)  the plain-JS helpers from src/js/ (UploadQueue, enhanceForm) in each
//                        of those directories (`chunkup/queue`, `chunkup/peertube/web/form`, …): each
//                        imports `./chunkup.js` next to it, so it uses its own entry's module
//   www/pkg/             a copy of pkg/web/ for the pages (www/*.html import ./pkg/chunkup.js)
// `npm pack ./pkg` then makes the tarball.
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILDS = join(ROOT, 'target/entries');
const PKG = join(ROOT, 'pkg');
const WWW_PKG = join(ROOT, 'www/pkg');
const JS = join(ROOT, 'src/js');
const HELPERS = ['queue', 'form'];
const PROVIDERS = ['peertube', 'apivideo', 'cloudreve', 'mangadex'];
/** Each entry's build and where it goes: `sub` is its directory in pkg/ ('' for `chunkup`). */
const ENTRIES = [{ build: 'all', sub: '' }, ...PROVIDERS.map(p => ({ build: p, sub: p }))];
/** wasm-pack's files that are not part of the package. */
const NOT_SHIPPED = /(^|[\\/])(\.gitignore|package\.json|README\.md|LICENSE[^\\/]*)$/;

/** The `[package]` table's string fields of Cargo.toml (enough for name, version, description…). */
function cargoPackage() {
  const out = {};
  let inPackage = false;
  for (const line of readFileSync(join(ROOT, 'Cargo.toml'), 'utf8').split('\n')) {
    const section = line.match(/^\s*\[([^\]]+)\]/);
    if (section) { inPackage = section[1].trim() === 'package'; continue; }
    const kv = inPackage && line.match(/^\s*([A-Za-z_-]+)\s*=\s*"((?:[^"\\]|\\.)*)"/);
    if (kv) out[kv[1]] = JSON.parse(`"${kv[2]}"`);
  }
  return out;
}

for (const { build } of ENTRIES) {
  for (const target of ['bundler', 'web']) {
    for (const f of ['chunkup.js', 'chunkup_bg.wasm', 'chunkup.d.ts']) {
      const path = join(BUILDS, build, target, f);
      if (!existsSync(path)) throw new Error(`${path} is missing: run bash scripts/build.sh first`);
    }
  }
}

// `Upload` typed by its options: wasm-bindgen cannot declare a generic class, so
// the class is made generic here, `new Upload(file, { provider: 'peertube', … }).start()` then
// resolves with `PeerTubeVideoResult & IntegrityResult` (UploadResultFor, in the types section).
function typedUpload(text, dts) {
  const swaps = [
    ['export class Upload {', 'export class Upload<O extends UploadOptions = UploadOptions> {'],
    ['constructor(input: File | Blob | File[] | FileList, options: UploadOptions);',
      'constructor(input: File | Blob | File[] | FileList, options: O);'],
    ['start(): Promise<UploadResult>;', 'start(): Promise<UploadResultFor<O>>;']
  ];
  for (const [from, to] of swaps) {
    const at = text.indexOf(from);
    if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`${dts}: expected exactly one \`${from}\` (wasm-bindgen output changed?)`);
    text = text.replace(from, to);
  }
  return text;
}

// wasm-bindgen declares `[Symbol.dispose](): void` on its classes: without this reference a project
// whose `lib` stops before ESNext (e.g. ES2022 + DOM, and no skipLibCheck) fails to type-check.
const DISPOSABLE = '/// <reference lib="esnext.disposable" />\n';

/** One build into `dir`: wasm-bindgen's files as emitted, chunkup.d.ts typed, the helpers next to it. */
function install(from, dir) {
  cpSync(from, dir, { recursive: true, filter: src => !NOT_SHIPPED.test(src) });
  const dts = join(dir, 'chunkup.d.ts');
  writeFileSync(dts, DISPOSABLE + typedUpload(readFileSync(dts, 'utf8'), dts));
  for (const h of HELPERS) for (const ext of ['.js', '.d.ts']) copyFileSync(join(JS, h + ext), join(dir, h + ext));
}

const INDEX_JS = `\
/* @ts-self-types="./index.d.ts" */
// chunkup for bundlers: the module is instantiated when it is imported.
export * from './chunkup.js';

/**
 * Nothing to do with a bundler (the WebAssembly module is ready once imported); present so code
 * written for the web build (\`import init from ...; await init();\`) runs unchanged.
 */
export default function init() {
  return Promise.resolve();
}
`;
const INDEX_DTS = `\
export * from './chunkup.js';

/**
 * With a bundler the module is ready once imported: this resolves at once. It exists so code
 * written for the web build (\`import init from 'chunkup/web'; await init();\`) runs unchanged.
 */
export default function init(module_or_path?: unknown): Promise<void>;
`;

rmSync(PKG, { recursive: true, force: true });
for (const { build, sub } of ENTRIES) {
  const dir = join(PKG, sub);
  mkdirSync(dir, { recursive: true });
  install(join(BUILDS, build, 'bundler'), dir);
  install(join(BUILDS, build, 'web'), join(dir, 'web'));
  writeFileSync(join(dir, 'index.js'), INDEX_JS);
  writeFileSync(join(dir, 'index.d.ts'), INDEX_DTS);
}
rmSync(WWW_PKG, { recursive: true, force: true });
cpSync(join(PKG, 'web'), WWW_PKG, { recursive: true });

const cargo = cargoPackage();
const entryOf = sub => (sub ? `./${sub}` : '.');
const pathOf = (sub, f) => (sub ? `./${sub}/${f}` : `./${f}`);
const esm = (types, js) => ({ types, import: js, default: js });
/** `chunkup[/<provider>]`, its web build, their helpers and wasm files. */
const exportsOf = sub => ({
  [entryOf(sub)]: esm(pathOf(sub, 'index.d.ts'), pathOf(sub, 'index.js')),
  [pathOf(sub, 'web')]: esm(pathOf(sub, 'web/chunkup.d.ts'), pathOf(sub, 'web/chunkup.js')),
  ...Object.fromEntries(HELPERS.flatMap(h => [
    [pathOf(sub, h), esm(pathOf(sub, `${h}.d.ts`), pathOf(sub, `${h}.js`))],
    [pathOf(sub, `web/${h}`), esm(pathOf(sub, `web/${h}.d.ts`), pathOf(sub, `web/${h}.js`))]
  ])),
  [pathOf(sub, 'chunkup_bg.wasm')]: pathOf(sub, 'chunkup_bg.wasm'),
  [pathOf(sub, 'web/chunkup_bg.wasm')]: pathOf(sub, 'web/chunkup_bg.wasm')
});
const prefix = sub => (sub ? `${sub}/` : '');
const filesOf = sub => [
  'index.js', 'index.d.ts',
  'chunkup.js', 'chunkup_bg.js', 'chunkup_bg.wasm', 'chunkup.d.ts', 'chunkup_bg.wasm.d.ts',
  ...(existsSync(join(PKG, sub, 'snippets')) ? ['snippets/'] : []),
  'web/chunkup.js', 'web/chunkup_bg.wasm', 'web/chunkup.d.ts', 'web/chunkup_bg.wasm.d.ts',
  ...(existsSync(join(PKG, sub, 'web/snippets')) ? ['web/snippets/'] : []),
  ...HELPERS.flatMap(h => [`${h}.js`, `${h}.d.ts`, `web/${h}.js`, `web/${h}.d.ts`])
].map(f => prefix(sub) + f);

const pkg = {
  name: 'chunkup',
  version: cargo.version,
  description: cargo.description,
  license: cargo.license,
  repository: { type: 'git', url: cargo.repository },
  keywords: ['upload', 'chunked', 'resumable', 'webassembly', 'wasm', 'peertube', 'api.video', 'cloudreve', 'mangadex'],
  type: 'module',
  main: './index.js',
  module: './index.js',
  types: './index.d.ts',
  exports: {
    ...Object.assign({}, ...ENTRIES.map(({ sub }) => exportsOf(sub))),
    './package.json': './package.json'
  },
  files: [...ENTRIES.flatMap(({ sub }) => filesOf(sub)), 'README.md'],
  // chunkup.js hands the instantiated module to the glue and starts it; snippets register themselves.
  sideEffects: ENTRIES.flatMap(({ sub }) => ['chunkup.js', 'web/chunkup.js', 'snippets/*', 'web/snippets/*'].map(f => `./${prefix(sub)}${f}`))
};
for (const f of pkg.files.filter(f => !f.endsWith('/'))) {
  if (!existsSync(join(PKG, f)) && f !== 'README.md') throw new Error(`pkg/${f} listed in "files" but missing`);
}
writeFileSync(join(PKG, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
copyFileSync(join(ROOT, 'README.md'), join(PKG, 'README.md'));
console.log(`package chunkup@${pkg.version} in pkg/: ${Object.keys(pkg.exports).filter(e => !/wasm|helpers|queue|form|json/.test(e)).join(', ')}; www/pkg = pkg/web`);
