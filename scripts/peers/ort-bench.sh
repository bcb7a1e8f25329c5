#!/usr/bin/env bash
# Times the models of scripts/models/make_models.py with ONNX Runtime (npm onnxruntime-node,
# installed into build/peers/ort) and, with --qtune-agent and --qtune-db, with `qtune run`:
# interleaved rounds, medians, outside-load checks (scripts/peers/ort_bench.mjs; docs/peers.md).
# Prints a side-by-side table; writes each model's output for the manifest's shared input to
# build/peers/ort/<model>.output.npy (qtune's to build/peers/qtune/) and compares them.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/peers/ort-bench.sh [--models DIR] [--only A,B] [--threads 1,2] [--runs N]
                                  [--rounds R] [--block-ms MS] [--qtune-agent ADDR --qtune-db FILE]
                                  [--qtune-bin BIN] [--json FILE] [--install-only]

  --models DIR      directory with models.json (default build/models; make it with
                    scripts/models/make_models.py)
  --only A,B        only these models (names in models.json)
  --threads LIST    thread counts (default 1,2)
  --runs N          timed runs per contender and round, at least (default 5)
  --rounds R        interleaved rounds (default 5)
  --block-ms MS     timed milliseconds per contender and round, at least (default 200)
  --qtune-agent A   also time `qtune run` on the agent at A (needs --qtune-db)
  --qtune-db FILE   the tuning database `qtune run` takes its configs from
  --qtune-bin BIN   the qtune binary (default $QTUNE_BUILD_DIR/bin/qtune, build/bin/qtune)
  --json FILE       write the results as JSON
  --install-only    install onnxruntime-node into build/peers/ort and stop

Exit codes: 0 success, 2 bad input (one line on stderr), 1 anything else.
EOF
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ort_version="1.30.0"
ort_dir="$root/build/peers/ort"
models="$root/build/models"
only="" threads="1,2" runs=5 rounds=5 block_ms=200 agent="" db="" json="" install_only=0
qtune_bin="${QTUNE_BUILD_DIR:-$root/build}/bin/qtune"

die() { echo "ort-bench: $*" >&2; exit 2; }
need() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --models) need "$@"; models="$2"; shift 2 ;;
    --only) need "$@"; only="$2"; shift 2 ;;
    --threads) need "$@"; threads="$2"; shift 2 ;;
    --runs) need "$@"; runs="$2"; shift 2 ;;
    --rounds) need "$@"; rounds="$2"; shift 2 ;;
    --block-ms) need "$@"; block_ms="$2"; shift 2 ;;
    --qtune-agent) need "$@"; agent="$2"; shift 2 ;;
    --qtune-db) need "$@"; db="$2"; shift 2 ;;
    --qtune-bin) need "$@"; qtune_bin="$2"; shift 2 ;;
    --json) need "$@"; json="$2"; shift 2 ;;
    --install-only) install_only=1; shift ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ "$threads" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--threads: '$threads' is not a list like 1,2"
for v in "$runs" "$rounds"; do [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "--runs/--rounds: '$v' is not a positive integer"; done
[[ "$block_ms" =~ ^[0-9]+$ ]] || die "--block-ms: '$block_ms' is not a non-negative integer"
if [ -n "$agent" ] && [ -z "$db" ]; then die "--qtune-agent needs --qtune-db"; fi
if [ -z "$agent" ] && [ -n "$db" ]; then die "--qtune-db needs --qtune-agent"; fi

command -v node >/dev/null || die "node not found (Debian packages nodejs and npm)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || die "node $(node --version) is too old: onnxruntime-node $ort_version needs >= 18"

# onnxruntime-node ships its CPU library (bin/napi-v*/linux/<arch>/libonnxruntime.so.1) inside the
# package; --ignore-scripts skips its postinstall, which would download GPU libraries.
installed_version() {
  node -p "require('$ort_dir/node_modules/onnxruntime-node/package.json').version" 2>/dev/null || true
}
if [ "$(installed_version)" != "$ort_version" ]; then
  command -v npm >/dev/null || die "npm not found (Debian package npm)"
  echo "ort-bench: installing onnxruntime-node@$ort_version into ${ort_dir#"$root"/}" >&2
  mkdir -p "$ort_dir"
  [ -f "$ort_dir/package.json" ] || echo '{ "name": "qtune-ort-peer", "private": true }' >"$ort_dir/package.json"
  (cd "$ort_dir" && npm install --ignore-scripts --no-audit --no-fund --save-exact \
     "onnxruntime-node@$ort_version" >/dev/null) || { echo "ort-bench: npm install failed" >&2; exit 1; }
  [ "$(installed_version)" = "$ort_version" ] || { echo "ort-bench: onnxruntime-node $ort_version did not install" >&2; exit 1; }
fi
if ! ls "$ort_dir"/node_modules/onnxruntime-node/bin/napi-v*/linux/*/libonnxruntime.so* >/dev/null 2>&1; then
  echo "ort-bench: onnxruntime-node in ${ort_dir#"$root"/} has no Linux CPU library" >&2; exit 1
fi
[ "$install_only" -eq 1 ] && { echo "ort-bench: onnxruntime-node $ort_version ready in ${ort_dir#"$root"/}" >&2; exit 0; }

[ -f "$models/models.json" ] || die "$models/models.json not found: run scripts/models/make_models.py first"

# qtune's column: `qtune run` must exist (its --help succeeds) and an agent must be given.
qtune_args=()
if [ -n "$agent" ]; then
  if help_err="$("$qtune_bin" run --help 2>&1 >/dev/null)"; then
    qtune_args=(--qtune "$qtune_bin" --qtune-agent "$agent" --qtune-db "$db")
  else
    reason="\`${qtune_bin#"$root"/} run --help\` failed: $(printf '%s' "$help_err" | head -n1)"
    [ -x "$qtune_bin" ] || reason="${qtune_bin#"$root"/} not found (build it with scripts/build.sh)"
    qtune_args=(--qtune-missing "$reason")
  fi
else
  qtune_args=(--qtune-missing "not requested (give --qtune-agent ADDR --qtune-db FILE)")
fi

bench_args=(bench --models "$models" --threads "$threads" --runs "$runs" --rounds "$rounds"
            --block-ms "$block_ms" --ort-dir "$ort_dir" "${qtune_args[@]}")
[ -n "$only" ] && bench_args+=(--only "$only")
[ -n "$json" ] && bench_args+=(--json "$json")
node "$root/scripts/peers/ort_bench.mjs" "${bench_args[@]}"

# Outputs on the shared input: qtune against ORT, model by model, when qtune wrote its own.
[ -n "$agent" ] && [ "${qtune_args[0]}" = "--qtune" ] || exit 0
qtune_out="$(dirname "$ort_dir")/qtune"
compared=0
for out in "$ort_dir"/*.output.npy; do
  [ -e "$out" ] || continue
  name="$(basename "$out" .output.npy)"
  [ -f "$qtune_out/$name.output.npy" ] || continue
  [ $compared -eq 0 ] && echo && echo "qtune vs ORT outputs on $(basename "$models")/input_1x3x224x224.npy:"
  compared=1
  printf '%-22s ' "$name"
  /usr/bin/python3 "$root/scripts/peers/compare_outputs.py" "$qtune_out/$name.output.npy" "$out" \
    --manifest "$models/models.json" --model "$name" || true
done
