#!/usr/bin/env bash
# The whole comparison behind BENCHMARKS.md in one session: our server, the local ejabberd on
# the shared reference config, and ejabberd on the "fair" config (user_mucsub_from_muc_archive),
# each scenario RUNS times (default 3) with a median line. Not a test: minutes of load, no
# assertions. Results are appended to bench/results/*.jsonl; the machine's load average is
# logged before each block (bench/results/load.log), since the machine may be shared.
#
#   bench/compare.sh            everything (ejabberd is restarted twice and left on the
#                               shared reference setup)
#   PARTS="ours" bench/compare.sh    only some of: ours ref fair
# ejabberd is far slower, so it gets smaller sizes (the same sizes are also run on ours).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export RUNS=${RUNS:-3}
parts=${PARTS:-ours ref fair}
mkdir -p bench/results
note() { echo "$(date -u +%FT%TZ) $* | $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a bench/results/load.log; }
has() { [[ " $parts " == *" $1 "* ]]; }

[ -x target/benchopt/mucsub-load ] || bench/build.sh

# Sizes ejabberd can finish in minutes, run on both servers.
small() { # server label-suffix
  LABEL_SUFFIX=$2 SUBS="200" MESSAGES=20 FIXED=0 bench/run.sh fanout "$1"
  LABEL_SUFFIX=$2 SUBS="10" MESSAGES=20 FIXED=0 bench/run.sh fanout "$1"
  LABEL_SUFFIX=$2 ROOMS_N=10 ROOM_SUBS=10 MESSAGES=20 bench/run.sh rooms "$1"
  LABEL_SUFFIX=$2 CLIENTS=50 STORM_ROOMS=10 bench/run.sh storm "$1"
  LABEL_SUFFIX=$2 MESSAGES=500 RESYNC_ROOMS=10 bench/run.sh resync "$1"
}

if has ours; then
  note "ours: full sizes"
  SUBS="10 100 200 1000" bench/run.sh fanout mucsub
  bench/run.sh rooms mucsub
  bench/run.sh storm mucsub
  bench/run.sh resync mucsub
  bench/run.sh archive mucsub
  ACCOUNTS=1000 bench/run.sh idle mucsub
  note "ours: ejabberd sizes"
  small mucsub -small
fi
if has ref; then
  note "ejabberd reference config"
  /work/shared/tools/ejabberd-ref/start.sh >/dev/null
  small ejabberd -ref
fi
if has fair; then
  note "ejabberd fair config"
  bench/ejabberd/use-config.sh fair >/dev/null
  # 23.01 refuses to start on an unknown option, so running means it was accepted.
  if grep -i "user_mucsub_from_muc_archive" /tmp/ejabberd-bench.log; then
    echo "ejabberd mentions the option in its log (see above)" >&2
  fi
  small ejabberd -fair
  # Fast enough on this config for the full burst size ours runs at (200 x 200).
  LABEL_SUFFIX=-fair SUBS="200" MESSAGES=200 FIXED=0 bench/run.sh fanout ejabberd
  ejabberdctl stop >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do ejabberdctl status >/dev/null 2>&1 || break; sleep 1; done
  /work/shared/tools/ejabberd-ref/start.sh >/dev/null
fi
note "done"
