#!/usr/bin/env node
// Turns the wasm-pack output into the publishable npm package `chunkup` in pkg/:
//   pkg/            the --target bundler build (wasm imported as an ES module: webpack 5's
//                   asyncWebAssembly, Vite with vite-plugin-wasm, Rollup with a wasm plugin)
//   pkg/web/        the --target web build (copied from www/pkg; init() fetches the .wasm via
//                   `new URL(..., import.meta.url)`: plain <script type="module">, Vite without plugins)
//   pkg/queue.js, pkg/form.js (+ .d.ts)   the plain-JS helpers from src/js/ (UploadQueue,
//                   enhanceForm), in pkg/ and in pkg/web/: each imports `./chunkup.js` next to it
//   pkg/index.js    the main entry: everything from the bundler build, plus a default `init()` that
//                   does nothing, so `import init, { Upload } from 'chunkup'; await init();` (the
//                   README's code, written for the web build) runs unchanged with a bundler.
// Run by scripts/build.sh after both wasm-pack builds; `npm pack ./pkg` then makes the tarball.
import { copyFileSync, cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PKG = join(ROOT, 'pkg');
const WEB_SRC = join(ROOT, 'www/pkg');
const WEB = join(PKG, 'web');
const JS = join(ROOT, 'src/js');
const HELPERS = ['queue', 'form'];

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

for (const [dir, what] of [[PKG, '--target bundler'], [WEB_SRC, '--target web']]) {
  for (const f of ['chunkup.js', 'chunkup_bg.wasm', 'chunkup.d.ts']) {
    if (!existsSync(join(dir, f))) throw new Error(`${join(dir, f)} is missing: run the wasm-pack build (${what}) first`);
  }
}

// `Upload` typed by its options: wasm-bindgen cannot declare a generic class, so
// the class is made generic here, `new Upload(file, { provider: 'peertube', … }).start()` then
// resolves with `PeerTubeVideoResult & IntegrityResult` (UploadResultFor, in the types section).
function typedUpload(dts) {
  let text = readFileSync(dts, 'utf8');
  if (text.includes('export class Upload<O extends UploadOptions')) return;
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
  writeFileSync(dts, text);
}
for (const dir of [PKG, WEB_SRC]) typedUpload(join(dir, 'chunkup.d.ts'));

// web/: a fresh copy of the web build (wasm-pack's `.gitignore` with `*` would hide it from npm).
rmSync(WEB, { recursive: true, force: true });
cpSync(WEB_SRC, WEB, { recursive: true, filter: src => !src.endsWith('.gitignore') });
rmSync(join(PKG, '.gitignore'), { force: true });

// The plain-JS helpers next to each build's chunkup.js (www/pkg gets them from scripts/build.sh).
for (const dir of [PKG, WEB]) {
  for (const h of HELPERS) for (const ext of ['.js', '.d.ts']) copyFileSync(join(JS, h + ext), join(dir, h + ext));
}

// wasm-bindgen declares `[Symbol.dispose](): void` on its classes: without this reference a project
// whose `lib` stops before ESNext (e.g. ES2022 + DOM, and no skipLibCheck) fails to type-check.
const DISPOSABLE = '/// <reference lib="esnext.disposable" />\n';
for (const dts of [join(PKG, 'chunkup.d.ts'), join(WEB, 'chunkup.d.ts')]) {
  const text = readFileSync(dts, 'utf8');
  if (!text.startsWith(DISPOSABLE)) writeFileSync(dts, DISPOSABLE + text);
}

writeFileSync(join(PKG, 'index.js'), `\
/* @ts-self-types="./index.d.ts" */
// chunkup for bundlers: the module is instantiated when it is imported.
export * from './chunkup.js';

/**
 * Nothing to do with a bundler (the WebAssembly module is ready once imported); present so code
 * written for 'chunkup/web' (\`import init from ...; await init();\`) runs unchanged.
 */
export default function init() {
  return Promise.resolve();
}
`);
writeFileSync(join(PKG, 'index.d.ts'), `\
export * from './chunkup.js';

/**
 * With a bundler the module is ready once imported: this resolves at once. It exists so code
 * written for \`chunkup/web\` (\`import init from 'chunkup/web'; await init();\`) runs unchanged.
 */
export default function init(module_or_path?: unknown): Promise<void>;
`);

const cargo = cargoPackage();
const snippets = existsSync(join(PKG, 'snippets'));
const webSnippets = existsSync(join(WEB, 'snippets'));
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
    '.': {
      types: './index.d.ts',
      import: './index.js',
      default: './index.js'
    },
    './web': {
      types: './web/chunkup.d.ts',
      import: './web/chunkup.js',
      default: './web/chunkup.js'
    },
    ...Object.fromEntries(HELPERS.flatMap(h => [
      [`./${h}`, { types: `./${h}.d.ts`, import: `./${h}.js`, default: `./${h}.js` }],
      [`./web/${h}`, { types: `./web/${h}.d.ts`, import: `./web/${h}.js`, default: `./web/${h}.js` }]
    ])),
    './chunkup_bg.wasm': './chunkup_bg.wasm',
    './web/chunkup_bg.wasm': './web/chunkup_bg.wasm',
    './package.json': './package.json'
  },
  files: [
    'index.js', 'index.d.ts',
    'chunkup.js', 'chunkup_bg.js', 'chunkup_bg.wasm', 'chunkup.d.ts', 'chunkup_bg.wasm.d.ts',
    ...(snippets ? ['snippets/'] : []),
    'web/chunkup.js', 'web/chunkup_bg.wasm', 'web/chunkup.d.ts', 'web/chunkup_bg.wasm.d.ts',
    ...(webSnippets ? ['web/snippets/'] : []),
    ...HELPERS.flatMap(h => [`${h}.js`, `${h}.d.ts`, `web/${h}.js`, `web/${h}.d.ts`]),
    'README.md'
  ],
  // chunkup.js hands the instantiated module to the glue and starts it; snippets register themselves.
  sideEffects: ['./chunkup.js', './web/chunkup.js', './snippets/*', './web/snippets/*']
};
for (const f of pkg.files.filter(f => !f.endsWith('/'))) {
  if (!existsSync(join(PKG, f)) && f !== 'README.md') throw new Error(`pkg/${f} listed in "files" but missing`);
}
writeFileSync(join(PKG, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
copyFileSync(join(ROOT, 'README.md'), join(PKG, 'README.md'));
console.log(`package chunkup@${pkg.version}: pkg/ (bundler) + pkg/web/ (web); files: ${readdirSync(PKG).join(', ')}`);
