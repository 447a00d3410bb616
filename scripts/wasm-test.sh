#!/usr/bin/env bash
# The SDK's browser tests (tests/wasm_*.rs, #[wasm_bindgen_test] in src/) in one engine:
#   scripts/wasm-test.sh chromium|firefox|webkit [cargo test args...]
# is `cargo test --target wasm32-unknown-unknown ARGS` with wasm-bindgen-test-runner driving
# chromium (chromedriver), firefox (geckodriver + Debian's firefox-esr, its capabilities in
# webdriver.json) or webkit (WebKitWebDriver + MiniBrowser, under xvfb-run: MiniBrowser needs
# a display; the runner talks to it as it would to safaridriver, both being W3C WebDriver).
# What `wasm-pack test --headless --chrome|--firefox` does, plus WebKit, which wasm-pack only
# knows as macOS's safaridriver. The wasm is built once by cargo for every engine; each run
# only repeats the runner's bindgen step and the browser. The runner serves the tests on
# http://127.0.0.1 (IndexedDB refuses about:blank).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
engine=${1:?usage: scripts/wasm-test.sh chromium|firefox|webkit [cargo test args...]}
shift
# The runner takes the first driver it finds in the environment: only this engine's.
unset CHROMEDRIVER GECKODRIVER SAFARIDRIVER MSEDGEDRIVER \
  CHROMEDRIVER_REMOTE GECKODRIVER_REMOTE SAFARIDRIVER_REMOTE MSEDGEDRIVER_REMOTE
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
# The runner's deadline for a whole test binary in the browser (default 20 s), not a per-test
# time: WebKitGTK needs about 15 s for tests/wasm on a quiet machine, and it was killed
# mid-suite at that deadline under load ("Failed to detect test as having been run").
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-300}
# Likewise the wait for the WebDriver server to start listening (default 5 s).
export WASM_BINDGEN_TEST_DRIVER_TIMEOUT=${WASM_BINDGEN_TEST_DRIVER_TIMEOUT:-60}
need() { command -v "$1" || { echo "[wasm-test] $1 is missing: run scripts/bootstrap.sh" >&2; exit 1; }; }
case $engine in
  chromium)
    CHROMEDRIVER=$(need chromedriver); export CHROMEDRIVER
    exec cargo test --target wasm32-unknown-unknown "$@" ;;
  firefox)
    GECKODRIVER=$(need geckodriver); export GECKODRIVER
    exec cargo test --target wasm32-unknown-unknown "$@" ;;
  webkit)
    SAFARIDRIVER=$(need WebKitWebDriver); export SAFARIDRIVER
    need xvfb-run >/dev/null
    # -a: the first free display; the browser's display only, no TCP.
    exec xvfb-run -a -s "-screen 0 1280x1024x24 -nolisten tcp" \
      cargo test --target wasm32-unknown-unknown "$@" ;;
  *) echo "[wasm-test] unknown engine '$engine' (chromium, firefox or webkit)" >&2; exit 2 ;;
esac
