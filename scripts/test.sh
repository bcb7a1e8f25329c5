#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test with ctest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
build="${QTUNE_BUILD_DIR:-$root/build}"
cd "$build"
ctest --output-on-failure -j "${QTUNE_TEST_JOBS:-2}" "$@"
