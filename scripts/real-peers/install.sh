#!/usr/bin/env bash
# Installs every real peer that `npm run test:real` needs, each by its own install-*.sh (run in
# name order), all cached under .real/ (git-ignored). Idempotent: a component already installed at
# its pinned version is left alone. Each installer logs what it installs.
#
# An installer exits 0 when its component is ready, 3 when a registry refused it (it has written the
# exact refusal to .real/refused/<component>.txt; the suites that need it say so in their names), and
# anything else on a real failure, which fails this script.
set -uo pipefail
cd "$(dirname "$0")/../.."
export REAL_DIR="$PWD/.real"
mkdir -p "$REAL_DIR/refused"
rm -f "$REAL_DIR"/refused/*.txt
failed=()
for installer in scripts/real-peers/install-*.sh; do
  name=$(basename "$installer" .sh)
  started=$(date +%s)
  echo "== $name"
  bash "$installer"
  rc=$?
  echo "== $name: exit $rc in $(( $(date +%s) - started )) s"
  case $rc in
    0) ;;
    3) ;;
    *) failed+=("$name (exit $rc)") ;;
  esac
done
if compgen -G "$REAL_DIR/refused/*.txt" > /dev/null; then
  echo
  echo "!! REFUSED by a registry (the suites that need these are marked as waiting on them):"
  for f in "$REAL_DIR"/refused/*.txt; do echo "!! $(basename "$f" .txt):"; sed 's/^/!!   /' "$f"; done
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "!! FAILED: ${failed[*]}" >&2
  exit 1
fi
