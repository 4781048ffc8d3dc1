#!/usr/bin/env bash
# PostgreSQL server binaries from Debian (installed if absent). The suites create a throwaway
# cluster of their own (initdb in a temporary directory, loopback, ephemeral port).
source "$(dirname "$0")/lib.sh"
find_initdb() { ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1; }
if [ -z "$(find_initdb)" ]; then
  command -v apt-get > /dev/null || { echo "[real-peers] PostgreSQL is absent and apt-get is not available" >&2; exit 1; }
  log "apt-get update; apt-get install postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q > /dev/null
  if ! out=$(apt-get install -y -q --no-install-recommends postgresql 2>&1); then
    echo "$out" >&2
    refused postgresql "apt-get install postgresql: $(tail -3 <<< "$out")"
  fi
fi
initdb=$(find_initdb)
[ -n "$initdb" ] || { echo "[real-peers] initdb not found after install" >&2; exit 1; }
dirname "$initdb" > "$REAL_DIR/postgresql-bin"
log "postgresql: $("$initdb" --version)"
