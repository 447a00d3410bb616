#!/usr/bin/env bash
# Restarts the local ejabberd with one of the configs here: `use-config.sh fair` or
# `use-config.sh reference`. Afterwards, /work/shared/tools/ejabberd-ref/start.sh puts back
# the shared reference setup. Needs root (ejabberdctl).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
  fair) src=$here/ejabberd-fair.yml ;;
  reference) src=$here/ejabberd-reference.yml ;;
  *) echo "usage: $0 fair|reference" >&2; exit 2 ;;
esac
install -o ejabberd -m 0640 "$src" /etc/ejabberd/ejabberd-bench.yml
sed -i 's#^EJABBERD_CONFIG_PATH=.*#EJABBERD_CONFIG_PATH=/etc/ejabberd/ejabberd-bench.yml#' /etc/ejabberd/ejabberdctl.cfg
ejabberdctl stop >/dev/null 2>&1 || true
for _ in $(seq 1 60); do ejabberdctl status >/dev/null 2>&1 || break; sleep 1; done
mkdir -p /run/ejabberd && chown ejabberd /run/ejabberd
(cd /tmp && setsid ejabberdctl foreground </dev/null >/tmp/ejabberd-bench.log 2>&1 &)
for _ in $(seq 1 60); do ejabberdctl status >/dev/null 2>&1 && break; sleep 1; done
ejabberdctl status
