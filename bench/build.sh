#!/usr/bin/env bash
# Builds the load generator, the seeding command and the server with speed optimisations.
# The workspace's release profile is tuned for wasm size (opt-level "z", fat LTO, one codegen
# unit), which is the wrong trade for a server benchmark, so the benchmarks use their own
# profile (`benchopt`, output in target/benchopt/) defined here without touching Cargo.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo build -p mucsub-bench -p mucsub-server \
  --config 'profile.benchopt.inherits="release"' \
  --config 'profile.benchopt.opt-level=3' \
  --config 'profile.benchopt.lto="thin"' \
  --config 'profile.benchopt.codegen-units=16' \
  --config 'profile.benchopt.panic="unwind"' \
  --config 'profile.benchopt.debug="line-tables-only"' \
  --profile benchopt "$@"
