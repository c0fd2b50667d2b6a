#!/usr/bin/env bash
# The demo on a fresh machine: installs what is missing, builds the wasm package, starts the four
# fake servers on 127.0.0.1 (PeerTube on the real @uploadx/core :18081, api.video :18082,
# Cloudreve v4 :18083 with its storage node :18085 and bucket :18086, MangaDex :18084) and the demo
# pages on http://localhost:18080/ (another origin, so CORS is real), then waits until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
bash .ci/setup.sh
bash scripts/build.sh
export STATIC_PORT=${STATIC_PORT:-18080} PEERTUBE_PORT=${PEERTUBE_PORT:-18081} APIVIDEO_PORT=${APIVIDEO_PORT:-18082}
export CLOUDREVE_PORT=${CLOUDREVE_PORT:-18083} MANGADEX_PORT=${MANGADEX_PORT:-18084}
export CLOUDREVE_NODE_PORT=${CLOUDREVE_NODE_PORT:-18085} CLOUDREVE_BUCKET_PORT=${CLOUDREVE_BUCKET_PORT:-18086}
export FAKE_SERVER_PARENT_PID=$$   # the fakes exit when this script is gone

PIDS=()
trap 'kill ${PIDS[*]} 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
for name in peertube apivideo cloudreve mangadex; do
  STATIC_PORT=off node "tests/servers/$name.mjs" &
  PIDS+=($!)
done
node scripts/demo-server.mjs &
PIDS+=($!)
for name in peertube apivideo cloudreve mangadex; do
  port_var="${name^^}_PORT"
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:${!port_var}/health" >/dev/null 2>&1 && break; sleep 0.1; done
done

# Non-default ports reach the page through its URL (every field can be preset that way).
Q=""
[ "$PEERTUBE_PORT" = 18081 ] || Q+="&peertube-endpoint=http://127.0.0.1:$PEERTUBE_PORT"
[ "$APIVIDEO_PORT" = 18082 ] || Q+="&apivideo-endpoint=http://127.0.0.1:$APIVIDEO_PORT"
[ "$CLOUDREVE_PORT" = 18083 ] || Q+="&cloudreve-endpoint=http://127.0.0.1:$CLOUDREVE_PORT"
[ "$MANGADEX_PORT" = 18084 ] || Q+="&mangadex-endpoint=http://127.0.0.1:$MANGADEX_PORT&mangadex-auth=http://127.0.0.1:$MANGADEX_PORT"
echo
echo "  chunkup demo: open http://localhost:$STATIC_PORT/${Q:+?${Q:1}} in a browser"
echo "  HTML form example: http://localhost:$STATIC_PORT/form.html${Q:+?${Q:1}}"
echo "  fakes: PeerTube :$PEERTUBE_PORT (alice / secret), api.video :$APIVIDEO_PORT, Cloudreve :$CLOUDREVE_PORT"
echo "  (user-default@example.test / secret), MangaDex :$MANGADEX_PORT (test accounts from the page)"
echo "  Ctrl-C stops the servers."
echo
wait
