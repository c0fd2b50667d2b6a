# Sourced by scripts/build.sh and scripts/size.sh: the release builds of chunkup's entries.
#
# An entry is a set of providers: `all` (the default features: the npm package's `chunkup` and
# www/pkg) or one provider (`--no-default-features --features <provider>`: `chunkup/<provider>`).
# Each is built for two wasm-bindgen targets, `web` and `bundler`, into
#   target/entries/<entry>/<target>/   chunkup_bg.wasm (after wasm-opt -Oz), chunkup.js (+ chunkup_bg.js
#                                      for bundler), chunkup.d.ts: exactly what wasm-pack emits.
# Both targets of an entry share one cargo (LTO) build; the second wasm-pack run only re-runs
# wasm-bindgen and wasm-opt.
ENTRIES=(all peertube apivideo cloudreve mangadex)
ENTRY_TARGETS=(web bundler)
ENTRY_ROOT="$PWD/target/entries"
WASM_OPT="$PWD/node_modules/.bin/wasm-opt"
WASM_OPT_FLAGS="-Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# The cargo features of an entry, as wasm-pack's trailing arguments.
entry_features() {
  case "$1" in
    all) ;;
    peertube | apivideo | cloudreve | mangadex) echo "-- --no-default-features --features $1" ;;
    *) echo "unknown entry $1 (${ENTRIES[*]})" >&2; return 2 ;;
  esac
}

# build_entry <entry> <target>: a release build, optimised with binaryen's wasm-opt from npm
# (Debian's v108 breaks the output). Quiet unless it fails. wasm-opt -Oz is the slow step (~15 s
# of CPU): when wasm-bindgen gave the other target of the entry the very same wasm (it does for web
# and bundler today) and it was optimised by the same wasm-opt with the same flags, that target's
# optimised wasm is reused (wasm-opt is deterministic).
build_entry() {
  local out="$ENTRY_ROOT/$1/$2" features key other
  features=$(entry_features "$1") || return
  [ -x "$WASM_OPT" ] || { echo "$WASM_OPT missing (npm ci)" >&2; return 1; }
  rm -rf "$out" "$out.opt-key"
  # shellcheck disable=SC2086 # $features is a word list
  wasm-pack build --release --mode no-install --no-pack --target "$2" --out-dir "$out" $features >/dev/null 2>&1 \
    || wasm-pack build --release --mode no-install --no-pack --target "$2" --out-dir "$out" $features
  key="$(sha256sum <"$out/chunkup_bg.wasm" | cut -d' ' -f1) $("$WASM_OPT" --version) $WASM_OPT_FLAGS"
  for other in "${ENTRY_TARGETS[@]}"; do
    # <target>.opt-key is written once <target>/chunkup_bg.wasm is optimised: the raw wasm's sum, wasm-opt's version and flags.
    if [ "$other" != "$2" ] && [ "$(cat "$ENTRY_ROOT/$1/$other.opt-key" 2>/dev/null)" = "$key" ]; then
      cp "$ENTRY_ROOT/$1/$other/chunkup_bg.wasm" "$out/chunkup_bg.wasm"
      echo "$key" >"$out.opt-key"
      return
    fi
  done
  # shellcheck disable=SC2086 # $WASM_OPT_FLAGS is a word list
  "$WASM_OPT" $WASM_OPT_FLAGS "$out/chunkup_bg.wasm" -o "$out/chunkup_bg.opt.wasm"
  mv "$out/chunkup_bg.opt.wasm" "$out/chunkup_bg.wasm"
  echo "$key" >"$out.opt-key"
}

# entry_fresh <entry> <target>: true when its build exists and is newer than every input (src/,
# Cargo.toml, Cargo.lock, this file).
entry_fresh() {
  local wasm="$ENTRY_ROOT/$1/$2/chunkup_bg.wasm"
  [ -f "$wasm" ] && [ -f "$ENTRY_ROOT/$1/$2/chunkup.js" ] \
    && [ -z "$(find src Cargo.toml Cargo.lock scripts/entries.sh -newer "$wasm" -print -quit)" ]
}
