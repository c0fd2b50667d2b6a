#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing, native tests, release build,
# fake servers on 127.0.0.1, browser tests (wasm-bindgen-test) and page-level tests (Playwright),
# both in headless Chromium, headless Firefox ESR and WebKit (WebKitGTK under Xvfb). Ends with the
# counts per engine and one "N passed, M failed" line. TEST_ENGINES=chromium,firefox,webkit (the
# default) picks the engines; E2E_ENGINES (default: the same) those of the page tests.
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

# ---- browser tests: every wasm-bindgen-test suite in each engine -------------------------------------
# One build; each engine runs the same test binaries (`cargo test` re-links nothing when only the
# driver variables change). The runner picks the driver from CHROMEDRIVER / GECKODRIVER /
# SAFARIDRIVER (first set wins, so the others are unset) and reads the capabilities from
# WASM_BINDGEN_TEST_WEBDRIVER_JSON (default webdriver.json = Chromium's).
ENGINES=${TEST_ENGINES:-chromium,firefox,webkit}
export E2E_ENGINES=${E2E_ENGINES:-$ENGINES}
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-600}
unset CHROMEDRIVER_REMOTE GECKODRIVER_REMOTE SAFARIDRIVER_REMOTE
declare -A WALL=()
step "browser tests: build (wasm32)"
cargo test --target wasm32-unknown-unknown --tests --no-run 2>&1 | tee "$LOGS/browser-build.log" | grep -E "^error" || true
[ "${PIPESTATUS[0]}" = 0 ] || FAILED_STEPS+=(browser-build)
browser_tests() { # engine
  local drv=(env -u CHROMEDRIVER -u GECKODRIVER -u SAFARIDRIVER) cmd=(cargo test --target wasm32-unknown-unknown --tests --no-fail-fast)
  case "$1" in
    chromium) "${drv[@]}" CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/webdriver.json" "${cmd[@]}" ;;
    firefox) "${drv[@]}" GECKODRIVER="$(command -v geckodriver)" WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/webdriver-firefox.json" "${cmd[@]}" ;;
    # WebKitGTK's MiniBrowser needs a display: Xvfb. The runner (0.2.130) sends WebKitWebDriver empty
    # capabilities, which starts its default browser: MiniBrowser --automation.
    webkit) "${drv[@]}" SAFARIDRIVER=/usr/bin/WebKitWebDriver xvfb-run -a "${cmd[@]}" ;;
    *) echo "unknown engine $1 (TEST_ENGINES: chromium,firefox,webkit)"; return 1 ;;
  esac
}
for engine in ${ENGINES//,/ }; do
  step "browser tests in $engine (wasm-bindgen-test, window + worker)"
  t=$SECONDS
  browser_tests "$engine" 2>&1 | tee "$LOGS/browser-$engine.log" | grep -E "^test result|FAILED|failed|panicked|Error" || true
  [ "${PIPESTATUS[0]}" = 0 ] || FAILED_STEPS+=("browser-$engine")
  WALL[$engine]=$((SECONDS - t))
done

# ---- node tests: server self-tests, page tests (each in every engine of E2E_ENGINES), soak ------------
step "node tests (server self-tests, Playwright page tests in ${E2E_ENGINES}, soak)"
NODE_TESTS=$(ls tests/servers/*.selftest.mjs tests/e2e/*.test.mjs 2>/dev/null | tr '\n' ' ')
if [ -n "$NODE_TESTS" ]; then
  t=$SECONDS
  # Under Xvfb: WebKit's page tests need a display. The fault soak prints `# SOAK …` lines.
  xvfb-run -a node --test --test-concurrency=1 $NODE_TESTS 2>&1 | tee "$LOGS/node.log" | grep -E "^# (pass|fail)|^ *not ok|^# SOAK" || true
  [ "${PIPESTATUS[0]}" = 0 ] || FAILED_STEPS+=(node)
  WALL[node]=$((SECONDS - t))
fi

# ---- counts ---------------------------------------------------------------------------------------
# cargo: the "test result" lines of a log -> "passed failed".
cargo_counts() { grep -ohE "test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed" "$@" 2>/dev/null | awk '{p+=$4; f+=$6} END {print p+0, f+0}'; }
# node TAP: leaves only (a result line right after deeper-indented ones closes a parent test);
# a leaf's engine is the " [chromium]" / " [firefox]" / " [webkit]" ending its name, else "other".
# Prints "tag passed failed skipped" per tag.
tap_counts() {
  awk '
    /^ *(not )?ok [0-9]+( |$)/ {
      match($0, /^ */); ind = RLENGTH
      parent = (seen && prev > ind); prev = ind; seen = 1
      if (parent) next
      line = substr($0, ind + 1)
      skip = (line ~ / # (SKIP|TODO)( |$)/)
      name = line; sub(/ # (SKIP|TODO)( .*)?$/, "", name)
      tag = "other"
      if (match(name, /\[(chromium|firefox|webkit)\]$/)) tag = substr(name, RSTART + 1, RLENGTH - 2)
      tags[tag] = 1
      if (skip) s[tag]++; else if (line ~ /^not ok/) f[tag]++; else p[tag]++
    }
    END { for (t in tags) print t, p[t] + 0, f[t] + 0, s[t] + 0 }' "$1" 2>/dev/null
}
PASS=0; FAIL=0; SUMMARY=()
add() { # label passed failed [note]
  PASS=$((PASS + $2)); FAIL=$((FAIL + $3))
  SUMMARY+=("$(printf '  %-28s %5d passed, %d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
}
read -r p f < <(cargo_counts "$LOGS/native.log"); add "native (cargo test)" "$p" "$f"
for engine in ${ENGINES//,/ }; do
  read -r p f < <(cargo_counts "$LOGS/browser-$engine.log")
  add "browser, $engine" "$p" "$f" "${WALL[$engine]:-0} s"
done
if [ -f "$LOGS/node.log" ] && [ -n "${NODE_TESTS:-}" ]; then
  NODE_COUNTS=$(tap_counts "$LOGS/node.log")
  for tag in ${E2E_ENGINES//,/ } other; do
    read -r _ p f sk < <(grep -E "^$tag " <<<"$NODE_COUNTS" || echo "$tag 0 0 0")
    label="page tests, $tag"; [ "$tag" = other ] && label="node, untagged (self-tests, soak)"
    add "$label" "$p" "$f" "$([ "$sk" -gt 0 ] && echo "$sk skipped")"
  done
  SUMMARY+=("$(printf '  %-28s %s' "node wall time" "${WALL[node]:-0} s")")
fi
step "done"
# What failed, in words (the logs stay in target/test-logs/, but CI keeps only this output).
if [ ${#FAILED_STEPS[@]} -gt 0 ]; then
  echo "---- failure details ----"
  for log in "$LOGS/native.log" "$LOGS"/browser-*.log; do
    [ -f "$log" ] || continue
    grep -hE -A12 "^---- .* stdout ----|^---- .* output ----|panicked at" "$log" | grep -vE "^\s+at |^\s*$" | head -40 | sed "s|^|$(basename "$log" .log): |"
  done
  awk '/^ *not ok /{p=1} p{print} p && /^ *\.\.\./{p=0}' "$LOGS/node.log" 2>/dev/null | grep -vE "^\s+at " | head -80
  echo "-------------------------"
  echo "failed steps: ${FAILED_STEPS[*]} (logs in target/test-logs/)"
  [ "$FAIL" -gt 0 ] || FAIL=${#FAILED_STEPS[@]}
fi
echo "summary (total $((SECONDS - T0)) s):"
printf '%s\n' "${SUMMARY[@]}"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ] && [ ${#FAILED_STEPS[@]} = 0 ]
