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
wasm-pack build --release --target web --out-dir pkg . -- --locked

echo "[run] building the demo app into www/dist"
if [ -f www/package.json ] && grep -q '"build"' www/package.json; then
  (cd www && npm run build --silent)
else
  echo "[run] www/ has no build yet; serving the placeholder page"
fi

echo "[run] building the server"
cargo build --release --locked -p mucsub-server
server=target/release/mucsub-server

mkdir -p "$data"
for u in alice bob; do
  "$server" --data-dir "$data" user add "$u" pw --if-missing >/dev/null
done

echo "[run] demo accounts: alice / pw and bob / pw; demo room: lobby@conference.localhost"
exec "$server" --data-dir "$data" run --http "$http" --c2s "$c2s" --www www/dist --demo-room lobby
