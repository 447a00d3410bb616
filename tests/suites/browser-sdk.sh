#!/usr/bin/env bash
# Browser SDK suite: the JavaScript client (tests/wasm_client/) in Chromium, Firefox ESR
# and WebKitGTK (BROWSER_SDK_ENGINES to choose) against a real mucsub-server on loopback,
# then the npm package built by wasm-pack and type-checked from a TypeScript consumer
# (tests/js-consumer).
#
# The server runs from a temp data dir on ephemeral ports with the accounts
# alice/bob/carol/dave (password `pw`), accepting tokens beside passwords (an HS256 secret
# made here); its WebSocket URL and that secret reach the tests at build time as
# MUCSUB_TEST_WS and MUCSUB_TEST_JWT_SECRET, with the cargo feature `browser-server-tests`
# turning them on.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}

echo "[browser-sdk] building the server"
cargo build --locked -q -p mucsub-server
server_bin="$target/debug/mucsub-server"

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Made once: the secret, like the WebSocket URL, is compiled into the tests.
jwt_secret="browser-sdk-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# start_server HTTP C2S: a server with a fresh data dir and the four accounts, listening on
# those addresses (port 0 the first time). Each engine gets a fresh one on the first one's
# addresses: the WebSocket URL is compiled into the tests, and what one engine's run
# subscribed the accounts to must not reach the next one's.
start_server() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=""
  rm -rf "$work/data"
  cat >"$work/config.toml" <<TOML
data_dir = "$work/data"
[listeners]
c2s = "$2"
http = "$1"
[auth]
methods = ["password", "jwt"]
[auth.jwt]
secret = "$jwt_secret"
[limits]
# Small, so a client that was away must fetch most of what it missed from the archive
# (the reload test drops the client in the middle of that).
offline_max_per_account = 5
TOML
  for u in alice bob carol dave; do
    "$server_bin" user add "$u" --password pw --config "$work/config.toml" >/dev/null 2>"$work/user.err" \
      || { cat "$work/user.err" >&2; exit 1; }
  done
  "$server_bin" run --config "$work/config.toml" >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  ws=""
  for _ in $(seq 1 200); do
    ws=$(sed -n 's/^WebSocket endpoint: //p' "$work/server.out" | head -n1)
    [ -n "$ws" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; echo "server died" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$ws" ] || { echo "server did not print its WebSocket endpoint" >&2; exit 1; }
}
start_server 127.0.0.1:0 127.0.0.1:0
http_addr=$(sed -n 's|^WebSocket endpoint: ws://\([^/]*\)/.*|\1|p' "$work/server.out" | head -n1)
c2s_addr=$(sed -E 's/\x1b\[[0-9;]*m//g' "$work/server.out" "$work/server.err" | sed -n 's/.*c2s listening on \([0-9.]*:[0-9]*\).*/\1/p' | head -n1)
[ -n "$http_addr" ] && [ -n "$c2s_addr" ] || { echo "no bound addresses in the server output" >&2; exit 1; }
echo "[browser-sdk] server at $ws"

export MUCSUB_TEST_WS="$ws"
export MUCSUB_TEST_JWT_SECRET="$jwt_secret"
export WASM_BINDGEN_TEST_TIMEOUT=180
status=0
# The same test build in each engine (scripts/wasm-test.sh; the server-less browser tests
# run in the test command's own wasm steps), each against a fresh server.
first=1
for engine in ${BROWSER_SDK_ENGINES:-chromium firefox webkit}; do
  echo "[browser-sdk] $engine"
  start=$SECONDS
  [ $first = 1 ] || start_server "$http_addr" "$c2s_addr"
  first=0
  bash scripts/wasm-test.sh "$engine" --locked --features browser-server-tests \
    ${BROWSER_SDK_TESTS:---test wasm_client} || status=1
  echo "[browser-sdk] $engine took $((SECONDS - start)) s"
done

if [ -f tests/js-consumer/run.sh ]; then
  bash tests/js-consumer/run.sh || status=1
fi
exit $status
