#!/usr/bin/env bash
# HTTP API comparison: the same JSON calls (tests/suites/api_interop.py) against the
# reference ejabberd 23.01's mod_http_api and against mucsub-server's /api, answers
# compared; where they differ on purpose, docs/api.md says so and the case checks each
# side's documented answer. Prints TAP lines and "# pass N / # fail N".
#
# ejabberd is the shared reference instance (../shared/tools/ejabberd-ref/start.sh, /api
# open on loopback at http://127.0.0.1:15280/api); this suite holds /tmp/ejabberd-ref.lock
# while it uses it, starts it when needed and stops it afterwards unless it was already
# running. mucsub-server runs from this checkout on ephemeral loopback ports with a
# temporary data directory and an API token.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

if [ -z "${API_INTEROP_LOCKED:-}" ]; then
  export API_INTEROP_LOCKED=1
  exec flock /tmp/ejabberd-ref.lock bash "$0" "$@"
fi

start="$root/../shared/tools/ejabberd-ref/start.sh"
if [ ! -f "$start" ]; then
  echo "[api-interop] $start not found" >&2
  exit 1
fi

was_running=0
if command -v ejabberdctl >/dev/null 2>&1 && ejabberdctl status >/dev/null 2>&1; then
  was_running=1
fi

work=$(mktemp -d)
ours_pid=""
cleanup() {
  if [ -n "$ours_pid" ]; then
    kill "$ours_pid" 2>/dev/null || true
    wait "$ours_pid" 2>/dev/null || true
  fi
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

echo "[api-interop] starting the reference ejabberd"
if ! bash "$start" >"$work/start.log" 2>&1 </dev/null; then
  cat "$work/start.log" >&2
  echo "[api-interop] ejabberd did not start" >&2
  exit 1
fi
tail -n 1 "$work/start.log"

echo "[api-interop] building and starting mucsub-server"
cargo build --locked -p mucsub-server --bin mucsub-server
bin="${CARGO_TARGET_DIR:-$root/target}/debug/mucsub-server"
token="api-interop-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat >"$work/config.toml" <<EOF
data_dir = '$work/data'
[listeners]
c2s = '127.0.0.1:0'
http = '127.0.0.1:0'
[api]
tokens = ['$token']
EOF
for u in alice bob carol dave; do
  "$bin" user add "$u" --password pw --config "$work/config.toml" >/dev/null
done
"$bin" run --config "$work/config.toml" >"$work/ours.out" 2>"$work/ours.log" &
ours_pid=$!
http=""
for _ in $(seq 1 100); do
  http=$(sed -n 's#^http listening on http://\([^/]*\)/.*#\1#p' "$work/ours.out")
  [ -n "$http" ] && break
  sleep 0.1
done
if [ -z "$http" ]; then
  cat "$work/ours.log" >&2
  echo "[api-interop] mucsub-server did not start" >&2
  exit 1
fi

python3 tests/suites/api_interop.py http://127.0.0.1:15280/api "http://$http/api" "$token"
