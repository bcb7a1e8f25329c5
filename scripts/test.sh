#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test with ctest;
# then the ARM tests (scripts/test-aarch64.sh: cross build, qemu, emulated adb).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
build="${QTUNE_BUILD_DIR:-$root/build}"
cd "$build"
ctest --output-on-failure -j "${QTUNE_TEST_JOBS:-2}" "$@"
# The ARM part: aarch64 cross build, its tests under qemu-aarch64, the
# emulated adb deployment end to end (QTUNE_SKIP_ARM=1 leaves it out).
if [ "${QTUNE_SKIP_ARM:-0}" != 1 ]; then
  "$root/scripts/test-aarch64.sh"
fi
