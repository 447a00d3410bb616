#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 60 s each) and copies any crash
# into tests/regressions/<target>/ so it becomes a regression input.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET=60] [TARGET...]
#
# cargo-fuzz needs a nightly toolchain (for -Zsanitizer); this uses `cargo +nightly fuzz`
# (rustup's nightly toolchain; `cargo install cargo-fuzz` once). Without a nightly
# toolchain, RUSTC_BOOTSTRAP=1 makes stable accept the flags: set FUZZ_TOOLCHAIN=stable.
# Targets (fuzz/fuzz_targets/):
#   xmlstream      the server's streaming XML parser (server/src/xmlstream), both framings
#   room_dispatch  stanza dispatch in a MUC room (server/src/muc/room.rs and friends)
#   sdk_event      the SDK's event normaliser (src/event.rs, wrapper and MAM parsing)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(xmlstream room_dispatch sdk_event)
toolchain=${FUZZ_TOOLCHAIN:-nightly}

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
if [[ $toolchain == stable ]]; then
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
else
  fuzz=(cargo "+$toolchain" fuzz)
fi

cd "$root/fuzz"
for t in "${targets[@]}"; do "${fuzz[@]}" build -O "$t"; done

found=0
for t in "${targets[@]}"; do
  corpus="$root/fuzz/corpus/$t"
  mkdir -p "$corpus" "$root/fuzz/artifacts/$t"
  # Seeds (committed) plus every regression input join the working corpus.
  cp -n "$root/fuzz/seeds/$t/"* "$corpus/" 2>/dev/null || true
  cp -n "$root/tests/regressions/$t/"* "$corpus/" 2>/dev/null || true
  echo "== $t: ${secs}s"
  set +e
  "${fuzz[@]}" run -O "$t" "$corpus" -- -max_total_time="$secs" -max_len=16384 \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 \
    | grep -E '^(#[0-9]+.*(DONE|pulse)|==[0-9]+==|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|artifact_prefix|Test unit written)' 
  rc=${PIPESTATUS[0]}
  set -e
  if [[ $rc -ne 0 ]]; then
    found=1
    mkdir -p "$root/tests/regressions/$t"
    for a in "$root/fuzz/artifacts/$t/"*; do
      [[ -f $a ]] && cp "$a" "$root/tests/regressions/$t/" && echo "crash input saved: tests/regressions/$t/$(basename "$a")"
    done
  fi
done
if [[ $found -ne 0 ]]; then
  echo "fuzzing found crashes (see tests/regressions/)"; exit 1
fi
echo "no crashes"
