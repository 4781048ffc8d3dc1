#!/bin/sh
# Installs what test/real/standalone-arm64.test.ts needs to run the standalone layer's arm64 Node.js on
# an x86_64 host: Debian's qemu-user (qemu-aarch64) and the arm64 C and C++ runtime libraries it loads
# the binary with (`qemu-aarch64 -L /usr/aarch64-linux-gnu`). Idempotent: does nothing when they are
# there. Where they cannot be installed (no apt-get, not root and no sudo) it says so and fails: the
# arm64 test needs them.
set -eu

SYSROOT=/usr/aarch64-linux-gnu
PACKAGES="qemu-user libc6-arm64-cross libstdc++6-arm64-cross"

have_all() {
  command -v qemu-aarch64 >/dev/null 2>&1 &&
    [ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] &&
    [ -e "$SYSROOT/lib/libstdc++.so.6" ]
}

if have_all; then
  echo "install-qemu: qemu-aarch64 and the arm64 libraries are installed ($(qemu-aarch64 --version | head -n 1))"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root="sudo -n"
else
  echo "install-qemu: cannot install $PACKAGES (not root, no passwordless sudo): the arm64 test needs them" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-qemu: no apt-get on this host; install qemu-user and the arm64 libc/libstdc++ for $SYSROOT by hand" >&2
  exit 1
fi

echo "install-qemu: apt-get install $PACKAGES"
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -q
# shellcheck disable=SC2086 # the package list is meant to split
$as_root apt-get install -y -q --no-install-recommends $PACKAGES
have_all || { echo "install-qemu: installed, but qemu-aarch64 or $SYSROOT is still missing" >&2; exit 1; }
echo "install-qemu: done ($(qemu-aarch64 --version | head -n 1))"
