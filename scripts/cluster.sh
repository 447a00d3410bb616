#!/usr/bin/env bash
# A local cluster on loopback: a private PostgreSQL (scripts/pg-private.sh: its own directory
# and port, never the system cluster), a nats-server on a free port, and three mucsub-server
# nodes sharing them. For trying out several nodes and for the benchmarks; not a deployment.
#
#   scripts/cluster.sh up       start what is not running yet, print where everything is
#   scripts/cluster.sh status   print where everything is and what runs; exit 1 if something is down
#   scripts/cluster.sh down     stop the nodes, nats-server and PostgreSQL (data kept; remove
#                               the cluster directory to start from nothing)
#
# The directory is $MUCSUB_CLUSTER_DIR (default target/cluster); the server binary is
# $MUCSUB_BIN (default: target/debug/mucsub-server, built when missing). Node names are
# node1..node3; accounts are shared, add them with
#   target/debug/mucsub-server user add alice --password pw --config <dir>/node1/config.toml
# See README.md, "Running several nodes", for what works across nodes yet.
set -euo pipefail

usage() { echo "usage: $0 up|down|status" >&2; exit 2; }
[ $# -eq 1 ] || usage
cmd=$1
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${MUCSUB_CLUSTER_DIR:-$root/target/cluster}
bin=${MUCSUB_BIN:-$root/target/debug/mucsub-server}
nodes=(node1 node2 node3)
lease_ttl=${MUCSUB_LEASE_TTL:-3}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# The postgres user runs PostgreSQL when we are root: it must reach the directory.
chmod 755 "$dir"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

pg_url() { bash "$root/scripts/pg-private.sh" url "$dir/pg" | sed 's#/postgres$#/mucsub#'; }

nats_url() { echo "nats://127.0.0.1:$(cat "$dir/nats.port")"; }

start_pg() {
  local admin
  admin=$(bash "$root/scripts/pg-private.sh" start "$dir/pg")
  if [ "$(psql "$admin" -qtAc "SELECT 1 FROM pg_database WHERE datname = 'mucsub'")" != 1 ]; then
    psql "$admin" -qc "CREATE DATABASE mucsub" >/dev/null
  fi
}

start_nats() {
  command -v nats-server >/dev/null || { echo "cluster: nats-server not found (scripts/bootstrap.sh installs it)" >&2; exit 1; }
  alive "$dir/nats.pid" && return 0
  [ -f "$dir/nats.port" ] || free_port >"$dir/nats.port"
  # Core NATS only: nothing durable lives there.
  setsid nats-server -a 127.0.0.1 -p "$(cat "$dir/nats.port")" -P "$dir/nats.pid" \
    -l "$dir/nats.log" </dev/null >/dev/null 2>&1 &
  for _ in $(seq 50); do alive "$dir/nats.pid" && return 0; sleep 0.1; done
  echo "cluster: nats-server did not start; see $dir/nats.log" >&2
  exit 1
}

node_config() {
  local n=$1 d="$dir/$1"
  mkdir -p "$d"
  if [ ! -f "$d/config.toml" ]; then
    cat >"$d/config.toml" <<EOF
# Written by scripts/cluster.sh; edit freely (ports stay as chosen on first start).
data_dir = '$d/data'

[listeners]
c2s = '127.0.0.1:$(free_port)'
http = '127.0.0.1:$(free_port)'

[cluster]
node = '$n'
postgres = '$(pg_url)'
nats = '$(nats_url)'
lease_ttl_secs = $lease_ttl
EOF
  fi
}

start_node() {
  local n=$1 d="$dir/$1"
  alive "$d/pid" && return 0
  node_config "$n"
  : >"$d/stdout.log"
  (cd "$root" && setsid "$bin" run --config "$d/config.toml" </dev/null >"$d/stdout.log" 2>>"$d/server.log" & echo $! >"$d/pid")
  for _ in $(seq 300); do
    grep -q '^http listening on' "$d/stdout.log" 2>/dev/null && return 0
    alive "$d/pid" || break
    sleep 0.1
  done
  echo "cluster: $n did not start; last lines of $d/server.log:" >&2
  tail -n 20 "$d/server.log" >&2 || true
  exit 1
}

status() {
  local down=0 n d
  echo "cluster directory: $dir"
  if bash "$root/scripts/pg-private.sh" status "$dir/pg" >/dev/null 2>&1; then
    echo "postgresql   running  $(pg_url)"
  else
    echo "postgresql   stopped"; down=1
  fi
  if alive "$dir/nats.pid"; then echo "nats-server  running  $(nats_url)"; else echo "nats-server  stopped"; down=1; fi
  for n in "${nodes[@]}"; do
    d="$dir/$n"
    if alive "$d/pid"; then
      echo "$n        running  pid $(cat "$d/pid")  $(grep -h 'listening on' "$d/stdout.log" | tr '\n' ' ') (log $d/server.log)"
    else
      echo "$n        stopped"; down=1
    fi
  done
  return $down
}

case $cmd in
  up)
    if [ ! -x "$bin" ]; then
      (cd "$root" && cargo build -p mucsub-server)
    fi
    start_pg
    start_nats
    for n in "${nodes[@]}"; do start_node "$n"; done
    status
    ;;
  status)
    status
    ;;
  down)
    for n in "${nodes[@]}"; do
      if alive "$dir/$n/pid"; then
        kill -TERM "$(cat "$dir/$n/pid")" 2>/dev/null || true
        for _ in $(seq 100); do alive "$dir/$n/pid" || break; sleep 0.1; done
      fi
      rm -f "$dir/$n/pid"
    done
    if alive "$dir/nats.pid"; then kill -TERM "$(cat "$dir/nats.pid")" 2>/dev/null || true; fi
    rm -f "$dir/nats.pid"
    if [ -d "$dir/pg" ]; then bash "$root/scripts/pg-private.sh" stop "$dir/pg"; fi
    echo "cluster stopped (data kept in $dir)"
    ;;
  *) usage ;;
esac
