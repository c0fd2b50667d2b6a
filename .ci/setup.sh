#!/usr/bin/env bash
# Installs every tool chunkup needs, each only when missing. Idempotent.
# Debian 12 x86_64 as root; registries only (crates.io, npm, apt, PyPI).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="${CHUNKUP_SHARED:-$ROOT/../shared}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive
WB_VERSION=0.2.130
WASM_PACK_VERSION=0.15.1
GECKODRIVER_VERSION=0.37.1
say() { echo "== setup: $*"; }

# 1. wasm32 target: rustup, else the vendored rust-std in shared/toolchain.
has_wasm32() { ls "$(rustc --print target-libdir --target wasm32-unknown-unknown 2>/dev/null)"/libcore-*.rlib >/dev/null 2>&1; }
if ! has_wasm32; then
  say "wasm32-unknown-unknown target"
  RUSTC_V=$(rustc --version | cut -d' ' -f2)
  TARBALL="$SHARED/toolchain/rust-std-wasm32-unknown-unknown-$RUSTC_V.tar.xz"
  if ! timeout 120 rustup target add wasm32-unknown-unknown; then
    [ -f "$TARBALL" ] && tar -C "$(rustc --print sysroot)/lib/rustlib" -xJf "$TARBALL"
  fi
  has_wasm32 || { echo "no wasm32 std for rustc $RUSTC_V" >&2; exit 1; }
fi

# 2. Debian Chromium + chromedriver.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  say "apt-get install chromium chromium-driver"
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# 2b. The other two engines: Firefox ESR (+ geckodriver below) and WebKitGTK's WebDriver, whose
#     MiniBrowser needs a display (Xvfb, driven by xvfb-run, which needs xauth).
APT_MISSING=()
command -v firefox-esr >/dev/null || APT_MISSING+=(firefox-esr)
command -v WebKitWebDriver >/dev/null || APT_MISSING+=(webkit2gtk-driver)
command -v Xvfb >/dev/null && command -v xvfb-run >/dev/null || APT_MISSING+=(xvfb)
command -v xauth >/dev/null || APT_MISSING+=(xauth)
if [ ${#APT_MISSING[@]} -gt 0 ]; then
  say "apt-get install ${APT_MISSING[*]}"
  # Package lists are refreshed only when the install cannot go ahead without it.
  apt-get install -y -qq --no-install-recommends "${APT_MISSING[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${APT_MISSING[@]}" >/dev/null; }
fi

# 3. wasm-bindgen-cli pinned to the crate's wasm-bindgen.
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB_VERSION" ]; then
  say "cargo install wasm-bindgen-cli $WB_VERSION"
  cargo install --force wasm-bindgen-cli --version "=$WB_VERSION"
fi

# 4. wasm-pack (always used with --mode no-install).
if [ "$(wasm-pack --version 2>/dev/null | awk '{print $2}')" != "$WASM_PACK_VERSION" ]; then
  say "cargo install wasm-pack $WASM_PACK_VERSION"
  cargo install --force wasm-pack --version "=$WASM_PACK_VERSION" --locked
fi

# 4b. geckodriver (Firefox's WebDriver) from crates.io.
if [ "$(geckodriver --version 2>/dev/null | awk 'NR==1{print $2}')" != "$GECKODRIVER_VERSION" ]; then
  say "cargo install geckodriver $GECKODRIVER_VERSION"
  cargo install --force geckodriver --version "=$GECKODRIVER_VERSION" --locked
fi

# 5. npm packages (test servers, playwright-core, binaryen's wasm-opt).
if [ -f "$ROOT/package.json" ]; then
  if [ ! -d "$ROOT/node_modules" ] || [ "$ROOT/package.json" -nt "$ROOT/node_modules/.stamp" ]; then
    say "npm install"
    (cd "$ROOT" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi)
    touch "$ROOT/node_modules/.stamp"
  fi
fi
say "tools ready"
