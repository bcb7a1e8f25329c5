#!/usr/bin/env bash
# Deploys the static aarch64 qtune-agent to an Android device over adb:
# push to /data/local/tmp, make it executable, `adb forward tcp:P tcp:P`,
# start it detached, wait for its health check, print the address to give
# `qtune --agent`. --stop stops it and removes the forward. Uses ${ADB:-adb}
# (scripts/adb-emulated for an emulated device). See docs/adb.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ADB="${ADB:-adb}"
remote_dir=/data/local/tmp

usage() {
  cat <<'USAGE'
usage: scripts/deploy-agent.sh [--serial S] [--port P] [--agent FILE] [--stop]
Pushes build-aarch64/bin/qtune-agent (scripts/build-aarch64.sh) to the
device's /data/local/tmp, forwards host 127.0.0.1:P to the device's port P,
starts the agent detached and waits until it answers; prints the address for
`qtune tune --agent`. Several agents (one per port) may run on one device.
  --serial S   the device (adb -s); required when several are attached
               (default: $ANDROID_SERIAL, else the only device)
  --port P     port on the host and on the device (default 7070)
  --agent FILE the aarch64 qtune-agent to push (default build-aarch64/bin/qtune-agent)
  --timeout S  seconds to wait for the health check (default 60)
  --stop       stop the agent on port P and remove the forward
Environment: ADB (default adb), QTUNE (host qtune binary for the health check,
default build/bin/qtune when present).
USAGE
}

die() { echo "deploy-agent: $*" >&2; exit 1; }

serial="${ANDROID_SERIAL:-}"
port=7070
agent="$root/build-aarch64/bin/qtune-agent"
stop=0
timeout=60
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --serial) [ $# -ge 2 ] || die "--serial needs a value"; serial="$2"; shift 2 ;;
    --port) [ $# -ge 2 ] || die "--port needs a value"; port="$2"; shift 2 ;;
    --agent) [ $# -ge 2 ] || die "--agent needs a value"; agent="$2"; shift 2 ;;
    --timeout) [ $# -ge 2 ] || die "--timeout needs a value"; timeout="$2"; shift 2 ;;
    --stop) stop=1; shift ;;
    *) echo "deploy-agent: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] ||
  { echo "deploy-agent: --port must be a number in 1..65535, got '$port'" >&2; exit 2; }
[[ "$timeout" =~ ^[0-9]+$ ]] || { echo "deploy-agent: --timeout must be whole seconds" >&2; exit 2; }
command -v "$ADB" >/dev/null 2>&1 || [ -x "$ADB" ] || die "adb client '$ADB' not found (install adb, or set ADB)"

# The device: --serial, else the only one attached.
if [ -z "$serial" ]; then
  mapfile -t attached < <("$ADB" devices 2>/dev/null | awk 'NR > 1 && $2 == "device" {print $1}')
  case ${#attached[@]} in
    0) die "no device attached (adb devices lists none in state 'device')" ;;
    1) serial="${attached[0]}" ;;
    *) die "several devices attached (${attached[*]}): pass --serial" ;;
  esac
fi
adb_s() { "$ADB" -s "$serial" "$@"; }
state="$(adb_s get-state 2>&1)" || die "device $serial: $state"
[ "$state" = device ] || die "device $serial is '$state', not ready (authorise USB debugging?)"

base="$remote_dir/qtune-agent"
files="$remote_dir/qtune-agent.$port"   # .pid .port .log

if [ "$stop" = 1 ]; then
  adb_s shell "if [ -f $files.pid ]; then kill \$(cat $files.pid) 2>/dev/null; rm -f $files.pid $files.port; fi" || true
  "$ADB" -s "$serial" forward --remove "tcp:$port" >/dev/null 2>&1 || true
  echo "deploy-agent: stopped the agent on $serial port $port and removed the forward"
  exit 0
fi

[ -f "$agent" ] || die "no agent binary at $agent (run scripts/build-aarch64.sh)"
abi="$(adb_s shell getprop ro.product.cpu.abi 2>/dev/null | tr -d '\r' || true)"
if [ -n "$abi" ] && [ "$abi" != arm64-v8a ]; then
  die "device $serial has ABI '$abi'; the agent is built for arm64-v8a (aarch64)"
fi

# An agent already on this port (ours or stale) is stopped first.
adb_s shell "if [ -f $files.pid ]; then kill \$(cat $files.pid) 2>/dev/null; rm -f $files.pid $files.port; fi" ||
  die "cannot run commands on $serial"
out="$(adb_s push "$agent" "$base" 2>&1)" || die "push to $serial failed: $out"
adb_s shell chmod 755 "$base" || die "chmod on $serial failed"
out="$("$ADB" -s "$serial" forward "tcp:$port" "tcp:$port" 2>&1)" ||
  die "adb forward tcp:$port failed: $out"
# Detached: nohup + background inside the device shell; the shell returns at once.
adb_s shell "cd $remote_dir && rm -f $files.port && (nohup $base --listen 127.0.0.1:$port --port-file $files.port >$files.log 2>&1 </dev/null & echo \$! >$files.pid)" ||
  die "cannot start the agent on $serial"

# Health check: the port file (the agent serves), then GetDeviceInfo over the
# forward when the host qtune is available.
qtune="${QTUNE:-$root/build/bin/qtune}"
deadline=$((SECONDS + timeout))
info=""
while true; do
  if adb_s shell "test -s $files.port" 2>/dev/null; then
    if [ ! -x "$qtune" ]; then info="(no host qtune: port file present)"; break; fi
    if info="$("$qtune" info --agent "127.0.0.1:$port" 2>&1)"; then break; fi
  elif ! adb_s shell "kill -0 \$(cat $files.pid) 2>/dev/null"; then
    log="$(adb_s shell "tail -n 5 $files.log" 2>/dev/null | tr -d '\r' || true)"
    "$ADB" -s "$serial" forward --remove "tcp:$port" >/dev/null 2>&1 || true
    die "the agent exited during start-up on $serial: ${log:-no log}"
  fi
  if [ $SECONDS -ge $deadline ]; then
    die "no health check from the agent on $serial within ${timeout}s (log: $files.log on the device)"
  fi
  sleep 1
done
key="$(printf '%s\n' "$info" | awk '/^device key/ {print $3}')"
note="$(adb_s shell "grep '^qtune-agent: ' $files.log" 2>/dev/null | tr -d '\r' || true)"
echo "deploy-agent: qtune-agent running on $serial${key:+ (device $key)}"
[ -n "$note" ] && echo "deploy-agent: ${note#qtune-agent: }"
echo "deploy-agent: agent address 127.0.0.1:$port  (qtune tune --agent 127.0.0.1:$port ...; stop: scripts/deploy-agent.sh --serial $serial --port $port --stop)"
