#!/usr/bin/env bash
# The ARM part of the test suite (called by scripts/test.sh): cross-builds
# the aarch64 agent and tests (scripts/build-aarch64.sh), runs their ctest
# under qemu-aarch64 (default cpu "max", plus the Cortex-A53 fallback), a
# smoke run of scripts/arm-mca.sh (every microkernel's loop found), then
# the emulated deployment end to end: scripts/deploy-agent.sh through
# scripts/adb-emulated, `qtune tune` of two layers on that agent, `qtune run
# --check` of MobileNetV2 int8 on it, the
# database checked for OK trials under an aarch64 device key, a Cortex-A53
# device whose agent says which kernel paths are missing, and a big.LITTLE
# device (fake /proc/cpuinfo) whose space has the cluster knob.
# Skipped, with a message, only when qemu-aarch64 cannot be installed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  cat <<'USAGE'
usage: scripts/test-aarch64.sh [--no-build] [--e2e-only]
Cross-builds (unless --no-build), runs the aarch64 ctest under qemu-aarch64,
then the emulated adb deployment end to end. Needs the host build (build/,
or $QTUNE_BUILD_DIR) for `qtune`. Environment: QTUNE_AARCH64_BUILD_DIR.
USAGE
  exit 0
fi
build=1 e2e_only=0
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --e2e-only) e2e_only=1; build=0 ;;
    *) echo "test-aarch64: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
host_bin="${QTUNE_BUILD_DIR:-$root/build}/bin"
arm_build="${QTUNE_AARCH64_BUILD_DIR:-$root/build-aarch64}"

if [ "$build" = 1 ]; then
  if ! "$root/scripts/setup-aarch64.sh"; then
    if ! command -v qemu-aarch64 >/dev/null; then
      echo "test-aarch64: SKIPPED: qemu-aarch64 could not be installed (apt failed); no ARM tests ran"
      exit 0
    fi
    echo "test-aarch64: package setup failed" >&2
    exit 1
  fi
  "$root/scripts/build-aarch64.sh" --no-setup
fi
command -v qemu-aarch64 >/dev/null || {
  echo "test-aarch64: SKIPPED: no qemu-aarch64 on this machine; no ARM tests ran"; exit 0; }

if [ "$e2e_only" = 0 ]; then
  echo "test-aarch64: ctest in $arm_build (under qemu-aarch64)"
  # Tests that race an emulated worker process against a real-time ticker:
  # the worker's start-up under qemu takes longer than they allow. They run
  # in the host build.
  skip="SupervisorTest.DeadlinesRunOnTheInjectedClock"
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    # These exec the aarch64 agent (or its worker) from an emulated process.
    echo "test-aarch64: qemu-aarch64 is not registered with binfmt_misc: skipping the agent tests"
    skip="$skip|AgentServiceTest|AgentServerStartTest|AgentMainTest|SupervisorTest"
  fi
  echo "test-aarch64: not run under emulation (host build runs them): ${skip//|/, }"
  exclude=(-E "$skip")
  (cd "$arm_build" && ctest --output-on-failure -j "${QTUNE_TEST_JOBS:-2}" "${exclude[@]}")
fi

# --- llvm-mca: every microkernel's loop is found and timed ---------------
if [ "$e2e_only" = 0 ] && command -v llvm-mca-16 >/dev/null; then
  mca_json="$(mktemp)"
  "$root/scripts/arm-mca.sh" --json "$mca_json" | grep -E "^(peaks|neondot +(4x16|8x8) +ldq)"
  python3 - "$mca_json" <<'PY' || { echo "test-aarch64: arm-mca FAILED" >&2; exit 1; }
import json, sys
d = json.load(open(sys.argv[1]))
kernels = d["kernels"]
paths = {k["path"] for k in kernels}
assert len(kernels) == 44, "want the inner loops of 44 microkernels, found %d" % len(kernels)
assert paths == {"neoni8mm", "neondot", "neon", "neon-fp32"}, paths
assert all(k["models"] for k in kernels)
print("test-aarch64: arm-mca: %d microkernel loops timed on %s" % (len(kernels), ", ".join(d["peaks"])))
PY
  rm -f "$mca_json"
fi

# --- emulated deployment, end to end ------------------------------------
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  echo "test-aarch64: SKIPPED the emulated deployment: qemu-aarch64 is not registered with binfmt_misc"
  exit 0
fi
[ -x "$host_bin/qtune" ] || { echo "test-aarch64: no host qtune at $host_bin (run scripts/build.sh)" >&2; exit 1; }
work="$(mktemp -d)"
export ADB="$root/scripts/adb-emulated" ADB_EMULATED_HOME="$work/devices"
export ADB_EMULATED_DEVICES="emulator-5554,emulator-5556,emulator-5558"
export QTUNE="$host_bin/qtune"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
port53="$(free_port)"
port_bl="$(free_port)"
cpuinfo_bl="$root/tests/kernels/testdata/cpuinfo_two_clusters.txt"
cleanup() {
  "$root/scripts/deploy-agent.sh" --serial emulator-5554 --port "$port" --stop >/dev/null 2>&1 || true
  ADB_EMULATED_CPU=cortex-a53 "$root/scripts/deploy-agent.sh" --serial emulator-5556 \
    --port "$port53" --stop >/dev/null 2>&1 || true
  "$root/scripts/deploy-agent.sh" --serial emulator-5558 --port "$port_bl" --stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "test-aarch64: e2e FAILED: $*" >&2; echo "arm e2e: 0 passed, 1 failed"; exit 1; }

