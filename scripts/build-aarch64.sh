#!/usr/bin/env bash
# Cross-builds the static aarch64 qtune-agent (and the kernel and agent tests)
# into build-aarch64/ (or $QTUNE_AARCH64_BUILD_DIR) with Debian's
# g++-aarch64-linux-gnu and the arm64 multiarch static libraries. Installs
# what is missing first (apt, idempotent). Extra arguments are build targets
# (default: everything). Tests run under qemu-aarch64: ctest in the build dir.
set -euo pipefail
usage() {
  cat <<'USAGE'
usage: scripts/build-aarch64.sh [--no-setup] [TARGET...]
Cross-builds the static aarch64 qtune-agent into build-aarch64/bin/ (Release,
Ninja) together with the kernel and agent tests (run them with ctest in
build-aarch64/: they go through qemu-aarch64).
  --no-setup   do not check or install the Debian packages
Environment: QTUNE_AARCH64_BUILD_DIR (default build-aarch64), QTUNE_BUILD_JOBS.
USAGE
}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
setup=1
targets=()
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    --no-setup) setup=0 ;;
    -*) echo "build-aarch64: unknown option $arg (see --help)" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done
build="${QTUNE_AARCH64_BUILD_DIR:-$root/build-aarch64}"

if [ "$setup" = 1 ]; then
  "$root/scripts/setup-aarch64.sh"
fi

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
fi
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
    -DQTUNE_DEVICE_ONLY=ON -DQTUNE_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
fi
jobs="${QTUNE_BUILD_JOBS:-$(nproc)}"
if [ ${#targets[@]} -gt 0 ]; then
  cmake --build "$build" -j "$jobs" --target "${targets[@]}"
else
  cmake --build "$build" -j "$jobs"
fi
if [ -x "$build/bin/qtune-agent" ]; then
  echo "build-aarch64: $build/bin/qtune-agent ($(du -h "$build/bin/qtune-agent" | cut -f1), static aarch64)"
fi
