#!/usr/bin/env bash
# Build the npm package into target/js-consumer/pkg, type-check consumer.ts against its
# generated declarations (tsc --noEmit), and load it in Node (node --test).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bash "$root/scripts/build-sdk.sh" "$root/target/js-consumer/pkg"
cd "$here"
if [ ! -x node_modules/.bin/tsc ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# On its own line: under `set -e` a failure on the left of `&&` would not stop the script.
./node_modules/.bin/tsc --noEmit -p .
echo "[js-consumer] tsc --noEmit: ok"
exec node --test --test-reporter=tap load.test.mjs
