#!/usr/bin/env bash
# The demo on a fresh machine: installs what is missing, builds the wasm package, starts the
# PeerTube-shaped server (real @uploadx/core) on 127.0.0.1:18081 and the demo page on
# http://localhost:18080/ (another origin, so CORS is real), then waits until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
bash .ci/setup.sh
bash scripts/build.sh
export PEERTUBE_PORT=${PEERTUBE_PORT:-18081} STATIC_PORT=${STATIC_PORT:-18080}
echo
echo "  chunkup demo: open http://localhost:$STATIC_PORT/ in a browser"
echo "  (PeerTube-shaped server on http://127.0.0.1:$PEERTUBE_PORT, user alice / password secret)"
echo "  Ctrl-C stops the servers."
echo
exec node tests/servers/peertube.mjs
