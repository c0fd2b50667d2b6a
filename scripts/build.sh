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
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/entries.sh
WANTED=("$@")
[ ${#WANTED[@]} -gt 0 ] || WANTED=("${ENTRIES[@]}")
for entry in "${WANTED[@]}"; do
  for target in "${ENTRY_TARGETS[@]}"; do
    t0=$SECONDS
    build_entry "$entry" "$target"
    echo "built $entry ($target) in $((SECONDS - t0)) s"
  done
done
node scripts/package.mjs
bash scripts/size.sh
