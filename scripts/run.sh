#!/usr/bin/env bash
# The main job: build the SDK package (pkg/) and the demo app (www/dist), then start the server
# with its embedded SQLite database under ./data, serving the app at / and XMPP over WebSocket
# at /ws on the same origin. Prints the URL to open and the demo credentials.
#
# Environment: MUCSUB_HTTP (default 127.0.0.1:5280), MUCSUB_C2S (default 127.0.0.1:5222),
# MUCSUB_DATA (default ./data).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/bootstrap.sh

data=${MUCSUB_DATA:-$root/data}
http=${MUCSUB_HTTP:-127.0.0.1:5280}
c2s=${MUCSUB_C2S:-127.0.0.1:5222}

echo "[run] building the SDK package (wasm-pack, release) into pkg/"
bash scripts/build-sdk.sh pkg

echo "[run] building the demo app into www/dist"
if [ -f www/package.json ] && grep -q '"build"' www/package.json; then
  (cd www && npm run build --silent)
else
  echo "[run] www/ has no build yet; serving the placeholder page"
fi

echo "[run] building the server"
cargo build --release --locked -p mucsub-server
server=${CARGO_TARGET_DIR:-$root/target}/release/mucsub-server

mkdir -p "$data"
cfg="$data/config.toml"
# Sign-in with passwords and with tokens an app's backend would mint (HS256, a secret made
# once per data dir): `mucsub-server token mint alice --config "$cfg"` prints one.
secret="$data/jwt-secret"
[ -s "$secret" ] || (umask 077; od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$secret")
printf 'data_dir = "%s"\n[listeners]\nc2s = "%s"\nhttp = "%s"\n[http]\nstatic_dir = "%s"\n[auth]\nmethods = ["password", "jwt"]\n[auth.jwt]\nsecret_file = "%s"\n' \
  "$data" "$c2s" "$http" "$root/www/dist" "$secret" >"$cfg"
for u in alice bob; do
  "$server" user --config "$cfg" list | grep -qx "$u@localhost" \
    || "$server" user --config "$cfg" add "$u" --password pw >/dev/null
done

echo "[run] demo accounts: alice / pw and bob / pw (server field: ws://$http/ws)"
echo "[run] or sign in with a token (\"Sign in with: Token\"): $server token mint alice --config $cfg"
"$server" run --config "$cfg" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid"' INT TERM
for _ in $(seq 1 100); do
  curl -fsS "http://$http/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "[run] the server exited" >&2; exit 1; }
  sleep 0.2
done
# The demo room: both accounts subscribe to it (the first subscribe creates it, alice owns it).
python3 scripts/demo_room.py "$c2s" lobby@conference.localhost alice:pw bob:pw

echo
echo "[run] open http://$http/"
echo "[run] demo room: lobby@conference.localhost (both are subscribed)"
wait "$server_pid"
