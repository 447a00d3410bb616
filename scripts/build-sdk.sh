#!/usr/bin/env bash
# Build the npm package of the SDK: `wasm-pack build` (the `wasm-release` profile: opt-level z,
# LTO, one codegen unit, panic=abort) for ES-module consumers (`import init, {MucSubClient}
# from "mucsub"`), then Debian's `wasm-opt -Oz --converge` when binaryen is installed
# (wasm-pack's own download of it is disabled in Cargo.toml), then terser on the JS glue
# (scripts/minify, from the npm registry), then the import names shortened in both.
# Usage: scripts/build-sdk.sh [OUT_DIR] (default pkg/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-pkg}

wasm-pack --log-level warn build --profile wasm-release --target web --out-dir "$out" . -- --locked
wasm="$out/mucsub_bg.wasm"
before=$(stat -c %s "$wasm")
target_dir=${CARGO_TARGET_DIR:-$root/target}
raw="$target_dir/wasm32-unknown-unknown/wasm-release/mucsub.wasm"
if command -v wasm-opt >/dev/null 2>&1 && [ -f "$raw" ]; then
  # Optimise the compiler's output and run wasm-bindgen again on it, rather than
  # optimising wasm-bindgen's output: older binaryen (Debian's 108) rewrites the externref
  # table wasm-bindgen sets up and the module then fails to initialise.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # --converge repeats -Oz while it still shrinks the module (a second pass saves ~0.5 KB gz).
  # --low-memory-unused lets it fold a constant added to a pointer into the load's or
  # store's offset (~1.7 KB gz). The two differ only when pointer + constant wraps past
  # 4 GiB into the lowest KiB, which no Rust pointer arithmetic does (Emscripten passes the
  # same flag whenever its data starts at 1 KiB or above).
  wasm-opt -Oz --converge --low-memory-unused --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$raw" -o "$tmp/mucsub.wasm"
  # The name and producers sections only help debugging: they do not ship.
  wasm-bindgen --target web --remove-name-section --remove-producers-section \
    --out-dir "$tmp/out" "$tmp/mucsub.wasm"
  cp "$tmp/out/mucsub_bg.wasm" "$tmp/out/mucsub.js" "$tmp/out/mucsub.d.ts" \
    "$tmp/out/mucsub_bg.wasm.d.ts" "$out/"
  echo "[build-sdk] wasm-opt -Oz --converge --low-memory-unused: $before -> $(stat -c %s "$wasm") bytes"
else
  echo "[build-sdk] wasm-opt not found (apt-get install binaryen); left at $before bytes"
fi
# wasm-bindgen's glue is readable JS with comments (62 KB, 11 KB gzipped); terser takes it
# to about 25 KB (7 KB gzipped). Only local names are mangled: the exports and the names of
# the imports the wasm module calls (`__wbg_…` properties) stay as they are here; they are
# shortened below, in the wasm and the glue alike.
minify="$root/scripts/minify"
if [ ! -x "$minify/node_modules/.bin/terser" ]; then
  (cd "$minify" && npm ci --no-audit --no-fund --loglevel=error)
fi
js_before=$(stat -c %s "$out/mucsub.js")
"$minify/node_modules/.bin/terser" "$out/mucsub.js" --module --ecma 2020 \
  --compress passes=2 --mangle --comments false -o "$out/mucsub.min.js"
mv "$out/mucsub.min.js" "$out/mucsub.js"
echo "[build-sdk] terser: mucsub.js $js_before -> $(stat -c %s "$out/mucsub.js") bytes"
# The wasm's imports from the glue, `__wbg_<name>_<hash>`, renamed `$<n>` in both files
# (about 5 KB gzipped; scripts/minify/short-imports.mjs leaves both as they were if any
# name is not where it expects it).
node "$minify/short-imports.mjs" "$out"
echo "[build-sdk] package in $out/: $(cd "$out" && ls | tr '\n' ' ')"
# The size that ships: wasm + JS glue, raw and gzip -9 (target: <= 220 KB gzipped, issue 24).
raw_total=0
gz_total=0
for f in mucsub_bg.wasm mucsub.js; do
  r=$(stat -c %s "$out/$f")
  g=$(gzip -9c "$out/$f" | wc -c)
  raw_total=$((raw_total + r))
  gz_total=$((gz_total + g))
  echo "[build-sdk] $f: $r bytes raw, $g gzipped"
done
echo "[build-sdk] wasm + JS: $raw_total bytes raw, $gz_total gzipped"
