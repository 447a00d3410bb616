#!/usr/bin/env bash
# Full benchmark runs (not tests: no assertions, minutes of load). Usage:
#   bench/run.sh fanout   [server...]   S = 10 100 200 1000 (SUBS), M = 200 (MESSAGES) at max rate,
#                                       then 100 at RATE=20/s (FIXED=0 skips the fixed rate)
#   bench/run.sh rooms    [server...]   R x s = 50 x 10 (ROOMS_N, ROOM_SUBS), concurrent senders
#   bench/run.sh storm    [server...]   100 clients (CLIENTS) x 20 rooms (STORM_ROOMS)
#   bench/run.sh resync   [server...]   10,000 messages (MESSAGES) over 50 rooms (RESYNC_ROOMS)
#   bench/run.sh archive  mucsub        MAM pages of 100 from a seeded 1,000,000-message room
#   bench/run.sh idle     mucsub        100,000 rooms / 1,000,000 subscriptions: cold start, RSS
# Servers: mucsub (ours, started here from target/benchopt on a fresh data dir), ejabberd (the
# already-running local ejabberd at 127.0.0.1:15222, whatever config it runs). Every run is
# repeated RUNS times (default 3); each JSON line and the median line go to bench/results/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scenario=${1:?scenario}; shift
servers=("$@"); [ ${#servers[@]} -gt 0 ] || servers=(mucsub ejabberd)
runs=${RUNS:-3}
bin=$root/target/benchopt
[ -x "$bin/mucsub-load" ] || bench/build.sh
out=$root/bench/results; mkdir -p "$out"
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start_mucsub() { # data-dir
  sed -e 's/127.0.0.1:5222/127.0.0.1:0/' -e 's/127.0.0.1:5280/127.0.0.1:0/' bench/mucsub-bench.toml >"$work/server.toml"
  RUST_LOG=warn "$bin/mucsub-server" run --config "$work/server.toml" --data-dir "$1" >"$work/out.log" 2>"$work/err.log" &
  server_pid=$!
  for _ in $(seq 1 300); do grep -q '^WebSocket' "$work/out.log" && break; sleep 0.1; done
  target=$(sed -n 's/^xmpp c2s listening on //p' "$work/out.log")
  register=inband
}
stop_mucsub() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=; }
use_ejabberd() {
  target=127.0.0.1:15222
  register=http://127.0.0.1:15280/api
  server_pid=$(pgrep -f 'beam.smp.*ejabberd' | head -1)
}

load() { # label args...
  local label=$1; shift
  "$bin/mucsub-load" --target "$target" --register "$register" --server-pid "$server_pid" \
    --runs "$runs" --label "$label" "$@" | tee -a "$out/$scenario.jsonl"
}

for s in "${servers[@]}"; do
  case $s in
    mucsub) start_mucsub "$work/data-$RANDOM" ;;
    ejabberd) use_ejabberd ;;
    *) echo "unknown server $s" >&2; exit 2 ;;
  esac
  label=$s${LABEL_SUFFIX:-}
  case $scenario in
    fanout)
      for subs in ${SUBS:-10 100 200 1000}; do
        load "$label" fanout --subs "$subs" --messages "${MESSAGES:-200}" --timeout-secs 300
        [ "${FIXED:-1}" = 0 ] || load "$label" fanout --subs "$subs" --messages 100 --rate "${RATE:-20}" --timeout-secs 300
      done ;;
    rooms) load "$label" rooms --rooms "${ROOMS_N:-50}" --subs "${ROOM_SUBS:-10}" --messages "${MESSAGES:-100}" --timeout-secs 300 ;;
    storm) load "$label" storm --clients "${CLIENTS:-100}" --rooms "${STORM_ROOMS:-20}" ;;
    resync) load "$label" resync --messages "${MESSAGES:-10000}" --rooms "${RESYNC_ROOMS:-50}" ;;
    archive)
      [ "$s" = mucsub ] || { echo "archive: seeded rooms exist only for mucsub; use ARCHIVE_FILL with ejabberd" >&2; }
      if [ "$s" = mucsub ]; then
        stop_mucsub
        d=$work/arch; "$bin/mucsub-seed" --data-dir "$d" --rooms 0 --accounts 1 --archive-room big --archive-messages "${ARCHIVE_MESSAGES:-1000000}"
        start_mucsub "$d"
        load "$label" archive --room big@conference.localhost --page 100 --queries 500
      else
        load "$label" archive --fill "${ARCHIVE_FILL:-100000}" --page 100 --queries 500
      fi ;;
    idle)
      stop_mucsub
      d=$work/idle; "$bin/mucsub-seed" --data-dir "$d" --rooms "${ROOMS:-100000}" --subs-per-room 10 --accounts "${ACCOUNTS:-10000}"
      du -sh "$d"
      for _ in $(seq 1 "$runs"); do
        "$bin/mucsub-load" --register none --label "$label" idle --server-bin "$bin/mucsub-server" \
          --config "$work/server.toml" --data-dir "$d" --user seeduser0 --idle-secs 5 | tee -a "$out/$scenario.jsonl"
      done ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
  [ -n "$server_pid" ] && [ "$s" = mucsub ] && stop_mucsub
  server_pid=
done
