#!/bin/sh
# vault-lambda-agent: Lambda starts every file in /opt/extensions; this one runs the bundle that sits
# next to it in the layer. The standalone layer carries its own Node.js (vault-lambda-agent/bin/node)
# and runs on it; the slim layer has none and runs on the function runtime's node.
set -eu
# Shell built-ins only until a node is chosen: on a runtime that is not Node.js, the one line printed
# below must be what the user sees, not a missing helper (a custom runtime's image may lack coreutils).
case "$0" in */*) here=${0%/*} ;; *) here=. ;; esac
home="$here/../vault-lambda-agent"
# The function's NODE_OPTIONS are meant for the function, not for this process.
unset NODE_OPTIONS
# No V8 flags here: a heap flag such as --max-semi-space-size keeps node from using its startup
# snapshot as is and costs ~20 ms of every cold start (measured), for ~2 MB of RSS under load.

AL2023_RUNTIMES="nodejs22.x, nodejs24.x, python3.12, python3.13, python3.14, java21, java25, java8.al2023, java11.al2023, java17.al2023, dotnet10, ruby3.3, ruby3.4, ruby4.0 or provided.al2023"

# The C library's version ("2.34"), or nothing when it cannot be told. getconf and ldd come with glibc
# itself (Amazon Linux 2 and 2023 images have both); the file name libc-2.NN.so, which glibc dropped in
# 2.34, is the fallback that needs no program at all.
glibc_version() {
  v=$(getconf GNU_LIBC_VERSION 2>/dev/null || true)
  case "$v" in "glibc "[0-9]*) echo "${v#glibc }"; return ;; esac
  v=$(ldd --version 2>/dev/null || true)
  v=${v%%"
"*}
  case "$v" in *"GNU libc"*|*GLIBC*) echo "${v##* }"; return ;; esac
  for f in /lib64/libc-2.*.so /lib/libc-2.*.so /lib/*-linux-gnu/libc-2.*.so; do
    if [ -e "$f" ]; then v=${f##*/libc-}; echo "${v%.so}"; return; fi
  done
}

# True when "$1" (MAJOR.MINOR) is older than 2.28, the oldest glibc the official Node.js binary loads on.
glibc_too_old() {
  major=${1%%.*}
  minor=${1#*.}
  minor=${minor%%[!0-9]*}
  case "$major$minor" in '' | *[!0-9]*) return 1 ;; esac
  [ "$major" -lt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -lt 28 ]; }
}

if [ -f "$home/bin/node" ]; then
  glibc=$(glibc_version)
  if [ -n "$glibc" ] && glibc_too_old "$glibc"; then
    echo "{\"level\":\"ERROR\",\"message\":\"vault-lambda-agent (standalone layer) cannot start here: its Node.js needs glibc 2.28 or newer and this runtime has glibc $glibc (an Amazon Linux 2 runtime). Use an Amazon Linux 2023 runtime: $AL2023_RUNTIMES.\",\"glibc\":\"$glibc\"}" >&2
    exit 126
  fi
  exec "$home/bin/node" "$home/index.mjs" "$@"
fi

if ! command -v node >/dev/null 2>&1; then
  echo '{"level":"ERROR","message":"vault-lambda-agent needs a Node.js runtime (nodejs20.x, nodejs22.x or nodejs24.x): there is no node on PATH. Attach this (slim) layer to a Node.js function; on any other runtime use the standalone layer, which carries its own Node.js."}' >&2
  exit 127
fi
exec node "$home/index.mjs" "$@"
