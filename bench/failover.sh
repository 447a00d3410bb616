#!/usr/bin/env bash
# Cluster failover time (issue 19): kill -9 of a room's owner → echo of the first message a
# sender on another node posts after the kill, at lease TTL 1, 2 and 3 s. Not a test: it
# runs the chaos rounds of server/tests/cluster_chaos.rs (three debug-built nodes, a private
# PostgreSQL and nats-server, all started by the test) and prints the numbers its rounds
# report. Usage: bench/failover.sh [rounds per TTL, default 10]; TTLS="1 2 3" to choose.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rounds=${1:-10}
export CARGO_INCREMENTAL=0
nice cargo test -q -p mucsub-server --test cluster_chaos --no-run >/dev/null 2>&1
printf '%-6s %-7s %-8s %-8s %-8s %-8s\n' ttl rounds min_ms p50_ms p99_ms max_ms
for ttl in ${TTLS:-1 2 3}; do
  log=$(MUCSUB_CHAOS_TTL=$ttl MUCSUB_CHAOS_ROUNDS=$rounds nice cargo test -q -p mucsub-server \
    --test cluster_chaos -- --nocapture 2>&1) || { echo "$log" | tail -20; exit 1; }
  echo "$log" | sed -n 's/.*chaos: failover ttl=.*ms=\([0-9]*\).*/\1/p' | sort -n | awk -v ttl="$ttl" '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "no failover lines"; exit 1 }
      p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
      printf "%-6s %-7s %-8s %-8s %-8s %-8s\n", ttl "s", NR, v[1], p50, p99, v[NR]
    }'
done
