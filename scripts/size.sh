#!/usr/bin/env bash
# Size of the shipped module per build variant: the full build (all four providers, the default)
# and one build per provider feature (`--no-default-features --features <provider>`), each a
# release wasm-pack build (web target) optimised like scripts/build.sh (binaryen wasm-opt -Oz).
# Prints raw and gzip -9 bytes of chunkup_bg.wasm and chunkup.js. Leaves www/pkg and pkg alone.
#
#   bash scripts/size.sh                      # all peertube apivideo cloudreve mangadex
#   bash scripts/size.sh peertube mangadex    # just these variants
#   SIZE_OUT=/tmp/sizes bash scripts/size.sh  # keep the builds in $SIZE_OUT/<variant>/
#
# Each variant is a full LTO build (~30-60 s): for `npm run bench` and by hand, not for CI.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
WASM_OPT="$PWD/node_modules/.bin/wasm-opt"
[ -x "$WASM_OPT" ] || { echo "size.sh: $WASM_OPT missing (npm install)" >&2; exit 1; }
VARIANTS=("$@")
[ ${#VARIANTS[@]} -gt 0 ] || VARIANTS=(all peertube apivideo cloudreve mangadex)
OUT=${SIZE_OUT:-$(mktemp -d)}
[ -n "${SIZE_OUT:-}" ] || trap 'rm -rf "$OUT"' EXIT
gz() { gzip -9 -c "$1" | wc -c; }

printf '%-10s %10s %10s %10s %10s %11s\n' variant 'wasm raw' 'wasm gz' 'js raw' 'js gz' 'total gz'
for v in "${VARIANTS[@]}"; do
  case "$v" in
    all) features=() ;;
    peertube | apivideo | cloudreve | mangadex) features=(-- --no-default-features --features "$v") ;;
    *) echo "size.sh: unknown variant $v (all, peertube, apivideo, cloudreve, mangadex)" >&2; exit 2 ;;
  esac
  dir="$OUT/$v"
  if ! log=$(wasm-pack build --release --mode no-install --no-pack --target web --out-dir "$dir" "${features[@]}" 2>&1); then
    echo "$log" >&2; exit 1
  fi
  "$WASM_OPT" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    "$dir/chunkup_bg.wasm" -o "$dir/chunkup_bg.opt.wasm" && mv "$dir/chunkup_bg.opt.wasm" "$dir/chunkup_bg.wasm"
  w="$dir/chunkup_bg.wasm" j="$dir/chunkup.js"
  printf '%-10s %10d %10d %10d %10d %11d\n' "$v" "$(stat -c %s "$w")" "$(gz "$w")" "$(stat -c %s "$j")" "$(gz "$j")" $(($(gz "$w") + $(gz "$j")))
done
