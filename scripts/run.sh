#!/usr/bin/env bash
# The main job end to end: install what is missing, build, start a local
# qtune-agent on 127.0.0.1, tune ResNet18 (int8 and fp32) on it, print the
# per-layer table, leave the results in qtune.db, stop the agent.
# Tunes with the defaults of `qtune tune` (model-guided strategy, transfer,
# scheduler) under a 5-minute budget; it ends earlier when every layer has
# converged. Extra arguments go to `qtune tune` (e.g. --trials 8 --layers conv1,fc).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh" qtune qtune-agent
bin="${QTUNE_BUILD_DIR:-$root/build}/bin"
db="${QTUNE_DB:-$root/qtune.db}"

workdir="$(mktemp -d)"
agent_pid=""
cleanup() {
  if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
    kill "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

"$bin/qtune-agent" --listen 127.0.0.1:0 --port-file "$workdir/port" >"$workdir/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 100); do
  [ -s "$workdir/port" ] && break
  if ! kill -0 "$agent_pid" 2>/dev/null; then
    echo "run: qtune-agent exited during start-up:" >&2
    cat "$workdir/agent.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ ! -s "$workdir/port" ]; then
  echo "run: qtune-agent did not report its port within 10 s" >&2
  exit 1
fi
port="$(cat "$workdir/port")"
head -n 1 "$workdir/agent.log"

"$bin/qtune" tune --model resnet18 --agent "127.0.0.1:$port" --db "$db" --time-budget 5m \
  --nojson "$@"
echo "results: $db  (try: $bin/qtune db best --db $db)"
