#!/usr/bin/env bash
# Release build: pkg/ for npm (bundler target, plus the web target in pkg/web/; `npm pack ./pkg`)
# and www/pkg/ for the pages (web target),
# each optimised with binaryen's wasm-opt from npm (Debian's v108 breaks the output).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
WASM_OPT="$PWD/node_modules/.bin/wasm-opt"
build() { # target out-dir
  wasm-pack build --release --mode no-install --no-pack --target "$1" --out-dir "$2" >/dev/null 2>&1 \
    || wasm-pack build --release --mode no-install --no-pack --target "$1" --out-dir "$2"
  if [ -x "$WASM_OPT" ]; then
    "$WASM_OPT" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
      "$2/chunkup_bg.wasm" -o "$2/chunkup_bg.opt.wasm" && mv "$2/chunkup_bg.opt.wasm" "$2/chunkup_bg.wasm"
  fi
}
build web www/pkg
cp src/js/*.js src/js/*.d.ts www/pkg/   # chunkup/queue and chunkup/form next to the web build (pages import them)
build bundler pkg
# The npm package `chunkup` in pkg/: package.json, the main entry, and the web build under pkg/web/.
node scripts/package.mjs >/dev/null
for f in www/pkg/chunkup_bg.wasm www/pkg/chunkup.js; do
  echo "size $f: raw $(stat -c %s "$f") B, gzip -9 $(gzip -9 -c "$f" | wc -c) B"
done
