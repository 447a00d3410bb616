#!/usr/bin/env bash
# Installs, idempotently, everything the build and the tests need on a fresh machine of our
# kind (Debian, rustup, Node.js + npm, Python 3, root): the wasm32 target, wasm-bindgen-cli at
# exactly the version in Cargo.lock (so wasm-pack never downloads it), wasm-pack, Debian's
# chromium + chromium-driver (+ binaryen for wasm-opt) and postgresql (the tests' private
# database servers), the Python interop client, and the npm dependencies from their lockfiles;
# for the other engines, Debian's firefox-esr, WebKitGTK's driver (webkit2gtk-driver:
# WebKitWebDriver + MiniBrowser), xvfb (MiniBrowser needs a display) and geckodriver (cargo
# install: its npm package downloads a binary, which fails here). Each step is skipped when
# already satisfied; a piece that cannot be installed stops the script with what is missing
# and how to fix it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { printf '[bootstrap] %s\n' "$*"; }
die() { printf '[bootstrap] MISSING: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo (install Rust with rustup: https://rustup.rs)"
command -v rustup >/dev/null || die "rustup (the wasm32 target is installed through it)"

# --- Rust target and components -------------------------------------------------------------
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown || die "wasm32 target: run 'rustup target add wasm32-unknown-unknown'"
fi
for comp in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$comp"; then
    rustup component add "$comp" || die "$comp: run 'rustup component add $comp'"
  fi
done

# --- wasm-bindgen-cli at the Cargo.lock version, and wasm-pack ------------------------------
wbg_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$wbg_version" ] || die "wasm-bindgen in Cargo.lock (run 'cargo generate-lockfile')"
cargo_install() { # name version-args...: try the crate's own lockfile first, fall back to fresh resolution
  cargo install "$@" --locked || cargo install "$@"
}
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wbg_version" ]; then
  say "installing wasm-bindgen-cli $wbg_version (takes a few minutes)"
  cargo_install wasm-bindgen-cli --version "$wbg_version" --force \
    || die "wasm-bindgen-cli $wbg_version: run 'cargo install wasm-bindgen-cli --version $wbg_version'"
fi
if ! command -v wasm-pack >/dev/null; then
  say "installing wasm-pack (takes a few minutes)"
  cargo_install wasm-pack || die "wasm-pack: run 'cargo install wasm-pack'"
fi

# --- Debian packages: the three browser engines and their drivers, wasm-opt ----------------
need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v firefox-esr >/dev/null || need_apt+=(firefox-esr)
command -v WebKitWebDriver >/dev/null || need_apt+=(webkit2gtk-driver)
command -v Xvfb >/dev/null || need_apt+=(xvfb)
command -v xvfb-run >/dev/null || need_apt+=(xvfb)
command -v wasm-opt >/dev/null || need_apt+=(binaryen)
# PostgreSQL's server binaries (Debian puts them under /usr/lib/postgresql/<version>/bin, not on
# PATH): the storage tests and tests/suites/server-postgres.sh start a private server of their
# own with scripts/pg-private.sh. The package's own cluster is never used, so a fresh install
# is told not to create (and start) one; an existing installation is left as it is.
pg_initdb() { ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | head -n1; }
[ -n "$(pg_initdb)" ] || need_apt+=(postgresql)
# NATS (core, no JetStream) carries traffic between the nodes of a cluster; the tests and
# scripts/cluster.sh start their own nats-server on a free port, so the package's system
# service (which would hold port 4222) is disabled and stopped right after the install.
command -v nats-server >/dev/null || need_apt+=(nats-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then sudo_cmd=(); else sudo_cmd=(sudo); fi
  if [[ " ${need_apt[*]} " == *" postgresql "* ]]; then
    "${sudo_cmd[@]}" mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" \
      | "${sudo_cmd[@]}" tee /etc/postgresql-common/createcluster.d/mucsub-no-main.conf >/dev/null
  fi
  "${sudo_cmd[@]}" apt-get update -qq || die "apt-get update failed (network to Debian's mirror?)"
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need_apt[@]}" >/dev/null \
    || die "Debian packages ${need_apt[*]}: run 'apt-get install ${need_apt[*]}'"
  if [[ " ${need_apt[*]} " == *" nats-server "* ]] && [ -d /run/systemd/system ]; then
    "${sudo_cmd[@]}" systemctl disable --now nats-server >/dev/null 2>&1 || true
  fi
fi
command -v chromium >/dev/null || die "chromium: run 'apt-get install chromium'"
command -v chromedriver >/dev/null || die "chromedriver: run 'apt-get install chromium-driver'"
command -v firefox-esr >/dev/null || die "firefox-esr: run 'apt-get install firefox-esr'"
command -v WebKitWebDriver >/dev/null || die "WebKitWebDriver: run 'apt-get install webkit2gtk-driver'"
command -v xvfb-run >/dev/null || die "xvfb-run: run 'apt-get install xvfb'"
[ -n "$(pg_initdb)" ] || die "PostgreSQL server binaries: run 'apt-get install postgresql'"
command -v nats-server >/dev/null || die "nats-server: run 'apt-get install nats-server'"
id postgres >/dev/null 2>&1 || [ "$(id -u)" != 0 ] \
  || die "the 'postgres' user (created by Debian's postgresql package: apt-get install --reinstall postgresql-common)"
# geckodriver (Firefox's WebDriver) from crates.io, after the Debian packages so a failed
# apt step is reported first.
if ! command -v geckodriver >/dev/null; then
  say "installing geckodriver (takes a few minutes)"
  cargo_install geckodriver || die "geckodriver: run 'cargo install geckodriver --locked'"
fi

# --- Python: the third-party XMPP client used for interop tests -----------------------------
command -v python3 >/dev/null || die "python3 (apt-get install python3 python3-pip)"
if ! python3 -c 'import slixmpp' 2>/dev/null; then
  say "installing slixmpp (tests/requirements.txt)"
  python3 -m pip install -q -r tests/requirements.txt 2>/dev/null \
    || python3 -m pip install -q --break-system-packages -r tests/requirements.txt \
    || die "slixmpp: run 'python3 -m pip install -r tests/requirements.txt'"
fi

# --- npm dependencies, from lockfiles -------------------------------------------------------
command -v npm >/dev/null || die "node + npm (apt-get install nodejs npm)"
for dir in www tests/e2e tests/js-consumer; do
  if [ -f "$dir/package-lock.json" ]; then
    stamp="$dir/node_modules/.bootstrap-stamp"
    if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
      say "npm ci in $dir"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm packages in $dir: run 'cd $dir && npm ci'"
      touch "$stamp"
    fi
  fi
done

say "ok: wasm-bindgen $wbg_version, $(wasm-pack --version), $(chromium --version 2>/dev/null | head -n1), $(firefox-esr --version 2>/dev/null | head -n1), $(geckodriver --version 2>/dev/null | head -n1), WebKitGTK $(dpkg-query -W -f='${Version}' webkit2gtk-driver 2>/dev/null)"
