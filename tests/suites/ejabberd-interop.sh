#!/usr/bin/env bash
# Interop suite: the browser client tests (tests/wasm_client/client.rs: subscribe, live events,
# send without joining, subscription and subscriber lists, history paging, read markers,
# error codes) in headless Chromium against the reference ejabberd 23.01 instead of
# mucsub-server, so the SDK is known to work with the server MucSub came from; before them
# the native SDK's stream resumption there and the issue-22 flows ejabberd supports
# (corrections, reactions, replies, retraction from its archive: sdk_native_ejabberd_changes).
#
# ejabberd comes from ../shared/tools/ejabberd-ref/start.sh (Debian's package on loopback,
# ws://127.0.0.1:15280/ws, accounts alice/bob/carol/dave with password `pw`; needs root).
# If it cannot be started the suite fails. ejabberd keeps its state between runs, so the
# rooms earlier runs of these tests left are destroyed first (and this run's at the end),
# and it is stopped at the end unless it was already running before the suite (another
# user of the shared reference server keeps it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
start="$root/../shared/tools/ejabberd-ref/start.sh"
ws=ws://127.0.0.1:15280/ws
api=http://127.0.0.1:15280/api

if [ ! -f "$start" ]; then
  echo "[ejabberd-interop] $start not found" >&2
  exit 1
fi

was_running=0
if command -v ejabberdctl >/dev/null 2>&1 && ejabberdctl status >/dev/null 2>&1; then
  was_running=1
fi

work=$(mktemp -d)
# Rooms named by the tests' fresh_room() tags.
destroy_test_rooms() {
  local rooms
  rooms=$(curl -sf -X POST -d '{"service":"conference.localhost"}' "$api/muc_online_rooms" \
    | grep -oE '"(live|lists|lists-other|history|private|unread|wake|changes|probe22)-[0-9]+@conference\.localhost"' \
    | tr -d '"' | sed 's/@conference\.localhost$//') || return 0
  for r in $rooms; do
    curl -sf -X POST -d "{\"name\":\"$r\",\"service\":\"conference.localhost\"}" \
      "$api/destroy_room" >/dev/null || true
  done
}
cleanup() {
  destroy_test_rooms || true
  if [ "$was_running" = 0 ]; then
    ejabberdctl stop >/dev/null 2>&1 || true
    for _ in $(seq 1 60); do
      ejabberdctl status >/dev/null 2>&1 || break
      sleep 0.5
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "[ejabberd-interop] starting the reference ejabberd"
# start.sh leaves ejabberd's supervising shell in the background with start.sh's stdout:
# a file here, so it never holds the test command's pipe open.
if ! bash "$start" >"$work/start.log" 2>&1 </dev/null; then
  cat "$work/start.log" >&2
  echo "[ejabberd-interop] ejabberd did not start" >&2
  exit 1
fi
tail -n 1 "$work/start.log"
destroy_test_rooms

# The native SDK's XEP-0198 resumption there (ejabberd has stream management, no SASL2).
echo "[ejabberd-interop] native SDK stream resumption"
cargo test --locked -p mucsub-server --test sdk_native_ejabberd -- --ignored

# Issue 22: corrections, reactions, replies and retractions through ejabberd's offline
# storage and archive, folded once into their targets (docs/protocol.md, "Issue 22
# against ejabberd 23.01").
echo "[ejabberd-interop] native SDK: changes through ejabberd's offline storage and archive"
cargo test --locked -p mucsub-server --test sdk_native_ejabberd_changes -- --ignored

export MUCSUB_TEST_WS="$ws"
# The client tests share one test binary with the token tests, which need a token secret to
# build; ejabberd has none of ours and only the `client::` tests run here.
export MUCSUB_TEST_JWT_SECRET=unused-against-ejabberd
# What `wasm-pack test --headless --chrome` does, limited to the client tests.
CHROMEDRIVER=$(command -v chromedriver) \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
WASM_BINDGEN_TEST_TIMEOUT=180 \
  cargo test --locked --target wasm32-unknown-unknown --features browser-server-tests \
    ${EJABBERD_INTEROP_TESTS:---test wasm_client -- client::}
