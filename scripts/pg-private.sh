#!/usr/bin/env bash
# A private PostgreSQL server on its own loopback port and directory, for tests, the
# benchmarks and local clusters (scripts/cluster.sh): never the system cluster.
#
#   scripts/pg-private.sh start DIR    initdb into DIR/data the first time, start it on a free
#                                      127.0.0.1 port (the same port again on a restart), print
#                                      its admin URL (also written to DIR/url)
#   scripts/pg-private.sh stop DIR     fast shutdown (connections are closed, data kept)
#   scripts/pg-private.sh destroy DIR  stop, then remove DIR
#   scripts/pg-private.sh status DIR   "running URL" or "stopped"; exit 1 when stopped
#   scripts/pg-private.sh url DIR      the admin URL
#
# The binaries are Debian's (`apt-get install postgresql`, see scripts/bootstrap.sh), found
# under /usr/lib/postgresql/*/bin, or in $MUCSUB_PG_BIN. As root (initdb and postgres refuse to
# run as root) everything runs as the unprivileged `postgres` user, which then owns DIR.
# PG_PRIVATE_NOSYNC=1 turns fsync off (tests: faster, and nothing there survives a power loss
# anyway); the benchmarks leave it on, as a production server would. PG_PRIVATE_OPTS adds
# server options (`-c name=value ...`).
set -euo pipefail

usage() { echo "usage: $0 start|stop|destroy|status|url DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)

bin=${MUCSUB_PG_BIN:-}
if [ -z "$bin" ]; then
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ]; then bin=$d; break; fi
  done
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
  echo "pg-private: PostgreSQL binaries not found (install Debian's postgresql: scripts/bootstrap.sh, or set MUCSUB_PG_BIN)" >&2
  exit 1
fi

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

url() { echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres"; }

running() { [ -f "$dir/data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case $cmd in
  start)
    if running; then url; exit 0; fi
    if [ "$(id -u)" = 0 ]; then
      chown postgres:postgres "$dir"
      if ! as_pg test -w "$dir"; then
        echo "pg-private: the postgres user cannot reach $dir (each parent directory needs o+x)" >&2
        exit 1
      fi
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C -N \
        >"$dir/initdb.log" 2>&1 || { echo "pg-private: initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1; }
    fi
    opts="-c listen_addresses=127.0.0.1 -k $dir -c max_connections=300 -c shared_buffers=64MB"
    if [ "${PG_PRIVATE_NOSYNC:-}" = 1 ]; then opts="$opts -c fsync=off -c full_page_writes=off"; fi
    opts="$opts ${PG_PRIVATE_OPTS:-}" # more server options (the cluster benchmark's PG_STATS=1)
    for attempt in 1 2 3; do
      [ -f "$dir/port" ] || free_port >"$dir/port"
      port=$(cat "$dir/port")
      if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
           -o "-p $port $opts" start >/dev/null; then
        url | tee "$dir/url"
        exit 0
      fi
      # The port was taken meanwhile: try another.
      rm -f "$dir/port"
    done
    echo "pg-private: could not start PostgreSQL in $dir; last log lines:" >&2
    tail -n 20 "$dir/server.log" >&2 || true
    exit 1
    ;;
  stop)
    if running; then as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null; fi
    ;;
  destroy)
    if running; then as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null || true; fi
    rm -rf "$dir"
    ;;
  status)
    if running; then echo "running $(url)"; else echo stopped; exit 1; fi
    ;;
  url)
    url
    ;;
  *) usage ;;
esac
