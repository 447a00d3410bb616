#!/usr/bin/env bash
# The wake benchmark in headless Chromium (BENCHMARKS.md, "Waking up in the browser"; not a
# test): builds the server (target/benchopt, bench/build.sh) and the npm package the way it
# ships (scripts/build-sdk.sh into target/browser-bench/pkg) unless SKIP_BUILD=1, then runs
# bench/browser/wake.mjs against our server on a fresh data dir, and again against the
# reference ejabberd 23.01 under `flock /tmp/ejabberd-ref.lock`, leaving ejabberd as it was
# found. Lines are appended to bench/results/wake-browser.jsonl. Extra arguments go to
# wake.mjs (e.g. --runs 5, --rtts 0,100, --missed 0,100); SERVERS=mucsub or
# SERVERS=ejabberd runs one side only.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
pkg=$target/browser-bench/pkg
bin=$target/benchopt/mucsub-server
servers=${SERVERS:-mucsub,ejabberd}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "[wake] building the server (bench/build.sh: target/benchopt)"
  bench/build.sh
  echo "[wake] building the SDK package (scripts/build-sdk.sh) into $pkg"
  bash scripts/build-sdk.sh "$pkg"
fi
command -v "${CHROMIUM_PATH:-chromium}" >/dev/null || { echo "[wake] needs Debian's chromium (apt-get install chromium)" >&2; exit 1; }
export MUCSUB_SERVER_BIN=$bin
out=$root/bench/results/wake-browser.jsonl
mkdir -p "$(dirname "$out")"

case ",$servers," in *,mucsub,*)
  node bench/browser/wake.mjs --pkg "$pkg" --servers mucsub --json "$out" "$@" ;;
esac
case ",$servers," in *,ejabberd,*)
  # The reference ejabberd is shared by the whole team: used under the lock, and stopped
  # again afterwards only if it was not running before.
  flock /tmp/ejabberd-ref.lock bash -c '
    was_up=0; (echo >/dev/tcp/127.0.0.1/15222) 2>/dev/null && was_up=1
    /work/shared/tools/ejabberd-ref/start.sh >/dev/null </dev/null
    rc=0; node bench/browser/wake.mjs --pkg "$1" --servers ejabberd --json "$2" "${@:3}" || rc=$?
    [ "$was_up" = 1 ] || /work/shared/tools/ejabberd-ref/stop.sh >/dev/null
    exit $rc
  ' wake "$pkg" "$out" "$@" ;;
esac
