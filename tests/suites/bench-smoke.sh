#!/usr/bin/env bash
# Benchmark smoke test: every load-generator scenario and the seeding command at tiny sizes
# against our server (dev build, started here on free loopback ports with a temp data dir),
# so the benchmarks keep working. Checks only that every expected event and reply arrived —
# never how fast (two shared cores). Prints `# pass N` / `# fail N`; exits non-zero on failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}

echo "[bench-smoke] building the load generator, the seeding command and the server"
cargo build --locked -p mucsub-bench -p mucsub-server || { echo "# pass 0"; echo "# fail 1"; exit 1; }
load=$target/debug/mucsub-load
seed=$target/debug/mucsub-seed
server=$target/debug/mucsub-server

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Ports 0: the server prints the addresses it bound.
sed -e 's/127.0.0.1:5222/127.0.0.1:0/' -e 's/127.0.0.1:5280/127.0.0.1:0/' bench/mucsub-bench.toml >"$work/server.toml"

start_server() {
  : >"$work/out.log"
  "$server" run --config "$work/server.toml" --data-dir "$work/data" >"$work/out.log" 2>"$work/err.log" &
  server_pid=$!
  for _ in $(seq 1 300); do
    grep -q '^WebSocket endpoint' "$work/out.log" && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  c2s=$(sed -n 's/^xmpp c2s listening on //p' "$work/out.log")
  ws=$(sed -n 's/^WebSocket endpoint: //p' "$work/out.log")
  [ -n "$c2s" ] && [ -n "$ws" ]
}

stop_server() {
  kill "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=
}

pass=0
fail=0
check() { # name cmd...
  local name=$1; shift
  if timeout 300 "$@" >"$work/$name.out" 2>"$work/$name.err"; then
    echo "ok - $name: $(tail -n1 "$work/$name.out")"
    pass=$((pass + 1))
  else
    echo "not ok - $name"
    sed 's/^/    /' "$work/$name.err" | tail -n 20
    fail=$((fail + 1))
  fi
}

if ! start_server; then
  echo "not ok - server start"; cat "$work/err.log"
  echo "# pass 0"; echo "# fail 1"; exit 1
fi

common=(--target "$c2s" --server-pid "$server_pid" --check)
check fanout-tcp "$load" "${common[@]}" --label smoke fanout --subs 3 --messages 20 --timeout-secs 60
check fanout-fixed-rate "$load" "${common[@]}" --label smoke fanout --subs 3 --messages 10 --rate 200 --timeout-secs 60
check fanout-ws "$load" --target "$ws" --register none --check --label smoke fanout --subs 3 --messages 20 --timeout-secs 60
check rooms "$load" "${common[@]}" --label smoke rooms --rooms 3 --subs 2 --messages 10 --timeout-secs 60
check storm "$load" "${common[@]}" --label smoke storm --clients 3 --rooms 4
check resync "$load" "${common[@]}" --label smoke resync --messages 60 --rooms 3
check archive "$load" "${common[@]}" --label smoke archive --fill 150 --page 50 --queries 6
check runs-median "$load" "${common[@]}" --runs 2 --label smoke fanout --subs 2 --messages 5 --timeout-secs 60
stop_server

# Seeding writes straight into a stopped server's database; the server must then start on it
# and serve the seeded archive.
check seed "$seed" --data-dir "$work/data" --rooms 20 --subs-per-room 3 --accounts 10 --archive-room seeded --archive-messages 500
if start_server; then
  check seeded-archive "$load" --target "$c2s" --server-pid "$server_pid" --check --label smoke \
    archive --room seeded@conference.localhost --page 100 --queries 6
  stop_server
else
  echo "not ok - server start on the seeded database"; cat "$work/err.log"; fail=$((fail + 1))
fi
# Cold start on the seeded database: the generator spawns the server itself.
check seeded-idle "$load" --register none --check --label smoke \
  idle --server-bin "$server" --config "$work/server.toml" --data-dir "$work/data" \
  --user seeduser0 --expect-subscriptions 6 --idle-secs 1

echo "# pass $pass"
echo "# fail $fail"
[ "$fail" -eq 0 ]
