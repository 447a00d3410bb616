#!/usr/bin/env bash
# Cluster throughput (issue 19's benchmark): one node on SQLite, one node on PostgreSQL,
# three nodes with the sender on the room's owner and on another node. For each case:
# delivered events/s, p50/p99 time to deliver, and CPU seconds per 1,000 events summed over
# every process of the case (the nodes; for PostgreSQL cases also the postmaster with all
# its backends and background processes, and nats-server). Not a test: no assertions.
#
#   bench/cluster-throughput.sh            REPS=3 rounds; each round runs every case once,
#                                          in turn, so the cases share the machine's load
#   CASES="sqlite pg1" bench/cluster-throughput.sh
#   SUBS=200 MESSAGES=200 RATE_MSGS=100 RATE=20   the sizes (a max-rate burst of MESSAGES to
#                                          SUBS subscribers, then RATE_MSGS at RATE/s; RATE=0
#                                          skips the fixed-rate run)
#   PG_STATS=1                             also print, after each PostgreSQL case's runs,
#                                          the statements PostgreSQL ran during each run
#                                          (pg_stat_statements: calls, time), to see where
#                                          its CPU goes
#
# Everything runs on loopback from target/benchopt (bench/build.sh): a private PostgreSQL
# (scripts/pg-private.sh, fsync on as in production) and nats-server in a temp directory,
# started once; every case gets a fresh database and fresh nodes. JSON lines go to
# bench/results/cluster.jsonl; the table is printed at the end, with the load average.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=${MUCSUB_BENCH_BIN:-$root/target/benchopt} # another build dir for a quick check of the script
[ -x "$bin/mucsub-load" ] || bench/build.sh
command -v nats-server >/dev/null || { echo "nats-server not found (scripts/bootstrap.sh installs it)" >&2; exit 1; }
reps=${REPS:-3}
cases=${CASES:-sqlite pg1 c3-owner c3-other}
subs=${SUBS:-200} messages=${MESSAGES:-200} rate_msgs=${RATE_MSGS:-100} rate=${RATE:-20}
out=$root/bench/results; mkdir -p "$out"
session=$(date -u +%FT%TZ)
work=$(mktemp -d /tmp/cluster-bench.XXXXXX)
chmod 755 "$work" # PostgreSQL runs as the postgres user when we are root
node_pids=() nats_pid=
stop_nodes() {
  local p
  for p in "${node_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${node_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  node_pids=()
}
cleanup() {
  stop_nodes
  [ -n "$nats_pid" ] && kill "$nats_pid" 2>/dev/null
  bash scripts/pg-private.sh destroy "$work/pg" >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pg_stats=${PG_STATS:-0}
[ "$pg_stats" = 1 ] && export PG_PRIVATE_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c pg_stat_statements.track_planning=on"
admin=$(bash scripts/pg-private.sh start "$work/pg")
[ "$pg_stats" = 1 ] && psql "$admin" -qc "CREATE EXTENSION pg_stat_statements" >/dev/null
pg_pid=$(head -1 "$work/pg/data/postmaster.pid")
nats_port=$(free_port)
nats-server -a 127.0.0.1 -p "$nats_port" -l "$work/nats.log" </dev/null >/dev/null 2>&1 &
nats_pid=$!
nats=nats://127.0.0.1:$nats_port

# start_node NAME [DB]: a node on SQLite (no DB) or on database DB; sets $c2s.
start_node() {
  local name=$1 db=${2:-} d=$work/$RANDOM-$1
  mkdir -p "$d"
  sed -e 's/127.0.0.1:5222/127.0.0.1:0/' -e 's/127.0.0.1:5280/127.0.0.1:0/' bench/mucsub-bench.toml >"$d/config.toml"
  if [ -n "$db" ]; then
    printf "\n[cluster]\nnode = '%s'\npostgres = '%s'\nnats = '%s'\n" \
      "$name" "${admin%/postgres}/$db" "$nats" >>"$d/config.toml"
  fi
  RUST_LOG=warn "$bin/mucsub-server" run --config "$d/config.toml" --data-dir "$d/data" >"$d/out.log" 2>"$d/err.log" &
  node_pids+=($!)
  for _ in $(seq 1 300); do grep -q '^http listening' "$d/out.log" && break; sleep 0.1; done
  c2s=$(sed -n 's/^xmpp c2s listening on //p' "$d/out.log")
  [ -n "$c2s" ] || { echo "node $name did not start:" >&2; tail -20 "$d/err.log" >&2; exit 1; }
}

pg_stats_reset() { [ "$pg_stats" = 1 ] && psql "$admin" -qAtc "SELECT pg_stat_statements_reset()" >/dev/null || true; }
pg_stats_print() { # case mode: the statements run since the reset, most total time first
  [ "$pg_stats" = 1 ] || return 0
  echo "-- $1 ($2): PostgreSQL statements (calls, total exec ms, total plan ms, query)" >&2
  psql "$admin" -qAF ' | ' -c "SELECT calls, round(total_exec_time::numeric, 1), round(total_plan_time::numeric, 1),
      left(regexp_replace(query, '\s+', ' ', 'g'), 110) FROM pg_stat_statements
      WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time + total_plan_time DESC LIMIT 25" >&2
}

load() { # case round mode mucsub-load-args...: one run, its JSON line annotated
  local case=$1 round=$2 mode=$3 load1; shift 3
  load1=$(cut -d' ' -f1 /proc/loadavg)
  "$bin/mucsub-load" --label "$case" "$@" | python3 -c "
import json, sys
for l in sys.stdin:
    print(json.dumps({**json.loads(l), 'session': '$session', 'round': $round, 'mode': '$mode', 'load1': $load1, 'build': '$(basename "$bin")'}))
" | tee -a "$out/cluster.jsonl" >>"$work/rows.jsonl"
}

run_case() { # case round
  local case=$1 round=$2 db="b${round}_${1//-/_}" cpu=() targets=()
  case $case in
    sqlite) start_node node1; targets=("$c2s") ;;
    pg1|c3-*)
      psql "$admin" -qc "CREATE DATABASE $db" >/dev/null
      local n=1; [ "$case" = pg1 ] || n=3
      for i in $(seq 1 "$n"); do start_node "node$i" "$db"; targets+=("$c2s"); done
      cpu+=(--cpu-pid "postgres=$pg_pid" --cpu-pid "nats=$nats_pid") ;;
  esac
  for i in "${!node_pids[@]}"; do cpu+=(--cpu-pid "node$((i + 1))=${node_pids[$i]}"); done
  local where=(--target "${targets[0]}")
  case $case in
    c3-owner) where+=(--owner-target "${targets[0]}" --sender-target "${targets[0]}" --sub-targets "$(IFS=,; echo "${targets[*]}")") ;;
    c3-other) where+=(--owner-target "${targets[0]}" --sender-target "${targets[1]}" --sub-targets "$(IFS=,; echo "${targets[*]}")") ;;
  esac
  local common=("${where[@]}" --server-pid "${node_pids[0]}" "${cpu[@]}" fanout --subs "$subs" --timeout-secs 300)
  pg_stats_reset
  load "$case" "$round" max "${common[@]}" --messages "$messages"
  [ "$case" = sqlite ] || pg_stats_print "$case" max
  pg_stats_reset
  [ "$rate" = 0 ] || load "$case" "$round" rate "${common[@]}" --messages "$rate_msgs" --rate "$rate"
  [ "$case" = sqlite ] || [ "$rate" = 0 ] || pg_stats_print "$case" rate
  stop_nodes
}

for round in $(seq 1 "$reps"); do
  for c in $cases; do
    echo "== round $round: $c (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    run_case "$c" "$round"
  done
done

echo
echo "session $session, $reps rounds of: $cases; $subs subscribers; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/cluster-table.py "$work/rows.jsonl"
