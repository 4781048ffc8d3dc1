# Shared by the install-*.sh scripts (sourced, not run).
set -euo pipefail
: "${REAL_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.real}"
mkdir -p "$REAL_DIR/bin" "$REAL_DIR/refused"
log() { echo "[real-peers] $*"; }
# Records that a registry refused a component, with its exact answer, and exits 3 (see install.sh).
refused() {
  local component=$1 message=$2
  printf '%s\n' "$message" > "$REAL_DIR/refused/$component.txt"
  echo "[real-peers] REFUSED $component:" >&2
  printf '%s\n' "$message" | sed 's/^/[real-peers]   /' >&2
  exit 3
}
# `go install PKG@VERSION` into $REAL_DIR/bin/NAME unless that version is already there.
go_install_pinned() {
  local name=$1 pkg=$2 version=$3 component=$4
  local stamp="$REAL_DIR/bin/.$name.version"
  if [ -x "$REAL_DIR/bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pkg@$version" ]; then
    log "$name: $pkg@$version already installed"
    return 0
  fi
  command -v go > /dev/null || { echo "[real-peers] go is not on PATH: install Go >= 1.25" >&2; exit 1; }
  local gobin out
  gobin=$(mktemp -d "$REAL_DIR/gobin.XXXXXX")
  log "$name: go install $pkg@$version"
  if ! out=$(GOBIN="$gobin" GOFLAGS=-buildvcs=false go install "$pkg@$version" 2>&1); then
    rm -rf "$gobin"
    echo "$out" >&2
    if grep -qE '403 Forbidden|404 Not Found|410 Gone|not available|unknown revision|invalid version' <<< "$out"; then
      refused "$component" "go install $pkg@$version: $(grep -E 'Forbidden|Not Found|Gone|not available|unknown revision|invalid version' <<< "$out" | head -3)"
    fi
    exit 1
  fi
  mv "$gobin/$(basename "${pkg}")" "$REAL_DIR/bin/$name"
  rm -rf "$gobin"
  echo "$pkg@$version" > "$stamp"
  log "$name: installed $REAL_DIR/bin/$name"
}
