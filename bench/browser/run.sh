#!/usr/bin/env bash
# The browser benchmark, full size (not a test): builds the npm package the way it ships
# (scripts/build-sdk.sh: wasm-release profile + wasm-opt) into target/browser-bench/pkg and
# the server in release, then runs bench/browser/run.mjs against them in headless Chromium.
# Extra arguments go to run.mjs (e.g. --runs 3, --json bench/browser/results.jsonl).
# SKIP_BUILD=1 reuses what is built. PROFILE=DIR records Chrome CPU profiles into DIR instead
# (see run.mjs --profile).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
pkg=$target/browser-bench/pkg

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "[browser-bench] building the SDK package (scripts/build-sdk.sh) into $pkg"
  bash scripts/build-sdk.sh "$pkg"
  echo "[browser-bench] building the server (release)"
  cargo build --locked --release -p mucsub-server
fi
# run.mjs needs no npm package: it drives Debian's chromium itself (cdp.mjs).
command -v "${CHROMIUM_PATH:-chromium}" >/dev/null || { echo "[browser-bench] needs Debian's chromium (apt-get install chromium)" >&2; exit 1; }
export MUCSUB_SERVER_BIN="$target/release/mucsub-server"
if [ -n "${PROFILE:-}" ]; then
  # The same release build before wasm-opt (which drops the name section), so the CPU
  # profiles name Rust functions; its figures are for the profile, not for the table.
  named=$target/browser-bench/pkg-named
  wasm-bindgen --target web --out-dir "$named" "$target/wasm32-unknown-unknown/wasm-release/mucsub.wasm"
  exec node bench/browser/run.mjs --pkg "$named" --profile "$PROFILE" "$@"
fi
exec node bench/browser/run.mjs --pkg "$pkg" "$@"
