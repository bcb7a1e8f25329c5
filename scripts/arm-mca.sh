#!/usr/bin/env bash
# ARM speed without a phone: runs the inner loop of every AArch64
# microkernel (taken from the cross-compiled objects) through llvm-mca-16's
# cortex-a55, neoverse-n1 (LLVM's model for Cortex-A76/X1) and neoverse-v1
# models and prints multiply-accumulates per cycle, % of the model's peak and
# the int8/fp32 ratio (scripts/arm_mca.py).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage() {
  cat <<'USAGE'
usage: scripts/arm-mca.sh [--json FILE]
Builds the aarch64 kernels if needed (scripts/build-aarch64.sh), extracts
each microkernel's inner loop with aarch64-linux-gnu-objdump and times it
with llvm-mca-16 on the cortex-a55, neoverse-n1 and neoverse-v1 models.
Timings are the model's, not a phone's. --json FILE also writes the numbers.
USAGE
}
json=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --json) [ $# -ge 2 ] || { echo "arm-mca: --json needs a file" >&2; exit 2; }; json=(--json "$2"); shift 2 ;;
    *) echo "arm-mca: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
build="${QTUNE_AARCH64_BUILD_DIR:-$root/build-aarch64}"
objdir="$build/kernels/CMakeFiles/qtune_kernels.dir/arm"
objects=("$objdir/micro_dot.cc.o" "$objdir/micro_i8mm.cc.o" "$objdir/micro_neon.cc.o")
if [ ! -f "${objects[0]}" ] || [ ! -f "${objects[1]}" ] || [ ! -f "${objects[2]}" ]; then
  "$root/scripts/build-aarch64.sh" qtune_kernels >/dev/null
fi
command -v llvm-mca-16 >/dev/null || "$root/scripts/setup-aarch64.sh" >/dev/null
command -v llvm-mca-16 >/dev/null || { echo "arm-mca: llvm-mca-16 not found (apt-get install llvm-16)" >&2; exit 1; }
exec python3 "$root/scripts/arm_mca.py" --objdump aarch64-linux-gnu-objdump --mca llvm-mca-16 \
  "${json[@]}" "${objects[@]}"
