#!/usr/bin/env bash
# A JDK (javac and java) for test/real/standalone-snippets.test.ts, which compiles and runs the
# README's Java snippet against the extension. Debian's headless JDK when javac is absent;
# Go (the RIE installer) and python3 (the PyPI tools' venv) are already prerequisites.
source "$(dirname "$0")/lib.sh"
if command -v javac > /dev/null && command -v java > /dev/null; then
  log "jdk: $(javac -version 2>&1) is installed"
  exit 0
fi
command -v apt-get > /dev/null || { echo "[real-peers] javac is absent and apt-get is not available: install a JDK (17 or later)" >&2; exit 1; }
log "apt-get update; apt-get install default-jdk-headless"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q > /dev/null
if ! out=$(apt-get install -y -q --no-install-recommends default-jdk-headless 2>&1); then
  echo "$out" >&2
  refused jdk "apt-get install default-jdk-headless: $(tail -3 <<< "$out")"
fi
log "jdk: installed $(javac -version 2>&1)"
