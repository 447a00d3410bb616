#!/usr/bin/env bash
# The wake benchmark (BENCHMARKS.md, "Waking up"): time from connect to back online for a
# full login, an XEP-0198 resumption, and SASL2 + FAST + inline resumption (waiting for the
# features, and pipelined), on loopback with a raw client; our server, then the reference
# ejabberd 23.01 (full login and XEP-0198 resumption: it has no SASL2). ITERATIONS per path
# (default 200). Results are appended to bench/results/wake.jsonl.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=$root/target/benchopt
[ -x "$bin/mucsub-wake" ] && [ -x "$bin/mucsub-server" ] || bench/build.sh
out=$root/bench/results; mkdir -p "$out"
iterations=${ITERATIONS:-200}
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "# wake run $stamp, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# Ours: a fresh data dir, one account, the benchmark config on ephemeral ports.
sed -e 's/127.0.0.1:5222/127.0.0.1:0/' -e 's/127.0.0.1:5280/127.0.0.1:0/' bench/mucsub-bench.toml >"$work/server.toml"
"$bin/mucsub-server" user add alice --password pw --config "$work/server.toml" --data-dir "$work/data" >/dev/null
RUST_LOG=warn "$bin/mucsub-server" run --config "$work/server.toml" --data-dir "$work/data" >"$work/out.log" 2>"$work/err.log" &
server_pid=$!
for _ in $(seq 1 300); do grep -q '^WebSocket' "$work/out.log" && break; sleep 0.1; done
target=$(sed -n 's/^xmpp c2s listening on //p' "$work/out.log")
"$bin/mucsub-wake" --target "$target" --label mucsub --iterations "$iterations" | tee -a "$out/wake.jsonl"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=

# The reference ejabberd is shared by the whole team: use it under the lock, and leave it
# as it was found.
flock /tmp/ejabberd-ref.lock bash -c '
  was_up=0; (echo >/dev/tcp/127.0.0.1/15222) 2>/dev/null && was_up=1
  /work/shared/tools/ejabberd-ref/start.sh >/dev/null
  "$1" --target 127.0.0.1:15222 --label ejabberd --paths full,resume --iterations "$2"
  [ "$was_up" = 1 ] || /work/shared/tools/ejabberd-ref/stop.sh
' wake "$bin/mucsub-wake" "$iterations" | tee -a "$out/wake.jsonl"
