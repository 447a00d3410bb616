#!/usr/bin/env bash
# Churn soak (a bounded command, not a test): runs the real server binary on a temp data
# dir, lets N parallel clients connect / authenticate / subscribe / post / sometimes
# unsubscribe / disconnect for DURATION seconds, and samples the server's RSS and open file
# descriptors: at a warmed-up baseline, during the churn, and after the churn has stopped
# and the server has been idle a while. Exits non-zero when the descriptors do not return
# to the baseline or RSS stays above it by more than the tolerance.
#
#   scripts/soak.sh [DURATION_SECS=600] [CLIENTS=20]
#   BIN=path/to/mucsub-server  (default: builds and uses target/debug/mucsub-server)
#   RSS_TOLERANCE_KB=32768     (allowed RSS above baseline after the churn)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
duration=${1:-600}
clients=${2:-20}
tolerance_kb=${RSS_TOLERANCE_KB:-32768}

if [[ -z "${BIN:-}" ]]; then
  (cd "$root" && cargo build -q -p mucsub-server --bin mucsub-server)
  BIN="$root/target/debug/mucsub-server"
fi

dir=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

for i in $(seq 0 $((clients - 1))); do
  "$BIN" user add "soak$i" --password pw --data-dir "$dir" >/dev/null 2>&1
done
cat >"$dir/soak.toml" <<EOF
data_dir = '$dir'
[listeners]
c2s = '127.0.0.1:0'
http = '127.0.0.1:0'
EOF
"$BIN" run --config "$dir/soak.toml" >"$dir/stdout" 2>"$dir/stderr" &
server_pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -nE 's/^xmpp c2s listening on 127\.0\.0\.1:([0-9]+).*/\1/p' "$dir/stdout" | head -1)
  [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "$port" ]] || { echo "server did not start"; cat "$dir/stderr"; exit 1; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status"; }
fds() { find "/proc/$server_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

churn() { # seconds
  python3 - "$port" "$clients" "$1" <<'PY'
import asyncio, base64, random, sys, time
port, clients, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
HDR = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
       "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
MUCSUB = "urn:xmpp:mucsub:0"
stats = {"cycles": 0, "posts": 0, "errors": 0}

async def until(r, buf, token, limit=20):
    while token not in buf[0]:
        data = await asyncio.wait_for(r.read(65536), limit)
        if not data:
            raise ConnectionError("closed waiting for " + token)
        buf[0] += data.decode("utf-8", "replace")
    i = buf[0].index(token) + len(token)
    buf[0] = buf[0][i:]

async def cycle(n, k):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    buf = [""]
    try:
        w.write(HDR.encode()); await until(r, buf, "</features>")
        cred = base64.b64encode(f"\0soak{n}\0pw".encode()).decode()
        w.write(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{cred}</auth>".encode())
        await until(r, buf, "<success")
        w.write(HDR.encode()); await until(r, buf, "</features>")
        w.write(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        await until(r, buf, "</iq>")
        w.write(b"<presence/>")
        room = f"soak{random.randrange(5)}@conference.localhost"
        w.write(f"<iq type='set' id='s' to='{room}'><subscribe xmlns='{MUCSUB}' nick='soak{n}'>"
                f"<event node='urn:xmpp:mucsub:nodes:messages'/></subscribe></iq>".encode())
        await until(r, buf, "id='s'")
        for i in range(3):
            w.write(f"<message to='{room}' type='groupchat' id='m{k}-{i}'><body>churn {n} {k} {i}</body></message>".encode())
            stats["posts"] += 1
        w.write(b"<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        await until(r, buf, "id='p'")
        if random.random() < 0.3:
            w.write(f"<iq type='set' id='u' to='{room}'><unsubscribe xmlns='{MUCSUB}'/></iq>".encode())
            await until(r, buf, "id='u'")
        if random.random() < 0.2:
            w.close()  # dropped without closing the stream, as a sleeping phone would
        else:
            w.write(b"</stream:stream>"); await w.drain()
            await until(r, buf, "</stream:stream>")
        stats["cycles"] += 1
    finally:
        w.close()

async def worker(n, end):
    k = 0
    while time.monotonic() < end:
        k += 1
        try:
            await cycle(n, k)
        except Exception as e:
            if stats["errors"] < 3:
                print(f"client {n}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            stats["errors"] += 1
            await asyncio.sleep(0.2)

async def main():
    end = time.monotonic() + secs
    await asyncio.gather(*(worker(n, end) for n in range(clients)))
    print(f"{stats['cycles']} cycles, {stats['posts']} posts, {stats['errors']} errors", flush=True)

asyncio.run(main())
PY
}

echo "warm-up (10 s, $clients clients)"
churn 10 >/dev/null
sleep 3
base_rss=$(rss_kb); base_fds=$(fds)
echo "baseline: RSS ${base_rss} kB, ${base_fds} fds"

peak_rss=$base_rss; peak_fds=$base_fds
churn "$duration" >"$dir/churn.out" &
churn_pid=$!
while kill -0 "$churn_pid" 2>/dev/null; do
  sleep 5
  r=$(rss_kb); f=$(fds)
  (( r > peak_rss )) && peak_rss=$r
  (( f > peak_fds )) && peak_fds=$f
done
wait "$churn_pid"
echo "churn ${duration} s, $clients clients: $(cat "$dir/churn.out")"
echo "peak during churn: RSS ${peak_rss} kB, ${peak_fds} fds"

# Dropped connections are noticed by the server on read errors; give it a moment.
final_fds=
for _ in $(seq 30); do
  final_fds=$(fds)
  (( final_fds <= base_fds )) && break
  sleep 1
done
final_rss=$(rss_kb)
echo "after (idle): RSS ${final_rss} kB, ${final_fds} fds"
kill -0 "$server_pid" || { echo "FAIL: the server died"; exit 1; }

status=0
if (( final_fds > base_fds )); then
  echo "FAIL: $((final_fds - base_fds)) descriptors more than at the baseline"; status=1
fi
if (( final_rss > base_rss + tolerance_kb )); then
  echo "FAIL: RSS ${final_rss} kB is more than ${tolerance_kb} kB above the baseline"; status=1
fi
(( status == 0 )) && echo "OK: descriptors back to baseline, RSS within ${tolerance_kb} kB of it"
exit $status