echo "test-aarch64: e2e: three emulated devices; several attached, so --serial is required:"
if out="$("$root/scripts/deploy-agent.sh" --port "$port" 2>&1)"; then
  fail "deploy without --serial succeeded with two devices"
fi
echo "  $out"
echo "\$ ADB=scripts/adb-emulated scripts/deploy-agent.sh --serial emulator-5554 --port $port"
"$root/scripts/deploy-agent.sh" --serial emulator-5554 --port "$port" || fail "deploy"
echo "\$ qtune tune --agent 127.0.0.1:$port --layers fc,layer4.0.downsample --trials 4"
"$host_bin/qtune" tune --agent "127.0.0.1:$port" --layers fc,layer4.0.downsample --trials 4 \
  --dtype int8,fp32 --db "$work/e2e.db" --nojson || fail "qtune tune"
echo "\$ qtune db best --db e2e.db"
"$host_bin/qtune" db best --db "$work/e2e.db"
"$host_bin/qtune" db best --db "$work/e2e.db" --json >"$work/best.jsonl"
python3 - "$work/best.jsonl" <<'PY' || fail "database check"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = [r for r in rows if r["device_key"].startswith("aarch64/") and r["ok_trials"] > 0]
layers = {r["shape"] for r in ok}
int8 = [r["kernel"] for r in ok if r["dtype"] == "int8"]
assert len(layers) == 2, "want OK trials of 2 layers under an aarch64 device key, got %r" % rows
assert all("__neon" in k for k in int8), "int8 best kernels not on an ARM path: %r" % int8
print("test-aarch64: e2e: %d best rows with OK trials under %s" % (len(ok), ok[0]["device_key"]))
PY
# A whole model on the emulated phone: sent in chunks, run with the
# ARM kernels, checked exactly against the reference executor.
models="${QTUNE_BUILD_DIR:-$root/build}/models"
if [ -f "$models/mobilenetv2_int8_qdq.onnx" ]; then
  echo "\$ qtune run --onnx mobilenetv2_int8_qdq.onnx --agent 127.0.0.1:$port --runs 1 --check"
  "$host_bin/qtune" run --onnx "$models/mobilenetv2_int8_qdq.onnx" --agent "127.0.0.1:$port" \
    --db "$work/e2e.db" --runs 1 --warmup-runs 1 --check | tail -2 || fail "qtune run"
else
  echo "test-aarch64: e2e: no test models in $models (built with the host tree): qtune run skipped"
fi
echo "test-aarch64: NOTE: timings under qemu emulation mean nothing (functional test only)."
"$root/scripts/deploy-agent.sh" --serial emulator-5554 --port "$port" --stop || fail "stop"

echo "\$ ADB_EMULATED_CPU=cortex-a53 scripts/deploy-agent.sh --serial emulator-5556 --port $port53"
out="$(ADB_EMULATED_CPU=cortex-a53 "$root/scripts/deploy-agent.sh" --serial emulator-5556 \
  --port "$port53")" || fail "deploy on the cortex-a53 device"
echo "$out"
grep -q "neondot (no asimddp)" <<<"$out" || fail "the cortex-a53 agent does not say neondot is missing"
paths="$("$host_bin/qtune" info --agent "127.0.0.1:$port53" | awk '/^kernel paths/ {$1=$2=""; print}')"
[ "$(echo $paths)" = "neon generic" ] || fail "cortex-a53 kernel paths are '$paths', want 'neon generic'"
"$host_bin/qtune" tune --agent "127.0.0.1:$port53" --layers fc --trials 2 --dtype int8 \
  --db "$work/a53.db" --nojson >/dev/null || fail "qtune tune on the cortex-a53 agent"
ADB_EMULATED_CPU=cortex-a53 "$root/scripts/deploy-agent.sh" --serial emulator-5556 --port "$port53" --stop

echo "\$ ADB_EMULATED_CPUINFO=cpuinfo_two_clusters.txt scripts/deploy-agent.sh --serial emulator-5558 --port $port_bl"
ADB_EMULATED_CPUINFO="$cpuinfo_bl" "$root/scripts/deploy-agent.sh" --serial emulator-5558 \
  --port "$port_bl" || fail "deploy on the big.LITTLE device"
"$host_bin/qtune" tune --agent "127.0.0.1:$port_bl" --layers fc --trials 6 --dtype int8 \
  --db "$work/bl.db" --nojson >/dev/null || fail "qtune tune on the big.LITTLE agent"
best="$("$host_bin/qtune" db best --db "$work/bl.db" --json)"
grep -q '"device_key":"aarch64/[^"]*/cortex-a76-cortex-a55/' <<<"$best" ||
  fail "the big.LITTLE device key does not name its clusters: $best"
grep -q 'cluster=' <<<"$best" || fail "no cluster knob in the big.LITTLE config: $best"
echo "test-aarch64: e2e: big.LITTLE device: $(sed -E 's/.*"device_key":"([^"]*)".*"config":"([^"]*)".*/\1 best \2/' <<<"$best")"
"$root/scripts/deploy-agent.sh" --serial emulator-5558 --port "$port_bl" --stop
echo "arm e2e: 1 passed, 0 failed"
