#!/usr/bin/env bash
# Records reference/scenario-{basic,rules}.txt: the two scenario scripts run against the
# shared reference ejabberd 23.01 (../../../../shared/tools/ejabberd-ref, c2s 127.0.0.1:15222).
# Run it under the reference server's lock, as everything that uses it:
#   flock /tmp/ejabberd-ref.lock server/tests/scenarios/record-reference.sh
# ejabberd keeps its state between runs, so the scenario's rooms, rooms other test runs
# left (their subscriptions would show in the accounts' lists) and offline messages left
# for the scenario's accounts are removed first. Stops ejabberd again if it was not running.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
api=http://127.0.0.1:15280/api
was_running=0
ejabberdctl status >/dev/null 2>&1 && was_running=1
log=$(mktemp)
if ! bash "$root/../shared/tools/ejabberd-ref/start.sh" >"$log" 2>&1 </dev/null; then
  cat "$log" >&2
  exit 1
fi
clean() {
  local left
  left=$(curl -sf -X POST -d '{"service":"conference.localhost"}' "$api/muc_online_rooms" \
    | grep -oE '"[^"@]+@conference\.localhost"' | tr -d '"' | sed 's/@conference\.localhost$//') || true
  for r in coven2 lab secret nosuch $left; do
    curl -sf -X POST -d "{\"name\":\"$r\",\"service\":\"conference.localhost\"}" \
      "$api/destroy_room" >/dev/null || true
  done
  curl -sf -X POST -d '{"days":0}' "$api/delete_old_messages" >/dev/null || true
  sleep 1
}
status=0
for name in basic rules; do
  clean
  if ! python3 "$here/scenario-$name.py" 15222 >"$here/reference/scenario-$name.txt"; then
    echo "scenario-$name.py failed" >&2
    status=1
  fi
done
clean
if [ "$was_running" = 0 ]; then
  ejabberdctl stop >/dev/null 2>&1 || true
fi
rm -f "$log"
exit $status
