#!/usr/bin/env bash
# End-to-end suite: the demo app in Chromium (playwright-core), Firefox ESR and WebKitGTK
# (WebDriver; E2E_ENGINES and E2E_FILES to choose), and a stock web client (Converse.js 14, Chromium),
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
# The dev module carries a 1.8 MB "name" section (function names for stack traces); with it
# the module passes 5 MiB, more than WebKitGTK lets one origin's Cache Storage take, so the
# service worker's precache fails and leaves the cache empty (the story's offline reload then
# loaded nothing: "FetchEvent.respondWith received an error: TypeError: Load failed"). The
# npm package (scripts/build-sdk.sh) ships without that section: bind the dev module again
# without it (wasm-bindgen, not wasm-opt: Debian's binaryen 108 rewrites the externref table).
wasm-bindgen --target web --remove-name-section --out-dir "$out/pkg" \
  "$target/wasm32-unknown-unknown/debug/mucsub.wasm"

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
# Every (engine, file) pair is its own `node --test` run, E2E_JOBS (default 2) at a time:
# each file starts its own server on free ports, its own browser (a fresh profile, Xvfb for
# WebKit) and data dirs, so two never share anything, and a file alone keeps about one of
# the two cores busy (much of its time is spent waiting on pages and sockets). Longest first
# by the last run's durations (kept beside the build in $out), so the long files overlap
# the short ones; each run's TAP output is printed whole when it ends.
# Chromium runs every file; Firefox ESR and WebKitGTK every file but the two that need
# Playwright's Chromium-only calls (the README's browser table says which and why), through
# the same tests (MUCSUB_BROWSER picks the engine in lib/browser.mjs). The Converse.js suite
# checks our server against a stock client, not the engines: Chromium is enough.
# message-changes: Chromium only FOR NOW — Firefox ESR passes it whole (i22-interop, one run,
# every step slow under load), but WebKitGTK does not: in step 2 the "⋯" clicked on a message
# alice just reacted to opens no menu (the message is not drawn anew; not yet diagnosed).
# Move it back to every engine once WebKit passes it.
# story: not in WebKitGTK FOR NOW — its offline reload needs the service worker's copy of the
# app, and in WebKitGTK 2.50 here that copy stays empty in most runs (the worker's own
# cache.add of each shell file fails, twice, while the same adds made from the page succeed;
# the step then fails with the list of missing files). Not diagnosed; the rest of the story
# (sleep, resync, reconnect) is what Chromium and Firefox ESR check. Put it back once the
# worker's copy fills in WebKit.
webkit_skip="story.test.mjs"
chromium_only="push-sw.test.mjs push-app.test.mjs converse.test.mjs converse-changes.test.mjs wake-resume.test.mjs wake-bench-smoke.test.mjs message-changes.test.mjs"
runs=$(mktemp -d)
times=$out/e2e-times
touch "$times"
# run_one ENGINE FILE: one file in one engine, its output and status kept in $runs.
run_one() {
  local engine=$1 file=$2 start=$SECONDS rc=0
  local log="$runs/$engine-${file%.test.mjs}"
  MUCSUB_BROWSER=$engine node --test --test-reporter=tap "${node_args[@]}" "./$file" >"$log.out" 2>&1 || rc=$?
  echo "$rc $((SECONDS - start))" >"$log.rc"
  { echo "[e2e] $engine $file: $((SECONDS - start)) s, exit $rc"; cat "$log.out"; } | flock "$runs/.print" cat
}
export -f run_one
export runs
node_args=("$@")
export node_args_joined="${*:-}"
pairs=()
for engine in ${E2E_ENGINES:-chromium firefox webkit}; do
  for f in ${E2E_FILES:-*.test.mjs}; do
    if [ "$engine" = webkit ] && [[ " $webkit_skip " == *" $f "* ]]; then continue; fi
    if [ "$engine" = chromium ] || [[ " $chromium_only " != *" $f "* ]]; then pairs+=("$engine $f"); fi
  done
done
start=$SECONDS
# The last run's seconds per pair (unknown ones first), longest first.
printf '%s\n' "${pairs[@]}" \
  | awk 'FILENAME != "-" { t[$1 " " $2] = $3; next } { print (($0 in t) ? t[$0] : 99999), $0 }' "$times" - \
  | sort -rn | cut -d' ' -f2- \
  | xargs -r -P "${E2E_JOBS:-2}" -L 1 bash -c 'node_args=($node_args_joined); run_one "$0" "$1"' || true
echo "[e2e] ${#pairs[@]} runs took $((SECONDS - start)) s"
status=0
: >"$times.new"
for p in "${pairs[@]}"; do
  set -- $p
  read -r rc took <"$runs/$1-${2%.test.mjs}.rc" || { rc=1; took=0; }
  echo "$1 $2 $took" >>"$times.new"
  if [ "$rc" != 0 ]; then status=1; echo "[e2e] FAILED: $1 $2"; fi
done
mv "$times.new" "$times"
rm -rf "$runs"
exit $status
