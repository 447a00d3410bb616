#!/usr/bin/env bash
# End-to-end suite: the demo app in Chromium (playwright-core), Firefox ESR and WebKitGTK
# (WebDriver; E2E_ENGINES to choose), and a stock web client (Converse.js 14, Chromium),
# against the real mucsub-server. Builds the SDK package (dev profile) and the app into
# target/e2e/ — not pkg/ and www/dist, which belong to scripts/run.sh — builds the server,
# then runs the node tests;
# each test file starts its own server on free loopback ports with a temp data dir and the
# demo accounts (the story test stops it midway). Exits with the tests' status.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
out=$target/e2e

echo "[e2e] building the SDK package (wasm-pack, dev) into $out/pkg"
wasm-pack --log-level warn build --dev --target web --out-dir "$out/pkg" . -- --locked

echo "[e2e] building the demo app into $out/www"
node www/build.mjs --pkg "$out/pkg" --out "$out/www"

echo "[e2e] building the server"
cargo build --locked -p mucsub-server

# The same stamp as scripts/bootstrap.sh: npm ci again whenever the lockfile changed since
# (a new package, such as converse.js or selenium-webdriver, is then installed rather than
# missing).
stamp=tests/e2e/node_modules/.bootstrap-stamp
if [ ! -f "$stamp" ] || [ tests/e2e/package-lock.json -nt "$stamp" ]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi

export MUCSUB_SERVER_BIN="$target/debug/mucsub-server"
export MUCSUB_WWW_DIST="$out/www"
rm -rf tests/e2e/artifacts
cd tests/e2e
# One file at a time: two shared cores, and each file runs its own server and browser.
# Chromium runs every file; Firefox ESR and WebKitGTK every file but the two that need
# Playwright's Chromium-only calls (the README's browser table says which and why), through
# the same tests (MUCSUB_BROWSER picks the engine in lib/browser.mjs). The Converse.js suite
# checks our server against a stock client, not the engines: Chromium is enough.
# message-changes: Chromium only FOR NOW — Firefox ESR passes it whole (i22-interop, one run,
# every step slow under load), but WebKitGTK does not: in step 2 the "⋯" clicked on a message
# alice just reacted to opens no menu (the message is not drawn anew; not yet diagnosed).
# Move it back to every engine once WebKit passes it.
chromium_only="push-sw.test.mjs push-app.test.mjs converse.test.mjs converse-changes.test.mjs wake-resume.test.mjs wake-bench-smoke.test.mjs message-changes.test.mjs"
status=0
run_engine() { # ENGINE FILE...
  local engine=$1 start=$SECONDS
  shift
  echo "[e2e] $engine: $*"
  MUCSUB_BROWSER=$engine node --test --test-concurrency=1 --test-reporter=tap "${node_args[@]}" "$@" || status=1
  echo "[e2e] $engine took $((SECONDS - start)) s"
}
node_args=("$@")
for engine in ${E2E_ENGINES:-chromium firefox webkit}; do
  files=()
  for f in ./*.test.mjs; do
    if [ "$engine" = chromium ] || [[ " $chromium_only " != *" ${f#./} "* ]]; then files+=("$f"); fi
  done
  run_engine "$engine" "${files[@]}"
done
exit $status
