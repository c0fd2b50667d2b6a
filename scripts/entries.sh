# Sourced by scripts/build.sh and scripts/size.sh: the release builds of chunkup's entries.
#
# An entry is a set of providers: `all` (the default features: the npm package's `chunkup` and
# www/pkg) or one provider (`--no-default-features --features <provider>`: `chunkup/<provider>`).
# Each is built for two wasm-bindgen targets, `web` and `bundler`, into
#   target/entries/<entry>/<target>/   chunkup_bg.wasm (after wasm-opt -Oz), chunkup.js (+ chunkup_bg.js
#                                      for bundler), chunkup.d.ts: exactly what wasm-pack emits.
# Both targets of an entry share one cargo (LTO) build and, when wasm-bindgen gives them the same
# wasm, one wasm-opt run.
ENTRIES=(all peertube apivideo cloudreve mangadex)
ENTRY_TARGETS=(web bundler)
ENTRY_ROOT="$PWD/target/entries"
WASM_OPT="$PWD/node_modules/.bin/wasm-opt"
# -Oz, then binaryen's control-flow rebuild (--flatten --rereloop) and -Oz, twice, and a last
# -Oz: -1.0 KiB gzip on every entry for the first round, -0.4 more for the second and the last -Oz
# (measured stops 21 and 22; -O4, --flatten alone, --converge, a third round gain nothing).
# The `producers` and `target_features` custom sections (toolchain names and versions, the
# features rustc enabled) are left out: browsers ignore them (-0.2 KiB gzip, stop 23).
WASM_OPT_FLAGS="-Oz --flatten --rereloop -Oz --flatten --rereloop -Oz -Oz --strip-producers --strip-target-features --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# The cargo features of an entry, as wasm-pack's trailing arguments.
entry_features() {
  case "$1" in
    all) ;;
    peertube | apivideo | cloudreve | mangadex) echo "-- --no-default-features --features $1" ;;
    *) echo "unknown entry $1 (${ENTRIES[*]})" >&2; return 2 ;;
  esac
}

# bindgen_entry <entry> <target>: the release build of wasm-pack (cargo, then wasm-bindgen), quiet
# unless it fails. Both targets of an entry share one cargo build: the second run finds it fresh.
bindgen_entry() {
  local out="$ENTRY_ROOT/$1/$2" features
  features=$(entry_features "$1") || return
  rm -rf "$out" "$out.done"
  mkdir -p "$ENTRY_ROOT/$1" && touch "$out.started" # becomes $out.done (same mtime) once optimised
  # shellcheck disable=SC2086 # $features is a word list
  wasm-pack build --release --mode no-install --no-pack --target "$2" --out-dir "$out" $features >/dev/null 2>&1 \
    || wasm-pack build --release --mode no-install --no-pack --target "$2" --out-dir "$out" $features
}

# optimize_entry <entry>: binaryen's wasm-opt from npm (Debian's v108 breaks the output) on the
# entry's wasm of each target, in place. wasm-opt is the slow step (~45 s of CPU) and
# deterministic, so its output is kept in target/entries/<entry>/opt-cache/, named by the input's
# sha256, wasm-opt's version and flags: the second target (wasm-bindgen gives web and bundler the
# same wasm) and a rebuild that leaves the wasm unchanged take it from there.
optimize_entry() {
  local cache="$ENTRY_ROOT/$1/opt-cache" target wasm key used=()
  [ -x "$WASM_OPT" ] || { echo "$WASM_OPT missing (npm ci)" >&2; return 1; }
  mkdir -p "$cache" || return 1
  # Each step checks its status: this runs in the background (build.sh), where `set -e` does not apply.
  for target in "${ENTRY_TARGETS[@]}"; do
    wasm="$ENTRY_ROOT/$1/$target/chunkup_bg.wasm"
    [ -f "$wasm" ] || { echo "$wasm missing" >&2; return 1; }
    key=$( (sha256sum <"$wasm"; "$WASM_OPT" --version; echo "$WASM_OPT_FLAGS") | sha256sum | cut -c1-32)
    if [ ! -f "$cache/$key.wasm" ]; then
      # shellcheck disable=SC2086 # $WASM_OPT_FLAGS is a word list
      "$WASM_OPT" $WASM_OPT_FLAGS "$wasm" -o "$cache/$key.tmp.wasm" || return 1
      mv "$cache/$key.tmp.wasm" "$cache/$key.wasm" || return 1
    fi
    cp "$cache/$key.wasm" "$wasm" || return 1
    mv "$ENTRY_ROOT/$1/$target.started" "$ENTRY_ROOT/$1/$target.done" || return 1
    used+=("$key.wasm")
  done
  for f in "$cache"/*; do
    [[ " ${used[*]} " == *" ${f##*/} "* ]] || rm -f "$f"
  done
}

# build_entry <entry>: both targets of the entry, optimised.
build_entry() {
  local target
  for target in "${ENTRY_TARGETS[@]}"; do bindgen_entry "$1" "$target" || return 1; done
  optimize_entry "$1"
}

# entry_fresh <entry> <target>: true when its build is complete (optimised) and no input (src/, vendor/,
# Cargo.toml, Cargo.lock, this file) changed since the build started.
entry_fresh() {
  local done="$ENTRY_ROOT/$1/$2.done"
  [ -f "$done" ] && [ -f "$ENTRY_ROOT/$1/$2/chunkup_bg.wasm" ] && [ -f "$ENTRY_ROOT/$1/$2/chunkup.js" ] \
    && [ -z "$(find src vendor Cargo.toml Cargo.lock scripts/entries.sh -newer "$done" -print -quit)" ]
}
