#!/usr/bin/env bash
# Release build of every entry (scripts/entries.sh): all four providers and each provider alone,
# for the web and bundler targets, in target/entries/<entry>/<target>/, each optimised with
# binaryen's wasm-opt -Oz. Then scripts/package.mjs assembles
#   pkg/       the npm package `chunkup` (`npm pack ./pkg`): `chunkup`, `chunkup/web`,
#              `chunkup/<provider>`, `chunkup/<provider>/web`, each with its queue and form helpers
#   www/pkg/   the pages' module: all four providers, web target, plus the helpers
# and scripts/size.sh prints each entry's size against its budget.
#
#   bash scripts/build.sh                 # every entry
#   bash scripts/build.sh all peertube    # only these entries are rebuilt (the others must be
#                                         # there from an earlier run: the package needs them all)
#
# An entry's wasm-opt runs in the background while the next entry compiles (rustc's LTO uses one
# core, wasm-opt several).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/entries.sh
WANTED=("$@")
[ ${#WANTED[@]} -gt 0 ] || WANTED=("${ENTRIES[@]}")
T0=$SECONDS
OPTIMIZING=()
for entry in "${WANTED[@]}"; do
  entry_features "$entry" >/dev/null
  for target in "${ENTRY_TARGETS[@]}"; do bindgen_entry "$entry" "$target"; done
  echo "[$((SECONDS - T0)) s] built $entry (web, bundler)"
  (optimize_entry "$entry" && echo "[$((SECONDS - T0)) s] optimised $entry") &
  OPTIMIZING+=($!)
done
failed=0
for pid in "${OPTIMIZING[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || { echo "build.sh: wasm-opt failed" >&2; exit 1; }
node scripts/package.mjs
# Fails when an entry grew above its ceiling (scripts/size.sh: budgets not met yet, ceilings are
# the ratchet meanwhile).
bash scripts/size.sh --check
