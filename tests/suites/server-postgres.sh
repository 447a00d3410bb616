#!/usr/bin/env bash
# The server's integration suite (server/tests/*.rs) again, on PostgreSQL storage (one node):
# a private PostgreSQL server (scripts/pg-private.sh, never the system cluster) for the whole
# run, and every TestServer / ChildServer on a fresh database of it
# (MUCSUB_TEST_STORAGE=postgres, see server/src/testkit/postgres.rs). Prints cargo's
# `test result:` lines; exits non-zero on failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

# Tests left out on PostgreSQL, each with its reason (the tests that only read the SQLite
# file to check it skip that part on PostgreSQL instead):
skips=(
  # Locks the SQLite file from another connection to make /health fail; on PostgreSQL
  # storage_postgres.rs stops the database instead and checks /health goes 503, then 200.
  --skip health_follows_the_database
)
# Not run again here: the storage conformance suite and the PostgreSQL-specific tests
# (storage_postgres: a database down at start or lost at run time) already run on
# PostgreSQL in the main cargo test step, and the source-structure check touches no storage.
targets=()
for t in server/tests/*.rs; do
  name=$(basename "$t" .rs)
  case $name in storage_conformance | storage_postgres | structure) continue ;; esac
  targets+=(--test "$name")
done

work=$(mktemp -d)
chmod 755 "$work"
cleanup() { bash scripts/pg-private.sh destroy "$work/pg" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT

if ! url=$(PG_PRIVATE_NOSYNC=1 bash scripts/pg-private.sh start "$work/pg"); then
  echo "server-postgres: could not start a private PostgreSQL (scripts/bootstrap.sh installs it)"
  exit 1
fi
echo "[server-postgres] private PostgreSQL at $url"
export MUCSUB_TEST_STORAGE=postgres MUCSUB_TEST_PG_URL=$url
start=$SECONDS
# --workspace, as the cargo-test step of scripts/test.sh: the same feature set, so this step
# reuses that build instead of compiling the server and its ~40 test binaries again
# (`-p mucsub-server` alone unifies features differently and rebuilds them all).
# The binaries a few at a time, as the cargo-test step (scripts/cargo-test-parallel.py).
python3 scripts/cargo-test-parallel.py --locked --workspace "${targets[@]}" --no-fail-fast -- ${skips[@]+"${skips[@]}"}
rc=$?
echo "[server-postgres] $((SECONDS - start)) s"
exit $rc
