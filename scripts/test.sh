#!/usr/bin/env bash
# The whole test suite, in the order a failure is cheapest to read: formatting, lints (native
# and wasm32), native tests (SDK core, server, integration), browser tests in Chromium,
# Firefox ESR and WebKitGTK, then the end-to-end suites. Every step runs even when an earlier one failed, and
# the last line is the summary `N passed, N failed` (tests counted from each runner's own
# result lines; a lint step counts as one check).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
logdir="$root/target/test-logs"
mkdir -p "$logdir"

passed=0
failed=0
failures=()

bash scripts/bootstrap.sh || { echo "0 passed, 1 failed"; exit 1; }

# Adds the counts found in a log's "test result:" lines (cargo test, wasm-bindgen-test-runner)
# or "# pass / # fail" lines (node --test); returns 1 when the log reported none.
count_results() {
  local log=$1 p f found=1
  while read -r p f; do
    passed=$((passed + p)); failed=$((failed + f)); found=0
  done < <(grep -aoE 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$log" \
             | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed/\1 \2/')
  p=$(grep -aoE '^# pass [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
  f=$(grep -aoE '^# fail [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
  if grep -aqE '^# pass [0-9]+' "$log"; then passed=$((passed + p)); failed=$((failed + f)); found=0; fi
  return $found
}

# step NAME KIND CMD...: KIND is "check" (one pass/fail) or "tests" (counted from the log).
step() {
  local name=$1 kind=$2; shift 2
  local log="$logdir/$name.log"
  echo "==> $name: $*"
  local start=$SECONDS
  "$@" >"$log" 2>&1
  local rc=$?
  local took=$((SECONDS - start))
  if [ "$kind" = tests ]; then
    local before_failed=$failed
    if ! count_results "$log"; then
      # A runner that died before reporting (compile error, crash) is one failure.
      failed=$((failed + 1))
    elif [ $rc -ne 0 ] && [ $failed -eq $before_failed ]; then
      failed=$((failed + 1))
    fi
  elif [ $rc -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  if [ $rc -ne 0 ]; then
    failures+=("$name")
    echo "    FAILED ($took s), last lines of $log:"
    tail -n 25 "$log" | sed 's/^/    | /'
    # Then each failed test by name with its first lines of error: a report that keeps only
    # the end of this output must still say what failed.
    python3 scripts/failure-summary.py "$log"
  else
    echo "    ok ($took s)"
  fi
}

export CARGO_TERM_COLOR=never
# CI runs in a fresh clone each time: keep its build cache outside the clone so a warm run
# only rebuilds our own crates. Locally the usual ./target is used.
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ "${CI:-}" = true ]; then
  export CARGO_TARGET_DIR="$HOME/.cache/mucsub-ci/target"
fi
# No incremental compilation on CI: it pays off when one checkout rebuilds the same crates
# edit after edit (locally, where it stays on); CI rebuilds our crates once per fresh clone,
# where it can reuse a session only if the clone sits at the same path as last time (the
# crates' metadata hashes include it), while writing a session dir per crate, test binary
# and lint run (2.2 GB for one debug test build here, 9 GB in CI's cache).
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0
fi
step fmt check cargo fmt --all --check
step clippy-native check cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
step clippy-wasm32 check cargo clippy -p mucsub --target wasm32-unknown-unknown --all-targets --locked -- -D warnings
# The test binaries a few at a time (most of them wait on sockets and child servers);
# scripts/cargo-test-parallel.py says how, and what it keeps of `cargo test`.
step cargo-test tests python3 scripts/cargo-test-parallel.py --workspace --locked --no-fail-fast
# The SDK's browser tests in each engine a phone runs (one wasm build, three browsers).
step wasm-browser tests bash scripts/wasm-test.sh chromium --locked --no-fail-fast
step wasm-browser-firefox tests bash scripts/wasm-test.sh firefox --locked --no-fail-fast
step wasm-browser-webkit tests bash scripts/wasm-test.sh webkit --locked --no-fail-fast

for extra in tests/suites/*.sh; do
  [ -f "$extra" ] || continue
  step "$(basename "$extra" .sh)" tests bash "$extra"
done

echo
if [ ${#failures[@]} -gt 0 ]; then
  echo "failed steps: ${failures[*]} (logs in $logdir)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
