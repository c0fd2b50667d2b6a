#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing, native tests, release build,
# fake servers on 127.0.0.1, browser tests (wasm-bindgen-test in headless Chromium) and
# page-level tests (Playwright). Ends with one "N passed, M failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
LOGS="$ROOT/target/test-logs"; mkdir -p "$LOGS"
T0=$SECONDS
step() { echo "== [$((SECONDS-T0))s] $*"; }
FAILED_STEPS=()

step "setup (installs only what is missing)"
bash .ci/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

export STATIC_PORT=${STATIC_PORT:-18080} PEERTUBE_PORT=${PEERTUBE_PORT:-18081} APIVIDEO_PORT=${APIVIDEO_PORT:-18082}
export CLOUDREVE_PORT=${CLOUDREVE_PORT:-18083} MANGADEX_PORT=${MANGADEX_PORT:-18084}
# Read by the browser tests at compile time (option_env!).
export CHUNKUP_PEERTUBE_URL="http://127.0.0.1:$PEERTUBE_PORT" CHUNKUP_APIVIDEO_URL="http://127.0.0.1:$APIVIDEO_PORT"
export CHUNKUP_CLOUDREVE_URL="http://127.0.0.1:$CLOUDREVE_PORT" CHUNKUP_MANGADEX_URL="http://127.0.0.1:$MANGADEX_PORT"

step "native tests (cargo test --tests)"
cargo test --tests 2>&1 | tee "$LOGS/native.log" | grep -E "^test result|FAILED|panicked" || true
[ "${PIPESTATUS[0]}" = 0 ] || FAILED_STEPS+=(native)

step "release build"
bash scripts/build.sh 2>&1 | tee "$LOGS/build.log" | tail -3
[ "${PIPESTATUS[0]}" = 0 ] || FAILED_STEPS+=(build)

step "start fake servers"
SERVER_PIDS=()
trap 'kill ${SERVER_PIDS[*]} 2>/dev/null; wait 2>/dev/null' EXIT
for name in peertube apivideo cloudreve mangadex; do
  [ -f "tests/servers/$name.mjs" ] || continue
  node "tests/servers/$name.mjs" > "$LOGS/$name-server.log" 2>&1 &
  SERVER_PIDS+=($!)
  port_var="${name^^}_PORT"; url="http://127.0.0.1:${!port_var}"
  for _ in $(seq 150); do curl -sf "$url/health" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "$url/health" >/dev/null || { echo "$name fake did not start"; cat "$LOGS/$name-server.log"; FAILED_STEPS+=("server-$name"); }
done

step "browser tests (wasm-bindgen-test, headless Chromium, window + worker)"
export CHROMEDRIVER=/usr/bin/chromedriver
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-600}
cargo test --target wasm32-unknown-unknown --tests 2>&1 | tee "$LOGS/browser.log" | grep -E "^test result|FAILED|failed|panicked|Error" || true
[ "${PIPESTATUS[0]}" = 0 ] || FAILED_STEPS+=(browser)

step "node tests (server self-tests, Playwright page tests)"
NODE_TESTS=$(ls tests/servers/*.selftest.mjs tests/e2e/*.test.mjs 2>/dev/null | tr '\n' ' ')
if [ -n "$NODE_TESTS" ]; then
  # The fault soak (tests/e2e/soak.test.mjs) prints its seed and counts on `# SOAK …` lines.
  node --test --test-concurrency=1 $NODE_TESTS 2>&1 | tee "$LOGS/node.log" | grep -E "^# (pass|fail)|^not ok|^# SOAK" || true
  [ "${PIPESTATUS[0]}" = 0 ] || FAILED_STEPS+=(node)
fi

PASS=$(cat "$LOGS/native.log" "$LOGS/browser.log" 2>/dev/null | grep -oE "test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed" | awk '{p+=$4; f+=$6} END {print p+0}')
FAIL=$(cat "$LOGS/native.log" "$LOGS/browser.log" 2>/dev/null | grep -oE "test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed" | awk '{p+=$4; f+=$6} END {print f+0}')
NPASS=$(grep -oE "^# pass [0-9]+" "$LOGS/node.log" 2>/dev/null | awk '{s+=$3} END {print s+0}')
NFAIL=$(grep -oE "^# fail [0-9]+" "$LOGS/node.log" 2>/dev/null | awk '{s+=$3} END {print s+0}')
PASS=$((PASS + NPASS)); FAIL=$((FAIL + NFAIL))
step "done"
# What failed, in words (the logs stay in target/test-logs/, but CI keeps only this output).
if [ ${#FAILED_STEPS[@]} -gt 0 ]; then
  echo "---- failure details ----"
  grep -hE -A12 "^---- .* stdout ----|^---- .* output ----|panicked at" "$LOGS/native.log" "$LOGS/browser.log" 2>/dev/null | grep -vE "^\s+at |^\s*$" | head -80
  awk '/^ *not ok /{p=1} p{print} p && /^ *\.\.\./{p=0}' "$LOGS/node.log" 2>/dev/null | grep -vE "^\s+at " | head -80
  echo "-------------------------"
fi
if [ ${#FAILED_STEPS[@]} -gt 0 ]; then
  echo "failed steps: ${FAILED_STEPS[*]} (logs in target/test-logs/)"
  [ "$FAIL" -gt 0 ] || FAIL=${#FAILED_STEPS[@]}
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ] && [ ${#FAILED_STEPS[@]} = 0 ]
